// The pieces both forms of the chunked SSD lowering are built from
// (lower/ssd.ts: one fused kernel walking the chunks; lower/ssd-chunked.ts:
// three launches with the chunks in parallel). Each piece is one step of
// spec §2's chunked form over one chunk of Q steps starting at the i32
// variable `c0`, for the P tile starting at `p0`, in workgroup arrays of
// fixed names (cs0/cs1, sc, Xs, Ct, Wt, Ms). A kernel gets its own emitter
// (the row's hoisted values are declared once per kernel).

import type { Expr, SpecializedProgram } from '../../dsl/ir.js';
import { READOUT, type SsdForm } from '../analysis/ssd.js';
import { FragmentError, fragElements, gridFragment, mmaFragment, type FragElement } from '../plan/fragment.js';
import {
  add, assign, barrier, call, decl, f, i, loop, lt, mul, sub, v, when, TID,
  type Fragment, type PExpr, type PFn, type PStmt, type Ty,
} from '../plan/ast.js';
import type { KernelBinding, KernelParam } from '../../runtime/backend.js';
import { LoweringError } from './diagonal-scan.js';
import type { ChunkTileBase, SsdCaps } from './ssd.js';
import type { SharedArray } from '../plan/ast.js';
import { Hoister, newScope, type Scope } from './hoist.js';
import { dimEnv, indexExpr, offsetOf, loadOf } from './index-math.js';

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
  helpers: Set<PFn>;
  /** Values that vary with nothing but the row, declared once after the row's index variables. */
  rowScope: Scope;
  /** Plan templates (placeholders $t, $p, $n, $r) of the log-decay, step factor, u[p], w[n] and c[n]. */
  ld: PExpr;
  sc: PExpr;
  u: PExpr;
  w: PExpr;
  c: PExpr;
  template: (e: Expr, vars: Record<string, string>) => PExpr;
  /** Emits templates where the placeholders have the given values, in one scope: declarations to place first, then the values. */
  emitAll: (tmpls: [PExpr, Ty][], level: number, subst: Record<string, PExpr>) => { decls: PStmt[]; values: PExpr[] };
}

const rowVar = (n: string): string => `ix_${n}`;

export function ssdEmitter(sp: SpecializedProgram, form: SsdForm): SsdEmitter {
  const dim = dimEnv(sp.staticDims);
  const helpers = new Set<PFn>(['exp']);
  const template = (e: Expr, vars: Record<string, string>): PExpr => {
    const env = {
      ivar: (n: string): PExpr => {
        if (sp.parallel.includes(n)) return v(rowVar(n));
        if (n === sp.scan) return v('$t');
        const ph = vars[n];
        if (!ph) throw new SsdLoweringError(`internal: index ${n} has no value here`);
        return v(ph);
      },
      dim,
    };
    const t = (x: Expr): PExpr => template(x, vars);
    switch (e.k) {
      case 'num': return f(e.v);
      case 'ival': return { k: 'cast', ty: 'f32', a: indexExpr(e.e, env) };
      case 'load': return loadOf(sp.used, e.tensor, e.idx, env);
      case 'bin': return { k: 'bin', op: e.op, a: t(e.a), b: t(e.b) };
      case 'neg': return { k: 'neg', a: t(e.a) };
      case 'call': helpers.add(e.fn); return { k: 'call', fn: e.fn, args: e.args.map(t) };
      case 'local':
        if (e.name === READOUT) return v('$r');
        throw new SsdLoweringError('internal: locals must be inlined');
      case 'state': throw new SsdLoweringError('internal: the state is read only through the readout');
      case 'sum': case 'where': throw new SsdLoweringError(`internal: ${e.k} outside the readout is rejected by the analysis`);
    }
    return e satisfies never;
  };
  const hoister = new Hoister((n) => ({ $t: T_BIT, $p: P_BIT, $n: N_BIT, $r: T_BIT | P_BIT } as Record<string, number>)[n]);
  const rowScope: Scope = newScope(0, undefined);
  const emitAll = (tmpls: [PExpr, Ty][], level: number, subst: Record<string, PExpr>): { decls: PStmt[]; values: PExpr[] } => {
    const scope = newScope(level, rowScope, '', new Map(Object.entries(subst)));
    const values = tmpls.map(([t, ty]) => hoister.emit(t, scope, ty));
    return { decls: scope.decls, values };
  };
  return {
    sp, form, dim, helpers, rowScope, template, emitAll,
    L: dim(sp.indices[sp.scan]!.dim),
    P: sp.staticDims[form.pDim]!,
    N: sp.staticDims[form.nDim]!,
    ld: template(form.logDecay, {}),
    sc: template(form.scale, {}),
    u: template(form.u, { [form.pVar]: '$p' }),
    w: template(form.w, { [form.nVar]: '$n' }),
    c: template(form.c, { [form.cVar]: '$n' }),
  };
}

/** Step `j` of the chunk starting at `c0`, and whether it is inside the sequence. */
const tj = (j: PExpr): PExpr => add(v('c0'), j);
const inSeq = (em: SsdEmitter, j: PExpr): PExpr => lt(tj(j), em.L);

/** Per-step log-decays into cs0 and step factors into sc (zero past the sequence: such steps decay by exp(0)). */
export function loadStepFactors(em: SsdEmitter, Q: number, T: number): PStmt {
  const step = em.emitAll([[em.ld, 'f32'], [em.sc, 'f32']], T_BIT, { $t: tj(v('sj')) });
  return loop('sj', TID, i(Q), i(T), [
    decl('sld', 'f32', f(0), true),
    decl('ssc', 'f32', f(0), true),
    when(inSeq(em, v('sj')), [...step.decls, assign('sld', step.values[0]!), assign('ssc', step.values[1]!)]),
    sstore('cs0', v('sj'), v('sld')),
    sstore('sc', v('sj'), v('ssc')),
  ]);
}

/** X = u, the p factor of the input term, unscaled, for the chunk (Q × PtPad, stride sx); zero past the sequence and P tile. */
export function loadX(em: SsdEmitter, Q: number, T: number, Pt: number, PtPad: number, sx: number): PStmt {
  const p = add(v('p0'), v('xp'));
  const r = em.emitAll([[em.u, 'f32']], T_BIT | P_BIT, { $t: tj(v('xj')), $p: p });
  return loop('xe', TID, i(Q * PtPad), i(T), [
    decl('xj', 'i32', idiv(v('xe'), PtPad)),
    decl('xp', 'i32', imod(v('xe'), PtPad)),
    decl('xv', 'f32', f(0), true),
    when(and(inSeq(em, v('xj')), lt(v('xp'), i(Pt))), [...r.decls, assign('xv', r.values[0]!)]),
    sstore('Xs', add(mul(v('xj'), i(sx)), v('xp')), v('xv')),
  ]);
}

/** C (into Ct, stride sc) and/or W (into Wt, stride sw) of the chunk for N elements n0 .. n0 + Nt; zero past the sequence and N. */
export function loadCW(em: SsdEmitter, n0: PExpr, Q: number, T: number, Nt: number, strides: { C?: number; W?: number }): PStmt {
  const n = add(n0, v('bn'));
  const want: [PExpr, string, string, number][] = [];
  if (strides.C !== undefined) want.push([em.c, 'cv', 'Ct', strides.C]);
  if (strides.W !== undefined) want.push([em.w, 'wv', 'Wt', strides.W]);
  const r = em.emitAll(want.map(([t]) => [t, 'f32']), T_BIT | N_BIT, { $t: tj(v('bj')), $n: n });
  return loop('be', TID, i(Q * Nt), i(T), [
    decl('bj', 'i32', idiv(v('be'), Nt)),
    decl('bn', 'i32', imod(v('be'), Nt)),
    ...want.map(([, reg]) => decl(reg, 'f32', f(0), true)),
    when(and(inSeq(em, v('bj')), lt(n, i(em.N))), [...r.decls, ...want.map(([, reg], k) => assign(reg, r.values[k]!))]),
    ...want.map(([, reg, arr, stride]) => sstore(arr, add(mul(v('bj'), i(stride)), v('bn')), v(reg))),
  ]);
}

/** Inclusive cumulative sum of cs0 (Hillis–Steele, ping-pong with cs1), barrier after each round; the array holding the result. */
export function cumulativeSum(Q: number, T: number): { stmts: PStmt[]; arr: string } {
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

/** W rows (Q × Nt, stride sw) scaled by s_j·exp(cs_last − cs_j): the state update's input term is then Xᵀ·W. */
export function scaleWForState(Q: number, T: number, Nt: number, sw: number, cs: (j: PExpr) => PExpr): PStmt {
  return loop('de', TID, i(Q * Nt), i(T), [
    decl('dj', 'i32', idiv(v('de'), Nt)),
    decl('dw', 'i32', add(mul(v('dj'), i(sw)), imod(v('de'), Nt))),
    sstore('Wt', v('dw'), mul(sload('Wt', v('dw')), mul(sload('sc', v('dj')), call('exp', sub(v('csLast'), cs(v('dj'))))))),
  ]);
}

/** The causal decay mask into Ms (stride sm): M = G ∘ [j ≤ i]·exp(cs_i − cs_j)·s_j. */
export function decayMask(G: Fragment, sm: number, cs: (j: PExpr) => PExpr): PStmt[] {
  const mask: PStmt[] = [];
  for (const [k, e] of fragElements(G).entries()) {
    const m = `gm${k}`;
    mask.push(
      decl(m, 'f32', f(0), true),
      when(le(e.col, e.row), [assign(m, mul(mul(v(e.reg), call('exp', sub(cs(e.row), cs(e.col)))), sload('sc', e.col)))]),
      ...owning(e, [sstore('Ms', add(mul(e.row, i(sm)), e.col), v(m))]),
    );
  }
  return mask;
}

/** Outputs per (step, p) from the readout Y (Q × PtPad), each element by its owner. */
export function storeOutputs(em: SsdEmitter, Y: Fragment, Pt: number): PStmt[] {
  const { sp, form, dim } = em;
  const out: PStmt[] = [];
  for (const e of fragElements(Y)) {
    const t = tj(e.row), p = add(v('p0'), e.col);
    const stores: PStmt[] = [];
    for (const s of form.stores) {
      const env = { ivar: (n: string): PExpr => (sp.parallel.includes(n) ? v(rowVar(n)) : n === sp.scan ? v('$t') : n === s.pVar ? v('$p') : noValue(n)), dim };
      const r = em.emitAll([[offsetOf(s.tensor, s.idx.map((ie) => indexExpr(ie, env)), env), 'i32'], [em.template(s.expr, { [s.pVar]: '$p' }), 'f32']], T_BIT | P_BIT, { $t: t, $p: p, $r: v(e.reg) });
      stores.push(...r.decls, { k: 'store', buf: s.tensor.name, index: r.values[0]!, value: r.values[1]! });
    }
    const valid = and(lt(t, em.L), lt(e.col, i(Pt)));
    out.push(when(e.owned ? and(e.owned, valid) : valid, stores));
  }
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

/** The program's tensors as bindings (read-only inputs, read-write outputs), and its dynamic dims as parameters. */
export function programBindings(sp: SpecializedProgram): { buffers: KernelBinding[]; params: KernelParam[] } {
  const buffers = [...sp.used, ...sp.written].map((t) => ({
    name: t.name, access: (sp.written.includes(t) ? 'read_write' : 'read') as 'read' | 'read_write', elem: t.dtype,
  }));
  const params = sp.dims.filter((d) => sp.staticDims[d] === undefined).map((d) => ({ name: d, type: 'i32' as const }));
  return { buffers, params };
}

function noValue(n: string): never {
  throw new SsdLoweringError(`internal: index ${n} has no value in a store`);
}

/**
 * The workgroup arrays of the per-chunk steps: the cumulative sums and step
 * factors always, and of the tiles X, C, W, S and M those a kernel uses.
 * Matrix-unit operands may be stored narrow (caps.narrowOperands); the state
 * tile stays f32.
 */
export function chunkArrays(tl: ChunkTileBase, caps: Pick<SsdCaps, 'narrowOperands'>, tiles: ReadonlyArray<'X' | 'C' | 'W' | 'S' | 'M'>): SharedArray[] {
  const narrow = caps.narrowOperands ? { narrow: caps.narrowOperands } : {};
  const { Q, PtPad, strides: ST } = tl;
  const all: [tile: 'X' | 'C' | 'W' | 'S' | 'M', array: SharedArray][] = [
    ['X', { name: 'Xs', ty: 'f32', size: Q * ST.X, ...narrow }],
    ['C', { name: 'Ct', ty: 'f32', size: Q * ST.C, ...narrow }],
    ['W', { name: 'Wt', ty: 'f32', size: Q * ST.W, ...narrow }],
    ['S', { name: 'Ss', ty: 'f32', size: PtPad * ST.S }],
    ['M', { name: 'Ms', ty: 'f32', size: Q * ST.M, ...narrow }],
  ];
  return [
    { name: 'cs0', ty: 'f32', size: Q },
    { name: 'cs1', ty: 'f32', size: Q },
    { name: 'sc', ty: 'f32', size: Q },
    ...all.filter(([t]) => tiles.includes(t)).map(([, a]) => a),
  ];
}

/** Bytes of a workgroup array of n matrix operands: 2 bytes each, 16-byte aligned, where the target stores them narrow (as render/cuda.ts carves them). */
export function operandBytes(n: number, caps: Pick<SsdCaps, 'narrowOperands'>): number {
  return caps.narrowOperands ? Math.ceil((2 * n) / 16) * 16 : 4 * n;
}

/**
 * The accumulator layouts of one (P tile, N tile) candidate: G (Q × Q),
 * Y (Q × padded P tile) and the state-update product U in passes of Nu
 * columns (at most 16 accumulators per thread), tensor-core shaped where the
 * target has matrix units. A string says why the candidate has no layout.
 */
export function chunkFragments(Q: number, T: number, Pt: number, Nt: number, N: number, matrixUnits: boolean): Pick<ChunkTileBase, 'PtPad' | 'NPad' | 'Nu' | 'frags'> | string {
  const PtPad = nextPow2(Pt), NPad = Math.ceil(N / Nt) * Nt;
  let Nu = Nt;
  while (Nu % 2 === 0 && PtPad * Nu > 16 * T && (!matrixUnits || Nu > 8)) Nu /= 2;
  const frag = (name: string, r: number, c: number) => (matrixUnits ? mmaFragment(name, r, c, T) : undefined) ?? gridFragment(name, r, c, T);
  try {
    return { PtPad, NPad, Nu, frags: { G: frag('g', Q, Q), Y: frag('yv', Q, PtPad), U: frag('su', PtPad, Nu) } };
  } catch (e) {
    if (!(e instanceof FragmentError)) throw e;
    return `Pt ${Pt}, Nt ${Nt}: ${e.message}`;
  }
}
