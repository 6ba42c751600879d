// The float64 reference on matrix (2-D and 3-D) states against hand-written
// loops: the interpreter must walk every state element, keep the update
// simultaneous, bind the store's free state index (y[..][p] = Σ_n S[p][n]·C[n])
// and lay S_init / S_final out as (parallel dims..., state dims...). The hand
// loops know nothing about the IR; agreement to 1e-12 makes the reference the
// ground truth the promoted kernels are checked against.

import { beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant, specialize } from '../dsl/specialize.ts';
import { randomInputs } from '../runtime/check.ts';
import { runReference, type HostArrays } from '../runtime/reference/interpret.ts';
import type { Dims } from '../runtime/shapes.ts';
import { toFloat64 } from './helpers/check.ts';

const softplus = (x: number): number => (x > 20 ? x : Math.log1p(Math.exp(x)));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const silu = (x: number): number => x * sigmoid(x);

/**
 * Spec §2 written out, per (b, h) with S (P × N) starting at S_init or 0:
 *   d = softplus(dt + dt_bias);  S[p][n] = exp(d·A[h])·S[p][n] + d·x[p]·B[g][n]
 *   y[p] = Σ_n S[p][n]·C[g][n] + D[h]·x[p];  y ⊙= silu(z)
 * Layouts: x, z, y (B, L, H, P); dt (B, L, H); B, C (B, L, G, N); S (B, H, P, N).
 */
function mamba2(x: HostArrays, dims: Dims, softplusOn: boolean): HostArrays {
  const { batch: Bn, seqlen: L, nheads: H, headdim: P, ngroups: G, dstate: N } = dims as Record<string, number>;
  const y = new Float64Array(Bn * L * H * P);
  const Sf = new Float64Array(Bn * H * P * N);
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / G));
      const S = x.S_init ? x.S_init.slice((b * H + h) * P * N, (b * H + h + 1) * P * N) : new Float64Array(P * N);
      for (let t = 0; t < L; t++) {
        let d = x.dt![(b * L + t) * H + h]!;
        if (x.dt_bias) d += x.dt_bias[h]!;
        if (softplusOn) d = softplus(d);
        const a = Math.exp(d * x.A![h]!);
        const bc = ((b * L + t) * G + g) * N;
        for (let p = 0; p < P; p++) {
          const xi = ((b * L + t) * H + h) * P + p;
          let acc = 0;
          for (let n = 0; n < N; n++) {
            S[p * N + n] = a * S[p * N + n]! + d * x.x![xi]! * x.B![bc + n]!;
            acc += S[p * N + n]! * x.C![bc + n]!;
          }
          if (x.D) acc += x.D[h]! * x.x![xi]!;
          if (x.z) acc *= silu(x.z[xi]!);
          y[xi] = acc;
        }
      }
      Sf.set(S, (b * H + h) * P * N);
    }
  }
  return { y, S_final: Sf };
}

/** test/fixtures/matrix-state.ts: S[r][p][n] = σ(a[r])·S + k[n]·v[r][p]; y[r][p] = Σ_n S[r][p][n]·q[n]. */
function rank3(x: HostArrays, dims: Dims): HostArrays {
  const { batch: Bn, seqlen: L, heads: H, rank: R, width: W, dstate: N } = dims as Record<string, number>;
  const y = new Float64Array(Bn * L * H * R * W);
  const Sf = new Float64Array(Bn * H * R * W * N);
  const per = R * W * N;
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < H; h++) {
      const S = x.S_init ? x.S_init.slice((b * H + h) * per, (b * H + h + 1) * per) : new Float64Array(per);
      for (let t = 0; t < L; t++) {
        const bth = (b * L + t) * H + h;
        for (let r = 0; r < R; r++) {
          const decay = sigmoid(x.a![bth * R + r]!);
          for (let p = 0; p < W; p++) {
            let acc = 0;
            for (let n = 0; n < N; n++) {
              const i = (r * W + p) * N + n;
              S[i] = decay * S[i]! + x.k![bth * N + n]! * x.v![(bth * R + r) * W + p]!;
              acc += S[i]! * x.q![bth * N + n]!;
            }
            y[(bth * R + r) * W + p] = acc;
          }
        }
      }
      Sf.set(S, (b * H + h) * per);
    }
  }
  return { y, S_final: Sf };
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function inputsFor(p: Program, v: Variant, dims: Dims, seed: number): HostArrays {
  const host = randomInputs(p, { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, flags: v.flags, seed });
  return toFloat64(host);
}

function compare(got: HostArrays, want: HostArrays, names: string[]): void {
  expect(Object.keys(got).sort()).toEqual([...names].sort());
  for (const name of names) {
    const w = want[name]!;
    // Not vacuous: the values are finite and not all zero.
    expect(w.every(Number.isFinite), name).toBe(true);
    expect(w.some((v) => Math.abs(v) > 1e-3), name).toBe(true);
    expect(maxAbsDiff(got[name]!, w), `${name}: max |reference - hand loop|`).toBeLessThan(1e-12);
  }
}

describe('reference interpreter on matrix states vs hand-written loops', () => {
  let m2: Program;
  let r3: Program;
  beforeAll(async () => {
    m2 = await loadProgram(new URL('./fixtures/mamba2-shaped.ts', import.meta.url).pathname);
    r3 = await loadProgram(new URL('./fixtures/matrix-state.ts', import.meta.url).pathname);
  }, 60_000);

  it('Mamba-2 shape, full variant (D, z, dt_bias, softplus, S_init, S_final), ngroups 2 of 4 heads', () => {
    const dims = { batch: 2, seqlen: 37, nheads: 4, headdim: 3, ngroups: 2, dstate: 5 };
    const v = fullVariant(m2);
    const x = inputsFor(m2, v, dims, 7);
    compare(runReference(specialize(m2, v), dims, x), mamba2(x, dims, true), ['y', 'S_final']);
  });

  it('Mamba-2 shape, required inputs only, no softplus, final state only', () => {
    const dims = { batch: 1, seqlen: 20, nheads: 2, headdim: 4, ngroups: 1, dstate: 3 };
    const v: Variant = { ...defaultVariant(m2), flags: { dt_softplus: false }, finalStates: ['S'] };
    const x = inputsFor(m2, v, dims, 8);
    x.dt = x.dt!.map((d) => 0.05 + 0.1 * Math.abs(d)); // positive steps without softplus
    compare(runReference(specialize(m2, v), dims, x), mamba2(x, dims, false), ['y', 'S_final']);
  });

  it('the state layout is (batch, nheads, headdim, dstate): a transposed S_init gives a different y', () => {
    const dims = { batch: 1, seqlen: 4, nheads: 1, headdim: 3, ngroups: 1, dstate: 2 };
    const v = fullVariant(m2);
    const x = inputsFor(m2, v, dims, 9);
    const transposed = Float64Array.from({ length: 6 }, (_, i) => x.S_init![(i % 3) * 2 + Math.floor(i / 3)]!);
    const a = runReference(specialize(m2, v), dims, x);
    const b = runReference(specialize(m2, v), dims, { ...x, S_init: transposed });
    expect(maxAbsDiff(a.y!, mamba2(x, dims, true).y!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(a.y!, b.y!)).toBeGreaterThan(1e-3);
  });

  it('rank-3 state S[r][p][n] with S_init and S_final', () => {
    const dims = { batch: 2, seqlen: 15, heads: 2, rank: 2, width: 3, dstate: 4 };
    const v = fullVariant(r3);
    const x = inputsFor(r3, v, dims, 10);
    compare(runReference(specialize(r3, v), dims, x), rank3(x, dims), ['y', 'S_final']);
  });
});
