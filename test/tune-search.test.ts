// A real tuning run on the CPU WebGPU adapter at a small shape: exhaustive
// over a small space with one planted wrong kernel (it returns at once, so it
// would be the fastest), which the correctness gate must stop; the winner is
// filed in the cache, a second call answers from there without measuring,
// and a runner given no schedule picks a cached winner up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compileKernel, defaultSchedule, type CompiledKernelInfo } from '../codegen/compile.js';
import type { Program } from '../dsl/ir.js';
import { loadProgram } from '../dsl/load.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { randomInputs } from '../runtime/check.js';
import { TuneCache } from '../runtime/tune/cache.js';
import { scheduleLookup } from '../runtime/tune/lookup.js';
import { tune, tuneVariant, type TuneOptions } from '../runtime/tune/search.js';
import { scheduleKey } from '../runtime/tune/space.js';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.js';

let backend: WebGpuBackend;
let program: Program;
let dir: string;
beforeAll(async () => {
  backend = await openWebGpu();
  const mamba = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
  // A small space: 2 × 2 × 2 schedules (the default, threads 16 items 4 rows 1, among them).
  program = { ...mamba, schedule: { ...mamba.schedule, threads: [16, 32], items: [4, 2], rows: [1, 2], rowBlock: [1], lanes: [1], shuffle: [0], tileChunks: [1], prefetch: [0], scatter: [0], stage: [0], segment: [0] } };
  dir = mkdtempSync(path.join(tmpdir(), 'scanforge-tune-'));
}, 120_000);
afterAll(() => {
  backend?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const DIMS = { batch: 1, dim: 5, seqlen: 300, dstate: 16, ngroups: 1 };
const BROKEN = { threads: 32, items: 2, rows: 2, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0 };

/** compileKernel, except that one schedule's kernel returns before doing anything (outputs stay NaN). */
function plantWrongKernel(sp: Parameters<typeof compileKernel>[0], target: Parameters<typeof compileKernel>[1], sched: Parameters<typeof compileKernel>[2], caps: Parameters<typeof compileKernel>[3]): CompiledKernelInfo {
  const info = compileKernel(sp, target, sched, caps);
  if (sched.threads !== BROKEN.threads || sched.items !== BROKEN.items || sched.rows !== BROKEN.rows) return info;
  const src = info.kernel.source;
  const open = src.indexOf('{', src.indexOf(`fn ${info.kernel.entry}(`));
  return { ...info, kernel: { ...info.kernel, source: `${src.slice(0, open + 1)}\n  return;${src.slice(open + 1)}` } };
}

describe('tune on the CPU adapter', () => {
  it('measures every survivor, keeps a wrong kernel from winning, and answers the second call from the cache', async () => {
    const cache = new TuneCache(path.join(dir, 'tune.json'), () => undefined);
    const opts: TuneOptions = {
      backend, program, dims: DIMS, cache, reps: 3, budgetMs: 60_000, codegen: plantWrongKernel,
      checkDims: { batch: 2, dim: 3, seqlen: 77, ngroups: 1 },
    };
    const progress: number[] = [];
    const first = await tune({ ...opts, onProgress: (p) => progress.push(p.done) });
    expect(first.fromCache).toBe(false);
    expect(first.mode).toBe('exhaustive');
    expect(first.candidates).toHaveLength(8);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    const broken = first.candidates.find((c) => scheduleKey(c.schedule) === scheduleKey({ ...BROKEN, chunk: 64 }))!;
    expect(broken.status).toBe('failed-check');
    expect(broken.reasons.join()).toMatch(/y: .*non-finite/);
    expect(broken.ms).toBeUndefined();
    const measured = first.candidates.filter((c) => c.status === 'measured');
    expect(measured).toHaveLength(7);
    expect(first.entry.measured).toBe(7);
    expect(scheduleKey(first.entry.schedule)).not.toBe(scheduleKey({ ...BROKEN, chunk: 64 }));
    expect(first.entry.ms).toBe(Math.min(...measured.map((c) => c.ms!)));
    expect(first.entry.defaultMs).toBe(measured.find((c) => scheduleKey(c.schedule) === scheduleKey(first.space.defaults))!.ms);

    const t0 = performance.now();
    const second = await tune(opts);
    expect(second.fromCache).toBe(true);
    expect(second.candidates).toEqual([]);
    expect(second.entry).toEqual(first.entry);
    expect(performance.now() - t0).toBeLessThan(1000);

    // A runner given no schedule uses the cached winner at its shape bucket, the default elsewhere.
    const planted = { threads: 32, items: 4, rows: 2, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0, chunk: 64 };
    cache.put({ ...first.entry, schedule: planted });
    const runner = new ProgramRunner(backend, program, { tuned: scheduleLookup({ cache }) });
    const v = tuneVariant(program);
    const inputs = randomInputs(program, { dims: DIMS, present: v.present, initStates: [], finalStates: [], seed: 3 });
    expect((await runner.prepare(inputs, {})).info.schedule).toEqual(planted);
    const longer = randomInputs(program, { dims: { ...DIMS, seqlen: 700 }, present: v.present, initStates: [], finalStates: [], seed: 3 });
    const other = await runner.prepare(longer, {});
    expect(other.info.schedule).toEqual(defaultSchedule(other.program));
    await expect(new ProgramRunner(backend, program, { tuned: false }).prepare(inputs, {}).then((p) => p.info.schedule)).resolves.toEqual(defaultSchedule(other.program));
    // --force measures again.
    const forced = await tune({ ...opts, force: true, mode: 'guided', budgetMs: 60_000 });
    expect(forced.fromCache).toBe(false);
    expect(forced.mode).toBe('guided');
    expect(forced.candidates.find((c) => scheduleKey(c.schedule) === scheduleKey({ ...BROKEN, chunk: 64 }))!.status).not.toBe('measured');
  }, 120_000);

  it('times runs in pieces where a tensor exceeds one binding (the long Mamba-1 shape on WebGPU)', async () => {
    // u is 80 × 300 × 4 = 96 000 bytes; with 40 000 per binding (B and C, 19 200 each, fit) the runs go in 3 pieces of ≤ 33 rows.
    const runner = new ProgramRunner(backend, program, { tuned: false, maxBindingBytes: 40_000 });
    const pieces = vi.spyOn(runner, 'pieces');
    const dims = { ...DIMS, dim: 80 };
    const r = await tune({ backend, program, runner, dims, cache: false, reps: 2, budgetMs: 60_000, mode: 'exhaustive', checkDims: { batch: 1, dim: 3, seqlen: 40, ngroups: 1 } });
    expect(r.candidates.filter((c) => c.status === 'measured')).toHaveLength(8);
    const cuts = pieces.mock.results.map((x) => x.value as unknown[] | undefined).filter((x) => x !== undefined);
    expect(cuts.length).toBeGreaterThan(0);
    for (const cut of cuts) expect(cut).toHaveLength(3);
  }, 120_000);

  it('times a candidate once where its first run is already twice the best so far', async () => {
    // One schedule's kernel first spins a loop the compiler cannot fold (its bound and values come from the
    // params), then does its work: right, and many times slower.
    const SLOW = { threads: 16, items: 2, rows: 2 };
    const spin = (...a: Parameters<typeof compileKernel>): CompiledKernelInfo => {
      const info = compileKernel(...a);
      const sched = a[2];
      if (sched.threads !== SLOW.threads || sched.items !== SLOW.items || sched.rows !== SLOW.rows) return info;
      const src = info.kernel.source;
      const open = src.indexOf('{', src.indexOf(`fn ${info.kernel.entry}(`));
      const loop = '\n  var sf_w: f32 = 0.0;\n  for (var sf_k: i32 = 0; sf_k < P.seqlen * 60; sf_k++) { sf_w = sf_w * 0.5 + f32(P.dim); }\n  if (sf_w < 0.0) { return; }';
      return { ...info, kernel: { ...info.kernel, source: `${src.slice(0, open + 1)}${loop}${src.slice(open + 1)}` } };
    };
    const order: string[] = [];
    const r = await tune({ backend, program, dims: DIMS, cache: false, reps: 4, budgetMs: 60_000, mode: 'exhaustive', codegen: spin, checkDims: { batch: 1, dim: 2, seqlen: 33, ngroups: 1 }, onProgress: (pr) => order.push(scheduleKey(pr.candidate.schedule)) });
    const slow = r.candidates.find((c) => c.schedule.threads === SLOW.threads && c.schedule.items === SLOW.items && c.schedule.rows === SLOW.rows)!;
    expect(slow.status).toBe('measured');
    expect(order.indexOf(scheduleKey(slow.schedule))).toBeGreaterThan(0);
    expect(slow.ms!, `slow ${slow.ms} ms, best ${r.entry.ms} ms`).toBeGreaterThan(2 * r.entry.ms);
    expect(slow.times).toHaveLength(1);
    // Every candidate: one time only where it was over twice the best measured before it, else all 4.
    const byKey = new Map(r.candidates.map((c) => [scheduleKey(c.schedule), c]));
    let bestBefore = Infinity;
    for (const key of order) {
      const c = byKey.get(key)!;
      if (c.status !== 'measured') continue;
      if (c.times!.length === 1) expect(c.ms!, key).toBeGreaterThan(2 * bestBefore);
      else expect(c.times, key).toHaveLength(4);
      bestBefore = Math.min(bestBefore, c.ms!);
    }
  }, 120_000);

  it('stops at the time budget with the best so far', async () => {
    const r = await tune({ backend, program, dims: DIMS, cache: false, reps: 2, budgetMs: 1, checkDims: { batch: 1, dim: 2, seqlen: 33, ngroups: 1 } });
    expect(r.budgetExhausted).toBe(true);
    expect(r.entry.measured).toBe(1);
  }, 60_000);
});
