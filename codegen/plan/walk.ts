// The sub-expressions of a plan expression, and a copy with them replaced:
// the two primitives every pass over plan expressions is written with.

import type { PExpr } from './ast.js';

/** The direct sub-expressions of `x`. */
export function exprChildren(x: PExpr): PExpr[] {
  switch (x.k) {
    case 'bin': case 'imin': case 'imax': return [x.a, x.b];
    case 'neg': case 'not': case 'cast': return [x.a];
    case 'call': return x.args;
    case 'load': case 'sload': return [x.index];
    case 'select': return [x.c, x.a, x.b];
    case 'shuffleUp': return [x.a, x.delta];
    default: return [];
  }
}

/** `x` with each direct sub-expression replaced by `fn` of it. */
export function mapExprChildren(x: PExpr, fn: (c: PExpr) => PExpr): PExpr {
  switch (x.k) {
    case 'bin': case 'imin': case 'imax': return { ...x, a: fn(x.a), b: fn(x.b) };
    case 'neg': case 'not': case 'cast': return { ...x, a: fn(x.a) };
    case 'call': return { ...x, args: x.args.map(fn) };
    case 'load': case 'sload': return { ...x, index: fn(x.index) };
    case 'select': return { ...x, c: fn(x.c), a: fn(x.a), b: fn(x.b) };
    case 'shuffleUp': return { ...x, a: fn(x.a), delta: fn(x.delta) };
    default: return x;
  }
}
