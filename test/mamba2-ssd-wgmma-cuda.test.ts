// The SSD walk on warpgroup products (ssdForm 'wgmma', lower/ssd-wgmma.ts, render/cuda-ssd-wgmma.ts) for Mamba-2, bf16 and f16:
// where it applies and what it says where it does not, and its CUDA sources compiled offline with nvcc
// -arch=sm_90a: every variant builds, exports its entry, and ptxas keeps the warpgroup products asynchronous
// (no C7512 "serialized" note) within the three-blocks-per-SM register cap. Running it is the device's
// (bench/mamba2-check.ts --forms=wgmma, RESULTS run 138).

import { describe, expect, it, beforeAll } from 'vitest';
import { compileKernel, type Schedule, type TargetCaps } from '../codegen/compile.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant } from '../dsl/specialize.ts';
import { loadProgram, loadPrograms } from '../dsl/load.ts';
import type { RenderedKernel } from '../runtime/backend.ts';
import { scratchElements, specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const DIMS = { batch: 2, seqlen: 300, nheads: 4, headdim: 64, ngroups: 2, dstate: 128 };
const WGMMA: Schedule = { threads: 128, items: 4, chunk: 64, ssdForm: 'wgmma', lowering: 'ssd' };
const H100: TargetCaps = { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024, warpgroupMma: true };

const VARIANTS: { name: string; variant: (p: Program) => Variant; dims?: Record<string, number> }[] = [
  { name: 'bare', variant: (p) => defaultVariant(p) },
  { name: 'D, z, dt_bias (the bench)', variant: (p) => ({ ...defaultVariant(p), present: ['D', 'z', 'dt_bias'] }) },
  { name: 'every input, states in and out', variant: (p) => ({ ...defaultVariant(p), present: ['D', 'D_hp', 'z', 'dt_bias'], initStates: ['S'], finalStates: ['S'] }) },
  { name: 'z without softplus', variant: (p) => ({ ...defaultVariant(p), present: ['z'], flags: { dt_softplus: false } }) },
  // P 128: two warpgroups per row (one block each); N 64: the state in m64n64 accumulators.
  { name: 'headdim 128, every input', variant: (p) => ({ ...defaultVariant(p), present: ['D', 'D_hp', 'z', 'dt_bias'], initStates: ['S'], finalStates: ['S'] }), dims: { ...DIMS, headdim: 128 } },
  { name: 'dstate 64, every input', variant: (p) => ({ ...defaultVariant(p), present: ['D', 'D_hp', 'z', 'dt_bias'], initStates: ['S'], finalStates: ['S'] }), dims: { ...DIMS, dstate: 64 } },
];

// f16: the bench's inputs and every input with states (its own packing, exact gates, σ folded every chunk).
const F16_VARIANTS = [VARIANTS[1]!, VARIANTS[2]!];

describe('Mamba-2 SSD on warpgroup products (CUDA sm_90a)', () => {
  let p: Program;
  const kernels: RenderedKernel[] = [];
  const f16Kernels: RenderedKernel[] = [];
  let reports: Promise<CubinReport[]>;
  let f16Reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    for (const c of VARIANTS) {
      const info = compileKernel(specializeFor(p, c.variant(p), c.dims ?? DIMS, 'bf16'), 'cuda', WGMMA, H100);
      expect(info.lowering).toBe('ssd');
      // G = C·Bᵀ once per group of heads in a first launch, then the walk.
      expect(info.launches.map((l) => l.kernel.entry.replace(/^.*_ssdw_/, ''))).toEqual(['t128q64_g', 't128q64']);
      kernels.push(...info.launches.map((l) => l.kernel));
    }
    for (const c of F16_VARIANTS) f16Kernels.push(...compileKernel(specializeFor(p, c.variant(p), c.dims ?? DIMS, 'f16'), 'cuda', WGMMA, H100).launches.map((l) => l.kernel));
    reports = nvcc ? compileCubins(kernels, 'sm_90a') : Promise.resolve([]);
    f16Reports = nvcc ? compileCubins(f16Kernels, 'sm_90a') : Promise.resolve([]);
  }, 60_000);

  it('is the default where the device has the products, refused with the reason where it is asked for and cannot run', () => {
    const sp = (dims: Record<string, number>, dtype: 'bf16' | 'f16' | 'f32' = 'bf16') => specializeFor(p, defaultVariant(p), dims, dtype);
    // The last launch's entry: the walk (after its first launch) or the fused kernel.
    const entry = (s: Schedule, dims = DIMS, caps = H100, dtype: 'bf16' | 'f32' = 'bf16') => compileKernel(sp(dims, dtype), 'cuda', s, caps).launches.at(-1)!.kernel.entry;
    // A schedule naming no form takes the walk at its tile (128 threads, chunk 64 or none given) on a device with it...
    const plain: Schedule = { threads: 128, items: 4, lowering: 'ssd' };
    expect(entry(plain)).toMatch(/_ssdw_t128q64$/);
    expect(compileKernel(sp(DIMS), 'cuda', plain, H100).schedule.ssdForm).toBe('wgmma');
    expect(compileKernel(sp(DIMS, 'f16'), 'cuda', plain, H100).launches.at(-1)!.kernel.entry).toMatch(/_ssdw_t128q64$/);
    expect(entry({ ...plain, chunk: 64 })).toMatch(/_ssdw_t128q64$/);
    // ...and the fused kernel at any other tile, where asked, on other devices, dtypes and sizes.
    expect(entry({ ...plain, chunk: 32 })).toMatch(/_ssd_t128q32$/);
    expect(entry({ ...plain, threads: 256 })).not.toMatch(/ssdw/);
    expect(entry({ ...plain, chunk: 64, ssdForm: 'fused' })).toMatch(/_ssd_t128q64$/);
    expect(entry(plain, DIMS, { ...H100, warpgroupMma: false })).not.toMatch(/ssdw/);
    expect(entry(plain, DIMS, H100, 'f32')).not.toMatch(/ssdw/);
    expect(entry(plain, { ...DIMS, headdim: 32 })).not.toMatch(/ssdw/);
    expect(compileKernel(sp(DIMS, 'f32'), 'wgsl', plain, { subgroups: true }).kernel.entry).not.toMatch(/ssdw/);
    // Asked for where it cannot run: refused, saying why.
    expect(() => compileKernel(sp(DIMS, 'f32'), 'cuda', WGMMA, H100)).toThrow(/ssdForm 'wgmma' cannot run mamba2_chunk_scan: it needs bf16 or f16 tensors/);
    expect(() => compileKernel(sp(DIMS), 'cuda', WGMMA, { ...H100, warpgroupMma: false })).toThrow(/no warpgroup matrix products \(sm_90a\)/);
    expect(() => compileKernel(sp(DIMS), 'wgsl', WGMMA, { subgroups: true })).toThrow(/it is CUDA's/);
    expect(() => compileKernel(sp({ ...DIMS, headdim: 32 }), 'cuda', WGMMA, H100)).toThrow(/P axis must be a multiple of 64 .* got 32/);
    expect(() => compileKernel(sp({ ...DIMS, dstate: 32 }), 'cuda', WGMMA, H100)).toThrow(/N axis must be 64 or 128 .* got 32/);
    expect(() => compileKernel(sp(DIMS), 'cuda', { ...WGMMA, chunk: 32 }, H100)).toThrow(/runs chunk 64 on 128 threads, got chunk 32/);
  });

  it('shares G between the heads of a group: a slot per (batch, group) where the heads split into whole groups, else per head', () => {
    const info = compileKernel(specializeFor(p, defaultVariant(p), DIMS, 'bf16'), 'cuda', WGMMA, H100);
    const [prep, walk] = info.launches;
    expect(prep!.gridTiles).toEqual([{ dim: 'seqlen', size: 64 }]);
    const G_FLOATS = 36 * 32 * 2;   // the 36 lower 8×8 blocks of a chunk's G, fp32
    expect(info.scratch).toEqual([{ name: 'sf_g', elem: 'f32', dims: ['batch', 'ngroups'], multiple: { dim: 'nheads', of: 'ngroups', otherwise: ['batch', 'nheads'] }, tiles: [{ dim: 'seqlen', size: 64 }], times: G_FLOATS }]);
    expect(scratchElements(info.scratch[0]!, { ...DIMS, seqlen: 300 })).toBe(2 * 2 * 5 * G_FLOATS);
    expect(scratchElements(info.scratch[0]!, { ...DIMS, seqlen: 300, nheads: 5 })).toBe(2 * 5 * 5 * G_FLOATS);
    expect(prep!.kernel.source).toContain('if ((((nheads % ngroups) == 0) ? ((ix_h % (nheads / ngroups)) == 0) : true)) {');
    expect(walk!.kernel.source).toContain('const int sf_gslot = (((nheads % ngroups) == 0) ? (((row / nheads) * ngroups) + (ix_h / (nheads / ngroups))) : row);');
    expect(walk!.kernel.source).not.toContain('sf_wgmma_g(G, ');   // the walk reads G, computes none
    expect(info.notes.join('\n')).toMatch(/2 launches in order, scratch sf_g/);
  });

  it('sizes the walk\'s shared memory for three blocks per SM and names the form', () => {
    const walks = kernels.filter((k) => !k.entry.endsWith('_g'));
    expect(walks).toHaveLength(VARIANTS.length);
    walks.forEach((k, at) => {
      const n = (VARIANTS[at]!.dims ?? DIMS).dstate!;
      expect(k.entry).toMatch(/_ssdw_t128q64$/);
      expect(k.workgroupSize).toBe(128);
      // C and B tiles (Q × N bf16 each), M, x and z/y tiles, the chunk's G from the first launch, its factors.
      expect(k.sharedBytes).toBe(n === 128 ? 70656 : 54272);
      expect(3 * (k.sharedBytes + 1024)).toBeLessThanOrEqual(228 * 1024);
      expect(k.source).toContain(`wgmma.mma_async.sync.aligned.m64n${n}k16.f32.bf16.bf16`);
      expect(k.source).toContain('__launch_bounds__(128, 3)');
    });
  });

  it('f16: its own products, packing and exact gates; σ folded into the state every chunk that decays', () => {
    const walks = f16Kernels.filter((k) => !k.entry.endsWith('_g'));
    expect(walks).toHaveLength(F16_VARIANTS.length);
    for (const k of f16Kernels) {
      expect(k.source).toContain('wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16');
      expect(k.source).not.toContain('.bf16');
    }
    // The kernel's body (after the helpers every walk defines).
    const body = (k: RenderedKernel): string => k.source.slice(k.source.indexOf('extern "C"'));
    for (const k of walks) {
      expect(body(k)).toContain('sf_wj[sf_l] = sf_pack_f16(');
      expect(body(k)).not.toContain('sf_pack_bf16(');
      expect(body(k)).toContain('const bool fold = next < 1.0f;');
      // z's gate is the dialect's exact silu, not the one-MUFU tanh form.
      expect(body(k)).not.toContain('sf_silu_t(');
      expect(k.sharedBytes).toBe(70656);
    }
    // bf16 keeps its running σ down to 2^-40 and its one-MUFU gates.
    const bf16Walk = kernels.filter((k) => !k.entry.endsWith('_g'))[1]!;
    expect(bf16Walk.source).toContain('const bool fold = next < 0x1p-40f;');
    expect(body(bf16Walk)).toContain('sf_silu_t(');
  });

  it.skipIf(!nvcc)('f16: nvcc -arch=sm_90a builds both launches of each variant, the products stay asynchronous', async () => {
    const rs = await f16Reports;
    expect(rs).toHaveLength(f16Kernels.length);
    for (const r of rs) {
      expect(r.code, r.log).toBe(0);
      expect(r.exportsEntry).toBe(true);
      expect(r.log).not.toMatch(/C7512|serialized/);
      expect(r.registers).toBeLessThanOrEqual(168);
      expect(r.spillStores).toBeLessThanOrEqual(64);
    }
  }, 120_000);

  VARIANTS.forEach((c, at) => {
    it.skipIf(!nvcc)(`${c.name}: nvcc -arch=sm_90a builds both launches, the products stay asynchronous`, async () => {
      for (const r of (await reports).slice(2 * at, 2 * at + 2)) {
        expect(r.code, r.log).toBe(0);
        expect(r.exportsEntry).toBe(true);
        expect(r.functions).toBe(1);
        expect(r.log).not.toMatch(/C7512|serialized/);
        expect(r.registers).toBeLessThanOrEqual(168);
        // ptxas keeps a few long-lived scalars in local memory at the 168-register cap: up to 64 bytes with the copy
        // loops rolled (RESULTS run 141: unrolled they spilled 176 bytes and ran 7% slower).
        expect(r.spillStores).toBeLessThanOrEqual(64);
      }
    }, 120_000);
  });
});

// Where G comes from when C and B are not Mamba-2's groups (test/fixtures/ssd-groupings.ts).
describe('SSD walk: G per head, or shared by every head', () => {
  const dims = { batch: 2, seqlen: 130, nheads: 3, headdim: 64, dstate: 128 };
  let built: { name: string; info: ReturnType<typeof compileKernel> }[] = [];
  let reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    const ps = await loadPrograms(new URL('./fixtures/ssd-groupings.ts', import.meta.url).pathname);
    built = ps.map((p) => ({ name: p.name, info: compileKernel(specializeFor(p, defaultVariant(p), dims, 'bf16'), 'cuda', WGMMA, H100) }));
    reports = nvcc ? compileCubins(built.flatMap((b) => b.info.launches.map((l) => l.kernel)), 'sm_90a') : Promise.resolve([]);
  }, 60_000);

  it('per head: one launch, the walk computes its own G, no scratch', () => {
    const { info } = built.find((b) => b.name === 'ssd_per_head')!;
    expect(info.launches).toHaveLength(1);
    expect(info.scratch).toEqual([]);
    expect(info.kernel.source).toContain('sf_wgmma_g(G, ');
    expect(info.kernel.sharedBytes).toBe(61440);
  });

  it('shared by every head: one G per (batch, chunk), a scratch without the head dim', () => {
    const { info } = built.find((b) => b.name === 'ssd_shared_bc')!;
    expect(info.launches.map((l) => l.kernel.entry.replace(/^.*_ssdw_/, ''))).toEqual(['t128q64_g', 't128q64']);
    expect(info.scratch).toEqual([{ name: 'sf_g', elem: 'f32', dims: ['batch'], tiles: [{ dim: 'seqlen', size: 64 }], times: 36 * 32 * 2 }]);
    expect(info.launches[0]!.kernel.source).toContain('if (((ix_h % nheads) == 0)) {');
    expect(info.launches[1]!.kernel.source).toContain('const int sf_gslot = (((row / nheads) * 1) + (ix_h / nheads));');
  });

  it.skipIf(!nvcc)('nvcc -arch=sm_90a builds every launch, the products stay asynchronous', async () => {
    const rs = await reports;
    expect(rs).toHaveLength(3);
    for (const r of rs) {
      expect(r.code, r.log).toBe(0);
      expect(r.log).not.toMatch(/C7512|serialized/);
      expect(r.registers).toBeLessThanOrEqual(168);
      expect(r.spillStores).toBeLessThanOrEqual(64);
    }
  }, 120_000);
});
