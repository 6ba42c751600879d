// The variant programs of issue 7 (examples/s4d, retnet, gla, hgrn2, mlstm,
// rwkv6). For each: the float64 reference of the DSL program agrees with a
// hand-written loop of the published recurrence (so the program means what its
// header says), the lowering is the one its header records, its DSL is at most
// 30 lines, and its WGSL kernels agree with the reference on the CPU adapter
// (NaN-poisoned outputs, sequence lengths off the chunk size, initial and
// final states).

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseLowering } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant, specialize } from '../dsl/specialize.ts';
import { checkCase, randomInputs } from '../runtime/check.ts';
import { ProgramRunner } from '../runtime/program-runner.ts';
import { runReference, type HostArrays } from '../runtime/reference/interpret.ts';
import type { Dims } from '../runtime/shapes.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { expectOk, toFloat64 } from './helpers/check.ts';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => (x > 20 ? x : Math.log1p(Math.exp(x)));

type Loop = (x: HostArrays, d: Record<string, number>) => HostArrays;

/**
 * Runs `step` for every (b, h, t) of a sequence-major head-state program with
 * states of P × N per head (laid out (B, H, P, N)); `step` gets the flat
 * offsets of (b, t, h) and returns nothing, writing y and the states.
 */
function heads(x: HostArrays, d: Record<string, number>, N: number, states: string[], step: (bth: number, h: number, S: Float64Array[], y: (p: number, v: number) => void) => void): HostArrays {
  const { batch: Bn, seqlen: L, nheads: H, headdim: P } = d as Record<string, number>;
  const y = new Float64Array(Bn * L * H * P);
  const out: HostArrays = { y };
  for (const s of states) out[`${s}_final`] = new Float64Array(Bn * H * P * N);
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < H; h++) {
      const off = (b * H + h) * P * N;
      const S = states.map((s) => (x[`${s}_init`] ? x[`${s}_init`]!.slice(off, off + P * N) : new Float64Array(P * N)));
      for (let t = 0; t < L; t++) {
        const bth = (b * L + t) * H + h;
        step(bth, h, S, (p, v) => { y[bth * P + p] = v; });
      }
      states.forEach((s, i) => out[`${s}_final`]!.set(S[i]!, off));
    }
  }
  return out;
}

const LOOPS: Record<string, Loop> = {
  s4d: (x, d) => {
    const { batch: Bn, dim: D, seqlen: L, dstate: N } = d as Record<string, number>;
    const y = new Float64Array(Bn * D * L), hf = new Float64Array(Bn * D * N);
    for (let b = 0; b < Bn; b++) for (let c = 0; c < D; c++) {
      const h = x.h_init ? x.h_init.slice((b * D + c) * N, (b * D + c + 1) * N) : new Float64Array(N);
      for (let t = 0; t < L; t++) {
        const i = (b * D + c) * L + t, dt = softplus(x.delta![i]!);
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const half = 0.5 * dt * x.A![c * N + n]!;
          h[n] = ((1 + half) / (1 - half)) * h[n]! + (dt / (1 - half)) * x.B![c * N + n]! * x.u![i]!;
          acc += x.C![c * N + n]! * h[n]!;
        }
        y[i] = acc + (x.D ? x.D[c]! * x.u![i]! : 0);
      }
      hf.set(h, (b * D + c) * N);
    }
    return { y, h_final: hf };
  },
  retention: (x, d) => {
    const { headdim: P, dkey: N } = d as Record<string, number>;
    return heads(x, d, N, ['S'], (bth, h, [S], y) => {
      const gamma = 1 - 2 ** (-5 - h);
      for (let p = 0; p < P; p++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          S![p * N + n] = gamma * S![p * N + n]! + (x.v![bth * P + p]! * x.k![bth * N + n]!) / Math.sqrt(N);
          acc += S![p * N + n]! * x.q![bth * N + n]!;
        }
        y(p, acc);
      }
    });
  },
  gla: (x, d) => {
    const { headdim: P, dkey: N } = d as Record<string, number>;
    return heads(x, d, N, ['S'], (bth, _h, [S], y) => {
      for (let p = 0; p < P; p++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const alpha = sigmoid(x.gk![bth * N + n]!) ** (1 / 16);
          S![p * N + n] = alpha * S![p * N + n]! + x.v![bth * P + p]! * x.k![bth * N + n]!;
          acc += S![p * N + n]! * x.q![bth * N + n]!;
        }
        y(p, acc / Math.sqrt(N));
      }
    });
  },
  hgrn2: (x, d) => {
    const { headdim: P, dstate: N } = d as Record<string, number>;
    return heads(x, d, N, ['S'], (bth, h, [S], y) => {
      for (let p = 0; p < P; p++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          let f = sigmoid(x.fg![bth * N + n]!);
          if (x.lb) f = x.lb[h]! + (1 - x.lb[h]!) * f;
          S![p * N + n] = f * S![p * N + n]! + (1 - f) * x.v![bth * P + p]!;
          acc += S![p * N + n]! * x.q![bth * N + n]!;
        }
        y(p, acc);
      }
    });
  },
  mlstm: (x, d) => {
    const { headdim: P, dkey: N } = d as Record<string, number>;
    return heads(x, d, N, ['C', 'nrm'], (bth, _h, [C, nrm], y) => {
      const f = sigmoid(x.fg![bth]!), i = Math.exp(x.ig![bth]!);
      for (let p = 0; p < P; p++) {
        let num = 0, den = 0;
        for (let n = 0; n < N; n++) {
          const k = x.k![bth * N + n]! / Math.sqrt(N), q = x.q![bth * N + n]!;
          C![p * N + n] = f * C![p * N + n]! + i * x.v![bth * P + p]! * k;
          nrm![p * N + n] = f * nrm![p * N + n]! + i * k;
          num += C![p * N + n]! * q;
          den += nrm![p * N + n]! * q;
        }
        y(p, num / Math.max(Math.abs(den), 1));
      }
    });
  },
  rwkv6: (x, d) => {
    const { headdim: P, dkey: N } = d as Record<string, number>;
    return heads(x, d, N, ['S'], (bth, h, [S], y) => {
      for (let p = 0; p < P; p++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const kv = x.k![bth * N + n]! * x.v![bth * P + p]!;
          acc += x.r![bth * N + n]! * (S![p * N + n]! + x.u![h * N + n]! * kv);
          S![p * N + n] = Math.exp(-Math.exp(x.w![bth * N + n]!)) * S![p * N + n]! + kv;
        }
        y(p, acc);
      }
    });
  },
};

interface Example {
  file: string;
  /** Promoted state axes its header records. */
  promoted: string[];
  /** Small dims for the hand-loop comparison. */
  dims: Dims;
}

const EXAMPLES: Example[] = [
  { file: 's4d', promoted: [], dims: { batch: 2, dim: 3, seqlen: 40, dstate: 5 } },
  { file: 'retnet', promoted: ['p'], dims: { batch: 2, seqlen: 30, nheads: 3, headdim: 3, dkey: 4 } },
  { file: 'gla', promoted: ['p'], dims: { batch: 2, seqlen: 30, nheads: 2, headdim: 3, dkey: 4 } },
  { file: 'hgrn2', promoted: ['p'], dims: { batch: 2, seqlen: 30, nheads: 2, headdim: 3, dstate: 4 } },
  { file: 'mlstm', promoted: ['p'], dims: { batch: 2, seqlen: 30, nheads: 2, headdim: 3, dkey: 4 } },
  { file: 'rwkv6', promoted: ['p'], dims: { batch: 2, seqlen: 30, nheads: 2, headdim: 3, dkey: 4 } },
];

const path = (f: string): string => new URL(`../examples/${f}.ts`, import.meta.url).pathname;

describe('issue 7 variant programs', () => {
  let gpu: WebGpuBackend;
  const programs = new Map<string, Program>();
  beforeAll(async () => {
    for (const e of EXAMPLES) programs.set(e.file, await loadProgram(path(e.file)));
    gpu = await openWebGpu();
  }, 120_000);
  afterAll(() => gpu?.destroy());

  for (const ex of EXAMPLES) {
    describe(ex.file, () => {
      it('the DSL is at most 30 lines', () => {
        const src = readFileSync(path(ex.file), 'utf8');
        const body = src.slice(src.indexOf('export default program({'), src.lastIndexOf('});') + 3);
        expect(body.split('\n').length).toBeLessThanOrEqual(30);
      });

      it('the float64 reference of the program equals a hand-written loop of the recurrence', () => {
        const p = programs.get(ex.file)!;
        const loop = LOOPS[p.name]!;
        for (const [v, seed] of [[fullVariant(p), 1], [defaultVariant(p), 2]] as [Variant, number][]) {
          const host = randomInputs(p, { dims: ex.dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, seed });
          const x = toFloat64(host);
          const got = runReference(specialize(p, v), ex.dims, x);
          const want = loop(x, ex.dims);
          for (const name of Object.keys(got)) {
            const g = got[name]!, w = want[name]!;
            expect(w.every(Number.isFinite) && w.some((a) => Math.abs(a) > 1e-3), `${name} is not vacuous`).toBe(true);
            let m = 0;
            for (let i = 0; i < g.length; i++) m = Math.max(m, Math.abs(g[i]! - w[i]!));
            expect(m, `${p.name} ${name}: max |reference − hand loop|`).toBeLessThan(1e-12);
          }
        }
      });

      it(`gets the diagonal scan${ex.promoted.length ? ` with ${ex.promoted.join(', ')} promoted` : ''}, as its header says`, () => {
        const p = programs.get(ex.file)!;
        for (const v of [fullVariant(p), defaultVariant(p)]) {
          const c = chooseLowering(specialize(p, v));
          expect(c.lowering).toBe('diagonal-scan');
          expect(c.promotedAxes.map((a) => a.index)).toEqual(ex.promoted);
        }
        const header = readFileSync(path(ex.file), 'utf8');
        expect(header).toMatch(ex.promoted.length ? /Lowering \(chooseLowering\): diagonal-scan with the state axis p/ : /Lowering \(chooseLowering\): diagonal-scan, directly/);
      });

      // A chunk of 32 × 4 = 128 steps: 129 crosses into a second, partial chunk.
      for (const [label, variant, seqlen, schedule] of [
        ['all inputs, state in/out', fullVariant, 129, { threads: 32, items: 4 }],
        ['required inputs only', defaultVariant, 77, { threads: 16, items: 3 }],
      ] as const) {
        it(`WGSL on the CPU adapter vs the reference: ${label}, seqlen ${seqlen}`, async () => {
          const p = programs.get(ex.file)!;
          const v = variant(p);
          const dims = { ...p.staticDims, ...p.checkDims, seqlen };
          const r = await checkCase(new ProgramRunner(gpu, p), { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, seed: seqlen, schedule });
          expectOk(r, ['y', ...v.finalStates.map((s) => `${s}_final`)]);
        }, 120_000);
      }
    });
  }
});
