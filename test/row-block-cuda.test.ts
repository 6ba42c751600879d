// rowBlock (K) in CUDA: Mamba-1 kernels at the benchmark's standard shape
// (batch 8, dim 4096, seqlen 4096, dstate 16, ngroups 1), one warp per row,
// K ∈ {1, 2, 4} × items ∈ {2, 4, 8}, f32 and bf16, compiled with nvcc for
// sm_90: each builds, and keeps everything in registers wherever I·K ≤ 16
// (the default unroll factor and register budget follow I·K). Prints the
// registers ptxas reports. No GPU needed, only nvcc.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const DIMS = { batch: 8, dim: 4096, seqlen: 4096, dstate: 16, ngroups: 1 };
const CASES = (['f32', 'bf16'] as DType[]).flatMap((dtype) => [1, 2, 4].flatMap((rowBlock) => [2, 4, 8].map((items) => ({ dtype, rowBlock, items }))));

describe.skipIf(!nvcc)('rowBlock: CUDA kernels at the standard shape compile without spills', () => {
  let p: Program;
  let reports: CubinReport[];
  let budgets: number[];

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    const infos = CASES.map((c) => compileKernel(specializeFor(p, fullVariant(p), DIMS, c.dtype), 'cuda', { threads: 32, items: c.items, rowBlock: c.rowBlock }, { subgroups: true }));
    budgets = infos.map((x) => x.plan.registerBudget);
    reports = await compileCubins(infos.map((x) => x.kernel));
    console.log(['dtype K items: registers (budget) spill stores/loads', ...CASES.map((c, k) => `${c.dtype} K=${c.rowBlock} I=${c.items}: ${reports[k]!.registers} (${budgets[k]}) ${reports[k]!.spillStores}/${reports[k]!.spillLoads}`)].join('\n'));
  }, 120_000);

  CASES.forEach((c, k) => {
    const sensible = c.items * c.rowBlock <= 16;
    it(`${c.dtype}, t32 i${c.items} k${c.rowBlock}: builds${sensible ? ', 0 bytes spilled' : ''}`, () => {
      const r = reports[k]!;
      expect(r.code, r.log).toBe(0);
      expect(r.functions, r.log).toBe(1);
      expect(r.exportsEntry).toBe(true);
      expect(r.entry).toMatch(new RegExp(`_t32i${c.items}${c.rowBlock > 1 ? `k${c.rowBlock}` : ''}$`));
      // ptxas holds the launch bounds the budget sets.
      expect(r.registers).toBeLessThanOrEqual(budgets[k]!);
      if (sensible) {
        expect(r.spillStores, r.log).toBe(0);
        expect(r.spillLoads, r.log).toBe(0);
      }
    });
  });
});
