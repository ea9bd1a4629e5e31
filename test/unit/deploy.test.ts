/**
 * deploy/: the Kubernetes manifest is valid against the Kubernetes API's
 * schemas and sets what the agent needs; the Containerfile parses, builds CRIU
 * with deploy/provision-criu.sh and runs the agent the way the manifest
 * expects; the systemd unit keeps KillMode=process. Both deployments serve the
 * root-only unix socket and mTLS with a policy, and the agent's own config
 * loader accepts their command lines. (No cluster and no image builder here:
 * these are the checks that can run without them; test/integration/
 * deploy-security.test.ts runs the agent with these command lines.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { EXIT } from '../../src/cli/args';
import { ConfigError, loadConfig } from '../../src/config';
import { AGENT_METHODS, parsePolicy, type Policy } from '../../src/policy';
import { authorize, isTransportName } from '../../src/server/authz';
import { cgroupUnder } from '../../src/service/guards';
import {
  configMapData,
  daemonSetServeArgs,
  flagValue,
  flagValues,
  manifestObjects,
  MANIFEST,
  policyExampleText,
  relocate,
  UNIT,
  unitExecStart,
  unitServeArgs,
  type AgentContainer,
} from '../helpers/deploy';

const root = path.resolve(__dirname, '../..');
const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; bin: Record<string, string> };

/** The parts of the manifest the tests look at, loosely typed (the schema check is scripts/check-deploy.js). */
type Container = AgentContainer & {
  securityContext?: { privileged?: boolean; runAsUser?: number };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
};
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string; items?: unknown[]; defaultMode?: number };
  configMap?: { name: string; items?: unknown[] };
}
interface DaemonSet {
  kind: 'DaemonSet';
  metadata: { name: string; namespace: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        hostPID?: boolean;
        hostNetwork?: boolean;
        hostIPC?: boolean;
        terminationGracePeriodSeconds?: number;
        automountServiceAccountToken?: boolean;
        containers: Container[];
        volumes: Volume[];
      };
    };
  };
}

const docs = manifestObjects();
const ds = docs.find((d) => d.kind === 'DaemonSet') as unknown as DaemonSet;
const pod = ds.spec.template.spec;
const agent = pod.containers.find((c) => c.name === 'agent') as Container;
const dsArgs = daemonSetServeArgs(docs);
const unitArgs = unitServeArgs();
const unitText = read(UNIT);

/** The socket, TLS files and policy both deployments name (Secret and ConfigMap keys in Kubernetes). */
const UNIX_SOCKET = 'unix:/run/criu-agent/agent.sock';
const TLS_PORT = '0.0.0.0:50051';
const TLS_FILES = { '--tls-cert': 'tls.crt', '--tls-key': 'tls.key', '--tls-client-ca': 'ca.crt' } as const;
const READ_ONLY = ['Check', 'ListCheckpoints', 'GetCheckpoint'];

/** The volume mounted at the folder of `file`, checked to be a whole-directory mount (no subPath). */
function volumeHolding(file: string): Volume {
  const mount = (agent.volumeMounts ?? []).find((m) => m.mountPath === path.dirname(file));
  expect({ file, mounted: mount !== undefined, subPath: mount?.subPath }).toEqual({ file, mounted: true, subPath: undefined });
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  if (!volume) throw new Error(`no volume ${mount?.name}`);
  return volume;
}

/**
 * Writes stand-ins for the files `args` name (TLS files, the policy) under
 * `dir`, so that loadConfig, which checks they are readable, can be given
 * the deployment's command line with only its paths moved.
 */
function withFilesUnder(dir: string, args: readonly string[], policy: string): string[] {
  const moved = relocate(args, dir);
  for (const flag of Object.keys(TLS_FILES)) {
    const f = flagValue(moved, flag);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'PEM\n');
  }
  const p = flagValue(moved, '--policy');
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, policy);
  return moved;
}

const tmpDirs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-test-'));
  tmpDirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** What loadConfig throws for these args (none: undefined). */
function configError(args: string[]): string | undefined {
  try {
    loadConfig({ argv: args, env: {} });
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
}

describe('deploy/kubernetes/criu-agent.yaml', () => {
  it('is valid against the Kubernetes schemas (scripts/check-deploy.js, kubernetes-models)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/check-deploy.js')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('DaemonSet/criu-agent: valid');
    expect(r.stdout).toContain('ConfigMap/criu-agent-policy: valid');
  });

  it('the schema check does catch a broken manifest', () => {
    const bad = path.join(tmp(), 'bad.yaml');
    fs.writeFileSync(
      bad,
      read(MANIFEST).replace('hostPID: true', 'hostPID: "yes"').replace('containerPort: 9464', 'containerPort: metrics'),
    );
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/check-deploy.js'), bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/DaemonSet\/criu-agent: INVALID: .*containerPort must be integer.*hostPID must be boolean/);
  });

  it('holds a Namespace, a ServiceAccount, the policy ConfigMap and the DaemonSet, all in the same namespace', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
    expect(docs.filter((d) => d.kind !== 'Namespace').every((d) => d.metadata.namespace === 'criu-agent')).toBe(true);
    expect(ds.spec.template.metadata.labels).toEqual(expect.objectContaining(ds.spec.selector.matchLabels));
  });

  it("shares the host's pid namespace (trees are named by host pid), network and IPC", () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.hostIPC).toBe(true);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('runs privileged as root (CRIU needs more than any capability list grants)', () => {
    expect(agent.securityContext).toEqual({ privileged: true, runAsUser: 0 });
  });

  it('runs the image of this version with the Containerfile entrypoint, serving on the socket of the run volume', () => {
    expect(agent.image).toBe(`criu-agent:${pkg.version}`);
    expect(agent.command).toEqual(containerfile.entrypoint);
    expect(agent.args?.[0]).toBe('serve');
    expect(flagValues(dsArgs, '--listen')).toContain(UNIX_SOCKET);
    expect(flagValue(dsArgs, '--state-dir')).toBe('/var/lib/criu-agent');
  });

  it('serves the unix socket and mTLS on 0.0.0.0:50051, declared as the port "grpc"', () => {
    expect(flagValues(dsArgs, '--listen')).toEqual([UNIX_SOCKET, TLS_PORT]);
    for (const flag of Object.keys(TLS_FILES)) expect(flagValues(dsArgs, flag)).toHaveLength(1);
    // Root only: no group on the socket, no wider mode.
    expect(flagValues(dsArgs, '--socket-group')).toEqual([]);
    expect(flagValues(dsArgs, '--socket-mode')).toEqual([]);
    expect(agent.ports).toContainEqual({ name: 'grpc', containerPort: Number(TLS_PORT.split(':')[1]), protocol: 'TCP' });
  });

  it('keeps the state directory and the socket on the node (hostPath), mounted where the agent uses them', () => {
    const mounts = new Map((agent.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
    const hostPaths = new Map(pod.volumes.map((v) => [v.name, v.hostPath?.path]));
    const stateDir = flagValue(dsArgs, '--state-dir');
    const socketDir = path.dirname(UNIX_SOCKET.replace(/^unix:/, ''));
    expect(hostPaths.get(mounts.get(stateDir) ?? '')).toBe('/var/lib/criu-agent');
    expect(hostPaths.get(mounts.get(socketDir) ?? '')).toBe('/run/criu-agent');
  });

  it('reads certificate, key and client CA from the Secret criu-agent-tls (cert-manager keys), mounted as a directory', () => {
    for (const [flag, key] of Object.entries(TLS_FILES)) {
      const file = flagValue(dsArgs, flag);
      expect({ flag, key: path.basename(file) }).toEqual({ flag, key });
      const volume = volumeHolding(file);
      // Every key of the Secret, by its own name: `items` would drop keys the args need.
      expect(volume.secret).toEqual({ secretName: 'criu-agent-tls', defaultMode: 0o400 });
    }
  });

  it('reads the policy from the ConfigMap criu-agent-policy of this manifest, mounted as a directory', () => {
    const file = flagValue(dsArgs, '--policy');
    expect(volumeHolding(file).configMap).toEqual({ name: 'criu-agent-policy' });
    expect(Object.keys(configMapData('criu-agent-policy', docs))).toEqual([path.basename(file)]);
  });

  it("the ConfigMap's policy is deploy/policy.example.json, and parses", () => {
    const text = configMapData('criu-agent-policy', docs)['policy.json'] ?? '';
    expect(JSON.parse(text)).toEqual(JSON.parse(policyExampleText()));
    expect(parsePolicy(JSON.parse(text))).toEqual(parsePolicy(JSON.parse(policyExampleText())));
  });

  it('restricts targets to the cgroups of pods, with either cgroup driver of the kubelet', () => {
    const config = loadConfig({ argv: withFilesUnder(tmp(), dsArgs, policyExampleText()), env: {} });
    const allowed = (cgroup: string): boolean => (config.allowCgroups ?? []).some((p) => cgroupUnder(cgroup, p));
    // systemd driver
    expect(allowed('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e.slice/cri-containerd-ab12.scope')).toBe(true);
    expect(allowed('/kubepods.slice/kubepods-pod0f1e.slice/cri-containerd-ab12.scope')).toBe(true);
    // cgroupfs driver
    expect(allowed('/kubepods/besteffort/pod0f1e/ab12')).toBe(true);
    expect(allowed('/kubepods/pod0f1e/ab12')).toBe(true);
    // the node's own services, and names that only start like the prefixes
    expect(allowed('/system.slice/kubelet.service')).toBe(false);
    expect(allowed('/user.slice/user-0.slice/session-1.scope')).toBe(false);
    expect(allowed('/kubepods-evil.slice/x')).toBe(false);
    expect(allowed('/kubepods.sliced/x')).toBe(false);
    expect(allowed('/')).toBe(false);
  });
});

// ---------------------------------------------------------------------------

describe('the policy of both deployments (deploy/policy.example.json)', () => {
  const policy: Policy = parsePolicy(JSON.parse(policyExampleText()));
  const may = (identity: string, method: string): boolean => authorize(policy, { names: [identity], verified: true }, method).ok;
  const bound = (pred: (identity: string) => boolean): string[] => policy.bindings.map((b) => b.identity).filter(pred);

  it('lets a controller, named by a SPIFFE id (a URI SAN), call every RPC', () => {
    const controllers = bound((i) => i.startsWith('spiffe://'));
    expect(controllers).toHaveLength(1);
    for (const m of AGENT_METHODS) expect({ m, ok: may(controllers[0] ?? '', m) }).toEqual({ m, ok: true });
  });

  it('has a monitoring identity that may only read', () => {
    const readers = bound((i) => !i.startsWith('spiffe://') && !isTransportName(i, { tcp: 'tls', unixIdentity: policy.unixIdentity }));
    expect(readers).toHaveLength(1);
    const allowed = AGENT_METHODS.filter((m) => may(readers[0] ?? '', m));
    expect(allowed).toEqual(READ_ONLY);
  });

  it('lets root on the unix socket call every RPC, other socket users (a --socket-group) only read, and nobody unnamed anything', () => {
    for (const m of AGENT_METHODS) expect(authorize(policy, { names: ['uid:0', policy.unixIdentity], verified: false }, m).ok).toBe(true);
    const socketUser = AGENT_METHODS.filter((m) => authorize(policy, { names: ['uid:1000', policy.unixIdentity], verified: false }, m).ok);
    expect(socketUser).toEqual(READ_ONLY);
    for (const m of AGENT_METHODS) expect(authorize(policy, { names: ['anonymous'], verified: false }, m).ok).toBe(false);
    for (const m of AGENT_METHODS) expect(may('spiffe://cluster.local/ns/default/sa/default', m)).toBe(false);
  });
});

// ---------------------------------------------------------------------------

describe.each([
  { name: 'the DaemonSet', args: dsArgs, policy: (): string => configMapData('criu-agent-policy', docs)['policy.json'] ?? '' },
  { name: 'the systemd unit', args: unitArgs, policy: policyExampleText },
])("the agent's config loader and $name's command line", ({ args, policy }) => {
  it('accepts it, with the files where it says: both listeners, mTLS, the policy', () => {
    const dir = tmp();
    const moved = withFilesUnder(dir, args, policy());
    const config = loadConfig({ argv: moved, env: {} });
    expect(config.listeners.map((l) => l.text)).toEqual([`unix:${dir}/run/criu-agent/agent.sock`, TLS_PORT]);
    expect(config.tls).toEqual({
      cert: path.join(dir, flagValue(args, '--tls-cert')),
      key: path.join(dir, flagValue(args, '--tls-key')),
      clientCa: path.join(dir, flagValue(args, '--tls-client-ca')),
    });
    expect(config.policy).toEqual(parsePolicy(JSON.parse(policy())));
    expect(config.stateDir).toBe(path.join(dir, '/var/lib/criu-agent'));
    // 0600: the socket is root's.
    expect(config.socketMode).toBe(0o600);
  });

  it('refuses to start without the certificate or the policy, naming the flag and the file', () => {
    const dir = tmp();
    const moved = withFilesUnder(dir, args, policy());
    const cert = flagValue(moved, '--tls-cert');
    fs.rmSync(cert);
    expect(configError(moved)).toBe(
      `flag --tls-cert: the TLS certificate ${cert} cannot be read: ENOENT: no such file or directory, access '${cert}'`,
    );
    fs.writeFileSync(cert, 'PEM\n');
    const policyFile = flagValue(moved, '--policy');
    fs.rmSync(policyFile);
    expect(configError(moved)).toMatch(new RegExp(`^flag --policy: cannot read the policy file ${policyFile}: ENOENT`));
  });
});

describe('deploy/criu-agent.service', () => {
  it('keeps KillMode=process: restored trees live in the unit cgroup and must survive agent restarts', () => {
    expect(unitText).toMatch(/^KillMode=process$/m);
  });

  it('starts the built CLI of the package bin', () => {
    expect(unitExecStart().slice(0, 3)).toEqual(['/usr/bin/node', `/opt/criu-agent/${pkg.bin['criu-agent']}`, 'serve']);
  });

  it('serves the root-only unix socket and mTLS on 0.0.0.0:50051, with the same TLS files as the DaemonSet, and a policy', () => {
    expect(flagValues(unitArgs, '--listen')).toEqual([UNIX_SOCKET, TLS_PORT]);
    for (const flag of Object.keys(TLS_FILES)) expect(flagValue(unitArgs, flag)).toBe(flagValue(dsArgs, flag));
    expect(flagValue(unitArgs, '--policy')).toBe('/etc/criu-agent/policy.json');
    expect(flagValues(unitArgs, '--socket-group')).toEqual([]);
    expect(flagValues(unitArgs, '--socket-mode')).toEqual([]);
  });

  it('keeps the socket and the state in the directories systemd makes for the unit', () => {
    const runtime = /^RuntimeDirectory=(.+)$/m.exec(unitText)?.[1];
    const state = /^StateDirectory=(.+)$/m.exec(unitText)?.[1];
    expect(path.dirname(UNIX_SOCKET.replace(/^unix:/, ''))).toBe(`/run/${runtime}`);
    expect(flagValue(unitArgs, '--state-dir')).toBe(`/var/lib/${state}`);
  });

  it('does not restart on a configuration error (the CLI exits 2), which a restart would not fix', () => {
    expect(EXIT.USAGE).toBe(2);
    expect(unitText).toMatch(new RegExp(`^RestartPreventExitStatus=${EXIT.USAGE}$`, 'm'));
    expect(unitText).toMatch(/^Restart=on-failure$/m);
  });

  it('is a unit systemd-analyze verify accepts without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', path.join(root, UNIT)], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('reads ExecStart across continued lines (the parser the tests rely on)', () => {
    expect(unitServeArgs('[Service]\nExecStart=/usr/bin/node cli.js serve \\\n    --listen unix:/a \\\n    --state-dir /b\nRestart=no\n')).toEqual([
      '--listen',
      'unix:/a',
      '--state-dir',
      '/b',
    ]);
    expect(() => unitExecStart('ExecStart=/usr/bin/node cli.js serve --policy "/a b"\n')).toThrow(/quoting/);
  });
});

// ---------------------------------------------------------------------------

const CONTAINERFILE = 'deploy/Containerfile';
const cfText = read(CONTAINERFILE);
const parsed = DockerfileParser.parse(cfText);
const args = new Map(parsed.getARGs().map((a) => [a.getProperty()?.getName() ?? '', a.getProperty()?.getValue() ?? '']));
const expand = (s: string): string => s.replace(/\$\{(\w+)\}/g, (_m, name: string) => args.get(name) ?? '');
const stages = parsed.getFROMs().map((f) => ({ image: expand(f.getImage() ?? ''), name: f.getBuildStage() }));
const containerfile = {
  entrypoint: parsed
    .getENTRYPOINTs()[0]
    ?.getJSONStrings()
    .map((s) => s.getJSONValue()),
  cmd: parsed
    .getCMDs()[0]
    ?.getJSONStrings()
    .map((s) => s.getJSONValue()),
};

/** Instructions of the stage named `stage` (the last, unnamed, stage for null). */
function stageInstructions(stage: string | null): Instruction[] {
  const out: Instruction[] = [];
  let current: string | null | undefined;
  for (const i of parsed.getInstructions()) {
    if (i.getKeyword() === 'FROM') {
      const name = parsed
        .getFROMs()
        .find((f) => f.getRange().start.line === i.getRange().start.line)
        ?.getBuildStage();
      current = name ?? null;
      continue;
    }
    if (current === stage) out.push(i);
  }
  return out;
}

/** COPY --from=STAGE's stage; undefined for a copy from the build context. */
const copyFrom = (i: Instruction): string | undefined =>
  i instanceof ModifiableInstruction
    ? (i
        .getFlags()
        .find((f) => f.getName() === 'from')
        ?.getValue() ?? undefined)
    : undefined;

describe('deploy/Containerfile', () => {
  it('has no syntax errors (dockerfile-utils, the VS Code Docker linter)', () => {
    const errors = lintDockerfile(cfText).filter((d) => d.severity === 1);
    expect(errors.map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`)).toEqual([]);
  });

  it('builds on Debian bookworm with Node.js 20 in every stage', () => {
    expect(stages.map((s) => s.name)).toEqual(['criu', 'build', null]);
    for (const s of stages) expect(s.image).toMatch(/^node:20-bookworm(-slim)?$/);
  });

  it('builds CRIU with deploy/provision-criu.sh, accepting only a failed `criu check` of the expected version', () => {
    const criu = stageInstructions('criu');
    const copy = criu.find((i) => i.getKeyword() === 'COPY');
    expect(copy?.getArgumentsContent()).toMatch(/^deploy\/provision-criu\.sh (\S+)$/);
    const dest = copy?.getArgumentsContent()?.split(/\s+/)[1] ?? '';
    const run = criu.find((i) => i.getKeyword() === 'RUN')?.getArgumentsContent() ?? '';
    expect(run).toContain(`bash ${dest}`);
    const version = /readonly DEFAULT_VERSION="([\d.]+)"/.exec(read('deploy/provision-criu.sh'))?.[1];
    expect(run).toContain(`grep -qx 'Version: ${version}'`);
  });

  it('builds the agent (npm ci, npm run build) and copies into the final image what it runs from', () => {
    const build = stageInstructions('build').map((i) => `${i.getKeyword()} ${i.getArgumentsContent() ?? ''}`);
    expect(build).toContain('RUN npm ci --no-audit --no-fund');
    expect(build.some((l) => /^RUN npm run build\b/.test(l))).toBe(true);
    const final = stageInstructions(null);
    const copied = final.filter((i) => i.getKeyword() === 'COPY').map((i) => [copyFrom(i), i.getArgumentsContent()?.split(/\s+/)[0]]);
    expect(copied).toEqual(
      expect.arrayContaining([
        ['criu', '/usr/local/sbin/criu'],
        ['build', '/opt/criu-agent/dist'],
        ['build', '/opt/criu-agent/proto'],
        ['build', '/opt/criu-agent/node_modules'],
        ['build', '/opt/criu-agent/package.json'],
        // src/criu/transport.ts loads the addon from here.
        ['build', '/opt/criu-agent/src/native/build/Release/seqpacket.node'],
      ]),
    );
  });

  it('copies from the build context only files that exist in the repository', () => {
    const sources = parsed
      .getInstructions()
      .filter((i) => i.getKeyword() === 'COPY' && copyFrom(i) === undefined)
      .flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const s of sources) expect(fs.existsSync(path.join(root, s))).toBe(true);
  });

  it('runs `criu-agent serve` on the socket and state directory the DaemonSet mounts (ENTRYPOINT and CMD)', () => {
    expect(containerfile.entrypoint).toEqual(['criu-agent']);
    expect(containerfile.cmd?.[0]).toBe('serve');
    expect(flagValues(containerfile.cmd ?? [], '--listen')).toEqual([UNIX_SOCKET]);
    expect(flagValues(dsArgs, '--listen')).toContain(UNIX_SOCKET);
    expect(flagValue(containerfile.cmd ?? [], '--state-dir')).toBe(flagValue(dsArgs, '--state-dir'));
    // criu-agent on PATH is the package's bin.
    expect(cfText).toContain(`ln -s /opt/criu-agent/${pkg.bin['criu-agent']} /usr/local/bin/criu-agent`);
  });

  it('exposes no port: its default command serves the unix socket only (the DaemonSet adds and declares the TLS port)', () => {
    expect(parsed.getInstructions().filter((i) => i.getKeyword() === 'EXPOSE')).toEqual([]);
    expect(flagValues(containerfile.cmd ?? [], '--listen').every((l) => l.startsWith('unix:'))).toBe(true);
  });

  it('installs the run-time package of every library the built CRIU links against', () => {
    const criu = '/usr/local/sbin/criu';
    const needed = execFileSync('readelf', ['-d', criu], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /\(NEEDED\)\s+Shared library: \[(.+)\]/.exec(l)?.[1])
      .filter((l): l is string => l !== undefined && !/^(libc|ld-linux)/.test(l));
    expect(needed.length).toBeGreaterThan(3);
    const runtime = stageInstructions(null)
      .filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getArgumentsContent() ?? '')
      .join(' ');
    for (const lib of needed) {
      // The soname link (libnl-3.so.200) belongs to the run-time package (libnl-3-200), whichever of /lib and /usr/lib it is in.
      const owner = execFileSync('dpkg', ['-S', `*/${lib}`], { encoding: 'utf8' }).split(':')[0] ?? '';
      expect({ lib, installed: runtime.includes(` ${owner} `) || runtime.includes(` ${owner}\n`) }).toEqual({ lib, installed: true });
    }
  });
});
