// The state-axis promotion: which matrix-state axes the analysis proves free,
// what the transform makes of the program, what compileKernel records, and
// the reason given for every program it must refuse. No GPU needed. Programs
// the SSD lowering would take are sent through the chunked scan by forcing
// it (chooseLowering(sp, 'diagonal-scan'), Schedule.lowering).

import { beforeAll, describe, expect, it } from 'vitest';
import { chooseLowering, compileKernel } from '../codegen/compile.ts';
import { freeStateAxes, NotPromotable } from '../codegen/analysis/free-state-axes.ts';
import { promoteFreeStateAxes } from '../codegen/lower/promote-state-axes.ts';
import { allTensors, type Program } from '../dsl/ir.ts';
import { loadProgram, loadPrograms } from '../dsl/load.ts';
import { fullVariant, specialize } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';

const fixture = (f: string): string => new URL(`./fixtures/${f}`, import.meta.url).pathname;

describe('promoting free state axes to parallel axes', () => {
  let m2: Program;
  let r3: Program;
  let mamba1: Program;
  let rejects: Map<string, Program>;
  beforeAll(async () => {
    m2 = await loadProgram(fixture('mamba2-shaped.ts'));
    r3 = await loadProgram(fixture('matrix-state.ts'));
    mamba1 = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    rejects = new Map((await loadPrograms(fixture('matrix-state-rejects.ts'))).map((p) => [p.name, p]));
  }, 60_000);

  it('Mamba-2 shape: p (headdim) is free; S[p][n] over (b, h) becomes S[n] over (b, h, p)', () => {
    const sp = specialize(m2, fullVariant(m2));
    expect(freeStateAxes(sp)).toEqual([{ index: 'p', dim: 'headdim' }]);
    const { program, axes } = promoteFreeStateAxes(sp);
    expect(axes.map((a) => a.index)).toEqual(['p']);
    expect(program.parallel).toEqual(['b', 'h', 'p']);
    expect(program.indices.p!.role).toBe('parallel');
    expect(program.state.map((s) => s.shape)).toEqual([['dstate']]);
    const set = program.step.find((s) => s.k === 'setState')!;
    expect(set.k === 'setState' && set.idx).toEqual(['n']);
    expect(JSON.stringify(program.step)).not.toMatch(/"k":"state","name":"S","idx":\[\{"k":"ivar","name":"p"/);
    // The state tensors keep their declared layout (batch, nheads, headdim, dstate).
    const layout = (p: Program): string[][] => allTensors(p).filter((t) => t.state).map((t) => t.shape);
    expect(layout(program)).toEqual(layout(sp));
    expect(layout(program)[0]).toEqual(['batch', 'nheads', 'headdim', 'dstate']);
    // The input is untouched.
    expect(sp.parallel).toEqual(['b', 'h']);
    expect(sp.state[0]!.shape).toEqual(['headdim', 'dstate']);
  });

  it('rank-3 state: both leading axes, in state order', () => {
    const sp = specialize(r3, fullVariant(r3));
    expect(freeStateAxes(sp)).toEqual([{ index: 'r', dim: 'rank' }, { index: 'p', dim: 'width' }]);
    const { program } = promoteFreeStateAxes(sp);
    expect(program.parallel).toEqual(['b', 'h', 'r', 'p']);
    expect(program.state[0]!.shape).toEqual(['dstate']);
  });

  it('1-D states: nothing to promote, the program is passed through', () => {
    const sp = specialize(mamba1, fullVariant(mamba1));
    expect(freeStateAxes(sp)).toEqual([]);
    const r = promoteFreeStateAxes(sp);
    expect(r.program).toBe(sp);
    expect(chooseLowering(sp)).toMatchObject({ lowering: 'diagonal-scan', notes: [], promotedAxes: [] });
  });

  it('compileKernel records the promoted axes, the note, and launches rows over them', () => {
    const sp = specializeFor(m2, fullVariant(m2), { batch: 2, seqlen: 100, nheads: 3, headdim: 4, ngroups: 1, dstate: 8 });
    for (const target of ['wgsl', 'cuda'] as const) {
      const info = compileKernel(sp, target, { threads: 32, items: 4, lowering: 'diagonal-scan' }, { subgroups: false });
      expect(info.lowering).toBe('diagonal-scan');
      expect(info.promotedAxes).toEqual([{ index: 'p', dim: 'headdim' }]);
      expect(info.notes.join()).toMatch(/state axes p \(headdim\) run as parallel axes/);
      expect(info.gridFromDims).toEqual(['batch', 'nheads', 'headdim']);
      // Bindings are the declared tensors, state ones included.
      expect(info.kernel.bindings.map((b) => b.name).sort()).toEqual(['A', 'B', 'C', 'D', 'S_final', 'S_init', 'dt', 'dt_bias', 'x', 'y', 'z']);
    }
  });

  const REJECTS: [string, RegExp][] = [
    ['sums_over_p', /leading axes of S \(headdim, dstate\) cannot become parallel axes: output y sums over p, so p cannot become a parallel axis$/],
    ['mixes_rows', /the update of S reads S\[0\]\[n\] while updating S\[p\]\[n\]: it mixes elements along p \(not diagonal in p\)/],
    ['unbound_output', /output w does not bind p \(it is written at \[b\]\[t\]\[h\]\): as a parallel axis, every p row would write the same elements/],
    ['trailing_free', /output y sums over n, so n cannot become a parallel axis; p is free in S\[n\]\[p\], but only leading state axes can be promoted .*declare S with its p axis first/],
    ['broadcast_state', /state z \(dstate\) has no axis for p \(headdim\): .*z_init\/z_final, laid out \(parallel dims\.\.\., dstate\), would not match rows over \(parallel dims\.\.\., headdim\)/],
    ['mixes_state_elems', /diagonal-scan \(after promoting p to parallel axes\): S is read at \[0\] while updating \[n\]: the update mixes state elements/],
  ];
  for (const [name, message] of REJECTS) {
    it(`refuses ${name}, saying why`, () => {
      const p = rejects.get(name)!;
      expect(p).toBeDefined();
      const sp = specialize(p, fullVariant(p));
      expect(() => chooseLowering(sp, 'diagonal-scan')).toThrow(new RegExp(`^${name}: no lowering fits this program: `));
      expect(() => chooseLowering(sp, 'diagonal-scan')).toThrow(message);
      expect(() => compileKernel(sp, 'wgsl', { threads: 32, items: 2, lowering: 'diagonal-scan' }, { subgroups: false })).toThrow(message);
    });
  }

  it('the analysis throws NotPromotable with the bare reason', () => {
    const sp = specialize(rejects.get('sums_over_p')!, fullVariant(rejects.get('sums_over_p')!));
    let err: unknown;
    try { freeStateAxes(sp); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(NotPromotable);
    expect((err as NotPromotable).reason).toBe('output y sums over p, so p cannot become a parallel axis');
  });
});
