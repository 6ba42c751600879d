// Mamba-2 SSD (state space duality), as mamba_ssm's mamba_chunk_scan_combined
// computes it. Spec: shared/spec/ssm-families.md §2. Sequence-major layout,
// one recurrence per (batch, head) with a headdim × dstate matrix state and
// one scalar decay per step. The step is the plain recurrence; the compiler
// proves it SSD-able (scalar decay, rank-1 update, linear readout) and lowers
// it to the chunked matrix form (codegen/analysis/ssd.ts, codegen/lower/ssd.ts).
//
// D comes per head (`D`, shape (nheads)) or per (head, headdim) (`D_hp`,
// shape (nheads, headdim)): one tensor cannot have either shape, so the
// second form is its own optional input; pass one of them (both add up).
import { program, f32, exp, softplus, silu, sum, div } from '../dsl/index.js';

export default program({
  name: 'mamba2_chunk_scan',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'ngroups', 'dstate'],
  static: { headdim: 64, dstate: 128 },
  inputs: {
    x: f32('batch', 'seqlen', 'nheads', 'headdim'),
    // Before softplus: dt = softplus(N(-2, 1)) ≈ 0.13, as in trained models (spec §6).
    dt: f32('batch', 'seqlen', 'nheads').normal(-2, 1),
    A: f32('nheads').uniform(-1, -0.01),
    B: f32('batch', 'seqlen', 'ngroups', 'dstate'),
    C: f32('batch', 'seqlen', 'ngroups', 'dstate'),
    D: f32('nheads').optionalInput(),
    D_hp: f32('nheads', 'headdim').optionalInput(),
    z: f32('batch', 'seqlen', 'nheads', 'headdim').optionalInput(),
    dt_bias: f32('nheads').normal(0, 0.5).optionalInput(),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { S: f32('headdim', 'dstate') },
  flags: { dt_softplus: true },
  parallel: ['b', 'h'],
  scan: 't',
  requires: [[({ nheads, ngroups }) => nheads % ngroups === 0, 'nheads must be a multiple of ngroups']],
  step({ b, t, h, p, n }, { x, dt, A, B, C, D, D_hp, z, dt_bias, dt_softplus, y, S, nheads, ngroups }) {
    const g = div(h, div(nheads, ngroups));
    let delta = dt[b][t][h];
    if (dt_bias) delta = delta + dt_bias[h];
    if (dt_softplus) delta = softplus(delta);
    S[p][n] = exp(delta * A[h]) * S[p][n] + delta * x[b][t][h][p] * B[b][t][g][n];
    let out = sum(n, C[b][t][g][n] * S[p][n]);
    if (D) out = out + D[h] * x[b][t][h][p];
    if (D_hp) out = out + D_hp[h][p] * x[b][t][h][p];
    if (z) out = out * silu(z[b][t][h][p]);
    y[b][t][h][p] = out;
  },
  // threads/items/rows serve the generic chunked scan (forced with --lowering diagonal-scan);
  // chunk and threads serve the SSD lowering.
  // First candidates are the defaults: the best measured on the H100 (bench/RESULTS.md runs 12, 70: t128 q32).
  schedule: { threads: [128, 256, 64], items: [4, 2], chunk: [32, 16, 64, 128] },
  checkDims: { batch: 2, seqlen: 300, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 },
});
