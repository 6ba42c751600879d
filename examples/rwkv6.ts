// RWKV-6 "Finch" WKV (Peng et al., "Eagle and Finch: RWKV with Matrix-Valued
// States and Dynamic Recurrence"): a data-dependent decay per key,
// w_t = exp(−exp(w̃_t)), and a "bonus" u for the current token, which the
// output adds to the state of the previous step. Per (batch, head):
//   y_t = Σ_n r_t[n]·(S_{t−1}[p][n] + u[n]·k_t[n]·v_t[p]),   S_t = S_{t−1}·diag(w_t) + v_t k_tᵀ
// What it stresses: the output reads the state *before* this step's update
// (the store comes first; the step is ordered), and the decay is a double
// exponential. S is kept as (headdim, dkey) = value × key (the paper's state
// transposed), so the output sums over the trailing axis.
//
// Lowering (chooseLowering): diagonal-scan with the state axis p (headdim)
// promoted to a parallel axis: the update is diagonal in p, the output binds p
// and nothing sums over it, so rows run over (batch, nheads, headdim) and each
// row scans S[p][·] (1-D over dkey) with a decay per key element; the output
// reads each item's incoming state (the scan's exclusive prefix).
import { program, f32, exp, sum } from '../dsl/index.js';

export default program({
  name: 'rwkv6',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'dkey'],
  static: { headdim: 64, dkey: 64 },
  inputs: {
    r: f32('batch', 'seqlen', 'nheads', 'dkey'),
    k: f32('batch', 'seqlen', 'nheads', 'dkey'),
    v: f32('batch', 'seqlen', 'nheads', 'headdim'),
    w: f32('batch', 'seqlen', 'nheads', 'dkey').uniform(-6, -1),
    u: f32('nheads', 'dkey').uniform(-0.1, 1),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { S: f32('headdim', 'dkey') },
  parallel: ['b', 'h'],
  scan: 't',
  step({ b, t, h, p, n }, { r, k, v, w, u, y, S }) {
    const kv = k[b][t][h][n] * v[b][t][h][p];
    y[b][t][h][p] = sum(n, r[b][t][h][n] * (S[p][n] + u[h][n] * kv));
    S[p][n] = exp(-exp(w[b][t][h][n])) * S[p][n] + kv;
  },
  // rowBlock: rows of the promoted axis p per thread share the loads that do not depend on p (q, k, gates).
  schedule: { threads: [64, 128, 32], items: [4, 8, 2], rowBlock: [1, 2, 4] },
  checkDims: { batch: 2, seqlen: 300, nheads: 3, headdim: 6, dkey: 12 },
});
