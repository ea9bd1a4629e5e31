import type * as protoLoader from '@grpc/proto-loader';
import { FileDescriptorProto, type IDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';

/**
 * The input for @grpc/reflection's ReflectionService: the given package
 * definitions merged, with their file descriptors rewritten the way protoc
 * writes them.
 *
 * proto-loader builds the descriptors with protobufjs (Root#toDescriptor),
 * and grpcurl (like grpcui, evans and buf curl) checks every file it gets
 * through reflection with Go protobuf's protodesc, which is strict where
 * protobufjs differs from protoc:
 *
 * - Map entries. protobufjs names the entry type of `map<K, V> statuses` after
 *   the field, `Statuses`; protodesc (checkValidMap) requires
 *   `<CamelCaseOfFieldName>Entry`, here `StatusesEntry`, so grpcurl fails
 *   with "invalid map" on grpc.health.v1 (HealthListResponse.statuses). The
 *   entry is renamed and the field's type_name follows; the rest protodesc
 *   asks of a map (field LABEL_REPEATED/TYPE_MESSAGE, entry nested in the
 *   same message with map_entry = true and only `key` = 1 and `value` = 2,
 *   both LABEL_OPTIONAL) protobufjs already gets right, and the test
 *   (test/integration/reflection.test.ts) checks it.
 * - Type names. protobufjs writes them relative ("FinalState"), protoc fully
 *   qualified (".criu_agent.v1.FinalState"). protodesc resolves relative names
 *   too, but by its own scoping rules; fully qualified ones leave nothing to
 *   resolve, and they are what `grpcurl describe` shows.
 * - Imports. protobufjs lists none; protodesc refuses a reference to a type of
 *   another file that the file does not import, and grpcurl fetches only the
 *   files listed as imports. None of our files refers to another today; the
 *   imports are filled in from the references so that one that does later
 *   still resolves.
 * - json_name. protobufjs leaves it out; protoc always writes it (the
 *   lowerCamelCase of the field name, which protodesc computes as well when it
 *   is missing), so it is set to that.
 *
 * What stays as protobufjs made it: file names (one file per package, e.g.
 * "grpc_health_v1.proto", not the source paths; consistent between
 * file_containing_symbol, file_by_filename and the imports, which is all
 * grpcurl needs), syntax (proto-loader declares every file "proto3", true for
 * every proto the agent serves) and comments (protobufjs keeps no
 * source_code_info, so `grpcurl describe` shows none).
 */
export function reflectionPackageDefinition(...defs: protoLoader.PackageDefinition[]): protoLoader.PackageDefinition {
  const out: protoLoader.PackageDefinition = {};
  // proto-loader hands the same array to every definition of one load.
  const rewritten = new Map<Buffer[], Buffer[]>();
  for (const [name, def] of defs.flatMap((d) => Object.entries(d))) {
    const original = (def as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    if (!Array.isArray(original)) {
      out[name] = def; // a service: reflection reads only the message and enum definitions
      continue;
    }
    let files = rewritten.get(original as Buffer[]);
    if (!files) {
      files = protocLikeFiles(original as Buffer[]);
      rewritten.set(original as Buffer[], files);
    }
    out[name] = { ...def, fileDescriptorProtos: files } as protoLoader.AnyDefinition;
  }
  return out;
}

const LABEL_REPEATED = 3;
const TYPE_MESSAGE = 11;

/** protodesc's strs.MapEntryName: "statuses" -> "StatusesEntry", "foo_bar" -> "FooBarEntry". */
const mapEntryName = (field: string): string => field.replace(/(?:^|_)([a-z0-9]?)/g, (_m, c: string) => c.toUpperCase()) + 'Entry';
/** protoc's default json_name: "criu_version" -> "criuVersion". */
const jsonName = (field: string): string => field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');

function protocLikeFiles(buffers: Buffer[]): Buffer[] {
  // Decoded messages, edited in place: encode() writes only the fields set.
  const files = buffers.map((b) => FileDescriptorProto.decode(b) as IFileDescriptorProto);
  /** The full name of a file's package: ".a.b", or "" for none. */
  const scopeOf = (f: IFileDescriptorProto): string => (f.package ? `.${f.package}` : '');
  /** Every message, nested ones after their parent, with its parent's full name. */
  const eachMessage = (visit: (m: IDescriptorProto, scope: string, file: IFileDescriptorProto) => void): void => {
    const walk = (m: IDescriptorProto, scope: string, file: IFileDescriptorProto): void => {
      visit(m, scope, file);
      for (const n of m.nestedType ?? []) walk(n, `${scope}.${m.name ?? ''}`, file);
    };
    for (const f of files) for (const m of f.messageType ?? []) walk(m, scopeOf(f), f);
  };

  // 1. Map entries: `Statuses` -> `StatusesEntry` (protodesc checkValidMap).
  eachMessage((m) => {
    for (const field of m.field ?? []) {
      if (field.label !== LABEL_REPEATED || field.type !== TYPE_MESSAGE || !field.typeName || !field.name) continue;
      const ref = field.typeName;
      const entry = (m.nestedType ?? []).find((n) => n.options?.mapEntry && (ref === n.name || ref.endsWith(`.${m.name ?? ''}.${n.name ?? ''}`)));
      if (!entry) continue;
      entry.name = mapEntryName(field.name);
      field.typeName = entry.name;
    }
  });

  // 2. Every message and enum by full name, and the file that declares it.
  const declaredIn = new Map<string, IFileDescriptorProto>();
  for (const f of files) for (const e of f.enumType ?? []) declaredIn.set(`${scopeOf(f)}.${e.name ?? ''}`, f);
  eachMessage((m, scope, file) => {
    const full = `${scope}.${m.name ?? ''}`;
    declaredIn.set(full, file);
    for (const e of m.enumType ?? []) declaredIn.set(`${full}.${e.name ?? ''}`, file);
  });

  // 3. References fully qualified (a partial name is looked up in the scope,
  //    then in each enclosing one, as protodesc does), and the file of each
  //    referenced type imported.
  const qualify = (file: IFileDescriptorProto, scope: string, ref: string): string => {
    let full: string | undefined;
    if (ref.startsWith('.')) full = ref;
    else
      for (let s = scope; full === undefined; s = s.slice(0, s.lastIndexOf('.'))) {
        if (declaredIn.has(`${s}.${ref}`)) full = `${s}.${ref}`;
        if (s === '') break;
      }
    const target = full === undefined ? undefined : declaredIn.get(full);
    if (full === undefined || target === undefined) return ref; // left as is: not ours to guess
    const imports = (file.dependency ?? []) as string[];
    if (target !== file && target.name && !imports.includes(target.name)) file.dependency = [...imports, target.name];
    return full;
  };
  eachMessage((m, scope, file) => {
    for (const field of m.field ?? []) {
      if (field.typeName) field.typeName = qualify(file, `${scope}.${m.name ?? ''}`, field.typeName);
      // 4. json_name as protoc writes it.
      if (field.name && !field.jsonName) field.jsonName = jsonName(field.name);
    }
  });
  for (const f of files)
    for (const s of f.service ?? [])
      for (const method of s.method ?? []) {
        const scope = scopeOf(f);
        if (method.inputType) method.inputType = qualify(f, scope, method.inputType);
        if (method.outputType) method.outputType = qualify(f, scope, method.outputType);
      }

  return files.map((f) => Buffer.from(FileDescriptorProto.encode(f).finish()));
}
