/**
 * deploy/: the Kubernetes manifest is valid against the Kubernetes API's
 * schemas and sets what the agent needs; the Containerfile parses, builds CRIU
 * with deploy/provision-criu.sh and runs the agent the way the manifest
 * expects; the systemd unit keeps KillMode=process. (No cluster and no image
 * builder here: these are the checks that can run without them.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import * as YAML from 'yaml';

const root = path.resolve(__dirname, '../..');
const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; bin: Record<string, string> };

/** The parts of the manifest the tests look at, loosely typed (the schema check is scripts/check-deploy.js). */
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: { privileged?: boolean; runAsUser?: number };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Probe {
  exec?: { command: string[] };
  grpc?: unknown;
  timeoutSeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
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
        volumes: { name: string; hostPath?: { path: string; type?: string } }[];
      };
    };
  };
}

const MANIFEST = 'deploy/kubernetes/criu-agent.yaml';
const docs = YAML.parseAllDocuments(read(MANIFEST)).map(
  (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
);
const ds = docs.find((d) => d.kind === 'DaemonSet') as unknown as DaemonSet;
const pod = ds.spec.template.spec;
const agent = pod.containers.find((c) => c.name === 'agent') as Container;

/** The value after `flag` in an argument list. */
function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('deploy/kubernetes/criu-agent.yaml', () => {
  it('is valid against the Kubernetes schemas (scripts/check-deploy.js, kubernetes-models)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/check-deploy.js')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('DaemonSet/criu-agent: valid');
  });

  it('the schema check does catch a broken manifest', () => {
    const bad = path.join(fs.mkdtempSync('/tmp/deploy-test-'), 'bad.yaml');
    try {
      fs.writeFileSync(
        bad,
        read(MANIFEST).replace('hostPID: true', 'hostPID: "yes"').replace('containerPort: 9464', 'containerPort: metrics'),
      );
      const r = spawnSync(process.execPath, [path.join(root, 'scripts/check-deploy.js'), bad], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/DaemonSet\/criu-agent: INVALID: .*containerPort must be integer.*hostPID must be boolean/);
    } finally {
      fs.rmSync(path.dirname(bad), { recursive: true, force: true });
    }
  });

  it('holds a Namespace, a ServiceAccount and the DaemonSet, all in the same namespace', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'DaemonSet']);
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
    const args = agent.args ?? [];
    expect(args[0]).toBe('serve');
    expect(flagValue(args, '--listen')).toBe('unix:/run/criu-agent/agent.sock');
    expect(flagValue(args, '--state-dir')).toBe('/var/lib/criu-agent');
  });

  it('keeps the state directory and the socket on the node (hostPath), mounted where the agent uses them', () => {
    const mounts = new Map((agent.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
    const hostPaths = new Map(pod.volumes.map((v) => [v.name, v.hostPath?.path]));
    const stateDir = flagValue(agent.args ?? [], '--state-dir') ?? '';
    const socketDir = path.dirname((flagValue(agent.args ?? [], '--listen') ?? '').replace(/^unix:/, ''));
    expect(hostPaths.get(mounts.get(stateDir) ?? '')).toBe('/var/lib/criu-agent');
    expect(hostPaths.get(mounts.get(socketDir) ?? '')).toBe('/run/criu-agent');
  });

  it('probes with `criu-agent health` over the socket: readiness needs SERVING, startup and liveness only an answer', () => {
    for (const probe of [agent.startupProbe, agent.readinessProbe, agent.livenessProbe]) {
      expect(probe?.grpc).toBeUndefined(); // the kubelet would need gRPC on the node's address
      expect(probe?.exec?.command.slice(0, 2)).toEqual(['criu-agent', 'health']);
      // The CLI's own deadline is shorter than the kubelet's.
      expect(Number(flagValue(probe?.exec?.command ?? [], '--timeout'))).toBeLessThan(probe?.timeoutSeconds ?? 1);
    }
    expect(agent.readinessProbe?.exec?.command).not.toContain('--liveness');
    expect(agent.livenessProbe?.exec?.command).toContain('--liveness');
    expect(agent.startupProbe?.exec?.command).toContain('--liveness');
    // A restart can kill restored trees: liveness waits for minutes of silence.
    const live = agent.livenessProbe ?? {};
    expect((live.periodSeconds ?? 10) * (live.failureThreshold ?? 3)).toBeGreaterThanOrEqual(120);
  });

  it('serves metrics on the port it declares and annotates for Prometheus', () => {
    const listen = flagValue(agent.args ?? [], '--metrics-listen') ?? '';
    const port = Number(listen.split(':').pop());
    expect(agent.ports).toContainEqual({ name: 'metrics', containerPort: port, protocol: 'TCP' });
    expect(ds.spec.template.metadata.annotations?.['prometheus.io/port']).toBe(String(port));
  });

  it('sets no memory or CPU limit (restored trees start in the container cgroup) and a long grace period', () => {
    expect(agent.resources?.limits).toBeUndefined();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(120);
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
    expect(flagValue(containerfile.cmd ?? [], '--listen')).toBe(flagValue(agent.args ?? [], '--listen'));
    expect(flagValue(containerfile.cmd ?? [], '--state-dir')).toBe(flagValue(agent.args ?? [], '--state-dir'));
    // criu-agent on PATH is the package's bin.
    expect(cfText).toContain(`ln -s /opt/criu-agent/${pkg.bin['criu-agent']} /usr/local/bin/criu-agent`);
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

describe('deploy/criu-agent.service', () => {
  it('keeps KillMode=process: restored trees live in the unit cgroup and must survive agent restarts', () => {
    expect(read('deploy/criu-agent.service')).toMatch(/^KillMode=process$/m);
  });

  it('starts the built CLI of the package bin', () => {
    expect(read('deploy/criu-agent.service')).toMatch(
      new RegExp(`^ExecStart=/usr/bin/node /opt/criu-agent/${pkg.bin['criu-agent']} serve `, 'm'),
    );
  });
});
