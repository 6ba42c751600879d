// The float64 reference interpreter running examples/mamba3_siso.ts and
// examples/mamba3_mimo.ts against hand-written loops of spec §3 and §4
// (shared/spec/ssm-families.md). The loops know nothing about the IR and the
// interpreter knows nothing about Mamba-3; agreement to 1e-12 makes the
// interpreter the ground truth the kernels are checked against.

import { beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { specialize } from '../dsl/specialize.ts';
import { randomInputs } from '../runtime/check.ts';
import { runReference, type HostArrays } from '../runtime/reference/interpret.ts';
import type { Dims } from '../runtime/shapes.ts';
import { toFloat64 } from './helpers/check.ts';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const silu = (x: number): number => x * sigmoid(x);
const TWO_PI = 2 * Math.PI;
const modPos = (a: number, b: number): number => a - b * Math.floor(a / b);

/** rot(x, θ): pair (2i, 2i+1) turned by θ[i] for i < Ra (counter-clockwise), later entries unchanged. */
function rotate(x: Float64Array, theta: Float64Array, Ra: number): Float64Array {
  const out = Float64Array.from(x);
  for (let i = 0; i < Ra; i++) {
    const c = Math.cos(theta[i]!), s = Math.sin(theta[i]!);
    const x0 = x[2 * i]!, x1 = x[2 * i + 1]!;
    out[2 * i] = c * x0 - s * x1;
    out[2 * i + 1] = s * x0 + c * x1;
  }
  return out;
}

/**
 * Spec §3 (R = undefined) and §4 (rank R), per (b, h), t = 0..L-1:
 *   θ += tanh(Angles_t)·π·DT_t (mod 2π);  q'_r = rot(Q_t,r + Q_bias_r, θ), k'_r likewise
 *   λ = sigmoid(Trap_t); α = exp(ADT_t); β = (1−λ)·DT_t·α; γ = λ·DT_t
 *   v_r = V_t ⊙ MIMO_V[h,r]  (SISO: v = V_t)
 *   S = α·S + β·Σ_r v_prev,r ⊗ k'_prev,r + γ·Σ_r v_r ⊗ k'_r
 *   y_r = S·q'_r + D[h]·v_r; y_r ⊙= silu(Z_t ⊙ MIMO_Z[h,r]); out = Σ_r y_r ⊙ MIMO_O[h,r]
 *   k'_prev = k'; v_prev = V_t
 * Layouts: Q, K (B, L, [R,] Hqk, N); V, Z (B, L, H, P); ADT, DT, Trap (B, H, L);
 * Q_bias, K_bias (H, [R,] N); Angles (B, L, H, Ra); MIMO_* (H, R, P); D (H);
 * states angle (B, H, Ra), S (B, H, P, N), kprev (B, H, [R,] N), vprev (B, H, P).
 */
function mamba3(x: HostArrays, dims: Dims, mimo: boolean): HostArrays {
  const B = dims.batch!, L = dims.seqlen!, H = dims.nheads!, Hqk = dims.nheads_qk!, P = dims.headdim!, N = dims.dstate!, Ra = dims.angles!;
  const R = mimo ? dims.rank! : 1;
  const y = new Float64Array(B * L * H * P);
  const angleF = new Float64Array(B * H * Ra), SF = new Float64Array(B * H * P * N), kF = new Float64Array(B * H * R * N), vF = new Float64Array(B * H * P);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const g = Math.floor(h / (H / Hqk));
      const theta = new Float64Array(Ra), S = new Float64Array(P * N), vprev = new Float64Array(P);
      const kprev = Array.from({ length: R }, () => new Float64Array(N));
      if (x.angle_init) theta.set(x.angle_init.subarray(bh * Ra, (bh + 1) * Ra));
      if (x.S_init) S.set(x.S_init.subarray(bh * P * N, (bh + 1) * P * N));
      if (x.kprev_init) for (let r = 0; r < R; r++) kprev[r]!.set(x.kprev_init.subarray((bh * R + r) * N, (bh * R + r + 1) * N));
      if (x.vprev_init) vprev.set(x.vprev_init.subarray(bh * P, (bh + 1) * P));
      for (let t = 0; t < L; t++) {
        const bht = bh * L + t;
        const dt = x.DT![bht]!;
        for (let i = 0; i < Ra; i++) theta[i] = modPos(theta[i]! + Math.tanh(x.Angles![((b * L + t) * H + h) * Ra + i]!) * Math.PI * dt, TWO_PI);
        const qr: Float64Array[] = [], kr: Float64Array[] = [];
        for (let r = 0; r < R; r++) {
          const qk = (((b * L + t) * R + r) * Hqk + g) * N; // SISO: R = 1, r = 0 gives (b, t, g, n)
          const bias = (h * R + r) * N;
          qr.push(rotate(Float64Array.from({ length: N }, (_, n) => x.Q![qk + n]! + x.Q_bias![bias + n]!), theta, Ra));
          kr.push(rotate(Float64Array.from({ length: N }, (_, n) => x.K![qk + n]! + x.K_bias![bias + n]!), theta, Ra));
        }
        const lam = sigmoid(x.Trap![bht]!);
        const alpha = Math.exp(x.ADT![bht]!);
        const beta = (1 - lam) * dt * alpha;
        const gamma = lam * dt;
        const vt = (p: number): number => x.V![((b * L + t) * H + h) * P + p]!;
        const up = (w: Float64Array | undefined, r: number, p: number): number => (mimo ? w![(h * R + r) * P + p]! : 1);
        for (let p = 0; p < P; p++) {
          for (let n = 0; n < N; n++) {
            let prev = 0, cur = 0;
            for (let r = 0; r < R; r++) {
              prev += vprev[p]! * up(x.MIMO_V, r, p) * kprev[r]![n]!;
              cur += vt(p) * up(x.MIMO_V, r, p) * kr[r]![n]!;
            }
            S[p * N + n] = alpha * S[p * N + n]! + beta * prev + gamma * cur;
          }
        }
        for (let r = 0; r < R; r++) kprev[r]!.set(kr[r]!);
        for (let p = 0; p < P; p++) vprev[p] = vt(p);
        for (let p = 0; p < P; p++) {
          let out = 0;
          for (let r = 0; r < R; r++) {
            let yr = 0;
            for (let n = 0; n < N; n++) yr += S[p * N + n]! * qr[r]![n]!;
            if (x.D) yr += x.D[h]! * vt(p) * up(x.MIMO_V, r, p);
            if (x.Z) yr *= silu(x.Z[((b * L + t) * H + h) * P + p]! * up(x.MIMO_Z, r, p));
            out += yr * up(x.MIMO_O, r, p);
          }
          y[((b * L + t) * H + h) * P + p] = out;
        }
      }
      angleF.set(theta, bh * Ra);
      SF.set(S, bh * P * N);
      for (let r = 0; r < R; r++) kF.set(kprev[r]!, (bh * R + r) * N);
      vF.set(vprev, bh * P);
    }
  }
  return { y, angle_final: angleF, S_final: SF, kprev_final: kF, vprev_final: vF };
}

function relErr(got: Float64Array, want: Float64Array): number {
  expect(got.length).toBe(want.length);
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return num / den;
}

const STATES = ['angle', 'S', 'kprev', 'vprev'];

for (const mimo of [false, true]) {
  const file = mimo ? 'mamba3_mimo' : 'mamba3_siso';
  describe(`reference interpreter vs a hand-written Mamba-3 ${mimo ? 'MIMO (§4)' : 'SISO (§3)'} loop`, () => {
    let p: Program;
    beforeAll(async () => {
      p = await loadProgram(new URL(`../examples/${file}.ts`, import.meta.url).pathname);
    }, 60_000);

    const shapes: Dims[] = [
      { batch: 2, seqlen: 23, nheads: 4, nheads_qk: 2, headdim: 5, dstate: 10, angles: 3, rank: 3 },
      { batch: 1, seqlen: 9, nheads: 3, nheads_qk: 1, headdim: 4, dstate: 8, angles: 4, rank: 2 }, // every pair rotated
      { batch: 1, seqlen: 6, nheads: 2, nheads_qk: 2, headdim: 3, dstate: 6, angles: 1, rank: 1 },
    ];
    for (const dims of shapes) {
      for (const full of [true, false]) {
        it(`${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(' ')}, ${full ? 'D, Z and all four states in' : 'no D, Z, no initial states'}`, () => {
          const v: Variant = { present: full ? ['D', 'Z'] : [], flags: {}, initStates: full ? STATES : [], finalStates: STATES };
          const inputs = randomInputs(p, { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, seed: dims.seqlen! + (full ? 1 : 0) });
          const x: HostArrays = toFloat64(inputs);
          // Initial angles anywhere in R (not only [0, 2π)): the mod keeps the state in range after one step.
          if (x.angle_init) x.angle_init = x.angle_init.map((a) => 4 * a);
          const got = runReference(specialize(p, v), dims, x);
          const want = mamba3(x, dims, mimo);
          for (const name of ['y', ...STATES.map((s) => `${s}_final`)]) {
            expect(relErr(got[name]!, want[name]!), name).toBeLessThan(1e-12);
          }
          // The angle state stays in [0, 2π).
          for (const a of got.angle_final!) expect(a >= 0 && a < TWO_PI).toBe(true);
        });
      }
    }

    it('the rotation matters: with no rotated pairs the result changes', () => {
      const dims = shapes[0]!;
      const v: Variant = { present: [], flags: {}, initStates: [], finalStates: ['S'] };
      const inputs = randomInputs(p, { dims, present: [], initStates: [], finalStates: ['S'], seed: 7 });
      const x: HostArrays = toFloat64(inputs);
      const a = runReference(specialize(p, v), dims, x);
      const b = runReference(specialize(p, v), dims, { ...x, Angles: x.Angles!.map(() => 0) });
      expect(relErr(a.y!, b.y!)).toBeGreaterThan(1e-2);
      // ...and zero angles are no rotation at all: the hand loop with Ra = 0 agrees.
      const noRot = mamba3({ ...x, Angles: x.Angles!.map(() => 0) }, { ...dims, angles: 0 }, mimo);
      expect(relErr(b.y!, noRot.y!)).toBeLessThan(1e-12);
    });

    it('the previous step is read: kprev and vprev carry step t-1 into the trapezoid', () => {
      // With Trap → -∞ (λ = 0) the update is S = α·S + DT·α·v_prev ⊗ k'_prev: only the carry
      // states feed S, so a different kprev_init changes S_final, and y at t = 0 reads it.
      const dims = shapes[2]!;
      const v: Variant = { present: [], flags: {}, initStates: ['kprev', 'vprev'], finalStates: ['S', 'kprev'] };
      const inputs = randomInputs(p, { dims, present: [], initStates: v.initStates, finalStates: v.finalStates, seed: 11 });
      const x: HostArrays = toFloat64(inputs);
      x.Trap = x.Trap!.map(() => -60);
      const a = runReference(specialize(p, v), dims, x);
      const b = runReference(specialize(p, v), dims, { ...x, kprev_init: x.kprev_init!.map((k) => k + 1) });
      expect(relErr(a.S_final!, b.S_final!)).toBeGreaterThan(1e-3);
      expect(Math.abs(a.y![0]! - b.y![0]!)).toBeGreaterThan(1e-6);
      // kprev_final is the last step's rotated k, whatever kprev_init was.
      expect(relErr(a.kprev_final!, b.kprev_final!)).toBe(0);
    });
  });
}
