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
import { NotOuter, RANK, readsAny, renameVar, show, splitInput, type SsdInput } from './ssd-input.js';
import { NotSide, classifySideStates, type SideStates } from './ssd-side.js';

export { RANK } from './ssd-input.js';

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
  /**
   * The stored value, every readout replaced by `{ k: 'local', name: READOUT }`;
   * with a rank axis, readouts sit inside sums over it whose index is RANK.
   */
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
  /** Factor of the input term in p (free of n), and in n (free of p); with a rank axis both may read RANK. */
  u: Expr;
  w: Expr;
  /** Readout weights c[n], in terms of `cVar` (and RANK with a rank axis). */
  c: Expr;
  cVar: string;
  stores: SsdStore[];
  /** The rank axis (MIMO): R outer products per step, R readouts per step. */
  rank?: { dim: string; size: number };
  /**
   * The previous step's input term (exponential-trapezoidal): per step t
   * the factor `scale`, times step t-1's u ⊗ w; `u` and `w` as written,
   * reading carries (what step 0 uses, from the carries' initial values).
   */
  prev?: { scale: Expr; u: Expr; w: Expr };
  /** Scans and carries beside the matrix state (analysis/ssd-side.ts). */
  side: SideStates;
}

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

/** The one matrix state, or why there is none. */
function matrixState(sp: SpecializedProgram): StateIR {
  // A matrix state that carries the previous step's values (one assigned without reading itself) is a carry, not the scanned state.
  const defs = localDefs(sp);
  const scanned = (s: StateIR): boolean => stmtsOf(sp, 'setState').some((u) => u.name === s.name && readsState(inlineLocals(u.expr, defs), s.name));
  const matrices = sp.state.filter((s) => s.shape.length === 2 && scanned(s));
  if (matrices.length === 1) return matrices[0]!;
  if (matrices.length > 1) throw new NotSsd(`SSD needs exactly one matrix state; this program has ${matrices.length} (${matrices.map((s) => s.name).join(', ')})`);
  if (sp.state.length === 1) {
    const st = sp.state[0]!;
    throw new NotSsd(`SSD needs a matrix state; ${st.name} has ${st.shape.length} dim${st.shape.length === 1 ? '' : 's'} (${st.shape.join(', ')})`);
  }
  throw new NotSsd(`SSD needs a matrix state; this program has ${sp.state.length ? `only ${sp.state.map((s) => `${s.name} (${s.shape.join(', ')})`).join(', ')}` : 'none'}`);
}

export function analyseSsd(sp: SpecializedProgram): SsdForm {
  const st = matrixState(sp);
  for (const d of st.shape) if (sp.staticDims[d] === undefined) throw new NotSsd(`state dim ${d} must be static (declare it in static: { ... })`);
  let side: SideStates;
  try {
    side = classifySideStates(sp, st);
  } catch (e) {
    if (e instanceof NotSide) throw new NotSsd(e.reason);
    throw e;
  }
  const carryNames = new Set(side.carries.map((c) => c.state.name));
  const scanNames = new Set(side.scans.map((c) => c.state.name));
  const defs = localDefs(sp);
  const sets = stmtsOf(sp, 'setState').filter((s) => s.name === st.name);
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
  assertPlain(logDecay, `the decay of ${where}`);

  // The readouts fix which axis outputs keep (P) and which they contract (N).
  const version = stateVersions(sp).get(st.name)!;
  const stores: SsdStore[] = [];
  let readout: { pAxis: 0 | 1; c: Expr; cVar: string; key: string; ranked: boolean } | undefined;
  for (const s of stmtsOf(sp, 'store')) {
    const tensor = sp.written.find((t) => t.name === s.tensor)!;
    const at = `output ${s.tensor} at ${s.loc.line}:${s.loc.column}`;
    const bound = s.idx.filter((ie): ie is { k: 'ivar'; name: string } => ie.k === 'ivar' && sp.indices[ie.name]?.role === 'state').map((ie) => ie.name);
    if (bound.length !== 1) throw new NotSsd(`${at} binds ${bound.length ? bound.join(', ') : 'no index'} besides the parallel and scan axes; SSD writes one element per (step, ${st.shape.join(' or ')}) and needs exactly one`);
    const pVar = bound[0]!;
    const expr0 = inlineLocals(s.expr, defs);
    const rankVars = new Map<string, string>();
    const expr1 = mapExpr(expr0, (x) => {
      if (x.k !== 'sum' || !readsState(x.body, st.name)) return x;
      const r = readoutOf(sp, x, st, pVar, version, at);
      if (r.rankVar) rankVars.set(r.rankVar, sp.indices[r.rankVar]!.dim);
      const key = JSON.stringify(renameVar(r.c, r.cVar, '$n'));
      if (!readout) readout = { ...r, key, ranked: !!r.rankVar };
      else if (readout.pAxis !== r.pAxis) throw new NotSsd(`${at} contracts ${st.name} over ${st.shape[1 - r.pAxis]}, another readout over ${st.shape[1 - readout.pAxis]}; SSD needs one readout axis`);
      else if (readout.key !== key) throw new NotSsd(`${at} reads ${st.name} with other weights than an earlier readout; SSD supports one readout Σ_n c[n]·${st.name}[p][n] per program`);
      return { k: 'local', name: READOUT };
    });
    // The sums over the rank axis that hold the readouts: their index becomes RANK too.
    let expr = expr1;
    for (const v of rankVars.keys()) expr = renameVar(expr, v, RANK);
    if (readsState(expr, st.name)) throw new NotSsd(`${at} reads ${st.name} outside a sum over its state index; SSD outputs read the state only through Σ_n c[n]·${st.name}[p][n]`);
    if (readsAny(expr, carryNames)) throw new NotSsd(`${at} reads a state carried from the previous step; the chunked form reads carries only in the update's previous-step term`);
    assertPlain(expr, at, [...rankVars.values()][0]);
    stores.push({ tensor, idx: s.idx, expr, pVar });
  }
  if (!readout) throw new NotSsd(`no output reads ${st.name} through a sum Σ_n c[n]·${st.name}[p][n]; there is nothing for the chunked form to compute`);
  const ro: { pAxis: 0 | 1; c: Expr; cVar: string; ranked: boolean } = readout;
  const pAxis = ro.pAxis;
  const nAxis = (1 - pAxis) as 0 | 1;
  for (const s of stores) {
    const dim = sp.indices[s.pVar]!.dim;
    if (dim !== st.shape[pAxis]) throw new NotSsd(`output ${s.tensor.name} binds ${s.pVar} over ${dim}, but the state's kept axis is ${st.shape[pAxis]}`);
  }

  // The input term: s·Σ_r u[r][p]·w[r][n], and maybe the same one step back.
  const pVar = set.idx[pAxis]!, nVar = set.idx[nAxis]!;
  let input: SsdInput;
  try {
    input = splitInput(sp, lin.rest, pVar, nVar, where, side.carries);
  } catch (e) {
    if (e instanceof NotOuter) throw new NotSsd(e.reason);
    throw e;
  }
  const cur = input.current;
  const parts: [string, Expr][] = [
    ['decay', logDecay], ['per-step factor of the input term', cur.s], ['p factor of the input term', cur.u], ['n factor of the input term', cur.w],
    ['readout weights', ro.c], ...(input.prev ? [['per-step factor of the previous-step term', input.prev.s] as [string, Expr]] : []),
  ];
  for (const [part, e] of parts) {
    assertPlain(e, `the ${part} of ${where}`, cur.rankDim);
    if (readsAny(e, carryNames)) throw new NotSsd(`the ${part} of ${where} reads a state carried from the previous step; the chunked form reads carries only in the update's previous-step term`);
  }
  if (input.prev) {
    for (const e of [cur.u, cur.w]) {
      visitExpr(e, (x) => {
        if (x.k === 'state' && scanNames.has(x.name) && (x.ver ?? 0) === 0) throw new NotSsd(`the input term of ${where} reads ${x.name} before its update; with a previous-step term the chunked form needs the updated value`);
      });
    }
  }
  const rankDim = cur.rankDim;
  if (!!rankDim !== ro.ranked) {
    throw new NotSsd(rankDim
      ? `the update ${where} sums over a rank axis (${rankDim}) but the readout does not; the chunked form needs the rank axis in both (one readout per rank)`
      : `the readout weights depend on a rank axis but the update ${where} has no sum over it; the chunked form needs the rank axis in both`);
  }
  let rank: SsdForm['rank'];
  if (rankDim) {
    const size = sp.staticDims[rankDim];
    if (size === undefined) throw new NotSsd(`the rank axis ${rankDim} must be static (declare it in static: { ... }): the chunked form lays ranks out as rows`);
    for (const s of stores) {
      if (!readoutsUnderRank(s.expr)) throw new NotSsd(`output ${s.tensor.name} uses a readout outside a sum over the rank axis ${rankDim}; with one readout per rank, sum them (sum(r, ...))`);
    }
    rank = { dim: rankDim, size };
  }
  return {
    state: st,
    pAxis,
    nAxis,
    pDim: st.shape[pAxis]!,
    nDim: st.shape[nAxis]!,
    pVar,
    nVar,
    logDecay,
    scale: cur.s,
    u: cur.u,
    w: cur.w,
    c: ro.c,
    cVar: ro.cVar,
    stores,
    ...(rank ? { rank } : {}),
    ...(input.prev ? { prev: { scale: input.prev.s, u: input.prev.u, w: input.prev.w } } : {}),
    side,
  };
}

/** Every READOUT sits inside a sum over RANK. */
function readoutsUnderRank(e: Expr, inside = false): boolean {
  switch (e.k) {
    case 'local': return e.name !== READOUT || inside;
    case 'sum': return readoutsUnderRank(e.body, inside || e.index === RANK);
    case 'bin': return readoutsUnderRank(e.a, inside) && readoutsUnderRank(e.b, inside);
    case 'neg': return readoutsUnderRank(e.a, inside);
    case 'call': return e.args.every((a) => readoutsUnderRank(a, inside));
    case 'where': return readoutsUnderRank(e.a, inside) && readoutsUnderRank(e.b, inside);
    default: return true;
  }
}

/** log of a positive decay written as exp(x) or a product of exps. */
function logOf(coef: Expr, where: string): Expr {
  const factors = flattenProduct(coef);
  const logs = factors.map((x): Expr => {
    if (x.k === 'call' && x.fn === 'exp') return x.args[0]!;
    if (x.k === 'num' && x.v > 0) return { k: 'num', v: Math.log(x.v) };
    throw new NotSsd(`the decay of ${where} is not exp(...) (a factor is ${show(x)}); SSD composes decays in log space and needs them as exp(x)`);
  });
  return logs.reduce((a, b) => ({ k: 'bin', op: '+', a, b }));
}

/**
 * The readout Σ_m c[m]·S[q][m] (or S[m][q]) of the updated state, q bound by
 * the store. With a rank axis c may also depend on the index of an
 * enclosing sum (one readout per rank): that index comes back as rankVar,
 * and c names it RANK.
 */
function readoutOf(sp: SpecializedProgram, sum: Extract<Expr, { k: 'sum' }>, st: StateIR, pVar: string, version: number, at: string): { pAxis: 0 | 1; c: Expr; cVar: string; rankVar?: string } {
  const reads: Extract<Expr, { k: 'state' }>[] = [];
  visitExpr(sum.body, (x) => { if (x.k === 'state') reads.push(x); });
  const first = reads.find((r) => r.name === st.name)!;
  const key = JSON.stringify(first.idx);
  if (reads.some((r) => r.name === st.name && JSON.stringify(r.idx) !== key)) throw new NotSsd(`${at} reads ${st.name} at several indices inside one sum`);
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
  let c = lin.coef!;
  if (freeIndexVars(c).has(pVar)) throw new NotSsd(`${at}: the readout weights depend on ${pVar}; SSD needs Σ_${m} c[${m}]·${st.name}[${pVar}][${m}] with c the same for every ${pVar}`);
  const extra = [...freeIndexVars(c)].filter((x) => x !== m && !sp.parallel.includes(x) && x !== sp.scan);
  if (extra.length > 1) throw new NotSsd(`${at}: the readout weights depend on ${extra.join(' and ')}; besides ${m} they may depend on one rank axis`);
  const rankVar = extra[0];
  if (rankVar) c = renameVar(c, rankVar, RANK);
  return { pAxis, c, cVar: m, ...(rankVar ? { rankVar } : {}) };
}

function flattenProduct(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '*') return [...flattenProduct(e.a), ...flattenProduct(e.b)];
  return [e];
}

/**
 * Terms the lowering evaluates per element as plain expressions: no sums
 * (they need loops) except, where a rank axis exists, sums over it (R is
 * static: they unroll). where() is fine (both branches are computed and one
 * is selected; reads are clamped in range).
 */
function assertPlain(e: Expr, what: string, rankDim?: string): void {
  visitExpr(e, (x) => {
    if (x.k === 'sum' && !(rankDim && x.dim === rankDim)) throw new NotSsd(`${what} sums over ${x.index} (${x.dim}) outside the readout; the SSD lowering evaluates such terms per element and has no loop for them`);
  });
}
