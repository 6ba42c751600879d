// Program transform: turns the free leading axes of matrix states (see
// analysis/free-state-axes.ts) into parallel axes, so that the 1-D-state
// lowerings apply unchanged. S[p][n] over parallel (b, h) becomes S[n] over
// parallel (b, h, p): every statement keeps its meaning, state reads and
// updates drop the promoted indices, and the promoted variables become
// always-bound row indices.
//
// Layout: rows are numbered row-major over the parallel axes with the
// promoted ones last, so row = ((b·H + h)·P + p) and a row's state slice
// starts at row·N, exactly where (B, H, P, N)-shaped S_init / S_final keep
// it. The tensors (and their shapes) are not touched; promoteStateAxes
// checks that the layout the lowering will assume is the declared one.

import type { Expr, Program, SpecializedProgram, Stmt } from '../../dsl/ir.js';
import { allTensors } from '../../dsl/ir.js';
import { mapExpr } from '../../dsl/ir-walk.js';
import { freeStateAxes, type FreeAxis } from '../analysis/free-state-axes.js';

export interface Promoted {
  /** The program with the axes promoted (the input program itself when there was nothing to promote). */
  program: SpecializedProgram;
  axes: FreeAxis[];
}

/** Promotes every free leading state axis; throws NotPromotable (with the reason) when a matrix state has none. */
export function promoteFreeStateAxes(sp: SpecializedProgram): Promoted {
  const axes = freeStateAxes(sp);
  return { program: axes.length ? promoteStateAxes(sp, axes) : sp, axes };
}

/** Makes the leading `axes` of every state parallel axes (the caller has proven them free). */
export function promoteStateAxes(sp: SpecializedProgram, axes: FreeAxis[]): SpecializedProgram {
  const k = axes.length;
  const drop = (e: Expr): Expr => mapExpr(e, (x) => (x.k === 'state' ? { ...x, idx: x.idx.slice(k) } : x));
  const step = sp.step.map((s): Stmt => {
    switch (s.k) {
      case 'let': return { ...s, expr: drop(s.expr) };
      case 'setState': return { ...s, idx: s.idx.slice(k), expr: drop(s.expr) };
      case 'store': return { ...s, expr: drop(s.expr) };
      case 'ilet': return s;
      case 'if': throw new Error('internal: promote a specialised program');
    }
  });
  const indices = { ...sp.indices };
  for (const a of axes) indices[a.index] = { name: a.index, dim: a.dim, role: 'parallel' };
  const out: SpecializedProgram = {
    ...sp,
    parallel: [...sp.parallel, ...axes.map((a) => a.index)],
    indices,
    state: sp.state.map((s) => ({ ...s, shape: s.shape.slice(k) })),
    step,
  };
  assertSameStateLayout(sp, out);
  return out;
}

/** The state tensors as the promoted program sees them must be the declared ones, dim for dim. */
function assertSameStateLayout(before: Program, after: Program): void {
  const shapes = (p: Program): Map<string, string> => new Map(allTensors(p).filter((t) => t.state).map((t) => [t.name, t.shape.join(',')]));
  const a = shapes(before), b = shapes(after);
  for (const [name, s] of a) {
    if (b.get(name) !== s) throw new Error(`internal: promoting state axes changes the layout of ${name} from (${s}) to (${b.get(name)})`);
  }
}
