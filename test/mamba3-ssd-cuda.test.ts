// The CUDA source of the chunked matrix form for Mamba-3 SISO and MIMO
// (examples/mamba3_*.ts) at the benchmark's state sizes (headdim 64, dstate
// 128, angles 32, rank 4), compiled offline with nvcc -arch=sm_90: it builds,
// exports its entry, spills nothing, fits the shared memory it budgets, and
// runs its products on tensor cores exactly when the tensors are bf16.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import type { RenderedKernel } from '../runtime/backend.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const BENCH = { batch: 4, seqlen: 2048, nheads: 16, nheads_qk: 1, headdim: 64, dstate: 128, angles: 32, rank: 4 };

interface Case { program: string; dtype: DType; schedule: Schedule }
const CASES: Case[] = [
  { program: 'mamba3_siso', dtype: 'f32', schedule: { threads: 128, items: 1, chunk: 32 } },
  { program: 'mamba3_siso', dtype: 'bf16', schedule: { threads: 128, items: 1, chunk: 32 } },
  { program: 'mamba3_siso', dtype: 'bf16', schedule: { threads: 256, items: 1, chunk: 64 } },
  { program: 'mamba3_mimo', dtype: 'f32', schedule: { threads: 128, items: 1, chunk: 16 } },
  { program: 'mamba3_mimo', dtype: 'bf16', schedule: { threads: 128, items: 1, chunk: 16 } },
  { program: 'mamba3_mimo', dtype: 'bf16', schedule: { threads: 256, items: 1, chunk: 32 } },
];
const nameOf = (c: Case): string => `${c.program} / ${c.dtype} / t${c.schedule.threads} q${c.schedule.chunk}`;

describe('Mamba-3 chunked-form kernels for CUDA', () => {
  const kernels: RenderedKernel[] = [];
  let reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    for (const c of CASES) {
      const p = await loadProgram(new URL(`../examples/${c.program}.ts`, import.meta.url).pathname);
      const info = compileKernel(specializeFor(p, fullVariant(p), BENCH, c.dtype), 'cuda', c.schedule, { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 });
      expect(info.lowering).toBe('ssd');
      kernels.push(info.kernel);
    }
    reports = nvcc ? compileCubins(kernels) : Promise.resolve([]);
  }, 60_000);

  CASES.forEach((c, k) => {
    it(`${nameOf(c)}: tensor cores exactly for bf16, within the shared memory budget`, () => {
      const src = kernels[k]!;
      const mma = [...src.source.matchAll(/mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.(\w+)\.(\w+)\.f32/g)];
      if (c.dtype === 'f32') expect(mma).toHaveLength(0);
      else expect(mma.length).toBeGreaterThan(0);
      expect(src.sharedBytes).toBeLessThanOrEqual(96 * 1024);
      // The angle scan's values over the chunk and the trapezoid's fold live beside the tiles.
      expect(src.source).toContain('sv_angle');
      expect(src.source).toContain('kap');
    });

    it.skipIf(!nvcc)(`${nameOf(c)}: nvcc builds it for sm_90 with 0 bytes spilled`, async () => {
      const r = (await reports)[k]!;
      expect(r.code, r.log).toBe(0);
      expect(r.exportsEntry).toBe(true);
      expect(r.spillStores, r.log).toBe(0);
      expect(r.spillLoads, r.log).toBe(0);
    }, 120_000);
  });
});

describe('a target whose workgroup memory no SSD tiling fits', () => {
  it('gets the next lowering that fits, with the reason in the notes; forcing ssd says why it cannot', async () => {
    const p = await loadProgram(new URL('../examples/mamba3_mimo.ts', import.meta.url).pathname);
    const sp = specializeFor(p, fullVariant(p), BENCH);
    // WebGPU's guaranteed 16 KiB: MIMO's (chunk × rank)-row matrices at headdim 64, dstate 128 do not fit.
    const info = compileKernel(sp, 'wgsl', { threads: 256, items: 1 }, { subgroups: false, sharedBytes: 16 * 1024 });
    expect(info.lowering).toBe('sequential');
    expect(info.notes[0]).toMatch(/^ssd: the program is SSD-able but no tiling fits this target: no tiling of chunk \d+/);
    expect(() => compileKernel(sp, 'wgsl', { threads: 256, items: 1, lowering: 'ssd' }, { subgroups: false, sharedBytes: 16 * 1024 })).toThrow(/no tiling of chunk/);
    // With room (the H100's 48 KiB under Vulkan) the chunked form is taken.
    expect(compileKernel(sp, 'wgsl', { threads: 256, items: 1 }, { subgroups: false, sharedBytes: 48 * 1024 }).lowering).toBe('ssd');
  });
});
