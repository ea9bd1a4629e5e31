import { createHash } from 'node:crypto';
import { AgentError } from '../errors';
import { formatReference, parseReference, type ImageReference } from '../registry/reference';
import type { RegistryClient } from '../registry/client';
import {
  ARTIFACT_TYPE,
  CONFIG_MEDIA_TYPE,
  FILE_MEDIA_TYPE,
  MANIFEST_MEDIA_TYPE,
  buildManifest,
  parseImage,
  type CheckpointImage,
  type FileLayer,
} from '../registry/format';
import { isValidCheckpointId, validateCheckpointId, type CheckpointRecord } from '../store';
import type { CheckpointInfo } from './checkpoints';
import type { ServiceContext } from './context';
import type { CheckpointStream, TransferItem } from './stream';

export interface PushResult {
  /** The manifest's digest ("sha256:..."): pull by `<repository>@<digest>` to get exactly this. */
  digest: string;
  /** Bytes sent to the registry (blobs it lacked, the config and the manifest). */
  bytesUploaded: number;
  /** Bytes of blobs the registry already had (HEAD), not sent. */
  bytesSkipped: number;
  reference: string;
}

export interface PullResult {
  checkpoint: CheckpointInfo;
  /** The manifest's digest. */
  digest: string;
  bytesDownloaded: number;
  /** Checkpoints of the image that were here already (identical) and not downloaded. */
  reused: string[];
}

/**
 * PushCheckpoint and PullCheckpoint: a checkpoint (with the pre-dumps it
 * builds on) as an OCI image in a registry (docs/registry.md). The bytes
 * come from, and go into, the store through the one checkpoint stream
 * (reader and verifying writer) that Export and Import use.
 */
export class RegistryService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly registry: RegistryClient,
    private readonly stream: CheckpointStream,
  ) {}

  async push(id: string, referenceText: string, signal?: AbortSignal, requestId?: string): Promise<PushResult> {
    validateCheckpointId(id);
    const ref = parseReference(referenceText);
    if (ref.digest) {
      throw new AgentError('invalid-argument', `reference ${referenceText} names a digest; push to a tag (e.g. ${ref.registry}/${ref.repository}:${id}), the reply gives the digest`);
    }
    const chain = await this.stream.chain(id);
    const release = this.ctx.locks.acquire(
      chain.map((c) => `checkpoint ${c.id}`),
      `push of checkpoint ${id} to ${formatReference(ref)}${requestId ? ` (request ${requestId})` : ''}`,
    );
    try {
      // sha256 of every file first: the registry is asked for each blob (HEAD) before anything is sent.
      const layers = await this.digestLayers(chain, signal);
      const unique = new Map<string, FileLayer>();
      for (const l of layers) if (!unique.has(l.digest)) unique.set(l.digest, l);
      const missing = new Map<string, FileLayer>();
      for (const l of unique.values()) {
        if (!(await this.registry.hasBlob(ref, l.digest, signal))) missing.set(l.digest, l);
      }
      let bytesUploaded = 0;
      if (missing.size > 0) bytesUploaded += await this.uploadFiles(ref, chain, missing, signal);
      const image = buildManifest(chain, layers);
      if (!(await this.registry.hasBlob(ref, image.config.digest, signal))) {
        bytesUploaded += await this.registry.pushBlob(ref, image.config.digest, image.configBytes.length, () => once(image.configBytes), signal);
      }
      const digest = await this.registry.putManifest(ref, MANIFEST_MEDIA_TYPE, image.manifestBytes, signal);
      bytesUploaded += image.manifestBytes.length;
      const skipped = [...unique.values()].filter((l) => !missing.has(l.digest)).reduce((n, l) => n + l.size, 0);
      return { digest, bytesUploaded, bytesSkipped: skipped, reference: formatReference(ref) };
    } finally {
      release();
    }
  }

  /**
   * Pulls an image into the store as checkpoint `localId` (default: the
   * reference's tag, or for a digest reference the id the image records),
   * with the pre-dumps it builds on under their own ids. Every blob is
   * checked against its sha256 and every file against the agent's xxh64
   * while it is written; nothing is listed unless all matched. With
   * `reuse`, a checkpoint already here with the same files is kept as it is
   * (Restore by reference); without it that is ALREADY_EXISTS.
   */
  async pull(referenceText: string, localId: string, opts: { reuse?: boolean }, signal?: AbortSignal, requestId?: string): Promise<PullResult> {
    const ref = parseReference(referenceText);
    if (localId) validateCheckpointId(localId);
    const { digest, bytes } = await this.registry.getManifest(ref, [MANIFEST_MEDIA_TYPE], signal);
    const manifest = parseImageManifest(bytes, ref);
    const configBytes = await readAll(this.registry.getBlob(ref, manifest.config.digest, signal), manifest.config.size);
    if (sha256(configBytes) !== manifest.config.digest) {
      throw new AgentError('data-loss', `the config blob ${manifest.config.digest} of ${formatReference(ref)} does not match its digest (sha256 ${sha256(configBytes)}); nothing was pulled`);
    }
    const image: CheckpointImage = parseImage(manifest, configBytes, formatReference(ref));
    const top = image.chain.at(-1) as CheckpointRecord;
    const id = localId || defaultId(ref, top);

    // The top checkpoint takes the local id; the pre-dumps keep theirs, which CRIU's "parent" links name.
    const chain = image.chain.map((r, i) => (i === image.chain.length - 1 ? { ...r, id, logFile: '' } : { ...r, logFile: '' }));
    const reused: string[] = [];
    const toWrite: CheckpointRecord[] = [];
    for (const r of chain) {
      const here = await this.ctx.store.get(r.id);
      if (!here) {
        toWrite.push(r);
        continue;
      }
      const same = sameFiles(here, r);
      if (same && (r !== chain.at(-1) || opts.reuse)) {
        reused.push(r.id);
        continue;
      }
      if (r === chain.at(-1)) {
        throw new AgentError(
          'already-exists',
          `checkpoint ${r.id} already exists on this node${same ? ' (with the same files)' : ' with other files'}; pull under another id (checkpoint_id) or delete it first`,
        );
      }
      throw new AgentError('failed-precondition', `${formatReference(ref)} builds on pre-dump ${r.id}, and this node has another checkpoint ${r.id}; delete or rename it first`);
    }
    if (toWrite.length === 0) {
      return { checkpoint: await this.info(id), digest, bytesDownloaded: 0, reused };
    }
    let downloaded = 0;
    const items = async function* (this: RegistryService): AsyncGenerator<TransferItem> {
      for (const r of toWrite) {
        const original = image.chain[chain.indexOf(r)] as CheckpointRecord;
        yield { kind: 'manifest', record: r };
        for (const f of r.files) {
          if (f.symlink !== undefined || f.size === 0) continue;
          const layer = image.layerOf(original.id, f.path);
          const hash = createHash('sha256');
          let offset = 0;
          for await (const chunk of coalesce(this.registry.getBlob(ref, layer.digest, signal), PULL_CHUNK_BYTES)) {
            if (offset + chunk.length > layer.size) {
              throw new AgentError('data-loss', `blob ${layer.digest} (${f.path} of ${original.id}) in ${formatReference(ref)} is larger than its ${layer.size} bytes; nothing was pulled`);
            }
            hash.update(chunk);
            yield { kind: 'data', path: f.path, offset, bytes: chunk };
            offset += chunk.length;
            downloaded += chunk.length;
          }
          const got = `sha256:${hash.digest('hex')}`;
          if (offset !== layer.size || got !== layer.digest) {
            throw new AgentError(
              'data-loss',
              `blob ${layer.digest} (${f.path} of checkpoint ${original.id}) in ${formatReference(ref)} does not match its digest (${offset} bytes, sha256 ${got}); nothing was pulled`,
            );
          }
        }
      }
    }.call(this);
    await this.stream.receive(items, signal, requestId);
    return { checkpoint: await this.info(id), digest, bytesDownloaded: downloaded, reused };
  }

  private async info(id: string): Promise<CheckpointInfo> {
    const record = await this.ctx.store.get(id);
    if (!record) throw new AgentError('internal', `checkpoint ${id} was pulled but is not listed`);
    return {
      ...record,
      imagesDir: this.ctx.store.pathOf(id),
      children: (await this.ctx.store.list()).filter((c) => c.parentId === id).map((c) => c.id),
    };
  }

  /** One layer per non-empty regular file of the chain (oldest checkpoint first), with its sha256. */
  private async digestLayers(chain: CheckpointRecord[], signal?: AbortSignal): Promise<FileLayer[]> {
    const layers: FileLayer[] = [];
    let current: { checkpointId: string; path: string; size: number; xxh64: string; hash: ReturnType<typeof createHash> } | undefined;
    let checkpointId = '';
    const finish = (): void => {
      if (!current) return;
      layers.push({ checkpointId: current.checkpointId, path: current.path, size: current.size, xxh64: current.xxh64, digest: `sha256:${current.hash.digest('hex')}` });
      current = undefined;
    };
    const byPath = new Map(chain.map((r) => [r.id, new Map(r.files.map((f) => [f.path, f]))]));
    for await (const item of this.stream.read(chain, signal)) {
      if (item.kind === 'manifest') {
        finish();
        checkpointId = item.record.id;
        continue;
      }
      if (!current || current.path !== item.path) {
        finish();
        const f = byPath.get(checkpointId)?.get(item.path);
        current = { checkpointId, path: item.path, size: f?.size ?? 0, xxh64: f?.xxh64 ?? '', hash: createHash('sha256') };
      }
      current.hash.update(item.bytes);
    }
    finish();
    return layers;
  }

  /** Sends the files whose blobs the registry lacks, each read (and checked) again through the stream. */
  private async uploadFiles(ref: ImageReference, chain: CheckpointRecord[], missing: Map<string, FileLayer>, signal?: AbortSignal): Promise<number> {
    let sent = 0;
    for (const layer of missing.values()) {
      const record = chain.find((r) => r.id === layer.checkpointId) as CheckpointRecord;
      // The one file, through the one reader: its xxh64 is checked again as it is sent.
      const one = [{ ...record, files: record.files.filter((f) => f.path === layer.path) }];
      const open = (): AsyncIterable<Buffer> => dataOf(this.stream.read(one, signal));
      sent += await this.registry.pushBlob(ref, layer.digest, layer.size, open, signal);
    }
    return sent;
  }
}

/** The manifest as JSON, checked to be one of ours before anything else is read. */
function parseImageManifest(bytes: Buffer, ref: ImageReference): ReturnType<typeof parseManifestJson> {
  return parseManifestJson(bytes, formatReference(ref));
}

function parseManifestJson(bytes: Buffer, where: string): { config: { digest: string; size: number }; layers: unknown[]; raw: Record<string, unknown> } {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AgentError('failed-precondition', `${where} is not an OCI image manifest (not JSON)`);
  }
  const o = (m ?? {}) as Record<string, unknown>;
  const config = o.config as { mediaType?: unknown; digest?: unknown; size?: unknown } | undefined;
  if (o.artifactType !== ARTIFACT_TYPE && config?.mediaType !== CONFIG_MEDIA_TYPE) {
    throw new AgentError(
      'failed-precondition',
      `${where} is not a criu-agent checkpoint (artifactType ${JSON.stringify(o.artifactType)}, config ${JSON.stringify(config?.mediaType)}; expected ${ARTIFACT_TYPE})`,
    );
  }
  if (typeof config?.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(config.digest) || !Number.isSafeInteger(config.size)) {
    throw new AgentError('data-loss', `${where}: its config descriptor is not a sha256 digest and a size`);
  }
  if (!Array.isArray(o.layers)) throw new AgentError('data-loss', `${where}: its manifest has no layers list`);
  for (const l of o.layers as { mediaType?: unknown }[]) {
    if (l?.mediaType !== FILE_MEDIA_TYPE) throw new AgentError('failed-precondition', `${where}: layer media type ${JSON.stringify(l?.mediaType)} is not ${FILE_MEDIA_TYPE}`);
  }
  return { config: { digest: config.digest, size: config.size as number }, layers: o.layers as unknown[], raw: o };
}

/** The tag when it is a valid checkpoint id, else the id the image records. */
function defaultId(ref: ImageReference, top: CheckpointRecord): string {
  return ref.tag && ref.tag !== 'latest' && isValidCheckpointId(ref.tag) ? ref.tag : top.id;
}

/** Same files, sizes, digests and links: the same checkpoint content. */
function sameFiles(a: CheckpointRecord, b: CheckpointRecord): boolean {
  if (a.kind !== b.kind || (a.parentId ?? '') !== (b.parentId ?? '') || a.files.length !== b.files.length) return false;
  const key = (f: CheckpointRecord['files'][number]): string => `${f.path}\0${f.size}\0${f.xxh64 ?? ''}\0${f.symlink ?? ''}`;
  const theirs = new Set(b.files.map(key));
  return a.files.every((f) => theirs.has(key(f)));
}

/**
 * Bytes per data item of a pull: HTTP reads arrive in pieces of tens of KiB;
 * joined, the writer makes one write and one hash update per 512 KiB.
 */
const PULL_CHUNK_BYTES = 512 * 1024;

/** The bytes of `it` in pieces of at least `size` bytes (the last one may be shorter). */
async function* coalesce(it: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of it) {
    parts.push(c);
    n += c.length;
    if (n >= size) {
      yield parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
      parts = [];
      n = 0;
    }
  }
  if (n > 0) yield Buffer.concat(parts, n);
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function once(b: Buffer): AsyncIterable<Buffer> {
  return (async function* () {
    await Promise.resolve();
    yield b;
  })();
}

/** The bytes of a checkpoint stream's data items. */
async function* dataOf(items: AsyncIterable<TransferItem>): AsyncGenerator<Buffer> {
  for await (const item of items) if (item.kind === 'data') yield item.bytes;
}

async function readAll(it: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of it) {
    n += c.length;
    if (n > max) throw new AgentError('data-loss', `a blob is larger than the ${max} bytes its descriptor says`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}
