/**
 * docs/deploy.md's openssl recipe for a test CA, a node certificate and a
 * controller certificate, run as printed (bash, in an empty directory); then
 * an agent serving mTLS with the node's files and deploy/policy.example.json,
 * called by the CLI with the controller's files as the doc says.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { cli } from '../helpers/cli';

jest.setTimeout(120_000);

/** The fenced sh block of `markdown` under the heading `heading`. */
function blockUnder(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const m = /```sh\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!m) throw new Error(`no sh block under ${heading}`);
  return m[1] ?? '';
}

describe('docs/deploy.md: a test CA and certificates, with openssl', () => {
  let dir: string;
  let agent: AgentProcess | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-recipe-'));
  });
  afterAll(async () => {
    await agent?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes certificates the agent serves and the CLI calls with, as the policy example binds them', async () => {
    const doc = fs.readFileSync(path.join(packageRoot, 'docs', 'deploy.md'), 'utf8');
    const recipe = blockUnder(doc, '#### A test CA and certificates, with openssl');
    const certs = path.join(dir, 'certs');
    fs.mkdirSync(certs);
    const r = spawnSync('bash', ['-e', '-c', recipe], { cwd: certs, encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    for (const f of ['ca.crt', 'node.crt', 'node.key', 'controller.crt', 'controller.key']) expect(fs.existsSync(path.join(certs, f))).toBe(true);

    agent = await startAgent({
      dir,
      args: [
        '--listen', '127.0.0.1:0',
        '--tls-cert', path.join(certs, 'node.crt'),
        '--tls-key', path.join(certs, 'node.key'),
        '--tls-client-ca', path.join(certs, 'ca.crt'),
        '--policy', path.join(packageRoot, 'deploy', 'policy.example.json'),
      ],
    });
    const port = agent.tcpAddress().split(':').pop() ?? '';
    // The doc's command line: `criu-agent ls --address localhost:50051 --tls-ca ca.crt --tls-cert controller.crt --tls-key controller.key`.
    expect(doc).toContain('criu-agent ls --address localhost:50051 --tls-ca ca.crt --tls-cert\ncontroller.crt --tls-key controller.key');
    const asController = ['--address', `localhost:${port}`, '--tls-ca', 'ca.crt', '--tls-cert', 'controller.crt', '--tls-key', 'controller.key'];
    const ls = await cliIn(certs, ['ls', ...asController]);
    expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ls.stdout).toBe('no checkpoints\n');
    // 127.0.0.1 is in the node's certificate too.
    expect((await cliIn(certs, ['check', ...asController.slice(2), '--address', `127.0.0.1:${port}`])).code).toBe(0);
    // Without the controller's certificate the agent does not let the CLI in.
    const anonymous = await cliIn(certs, ['ls', '--address', `localhost:${port}`, '--tls-ca', 'ca.crt']);
    expect(anonymous.code).toBe(24);
    expect(anonymous.stderr).toMatch(/client certificate/);
  });
});

/** The CLI run in `cwd` (the doc's relative file names). */
async function cliIn(cwd: string, args: string[]): Promise<Awaited<ReturnType<typeof cli>>> {
  const prev = process.cwd();
  process.chdir(cwd);
  try {
    return await cli(args);
  } finally {
    process.chdir(prev);
  }
}
