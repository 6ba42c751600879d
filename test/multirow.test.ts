// Several rows of the parallel axes per workgroup: each row keeps its own
// scan and carry; a last workgroup with rows past the end stores nothing.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.js';
import type { Program } from '../dsl/ir.js';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { checkCase } from '../runtime/check.js';

let backend: WebGpuBackend;
let program: Program;
beforeAll(async () => {
  backend = await openWebGpu();
  program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
}, 120_000);
afterAll(() => backend?.destroy());

describe('rows per workgroup', () => {
  const cases: [number, number, number, number, number][] = [
    // seqlen, threads, items, rows, dim (rows·groups not a multiple of dim)
    [7, 32, 2, 2, 6], [1000, 16, 4, 4, 6], [300, 32, 4, 3, 7], [129, 64, 2, 8, 5], [1, 8, 1, 4, 3],
  ];
  for (const [seqlen, threads, items, rows, dim] of cases) {
    it(`seqlen ${seqlen}, ${rows} rows × ${threads} threads × ${items} items, dim ${dim}`, async () => {
      const runner = new ProgramRunner(backend, program);
      const res = await checkCase(runner, {
        dims: { batch: 2, dim, seqlen, dstate: 16, ngroups: 1 }, present: ['D', 'z', 'delta_bias'],
        initStates: ['h'], finalStates: ['h'], seed: seqlen + rows, schedule: { threads, items, rows },
      });
      for (const e of res.errors) expect(e.relL2, e.name).toBeLessThanOrEqual(e.tolerance);
      expect(res.ok).toBe(true);
    }, 120_000);
  }
});
