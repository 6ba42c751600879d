// A function applied to a sum over the state in an output — y = tanh(Σ_n C·h),
// or mLSTM's y = C q / max(|nᵀq|, 1) (examples/mlstm.ts, tested with the
// examples) — must be computed after the state loop
// that accumulates the sum. (An earlier diagonal scan hoisted such calls into
// the per-item scope, ahead of that loop, so they read the zero-initialised
// accumulator: states right, y wrong.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import { checkCase } from '../runtime/check.ts';
import { ProgramRunner } from '../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

describe('outputs that apply a function to a sum over the state', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => { gpu = await openWebGpu(); }, 120_000);
  afterAll(() => gpu?.destroy());

  const cases: [string, string, Record<string, number>, string[]][] = [
    ['y = tanh(Σ_n C·h), 1-D state', './fixtures/call-on-sum.ts', { batch: 2, seqlen: 50, dstate: 4 }, ['h']],
  ];
  for (const [name, file, dims, states] of cases) {
    it(name, async () => {
      const p = await loadProgram(new URL(file, import.meta.url).pathname);
      for (const schedule of [{ threads: 32, items: 2 }, { threads: 16, items: 1 }]) {
        const r = await checkCase(new ProgramRunner(gpu, p), { dims, present: [], initStates: states, finalStates: states, seed: 1, schedule });
        const y = r.errors.find((e) => e.name === 'y')!;
        expect(y.nan).toBe(0);
        expect(y.relL2, `${r.kernel}: y`).toBeLessThanOrEqual(y.tolerance);
        expect(r.ok).toBe(true);
      }
    }, 120_000);
  }
});
