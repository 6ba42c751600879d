// Per-launch GPU timing with CUDA events.
//
// Each timed launch is bracketed by its own start/end event pair, so a rep's
// time is that kernel's alone. The catch with short kernels: if the GPU runs
// dry while the host is still enqueueing (a koffi launch costs microseconds),
// the start event fires early and the wait for the launch is counted as
// kernel time. So before the timed launches we enqueue a "spin" kernel that
// keeps the GPU busy long enough for the host to queue every rep; the reps
// then run back to back and the events measure only the kernels.

import type { RenderedKernel } from '../backend.js';
import type { CudaDriver, CuHandle } from './driver.js';
import { medianOf } from '../tune/measure.js';
import { warmupLaunches } from '../warmup.js';

/** Busy-waits on the GPU for `us` microseconds (one thread), using the global nanosecond timer. */
export const SPIN_KERNEL: RenderedKernel = {
  target: 'cuda',
  entry: 'scanforge_spin',
  source: `extern "C" __global__ void scanforge_spin(unsigned int us) {
  unsigned long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  const unsigned long long ns = (unsigned long long)us * 1000ull;
  do {
    __nanosleep(500);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}
`,
  bindings: [],
  params: [{ name: 'us', type: 'u32' }],
  workgroupSize: 1,
  sharedBytes: 0,
};

/** Upper bound on the head start, so a huge `reps` cannot stall the GPU for long. */
const MAX_SPIN_US = 200_000;

/** Reusable CUDA events (creating them costs a driver call each). Timing-enabled (flags 0). */
export class EventPool {
  private events: CuHandle[] = [];
  constructor(private readonly driver: CudaDriver) {}

  take(n: number): CuHandle[] {
    while (this.events.length < n) this.events.push(this.driver.eventCreate(0));
    return this.events.slice(0, n);
  }

  destroy(): void {
    for (const e of this.events) this.driver.eventDestroy(e);
    this.events = [];
  }
}

export interface TimedRun {
  driver: CudaDriver;
  events: EventPool;
  /** Buffer sets the launches rotate through (the warm-up touches each). */
  sets: number;
  /** Launches the kernel under test with buffer set `i % sets`. */
  launch(rep: number): void;
  /** Enqueues the spin kernel for `us` microseconds; absent if it could not be compiled. */
  spin?: (us: number) => void;
}

export interface Timings {
  /** GPU ms of each measured launch. */
  ms: number[];
  /** GPU ms of each warm-up launch (see ../warmup.ts). */
  warmupMs: number[];
}

interface Batch {
  ms: number[];
  /** Host µs to enqueue each launch with its two event records. */
  hostUs: number[];
}

/** Launches reps 0..count-1, each between its own event pair, after an optional head start; waits for them. */
function runBatch(run: TimedRun, count: number, spinUs?: number): Batch {
  const { driver } = run;
  const ev = run.events.take(2 * count);
  if (spinUs !== undefined) run.spin?.(spinUs);
  const hostUs: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    driver.eventRecord(ev[2 * i], null);
    run.launch(i);
    driver.eventRecord(ev[2 * i + 1], null);
    hostUs.push((performance.now() - t0) * 1000);
  }
  // cuCtxSynchronize rather than cuEventSynchronize: it also reports a fault
  // raised by any of the launches.
  driver.ctxSynchronize();
  const ms: number[] = [];
  for (let i = 0; i < count; i++) ms.push(driver.eventElapsedMs(ev[2 * i], ev[2 * i + 1]));
  return { ms, hostUs };
}

/** The GPU time in ms of each of `reps` launches, after a warm-up of a while of GPU time (../warmup.ts). */
export function timeLaunchesWithEvents(run: TimedRun, reps: number): Timings {
  // Warm-up rounds without the head start: the first launch of a module pays
  // for lazy loading (the policy does not count it); each round's
  // synchronize surfaces any fault before timing starts. A tiny kernel's
  // rounds also count the host's enqueue gaps, which only ends them sooner.
  const warmupMs: number[] = [], hostUs: number[] = [];
  for (let n = warmupLaunches(warmupMs, run.sets); n > 0; n = warmupLaunches(warmupMs, run.sets)) {
    const b = runBatch(run, n);
    warmupMs.push(...b.ms);
    hostUs.push(...b.hostUs);
  }
  // Per rep: one launch plus two event records as the warm-ups measured them
  // (the first, lazy-loading one aside), doubled for GC pauses.
  const perRepUs = Math.max(2 * medianOf(hostUs.length > 1 ? hostUs.slice(1) : hostUs), 20);
  const spinUs = run.spin ? Math.min(MAX_SPIN_US, Math.ceil(50 + reps * perRepUs)) : undefined;
  return { ms: runBatch(run, reps, spinUs).ms, warmupMs };
}
