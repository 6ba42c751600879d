// Is a state update linear in the state, and of which shape? Recognises
// h[i] = a·h[i] + b (diagonal: each element evolves on its own) and says
// whether the decay a depends on the state index (diagonal decay, Mamba-1)
// or not (one scalar per step, Mamba-2/SSD).

import type { Expr, IExpr } from '../../dsl/ir.js';
import { freeIndexVars, readsState } from '../../dsl/ir-walk.js';

export class NotLinear extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** E = coef·s[idx] + rest, with coef and rest free of s (null means 0). */
export interface LinearForm {
  coef: Expr | null;
  rest: Expr | null;
}

const ONE: Expr = { k: 'num', v: 1 };

function plus(a: Expr | null, b: Expr | null): Expr | null {
  if (!a) return b;
  if (!b) return a;
  return { k: 'bin', op: '+', a, b };
}
function times(a: Expr | null, b: Expr): Expr | null {
  if (!a) return null;
  if (a.k === 'num' && a.v === 1) return b;
  return { k: 'bin', op: '*', a, b };
}
function negate(a: Expr | null): Expr | null {
  return a ? { k: 'neg', a } : null;
}

/**
 * Splits an inlined expression into its part linear in state `name` read at
 * exactly the index variables `idx` (at version `ver`) and the rest.
 */
export function linearize(e: Expr, name: string, idx: string[], ver: number): LinearForm {
  if (!readsState(e, name)) return { coef: null, rest: e };
  switch (e.k) {
    case 'state': {
      const diag = e.idx.length === idx.length && e.idx.every((x, i) => x.k === 'ivar' && x.name === idx[i]);
      if (!diag) throw new NotLinear(`${name} is read at [${e.idx.map(fmtI).join('][')}] while updating [${idx.join('][')}]: the update mixes state elements (not diagonal)`);
      if ((e.ver ?? 0) !== ver) throw new NotLinear(`${name} is read after an earlier update in the same step`);
      return { coef: ONE, rest: null };
    }
    case 'bin': {
      const a = linearize(e.a, name, idx, ver);
      const b = linearize(e.b, name, idx, ver);
      if (e.op === '+') return { coef: plus(a.coef, b.coef), rest: plus(a.rest, b.rest) };
      if (e.op === '-') return { coef: plus(a.coef, negate(b.coef)), rest: plus(a.rest, negate(b.rest)) };
      if (e.op === '*') {
        if (a.coef && b.coef) throw new NotLinear(`${name} is multiplied by itself (quadratic in the state)`);
        if (a.coef) return { coef: times(a.coef, e.b), rest: a.rest ? times(a.rest, e.b) : null };
        return { coef: times(b.coef, e.a), rest: b.rest ? times(b.rest, e.a) : null };
      }
      if (b.coef) throw new NotLinear(`${name} appears in a denominator`);
      return { coef: a.coef ? { k: 'bin', op: '/', a: a.coef, b: e.b } : null, rest: a.rest ? { k: 'bin', op: '/', a: a.rest, b: e.b } : null };
    }
    case 'neg': {
      const a = linearize(e.a, name, idx, ver);
      return { coef: negate(a.coef), rest: negate(a.rest) };
    }
    case 'call': throw new NotLinear(`${name} goes through ${e.fn}(), which is not linear`);
    case 'sum': throw new NotLinear(`${name} is summed over ${e.index} inside its own update (not diagonal)`);
    default: throw new NotLinear(`unexpected ${e.k}`);
  }
}

/** An index expression as the user wrote it, for messages. */
export function fmtI(e: IExpr): string {
  switch (e.k) {
    case 'ivar': return e.name;
    case 'iconst': return String(e.v);
    case 'idim': return e.name;
    case 'ibin': return `${fmtI(e.a)} ${e.op} ${fmtI(e.b)}`;
  }
}

/** Whether the decay depends on the state's own index variables. */
export function decayKind(coef: Expr, stateIdx: string[]): 'scalar' | 'diagonal' {
  const free = freeIndexVars(coef);
  return stateIdx.some((v) => free.has(v)) ? 'diagonal' : 'scalar';
}

