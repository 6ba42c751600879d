// rowBlock (K): each thread handles K consecutive rows of the last parallel
// axis (Mamba-1: K channels d), K copies of everything per row, and what the
// rows read alike loaded once. Kernels run on the CPU adapter against the
// float64 reference at shapes where a thread's rows straddle groups (the
// general form) or batches, where the last block is partial, with rows > 1,
// and where every block agrees (the uniform form, B and C shared). The
// uniform form is shown to run, and to be needed only where it is chosen.

import { describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { PStmt } from '../codegen/plan/ast.ts';
import type { Program } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { scheduleSpace } from '../runtime/tune/space.ts';
import { screen, tuneVariant } from '../runtime/tune/search.ts';
import { caseFrom, expectCasePasses, type CaseSpec } from './helpers/check.ts';
import { useExample } from './helpers/example.ts';
import { expectUniformRunsInRows, expectUniformWrongWhereRowsStraddle, uniformBranch } from './helpers/uniform-form.ts';

const ALL_OPTIONAL = ['D', 'z', 'delta_bias'];
const GPU_TIMEOUT = 120_000;

const ex = useExample('mamba1', GPU_TIMEOUT);

const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['h'], finalStates: ['h'], seed: 1, dims: { batch: 2, dim: 6, seqlen: 100, dstate: 16, ngroups: 2 } });


/** Elements of `buf` read inside the state loops (`for n`) of `body`, vector loads counted per element. */
function loadsInStateLoops(body: PStmt[], buf: string, inLoop = false): number {
  let n = 0;
  const visit = (x: unknown): void => {
    if (!x || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    if (o.k === 'load' && o.buf === buf) n++;
    if (o.k === 'vload' && o.buf === buf) n += (o.names as string[]).length;
    for (const v of Object.values(o)) if (typeof v === 'object') visit(v);
  };
  for (const s of body) {
    if (s.k === 'for') {
      if (s.v === 'n' || inLoop) visit(s.body);
      else n += loadsInStateLoops(s.body, buf, inLoop);
    } else if (s.k === 'if') n += loadsInStateLoops(s.then, buf, inLoop) + loadsInStateLoops(s.else, buf, inLoop);
    else if (inLoop) visit(s);
  }
  return n;
}

describe('rowBlock on the CPU adapter vs the float64 reference', () => {
  const cases: { name: string; spec: CaseSpec; schedule: Schedule }[] = [
    // K = 2
    { name: 'blocks straddle groups (dim 6, ngroups 2): some workgroups take the general form', schedule: { threads: 32, items: 4, rowBlock: 2 }, spec: { dims: { seqlen: 1000 } } },
    { name: 'blocks straddle batches, the last block is partial (batch 3, dim 5)', schedule: { threads: 16, items: 2, rowBlock: 2 }, spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 7 } } },
    { name: 'seqlen 1', schedule: { threads: 16, items: 4, rowBlock: 2 }, spec: { dims: { seqlen: 1 } } },
    { name: 'rows 2 × rowBlock 2, dim 7: the last workgroup holds rows past the end', schedule: { threads: 16, items: 2, rows: 2, rowBlock: 2 }, spec: { dims: { dim: 7, ngroups: 1, seqlen: 300 } } },
    { name: 'no optional input, no initial or final state', schedule: { threads: 32, items: 2, rowBlock: 2 }, spec: { present: [], initStates: [], finalStates: [], dims: { seqlen: 150 } } },
    { name: 'D only, final state only', schedule: { threads: 32, items: 2, rowBlock: 2 }, spec: { present: ['D'], initStates: [], dims: { seqlen: 150 } } },
    { name: 'z and delta_bias, initial state only', schedule: { threads: 16, items: 1, rowBlock: 2 }, spec: { present: ['z', 'delta_bias'], finalStates: [], dims: { seqlen: 90 } } },
    // K = 4
    { name: 'G = 1, dim 8: every block uniform', schedule: { threads: 32, items: 2, rowBlock: 4 }, spec: { dims: { dim: 8, ngroups: 1, seqlen: 1000 } } },
    { name: 'dim 6, ngroups 3: every block straddles groups', schedule: { threads: 16, items: 1, rowBlock: 4 }, spec: { dims: { dim: 6, ngroups: 3, seqlen: 7 } } },
    { name: 'batch 3, dim 10: straddles batches, partial last block, rows 2', schedule: { threads: 16, items: 1, rows: 2, rowBlock: 4 }, spec: { dims: { batch: 3, dim: 10, ngroups: 1, seqlen: 130 } } },
    // K = 3: K need not be a power of two
    { name: 'rowBlock 3, dim 6, ngroups 2: blocks match the groups', schedule: { threads: 32, items: 1, rowBlock: 3 }, spec: { dims: { seqlen: 1000 } } },
    { name: 'rowBlock 3, rows 2, dim 7, seqlen 1', schedule: { threads: 16, items: 1, rows: 2, rowBlock: 3 }, spec: { dims: { dim: 7, ngroups: 1, seqlen: 1 } } },
  ];
  for (const { name, spec, schedule } of cases) {
    it(`K ${schedule.rowBlock}, t${schedule.threads}i${schedule.items}${schedule.rows ? ` r${schedule.rows}` : ''}: ${name}`, async () => {
      const c = caseOf({ ...spec, schedule, seed: 7 * (schedule.rowBlock ?? 1) + (spec.dims?.seqlen ?? 0) });
      const r = await expectCasePasses(ex.runner, c);
      expect(r.kernel).toMatch(new RegExp(`k${schedule.rowBlock}$`));
    }, GPU_TIMEOUT);
  }
});

describe('the uniform form', () => {
  const dims = { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 };

  it('loads B and C once per item for all K rows; the general form once per item and row', () => {
    const sp = specializeFor(ex.p, fullVariant(ex.p), { ...dims, ngroups: 1 }, 'f32');
    for (const [items, K] of [[4, 4], [2, 2], [1, 3]] as const) {
      const { plan } = compileKernel(sp, 'wgsl', { threads: 32, items, rowBlock: K }, { subgroups: false });
      const branch = uniformBranch(plan.body)!;
      expect(branch).toBeDefined();
      for (const buf of ['B', 'C']) {
        // Two chunk copies (full, tail) per form.
        expect(loadsInStateLoops(branch.then, buf)).toBe(2 * items);
        expect(loadsInStateLoops(branch.else, buf)).toBe(2 * items * K);
      }
      // Per-row inputs stay per row in both: A[d][n] once per row and state element.
      expect(loadsInStateLoops(branch.then, 'A')).toBe(2 * K);
    }
    // One row per thread: no second form, and the kernel of before (no `uni`).
    const one = compileKernel(sp, 'wgsl', { threads: 32, items: 4 }, { subgroups: false });
    expect(uniformBranch(one.plan.body)).toBeUndefined();
    expect(one.kernel.source).not.toMatch(/\buni\b/);
    expect(one.kernel.entry).toMatch(/_t32i4$/);
    expect(compileKernel(sp, 'wgsl', { threads: 32, items: 4, rowBlock: 1 }, { subgroups: false }).kernel.source).toBe(one.kernel.source);
  });

  it('runs exactly in the workgroups whose rows agree on the batch and group (emptied, they leave NaN there)', async () => {
    // Rows b·6 + d in pairs: (0,1) (4,5) of each batch lie in one group, (2,3) straddles groups 0 and 1.
    await expectUniformRunsInRows(ex.gpu, ex.p, caseOf({ dims, schedule: { threads: 16, items: 2, rowBlock: 2 }, seed: 3 }), 2 * 2 * 2); // 2 batches × 2 uniform pairs × 2 rows
    // With one group every pair is uniform: nothing is written.
    await expectUniformRunsInRows(ex.gpu, ex.p, caseOf({ dims: { ...dims, ngroups: 1 }, schedule: { threads: 16, items: 2, rowBlock: 2 }, seed: 4 }), 2 * 6);
  }, GPU_TIMEOUT);

  it('is wrong where rows straddle groups: forced everywhere it fails the check; the general form alone passes', async () => {
    const schedule = { threads: 16, items: 2, rowBlock: 2 };
    await expectUniformWrongWhereRowsStraddle(ex.gpu, ex.p, caseOf({ dims, schedule, seed: 5 }));
  }, GPU_TIMEOUT);
});

describe('the knob', () => {
  it('rowBlock must be a positive integer', () => {
    const sp = specializeFor(ex.p, fullVariant(ex.p), { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 }, 'f32');
    for (const rowBlock of [0, -1, 1.5]) {
      expect(() => compileKernel(sp, 'wgsl', { threads: 32, items: 2, rowBlock }, { subgroups: false })).toThrow(`rowBlock must be a positive integer, got ${rowBlock}`);
    }
  });

  it('grid: a workgroup owns rows × rowBlock rows', () => {
    const sp = specializeFor(ex.p, fullVariant(ex.p), { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 }, 'f32');
    const info = compileKernel(sp, 'cuda', { threads: 32, items: 2, rows: 2, rowBlock: 3 }, { subgroups: true });
    expect(info.rowsPerGroup).toBe(6);
    expect(info.kernel.workgroupSize).toBe(64);
    expect(info.kernel.entry).toMatch(/_t32i2r2k3$/);
  });

  it('any program the diagonal scan takes: Mamba-2 forced onto it (promoted head axis last, blocks straddle heads), K 3', async () => {
    const m2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const r = await expectCasePasses(new ProgramRunner(ex.gpu, m2, { tuned: false }), {
      dims: { batch: 2, seqlen: 77, nheads: 4, headdim: 8, ngroups: 2, dstate: 8 }, present: m2.inputs.filter((t) => t.optional && t.name !== 'D_hp').map((t) => t.name),
      initStates: ['S'], finalStates: ['S'], seed: 9, schedule: { threads: 16, items: 2, rowBlock: 3, lowering: 'diagonal-scan' },
    });
    expect(r.kernel).toMatch(/k3$/);
  }, GPU_TIMEOUT);

  it('the SSD lowering ignores it: the tuner finds one kernel for every value', async () => {
    const m2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const prog: Program = { ...m2, schedule: { ...m2.schedule, threads: [128], items: [4], rows: [1], rowBlock: [1, 2, 4], chunk: [32] } };
    const dims = { batch: 1, seqlen: 100, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 };
    const sp = specializeFor(prog, tuneVariant(prog), dims);
    const cs = screen(sp, scheduleSpace(prog), 'webgpu', ex.gpu.limits, dims);
    expect(cs.filter((c) => c.status === 'untried')).toHaveLength(1);
    expect(cs.filter((c) => c.status === 'same-kernel').map((c) => c.schedule.rowBlock).sort()).toEqual([2, 4]);
  });
});
