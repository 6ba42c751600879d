// Lowering "chunked diagonal scan": for programs whose every state update is
// h[n] = a·h[n] + b (diagonal linear) and whose outputs read the state
// through sums over n. One workgroup owns one row of the parallel axes and
// walks the scan axis in chunks of threads × items steps: each thread folds
// its consecutive items into one affine pair per state element, a workgroup
// scan of those pairs gives every thread its incoming state, and the running
// state is carried across chunks in workgroup memory. State elements are
// visited in an outer loop (one scan each), so registers hold only the
// per-item values, as in mamba_ssm's selective-scan kernel.

import type { Expr, SpecializedProgram, StateIR, TensorIR } from '../../dsl/ir.js';
import { freeIndexVars, inlineLocals, localDefs, readsState, stmtsOf } from '../../dsl/ir-walk.js';
import { NotLinear, linearize } from '../analysis/linear.js';
import {
  add, assign, barrier, decl, f, i, loop, lt, mul, type KernelPlan, type PExpr, type PFn, type PStmt, type SharedArray, TID, v, when,
} from '../plan/ast.js';
import { blockExclusiveScan, scanIsBarrierFree, scanShared, type ScanTarget } from './block-scan.js';
import { Hoister, newScope, type Scope } from './hoist.js';
import { vectorizeItemLoads } from './vectorize-loads.js';
import { dimEnv, indexExpr, offsetOf, loadOf } from './index-math.js';

export interface DiagonalScanSchedule {
  /** Threads per row, cooperating along the scan axis. */
  threads: number;
  items: number;
  /** Rows of the parallel axes per workgroup (consecutive rows share loads through the cache). */
  rows: number;
  /**
   * Unroll factor of the state loop when the scan is barrier-free (one
   * subgroup per row): more independent chains in flight, more registers.
   * Default: as many as keep items × factor ≤ 16.
   */
  unroll?: number;
}

export interface LoweringCaps {
  /** Subgroup shuffles are available (CUDA warps; WGSL subgroups on NVIDIA). */
  subgroups: boolean;
  /** Subgroup size when fixed at compile time (CUDA: 32). */
  lanes?: number;
}

export class LoweringError extends Error {}

// Placeholder levels: which loops a value varies in.
const T_BIT = 2; // the scan position (per item)
const N_BIT = 1; // the state element (outer loop)
const LOG2E = 1.4426950408889634;

interface StateUpdate {
  state: StateIR;
  idx: string;
  coef: Expr;
  rest: Expr;
}

/** Explains why a program does not fit this lowering, or returns undefined if it does. */
export function diagonalScanRejects(sp: SpecializedProgram): string | undefined {
  try {
    analyse(sp);
    return undefined;
  } catch (e) {
    if (e instanceof LoweringError || e instanceof NotLinear) return e.message;
    throw e;
  }
}

function analyse(sp: SpecializedProgram): { updates: StateUpdate[]; stores: { tensor: TensorIR; idx: import('../../dsl/ir.js').IExpr[]; expr: Expr }[]; stateDim: string } {
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

export function lowerDiagonalScan(sp: SpecializedProgram, sched: DiagonalScanSchedule, caps: LoweringCaps, name: string): KernelPlan {
  const { updates, stores, stateDim } = analyse(sp);
  const T = sched.threads, I = sched.items, R = sched.rows;
  if (!Number.isInteger(R) || R < 1) throw new LoweringError(`rows must be a positive integer, got ${R}`);
  // Thread index inside its row, and the row's slot in the workgroup.
  const LT: PExpr = R === 1 ? TID : { k: 'bin', op: '%', a: TID, b: i(T) };
  const SLOT: PExpr = R === 1 ? i(0) : { k: 'bin', op: '/', a: TID, b: i(T) };
  if (!Number.isInteger(Math.log2(T))) throw new LoweringError(`threads must be a power of two, got ${T}`);
  if (!Number.isInteger(I) || I < 1) throw new LoweringError(`items must be a positive integer, got ${I}`);
  const N = sp.staticDims[stateDim];
  if (N === undefined) throw new LoweringError(`state dim ${stateDim} must be static`);
  const S = updates.length;
  const useShuffle = caps.subgroups && T % 32 === 0;
  const scanTarget: ScanTarget = { subgroups: caps.subgroups, lanes: caps.lanes };
  // A row scanned by one subgroup needs no barrier inside the state loop, so its
  // iterations (independent state elements) can overlap; the carry between
  // chunks is then ordered by one barrier per chunk.
  const barrierFree = scanIsBarrierFree(T, scanTarget);
  const dim = dimEnv(sp.staticDims);
  const scanVar = sp.scan;
  const L = dim(sp.indices[scanVar]!.dim);
  const helpers = new Set<PFn>();

  // ---- Expr → plan template, with placeholders for loop-dependent values ----
  const rowVar = (n: string): string => `ix_${n}`;
  const hVar = (s: string, pre: boolean): string => `$h${pre ? 'p' : ''}:${s}`;
  const accs: { name: string; body: Expr }[] = [];
  const template = (e: Expr, stateIdx: Set<string>): PExpr => {
    const env = {
      ivar: (n: string): PExpr => (n === scanVar ? v('$t') : stateIdx.has(n) ? v('$n') : v(rowVar(n))),
      dim,
    };
    const t = (x: Expr): PExpr => template(x, stateIdx);
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
        const name = `acc${accs.length}`;
        accs.push({ name, body: e.body });
        return v(`$${name}`);
      }
      case 'local': throw new LoweringError('internal: locals must be inlined');
      case 'where': throw new LoweringError('where() selects by index inside the step; the chunked scan does not lower it (the sequential lowering does)');
    }
  };
  const hoister = new Hoister((n) => {
    if (n === '$t') return T_BIT;
    if (n === '$n') return N_BIT;
    if (n.startsWith('$h')) return T_BIT | N_BIT;
    if (n.startsWith('$acc')) return T_BIT;
    return undefined;
  });
  // Orders a product's factors so that the least-varying ones multiply first (and get hoisted together).
  function product(factors: PExpr[]): PExpr {
    const sorted = [...factors].sort((a, b) => hoister.level(a) - hoister.level(b));
    return sorted.reduce((acc, x) => mul(acc, x));
  }

  // Templates for the update (per state) and the stores.
  const stateIdxOf = (u: StateUpdate): Set<string> => new Set([u.idx]);
  const coefT = updates.map((u) => template(u.coef, stateIdxOf(u)));
  const restT = updates.map((u) => template(u.rest, stateIdxOf(u)));
  const storeT = stores.map((s) => {
    const boundByStore = [...freeIndexVars(s.expr)].filter((x) => sp.indices[x]?.role === 'state');
    if (boundByStore.length) throw new LoweringError(`output ${s.tensor.name} uses state index ${boundByStore.join(', ')} outside a sum`);
    return template(s.expr, new Set());
  });
  const accT = accs.map((a) => {
    const sumIdx = new Set<string>();
    for (const x of freeIndexVars(a.body)) if (sp.indices[x]?.role === 'state' || sp.indices[x] === undefined) sumIdx.add(x);
    return template(a.body, sumIdx);
  });
  for (const t of storeT) if (hasStateRef(t)) throw new LoweringError('an output reads the state outside a sum over the state index');

  const chunkLen = T * I;

  const rowScope = newScope(0, undefined);
  const carryIdx = (parity: PExpr, s: number, n: PExpr): PExpr => add(add(add(mul(v('slot'), i(2 * S * N)), mul(parity, i(S * N))), i(s * N)), n);
  // Unrolled when barrier-free: the state elements are independent chains the target can interleave.
  const unroll = barrierFree ? Math.min(N, sched.unroll ?? Math.max(1, Math.min(4, Math.floor(16 / I)))) : 1;

  /**
   * One chunk's code. `guarded`: some items may lie past the end of the
   * sequence (the last chunk), so their pairs become the identity and their
   * stores are skipped; every other chunk runs the unguarded copy, free of
   * those selects and clamps.
   */
  function chunk(guarded: boolean): PStmt[] {
    // ---- scopes: row → chunk → item i → state loop n → item i inside n ----
    const itemSubst = (it: number): Map<string, PExpr> => new Map([['$t', v(`t_${it}`)], ...accs.map((a) => [`$${a.name}`, v(`${a.name}_${it}`)] as [string, PExpr])]);
    const itemScopes: Scope[] = [];
    const nScope = newScope(N_BIT, rowScope, '', new Map([['$n', v('n')]]));
    const innerScopes: Scope[] = [];
    for (let it = 0; it < I; it++) itemScopes.push(newScope(T_BIT, rowScope, `_${it}`, itemSubst(it)));
    for (let it = 0; it < I; it++) innerScopes.push(newScope(T_BIT | N_BIT, nScope, `_${it}n`, new Map([['$t', v(`t_${it}`)]])));
    const emitInner = (e: PExpr, it: number): PExpr => emitIn(hoister, e, innerScopes[it]!, itemScopes[it]!);
    // Declarations the inner scope gained since the last flush go right before their first use.
    const flushInner = (it: number): PStmt[] => innerScopes[it]!.decls.splice(0);

    const chunkBody: PStmt[] = [];
    const nBody: PStmt[] = [];

    // Per state: local fold over items, workgroup scan, per-item states.
    updates.forEach((u, s) => {
      const pa = `pa${s}`, pb = `pb${s}`;
      nBody.push(decl(pa, 'f32', f(1), true), decl(pb, 'f32', f(0), true));
      for (let it = 0; it < I; it++) {
        const valid = v(`valid_${it}`);
        const a = emitInner(coefT[s]!, it), b = emitInner(restT[s]!, it);
        nBody.push(
          ...flushInner(it),
          decl(`a${s}_${it}`, 'f32', guarded ? { k: 'select', c: valid, a, b: f(1) } : a),
          decl(`b${s}_${it}`, 'f32', guarded ? { k: 'select', c: valid, a: b, b: f(0) } : b),
          assign(pb, add(mul(v(`a${s}_${it}`), v(pb)), v(`b${s}_${it}`))),
          assign(pa, mul(v(`a${s}_${it}`), v(pa))),
          decl(`ca${s}_${it}`, 'f32', v(pa)),
          decl(`cb${s}_${it}`, 'f32', v(pb)),
        );
      }
      const scan = blockExclusiveScan(pa, pb, T, scanTarget, `s${s}_`, { tid: v('ltid'), slot: v('slot') });
      nBody.push(...scan.stmts);
      nBody.push(decl(`hin${s}`, 'f32', add(mul(v(scan.ea), { k: 'sload', arr: 'carry', index: carryIdx(v('par'), s, v('n')) }), v(scan.eb))));
      for (let it = 0; it < I; it++) {
        nBody.push(decl(`h${s}_${it}`, 'f32', add(mul(v(`ca${s}_${it}`), v(`hin${s}`)), v(`cb${s}_${it}`))));
        innerScopes[it]!.subst.set(hVar(u.state.name, false), v(`h${s}_${it}`));
        innerScopes[it]!.subst.set(hVar(u.state.name, true), it === 0 ? v(`hin${s}`) : v(`h${s}_${it - 1}`));
      }
      // The last thread's last state is the next chunk's carry (other parity: no race with readers).
      nBody.push(when({ k: 'bin', op: '==', a: v('ltid'), b: i(T - 1) }, [
        { k: 'sstore', arr: 'carry', index: carryIdx(sub1(v('par')), s, v('n')), value: v(`h${s}_${I - 1}`) },
      ]));
    });
    // Sums over the state index accumulate per item.
    for (let it = 0; it < I; it++) {
      accs.forEach((a, k) => {
        const term = emitInner(accT[k]!, it);
        nBody.push(...flushInner(it), assign(`${a.name}_${it}`, add(v(`${a.name}_${it}`), term)));
      });
    }

    // Chunk: items' positions, validity, accumulators; the n loop; stores.
    for (let it = 0; it < I; it++) {
      const raw = add(add(v('c0'), mul(v('ltid'), i(I))), i(it));
      if (guarded) {
        chunkBody.push(
          decl(`traw_${it}`, 'i32', raw),
          decl(`valid_${it}`, 'bool', lt(v(`traw_${it}`), L)),
          decl(`t_${it}`, 'i32', { k: 'imin', a: v(`traw_${it}`), b: { k: 'bin', op: '-', a: L, b: i(1) } }),
        );
      } else {
        chunkBody.push(decl(`t_${it}`, 'i32', raw));
      }
      for (const a of accs) chunkBody.push(decl(`${a.name}_${it}`, 'f32', f(0), true));
    }
    // Item-scope declarations the state loop needs (hoisting filled them while emitting).
    for (let it = 0; it < I; it++) chunkBody.push(...itemScopes[it]!.decls);
    // In full chunks every item is in bounds: reads of consecutive items become vector loads.
    const itemVars = Array.from({ length: I }, (_, it) => `t_${it}`);
    const elemBytes = (buf: string): number => (sp.used.find((t) => t.name === buf)?.dtype === 'f32' ? 4 : 2);
    const vec = (xs: PStmt[]): PStmt[] => (guarded ? xs : vectorizeItemLoads(xs, itemVars, I, elemBytes));
    chunkBody.push(loop('n', i(0), i(N), i(1), vec([...nScope.decls, ...nBody]), unroll));
    // Values only the stores need are computed after the state loop (fewer registers live across it);
    // the post scope reuses what the item scope already holds.
    for (let it = 0; it < I; it++) {
      const post = newScope(T_BIT, rowScope, `_${it}p`, itemSubst(it));
      for (const [key, name] of itemScopes[it]!.table) post.table.set(key, name);
      const stores_ = stores.map((st, k) => {
        const env = { ivar: (n: string): PExpr => (n === scanVar ? v('$t') : v(rowVar(n))), dim };
        const index = offsetOf(st.tensor, st.idx.map((ie) => indexExpr(ie, env)), env);
        return { k: 'store', buf: st.tensor.name, index: hoister.emit(index, post, 'i32'), value: hoister.emit(storeT[k]!, post) } as PStmt;
      });
      const ok: PExpr | undefined = guarded ? (R === 1 ? v(`valid_${it}`) : { k: 'bin', op: '&&', a: v('rowOk'), b: v(`valid_${it}`) }) : R === 1 ? undefined : v('rowOk');
      chunkBody.push(...(ok ? [when(ok, [...post.decls, ...stores_])] : [...post.decls, ...stores_]));
    }
    return vec(chunkBody);
  }

  // Both copies are built before the row's code: hoisting fills the row scope while building them.
  const fullChunk = chunk(false);
  const tailChunk = chunk(true);

  // Row: which row this workgroup owns, its carry, the chunk loop, the final state.
  const rowDims = sp.parallel.map((p) => sp.indices[p]!.dim);
  const nRows = rowDims.map(dim).reduce((a, b) => mul(a, b));
  const decompose: PStmt[] = [decl('rem0', 'i32', v('row'))];
  for (let k = sp.parallel.length - 1; k >= 0; k--) {
    const d = dim(rowDims[k]!);
    decompose.push(decl(rowVar(sp.parallel[k]!), 'i32', { k: 'bin', op: '%', a: v(`rem${sp.parallel.length - 1 - k}`), b: d }));
    if (k > 0) decompose.push(decl(`rem${sp.parallel.length - k}`, 'i32', { k: 'bin', op: '/', a: v(`rem${sp.parallel.length - 1 - k}`), b: d }));
  }
  const init: PStmt[] = [];
  updates.forEach((u, s) => {
    const given = sp.variant.initStates.includes(u.state.name);
    const value: PExpr = given ? { k: 'load', buf: u.state.init, index: add(mul(v('row'), i(N)), v('k')) } : f(0);
    init.push(loop('k', v('ltid'), i(N), i(T), [{ k: 'sstore', arr: 'carry', index: carryIdx(i(0), s, v('k')), value }]));
  });
  const final: PStmt[] = [];
  updates.forEach((u, s) => {
    if (!sp.variant.finalStates.includes(u.state.name)) return;
    const st: PStmt = { k: 'store', buf: u.state.final, index: add(mul(v('row'), i(N)), v('k')), value: { k: 'sload', arr: 'carry', index: carryIdx(v('parEnd'), s, v('k')) } };
    final.push(loop('k', v('ltid'), i(N), i(T), [R === 1 ? st : when(v('rowOk'), [st])]));
  });
  const rowBody: PStmt[] = [
    ...decompose,
    ...rowScope.decls,
    ...init,
    barrier,
    loop('c0', i(0), L, i(chunkLen), [
      // Carries written in the previous chunk are visible (the scans have no barrier of their own).
      ...(barrierFree ? [barrier] : []),
      decl('par', 'i32', { k: 'bin', op: '%', a: { k: 'bin', op: '/', a: v('c0'), b: i(chunkLen) }, b: i(2) }),
      // The condition is uniform across the workgroup, so both copies may hold barriers.
      when({ k: 'bin', op: '<=', a: add(v('c0'), i(chunkLen)), b: L }, fullChunk, tailChunk),
    ]),
    barrier,
    decl('parEnd', 'i32', { k: 'bin', op: '%', a: { k: 'bin', op: '/', a: { k: 'bin', op: '+', a: L, b: i(chunkLen - 1) }, b: i(chunkLen) }, b: i(2) }),
    ...final,
  ];
  // With several rows per workgroup, the last workgroup may hold rows past the
  // end: they run along (barriers stay uniform) on a clamped row and store nothing.
  const rowRaw = add(mul({ k: 'builtin', b: 'group' }, i(R)), v('slot'));
  const body: PStmt[] = [
    decl('ltid', 'i32', LT),
    decl('slot', 'i32', SLOT),
    decl('rowOk', 'bool', lt(rowRaw, nRows)),
    decl('row', 'i32', { k: 'imin', a: rowRaw, b: { k: 'bin', op: '-', a: nRows, b: i(1) } }),
    when(lt(mul({ k: 'builtin', b: 'group' }, i(R)), nRows), rowBody),
  ];

  const shared: SharedArray[] = [
    { name: 'carry', ty: 'f32', size: 2 * S * N * R },
    ...scanShared(T, scanTarget, R),
  ];
  const buffers = [...sp.used, ...sp.written].map((t) => ({
    name: t.name, access: (sp.written.includes(t) ? 'read_write' : 'read') as 'read' | 'read_write', elem: t.dtype,
  }));
  const params = sp.dims.filter((d) => sp.staticDims[d] === undefined).map((d) => ({ name: d, type: 'i32' as const }));
  return {
    name,
    workgroupSize: T * R,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: useShuffle,
    grid: { groupsFromDims: rowDims, rowsPerGroup: R },
    helpers,
    // Per item: a, b, running pair and accumulators live across the state loop.
    registerBudget: I <= 8 ? 128 : 255,
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
  };
}

function sub1(p: PExpr): PExpr {
  return { k: 'bin', op: '-', a: i(1), b: p };
}

function flattenProduct(e: Expr): Expr[] {
  if (e.k === 'bin' && e.op === '*') return [...flattenProduct(e.a), ...flattenProduct(e.b)];
  return [e];
}

function hasStateRef(e: PExpr): boolean {
  const s = JSON.stringify(e);
  return s.includes('"$h:') || s.includes('"$hp:');
}

/**
 * Emits an expression inside the n loop for item `it`: parts that vary only
 * with the item go to the item's scope (declared before the n loop), parts
 * that vary only with n go to the n scope, row-level parts to the row.
 */
function emitIn(h: Hoister, e: PExpr, inner: Scope, item: Scope): PExpr {
  // Temporarily graft the item scope into the chain so findScope sees it:
  // inner (T|N) → item (T) → n (N) → row (0). Hoisting by exact level picks
  // the right one; substitutions resolve from the innermost scope outwards.
  const n = inner.parent!;
  const itemParent = item.parent;
  inner.parent = item;
  item.parent = n;
  try {
    return h.emit(e, inner);
  } finally {
    inner.parent = n;
    item.parent = itemParent;
  }
}

