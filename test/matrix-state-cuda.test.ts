// CUDA of matrix-state programs (free state axes promoted to parallel axes),
// compiled offline with nvcc for sm_90 (full and bare variants, the three
// dtypes, several schedules, rows, no subgroups): each must build, export its
// entry, fit the block's registers and spill nothing.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const fixture = (f: string): string => new URL(`./fixtures/${f}`, import.meta.url).pathname;

interface Case { name: string; program: 'm2' | 'r3'; variant: (p: Program) => Variant; dtype: DType; schedule: Schedule; subgroups: boolean }

const CASES: Case[] = [];
CASES.push({ name: 'mamba2-shaped full / f32', program: 'm2', variant: fullVariant, dtype: 'f32', schedule: { threads: 128, items: 4 }, subgroups: true });
CASES.push({ name: 'mamba2-shaped bare / bf16', program: 'm2', variant: defaultVariant, dtype: 'bf16', schedule: { threads: 64, items: 8 }, subgroups: true });
CASES.push({ name: 'mamba2-shaped full / f16', program: 'm2', variant: fullVariant, dtype: 'f16', schedule: { threads: 256, items: 2 }, subgroups: true });
CASES.push({ name: 'mamba2-shaped z + final state / f32 / 4 rows', program: 'm2', variant: (p) => ({ ...defaultVariant(p), present: ['z'], finalStates: ['S'] }), dtype: 'f32', schedule: { threads: 32, items: 4, rows: 4 }, subgroups: true });
CASES.push({ name: 'mamba2-shaped full / f32 / no subgroups', program: 'm2', variant: fullVariant, dtype: 'f32', schedule: { threads: 16, items: 8 }, subgroups: false });
CASES.push({ name: 'rank-3 state full / f32', program: 'r3', variant: fullVariant, dtype: 'f32', schedule: { threads: 128, items: 4 }, subgroups: true });
CASES.push({ name: 'rank-3 state full / bf16', program: 'r3', variant: fullVariant, dtype: 'bf16', schedule: { threads: 32, items: 2 }, subgroups: true });

describe.skipIf(!nvcc)('matrix-state CUDA compiles with nvcc -arch=sm_90 without spills', () => {
  const reports = new Map<string, CubinReport>();
  const sources = new Map<string, string>();
  const variants = new Map<string, Variant>();
  beforeAll(async () => {
    const programs = { m2: await loadProgram(fixture('mamba2-shaped.ts')), r3: await loadProgram(fixture('matrix-state.ts')) };
    // Mamba-2 2.7B's head shape (headdim 64, dstate 128); the rank-3 state at a small one.
    const dims = {
      m2: { batch: 2, seqlen: 1000, nheads: 8, headdim: 64, ngroups: 2, dstate: 128 },
      r3: { batch: 2, seqlen: 1000, heads: 4, rank: 2, width: 16, dstate: 16 },
    };
    const kernels = CASES.map((c) => {
      const p = programs[c.program];
      variants.set(c.name, c.variant(p));
      // The Mamba-2 shape is SSD-able: force the chunked scan, the path under test.
      const info = compileKernel(specializeFor(p, c.variant(p), dims[c.program], c.dtype), 'cuda', { ...c.schedule, lowering: 'diagonal-scan' }, { subgroups: c.subgroups });
      expect(info.promotedAxes.length).toBeGreaterThan(0);
      sources.set(c.name, info.kernel.source);
      return info.kernel;
    });
    (await compileCubins(kernels)).forEach((r, i) => reports.set(CASES[i]!.name, r));
  }, 120_000);

  for (const c of CASES) {
    it(c.name, () => {
      const r = reports.get(c.name)!;
      expect(r.code, r.log).toBe(0);
      expect(r.functions, r.log).toBe(1);
      expect(r.exportsEntry).toBe(true);
      expect(r.registers * c.schedule.threads * (c.schedule.rows ?? 1)).toBeLessThanOrEqual(65536);
      expect(r.spillStores, r.log).toBe(0);
      expect(r.spillLoads, r.log).toBe(0);
      // The state tensors are bound as declared, fp32 whatever the input dtype.
      const v = variants.get(c.name)!;
      expect(sources.get(c.name)!.includes('const float* __restrict__ S_init')).toBe(v.initStates.includes('S'));
      expect(sources.get(c.name)!.includes('float* __restrict__ S_final')).toBe(v.finalStates.includes('S'));
    });
  }
});
