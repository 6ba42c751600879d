// Matrix-state programs through the generic chunked scan with their free
// state axes promoted to parallel axes, on this machine's WebGPU adapter
// (llvmpipe on CI), against the float64 reference: fresh seeded inputs,
// outputs poisoned with NaN, shapes that are not tile multiples, chunk
// boundaries, S_init / S_final in their declared (parallel..., p, n) layout.
// The Mamba-2-shaped program is SSD-able, so its cases force the scan
// (Schedule.lowering = 'diagonal-scan').

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { checkCase, randomInputs, relL2, type CheckCase } from '../runtime/check.ts';
import { ProgramRunner } from '../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { wrapBackend } from './helpers/backend.ts';
import { expectOk } from './helpers/check.ts';
import { sliceSeq } from './helpers/sequence.ts';

const GPU_TIMEOUT = 120_000;
const M2_OPTIONAL = ['D', 'z', 'dt_bias'];
const SCAN = { lowering: 'diagonal-scan' } as const;
const fixture = (f: string): string => new URL(`./fixtures/${f}`, import.meta.url).pathname;

describe('matrix states with promoted axes: WGSL kernels vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  let m2: Program;
  let r3: Program;
  let m2Runner: ProgramRunner;

  beforeAll(async () => {
    m2 = await loadProgram(fixture('mamba2-shaped.ts'));
    r3 = await loadProgram(fixture('matrix-state.ts'));
    gpu = await openWebGpu();
    m2Runner = new ProgramRunner(gpu, m2);
  }, GPU_TIMEOUT);
  afterAll(() => gpu?.destroy());

  const m2Dims = { batch: 2, seqlen: 100, nheads: 3, headdim: 4, ngroups: 1, dstate: 8 };
  function m2Case(over: Partial<CheckCase> & { dims?: Partial<CheckCase['dims']> }): CheckCase {
    return { present: M2_OPTIONAL, initStates: ['S'], finalStates: ['S'], seed: 1, ...over, schedule: { threads: 32, items: 4, ...over.schedule, ...SCAN }, dims: { ...m2Dims, ...over.dims } as CheckCase['dims'] };
  }

  describe('Mamba-2 shape (p promoted)', () => {
    const schedules: Schedule[] = [{ threads: 32, items: 4 }, { threads: 64, items: 2 }, { threads: 16, items: 3 }];
    for (const schedule of schedules) {
      const chunk = schedule.threads * schedule.items;
      for (const seqlen of [1, chunk - 1, chunk, chunk + 1, 2 * chunk + 7]) {
        it(`threads ${schedule.threads} × items ${schedule.items}, seqlen ${seqlen}`, async () => {
          const r = await checkCase(m2Runner, m2Case({ schedule, dims: { seqlen }, seed: seqlen }));
          expectOk(r, ['y', 'S_final']);
        }, GPU_TIMEOUT);
      }
    }

    for (const [init, fin] of [[false, false], [true, false], [false, true]] as const) {
      it(`S_init ${init ? 'given' : 'absent'}, S_final ${fin ? 'asked' : 'not asked'}, no optional inputs`, async () => {
        const r = await checkCase(m2Runner, m2Case({ present: [], initStates: init ? ['S'] : [], finalStates: fin ? ['S'] : [], dims: { seqlen: 77 }, seed: 5 }));
        expectOk(r, fin ? ['y', 'S_final'] : ['y']);
      }, GPU_TIMEOUT);
    }

    it('ngroups 3 of 6 heads, headdim 3, dstate 5 (other static dims, rows not a power of two)', async () => {
      const r = await checkCase(m2Runner, m2Case({ dims: { nheads: 6, ngroups: 3, headdim: 3, dstate: 5, seqlen: 150 }, seed: 6 }));
      expectOk(r, ['y', 'S_final']);
    }, GPU_TIMEOUT);

    it('several rows per workgroup, the last workgroup partly past the end (2·3·4 = 24 rows, 5 per group)', async () => {
      const r = await checkCase(m2Runner, m2Case({ schedule: { threads: 16, items: 2, rows: 5 }, dims: { seqlen: 70 }, seed: 7 }));
      expectOk(r, ['y', 'S_final']);
    }, GPU_TIMEOUT);

    it('dt_softplus = false with small positive steps', async () => {
      const c = m2Case({ flags: { dt_softplus: false }, dims: { seqlen: 90 }, seed: 8 });
      const given = randomInputs(m2, c);
      given.dt = { ...given.dt!, data: given.dt!.data.map((d) => 0.02 + 0.1 * Math.abs(d)) };
      given.dt_bias = { ...given.dt_bias!, data: given.dt_bias!.data.map((d) => 0.01 * d) };
      expectOk(await checkCase(m2Runner, c, given), ['y', 'S_final']);
    }, GPU_TIMEOUT);

    it('a sequence in two pieces (S_final → S_init) equals it in one', async () => {
      const c = m2Case({ dims: { seqlen: 200 }, seed: 9 });
      const inputs = randomInputs(m2, c);
      const opts = { finalStates: ['S'], schedule: { threads: 32, items: 2, ...SCAN } };
      const whole = await m2Runner.run(inputs, opts);
      const first = await m2Runner.run(sliceSeq(m2, inputs, 0, 73), opts);
      const second = await m2Runner.run({ ...sliceSeq(m2, inputs, 73, 200), S_init: first.S_final! }, opts);
      expect(second.S_final!.shape).toEqual([2, 3, 4, 8]);
      const e = relL2(second.S_final!.data, Float64Array.from(whole.S_final!.data));
      expect(e.nan).toBe(0);
      expect(e.relL2).toBeLessThan(1e-5);
    }, GPU_TIMEOUT);

    it('the promoted rows read their own slice of S_init: a transposed S_init changes y', async () => {
      const c = m2Case({ dims: { seqlen: 5, batch: 1, nheads: 1 }, seed: 10, present: [] });
      const inputs = randomInputs(m2, c);
      const P = 4, N = 8;
      const t = new Float32Array(P * N);
      for (let p = 0; p < P; p++) for (let n = 0; n < N; n++) t[n * P + p] = inputs.S_init!.data[p * N + n]!;
      const a = await m2Runner.run(inputs, { schedule: c.schedule });
      const b = await m2Runner.run({ ...inputs, S_init: { data: t, shape: inputs.S_init!.shape } }, { schedule: c.schedule });
      expect(relL2(a.y!.data, Float64Array.from(b.y!.data)).relL2).toBeGreaterThan(1e-2);
    }, GPU_TIMEOUT);

    it('a kernel that writes nothing cannot pass: every y and S_final element stays NaN', async () => {
      const idle = wrapBackend(gpu, { launch: () => undefined });
      const r = await checkCase(new ProgramRunner(idle, m2), m2Case({ dims: { seqlen: 30 }, seed: 11 }));
      expect(r.ok).toBe(false);
      expect(r.errors.find((e) => e.name === 'y')!.nan).toBe(2 * 30 * 3 * 4);
      expect(r.errors.find((e) => e.name === 'S_final')!.nan).toBe(2 * 3 * 4 * 8);
    }, GPU_TIMEOUT);
  });

  describe('rank-3 state (r and p promoted)', () => {
    for (const [seqlen, schedule] of [[70, { threads: 32, items: 2 }], [65, { threads: 16, items: 4 }], [1, { threads: 32, items: 1 }]] as const) {
      it(`seqlen ${seqlen}, threads ${schedule.threads} × items ${schedule.items}`, async () => {
        const r = await checkCase(new ProgramRunner(gpu, r3), {
          dims: { batch: 2, seqlen, heads: 3, rank: 2, width: 3, dstate: 5 }, present: [], initStates: ['S'], finalStates: ['S'], seed: 20 + seqlen, schedule,
        });
        expectOk(r, ['y', 'S_final']);
      }, GPU_TIMEOUT);
    }
  });
});
