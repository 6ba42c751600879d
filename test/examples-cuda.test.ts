// CUDA of the issue 7 variant programs, compiled offline with nvcc for sm_90
// at their declared static sizes: the fullest variant with fp32 tensors and
// the default schedule, the barest with bf16 (f16 for half of them) and a wide
// schedule. Each must build,
// export its entry, fit the block's registers and spill nothing.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, defaultSchedule, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const FILES = ['s4d', 'retnet', 'gla', 'hgrn2', 'mlstm', 'rwkv6'];

interface Case { name: string; file: string; variant: (p: Program) => Variant; dtype: DType; schedule?: Schedule }

const CASES: Case[] = FILES.flatMap((file, i) => {
  const half: DType = i % 2 ? 'f16' : 'bf16';
  return [
    { name: `${file} full / f32 / default schedule`, file, variant: fullVariant, dtype: 'f32' as DType },
    { name: `${file} bare / ${half} / t256×i8`, file, variant: defaultVariant, dtype: half, schedule: { threads: 256, items: 8 } },
  ];
});

describe.skipIf(!nvcc)('variant programs: CUDA compiles with nvcc -arch=sm_90 without spills', () => {
  const reports = new Map<string, { r: CubinReport; threads: number }>();
  beforeAll(async () => {
    const programs = new Map<string, Program>();
    for (const f of FILES) programs.set(f, await loadProgram(new URL(`../examples/${f}.ts`, import.meta.url).pathname));
    const built = CASES.map((c) => {
      const p = programs.get(c.file)!;
      // Declared static sizes; the other dims only need to be known.
      const dims = Object.fromEntries(p.dims.map((d) => [d, p.staticDims[d] ?? p.checkDims[d] ?? 4]));
      const sp = specializeFor(p, c.variant(p), dims, c.dtype);
      const schedule = c.schedule ?? defaultSchedule(sp);
      return { kernel: compileKernel(sp, 'cuda', schedule, { subgroups: true }).kernel, threads: schedule.threads * (schedule.rows ?? 1) };
    });
    const rs = await compileCubins(built.map((b) => b.kernel));
    CASES.forEach((c, i) => reports.set(c.name, { r: rs[i]!, threads: built[i]!.threads }));
  }, 120_000);

  for (const c of CASES) {
    it(c.name, () => {
      const { r, threads } = reports.get(c.name)!;
      expect(r.code, r.log).toBe(0);
      expect(r.functions, r.log).toBe(1);
      expect(r.exportsEntry).toBe(true);
      expect(r.registers * threads).toBeLessThanOrEqual(65536);
      expect(r.spillStores, r.log).toBe(0);
      expect(r.spillLoads, r.log).toBe(0);
    });
  }
});
