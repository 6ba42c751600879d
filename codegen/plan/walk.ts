// The sub-expressions of a plan expression, and a copy with them replaced:
// the two primitives every pass over plan expressions is written with; and
// the variables an expression or a statement list reads.

import type { PExpr, PStmt } from './ast.js';

/** The direct sub-expressions of `x`. */
export function exprChildren(x: PExpr): PExpr[] {
  switch (x.k) {
    case 'bin': case 'imin': case 'imax': return [x.a, x.b];
    case 'neg': case 'not': case 'cast': return [x.a];
    case 'call': return x.args;
    case 'load': case 'sload': return [x.index];
    case 'select': return [x.c, x.a, x.b];
    case 'shuffle': return [x.a, x.b];
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
    case 'shuffle': return { ...x, a: fn(x.a), b: fn(x.b) };
    default: return x;
  }
}

/** Names of the variables `e` reads, added to `out`. */
export function exprVars(e: PExpr, out: Set<string> = new Set()): Set<string> {
  if (e.k === 'var') out.add(e.name);
  for (const c of exprChildren(e)) exprVars(c, out);
  return out;
}

/** Names of the variables the statements read. */
export function stmtVars(stmts: PStmt[]): Set<string> {
  const out = new Set<string>();
  const ex = (x: PExpr): void => void exprVars(x, out);
  const st = (s: PStmt): void => {
    switch (s.k) {
      case 'decl': ex(s.init); break;
      case 'assign': ex(s.value); break;
      case 'sstore': case 'store': ex(s.index); ex(s.value); break;
      case 'for': ex(s.from); ex(s.to); ex(s.step); s.body.forEach(st); if (s.until) ex(s.until); break;
      case 'if': ex(s.c); s.then.forEach(st); s.else.forEach(st); break;
      case 'vload': case 'svload': ex(s.index); break;
      case 'svstore': case 'vstore': ex(s.index); s.values.forEach(ex); break;
      case 'acopy': ex(s.index); ex(s.src); ex(s.valid); break;
      case 'prefetch': ex(s.index); break;
      default: break;
    }
  };
  stmts.forEach(st);
  return out;
}

/** Names of the global buffers the statements read or write (what a kernel must bind). */
export function buffersUsed(stmts: PStmt[]): Set<string> {
  const out = new Set<string>();
  const ex = (x: PExpr): void => {
    if (x.k === 'load') out.add(x.buf);
    exprChildren(x).forEach(ex);
  };
  const st = (s: PStmt): void => {
    switch (s.k) {
      case 'decl': ex(s.init); break;
      case 'assign': ex(s.value); break;
      case 'sstore': ex(s.index); ex(s.value); break;
      case 'store': out.add(s.buf); ex(s.index); ex(s.value); break;
      case 'for': ex(s.from); ex(s.to); ex(s.step); s.body.forEach(st); if (s.until) ex(s.until); break;
      case 'if': ex(s.c); s.then.forEach(st); s.else.forEach(st); break;
      case 'vload': out.add(s.buf); ex(s.index); break;
      case 'svload': ex(s.index); break;
      case 'vstore': out.add(s.buf); ex(s.index); s.values.forEach(ex); break;
      case 'svstore': ex(s.index); s.values.forEach(ex); break;
      case 'acopy': out.add(s.buf); ex(s.index); ex(s.src); ex(s.valid); break;
      case 'prefetch': out.add(s.buf); ex(s.index); break;
      default: break;
    }
  };
  stmts.forEach(st);
  return out;
}
