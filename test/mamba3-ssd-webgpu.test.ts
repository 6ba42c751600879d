// Mamba-3 SISO and MIMO (examples/mamba3_*.ts) through the chunked matrix
// form (the SSD lowering with a rank axis, the trapezoid's previous-step
// term, the rotary angle scan and the carried k/v: codegen/analysis/ssd.ts,
// lower/ssd-side.ts) on this machine's WebGPU adapter, against the float64
// reference: fresh seeded inputs, outputs poisoned with NaN. Sequence
// lengths around the chunk, every state in and out or not, grouped Q/K
// heads, ranks that do not divide the tiles; a prefill in two pieces equals
// one piece; the chunked form agrees with the sequential lowering (and so
// with its decode steps, sequential-webgpu.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../codegen/compile.ts';
import { randomInputs, relL2, type CheckCase } from '../runtime/check.ts';
import { ProgramRunner } from '../runtime/program-runner.ts';
import type { Dims } from '../runtime/shapes.ts';
import { loadProgram } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { expectCasePasses, expectClose, referenceOf } from './helpers/check.ts';
import { concatAxis, sliceSeq } from './helpers/sequence.ts';

const GPU_TIMEOUT = 120_000;
const STATES = ['angle', 'S', 'kprev', 'vprev'];
const CHUNK: Schedule = { threads: 64, items: 1, chunk: 8 };
const M3: Dims = { batch: 2, seqlen: 21, nheads: 4, nheads_qk: 2, headdim: 6, dstate: 10, angles: 3, rank: 3 };

describe('Mamba-3 through the chunked matrix form (WGSL) vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  const programs = new Map<string, Program>();
  const runners = new Map<string, ProgramRunner>();

  beforeAll(async () => {
    gpu = await openWebGpu();
    for (const f of ['mamba3_siso', 'mamba3_mimo']) {
      const p = await loadProgram(new URL(`../examples/${f}.ts`, import.meta.url).pathname);
      programs.set(f, p);
      runners.set(f, new ProgramRunner(gpu, p, { tuned: false }));
    }
  }, GPU_TIMEOUT);
  afterAll(() => gpu?.destroy());

  const full = (c: Partial<CheckCase>): CheckCase => ({ dims: M3, present: ['D', 'Z'], initStates: STATES, finalStates: STATES, seed: 1, schedule: CHUNK, ...c });

  for (const name of ['mamba3_siso', 'mamba3_mimo']) {
    describe(name, () => {
      it('analysis picks the chunked matrix form', async () => {
        const prep = await runners.get(name)!.prepare(randomInputs(programs.get(name)!, full({})), { finalStates: STATES, dims: M3, schedule: CHUNK });
        expect(prep.info.lowering).toBe('ssd');
        expect(prep.info.kernel.entry).toMatch(/_ssd_t64q8$/);
      }, GPU_TIMEOUT);

      describe('sequence lengths around the chunk (8)', () => {
        for (const seqlen of [1, 2, 7, 8, 9, 16, 17, 45]) {
          it(`seqlen ${seqlen}`, async () => {
            await expectCasePasses(runners.get(name)!, full({ dims: { ...M3, seqlen }, seed: seqlen }));
          }, GPU_TIMEOUT);
        }
        it('seqlen 300, chunk 16, one head per group', async () => {
          await expectCasePasses(runners.get(name)!, full({ dims: { ...M3, batch: 1, nheads: 2, nheads_qk: 2, seqlen: 300 }, schedule: { ...CHUNK, chunk: 16 }, seed: 300 }));
        }, GPU_TIMEOUT);
      });

      const variants: [string, Partial<CheckCase>][] = [
        ['no D or Z, no initial state, all four out', { present: [], initStates: [], finalStates: STATES }],
        ['only the previous k and v given (the trapezoid at t = 0)', { initStates: ['kprev', 'vprev'], finalStates: ['S'] }],
        ['only the angle given', { initStates: ['angle'], finalStates: ['angle', 'kprev'] }],
        ['nothing in or out but y', { present: ['Z'], initStates: [], finalStates: [] }],
        ['every pair rotated (angles = dstate / 2), 128 threads, chunk 4', { dims: { ...M3, angles: 5 }, schedule: { ...CHUNK, threads: 128, chunk: 4 } }],
        ['headdim 16 in two P tiles', { dims: { ...M3, headdim: 16 }, schedule: { ...CHUNK, headTile: 8 } }],
      ];
      variants.forEach(([label, c], k) => {
        it(label, async () => {
          await expectCasePasses(runners.get(name)!, full({ ...c, seed: 50 + k }));
        }, GPU_TIMEOUT);
      });

      it('a prefill in two pieces (states handed over) equals one piece and the reference', async () => {
        const p = programs.get(name)!, runner = runners.get(name)!;
        const c = full({ dims: { ...M3, seqlen: 30 }, seed: 77 });
        const inputs = randomInputs(p, c);
        const opts = { finalStates: STATES, schedule: CHUNK };
        const whole = await runner.run(inputs, opts);
        const first = await runner.run(sliceSeq(p, inputs, 0, 13), opts);
        const handed = Object.fromEntries(STATES.map((s) => [`${s}_init`, first[`${s}_final`]!]));
        const second = await runner.run({ ...sliceSeq(p, inputs, 13, 30), ...handed }, opts);
        expectClose(concatAxis([first.y!, second.y!], 1), whole.y!, 1e-5);
        for (const s of STATES) expectClose(second[`${s}_final`]!, whole[`${s}_final`]!, 1e-5);
        const ref = referenceOf(p, c, c.dims, inputs);
        expect(relL2(whole.y!.data, ref.y!).relL2).toBeLessThan(1e-5);
      }, GPU_TIMEOUT);

      it('agrees with the sequential lowering (whose decode steps chain to a prefill)', async () => {
        const p = programs.get(name)!, runner = runners.get(name)!;
        const c = full({ dims: { ...M3, seqlen: 19 }, seed: 88 });
        const inputs = randomInputs(p, c);
        const chunked = await runner.run(inputs, { finalStates: STATES, schedule: CHUNK });
        const seq = await runner.run(inputs, { finalStates: STATES, schedule: { threads: 64, items: 1, lowering: 'sequential' } });
        expectClose(chunked.y!, seq.y!, 1e-5);
        for (const s of STATES) expectClose(chunked[`${s}_final`]!, seq[`${s}_final`]!, 1e-5);
      }, GPU_TIMEOUT);
    });
  }
});
