// Mamba-1 selective scan (S6), as mamba_ssm's selective_scan_fn computes it.
// Spec: shared/spec/ssm-families.md §1. Channel-major layout, one recurrence
// per (batch, channel) with a diagonal state of dstate elements.
import { program, f32, exp, softplus, silu, sum, div } from '../dsl/index.js';

export default program({
  name: 'selective_scan',
  dims: ['batch', 'dim', 'seqlen', 'dstate', 'ngroups'],
  static: { dstate: 16 },
  inputs: {
    u: f32('batch', 'dim', 'seqlen'),
    // Before softplus: dt = softplus(N(-2, 1)) ≈ 0.13, as in trained models.
    delta: f32('batch', 'dim', 'seqlen').normal(-2, 1),
    A: f32('dim', 'dstate').uniform(-1, -0.01),
    B: f32('batch', 'ngroups', 'dstate', 'seqlen'),
    C: f32('batch', 'ngroups', 'dstate', 'seqlen'),
    D: f32('dim').optionalInput(),
    z: f32('batch', 'dim', 'seqlen').optionalInput(),
    delta_bias: f32('dim').normal(0, 0.5).optionalInput(),
  },
  outputs: { y: f32('batch', 'dim', 'seqlen') },
  state: { h: f32('dstate') },
  flags: { delta_softplus: true },
  parallel: ['b', 'd'],
  scan: 't',
  requires: [[({ dim, ngroups }) => dim % ngroups === 0, 'dim must be a multiple of ngroups']],
  step({ b, d, t, n }, { u, delta, A, B, C, D, z, delta_bias, delta_softplus, y, h, dim, ngroups }) {
    const g = div(d, div(dim, ngroups));
    let dt = delta[b][d][t];
    if (delta_bias) dt = dt + delta_bias[d];
    if (delta_softplus) dt = softplus(dt);
    h[n] = exp(dt * A[d][n]) * h[n] + dt * B[b][g][n][t] * u[b][d][t];
    let out = sum(n, C[b][g][n][t] * h[n]);
    if (D) out = out + D[d] * u[b][d][t];
    if (z) out = out * silu(z[b][d][t]);
    y[b][d][t] = out;
  },
  // First candidates are the defaults: one warp per row (the chunked scan, best on WebGPU; bench/RESULTS.md).
  // rowBlock: channels per thread, sharing the B and C loads of their group.
  // lanes > 1: the state-lanes form, `lanes` threads per channel over the 16 state elements, `rows`
  // channels per workgroup sharing B and C tiles; shuffle 1: they pass step values and sums in
  // registers (lanes 1 too: a channel per thread). On the H100 the best is l4i8r32 with shuffle on
  // CUDA (1.26 ms against 2.95 for the default) and on WebGPU (1.42 ms against 4.39): bench/RESULTS.md
  // runs 48–55. The default stays the chunked scan: it runs on every adapter (lanes > 1 need subgroups)
  // and the state-lanes forms lose at few rows and long sequences (run 33); `scanforge tune` finds them.
  // With shuffles, tileChunks (tiles over several chunks), prefetch (the next chunk's inputs into L2)
  // and scatter (reduce-scatter sums) took CUDA fp32 to 1.049 ms with l4i4r16k2, 4 chunks per tile
  // (runs 75–77); stage (inputs copied into shared memory a chunk ahead, outputs stored as a stream)
  // to 0.934 ms with 128-byte L2 fetches (runs 85–90).
  // segment: with few rows (batch 1, dim 4096) the sequence is split into segments of that many steps run
  // in parallel (a summary launch, a pass over the segments, the outputs launch): 18.8 → 13.1 ms at seqlen
  // 262144 (runs 91–97). Segments as long as the sequence are the unsplit kernel (the tuner measures it once).
  schedule: {
    threads: [32, 64, 128, 256], items: [8, 4, 2, 1, 16], rows: [1, 2, 4, 8, 16, 32, 64], rowBlock: [1, 2, 4], lanes: [1, 8, 16, 4, 2], shuffle: [0, 1],
    tileChunks: [1, 2, 4], prefetch: [0, 1], scatter: [0, 1], stage: [0, 1], segment: [0, 32768],
  },
  checkDims: { batch: 2, dim: 6, seqlen: 1000, dstate: 16, ngroups: 2 },
});
