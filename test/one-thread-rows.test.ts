// The diagonal scan with one thread per row (threads = 1, rows = R): each
// thread walks its row's sequence alone, so the scan of (a, b) pairs is the
// identity and the kernel has no shuffle and no barrier inside the chunk
// walk (the carry is the thread's own). Kernels run on the CPU adapter
// against the float64 reference, NaN-poisoned, at shapes that are not
// multiples of R, with rowBlock, and for a program with a promoted axis.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import type { Program } from '../dsl/ir.ts';
import { checkCase } from '../runtime/check.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import type { WebGpuBackend } from '../runtime/webgpu/index.ts';
import { caseFrom, expectCasePasses } from './helpers/check.ts';
import { openExample } from './helpers/example.ts';

const GPU_TIMEOUT = 120_000;

describe('diagonal scan, one thread per row', () => {
  let p: Program;
  let gpu: WebGpuBackend;
  let runner: ProgramRunner;
  beforeAll(async () => ({ p, gpu, runner } = await openExample('mamba1')), GPU_TIMEOUT);
  afterAll(() => gpu?.destroy());

  const caseOf = caseFrom({ present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 5, dims: { batch: 2, dim: 40, seqlen: 1000, dstate: 16, ngroups: 2 } });
  const cases: [string, Schedule, Partial<Record<string, number>>][] = [
    ['32 rows per workgroup, 8 items, the tail chunk', { threads: 1, items: 8, rows: 32 }, {}],
    ['rows not a multiple of the workgroup (dim 70), 16 items', { threads: 1, items: 16, rows: 64 }, { batch: 1, dim: 70, seqlen: 333, ngroups: 1 }],
    ['seqlen 1 and 7', { threads: 1, items: 4, rows: 4 }, { seqlen: 7, dim: 6, ngroups: 3 }],
    ['with rowBlock 2 across batches', { threads: 1, items: 4, rows: 8, rowBlock: 2 }, { batch: 3, dim: 5, seqlen: 37, ngroups: 1 }],
  ];
  for (const [label, schedule, dims] of cases) {
    it(label, async () => {
      await expectCasePasses(runner, caseOf({ schedule, dims: dims as Record<string, number> }));
    }, GPU_TIMEOUT);
  }

  it('one token', async () => {
    await expectCasePasses(runner, caseOf({ schedule: { threads: 1, items: 8, rows: 16 }, dims: { seqlen: 1 } }));
  }, GPU_TIMEOUT);

  it('has no barrier or shuffle inside the chunk walk, and no scan arrays', () => {
    const sp = specializeFor(p, fullVariant(p), { batch: 8, dim: 4096, seqlen: 4096, dstate: 16, ngroups: 1 });
    const info = compileKernel(sp, 'cuda', { threads: 1, items: 8, rows: 32 }, { subgroups: true, subgroupSize: 32 });
    const src = info.kernel.source;
    // Two barriers in all: after the carries' initial values, after the walk (before the final state).
    expect(src.match(/__syncthreads/g)).toHaveLength(2);
    expect(src.indexOf('__syncthreads')).toBeLessThan(src.indexOf('for (int c0 = 0;'));
    expect(src).not.toContain('__shfl');
    expect(src).not.toContain('scan_a');
    expect(info.kernel.workgroupSize).toBe(32);
    expect(info.rowsPerGroup).toBe(32);
  });

  it('a program with a promoted state axis (GLA) runs the same way', async () => {
    const gla = await loadProgram(new URL('../examples/gla.ts', import.meta.url).pathname);
    const r = await checkCase(new ProgramRunner(gpu, gla, { tuned: false }), {
      dims: { batch: 2, seqlen: 100, nheads: 3, headdim: 6, dkey: 12 }, present: [], initStates: ['S'], finalStates: ['S'], seed: 9,
      schedule: { threads: 1, items: 4, rows: 16, rowBlock: 2 },
    });
    expect(r.ok, r.errors.map((e) => `${e.name} ${e.relL2}`).join(', ')).toBe(true);
  }, GPU_TIMEOUT);
});
