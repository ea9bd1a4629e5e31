/**
 * grpcurl's command line, run through @grpc/grpc-js, for tests that execute
 * documentation (the tutorial, the README) as printed: grpcurl itself cannot
 * be installed here. Like grpcurl it needs no .proto files: every type comes
 * from the server's reflection service, so a test also proves what grpcurl
 * users depend on. Request JSON is mapped the way grpcurl (protojson) reads
 * it: lowerCamelCase or proto field names, enums by name or number.
 *
 * The subset: `[flags] ADDRESS list [SERVICE]`, `describe SYMBOL`, and unary
 * calls `SERVICE/METHOD` (or `SERVICE.METHOD`); flags -plaintext, -d,
 * -cacert, -cert, -key, -servername, -H, -max-time, -emit-defaults, -v.
 * Output and exit codes follow grpcurl v1.9: the reply as indented JSON, an
 * RPC error as "ERROR:\n  Code: ...\n  Message: ..." on stderr with exit code
 * 64 + the status code; other failures exit 1, usage errors 2.
 *
 * Run as a program (`node grpcurl.js ARGS`, after transpiling, see
 * `writeGrpcurlShim`) it stands in for grpcurl on a shell's PATH.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';

export interface GrpcurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A parsed grpcurl command line. */
export interface GrpcurlCommand {
  plaintext: boolean;
  data?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  headers: [string, string][];
  maxTimeSeconds?: number;
  emitDefaults: boolean;
  verbose: boolean;
  /** The grpc-js target, e.g. "unix:///run/x.sock" or "10.0.0.7:50051". */
  address: string;
  verb: 'list' | 'describe' | 'call';
  /** The service or symbol (list, describe) or "Service/Method" (call). */
  symbol?: string;
}

/** A usage mistake: grpcurl exits 2. */
export class GrpcurlUsageError extends Error {}

const BOOL_FLAGS = new Set(['plaintext', 'emit-defaults', 'v']);
const VALUE_FLAGS = new Set(['d', 'cacert', 'cert', 'key', 'servername', 'H', 'max-time']);

/** Parses grpcurl's arguments (Go flags: `-name`, `--name`, `-name=value`, flags before positionals). */
export function parseGrpcurlArgs(argv: readonly string[]): GrpcurlCommand {
  const cmd: GrpcurlCommand = { plaintext: false, headers: [], emitDefaults: false, verbose: false, address: '', verb: 'call' };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'unix') {
      // grpcurl v1.9.3 takes -unix but then fails to dial (fullstorydev/grpcurl#496): docs must not use it.
      throw new GrpcurlUsageError('-unix is broken in grpcurl v1.9.3 (fullstorydev/grpcurl#496): give the address as unix:///path instead');
    }
    if (BOOL_FLAGS.has(name)) {
      const v = eq >= 0 ? body.slice(eq + 1) !== 'false' : true;
      if (name === 'plaintext') cmd.plaintext = v;
      else if (name === 'emit-defaults') cmd.emitDefaults = v;
      else cmd.verbose = v;
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new GrpcurlUsageError(`flag provided but not supported here: ${arg}`);
    const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new GrpcurlUsageError(`flag needs an argument: ${arg}`);
    switch (name) {
      case 'd':
        cmd.data = value;
        break;
      case 'cacert':
        cmd.cacert = value;
        break;
      case 'cert':
        cmd.cert = value;
        break;
      case 'key':
        cmd.key = value;
        break;
      case 'servername':
        cmd.serverName = value;
        break;
      case 'H': {
        const colon = value.indexOf(':');
        if (colon <= 0) throw new GrpcurlUsageError(`-H takes "name: value", not ${JSON.stringify(value)}`);
        cmd.headers.push([value.slice(0, colon).trim().toLowerCase(), value.slice(colon + 1).trim()]);
        break;
      }
      case 'max-time':
        cmd.maxTimeSeconds = Number(value);
        break;
    }
  }
  const rest = argv.slice(i);
  const address = rest.shift();
  if (!address) throw new GrpcurlUsageError('too few arguments: an address is required');
  cmd.address = address;
  const first = rest.shift();
  if (first === 'list' || first === 'describe') {
    cmd.verb = first;
    cmd.symbol = rest.shift();
    if (first === 'describe' && !cmd.symbol) throw new GrpcurlUsageError('describe needs a symbol here');
  } else {
    if (!first) throw new GrpcurlUsageError('too few arguments: a method or list/describe is required');
    cmd.symbol = first;
  }
  if (rest.length) throw new GrpcurlUsageError(`too many arguments: ${rest.join(' ')}`);
  if (cmd.plaintext && (cmd.cacert || cmd.cert || cmd.key)) throw new GrpcurlUsageError('-plaintext and TLS flags (-cacert, -cert, -key) exclude each other');
  return cmd;
}

/** Runs a grpcurl command line (as a shell would pass it: already split and expanded); never throws. */
export async function grpcurl(argv: readonly string[], opts: { stdin?: string } = {}): Promise<GrpcurlResult> {
  const out: string[] = [];
  const err: string[] = [];
  let cmd: GrpcurlCommand;
  try {
    cmd = parseGrpcurlArgs(argv);
  } catch (e) {
    return { code: 2, stdout: '', stderr: `${(e as Error).message}\n` };
  }
  const { credentials, options } = channelOf(cmd);
  const reflection = new Reflection(cmd.address, credentials, options);
  try {
    if (cmd.verb === 'list') {
      if (!cmd.symbol) {
        out.push(...(await reflection.listServices()).sort());
      } else {
        const root = await reflection.rootFor(cmd.symbol);
        const service = root.lookupService(cmd.symbol);
        out.push(...Object.keys(service.methods).map((m) => `${cmd.symbol}.${m}`));
      }
    } else if (cmd.verb === 'describe') {
      const symbol = cmd.symbol ?? '';
      const root = await reflection.rootFor(symbol);
      out.push(describe(root.lookup(symbol), symbol));
    } else {
      return await call(cmd, reflection, credentials, options, opts.stdin);
    }
    return { code: 0, stdout: out.map((l) => `${l}\n`).join(''), stderr: '' };
  } catch (e) {
    err.push(`Failed: ${(e as Error).message}`);
    return { code: 1, stdout: out.join('\n'), stderr: `${err.join('\n')}\n` };
  } finally {
    reflection.close();
  }
}

function channelOf(cmd: GrpcurlCommand): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (cmd.plaintext) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const read = (f?: string): Buffer | null => (f ? fs.readFileSync(f) : null);
  const credentials = grpc.credentials.createSsl(read(cmd.cacert), read(cmd.key), read(cmd.cert));
  const options: grpc.ChannelOptions = cmd.serverName
    ? { 'grpc.ssl_target_name_override': cmd.serverName, 'grpc.default_authority': cmd.serverName }
    : {};
  return { credentials, options };
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

/** The server's reflection service (v1, as grpcurl v1.9 asks first); one request per stream. */
class Reflection {
  private readonly client: grpc.Client;

  constructor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) {
    const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
      keepCase: true,
      defaults: true,
      oneofs: true,
      includeDirs: [REFLECTION_PROTO_DIR],
    });
    const Ctor = grpc.makeGenericClientConstructor(def['grpc.reflection.v1.ServerReflection'] as grpc.ServiceDefinition, 'ServerReflection');
    this.client = new Ctor(address, credentials, options);
  }

  private request(req: object): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const stream = (this.client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo();
      let answered = false;
      stream.on('data', (r: ReflectionResponse) => {
        answered = true;
        resolve(r);
        stream.end();
      });
      stream.on('error', (e: grpc.ServiceError) => {
        if (!answered) reject(new Error(`Failed to dial target host or list services: ${e.details || e.message}`));
      });
      stream.write({ host: '', ...req });
    });
  }

  async listServices(): Promise<string[]> {
    const r = await this.request({ list_services: '*' });
    if (!r.list_services_response) throw new Error(`server reflection: ${r.error_response?.error_message ?? 'no answer'}`);
    return r.list_services_response.service.map((s) => s.name);
  }

  /** A protobufjs root holding `symbol`'s file and everything it imports, from reflection alone. */
  async rootFor(symbol: string): Promise<protobuf.Root> {
    const files = new Map<string, descriptor.IFileDescriptorProto>();
    const add = async (req: object): Promise<void> => {
      const r = await this.request(req);
      if (!r.file_descriptor_response) {
        throw new Error(`Symbol "${symbol}" not found: ${r.error_response?.error_message ?? 'no answer'}`);
      }
      for (const raw of r.file_descriptor_response.file_descriptor_proto) {
        const file = descriptor.FileDescriptorProto.decode(raw) as unknown as descriptor.IFileDescriptorProto;
        if (file.name && !files.has(file.name)) files.set(file.name, file);
      }
    };
    await add({ file_containing_symbol: symbol.replace(/\/.*$/, '') });
    for (let missing = missingDeps(files); missing.length; missing = missingDeps(files)) {
      for (const name of missing) await add({ file_by_filename: name });
    }
    // protobufjs/ext/descriptor adds Root.fromDescriptor at run time; its typings do not declare it.
    const RootWithDescriptors = protobuf.Root as unknown as { fromDescriptor(d: descriptor.IFileDescriptorSet): protobuf.Root };
    const root = RootWithDescriptors.fromDescriptor({ file: [...files.values()] });
    root.resolveAll();
    return root;
  }

  close(): void {
    this.client.close();
  }
}

function missingDeps(files: Map<string, descriptor.IFileDescriptorProto>): string[] {
  const deps: string[] = [...files.values()].flatMap((f) => (f.dependency ?? []) as string[]);
  return [...new Set(deps)].filter((d) => !files.has(d));
}

/** Go's names of the status codes, as grpcurl prints them. */
const GO_CODE_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

async function call(
  cmd: GrpcurlCommand,
  reflection: Reflection,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
  stdin?: string,
): Promise<GrpcurlResult> {
  const symbol = cmd.symbol ?? '';
  const m = /^(.+)[/.]([^/.]+)$/.exec(symbol);
  if (!m) return { code: 2, stdout: '', stderr: `Failed to parse method name ${JSON.stringify(symbol)}\n` };
  const [, serviceName = '', methodName = ''] = m;
  const root = await reflection.rootFor(serviceName);
  const service = root.lookupService(serviceName);
  const method = service.methods[methodName];
  if (!method) return { code: 1, stdout: '', stderr: `Failed: service "${serviceName}" does not include a method named "${methodName}"\n` };
  if (method.requestStream || method.responseStream) return { code: 1, stdout: '', stderr: `Failed: only unary methods are supported here\n` };
  const reqType = method.resolvedRequestType as protobuf.Type;
  const resType = method.resolvedResponseType as protobuf.Type;
  let request: protobuf.Message;
  try {
    const text = cmd.data === '@' ? (stdin ?? fs.readFileSync(0, 'utf8')) : (cmd.data ?? '{}');
    request = reqType.fromObject(fromJson(reqType, JSON.parse(text || '{}')));
  } catch (e) {
    return { code: 1, stdout: '', stderr: `Error invoking method "${serviceName}/${methodName}": error getting request data: ${(e as Error).message}\n` };
  }
  const md = new grpc.Metadata();
  for (const [k, v] of cmd.headers) md.add(k, v);
  const client = new grpc.Client(cmd.address, credentials, options);
  try {
    const callOpts: grpc.CallOptions = cmd.maxTimeSeconds ? { deadline: Date.now() + cmd.maxTimeSeconds * 1000 } : {};
    const { err, res, trailers } = await new Promise<{ err: grpc.ServiceError | null; res?: protobuf.Message; trailers?: grpc.Metadata }>((resolve) => {
      let result: { err: grpc.ServiceError | null; res?: protobuf.Message } | undefined;
      let trailers: grpc.Metadata | undefined;
      const settle = (): void => {
        if (result && trailers) resolve({ ...result, trailers });
      };
      const c = client.makeUnaryRequest(
        `/${serviceName}/${methodName}`,
        (msg: protobuf.Message) => Buffer.from(reqType.encode(msg).finish()),
        (buf: Buffer) => resType.decode(buf),
        request,
        md,
        callOpts,
        (e, r) => {
          result = { err: e, res: r };
          settle();
        },
      );
      c.on('status', (s: grpc.StatusObject) => {
        trailers = s.metadata;
        settle();
      });
    });
    const verbose = cmd.verbose && trailers ? `\nResponse trailers received:\n${formatMetadata(trailers)}` : '';
    if (err) {
      const code = err.code;
      return {
        code: 64 + code,
        stdout: verbose,
        stderr: `ERROR:\n  Code: ${GO_CODE_NAMES[code] ?? code}\n  Message: ${err.details}\n`,
      };
    }
    const obj = toJson(resType, resType.toObject(res as protobuf.Message, { longs: String, enums: String, bytes: String, defaults: cmd.emitDefaults, arrays: cmd.emitDefaults }));
    return { code: 0, stdout: `${JSON.stringify(obj, null, 2)}\n${verbose}`, stderr: '' };
  } finally {
    client.close();
  }
}

function formatMetadata(md: grpc.Metadata): string {
  const entries = Object.entries(md.getMap());
  return entries.length ? entries.map(([k, v]) => `${k}: ${String(v)}`).join('\n') + '\n' : '(empty)\n';
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** protojson's input: lowerCamelCase or proto names; unknown fields are an error, as in grpcurl. */
function fromJson(type: protobuf.Type, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${type.fullName.slice(1)} must be a JSON object, not ${JSON.stringify(value)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => lowerCamel(f.name) === key);
    if (!field) throw new Error(`message type ${type.fullName.slice(1)} has no known field named ${key}`);
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type && !field.map) {
      out[field.name] = field.repeated && Array.isArray(v) ? v.map((x) => fromJson(sub, x)) : fromJson(sub, v);
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

/** protojson's output: lowerCamelCase names. */
function toJson(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key];
    const sub = field?.resolvedType;
    let value = v;
    if (field && sub instanceof protobuf.Type && !field.map) {
      value = Array.isArray(v) ? v.map((x) => toJson(sub, x as Record<string, unknown>)) : toJson(sub, v as Record<string, unknown>);
    }
    out[lowerCamel(key)] = value;
  }
  return out;
}

/** Roughly grpcurl's `describe`: what the symbol is, in .proto syntax. */
function describe(obj: protobuf.ReflectionObject | null, symbol: string): string {
  if (obj instanceof protobuf.Service) {
    const rpcs = Object.values(obj.methods).map(
      (m) => `  rpc ${m.name} ( ${m.requestStream ? 'stream ' : ''}.${m.resolvedRequestType?.fullName.slice(1)} ) returns ( ${m.responseStream ? 'stream ' : ''}.${m.resolvedResponseType?.fullName.slice(1)} );`,
    );
    return `${symbol} is a service:\nservice ${obj.name} {\n${rpcs.join('\n')}\n}`;
  }
  if (obj instanceof protobuf.Type) {
    const fields = obj.fieldsArray.map((f) => `  ${f.map ? `map<${(f as unknown as protobuf.MapField).keyType}, ${f.type}>` : `${f.repeated ? 'repeated ' : ''}${f.resolvedType ? `.${f.resolvedType.fullName.slice(1)}` : f.type}`} ${f.name} = ${f.id};`);
    return `${symbol} is a message:\nmessage ${obj.name} {\n${fields.join('\n')}\n}`;
  }
  if (obj instanceof protobuf.Enum) {
    return `${symbol} is an enum:\nenum ${obj.name} {\n${Object.entries(obj.values).map(([n, v]) => `  ${n} = ${v};`).join('\n')}\n}`;
  }
  throw new Error(`Symbol "${symbol}" not found`);
}

/**
 * Writes an executable `grpcurl` into `binDir` that runs this helper (its
 * TypeScript transpiled next to it), for shell scripts run by a test.
 */
export function writeGrpcurlShim(binDir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const source = fs.readFileSync(__filename.replace(/\.js$/, '.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  fs.mkdirSync(binDir, { recursive: true });
  fs.writeFileSync(path.join(binDir, 'grpcurl-helper.js'), js);
  const shim = path.join(binDir, 'grpcurl');
  const nodeModules = path.resolve(__dirname, '..', '..', 'node_modules');
  fs.writeFileSync(
    shim,
    `#!/bin/sh\nNODE_PATH=${JSON.stringify(nodeModules)} exec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(binDir, 'grpcurl-helper.js'))} "$@"\n`,
    { mode: 0o755 },
  );
  return shim;
}

if (require.main === module) {
  void grpcurl(process.argv.slice(2)).then((r) => {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.code;
  });
}
