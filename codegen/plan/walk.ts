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

/**
 * The expressions a statement holds directly (not those of the statements
 * nested in it: stmtChildren). An mma's operand bases are not among them.
 */
export function stmtExprs(s: PStmt): PExpr[] {
  switch (s.k) {
    case 'decl': return [s.init];
    case 'assign': return [s.value];
    case 'sstore': case 'store': return [s.index, s.value];
    case 'for': return [s.from, s.to, s.step, ...(s.until ? [s.until] : [])];
    case 'if': return [s.c];
    case 'vload': case 'svload': case 'prefetch': return [s.index];
    case 'svstore': case 'vstore': return [s.index, ...s.values];
    case 'acopy': return [s.index, s.src, s.valid];
    case 'ssdWgmma': return [s.L, s.rows, ...(s.g ? [s.g.own, s.g.slot] : []), ...[s.x, s.z, s.c, s.w].flatMap((x) => (x ? [x.at] : [])), s.out.value, s.out.at, ...[s.init, s.final].flatMap((x) => (x ? [x.at] : []))];
    default: return [];
  }
}

/** The statements nested directly in `s`. */
export function stmtChildren(s: PStmt): PStmt[] {
  if (s.k === 'ssdWgmma') {
    return [...s.rowDecls, ...s.steps.carries, ...s.steps.prologue, ...s.steps.compute, ...s.steps.issue, ...[s.x, s.z, s.c, s.w].flatMap((x) => x?.decls ?? []), ...s.out.decls, ...s.out.atDecls];
  }
  return s.k === 'for' ? s.body : s.k === 'if' ? [...s.then, ...s.else] : [];
}

/** Calls `fn` on every statement of the list, nested ones included. */
function eachStmt(stmts: PStmt[], fn: (s: PStmt) => void): void {
  for (const s of stmts) {
    fn(s);
    eachStmt(stmtChildren(s), fn);
  }
}

/** Names of the variables the statements read. */
export function stmtVars(stmts: PStmt[]): Set<string> {
  const out = new Set<string>();
  eachStmt(stmts, (s) => stmtExprs(s).forEach((x) => exprVars(x, out)));
  return out;
}

/** Names of the global buffers the statements read or write (what a kernel must bind). */
export function buffersUsed(stmts: PStmt[]): Set<string> {
  const out = new Set<string>();
  const loads = (x: PExpr): void => {
    if (x.k === 'load') out.add(x.buf);
    exprChildren(x).forEach(loads);
  };
  eachStmt(stmts, (s) => {
    if (s.k === 'store' || s.k === 'vload' || s.k === 'vstore' || s.k === 'acopy' || s.k === 'prefetch') out.add(s.buf);
    if (s.k === 'ssdWgmma') for (const x of [s.x, s.z, s.c, s.w, s.out, s.init, s.final, s.g]) if (x) out.add(x.buf);
    stmtExprs(s).forEach(loads);
  });
  return out;
}

/** Whether the statements use subgroup operations (shuffles, the lane builtins): the kernel then needs subgroups. */
export function usesSubgroupOps(stmts: PStmt[]): boolean {
  let found = false;
  const visit = (x: PExpr): void => {
    if (x.k === 'shuffle' || (x.k === 'builtin' && (x.b === 'lane' || x.b === 'laneCount'))) found = true;
    else exprChildren(x).forEach(visit);
  };
  eachStmt(stmts, (st) => stmtExprs(st).forEach(visit));
  return found;
}
