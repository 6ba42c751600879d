// The states of an SSD-able program besides its matrix state S: what the
// chunked form can carry alongside it without changing its shape.
//   - a scan: a state whose update reads itself element-wise and nothing of
//     S (a cumulative angle, a running position). The chunked lowering runs
//     it step by step per element, once per chunk, and hands every step's
//     value to the matrix operands through workgroup memory.
//   - a carry: a state assigned but read only before its assignment (the
//     previous step's value, t-1). The input term may read carries in a term
//     that is the current term one step back (the trapezoid's first term).
// Anything else (a state that reads S, reads another carry, or is read after
// its assignment) is a reason the program is not SSD-able, said with its place.

import type { Expr, SpecializedProgram, StateIR } from '../../dsl/ir.js';
import { inlineLocals, localDefs, readsState, stmtsOf, visitExpr } from '../../dsl/ir-walk.js';
import { fmtI } from './linear.js';

export class NotSide extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface SideScan {
  state: StateIR;
  /** The update's index variables (one per state axis). */
  idx: string[];
  /** The new value, locals inlined; reads the state itself at `idx`, version 0. */
  expr: Expr;
}

export interface SideCarry {
  state: StateIR;
  idx: string[];
  /** The value assigned at step t (what the next step reads), locals inlined. */
  expr: Expr;
}

export interface SideStates {
  scans: SideScan[];
  carries: SideCarry[];
}

/** Every state read in the step (lets, updates, stores), with where it is. */
function stateReads(sp: SpecializedProgram): { read: Extract<Expr, { k: 'state' }>; at: string }[] {
  const out: { read: Extract<Expr, { k: 'state' }>; at: string }[] = [];
  for (const s of sp.step) {
    if (s.k !== 'let' && s.k !== 'setState' && s.k !== 'store') continue;
    visitExpr(s.expr, (x) => { if (x.k === 'state') out.push({ read: x, at: `${s.loc.line}:${s.loc.column}` }); });
  }
  return out;
}

export function classifySideStates(sp: SpecializedProgram, matrix: StateIR): SideStates {
  const defs = localDefs(sp);
  const reads = stateReads(sp);
  const scans: SideScan[] = [];
  const carries: SideCarry[] = [];
  for (const st of sp.state) {
    if (st === matrix) continue;
    const sets = stmtsOf(sp, 'setState').filter((s) => s.name === st.name);
    if (sets.length !== 1) throw new NotSide(`state ${st.name} is assigned ${sets.length} times per step; besides ${matrix.name}, SSD carries states assigned once (a scan, or the previous step's value)`);
    for (const d of st.shape) if (sp.staticDims[d] === undefined) throw new NotSide(`state ${st.name}'s dim ${d} must be static (declare it in static: { ... }): the chunked form keeps it in workgroup memory`);
    const set = sets[0]!;
    const where = `${st.name}[${set.idx.join('][')}] at ${set.loc.line}:${set.loc.column}`;
    const expr = inlineLocals(set.expr, defs);
    let self = false;
    visitExpr(expr, (x) => {
      if (x.k !== 'state') return;
      if (x.name === matrix.name) throw new NotSide(`the update ${where} reads ${matrix.name}; the chunked form needs every other state independent of ${matrix.name}`);
      if (x.name !== st.name) {
        const other = sp.state.find((s) => s.name === x.name)!;
        // A carry's value may read a scan (the rotated k reads the angle); nothing else crosses.
        const isScan = stmtsOf(sp, 'setState').some((s) => s.name === other.name && readsState(inlineLocals(s.expr, defs), other.name));
        if (!isScan) throw new NotSide(`the update ${where} reads ${x.name}; besides ${matrix.name}, a state may read only itself and scans`);
        return;
      }
      self = true;
      const elementwise = x.idx.length === set.idx.length && x.idx.every((ie, j) => ie.k === 'ivar' && ie.name === set.idx[j]);
      if (!elementwise || (x.ver ?? 0) !== 0) throw new NotSide(`the update ${where} reads ${st.name}[${x.idx.map(fmtI).join('][')}]; a scan beside ${matrix.name} reads its own element before the update`);
    });
    if (self) {
      visitExpr(expr, (x) => {
        if (x.k === 'state' && x.name !== st.name) throw new NotSide(`the scan ${where} reads ${x.name}; a scan beside ${matrix.name} reads only itself and inputs`);
      });
      scans.push({ state: st, idx: set.idx, expr });
      continue;
    }
    // Assigned, never read back in the same step: the value a step reads is the previous step's.
    const after = reads.find((r) => r.read.name === st.name && (r.read.ver ?? 0) > 0);
    if (after) throw new NotSide(`${st.name} is read at ${after.at} after its assignment ${where}; besides ${matrix.name}, a state is a scan or a carry of the previous step (read only before it is assigned)`);
    carries.push({ state: st, idx: set.idx, expr });
  }
  return { scans, carries };
}
