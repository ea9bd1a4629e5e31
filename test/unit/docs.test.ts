/**
 * docs/: the API reference is generated from the .proto (and up to date), and
 * the hand-written pages name only commands, flags and exit codes the CLI has.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { clientCommandsHelp, type Io } from '../../src/cli/commands';
import { run } from '../../src/cli/main';

const root = path.resolve(__dirname, '../..');
const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');

describe('docs/api.md', () => {
  it('matches proto/criu_agent/v1/agent.proto (npm run gen:docs regenerates it)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-api-docs.js'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('documents every RPC, message, field and enum value of the API, with its comment', () => {
    const api = read('docs/api.md');
    const pb = new protobuf.Root();
    pb.loadSync(path.join(root, 'proto/criu_agent/v1/agent.proto'), { keepCase: true, alternateCommentMode: true });
    const pkg = pb.lookup('criu_agent.v1') as protobuf.Namespace;
    for (const n of pkg.nestedArray) {
      expect(api).toContain(`${n instanceof protobuf.Service ? '##' : '###'} ${n.name}\n`);
      if (n instanceof protobuf.Service) for (const m of n.methodsArray) expect(api).toContain(`### ${m.name}\n`);
      if (n instanceof protobuf.Type) for (const f of n.fieldsArray) expect(api).toContain(`| \`${f.name}\` | ${f.id} |`);
      if (n instanceof protobuf.Enum) for (const v of Object.keys(n.values)) expect(api).toContain(`| \`${v}\` |`);
    }
    // A comment spanning lines in the .proto is one table cell.
    expect(api).toContain(
      "| `shell_job` | 1 | `bool` | The tree was started from a shell or another program without its own session (not a session leader): CRIU's --shell-job.",
    );
  });
});

describe('docs/cli.md and docs/tutorial.md', () => {
  it('exist and link each other and the API reference', () => {
    expect(read('docs/tutorial.md')).toContain('](api.md)');
    expect(read('docs/tutorial.md')).toContain('](cli.md)');
    expect(read('docs/cli.md')).toContain('](api.md)');
  });

  it("cli.md shows each client command's usage as the CLI prints it", () => {
    const cli = read('docs/cli.md');
    for (const line of clientCommandsHelp().split('\n')) expect(cli).toContain(line.trim());
  });

  it('cli.md lists the exit code of every gRPC status as 10 + its code', () => {
    const cli = read('docs/cli.md');
    for (const [name, code] of Object.entries({
      CANCELLED: 1,
      INVALID_ARGUMENT: 3,
      NOT_FOUND: 5,
      ALREADY_EXISTS: 6,
      FAILED_PRECONDITION: 9,
      ABORTED: 10,
      INTERNAL: 13,
      UNAVAILABLE: 14,
      DATA_LOSS: 15,
    })) {
      expect(cli).toMatch(new RegExp(`\\| ${10 + code} \\| \`${name}\``));
    }
  });
});

describe("the serve synopsis of README.md and docs/cli.md", () => {
  /** `serve --help`'s usage lines, as the program prints them. */
  async function serveUsage(): Promise<string> {
    let out = '';
    const io: Io = { out: (t) => void (out += t), err: () => undefined, stderrIsTTY: false, stderr: process.stderr, env: {} };
    expect(await run(['serve', '--help'], io)).toBe(0);
    return (out.split('\n\n')[0] ?? '').replace(/^usage: /, '');
  }
  const words = (t: string): string => t.replace(/\s+/g, ' ').trim();

  it.each(['README.md', 'docs/cli.md'])('%s shows every option of `serve --help`, as it prints them', async (doc) => {
    const text = read(doc);
    const m = /^criu-agent serve \[[^\n]*\n(?: {17}\[[^\n]*\n)*/m.exec(text);
    expect(m).not.toBeNull();
    expect(words(m?.[0] ?? '')).toBe(words(await serveUsage()));
  });
});

describe("the names of CRIU's logs", () => {
  it('are told one way, <operation>-<request id>.log, in every document', () => {
    for (const doc of ['README.md', 'docs/deploy.md', 'docs/cli.md', 'docs/tutorial.md']) {
      const text = read(doc);
      // The names older agents used and older docs told.
      expect({ doc, stale: text.match(/\bdump\.log\b|restore-<time>|<time>-<rand>|restore-\d{4}-\d{2}-\d{2}T/g) }).toEqual({ doc, stale: null });
    }
    expect(read('README.md')).toContain('`<operation>-<request id>.log`');
    expect(read('README.md')).toContain('failed/<checkpoint_id>-dump-<request id>.log');
    expect(read('docs/deploy.md')).toContain('`<operation>-<request id>.log`');
  });
});

describe('the grpcurl commands of docs/tutorial.md', () => {
  const pb = new protobuf.Root();
  pb.loadSync(path.join(root, 'proto/criu_agent/v1/agent.proto'), { keepCase: true });
  pb.resolveAll();
  const service = pb.lookupService('criu_agent.v1.CheckpointAgent');

  /** Unknown fields or enum values in `body` for message `type` (grpcurl would refuse them). */
  function problems(type: protobuf.Type, body: Record<string, unknown>, at = ''): string[] {
    return Object.entries(body).flatMap(([key, v]) => {
      const field = type.fields[key] ?? type.fieldsArray.find((f) => f.name.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase()) === key);
      if (!field) return [`${at}${key}: no such field in ${type.name}`];
      if (field.resolvedType instanceof protobuf.Type) return problems(field.resolvedType, v as Record<string, unknown>, `${at}${key}.`);
      if (field.resolvedType instanceof protobuf.Enum && !(String(v) in field.resolvedType.values))
        return [`${at}${key}: ${String(v)} is not a ${field.resolvedType.name}`];
      return [];
    });
  }

  it('send requests whose fields and enum values exist in the API', () => {
    const commands = read('docs/tutorial.md')
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .filter((l) => l.startsWith('grpcurl ') && l.includes('criu_agent.v1.CheckpointAgent/'));
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const methods = new Set<string>();
    for (const cmd of commands) {
      const method = /criu_agent\.v1\.CheckpointAgent\/(\w+)/.exec(cmd)?.[1] ?? '';
      const rpc = service.methods[method];
      expect({ cmd, rpc: rpc !== undefined }).toEqual({ cmd, rpc: true });
      methods.add(method);
      const quoted = /-d '([^']*)'/.exec(cmd)?.[1] ?? /-d "((?:[^"\\]|\\.)*)"/.exec(cmd)?.[1]?.replace(/\\"/g, '"');
      if (quoted === undefined) continue;
      const body = JSON.parse(quoted.replace(/\$PID/g, '1234')) as Record<string, unknown>;
      expect({ cmd, problems: problems(pb.lookupType(rpc?.requestType ?? ''), body) }).toEqual({ cmd, problems: [] });
    }
    expect([...methods].sort()).toEqual(['Check', 'Continue', 'DeleteCheckpoint', 'Dump', 'GetCheckpoint', 'ListCheckpoints', 'Restore']);
  });
});
