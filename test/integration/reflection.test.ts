/**
 * Server reflection as grpcurl uses it (`list`, `describe`, and calls with
 * `-d '{json}'` and no proto files), against the running agent: a reflection
 * client of our own lists the services and fetches their files; they must be
 * what buf compiled (proto/reflection.binpb) byte for byte, carry the
 * comments protoc writes for the same sources, pass the rules of Go
 * protobuf's protodesc (which grpcurl's descriptor handling runs and which
 * rejects what it does not like, e.g. "invalid map entry"), and let every
 * method be called through message types built from them alone.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';
import { protoDir } from '../../src/paths';
import { AGENT_PROTO } from '../../src/proto';
import { DESCRIPTOR_SET, fileDescriptorProtos } from '../../src/server/reflection';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { grpcurl } from '../helpers/grpcurl';

jest.setTimeout(60_000);

const AGENT_SERVICE = 'criu_agent.v1.CheckpointAgent';
const HEALTH_SERVICE = 'grpc.health.v1.Health';
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
const VERSIONS = ['v1', 'v1alpha'] as const;
type Version = (typeof VERSIONS)[number];

// ---------------------------------------------------------------------------
// A reflection client: one ServerReflectionInfo stream, requests answered in
// order (as grpcurl uses it).

interface ReflectionResponse {
  message_response?: string;
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

class ReflectionClient {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<object, ReflectionResponse>;
  private readonly waiting: { resolve(r: ReflectionResponse): void; reject(e: Error): void }[] = [];

  constructor(socket: string, version: Version) {
    const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
      keepCase: true,
      defaults: true,
      oneofs: true,
      includeDirs: [REFLECTION_PROTO_DIR],
    });
    const ctor = def[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
    const Client = grpc.makeGenericClientConstructor(ctor, 'ServerReflection');
    this.client = new Client(`unix:${socket}`, grpc.credentials.createInsecure());
    this.stream = (this.client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo();
    this.stream.on('data', (r: ReflectionResponse) => this.waiting.shift()?.resolve(r));
    this.stream.on('error', (e: Error) => {
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  request(req: object): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write({ host: '', ...req });
    });
  }

  async listServices(): Promise<string[]> {
    const r = await this.request({ list_services: '*' });
    if (!r.list_services_response) throw new Error(`list_services: ${JSON.stringify(r.error_response)}`);
    return r.list_services_response.service.map((s) => s.name);
  }

  /** The files of a file_containing_symbol / file_by_filename answer, decoded, in the order served. */
  async files(req: { file_containing_symbol: string } | { file_by_filename: string }): Promise<{ raw: Buffer; file: descriptor.IFileDescriptorProto }[]> {
    const r = await this.request(req);
    if (!r.file_descriptor_response) throw new Error(`${JSON.stringify(req)}: ${JSON.stringify(r.error_response)}`);
    return r.file_descriptor_response.file_descriptor_proto.map((raw) => ({
      raw,
      // A plain object holds only the fields present on the wire (a decoded
      // message would show proto2 defaults, e.g. oneof_index 0, on every field).
      file: descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(raw)),
    }));
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

// ---------------------------------------------------------------------------
// protodesc's rules (google.golang.org/protobuf/reflect/protodesc,
// desc_init/desc_resolve/desc_validate), the ones protobufjs-built
// descriptors can get wrong. Returns one line per violation.

const LABEL_OPTIONAL = 1;
const LABEL_REQUIRED = 2;
const LABEL_REPEATED = 3;
const TYPE = { DOUBLE: 1, FLOAT: 2, GROUP: 10, MESSAGE: 11, BYTES: 12, ENUM: 14 } as const;

/** strs.MapEntryName: "statuses" -> "StatusesEntry", "foo_bar" -> "FooBarEntry". */
const mapEntryName = (field: string): string => field.replace(/(?:^|_)([a-z0-9]?)/g, (_m, c: string) => c.toUpperCase()) + 'Entry';
/** protoc's default json_name (strs.JSONCamelCase). */
const jsonCamelCase = (field: string): string => field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** google.protobuf.SourceCodeInfo.Location (protobufjs types source_code_info as any). */
interface SourceLocation {
  path?: number[];
  span?: number[];
  leadingComments?: string;
  trailingComments?: string;
  leadingDetachedComments?: string[];
}
const locationsOf = (file: descriptor.IFileDescriptorProto): SourceLocation[] => (file.sourceCodeInfo as { location?: SourceLocation[] } | null | undefined)?.location ?? [];

interface Symbol_ {
  kind: 'message' | 'enum' | 'enum value' | 'service' | 'method' | 'field' | 'oneof' | 'package';
  file: string;
  message?: descriptor.IDescriptorProto;
}

function validateFiles(files: ReadonlyMap<string, descriptor.IFileDescriptorProto>): string[] {
  const problems: string[] = [];
  const symbols = new Map<string, Symbol_>();
  const define = (fqn: string, sym: Symbol_): void => {
    const prev = symbols.get(fqn);
    if (prev && !(prev.kind === 'package' && sym.kind === 'package')) problems.push(`${sym.file}: ${fqn} defined twice (${prev.kind} in ${prev.file}, ${sym.kind})`);
    else symbols.set(fqn, sym);
  };

  // Pass 1: every name a file declares, as protodesc's registry sees them.
  const defineMessage = (file: string, scope: string, m: descriptor.IDescriptorProto): void => {
    const fqn = `${scope}.${m.name ?? ''}`;
    if (!IDENT.test(m.name ?? '')) problems.push(`${file}: message name ${JSON.stringify(m.name)} in ${scope} is not an identifier`);
    define(fqn, { kind: 'message', file, message: m });
    for (const f of m.field ?? []) define(`${fqn}.${f.name ?? ''}`, { kind: 'field', file });
    for (const o of m.oneofDecl ?? []) define(`${fqn}.${o.name ?? ''}`, { kind: 'oneof', file });
    for (const n of m.nestedType ?? []) defineMessage(file, fqn, n);
    for (const e of m.enumType ?? []) defineEnum(file, fqn, e);
  };
  const defineEnum = (file: string, scope: string, e: descriptor.IEnumDescriptorProto): void => {
    define(`${scope}.${e.name ?? ''}`, { kind: 'enum', file });
    // Enum values are siblings of their enum (C++ scoping).
    for (const v of e.value ?? []) define(`${scope}.${v.name ?? ''}`, { kind: 'enum value', file });
  };
  for (const [name, file] of files) {
    const pkg = file.package ?? '';
    if (pkg && !pkg.split('.').every((p) => IDENT.test(p))) problems.push(`${name}: bad package ${JSON.stringify(pkg)}`);
    const parts = pkg ? pkg.split('.') : [];
    for (let i = 1; i <= parts.length; i++) define(`.${parts.slice(0, i).join('.')}`, { kind: 'package', file: name });
    const scope = pkg ? `.${pkg}` : '';
    for (const m of file.messageType ?? []) defineMessage(name, scope, m);
    for (const e of file.enumType ?? []) defineEnum(name, scope, e);
    for (const s of file.service ?? []) {
      define(`${scope}.${s.name ?? ''}`, { kind: 'service', file: name });
      for (const m of s.method ?? []) define(`${scope}.${s.name ?? ''}.${m.name ?? ''}`, { kind: 'method', file: name });
    }
  }

  // Pass 2: every file on its own, references resolved as protodesc does.
  for (const [name, file] of files) {
    const proto3 = file.syntax === 'proto3';
    if (!proto3) problems.push(`${name}: syntax is ${JSON.stringify(file.syntax)}, not "proto3"`);
    if (file.name !== name) problems.push(`${name}: served under another name than its own (${file.name})`);
    const deps = (file.dependency ?? []) as string[];
    for (const d of deps) if (!files.has(d)) problems.push(`${name}: imports ${d}, which reflection does not serve`);
    const visible = new Set([name, ...deps]);

    // desc_resolve.go findDescriptor: a full name (".a.b") as is; a partial
    // one tried in the scope, then in each enclosing scope. The target must
    // be declared in this file or in one it imports.
    const resolve = (scope: string, ref: string, want: Symbol_['kind'][], what: string): Symbol_ | undefined => {
      let found: Symbol_ | undefined;
      if (ref.startsWith('.')) found = symbols.get(ref);
      else
        for (let s = scope; found === undefined; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
          found = symbols.get(`${s}.${ref}`);
          if (s === '') break;
        }
      if (!found || !want.includes(found.kind)) problems.push(`${name}: ${what}: cannot resolve ${JSON.stringify(ref)} to a ${want.join('/')}`);
      else if (!visible.has(found.file)) problems.push(`${name}: ${what}: ${ref} is in ${found.file}, which the file does not import`);
      else return found;
      return undefined;
    };

    const checkEnum = (scope: string, e: descriptor.IEnumDescriptorProto): void => {
      const values = e.value ?? [];
      if (values.length === 0) problems.push(`${name}: enum ${scope}.${e.name ?? ''} has no values`);
      if (proto3 && values[0]?.number !== 0) problems.push(`${name}: proto3 enum ${scope}.${e.name ?? ''} must start with a 0 value`);
    };

    const checkMessage = (scope: string, m: descriptor.IDescriptorProto): void => {
      const fqn = `${scope}.${m.name ?? ''}`;
      const fields = m.field ?? [];
      const numbers = new Set<number>();
      const jsonKeys = new Map<string, string>();
      for (const f of fields) {
        const where = `${fqn}.${f.name ?? ''}`;
        if (!IDENT.test(f.name ?? '')) problems.push(`${name}: field name ${JSON.stringify(f.name)} in ${fqn}`);
        const num = f.number ?? 0;
        if (num < 1 || num > 536870911 || (num >= 19000 && num <= 19999)) problems.push(`${name}: ${where}: bad number ${num}`);
        if (numbers.has(num)) problems.push(`${name}: ${where}: number ${num} used twice`);
        numbers.add(num);
        if (![LABEL_OPTIONAL, LABEL_REQUIRED, LABEL_REPEATED].includes(f.label ?? 0)) problems.push(`${name}: ${where}: label ${f.label}`);
        if (proto3 && f.label === LABEL_REQUIRED) problems.push(`${name}: ${where}: required field in a proto3 file`);
        if (proto3 && f.defaultValue) problems.push(`${name}: ${where}: default value in a proto3 file`);
        if (f.jsonName && f.jsonName !== jsonCamelCase(f.name ?? '')) problems.push(`${name}: ${where}: json_name ${f.jsonName}, expected ${jsonCamelCase(f.name ?? '')}`);
        // desc_validate.go: proto3 field names must not collide once
        // lower-cased with underscores removed (their JSON names would).
        const key = (f.name ?? '').toLowerCase().replace(/_/g, '');
        if (proto3 && jsonKeys.has(key)) problems.push(`${name}: ${where}: JSON name conflict with ${jsonKeys.get(key)}`);
        jsonKeys.set(key, f.name ?? '');
        if (f.oneofIndex != null && f.oneofIndex >= (m.oneofDecl ?? []).length) problems.push(`${name}: ${where}: oneof_index out of range`);

        const t = f.type ?? 0;
        if (t === TYPE.MESSAGE || t === TYPE.ENUM || t === TYPE.GROUP) {
          if (!f.typeName) {
            problems.push(`${name}: ${where}: type ${t} without type_name`);
            continue;
          }
          const target = resolve(fqn, f.typeName, t === TYPE.ENUM ? ['enum'] : ['message'], where);
          if (target?.message?.options?.mapEntry) checkMapField(fqn, m, f, target.message, f.typeName);
        }
      }
      // A map entry no field of its parent uses as a map is invalid too.
      for (const n of m.nestedType ?? [])
        if (n.options?.mapEntry) {
          const user = fields.find((f) => f.name && mapEntryName(f.name) === n.name);
          if (!user) problems.push(`${name}: ${fqn}.${n.name ?? ''}: map entry that no field of ${fqn} is named after`);
        }
      for (const n of m.nestedType ?? []) checkMessage(fqn, n);
      for (const e of m.enumType ?? []) checkEnum(fqn, e);
    };

    // desc_validate.go checkValidMap and the map_entry message rules.
    const checkMapField = (
      fqn: string,
      m: descriptor.IDescriptorProto,
      f: descriptor.IFieldDescriptorProto,
      entry: descriptor.IDescriptorProto,
      ref: string,
    ): void => {
      const where = `${fqn}.${f.name ?? ''} (map)`;
      const bad = (why: string): number => problems.push(`${name}: ${where}: invalid map: ${why}`);
      if (f.label !== LABEL_REPEATED) bad('field is not LABEL_REPEATED');
      if (f.type !== TYPE.MESSAGE) bad('field is not TYPE_MESSAGE');
      if (!(m.nestedType ?? []).includes(entry)) bad(`entry ${ref} is not nested in ${fqn}`);
      if (entry.name !== mapEntryName(f.name ?? '')) bad(`entry is named ${entry.name}, expected ${mapEntryName(f.name ?? '')}`);
      const ef = entry.field ?? [];
      if (ef.length !== 2) bad(`entry has ${ef.length} fields`);
      const key = ef.find((x) => x.number === 1);
      const value = ef.find((x) => x.number === 2);
      if (key?.name !== 'key') bad('entry field 1 is not "key"');
      if (value?.name !== 'value') bad('entry field 2 is not "value"');
      for (const x of ef) if (x.label !== LABEL_OPTIONAL) bad(`entry field ${x.name ?? ''} is not LABEL_OPTIONAL`);
      if ([TYPE.DOUBLE, TYPE.FLOAT, TYPE.BYTES, TYPE.MESSAGE, TYPE.ENUM, TYPE.GROUP].includes((key?.type ?? 0) as 1)) bad(`key type ${key?.type}`);
      if ((entry.nestedType ?? []).length || (entry.enumType ?? []).length || (entry.oneofDecl ?? []).length || (entry.extension ?? []).length || (entry.extensionRange ?? []).length)
        bad('entry declares nested types, enums, oneofs or extensions');
    };

    // desc.go: every source location's span has 3 or 4 elements
    // ("invalid span"); nothing else of source_code_info is checked.
    for (const loc of locationsOf(file))
      if (loc.span?.length !== 3 && loc.span?.length !== 4) problems.push(`${name}: source location ${JSON.stringify(loc.path ?? [])}: invalid span ${JSON.stringify(loc.span ?? [])}`);

    const pkgScope = file.package ? `.${file.package}` : '';
    for (const m of file.messageType ?? []) checkMessage(pkgScope, m);
    for (const e of file.enumType ?? []) checkEnum(pkgScope, e);
    for (const s of file.service ?? [])
      for (const m of s.method ?? []) {
        const where = `${pkgScope}.${s.name ?? ''}.${m.name ?? ''}`;
        resolve(pkgScope, m.inputType ?? '', ['message'], `${where} input`);
        resolve(pkgScope, m.outputType ?? '', ['message'], `${where} output`);
      }
  }
  return problems;
}

describe('the protodesc validator', () => {
  // protoc comes from scripts/test-deps.sh (npm test's pretest).
  it('accepts what protoc compiles from protos with imports, maps, nesting and no package', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-refl-'));
    try {
      fs.mkdirSync(path.join(dir, 'd'));
      fs.writeFileSync(path.join(dir, 'top.proto'), 'syntax = "proto3";\nmessage Top { string v = 1; }\n');
      fs.writeFileSync(
        path.join(dir, 'd', 'd.proto'),
        'syntax = "proto3";\npackage d.x;\nenum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; }\nmessage Item { Kind kind = 1; message Inner { int32 n = 1; } Inner inner = 2; }\n',
      );
      fs.writeFileSync(
        path.join(dir, 'a.proto'),
        [
          'syntax = "proto3";',
          'package a.b;',
          'import "top.proto";',
          'import "d/d.proto";',
          'service S { rpc Get(Req) returns (Res); }',
          'message Req {',
          '  map<string, d.x.Item> items_by_name = 1;',
          '  map<int32, Top> tops = 2;',
          '  repeated d.x.Item.Inner inners = 3;',
          '  message Nested { map<string, Nested> children = 1; }',
          '}',
          'message Res { d.x.Kind kind = 1; Req.Nested n = 2; }',
        ].join('\n'),
      );
      execFileSync('protoc', ['-I', dir, '--include_imports', '--include_source_info', '-o', path.join(dir, 'set.pb'), 'a.proto']);
      const set = descriptor.FileDescriptorSet.toObject(descriptor.FileDescriptorSet.decode(fs.readFileSync(path.join(dir, 'set.pb'))));
      const files = new Map((set.file as descriptor.IFileDescriptorProto[]).map((f) => [f.name ?? '', f]));
      expect([...files.keys()].sort()).toEqual(['a.proto', 'd/d.proto', 'top.proto']);
      expect(validateFiles(files)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const file = (name: string, extra: descriptor.IFileDescriptorProto): [string, descriptor.IFileDescriptorProto] => [
    name,
    { name, package: 'p', syntax: 'proto3', ...extra },
  ];
  const str = (name: string, number: number, extra: descriptor.IFieldDescriptorProto = {}): descriptor.IFieldDescriptorProto => ({
    name,
    number,
    label: LABEL_OPTIONAL,
    type: 9,
    ...extra,
  });

  it('rejects what protobufjs builds for a map (the entry named after the field)', () => {
    const problems = validateFiles(
      new Map([
        file('a.proto', {
          messageType: [
            { name: 'V' },
            {
              name: 'M',
              field: [{ name: 'statuses', number: 1, label: LABEL_REPEATED, type: TYPE.MESSAGE, typeName: 'Statuses' }],
              nestedType: [{ name: 'Statuses', field: [str('key', 1), { ...str('value', 2), type: TYPE.MESSAGE, typeName: 'V' }], options: { mapEntry: true } }],
            },
          ],
        }),
      ]),
    );
    expect(problems.join('\n')).toMatch(/invalid map: entry is named Statuses, expected StatusesEntry/);
  });

  it('rejects enums not starting at 0, JSON name conflicts, syntax, and types of files not imported', () => {
    const problems = validateFiles(
      new Map([
        file('a.proto', {
          syntax: 'proto2',
          enumType: [{ name: 'E', value: [{ name: 'E_ONE', number: 1 }] }],
          messageType: [{ name: 'M', field: [str('foo_bar', 1), str('fooBar', 2), { name: 'b', number: 3, label: LABEL_OPTIONAL, type: TYPE.MESSAGE, typeName: '.q.B' }] }],
        }),
        ['b.proto', { name: 'b.proto', package: 'q', syntax: 'proto3', messageType: [{ name: 'B' }] }],
      ]),
    ).join('\n');
    expect(problems).toMatch(/syntax is "proto2"/);
    expect(problems).not.toMatch(/must start with a 0 value/); // proto2: allowed
    expect(problems).not.toMatch(/JSON name conflict/); // proto2: allowed
    expect(problems).toMatch(/\.q\.B is in b\.proto, which the file does not import/);
    const proto3 = validateFiles(
      new Map([
        file('a.proto', {
          enumType: [{ name: 'E', value: [{ name: 'E_ONE', number: 1 }] }],
          messageType: [{ name: 'M', field: [str('foo_bar', 1), str('fooBar', 2)] }],
        }),
      ]),
    ).join('\n');
    expect(proto3).toMatch(/proto3 enum \.p\.E must start with a 0 value/);
    expect(proto3).toMatch(/\.p\.M\.fooBar: JSON name conflict with foo_bar/);
  });

  it('rejects source locations whose span does not have 3 or 4 elements', () => {
    const location = [3, 4, 2, 5].map((n, i) => ({ path: [4, 0], span: Array.from({ length: n }, () => i) }));
    const problems = validateFiles(new Map([file('a.proto', { messageType: [{ name: 'M' }], sourceCodeInfo: { location } })])).join('\n');
    expect(problems).toMatch(/source location \[4,0\]: invalid span \[2,2\]/);
    expect(problems).toMatch(/source location \[4,0\]: invalid span \[3,3,3,3,3\]/);
    expect(problems).not.toMatch(/\[0,0,0\]|\[1,1,1,1\]/);
  });
});

// ---------------------------------------------------------------------------
// The comments `grpcurl describe` must show, read from the .proto text itself:
// a top-level message or service and its fields or methods, each with the
// block of "//" lines right above it, as describe prints them.

interface CommentedElement {
  comment: string[];
  /** A pattern of the element's line in describe's output. */
  element: string;
}

function commentedElements(protoText: string, name: string): CommentedElement[] {
  const lines = protoText.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^(message|service) ${name} \\{`).test(l));
  if (start < 0) throw new Error(`no top-level message or service ${name}`);
  const commentAbove = (i: number, indent: string): string[] => {
    const block: string[] = [];
    for (let k = i - 1; k >= 0 && /^\s*\/\//.test(lines[k] ?? ''); k--) block.unshift(indent + (lines[k] ?? '').replace(/^\s+/, ''));
    return block;
  };
  const out: CommentedElement[] = [{ comment: commentAbove(start, ''), element: escapeRegExp(`${lines[start]?.split(' {')[0] ?? ''} {`) }];
  let depth = 1;
  for (let i = start + 1; i < lines.length && depth > 0; i++) {
    const code = (lines[i] ?? '').replace(/\/\/.*$/, '');
    let m: RegExpExecArray | null;
    if (depth === 1 && (m = /^\s*rpc (\w+)\s*\(/.exec(code))) out.push({ comment: commentAbove(i, '  '), element: `  rpc ${m[1] ?? ''} \\(` });
    else if (depth === 1 && (m = /^\s*[\w.<>, ]+ (\w+) = (\d+)/.exec(code))) out.push({ comment: commentAbove(i, '  '), element: `  [^\\n]* ${m[1] ?? ''} = ${m[2] ?? ''};` });
    depth += (code.match(/\{/g) ?? []).length - (code.match(/\}/g) ?? []).length;
  }
  return out;
}

const escapeRegExp = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------
// A client built from reflected descriptors only, as grpcurl builds its calls.

type Obj = Record<string, unknown>;
const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: String, defaults: true, arrays: true };
const rootFromDescriptor = (set: descriptor.IFileDescriptorSet): protobuf.Root =>
  (protobuf.Root as unknown as { fromDescriptor(d: descriptor.IFileDescriptorSet): protobuf.Root }).fromDescriptor(set);

function genericClient(root: protobuf.Root, service: string, socket: string): grpc.Client {
  const svc = root.lookupService(service);
  const def: Record<string, grpc.MethodDefinition<Obj, Obj>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType;
    const res = m.resolvedResponseType;
    if (!req || !res) throw new Error(`${service}.${m.name}: unresolved types`);
    def[m.name] = {
      path: `/${service}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      // fromObject takes the JSON-ish objects grpcurl's -d takes (enum names as strings).
      requestSerialize: (v: Obj) => Buffer.from(req.encode(req.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), TO_OBJECT),
      responseSerialize: (v: Obj) => Buffer.from(res.encode(res.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), TO_OBJECT),
      originalName: m.name,
    };
  }
  const Ctor = grpc.makeGenericClientConstructor(def, service);
  return new Ctor(`unix:${socket}`, grpc.credentials.createInsecure());
}

function unary(client: grpc.Client, method: string, req: Obj): Promise<Obj> {
  const fn = (client as unknown as Record<string, (r: Obj, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Obj) => void) => void>)[method];
  if (!fn) throw new Error(`client has no method ${method}`);
  return new Promise((resolve, reject) => fn.call(client, req, { deadline: Date.now() + 30_000 }, (e, r) => (e ? reject(e) : resolve(r ?? {}))));
}

async function unaryStatus(client: grpc.Client, method: string, req: Obj): Promise<grpc.ServiceError> {
  try {
    await unary(client, method, req);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error(`${method} ${JSON.stringify(req)} succeeded, expected an error`);
}

/** Map fields arrive as an object (MapField) or, from a descriptor-built root, as repeated key/value entries. */
function mapOf(v: unknown): Record<string, Obj> {
  if (Array.isArray(v)) return Object.fromEntries((v as { key: string; value: Obj }[]).map((e) => [e.key, e.value]));
  return (v ?? {}) as Record<string, Obj>;
}

// ---------------------------------------------------------------------------

let agent: AgentProcess;

beforeAll(async () => {
  agent = await startAgent();
  // "criu-agent listening" comes before the first CRIU probe ends; health is settled after it.
  for (const started = Date.now(); !/CRIU answers|CRIU does not answer/.test(agent.output()); await new Promise((r) => setTimeout(r, 25)))
    if (Date.now() - started > 20_000) throw new Error(`no CRIU probe result within 20 s:\n${agent.output()}`);
});

afterAll(async () => {
  await agent?.dispose();
});

/** Everything reflection serves for the listed services, by file name (and the raw bytes, to compare versions). */
async function fetchAll(r: ReflectionClient, services: string[]): Promise<{ files: Map<string, descriptor.IFileDescriptorProto>; raw: Map<string, Buffer> }> {
  const files = new Map<string, descriptor.IFileDescriptorProto>();
  const raw = new Map<string, Buffer>();
  const add = (got: { raw: Buffer; file: descriptor.IFileDescriptorProto }[]): void => {
    for (const g of got) {
      const name = g.file.name ?? '';
      const prev = raw.get(name);
      if (prev && !prev.equals(g.raw)) throw new Error(`${name} served with two different contents`);
      raw.set(name, g.raw);
      files.set(name, g.file);
    }
  };
  for (const s of services) {
    const got = await r.files({ file_containing_symbol: s });
    expect(got.length).toBeGreaterThan(0);
    // The first file is the one declaring the symbol.
    expect((got[0]?.file.service ?? []).map((x) => `${got[0]?.file.package ?? ''}.${x.name ?? ''}`)).toContain(s);
    add(got);
  }
  // Every import must be fetchable by name (grpcurl asks for the ones it lacks),
  // and served under exactly that name.
  for (let grew = true; grew; ) {
    grew = false;
    for (const f of [...files.values()])
      for (const dep of (f.dependency ?? []) as string[]) {
        if (files.has(dep)) continue;
        const got = await r.files({ file_by_filename: dep });
        expect(got[0]?.file.name).toBe(dep);
        add(got);
        grew = true;
      }
  }
  // And every file is fetchable by its own name.
  for (const name of files.keys()) expect((await r.files({ file_by_filename: name }))[0]?.file.name).toBe(name);
  return { files, raw };
}

describe.each(VERSIONS)('reflection %s', (version) => {
  let r: ReflectionClient;
  let files: Map<string, descriptor.IFileDescriptorProto>;
  let raw: Map<string, Buffer>;
  let services: string[];

  beforeAll(async () => {
    r = new ReflectionClient(agent.socket, version);
    services = await r.listServices();
    const ours = services.filter((s) => !s.startsWith('grpc.reflection.'));
    ({ files, raw } = await fetchAll(r, ours));
  });

  afterAll(() => r?.close());

  it('lists the agent and health services', () => {
    expect(services).toEqual(expect.arrayContaining([AGENT_SERVICE, HEALTH_SERVICE]));
    for (const s of services) expect(s).toMatch(/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*\.[A-Z][A-Za-z0-9]*$/);
  });

  it('serves files Go protobuf (protodesc) accepts', () => {
    expect([...files.keys()].length).toBeGreaterThanOrEqual(2);
    expect(validateFiles(files)).toEqual([]);
  });

  it('serves the health map field as a map', () => {
    const health = [...files.values()].find((f) => f.package === 'grpc.health.v1');
    const list = health?.messageType?.find((m) => m.name === 'HealthListResponse');
    const field = list?.field?.find((f) => f.name === 'statuses');
    expect(field).toMatchObject({ number: 1, label: LABEL_REPEATED, type: TYPE.MESSAGE });
    const entry = list?.nestedType?.find((n) => field?.typeName === n.name || field?.typeName?.endsWith(`.HealthListResponse.${n.name ?? ''}`));
    expect(entry?.name).toBe('StatusesEntry');
    expect(entry?.options?.mapEntry).toBe(true);
  });

  it('describes DumpRequest.final_state as the FinalState enum', () => {
    const agentFile = [...files.values()].find((f) => f.package === 'criu_agent.v1');
    const dumpRequest = agentFile?.messageType?.find((m) => m.name === 'DumpRequest');
    const fs = dumpRequest?.field?.find((f) => f.name === 'final_state');
    expect(fs).toMatchObject({ number: 3, label: LABEL_OPTIONAL, type: TYPE.ENUM, typeName: '.criu_agent.v1.FinalState' });
  });

  it('serves every file of proto/reflection.binpb as buf compiled it, byte for byte', () => {
    const compiled = new Map(fileDescriptorProtos(fs.readFileSync(DESCRIPTOR_SET)).map((b) => [(descriptor.FileDescriptorProto.decode(b) as descriptor.IFileDescriptorProto).name ?? '', b]));
    expect([...raw.keys()].sort()).toEqual([...compiled.keys()].sort());
    for (const [name, bytes] of raw) expect({ name, same: bytes.equals(compiled.get(name) ?? Buffer.alloc(0)) }).toEqual({ name, same: true });
  });

  // protoc comes from scripts/test-deps.sh (npm test's pretest): a second
  // compiler, so that the comments are checked against more than buf's word.
  it.each([
    ['criu_agent.v1', protoDir, AGENT_PROTO],
    ['grpc.health.v1', path.dirname(healthProtoPath), path.basename(healthProtoPath)],
  ])('serves the comments of %s where protoc --include_source_info puts them', (pkg, include, rel) => {
    const file = [...files.values()].find((x) => x.package === pkg);
    const locations = locationsOf(file ?? {});
    expect(locations.filter((l) => l.leadingComments).length).toBeGreaterThan(3);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-protoc-')), 'set.pb');
    try {
      execFileSync('protoc', ['-I', include, '--include_source_info', '-o', out, rel]);
      const want = (descriptor.FileDescriptorSet.toObject(descriptor.FileDescriptorSet.decode(fs.readFileSync(out))).file as descriptor.IFileDescriptorProto[])[0];
      // The same locations; buf and protoc list some in another order, and
      // end a trailing comment followed by "}" on the next line differently
      // (protoc 3.21 with its "\n", buf without; describe prints both alike).
      const byPath = (ls: SourceLocation[]): Record<string, SourceLocation> =>
        Object.fromEntries(ls.map((l) => [JSON.stringify(l.path ?? []), l.trailingComments ? { ...l, trailingComments: l.trailingComments.replace(/\n$/, '') } : l]));
      expect(byPath(locations)).toEqual(byPath(locationsOf(want ?? {})));
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  });

  // What `grpcurl describe` prints, from this reflection version: each
  // element under the "//" lines right above it in the .proto source.
  it.each(['DumpRequest', 'CheckpointAgent'])('describes %s with the comments of the .proto, as grpcurl describe prints them', async (name) => {
    const described = await grpcurl(['-plaintext', `unix://${agent.socket}`, 'describe', `criu_agent.v1.${name}`], { reflection: version });
    expect([described.code, described.stderr]).toEqual([0, '']);
    const expected = commentedElements(fs.readFileSync(path.join(protoDir, AGENT_PROTO), 'utf8'), name);
    expect(expected.filter((e) => e.comment.length > 0).length).toBeGreaterThan(3);
    for (const e of expected) {
      const pattern = [...e.comment.map(escapeRegExp), e.element].join('\\n');
      expect(described.stdout).toMatch(new RegExp(`(^|\\n)${pattern}`));
    }
  });

  // grpcurl describe SYMBOL asks for the file containing the symbol.
  it('finds the file of every message, enum, service and method by its full name', async () => {
    const symbols: [string, string][] = [];
    for (const [name, f] of files) {
      const pkg = f.package ? `${f.package}.` : '';
      const addMessage = (scope: string, m: descriptor.IDescriptorProto): void => {
        symbols.push([`${scope}${m.name ?? ''}`, name]);
        for (const n of m.nestedType ?? []) addMessage(`${scope}${m.name ?? ''}.`, n);
        for (const e of m.enumType ?? []) symbols.push([`${scope}${m.name ?? ''}.${e.name ?? ''}`, name]);
      };
      for (const m of f.messageType ?? []) addMessage(pkg, m);
      for (const e of f.enumType ?? []) symbols.push([`${pkg}${e.name ?? ''}`, name]);
      for (const svc of f.service ?? []) {
        symbols.push([`${pkg}${svc.name ?? ''}`, name]);
        for (const m of svc.method ?? []) symbols.push([`${pkg}${svc.name ?? ''}.${m.name ?? ''}`, name]);
      }
    }
    expect(symbols.length).toBeGreaterThan(40);
    for (const [symbol, file] of symbols) expect([symbol, (await r.files({ file_containing_symbol: symbol }))[0]?.file.name]).toEqual([symbol, file]);
  });

  it('answers NOT_FOUND for unknown symbols and files', async () => {
    const s = await r.request({ file_containing_symbol: 'no.such.Symbol' });
    expect(s.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
    const f = await r.request({ file_by_filename: 'no/such.proto' });
    expect(f.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
  });

  describe('calls built from reflected descriptors only', () => {
    let root: protobuf.Root;
    let agentClient: grpc.Client;
    let healthClient: grpc.Client;

    beforeAll(() => {
      root = rootFromDescriptor({ file: [...raw.values()].map((b) => descriptor.FileDescriptorProto.decode(b) as descriptor.IFileDescriptorProto) });
      agentClient = genericClient(root, AGENT_SERVICE, agent.socket);
      healthClient = genericClient(root, HEALTH_SERVICE, agent.socket);
    });

    afterAll(() => {
      agentClient?.close();
      healthClient?.close();
    });

    it('reflects every method of both services', () => {
      const source = new protobuf.Root().loadSync(path.join(protoDir, AGENT_PROTO), { keepCase: true });
      const methods = source.lookupService(AGENT_SERVICE).methodsArray.map((m) => m.name);
      expect(methods).toEqual(expect.arrayContaining(['Check', 'Continue', 'Dump', 'PreDump', 'Restore']));
      expect(root.lookupService(AGENT_SERVICE).methodsArray.map((m) => m.name).sort()).toEqual(methods.sort());
      expect(root.lookupService(HEALTH_SERVICE).methodsArray.map((m) => m.name).sort()).toEqual(['Check', 'List', 'Watch']);
    });

    // Every unary method, new ones included, with an empty request: a
    // handler must decode it and answer (a request it cannot decode is
    // INTERNAL, a method not wired UNIMPLEMENTED).
    it('calls every unary method of both services with a request built from reflected types', async () => {
      const answered: Record<string, string> = {};
      for (const [client, service] of [
        [agentClient, AGENT_SERVICE],
        [healthClient, HEALTH_SERVICE],
      ] as const)
        for (const m of root.lookupService(service).methodsArray.filter((x) => !x.requestStream && !x.responseStream)) {
          let code: grpc.status = grpc.status.OK;
          try {
            await unary(client, m.name, {});
          } catch (e) {
            code = (e as grpc.ServiceError).code;
          }
          answered[`${service}/${m.name}`] = grpc.status[code];
        }
      expect(Object.keys(answered).length).toBeGreaterThanOrEqual(10);
      const unexpected = Object.entries(answered).filter(([, code]) => !['OK', 'INVALID_ARGUMENT', 'NOT_FOUND'].includes(code));
      expect(unexpected).toEqual([]);
      expect(answered[`${AGENT_SERVICE}/Check`]).toBe('OK');
    });

    it('has the messages and enums of the source protos, field for field', () => {
      const source = new protobuf.Root().loadSync([path.join(protoDir, AGENT_PROTO), healthProtoPath], { keepCase: true });
      source.resolveAll();
      const typeOf = (f: protobuf.Field): string => f.resolve().resolvedType?.fullName ?? f.type;
      const compare = (ns: protobuf.NamespaceBase): void => {
        for (const o of ns.nestedArray) {
          if (o instanceof protobuf.Enum) expect(root.lookupEnum(o.fullName).values).toEqual(o.values);
          if (o instanceof protobuf.Type) {
            const reflected = root.lookupType(o.fullName);
            const fields = Object.fromEntries(
              reflected.fieldsArray.map((f): [string, object] => {
                const entry = f.resolve().resolvedType;
                // A map comes back as repeated <Name>Entry {key = 1; value = 2}.
                if (entry instanceof protobuf.Type && entry.name === mapEntryName(f.name) && entry.parent === reflected) {
                  const [k, v] = [entry.fields.key, entry.fields.value];
                  return [f.name, { id: f.id, map: `${k ? typeOf(k) : '?'} -> ${v ? typeOf(v) : '?'}` }];
                }
                return [f.name, { id: f.id, type: typeOf(f), repeated: f.repeated }];
              }),
            );
            const want = Object.fromEntries(
              o.fieldsArray.map((f): [string, object] => [
                f.name,
                f instanceof protobuf.MapField ? { id: f.id, map: `${f.keyType} -> ${typeOf(f)}` } : { id: f.id, type: typeOf(f), repeated: f.repeated },
              ]),
            );
            expect(fields).toEqual(want);
          }
          if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) compare(o);
        }
      };
      compare(source);
    });

    it('CheckpointAgent.Check', async () => {
      const res = await unary(agentClient, 'Check', JSON.parse('{}') as Obj);
      expect(res.criu_version).toMatch(/^\d+\.\d+/);
      expect(typeof res.mem_track).toBe('boolean');
    });

    it('CheckpointAgent.Continue {pid: 0}', async () => {
      expect((await unaryStatus(agentClient, 'Continue', { pid: 0 })).code).toBe(grpc.status.INVALID_ARGUMENT);
    });

    it('CheckpointAgent.Dump {pid: 0}', async () => {
      const req = JSON.parse('{"pid": 0, "checkpoint_id": "refl-dump", "final_state": "FINAL_STATE_STOPPED", "options": {"shell_job": true, "manage_cgroups_mode": "CGROUP_MODE_SOFT"}}') as Obj;
      expect((await unaryStatus(agentClient, 'Dump', req)).code).toBe(grpc.status.INVALID_ARGUMENT);
    });

    it('CheckpointAgent.PreDump {pid: 0}', async () => {
      expect((await unaryStatus(agentClient, 'PreDump', { pid: 0, checkpoint_id: 'refl-predump' })).code).toBe(grpc.status.INVALID_ARGUMENT);
    });

    it('CheckpointAgent.Restore of an unknown checkpoint', async () => {
      const err = await unaryStatus(agentClient, 'Restore', { checkpoint_id: `no-such-checkpoint-${process.pid}`, final_state: 'FINAL_STATE_RUNNING' });
      expect(err.code).toBe(grpc.status.NOT_FOUND);
    });

    it('Health.Check', async () => {
      expect(await unary(healthClient, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
      expect(await unary(healthClient, 'Check', { service: AGENT_SERVICE })).toEqual({ status: 'SERVING' });
      expect((await unaryStatus(healthClient, 'Check', { service: 'no.such.Service' })).code).toBe(grpc.status.NOT_FOUND);
    });

    it('Health.List', async () => {
      const res = await unary(healthClient, 'List', {});
      const statuses = mapOf(res.statuses);
      expect(statuses['']).toEqual({ status: 'SERVING' });
      expect(statuses[AGENT_SERVICE]).toEqual({ status: 'SERVING' });
    });

    it('Health.Watch delivers SERVING first', async () => {
      const open = (healthClient as unknown as Record<string, (r: Obj) => grpc.ClientReadableStream<Obj>>).Watch;
      const stream = open?.call(healthClient, { service: AGENT_SERVICE });
      if (!stream) throw new Error('no Watch method');
      const first = await new Promise<Obj>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      stream.on('error', () => undefined); // the cancel below ends it with CANCELLED
      stream.cancel();
      expect(first).toEqual({ status: 'SERVING' });
    });
  });
});
