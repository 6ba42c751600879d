// Sends a plan's accesses of global buffers elsewhere: to another binding, at
// an element offset added to every index (lower/pack-bindings.ts: several
// read-only tensors sharing one binding). Every statement kind that names a
// buffer, or holds an expression that may load one, is handled here once.

import type { PExpr, PStmt } from './ast.js';
import { mapExprChildren } from './walk.js';

/** Where the accesses of one buffer go: binding `buf`, each index plus `offset` (elements). */
export interface Redirect {
  buf: string;
  offset?: PExpr;
}

/** `to(buffer, written)`: the redirect for that buffer's accesses, or undefined to leave them. */
export type RedirectFn = (buf: string, written: boolean) => Redirect | undefined;

const shift = (index: PExpr, r: Redirect): PExpr => (r.offset ? { k: 'bin', op: '+', a: r.offset, b: index } : index);

/** The expression with every load redirected. */
function redirectExpr(e: PExpr, to: RedirectFn): PExpr {
  const mapped = mapExprChildren(e, (c) => redirectExpr(c, to));
  if (mapped.k !== 'load') return mapped;
  const r = to(mapped.buf, false);
  return r ? { k: 'load', buf: r.buf, index: shift(mapped.index, r) } : mapped;
}

/** The statements with every access of a buffer `to` names redirected (nested statements too). */
export function redirectBuffers(stmts: PStmt[], to: RedirectFn): PStmt[] {
  return stmts.map((s) => redirectStmt(s, to));
}

function redirectStmt(s: PStmt, to: RedirectFn): PStmt {
  const x = (e: PExpr): PExpr => redirectExpr(e, to);
  switch (s.k) {
    case 'decl': return { ...s, init: x(s.init) };
    case 'assign': return { ...s, value: x(s.value) };
    case 'sstore': return { ...s, index: x(s.index), value: x(s.value) };
    case 'svload': return { ...s, index: x(s.index) };
    case 'svstore': return { ...s, index: x(s.index), values: s.values.map(x) };
    case 'for': return { ...s, from: x(s.from), to: x(s.to), step: x(s.step), body: redirectBuffers(s.body, to), ...(s.until ? { until: x(s.until) } : {}) };
    case 'if': return { ...s, c: x(s.c), then: redirectBuffers(s.then, to), else: redirectBuffers(s.else, to) };
    case 'mma': return { ...s, a: { ...s.a, base: x(s.a.base) }, b: { ...s.b, base: x(s.b.base) } };
    case 'store': {
      const r = to(s.buf, true), index = x(s.index), value = x(s.value);
      return r ? { ...s, buf: r.buf, index: shift(index, r), value } : { ...s, index, value };
    }
    case 'vstore': {
      const r = to(s.buf, true), index = x(s.index), values = s.values.map(x);
      return r ? { ...s, buf: r.buf, index: shift(index, r), values } : { ...s, index, values };
    }
    case 'vload': case 'prefetch': {
      const r = to(s.buf, false), index = x(s.index);
      return r ? { ...s, buf: r.buf, index: shift(index, r) } : { ...s, index };
    }
    case 'acopy': {
      const r = to(s.buf, false), src = x(s.src), rest = { index: x(s.index), valid: x(s.valid) };
      return r ? { ...s, ...rest, buf: r.buf, src: shift(src, r) } : { ...s, ...rest, src };
    }
    default: return s;
  }
}
