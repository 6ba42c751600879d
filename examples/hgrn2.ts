// HGRN2 (Qin et al., "HGRN2: Gated Linear RNNs with State Expansion"):
// a forget gate per state element, f_t = lb + (1 − lb)·σ(fg_t) with the
// layer's lower bound lb (optional here, per head), and the input tied to it
// through 1 − f_t. Per (batch, head):
//   S = S·diag(f_t) + v_t (1 − f_t)ᵀ,   y = S q
// S is kept as (headdim, dstate) = value × expanded state, so that y = S q
// sums over the trailing axis (the paper's h_t is the transpose).
//
// Lowering (chooseLowering): diagonal-scan with the state axis p (headdim)
// promoted to a parallel axis: every update is diagonal in p, the output binds
// p and nothing sums over it, so rows run over (batch, nheads, headdim) and
// each row scans S[p][·] (1-D over dstate) with a decay per state element.
import { program, f32, sigmoid, sum } from '../dsl/index.js';

export default program({
  name: 'hgrn2',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'dstate'],
  static: { headdim: 64, dstate: 64 },
  inputs: {
    q: f32('batch', 'seqlen', 'nheads', 'dstate'),
    v: f32('batch', 'seqlen', 'nheads', 'headdim'),
    fg: f32('batch', 'seqlen', 'nheads', 'dstate'),
    lb: f32('nheads').uniform(0, 0.9).optionalInput(),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { S: f32('headdim', 'dstate') },
  parallel: ['b', 'h'],
  scan: 't',
  step({ b, t, h, p, n }, { q, v, fg, lb, y, S }) {
    let f = sigmoid(fg[b][t][h][n]);
    if (lb) f = lb[h] + (1 - lb[h]) * f;
    S[p][n] = f * S[p][n] + (1 - f) * v[b][t][h][p];
    y[b][t][h][p] = sum(n, S[p][n] * q[b][t][h][n]);
  },
  // rowBlock: rows of the promoted axis p per thread share the loads that do not depend on p (q, k, gates).
  schedule: { threads: [64, 128, 32], items: [4, 8, 2], rowBlock: [1, 2, 4] },
  checkDims: { batch: 2, seqlen: 300, nheads: 3, headdim: 6, dstate: 12 },
});
