// The guided search on synthetic landscapes (no device): it must find the
// optimum of a space whose best points lie on a diagonal (threads × rows
// constant) and around holes (points the resource model rejected), with far
// fewer evaluations than the space has points, and stop at its budget.
import { describe, expect, it } from 'vitest';
import type { Program } from '../dsl/ir.js';
import { patternSearch, type Candidate } from '../runtime/tune/search.js';
import { allPoints, indexOf, scheduleSpace, type Knobs } from '../runtime/tune/space.js';

const program = { name: 'synthetic', schedule: { threads: [128, 16, 32, 64, 256, 512, 1024], items: [4, 1, 2, 8, 16], rows: [1, 2, 4, 8], chunk: [64] } } as unknown as Program;

function setup(cost: (k: Knobs) => number, rejected: (k: Knobs) => boolean) {
  const space = scheduleSpace(program);
  const all: Candidate[] = allPoints(space).map((k) => ({ schedule: k, index: indexOf(space, k), status: rejected(k) ? 'rejected' : 'untried', reasons: [] }));
  let evaluations = 0;
  const evaluate = async (c: Candidate): Promise<number | undefined> => {
    if (c.status === 'rejected') return undefined;
    if (c.status === 'measured') return c.ms;
    evaluations++;
    c.status = 'measured';
    c.ms = cost(c.schedule);
    return c.ms;
  };
  const survivors = all.filter((c) => c.status === 'untried');
  // Seeds as the tuner orders them: the default first.
  const ranked = [...survivors].sort((a, b) => Number(b.schedule.threads === 128 && b.schedule.items === 4 && b.schedule.rows === 1) - Number(a.schedule.threads === 128 && a.schedule.items === 4 && a.schedule.rows === 1));
  return { space, all, survivors, ranked, evaluate, count: () => evaluations };
}

const tooBig = (k: Knobs): boolean => k.threads * k.rows > 1024;

describe('pattern search', () => {
  it('follows a diagonal valley (threads × rows) to the optimum, skipping rejected points', async () => {
    // Best: 256 threads per workgroup made of threads=32 × rows=8, items=4; a ridge along threads alone.
    const cost = (k: Knobs): number => 1 + 2 * Math.abs(Math.log2(k.threads * k.rows) - 8) + 0.5 * Math.abs(Math.log2(k.items) - 2) + 0.3 * Math.abs(Math.log2(k.rows) - 3);
    const s = setup(cost, tooBig);
    await patternSearch(s.space, s.all, s.ranked, s.evaluate, () => undefined, () => false);
    const best = s.all.filter((c) => c.status === 'measured').sort((a, b) => a.ms! - b.ms!)[0]!;
    expect(best.schedule).toMatchObject({ threads: 32, items: 4, rows: 8 });
    expect(s.count()).toBeLessThan(s.survivors.length / 2);
  });

  it('stops when the budget says so', async () => {
    const s = setup((k) => k.threads + k.items + k.rows, tooBig);
    let calls = 0;
    await patternSearch(s.space, s.all, s.ranked, s.evaluate, () => undefined, () => ++calls > 3);
    expect(s.count()).toBeLessThanOrEqual(3);
  });

  it('never evaluates a rejected point', async () => {
    const s = setup((k) => 1 / (k.threads * k.rows), tooBig);
    await patternSearch(s.space, s.all, s.ranked, s.evaluate, () => undefined, () => false);
    for (const c of s.all) if (tooBig(c.schedule)) expect(c.status).toBe('rejected');
    const best = s.all.filter((c) => c.status === 'measured').sort((a, b) => a.ms! - b.ms!)[0]!;
    expect(best.schedule.threads * best.schedule.rows).toBe(1024);
  });
});

describe('pattern search over several kernel forms', () => {
  it('finds a basin far from the default: later seeds start where the earlier ones differ most', async () => {
    // Two basins: the default's (threads 128, items 4, rows 1) is a local minimum; the best lies at
    // threads 16, items 16, rows 8 — three knobs away — and every point between them is worse than both.
    const far = (k: Knobs): boolean => k.threads <= 32 && k.items >= 8 && k.rows >= 4;
    const cost = (k: Knobs): number => (far(k) ? 0.5 + Math.abs(Math.log2(k.threads) - 4) * 0.01 + Math.abs(Math.log2(k.items) - 4) * 0.01 + Math.abs(Math.log2(k.rows) - 3) * 0.01
      : 1 + 0.1 * Math.abs(Math.log2(k.threads) - 7) + 0.1 * Math.abs(Math.log2(k.items) - 2) + 0.1 * Math.log2(k.rows) + (k.threads <= 32 || k.items >= 8 || k.rows >= 4 ? 5 : 0));
    const s = setup(cost, tooBig);
    await patternSearch(s.space, s.all, s.ranked, s.evaluate, () => undefined, () => false);
    const best = s.all.filter((c) => c.status === 'measured').sort((a, b) => a.ms! - b.ms!)[0]!;
    expect(best.schedule).toMatchObject({ threads: 16, items: 16, rows: 8 });
    expect(s.count()).toBeLessThan(s.survivors.length / 2);
  });
});
