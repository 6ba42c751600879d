// Measures kernel launches: GPU timestamps where the device has them, wall
// clock around submit + onSubmittedWorkDone where it does not (llvmpipe).

import type { Grid } from '../backend.js';
import type { ErrorTracker } from './errors.js';

/** WebGPU caps a query set at 4096 queries; each launch needs two. */
const MAX_LAUNCHES_PER_QUERY_SET = 2048;

export interface TimedLaunch {
  name: string;
  pipeline: GPUComputePipeline;
  /** One per buffer set; launch i uses bindGroups[i % length]. */
  bindGroups: readonly GPUBindGroup[];
  grid: Grid;
}

/**
 * One compute pass per launch with timestamps at its start and end, all
 * launches in one submit so the GPU runs them back to back (as in a model
 * step) and host overhead is not counted. Returns milliseconds per launch.
 */
export async function timeWithTimestamps(device: GPUDevice, errors: ErrorTracker, launch: TimedLaunch, reps: number): Promise<number[]> {
  const out: number[] = [];
  for (let first = 0; first < reps; first += MAX_LAUNCHES_PER_QUERY_SET) {
    const count = Math.min(MAX_LAUNCHES_PER_QUERY_SET, reps - first);
    out.push(...(await timeChunk(device, errors, launch, first, count)));
  }
  return out;
}

async function timeChunk(device: GPUDevice, errors: ErrorTracker, launch: TimedLaunch, first: number, count: number): Promise<number[]> {
  const bytes = count * 2 * 8;
  const label = `timing '${launch.name}'`;
  const querySet = device.createQuerySet({ label, type: 'timestamp', count: count * 2 });
  const resolved = device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    errors.scoped(`timing ${count} launches of kernel '${launch.name}'`, () => {
      const encoder = device.createCommandEncoder({ label });
      for (let i = 0; i < count; i++) {
        const pass = encoder.beginComputePass({
          label,
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        pass.setPipeline(launch.pipeline);
        pass.setBindGroup(0, launch.bindGroups[(first + i) % launch.bindGroups.length]!);
        pass.dispatchWorkgroups(launch.grid[0], launch.grid[1], launch.grid[2]);
        pass.end();
      }
      encoder.resolveQuerySet(querySet, 0, count * 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
      device.queue.submit([encoder.finish()]);
    });
    // A failed submit would leave the staging buffer never written; report
    // that error rather than timings made of zeros.
    await errors.check();
    await staging.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    const ms: number[] = [];
    // Timestamps are nanoseconds (Dawn converts from GPU ticks; we disabled
    // its quantization when creating the instance). Subtract as BigInt: the
    // absolute values exceed 2^53.
    for (let i = 0; i < count; i++) ms.push(Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6);
    return ms;
  } finally {
    querySet.destroy();
    resolved.destroy();
    staging.destroy();
  }
}

/**
 * Fallback: time each launch from just before it is recorded to when the
 * queue reports it done. Includes submit and completion-notification
 * latency, so it is an upper bound, fine for ranking kernels on a CPU device.
 */
export async function timeWithWallClock(
  launchOne: (index: number) => void,
  waitIdle: () => Promise<void>,
  reps: number,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    launchOne(i);
    await waitIdle();
    out.push(performance.now() - t0);
  }
  return out;
}
