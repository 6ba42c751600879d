// Mamba-1 WGSL kernels on this machine's WebGPU adapter (llvmpipe on CI)
// against the float64 reference, through checkCase: fresh seeded inputs,
// outputs poisoned with NaN, relative L2 error of every output and state
// within the spec's tolerance (§6). Dims stay small: the CPU adapter is slow.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { checkCase, randomInputs, relL2, tolerance, type CheckResult } from '../runtime/check.ts';
import { ProgramRunner, type HostTensor } from '../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { wrapBackend } from './helpers/backend.ts';
import { caseFrom, expectCasePasses, referenceOf, type CaseSpec } from './helpers/check.ts';
import { concatAxis, sliceSeq } from './helpers/sequence.ts';

const ALL_OPTIONAL = ['D', 'z', 'delta_bias'];
const GPU_TIMEOUT = 120_000;

describe('Mamba-1 WGSL kernels vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let runner: ProgramRunner;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    gpu = await openWebGpu();
    runner = new ProgramRunner(gpu, p);
    console.log(`WebGPU device: ${gpu.deviceName}; subgroups: ${gpu.limits.subgroups}`);
  }, GPU_TIMEOUT);

  afterAll(() => gpu?.destroy());

  const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['h'], finalStates: ['h'], seed: 1, dims: { batch: 2, dim: 4, seqlen: 64, dstate: 16, ngroups: 1 } });

  async function expectPasses(spec: CaseSpec, given?: Record<string, HostTensor>): Promise<CheckResult> {
    return expectCasePasses(runner, caseOf(spec), given);
  }

  describe('sequence lengths', () => {
    for (const seqlen of [1, 2, 7, 1000]) {
      it(`seqlen ${seqlen}`, async () => {
        await expectPasses({ dims: { seqlen }, seed: seqlen });
      }, GPU_TIMEOUT);
    }

    it('seqlen 4097 (batch 1, dim 2; the tolerance beyond 4096 is 1e-4)', async () => {
      const r = await expectPasses({ dims: { batch: 1, dim: 2, seqlen: 4097 }, seed: 4097 });
      expect(r.errors[0]!.tolerance).toBe(1e-4);
      // Well inside the looser bound in practice.
      for (const e of r.errors) expect(e.relL2).toBeLessThan(1e-5);
    }, GPU_TIMEOUT);
  });

  describe('groups and state size', () => {
    for (const ngroups of [1, 2, 4]) {
      it(`ngroups ${ngroups} (dim 4)`, async () => {
        await expectPasses({ dims: { dim: 4, ngroups, seqlen: 300 }, seed: 20 + ngroups });
      }, GPU_TIMEOUT);
    }

    it('dstate 4 (a non-default static dim gets its own kernel)', async () => {
      await expectPasses({ dims: { dstate: 4, seqlen: 200, ngroups: 2 }, seed: 30 });
    }, GPU_TIMEOUT);
  });

  describe('optional inputs', () => {
    const subsets = [[], ALL_OPTIONAL, ['D'], ['z'], ['delta_bias'], ['D', 'z'], ['z', 'delta_bias'], ['D', 'delta_bias']];
    for (const present of subsets) {
      it(`present: [${present.join(', ')}]`, async () => {
        await expectPasses({ present, dims: { seqlen: 150 }, seed: 40 + present.length });
      }, GPU_TIMEOUT);
    }
  });

  describe('initial and final state', () => {
    for (const init of [false, true]) {
      for (const fin of [false, true]) {
        it(`initial state ${init ? 'given' : 'not given'}, final state ${fin ? 'asked' : 'not asked'}`, async () => {
          const r = await expectPasses({ initStates: init ? ['h'] : [], finalStates: fin ? ['h'] : [], dims: { seqlen: 130 }, seed: 50 });
          expect(r.errors.some((e) => e.name === 'h_final')).toBe(fin);
        }, GPU_TIMEOUT);
      }
    }

    it('the initial state is read: a different h_init changes y', async () => {
      const c = caseOf({ dims: { seqlen: 20 }, seed: 51, present: [] });
      const inputs = randomInputs(p, c);
      const a = await runner.run(inputs, { finalStates: ['h'] });
      const zeroInit = { ...inputs, h_init: { data: new Float32Array(inputs.h_init!.data.length), shape: inputs.h_init!.shape } };
      const b = await runner.run(zeroInit, { finalStates: ['h'] });
      const diff = relL2(a.y!.data, Float64Array.from(b.y!.data));
      expect(diff.relL2).toBeGreaterThan(1e-3);
      // ...and no initial state at all is the same as a zero one.
      const { h_init: _drop, ...noInit } = inputs;
      const c0 = await runner.run(noInit, { finalStates: ['h'] });
      expect(relL2(c0.y!.data, Float64Array.from(b.y!.data)).relL2).toBeLessThan(1e-6);
    }, GPU_TIMEOUT);
  });

  describe('flags', () => {
    it('delta_softplus = false', async () => {
      const c = caseOf({ flags: { delta_softplus: false }, dims: { seqlen: 500 }, seed: 60 });
      const given = randomInputs(p, c);
      // Without softplus the declared N(-2, 1) deltas would be negative steps and
      // the state would grow like exp(L); use small positive ones.
      given.delta = { ...given.delta!, data: given.delta!.data.map((d) => 0.02 + 0.1 * Math.abs(d)) };
      given.delta_bias = { ...given.delta_bias!, data: given.delta_bias!.data.map((d) => 0.01 * d) };
      await expectPasses({ flags: { delta_softplus: false }, dims: { seqlen: 500 }, seed: 60 }, given);
    }, GPU_TIMEOUT);
  });

  describe('schedules', () => {
    const schedules: Schedule[] = [
      { threads: 32, items: 1 },
      { threads: 64, items: 4 },
      { threads: 128, items: 2 },
      { threads: 16, items: 8 },
      // 6 items: 16-byte groups at 6·thread + 0 are aligned only for even threads (checked at run time).
      { threads: 32, items: 6 },
    ];
    for (const schedule of schedules) {
      const chunk = schedule.threads * schedule.items;
      // Exactly one chunk, one element past it, a partial last chunk, several chunks.
      for (const seqlen of [chunk, chunk + 1, chunk - 1, 3 * chunk + 5]) {
        it(`threads ${schedule.threads} × items ${schedule.items}, seqlen ${seqlen}`, async () => {
          const r = await expectPasses({ schedule, dims: { seqlen, batch: 1, dim: 3 }, seed: seqlen });
          expect(r.kernel).toMatch(new RegExp(`_t${schedule.threads}i${schedule.items}$`));
        }, GPU_TIMEOUT);
      }
    }

    it('threads 32 × items 1 with ngroups 2 and a mixed variant', async () => {
      await expectPasses({ schedule: { threads: 32, items: 1 }, present: ['z'], initStates: [], dims: { ngroups: 2, seqlen: 97 }, seed: 70 });
    }, GPU_TIMEOUT);
  });

  describe('a sequence processed in two pieces equals it in one', () => {
    const cuts: { seqlen: number; cut: number; schedule?: Schedule; init: boolean }[] = [
      { seqlen: 1000, cut: 437, init: true },
      { seqlen: 1000, cut: 437, init: false },
      { seqlen: 600, cut: 256, schedule: { threads: 64, items: 4 }, init: true }, // cut at a chunk boundary
      { seqlen: 300, cut: 1, schedule: { threads: 32, items: 1 }, init: true },
    ];
    for (const { seqlen, cut, schedule, init } of cuts) {
      it(`seqlen ${seqlen} cut at ${cut}${schedule ? ` (threads ${schedule.threads} × items ${schedule.items})` : ''}, h_init ${init ? 'given' : 'absent'}`, async () => {
        const c = caseOf({ dims: { seqlen }, seed: 80 + cut, initStates: init ? ['h'] : [] });
        const inputs = randomInputs(p, c);
        const opts = { finalStates: ['h'], schedule };
        const whole = await runner.run(inputs, opts);
        const first = await runner.run(sliceSeq(p, inputs, 0, cut), opts);
        expect(first.y!.shape).toEqual([2, 4, cut]);
        const second = await runner.run({ ...sliceSeq(p, inputs, cut, seqlen), h_init: first.h_final! }, opts);
        const y = concatAxis([first.y!, second.y!], 2);
        expect(y.shape).toEqual(whole.y!.shape);
        const ey = relL2(y.data, Float64Array.from(whole.y!.data));
        const eh = relL2(second.h_final!.data, Float64Array.from(whole.h_final!.data));
        expect(ey.nan).toBe(0);
        expect(eh.nan).toBe(0);
        expect(ey.relL2).toBeLessThan(1e-5);
        expect(eh.relL2).toBeLessThan(1e-5);
        // Both agree with the reference too.
        const ref = referenceOf(p, { present: ALL_OPTIONAL, initStates: c.initStates, finalStates: ['h'] }, c.dims, inputs);
        expect(relL2(y.data, ref.y!).relL2).toBeLessThan(tolerance('f32', seqlen));
        expect(relL2(second.h_final!.data, ref.h_final!).relL2).toBeLessThan(tolerance('f32', seqlen));
      }, GPU_TIMEOUT);
    }
  });

  describe('checks fail when they should', () => {
    it('relL2 of a NaN output: nan > 0 and relL2 = Infinity', () => {
      const ref = Float64Array.from([1, 2, 3, 4]);
      expect(relL2(Float32Array.from([1, 2, 3, 4]), ref)).toEqual({ relL2: 0, nan: 0 });
      expect(relL2(Float32Array.from([1, NaN, 3, 4]), ref)).toEqual({ relL2: Infinity, nan: 1 });
      expect(relL2(Float32Array.from([Infinity, NaN, 3, -Infinity]), ref)).toEqual({ relL2: Infinity, nan: 3 });
      const e = relL2(Float32Array.from([1.1, 2, 3, 4]), ref);
      expect(e.relL2).toBeCloseTo(0.1 / Math.sqrt(30), 6);
    });

    it('a kernel result compared against the reference of other inputs is far off', async () => {
      const c = caseOf({ dims: { seqlen: 100 }, seed: 90 });
      const inputs = randomInputs(p, c);
      const other = randomInputs(p, { ...c, seed: 91 });
      const got = await runner.run(inputs, { finalStates: ['h'] });
      const variant = { present: ALL_OPTIONAL, initStates: ['h'], finalStates: ['h'] };
      const right = referenceOf(p, variant, c.dims, inputs);
      const wrong = referenceOf(p, variant, c.dims, other);
      expect(relL2(got.y!.data, right.y!).relL2).toBeLessThan(1e-5);
      expect(relL2(got.y!.data, wrong.y!).relL2).toBeGreaterThan(0.1);
      expect(relL2(got.h_final!.data, wrong.h_final!).relL2).toBeGreaterThan(0.1);
    }, GPU_TIMEOUT);

    it('checkCase fails on results off by 0.1%', async () => {
      const scaled = wrapBackend(gpu, {
        read: async (buf) => {
          const bytes = await gpu.read(buf);
          const f = new Float32Array(bytes);
          for (let i = 0; i < f.length; i++) f[i] = f[i]! * 1.001;
          return bytes;
        },
      });
      const r = await checkCase(new ProgramRunner(scaled, p), caseOf({ dims: { seqlen: 64 }, seed: 92 }));
      expect(r.ok).toBe(false);
      for (const e of r.errors) {
        expect(e.ok).toBe(false);
        expect(e.nan).toBe(0);
        expect(e.relL2).toBeGreaterThan(5e-4);
        expect(e.relL2).toBeLessThan(2e-3);
      }
    }, GPU_TIMEOUT);

    it('checkCase fails on a single NaN', async () => {
      const holed = wrapBackend(gpu, {
        read: async (buf) => {
          const bytes = await gpu.read(buf);
          new Float32Array(bytes)[3] = NaN;
          return bytes;
        },
      });
      const r = await checkCase(new ProgramRunner(holed, p), caseOf({ dims: { seqlen: 64 }, seed: 93 }));
      expect(r.ok).toBe(false);
      for (const e of r.errors) expect(e).toMatchObject({ nan: 1, relL2: Infinity, ok: false });
    }, GPU_TIMEOUT);

    it('a kernel that writes nothing cannot pass: outputs are poisoned with NaN', async () => {
      let launches = 0;
      const idle = wrapBackend(gpu, { launch: () => { launches++; } });
      const c = caseOf({ dims: { seqlen: 64 }, seed: 94 });
      const r = await checkCase(new ProgramRunner(idle, p), c);
      expect(launches).toBe(1);
      expect(r.ok).toBe(false);
      const y = r.errors.find((e) => e.name === 'y')!;
      const h = r.errors.find((e) => e.name === 'h_final')!;
      expect(y.nan).toBe(2 * 4 * 64);
      expect(h.nan).toBe(2 * 4 * 16);
    }, GPU_TIMEOUT);
  });
});
