// The sequential lowering on this machine's WebGPU adapter (llvmpipe on CI)
// against the float64 reference: Mamba-3 SISO and MIMO with every state in
// and out, D and Z, grouped Q/K heads, at shapes that are not tile
// multiples, with the state split over workgroups or not; prefill of L
// tokens against L chained decode steps and against two pieces; the decode
// step of Mamba-1 and Mamba-2; programs no chunked lowering takes. Every
// check goes through checkCase: fresh seeded inputs, outputs poisoned with NaN.

import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import type { Schedule } from '../codegen/compile.ts';
import { loadProgram, loadPrograms } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { checkCase, randomInputs, relL2, type CheckCase } from '../runtime/check.ts';
import { ProgramRunner, type HostTensor } from '../runtime/program-runner.ts';
import type { Dims } from '../runtime/shapes.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { wrapBackend } from './helpers/backend.ts';
import { expectClose, expectOk, referenceOf } from './helpers/check.ts';
import { concatAxis, sliceSeq } from './helpers/sequence.ts';

const GPU_TIMEOUT = 120_000;
const STATES = ['angle', 'S', 'kprev', 'vprev'];
const SEQ: Schedule = { threads: 128, items: 1, lowering: 'sequential' };

describe('sequential lowering on WebGPU vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  const programs = new Map<string, Program>();
  const runners = new Map<string, ProgramRunner>();

  beforeAll(async () => {
    gpu = await openWebGpu();
    for (const f of ['mamba3_siso', 'mamba3_mimo', 'mamba1', 'mamba2']) programs.set(f, await loadProgram(new URL(`../examples/${f}.ts`, import.meta.url).pathname));
    for (const p of await loadPrograms(new URL('./fixtures/sequential-programs.ts', import.meta.url).pathname)) programs.set(p.name, p);
    for (const [k, p] of programs) runners.set(k, new ProgramRunner(gpu, p, { tuned: false }));
  }, GPU_TIMEOUT);
  afterAll(() => gpu?.destroy());

  const M3: Dims = { batch: 2, seqlen: 13, nheads: 3, nheads_qk: 1, headdim: 6, dstate: 10, angles: 3, rank: 3 };

  for (const name of ['mamba3_siso', 'mamba3_mimo']) {
    describe(name, () => {
      const cases: [string, Partial<CheckCase>][] = [
        ['D, Z, all four states in and out', { present: ['D', 'Z'], initStates: STATES, finalStates: STATES }],
        ['no D or Z, no initial state, all four out', { present: [], initStates: [], finalStates: STATES }],
        ['nothing in or out but y', { present: ['Z'], initStates: [], finalStates: [] }],
        ['state split in tiles of 2 rows (3 workgroups per row)', { present: ['D', 'Z'], initStates: STATES, finalStates: STATES, schedule: { ...SEQ, headTile: 2 } }],
        ['state split in tiles of 3 rows, 32 threads', { present: ['D'], initStates: STATES, finalStates: STATES, schedule: { ...SEQ, threads: 32, headTile: 3 } }],
        ['every pair rotated (angles = dstate / 2), Hqk = H', { dims: { ...M3, angles: 5, nheads_qk: 3 }, present: ['D', 'Z'], initStates: STATES, finalStates: STATES }],
        ['one token (the decode step)', { dims: { ...M3, seqlen: 1 }, present: ['D', 'Z'], initStates: STATES, finalStates: STATES }],
        ['seqlen 200', { dims: { ...M3, batch: 1, nheads: 2, seqlen: 200 }, present: ['D', 'Z'], initStates: STATES, finalStates: STATES }],
      ];
      cases.forEach(([label, c], k) => {
        it(label, async () => {
          const full: CheckCase = { dims: M3, present: [], initStates: [], finalStates: [], seed: 100 + k, schedule: SEQ, ...c };
          const r = await checkCase(runners.get(name)!, full);
          expectOk(r, ['y', ...full.finalStates.map((s) => `${s}_final`)]);
          expect(r.kernel).toMatch(/_seq_t\d+/);
        }, GPU_TIMEOUT);
      });

      it('by itself takes the chunked matrix form; the sequential lowering when asked', async () => {
        const p = programs.get(name)!;
        const inputs = randomInputs(p, { dims: M3, present: [], initStates: [], finalStates: [], seed: 1 });
        expect((await runners.get(name)!.prepare(inputs, { dims: M3 })).info.lowering).toBe('ssd');
        const asked = await runners.get(name)!.prepare(inputs, { dims: M3, schedule: SEQ });
        expect(asked.info.lowering).toBe('sequential');
        expect(asked.info.notes[0]).toBe('sequential: asked for');
      }, GPU_TIMEOUT);

      it('a prefill of L tokens equals L decode steps chained through the states', async () => {
        const p = programs.get(name)!;
        const runner = runners.get(name)!;
        const L = 7;
        const dims = { ...M3, seqlen: L };
        const inputs = randomInputs(p, { dims, present: ['D', 'Z'], initStates: STATES, finalStates: STATES, seed: 7 });
        const opts = { finalStates: STATES, schedule: SEQ };
        const whole = await runner.run(inputs, opts);
        let states: Record<string, HostTensor> = Object.fromEntries(STATES.map((s) => [`${s}_init`, inputs[`${s}_init`]!]));
        const ys: HostTensor[] = [];
        for (let t = 0; t < L; t++) {
          const step = await runner.run({ ...sliceSeq(p, inputs, t, t + 1), ...states }, opts);
          ys.push(step.y!);
          states = Object.fromEntries(STATES.map((s) => [`${s}_init`, step[`${s}_final`]!]));
        }
        expectClose(concatAxis(ys, 1), whole.y!, 1e-6);
        for (const s of STATES) expectClose(states[`${s}_init`]!, whole[`${s}_final`]!, 1e-6);
        // ...and both are the reference's.
        const ref = referenceOf(p, { present: ['D', 'Z'], initStates: STATES, finalStates: STATES }, dims, inputs);
        expect(relL2(whole.y!.data, ref.y!).relL2).toBeLessThan(1e-5);
      }, GPU_TIMEOUT);

      for (const cut of [1, 5]) {
        it(`a prefill in two pieces (cut at ${cut} of 12) equals one piece`, async () => {
          const p = programs.get(name)!;
          const runner = runners.get(name)!;
          const dims = { ...M3, seqlen: 12 };
          const inputs = randomInputs(p, { dims, present: ['D', 'Z'], initStates: [], finalStates: STATES, seed: 20 + cut });
          const opts = { finalStates: STATES, schedule: { ...SEQ, headTile: 3 } };
          const whole = await runner.run(inputs, opts);
          const first = await runner.run(sliceSeq(p, inputs, 0, cut), opts);
          const carried = Object.fromEntries(STATES.map((s) => [`${s}_init`, first[`${s}_final`]!]));
          const second = await runner.run({ ...sliceSeq(p, inputs, cut, 12), ...carried }, opts);
          expectClose(concatAxis([first.y!, second.y!], 1), whole.y!, 1e-6);
          for (const s of STATES) expectClose(second[`${s}_final`]!, whole[`${s}_final`]!, 1e-6);
        }, GPU_TIMEOUT);
      }
    });
  }

  describe('decode step of the other families', () => {
    it('Mamba-1: one token with h in and out equals one step of the reference', async () => {
      const dims = { batch: 3, dim: 5, seqlen: 1, dstate: 16, ngroups: 1 };
      const r = await checkCase(runners.get('mamba1')!, { dims, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 31, schedule: { ...SEQ, threads: 32 } });
      expectOk(r, ['y', 'h_final']);
      expect(r.kernel).toMatch(/_seq_t32$/);
    }, GPU_TIMEOUT);

    it('Mamba-1: decode steps chained equal the chunked-scan prefill', async () => {
      const p = programs.get('mamba1')!;
      const runner = runners.get('mamba1')!;
      const dims = { batch: 2, dim: 3, seqlen: 6, dstate: 16, ngroups: 1 };
      const inputs = randomInputs(p, { dims, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 32 });
      const whole = await runner.run(inputs, { finalStates: ['h'], schedule: { threads: 32, items: 2 } });
      let h = inputs.h_init!;
      const ys: HostTensor[] = [];
      for (let t = 0; t < 6; t++) {
        const step = await runner.run({ ...sliceSeq(p, inputs, t, t + 1), h_init: h }, { finalStates: ['h'], schedule: { ...SEQ, threads: 32 } });
        ys.push(step.y!);
        h = step.h_final!;
      }
      expectClose(concatAxis(ys, 2), whole.y!, 1e-5);
      expectClose(h, whole.h_final!, 1e-5);
    }, GPU_TIMEOUT);

    for (const headTile of [undefined, 4]) {
      it(`Mamba-2: one token with S in and out${headTile ? `, S split in tiles of ${headTile} rows` : ''}`, async () => {
        const dims = { batch: 2, seqlen: 1, nheads: 4, headdim: 8, ngroups: 2, dstate: 16 };
        const r = await checkCase(runners.get('mamba2')!, { dims, present: ['D', 'z', 'dt_bias'], initStates: ['S'], finalStates: ['S'], seed: 33, schedule: { ...SEQ, headTile } });
        expectOk(r, ['y', 'S_final']);
      }, GPU_TIMEOUT);
    }
  });

  describe('every example program, as a decode step and a short prefill', () => {
    const files = readdirSync(new URL('../examples/', import.meta.url)).filter((f) => f.endsWith('.ts')).sort();
    for (const f of files) {
      it(f, async () => {
        const p = await loadProgram(new URL(`../examples/${f}`, import.meta.url).pathname);
        const runner = new ProgramRunner(gpu, p, { tuned: false });
        const seqDim = p.indices[p.scan]!.dim;
        for (const [L, v] of [[1, fullVariant(p)], [9, fullVariant(p)], [5, defaultVariant(p)]] as const) {
          const dims = { ...p.staticDims, ...p.checkDims, [seqDim]: L };
          const r = await checkCase(runner, { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, flags: v.flags, seed: L, schedule: { ...SEQ, threads: 64 } });
          expectOk(r, [...p.outputs.map((o) => o.name), ...v.finalStates.map((s) => `${s}_final`)]);
        }
      }, GPU_TIMEOUT);
    }
  });

  describe('bindings beyond the device limit share one buffer', () => {
    it('the chunked scan of Mamba-1 on a device that binds 8 buffers: 11 bindings become 8, and it still checks', async () => {
      const limited = wrapBackend(gpu, { limits: { ...gpu.limits, maxStorageBuffers: 8 } });
      const runner = new ProgramRunner(limited, programs.get('mamba1')!, { tuned: false });
      const dims = { batch: 2, dim: 3, seqlen: 40, dstate: 16, ngroups: 1 };
      const r = await checkCase(runner, { dims, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 50, schedule: { threads: 32, items: 2 } });
      expectOk(r, ['y', 'h_final']);
      const prep = await runner.prepare(randomInputs(programs.get('mamba1')!, { dims, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 50 }), { dims, finalStates: ['h'], schedule: { threads: 32, items: 2 } });
      expect(prep.info.lowering).toBe('diagonal-scan');
      expect(prep.info.kernel.bindings).toHaveLength(8);
      expect(prep.info.kernel.bindings.at(-1)!.pack).toEqual(['A', 'D', 'delta_bias', 'h_init']);
      // Offsets: each member starts where the previous one ends.
      const off = (m: string): number => prep.params[prep.info.kernel.params.findIndex((q) => q.name === `sf_off_${m}`)]!;
      expect([off('A'), off('D'), off('delta_bias'), off('h_init')]).toEqual([0, 3 * 16, 3 * 16 + 3, 3 * 16 + 6]);
    }, GPU_TIMEOUT);
  });

  describe('programs only the sequential lowering takes', () => {
    it('non-linear, mixing and coupled states; outputs that read a state before and after its update', async () => {
      const p = programs.get('sequential_zoo')!;
      for (const [seed, seqlen] of [[1, 11], [2, 1]] as const) {
        const dims = { ...p.checkDims, seqlen };
        const r = await checkCase(runners.get('sequential_zoo')!, { dims, present: [], initStates: ['h', 'm', 'x', 'w'], finalStates: ['h', 'm', 'x', 'w'], seed });
        expectOk(r, ['y', 'before', 'hs', 'h_final', 'm_final', 'x_final', 'w_final']);
      }
    }, GPU_TIMEOUT);

    for (const headTile of [undefined, 1, 2, 3]) {
      it(`a state split over workgroups beside one without the split axis${headTile ? ` (tiles of ${headTile})` : ''}`, async () => {
        const p = programs.get('tiled_rows')!;
        const r = await checkCase(runners.get('tiled_rows')!, { dims: p.checkDims, present: [], initStates: ['S', 'kp'], finalStates: ['S', 'kp'], seed: 40, schedule: { threads: 32, items: 1, headTile } });
        expectOk(r, ['y', 's', 'S_final', 'kp_final']);
      }, GPU_TIMEOUT);
    }
  });
});
