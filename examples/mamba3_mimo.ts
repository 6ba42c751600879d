// Mamba-3, MIMO of rank R: as mamba3_siso.ts, with R rank-1 updates per
// step through per-rank up/down projections. Spec: shared/spec/ssm-families.md
// §3 and §4. Sequence-major layout as the reference implementation's (B, L, H, ·),
// with the per-step scalars ADT, DT, Trap head-major (B, H, L). One
// recurrence per (batch, head) with four states:
//   angle (angles)            the cumulative rotary angle, a secondary scan kept in [0, 2π)
//   S     (headdim, dstate)   the SSM state
//   kprev (rank, dstate)      the previous step's rotated k of every rank (carry state)
//   vprev (headdim)           the previous step's V before the per-rank projection (carry state)
// Sums over the rank axis (sum(r, ...)) mix the R updates into S and the R
// readouts into y.
//
// The previous step (t-1): a state that is assigned but whose new value is
// not read back in the same step is a carry. Reading kprev[n] before
// `kprev[n] = kr` gives the value of step t-1 (or kprev_init at t = 0), and
// kprev_final hands it to the next call, so a sequence split in pieces gives
// the same result as in one piece.
import { program, f32, exp, tanh, sin, cos, sigmoid, silu, mod, sum, div, where } from '../dsl/index.js';

export default program({
  name: 'mamba3_mimo',
  dims: ['batch', 'seqlen', 'nheads', 'nheads_qk', 'headdim', 'dstate', 'angles', 'rank'],
  static: { headdim: 64, dstate: 128, angles: 32, rank: 4 },
  inputs: {
    Q: f32('batch', 'seqlen', 'rank', 'nheads_qk', 'dstate'),
    K: f32('batch', 'seqlen', 'rank', 'nheads_qk', 'dstate'),
    V: f32('batch', 'seqlen', 'nheads', 'headdim'),
    // A·dt ≤ 0 and dt > 0 with the magnitudes of trained models (dt ≈ softplus(N(-2, 1)), A in [-1, -0.01]).
    ADT: f32('batch', 'nheads', 'seqlen').uniform(-0.2, -0.001),
    DT: f32('batch', 'nheads', 'seqlen').uniform(0.01, 0.3),
    Trap: f32('batch', 'nheads', 'seqlen'),
    Q_bias: f32('nheads', 'rank', 'dstate').normal(0, 0.5),
    K_bias: f32('nheads', 'rank', 'dstate').normal(0, 0.5),
    Angles: f32('batch', 'seqlen', 'nheads', 'angles'),
    // Per-rank projections of V (up), Z (up) and the rank outputs (down), per head.
    MIMO_V: f32('nheads', 'rank', 'headdim').normal(0, 0.5),
    MIMO_Z: f32('nheads', 'rank', 'headdim').normal(0, 0.5),
    MIMO_O: f32('nheads', 'rank', 'headdim').normal(0, 0.5),
    D: f32('nheads').optionalInput(),
    Z: f32('batch', 'seqlen', 'nheads', 'headdim').optionalInput(),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { angle: f32('angles'), S: f32('headdim', 'dstate'), kprev: f32('rank', 'dstate'), vprev: f32('headdim') },
  parallel: ['b', 'h'],
  scan: 't',
  requires: [
    [({ nheads, nheads_qk }) => nheads % nheads_qk === 0, 'nheads must be a multiple of nheads_qk'],
    [({ dstate }) => dstate % 2 === 0, 'dstate must be even (rotary pairs)'],
    [({ dstate, angles }) => 2 * angles <= dstate, 'angles must be at most dstate / 2'],
  ],
  step({ b, t, h, p, n, a, r }, { Q, K, V, ADT, DT, Trap, Q_bias, K_bias, Angles, MIMO_V, MIMO_Z, MIMO_O, D, Z, y, angle, S, kprev, vprev, nheads, nheads_qk, angles }) {
    const g = div(h, div(nheads, nheads_qk)); // the Q/K head this head reads
    const dt = DT[b][h][t];
    // Secondary scan over its own dim: θ += tanh(Angles)·DT·π, kept in [0, 2π).
    angle[a] = mod(angle[a] + tanh(Angles[b][t][h][a]) * Math.PI * dt, 2 * Math.PI);
    // Rotary of every rank's q and k: pair (2i, 2i+1) turns by θ[i] for i < angles.
    const pair = n + 1 - 2 * mod(n, 2);
    const th = angle[div(n, 2)]; // read only where n < 2·angles
    const sgn = where(mod(n, 2) == 0, -1, 1);
    const k = K[b][t][r][g][n] + K_bias[h][r][n];
    const kr = where(n < 2 * angles, cos(th) * k + sgn * sin(th) * (K[b][t][r][g][pair] + K_bias[h][r][pair]), k);
    const q = Q[b][t][r][g][n] + Q_bias[h][r][n];
    const qr = where(n < 2 * angles, cos(th) * q + sgn * sin(th) * (Q[b][t][r][g][pair] + Q_bias[h][r][pair]), q);
    const lam = sigmoid(Trap[b][h][t]);
    const alpha = exp(ADT[b][h][t]);
    const beta = (1 - lam) * dt * alpha;
    const gamma = lam * dt;
    // R rank-1 updates of step t-1 (trapezoid's first term) and of step t.
    S[p][n] = alpha * S[p][n]
      + beta * sum(r, vprev[p] * MIMO_V[h][r][p] * kprev[r][n])
      + gamma * sum(r, V[b][t][h][p] * MIMO_V[h][r][p] * kr);
    kprev[r][n] = kr;
    vprev[p] = V[b][t][h][p];
    // Per-rank readout, skip and gate, then the down projection summed over ranks.
    const v = V[b][t][h][p] * MIMO_V[h][r][p];
    let yr = sum(n, S[p][n] * qr);
    if (D) yr = yr + D[h] * v;
    if (Z) yr = yr * silu(Z[b][t][h][p] * MIMO_Z[h][r][p]);
    y[b][t][h][p] = sum(r, yr * MIMO_O[h][r][p]);
  },
  // The chunked matrix form (chosen by analysis: one scalar decay, rank-R input plus its previous
  // step, readouts per rank) reads threads and chunk (steps per chunk; the matrices are
  // chunk × rank rows); the sequential lowering (--lowering sequential, the decode step) reads threads.
  // First candidates are the defaults: the tuner's choice at the benchmark shape on the H100 (bench/RESULTS.md run 23).
  schedule: { threads: [256, 128, 64], chunk: [16, 8, 32, 4] },
  checkDims: { batch: 2, seqlen: 37, nheads: 4, nheads_qk: 2, headdim: 12, dstate: 10, angles: 3, rank: 3 },
});
