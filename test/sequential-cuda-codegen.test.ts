// The CUDA source of the sequential lowering, compiled offline with nvcc for
// sm_90: Mamba-3 SISO and MIMO at the benchmark's static sizes (headdim 64,
// dstate 128, angles 32, rank 4) in fp32, fp16 and bf16, whole and split in
// tiles; the decode kernels of Mamba-1 and Mamba-2; the fixture programs. It
// must build, export its entry, and keep everything in registers (0 bytes of
// spills). The WGSL of the same kernels is rendered too. No GPU needed.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type CompiledKernelInfo, type Schedule, type Target } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { loadProgram, loadPrograms } from '../dsl/load.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

interface Case {
  name: string;
  program: string;
  variant: 'full' | 'bare';
  dtype: DType;
  schedule: Schedule;
  dims: Record<string, number>;
}

const M3 = { batch: 4, seqlen: 2048, nheads: 16, nheads_qk: 4, headdim: 64, dstate: 128, angles: 32, rank: 4 };
const SEQ: Schedule = { threads: 128, items: 1, lowering: 'sequential' };
const CASES: Case[] = [];
for (const program of ['mamba3_siso', 'mamba3_mimo']) {
  for (const dtype of ['f32', 'f16', 'bf16'] as DType[]) CASES.push({ name: `${program} full ${dtype}`, program, variant: 'full', dtype, schedule: SEQ, dims: M3 });
  CASES.push({ name: `${program} bare bf16`, program, variant: 'bare', dtype: 'bf16', schedule: SEQ, dims: M3 });
  CASES.push({ name: `${program} full bf16, tiles of 16 rows, 256 threads`, program, variant: 'full', dtype: 'bf16', schedule: { ...SEQ, threads: 256, headTile: 16 }, dims: M3 });
}
CASES.push({ name: 'mamba1 decode bf16', program: 'mamba1', variant: 'full', dtype: 'bf16', schedule: { ...SEQ, threads: 32 }, dims: { batch: 64, dim: 4096, seqlen: 1, dstate: 16, ngroups: 1 } });
CASES.push({ name: 'mamba2 decode bf16', program: 'mamba2', variant: 'full', dtype: 'bf16', schedule: SEQ, dims: { batch: 64, seqlen: 1, nheads: 24, headdim: 64, ngroups: 1, dstate: 128 } });
CASES.push({ name: 'sequential_zoo f32', program: 'sequential_zoo', variant: 'full', dtype: 'f32', schedule: { threads: 64, items: 1 }, dims: { batch: 2, dim: 3, seqlen: 11, dstate: 6 } });
CASES.push({ name: 'tiled_rows f32, tiles of 2', program: 'tiled_rows', variant: 'full', dtype: 'f32', schedule: { threads: 32, items: 1, headTile: 2 }, dims: { batch: 2, seqlen: 9, heads: 3, rows: 6, cols: 4 } });

describe('sequential kernel sources', () => {
  const programs = new Map<string, Program>();
  const infos = new Map<string, CompiledKernelInfo>();

  beforeAll(async () => {
    for (const f of ['mamba3_siso', 'mamba3_mimo', 'mamba1', 'mamba2']) programs.set(f, await loadProgram(new URL(`../examples/${f}.ts`, import.meta.url).pathname));
    for (const p of await loadPrograms(new URL('./fixtures/sequential-programs.ts', import.meta.url).pathname)) programs.set(p.name, p);
  }, 60_000);

  const render = (c: Case, target: Target): CompiledKernelInfo => {
    const p = programs.get(c.program)!;
    const v: Variant = c.variant === 'full' ? fullVariant(p) : { ...defaultVariant(p), finalStates: p.state.map((s) => s.name) };
    const sp = specializeFor(p, v, c.dims, target === 'wgsl' ? 'f32' : c.dtype);
    return compileKernel(sp, target, c.schedule, { subgroups: target === 'cuda', sharedBytes: target === 'wgsl' ? 32768 : undefined, maxStorageBuffers: target === 'wgsl' ? 16 : undefined });
  };

  describe.skipIf(!nvcc)('CUDA compiles with nvcc -arch=sm_90 without spills', () => {
    let reports: Promise<CubinReport[]>;
    beforeAll(() => {
      for (const c of CASES) infos.set(c.name, render(c, 'cuda'));
      reports = compileCubins(CASES.map((c) => infos.get(c.name)!.kernel));
    }, 60_000);

    CASES.forEach((c, k) => {
      it(c.name, async () => {
        const r = (await reports)[k]!;
        const info = infos.get(c.name)!;
        expect(info.lowering).toBe('sequential');
        expect(r.code, r.log).toBe(0);
        expect(r.exportsEntry).toBe(true);
        expect(r.functions, r.log).toBe(1);
        expect(r.spillStores, r.log).toBe(0);
        expect(r.spillLoads, r.log).toBe(0);
        expect(r.registers * info.kernel.workgroupSize).toBeLessThanOrEqual(65536);
        // Dynamic shared memory stays under the 48 KiB that needs no opt-in.
        expect(info.kernel.sharedBytes).toBeLessThanOrEqual(48 * 1024);
        const elem = { f32: 'float', f16: '__half', bf16: '__nv_bfloat16' }[c.dtype];
        // State stays fp32 whatever the tensors' dtype.
        if (c.variant === 'full') expect(info.kernel.source).toMatch(/const float\* __restrict__ \w+_init/);
        const firstInput = programs.get(c.program)!.inputs[0]!.name;
        expect(info.kernel.source).toContain(`const ${elem}* __restrict__ ${firstInput}`);
        if (c.schedule.headTile) expect(info.rowsPerGroup).toBe(c.schedule.headTile);
      }, 120_000);
    });
  });

  describe('WGSL for the CPU adapter (32 KiB of workgroup memory, 16 storage buffers)', () => {
    for (const c of CASES.filter((x) => x.dtype !== 'f16')) {
      it(`${c.name} (as f32)`, () => {
        const info = render(c, 'wgsl');
        expect(info.kernel.source).toContain(`@compute @workgroup_size(${info.kernel.workgroupSize})`);
        expect(info.kernel.sharedBytes).toBeLessThanOrEqual(32768);
        expect(info.kernel.bindings.length).toBeLessThanOrEqual(16);
        // A read of workgroup memory inside select() miscompiles on llvmpipe: where() is an if, never a select.
        expect(info.kernel.source).not.toMatch(/select\(/);
      });
    }

    it('Mamba-3 at 64 × 128 splits S over workgroups to fit 32 KiB, and packs bindings beyond 16', () => {
      const info = render(CASES.find((c) => c.name === 'mamba3_siso full f32')!, 'wgsl');
      expect(info.promotedAxes).toEqual([{ index: 'p', dim: 'headdim' }]);
      expect(info.gridFromDims).toEqual(['batch', 'nheads', 'headdim']);
      expect(64 % info.rowsPerGroup).toBe(0);
      expect(info.rowsPerGroup).toBeLessThan(64);
      const packed = info.kernel.bindings.find((b) => b.pack);
      expect(packed?.pack).toEqual(expect.arrayContaining(['angle_init', 'S_init', 'kprev_init', 'vprev_init']));
      expect(info.notes.join('\n')).toMatch(/state axis p \(headdim\) split over workgroups of \d+/);
      expect(info.notes.join('\n')).toMatch(/share one buffer \(the target binds at most 16\)/);
    });

    it('a state too large for workgroup memory with no axis to split is refused, saying so', () => {
      const p = programs.get('sequential_zoo')!;
      const sp = specializeFor(p, fullVariant(p), { batch: 1, dim: 1, seqlen: 1, dstate: 6 });
      expect(() => compileKernel(sp, 'wgsl', { threads: 32, items: 1 }, { subgroups: false, sharedBytes: 64 })).toThrow(
        /sequential_zoo: sequential: .*needs \d+ bytes of workgroup memory .*more than the 64 the target allows, and no state axis can be split over workgroups/,
      );
    });

    it('a tile that does not divide the split axis is refused', () => {
      const c = CASES.find((x) => x.name === 'mamba3_siso full f32')!;
      expect(() => render({ ...c, schedule: { ...SEQ, headTile: 5 } }, 'wgsl')).toThrow(/tile = 5 does not divide headdim = 64/);
    });
  });
});
