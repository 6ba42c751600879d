// RetNet retention (Sun et al., "Retentive Network"), recurrent form, one
// fixed scalar decay per head: γ_h = 1 − 2^(−5−h), exactly as RetNet sets it,
// computed from the head index in the step. Per (batch, head):
//   S = γ·S + v kᵀ/√dkey,   y = S q
// S is kept as (headdim, dkey) = value × key, the transpose of RetNet's K×V
// convention, so that y = S q sums over the trailing (key) axis. (xPos
// rotation and the GroupNorm after retention are outside the recurrence.)
//
// Lowering (chooseLowering): diagonal-scan with the state axis p (headdim)
// promoted to a parallel axis: every update is diagonal in p, the output binds
// p and nothing sums over it, so rows run over (batch, nheads, headdim) and
// each row scans S[p][·] (1-D over dkey) with one scalar decay per row.
// A finding: the program is SSD-shaped (scalar decay, outer-product update,
// linear readout), but the SSD analysis (codegen/analysis/ssd.ts) rejects it
// because it composes decays in log space and recognises them only written as
// exp(x); γ here is 1 − 2^(−5−h). Written as exp(log(1 − pow(2, −5 − h))),
// the same recurrence gets the SSD lowering: the analysis should take the log
// of any positive decay instead.
import { program, f32, pow, sqrt, sum } from '../dsl/index.js';

export default program({
  name: 'retention',
  dims: ['batch', 'seqlen', 'nheads', 'headdim', 'dkey'],
  static: { headdim: 64, dkey: 64 },
  inputs: {
    q: f32('batch', 'seqlen', 'nheads', 'dkey'),
    k: f32('batch', 'seqlen', 'nheads', 'dkey'),
    v: f32('batch', 'seqlen', 'nheads', 'headdim'),
  },
  outputs: { y: f32('batch', 'seqlen', 'nheads', 'headdim') },
  state: { S: f32('headdim', 'dkey') },
  parallel: ['b', 'h'],
  scan: 't',
  step({ b, t, h, p, n }, { q, k, v, y, S, dkey }) {
    const gamma = 1 - pow(2, -5 - h);
    S[p][n] = gamma * S[p][n] + v[b][t][h][p] * k[b][t][h][n] / sqrt(dkey);
    y[b][t][h][p] = sum(n, S[p][n] * q[b][t][h][n]);
  },
  // rowBlock: rows of the promoted axis p per thread share the loads that do not depend on p (q, k, gates).
  schedule: { threads: [64, 128, 32], items: [4, 8, 2], rowBlock: [1, 2, 4] },
  checkDims: { batch: 2, seqlen: 300, nheads: 3, headdim: 6, dkey: 12 },
});
