/** Checkpoint streams for tests: ExportCheckpoint into an array, ImportCheckpoint from one, and checkpoints written straight into a store. */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint__Output } from '../../src/generated/criu_agent/v1/Checkpoint';
import type { CheckpointAgentClient } from '../../src/generated/criu_agent/v1/CheckpointAgent';
import type { CheckpointChunk, CheckpointChunk__Output } from '../../src/generated/criu_agent/v1/CheckpointChunk';
import type { CheckpointRecord } from '../../src/store';
import { digestDirectory } from '../../src/store/digest';
import { checkpointRecord } from './records';

/** Every chunk of ExportCheckpoint; rejects with the call's ServiceError. */
export function exportChunks(client: CheckpointAgentClient, req: object): Promise<CheckpointChunk__Output[]> {
  return new Promise((resolve, reject) => {
    const out: CheckpointChunk__Output[] = [];
    const call = client.ExportCheckpoint(req);
    call.on('data', (c: CheckpointChunk__Output) => out.push(c));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

/**
 * ImportCheckpoint of `chunks`; with `cancelAfter`, cancels the call once that
 * many chunks were written (and never half-closes).
 */
export function importChunks(
  client: CheckpointAgentClient,
  chunks: readonly CheckpointChunk[],
  opts: { cancelAfter?: number } = {},
): Promise<Checkpoint__Output> {
  return new Promise((resolve, reject) => {
    const call = client.ImportCheckpoint(new grpc.Metadata(), (err, res) => (err ? reject(err) : resolve(res as Checkpoint__Output)));
    void (async () => {
      let n = 0;
      for (const c of chunks) {
        if (opts.cancelAfter !== undefined && n === opts.cancelAfter) {
          // Let the agent receive what was written before the cancel.
          await new Promise((r) => setTimeout(r, 300));
          call.cancel();
          return;
        }
        if (!call.write(c)) await new Promise((r) => call.once('drain', r));
        n++;
      }
      call.end();
    })();
  });
}

/**
 * A checkpoint put into an agent's store without CRIU (e.g. a pre-dump, which
 * this kernel cannot make): its files, the parent link when it has a parent,
 * digests and the manifest, as the agent writes them.
 */
export async function writeCheckpoint(stateDir: string, id: string, files: Record<string, string | Buffer>, over: Partial<CheckpointRecord> = {}): Promise<CheckpointRecord> {
  const dir = path.join(stateDir, 'checkpoints', id);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  if (over.parentId) fs.symlinkSync(`../${over.parentId}`, path.join(dir, 'parent'));
  const digests = await digestDirectory(dir);
  const record = checkpointRecord(id, {
    ...over,
    files: digests,
    fileCount: digests.length,
    sizeBytes: digests.reduce((n, f) => n + f.size, 0),
  });
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify(record));
  return record;
}

/** The names in a state directory's checkpoints folder, hidden (temporary) ones included. */
export function checkpointDirs(stateDir: string): string[] {
  return fs.readdirSync(path.join(stateDir, 'checkpoints')).sort();
}
