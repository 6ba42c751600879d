// The warm-up policy of Backend.timeLaunches (runtime/warmup.ts), as a pure
// function: simulated devices give each launch a duration, the policy says
// how many more warm-up launches to run; and the CUDA event timing that
// follows it, on a fake driver (a stream whose kernels take simulated time).
// No GPU involved.

import { describe, expect, it } from 'vitest';
import type { CudaDriver, CuHandle } from '../runtime/cuda/driver.ts';
import { EventPool, timeLaunchesWithEvents } from '../runtime/cuda/timing.ts';
import { WARMUP, warmupLaunches } from '../runtime/warmup.ts';
import { rng } from '../runtime/random.ts';

/** Runs the warm-up as the backends do: rounds of launches until the policy says 0. */
function simulate(duration: (launch: number, elapsedMs: number) => number, sets = 2): { ms: number[]; rounds: number[] } {
  const ms: number[] = [];
  const rounds: number[] = [];
  let elapsed = 0;
  for (let n = warmupLaunches(ms, sets); n > 0; n = warmupLaunches(ms, sets)) {
    expect(rounds.length, 'the warm-up ends').toBeLessThan(50);
    rounds.push(n);
    for (let i = 0; i < n; i++) {
      const d = duration(ms.length, elapsed);
      ms.push(d);
      elapsed += d;
    }
  }
  return { ms, rounds };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
/** Milliseconds a ramping device takes per launch: `coldFactor`× the warm time, decaying with GPU time run. */
const ramp = (warmMs: number, coldFactor: number, tauMs: number) => (_: number, elapsed: number): number => warmMs * (1 + (coldFactor - 1) * Math.exp(-elapsed / tauMs));

describe('warm-up policy of timeLaunches', () => {
  it('first touches every buffer set (at least two launches), within the launch cap', () => {
    expect(warmupLaunches([], 1)).toBe(2);
    expect(warmupLaunches([], 2)).toBe(2);
    expect(warmupLaunches([], 5)).toBe(5);
    expect(warmupLaunches([3], 5)).toBe(4);
    expect(warmupLaunches([], 10_000)).toBe(WARMUP.maxLaunches);
  });

  it('a 1 ms kernel warms up for 25 ms of GPU time, not two launches', () => {
    const { ms, rounds } = simulate(() => 1);
    expect(sum(ms.slice(1))).toBeGreaterThanOrEqual(WARMUP.minMs);
    expect(ms.length).toBeLessThanOrEqual(WARMUP.minMs + 2);
    expect(rounds.length).toBeLessThanOrEqual(3);
  });

  it('the first launch (lazy loading, pipeline creation) does not count towards the time', () => {
    const { ms } = simulate((i) => (i === 0 ? 1000 : 1));
    expect(sum(ms.slice(1))).toBeGreaterThanOrEqual(WARMUP.minMs);
  });

  it('a tiny kernel stops at the launch cap, cheaply, in few rounds', () => {
    const { ms, rounds } = simulate(() => 0.005);
    expect(ms.length).toBe(WARMUP.maxLaunches);
    expect(sum(ms)).toBeLessThan(1);
    expect(rounds.length).toBeLessThanOrEqual(2);
  });

  it('broken (zero or NaN) durations stop at the launch cap', () => {
    expect(simulate(() => 0).ms.length).toBe(WARMUP.maxLaunches);
    expect(simulate(() => NaN).ms.length).toBe(WARMUP.maxLaunches);
  });

  it('a slow kernel gets three launches, not 25 ms worth of rounds beyond them', () => {
    const { ms } = simulate(() => 80);
    expect(ms).toHaveLength(3);
  });

  it('a device whose clocks ramp up is warm when the warm-up ends, where two launches left it 2× slow', () => {
    // 4× slow at first, settling within ~100 ms of GPU work.
    const device = ramp(5, 4, 30);
    const afterTwo = device(2, device(0, 0) + device(1, device(0, 0)));
    expect(afterTwo / 5).toBeGreaterThan(1.9);
    const { ms } = simulate(device);
    expect(ms.at(-1)! / 5).toBeLessThan(1.1);
    expect(sum(ms.slice(1))).toBeLessThanOrEqual(WARMUP.maxMs + 20);
  });

  it('a ramp longer than maxMs is cut off at about maxMs of GPU time', () => {
    const { ms } = simulate(ramp(5, 9, 100));
    expect(sum(ms.slice(1))).toBeGreaterThanOrEqual(WARMUP.maxMs);
    expect(sum(ms.slice(1))).toBeLessThanOrEqual(WARMUP.maxMs + 20);
  });

  it('any durations: it ends within the launch cap and about maxMs', () => {
    const next = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const scale = 10 ** (next() * 6 - 3); // 1 µs .. 1 s
      const sets = 1 + Math.floor(next() * 8);
      const { ms, rounds } = simulate(() => scale * (0.5 + next()), sets);
      expect(ms.length).toBeLessThanOrEqual(WARMUP.maxLaunches);
      expect(ms.length).toBeGreaterThanOrEqual(Math.min(sets, WARMUP.maxLaunches));
      // Beyond the first round (one launch per set), at most one launch past maxMs.
      const counted = sum(ms.slice(1));
      expect(counted).toBeLessThanOrEqual(Math.max(sum(ms.slice(1, rounds[0])), WARMUP.maxMs + Math.max(...ms.slice(1))));
      // Done early only at a cap: the launches reached minMs, or the count cap.
      expect(counted >= WARMUP.minMs || ms.length === WARMUP.maxLaunches).toBe(true);
    }
  });
});

describe('CUDA event timing on a fake driver', () => {
  /** A stream that runs kernels back to back: an event records the stream time at which it is reached. */
  function fakeStream(kernelMs: (streamMs: number) => number) {
    let streamMs = 0;
    let next = 1n;
    const stamps = new Map<CuHandle, number>();
    const driver = {
      eventCreate: () => next++,
      eventDestroy: () => undefined,
      eventRecord: (e: CuHandle) => void stamps.set(e, streamMs),
      eventElapsedMs: (a: CuHandle, b: CuHandle) => stamps.get(b)! - stamps.get(a)!,
      ctxSynchronize: () => undefined,
    } as unknown as CudaDriver;
    return { driver, run: () => (streamMs += kernelMs(streamMs)), spin: (us: number) => (streamMs += us / 1000) };
  }

  it('warms up over every buffer set until the clocks settle, then times the reps warm', () => {
    // 4× slow at first, warm (2 ms) after ~100 ms of GPU work: two warm-up launches would time it cold.
    const s = fakeStream((t) => 2 * (1 + 3 * Math.exp(-t / 30)));
    const launched: number[] = [];
    const spins: number[] = [];
    const t = timeLaunchesWithEvents({
      driver: s.driver, events: new EventPool(s.driver), sets: 3,
      launch: (rep) => { launched.push(rep % 3); s.run(); },
      spin: (us) => { spins.push(us); s.spin(us); },
    }, 5);
    expect(t.ms).toHaveLength(5);
    for (const ms of t.ms) expect(ms).toBeLessThan(2 * 1.1);
    expect(t.warmupMs.length).toBeGreaterThan(2);
    expect(new Set(launched.slice(0, 3))).toEqual(new Set([0, 1, 2]));
    expect(launched).toHaveLength(t.warmupMs.length + 5);
    // One head start, before the timed reps only, not counted in them.
    expect(spins).toHaveLength(1);
    expect(spins[0]).toBeGreaterThanOrEqual(50 + 5 * 20);
  });

  it('a tiny kernel stops at the launch cap', () => {
    const s = fakeStream(() => 0.002);
    const t = timeLaunchesWithEvents({ driver: s.driver, events: new EventPool(s.driver), sets: 2, launch: () => s.run() }, 3);
    expect(t.warmupMs).toHaveLength(WARMUP.maxLaunches);
    expect(t.ms).toEqual([0.002, 0.002, 0.002].map((x) => expect.closeTo(x, 9)));
  });
});

describe('the warm-up after an idle device', () => {
  it('outlasts a flat slow period of 300 ms that the usual policy stops inside', async () => {
    const { AFTER_IDLE, WARMUP, warmupLaunches } = await import('../runtime/warmup.ts');
    // 17 ms launches for the first 300 ms of GPU time, then 5 ms: flat, not ramping (run 17).
    const device = (elapsed: number): number => (elapsed < 300 ? 17 : 5);
    const run = (policy: typeof WARMUP): number[] => {
      const d: number[] = [];
      let elapsed = 0;
      for (let n = warmupLaunches(d, 2, policy); n > 0; n = warmupLaunches(d, 2, policy)) {
        for (let i = 0; i < n; i++) { const t = device(elapsed); d.push(t); elapsed += t; }
      }
      return d;
    };
    expect(run(WARMUP).at(-1)).toBe(17); // the usual policy would time the slow period
    expect(run(AFTER_IDLE).at(-1)).toBe(5);
  });

  it('outlasts it for a short kernel too (a 0.7 ms copy, 2.1 ms while slow): the launch cap does not cut it short', async () => {
    const { AFTER_IDLE, warmupLaunches } = await import('../runtime/warmup.ts');
    const d: number[] = [];
    let elapsed = 0;
    for (let n = warmupLaunches(d, 2, AFTER_IDLE); n > 0; n = warmupLaunches(d, 2, AFTER_IDLE)) {
      for (let i = 0; i < n; i++) { const t = elapsed < 300 ? 2.1 : 0.7; d.push(t); elapsed += t; }
    }
    expect(elapsed).toBeGreaterThan(300);
    expect(d.at(-1)).toBe(0.7);
  });
});
