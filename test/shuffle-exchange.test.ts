// The state-lanes form with `shuffle` 1 (lower/shuffle-exchange.ts): step
// values and partial sums stay in registers. With one lane per row (the only
// width the CPU adapter runs: it has no subgroups) a thread holds a whole row;
// kernels run here against the float64 reference (inputs fresh, outputs
// poisoned with NaN) at lengths around the chunk, with every optional input
// and state in/out, unaligned lengths (no vector access at all), rows past
// the end, in the uniform form (double-buffered B/C tiles) and the general
// one, and on the other programs the diagonal scan takes. Lanes 2 and more
// need subgroup shuffles: their plans and WGSL/CUDA spelling are checked
// here, their runs on the H100 (bench/device-check.ts, RESULTS runs 49–52).

import { describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { caseFrom, expectCasePasses } from './helpers/check.ts';
import { expectCutEqualsWhole, expectExamplePasses, itPassesEach, type FormCase } from './helpers/diagonal-forms.ts';
import { useExample } from './helpers/example.ts';
import { expectUniformRunsInRows, expectUniformWrongWhereRowsStraddle, uniformBranch } from './helpers/uniform-form.ts';

const GPU_TIMEOUT = 120_000;
const ex = useExample('mamba1', GPU_TIMEOUT);

const caseOf = caseFrom({ present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 1, dims: { batch: 2, dim: 6, seqlen: 100, dstate: 16, ngroups: 2 } });
const one = (items: number, rows: number, rowBlock = 1): Schedule => ({ threads: 1, lanes: 1, shuffle: 1, items, rows, rowBlock });
const label = (s: Schedule): string => `l${s.lanes}i${s.items}${(s.rows ?? 1) > 1 ? `r${s.rows}` : ''}${(s.rowBlock ?? 1) > 1 ? `k${s.rowBlock}` : ''}${(s.tileChunks ?? 1) > 1 ? `m${s.tileChunks}` : ''}${(s.prefetch ?? 0) > 0 ? `f${s.prefetch}` : ''}${s.stage ? 'a' : ''}s`;
/** tileChunks M: the tiles span M chunks (one fill and barrier per M chunks); prefetch: a hint WGSL drops (the plan keeps it). */
const span = (items: number, rows: number, M: number, rowBlock = 1): Schedule => ({ ...one(items, rows, rowBlock), tileChunks: M, prefetch: 1 });
/** stage 1: the step inputs copied into workgroup memory a chunk ahead (plain copies on WGSL, the same plan). */
const staged = (s: Schedule): Schedule => ({ ...s, stage: 1 });
const text = (x: unknown): string => JSON.stringify(x);

describe('one lane per row (shuffle 1) on the CPU adapter vs the float64 reference', () => {
  const cases: FormCase[] = [
    { name: 'rows straddle groups (dim 6, ngroups 2): uniform and general workgroups', schedule: one(8, 2), spec: { dims: { seqlen: 1000 } } },
    { name: 'ngroups 1, dim 8, rows 4: every workgroup uniform, tiles double-buffered', schedule: one(8, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 300 } } },
    { name: 'seqlen 1', schedule: one(8, 2), spec: { dims: { seqlen: 1 } } },
    { name: 'seqlen 8 = one full chunk', schedule: one(8, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 8 } } },
    { name: 'seqlen 9: one full chunk and one step', schedule: one(8, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 9 } } },
    { name: 'seqlen 4096, long, vector loads and stores in every chunk', schedule: one(16, 2), spec: { dims: { batch: 1, dim: 2, ngroups: 1, seqlen: 4096 } } },
    // (Rows 8: llvmpipe ends a shader's loops after 65 535 iterations in all, and the last-chunk copy's
    // element fills take 256 / rows of them per chunk.)
    { name: 'seqlen 4097: not a multiple of 4, so no chunk takes vector accesses', schedule: one(8, 8), spec: { dims: { batch: 1, dim: 8, ngroups: 1, seqlen: 4097 } } },
    { name: 'batch 3, dim 5, rows 4: workgroups straddle batches, the last holds rows past the end', schedule: one(4, 4), spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 77 } } },
    { name: 'items 3: a chunk of 3 steps, one step per phase-B group', schedule: one(3, 2), spec: { dims: { seqlen: 50 } } },
    { name: 'items 2: two steps per phase-B group, 8-byte vectors', schedule: one(2, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 64 } } },
    { name: 'items 6: 16-byte groups that do not tile a lane\'s steps (their alignment checked at run time)', schedule: one(6, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 96 } } },
    { name: 'dstate 5: fewer state elements than a vector', schedule: one(4, 2), spec: { dims: { dstate: 5, seqlen: 50 } } },
    { name: 'no optional input, no initial or final state', schedule: one(8, 2), spec: { present: [], initStates: [], finalStates: [], dims: { seqlen: 150 } } },
    { name: 'D only, final state only', schedule: one(8, 2), spec: { present: ['D'], initStates: [], dims: { seqlen: 150 } } },
    { name: 'z and delta_bias, initial state only', schedule: one(4, 4), spec: { present: ['z', 'delta_bias'], finalStates: [], dims: { seqlen: 90 } } },
    // rowBlock: a thread serves K rows; the tile values it reads serve all K.
    // (Items 4 at most: llvmpipe takes seconds to compile the unrolled phase B of K rows.)
    { name: 'rowBlock 2, rows straddle groups: uniform and general workgroups', schedule: one(4, 2, 2), spec: { dims: { seqlen: 100 } } },
    { name: 'rowBlock 2, ngroups 1, dim 8: every workgroup uniform', schedule: one(4, 2, 2), spec: { dims: { dim: 8, ngroups: 1, seqlen: 100 } } },
    { name: 'rowBlock 2, batch 3, dim 5: blocks straddle batches, the last rows past the end', schedule: one(4, 2, 2), spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 77 } } },
    { name: 'rowBlock 3, dim 8 in 2 groups: blocks of 3 rows straddle groups', schedule: one(2, 2, 3), spec: { dims: { batch: 2, dim: 8, ngroups: 2, seqlen: 61 } } },
    { name: 'rowBlock 2, seqlen 4097: no vector access in any chunk', schedule: one(4, 4, 2), spec: { dims: { batch: 1, dim: 8, ngroups: 1, seqlen: 4097 } } },
    { name: 'rowBlock 2, no optional input, no state', schedule: one(4, 2, 2), spec: { present: [], initStates: [], finalStates: [], dims: { dim: 8, ngroups: 1, seqlen: 150 } } },
    // tileChunks: the tiles of one fill serve several chunks; the last span may end in a full chunk, a short one, or both.
    { name: 'tileChunks 4, seqlen 90: the last span holds two full chunks and a short one', schedule: span(4, 4, 4), spec: { dims: { dim: 8, ngroups: 1, seqlen: 90 } } },
    { name: 'tileChunks 2, rows straddle groups: uniform and general workgroups', schedule: span(8, 2, 2), spec: { dims: { seqlen: 1000 } } },
    { name: 'tileChunks 3 (not a power of two), rowBlock 2, batch 3, dim 5: rows past the end', schedule: span(4, 2, 3, 2), spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 77 } } },
    { name: 'tileChunks 4, seqlen 4097: no vector access, the last span one step', schedule: span(4, 8, 4), spec: { dims: { batch: 1, dim: 8, ngroups: 1, seqlen: 4097 } } },
    { name: 'tileChunks 2, seqlen 5: one short chunk', schedule: span(4, 4, 2), spec: { dims: { dim: 8, ngroups: 1, seqlen: 5 } } },
    // stage: a full chunk reads its inputs where the chunk before copied them (the first copies its own); a copy
    // for a chunk that is not full is never read.
    { name: 'stage, tileChunks 2, seqlen 92: eleven full chunks, the copies for the short last one go unread', schedule: staged(span(8, 4, 2)), spec: { dims: { dim: 8, ngroups: 1, seqlen: 92 } } },
    { name: 'stage, rows straddle groups: uniform and general workgroups', schedule: staged(one(8, 2)), spec: { dims: { seqlen: 1000 } } },
    { name: 'stage, seqlen 8: one full chunk, which copies its own inputs', schedule: staged(one(8, 4)), spec: { dims: { dim: 8, ngroups: 1, seqlen: 8 } } },
    { name: 'stage, seqlen 16: two full chunks, the second reads the first one\'s copies', schedule: staged(one(8, 4)), spec: { dims: { dim: 8, ngroups: 1, seqlen: 16 } } },
    { name: 'stage, rowBlock 2, batch 3, dim 5: rows past the end copy clamped rows', schedule: staged(span(4, 2, 2, 2)), spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 80 } } },
    { name: 'stage, seqlen 4097: no chunk aligned, nothing staged', schedule: staged(span(4, 8, 4)), spec: { dims: { batch: 1, dim: 8, ngroups: 1, seqlen: 4097 } } },
    { name: 'stage, items 6: loads whose alignment is checked at run time are not staged', schedule: staged(one(6, 4)), spec: { dims: { dim: 8, ngroups: 1, seqlen: 96 } } },
  ];
  itPassesEach(() => ex.runner, caseOf, cases, label, ({ spec, schedule }) => 5 * (schedule.items ?? 1) + (spec.dims?.seqlen ?? 0), GPU_TIMEOUT);

  it('a sequence cut in two pieces mid-chunk (final state → initial state) equals the uncut run', async () => {
    await expectCutEqualsWhole(ex.runner, ex.p, caseOf({ dims: { batch: 2, dim: 4, seqlen: 200, dstate: 16, ngroups: 1 }, seed: 13 }), one(8, 4), 75);
  }, GPU_TIMEOUT);

  it('the same with rowBlock 2', async () => {
    await expectCutEqualsWhole(ex.runner, ex.p, caseOf({ dims: { batch: 2, dim: 8, seqlen: 200, dstate: 16, ngroups: 1 }, seed: 17 }), one(4, 2, 2), 75);
  }, GPU_TIMEOUT);
});

describe('the uniform form with shuffles', () => {
  const dims = { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 };
  const schedule = one(8, 2);

  it('stages B and C as double-buffered tiles behind one barrier per chunk; the general form has neither', () => {
    const sp = specializeFor(ex.p, fullVariant(ex.p), dims, 'f32');
    const { plan } = compileKernel(sp, 'wgsl', schedule, { subgroups: false, sharedBytes: 32 * 1024 });
    const branch = uniformBranch(plan.body)!;
    expect(text(branch.then)).toMatch(/"arr":"tileu0"/);
    expect(text(branch.then)).toMatch(/"name":"tb"/);
    expect(text(branch.else)).not.toMatch(/tileu|"k":"barrier"/);
    const barriers = (x: unknown): number => (text(x).match(/"k":"barrier"/g) ?? []).length;
    // One in the full chunk's copy, one in the last chunk's.
    expect(barriers(branch.then)).toBe(2);
    expect(plan.shared.find((a) => a.name === 'tileu0')!.size).toBe(2 * 16 * (8 + 4));
    expect(plan.shared.some((a) => a.name.startsWith('red') || a.name.startsWith('stage'))).toBe(false);
  });

  it('runs exactly in the workgroups whose rows agree on batch and group (emptied, they leave NaN there)', async () => {
    await expectUniformRunsInRows(ex.gpu, ex.p, caseOf({ dims, schedule, seed: 3 }), 2 * 2 * 2);
  }, GPU_TIMEOUT);

  it('is wrong where rows straddle groups: forced everywhere it fails the check; the general form alone passes', async () => {
    await expectUniformWrongWhereRowsStraddle(ex.gpu, ex.p, caseOf({ dims, schedule, seed: 5 }));
  }, GPU_TIMEOUT);
});

describe('the knob', () => {
  const sp = (dtype: 'f32' | 'bf16' = 'f32'): ReturnType<typeof specializeFor> => specializeFor(ex.p, fullVariant(ex.p), { batch: 2, dim: 64, seqlen: 64, dstate: 16, ngroups: 1 }, dtype);

  it('lanes > 1 need subgroup shuffles: refused without them, named for what to use instead', () => {
    expect(() => compileKernel(sp(), 'wgsl', { threads: 1, items: 4, lanes: 2, shuffle: 1 }, { subgroups: false })).toThrow('lanes 2 with shuffle 1 need subgroup shuffles, which this target lacks (use lanes 1, or shuffle 0)');
    expect(() => compileKernel(sp(), 'wgsl', { threads: 1, items: 4, lanes: 8, shuffle: 1 }, { subgroups: true })).toThrow('lanes 8 with shuffle 1 exceed the 4 lanes a subgroup shuffle reaches on this target');
  });

  it('rowBlock K with lanes > 1: each lane reads a tile value once for its K rows, and shuffles per row', () => {
    const k1 = compileKernel(sp(), 'cuda', { threads: 1, items: 4, lanes: 4, rows: 16, shuffle: 1 }, { subgroups: true });
    const k2 = compileKernel(sp(), 'cuda', { threads: 1, items: 4, lanes: 4, rows: 16, shuffle: 1, rowBlock: 2 }, { subgroups: true });
    expect(k2.kernel.entry).toMatch(/_l4i4r16k2s$/);
    expect(k2.plan.grid.rowsPerGroup).toBe(32);
    const count = (src: string, re: RegExp): number => (src.match(re) ?? []).length;
    // Tile reads (16-byte workgroup loads) stay as many; shuffles double (each row's values and sums).
    const tileReads = /reinterpret_cast<const float4\*>\(tileu/g;
    expect(count(k2.kernel.source, tileReads)).toBe(count(k1.kernel.source, tileReads));
    expect(count(k2.kernel.source, /__shfl_xor_sync/g)).toBe(2 * count(k1.kernel.source, /__shfl_xor_sync/g));
  });

  it('tileChunks M: tiles span M chunks, filled (and waited for) only by the chunk that starts a span', () => {
    const plan = (M: number): ReturnType<typeof compileKernel>['plan'] => compileKernel(sp(), 'wgsl', { ...one(8, 4), tileChunks: M }, { subgroups: false, sharedBytes: 32 * 1024 }).plan;
    const m1 = plan(1), m4 = plan(4);
    expect(m1.shared.find((a) => a.name === 'tileu0')!.size).toBe(2 * 16 * (8 + 4));
    expect(m4.shared.find((a) => a.name === 'tileu0')!.size).toBe(2 * 16 * (32 + 4));
    const branch = uniformBranch(m4.body)!;
    // The fills and the barrier sit under "this chunk starts a span", in the full and the last chunk's copies.
    const gated = (text(branch.then).match(/"c":\{"k":"bin","op":"==","a":\{"k":"bin","op":"%","a":\{"k":"var","name":"c0"\},"b":\{"k":"lit","ty":"i32","v":32\}\}/g) ?? []).length;
    expect(gated).toBe(4);
    expect(text(uniformBranch(m1.body)!.then)).not.toMatch(/"v":32\}\},"b":\{"k":"lit","ty":"i32","v":0\}/);
    expect(() => compileKernel(sp(), 'wgsl', { threads: 32, items: 4, tileChunks: 2 }, { subgroups: false })).not.toThrow(); // the chunked scan ignores it
    // Without shuffles the form refills its arrays every chunk: tileChunks is ignored (the tuner renders such points once).
    const noShuffle = { threads: 1, items: 4, lanes: 4, rows: 16 };
    expect(compileKernel(sp(), 'cuda', { ...noShuffle, tileChunks: 2, prefetch: 1, scatter: 1 }, { subgroups: true }).kernel.source).toBe(compileKernel(sp(), 'cuda', noShuffle, { subgroups: true }).kernel.source);
    expect(() => compileKernel(sp(), 'cuda', { ...one(4, 4), tileChunks: 1.5 }, { subgroups: true })).toThrow('tileChunks must be a positive integer, got 1.5');
  });

  it('prefetch 1 (CUDA): each full chunk asks L2 for the next chunk\'s u, delta and z, and reads them with 128-byte L2 fetches', () => {
    const src = compileKernel(sp(), 'cuda', { threads: 1, items: 4, lanes: 4, rows: 16, rowBlock: 2, shuffle: 1, tileChunks: 4, prefetch: 1 }, { subgroups: true }).kernel.source;
    for (const buf of ['u', 'delta', 'z']) {
      expect(src, buf).toMatch(new RegExp(`prefetch\\.global\\.L2::evict_last \\[%0\\];" :: "l"\\(${buf} \\+ \\(\\(\\(\\w+ \\+ tsa0\\) \\+ 16\\)\\)\\)`));
      expect(src, buf).toMatch(new RegExp(`ld\\.global\\.nc\\.L2::128B\\.v4\\.u32 \\{%0, %1, %2, %3\\}, \\[%4\\];" : .* : "l"\\(${buf} \\+ `));
    }
    // Only where the chunk ahead lies inside the sequence.
    expect(src).toMatch(/if \(\(\(c0 \+ 32\) <= seqlen\)\) \{\n\s+asm volatile\("prefetch\.global\.L2::evict_last/);
    // The outputs stream past the lines fetched ahead (evicted first).
    expect(src).toMatch(/__stcs\(reinterpret_cast<uint4\*>\(y \+ /);
    const plain = compileKernel(sp(), 'cuda', { threads: 1, items: 4, lanes: 4, rows: 16, rowBlock: 2, shuffle: 1, tileChunks: 4 }, { subgroups: true }).kernel.source;
    expect(plain).not.toMatch(/prefetch|L2::128B|__stcs/);
  });

  it('stage 1 (CUDA): u, delta and z by cp.async into per-thread slots a chunk ahead, read there; WGSL copies them in place', () => {
    const sched = { threads: 1, items: 4, lanes: 4, rows: 16, rowBlock: 2, shuffle: 1, tileChunks: 4, prefetch: 1, scatter: 1 };
    const base = compileKernel(sp(), 'cuda', sched, { subgroups: true });
    const info = compileKernel(sp(), 'cuda', { ...sched, stage: 1 }, { subgroups: true });
    expect(info.kernel.entry).toMatch(/_l4i4r16k2m4f1axs$/);
    const src = info.kernel.source;
    // Two rows × u, delta, z: six 16-byte slots per thread (64 threads).
    expect(info.kernel.sharedBytes - base.kernel.sharedBytes).toBe(6 * 64 * 16);
    for (const buf of ['u', 'delta', 'z']) {
      // This chunk's (the first chunk only) and the next one's, valid where that chunk is full.
      expect(src, buf).toMatch(new RegExp(`cp\\.async\\.cg\\.shared\\.global\\.L2::128B \\[%0\\], \\[%1\\], 16, %2;" :: "r"\\(\\(unsigned\\)__cvta_generic_to_shared\\(stg\\d \\+ \\(\\(\\(int\\)threadIdx\\.x \\* 4\\)\\)\\)\\), "l"\\(cv \\? ${buf} \\+ \\(\\(\\(\\w+ \\+ tsa0\\) \\+ 16\\)\\)`));
      expect(src, buf).not.toMatch(new RegExp(`ld\\.global\\.nc\\.L2::128B\\.v4\\.u32 .* "l"\\(${buf} \\+ `));
    }
    expect(src).toMatch(/const bool cv = \(\(c0 \+ 32\) <= seqlen\);/);
    expect(src).toMatch(/if \(\(c0 == 0\)\) \{\n(\s+\{\n\s+const bool cv = true;\n.*\n\s+\}\n){6}\s+asm volatile\("cp\.async\.commit_group;"/);
    // Per chunk loop (uniform, general): the full chunk waits before its reads, the last chunk for what is in flight.
    expect((src.match(/cp\.async\.wait_group 0;/g) ?? []).length).toBe(4);
    expect((src.match(/reinterpret_cast<const float4\*>\(stg\d/g) ?? []).length).toBe(2 * 6);
    expect(src).toMatch(/__stcs\(reinterpret_cast<uint4\*>\(y \+ /);
    // bf16: 8-byte copies into narrow slots.
    const bf = compileKernel(sp('bf16'), 'cuda', { ...sched, stage: 1 }, { subgroups: true });
    expect(bf.kernel.source).toMatch(/cp\.async\.ca\.shared\.global\.L2::128B \[%0\], \[%1\], 8, %2;/);
    expect(bf.kernel.sharedBytes - compileKernel(sp('bf16'), 'cuda', sched, { subgroups: true }).kernel.sharedBytes).toBe(6 * 64 * 8);
    // WGSL has no asynchronous copies: the same plan copies at once (and runs on the CPU adapter above).
    const wgsl = compileKernel(sp(), 'wgsl', { ...one(8, 4), stage: 1 }, { subgroups: false, sharedBytes: 32 * 1024 });
    expect(wgsl.kernel.source).toMatch(/stg0\[/);
    // 8 steps a lane: two 16-byte loads of each of u, delta and z, a slot each.
    expect(wgsl.plan.shared.filter((a) => a.name.startsWith('stg'))).toHaveLength(6);
  });

  it('scatter 1: the sums by reduce-scatter (3 shuffles per 4 steps and lane, not 8), only where lanes divide items', () => {
    const count = (src: string): number => (src.match(/__shfl_xor_sync/g) ?? []).length;
    const base = { threads: 1, items: 4, lanes: 4, rows: 16, shuffle: 1 };
    const butterfly = compileKernel(sp(), 'cuda', base, { subgroups: true }).kernel.source;
    const scatter = compileKernel(sp(), 'cuda', { ...base, scatter: 1 }, { subgroups: true }).kernel.source;
    expect(compileKernel(sp(), 'cuda', { ...base, scatter: 1 }, { subgroups: true }).kernel.entry).toMatch(/_l4i4r16xs$/);
    // Per chunk copy (full and last, uniform and general): 16 steps × 2 butterfly shuffles, against 4 × 3 and 3 to regroup.
    expect(count(butterfly)).toBe(4 * 16 * 2);
    expect(count(scatter)).toBe(4 * (4 * 3 + 3));
    expect(() => compileKernel(sp(), 'cuda', { threads: 1, items: 2, lanes: 4, rows: 16, shuffle: 1, scatter: 1 }, { subgroups: true })).toThrow('scatter needs lanes (4) to divide items (2)');
  });

  it('lanes 1 with shuffle 0 is the chunked scan; with shuffle 1 the state-lanes form, one lane per row', () => {
    const chunked = compileKernel(sp(), 'cuda', { threads: 32, items: 2, lanes: 1, shuffle: 0 }, { subgroups: true });
    expect(chunked.kernel.source).toBe(compileKernel(sp(), 'cuda', { threads: 32, items: 2 }, { subgroups: true }).kernel.source);
    const info = compileKernel(sp(), 'cuda', { threads: 32, items: 8, lanes: 1, shuffle: 1, rows: 32 }, { subgroups: true });
    expect(info.kernel.entry).toMatch(/_l1i8r32s$/);
    expect(info.kernel.workgroupSize).toBe(32);
    expect(info.plan.usesSubgroups).toBe(false);
    expect(info.kernel.source).not.toMatch(/__shfl/);
  });

  it('lanes 2: step values from their owner lane, partials added by xor shuffles; WGSL spells them with subgroups', () => {
    const cuda = compileKernel(sp(), 'cuda', { threads: 1, items: 4, lanes: 2, shuffle: 1, rows: 32 }, { subgroups: true });
    expect(cuda.plan.usesSubgroups).toBe(true);
    expect(cuda.kernel.source).toMatch(/__shfl_sync\(0xffffffffu, \w+, 1, 2\)/);
    expect(cuda.kernel.source).toMatch(/__shfl_xor_sync\(0xffffffffu, part0_0, 1\)/);
    const wgsl = compileKernel(sp(), 'wgsl', { threads: 1, items: 4, lanes: 2, shuffle: 1, rows: 32 }, { subgroups: true, subgroupSize: 32, sharedBytes: 32 * 1024 });
    expect(wgsl.kernel.source).toMatch(/^enable subgroups;/);
    expect(wgsl.kernel.source).toMatch(/subgroupShuffle\(\w+, \(sg_lane \/ 2u\) \* 2u \+ u32\(1i\)\)/);
    expect(wgsl.kernel.source).toMatch(/subgroupShuffleXor\(part0_0, u32\(1i\)\)/);
  });

  it('full chunks store y 16 bytes at a time (CUDA f32 and bf16; WGSL binds y as vec4), proven aligned by one check', () => {
    const f32 = compileKernel(sp(), 'cuda', one(8, 32), { subgroups: true }).kernel.source;
    expect(f32).toMatch(/\*reinterpret_cast<uint4\*>\(y \+ \(\(\w+ \+ tsa0\)\)\) = make_uint4\(__float_as_uint/);
    expect(f32).toMatch(/\*reinterpret_cast<uint4\*>\(y \+ \(\(\w+ \+ tsa4\)\)\)/);
    const bf16 = compileKernel(sp('bf16'), 'cuda', one(8, 32), { subgroups: true }).kernel.source;
    expect(bf16).toMatch(/\*reinterpret_cast<uint4\*>\(y \+ \(\(\w+ \+ tsa0\)\)\) = make_uint4\(\(\(unsigned\)__bfloat16_as_ushort\(__float2bfloat16_rn/);
    const wgsl = compileKernel(sp(), 'wgsl', one(8, 4), { subgroups: false }).kernel.source;
    expect(wgsl).toMatch(/var<storage, read_write> y: array<vec4<f32>>/);
    expect(wgsl).toMatch(/y\[\(\(\w+ \+ tsa0\)\) \/ 4\] = vec4<f32>\(/);
    expect(wgsl).toMatch(/\(seqlen % 4i\) == 0i|\(P\.seqlen % 4i\) == 0i/);
  });
});

describe('other programs the diagonal scan takes, one lane per row', () => {
  const programs: { file: string; dims: Record<string, number>; schedule: Schedule }[] = [
    { file: 'gla', dims: { batch: 1, seqlen: 45, nheads: 2, headdim: 3, dkey: 8 }, schedule: one(4, 2) },
    { file: 's4d', dims: { batch: 2, dim: 3, seqlen: 70, dstate: 16 }, schedule: one(8, 2) },
    { file: 'retnet', dims: { batch: 1, seqlen: 40, nheads: 2, headdim: 3, dkey: 8 }, schedule: one(2, 3) },
  ];
  for (const { file, dims, schedule } of programs) {
    it(`${file}, ${label(schedule)}`, () => expectExamplePasses(ex.gpu, file, dims, schedule, label(schedule), 7), GPU_TIMEOUT);
  }

  it('Mamba-2 forced onto the diagonal scan (head axis promoted), one lane per row', async () => {
    const m2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const r = await expectCasePasses(new ProgramRunner(ex.gpu, m2, { tuned: false }), {
      dims: { batch: 2, seqlen: 77, nheads: 4, headdim: 8, ngroups: 2, dstate: 8 }, present: m2.inputs.filter((t) => t.optional && t.name !== 'D_hp').map((t) => t.name),
      initStates: ['S'], finalStates: ['S'], seed: 9, schedule: { ...one(4, 4), lowering: 'diagonal-scan' },
    });
    expect(r.kernel).toMatch(/_l1i4r4s$/);
  }, GPU_TIMEOUT);
});
