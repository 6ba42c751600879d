// What the diagonal scan's two forms share (diagonal-scan.ts: a row's threads
// over the scan axis, with a chunk scan; state-lanes.ts: a row's threads over
// the state elements, each walking the steps): the analysis of a diagonal
// program, its expressions as plan templates with placeholders ($t the step,
// $n the state element, $h/$hp a state's new/previous value, $acc<k> the k-th
// sum over the state, $p:<var> a per-copy row variable), and the split of a
// row number into parallel indices.

import type { Expr, IExpr, SpecializedProgram, StateIR, TensorIR } from '../../dsl/ir.js';
import { freeIndexVars, inlineLocals, ivarsOfIndex, localDefs, readsState, stmtsOf, visitExpr } from '../../dsl/ir-walk.js';
import { NotLinear, linearize } from '../analysis/linear.js';
import { add, f, i, mul, type PExpr, type PFn, type PStmt, v, decl } from '../plan/ast.js';
import { Hoister, type Level } from './hoist.js';
import { dimEnv, indexExpr, offsetOf, loadOf, type IndexEnv } from './index-math.js';

export class LoweringError extends Error {}

// Placeholder levels: which loops a value varies in.
export const T_BIT = 2; // the scan position (per item)
export const N_BIT = 1; // the state element (outer loop)
/** The level bit of a row's copy of a value when a thread serves K rows (none with one row). */
export const copyLevelBit = (K: number): number => (K > 1 ? 4 : 0);
const LOG2E = 1.4426950408889634;

export interface StateUpdate {
  state: StateIR;
  idx: string;
  coef: Expr;
  rest: Expr;
}

export interface DiagonalAnalysis {
  updates: StateUpdate[];
  stores: { tensor: TensorIR; idx: IExpr[]; expr: Expr }[];
  stateDim: string;
}

/** Explains why a program does not fit the diagonal scan, or returns undefined if it does. */
export function diagonalScanRejects(sp: SpecializedProgram): string | undefined {
  try {
    analyseDiagonal(sp);
    return undefined;
  } catch (e) {
    if (e instanceof LoweringError || e instanceof NotLinear) return e.message;
    throw e;
  }
}

export function analyseDiagonal(sp: SpecializedProgram): DiagonalAnalysis {
  const defs = localDefs(sp);
  const sets = stmtsOf(sp, 'setState');
  const updates: StateUpdate[] = [];
  let stateDim: string | undefined;
  for (const st of sp.state) {
    const mine = sets.filter((s) => s.name === st.name);
    if (mine.length !== 1) throw new LoweringError(`state ${st.name} is assigned ${mine.length} times per step; the diagonal scan needs exactly one update`);
    if (st.shape.length !== 1) throw new LoweringError(`state ${st.name} has ${st.shape.length} dims (${st.shape.join(', ')}); the diagonal scan handles 1-D states`);
    if (stateDim && stateDim !== st.shape[0]) throw new LoweringError(`states range over different dims (${stateDim}, ${st.shape[0]})`);
    stateDim = st.shape[0]!;
    const s = mine[0]!;
    const rhs = inlineLocals(s.expr, defs);
    const lin = linearize(rhs, st.name, s.idx, 0);
    if (!lin.coef) throw new LoweringError(`state ${st.name} does not depend on its previous value; nothing to scan`);
    for (const other of sp.state) if (other.name !== st.name && readsState(rhs, other.name)) throw new LoweringError(`the update of ${st.name} reads state ${other.name} (coupled states)`);
    updates.push({ state: st, idx: s.idx[0]!, coef: lin.coef, rest: lin.rest ?? { k: 'num', v: 0 } });
  }
  if (!stateDim) throw new LoweringError('the program has no state');
  const stores = stmtsOf(sp, 'store').map((s) => ({ tensor: sp.written.find((t) => t.name === s.tensor)!, idx: s.idx, expr: inlineLocals(s.expr, defs) }));
  return { updates, stores, stateDim };
}

/** How a template reads the parallel index variables (see rowEnv in diagonalTemplates). */
export type RowMode = 'one' | 'general' | 'uniform';

/** Templates for the update (per state), the stores and the sums, in one row mode. */
export interface Templates { coef: PExpr[]; rest: PExpr[]; store: PExpr[]; storeIdx: PExpr[]; acc: PExpr[] }

export interface DiagonalTemplates {
  hoister: Hoister;
  /** Helper functions the templates call (filled while templating). */
  helpers: Set<PFn>;
  /** The sums over the state index, in the order the stores' templates meet them. */
  accs: { name: string; body: Expr }[];
  templatesFor: (mode: RowMode) => Templates;
  /** What 'uniform' mode reads at copy 0's row: div(last, X) divisors and the other parallel variables. */
  uniformDivs: Map<string, PExpr>;
  uniformVars: Set<string>;
  /** Name of copy j of parallel variable n's row index. */
  rowVar: (n: string, j?: number) => string;
  /** Placeholder of state s's new (pre = false) or previous value. */
  hVar: (s: string, pre: boolean) => string;
}

/**
 * The templates of a diagonal program whose threads handle K rows each
 * (copies j < K; K = 1 for one row). Levels: T_BIT per step, N_BIT per state
 * element, P_BIT (4 when K > 1) per copy.
 */
export function diagonalTemplates(sp: SpecializedProgram, an: DiagonalAnalysis, K: number): DiagonalTemplates {
  const { updates, stores, stateDim } = an;
  const dim = dimEnv(sp.staticDims);
  const scanVar = sp.scan;
  const helpers = new Set<PFn>();
  const lastPar = sp.parallel[sp.parallel.length - 1]!;
  // Per-copy values (one per row of the thread's block) vary in the copies' "loop".
  const P_BIT = copyLevelBit(K);
  /** Name of copy j of a per-row variable (the name itself when there is one copy). */
  const cn = (n: string, j: number): string => (K === 1 ? n : `${n}_r${j}`);

  // ---- Expr → plan template, with placeholders for loop-dependent values ----
  const rowVar = (n: string, j = 0): string => cn(`ix_${n}`, j);
  const hVar = (s: string, pre: boolean): string => `$h${pre ? 'p' : ''}:${s}`;
  /**
   * How a template reads the parallel index variables. 'one': the row's
   * variables. 'general': every parallel variable per copy ($p: placeholders).
   * 'uniform': only the last one per copy; the other parallel variables and
   * every div(last, X) are read at copy 0's row (the whole workgroup agrees on
   * them: see `uni` below), so what depends only on them is shared by the copies.
   */
  const uniformDivs = new Map<string, PExpr>();
  const uniformVars = new Set<string>();
  const rowEnv = (mode: RowMode): Pick<IndexEnv, 'override'> & { par: (n: string) => PExpr } => ({
    par: (n) => {
      if (mode === 'one') return v(rowVar(n));
      if (mode === 'uniform' && n !== lastPar) {
        uniformVars.add(n);
        return v(rowVar(n, 0));
      }
      return v(`$p:${n}`);
    },
    override: mode !== 'uniform' ? undefined : (e) => {
      if (e.k !== 'ibin' || e.op !== 'div' || e.a.k !== 'ivar' || e.a.name !== lastPar || ivarsOfIndex(e.b).size) return undefined;
      const x = indexExpr(e.b, { ivar: () => { throw new Error('internal: index-free divisor'); }, dim });
      uniformDivs.set(JSON.stringify(x), x);
      return { k: 'bin', op: '/', a: v(rowVar(lastPar, 0)), b: x };
    },
  });
  const accs: { name: string; body: Expr }[] = [];
  let accAt = 0;
  const template = (e: Expr, stateIdx: Set<string>, mode: RowMode): PExpr => {
    const re = rowEnv(mode);
    const env: IndexEnv = {
      ivar: (n: string): PExpr => (n === scanVar ? v('$t') : stateIdx.has(n) ? v('$n') : re.par(n)),
      dim,
      override: re.override,
    };
    const t = (x: Expr): PExpr => template(x, stateIdx, mode);
    switch (e.k) {
      case 'num': return f(e.v);
      case 'ival': return { k: 'cast', ty: 'f32', a: indexExpr(e.e, env) };
      case 'load': return loadOf(sp.used, e.tensor, e.idx, env);
      case 'state': return v(hVar(e.name, (e.ver ?? 0) === 0));
      case 'neg': return { k: 'neg', a: t(e.a) };
      case 'bin': {
        if (e.op === '*') return product(flattenProduct(e).map(t));
        return { k: 'bin', op: e.op, a: t(e.a), b: t(e.b) };
      }
      case 'call': {
        if (e.fn === 'exp') {
          // exp(x) = exp2(x·log2 e), with log2 e folded into the least-varying factor of x.
          helpers.add('exp2');
          const factors = flattenProduct(e.args[0]!).map(t);
          return { k: 'call', fn: 'exp2', args: [product([f(LOG2E), ...factors])] };
        }
        helpers.add(e.fn);
        return { k: 'call', fn: e.fn, args: e.args.map(t) };
      }
      case 'sum': {
        if (e.dim !== stateDim) throw new LoweringError(`sum over ${e.index} (${e.dim}) is not over the state dim ${stateDim}`);
        // Each row mode templates the same expressions in the same order: the k-th sum is the same accumulator.
        const k = accAt++;
        if (k === accs.length) accs.push({ name: `acc${k}`, body: e.body });
        return v(`$${accs[k]!.name}`);
      }
      case 'local': throw new LoweringError('internal: locals must be inlined');
      case 'where': throw new LoweringError('where() selects by index inside the step; the chunked scan does not lower it (the sequential lowering does)');
    }
  };
  const hoister = new Hoister((n) => {
    if (n === '$t') return T_BIT;
    if (n === '$n') return N_BIT;
    if (n.startsWith('$h')) return T_BIT | N_BIT | P_BIT;
    if (n.startsWith('$acc')) return T_BIT | P_BIT;
    if (n.startsWith('$p:')) return P_BIT;
    // An operand a lowering stages per (state element, step) in workgroup memory, one for all the
    // rows of the workgroup (state-lanes.ts): it varies with neither the row nor its copy.
    if (n.startsWith('$tile:')) return T_BIT | N_BIT;
    return undefined;
  });
  // With copies, the order of cost: per row, per copy, per item, ... per state element last
  // (the state loop is the innermost); with one copy the historical order (kept so the code is unchanged).
  const rank = (l: Level): number => (K === 1 ? l : ((l & N_BIT) ? 4 : 0) | ((l & T_BIT) ? 2 : 0) | ((l & P_BIT) ? 1 : 0));
  // Orders a product's factors so that the least-varying ones multiply first (and get hoisted together).
  function product(factors: PExpr[]): PExpr {
    const sorted = [...factors].sort((a, b) => rank(hoister.level(a)) - rank(hoister.level(b)));
    return sorted.reduce((acc, x) => mul(acc, x));
  }

  const templatesFor = (mode: RowMode): Templates => {
    accAt = 0;
    const stateIdxOf = (u: StateUpdate): Set<string> => new Set([u.idx]);
    const coef = updates.map((u) => template(u.coef, stateIdxOf(u), mode));
    const rest = updates.map((u) => template(u.rest, stateIdxOf(u), mode));
    const store = stores.map((s) => {
      const boundByStore = [...freeIndexVars(s.expr)].filter((x) => sp.indices[x]?.role === 'state');
      if (boundByStore.length) throw new LoweringError(`output ${s.tensor.name} uses state index ${boundByStore.join(', ')} outside a sum`);
      return template(s.expr, new Set(), mode);
    });
    const acc = accs.map((a) => {
      const sumIdx = new Set<string>();
      for (const x of freeIndexVars(a.body)) if (sp.indices[x]?.role === 'state' || sp.indices[x] === undefined) sumIdx.add(x);
      return template(a.body, sumIdx, mode);
    });
    for (const t of store) if (hasStateRef(t)) throw new LoweringError('an output reads the state outside a sum over the state index');
    const re = rowEnv(mode);
    const env: IndexEnv = { ivar: (n: string): PExpr => (n === scanVar ? v('$t') : re.par(n)), dim, override: re.override };
    const storeIdx = stores.map((st) => offsetOf(st.tensor, st.idx.map((ie) => indexExpr(ie, env)), env));
    return { coef, rest, store, storeIdx, acc };
  };
  return { hoister, helpers, accs, templatesFor, uniformDivs, uniformVars, rowVar, hVar };
}

/** Splitting a row number into the parallel indices (last axis fastest), and the number of rows. */
export function rowDecomposition(sp: SpecializedProgram): {
  nRows: PExpr;
  decompose: (rowExpr: PExpr, remName: (k: number) => string, ixName: (p: string) => string) => PStmt[];
} {
  const dim = dimEnv(sp.staticDims);
  const rowDims = sp.parallel.map((p) => sp.indices[p]!.dim);
  const nRows = rowDims.map(dim).reduce((a, b) => mul(a, b));
  /** Declarations of the parallel variables `ixName(p)` of row `rowExpr`, last axis fastest. */
  const decompose = (rowExpr: PExpr, remName: (k: number) => string, ixName: (p: string) => string): PStmt[] => {
    const out: PStmt[] = [decl(remName(0), 'i32', rowExpr)];
    for (let k = sp.parallel.length - 1; k >= 0; k--) {
      const d = dim(rowDims[k]!);
      out.push(decl(ixName(sp.parallel[k]!), 'i32', { k: 'bin', op: '%', a: v(remName(sp.parallel.length - 1 - k)), b: d }));
      if (k > 0) out.push(decl(remName(sp.parallel.length - k), 'i32', { k: 'bin', op: '/', a: v(remName(sp.parallel.length - 1 - k)), b: d }));
    }
    return out;
  };
  return { nRows, decompose };
}

/**
 * The rows of thread slot `slot` (a declared variable) of workgroup g, rows
 * (g·R + slot)·K + j for j < K, as `row` and `rowOk` (suffixed `_r<j>` when
 * K > 1). Rows past the end (in the last workgroup) run along on a clamped
 * row, so the barriers stay uniform, and store nothing.
 */
export function slotRows(nRows: PExpr, R: number, K: number, group: PExpr = { k: 'builtin', b: 'group' }): PStmt[] {
  const slotRow = add(mul(group, i(R)), v('slot'));
  return Array.from({ length: K }, (_, j) => {
    const rowRaw = K === 1 ? slotRow : add(mul(slotRow, i(K)), i(j));
    const cn = (n: string): string => (K === 1 ? n : `${n}_r${j}`);
    return [decl(cn('rowOk'), 'bool', { k: 'bin', op: '<', a: rowRaw, b: nRows }), decl(cn('row'), 'i32', { k: 'imin', a: rowRaw, b: { k: 'bin', op: '-', a: nRows, b: i(1) } })];
  }).flat();
}

/**
 * Declares `uni`: the workgroup's `rowsPerGroup` rows (the first, and the last
 * existing one) agree on every value 'uniform' mode reads at copy 0's row.
 * Rows are consecutive and div is monotonic, so then every row between agrees
 * too. The condition is the same for the whole workgroup.
 */
export function uniformCheck(sp: SpecializedProgram, t: DiagonalTemplates, rowsPerGroup: number, group: PExpr = { k: 'builtin', b: 'group' }): PStmt[] {
  const { nRows, decompose } = rowDecomposition(sp);
  const lastPar = sp.parallel[sp.parallel.length - 1]!;
  const first = mul(group, i(rowsPerGroup));
  const last: PExpr = { k: 'imin', a: add(first, i(rowsPerGroup - 1)), b: { k: 'bin', op: '-', a: nRows, b: i(1) } };
  const out = [...decompose(first, (k) => `remf${k}`, (p) => `ixf_${p}`), ...decompose(last, (k) => `reml${k}`, (p) => `ixl_${p}`)];
  const eq = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '==', a, b });
  const conds = [
    ...[...t.uniformVars].map((p) => eq(v(`ixf_${p}`), v(`ixl_${p}`))),
    ...[...t.uniformDivs.values()].map((x) => eq({ k: 'bin', op: '/', a: v(`ixf_${lastPar}`), b: x }, { k: 'bin', op: '/', a: v(`ixl_${lastPar}`), b: x })),
  ];
  out.push(decl('uni', 'bool', conds.reduce((a, b) => ({ k: 'bin', op: '&&', a, b }))));
  return out;
}

/** Tensors every read (or write) of which has the scan position as its last index (contiguous in t). */
export function scanContiguousTensors(sp: SpecializedProgram): Set<string> {
  const out = new Set([...sp.used, ...sp.written].map((t) => t.name));
  const atScan = (idx: IExpr[]): boolean => idx.length > 0 && idx[idx.length - 1]!.k === 'ivar' && (idx[idx.length - 1] as { name: string }).name === sp.scan;
  for (const st of sp.step) {
    if (st.k === 'store' && !atScan(st.idx)) out.delete(st.tensor);
    const exprs = st.k === 'let' || st.k === 'setState' || st.k === 'store' ? [st.expr] : [];
    for (const e of exprs) visitExpr(e, (x) => {
      if (x.k === 'load' && !atScan(x.idx)) out.delete(x.tensor);
    });
  }
  return out;
}

export function flattenProduct(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '*') return [...flattenProduct(e.a), ...flattenProduct(e.b)];
  return [e];
}

function hasStateRef(e: PExpr): boolean {
  const s = JSON.stringify(e);
  return s.includes('"$h:') || s.includes('"$hp:');
}

/** Bytes one element of tensor `buf` takes in device memory (f32: 4; f16, bf16: 2). */
export function elemBytesOf(sp: SpecializedProgram, buf: string): number {
  return [...sp.used, ...sp.written].find((t) => t.name === buf)?.dtype === 'f32' ? 4 : 2;
}

/**
 * The uniform condition under which `w`-wide vector accesses of `buf` at a multiple of `w` along its
 * last (scan-contiguous) axis are aligned in memory: that axis's length is a multiple of `w`.
 */
export function rowsAlignedFor(sp: SpecializedProgram, buf: string, w: number): PExpr {
  const shape = [...sp.used, ...sp.written].find((t) => t.name === buf)!.shape;
  return { k: 'bin', op: '==', a: { k: 'bin', op: '%', a: dimEnv(sp.staticDims)(shape[shape.length - 1]!), b: i(w) }, b: i(0) };
}
