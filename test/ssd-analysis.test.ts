// codegen/analysis/ssd.ts: which programs are SSD-able and, for those that
// are not, that the reason names the fact that fails and where. No GPU.

import { beforeAll, describe, expect, it } from 'vitest';
import { chooseLowering, compileKernel } from '../codegen/compile.ts';
import { analyseSsd, READOUT, ssdRejects } from '../codegen/analysis/ssd.ts';
import { loadProgram, loadPrograms } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { allVariants } from '../runtime/variants.ts';

const DIMS = { batch: 1, seqlen: 3, nheads: 2, headdim: 4, ngroups: 1, dstate: 8, dim: 4 };

describe('SSD analysis', () => {
  let mamba2: Program;
  let fixtures: Map<string, Program>;
  beforeAll(async () => {
    mamba2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    fixtures = new Map((await loadPrograms(new URL('./fixtures/ssd-rejects.ts', import.meta.url).pathname)).map((p) => [p.name, p]));
  }, 60_000);

  it('proves Mamba-2 SSD-able in every variant, and chooseLowering picks ssd', () => {
    const variants = allVariants(mamba2);
    expect(variants.length).toBe(2 ** 4 * 2 * 2 * 2);
    for (const v of variants) {
      const sp = specializeFor(mamba2, v, DIMS);
      expect(ssdRejects(sp)).toBeUndefined();
      expect(chooseLowering(sp).lowering).toBe('ssd');
    }
  });

  it('finds the factors of the recurrence: log-decay, per-step factor, u[p], w[n], readout weights', () => {
    const f = analyseSsd(specializeFor(mamba2, fullVariant(mamba2), DIMS));
    const text = (x: unknown): string => JSON.stringify(x);
    expect(f.state.name).toBe('S');
    expect([f.pAxis, f.pDim, f.nDim, f.pVar, f.nVar]).toEqual([0, 'headdim', 'dstate', 'p', 'n']);
    expect(text(f.logDecay)).toContain('"tensor":"A"');
    expect(text(f.logDecay)).toContain('"fn":"softplus"');
    expect(text(f.scale)).toContain('"fn":"softplus"'); // dt is a per-step factor, not a per-(step, p) one
    expect(text(f.u)).toContain('"tensor":"x"');
    expect(text(f.u)).not.toContain('softplus');
    expect(text(f.w)).toContain('"tensor":"B"');
    expect(text(f.c)).toContain('"tensor":"C"');
    expect(f.stores).toHaveLength(1);
    expect(text(f.stores[0]!.expr)).toContain(READOUT);
    expect(text(f.stores[0]!.expr)).toContain('"fn":"silu"');
  });

  const rejects: [string, RegExp][] = [
    ['diagonal_decay', /the decay of S\[p\]\[n\] at \d+:\d+ depends on n .*one scalar decay per step/],
    ['rank_two', /the input term of S\[p\]\[n\] at \d+:\d+ is not an outer product u\[p\]·w\[n\] \(rank 1\): it adds 2 terms of the current step/],
    ['full_input', /not an outer product .*W\[p\]\[n\] is indexed by both p and n/],
    ['weights_on_p', /output y at \d+:\d+: the readout weights depend on p/],
    ['read_before', /output y at \d+:\d+ reads S before its update/],
    ['sigmoid_decay', /the decay of S\[p\]\[n\] at \d+:\d+ is not exp\(\.\.\.\) \(a factor is sigmoid\(\.\.\.\)\)/],
    ['point_read', /output y at \d+:\d+ reads S outside a sum over its state index/],
    ['squared_readout', /the readout Σ_n is not linear in S: S is multiplied by itself/],
  ];
  for (const [name, why] of rejects) {
    it(`rejects ${name}, saying why`, () => {
      const sp = specializeFor(fixtures.get(name)!, fullVariant(fixtures.get(name)!), DIMS);
      expect(ssdRejects(sp)).toMatch(why);
      // Forcing it says the same.
      expect(() => compileKernel(sp, 'wgsl', { threads: 32, items: 1, lowering: 'ssd' }, { subgroups: false })).toThrow(why);
    });
  }

  it('accepts a state declared (dstate, headdim): the readout decides which axis is kept', () => {
    const q = fixtures.get('transposed')!;
    const f = analyseSsd(specializeFor(q, fullVariant(q), DIMS));
    expect([f.pAxis, f.nAxis, f.pDim, f.nDim]).toEqual([1, 0, 'headdim', 'dstate']);
    expect(JSON.stringify(f.scale)).toContain('"tensor":"dt"');
  });

  it('rejects Mamba-1 (a vector state), and forcing ssd on it says so', async () => {
    const m1 = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    const sp = specializeFor(m1, fullVariant(m1), { batch: 1, dim: 4, seqlen: 3, dstate: 16, ngroups: 1 });
    expect(ssdRejects(sp)).toBe('SSD needs a matrix state; h has 1 dim (dstate)');
    expect(chooseLowering(sp).lowering).toBe('diagonal-scan');
    expect(() => chooseLowering(sp, 'ssd')).toThrow('the ssd lowering does not fit this program: SSD needs a matrix state; h has 1 dim (dstate)');
  });

  it('the generic chunked scan can be forced on Mamba-2', () => {
    const sp = specializeFor(mamba2, fullVariant(mamba2), DIMS);
    const c = chooseLowering(sp, 'diagonal-scan');
    expect(c.lowering).toBe('diagonal-scan');
    expect(c.promotedAxes.map((a) => a.index)).toEqual(['p']);
  });
});
