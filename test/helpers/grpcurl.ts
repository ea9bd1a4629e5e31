/**
 * grpcurl (v1.9.3) as far as the docs use it, for tests that check the
 * documented commands against a running agent where grpcurl itself cannot be
 * installed: a command line is parsed with grpcurl's flags and positional
 * arguments, and run the way grpcurl runs it, with no .proto files:
 * everything comes from server reflection (list, describe, and the request
 * and response types of a call, with proto3 JSON mapping both ways).
 *
 *   const [cmd] = grpcurlCommands(readme, { S: `unix://${socket}` });
 *   const res = await runGrpcurl(parseGrpcurl(cmd.argv));
 *   // res.code: grpc status (0: OK); res.output: what grpcurl prints on stdout
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';

// ---------------------------------------------------------------------------
// Command lines

/** One grpcurl command of a shell script, with the variables before it expanded. */
export interface ScriptCommand {
  /** The command as written (continuation lines joined). */
  readonly text: string;
  readonly argv: string[];
}

/**
 * The grpcurl commands of shell code, or of the ```sh blocks of a Markdown
 * text: "\"-continued lines joined, `NAME=value` lines remembered and
 * expanded in later commands ($NAME, ${NAME}), comments skipped. `vars`
 * overrides the script's own assignments (e.g. the socket address).
 */
export function grpcurlCommands(text: string, vars: Record<string, string> = {}): ScriptCommand[] {
  const blocks = text.includes('```')
    ? [...text.matchAll(/^```(?:sh|bash|shell|console)\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? '')
    : [text];
  const out: ScriptCommand[] = [];
  for (const block of blocks) {
    const env: Record<string, string> = { ...vars };
    for (const raw of block.replace(/\\\n\s*/g, ' ').split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const assignment = /^([A-Za-z_]\w*)=(.*)$/.exec(line);
      if (assignment) {
        const [, name = '', value = ''] = assignment;
        if (name in vars) continue;
        try {
          env[name] = shellWords(value, env).join(' ');
        } catch {
          delete env[name]; // e.g. PID=$(pgrep ...): a command using $PID then needs it in `vars`
        }
        continue;
      }
      // Other commands are left alone: they need not fit this parser.
      if (line.startsWith('grpcurl ')) out.push({ text: line, argv: shellWords(line, env) });
    }
  }
  return out;
}

/** A POSIX shell's word splitting of one line: '...' literal, "..." with \" \\ \$ and $VAR, bare $VAR, # comments. */
export function shellWords(line: string, env: Record<string, string> = {}): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const add = (s: string): void => void (word = (word ?? '') + s);
  const variable = (i: number): [string, number] => {
    const m = /^\$(?:\{(\w+)\}|(\w+))/.exec(line.slice(i));
    if (!m) return ['$', i + 1];
    const name = m[1] ?? m[2] ?? '';
    if (!(name in env)) throw new Error(`${JSON.stringify(line)}: $${name} is not set`);
    return [env[name] ?? '', i + m[0].length];
  };
  for (let i = 0; i < line.length;) {
    const c = line[i] ?? '';
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`${JSON.stringify(line)}: unterminated '`);
      add(line.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      add('');
      for (i++; line[i] !== '"';) {
        if (i >= line.length) throw new Error(`${JSON.stringify(line)}: unterminated "`);
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) {
          add(line[i + 1] ?? '');
          i += 2;
        } else if (line[i] === '$') {
          const [v, next] = variable(i);
          add(v);
          i = next;
        } else add(line[i++] ?? '');
      }
      i++;
    } else if (c === '\\') {
      add(line[i + 1] ?? '');
      i += 2;
    } else if (c === '$') {
      const [v, next] = variable(i);
      add(v);
      i = next;
    } else if (c === '#' && word === undefined) {
      break; // a comment, to the end of the line
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if ('|&;<>()`'.includes(c)) {
      throw new Error(`${JSON.stringify(line)}: shell syntax ${c} is beyond this parser`);
    } else add(line[i++] ?? '');
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** What one grpcurl command asks for. */
export interface GrpcurlCall {
  /** As given: "unix:///run/criu-agent/agent.sock", "10.0.0.7:50051". */
  readonly address: string;
  readonly plaintext: boolean;
  readonly tls: { cacert?: string; cert?: string; key?: string; servername?: string };
  /** -H, -rpc-header: "name: value" pairs, in order. */
  readonly headers: [string, string][];
  /** list [service] | describe [symbol] | a call of method "pkg.Service/Method". */
  readonly verb: 'list' | 'describe' | 'call';
  readonly symbol?: string;
  /** -d: the request as JSON text; undefined: an empty request. */
  readonly data?: string;
}

const BOOL_FLAGS = new Set(['plaintext', 'insecure', 'v', 'vv', 'emit-defaults', 'allow-unknown-fields', 'unix']);
const VALUE_FLAGS = new Set([
  'd',
  'H',
  'rpc-header',
  'cacert',
  'cert',
  'key',
  'servername',
  'authority',
  'max-time',
  'connect-timeout',
  'format',
]);

/** grpcurl's command line (argv[0] "grpcurl"), with Go's flag rules: -flag or --flag, value as the next word or after "=". */
export function parseGrpcurl(argv: readonly string[]): GrpcurlCall {
  if (argv[0] !== 'grpcurl') throw new Error(`not a grpcurl command: ${argv.join(' ')}`);
  const flags = new Map<string, string[]>();
  let i = 1;
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-') || arg === '-') break;
    const [name = '', inline] = arg.replace(/^--?/, '').split(/=(.*)/s);
    let value: string;
    if (BOOL_FLAGS.has(name)) value = inline ?? 'true';
    else if (VALUE_FLAGS.has(name)) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length) value = argv[++i] ?? '';
      else throw new Error(`flag needs an argument: -${name}`);
    } else throw new Error(`flag provided but not defined: -${name}`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  // grpcurl#496: with -unix, v1.9.3 dials the path over TCP and fails.
  if (flags.has('unix'))
    throw new Error('-unix is broken in grpcurl v1.9.3 (grpcurl#496): give the socket as the address, unix:///path/to/agent.sock');
  if (flags.get('format')?.some((f) => f !== 'json')) throw new Error('only -format json is emulated');
  const [address, ...rest] = argv.slice(i);
  if (!address) throw new Error('too few arguments: no address');
  const one = (name: string): string | undefined => flags.get(name)?.at(-1);
  const headers = [...(flags.get('H') ?? []), ...(flags.get('rpc-header') ?? [])].map((h): [string, string] => {
    const at = h.indexOf(':');
    if (at < 0) throw new Error(`-H ${JSON.stringify(h)}: expected "name: value"`);
    return [h.slice(0, at).trim().toLowerCase(), h.slice(at + 1).trim()];
  });
  let verb: GrpcurlCall['verb'];
  let symbol: string | undefined;
  if (rest[0] === 'list' || rest[0] === 'describe') [verb, symbol] = [rest[0], rest[1]];
  else [verb, symbol] = ['call', rest[0]];
  if (verb === 'call' && !symbol) throw new Error('too few arguments: no method');
  if (rest.length > (verb === 'call' ? 1 : 2)) throw new Error(`too many arguments: ${rest.join(' ')}`);
  if (verb !== 'call' && flags.has('d')) throw new Error(`-d is for calls, not ${verb}`);
  return {
    address,
    plaintext: one('plaintext') === 'true',
    tls: { cacert: one('cacert'), cert: one('cert'), key: one('key'), servername: one('servername') },
    headers,
    verb,
    symbol,
    data: one('d'),
  };
}

// ---------------------------------------------------------------------------
// Running a command

export interface GrpcurlResult {
  /** The gRPC status of the call (0: OK), as grpcurl reports it. */
  readonly code: grpc.status;
  /** What grpcurl prints on stdout: the list, the description, the response as JSON. */
  readonly output: string;
  /** The response of a successful call, as the JSON grpcurl prints. */
  readonly json?: Record<string, unknown>;
  /** The status message of a failed call. */
  readonly message?: string;
}

export interface RunOptions {
  /** Where relative file names (-cacert, -cert, -key) are; default the current directory. */
  cwd?: string;
  /** Addresses to dial instead of those given, e.g. {"10.0.0.7:50051": "127.0.0.1:41234"}. */
  dial?: Record<string, string>;
  /** Deadline of each call, ms (default 60 s). */
  timeoutMs?: number;
  /** The reflection version to ask (default v1, as grpcurl does first). */
  reflection?: 'v1' | 'v1alpha';
}

export async function runGrpcurl(call: GrpcurlCall, opts: RunOptions = {}): Promise<GrpcurlResult> {
  const conn = connection(call, opts);
  const reflection = new Reflection(conn, opts.reflection ?? 'v1');
  try {
    if (call.verb === 'list') {
      if (!call.symbol) return ok((await reflection.services()).sort().join('\n'));
      const svc = (await reflection.root(call.symbol)).lookupService(call.symbol);
      return ok(
        svc.methodsArray
          .map((m) => `${call.symbol ?? ''}.${m.name}`)
          .sort()
          .join('\n'),
      );
    }
    if (call.verb === 'describe') {
      if (!call.symbol) throw new Error('describe without a symbol is not emulated');
      return ok(describe(await reflection.files(call.symbol), call.symbol));
    }
    return await invoke(call, conn, reflection, opts.timeoutMs ?? 60_000);
  } catch (e) {
    if (e instanceof ReflectionError) return failure(e.code, e.message);
    throw e;
  } finally {
    reflection.close();
  }
}

const ok = (output: string, json?: Record<string, unknown>): GrpcurlResult => ({ code: grpc.status.OK, output, json });

interface Connection {
  address: string;
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
  metadata(): grpc.Metadata;
}

function connection(call: GrpcurlCall, opts: RunOptions): Connection {
  const file = (f: string | undefined): Buffer | null => (f === undefined ? null : fs.readFileSync(path.resolve(opts.cwd ?? '.', f)));
  const credentials = call.plaintext
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(file(call.tls.cacert), file(call.tls.key), file(call.tls.cert));
  const options: grpc.ChannelOptions = call.tls.servername
    ? { 'grpc.ssl_target_name_override': call.tls.servername, 'grpc.default_authority': call.tls.servername }
    : {};
  return {
    address: opts.dial?.[call.address] ?? call.address,
    credentials,
    options,
    metadata: () => {
      const md = new grpc.Metadata();
      for (const [k, v] of call.headers) md.add(k, v);
      return md;
    },
  };
}

// ---------------------------------------------------------------------------
// Server reflection (grpcurl asks v1, and v1alpha where v1 is missing)

const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

class ReflectionError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

class Reflection {
  private client?: grpc.Client;
  private readonly known = new Map<string, descriptor.IFileDescriptorProto>();

  constructor(
    private readonly conn: Connection,
    private readonly version: 'v1' | 'v1alpha',
  ) {}

  private async ask(req: object): Promise<ReflectionResponse> {
    if (!this.client) {
      const v = this.version;
      const def = protoLoader.loadSync(`grpc/reflection/${v}/reflection.proto`, {
        keepCase: true,
        defaults: true,
        oneofs: true,
        includeDirs: [REFLECTION_PROTO_DIR],
      });
      const Client = grpc.makeGenericClientConstructor(
        def[`grpc.reflection.${v}.ServerReflection`] as grpc.ServiceDefinition,
        'ServerReflection',
      );
      this.client = new Client(this.conn.address, this.conn.credentials, this.conn.options);
    }
    const client = this.client as unknown as {
      ServerReflectionInfo(md: grpc.Metadata): grpc.ClientDuplexStream<object, ReflectionResponse>;
    };
    const stream = client.ServerReflectionInfo(this.conn.metadata());
    return new Promise((resolve, reject) => {
      stream.once('data', (r: ReflectionResponse) => {
        stream.end();
        resolve(r);
      });
      stream.once('error', (e: grpc.ServiceError) =>
        reject(new ReflectionError(e.code, `failed to query for service descriptor: ${e.details}`)),
      );
      stream.write({ host: '', ...req });
    });
  }

  async services(): Promise<string[]> {
    const r = await this.ask({ list_services: '*' });
    if (!r.list_services_response)
      throw new ReflectionError(r.error_response?.error_code ?? grpc.status.UNKNOWN, r.error_response?.error_message ?? 'no answer');
    return r.list_services_response.service.map((s) => s.name);
  }

  /** The file declaring `symbol` and everything it imports, fetched as grpcurl fetches them (by symbol, then missing imports by name). */
  async files(symbol: string): Promise<descriptor.IFileDescriptorProto[]> {
    const add = async (req: object): Promise<string> => {
      const r = await this.ask(req);
      if (!r.file_descriptor_response) {
        const code: grpc.status = r.error_response?.error_code ?? grpc.status.UNKNOWN;
        throw new ReflectionError(
          code,
          code === grpc.status.NOT_FOUND ? `Symbol not found: ${symbol}` : (r.error_response?.error_message ?? 'no answer'),
        );
      }
      const files = r.file_descriptor_response.file_descriptor_proto.map(
        (b) => descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(b)) as descriptor.IFileDescriptorProto,
      );
      for (const f of files) if (!this.known.has(f.name ?? '')) this.known.set(f.name ?? '', f);
      return files[0]?.name ?? '';
    };
    const first = await add({ file_containing_symbol: symbol });
    const out: descriptor.IFileDescriptorProto[] = [];
    const seen = new Set<string>();
    const walk = async (name: string): Promise<void> => {
      if (seen.has(name)) return;
      seen.add(name);
      if (!this.known.has(name)) await add({ file_by_filename: name });
      const f = this.known.get(name);
      if (!f) throw new Error(`reflection did not serve ${name}`);
      out.push(f);
      for (const dep of (f.dependency ?? []) as string[]) await walk(dep);
    };
    await walk(first);
    return out;
  }

  async root(symbol: string): Promise<protobuf.Root> {
    const files = await this.files(symbol);
    return (protobuf.Root as unknown as { fromDescriptor(d: descriptor.IFileDescriptorSet): protobuf.Root }).fromDescriptor({
      file: files,
    });
  }

  close(): void {
    this.client?.close();
  }
}

// ---------------------------------------------------------------------------
// Calls with proto3 JSON mapping (grpcurl's -d and its output)

async function invoke(call: GrpcurlCall, conn: Connection, reflection: Reflection, timeoutMs: number): Promise<GrpcurlResult> {
  const full = call.symbol ?? '';
  const m = /^(.+)[/.]([^/.]+)$/.exec(full);
  if (!m) throw new Error(`invalid method name ${JSON.stringify(full)}`);
  const [, serviceName = '', methodName = ''] = m;
  const found = (await reflection.root(serviceName)).lookupService(serviceName).methods[methodName];
  if (!found) throw new ReflectionError(grpc.status.UNKNOWN, `service "${serviceName}" does not include a method named "${methodName}"`);
  const method = found.resolve() as protobuf.Method;
  if (method.requestStream || method.responseStream) throw new Error(`${full}: only unary methods are emulated`);
  const req = method.resolvedRequestType;
  const res = method.resolvedResponseType;
  if (!req || !res) throw new Error(`${full}: unresolved types`);
  const body = fromJson(req, call.data === undefined || call.data.trim() === '' ? {} : JSON.parse(call.data));
  const client = new grpc.Client(conn.address, conn.credentials, conn.options);
  try {
    const answer = await new Promise<{ err: grpc.ServiceError | null; out?: Buffer }>((resolve) =>
      client.makeUnaryRequest(
        `/${serviceName}/${methodName}`,
        (v: Buffer) => v,
        (b: Buffer) => b,
        Buffer.from(req.encode(req.fromObject(body)).finish()),
        conn.metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, out) => resolve({ err, out }),
      ),
    );
    if (answer.err) return failure(answer.err.code, answer.err.details);
    const json = toJson(res, res.decode(answer.out ?? Buffer.alloc(0)));
    return ok(JSON.stringify(json, null, 2), json);
  } finally {
    client.close();
  }
}

function failure(code: grpc.status, message: string): GrpcurlResult {
  return { code, message, output: '' };
}

const isMapEntry = (t: protobuf.ReflectionObject | null): t is protobuf.Type => t instanceof protobuf.Type && t.options?.map_entry === true;

/** protoc's default json_name: "checkpoint_id" -> "checkpointId". */
export const jsonName = (field: string): string => field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');

/** proto3 JSON (as grpcurl's -d takes it) -> the object protobufjs's fromObject takes; unknown fields and enum values refused as grpcurl refuses them. */
function fromJson(type: protobuf.Type, json: unknown): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${type.fullName.slice(1)}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => jsonName(f.name) === key);
    if (!field) throw new Error(`message type ${type.fullName.slice(1)} has no known field named ${key}`);
    if (value === null) continue;
    field.resolve();
    const one = (v: unknown): unknown => {
      const t = field.resolvedType;
      if (t instanceof protobuf.Type) return fromJson(t, v);
      if (t instanceof protobuf.Enum) {
        if (typeof v === 'number' || (typeof v === 'string' && v in t.values)) return v;
        throw new Error(`enum ${t.fullName.slice(1)} has no value named ${String(v)}`);
      }
      return v;
    };
    if (isMapEntry(field.resolvedType)) {
      const entry = field.resolvedType;
      const valueField = entry.fields.value?.resolve();
      out[field.name] = Object.entries(value as Record<string, unknown>).map(([k, v]) => ({
        key: k,
        value: valueField?.resolvedType instanceof protobuf.Type ? fromJson(valueField.resolvedType, v) : v,
      }));
    } else out[field.name] = field.repeated ? (value as unknown[]).map(one) : one(value);
  }
  return out;
}

/** A decoded message as grpcurl prints it: lowerCamelCase names, enums by name, 64-bit integers as strings, default values left out. */
function toJson(type: protobuf.Type, message: protobuf.Message): Record<string, unknown> {
  const plain = type.toObject(message, { longs: String, enums: String, bytes: String, defaults: false });
  return renameFields(type, plain);
}

function renameFields(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    field.resolve();
    const t = field.resolvedType;
    const one = (x: unknown): unknown => (t instanceof protobuf.Type ? renameFields(t, x as Record<string, unknown>) : x);
    if (isMapEntry(t)) {
      const valueType = t.fields.value?.resolve().resolvedType;
      out[jsonName(field.name)] = Object.fromEntries(
        (v as { key: unknown; value: unknown }[]).map((e) => [
          String(e.key),
          valueType instanceof protobuf.Type ? renameFields(valueType, (e.value ?? {}) as Record<string, unknown>) : e.value,
        ]),
      );
    } else out[jsonName(field.name)] = Array.isArray(v) ? v.map(one) : one(v);
  }
  return out;
}

// ---------------------------------------------------------------------------
// describe: the element in proto syntax with its comments, as grpcurl prints it

/** google.protobuf.SourceCodeInfo.Location. */
interface SourceLocation {
  path?: number[];
  leadingComments?: string;
  trailingComments?: string;
}

const SCALARS: Record<number, string> = {
  1: 'double',
  2: 'float',
  3: 'int64',
  4: 'uint64',
  5: 'int32',
  6: 'fixed64',
  7: 'fixed32',
  8: 'bool',
  9: 'string',
  12: 'bytes',
  13: 'uint32',
  15: 'sfixed32',
  16: 'sfixed64',
  17: 'sint32',
  18: 'sint64',
};
const LABEL_REPEATED = 3;

/**
 * `grpcurl describe SYMBOL` for a top-level message, enum or service of the
 * first file: "<symbol> is a message:" and the declaration, each element
 * with its leading comment as "//" lines above it and its trailing comment
 * after it (from source_code_info).
 */
export function describe(files: readonly descriptor.IFileDescriptorProto[], symbol: string): string {
  const file = files[0];
  if (!file) throw new Error(`no file for ${symbol}`);
  const locations = new Map(
    ((file.sourceCodeInfo as { location?: SourceLocation[] } | null)?.location ?? []).map((l) => [JSON.stringify(l.path ?? []), l]),
  );
  const lead = (p: number[], indent: string): string[] => {
    const c = locations.get(JSON.stringify(p))?.leadingComments;
    return c === undefined
      ? []
      : c
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => `${indent}//${l}`);
  };
  const trail = (p: number[]): string => {
    const c = locations.get(JSON.stringify(p))?.trailingComments;
    return c === undefined ? '' : ` //${c.replace(/\n$/, '').split('\n').join(' ')}`;
  };
  const name = symbol.slice((file.package ? `${file.package}.` : '').length);
  const out: string[] = [];
  const mi = (file.messageType ?? []).findIndex((m) => m.name === name);
  const ei = (file.enumType ?? []).findIndex((e) => e.name === name);
  const si = (file.service ?? []).findIndex((s) => s.name === name);
  if (mi >= 0) {
    const m = file.messageType?.[mi] ?? {};
    const typeOf = (f: descriptor.IFieldDescriptorProto): string => {
      const entry = (m.nestedType ?? []).find((n) => n.options?.mapEntry && f.typeName?.endsWith(`.${name}.${n.name ?? ''}`));
      const scalar = (x?: descriptor.IFieldDescriptorProto): string => SCALARS[x?.type ?? 0] ?? x?.typeName ?? '?';
      if (entry) return `map<${scalar(entry.field?.[0])}, ${scalar(entry.field?.[1])}>`;
      return `${f.label === LABEL_REPEATED ? 'repeated ' : ''}${scalar(f)}`;
    };
    out.push(`${symbol} is a message:`, ...lead([4, mi], ''), `message ${name} {`);
    (m.field ?? []).forEach((f, j) =>
      out.push(...lead([4, mi, 2, j], '  '), `  ${typeOf(f)} ${f.name ?? ''} = ${f.number ?? 0};${trail([4, mi, 2, j])}`),
    );
    out.push('}');
  } else if (ei >= 0) {
    const e = file.enumType?.[ei] ?? {};
    out.push(`${symbol} is an enum:`, ...lead([5, ei], ''), `enum ${name} {`);
    (e.value ?? []).forEach((v, j) =>
      out.push(...lead([5, ei, 2, j], '  '), `  ${v.name ?? ''} = ${v.number ?? 0};${trail([5, ei, 2, j])}`),
    );
    out.push('}');
  } else if (si >= 0) {
    const s = file.service?.[si] ?? {};
    out.push(`${symbol} is a service:`, ...lead([6, si], ''), `service ${name} {`);
    (s.method ?? []).forEach((x, j) =>
      out.push(
        ...lead([6, si, 2, j], '  '),
        `  rpc ${x.name ?? ''} ( ${x.clientStreaming ? 'stream ' : ''}${x.inputType ?? ''} ) returns ( ${x.serverStreaming ? 'stream ' : ''}${x.outputType ?? ''} );${trail([6, si, 2, j])}`,
      ),
    );
    out.push('}');
  } else throw new Error(`describe ${symbol}: only top-level messages, enums and services are emulated`);
  return out.join('\n');
}
