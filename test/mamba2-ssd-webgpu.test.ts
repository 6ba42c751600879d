// Mamba-2 (examples/mamba2.ts) on this machine's WebGPU adapter (llvmpipe on
// CI) through the SSD lowering (codegen/lower/ssd.ts) against the float64
// reference: fresh seeded inputs, outputs poisoned with NaN, relative L2 of
// y and the final state within the spec's tolerance (§6). Covers sequence
// lengths around chunk boundaries, groups, every optional input, state in
// and out, and a sequence in pieces. Tilings, the tensor-core layout and the
// generic lowering: mamba2-ssd-lowerings.test.ts. Most cases share one
// kernel (dims other than headdim/dstate are runtime parameters): each new
// kernel costs a JIT compile on llvmpipe.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../codegen/compile.ts';
import type { Program } from '../dsl/ir.ts';
import type { Backend } from '../runtime/backend.ts';
import { checkCase, randomInputs, relL2, tolerance, type CheckResult } from '../runtime/check.ts';
import { ProgramRunner, specializeFor, type HostTensor } from '../runtime/program-runner.ts';
import { runReference } from '../runtime/reference/interpret.ts';
import type { WebGpuBackend } from '../runtime/webgpu/index.ts';
import { caseFrom, expectCasePasses, type CaseSpec } from './helpers/check.ts';
import { openExample } from './helpers/example.ts';
import { concatAxis, sliceSeq } from './helpers/sequence.ts';

const ALL_OPTIONAL = ['D', 'D_hp', 'z', 'dt_bias'];
const GPU_TIMEOUT = 120_000;
const SSD: Schedule = { threads: 64, items: 4, chunk: 16 };

/** Concatenates along axis 1 (seqlen of y: batch, seqlen, nheads, headdim). */
const concatSeq = (a: HostTensor, b: HostTensor): HostTensor => concatAxis([a, b], 1);

describe('Mamba-2 through the SSD lowering (WGSL) vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let runner: ProgramRunner;

  beforeAll(async () => ({ p, gpu, runner } = await openExample('mamba2')), GPU_TIMEOUT);

  afterAll(() => gpu?.destroy());

  const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['S'], finalStates: ['S'], seed: 1, schedule: SSD, dims: { batch: 2, seqlen: 50, nheads: 4, headdim: 8, ngroups: 2, dstate: 16 } });

  async function expectPasses(spec: CaseSpec, given?: Record<string, HostTensor>, on: ProgramRunner = runner): Promise<CheckResult> {
    return expectCasePasses(on, caseOf(spec), given);
  }

  it('analysis picks the SSD lowering for every variant', async () => {
    const prep = await runner.prepare(randomInputs(p, caseOf({})), { finalStates: ['S'], dims: caseOf({}).dims, schedule: SSD });
    expect(prep.info.lowering).toBe('ssd');
    expect(prep.info.kernel.entry).toMatch(/_ssd_t64q16$/);
    expect(prep.info.notes.join(' ')).toMatch(/scalar decay/);
  }, GPU_TIMEOUT);

  describe('sequence lengths around the chunk (16)', () => {
    for (const seqlen of [1, 2, 15, 16, 17, 32, 33, 100]) {
      it(`seqlen ${seqlen}`, async () => {
        await expectPasses({ dims: { seqlen }, seed: seqlen });
      }, GPU_TIMEOUT);
    }

    it('seqlen 1000 with chunk 64 (many chunks, tolerance 1e-5)', async () => {
      await expectPasses({ dims: { seqlen: 1000, batch: 1, nheads: 2 }, schedule: { ...SSD, chunk: 64 }, seed: 1000 });
    }, GPU_TIMEOUT);
  });

  describe('groups', () => {
    for (const [nheads, ngroups] of [[4, 1], [4, 2], [4, 4], [6, 3]] as const) {
      it(`nheads ${nheads}, ngroups ${ngroups}`, async () => {
        await expectPasses({ dims: { nheads, ngroups, seqlen: 40 }, seed: 10 + nheads * ngroups });
      }, GPU_TIMEOUT);
    }
  });

  describe('optional inputs', () => {
    // Each optional input present without the others somewhere, and absent from the others.
    const subsets = [[], ['D'], ['D_hp', 'z'], ['dt_bias']];
    for (const present of subsets) {
      it(`present: [${present.join(', ')}]`, async () => {
        await expectPasses({ present, dims: { seqlen: 37 }, seed: 20 + present.length });
      }, GPU_TIMEOUT);
    }

    it('dt_softplus = false (small positive dt)', async () => {
      const spec: CaseSpec = { flags: { dt_softplus: false }, dims: { seqlen: 45 }, seed: 30 };
      const given = randomInputs(p, caseOf(spec));
      given.dt = { ...given.dt!, data: given.dt!.data.map((d) => 0.02 + 0.1 * Math.abs(d)) };
      given.dt_bias = { ...given.dt_bias!, data: given.dt_bias!.data.map((d) => 0.01 * Math.abs(d)) };
      await expectPasses(spec, given);
    }, GPU_TIMEOUT);
  });

  describe('initial and final state', () => {
    for (const init of [false, true]) {
      for (const fin of [false, true]) {
        it(`S_init ${init ? 'given' : 'absent'}, S_final ${fin ? 'asked' : 'not asked'}`, async () => {
          const r = await expectPasses({ initStates: init ? ['S'] : [], finalStates: fin ? ['S'] : [], dims: { seqlen: 35 }, seed: 40 });
          expect(r.errors.some((e) => e.name === 'S_final')).toBe(fin);
        }, GPU_TIMEOUT);
      }
    }

    it('S_init is read: a different one changes y; none equals zeros', async () => {
      const c = caseOf({ dims: { seqlen: 20 }, seed: 41, present: [] });
      const inputs = randomInputs(p, c);
      const opts = { finalStates: ['S'], schedule: SSD };
      const a = await runner.run(inputs, opts);
      const zero = { ...inputs, S_init: { data: new Float32Array(inputs.S_init!.data.length), shape: inputs.S_init!.shape } };
      const b = await runner.run(zero, opts);
      expect(relL2(a.y!.data, Float64Array.from(b.y!.data)).relL2).toBeGreaterThan(1e-3);
      const { S_init: _drop, ...noInit } = inputs;
      const c0 = await runner.run(noInit, opts);
      expect(relL2(c0.y!.data, Float64Array.from(b.y!.data)).relL2).toBeLessThan(1e-6);
      expect(relL2(c0.S_final!.data, Float64Array.from(b.S_final!.data)).relL2).toBeLessThan(1e-6);
    }, GPU_TIMEOUT);
  });

  describe('a sequence in pieces equals it whole (S_final → S_init)', () => {
    const cuts = [
      { seqlen: 100, cut: 37, init: true },
      { seqlen: 100, cut: 32, init: false }, // at a chunk boundary
      { seqlen: 40, cut: 1, init: true },
    ];
    for (const { seqlen, cut, init } of cuts) {
      it(`seqlen ${seqlen} cut at ${cut}, S_init ${init ? 'given' : 'absent'}`, async () => {
        const c = caseOf({ dims: { seqlen }, seed: 70 + cut, initStates: init ? ['S'] : [] });
        const inputs = randomInputs(p, c);
        const opts = { finalStates: ['S'], schedule: SSD };
        const whole = await runner.run(inputs, opts);
        const first = await runner.run(sliceSeq(p, inputs, 0, cut), opts);
        const second = await runner.run({ ...sliceSeq(p, inputs, cut, seqlen), S_init: first.S_final! }, opts);
        const y = concatSeq(first.y!, second.y!);
        expect(y.shape).toEqual(whole.y!.shape);
        const ey = relL2(y.data, Float64Array.from(whole.y!.data)), eh = relL2(second.S_final!.data, Float64Array.from(whole.S_final!.data));
        expect(ey.nan + eh.nan).toBe(0);
        expect(ey.relL2).toBeLessThan(1e-5);
        expect(eh.relL2).toBeLessThan(1e-5);
        const sp = specializeFor(p, { present: ALL_OPTIONAL, flags: p.flags, initStates: c.initStates, finalStates: ['S'] }, c.dims);
        const ref = runReference(sp, c.dims, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Float64Array.from(v.data)])));
        expect(relL2(y.data, ref.y!).relL2).toBeLessThan(tolerance('f32', seqlen));
        expect(relL2(second.S_final!.data, ref.S_final!).relL2).toBeLessThan(tolerance('f32', seqlen));
      }, GPU_TIMEOUT);
    }
  });

  describe('checks fail when they should', () => {
    it('a kernel that writes nothing cannot pass: outputs are poisoned with NaN', async () => {
      let launches = 0;
      const idle = new Proxy(gpu as Backend, {
        get(target, prop) {
          if (prop === 'launch') return () => { launches++; };
          const v = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const r = await checkCase(new ProgramRunner(idle, p, { tuned: false }), caseOf({ dims: { seqlen: 20 }, seed: 95 }));
      expect(launches).toBe(1);
      expect(r.ok).toBe(false);
      expect(r.errors.find((e) => e.name === 'y')!.nan).toBe(2 * 20 * 4 * 8);
      expect(r.errors.find((e) => e.name === 'S_final')!.nan).toBe(2 * 4 * 8 * 16);
    }, GPU_TIMEOUT);

    it('results against the reference of other inputs are far off', async () => {
      const c = caseOf({ dims: { seqlen: 30 }, seed: 96 });
      const inputs = randomInputs(p, c), other = randomInputs(p, { ...c, seed: 97 });
      const got = await runner.run(inputs, { finalStates: ['S'], schedule: SSD });
      const sp = specializeFor(p, { present: ALL_OPTIONAL, flags: p.flags, initStates: ['S'], finalStates: ['S'] }, c.dims);
      const as64 = (x: Record<string, HostTensor>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Float64Array.from(v.data)]));
      expect(relL2(got.y!.data, runReference(sp, c.dims, as64(inputs)).y!).relL2).toBeLessThan(1e-5);
      const wrong = runReference(sp, c.dims, as64(other));
      expect(relL2(got.y!.data, wrong.y!).relL2).toBeGreaterThan(0.1);
      expect(relL2(got.S_final!.data, wrong.S_final!).relL2).toBeGreaterThan(0.1);
    }, GPU_TIMEOUT);
  });
});
