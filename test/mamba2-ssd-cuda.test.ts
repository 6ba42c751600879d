// The CUDA source of the SSD lowering for Mamba-2 (examples/mamba2.ts),
// compiled offline with nvcc -arch=sm_90: it builds, exports its entry,
// keeps everything in registers (ptxas: 0 bytes spilled), fits the shared
// memory the lowering budgets, and uses tensor cores (mma.sync m16n8k16)
// exactly when the tensors are bf16/f16. The standard shape (headdim 64,
// dstate 128) and a small one whose accumulators mix both layouts.

import { describe, expect, it, beforeAll } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { loadProgram } from '../dsl/load.ts';
import type { RenderedKernel } from '../runtime/backend.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const STANDARD = { batch: 4, seqlen: 4096, nheads: 80, headdim: 64, ngroups: 1, dstate: 128 };
const SMALL = { batch: 2, seqlen: 100, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 };

interface Case {
  name: string;
  dims: Record<string, number>;
  variant: (p: Program) => Variant;
  dtype: DType;
  schedule: Schedule;
}

const full = (p: Program): Variant => fullVariant(p);
const bare = (p: Program): Variant => defaultVariant(p);
const CASES: Case[] = [
  { name: 'standard / full / f32 / t256 q64', dims: STANDARD, variant: full, dtype: 'f32', schedule: { threads: 256, items: 4, chunk: 64 } },
  { name: 'standard / full / bf16 / t256 q64', dims: STANDARD, variant: full, dtype: 'bf16', schedule: { threads: 256, items: 4, chunk: 64 } },
  { name: 'standard / bare / bf16 / t128 q64', dims: STANDARD, variant: bare, dtype: 'bf16', schedule: { threads: 128, items: 4, chunk: 64 } },
  { name: 'standard / full / f16 / t256 q32', dims: STANDARD, variant: full, dtype: 'f16', schedule: { threads: 256, items: 4, chunk: 32 } },
  { name: 'standard / bare / f32 / t128 q32 / headTile 32', dims: STANDARD, variant: bare, dtype: 'f32', schedule: { threads: 128, items: 4, chunk: 32, headTile: 32, nTile: 128 } },
  { name: 'small / full / bf16 / t64 q32', dims: SMALL, variant: full, dtype: 'bf16', schedule: { threads: 64, items: 4, chunk: 32 } },
  // Whole-N staging with bf16 operands in shared memory (the bench's candidates), and Run 9's tiled staging.
  { name: 'standard / bare / bf16 / t128 q32 p32 (whole N)', dims: STANDARD, variant: bare, dtype: 'bf16', schedule: { threads: 128, items: 4, chunk: 32, headTile: 32, nTile: 128 } },
  { name: 'standard / full / bf16 / t256 q64 p32 (whole N)', dims: STANDARD, variant: full, dtype: 'bf16', schedule: { threads: 256, items: 4, chunk: 64, headTile: 32, nTile: 128 } },
  { name: 'standard / bare / bf16 / t128 q32 p32 n16 (tiles of 16)', dims: STANDARD, variant: bare, dtype: 'bf16', schedule: { threads: 128, items: 4, chunk: 32, headTile: 32, nTile: 16 } },
  { name: 'standard / full / f16 / t128 q64 n16', dims: STANDARD, variant: full, dtype: 'f16', schedule: { threads: 128, items: 4, chunk: 64, nTile: 16 } },
  // The register-state form at its measured best (bench/RESULTS.md run 68): 5 blocks of 128 threads per SM.
  { name: 'standard / full / bf16 / t128 q32 (default P tile)', dims: STANDARD, variant: full, dtype: 'bf16', schedule: { threads: 128, items: 4, chunk: 32 } },
];

describe('Mamba-2 SSD kernels for CUDA', () => {
  let p: Program;
  const kernels = new Map<string, RenderedKernel>();
  let reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    for (const c of CASES) {
      const sp = specializeFor(p, c.variant(p), c.dims, c.dtype);
      const info = compileKernel(sp, 'cuda', c.schedule, { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 });
      expect(info.lowering).toBe('ssd');
      kernels.set(c.name, info.kernel);
    }
    reports = nvcc ? compileCubins(CASES.map((c) => kernels.get(c.name)!)) : Promise.resolve([]);
  }, 60_000);

  for (const [k, c] of CASES.entries()) {
    it(`${c.name}: the source says what it is`, () => {
      const src = kernels.get(c.name)!;
      const elem = { f32: 'float', f16: '__half', bf16: '__nv_bfloat16' }[c.dtype];
      expect(src.source).toContain(`__launch_bounds__(${c.schedule.threads}`);
      expect(src.source).toContain(`const ${elem}* __restrict__ x`);
      expect(src.source).toContain(`${elem}* __restrict__ y`);
      // State in and out stay fp32.
      if (c.variant === full) expect(src.source).toContain('const float* __restrict__ S_init');
      else expect(src.source).not.toContain('S_init');
      // Tensor cores for bf16/f16 tensors (fp32 accumulation), plain fp32 FMA for fp32 (tolerance 1e-5 leaves no room for tf32).
      const mma = [...src.source.matchAll(/mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.(\w+)\.(\w+)\.f32/g)];
      if (c.dtype === 'f32') expect(mma).toHaveLength(0);
      else {
        expect(mma.length).toBeGreaterThan(0);
        for (const m of mma) expect(m[1]).toBe(c.dtype);
      }
      expect(src.sharedBytes).toBeLessThanOrEqual(96 * 1024);
      // The products' operands live in shared memory in the tensors' 16-bit type (read as packed pairs); fp32 keeps them f32.
      for (const arr of ['Xs', 'Ct', 'Wt', 'Ms']) {
        expect(src.source).toContain(c.dtype === 'f32' ? `float* ${arr} = ` : `${elem}* ${arr} = `);
      }
      // The state: with N staged in tiles, fp32 in shared memory; staged whole, in registers, with its operand copy in shared memory, narrow like the others.
      expect(src.source).toContain(c.dtype !== 'f32' && c.schedule.nTile !== 16 ? `${elem}* Ss = ` : 'float* Ss = ');
      // 16-bit operands reach the tensor cores through ldmatrix (rows 16-byte aligned: padded strides).
      if (c.dtype !== 'f32') expect(src.source).toMatch(/ldmatrix\.sync\.aligned\.m8n8\.x4\.shared\.b16 [^\n]*&Ct\[/);
      // X'ᵀ (the state update's A, stored step-major) through the transposing form.
      if (c.dtype !== 'f32') expect(src.source).toMatch(/ldmatrix\.sync\.aligned\.m8n8\.x4\.trans\.shared\.b16 [^\n]*&Xw\[/);
      // Whole-N staging in 16 bits: X, C, W and z come in by cp.async, one chunk ahead (X double-buffered).
      const asyncLoads = c.dtype !== 'f32' && c.schedule.nTile !== 16;
      expect(src.source.includes('cp.async.cg.shared.global')).toBe(asyncLoads);
      // Registers sized for 5 resident blocks (43.5 KB of shared memory allows 5 as well).
      if (c.name.includes('default P tile')) expect(src.source).toContain('__launch_bounds__(128, 5)');
      // Whole staging: no loop over N tiles; a tile schedule has one.
      if (c.schedule.nTile !== undefined || c.schedule.headTile !== undefined) expect(src.source.includes('for (int n0 = 0;')).toBe(c.schedule.nTile === 16);
    });

    it.skipIf(!nvcc)(`${c.name}: nvcc builds it for sm_90 with 0 bytes spilled`, async () => {
      const r = (await reports)[k]!;
      expect(r.code, r.log).toBe(0);
      expect(r.functions, r.log).toBe(1);
      expect(r.exportsEntry).toBe(true);
      // The register-state form is sized for residency (registerBudget: accumulators + 40): up to 32 bytes
      // (run 68: 5 blocks per SM with a few spilled bytes beat 4 without).
      const tolerated = kernels.get(c.name)!.source.includes('cp.async') ? 32 : 0;
      expect(r.spillStores, r.log).toBeLessThanOrEqual(tolerated);
      expect(r.spillLoads, r.log).toBeLessThanOrEqual(tolerated);
      expect(r.registers * c.schedule.threads, r.log).toBeLessThanOrEqual(65536);
    }, 120_000);
  }

  it('runs the chunk\'s cumulative sum on subgroup shuffles where the subgroup size is known and holds the chunk', () => {
    const sp = specializeFor(p, fullVariant(p), STANDARD, 'bf16');
    const spF = specializeFor(p, fullVariant(p), STANDARD, 'f32');
    const cuda = compileKernel(sp, 'cuda', { threads: 128, items: 4, chunk: 32, lowering: 'ssd' }, { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 });
    expect(cuda.kernel.source.match(/__shfl_up_sync/g)).toHaveLength(5);
    expect(cuda.kernel.source).toContain('__shfl_sync(0xffffffffu, hs, 31, 32)');
    const wgsl = (subgroups: boolean, chunk: number): string => compileKernel(spF, 'wgsl', { threads: 128, items: 4, chunk, lowering: 'ssd' }, { subgroups, ...(subgroups ? { subgroupSize: 32 } : {}), sharedBytes: 48 * 1024 }).kernel.source;
    expect(wgsl(true, 32)).toContain('enable subgroups;');
    expect(wgsl(true, 32).match(/subgroupShuffleUp/g)).toHaveLength(5);
    // No subgroups (the CPU adapter), or a chunk longer than a subgroup: the one-pass sum in workgroup memory.
    for (const src of [wgsl(false, 32), wgsl(true, 64)]) {
      expect(src).not.toContain('subgroupShuffle');
      expect(src).not.toContain('enable subgroups;');
    }
  });

  it('chooses its tiles again without the double-buffer reserve where those tiles cannot use it (whole N in 40 KB, loads synchronous)', () => {
    const sp = specializeFor(p, defaultVariant(p), STANDARD, 'bf16');
    const k = compileKernel(sp, 'cuda', { threads: 128, items: 4, chunk: 32, headTile: 32, lowering: 'ssd' }, { subgroups: true, sharedBytes: 40 * 1024 }).kernel;
    // With the reserve only N tiles of 16 fitted (state in f32 shared memory); without it, whole N fits.
    expect(k.source).toContain('__nv_bfloat16* Ss = ');
    expect(k.source).not.toContain('cp.async');
    expect(k.sharedBytes).toBeLessThanOrEqual(40 * 1024);
  });
});
