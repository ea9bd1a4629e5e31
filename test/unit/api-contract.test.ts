/**
 * The public API's contract, checked by buf (from node_modules) with the
 * configuration in buf.yaml: `buf lint` on proto/criu_agent, and
 * `buf breaking` against proto/released/criu_agent.v1.binpb, the image of
 * criu_agent.v1 as last released. Controllers' generated code and operators'
 * grpcurl scripts depend on the names and numbers, so a renamed field, a
 * changed number or a removed enum value must fail here before it ships.
 *
 * When a release changes the API on purpose (a new major version), the image
 * is replaced: `npx buf build --exclude-source-info -o proto/released/criu_agent.v1.binpb`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';

const root = path.resolve(__dirname, '../..');
const BUF = path.join(root, 'node_modules', '.bin', 'buf');
const RELEASED = path.join(root, 'proto', 'released', 'criu_agent.v1.binpb');
const AGENT_PROTO = path.join(root, 'proto', 'criu_agent', 'v1', 'agent.proto');

interface BufRun {
  status: number | null;
  /** The rules buf reports, e.g. "FIELD_SAME_NAME", from its JSON lines. */
  rules: string[];
  output: string;
}

function buf(args: string[], cwd = root): BufRun {
  const r = spawnSync(BUF, [...args, '--error-format', 'json'], { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  const rules = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => String((JSON.parse(l) as { type?: string }).type));
  return { status: r.status, rules, output: `${r.stdout}${r.stderr}` };
}

it('buf lint passes on proto/criu_agent', () => {
  const r = buf(['lint']);
  expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: '' });
});

it('buf breaking finds no change that breaks criu_agent.v1 as released', () => {
  const r = buf(['breaking', '--against', RELEASED]);
  expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: '' });
});

describe('on a changed copy of agent.proto', () => {
  let dir: string;
  const source = fs.readFileSync(AGENT_PROTO, 'utf8');

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-agent-contract-'));
    // The repository's lint and breaking rules, for a module rooted here.
    const config = YAML.parse(fs.readFileSync(path.join(root, 'buf.yaml'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'buf.yaml'), YAML.stringify({ ...config, modules: [{ path: '.' }] }));
    fs.mkdirSync(path.join(dir, 'criu_agent', 'v1'), { recursive: true });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** agent.proto with `from` replaced by `to` (which must change it), checked by buf in the copy. */
  function withChange(from: RegExp, to: string, args: (dir: string) => string[]): BufRun {
    const changed = source.replace(from, to);
    if (changed === source) throw new Error(`${from} no longer matches agent.proto: update the test`);
    fs.writeFileSync(path.join(dir, 'criu_agent', 'v1', 'agent.proto'), changed);
    return buf(args(dir), dir);
  }
  const breaking = (d: string): string[] => ['breaking', d, '--against', RELEASED];

  it('with only a comment added: no breaking change, no lint finding (the copy is checked like the original)', () => {
    expect(withChange(/\n*$/, '\n\n// A comment changes nothing.\n', breaking)).toMatchObject({ status: 0, rules: [] });
    expect(withChange(/\n*$/, '\n\n// A comment changes nothing.\n', (d) => ['lint', d])).toMatchObject({ status: 0, rules: [] });
  });

  it('a renamed field breaks', () => {
    const r = withChange(/(message DumpRequest \{[^}]*?)string checkpoint_id = 2;/, '$1string snapshot_id = 2;', breaking);
    expect(r.status).not.toBe(0);
    expect(r.rules).toContain('FIELD_SAME_NAME');
  });

  it('a changed field number breaks', () => {
    const r = withChange(/(message DumpRequest \{[^}]*?)int32 pid = 1;/, '$1int32 pid = 6;', breaking);
    expect(r.status).not.toBe(0);
    expect(r.rules).toContain('FIELD_NO_DELETE');
  });

  it('a removed enum value breaks', () => {
    const r = withChange(/\n\s*FINAL_STATE_DEAD = 3;/, '', breaking);
    expect(r.status).not.toBe(0);
    expect(r.rules).toContain('ENUM_VALUE_NO_DELETE');
  });

  it('a removed RPC breaks', () => {
    const r = withChange(/\n\s*rpc Continue\(ContinueRequest\) returns \(ContinueResponse\);/, '', breaking);
    expect(r.status).not.toBe(0);
    expect(r.rules).toContain('RPC_NO_DELETE');
  });

  it('an added field, message and RPC do not break', () => {
    const r = withChange(
      /(message DumpRequest \{[^}]*?)\n\}/,
      '$1\n  // Added later.\n  string note = 6;\n}\n\n// Added later.\nmessage PingRequest {}\n\n// Added later.\nmessage PingResponse {}\n' +
        '\n// Added later.\nservice Extra {\n  // Added later.\n  rpc Ping(PingRequest) returns (PingResponse);\n}',
      breaking,
    );
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: '' });
  });

  it('buf lint refuses a field that is not lower_snake_case', () => {
    const r = withChange(/(message DumpRequest \{[^}]*?)string parent_checkpoint_id = 4;/, '$1string parentCheckpointId = 4;', (d) => [
      'lint',
      d,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.rules).toContain('FIELD_LOWER_SNAKE_CASE');
  });
});
