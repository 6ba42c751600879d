// Which state axes can be split over several workgroups by the sequential
// lowering. An index variable x (over a static dim X) tiles when the
// elements of every state along X evolve independently:
//   - x is the only index variable over X, and X occurs once per state;
//   - nothing sums over x (a sum would need every tile's elements);
//   - every read of a state that has an X axis reads it at exactly x.
// Then each workgroup owns a slice of X of every state that has that axis,
// and recomputes the states without it (which never read the slice of
// another workgroup) on its own. Unlike promotion (free-state-axes.ts) the
// tiled axis need not lead, outputs need not bind it (tile 0 writes those),
// and states without the axis are allowed: Mamba-3's S[p][n] splits along p
// while kprev[n] and angle[a] are recomputed per tile.

import type { Expr, SpecializedProgram } from '../../dsl/ir.js';

export interface TileAxis {
  /** The index variable that is split. */
  index: string;
  dim: string;
}

/** Every state axis the sequential lowering may split over workgroups. */
export function tileableAxes(sp: SpecializedProgram): TileAxis[] {
  const out: TileAxis[] = [];
  const exprs: Expr[] = [];
  // Lets are checked where they are defined: a use refers to them by name, at the same variables.
  for (const s of sp.step) if (s.k === 'let' || s.k === 'setState' || s.k === 'store') exprs.push(s.expr);
  for (const [x, info] of Object.entries(sp.indices)) {
    if (info.role === 'parallel' || info.role === 'scan') continue;
    const X = info.dim;
    if (sp.staticDims[X] === undefined) continue;
    if (Object.values(sp.indices).some((o) => o.name !== x && o.dim === X)) continue;
    const withX = sp.state.filter((st) => st.shape.includes(X));
    if (withX.length === 0 || withX.some((st) => st.shape.filter((d) => d === X).length > 1)) continue;
    const axisOf = new Map(withX.map((st) => [st.name, st.shape.indexOf(X)]));
    if (exprs.every((e) => keepsSlice(e, x, axisOf))) out.push({ index: x, dim: X });
  }
  return out;
}

/** No sum over x, and every read of a state with an X axis reads it at x. */
function keepsSlice(e: Expr, x: string, axisOf: Map<string, number>): boolean {
  switch (e.k) {
    case 'sum': return e.index !== x && keepsSlice(e.body, x, axisOf);
    case 'state': {
      const j = axisOf.get(e.name);
      if (j === undefined) return true;
      const ie = e.idx[j]!;
      return ie.k === 'ivar' && ie.name === x;
    }
    case 'bin': return keepsSlice(e.a, x, axisOf) && keepsSlice(e.b, x, axisOf);
    case 'neg': return keepsSlice(e.a, x, axisOf);
    case 'call': return e.args.every((a) => keepsSlice(a, x, axisOf));
    case 'where': return keepsSlice(e.a, x, axisOf) && keepsSlice(e.b, x, axisOf);
    default: return true;
  }
}
