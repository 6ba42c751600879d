// The float64 reference interpreter against an independent, hand-written
// Mamba-1 selective scan (shared/spec/ssm-families.md §1). The interpreter
// knows nothing about Mamba; the hand loop knows nothing about the IR. If they
// agree to 1e-12 on every output and state, the interpreter is ground truth.

import { beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant, specialize } from '../dsl/specialize.ts';
import { randomInputs } from '../runtime/check.ts';
import { runReference, type HostArrays } from '../runtime/reference/interpret.ts';
import type { Dims } from '../runtime/shapes.ts';
import { toFloat64 } from './helpers/check.ts';

const softplus = (x: number): number => (x > 20 ? x : Math.log1p(Math.exp(x)));
const silu = (x: number): number => x * (1 / (1 + Math.exp(-x)));

interface Mamba1Options {
  softplus: boolean;
  finalState: boolean;
}

/**
 * Spec §1, written out: per (b, d), for t = 0..L-1, with h starting at h_init or 0,
 *   dt = delta + delta_bias; dt = softplus(dt) if asked
 *   h[n] = exp(dt·A[d,n])·h[n] + dt·B[b,g,n,t]·u[b,d,t]
 *   y = Σ_n C[b,g,n,t]·h[n] + D[d]·u;  y = y·silu(z) if z is given
 * Layouts: u, delta, z (B, D, L); A (D, N); B, C (B, G, N, L); D, delta_bias (D); h (B, D, N).
 */
function mamba1(x: HostArrays, dims: Dims, opt: Mamba1Options): HostArrays {
  const { batch: Bn, dim: Dn, seqlen: L, dstate: N, ngroups: G } = dims as Record<'batch' | 'dim' | 'seqlen' | 'dstate' | 'ngroups', number>;
  const y = new Float64Array(Bn * Dn * L);
  const hFinal = new Float64Array(Bn * Dn * N);
  const chansPerGroup = Dn / G;
  for (let b = 0; b < Bn; b++) {
    for (let d = 0; d < Dn; d++) {
      const g = Math.floor(d / chansPerGroup);
      const h = new Float64Array(N);
      if (x.h_init) for (let n = 0; n < N; n++) h[n] = x.h_init[(b * Dn + d) * N + n]!;
      for (let t = 0; t < L; t++) {
        const bdt = (b * Dn + d) * L + t;
        const u = x.u![bdt]!;
        let dt = x.delta![bdt]!;
        if (x.delta_bias) dt += x.delta_bias[d]!;
        if (opt.softplus) dt = softplus(dt);
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const bgnt = ((b * G + g) * N + n) * L + t;
          h[n] = Math.exp(dt * x.A![d * N + n]!) * h[n]! + dt * x.B![bgnt]! * u;
          acc += x.C![bgnt]! * h[n]!;
        }
        if (x.D) acc += x.D[d]! * u;
        if (x.z) acc *= silu(x.z[bdt]!);
        y[bdt] = acc;
      }
      hFinal.set(h, (b * Dn + d) * N);
    }
  }
  return opt.finalState ? { y, h_final: hFinal } : { y };
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('reference interpreter vs a hand-written Mamba-1 loop', () => {
  let p: Program;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
  }, 60_000);

  /** Random inputs for `variant` (float32 draws from the declared distributions), widened to float64. */
  function inputsFor(variant: Variant, dims: Dims, seed: number): HostArrays {
    const host = randomInputs(p, { dims, present: variant.present, initStates: variant.initStates, finalStates: variant.finalStates, flags: variant.flags, seed });
    return toFloat64(host);
  }

  function compare(variant: Variant, dims: Dims, inputs: HostArrays): void {
    const sp = specialize(p, variant);
    const got = runReference(sp, dims, inputs);
    const want = mamba1(inputs, dims, { softplus: variant.flags.delta_softplus ?? true, finalState: variant.finalStates.includes('h') });
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [name, w] of Object.entries(want)) {
      const g = got[name]!;
      // Not a vacuous comparison: the values are neither zero nor non-finite.
      expect(maxAbs(w), `${name} magnitude`).toBeGreaterThan(1e-3);
      expect(w.every(Number.isFinite), `${name} finite`).toBe(true);
      expect(maxAbsDiff(g, w), `${name}: max |reference - hand loop|`).toBeLessThan(1e-12);
    }
  }

  it('full variant (D, z, delta_bias, softplus, h_init, final state), ngroups = 1', () => {
    const dims = { batch: 2, dim: 4, seqlen: 64, dstate: 16, ngroups: 1 };
    const v = fullVariant(p);
    expect(v.present.sort()).toEqual(['D', 'delta_bias', 'z']);
    expect(v.flags).toEqual({ delta_softplus: true });
    compare(v, dims, inputsFor(v, dims, 11));
  });

  it('full variant with ngroups = 2 (channels 0-1 read group 0, 2-3 group 1)', () => {
    const dims = { batch: 2, dim: 4, seqlen: 64, dstate: 16, ngroups: 2 };
    const v = fullVariant(p);
    const x = inputsFor(v, dims, 12);
    compare(v, dims, x);
    // The group mapping matters: treating B and C as ngroups = 1 data gives a different answer.
    const sp = specialize(p, v);
    const got = runReference(sp, dims, x);
    const wrong = mamba1({ ...x, B: x.B!.subarray(0, x.B!.length / 2), C: x.C!.subarray(0, x.C!.length / 2) }, { ...dims, ngroups: 1 }, { softplus: true, finalState: true });
    const L = dims.seqlen, D = dims.dim;
    // Channel 0 (group 0) agrees; channel 3 (group 1) does not.
    expect(maxAbsDiff(got.y!.subarray(0, L), wrong.y!.subarray(0, L))).toBeLessThan(1e-12);
    expect(maxAbsDiff(got.y!.subarray((D - 1) * L, D * L), wrong.y!.subarray((D - 1) * L, D * L))).toBeGreaterThan(1e-3);
  });

  it('delta_softplus = false (dt used as given)', () => {
    const dims = { batch: 2, dim: 3, seqlen: 48, dstate: 16, ngroups: 1 };
    const v: Variant = { ...fullVariant(p), flags: { delta_softplus: false } };
    const x = inputsFor(v, dims, 13);
    // Without softplus the declared N(-2, 1) deltas would make dt·A > 0 and the
    // state grow exponentially; use small positive steps instead.
    x.delta = x.delta!.map((d) => 0.05 + 0.1 * Math.abs(d));
    x.delta_bias = x.delta_bias!.map((d) => 0.02 * d);
    compare(v, dims, x);
    // And softplus does change the result: the flag is honoured.
    const withSp = runReference(specialize(p, fullVariant(p)), dims, x);
    const without = runReference(specialize(p, v), dims, x);
    expect(maxAbsDiff(withSp.y!, without.y!)).toBeGreaterThan(1e-3);
  });

  it('no optional inputs, no initial or final state', () => {
    const dims = { batch: 2, dim: 4, seqlen: 40, dstate: 16, ngroups: 2 };
    const v = defaultVariant(p);
    const x = inputsFor(v, dims, 14);
    expect(Object.keys(x).sort()).toEqual(['A', 'B', 'C', 'delta', 'u']);
    compare(v, dims, x);
  });

  it('no optional inputs, final state asked (h starts at 0)', () => {
    const dims = { batch: 1, dim: 2, seqlen: 33, dstate: 4, ngroups: 1 };
    const v: Variant = { ...defaultVariant(p), finalStates: ['h'] };
    compare(v, dims, inputsFor(v, dims, 15));
  });

  it('mixed subsets of optional inputs, with an initial state but no final state', () => {
    const dims = { batch: 2, dim: 2, seqlen: 25, dstate: 16, ngroups: 1 };
    for (const present of [['D'], ['z'], ['delta_bias'], ['D', 'z'], ['z', 'delta_bias']]) {
      const v: Variant = { present, flags: { delta_softplus: true }, initStates: ['h'], finalStates: [] };
      compare(v, dims, inputsFor(v, dims, 16 + present.length));
    }
  });

  it('softplus switches to the identity above 20', () => {
    const dims = { batch: 1, dim: 1, seqlen: 6, dstate: 4, ngroups: 1 };
    const v: Variant = { ...defaultVariant(p), finalStates: ['h'] };
    const x = inputsFor(v, dims, 17);
    x.delta = Float64Array.from([19.5, 20, 20.0000001, 25, -30, 0]);
    x.A = Float64Array.from([-0.01, -0.02, -0.03, -0.04]);
    compare(v, dims, x);
  });

  it('rejects inputs of the wrong size or missing ones', () => {
    const dims = { batch: 1, dim: 2, seqlen: 8, dstate: 4, ngroups: 1 };
    const v = defaultVariant(p);
    const sp = specialize(p, v);
    const x = inputsFor(v, dims, 18);
    expect(() => runReference(sp, dims, { ...x, u: x.u!.subarray(1) })).toThrow(/'u' has 15 elements, expected 16/);
    const { C: _C, ...noC } = x;
    expect(() => runReference(sp, dims, noC)).toThrow(/missing input 'C'/);
  });
});
