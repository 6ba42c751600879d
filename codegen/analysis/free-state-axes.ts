// Which axes of a matrix state are "free": axes along which the recurrence
// never mixes elements, so each slice along them is an independent scan.
// A leading state index p is free when
//   - every state has the same leading index variables (one slice per row),
//   - every read of a state reads it at p along that axis (the update is
//     diagonal in p, and outputs read the slice of their own p),
//   - nothing sums over p, and
//   - every output binds p (it is one of the output's bare indices).
// Then p can become one more parallel axis: rows = parallel × p, and the
// state shrinks to its trailing axis. Only leading axes are considered: the
// state tensors `${s}_init`/`${s}_final` are laid out (parallel..., state
// dims...) row-major, so a row over (parallel..., p) owns one contiguous
// slice only when p precedes the axes that stay in the state.

import type { Expr, SpecializedProgram, StateIR, Stmt } from '../../dsl/ir.js';
import { inlineLocals, localDefs, stmtsOf, visitExpr } from '../../dsl/ir-walk.js';
import { fmtI } from './linear.js';

/** A state index variable that can run as a parallel axis, with the dim it ranges over. */
export interface FreeAxis {
  index: string;
  dim: string;
}

/** The program's matrix state cannot be split into independent rows; `reason` says why. */
export class NotPromotable extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** True when some state has more than one dim (the 1-D scan lowerings cannot take it as is). */
export function hasMatrixState(sp: SpecializedProgram): boolean {
  return sp.state.some((s) => s.shape.length > 1);
}

/**
 * The leading state axes that are free (in state-axis order), or [] when
 * every state is 1-D. Throws NotPromotable naming the statement that stops it.
 */
export function freeStateAxes(sp: SpecializedProgram): FreeAxis[] {
  if (!hasMatrixState(sp)) return [];
  const sets = stmtsOf(sp, 'setState');
  const leadOf = (st: StateIR): string[] => {
    const mine = sets.filter((s) => s.name === st.name);
    if (mine.length === 0) throw new NotPromotable(`state ${st.name} is never updated`);
    const lead = mine[0]!.idx.slice(0, st.shape.length - 1);
    for (const s of mine) {
      const l = s.idx.slice(0, st.shape.length - 1);
      if (l.join() !== lead.join()) throw new NotPromotable(`state ${st.name} is updated as ${st.name}[${s.idx.join('][')}] and as ${st.name}[${mine[0]!.idx.join('][')}]; a promoted axis needs one index variable`);
    }
    return lead;
  };
  const widest = sp.state.reduce((a, s) => (s.shape.length > a.shape.length ? s : a));
  const vars = leadOf(widest);
  const dims = widest.shape.slice(0, vars.length);
  const axesText = vars.map((v, i) => `${v} (${dims[i]})`).join(', ');
  for (const st of sp.state) {
    const lead = leadOf(st);
    if (lead.join() === vars.join()) continue;
    if (st.shape.length - 1 < vars.length) {
      throw new NotPromotable(
        `state ${st.name} (${st.shape.join(', ')}) has no axis for ${axesText}: as a parallel axis, its update would run once per ${vars.join(', ')} row, ` +
        `and ${st.init}/${st.final}, laid out (parallel dims..., ${st.shape.join(', ')}), would not match rows over (parallel dims..., ${dims.join(', ')}); ` +
        `give it the same leading axes as ${widest.name}`,
      );
    }
    throw new NotPromotable(`states ${widest.name} and ${st.name} lead with different index variables ([${vars.join('][')}] and [${lead.join('][')}]); promoted axes must be shared by every state`);
  }

  const defs = localDefs(sp);
  for (const s of sp.step) {
    if (s.k !== 'setState' && s.k !== 'store') continue;
    const what = s.k === 'store' ? `output ${s.tensor}` : `the update of ${s.name}`;
    checkReads(inlineLocals(s.expr, defs), vars, dims, what, s.k === 'setState' ? s : undefined);
    if (s.k === 'store') {
      for (const v of vars) {
        if (!s.idx.some((ie) => ie.k === 'ivar' && ie.name === v)) {
          throw new NotPromotable(`output ${s.tensor} does not bind ${v} (it is written at [${s.idx.map(fmtI).join('][')}]): as a parallel axis, every ${v} row would write the same elements`);
        }
      }
    }
  }
  return vars.map((index, i) => ({ index, dim: dims[i]! }));
}

/**
 * Every state read in `e` must read the promoted axes at exactly the promoted
 * variables; no sum may run over them. Walks with visitExpr (which knows every
 * expression kind) and without scope: an index variable that some sum in the
 * statement binds cannot also be bound by the statement itself, so "bound by
 * a sum" is "is the index of a sum somewhere in `e`".
 */
function checkReads(e: Expr, vars: string[], dims: string[], what: string, update: Extract<Stmt, { k: 'setState' }> | undefined): void {
  const sums = new Set<string>();
  const reads: Extract<Expr, { k: 'state' }>[] = [];
  visitExpr(e, (x) => {
    if (x.k === 'sum') sums.add(x.index);
    if (x.k === 'state') reads.push(x);
  });
  // A summed state axis is reported with the read that shows it, before a bare sum over a promoted index.
  for (const x of reads) {
    vars.forEach((v, i) => {
      const ie = x.idx[i]!;
      if (ie.k === 'ivar' && ie.name === v) return;
      const shown = `${x.name}[${x.idx.map(fmtI).join('][')}]`;
      if (ie.k === 'ivar' && sums.has(ie.name)) {
        throw new NotPromotable(`${what} sums over ${ie.name}, which indexes axis ${i} (${dims[i]}) of ${shown}; a summed state axis cannot become a parallel axis${trailingHint(reads, sums)}`);
      }
      if (update) {
        throw new NotPromotable(`${what} reads ${shown} while updating ${update.name}[${update.idx.join('][')}]: it mixes elements along ${v} (not diagonal in ${v})`);
      }
      throw new NotPromotable(`${what} reads ${shown}; for ${v} to become a parallel axis, axis ${i} (${dims[i]}) must be read at ${v}`);
    });
  }
  for (const v of vars) {
    if (sums.has(v)) throw new NotPromotable(`${what} sums over ${v}, so ${v} cannot become a parallel axis${trailingHint(reads, sums)}`);
  }
}

/**
 * The usual cause of a summed leading axis: the free axis is written last
 * (S[k][v] with y[v] = Σ_k S[k][v]·q[k]). Says so when a state read has a
 * trailing index that no sum binds.
 */
function trailingHint(reads: Extract<Expr, { k: 'state' }>[], sums: ReadonlySet<string>): string {
  for (const x of reads) {
    const last = x.idx[x.idx.length - 1]!;
    if (last.k === 'ivar' && !sums.has(last.name)) {
      return `; ${last.name} is free in ${x.name}[${x.idx.map(fmtI).join('][')}], but only leading state axes can be promoted (the state tensors are laid out (parallel dims..., state dims...)): declare ${x.name} with its ${last.name} axis first`;
    }
  }
  return '';
}
