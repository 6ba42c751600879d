// A term the output adds to a sum over the state — Mamba-1's D·u in
// y = (Σ_n C·h + D·u)·silu(z) — can start the sum instead of joining it at
// the store: the accumulator is initialised with the term at the step, and
// the store reads the accumulator alone. The inputs of the term (u) then
// die where the step's other values are computed instead of living across
// the whole state loop (8 registers per thread at 8 items; ptxas spilled
// Mamba-1's bf16 kernels without this). The chunked scan uses it; the
// shuffle form does not (its sums live across the step loop either way, and
// folding there made lanes 2, items 8 spill).

import { exprChildren, exprVars, mapExprChildren } from '../plan/walk.js';
import { f, type PExpr } from '../plan/ast.js';
import type { Templates } from './diagonal-templates.js';

export interface FoldedStores {
  store: PExpr[];
  /** Start value of each accumulator (0 where nothing folded into it). */
  accInit: PExpr[];
}

/**
 * Folds, for each accumulator that the store templates read exactly once,
 * as an operand of `+` whose other operand reads no accumulator, that
 * operand into the accumulator's start value.
 */
export function foldSkipTerms(t: Pick<Templates, 'store'>, accNames: string[]): FoldedStores {
  const placeholder = (k: number): string => `$${accNames[k]}`;
  const reads = new Map<string, number>();
  const count = (e: PExpr): void => {
    if (e.k === 'var' && e.name.startsWith('$acc')) reads.set(e.name, (reads.get(e.name) ?? 0) + 1);
    exprChildren(e).forEach(count);
  };
  t.store.forEach(count);
  const readsAcc = (e: PExpr): boolean => [...exprVars(e)].some((n) => n.startsWith('$acc'));
  const accInit: PExpr[] = accNames.map(() => f(0));
  const fold = (e: PExpr): PExpr => {
    if (e.k === 'bin' && e.op === '+') {
      for (const [mine, other] of [[e.a, e.b], [e.b, e.a]] as const) {
        if (mine.k !== 'var' || reads.get(mine.name) !== 1 || readsAcc(other)) continue;
        const k = accNames.findIndex((_, q) => placeholder(q) === mine.name);
        if (k < 0) continue;
        accInit[k] = other;
        return mine;
      }
    }
    return mapExprChildren(e, fold);
  };
  return { store: t.store.map(fold), accInit };
}
