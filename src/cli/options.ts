import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { protoDir } from '../paths';
import { AGENT_PROTO } from '../proto';
import { UsageError } from './args';

/**
 * One command-line flag per field of DumpOptions and RestoreOptions, derived
 * from the .proto itself (names, types and help text from its comments), so
 * that a new CRIU option in the API is a new flag of the CLI with no change
 * here: `shell_job` is `--shell-job`, `external` is `--external X` (repeatable),
 * `manage_cgroups_mode` is `--manage-cgroups-mode soft`.
 */
export interface OptionFlag {
  /** e.g. "shell-job" (without the dashes). */
  readonly flag: string;
  /** The proto field, e.g. "shell_job". */
  readonly field: string;
  readonly kind: 'bool' | 'strings' | 'uint' | 'enum';
  /** For enums: the accepted values ("soft") and the enum value names they stand for ("CGROUP_MODE_SOFT"). */
  readonly choices?: ReadonlyMap<string, string>;
  /** The field's comment in the .proto, on one line. */
  readonly help: string;
}

let root: protobuf.Root | undefined;

function agentRoot(): protobuf.Root {
  if (!root) {
    root = new protobuf.Root();
    root.loadSync(path.join(protoDir, AGENT_PROTO), { keepCase: true, alternateCommentMode: true });
    root.resolveAll();
  }
  return root;
}

/** The flags of `criu_agent.v1.DumpOptions` or `criu_agent.v1.RestoreOptions`. */
export function optionFlags(message: 'DumpOptions' | 'RestoreOptions'): OptionFlag[] {
  const type = agentRoot().lookupType(`criu_agent.v1.${message}`);
  return type.fieldsArray.map((f): OptionFlag => {
    const flag = f.name.replace(/_/g, '-');
    const help = (f.comment ?? '').replace(/\s+/g, ' ').trim();
    if (f.resolvedType instanceof protobuf.Enum) {
      // An enum field without a comment of its own is described by its type's (CgroupMode: "How CRIU treats the tree's cgroups ...").
      const typeHelp = (f.resolvedType.comment ?? '').replace(/\s+/g, ' ').trim();
      const names = Object.keys(f.resolvedType.values).filter((n) => !n.endsWith('_UNSPECIFIED'));
      const prefix = commonPrefix(Object.keys(f.resolvedType.values));
      const choices = new Map(names.map((n) => [n.slice(prefix.length).toLowerCase().replace(/_/g, '-'), n]));
      return { flag, field: f.name, kind: 'enum', choices, help: help || typeHelp };
    }
    if (f.repeated && f.type === 'string') return { flag, field: f.name, kind: 'strings', help };
    if (!f.repeated && f.type === 'bool') return { flag, field: f.name, kind: 'bool', help };
    if (!f.repeated && f.type === 'uint32') return { flag, field: f.name, kind: 'uint', help };
    throw new Error(`${message}.${f.name}: the CLI has no flag form for a ${f.repeated ? 'repeated ' : ''}${f.type} field`);
  });
}

/** The node:util parseArgs declarations of these flags. */
export function parseArgsOptions(flags: readonly OptionFlag[]): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  return Object.fromEntries(
    flags.map((f) => [
      f.flag,
      f.kind === 'bool' ? { type: 'boolean' as const } : { type: 'string' as const, multiple: f.kind === 'strings' },
    ]),
  );
}

/** The options message (proto field names) from the parsed flags; only the flags given. */
export function optionsMessage(flags: readonly OptionFlag[], values: Record<string, unknown>, command: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of flags) {
    const v = values[f.flag];
    if (v === undefined) continue;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    switch (f.kind) {
      case 'bool':
      case 'strings':
        out[f.field] = v;
        break;
      case 'uint': {
        if (!/^\d+$/.test(text) || Number(text) > 0xffffffff)
          throw new UsageError(`${command}: --${f.flag} takes a whole number, not ${JSON.stringify(text)}`);
        out[f.field] = Number(text);
        break;
      }
      case 'enum': {
        const name = f.choices?.get(text.toLowerCase());
        if (!name)
          throw new UsageError(
            `${command}: --${f.flag} is one of ${[...(f.choices?.keys() ?? [])].join(', ')}, not ${JSON.stringify(text)}`,
          );
        out[f.field] = name;
        break;
      }
    }
  }
  return out;
}

/** Help lines for these flags: `--flag VALUE   what it does`. */
export function optionsHelp(flags: readonly OptionFlag[]): string {
  const left = (f: OptionFlag): string =>
    f.kind === 'bool'
      ? `--${f.flag}`
      : f.kind === 'strings'
        ? `--${f.flag} X (repeatable)`
        : f.kind === 'uint'
          ? `--${f.flag} N`
          : `--${f.flag} ${[...(f.choices?.keys() ?? [])].join('|')}`;
  const width = Math.min(30, Math.max(...flags.map((f) => left(f).length)) + 2);
  return flags
    .map((f) => {
      const l = left(f);
      // Fields without a comment map to the CRIU option of the same name (the messages' comments say so).
      const help = firstSentence(f.help) || `CRIU's --${f.flag}`;
      return l.length >= width ? `  ${l}\n  ${' '.repeat(width)}${help}` : `  ${l.padEnd(width)}${help}`;
    })
    .join('\n');
}

/** Up to the first full stop before a capital letter, or the first semicolon ("e.g." does not end a sentence). */
function firstSentence(text: string): string {
  const m = /^(.*?)(?:\.\s+(?=[A-Z])|;\s|\.$)/.exec(text);
  return m?.[1] ?? text;
}

function commonPrefix(names: string[]): string {
  if (names.length === 0) return '';
  let p = names[0] ?? '';
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('_') + 1);
}
