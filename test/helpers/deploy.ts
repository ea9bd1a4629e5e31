/**
 * The agent's command lines as deploy/ ships them (the DaemonSet's container
 * args and probes, the systemd unit's ExecStart), read from the files rather
 * than retyped, and the one rewrite the tests apply before running them:
 * every absolute path moved under a test folder, every TCP port made 0.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';

const root = path.resolve(__dirname, '../..');
const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');

export const MANIFEST = 'deploy/kubernetes/criu-agent.yaml';
export const UNIT = 'deploy/criu-agent.service';
export const POLICY_EXAMPLE = 'deploy/policy.example.json';

/** Every value of a (repeatable) flag given as `--flag value` or `--flag=value`. */
export function flagValues(args: readonly string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag && i + 1 < args.length) out.push(args[i + 1] ?? '');
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  });
  return out;
}

/** The one value of a flag; throws when it is missing or given twice. */
export function flagValue(args: readonly string[], flag: string): string {
  const v = flagValues(args, flag);
  if (v.length !== 1) throw new Error(`${flag} is given ${v.length} times in ${JSON.stringify(args)}`);
  return v[0] ?? '';
}

/**
 * The words of the unit's ExecStart, as systemd splits them: backslash-newline
 * joins lines. Quotes, escapes and specifiers would need systemd's full
 * parser, so the unit must not use them (checked here).
 */
export function unitExecStart(text = read(UNIT)): string[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const exec = lines.filter((l) => l.startsWith('ExecStart='));
  if (exec.length !== 1) throw new Error(`${UNIT}: expected one ExecStart=, found ${exec.length}`);
  const value = (exec[0] ?? '').slice('ExecStart='.length);
  if (/["'\\%$;]/.test(value)) throw new Error(`${UNIT}: ExecStart uses quoting, escapes or specifiers this parser does not handle: ${value}`);
  return value.trim().split(/\s+/);
}

/** The arguments after `serve` in the unit's ExecStart. */
export function unitServeArgs(text?: string): string[] {
  const words = unitExecStart(text);
  const at = words.indexOf('serve');
  if (at < 0) throw new Error(`${UNIT}: ExecStart does not run \`serve\`: ${words.join(' ')}`);
  return words.slice(at + 1);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

export function manifestObjects(text = read(MANIFEST)): K8sObject[] {
  return YAML.parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
}

export interface ProbeSpec {
  exec?: { command: string[] };
  grpc?: unknown;
  timeoutSeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface AgentContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  startupProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  [k: string]: unknown;
}

/** The DaemonSet's `agent` container. */
export function daemonSetAgent(objects = manifestObjects()): AgentContainer {
  const ds = objects.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: { containers: AgentContainer[] } } } } | undefined;
  const agent = ds?.spec.template.spec.containers.find((c) => c.name === 'agent');
  if (!agent) throw new Error(`${MANIFEST}: no DaemonSet with a container "agent"`);
  return agent;
}

/** The arguments after `serve` of the DaemonSet's agent container. */
export function daemonSetServeArgs(objects = manifestObjects()): string[] {
  const args = daemonSetAgent(objects).args ?? [];
  if (args[0] !== 'serve') throw new Error(`${MANIFEST}: the agent's args do not start with serve: ${JSON.stringify(args)}`);
  return args.slice(1);
}

/** The `data` of the manifest's ConfigMap `name`. */
export function configMapData(name: string, objects = manifestObjects()): Record<string, string> {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as { data?: Record<string, string> } | undefined;
  if (!cm) throw new Error(`${MANIFEST}: no ConfigMap ${name}`);
  return cm.data ?? {};
}

export function policyExampleText(): string {
  return read(POLICY_EXAMPLE);
}

/** Flags whose values are files or folders of the agent's, and so are moved by {@link relocate}. */
const PATH_FLAGS = new Set([
  '--listen',
  '--state-dir',
  '--tls-cert',
  '--tls-key',
  '--tls-client-ca',
  '--peer-tls-ca',
  '--peer-tls-cert',
  '--peer-tls-key',
  '--policy',
  '--criu-socket',
  '--config',
]);
/** Flags whose absolute values name something else (a cgroup, the criu binary) and stay. */
const KEPT_FLAGS = new Set(['--allow-cgroup', '--criu-path']);
const TCP_FLAGS = new Set(['--listen', '--metrics-listen']);

/**
 * `args` with every file and folder of the agent (also `unix:/path`) moved
 * under `under`, so that nothing the test starts touches the host's /etc,
 * /run or /var/lib; with `ports`, every TCP address becomes 127.0.0.1:0 (a
 * test must not listen on the host's interfaces or a fixed port). Throws for
 * an absolute value of a flag it does not know, rather than leave it
 * pointing at the host.
 */
export function relocate(args: readonly string[], under: string, opts: { ports?: boolean } = {}): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [flag, value, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1), true] : [arg, args[i + 1], false];
    if (!flag.startsWith('--') || value === undefined) {
      out.push(arg);
      continue;
    }
    let moved = value;
    if (PATH_FLAGS.has(flag) && value.startsWith('unix:/')) moved = `unix:${path.join(under, value.slice('unix:'.length))}`;
    else if (PATH_FLAGS.has(flag) && value.startsWith('/')) moved = path.join(under, value);
    else if (opts.ports && TCP_FLAGS.has(flag) && /^(\[[^\]]+\]|[^:/[\]]+):\d+$/.test(value)) moved = '127.0.0.1:0';
    else if (value.startsWith('/') && !KEPT_FLAGS.has(flag)) throw new Error(`relocate: ${flag} ${value} is a path of a flag it does not know; add the flag to PATH_FLAGS or KEPT_FLAGS`);
    if (inline) out.push(`${flag}=${moved}`);
    else {
      out.push(flag, moved);
      i++;
    }
  }
  return out;
}
