// Split-fp32 products for the SSD lowering's fp32 programs (Schedule.f32Products 'tf32x3'): each fp32 operand as two
// tf32 halves, three mma.sync m16n8k8 products per tile (render/cuda-mma.ts split32). Where it is offered and what it
// says where not, and its CUDA sources compiled offline with nvcc -arch=sm_90: every kernel builds without spills, the
// products are on the tensor cores, and kernels without them are unchanged. Running it is the device's
// (bench/mamba2-check.ts, bench/RESULTS.md run 151: rel. L2 ≤ 2e-6 against float64); it is CUDA's default for fp32
// SSD programs, with f32Products 'fma' asking for the FMA units and the FMA units where no split tiling fits.

import { describe, expect, it, beforeAll } from 'vitest';
import { compileKernel, type Schedule, type TargetCaps } from '../codegen/compile.ts';
import type { Program } from '../dsl/ir.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { loadProgram } from '../dsl/load.ts';
import type { RenderedKernel } from '../runtime/backend.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const STANDARD = { batch: 4, seqlen: 4096, nheads: 80, headdim: 64, ngroups: 1, dstate: 128 };
const H100: TargetCaps = { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 };
const SCHEDULES: { name: string; schedule: Schedule; launches: number }[] = [
  { name: 'fused t128 q32 p32', schedule: { threads: 128, items: 4, chunk: 32, headTile: 32 }, launches: 1 },
  { name: 'fused t256 q64', schedule: { threads: 256, items: 4, chunk: 64 }, launches: 1 },
  { name: 'chunk-parallel t256 q64 p32', schedule: { threads: 256, items: 4, chunk: 64, headTile: 32, ssdForm: 'chunked' }, launches: 3 },
];
const TF32 = 'mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32';

describe('Mamba-2 SSD, fp32 inputs, split-fp32 products (CUDA)', () => {
  let p: Program;
  const kernels: RenderedKernel[] = [];
  let reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    for (const c of SCHEDULES) {
      const info = compileKernel(specializeFor(p, fullVariant(p), STANDARD, 'f32'), 'cuda', { ...c.schedule, lowering: 'ssd', f32Products: 'tf32x3' }, H100);
      expect(info.launches).toHaveLength(c.launches);
      kernels.push(...info.launches.map((l) => l.kernel));
    }
    reports = nvcc ? compileCubins(kernels, 'sm_90') : Promise.resolve([]);
  }, 60_000);

  it('is CUDA\'s default for fp32 tensors, asked away by \'fma\', and refused where it cannot run', () => {
    const sp = (dtype: 'f32' | 'bf16') => specializeFor(p, defaultVariant(p), STANDARD, dtype);
    const s: Schedule = { threads: 128, items: 4, chunk: 32, lowering: 'ssd' };
    const split = compileKernel(sp('f32'), 'cuda', s, H100);
    expect(split.schedule.f32Products).toBe('tf32x3');
    expect(split.kernel.entry).toMatch(/_ssd_t128q32x$/);
    expect(split.kernel.source).toContain(TF32);
    expect(split.notes.join('\n')).toMatch(/fp32 products on the tensor cores as split tf32/);
    // Asked away: fp32 products on the FMA units, and no tf32 helper in the source.
    const fma = compileKernel(sp('f32'), 'cuda', { ...s, f32Products: 'fma' }, H100);
    expect(fma.kernel.source).not.toContain('sf_tf32_split');
    expect(fma.kernel.entry).toMatch(/_ssd_t128q32$/);
    // Not CUDA's tensor cores (WGSL; caps turning the matrix units off) or not fp32: no default, and asking is refused.
    expect(compileKernel(sp('f32'), 'wgsl', s, { subgroups: false }).schedule.f32Products).toBeUndefined();
    expect(compileKernel(sp('f32'), 'cuda', s, { ...H100, matrixUnits: false }).kernel.source).not.toContain('sf_tf32_split');
    expect(compileKernel(sp('bf16'), 'cuda', s, H100).schedule.f32Products).toBeUndefined();
    expect(() => compileKernel(sp('bf16'), 'cuda', { ...s, f32Products: 'tf32x3' }, H100)).toThrow(/f32Products 'tf32x3' cannot run mamba2_chunk_scan: it is for fp32 tensors/);
    expect(() => compileKernel(sp('bf16'), 'cuda', { ...s, f32Products: 'fma' }, H100)).toThrow(/f32Products 'fma' cannot run mamba2_chunk_scan: it is for fp32 tensors \(bf16\/f16 products are on the tensor cores\)/);
    // WGSL multiplies fp32 on its FMA units anyway: asked for, it is what runs.
    expect(compileKernel(sp('f32'), 'wgsl', { ...s, f32Products: 'fma' }, { subgroups: false }).kernel.entry).toMatch(/_ssd_t128q32$/);
    expect(() => compileKernel(sp('f32'), 'wgsl', { ...s, f32Products: 'tf32x3' }, { subgroups: false })).toThrow(/it is CUDA's/);
  });

  it('passes over narrow P tiles at chunk 64 (whole-N staging fits 4-byte operands only there)', () => {
    // P tiles of 2 with all of N staged ran 33 ms; N in tiles of 16 at P 32, 6 ms (bench/RESULTS.md run 151).
    for (const threads of [128, 256]) {
      const info = compileKernel(specializeFor(p, fullVariant(p), STANDARD, 'f32'), 'cuda', { threads, items: 4, chunk: 64, lowering: 'ssd', ssdForm: 'fused' }, H100);
      expect(info.schedule.f32Products).toBe('tf32x3');
      expect(info.rowsPerGroup).toBe(32);
    }
    // A P tile asked for is taken as asked; bf16 keeps its order.
    expect(compileKernel(specializeFor(p, fullVariant(p), STANDARD, 'f32'), 'cuda', { threads: 256, items: 4, chunk: 32, headTile: 8, lowering: 'ssd' }, H100).rowsPerGroup).toBe(8);
  });

  it('falls back to the FMA units where no split tiling fits, unless asked for', async () => {
    // Mamba-3 MIMO at 256 threads, chunk 32: the FMA tiling fits 96 KiB of workgroup memory, the split one (4-byte
    // operands) does not.
    const m3 = await loadProgram(new URL('../examples/mamba3_mimo.ts', import.meta.url).pathname);
    const sp = specializeFor(m3, fullVariant(m3), { batch: 8, seqlen: 4096, nheads: 32, nheads_qk: 32, headdim: 64, dstate: 128, angles: 32, rank: 4 }, 'f32');
    const s: Schedule = { threads: 256, items: 1, chunk: 32, lowering: 'ssd' };
    const info = compileKernel(sp, 'cuda', s, H100);
    expect(info.schedule.f32Products).toBeUndefined();
    expect(info.kernel.entry).toMatch(/_ssd_t256q32$/);
    expect(info.notes.join('\n')).toMatch(/fp32 products on the FMA units: no tiling of chunk 32/);
    expect(() => compileKernel(sp, 'cuda', { ...s, f32Products: 'tf32x3' }, H100)).toThrow(/no tiling of chunk 32/);
  });

  it('runs the chunk\'s products on the tensor cores, named apart', () => {
    for (const k of kernels) expect(k.entry).toMatch(/x(_[abc])?$/);
    // The chunk-parallel form's state launch (_a) keeps its products on a grid layout at this tile, as bf16 does; its
    // passing launch (_b) has none.
    for (const k of kernels.filter((x) => !/_[ab]$/.test(x.entry))) {
      expect(k.source).toContain(TF32);
      expect(k.source).toContain('sf_tf32_split(');
    }
  });

  it.skipIf(!nvcc)('nvcc -arch=sm_90 builds every kernel without spills', async () => {
    const rs = await reports;
    expect(rs).toHaveLength(kernels.length);
    rs.forEach((r) => {
      expect(r.code, r.log).toBe(0);
      expect(r.exportsEntry).toBe(true);
      expect(r.spillStores, r.log).toBe(0);
      expect(r.registers).toBeLessThanOrEqual(255);
    });
  }, 120_000);
});
