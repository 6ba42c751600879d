// mLSTM, the matrix-memory cell of xLSTM (Beck et al., "xLSTM: Extended Long
// Short-Term Memory"), recurrent form, with its normaliser state. Per
// (batch, head), with a scalar forget gate f = σ(fg) and exponential input
// gate i = exp(ig) per step:
//   C = f·C + i·v kᵀ/√dkey,   n = f·n + i·k/√dkey,   y = C q / max(|nᵀq|, 1)
// Two states, an output that combines two sums non-linearly. xLSTM's
// stabiliser m_t (a max-plus recurrence) is left out: it rescales C, n and the
// 1 in the max by the same exp(−m_t), so y is the same in exact arithmetic;
// it only guards exp(ig) against overflow for large gate values.
// The normaliser n is declared per (headdim, dkey) and repeats the same
// values for every p: the promoted rows of the scan need every state to have
// the promoted axis (a 1-D n beside C is rejected: its n_init/n_final layout
// would not match the rows). This costs a second scan per row where one per
// head would do, and n_final is (batch, nheads, headdim, dkey) with equal rows.
//
// Lowering (chooseLowering): diagonal-scan with the state axis p (headdim)
// promoted to a parallel axis: both updates are diagonal in p, the output binds
// p and nothing sums over it; each row scans C[p][·] and nrm[p][·] with one
// scalar decay per row.
import { program, f32, abs, exp, max, sigmoid, sqrt, sum } from '../dsl/index.js';

export default program({
  name: 'mlstm',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'dkey'],
  static: { headdim: 64, dkey: 64 },
  inputs: {
    q: f32('batch', 'seqlen', 'nheads', 'dkey'),
    k: f32('batch', 'seqlen', 'nheads', 'dkey'),
    v: f32('batch', 'seqlen', 'nheads', 'headdim'),
    ig: f32('batch', 'seqlen', 'nheads'),
    fg: f32('batch', 'seqlen', 'nheads').normal(3, 1),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { C: f32('headdim', 'dkey'), nrm: f32('headdim', 'dkey') },
  parallel: ['b', 'h'],
  scan: 't',
  step({ b, t, h, p, n }, { q, k, v, ig, fg, y, C, nrm, dkey }) {
    const f = sigmoid(fg[b][t][h]);
    const ik = exp(ig[b][t][h]) * k[b][t][h][n] / sqrt(dkey);
    C[p][n] = f * C[p][n] + ik * v[b][t][h][p];
    nrm[p][n] = f * nrm[p][n] + ik;
    y[b][t][h][p] = sum(n, C[p][n] * q[b][t][h][n]) / max(abs(sum(n, nrm[p][n] * q[b][t][h][n])), 1);
  },
  // rowBlock: rows of the promoted axis p per thread share the loads that do not depend on p (q, k, gates).
  schedule: { threads: [64, 128, 32], items: [4, 8, 2], rowBlock: [1, 2, 4] },
  checkDims: { batch: 2, seqlen: 300, nheads: 3, headdim: 6, dkey: 12 },
});
