// The state-lanes form of the diagonal scan (lower/state-lanes.ts): a row's
// threads hold its state elements and walk the steps one by one. Kernels run
// on the CPU adapter against the float64 reference (inputs fresh, outputs
// poisoned with NaN) at chunk boundaries and lengths that are not multiples
// of the chunk, with every optional input and state in/out, with more state
// elements than lanes and a ragged last element slot, with rows past the end,
// in the uniform form (tiles of B and C shared by the workgroup's rows) and
// the general one (rows straddling groups or batches), and on other programs
// the diagonal scan takes. The uniform form is shown to be the one that runs
// where the rows agree, and to be wrong where they do not.

import { describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { caseFrom, expectCasePasses, type CaseSpec } from './helpers/check.ts';
import { expectCutEqualsWhole, expectExamplePasses, itPassesEach, type FormCase } from './helpers/diagonal-forms.ts';
import { useExample } from './helpers/example.ts';
import { expectUniformRunsInRows, expectUniformWrongWhereRowsStraddle, uniformBranch } from './helpers/uniform-form.ts';

const ALL_OPTIONAL = ['D', 'z', 'delta_bias'];
const GPU_TIMEOUT = 120_000;

const ex = useExample('mamba1', GPU_TIMEOUT);

const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['h'], finalStates: ['h'], seed: 1, dims: { batch: 2, dim: 6, seqlen: 100, dstate: 16, ngroups: 2 } });
const label = (s: Schedule): string => `l${s.lanes}i${s.items}${(s.rows ?? 1) > 1 ? `r${s.rows}` : ''}${(s.rowBlock ?? 1) > 1 ? `k${s.rowBlock}` : ''}`;

describe('state lanes on the CPU adapter vs the float64 reference', () => {
  const cases: FormCase[] = [
    { name: 'rows straddle groups (dim 6, ngroups 2): some workgroups take the general form', schedule: { threads: 1, items: 2, lanes: 16, rows: 4 }, spec: { dims: { seqlen: 1000 } } },
    { name: 'ngroups 1, dim 8, rows 4: every workgroup uniform, tiles shared', schedule: { threads: 1, items: 2, lanes: 16, rows: 4 }, spec: { dims: { dim: 8, ngroups: 1, seqlen: 300 } } },
    { name: 'seqlen 1', schedule: { threads: 1, items: 2, lanes: 16, rows: 2 }, spec: { dims: { seqlen: 1 } } },
    { name: 'seqlen 32 = one full chunk', schedule: { threads: 1, items: 2, lanes: 16, rows: 2 }, spec: { dims: { seqlen: 32 } } },
    { name: 'seqlen 33: one full chunk and one step', schedule: { threads: 1, items: 2, lanes: 16, rows: 2 }, spec: { dims: { seqlen: 33 } } },
    { name: 'seqlen 4097, long, one row per workgroup', schedule: { threads: 1, items: 4, lanes: 16 }, spec: { dims: { batch: 1, dim: 2, ngroups: 1, seqlen: 4097 } } },
    { name: 'batch 3, dim 5, rows 4: workgroups straddle batches, the last holds rows past the end', schedule: { threads: 1, items: 1, lanes: 16, rows: 4 }, spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 77 } } },
    { name: 'lanes 4: four state elements per lane', schedule: { threads: 1, items: 4, lanes: 4, rows: 4 }, spec: { dims: { seqlen: 130 } } },
    { name: 'dstate 12, lanes 8: the last element slot is ragged', schedule: { threads: 1, items: 2, lanes: 8, rows: 2 }, spec: { dims: { dstate: 12, seqlen: 70 } } },
    { name: 'dstate 5, lanes 2, items 3 (a chunk of 6 steps)', schedule: { threads: 1, items: 3, lanes: 2, rows: 3 }, spec: { dims: { dstate: 5, seqlen: 50 } } },
    { name: 'no optional input, no initial or final state', schedule: { threads: 1, items: 2, lanes: 16, rows: 2 }, spec: { present: [], initStates: [], finalStates: [], dims: { seqlen: 150 } } },
    { name: 'D only, final state only', schedule: { threads: 1, items: 2, lanes: 16, rows: 2 }, spec: { present: ['D'], initStates: [], dims: { seqlen: 150 } } },
    { name: 'z and delta_bias, initial state only', schedule: { threads: 1, items: 1, lanes: 8, rows: 4 }, spec: { present: ['z', 'delta_bias'], finalStates: [], dims: { seqlen: 90 } } },
    // rowBlock K: each thread serves its elements in K rows
    { name: 'rowBlock 2, dim 6, ngroups 2: some workgroups uniform, some general', schedule: { threads: 1, items: 2, lanes: 8, rows: 2, rowBlock: 2 }, spec: { dims: { seqlen: 300 } } },
    { name: 'rowBlock 2, batch 3, dim 5: blocks straddle batches, the last holds rows past the end', schedule: { threads: 1, items: 2, lanes: 8, rows: 2, rowBlock: 2 }, spec: { dims: { batch: 3, dim: 5, ngroups: 1, seqlen: 33 } } },
    { name: 'rowBlock 3, dstate 12, lanes 8: ragged elements, seqlen 1', schedule: { threads: 1, items: 1, lanes: 8, rows: 2, rowBlock: 3 }, spec: { dims: { dstate: 12, seqlen: 1 } } },
    { name: 'rowBlock 4, ngroups 1, dim 8, lanes 4: every workgroup uniform, long', schedule: { threads: 1, items: 4, lanes: 4, rows: 1, rowBlock: 4 }, spec: { dims: { dim: 8, ngroups: 1, seqlen: 1000 } } },
    { name: 'rowBlock 2, no optional input, no states', schedule: { threads: 1, items: 2, lanes: 16, rows: 2, rowBlock: 2 }, spec: { present: [], initStates: [], finalStates: [], dims: { seqlen: 77 } } },
  ];
  itPassesEach(() => ex.runner, caseOf, cases, label, ({ spec, schedule }) => 3 * (schedule.lanes ?? 1) + (spec.dims?.seqlen ?? 0), GPU_TIMEOUT);

  it('a sequence cut in two pieces mid-chunk (final state → initial state) equals the uncut run', async () => {
    await expectCutEqualsWhole(ex.runner, ex.p, caseOf({ dims: { batch: 2, dim: 4, seqlen: 200, dstate: 16, ngroups: 1 }, seed: 11 }), { threads: 1, items: 2, lanes: 16, rows: 4 }, 75);
  }, GPU_TIMEOUT);
});


describe('the uniform form (B and C tiles shared by the workgroup)', () => {
  const dims = { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 };
  const schedule = { threads: 1, items: 2, lanes: 16, rows: 2 };

  it('stages B and C as tiles only in the uniform form; the general form reads them per lane', () => {
    const sp = specializeFor(ex.p, fullVariant(ex.p), dims, 'f32');
    const { plan } = compileKernel(sp, 'wgsl', schedule, { subgroups: false, sharedBytes: 32 * 1024 });
    const branch = uniformBranch(plan.body)!;
    expect(branch).toBeDefined();
    const text = (x: unknown): string => JSON.stringify(x);
    expect(text(branch.then)).toMatch(/"arr":"tileu0"/);
    expect(text(branch.then)).toMatch(/"arr":"tileu1"/);
    expect(text(branch.else)).not.toMatch(/tileu/);
    expect(text(branch.else)).toMatch(/"buf":"B"/);
  });

  it("computes what depends only on a tile once for a thread's K rows (GLA's gate from gk); the general form once per row", async () => {
    const gla = await loadProgram(new URL('../examples/gla.ts', import.meta.url).pathname);
    const sp = specializeFor(gla, fullVariant(gla), { batch: 2, seqlen: 64, nheads: 2, headdim: 8, dkey: 16 }, 'f32');
    const pows = (x: unknown): number => (JSON.stringify(x).match(/"fn":"pow"/g) ?? []).length;
    const counts = [1, 2, 4].map((rowBlock) => {
      const { plan } = compileKernel(sp, 'wgsl', { threads: 1, items: 2, rows: 4, lanes: 4, rowBlock }, { subgroups: false, sharedBytes: 32 * 1024 });
      const branch = uniformBranch(plan.body)!;
      return { uniform: pows(branch.then), general: pows(branch.else) };
    });
    expect(counts[0]!.uniform).toBeGreaterThan(0);
    expect(counts.map((c) => c.uniform)).toEqual([1, 1, 1].map(() => counts[0]!.uniform));
    expect(counts.map((c) => c.general)).toEqual([1, 2, 4].map((k) => k * counts[0]!.general));
  });

  it('runs exactly in the workgroups whose rows agree on batch and group (emptied, they leave NaN there)', async () => {
    // Rows b·6 + d in pairs: (0,1) (4,5) of each batch lie in one group, (2,3) straddles groups 0 and 1.
    await expectUniformRunsInRows(ex.gpu, ex.p, caseOf({ dims, schedule, seed: 3 }), 2 * 2 * 2);
  }, GPU_TIMEOUT);

  it('is wrong where rows straddle groups: forced everywhere it fails the check; the general form alone passes', async () => {
    await expectUniformWrongWhereRowsStraddle(ex.gpu, ex.p, caseOf({ dims, schedule, seed: 5 }));
  }, GPU_TIMEOUT);
});

describe('the knob', () => {
  const sp = (): ReturnType<typeof specializeFor> => specializeFor(ex.p, fullVariant(ex.p), { batch: 2, dim: 6, seqlen: 64, dstate: 16, ngroups: 2 }, 'f32');

  it('lanes must be a power of two no larger than the state; the workgroup memory must fit', () => {
    expect(() => compileKernel(sp(), 'wgsl', { threads: 1, items: 2, lanes: 6 }, { subgroups: false })).toThrow('lanes must be a power of two, got 6');
    expect(() => compileKernel(sp(), 'wgsl', { threads: 1, items: 2, lanes: 32 }, { subgroups: false })).toThrow('lanes (32) exceed the 16 state elements (dstate)');
    expect(() => compileKernel(sp(), 'wgsl', { threads: 1, items: 4, lanes: 16, rows: 16 }, { subgroups: false })).toThrow(/needs \d+ bytes of workgroup memory, more than the 16384 this target allows/);
  });

  it('grid and name: a workgroup of lanes × rows threads owns rows rows', () => {
    const info = compileKernel(sp(), 'cuda', { threads: 32, items: 2, rows: 8, lanes: 16 }, { subgroups: true });
    expect(info.rowsPerGroup).toBe(8);
    expect(info.kernel.workgroupSize).toBe(128);
    expect(info.kernel.entry).toMatch(/_l16i2r8$/);
    // lanes 1 is the chunked scan, the kernel of before.
    expect(compileKernel(sp(), 'cuda', { threads: 32, items: 2, lanes: 1 }, { subgroups: true }).kernel.source).toBe(compileKernel(sp(), 'cuda', { threads: 32, items: 2 }, { subgroups: true }).kernel.source);
  });
});

describe('other programs the diagonal scan takes', () => {
  const programs: { file: string; dims: Record<string, number>; schedule: Schedule; extra?: Partial<CaseSpec> }[] = [
    { file: 'gla', dims: { batch: 1, seqlen: 45, nheads: 2, headdim: 3, dkey: 8 }, schedule: { threads: 1, items: 2, lanes: 4, rows: 2 } },
    { file: 's4d', dims: { batch: 2, dim: 3, seqlen: 70, dstate: 16 }, schedule: { threads: 1, items: 4, lanes: 4, rows: 2 } },
    { file: 'retnet', dims: { batch: 1, seqlen: 40, nheads: 2, headdim: 3, dkey: 8 }, schedule: { threads: 1, items: 1, lanes: 8, rows: 3 } },
    { file: 'gla', dims: { batch: 2, seqlen: 37, nheads: 2, headdim: 5, dkey: 8 }, schedule: { threads: 1, items: 2, lanes: 4, rows: 2, rowBlock: 2 } },
  ];
  for (const { file, dims, schedule } of programs) {
    it(`${file}, ${label(schedule)}`, () => expectExamplePasses(ex.gpu, file, dims, schedule, label(schedule), 5), GPU_TIMEOUT);
  }

  it('Mamba-2 forced onto the diagonal scan (head axis promoted), lanes 4, rowBlock 3 (blocks straddle heads)', async () => {
    const m2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const r = await expectCasePasses(new ProgramRunner(ex.gpu, m2, { tuned: false }), {
      dims: { batch: 2, seqlen: 77, nheads: 4, headdim: 8, ngroups: 2, dstate: 8 }, present: m2.inputs.filter((t) => t.optional && t.name !== 'D_hp').map((t) => t.name),
      initStates: ['S'], finalStates: ['S'], seed: 9, schedule: { threads: 1, items: 2, lanes: 4, rows: 4, rowBlock: 3, lowering: 'diagonal-scan' },
    });
    expect(r.kernel).toMatch(/_l4i2r4k3$/);
  }, GPU_TIMEOUT);
});
