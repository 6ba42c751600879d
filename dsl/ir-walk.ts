// Small queries over IR expressions shared by the reference, the analysis
// and the lowerings.

import type { Expr, ICond, IExpr, SpecializedProgram, Stmt } from './ir.js';

/** Index variables an index expression mentions (ilet names included). */
export function ivarsOfIndex(e: IExpr, out = new Set<string>()): Set<string> {
  if (e.k === 'ivar') out.add(e.name);
  else if (e.k === 'ibin') { ivarsOfIndex(e.a, out); ivarsOfIndex(e.b, out); }
  return out;
}

/** Index variables a where() condition mentions. */
export function ivarsOfCond(c: ICond, out = new Set<string>()): Set<string> {
  switch (c.k) {
    case 'icmp': ivarsOfIndex(c.a, out); ivarsOfIndex(c.b, out); break;
    case 'inot': ivarsOfCond(c.c, out); break;
    case 'iand': case 'ior': ivarsOfCond(c.a, out); ivarsOfCond(c.b, out); break;
  }
  return out;
}

/** Rebuilds the index expressions of a where() condition. */
export function mapCond(c: ICond, f: (e: IExpr) => IExpr): ICond {
  switch (c.k) {
    case 'icmp': return { ...c, a: f(c.a), b: f(c.b) };
    case 'inot': return { ...c, c: mapCond(c.c, f) };
    case 'iand': case 'ior': return { ...c, a: mapCond(c.a, f), b: mapCond(c.b, f) };
  }
}

/** Visits every sub-expression (pre-order). */
export function visitExpr(e: Expr, f: (x: Expr) => void): void {
  f(e);
  switch (e.k) {
    case 'bin': visitExpr(e.a, f); visitExpr(e.b, f); break;
    case 'neg': visitExpr(e.a, f); break;
    case 'call': for (const a of e.args) visitExpr(a, f); break;
    case 'sum': visitExpr(e.body, f); break;
    case 'where': visitExpr(e.a, f); visitExpr(e.b, f); break;
    default: break;
  }
}

/** Rebuilds an expression bottom-up. */
export function mapExpr(e: Expr, f: (x: Expr) => Expr): Expr {
  switch (e.k) {
    case 'bin': return f({ ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) });
    case 'neg': return f({ ...e, a: mapExpr(e.a, f) });
    case 'call': return f({ ...e, args: e.args.map((a) => mapExpr(a, f)) });
    case 'sum': return f({ ...e, body: mapExpr(e.body, f) });
    case 'where': return f({ ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) });
    default: return f(e);
  }
}

/** Definitions of the locals of a specialised step, by SSA name. */
export function localDefs(p: SpecializedProgram): { lets: Map<string, Expr>; ilets: Map<string, IExpr> } {
  const lets = new Map<string, Expr>();
  const ilets = new Map<string, IExpr>();
  for (const s of p.step) {
    if (s.k === 'let') lets.set(s.name, s.expr);
    if (s.k === 'ilet') ilets.set(s.name, s.expr);
  }
  return { lets, ilets };
}

/** Expands index locals (ilets) in an index expression. */
export function inlineIndex(e: IExpr, ilets: Map<string, IExpr>): IExpr {
  if (e.k === 'ivar' && ilets.has(e.name)) return inlineIndex(ilets.get(e.name)!, ilets);
  if (e.k === 'ibin') return { ...e, a: inlineIndex(e.a, ilets), b: inlineIndex(e.b, ilets) };
  return e;
}

/** Expands every local (value and index) so the expression stands alone. */
export function inlineLocals(e: Expr, defs: ReturnType<typeof localDefs>): Expr {
  return mapExpr(e, (x) => {
    if (x.k === 'local') return inlineLocals(defs.lets.get(x.name)!, defs);
    if (x.k === 'load' || x.k === 'state') return { ...x, idx: x.idx.map((i) => inlineIndex(i, defs.ilets)) };
    if (x.k === 'ival') return { ...x, e: inlineIndex(x.e, defs.ilets) };
    if (x.k === 'where') return { ...x, cond: mapCond(x.cond, (i) => inlineIndex(i, defs.ilets)) };
    return x;
  });
}

/** Index variables an (inlined) expression needs bound, minus those bound inside it by sum. */
export function freeIndexVars(e: Expr): Set<string> {
  const out = new Set<string>();
  const go = (x: Expr, bound: Set<string>): void => {
    const addI = (ie: IExpr): void => { for (const v of ivarsOfIndex(ie)) if (!bound.has(v)) out.add(v); };
    switch (x.k) {
      case 'load': case 'state': x.idx.forEach(addI); break;
      case 'ival': addI(x.e); break;
      case 'bin': go(x.a, bound); go(x.b, bound); break;
      case 'neg': go(x.a, bound); break;
      case 'call': x.args.forEach((a) => go(a, bound)); break;
      case 'sum': go(x.body, new Set([...bound, x.index])); break;
      case 'where': for (const v of ivarsOfCond(x.cond)) if (!bound.has(v)) out.add(v); go(x.a, bound); go(x.b, bound); break;
      default: break;
    }
  };
  go(e, new Set());
  return out;
}

/** True if the expression reads any state. */
export function readsState(e: Expr, name?: string): boolean {
  let found = false;
  visitExpr(e, (x) => { if (x.k === 'state' && (name === undefined || x.name === name)) found = true; });
  return found;
}

export function stmtsOf<K extends Stmt['k']>(p: SpecializedProgram, k: K): Extract<Stmt, { k: K }>[] {
  return p.step.filter((s): s is Extract<Stmt, { k: K }> => s.k === k);
}
