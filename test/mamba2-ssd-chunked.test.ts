// The chunk-parallel SSD form (Schedule.ssdForm 'chunked', lower/ssd-chunked.ts:
// three launches sharing scratch buffers) on this machine's WebGPU adapter,
// against the float64 reference (fresh inputs, outputs poisoned with NaN)
// and against the fused form; the runner's multi-launch path (scratch sized
// from the dims, launches in order) with it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { Program } from '../dsl/ir.ts';
import type { Backend } from '../runtime/backend.ts';
import { checkCase, randomInputs, relL2, tolerance } from '../runtime/check.ts';
import { ProgramRunner, scratchElements, specializeFor, type HostTensor } from '../runtime/program-runner.ts';
import type { WebGpuBackend } from '../runtime/webgpu/index.ts';
import { caseFrom, expectCasePasses, referenceOf, type CaseSpec } from './helpers/check.ts';
import { openExample } from './helpers/example.ts';
import { concatAxis, sliceSeq } from './helpers/sequence.ts';

const ALL_OPTIONAL = ['D', 'D_hp', 'z', 'dt_bias'];
const GPU_TIMEOUT = 120_000;
const CHUNKED: Schedule = { threads: 64, items: 4, chunk: 16, ssdForm: 'chunked' };
const FUSED: Schedule = { threads: 64, items: 4, chunk: 16 };

describe('Mamba-2 SSD, chunk-parallel form (WGSL) vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let runner: ProgramRunner;

  beforeAll(async () => ({ p, gpu, runner } = await openExample('mamba2')), GPU_TIMEOUT);

  afterAll(() => gpu?.destroy());

  const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['S'], finalStates: ['S'], seed: 1, schedule: CHUNKED, dims: { batch: 2, seqlen: 50, nheads: 4, headdim: 8, ngroups: 2, dstate: 16 } });
  const passes = (spec: CaseSpec) => expectCasePasses(runner, caseOf(spec));

  it('compiles to three launches (a, b, c) and two scratch buffers sized from the dims', () => {
    const c = caseOf({});
    const sp = specializeFor(p, { present: [], flags: p.flags, initStates: ['S'], finalStates: ['S'] }, c.dims as Record<string, number>);
    const info = compileKernel(sp, 'wgsl', CHUNKED, { subgroups: false, sharedBytes: 32768 });
    expect(info.lowering).toBe('ssd');
    expect(info.launches.map((l) => l.kernel.entry.slice(-2))).toEqual(['_a', '_b', '_c']);
    expect(info.kernel).toBe(info.launches[0]!.kernel);
    const dims = c.dims as Record<string, number>;
    // states: rows × ceil(L / Q) × P × N; decays: rows × ceil(L / Q).
    expect(info.scratch.map((x) => [x.name, scratchElements(x, dims)])).toEqual([['sf_states', 2 * 4 * 4 * 8 * 16], ['sf_decays', 2 * 4 * 4]]);
    // The fused form stays one launch, without scratch, and is the default.
    const fused = compileKernel(sp, 'wgsl', FUSED, { subgroups: false, sharedBytes: 32768 });
    expect([fused.launches.length, fused.scratch.length]).toEqual([1, 0]);
  });

  describe('sequence lengths around the chunk', () => {
    for (const [seqlen, chunk, why] of [[50, 16, 'not a multiple of the chunk'], [64, 16, 'a multiple of the chunk'], [7, 16, 'shorter than one chunk'], [1, 16, 'one step'], [300, 32, 'many chunks (chunk 32)']] as const) {
      it(`seqlen ${seqlen}, chunk ${chunk}: ${why}`, async () => {
        await passes({ dims: { seqlen }, schedule: { ...CHUNKED, chunk }, seed: 10 + seqlen });
      }, GPU_TIMEOUT);
    }
  });

  describe('variants and tilings', () => {
    for (const [init, fin] of [[true, true], [false, true], [true, false], [false, false]] as const) {
      it(`S_init ${init ? 'given' : 'absent'}, S_final ${fin ? 'asked' : 'not asked'}`, async () => {
        await passes({ initStates: init ? ['S'] : [], finalStates: fin ? ['S'] : [], seed: 20 + Number(init) + 2 * Number(fin) });
      }, GPU_TIMEOUT);
    }
    it('ngroups 1 and 4 (G = H), no optional inputs', async () => {
      await passes({ dims: { ngroups: 1 }, present: [], seed: 30 });
      await passes({ dims: { ngroups: 4 }, seed: 31 });
    }, GPU_TIMEOUT);
    it('two P tiles per head, N in tiles of 4, P = 6 and N = 12 padded', async () => {
      await passes({ schedule: { ...CHUNKED, headTile: 4 }, dims: { seqlen: 40 }, seed: 32 });
      await passes({ schedule: { ...CHUNKED, chunk: 8, nTile: 4 }, dims: { seqlen: 29, dstate: 12 }, seed: 33 });
      await passes({ schedule: { ...CHUNKED, headTile: 2 }, dims: { seqlen: 40, headdim: 6, dstate: 12 }, seed: 34 });
    }, GPU_TIMEOUT);
    it('the tensor-core accumulator layout (16×8 tiles), printed as scalar loops', async () => {
      const mu = new ProgramRunner(gpu, p, { tuned: false, codegen: (sp, t, s, caps) => compileKernel(sp, t, s, { ...caps, matrixUnits: true }) });
      const r = await checkCase(mu, caseOf({ schedule: { ...CHUNKED, threads: 64, chunk: 16 }, dims: { seqlen: 40, headdim: 16, dstate: 40 }, seed: 35 }));
      expect(r.ok, JSON.stringify(r.errors)).toBe(true);
      expect(r.errors.every((e) => e.nan === 0)).toBe(true);
    }, GPU_TIMEOUT);
  });

  it('agrees with the fused form on the same inputs', async () => {
    const c = caseOf({ dims: { seqlen: 77 }, seed: 40 });
    const inputs = randomInputs(p, c);
    const a = await runner.run(inputs, { finalStates: ['S'], schedule: CHUNKED, poison: true });
    const b = await runner.run(inputs, { finalStates: ['S'], schedule: FUSED, poison: true });
    expect(relL2(a.y!.data, Float64Array.from(b.y!.data)).relL2).toBeLessThan(2e-6);
    expect(relL2(a.S_final!.data, Float64Array.from(b.S_final!.data)).relL2).toBeLessThan(2e-6);
  }, GPU_TIMEOUT);

  it('a sequence in pieces equals it whole (S_final → S_init), cut inside a chunk', async () => {
    const seqlen = 70, cut = 23;
    const c = caseOf({ dims: { seqlen }, seed: 41 });
    const inputs = randomInputs(p, c);
    const opts = { finalStates: ['S'], schedule: CHUNKED, poison: true };
    const whole = await runner.run(inputs, opts);
    const first = await runner.run(sliceSeq(p, inputs, 0, cut), opts);
    const second = await runner.run({ ...sliceSeq(p, inputs, cut, seqlen), S_init: first.S_final! }, opts);
    const y: HostTensor = concatAxis([first.y!, second.y!], 1);
    expect(relL2(y.data, Float64Array.from(whole.y!.data)).relL2).toBeLessThan(1e-5);
    expect(relL2(second.S_final!.data, Float64Array.from(whole.S_final!.data)).relL2).toBeLessThan(1e-5);
    const ref = referenceOf(p, c, c.dims as Record<string, number>, inputs);
    expect(relL2(y.data, ref.y!).relL2).toBeLessThan(tolerance('f32', seqlen));
  }, GPU_TIMEOUT);

  describe('checks fail when they should', () => {
    /** The backend with the launches of kernels whose entry ends in `suffix` dropped. */
    const dropping = (suffix: string, seen: string[]): Backend => new Proxy(gpu as Backend, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop === 'launch') {
          return (...args: Parameters<Backend['launch']>) => {
            seen.push(args[0].kernel.entry);
            if (!args[0].kernel.entry.endsWith(suffix)) (v as Backend['launch']).apply(target, args);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });

    it('all three launches run, in order; without the output launch y stays NaN (poisoned)', async () => {
      const seen: string[] = [];
      const r = await checkCase(new ProgramRunner(dropping('_c', seen), p, { tuned: false }), caseOf({ dims: { seqlen: 20 }, seed: 95 }));
      expect(seen.map((e) => e.slice(-2))).toEqual(['_a', '_b', '_c']);
      expect(r.ok).toBe(false);
      expect(r.errors.find((e) => e.name === 'y')!.nan).toBe(2 * 20 * 4 * 8);
    }, GPU_TIMEOUT);

    it('without the state-passing launch, S_final is NaN and y is wrong', async () => {
      const r = await checkCase(new ProgramRunner(dropping('_b', []), p, { tuned: false }), caseOf({ dims: { seqlen: 40 }, seed: 96 }));
      expect(r.ok).toBe(false);
      expect(r.errors.find((e) => e.name === 'S_final')!.nan).toBe(2 * 4 * 8 * 16);
      expect(r.errors.find((e) => e.name === 'y')!.ok).toBe(false);
    }, GPU_TIMEOUT);
  });
});
