import type { CheckpointRecord } from '../../src/store';

/** A valid manifest of a finished dump, for tests that put checkpoints in a store without CRIU. */
export function checkpointRecord(id: string, over: Partial<CheckpointRecord> = {}): CheckpointRecord {
  return {
    id,
    kind: 'dump',
    pid: 4242,
    pids: [4242, 4243],
    createdAt: '2026-01-02T03:04:05.000Z',
    criuVersion: '4.2.1',
    kernel: '6.1.0',
    commandLine: ['/usr/bin/sleep', '1000'],
    sizeBytes: 0,
    fileCount: 0,
    digestAlgorithm: 'xxh64',
    files: [],
    finalState: 'DEAD',
    logFile: 'dump.log',
    ...over,
  };
}
