import type * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileDescriptorProto, type IDescriptorProto, type IEnumDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { protoDir } from '../paths';
import { AGENT_PROTO } from '../proto';

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
 * - Comments. The API is documented in comments of the .proto files, which
 *   `grpcurl describe` prints from source_code_info; protobufjs keeps none.
 *   The agent's own sources (AGENT_PROTO and what it imports, and the health
 *   proto) are read again and source_code_info is written as protoc writes it
 *   (see sourceCodeInfo below). Files whose source is not known, or does not
 *   parse, are served without.
 *
 * What stays as protobufjs made it: file names (one file per package, e.g.
 * "grpc_health_v1.proto", not the source paths; consistent between
 * file_containing_symbol, file_by_filename and the imports, which is all
 * grpcurl needs) and syntax (proto-loader declares every file "proto3", true
 * for every proto the agent serves).
 */
export function reflectionPackageDefinition(...defs: protoLoader.PackageDefinition[]): protoLoader.PackageDefinition {
  return reflectionPackageDefinitionWithComments([path.join(protoDir, AGENT_PROTO), healthProtoPath], ...defs);
}

/**
 * reflectionPackageDefinition with the comments of the given .proto files
 * (and of the files they import) instead of the agent's own. A served file
 * takes its comments from the sources of the same package, each declaration
 * from the one of the same name, so the sources need not be the exact files
 * the definitions were loaded from.
 */
export function reflectionPackageDefinitionWithComments(protoFiles: readonly string[], ...defs: protoLoader.PackageDefinition[]): protoLoader.PackageDefinition {
  let sources: ProtoSource[] | undefined;
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
      sources ??= readProtoSources(protoFiles);
      files = protocLikeFiles(original as Buffer[], sources);
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

function protocLikeFiles(buffers: Buffer[], sources: readonly ProtoSource[]): Buffer[] {
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

  // 5. Comments.
  for (const f of files) {
    const info = f.sourceCodeInfo == null ? sourceCodeInfo(f, sources) : undefined;
    if (info) f.sourceCodeInfo = info;
  }

  return files.map((f) => Buffer.from(FileDescriptorProto.encode(f).finish()));
}

// ---------------------------------------------------------------------------
// source_code_info, as protoc writes it.
//
// protobufjs's own parser is no help here: even in alternateCommentMode it
// keeps one `comment` per object with every line trimmed (losing the space
// after "//" and any indentation, both of which protoc keeps), takes a
// trailing comment for the leading one when there is none, drops detached
// comments and records no positions. So the sources are scanned here the way
// protoc's Tokenizer (NextWithComments) and Parser attach comments:
//
// - A comment that starts on the line of a declaration's last token (";" or
//   "{") is its trailing comment; when there is none, so is a comment block
//   starting on the next line if a blank line or the end of the scope (not a
//   declaration) follows it.
// - The comment block right above a declaration (no blank line between) is its
//   leading comment; blocks above that, separated by blank lines, are its
//   leading detached comments.
// - Text: a "//" line gives what follows "//" up to and including the newline
//   (" foo\n"), consecutive lines are concatenated; a "/* */" block gives its
//   inside, with each continuation line's indentation and "*" removed.
// - Spans: [start line, start column, end line, end column], 0-based, end
//   exclusive, from the declaration's first token to its ";" or "}"; three
//   elements when it is on one line. Columns count a tab to the next multiple
//   of 8. (Go's protodesc checks only that a span has 3 or 4 elements.)
//
// Locations are written for the declarations that reflection describes:
// syntax [12], package [2], messages [4, i] (nested [.., 3, j]), fields
// [.., 2, j], oneofs [.., 8, j], enums [5, i] (nested [.., 4, j]), enum values
// [.., 2, j], services [6, i] and methods [6, i, 2, j], with the indexes of
// the served descriptor, matched by name.

interface SourceCodeInfoLocation {
  path: number[];
  span: number[];
  leadingComments?: string;
  trailingComments?: string;
  leadingDetachedComments?: string[];
}

interface Comments {
  leading?: string;
  trailing?: string;
  detached: string[];
}

/** A declaration of a .proto source, with what protoc records for it. */
interface SourceDecl extends Comments {
  kind: 'message' | 'field' | 'oneof' | 'enum' | 'value' | 'service' | 'method';
  name: string;
  span: number[];
  /** Fields (those of its oneofs too), oneofs, nested messages and enums; enum values; methods. */
  children: SourceDecl[];
}

interface ProtoSource {
  file: string;
  package: string;
  imports: string[];
  syntax?: Comments & { span: number[] };
  packageDecl?: Comments & { span: number[] };
  /** Top-level messages, enums and services. */
  decls: SourceDecl[];
}

/** The given files and, recursively, those they import that can be found; a file that cannot be read or parsed is left out. */
function readProtoSources(protoFiles: readonly string[]): ProtoSource[] {
  const out: ProtoSource[] = [];
  const seen = new Set<string>();
  const visit = (file: string): void => {
    const abs = path.resolve(file);
    if (seen.has(abs)) return;
    seen.add(abs);
    let source: ProtoSource;
    try {
      source = parseProtoSource(fs.readFileSync(abs, 'utf8'), abs);
    } catch {
      return; // no comments for this one: reflection works without them
    }
    out.push(source);
    // Imports are relative to an include directory; the one the importing
    // file was found under is one of its parents.
    for (const imp of source.imports)
      for (let dir = path.dirname(abs); ; dir = path.dirname(dir)) {
        const candidate = path.join(dir, imp);
        if (fs.existsSync(candidate)) {
          visit(candidate);
          break;
        }
        if (path.dirname(dir) === dir) break;
      }
  };
  for (const f of protoFiles) visit(f);
  return out;
}

/** source_code_info for a served file, from the sources of its package; undefined when none of its declarations is found. */
function sourceCodeInfo(file: IFileDescriptorProto, sources: readonly ProtoSource[]): { location: SourceCodeInfoLocation[] } | undefined {
  const ofPackage = sources.filter((s) => s.package === (file.package ?? ''));
  if (ofPackage.length === 0) return undefined;
  const locations: SourceCodeInfoLocation[] = [];
  const add = (p: number[], d: Comments & { span: number[] }): void => {
    const loc: SourceCodeInfoLocation = { path: p, span: d.span };
    if (d.leading !== undefined) loc.leadingComments = d.leading;
    if (d.trailing !== undefined) loc.trailingComments = d.trailing;
    if (d.detached.length > 0) loc.leadingDetachedComments = d.detached;
    locations.push(loc);
  };
  const find = (decls: readonly SourceDecl[], kind: SourceDecl['kind'], name: string | null | undefined): SourceDecl | undefined =>
    decls.find((d) => d.kind === kind && d.name === name);

  const enumeration = (e: IEnumDescriptorProto, d: SourceDecl, p: number[]): void => {
    add(p, d);
    (e.value ?? []).forEach((v, j) => {
      const vd = find(d.children, 'value', v.name);
      if (vd) add([...p, 2, j], vd);
    });
  };
  const message = (m: IDescriptorProto, d: SourceDecl, p: number[]): void => {
    add(p, d);
    (m.field ?? []).forEach((f, j) => {
      const fd = find(d.children, 'field', f.name);
      if (fd) add([...p, 2, j], fd);
    });
    (m.nestedType ?? []).forEach((n, j) => {
      const nd = find(d.children, 'message', n.name);
      if (nd) message(n, nd, [...p, 3, j]);
    });
    (m.enumType ?? []).forEach((e, j) => {
      const ed = find(d.children, 'enum', e.name);
      if (ed) enumeration(e, ed, [...p, 4, j]);
    });
    (m.oneofDecl ?? []).forEach((o, j) => {
      const od = find(d.children, 'oneof', o.name);
      if (od) add([...p, 8, j], od);
    });
  };

  const top = ofPackage.flatMap((s) => s.decls);
  (file.messageType ?? []).forEach((m, i) => {
    const d = find(top, 'message', m.name);
    if (d) message(m, d, [4, i]);
  });
  (file.enumType ?? []).forEach((e, i) => {
    const d = find(top, 'enum', e.name);
    if (d) enumeration(e, d, [5, i]);
  });
  (file.service ?? []).forEach((s, i) => {
    const d = find(top, 'service', s.name);
    if (!d) return;
    add([6, i], d);
    (s.method ?? []).forEach((m, j) => {
      const md = find(d.children, 'method', m.name);
      if (md) add([6, i, 2, j], md);
    });
  });
  if (locations.length === 0) return undefined;
  // The file's own statements, when it comes from one source only.
  const only = ofPackage.length === 1 ? ofPackage[0] : undefined;
  if (only?.syntax && file.syntax) add([12], only.syntax);
  if (only?.packageDecl && file.package) add([2], only.packageDecl);

  // In source order, as protoc lists them.
  const start = (l: SourceCodeInfoLocation): [number, number] => [l.span[0] ?? 0, l.span[1] ?? 0];
  locations.sort((a, b) => {
    const [al, ac] = start(a);
    const [bl, bc] = start(b);
    return al - bl || ac - bc || a.path.length - b.path.length;
  });
  return { location: locations };
}

interface Token {
  text: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** The comments between the previous token (or the start of the file) and this one. */
  before: Gap;
}

/** Comments between two tokens, split as protoc's Tokenizer::NextWithComments does. */
interface Gap {
  /** The previous token's trailing comment. */
  trailing?: string;
  detached: string[];
  /** The next token's leading comment. */
  leading?: string;
}

const TAB_WIDTH = 8;

/** The tokens of a .proto source with their positions and the comments between them, and the comments after the last one. */
function tokenize(text: string, file: string): { tokens: Token[]; atEnd: Gap } {
  let pos = text.startsWith('\uFEFF') ? 1 : 0; // a byte order mark, which protoc skips too
  let line = 0;
  let col = 0;
  const ch = (k = 0): string => text.charAt(pos + k);
  const advance = (): void => {
    const c = text.charAt(pos++);
    if (c === '\n') {
      line++;
      col = 0;
    } else if (c === '\t') col += TAB_WIDTH - (col % TAB_WIDTH);
    else col++;
  };
  const fail = (what: string): never => {
    throw new Error(`${file}:${line + 1}:${col + 1}: ${what}`);
  };
  const skipBlanks = (): void => {
    while (pos < text.length && ' \t\r\v\f'.includes(ch())) advance();
  };
  /** Consumes "//" or "/*" if there. */
  const commentStart = (): 'line' | 'block' | undefined => {
    if (ch() !== '/' || (ch(1) !== '/' && ch(1) !== '*')) return undefined;
    const kind = ch(1) === '/' ? 'line' : 'block';
    advance();
    advance();
    return kind;
  };
  /** The rest of the line, newline included. */
  const lineComment = (): string => {
    const from = pos;
    while (pos < text.length && ch() !== '\n') advance();
    if (pos < text.length) advance();
    return text.slice(from, pos);
  };
  /** The inside of a block comment, without each continuation line's indentation and leading "*". */
  const blockComment = (): string => {
    let out = '';
    let from = pos;
    for (;;) {
      while (pos < text.length && !'*/\n'.includes(ch())) advance();
      if (pos >= text.length) fail('end of file inside a block comment');
      if (ch() === '\n') {
        advance();
        out += text.slice(from, pos);
        skipBlanks();
        if (ch() === '*') {
          advance();
          if (ch() === '/') {
            advance();
            return out;
          }
        }
        from = pos;
      } else if (ch() === '*' && ch(1) === '/') {
        out += text.slice(from, pos);
        advance();
        advance();
        return out;
      } else advance();
    }
  };
  /** Whitespace and comments up to the next token (or the end), nothing recorded. */
  const skipToToken = (): void => {
    for (;;) {
      while (pos < text.length && ' \t\r\n\v\f'.includes(ch())) advance();
      const c = commentStart();
      if (c === 'line') lineComment();
      else if (c === 'block') blockComment();
      else return;
    }
  };

  // The comments after the previous token, up to the next one.
  const gap = (first: boolean): Gap => {
    let buffer: string | undefined;
    let bufferIsLine = false;
    let canAttachToPrev = !first;
    const result: Gap = { detached: [] };
    const flush = (): void => {
      if (buffer === undefined) return;
      if (canAttachToPrev) {
        result.trailing = buffer;
        canAttachToPrev = false;
      } else result.detached.push(buffer);
      buffer = undefined;
    };
    const addLine = (s: string): void => {
      if (buffer !== undefined && !bufferIsLine) flush();
      bufferIsLine = true;
      buffer = (buffer ?? '') + s;
    };
    const addBlock = (s: string): void => {
      flush();
      bufferIsLine = false;
      buffer = s;
    };
    if (!first) {
      // A comment on the previous token's line is its trailing comment.
      skipBlanks();
      const c = commentStart();
      if (c === 'line') {
        addLine(lineComment());
        flush();
      } else if (c === 'block') {
        addBlock(blockComment());
        skipBlanks();
        if (ch() !== '\n') return { detached: [] }; // the next token on the same line: protoc drops the comment
        advance();
        flush();
      } else if (ch() === '\n') advance();
      else return { detached: [] }; // the next token on the same line
    }
    for (;;) {
      skipBlanks();
      const c = commentStart();
      if (c === 'line') addLine(lineComment());
      else if (c === 'block') {
        addBlock(blockComment());
        skipBlanks();
        if (ch() === '\n') advance();
      } else if (ch() === '\n') {
        // A blank line ends a comment block and detaches what follows.
        advance();
        flush();
        canAttachToPrev = false;
      } else {
        // At the next token. At the end of a scope no comment leads it.
        if (pos >= text.length || '}])'.includes(ch())) flush();
        if (buffer !== undefined) result.leading = buffer;
        return result;
      }
    }
  };

  const tokens: Token[] = [];
  for (let first = true; ; first = false) {
    const before = gap(first);
    skipToToken();
    if (pos >= text.length) return { tokens, atEnd: before };
    const startLine = line;
    const startCol = col;
    const from = pos;
    const c = ch();
    if (/[A-Za-z_]/.test(c)) while (/[A-Za-z0-9_]/.test(ch())) advance();
    else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(ch(1)))) {
      // Numbers, floats with exponents included: only skipped over.
      while (/[A-Za-z0-9_.]/.test(ch()) || (/[+-]/.test(ch()) && /[eE]/.test(text.charAt(pos - 1)))) advance();
    } else if (c === '"' || c === "'") {
      advance();
      while (ch() !== c) {
        if (pos >= text.length || ch() === '\n') fail('unterminated string');
        if (ch() === '\\') advance();
        advance();
      }
      advance();
    } else advance();
    tokens.push({ text: text.slice(from, pos), line: startLine, col: startCol, endLine: line, endCol: col, before });
  }
}

/**
 * The declarations of a .proto source (proto2, proto3 or editions), with
 * their comments attached the way protoc's Parser does: when it consumes the
 * ";", "{" or "}" ending a declaration, the comments after that token give the
 * declaration's trailing comment and the next one's leading (and detached)
 * comments. Option values, reserved ranges, extensions and the like are only
 * skipped.
 */
function parseProtoSource(text: string, file: string): ProtoSource {
  const { tokens, atEnd } = tokenize(text, file);
  let i = 0;
  const result: ProtoSource = { file, package: '', imports: [], decls: [] };
  const fail = (what: string): never => {
    const t = tokens[i];
    throw new Error(t ? `${file}:${t.line + 1}:${t.col + 1}: ${what}, at ${JSON.stringify(t.text)}` : `${file}: ${what}, at the end`);
  };
  const peek = (): string | undefined => tokens[i]?.text;
  const next = (): Token => tokens[i++] ?? fail('unexpected end of file');
  const name = (): string => {
    const t = next();
    return /^[A-Za-z_]/.test(t.text) ? t.text : fail('a name expected');
  };

  const first = tokens[0]?.before ?? atEnd;
  let upcomingLeading = first.leading;
  let upcomingDetached = first.detached;
  /** Consumes the token ending a declaration and attaches the comments to `to` (null: a declaration not recorded, or the end of a scope). */
  const endOfDeclaration = (expected: string, to: Comments | null): Token => {
    const t = next();
    if (t.text !== expected) {
      i--;
      fail(`${JSON.stringify(expected)} expected`);
    }
    const after = tokens[i]?.before ?? atEnd;
    const leading = upcomingLeading;
    upcomingLeading = after.leading;
    if (to) {
      if (leading !== undefined) to.leading = leading;
      if (after.trailing !== undefined) to.trailing = after.trailing;
      to.detached = upcomingDetached;
      upcomingDetached = after.detached;
    } else if (expected === '}') upcomingDetached = after.detached;
    else upcomingDetached = [...upcomingDetached, ...after.detached];
    return t;
  };
  const span = (from: Token, to: Token): number[] =>
    from.line === to.endLine ? [from.line, from.col, to.endCol] : [from.line, from.col, to.endLine, to.endCol];
  const decl = (kind: SourceDecl['kind'], declName: string): SourceDecl => ({ kind, name: declName, span: [], detached: [], children: [] });

  /** Skips to the end of a statement: the ";" (or, if `orBlock`, the "{") outside parentheses, brackets and braces. */
  const skipStatement = (orBlock = false): void => {
    let depth = 0;
    for (let t = peek(); t !== undefined; t = peek()) {
      if (depth === 0 && (t === ';' || (orBlock && t === '{'))) return;
      if (t === '(' || t === '[' || t === '{') depth++;
      else if (t === ')' || t === ']' || t === '}') {
        if (depth === 0) fail('unbalanced brackets');
        depth--;
      }
      i++;
    }
    fail('unexpected end of file');
  };
  /** A statement not recorded (option, reserved, extensions, import...): its comments are used up all the same. */
  const otherStatement = (): Comments & { span: number[] } => {
    const from = tokens[i] ?? fail('unexpected end of file');
    const loc: Comments & { span: number[] } = { span: [], detached: [] };
    skipStatement();
    loc.span = span(from, endOfDeclaration(';', loc));
    return loc;
  };

  const field = (into: SourceDecl[]): void => {
    const from = tokens[i] ?? fail('unexpected end of file');
    let declName: string | undefined;
    let depth = 0;
    for (let t = peek(); !(depth === 0 && (t === ';' || t === '{')); t = peek()) {
      if (t === undefined) fail('unexpected end of file');
      if (t === '=' && depth === 0 && declName === undefined) declName = tokens[i - 1]?.text;
      if (t === '(' || t === '[' || t === '<') depth++;
      else if (t === ')' || t === ']' || t === '>') depth--;
      i++;
    }
    if (declName === undefined || !/^[A-Za-z_]/.test(declName)) return fail('a field expected');
    if (peek() === '{') {
      // A proto2 group: a nested message and a field named after it in lower case.
      const group = decl('message', declName);
      endOfDeclaration('{', group);
      messageBody(group);
      group.span = span(from, endOfDeclaration('}', null));
      into.push(group, { ...decl('field', declName.toLowerCase()), span: group.span });
      return;
    }
    const d = decl('field', declName);
    d.span = span(from, endOfDeclaration(';', d));
    into.push(d);
  };

  const messageBody = (m: SourceDecl): void => {
    for (let t = peek(); t !== '}'; t = peek()) {
      if (t === undefined) fail('unexpected end of file');
      else if (t === 'message') m.children.push(message());
      else if (t === 'enum') m.children.push(enumeration());
      else if (t === 'extend') extend();
      else if (t === 'option' || t === 'reserved' || t === 'extensions') otherStatement();
      else if (t === ';') endOfDeclaration(';', null);
      else if (t === 'oneof') {
        const from = next();
        const o = decl('oneof', name());
        endOfDeclaration('{', o);
        for (let u = peek(); u !== '}'; u = peek()) {
          if (u === undefined) fail('unexpected end of file');
          else if (u === 'option') otherStatement();
          else if (u === ';') endOfDeclaration(';', null);
          else field(m.children); // oneof fields are the message's fields
        }
        o.span = span(from, endOfDeclaration('}', null));
        m.children.push(o);
      } else field(m.children);
    }
  };
  const message = (): SourceDecl => {
    const from = next();
    const m = decl('message', name());
    endOfDeclaration('{', m);
    messageBody(m);
    m.span = span(from, endOfDeclaration('}', null));
    return m;
  };
  const extend = (): void => {
    next();
    skipStatement(true);
    endOfDeclaration('{', { detached: [] });
    const ignored = decl('message', '');
    for (let t = peek(); t !== '}'; t = peek()) {
      if (t === undefined) fail('unexpected end of file');
      else if (t === ';') endOfDeclaration(';', null);
      else field(ignored.children);
    }
    endOfDeclaration('}', null);
  };
  const enumeration = (): SourceDecl => {
    const from = next();
    const e = decl('enum', name());
    endOfDeclaration('{', e);
    for (let t = peek(); t !== '}'; t = peek()) {
      if (t === undefined) fail('unexpected end of file');
      else if (t === 'option' || t === 'reserved') otherStatement();
      else if (t === ';') endOfDeclaration(';', null);
      else {
        const valueFrom = tokens[i] ?? fail('unexpected end of file');
        const v = decl('value', name());
        skipStatement();
        v.span = span(valueFrom, endOfDeclaration(';', v));
        e.children.push(v);
      }
    }
    e.span = span(from, endOfDeclaration('}', null));
    return e;
  };
  const service = (): SourceDecl => {
    const from = next();
    const s = decl('service', name());
    endOfDeclaration('{', s);
    for (let t = peek(); t !== '}'; t = peek()) {
      if (t === undefined) fail('unexpected end of file');
      else if (t === 'option') otherStatement();
      else if (t === ';') endOfDeclaration(';', null);
      else if (t === 'rpc') {
        const rpcFrom = next();
        const m = decl('method', name());
        skipStatement(true);
        if (peek() === ';') m.span = span(rpcFrom, endOfDeclaration(';', m));
        else {
          endOfDeclaration('{', m);
          for (let u = peek(); u !== '}'; u = peek()) {
            if (u === undefined) fail('unexpected end of file');
            else if (u === ';') endOfDeclaration(';', null);
            else otherStatement();
          }
          m.span = span(rpcFrom, endOfDeclaration('}', null));
        }
        s.children.push(m);
      } else fail('"rpc" or "option" expected');
    }
    s.span = span(from, endOfDeclaration('}', null));
    return s;
  };

  for (let t = peek(); t !== undefined; t = peek()) {
    if (t === 'message') result.decls.push(message());
    else if (t === 'enum') result.decls.push(enumeration());
    else if (t === 'service') result.decls.push(service());
    else if (t === 'extend') extend();
    else if (t === ';') endOfDeclaration(';', null);
    else if (t === 'syntax') result.syntax = otherStatement();
    else if (t === 'package') {
      const from = i;
      const loc = otherStatement();
      result.package = tokens
        .slice(from + 1, i - 1)
        .map((x) => x.text)
        .join('');
      result.packageDecl = loc;
    } else if (t === 'import') {
      const from = i;
      otherStatement();
      // import [public|weak] "path"; (no escapes in the paths we read)
      const str = tokens.slice(from, i).find((x) => /^["']/.test(x.text));
      if (str) result.imports.push(str.text.slice(1, -1));
    } else otherStatement(); // option, edition
  }
  return result;
}
