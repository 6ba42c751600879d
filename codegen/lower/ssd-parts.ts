// The pieces both forms of the chunked SSD lowering are built from
// (lower/ssd.ts: one fused kernel walking the chunks; lower/ssd-chunked.ts:
// three launches with the chunks in parallel). Each piece is one step of
// spec §2's chunked form over one chunk of Q steps starting at the i32
// variable `c0`, for the P tile starting at `p0`, in workgroup arrays of
// fixed names (cs0/cs1, sc, Xs, Ct, Wt, Ms). A kernel gets its own emitter
// (the row's hoisted values are declared once per kernel).

import type { Expr, SpecializedProgram } from '../../dsl/ir.js';
import { READOUT, RANK, type SsdForm } from '../analysis/ssd.js';
import { FragmentError, fragElements, gridFragment, mmaFragment, storeFragment, type FragElement } from '../plan/fragment.js';
import {
  add, assign, barrier, call, decl, f, i, loop, lt, mul, sub, v, when, TID,
  type Fragment, type PExpr, type PFn, type PStmt, type Ty,
} from '../plan/ast.js';
import type { KernelBinding, KernelParam } from '../../runtime/backend.js';
import { LoweringError } from './diagonal-scan.js';
import { elemBytesOf } from './diagonal-templates.js';
export { programBindings } from './program-bindings.js';
import type { ChunkTileBase, SsdCaps } from './ssd.js';
import type { SharedArray } from '../plan/ast.js';
import { Hoister, newScope, type Scope } from './hoist.js';
import { clampIndex, condExpr, dimEnv, indexExpr, offsetOf, loadOf } from './index-math.js';
import { vectorizeItemLoads, vectorizeItemStores, type AlignedLoads } from './vectorize-loads.js';
import { exprChildren, exprVars, mapExprChildren, stmtVars } from '../plan/walk.js';

export class SsdLoweringError extends LoweringError {}

// Placeholder levels for hoisting: what a value varies with.
export const T_BIT = 1, P_BIT = 2, N_BIT = 4;

export const isPow2 = (x: number): boolean => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
export const nextPow2 = (x: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
export const idiv = (a: PExpr, b: number | PExpr): PExpr => ({ k: 'bin', op: '/', a, b: typeof b === 'number' ? i(b) : b });
export const imod = (a: PExpr, b: number | PExpr): PExpr => ({ k: 'bin', op: '%', a, b: typeof b === 'number' ? i(b) : b });
export const and = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '&&', a, b });
export const le = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '<=', a, b });
export const ge = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '>=', a, b });
export const sload = (arr: string, index: PExpr): PExpr => ({ k: 'sload', arr, index });
export const sstore = (arr: string, index: PExpr, value: PExpr): PStmt => ({ k: 'sstore', arr, index, value });

/** Row stride of a workgroup array: padded so that threads reading down a column hit different banks. */
export function padded(n: number, matrixUnits: boolean): number {
  // Scalar loops read along columns with consecutive threads (odd stride);
  // m16n8k16 operand loads read 8 rows × 4 pairs (stride ≡ 8 mod 16).
  return matrixUnits ? n + ((8 - (n % 16) + 16) % 16) : n + (n % 2 === 0 ? 1 : 0);
}

/** Writes of a fragment element, by its owner only (threads holding copies stay out). */
export function owning(e: FragElement, stmts: PStmt[]): PStmt[] {
  return e.owned ? [when(e.owned, stmts)] : stmts;
}

/** IR expressions of one SSD program turned into plan statements for one kernel. */
export interface SsdEmitter {
  sp: SpecializedProgram;
  form: SsdForm;
  dim: (name: string) => PExpr;
  /** Length of the scan axis. */
  L: PExpr;
  P: number;
  N: number;
  /** Ranks per step (1 without a rank axis). */
  R: number;
  /**
   * Rows per step of the chunk's matrices (R rounded up to a power of two,
   * so every tile size stays one: rows of ranks ≥ R are zero); Q·RP rows, step-major.
   */
  RP: number;
  /** Step and rank of a row of the chunk's matrices. */
  stepOf: (row: PExpr) => PExpr;
  rankOf: (row: PExpr) => PExpr;
  helpers: Set<PFn>;
  /** Values that vary with nothing but the row, declared once after the row's index variables. */
  rowScope: Scope;
  /**
   * Plan templates (placeholders $t step, $p, $n, $k rank, $r readout) of the
   * log-decay, step factor, u[p], w[n] and c[n]; with a previous-step term
   * its step factor s1, and its u and w at step 0 (carries from their
   * initial values).
   */
  ld: PExpr;
  sc: PExpr;
  u: PExpr;
  w: PExpr;
  c: PExpr;
  prev?: { s1: PExpr; u0: PExpr; w0: PExpr };
  template: (e: Expr, vars: Record<string, string | number>) => PExpr;
  /** Emits templates where the placeholders have the given values, in one scope: declarations to place first, then the values. */
  emitAll: (tmpls: [PExpr, Ty][], level: number, subst: Record<string, PExpr>) => { decls: PStmt[]; values: PExpr[] };
}

/** The variable holding a parallel index of the row (decomposeRow declares them). */
export const rowVar = (n: string): string => `ix_${n}`;

/** Workgroup array holding a scan's values over the chunk: row j is the value entering step c0 + j (row 0: from the previous chunk). */
export const scanArray = (state: string): string => `sv_${state}`;

/** Size of a state's element block, and the row-major offset of idx in it (indices clamped into range: a where() branch not chosen may point outside). */
export function stateBlock(sp: SpecializedProgram, shape: string[], idx: PExpr[], plain: boolean[]): { size: number; flat: PExpr } {
  const sizes = shape.map((d) => sp.staticDims[d]!);
  let flat: PExpr = i(0);
  idx.forEach((x, k) => {
    const c = plain[k] ? x : clampIndex(x, i(sizes[k]!));
    flat = k === 0 ? c : add(mul(flat, i(sizes[k]!)), c);
  });
  return { size: sizes.reduce((a, b) => a * b, 1), flat };
}

// Placeholder levels: $t the step, $p / $n the state axes, $k the rank; $r… readouts (per step and p); $c… / $a… elements of a side state; $cur a scan's running value, $m… its materialised inputs.
export const R_BIT = 8;
function placeholderLevel(n: string): number | undefined {
  if (n === '$t') return T_BIT;
  if (n === '$p') return P_BIT;
  if (n === '$n') return N_BIT;
  if (n === '$k') return R_BIT;
  if (n === '$cur' || n.startsWith('$m')) return T_BIT | N_BIT;
  if (n.startsWith('$r')) return T_BIT | P_BIT;
  if (n.startsWith('$c') || n.startsWith('$a')) return N_BIT;
  return undefined;
}

export function ssdEmitter(sp: SpecializedProgram, form: SsdForm): SsdEmitter {
  const dim = dimEnv(sp.staticDims);
  const helpers = new Set<PFn>(['exp']);
  const scans = new Map(form.side.scans.map((x) => [x.state.name, x]));
  const carries = new Map(form.side.carries.map((x) => [x.state.name, x]));
  const R = form.rank?.size ?? 1;
  const RP = nextPow2(R);
  // `inWhere`: reads inside a where() branch are clamped into range (the branch may not be the chosen one).
  const build = (e: Expr, vars: Record<string, string | number>, carryInit: boolean, inWhere: boolean): PExpr => {
    const ivar = (n: string): PExpr => {
      if (sp.parallel.includes(n)) return v(rowVar(n));
      if (n === sp.scan) return v('$t');
      const ph = vars[n];
      if (ph === undefined) throw new SsdLoweringError(`internal: index ${n} has no value here`);
      return typeof ph === 'number' ? i(ph) : v(ph);
    };
    const env = { ivar, dim };
    const t = (x: Expr, w = inWhere): PExpr => build(x, vars, carryInit, w);
    switch (e.k) {
      case 'num': return f(e.v);
      case 'ival': return { k: 'cast', ty: 'f32', a: indexExpr(e.e, env) };
      case 'load': {
        if (!inWhere) return loadOf(sp.used, e.tensor, e.idx, env);
        const tensor = sp.used.find((x) => x.name === e.tensor)!;
        const idx = e.idx.map((ie, k): PExpr => {
          const x = indexExpr(ie, env);
          if (ie.k === 'ivar' && sp.indices[ie.name]?.dim === tensor.shape[k]) return x;
          return clampIndex(x, dim(tensor.shape[k]!));
        });
        return { k: 'load', buf: e.tensor, index: offsetOf(tensor, idx, env) };
      }
      case 'bin': return { k: 'bin', op: e.op, a: t(e.a), b: t(e.b) };
      case 'neg': return { k: 'neg', a: t(e.a) };
      case 'call': helpers.add(e.fn); return { k: 'call', fn: e.fn, args: e.args.map((a) => t(a)) };
      case 'local': {
        if (e.name === READOUT) return v(typeof vars[RANK] === 'number' ? `$r${vars[RANK]}` : '$r');
        if (e.name.startsWith('$')) return v(e.name); // a placeholder the caller substitutes
        throw new SsdLoweringError('internal: locals must be inlined');
      }
      case 'state': {
        const idx = e.idx.map((ie) => indexExpr(ie, env));
        const plain = e.idx.map((ie, k) => ie.k === 'ivar' && sp.indices[ie.name]?.dim === sp.state.find((s) => s.name === e.name)!.shape[k]);
        const scan = scans.get(e.name);
        if (scan) {
          const b = stateBlock(sp, scan.state.shape, idx, plain);
          return sload(scanArray(e.name), add(mul(add(sub(v('$t'), v('c0')), i(e.ver ?? 0)), i(b.size)), b.flat));
        }
        const carry = carries.get(e.name);
        if (carry && carryInit) {
          if (!sp.variant.initStates.includes(e.name)) return f(0);
          const b = stateBlock(sp, carry.state.shape, idx, plain);
          return { k: 'load', buf: carry.state.init, index: add(mul(v('row'), i(b.size)), b.flat) };
        }
        throw new SsdLoweringError(`internal: state ${e.name} is read where the analysis allows no state`);
      }
      case 'sum': {
        // Only sums over the rank axis reach here (analysis/ssd.ts): R is static, so they unroll.
        if (e.index !== RANK) throw new SsdLoweringError(`internal: sum over ${e.index} outside the readout is rejected by the analysis`);
        let acc: PExpr | undefined;
        for (let k = 0; k < R; k++) {
          const term = build(e.body, { ...vars, [RANK]: k }, carryInit, inWhere);
          acc = acc ? add(acc, term) : term;
        }
        return acc!;
      }
      case 'where': {
        const c = condExpr(e.cond, (ie) => indexExpr(ie, env));
        return { k: 'select', c, a: t(e.a, true), b: t(e.b, true) };
      }
    }
    return e satisfies never;
  };
  const template = (e: Expr, vars: Record<string, string | number>): PExpr => build(e, vars, false, false);
  const hoister = new Hoister(placeholderLevel);
  const rowScope: Scope = newScope(0, undefined);
  const emitAll = (tmpls: [PExpr, Ty][], level: number, subst: Record<string, PExpr>): { decls: PStmt[]; values: PExpr[] } => {
    const scope = newScope(level, rowScope, '', new Map(Object.entries(subst)));
    const values = tmpls.map(([t, ty]) => hoister.emit(t, scope, ty));
    return { decls: scope.decls, values };
  };
  const uv = { [form.pVar]: '$p', [RANK]: '$k' }, wv = { [form.nVar]: '$n', [RANK]: '$k' };
  return {
    sp, form, dim, helpers, rowScope, template, emitAll, R, RP,
    stepOf: (row) => (RP === 1 ? row : idiv(row, RP)),
    rankOf: (row) => (RP === 1 ? i(0) : imod(row, RP)),
    L: dim(sp.indices[sp.scan]!.dim),
    P: sp.staticDims[form.pDim]!,
    N: sp.staticDims[form.nDim]!,
    ld: template(form.logDecay, {}),
    sc: template(form.scale, {}),
    u: template(form.u, uv),
    w: template(form.w, wv),
    c: template(form.c, { [form.cVar]: '$n', [RANK]: '$k' }),
    ...(form.prev ? { prev: { s1: template(form.prev.scale, {}), u0: build(form.prev.u, uv, true, false), w0: build(form.prev.w, wv, true, false) } } : {}),
  };
}

/** Step `j` of the chunk starting at `c0`, and whether it is inside the sequence. */
const tj = (j: PExpr): PExpr => add(v('c0'), j);
const inSeq = (em: SsdEmitter, j: PExpr): PExpr => lt(tj(j), em.L);

/** A row of the chunk's matrices is a step inside the sequence and a rank below R (padding rows stay zero). */
function rowInSeq(em: SsdEmitter, row: PExpr): PExpr {
  const step = inSeq(em, em.stepOf(row));
  return em.RP === em.R ? step : and(step, lt(em.rankOf(row), i(em.R)));
}

/**
 * Per-step log-decays into cs0 and step factors into sc (zero past the
 * sequence: such steps decay by exp(0)); with a previous-step term also
 * sp1[j] = s1 of step j + 1 (what step j's input gets again one step later),
 * zero where step j + 1 is past the sequence or the chunk.
 */
export function loadStepFactors(em: SsdEmitter, Q: number, T: number): PStmt {
  const step = em.emitAll([[em.ld, 'f32'], [em.sc, 'f32']], T_BIT, { $t: tj(v('sj')) });
  const next: PStmt[] = [];
  if (em.prev) {
    const n = em.emitAll([[em.prev.s1, 'f32']], T_BIT, { $t: add(tj(v('sj')), i(1)) });
    // The chunk's last step hands its second share to the next chunk's fold (lower/ssd-side.ts): zero here.
    const inChunk = and(lt(v('sj'), i(Q - 1)), lt(add(tj(v('sj')), i(1)), em.L));
    next.push(decl('sp1v', 'f32', f(0), true), when(inChunk, [...n.decls, assign('sp1v', n.values[0]!)]), sstore('sp1', v('sj'), v('sp1v')));
  }
  return loop('sj', TID, i(Q), i(T), [
    decl('sld', 'f32', f(0), true),
    decl('ssc', 'f32', f(0), true),
    when(inSeq(em, v('sj')), [...step.decls, assign('sld', step.values[0]!), assign('ssc', step.values[1]!)]),
    sstore('cs0', v('sj'), v('sld')),
    sstore('sc', v('sj'), v('ssc')),
    ...next,
  ]);
}

/**
 * How many consecutive columns one thread loads per pass over a chunk tile
 * of `width` columns along an axis of static length `axisLen`: the widest
 * vector (16 bytes of the narrowest tensor read, 8 elements of bf16) that
 * divides the tile width and the axis' static length, so a group never
 * straddles the axis end and its global address is a multiple of its width
 * (the item is the tensor's last, contiguous index: see loadRows).
 */
export function loadVector(em: SsdEmitter, axisLen: number, width: number): number {
  const bytes = Math.min(...em.sp.used.map((t) => (t.dtype === 'f32' ? 4 : 2)));
  // With a previous-step term (Mamba-3) the kernel holds more per thread: 8-byte vectors keep it
  // from spilling (mamba3_siso bf16 t256 q64 spilled 20 bytes at 128 registers with 16-byte ones).
  let V = (em.prev ? 8 : 16) / bytes;
  while (V > 1 && (width % V !== 0 || axisLen % V !== 0)) V /= 2;
  return V;
}

/**
 * Stores of `values` (consecutive columns) at arr[at + j]: for an array of
 * narrow operands (2-byte elements, 16-byte aligned: render/cuda.ts) one
 * 8/16-byte access where the row stride keeps `at` a multiple of the count
 * (svstore, pairs packed), element stores otherwise.
 */
function storeRun(arr: string, at: PExpr, values: PExpr[], stride: number, bytes: number): PStmt[] {
  const V = values.length;
  if (bytes === 2 && stride % V === 0 && (V === 4 || V === 8)) return [{ k: 'svstore', arr, index: at, values }];
  return values.map((x, j) => sstore(arr, j === 0 ? at : add(at, i(j)), x));
}

/** Where a chunk tile's load pass puts its rows, and for which chunk. */
export interface TilePass {
  /** First step of the chunk loaded (default: the current chunk, c0). */
  chunk?: PExpr;
  /** Element offset of the tile in its workgroup array (one of a double buffer's halves; default 0). */
  offset?: PExpr;
  /**
   * Copy raw with asynchronous copies (plan acopy) into an array of this
   * narrow type, where every template is a plain load of a tensor of that
   * type (asyncCopyable); the caller waits for them. Else loads and stores.
   */
  async?: 'bf16' | 'f16';
}

/**
 * Whether a template is a plain load whose index ends in `+ col` (the
 * column as the tensor's last index, nowhere else) of a `dtype` tensor
 * whose last dim V divides: then V consecutive columns from a multiple of V
 * are V consecutive, V-aligned elements, which an asynchronous copy can
 * move as they are.
 */
export function asyncCopyable(em: SsdEmitter, tmpl: PExpr, colKey: string, dtype: 'bf16' | 'f16', V: number): boolean {
  if (tmpl.k !== 'load' || tmpl.index.k !== 'bin' || tmpl.index.op !== '+') return false;
  const { a, b } = tmpl.index;
  if (b.k !== 'var' || b.name !== colKey || exprVars(a).has(colKey)) return false;
  // (An output's store index passes the same test as a load of it: lower/ssd-wgmma.ts stores 16 bytes at a time so.)
  const t = [...em.sp.used, ...em.sp.written].find((x) => x.name === tmpl.buf);
  const last = t ? em.sp.staticDims[t.shape[t.shape.length - 1]!] : undefined;
  return t?.dtype === dtype && last !== undefined && last % V === 0 && 2 * V >= 8 && 2 * V <= 16;
}

/**
 * One load pass over a chunk tile: rows of the chunk's matrices × `width`
 * columns from `start`, `V` consecutive columns per thread and pass (the
 * absolute column variables `${tag}c0`… are what the templates see as
 * `colKey`). The templates' loads of consecutive columns become one vector
 * load (lower/vectorize-loads.ts), or one asynchronous copy (pass.async):
 * the column is the loaded tensors' last index, of a static length that V
 * divides (loadVector), and `start` is a multiple of V, so the group's
 * first address is a multiple of V. Zero past the sequence (and ranks ≥ R)
 * and from column `limit` on.
 */
function loadRows(em: SsdEmitter, Q: number, T: number, width: number, V: number, start: PExpr, limit: PExpr, tag: string,
  level: number, colKey: '$p' | '$n', dsts: { tmpl: PExpr; arr: string; stride: number; bytes: number }[], pass: TilePass = {}): PStmt {
  const e = `${tag}e`, row = `${tag}j`, c = `${tag}c`;
  const groups = width / V;
  const zero = start.k === 'lit' && start.v === 0;
  const c0 = pass.chunk ?? v('c0');
  const step = add(c0, em.stepOf(v(row)));
  const cols = Array.from({ length: V }, (_, k) => `${c}${k}`);
  const first = zero ? v(c) : add(start, v(c));
  const inRows = and(em.RP === em.R ? lt(step, em.L) : and(lt(step, em.L), lt(em.rankOf(v(row)), i(em.R))), lt(v(cols[0]!), limit));
  const at = (stride: number): PExpr => {
    const x = add(mul(v(row), i(stride)), v(c));
    return pass.offset ? add(pass.offset, x) : x;
  };
  const head = [decl(row, 'i32', idiv(v(e), groups)), decl(c, 'i32', mul(imod(v(e), groups), i(V))), decl(cols[0]!, 'i32', first)];
  const subst = { $t: step, [colKey]: v(cols[0]!), $k: em.rankOf(v(row)) };
  if (pass.async && dsts.every((d) => asyncCopyable(em, d.tmpl, colKey, pass.async!, V))) {
    const r = em.emitAll(dsts.map((d) => [(d.tmpl as Extract<PExpr, { k: 'load' }>).index, 'i32']), level, subst);
    const copies: PStmt[] = dsts.map((d, k) => ({ k: 'acopy', arr: d.arr, index: at(d.stride), buf: (d.tmpl as Extract<PExpr, { k: 'load' }>).buf, src: r.values[k]!, count: V, valid: v(`${tag}ok`) }));
    return loop(e, TID, i(Q * em.RP * groups), i(T), [...head, decl(`${tag}ok`, 'bool', inRows), ...r.decls, ...copies]);
  }
  const decls: PStmt[] = [];
  const vals: PExpr[][] = dsts.map(() => []);
  cols.forEach((cv) => {
    const r = em.emitAll(dsts.map((d) => [d.tmpl, 'f32']), level, { ...subst, [colKey]: v(cv) });
    decls.push(...r.decls);
    r.values.forEach((x, k) => vals[k]!.push(x));
  });
  const regs = dsts.map((_, k) => cols.map((_, j) => `${tag}v${k}_${j}`));
  const aligned: AlignedLoads = { eligible: () => true, widths: new Map() };
  const loads = V > 1 ? vectorizeItemLoads(decls, cols, V, (buf) => elemBytesOf(em.sp, buf), aligned) : decls;
  // Column variables a vector load absorbed are not declared (nvcc warns of unused ones).
  const used = stmtVars(loads);
  return loop(e, TID, i(Q * em.RP * groups), i(T), [
    ...head,
    ...cols.slice(1).flatMap((cv, k) => (used.has(cv) ? [decl(cv, 'i32', add(first, i(k + 1)))] : [])),
    ...regs.flat().map((r) => decl(r, 'f32', f(0), true)),
    when(inRows, [...loads, ...regs.flatMap((rs, k) => rs.map((r, j) => assign(r, vals[k]![j]!)))]),
    ...dsts.flatMap((d, k) => storeRun(d.arr, at(d.stride), regs[k]!.map((r) => v(r)), d.stride, d.bytes)),
  ]);
}

/** Bytes per element of a workgroup array of operands (narrow where the target stores them so). */
const opElemBytes = (narrow: boolean): number => (narrow ? 2 : 4);

/**
 * The per-step factors with their loads one chunk ahead (no previous-step
 * term, Q ≤ T: thread j owns step j). The loads of chunk c + 1 go into
 * registers carried across the chunk walk (sfp0, sfp1, …) while chunk c
 * computes, so the walk no longer waits for memory at each chunk's start:
 *   carries   declared before the walk;
 *   prologue  the first chunk's loads, before the walk;
 *   compute   at a chunk's start: ld and s from the carried values into cs0 and sc;
 *   issue     right after: the next chunk's loads into the carries.
 */
export function prefetchedStepFactors(em: SsdEmitter, Q: number, T: number): { carries: PStmt[]; prologue: PStmt[]; compute: PStmt; issue: PStmt } | undefined {
  if (em.prev || Q > T) return undefined;
  const at = (start: PExpr) => em.emitAll([[em.ld, 'f32'], [em.sc, 'f32']], T_BIT, { $t: add(start, TID) });
  const loadsOf = (decls: PStmt[]): Extract<PStmt, { k: 'decl' }>[] => decls.filter((d): d is Extract<PStmt, { k: 'decl' }> => d.k === 'decl' && d.init.k === 'load');
  const cur = at(v('c0'));
  const loads = loadsOf(cur.decls);
  if (!loads.length) return undefined;
  const carry = (k: number): string => `sfp${k}`;
  const fetch = (start: PExpr): PStmt => {
    const r = at(start);
    const ls = loadsOf(r.decls);
    if (ls.length !== loads.length) throw new SsdLoweringError('internal: the step factors emit different loads per chunk');
    return when(and(lt(TID, i(Q)), lt(add(start, TID), em.L)), [...r.decls, ...ls.map((d, k) => assign(carry(k), v(d.name)))]);
  };
  // The current chunk's values: its loads read the carries instead.
  const computed = cur.decls.map((d) => (d.k === 'decl' && d.init.k === 'load' ? decl(d.name, 'f32', v(carry(loads.indexOf(d)))) : d));
  return {
    carries: loads.map((_, k) => decl(carry(k), 'f32', f(0), true)),
    prologue: [fetch(i(0))],
    compute: when(lt(TID, i(Q)), [
      decl('sld', 'f32', f(0), true),
      decl('ssc', 'f32', f(0), true),
      when(inSeq(em, TID), [...computed, assign('sld', cur.values[0]!), assign('ssc', cur.values[1]!)]),
      sstore('cs0', TID, v('sld')),
      sstore('sc', TID, v('ssc')),
    ]),
    issue: fetch(add(v('c0'), i(Q))),
  };
}

/** X = u, the p factor of the input term, unscaled, for the chunk (Q·R × PtPad, stride sx); zero past the sequence and P tile. */
export function loadX(em: SsdEmitter, Q: number, T: number, Pt: number, PtPad: number, sx: number, narrow = false, pass: TilePass = {}): PStmt {
  // Columns past Pt (padding to a power of two) load as zero; V divides Pt and P, so a group is all in or all out.
  const V = loadVector(em, em.P, Pt);
  return loadRows(em, Q, T, PtPad, V, v('p0'), add(v('p0'), i(Pt)), 'x', T_BIT | P_BIT | R_BIT, '$p', [{ tmpl: em.u, arr: 'Xs', stride: sx, bytes: opElemBytes(narrow) }], pass);
}

/** C (into Ct, stride sc) and/or W (into Wt, stride sw) of the chunk (Q·R rows) for N elements n0 .. n0 + Nt; zero past the sequence and N. */
export function loadCW(em: SsdEmitter, n0: PExpr, Q: number, T: number, Nt: number, strides: { C?: number; W?: number }, narrow = false, pass: { C?: TilePass; W?: TilePass } = {}): PStmt[] {
  // n0 is a multiple of Nt, and V divides Nt and N: a group is all inside N or all past it.
  const V = loadVector(em, em.N, Nt);
  const one = (tmpl: PExpr, arr: string, stride: number, tag: string, p: TilePass = {}): PStmt =>
    loadRows(em, Q, T, Nt, V, n0, i(em.N), tag, T_BIT | N_BIT | R_BIT, '$n', [{ tmpl, arr, stride, bytes: opElemBytes(narrow) }], p);
  // Both in one pass (one set of row and column variables) unless they go to different buffers.
  if (strides.C !== undefined && strides.W !== undefined && !pass.C && !pass.W) {
    return [loadRows(em, Q, T, Nt, V, n0, i(em.N), 'b', T_BIT | N_BIT | R_BIT, '$n', [
      { tmpl: em.c, arr: 'Ct', stride: strides.C, bytes: opElemBytes(narrow) }, { tmpl: em.w, arr: 'Wt', stride: strides.W, bytes: opElemBytes(narrow) }])];
  }
  return [
    ...(strides.C !== undefined ? [one(em.c, 'Ct', strides.C, 'bc', pass.C)] : []),
    ...(strides.W !== undefined ? [one(em.w, 'Wt', strides.W, 'bw', pass.W)] : []),
  ];
}

/**
 * Inclusive cumulative sum of cs0, and the array holding it. Where the chunk
 * fits the workgroup (Q ≤ T), one pass: thread j sums cs0[0..j] itself, in
 * order, into cs1 — one barrier instead of log2 Q rounds of Hillis–Steele
 * with a barrier each (cs0 ping-ponged with cs1). With `em` that pass also
 * writes each step's state weight (stateWeight) into wq, from its own sums:
 * the chunk's total, summed in the same order, is cs1[Q − 1] bit for bit.
 */
export function cumulativeSum(Q: number, T: number, em?: SsdEmitter, lanes?: number): { stmts: PStmt[]; arr: string; weights?: string } {
  if (lanes && Q <= lanes && lanes <= T && (!em || !em.prev)) return subgroupCumulativeSum(Q, lanes, em);
  if (Q <= T) {
    const hv = sload('cs0', v('hk'));
    const body: PStmt[] = [
      decl('hs', 'f32', f(0), true),
      decl('ht', 'f32', f(0), true),
      loop('hk', i(0), i(Q), i(1), [assign('ht', add(v('ht'), hv)), when(le(v('hk'), v('hj')), [assign('hs', add(v('hs'), hv))])]),
      sstore('cs1', v('hj'), v('hs')),
    ];
    if (em) {
      // Step j + 1's cumulative value for the previous-step share (the last step's share is zero: sp1).
      const next: PExpr = { k: 'select', c: lt(add(v('hj'), i(1)), i(Q)), a: add(v('hs'), sload('cs0', imin(add(v('hj'), i(1)), Q - 1))), b: v('hs') };
      const w = scanWeight(v('hj'), v('ht'), v('hs'));
      body.push(sstore('wq', v('hj'), em.prev ? add(w, mul(sload('sp1', v('hj')), call('exp', sub(v('ht'), next)))) : w));
    }
    return { stmts: [loop('hj', TID, i(Q), i(T), body), barrier], arr: 'cs1', ...(em ? { weights: 'wq' } : {}) };
  }
  const stmts: PStmt[] = [];
  let arr = 'cs0';
  for (let off = 1; off < Q; off *= 2) {
    const src = arr, dst = arr === 'cs0' ? 'cs1' : 'cs0';
    const q = `hs${off}`;
    stmts.push(loop(`${q}j`, TID, i(Q), i(T), [
      decl(q, 'f32', sload(src, v(`${q}j`)), true),
      // A guarded workgroup-memory read is an if, not a select (llvmpipe miscompiles the latter across barriers).
      when(ge(v(`${q}j`), i(off)), [assign(q, add(v(q), sload(src, sub(v(`${q}j`), i(off)))))]),
      sstore(dst, v(`${q}j`), v(q)),
    ]), barrier);
    arr = dst;
  }
  return { stmts, arr };
}

/** Step j's state weight from the scan's own sums: s_j·exp(total − prefix_j) (stateWeight without a previous-step term). */
const scanWeight = (j: PExpr, total: PExpr, prefix: PExpr): PExpr => mul(sload('sc', j), call('exp', sub(total, prefix)));

/**
 * cumulativeSum where the target's subgroups hold `lanes` ≥ Q invocations
 * (CUDA warps; WGSL subgroups of a fixed size): the scan in the first
 * subgroup's registers, log2 Q shuffles up (every subgroup of the workgroup
 * runs them, so control stays uniform; the others' values are unused), the
 * total taken from lane Q − 1 (so it is cs1[Q − 1] bit for bit, as the
 * weights need), one barrier. Consecutive invocations form a subgroup (as
 * render/wgsl.ts's lanes assume). Not with a previous-step term, whose
 * weights read the next step's sum.
 */
function subgroupCumulativeSum(Q: number, lanes: number, em?: SsdEmitter): { stmts: PStmt[]; arr: string; weights?: string } {
  const lane: PExpr = { k: 'builtin', b: 'lane' };
  const stmts: PStmt[] = [decl('hs', 'f32', f(0), true), when(lt(lane, i(Q)), [assign('hs', sload('cs0', lane))])];
  for (let off = 1; off < Q; off *= 2) {
    const up: PExpr = { k: 'shuffle', mode: 'up', a: v('hs'), b: i(off) };
    stmts.push(decl(`hu${off}`, 'f32', up), assign('hs', { k: 'select', c: ge(lane, i(off)), a: add(v('hs'), v(`hu${off}`)), b: v('hs') }));
  }
  const store: PStmt[] = [sstore('cs1', TID, v('hs'))];
  if (em) {
    stmts.push(decl('ht', 'f32', { k: 'shuffle', mode: 'lane', a: v('hs'), b: i(Q - 1), width: lanes }));
    store.push(sstore('wq', TID, scanWeight(TID, v('ht'), v('hs'))));
  }
  return { stmts: [...stmts, when(lt(TID, i(Q)), store), barrier], arr: 'cs1', ...(em ? { weights: 'wq' } : {}) };
}

/**
 * W rows (Q·R × Nt, stride sw) scaled by what step j's input weighs in the
 * state at the chunk's end, s_j·exp(cs_last − cs_j) (plus, with a
 * previous-step term, s1_{j+1}·exp(cs_last − cs_{j+1}) for j before the
 * last step; the last step's second share goes to the next chunk's fold):
 * the state update's input term is then Xᵀ·W.
 */
export function scaleWForState(em: SsdEmitter, Q: number, T: number, Nt: number, sw: number, cs: (j: PExpr) => PExpr): PStmt {
  return scaleRows(em, 'Wt', 'Wt', Q, T, Nt, sw, cs, 'd');
}

/**
 * X' = X with rows scaled by the same weights (Xw, stride sx), once per
 * chunk: the fused form's state update is then X'ᵀ·W with W as loaded, and
 * the Q·Pt scalings replace Q·N of them, with one barrier less per N tile.
 */
export function scaleXForState(em: SsdEmitter, Q: number, T: number, PtPad: number, sx: number, cs: (j: PExpr) => PExpr, srcOffset: PExpr = i(0), weights?: string, V = 1): PStmt {
  return scaleRows(em, 'Xs', 'Xw', Q, T, PtPad, sx, cs, 'q', srcOffset, weights, V);
}

/** What step j's input weighs in the state at the chunk's end (see scaleWForState). */
function stateWeight(em: SsdEmitter, Q: number, j: PExpr, cs: (j: PExpr) => PExpr): PExpr {
  const weight: PExpr = mul(sload('sc', j), call('exp', sub(v('csLast'), cs(j))));
  // sp1 is zero at the chunk's last step, where the clamped cs index makes the factor exp(0).
  return em.prev ? add(weight, mul(sload('sp1', j), call('exp', sub(v('csLast'), cs(imin(add(j, i(1)), Q - 1)))))) : weight;
}

/** dst[row][c] = src[row][c] · stateWeight(step of row) for the chunk's Q·R rows × `width` columns (stride `stride`). */
function scaleRows(em: SsdEmitter, src: string, dst: string, Q: number, T: number, width: number, stride: number, cs: (j: PExpr) => PExpr, tag: string, srcOffset: PExpr = i(0), weights?: string, V = 1): PStmt {
  const e = `${tag}e`, row = `${tag}row`, j = `${tag}j`, at = `${tag}w`;
  const from = (x: PExpr): PExpr => (srcOffset.k === 'lit' && srcOffset.v === 0 ? x : add(srcOffset, x));
  if (V > 1 && weights && width % V === 0 && stride % V === 0) {
    // V consecutive columns per thread: one 16-byte read, one weight, one 16-byte write.
    const groups = width / V, names = Array.from({ length: V }, (_, k) => `${tag}x${k}`);
    return loop(e, TID, i(Q * em.RP * groups), i(T), [
      decl(row, 'i32', idiv(v(e), groups)),
      decl(at, 'i32', add(mul(v(row), i(stride)), mul(imod(v(e), groups), i(V)))),
      decl(`${tag}q`, 'f32', sload(weights, em.stepOf(v(row)))),
      { k: 'svload', arr: src, index: from(v(at)), names },
      { k: 'svstore', arr: dst, index: v(at), values: names.map((n) => mul(v(n), v(`${tag}q`))) },
    ]);
  }
  return loop(e, TID, i(Q * em.RP * width), i(T), [
    decl(row, 'i32', idiv(v(e), width)),
    decl(j, 'i32', em.stepOf(v(row))),
    decl(at, 'i32', add(mul(v(row), i(stride)), imod(v(e), width))),
    // The weights the cumulative sum's pass computed once per step (cumulativeSum), else per element.
    sstore(dst, v(at), mul(sload(src, from(v(at))), weights ? sload(weights, v(j)) : stateWeight(em, Q, v(j), cs))),
  ]);
}

const imin = (a: PExpr, b: number): PExpr => ({ k: 'imin', a, b: i(b) });

/**
 * The causal decay mask into Ms (stride sm), over rows and columns (step,
 * rank): M = G ∘ [j ≤ i]·exp(cs_i − cs_j)·s_j for steps i, j; with a
 * previous-step term plus [j < i]·exp(cs_i − cs_{j+1})·s1_{j+1} (step j's
 * input as step j + 1's previous-step input).
 */
export function decayMask(em: SsdEmitter, G: Fragment, sm: number, cs: (j: PExpr) => PExpr, pairs = false): PStmt[] {
  const mask: PStmt[] = [];
  for (const [k, e] of fragElements(G).entries()) {
    const m = `gm${k}`;
    const si = em.stepOf(e.row), sj = em.stepOf(e.col);
    const later: PStmt[] = em.prev
      ? [when(lt(sj, si), [assign(m, add(v(m), mul(mul(v(e.reg), call('exp', sub(cs(si), cs(add(sj, i(1)))))), sload('sp1', sj))))])]
      : [];
    mask.push(
      decl(m, 'f32', f(0), true),
      when(le(sj, si), [assign(m, mul(mul(v(e.reg), call('exp', sub(cs(si), cs(sj)))), sload('sc', sj))), ...later]),
    );
  }
  // Narrow Ms: a tensor-core fragment's adjacent columns as one packed store.
  return [...mask, ...storeFragment(G, 'Ms', (e) => add(mul(e.row, i(sm)), e.col), (_, k) => v(`gm${k}`), pairs && sm % 2 === 0)];
}

/**
 * Every output's templates (placeholders $t, $p, the readouts $r / $r0…, and
 * the staged loads as $rst0, $rst1…): the tensor it writes, its element
 * index, and the value.
 */
export function outputTemplates(em: SsdEmitter, staged: StagedLoad[] = []): { buf: string; index: PExpr; value: PExpr }[] {
  const { sp, form, dim } = em;
  return form.stores.map((s) => {
    const env = { ivar: (n: string): PExpr => (sp.parallel.includes(n) ? v(rowVar(n)) : n === sp.scan ? v('$t') : n === s.pVar ? v('$p') : noValue(n)), dim };
    // Staged loads read their tile: placeholders named like readouts ($r…: they vary with the step and p).
    return { buf: s.tensor.name, index: offsetOf(s.tensor, s.idx.map((ie) => indexExpr(ie, env)), env), value: replaceStaged(em.template(s.expr, { [s.pVar]: '$p' }), staged) };
  });
}

/** The placeholder a staged load is replaced by in the output templates. */
export const stagedKey = (k: number): string => `$rst${k}`;

/** Stores of every output at step t = c0 + j and p = p0 + pl, the readouts given (one per rank) as $r / $r0… substitutions. */
function storesAt(em: SsdEmitter, t: PExpr, p: PExpr, readouts: Record<string, PExpr>, staged: StagedLoad[] = []): PStmt[] {
  return outputTemplates(em, staged).flatMap((o): PStmt[] => {
    const r = em.emitAll([[o.index, 'i32'], [o.value, 'f32']], T_BIT | P_BIT, { $t: t, $p: p, ...readouts });
    return [...r.decls, { k: 'store', buf: o.buf, index: r.values[0]!, value: r.values[1]! }];
  });
}

/**
 * A load the outputs read per (step, p) that comes in with the chunk's
 * asynchronous copies: its template (a plain load, asyncCopyable along $p)
 * and the workgroup array holding the chunk's rows of it (X's layout and
 * stride: Xs itself when it is u's load).
 */
export interface StagedLoad { tmpl: Extract<PExpr, { k: 'load' }>; arr: string }

function replaceStaged(x: PExpr, staged: StagedLoad[]): PExpr {
  if (x.k === 'load') {
    const k = staged.findIndex((st) => JSON.stringify(st.tmpl) === JSON.stringify(x));
    if (k >= 0) return v(stagedKey(k));
  }
  return mapExprChildren(x, (c) => replaceStaged(c, staged));
}

/**
 * The loads of the output templates that can be staged (distinct plain
 * loads of `ty` tensors along $p that vary with the step, V-aligned:
 * asyncCopyable), each with its
 * array: u's own load is in Xs already; the others get Os0, Os1, ….
 */
export function stageableOutputLoads(em: SsdEmitter, ty: 'bf16' | 'f16', V: number): StagedLoad[] {
  const out: StagedLoad[] = [];
  const visit = (x: PExpr): void => {
    // Only loads that vary with the step: one that does not (D_hp[h][p]) is the same for every row of the tile.
    const perStep = x.k === 'load' && exprVars(x.index).has('$t');
    if (x.k === 'load' && perStep && asyncCopyable(em, x, '$p', ty, V) && !out.some((st) => JSON.stringify(st.tmpl) === JSON.stringify(x))) {
      const isU = JSON.stringify(x) === JSON.stringify(em.u);
      out.push({ tmpl: x, arr: isU ? 'Xs' : `Os${out.filter((st) => st.arr !== 'Xs').length}` });
    }
    exprChildren(x).forEach(visit);
  };
  for (const s of em.form.stores) visit(em.template(s.expr, { [s.pVar]: '$p' }));
  return out;
}

/** The copies of the staged loads' rows (those not in Xs) for one chunk tile pass. */
export function loadStaged(em: SsdEmitter, staged: StagedLoad[], Q: number, T: number, Pt: number, PtPad: number, sx: number, pass: TilePass): PStmt[] {
  const V = loadVector(em, em.P, Pt);
  return staged.filter((st) => st.arr !== 'Xs').map((st, k) =>
    loadRows(em, Q, T, PtPad, V, v('p0'), add(v('p0'), i(Pt)), `o${k}`, T_BIT | P_BIT | R_BIT, '$p', [{ tmpl: st.tmpl, arr: st.arr, stride: sx, bytes: 2 }], pass));
}

/**
 * Outputs per (step, p) from the readout Y (Q·R × PtPad). Rank 1 with
 * V = 1: each element by its owner, straight from registers. Otherwise Y
 * goes through workgroup memory (Ys, stride sy) first: an output sums the
 * R readouts of its step, held by different threads; and with V > 1 a
 * thread then stores V consecutive p of one step, so the tensors the
 * outputs read (z, x) and write (y) move in 8/16-byte accesses that a warp
 * coalesces (from registers, a warp touches 8 rows × 8 p, two bytes each:
 * 44% of the sectors were excess, Nsight Compute run 64). `afterBarrier`
 * (staged only) goes right after the barrier that follows the staging.
 */
export function storeOutputs(em: SsdEmitter, Y: Fragment, Pt: number, Q: number, T: number, sy: number, V = 1, staged?: { loads: StagedLoad[]; stride: number; offset: (arr: string) => PExpr }, afterBarrier: PStmt[] = []): PStmt[] {
  const out: PStmt[] = [];
  if (em.R === 1 && V === 1) {
    if (afterBarrier.length) throw new SsdLoweringError('internal: unstaged outputs have no barrier to follow');
    for (const e of fragElements(Y)) {
      const t = tj(e.row), p = add(v('p0'), e.col);
      const valid = and(lt(t, em.L), lt(e.col, i(Pt)));
      out.push(when(e.owned ? and(e.owned, valid) : valid, storesAt(em, t, p, { $r: v(e.reg) })));
    }
    return out;
  }
  // A tensor-core fragment's adjacent columns as one 8-byte store (sy even).
  out.push(...storeFragment(Y, 'Ys', (e) => add(mul(e.row, i(sy)), e.col), (e) => v(e.reg), sy % 2 === 0));
  // `afterBarrier`: what the caller starts once every thread is past everything before the outputs.
  out.push(barrier, ...afterBarrier);
  const groups = Pt / V;
  const items = Array.from({ length: V }, (_, k) => `op${k}`);
  const rowAt = (r: number): PExpr => add(mul(add(mul(v('oj'), i(em.RP)), i(r)), i(sy)), v('oc'));
  // A thread's V readouts of a row in 16-byte reads where rows are 16-byte aligned (sy, oc multiples of 4).
  const wide = V % 4 === 0 && sy % 4 === 0;
  const yReads: PStmt[] = wide
    ? Array.from({ length: em.R }, (_, r) => Array.from({ length: V / 4 }, (_, g): PStmt => ({ k: 'svload', arr: 'Ys', index: add(rowAt(r), i(4 * g)), names: [0, 1, 2, 3].map((j) => `ys${r}_${4 * g + j}`) }))).flat()
    : [];
  const readout = (r: number, k: number): PExpr => (wide ? v(`ys${r}_${k}`) : sload('Ys', add(rowAt(r), i(k))));
  const readouts = (k: number): Record<string, PExpr> => (em.R === 1 ? { $r: readout(0, k) } : Object.fromEntries(Array.from({ length: em.R }, (_, r) => [`$r${r}`, readout(r, k)])));
  // A staged load of item k: its tile's element (row oj, column oc + k) in the current buffer; where
  // the tile's rows are 16-byte aligned (stride a multiple of 8 narrow elements), V of them in one read.
  const tileRow = (arr: string): PExpr => add(staged!.offset(arr), add(mul(v('oj'), i(staged!.stride)), v('oc')));
  const wideTiles = staged !== undefined && V >= 4 && staged.stride % V === 0;
  const tileReads: PStmt[] = wideTiles ? staged!.loads.map((st, n): PStmt => ({ k: 'svload', arr: st.arr, index: tileRow(st.arr), names: items.map((_, k) => `stg${n}_${k}`) })) : [];
  const tileAt = (arr: string, n: number, k: number): PExpr => (wideTiles ? v(`stg${n}_${k}`) : sload(arr, add(tileRow(arr), i(k))));
  const stagedAt = (k: number): Record<string, PExpr> => Object.fromEntries((staged?.loads ?? []).map((st, n) => [stagedKey(n), tileAt(st.arr, n, k)]));
  let body = items.flatMap((op, k) => storesAt(em, tj(v('oj')), v(op), { ...readouts(k), ...stagedAt(k) }, staged?.loads));
  if (V > 1) {
    // p is the last index of every tensor read or written here, of a static length V divides, and oc a multiple of V: aligned.
    const elemBytes = (buf: string): number => elemBytesOf(em.sp, buf);
    const aligned: AlignedLoads = { eligible: () => true, widths: new Map() };
    body = vectorizeItemStores(vectorizeItemLoads(body, items, V, elemBytes, aligned), items, V, elemBytes, aligned);
  }
  const used = JSON.stringify(body);
  out.push(loop('oe', TID, i(Q * groups), i(T), [
    decl('oj', 'i32', idiv(v('oe'), groups)),
    decl('oc', 'i32', mul(imod(v('oe'), groups), i(V))),
    ...items.flatMap((op, k) => (k === 0 || used.includes(`"name":"${op}"`) ? [decl(op, 'i32', add(add(v('p0'), v('oc')), i(k)))] : [])),
    when(lt(tj(v('oj')), em.L), [...yReads, ...tileReads, ...body]),
  ]));
  return out;
}

/** Rows of the parallel axes: their dims and how many there are. */
export function rowsOf(em: SsdEmitter): { dims: string[]; count: PExpr } {
  const dims = em.sp.parallel.map((x) => em.sp.indices[x]!.dim);
  return { dims, count: dims.map(em.dim).reduce((a, b) => mul(a, b), i(1)) };
}

/** The parallel axes' index variables of the row in the i32 variable `row`. */
export function decomposeRow(em: SsdEmitter): PStmt[] {
  const { sp } = em;
  const rowDims = rowsOf(em).dims;
  const out: PStmt[] = [decl('rem0', 'i32', v('row'))];
  for (let k = sp.parallel.length - 1; k >= 0; k--) {
    const d = em.dim(rowDims[k]!);
    const r = `rem${sp.parallel.length - 1 - k}`;
    out.push(decl(rowVar(sp.parallel[k]!), 'i32', imod(v(r), d)));
    if (k > 0) out.push(decl(`rem${sp.parallel.length - k}`, 'i32', idiv(v(r), d)));
  }
  return out;
}

/** Offset of state element (p, n) of the row `row` in `${S}_init` / `${S}_final` (parallel dims..., state dims...). */
export function stateOffset(em: SsdEmitter, row: PExpr, p: PExpr, n: PExpr): PExpr {
  const st = em.form.state;
  const D0 = em.dim(st.shape[0]!), D1 = em.dim(st.shape[1]!);
  const [a, b] = em.form.pAxis === 0 ? [p, n] : [n, p];
  return add(mul(add(mul(row, D0), a), D1), b);
}


function noValue(n: string): never {
  throw new SsdLoweringError(`internal: index ${n} has no value in a store`);
}

/**
 * The workgroup arrays of the per-chunk steps: the cumulative sums and step
 * factors always (sp1 with a previous-step term), and of the tiles X, C, W,
 * S (or Sop, the state as an operand only) and M those a kernel uses. Matrix-unit operands may be stored narrow
 * (caps.narrowOperands); the state tile stays f32.
 */
export function chunkArrays(tl: ChunkTileBase, caps: Pick<SsdCaps, 'narrowOperands'>, tiles: ReadonlyArray<'X' | 'Xw' | 'C' | 'W' | 'S' | 'Sop' | 'M'>, prev = false, doubled: ReadonlyArray<'X' | 'C' | 'W'> = []): SharedArray[] {
  const narrow = caps.narrowOperands ? { narrow: caps.narrowOperands } : {};
  const { Q, QR, PtPad, strides: ST } = tl;
  const all: [tile: 'X' | 'Xw' | 'C' | 'W' | 'S' | 'Sop' | 'M', array: SharedArray][] = [
    // The state as an operand only (its value lives in registers: lower/ssd.ts), narrow like the others.
    ['Sop', { name: 'Ss', ty: 'f32', size: PtPad * ST.S, ...narrow }],
    ['X', { name: 'Xs', ty: 'f32', size: QR * ST.X, ...narrow }],
    ['Xw', { name: 'Xw', ty: 'f32', size: QR * ST.X, ...narrow }],
    ['C', { name: 'Ct', ty: 'f32', size: QR * ST.C, ...narrow }],
    ['W', { name: 'Wt', ty: 'f32', size: QR * ST.W, ...narrow }],
    ['S', { name: 'Ss', ty: 'f32', size: PtPad * ST.S }],
    ['M', { name: 'Ms', ty: 'f32', size: QR * ST.M, ...narrow }],
  ];
  return [
    { name: 'cs0', ty: 'f32', size: Q },
    { name: 'cs1', ty: 'f32', size: Q },
    { name: 'sc', ty: 'f32', size: Q },
    ...(prev ? [{ name: 'sp1', ty: 'f32' as const, size: Q }] : []),
    // A double-buffered tile holds two chunks' rows, the second half after the first.
    ...all.filter(([t]) => tiles.includes(t)).map(([t, a]) => ((doubled as readonly string[]).includes(t) ? { ...a, size: 2 * a.size } : a)),
  ];
}

/** Bytes of a workgroup array of n matrix operands: 2 bytes each, 16-byte aligned, where the target stores them narrow (as render/cuda.ts carves them). */
export function operandBytes(n: number, caps: Pick<SsdCaps, 'narrowOperands'>): number {
  return caps.narrowOperands ? Math.ceil((2 * n) / 16) * 16 : 4 * n;
}

/**
 * The accumulator layouts of one (P tile, N tile) candidate: G (QR × QR),
 * Y (QR × padded P tile), QR = chunk steps × ranks and the state-update product U in passes of Nu
 * columns (at most 16 accumulators per thread), tensor-core shaped where the
 * target has matrix units. A string says why the candidate has no layout.
 */
export function chunkFragments(QR: number, T: number, Pt: number, Nt: number, N: number, matrixUnits: boolean): Pick<ChunkTileBase, 'PtPad' | 'NPad' | 'Nu' | 'frags'> | string {
  const PtPad = nextPow2(Pt), NPad = Math.ceil(N / Nt) * Nt;
  let Nu = Nt;
  while (Nu % 2 === 0 && PtPad * Nu > 16 * T && (!matrixUnits || Nu > 8)) Nu /= 2;
  const frag = (name: string, r: number, c: number) => (matrixUnits ? mmaFragment(name, r, c, T) : undefined) ?? gridFragment(name, r, c, T);
  try {
    return { PtPad, NPad, Nu, frags: { G: frag('g', QR, QR), Y: frag('yv', QR, PtPad), U: frag('su', PtPad, Nu) } };
  } catch (e) {
    if (!(e instanceof FragmentError)) throw e;
    return `Pt ${Pt}, Nt ${Nt}: ${e.message}`;
  }
}
