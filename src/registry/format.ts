/**
 * The image format of a checkpoint in an OCI registry (docs/registry.md):
 * an OCI image manifest whose config is the agent's manifests of the
 * checkpoint and of the pre-dumps it builds on, and whose layers are the
 * checkpoint files, one layer per non-empty regular file, uncompressed
 * (memory pages barely compress, and a layer per file lets a registry and
 * HEAD deduplicate what a pre-dump chain or another node already sent).
 */
import { createHash } from 'node:crypto';
import { AgentError } from '../errors';
import { isValidCheckpointId, type CheckpointRecord } from '../store';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** OCI 1.1 artifactType of the manifest. */
export const ARTIFACT_TYPE = 'application/vnd.criu-agent.checkpoint.v1';
/** The config blob: {"formatVersion": 1, "checkpoints": [records, oldest first]}. */
export const CONFIG_MEDIA_TYPE = 'application/vnd.criu-agent.checkpoint.config.v1+json';
/** One checkpoint file's bytes as they are on disk. */
export const FILE_MEDIA_TYPE = 'application/vnd.criu-agent.checkpoint.file.v1';
export const FORMAT_VERSION = 1;

/** Layer annotations. */
export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_CHECKPOINT = 'io.criu-agent.checkpoint.id';
export const ANNOTATION_XXH64 = 'io.criu-agent.file.xxh64';
/** Manifest annotations. */
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_KIND = 'io.criu-agent.checkpoint.kind';
export const ANNOTATION_FORMAT = 'io.criu-agent.format.version';

/** One checkpoint file as a layer. */
export interface FileLayer {
  checkpointId: string;
  path: string;
  size: number;
  xxh64: string;
  /** "sha256:<hex>" of the file's bytes. */
  digest: string;
}

export interface BuiltImage {
  config: { digest: string; size: number };
  configBytes: Buffer;
  manifestBytes: Buffer;
}

/** The manifest and config of `chain` (oldest first), whose files are `layers` (in chain and file order). */
export function buildManifest(chain: readonly CheckpointRecord[], layers: readonly FileLayer[]): BuiltImage {
  const top = chain.at(-1);
  if (!top) throw new AgentError('internal', 'an image needs at least one checkpoint');
  const configBytes = Buffer.from(JSON.stringify({ formatVersion: FORMAT_VERSION, checkpoints: chain }));
  const config = { digest: sha256(configBytes), size: configBytes.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, ...config },
    layers: layers.map((l) => ({
      mediaType: FILE_MEDIA_TYPE,
      digest: l.digest,
      size: l.size,
      annotations: { [ANNOTATION_TITLE]: l.path, [ANNOTATION_CHECKPOINT]: l.checkpointId, [ANNOTATION_XXH64]: l.xxh64 },
    })),
    annotations: {
      [ANNOTATION_CREATED]: top.createdAt,
      [ANNOTATION_CHECKPOINT]: top.id,
      [ANNOTATION_KIND]: top.kind,
      [ANNOTATION_FORMAT]: String(FORMAT_VERSION),
    },
  };
  return { config, configBytes, manifestBytes: Buffer.from(JSON.stringify(manifest)) };
}

/** A pulled image: its checkpoints (oldest first) and the layer of each of their files. */
export interface CheckpointImage {
  chain: CheckpointRecord[];
  layerOf(checkpointId: string, path: string): FileLayer;
}

/**
 * Reads the config (already checked against its digest) and matches every
 * file of every checkpoint with exactly one layer of the same size and
 * xxh64. DATA_LOSS when the image does not hold together.
 */
export function parseImage(manifest: { layers: unknown[] }, configBytes: Buffer, where: string): CheckpointImage {
  const bad = (why: string): AgentError => new AgentError('data-loss', `${where} is not a consistent checkpoint image: ${why}; nothing was pulled`);
  let config: { formatVersion?: unknown; checkpoints?: unknown };
  try {
    config = JSON.parse(configBytes.toString('utf8')) as typeof config;
  } catch {
    throw bad('its config is not JSON');
  }
  if (config.formatVersion !== FORMAT_VERSION) {
    throw new AgentError('failed-precondition', `${where} has checkpoint format version ${String(config.formatVersion)}; this agent reads version ${FORMAT_VERSION}`);
  }
  if (!Array.isArray(config.checkpoints) || config.checkpoints.length === 0) throw bad('its config lists no checkpoint');
  const chain = config.checkpoints as CheckpointRecord[];
  chain.forEach((r, i) => {
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !isValidCheckpointId(r.id)) throw bad(`checkpoint ${i} of its config has no valid id`);
    if (!Array.isArray(r.files)) throw bad(`checkpoint ${r.id} lists no files`);
    const parent = i === 0 ? undefined : chain[i - 1]?.id;
    if ((r.parentId ?? undefined) !== parent) throw bad(`checkpoint ${r.id} builds on ${r.parentId ?? 'nothing'}, but the config lists ${parent ?? 'nothing'} before it`);
  });
  const layers = new Map<string, FileLayer>();
  for (const raw of manifest.layers) {
    const l = raw as { digest?: unknown; size?: unknown; annotations?: Record<string, unknown> };
    const a = l.annotations ?? {};
    const text = (v: unknown): string => (typeof v === 'string' ? v : '');
    const layer = {
      checkpointId: text(a[ANNOTATION_CHECKPOINT]),
      path: text(a[ANNOTATION_TITLE]),
      xxh64: text(a[ANNOTATION_XXH64]),
      size: Number(l.size),
      digest: text(l.digest),
    };
    if (!/^sha256:[a-f0-9]{64}$/.test(layer.digest) || !Number.isSafeInteger(layer.size)) throw bad(`layer ${layer.path} has no sha256 digest and size`);
    const key = `${layer.checkpointId}\0${layer.path}`;
    if (layers.has(key)) throw bad(`file ${layer.path} of ${layer.checkpointId} has two layers`);
    layers.set(key, layer);
  }
  let expected = 0;
  for (const r of chain) {
    for (const f of r.files) {
      if (f.symlink !== undefined || f.size === 0) continue;
      expected++;
      const l = layers.get(`${r.id}\0${f.path}`);
      if (!l) throw bad(`file ${f.path} of checkpoint ${r.id} has no layer`);
      if (l.size !== f.size || l.xxh64 !== f.xxh64) throw bad(`the layer of ${f.path} of ${r.id} says ${l.size} bytes, xxh64 ${l.xxh64}; the config says ${f.size} bytes, xxh64 ${f.xxh64 ?? '(none)'}`);
    }
  }
  if (expected !== layers.size) throw bad(`it has ${layers.size} layers for ${expected} files`);
  return {
    chain,
    layerOf: (checkpointId, path) => {
      const l = layers.get(`${checkpointId}\0${path}`);
      if (!l) throw bad(`file ${path} of checkpoint ${checkpointId} has no layer`);
      return l;
    },
  };
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
