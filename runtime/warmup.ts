// How long Backend.timeLaunches warms a kernel up before the launches it
// measures, shared by the WebGPU and CUDA backends. A fixed count of warm-up
// launches was not enough: on the H100's Vulkan adapter the first kernel
// timed in a process read ~4× slow (bench/RESULTS.md, runs 4-8), likely the
// GPU's clocks or freshly uploaded buffers still cold after two launches. So the
// warm-up is measured in GPU time: launches are run in rounds, timed like the
// measured ones, until they add up to WARMUP.minMs and the latest ones are no
// faster than those before them (the clocks have settled), within caps on
// launches and time so that a tiny kernel costs at most maxLaunches launches
// and a slow one at most about maxMs.

import { medianOf } from './tune/measure.js';

export interface WarmupPolicy {
  /** Launches always run (at least one per buffer set besides). */
  minLaunches: number;
  /** GPU milliseconds the warm-up launches should add up to. */
  minMs: number;
  /** Stop after this many launches, however short they were. */
  maxLaunches: number;
  /** Stop once the launches add up to this many milliseconds, settled or not. */
  maxMs: number;
  /** Settled: the latest launches are at most this factor faster than earlier ones. */
  settle: number;
}

export const WARMUP: WarmupPolicy = { minLaunches: 2, minMs: 25, maxLaunches: 100, maxMs: 200, settle: 1.1 };

/**
 * After the device sat idle (no timing for IDLE_MS): on the H100's Vulkan
 * driver the first kernel timed then ran ~3× slow for more than 250 ms of
 * GPU time, flat rather than ramping (bench/RESULTS.md run 17), which neither
 * 25 ms nor the still-getting-faster test catches.
 */
/* The launch cap is raised too: with WARMUP's 100, a 0.7 ms kernel (the benches' 1 GiB copy, timed
 * first) stopped after 70 ms, inside the slow period, and the copy read 1.6-1.8 TB/s instead of
 * 2.86 (RESULTS runs 41, 43, 44); the time caps bound the warm-up anyway. */
export const AFTER_IDLE: WarmupPolicy = { ...WARMUP, minMs: 500, maxMs: 800, maxLaunches: 5000 };
export const IDLE_MS = 200;

/**
 * How many more warm-up launches to run, given the milliseconds each warm-up
 * launch so far took (in launch order) and how many buffer sets are rotated;
 * 0 when the warm-up is done. The very first launch does not count towards
 * the time: it pays for lazy loading and pipeline creation, not kernel work.
 */
export function warmupLaunches(durationsMs: readonly number[], sets: number, policy: WarmupPolicy = WARMUP): number {
  const done = durationsMs.length;
  // Every buffer set touched at least once (first-touch of freshly uploaded buffers).
  const first = Math.min(policy.maxLaunches, Math.max(policy.minLaunches, sets));
  if (done < first) return first - done;
  if (done >= policy.maxLaunches) return 0;
  const counted = durationsMs.slice(1).map((t) => (Number.isFinite(t) && t > 0 ? t : 0));
  const total = counted.reduce((a, b) => a + b, 0);
  if (total >= policy.maxMs) return 0;
  const left = policy.maxLaunches - done;
  // A zero or broken duration must not stall the loop: assume a launch that short needs the cap.
  const perLaunch = Math.max(counted.at(-1) ?? 0, 1e-6);
  if (total < policy.minMs) return Math.min(left, Math.ceil((policy.minMs - total) / perLaunch));
  // Settled: the latest quarter of the launches is not much faster than the
  // second quarter (a ramp is gradual: neighbouring launches hardly differ).
  const n = counted.length;
  if (n >= 2) {
    const q = Math.max(1, n >> 2);
    const recent = medianOf(counted.slice(n - q));
    const before = medianOf(counted.slice(n >> 2, (n >> 2) + q));
    if (recent * policy.settle >= before) return 0;
  }
  // Still getting faster: as many launches again as were counted, within the caps.
  return Math.max(1, Math.min(left, counted.length, Math.floor((policy.maxMs - total) / perLaunch)));
}
