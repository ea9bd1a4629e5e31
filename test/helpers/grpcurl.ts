/**
 * grpcurl (v1.9.3), as far as the docs use it, for tests that run the
 * documented commands against a running agent where grpcurl itself cannot be
 * installed. One command line parser and one runner, with two ways in:
 *
 *  - in the test: `grpcurlCommands(markdown)` reads the grpcurl commands of a
 *    document's ```sh blocks as a shell would, and `grpcurl(args)` runs one;
 *  - in a shell script the test runs: `writeGrpcurlShim(binDir)` puts an
 *    executable `grpcurl` on its PATH that runs this same module.
 *
 * Like grpcurl it needs no .proto files: list, describe and the request and
 * reply types of a call all come from server reflection, so a test also
 * proves what grpcurl users depend on. JSON follows grpcurl: requests take
 * proto or lowerCamelCase field names and enums by name or number, and
 * unknown fields and enum values are refused; replies print lowerCamelCase
 * names, enums by name, 64-bit integers as strings, default values left out
 * (unless -emit-defaults). Output and exit codes are grpcurl's: the reply as
 * indented JSON on stdout; an RPC error as "ERROR:\n  Code: ...\n  Message:
 * ..." on stderr with exit code 64 + the status code; other failures exit 1,
 * usage errors 2.
 *
 *   const [cmd] = grpcurlCommands(readme, { S: `unix://${socket}` });
 *   const res = await grpcurl(cmd.args); // { code, stdout, stderr, json }
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';

// ---------------------------------------------------------------------------
// Shell: the grpcurl commands of a script or of Markdown

/** One grpcurl command of a shell script, with the variables before it expanded. */
export interface ScriptCommand {
  /** The command as written (continuation lines joined). */
  readonly text: string;
  /** grpcurl's arguments (the words after "grpcurl"), as a shell passes them. */
  readonly args: string[];
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
      if (line.startsWith('grpcurl ')) out.push({ text: line, args: shellWords(line, env).slice(1) });
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

// ---------------------------------------------------------------------------
// grpcurl's command line

/** What one grpcurl command line asks for. */
export interface GrpcurlCommand {
  /** As given: "unix:///run/criu-agent/agent.sock", "10.0.0.7:50051". */
  readonly address: string;
  readonly plaintext: boolean;
  readonly tls: { cacert?: string; cert?: string; key?: string; servername?: string };
  /** -H: "name: value" pairs, in order, sent with reflection requests and the call. */
  readonly headers: [string, string][];
  /** -rpc-header: sent with the call only. */
  readonly rpcHeaders: [string, string][];
  /** -max-time: the deadline of the whole command, in seconds. */
  readonly maxTimeSeconds?: number;
  readonly emitDefaults: boolean;
  readonly allowUnknownFields: boolean;
  /** -v: also print the response trailers. */
  readonly verbose: boolean;
  /** list [service] | describe symbol | a call of method "pkg.Service/Method". */
  readonly verb: 'list' | 'describe' | 'call';
  readonly symbol?: string;
  /** -d: the request as JSON text ("@": read from stdin); undefined: an empty request. */
  readonly data?: string;
}

/** A mistake on the command line: grpcurl prints it and exits 2. */
export class GrpcurlUsageError extends Error {}

const BOOL_FLAGS = new Set(['plaintext', 'v', 'emit-defaults', 'allow-unknown-fields', 'unix']);
const VALUE_FLAGS = new Set(['d', 'H', 'rpc-header', 'cacert', 'cert', 'key', 'servername', 'max-time', 'format']);
/** grpcurl flags that exist but are not emulated: refused rather than ignored, so a test cannot pass by ignoring them. */
const OTHER_GRPCURL_FLAGS = new Set([
  'insecure',
  'vv',
  'authority',
  'connect-timeout',
  'reflect-header',
  'proto',
  'protoset',
  'import-path',
  'use-reflection',
  'keep-proto-names',
  'format-error',
  'expand-headers',
  'alts',
  'user-agent',
  'max-msg-sz',
  'keepalive-time',
  'msg-template',
]);

/** Go's strconv.ParseBool, which Go's flag package uses for -flag=value. */
function goBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new GrpcurlUsageError(`invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`);
}

/**
 * grpcurl's arguments (what follows "grpcurl"), read with Go's flag rules
 * (-flag or --flag, a value as the next word or after "=", flags before the
 * positional arguments, "--" ends them) and grpcurl's checks on them.
 * Throws GrpcurlUsageError where grpcurl exits 2.
 */
export function parseGrpcurl(args: readonly string[]): GrpcurlCommand {
  const flags = new Map<string, string[]>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const [name = '', inline] = arg.replace(/^--?/, '').split(/=(.*)/s);
    let value: string;
    if (BOOL_FLAGS.has(name)) value = String(inline === undefined ? true : goBool(name, inline));
    else if (VALUE_FLAGS.has(name)) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < args.length) value = args[++i] ?? '';
      else throw new GrpcurlUsageError(`flag needs an argument: -${name}`);
    } else if (OTHER_GRPCURL_FLAGS.has(name)) throw new GrpcurlUsageError(`-${name} is a grpcurl flag this emulation does not handle`);
    else throw new GrpcurlUsageError(`flag provided but not defined: -${name}`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  const one = (name: string): string | undefined => flags.get(name)?.at(-1);
  // grpcurl#496: with -unix, v1.9.3 dials the path over TCP and fails.
  if (one('unix') === 'true')
    throw new GrpcurlUsageError(
      '-unix is broken in grpcurl v1.9.3 (grpcurl#496): give the socket as the address, unix:///path/to/agent.sock',
    );
  const plaintext = one('plaintext') === 'true';
  const tls = { cacert: one('cacert'), cert: one('cert'), key: one('key'), servername: one('servername') };
  if (plaintext && tls.cert !== undefined) throw new GrpcurlUsageError('The -cert argument can only be used with TLS.');
  if (plaintext && tls.key !== undefined) throw new GrpcurlUsageError('The -key argument can only be used with TLS.');
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new GrpcurlUsageError('The -cert and -key arguments must be used together and both be present.');
  const format = one('format') ?? 'json';
  if (format !== 'json') throw new GrpcurlUsageError(`-format ${format}: only -format json is emulated`);
  const maxTime = one('max-time');
  const maxTimeSeconds = maxTime === undefined ? undefined : Number(maxTime);
  if (maxTimeSeconds !== undefined && !(maxTimeSeconds >= 0))
    throw new GrpcurlUsageError(`invalid value ${JSON.stringify(maxTime)} for -max-time: a number of seconds, not negative`);
  const header = (h: string): [string, string] => {
    const at = h.indexOf(':');
    if (at <= 0) throw new GrpcurlUsageError(`-H ${JSON.stringify(h)}: expected "name: value"`);
    return [h.slice(0, at).trim().toLowerCase(), h.slice(at + 1).trim()];
  };

  // grpcurl's positional arguments: [address] (list [service] | describe [symbol] | method).
  const rest = args.slice(i);
  const address = rest[0] === 'list' || rest[0] === 'describe' ? undefined : rest.shift();
  const first = rest.shift();
  if (first === undefined) throw new GrpcurlUsageError('Too few arguments: no method (or list, describe) after the address.');
  let verb: GrpcurlCommand['verb'];
  let symbol: string | undefined;
  if (first === 'list' || first === 'describe') [verb, symbol] = [first, rest.shift()];
  else [verb, symbol] = ['call', first];
  if (rest.length) throw new GrpcurlUsageError(`Too many arguments: ${rest.join(' ')}`);
  // Without -proto or -protoset (not emulated), grpcurl needs the address for every verb.
  if (!address) throw new GrpcurlUsageError('No host:port specified.');
  if (verb === 'describe' && !symbol) throw new GrpcurlUsageError('describe without a symbol (every service) is not emulated');
  // grpcurl only warns and ignores -d here; a documented command with it would mislead.
  if (verb !== 'call' && flags.has('d')) throw new GrpcurlUsageError(`-d is for calls: grpcurl ignores it with ${verb}`);
  return {
    address,
    plaintext,
    tls,
    headers: (flags.get('H') ?? []).map(header),
    rpcHeaders: (flags.get('rpc-header') ?? []).map(header),
    maxTimeSeconds,
    emitDefaults: one('emit-defaults') === 'true',
    allowUnknownFields: one('allow-unknown-fields') === 'true',
    verbose: one('v') === 'true',
    verb,
    symbol,
    data: one('d'),
  };
}

// ---------------------------------------------------------------------------
// Running a command

export interface GrpcurlResult {
  /** grpcurl's exit status: 0; 64 + the gRPC status of a failed call; 1 for other failures; 2 for usage errors. */
  readonly code: number;
  /** What grpcurl prints on stdout: the list, the description, the reply as JSON. */
  readonly stdout: string;
  /** What grpcurl prints on stderr: the status of a failed call, or why it could not make it. */
  readonly stderr: string;
  /** The reply of a successful call, as the JSON printed. */
  readonly json?: Record<string, unknown>;
}

export interface GrpcurlOptions {
  /** Where relative file names (-cacert, -cert, -key) are; default the current directory. */
  cwd?: string;
  /** Addresses to dial instead of those given, e.g. {"10.0.0.7:50051": "127.0.0.1:41234"}. */
  dial?: Record<string, string>;
  /** The deadline where -max-time gives none, ms: a stuck call fails the test instead of hanging it (default 60 s). */
  timeoutMs?: number;
  /** The reflection version to ask; default as grpcurl: v1, then v1alpha where the server lacks v1. */
  reflection?: 'v1' | 'v1alpha';
  /** What -d @ reads; default this process's stdin. */
  stdin?: string;
}

/** Runs grpcurl's arguments (as a shell passes them: split and expanded) as grpcurl runs them; never throws. */
export async function grpcurl(args: readonly string[], opts: GrpcurlOptions = {}): Promise<GrpcurlResult> {
  let cmd: GrpcurlCommand;
  try {
    cmd = parseGrpcurl(args);
  } catch (e) {
    if (!(e instanceof GrpcurlUsageError)) throw e;
    return { code: 2, stdout: '', stderr: `${e.message}\nTry 'grpcurl -help' for more details.\n` };
  }
  const deadline = Date.now() + (cmd.maxTimeSeconds ? cmd.maxTimeSeconds * 1000 : (opts.timeoutMs ?? 60_000));
  const conn = connection(cmd, opts, deadline);
  const reflection = new Reflection(conn, opts.reflection);
  const symbol = (cmd.symbol ?? '').replace(/^\./, '');
  let failing = '';
  try {
    if (cmd.verb === 'list' && !cmd.symbol) {
      failing = 'Failed to list services';
      return printed((await reflection.services()).sort());
    }
    if (cmd.verb === 'list') {
      failing = `Failed to list methods for service ${JSON.stringify(symbol)}`;
      const service = (await reflection.root(symbol)).lookupService(symbol);
      return printed(service.methodsArray.map((m) => `${symbol}.${m.name}`).sort());
    }
    if (cmd.verb === 'describe') {
      failing = `Failed to resolve symbol ${JSON.stringify(symbol)}`;
      return printed([describe(await reflection.files(symbol), symbol)]);
    }
    failing = `Error invoking method ${JSON.stringify(cmd.symbol)}`;
    return await invoke(cmd, conn, reflection, opts.stdin);
  } catch (e) {
    return { code: 1, stdout: '', stderr: `${failing}: ${e instanceof Error ? e.message : String(e)}\n` };
  } finally {
    reflection.close();
  }
}

const printed = (lines: string[]): GrpcurlResult => ({ code: 0, stdout: lines.map((l) => `${l}\n`).join(''), stderr: '' });

interface Connection {
  address: string;
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
  deadline: number;
  /** -H headers: what reflection requests carry. */
  reflectionMetadata(): grpc.Metadata;
  /** -H and -rpc-header headers: what the call carries. */
  callMetadata(): grpc.Metadata;
}

function connection(cmd: GrpcurlCommand, opts: GrpcurlOptions, deadline: number): Connection {
  const file = (f: string | undefined): Buffer | null => (f === undefined ? null : fs.readFileSync(path.resolve(opts.cwd ?? '.', f)));
  const credentials = cmd.plaintext
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(file(cmd.tls.cacert), file(cmd.tls.key), file(cmd.tls.cert));
  const options: grpc.ChannelOptions = cmd.tls.servername
    ? { 'grpc.ssl_target_name_override': cmd.tls.servername, 'grpc.default_authority': cmd.tls.servername }
    : {};
  return {
    address: opts.dial?.[cmd.address] ?? cmd.address,
    credentials,
    options,
    deadline,
    reflectionMetadata: () => metadata(cmd.headers),
    callMetadata: () => metadata([...cmd.headers, ...cmd.rpcHeaders]),
  };
}

function metadata(headers: readonly [string, string][]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of headers) md.add(k, v);
  return md;
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

/** A status as grpc-go's error prints it. */
const rpcError = (code: number, message: string): string => `rpc error: code = ${GO_CODE_NAMES[code] ?? code} desc = ${message}`;

// ---------------------------------------------------------------------------
// Server reflection (grpcurl asks v1, and v1alpha where v1 is missing)

const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

class Reflection {
  private client?: grpc.Client;
  private readonly known = new Map<string, descriptor.IFileDescriptorProto>();

  constructor(
    private readonly conn: Connection,
    private version?: 'v1' | 'v1alpha',
  ) {}

  private async ask(req: object): Promise<ReflectionResponse> {
    const version = this.version ?? 'v1';
    if (!this.client) {
      const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
        keepCase: true,
        defaults: true,
        oneofs: true,
        includeDirs: [REFLECTION_PROTO_DIR],
      });
      const Client = grpc.makeGenericClientConstructor(
        def[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition,
        'ServerReflection',
      );
      this.client = new Client(this.conn.address, this.conn.credentials, this.conn.options);
    }
    const client = this.client as unknown as {
      ServerReflectionInfo(md: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientDuplexStream<object, ReflectionResponse>;
    };
    try {
      return await new Promise((resolve, reject) => {
        const stream = client.ServerReflectionInfo(this.conn.reflectionMetadata(), { deadline: this.conn.deadline });
        stream.once('data', (r: ReflectionResponse) => {
          stream.end();
          resolve(r);
        });
        stream.on('error', reject);
        stream.write({ host: '', ...req });
      });
    } catch (e) {
      const err = e as grpc.ServiceError;
      if (err.code === grpc.status.UNIMPLEMENTED && this.version === undefined) {
        // grpcurl's client falls back to v1alpha on a server without v1.
        this.close();
        this.version = 'v1alpha';
        return this.ask(req);
      }
      throw new Error(rpcError(err.code, err.details));
    }
  }

  async services(): Promise<string[]> {
    const r = await this.ask({ list_services: '*' });
    if (!r.list_services_response)
      throw new Error(rpcError(r.error_response?.error_code ?? grpc.status.UNKNOWN, r.error_response?.error_message ?? 'no answer'));
    return r.list_services_response.service.map((s) => s.name);
  }

  /** The file declaring `symbol` and everything it imports, fetched as grpcurl fetches them (by symbol, then missing imports by name). */
  async files(symbol: string): Promise<descriptor.IFileDescriptorProto[]> {
    const add = async (req: object): Promise<string> => {
      const r = await this.ask(req);
      if (!r.file_descriptor_response) {
        const code: grpc.status = r.error_response?.error_code ?? grpc.status.UNKNOWN;
        throw new Error(
          code === grpc.status.NOT_FOUND ? `Symbol not found: ${symbol}` : rpcError(code, r.error_response?.error_message ?? 'no answer'),
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

  /** A protobufjs root holding `symbol`'s file and everything it imports, from reflection alone. */
  async root(symbol: string): Promise<protobuf.Root> {
    const files = await this.files(symbol);
    // protobufjs/ext/descriptor adds Root.fromDescriptor at run time; its typings do not declare it.
    const root = (protobuf.Root as unknown as { fromDescriptor(d: descriptor.IFileDescriptorSet): protobuf.Root }).fromDescriptor({
      file: files,
    });
    root.resolveAll();
    return root;
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

// ---------------------------------------------------------------------------
// Calls with grpcurl's JSON (its -d and its output)

async function invoke(cmd: GrpcurlCommand, conn: Connection, reflection: Reflection, stdin?: string): Promise<GrpcurlResult> {
  const full = cmd.symbol ?? '';
  const m = /^(.+)[/.]([^/.]+)$/.exec(full);
  if (!m) throw new Error(`given method name ${JSON.stringify(full)} is not in expected format: 'service/method' or 'service.method'`);
  const [, serviceName = '', methodName = ''] = m;
  const service = (await reflection.root(serviceName)).lookupService(serviceName);
  const method = service.methods[methodName];
  if (!method) throw new Error(`service ${JSON.stringify(serviceName)} does not include a method named ${JSON.stringify(methodName)}`);
  if (method.requestStream || method.responseStream) throw new Error(`${full}: only unary methods are emulated`);
  const req = method.resolvedRequestType;
  const res = method.resolvedResponseType;
  if (!req || !res) throw new Error(`${full}: unresolved types`);
  let body: Record<string, unknown>;
  try {
    const text = cmd.data === '@' ? (stdin ?? fs.readFileSync(0, 'utf8')) : (cmd.data ?? '');
    body = fromJson(req, text.trim() === '' ? {} : JSON.parse(text), cmd.allowUnknownFields);
  } catch (e) {
    throw new Error(`error getting request data: ${e instanceof Error ? e.message : String(e)}`);
  }
  const client = new grpc.Client(conn.address, conn.credentials, conn.options);
  try {
    const { err, out, trailers } = await new Promise<{ err: grpc.ServiceError | null; out?: Buffer; trailers: grpc.Metadata }>(
      (resolve) => {
        let result: { err: grpc.ServiceError | null; out?: Buffer } | undefined;
        let trailers: grpc.Metadata | undefined;
        const settle = (): void => {
          if (result && trailers) resolve({ ...result, trailers });
        };
        const call = client.makeUnaryRequest(
          `/${serviceName}/${methodName}`,
          (v: Buffer) => v,
          (b: Buffer) => b,
          Buffer.from(req.encode(req.fromObject(body)).finish()),
          conn.callMetadata(),
          { deadline: conn.deadline },
          (e, o) => {
            result = { err: e, out: o };
            settle();
          },
        );
        call.on('status', (s: grpc.StatusObject) => {
          trailers = s.metadata;
          settle();
        });
      },
    );
    const verbose = cmd.verbose ? `\nResponse trailers received:\n${metadataText(trailers)}\n` : '';
    if (err)
      return {
        code: 64 + err.code,
        stdout: verbose,
        stderr: `ERROR:\n  Code: ${GO_CODE_NAMES[err.code] ?? err.code}\n  Message: ${err.details}\n`,
      };
    const json = toJson(res, res.decode(out ?? Buffer.alloc(0)), cmd.emitDefaults);
    return { code: 0, stdout: `${JSON.stringify(json, null, 2)}\n${verbose}`, stderr: '', json };
  } finally {
    client.close();
  }
}

/** grpcurl's MetadataToString: "name: value" lines by name, "(empty)" for none. */
function metadataText(md: grpc.Metadata): string {
  const lines = Object.entries(md.toJSON())
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, vs]) => vs.map((v) => `${k}: ${Buffer.isBuffer(v) ? v.toString('base64') : v}`));
  return lines.length ? lines.join('\n') : '(empty)';
}

const isMapEntry = (t: protobuf.ReflectionObject | null): t is protobuf.Type => t instanceof protobuf.Type && t.options?.map_entry === true;

/** protoc's default json_name: "checkpoint_id" -> "checkpointId". */
const jsonName = (field: string): string => field.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');

/** JSON as grpcurl's -d takes it -> the object protobufjs's fromObject takes; unknown fields and enum values refused as grpcurl refuses them. */
function fromJson(type: protobuf.Type, json: unknown, allowUnknown = false): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${type.fullName.slice(1)}: expected a JSON object, not ${JSON.stringify(json)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => jsonName(f.name) === key);
    if (!field) {
      if (allowUnknown) continue;
      throw new Error(`message type ${type.fullName.slice(1)} has no known field named ${key}`);
    }
    if (value === null) continue;
    field.resolve();
    const one = (v: unknown): unknown => {
      const t = field.resolvedType;
      if (t instanceof protobuf.Type) return fromJson(t, v, allowUnknown);
      if (t instanceof protobuf.Enum) {
        if (typeof v === 'number' || (typeof v === 'string' && v in t.values)) return v;
        throw new Error(`enum ${t.fullName.slice(1)} has no value named ${String(v)}`);
      }
      return v;
    };
    if (isMapEntry(field.resolvedType)) {
      const valueField = field.resolvedType.fields.value?.resolve();
      out[field.name] = Object.entries(value as Record<string, unknown>).map(([k, v]) => ({
        key: k,
        value: valueField?.resolvedType instanceof protobuf.Type ? fromJson(valueField.resolvedType, v, allowUnknown) : v,
      }));
    } else out[field.name] = field.repeated ? (value as unknown[]).map(one) : one(value);
  }
  return out;
}

/** A decoded reply as grpcurl prints it: lowerCamelCase names, enums by name, 64-bit integers as strings, default values left out unless asked for. */
function toJson(type: protobuf.Type, message: protobuf.Message, emitDefaults: boolean): Record<string, unknown> {
  const plain = type.toObject(message, {
    longs: String,
    enums: String,
    bytes: String,
    defaults: emitDefaults,
    arrays: emitDefaults,
    objects: emitDefaults,
  });
  return renameFields(type, plain, emitDefaults);
}

function renameFields(type: protobuf.Type, obj: Record<string, unknown>, emitDefaults: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined || (!emitDefaults && Array.isArray(v) && v.length === 0)) continue;
    field.resolve();
    const t = field.resolvedType;
    const one = (x: unknown): unknown =>
      t instanceof protobuf.Type && x !== null ? renameFields(t, x as Record<string, unknown>, emitDefaults) : x;
    if (isMapEntry(t)) {
      const valueType = t.fields.value?.resolve().resolvedType;
      // protobufjs gives a map as an object (toObject) or as entries (a decoded map entry list).
      const entries = Array.isArray(v)
        ? (v as { key: unknown; value: unknown }[]).map((e) => [e.key, e.value])
        : Object.entries(v as object);
      out[jsonName(field.name)] = Object.fromEntries(
        entries.map(([k, x]) => [
          String(k),
          valueType instanceof protobuf.Type ? renameFields(valueType, (x ?? {}) as Record<string, unknown>, emitDefaults) : x,
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

// ---------------------------------------------------------------------------
// grpcurl on a shell's PATH

/**
 * Writes an executable `grpcurl` into `binDir` that runs this module (its
 * TypeScript transpiled next to it), for shell scripts run by a test.
 * Returns the path of the executable.
 */
export function writeGrpcurlShim(binDir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const source = fs.readFileSync(__filename.replace(/\.js$/, '.ts'), 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  fs.mkdirSync(binDir, { recursive: true });
  const program = path.join(binDir, 'grpcurl.js');
  fs.writeFileSync(program, js);
  const shim = path.join(binDir, 'grpcurl');
  const nodeModules = path.resolve(__dirname, '..', '..', 'node_modules');
  fs.writeFileSync(
    shim,
    `#!/bin/sh\nNODE_PATH=${JSON.stringify(nodeModules)} exec ${JSON.stringify(process.execPath)} ${JSON.stringify(program)} "$@"\n`,
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
