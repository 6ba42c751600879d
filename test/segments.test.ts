// The state-lanes form with the sequence split into segments (lower/segments.ts):
// a summary launch (each segment's end state from zero and its decay
// product), a pass over the segments, and the outputs launch from each
// segment's true entering state. Run here on the CPU adapter against the
// float64 reference (fresh inputs, outputs poisoned with NaN): lengths that
// are not multiples of the segment, one segment, a sequence shorter than a
// segment, a segment of one chunk, tile spans and staged inputs, rows past
// the end, the shared form, initial and final states present and absent,
// and programs with promoted axes and two states. CUDA spelling: nvcc in
// test/state-lanes-cuda.test.ts; runs on the H100: bench/device-check.ts.

import { describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { caseFrom, expectCasePasses } from './helpers/check.ts';
import { wrapBackend } from './helpers/backend.ts';
import { randomInputs } from '../runtime/check.ts';
import { expectCutEqualsWhole, expectExamplePasses, itPassesEach, type FormCase } from './helpers/diagonal-forms.ts';
import { useExample } from './helpers/example.ts';

const GPU_TIMEOUT = 120_000;
const ex = useExample('mamba1', GPU_TIMEOUT);

const caseOf = caseFrom({ present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 1, dims: { batch: 2, dim: 6, seqlen: 100, dstate: 16, ngroups: 2 } });
/** One lane per row with shuffles (the only shuffle width the CPU adapter runs), split into segments of `segment` steps. */
const one = (items: number, rows: number, segment: number, extra: Partial<Schedule> = {}): Schedule => ({ threads: 1, lanes: 1, shuffle: 1, items, rows, segment, ...extra });
/** The first launch's name: the form's letters, g and the segment, _a (the summary). */
const label = (s: Schedule): string =>
  `l${s.lanes}i${s.items}${(s.rows ?? 1) > 1 ? `r${s.rows}` : ''}${(s.rowBlock ?? 1) > 1 ? `k${s.rowBlock}` : ''}${(s.tileChunks ?? 1) > 1 ? `m${s.tileChunks}` : ''}${s.stage ? 'a' : ''}${s.shuffle ? 's' : ''}g${s.segment}_a`;

describe('split sequences on the CPU adapter vs the float64 reference', () => {
  const cases: FormCase[] = [
    { name: 'seqlen 100 in segments of 16: six whole and a short last one, rows straddle groups', schedule: one(8, 2, 16), spec: { dims: { seqlen: 100 } } },
    { name: 'seqlen 96: six whole segments, the last ends at the end', schedule: one(8, 2, 16), spec: { dims: { seqlen: 96 } } },
    { name: 'one segment (seqlen = segment): no summary, the pass hands the initial state on', schedule: one(8, 4, 64), spec: { dims: { dim: 8, ngroups: 1, seqlen: 64 } } },
    { name: 'seqlen 40 shorter than a segment of 64', schedule: one(8, 4, 64), spec: { dims: { dim: 8, ngroups: 1, seqlen: 40 } } },
    { name: 'a segment of one chunk (8 steps), seqlen 41', schedule: one(8, 4, 8), spec: { dims: { dim: 8, ngroups: 1, seqlen: 41 } } },
    { name: 'seqlen 1', schedule: one(8, 2, 8), spec: { dims: { seqlen: 1 } } },
    { name: 'seqlen 4097 (long, nothing aligned), segments of 512', schedule: one(8, 8, 512), spec: { dims: { batch: 1, dim: 8, ngroups: 1, seqlen: 4097 } } },
    { name: 'seqlen 2048, vector loads and stores in every chunk, segments of 512', schedule: one(8, 2, 512), spec: { dims: { batch: 1, dim: 2, ngroups: 1, seqlen: 2048 } } },
    { name: 'items 3 (chunks of 3 steps), segments of 12', schedule: one(3, 2, 12), spec: { dims: { seqlen: 50 } } },
    { name: 'tileChunks 2, stage: each segment\'s first chunk copies its own inputs', schedule: one(8, 4, 32, { tileChunks: 2, stage: 1 }), spec: { dims: { dim: 8, ngroups: 1, seqlen: 92 } } },
    { name: 'rowBlock 2, batch 3, dim 5: rows past the end, blocks straddle batches', schedule: one(4, 2, 16, { rowBlock: 2 }), spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 77 } } },
    { name: 'no optional input, no initial or final state', schedule: one(8, 2, 24), spec: { present: [], initStates: [], finalStates: [], dims: { seqlen: 150 } } },
    { name: 'final state only', schedule: one(8, 2, 24), spec: { initStates: [], dims: { seqlen: 150 } } },
    { name: 'initial state only', schedule: one(4, 4, 20), spec: { finalStates: [], dims: { seqlen: 90 } } },
    { name: 'the shared form (shuffle 0), lanes 4', schedule: { threads: 1, lanes: 4, items: 2, rows: 2, segment: 16 }, spec: { dims: { seqlen: 100 } } },
    // 4 row groups × 17 500 segments: more workgroups than a grid row holds (65 535), so the grid is a 65 535 × 2
    // rectangle and its last 61 070 workgroups lie past the segments: they must do nothing (no final state).
    { name: 'seqlen 70000 in segments of 4: the grid spills into a second row of padding workgroups', schedule: one(4, 4, 4), spec: { dims: { batch: 2, dim: 8, ngroups: 1, seqlen: 70000 } } },
  ];
  itPassesEach(() => ex.runner, caseOf, cases, label, ({ spec, schedule }) => 7 * (schedule.items ?? 1) + (spec.dims?.seqlen ?? 0), GPU_TIMEOUT);

  it('a sequence cut mid-segment (final state → initial state) equals the uncut run', async () => {
    await expectCutEqualsWhole(ex.runner, ex.p, caseOf({ dims: { batch: 2, dim: 4, seqlen: 200, dstate: 16, ngroups: 1 }, seed: 19 }), one(8, 4, 32), 75);
  }, GPU_TIMEOUT);
});

describe('a split whose launches pack different bindings', () => {
  it('uploads a tensor the outputs launch packs and the summary binds alone (9 storage buffers)', async () => {
    // With every optional input and states in and out the outputs launch binds 11 buffers and packs the small
    // read-only ones (A, D, delta_bias, …) into one; the summary binds 7 and packs none, so it needs A alone.
    const limited = wrapBackend(ex.gpu, { limits: { ...ex.gpu.limits, maxStorageBuffers: 9 } });
    const runner = new ProgramRunner(limited, ex.p, { tuned: false });
    const c = caseOf({ schedule: one(8, 2, 16), dims: { seqlen: 50 } });
    const prep = await runner.prepare(randomInputs(ex.p, c), { dims: c.dims, schedule: c.schedule, finalStates: c.finalStates });
    const [summary, , outputs] = prep.info.launches.map((l) => l.kernel.bindings);
    const packed = outputs!.find((b) => b.pack)?.pack ?? [];
    expect(summary!.some((b) => b.pack)).toBe(false);
    expect(summary!.map((b) => b.name).filter((n) => packed.includes(n)).length).toBeGreaterThan(0);
    await expectCasePasses(runner, c);
  }, GPU_TIMEOUT);
});

describe('other programs the diagonal scan takes, split', () => {
  const programs: { file: string; dims: Record<string, number>; schedule: Schedule }[] = [
    // Promoted state axes (the segment scratch has the promoted axis among its rows), and two states (C and nrm).
    { file: 'gla', dims: { batch: 1, seqlen: 45, nheads: 2, headdim: 3, dkey: 8 }, schedule: { threads: 1, items: 2, lanes: 4, rows: 2, segment: 16 } },
    { file: 'mlstm', dims: { batch: 1, seqlen: 50, nheads: 2, headdim: 3, dkey: 8 }, schedule: { threads: 1, items: 4, lanes: 1, rows: 2, shuffle: 1, segment: 12 } },
    { file: 's4d', dims: { batch: 2, dim: 3, seqlen: 70, dstate: 16 }, schedule: { threads: 1, items: 4, lanes: 1, rows: 2, shuffle: 1, segment: 20 } },
  ];
  for (const { file, dims, schedule } of programs) {
    it(`${file}, ${label(schedule)}`, () => expectExamplePasses(ex.gpu, file, dims, schedule, label(schedule), 11), GPU_TIMEOUT);
  }
});

describe('the plans', () => {
  const sp = (): ReturnType<typeof specializeFor> => specializeFor(ex.p, fullVariant(ex.p), { batch: 1, dim: 64, seqlen: 1024, dstate: 16, ngroups: 1 }, 'f32');
  const text = (x: unknown): string => JSON.stringify(x);
  const sched = { threads: 1, items: 4, lanes: 4, rows: 16, rowBlock: 2, shuffle: 1, tileChunks: 4, scatter: 1, stage: 1 };

  it('three launches over scratch [rows][segment][state][n]; the summary and outputs grids have a tile per segment', () => {
    const info = compileKernel(sp(), 'cuda', { ...sched, segment: 256 }, { subgroups: true });
    expect(info.launches.map((l) => l.kernel.entry.replace(/.*_/, ''))).toEqual(['a', 'b', 'c']);
    expect(info.launches[0]!.kernel.entry).toMatch(/_l4i4r16k2m4axsg256_a$/);
    expect(info.scratch).toEqual([
      { name: 'sf_seg_states', elem: 'f32', dims: ['batch', 'dim'], tiles: [{ dim: 'seqlen', size: 256 }], times: 16 },
      { name: 'sf_seg_decays', elem: 'f32', dims: ['batch', 'dim'], tiles: [{ dim: 'seqlen', size: 256 }], times: 16 },
    ]);
    for (const k of [0, 2]) expect(info.launches[k]!.gridTiles).toEqual([{ dim: 'seqlen', size: 256 }]);
    expect(info.launches[1]!.gridTiles).toEqual([]);
    expect(info.launches[1]!.gridFromDims).toEqual(['batch', 'dim', 'dstate']);
  });

  it('the summary stores no output and reads what only outputs need (C, z) nowhere; the outputs launch reads no initial state', () => {
    const [a, , c] = compileKernel(sp(), 'cuda', { ...sched, segment: 256 }, { subgroups: true }).launches;
    const reads = (plan: unknown, buf: string): boolean => new RegExp(`"k":"(v?load|acopy)","(buf|arr)":"${buf}"|"buf":"${buf}"`).test(text(plan));
    expect(text(a!.plan.body)).not.toMatch(/"k":"(v?store)","buf":"y"/);
    expect(reads(a!.plan.body, 'C')).toBe(false);
    expect(reads(a!.plan.body, 'z')).toBe(false);
    expect(reads(a!.plan.body, 'h_init')).toBe(false);
    expect(reads(c!.plan.body, 'h_init')).toBe(false);
    expect(text(c!.plan.body)).toMatch(/"buf":"y"/);
    // And binds only what it touches (storage-buffer slots are few on WebGPU); the outputs launch binds all but h_init.
    expect(a!.plan.buffers.map((b) => b.name)).toEqual(['u', 'delta', 'A', 'B', 'delta_bias', 'sf_seg_states', 'sf_seg_decays']);
    expect(a!.kernel.bindings.map((b) => b.name)).toEqual(a!.plan.buffers.map((b) => b.name));
    expect(c!.plan.buffers.map((b) => b.name)).toContain('y');
    // Staged inputs: u and delta for the summary (one row per slot whatever rowBlock), u, delta and z of 2 rows for the outputs.
    expect(a!.plan.shared.filter((x) => x.name.startsWith('stg'))).toHaveLength(2);
    expect(c!.plan.shared.filter((x) => x.name.startsWith('stg'))).toHaveLength(6);
    expect([a!.plan.grid.rowsPerGroup, c!.plan.grid.rowsPerGroup]).toEqual([16, 32]);
    // The split changes nothing without segments: the one-launch kernel is the one of before.
    expect(compileKernel(sp(), 'cuda', { ...sched, segment: 0 }, { subgroups: true }).kernel.source).toBe(compileKernel(sp(), 'cuda', sched, { subgroups: true }).kernel.source);
  });

  it('the segment must hold whole tile spans and a multiple of 4 steps; the chunked scan ignores it', () => {
    expect(() => compileKernel(sp(), 'cuda', { ...sched, segment: 96 }, { subgroups: true })).toThrow('segment must be a positive multiple of 64 (lanes × items × tileChunks = 64, and 4), got 96');
    expect(() => compileKernel(sp(), 'wgsl', one(3, 2, 6), { subgroups: false })).toThrow('segment must be a positive multiple of 12 (lanes × items × tileChunks = 3, and 4), got 6');
    const chunked = { threads: 32, items: 4 };
    expect(compileKernel(sp(), 'cuda', { ...chunked, segment: 256 }, { subgroups: true }).kernel.source).toBe(compileKernel(sp(), 'cuda', chunked, { subgroups: true }).kernel.source);
  });
});
