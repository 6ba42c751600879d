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
  /** Launches the kernel under test with buffer set `i % sets`. */
  launch(rep: number): void;
  /** Enqueues the spin kernel for `us` microseconds; absent if it could not be compiled. */
  spin?: (us: number) => void;
}

/** Returns the GPU time in ms of each of `reps` launches, after 2 warm-up launches. */
export function timeLaunchesWithEvents(run: TimedRun, reps: number): number[] {
  const { driver } = run;
  // Warm-up: the first launch of a module pays for lazy loading; the second
  // gives a fair estimate of the host-side cost of one launch.
  run.launch(0);
  const t0 = performance.now();
  run.launch(1);
  const hostLaunchUs = (performance.now() - t0) * 1000;
  // Surfaces any fault from the warm-ups before timing starts.
  driver.ctxSynchronize();

  const ev = run.events.take(2 * reps);
  if (run.spin) {
    // Per rep: one launch plus two event records, with margin for GC pauses.
    const perRepUs = Math.max(3 * hostLaunchUs, 20);
    run.spin(Math.min(MAX_SPIN_US, Math.ceil(50 + reps * perRepUs)));
  }
  for (let i = 0; i < reps; i++) {
    driver.eventRecord(ev[2 * i], null);
    run.launch(i);
    driver.eventRecord(ev[2 * i + 1], null);
  }
  // cuCtxSynchronize rather than cuEventSynchronize: it also reports a fault
  // raised by any of the timed launches.
  driver.ctxSynchronize();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) ms.push(driver.eventElapsedMs(ev[2 * i], ev[2 * i + 1]));
  return ms;
}
