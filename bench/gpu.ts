/**
 * GPU Dump/Restore per phase, on the GPU machine (run by
 * test/gpu/run-gpu-tests.sh when GPU_BENCH=1, or `node
 * build/gpu-test/bench/gpu.js` after `npm run build:gpu-test`): for each size
 * in GPU_BENCH_GIB (default "1,8,32"), a PyTorch process holding that much GPU
 * memory is dumped (DEAD) and restored (RUNNING) through the agent. Prints,
 * per phase, the time and GB/s: the driver's Checkpoint and Restore (from the
 * replies' GPU stats), CRIU's frozen time and restore time (its stats), and
 * the images' size; next to the driver-only figures measured by hand on the
 * same machine (issue #18) as ratios. Writes bench-gpu.json under
 * GPU_TEST_OUT. No thresholds: numbers only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CudaDriver } from '../src/gpu';
import { call, gpuHash, OUT, startAgent, startTarget, waitPidFree, type Json } from '../test/gpu/harness';

/** Driver-only GB/s of cuCheckpointProcessCheckpoint by size (GiB), measured by hand (issue #18). */
const DRIVER_CHECKPOINT_GBPS: Record<number, number> = { 1: 1.0, 8: 1.8, 32: 1.8 };
/** Pinned device-to-host copy limit, GB/s (issue #18). */
const PINNED_D2H_GBPS = 49.9;

const gbps = (bytes: number, us: number): number => (us > 0 ? bytes / 1e9 / (us / 1e6) : 0);
const num = (v: unknown): number => Number(v ?? 0);

async function main(): Promise<void> {
  if (!new CudaDriver().probe().checkpointApi)
    throw new Error('no NVIDIA driver with the CUDA checkpoint API (libcuda.so.1 not found or too old)');
  const sizes = (process.env.GPU_BENCH_GIB ?? '1,8,32').split(',').map(Number);
  const agent = await startAgent();
  const rows: Json[] = [];
  try {
    for (const gib of sizes) {
      const t = await startTarget(gib * 1024);
      const id = `bench-${gib}g-${process.pid}`;
      const t0 = performance.now();
      const d = await call(agent, 'Dump', { pid: t.pid, checkpoint_id: id });
      const dumpMs = performance.now() - t0;
      await waitPidFree(t.pid);
      const t1 = performance.now();
      const r = await call(agent, 'Restore', { checkpoint_id: id });
      const restoreMs = performance.now() - t1;
      const same = (await gpuHash(t)) === t.sha256;
      process.kill(t.pid, 'SIGKILL');
      await waitPidFree(t.pid);
      await call(agent, 'DeleteCheckpoint', { checkpoint_id: id });
      const dg = (d.gpu as Json[])[0] ?? {};
      const rg = (r.gpu as Json[])[0] ?? {};
      const bytes = gib * 2 ** 30;
      const ds = (d.stats ?? {}) as Json;
      const rs = (r.stats ?? {}) as Json;
      const row = {
        gib,
        sameData: same,
        dumpWallMs: Math.round(dumpMs),
        restoreWallMs: Math.round(restoreMs),
        lockUs: num(dg.lock_time_us),
        checkpointUs: num(dg.checkpoint_time_us),
        checkpointGBps: gbps(bytes, num(dg.checkpoint_time_us)),
        checkpointVsDriverOnly: gbps(bytes, num(dg.checkpoint_time_us)) / (DRIVER_CHECKPOINT_GBPS[gib] ?? 1.8),
        checkpointVsPinnedCopy: gbps(bytes, num(dg.checkpoint_time_us)) / PINNED_D2H_GBPS,
        checkpointBytes: num(dg.checkpoint_bytes),
        criuFrozenUs: num(ds.frozen_time_us),
        criuMemwriteGBps: gbps(num(d.size_bytes), num(ds.memwrite_time_us)),
        imagesBytes: num(d.size_bytes),
        criuRestoreUs: num(rs.restore_time_us),
        gpuRestoreUs: num(rg.restore_time_us),
        gpuRestoreGBps: gbps(bytes, num(rg.restore_time_us)),
        unlockUs: num(rg.unlock_time_us),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    agent.client.close();
    agent.child.kill('SIGTERM');
    fs.writeFileSync(path.join(OUT, 'bench-gpu.json'), JSON.stringify(rows, null, 2));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
