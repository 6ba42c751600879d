// Is a program SSD-able (state space duality, spec §2)? Proves, from the IR
// alone, the three facts the chunked matrix form rests on:
//   1. one matrix state S[p][n], updated once per step as S = a·S + X, where
//      the decay a is one scalar per step (it depends on neither p nor n)
//      and is exp(log-decay), so decays compose as sums of log-decays;
//   2. the input term X is an outer product s·u[p]·w[n] (rank 1): s per
//      step, u free of n, w free of p;
//   3. outputs read S only through a readout Σ_n c[n]·S[p][n] of the updated
//      state, with c free of p, and write one element per (step, p).
// Then S_t = Σ_{j≤t} exp(cs_t − cs_j)·s_j·u_j ⊗ w_j (+ decayed initial state),
// and y_t[p] = f(Σ_n c_t[n]·S_t[p][n]) is a causal masked matrix product
// inside a chunk plus a product with the state carried across chunks.
// Every rejection says which fact fails, and where.

import type { Expr, IExpr, SpecializedProgram, StateIR, TensorIR } from '../../dsl/ir.js';
import { freeIndexVars, inlineLocals, localDefs, readsState, stmtsOf, visitExpr, mapExpr } from '../../dsl/ir-walk.js';
import { stateVersions } from '../../dsl/specialize.js';
import { NotLinear, decayKind, fmtI, linearize } from './linear.js';

export class NotSsd extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The name the readout Σ_n c·S[p][n] takes inside a store expression (a local no user can write). */
export const READOUT = '$readout';

export interface SsdStore {
  tensor: TensorIR;
  idx: IExpr[];
  /** The stored value, every readout replaced by `{ k: 'local', name: READOUT }`. */
  expr: Expr;
  /** The store's index variable for the state's P axis. */
  pVar: string;
}

export interface SsdForm {
  state: StateIR;
  /** Position of the P axis (kept by outputs) and of the N axis (contracted by the readout) in the state's shape. */
  pAxis: 0 | 1;
  nAxis: 0 | 1;
  pDim: string;
  nDim: string;
  /** The update's index variables for the P and N axes. */
  pVar: string;
  nVar: string;
  /** log of the per-step decay (free of p and n). */
  logDecay: Expr;
  /** Per-step factor of the input term (free of p and n). */
  scale: Expr;
  /** Factor of the input term in p (free of n), and in n (free of p). */
  u: Expr;
  w: Expr;
  /** Readout weights c[n], in terms of `cVar`. */
  c: Expr;
  cVar: string;
  stores: SsdStore[];
}

const ONE: Expr = { k: 'num', v: 1 };

/** Why the program is not SSD-able, or undefined when it is. */
export function ssdRejects(sp: SpecializedProgram): string | undefined {
  try {
    analyseSsd(sp);
    return undefined;
  } catch (e) {
    if (e instanceof NotSsd) return e.reason;
    throw e;
  }
}

export function analyseSsd(sp: SpecializedProgram): SsdForm {
  if (sp.state.length !== 1) throw new NotSsd(`SSD needs exactly one state; this program has ${sp.state.length} (${sp.state.map((s) => s.name).join(', ') || 'none'})`);
  const st = sp.state[0]!;
  if (st.shape.length !== 2) throw new NotSsd(`SSD needs a matrix state; ${st.name} has ${st.shape.length} dim${st.shape.length === 1 ? '' : 's'} (${st.shape.join(', ')})`);
  for (const d of st.shape) if (sp.staticDims[d] === undefined) throw new NotSsd(`state dim ${d} must be static (declare it in static: { ... })`);
  const defs = localDefs(sp);
  const sets = stmtsOf(sp, 'setState');
  if (sets.length !== 1) throw new NotSsd(`state ${st.name} is assigned ${sets.length} times per step; SSD needs one update S = a·S + u ⊗ w`);
  const set = sets[0]!;
  const where = `${st.name}[${set.idx.join('][')}] at ${set.loc.line}:${set.loc.column}`;
  const rhs = inlineLocals(set.expr, defs);
  let lin;
  try {
    lin = linearize(rhs, st.name, set.idx, 0);
  } catch (e) {
    if (e instanceof NotLinear) throw new NotSsd(`the update ${where} is not linear in ${st.name}: ${e.reason}`);
    throw e;
  }
  if (!lin.coef) throw new NotSsd(`the update ${where} does not read ${st.name}: nothing to scan`);
  if (!lin.rest) throw new NotSsd(`the update ${where} has no input term (only decay)`);
  if (decayKind(lin.coef, set.idx) !== 'scalar') {
    const on = set.idx.filter((v) => freeIndexVars(lin.coef!).has(v));
    throw new NotSsd(`the decay of ${where} depends on ${on.join(' and ')} (one decay per state element, a diagonal decay); SSD needs one scalar decay per step`);
  }
  const logDecay = logOf(lin.coef, where);
  assertNoSums(logDecay, `the decay of ${where}`);

  // The readouts fix which axis outputs keep (P) and which they contract (N).
  const version = stateVersions(sp).get(st.name)!;
  const stores: SsdStore[] = [];
  let readout: { pAxis: 0 | 1; c: Expr; cVar: string; key: string } | undefined;
  for (const s of stmtsOf(sp, 'store')) {
    const tensor = sp.written.find((t) => t.name === s.tensor)!;
    const at = `output ${s.tensor} at ${s.loc.line}:${s.loc.column}`;
    const bound = s.idx.filter((ie): ie is { k: 'ivar'; name: string } => ie.k === 'ivar' && sp.indices[ie.name]?.role === 'state').map((ie) => ie.name);
    if (bound.length !== 1) throw new NotSsd(`${at} binds ${bound.length ? bound.join(', ') : 'no index'} besides the parallel and scan axes; SSD writes one element per (step, ${st.shape.join(' or ')}) and needs exactly one`);
    const pVar = bound[0]!;
    const expr0 = inlineLocals(s.expr, defs);
    const expr = mapExpr(expr0, (x) => {
      if (x.k !== 'sum' || !readsState(x.body, st.name)) return x;
      const r = readoutOf(x, st, pVar, version, at);
      const key = JSON.stringify(renameVar(r.c, r.cVar, '$n'));
      if (!readout) readout = { ...r, key };
      else if (readout.pAxis !== r.pAxis) throw new NotSsd(`${at} contracts ${st.name} over ${st.shape[1 - r.pAxis]}, another readout over ${st.shape[1 - readout.pAxis]}; SSD needs one readout axis`);
      else if (readout.key !== key) throw new NotSsd(`${at} reads ${st.name} with other weights than an earlier readout; SSD supports one readout Σ_n c[n]·${st.name}[p][n] per program`);
      return { k: 'local', name: READOUT };
    });
    if (readsState(expr, st.name)) throw new NotSsd(`${at} reads ${st.name} outside a sum over its state index; SSD outputs read the state only through Σ_n c[n]·${st.name}[p][n]`);
    assertNoSums(expr, at);
    stores.push({ tensor, idx: s.idx, expr, pVar });
  }
  if (!readout) throw new NotSsd(`no output reads ${st.name} through a sum Σ_n c[n]·${st.name}[p][n]; there is nothing for the chunked form to compute`);
  const pAxis = readout.pAxis;
  const nAxis = (1 - pAxis) as 0 | 1;
  for (const s of stores) {
    const dim = sp.indices[s.pVar]!.dim;
    if (dim !== st.shape[pAxis]) throw new NotSsd(`output ${s.tensor.name} binds ${s.pVar} over ${dim}, but the state's kept axis is ${st.shape[pAxis]}`);
  }

  // The input term: s·u[p]·w[n].
  const pVar = set.idx[pAxis]!, nVar = set.idx[nAxis]!;
  const f = splitOuter(lin.rest, pVar, nVar, where);
  for (const [part, e] of [['per-step factor', f.s], ['p factor', f.u], ['n factor', f.w]] as const) if (e) assertNoSums(e, `the ${part} of the input term of ${where}`);
  return {
    state: st,
    pAxis,
    nAxis,
    pDim: st.shape[pAxis]!,
    nDim: st.shape[nAxis]!,
    pVar,
    nVar,
    logDecay,
    scale: f.s ?? ONE,
    u: f.u ?? ONE,
    w: f.w ?? ONE,
    c: readout.c,
    cVar: readout.cVar,
    stores,
  };
}

/** log of a positive decay written as exp(x) or a product of exps. */
function logOf(coef: Expr, where: string): Expr {
  const factors = flattenProduct(coef);
  const logs = factors.map((x): Expr => {
    if (x.k === 'call' && x.fn === 'exp') return x.args[0]!;
    if (x.k === 'num' && x.v > 0) return { k: 'num', v: Math.log(x.v) };
    throw new NotSsd(`the decay of ${where} is not exp(...) (a factor is ${describe(x)}); SSD composes decays in log space and needs them as exp(x)`);
  });
  return logs.reduce((a, b) => ({ k: 'bin', op: '+', a, b }));
}

/** The readout Σ_m c[m]·S[q][m] (or S[m][q]) of the updated state, q bound by the store. */
function readoutOf(sum: Extract<Expr, { k: 'sum' }>, st: StateIR, pVar: string, version: number, at: string): { pAxis: 0 | 1; c: Expr; cVar: string } {
  const reads: Extract<Expr, { k: 'state' }>[] = [];
  visitExpr(sum.body, (x) => { if (x.k === 'state') reads.push(x); });
  const first = reads[0]!;
  const key = JSON.stringify(first.idx);
  if (reads.some((r) => JSON.stringify(r.idx) !== key)) throw new NotSsd(`${at} reads ${st.name} at several indices inside one sum`);
  const vars = first.idx.map((ie) => (ie.k === 'ivar' ? ie.name : undefined));
  const m = sum.index;
  const nAxis = vars.indexOf(m);
  if (nAxis < 0) throw new NotSsd(`${at} sums over ${m} but reads ${st.name}[${first.idx.map(fmtI).join('][')}]: the sum must run over a state axis`);
  const pAxis = (1 - nAxis) as 0 | 1;
  if (vars[pAxis] !== pVar) throw new NotSsd(`${at} reads ${st.name}[${first.idx.map(fmtI).join('][')}]; the axis it keeps must be the output's own index ${pVar}`);
  if ((first.ver ?? 0) !== version) throw new NotSsd(`${at} reads ${st.name} before its update in the step (y_t from S_{t-1}); the SSD lowering reads the updated state`);
  let lin;
  try {
    lin = linearize(sum.body, st.name, vars as string[], version);
  } catch (e) {
    if (e instanceof NotLinear) throw new NotSsd(`${at}: the readout Σ_${m} is not linear in ${st.name}: ${e.reason}`);
    throw e;
  }
  if (lin.rest) throw new NotSsd(`${at}: the sum over ${m} adds terms free of ${st.name}; write the readout as sum(${m}, c * ${st.name}[..]) alone`);
  const c = lin.coef!;
  if (freeIndexVars(c).has(pVar)) throw new NotSsd(`${at}: the readout weights depend on ${pVar}; SSD needs Σ_${m} c[${m}]·${st.name}[${pVar}][${m}] with c the same for every ${pVar}`);
  return { pAxis, c, cVar: m };
}

interface Outer {
  s: Expr | null;
  u: Expr | null;
  w: Expr | null;
}

/** Splits e into (free of p and n)·(in p only)·(in n only), or says why it is not an outer product. */
function splitOuter(e: Expr, p: string, n: string, where: string): Outer {
  // Products split factor by factor even where one side alone depends on p
  // (or n): per-step factors (dt) then go to s and are computed once per step.
  if (e.k === 'bin' && (e.op === '*' || e.op === '/')) {
    const a = splitOuter(e.a, p, n, where), b = splitOuter(e.b, p, n, where);
    if (e.op === '*') return { s: mul(a.s, b.s), u: mul(a.u, b.u), w: mul(a.w, b.w) };
    return { s: div(a.s, b.s), u: div(a.u, b.u), w: div(a.w, b.w) };
  }
  if (e.k === 'neg') {
    const a = splitOuter(e.a, p, n, where);
    return { ...a, s: a.s ? { k: 'neg', a: a.s } : { k: 'num', v: -1 } };
  }
  const free = freeIndexVars(e);
  const hp = free.has(p), hn = free.has(n);
  if (!hp && !hn) return { s: e, u: null, w: null };
  if (hp && !hn) return { s: null, u: e, w: null };
  if (!hp && hn) return { s: null, u: null, w: e };
  const rank = `the input term of ${where} is not an outer product u[${p}]·w[${n}] (rank 1)`;
  switch (e.k) {
    case 'bin':
      throw new NotSsd(`${rank}: ${describe(e)} ${e.op === '+' ? 'adds' : 'subtracts'} terms that together depend on both ${p} and ${n}`);
    case 'call': throw new NotSsd(`${rank}: ${e.fn}() takes an argument in both ${p} and ${n}`);
    case 'load': throw new NotSsd(`${rank}: ${e.tensor}[${e.idx.map(fmtI).join('][')}] is indexed by both ${p} and ${n}`);
    default: throw new NotSsd(`${rank}: ${describe(e)} depends on both ${p} and ${n}`);
  }
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

function flattenProduct(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '*') return [...flattenProduct(e.a), ...flattenProduct(e.b)];
  return [e];
}

/** Terms the lowering evaluates per element as plain expressions: no sums (they need loops), no where() (it needs branches). */
function assertNoSums(e: Expr, what: string): void {
  visitExpr(e, (x) => {
    if (x.k === 'sum') throw new NotSsd(`${what} sums over ${x.index} (${x.dim}) outside the readout; the SSD lowering evaluates such terms per element and has no loop for them`);
    if (x.k === 'where') throw new NotSsd(`${what} uses where(...); the SSD lowering evaluates terms as plain expressions and has no branches for it`);
  });
}

function renameVar(e: Expr, from: string, to: string): Expr {
  const ri = (ie: IExpr): IExpr => (ie.k === 'ivar' && ie.name === from ? { k: 'ivar', name: to } : ie.k === 'ibin' ? { ...ie, a: ri(ie.a), b: ri(ie.b) } : ie);
  return mapExpr(e, (x) => (x.k === 'load' || x.k === 'state' ? { ...x, idx: x.idx.map(ri) } : x.k === 'ival' ? { ...x, e: ri(x.e) } : x));
}

function describe(e: Expr): string {
  switch (e.k) {
    case 'num': return String(e.v);
    case 'load': return `${e.tensor}[${e.idx.map(fmtI).join('][')}]`;
    case 'state': return `${e.name}[${e.idx.map(fmtI).join('][')}]`;
    case 'call': return `${e.fn}(...)`;
    case 'bin': return `(${describe(e.a)} ${e.op} ${describe(e.b)})`;
    case 'neg': return `-${describe(e.a)}`;
    case 'sum': return `sum(${e.index}, ...)`;
    case 'ival': return fmtI(e.e);
    case 'local': return e.name;
    case 'where': return `where(..., ${describe(e.a)}, ${describe(e.b)})`;
  }
}
