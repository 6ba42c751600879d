// The input term X of an SSD update S = a·S + X, split into what the
// chunked matrix form multiplies:
//   X = s_t · Σ_r u_t[r][p]·w_t[r][n]                  (the current step)
//     + s'_t · Σ_r u_{t-1}[r][p]·w_{t-1}[r][n]          (optional: the previous step)
// Rank 1 when no sum over a rank axis is written; rank R (MIMO) when the
// outer product sits inside sum(r, ...). The previous-step term reads
// carries (states holding step t-1's values, analysis/ssd-side.ts); it is
// accepted when replacing every carry by the value it was assigned gives
// back the current term's u and w exactly (the exponential-trapezoidal
// rule's B_{t-1}x_{t-1}), so the lowering reuses step t-1's operands.

import type { Expr, IExpr, SpecializedProgram } from '../../dsl/ir.js';
import { freeIndexVars, mapExpr, visitExpr } from '../../dsl/ir-walk.js';
import type { SideCarry } from './ssd-side.js';
import { fmtI } from './linear.js';

export class NotOuter extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The canonical name of the rank axis's index variable in every analysed expression. */
export const RANK = '$rank';

export interface OuterTerm {
  /** Per-step factor (free of p, n and the rank). */
  s: Expr;
  /** p factor (free of n), n factor (free of p); both may depend on the rank ($rank). */
  u: Expr;
  w: Expr;
  /** The rank axis's dim, when the product sits in a sum over it. */
  rankDim?: string;
}

export interface SsdInput {
  current: OuterTerm;
  /** The previous step's term, as written (its u and w read carries); its scale is per step t. */
  prev?: OuterTerm;
}

const ONE: Expr = { k: 'num', v: 1 };

export function splitInput(sp: SpecializedProgram, rest: Expr, p: string, n: string, where: string, carries: SideCarry[]): SsdInput {
  const terms = flattenSum(rest).map((t) => splitTerm(t, p, n, where));
  const carryNames = new Set(carries.map((c) => c.state.name));
  const readsCarry = (t: OuterTerm): boolean => [t.s, t.u, t.w].some((e) => readsAny(e, carryNames));
  const current = terms.filter((t) => !readsCarry(t));
  const prev = terms.filter(readsCarry);
  if (current.length !== 1) {
    throw new NotOuter(`the input term of ${where} is not an outer product u[${p}]·w[${n}] (rank 1): it adds ${current.length} terms of the current step; write one product, or a sum(r, ...) over a rank axis`);
  }
  if (prev.length > 1) throw new NotOuter(`the input term of ${where} has ${prev.length} terms reading previous-step states; the chunked form takes one (the current term one step back)`);
  const cur = current[0]!;
  if (!prev.length) return { current: cur };
  const pt = prev[0]!;
  if (readsAny(pt.s, carryNames)) throw new NotOuter(`the previous-step term of ${where} reads a carried state in its per-step factor; only its p and n factors may`);
  if (pt.rankDim !== cur.rankDim) throw new NotOuter(`the previous-step term of ${where} sums over ${pt.rankDim ?? 'no rank axis'}, the current term over ${cur.rankDim ?? 'none'}; they must be one product one step apart`);
  for (const [side, mine, theirs] of [['p', pt.u, cur.u], ['n', pt.w, cur.w]] as const) {
    const shifted = replaceCarries(sp, mine, carries, where);
    if (!sameProduct(shifted, theirs)) {
      throw new NotOuter(`the previous-step term of ${where} is not the current term one step back: its ${side} factor with every carry replaced by its assigned value is ${show(shifted)}, the current term's is ${show(theirs)}`);
    }
  }
  return { current: cur, prev: pt };
}

/** Terms of a sum, signs folded into the terms. */
function flattenSum(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '+') return [...flattenSum(e.a), ...flattenSum(e.b)];
  if (e.k === 'bin' && e.op === '-') return [...flattenSum(e.a), ...flattenSum(e.b).map((t): Expr => ({ k: 'neg', a: t }))];
  return [e];
}

interface Parts {
  s: Expr | null;
  u: Expr | null;
  w: Expr | null;
  rankDim?: string;
}

function splitTerm(e: Expr, p: string, n: string, where: string): OuterTerm {
  const parts = splitOuter(e, p, n, where, undefined);
  return { s: parts.s ?? ONE, u: parts.u ?? ONE, w: parts.w ?? ONE, ...(parts.rankDim ? { rankDim: parts.rankDim } : {}) };
}

/** Splits e into (free of p and n)·(in p only)·(in n only), or says why it is not an outer product. */
function splitOuter(e: Expr, p: string, n: string, where: string, rank: string | undefined): Parts {
  // Products split factor by factor even where one side alone depends on p
  // (or n): per-step factors (dt) then go to s and are computed once per step.
  if (e.k === 'bin' && (e.op === '*' || e.op === '/')) {
    const a = splitOuter(e.a, p, n, where, rank), b = splitOuter(e.b, p, n, where, rank);
    if (a.rankDim && b.rankDim) throw new NotOuter(`the input term of ${where} multiplies two sums over rank axes`);
    const rankDim = a.rankDim ?? b.rankDim;
    const r = e.op === '*' ? { s: mul(a.s, b.s), u: mul(a.u, b.u), w: mul(a.w, b.w) } : { s: div(a.s, b.s), u: div(a.u, b.u), w: div(a.w, b.w) };
    return rankDim ? { ...r, rankDim } : r;
  }
  if (e.k === 'neg') {
    const a = splitOuter(e.a, p, n, where, rank);
    return { ...a, s: a.s ? { k: 'neg', a: a.s } : { k: 'num', v: -1 } };
  }
  if (e.k === 'sum' && !rank && freeIndexVars(e).has(p) && freeIndexVars(e).has(n)) {
    // Σ_r u[r][p]·w[r][n]: a rank-R update; r is renamed to $rank so every term and the readout name it alike.
    const body = renameVar(e.body, e.index, RANK);
    const inner = splitOuter(body, p, n, where, RANK);
    if (inner.s && freeIndexVars(inner.s).has(RANK)) throw new NotOuter(`internal: a rank-dependent factor was kept per step`);
    return { ...inner, rankDim: e.dim };
  }
  const free = freeIndexVars(e);
  const hp = free.has(p), hn = free.has(n);
  // A factor free of p and n but varying with the rank belongs to u (one per rank).
  if (!hp && !hn) return rank && free.has(rank) ? { s: null, u: e, w: null } : { s: e, u: null, w: null };
  if (hp && !hn) return { s: null, u: e, w: null };
  if (!hp && hn) return { s: null, u: null, w: e };
  const r1 = `the input term of ${where} is not an outer product u[${p}]·w[${n}] (rank 1)`;
  switch (e.k) {
    case 'bin':
      throw new NotOuter(`${r1}: ${show(e)} ${e.op === '+' ? 'adds' : 'subtracts'} terms that together depend on both ${p} and ${n}`);
    case 'call': throw new NotOuter(`${r1}: ${e.fn}() takes an argument in both ${p} and ${n}`);
    case 'load': throw new NotOuter(`${r1}: ${e.tensor}[${e.idx.map(fmtI).join('][')}] is indexed by both ${p} and ${n}`);
    case 'sum': throw new NotOuter(`${r1}: sum(${e.index}, ...) nests inside another sum over a rank axis`);
    default: throw new NotOuter(`${r1}: ${show(e)} depends on both ${p} and ${n}`);
  }
}

/** e with every carry read replaced by the carry's assigned value (its index variables renamed to the read's). */
function replaceCarries(sp: SpecializedProgram, e: Expr, carries: SideCarry[], where: string): Expr {
  const scan = sp.indices[sp.scan]!.name;
  return mapExpr(e, (x) => {
    if (x.k === 'load' && x.idx.some((ie) => mentions(ie, scan))) {
      throw new NotOuter(`the previous-step term of ${where} reads ${x.tensor} at step ${scan} beside carried states; all of its step-dependent values must come from carries`);
    }
    if (x.k !== 'state') return x;
    const c = carries.find((k) => k.state.name === x.name);
    if (!c) throw new NotOuter(`the previous-step term of ${where} reads ${x.name}, which is not carried from the previous step`);
    let body = c.expr;
    x.idx.forEach((ie, j) => {
      if (ie.k !== 'ivar') throw new NotOuter(`the previous-step term of ${where} reads ${x.name}[${x.idx.map(fmtI).join('][')}]; carries are read at plain index variables`);
      body = renameVar(body, c.idx[j]!, ie.name);
    });
    return body;
  });
}

function mentions(ie: IExpr, v: string): boolean {
  return ie.k === 'ivar' ? ie.name === v : ie.k === 'ibin' ? mentions(ie.a, v) || mentions(ie.b, v) : false;
}

/** Equal as products: the same factors in any order. */
function sameProduct(a: Expr, b: Expr): boolean {
  const key = (e: Expr): string => factors(e).map((x) => JSON.stringify(x)).sort().join('|');
  return key(a) === key(b);
}

function factors(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '*') return [...factors(e.a), ...factors(e.b)];
  return [e];
}

export function readsAny(e: Expr, names: Set<string>): boolean {
  let found = false;
  visitExpr(e, (x) => { if (x.k === 'state' && names.has(x.name)) found = true; });
  return found;
}

/** Renames an index variable everywhere it is free (index expressions, where() conditions, nested sums' bodies). */
export function renameVar(e: Expr, from: string, to: string): Expr {
  const ri = (ie: IExpr): IExpr => (ie.k === 'ivar' && ie.name === from ? { k: 'ivar', name: to } : ie.k === 'ibin' ? { ...ie, a: ri(ie.a), b: ri(ie.b) } : ie);
  const rc = (c: Extract<Expr, { k: 'where' }>['cond']): typeof c => {
    switch (c.k) {
      case 'icmp': return { ...c, a: ri(c.a), b: ri(c.b) };
      case 'inot': return { ...c, c: rc(c.c) };
      case 'iand': case 'ior': return { ...c, a: rc(c.a), b: rc(c.b) };
    }
  };
  return mapExpr(e, (x) => {
    switch (x.k) {
      case 'load': case 'state': return { ...x, idx: x.idx.map(ri) };
      case 'ival': return { ...x, e: ri(x.e) };
      case 'where': return { ...x, cond: rc(x.cond) };
      case 'sum': return x.index === from ? { ...x, index: to } : x;
      default: return x;
    }
  });
}

function mul(a: Expr | null, b: Expr | null): Expr | null {
  if (!a) return b;
  if (!b) return a;
  return { k: 'bin', op: '*', a, b };
}

function div(a: Expr | null, b: Expr | null): Expr | null {
  if (!b) return a;
  return { k: 'bin', op: '/', a: a ?? ONE, b };
}

export function show(e: Expr): string {
  switch (e.k) {
    case 'num': return String(e.v);
    case 'load': return `${e.tensor}[${e.idx.map(fmtI).join('][')}]`;
    case 'state': return `${e.name}[${e.idx.map(fmtI).join('][')}]`;
    case 'call': return `${e.fn}(...)`;
    case 'bin': return `(${show(e.a)} ${e.op} ${show(e.b)})`;
    case 'neg': return `-${show(e.a)}`;
    case 'sum': return `sum(${e.index}, ...)`;
    case 'ival': return fmtI(e.e);
    case 'local': return e.name;
    case 'where': return `where(..., ${show(e.a)}, ${show(e.b)})`;
  }
}
