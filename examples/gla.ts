// Gated linear attention (Yang et al., "Gated Linear Attention Transformers
// with Hardware-Efficient Training"), recurrent form: a data-dependent decay
// per key, α_t = σ(gk_t)^(1/16) (the paper's τ = 16). Per (batch, head):
//   S = S·diag(α_t) + v_t k_tᵀ,   y = S q / √dkey
// S is kept as (headdim, dkey) = value × key (the transpose of the paper's
// K×V state; the same recurrence), so y = S q sums over the trailing axis.
//
// Lowering (chooseLowering): diagonal-scan with the state axis p (headdim)
// promoted to a parallel axis: every update is diagonal in p, the output binds
// p and nothing sums over it, so rows run over (batch, nheads, headdim) and
// each row scans S[p][·] (1-D over dkey) with a decay per key element. The
// decay is not scalar, so this is not SSD-shaped.
import { program, f32, pow, sigmoid, sqrt, sum } from '../dsl/index.js';

export default program({
  name: 'gla',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'dkey'],
  static: { headdim: 64, dkey: 64 },
  inputs: {
    q: f32('batch', 'seqlen', 'nheads', 'dkey'),
    k: f32('batch', 'seqlen', 'nheads', 'dkey'),
    v: f32('batch', 'seqlen', 'nheads', 'headdim'),
    gk: f32('batch', 'seqlen', 'nheads', 'dkey'),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { S: f32('headdim', 'dkey') },
  parallel: ['b', 'h'],
  scan: 't',
  step({ b, t, h, p, n }, { q, k, v, gk, y, S, dkey }) {
    const alpha = pow(sigmoid(gk[b][t][h][n]), 1 / 16);
    S[p][n] = alpha * S[p][n] + v[b][t][h][p] * k[b][t][h][n];
    y[b][t][h][p] = sum(n, S[p][n] * q[b][t][h][n]) / sqrt(dkey);
  },
  // rowBlock: rows of the promoted axis p per thread share the loads that do not depend on p (q, k, gates).
  // First candidates are the defaults: the tuner's choice on the H100 (bench/RESULTS.md run 25).
  schedule: { threads: [32, 64, 128], items: [4, 8, 2], rowBlock: [4, 2, 1] },
  checkDims: { batch: 2, seqlen: 300, nheads: 3, headdim: 6, dkey: 12 },
});
