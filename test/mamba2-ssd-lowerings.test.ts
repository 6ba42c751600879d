// Mamba-2 (examples/mamba2.ts) on this machine's WebGPU adapter: the SSD
// lowering's tilings (several P tiles per head, padded P and N, several N
// tiles, chunk 1, more threads than accumulator elements), the tensor-core
// accumulator layout printed as scalar loops, the generic chunked scan forced
// on the same program (both against the reference and each other), and a
// state declared the other way round. Split from mamba2-ssd-webgpu.test.ts
// so that each file's kernels JIT-compile on llvmpipe in under 20 s.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { loadPrograms } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { checkCase, randomInputs, relL2, type CheckCase, type CheckResult } from '../runtime/check.ts';
import { ProgramRunner, specializeFor, type HostTensor } from '../runtime/program-runner.ts';
import type { WebGpuBackend } from '../runtime/webgpu/index.ts';
import { caseFrom, describeResult, expectCasePasses, type CaseSpec } from './helpers/check.ts';
import { openExample } from './helpers/example.ts';

const ALL_OPTIONAL = ['D', 'D_hp', 'z', 'dt_bias'];
const GPU_TIMEOUT = 120_000;
const SSD: Schedule = { threads: 64, items: 4, chunk: 16 };

describe('Mamba-2 lowerings and tilings (WGSL) vs the float64 reference', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let runner: ProgramRunner;

  beforeAll(async () => ({ p, gpu, runner } = await openExample('mamba2')), GPU_TIMEOUT);

  afterAll(() => gpu?.destroy());

  const caseOf = caseFrom({ present: ALL_OPTIONAL, initStates: ['S'], finalStates: ['S'], seed: 1, schedule: SSD, dims: { batch: 2, seqlen: 50, nheads: 4, headdim: 8, ngroups: 2, dstate: 16 } });

  async function expectPasses(spec: CaseSpec, given?: Record<string, HostTensor>, on: ProgramRunner = runner): Promise<CheckResult> {
    return expectCasePasses(on, caseOf(spec), given);
  }

  describe('schedules and tilings', () => {
    const cases: { schedule: Schedule; dims: Partial<CheckCase['dims']>; why: string }[] = [
      { schedule: { threads: 32, items: 4, chunk: 32 }, dims: { seqlen: 70 }, why: 'chunk 32, 32 threads' },
      { schedule: { threads: 128, items: 4, chunk: 16 }, dims: { seqlen: 40 }, why: 'more threads than some accumulators (copies own nothing)' },
      { schedule: { threads: 64, items: 4, chunk: 16, headTile: 4 }, dims: { seqlen: 40 }, why: 'two P tiles per head' },
      { schedule: { threads: 64, items: 4, chunk: 16, headTile: 2 }, dims: { seqlen: 40, headdim: 6 }, why: 'P = 6 in tiles of 2 (padded to 2)' },
      { schedule: { threads: 64, items: 4, chunk: 16 }, dims: { seqlen: 40, headdim: 6, dstate: 12 }, why: 'P = 6 and N = 12 (padded tiles)' },
      { schedule: { threads: 64, items: 4, chunk: 8 }, dims: { seqlen: 30, dstate: 80 }, why: 'N = 80: several N tiles' },
      { schedule: { threads: 64, items: 4, chunk: 1 }, dims: { seqlen: 9 }, why: 'chunk 1' },
      // Staging: all of N per chunk (the default where it fits) against N in tiles, at the same shapes.
      { schedule: { threads: 64, items: 4, chunk: 16, nTile: 80 }, dims: { seqlen: 40, dstate: 80 }, why: 'N = 80 staged whole (one load pass per chunk)' },
      { schedule: { threads: 64, items: 4, chunk: 16, nTile: 16 }, dims: { seqlen: 40, dstate: 80 }, why: 'N = 80 staged in tiles of 16' },
      { schedule: { threads: 32, items: 4, chunk: 8, nTile: 4 }, dims: { seqlen: 29, dstate: 12 }, why: 'N = 12 staged in tiles of 4 (last tile padded)' },
      { schedule: { threads: 128, items: 4, chunk: 32, nTile: 16 }, dims: { seqlen: 70, dstate: 16 }, why: 'N = 16 as one tile of 16 (whole), 128 threads' },
    ];
    for (const { schedule, dims, why } of cases) {
      it(why, async () => {
        await expectPasses({ schedule, dims, seed: 50 + schedule.chunk! });
      }, GPU_TIMEOUT);
    }

    it('the tensor-core accumulator layout (16×8 tiles), printed as scalar loops', async () => {
      const mu = new ProgramRunner(gpu, p, { tuned: false, codegen: (sp, t, s, caps) => compileKernel(sp, t, s, { ...caps, matrixUnits: true }) });
      for (const [threads, chunk, seqlen, nTile, dstate] of [[64, 16, 40, undefined, 16], [128, 32, 70, undefined, 16], [64, 16, 40, 16, 48], [128, 32, 70, undefined, 40]] as const) {
        // dstate 48 in tiles of 16; dstate 40 whole (padded to 48 for the 16-deep k steps).
        await expectPasses({ schedule: { threads, items: 4, chunk, ...(nTile ? { nTile } : {}) }, dims: { seqlen, headdim: 16, dstate }, seed: 60 + chunk }, undefined, mu);
      }
    }, GPU_TIMEOUT);

    it('an explicit chunk that does not fit workgroup memory is refused, saying why', () => {
      const sp = specializeFor(p, { present: [], flags: p.flags, initStates: [], finalStates: [] }, caseOf({}).dims as Record<string, number>);
      expect(() => compileKernel(sp, 'wgsl', { threads: 64, items: 4, chunk: 256 }, { subgroups: false, sharedBytes: 16384 })).toThrow(/no tiling of chunk 256 .* fits 16384 bytes/);
      expect(() => compileKernel(sp, 'wgsl', { threads: 48, items: 4, chunk: 16 }, { subgroups: false })).toThrow('threads must be a power of two, got 48');
      expect(() => compileKernel(sp, 'wgsl', { threads: 64, items: 4, chunk: 24 }, { subgroups: false })).toThrow('chunk must be a power of two, got 24');
      expect(() => compileKernel(sp, 'wgsl', { threads: 64, items: 4, chunk: 16, nTile: 6 }, { subgroups: false })).toThrow('nTile must be a power of two or N (16), got 6');
    });
  });

  describe('the generic chunked scan, forced, agrees with the reference and with SSD', () => {
    const generic: Schedule = { threads: 32, items: 2, lowering: 'diagonal-scan' };
    for (const [present, seqlen] of [[ALL_OPTIONAL, 70], [[], 33]] as const) {
      it(`present [${present.join(', ')}], seqlen ${seqlen}`, async () => {
        const c = caseOf({ present: [...present], dims: { seqlen }, seed: 80 + seqlen });
        const inputs = randomInputs(p, c);
        const g = await expectPasses({ ...c, dims: c.dims, schedule: generic }, inputs);
        const s = await expectPasses({ ...c, dims: c.dims }, inputs);
        expect(g.kernel).not.toMatch(/_ssd_/);
        expect(s.kernel).toMatch(/_ssd_/);
        const prep = await runner.prepare(inputs, { finalStates: ['S'], schedule: generic });
        expect(prep.info.lowering).toBe('diagonal-scan');
        const a = await runner.run(inputs, { finalStates: ['S'], schedule: generic });
        const b = await runner.run(inputs, { finalStates: ['S'], schedule: SSD });
        expect(relL2(a.y!.data, Float64Array.from(b.y!.data)).relL2).toBeLessThan(2e-6);
        expect(relL2(a.S_final!.data, Float64Array.from(b.S_final!.data)).relL2).toBeLessThan(2e-6);
      }, GPU_TIMEOUT);
    }
  });

  describe('the analysis reads the recurrence, not the names', () => {
    it('a state declared (dstate, headdim) with the readout over its first axis', async () => {
      const q = (await loadPrograms(new URL('./fixtures/ssd-rejects.ts', import.meta.url).pathname)).find((x) => x.name === 'transposed')!;
      const r = new ProgramRunner(gpu, q, { tuned: false });
      for (const [init, seqlen] of [[true, 50], [false, 17]] as const) {
        const c: CheckCase = { dims: { batch: 2, seqlen, nheads: 3, headdim: 4, dstate: 8 }, present: [], initStates: init ? ['S'] : [], finalStates: ['S'], seed: 90, schedule: SSD };
        const res = await checkCase(r, c);
        expect(res.kernel).toMatch(/_ssd_/);
        expect(res.ok, describeResult(res)).toBe(true);
      }
    }, GPU_TIMEOUT);
  });

});
