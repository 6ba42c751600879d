// Lowering "chunked SSD" (state space duality, spec §2) for programs that
// analysis/ssd.ts proves SSD-able: S_t = exp(ld_t)·S_{t-1} + s_t·u_t ⊗ w_t,
// y_t[p] = f(Σ_n c_t[n]·S_t[p][n]).
//
// One fused kernel. A workgroup owns one row of the parallel axes and a tile
// of Pt elements of the state's P axis; it walks the scan axis in chunks of
// Q steps, holding its Pt × N slice of the state in workgroup memory the
// whole time, so the sequential state passing between chunks costs nothing
// but the walk itself. Per chunk:
//   1. per-step log-decays ld_j and factors s_j; cs = inclusive cumulative
//      sum of ld over the chunk (Hillis–Steele in workgroup memory);
//   2. X[j][p] = s_j·u_j[p] for the chunk (Q × Pt);
//   3. over tiles of N: C and W (Q × Nt) into workgroup memory;
//      G += C·Wᵀ (Q × Q), Y += C·Sᵀ (Q × Pt, the state before the chunk);
//      then W rows scaled by exp(cs_last − cs_j) and the state tile updated:
//      S ← exp(cs_last)·S + Xᵀ·W (Pt × Nt);
//   4. M = G ∘ [j ≤ i]·exp(cs_i − cs_j) (the causal decay mask);
//      Y = diag(exp(cs))·Y + M·X;
//   5. y = f(Y) per (step, p), stored.
// Matrix products are `mma` plan statements (plan/fragment.ts): scalar loops
// on every target, tensor cores on CUDA for bf16/f16 tensors. Steps past the
// end of the sequence load as zero and decay by exp(0), so the last chunk may
// be partial and the carried state stays exact.

import type { Expr, SpecializedProgram, TensorIR } from '../../dsl/ir.js';
import { READOUT, type SsdForm } from '../analysis/ssd.js';
import { FragmentError, clearFragment, fragElements, fragSize, gridFragment, mmaFragment, zeroFragment, type FragElement } from '../plan/fragment.js';
import {
  add, assign, barrier, call, decl, f, i, loop, lt, mul, sub, v, when, GROUP, TID,
  type Fragment, type KernelPlan, type MatOperand, type PExpr, type PFn, type PStmt, type SharedArray, type Ty,
} from '../plan/ast.js';
import { LoweringError } from './diagonal-scan.js';
import { Hoister, newScope, type Scope } from './hoist.js';
import { dimEnv, indexExpr, offsetOf, loadOf } from './index-math.js';

export interface SsdSchedule {
  threads: number;
  /** Steps per chunk. */
  chunk: number;
  /** Elements of the state's P axis per workgroup (a divisor of P); default: the largest that fits workgroup memory. */
  headTile?: number;
  /**
   * Elements of the state's N axis staged per pass over a chunk (a power of
   * two, or N itself); default: all of N where that fits, else the widest
   * tile that does. All of N ("whole" staging) loads a chunk's inputs in one
   * pass and needs 5 + log2(chunk) barriers per chunk; tiles need four more
   * barriers and a load round trip per tile.
   */
  nTile?: number;
}

export interface SsdCaps {
  /** Workgroup memory the kernel may use, in bytes. */
  sharedBytes: number;
  /** Lay accumulators out for 16×8 matrix-unit tiles where they fit (CUDA tensor cores print them as mma.sync). */
  matrixUnits: boolean;
  /**
   * The target stores workgroup arrays marked narrow in this type (CUDA, with
   * matrix units at this operand precision): the products' operands X, C, W
   * and M are kept as the products round them, in half the bytes.
   */
  narrowOperands?: 'bf16' | 'f16';
}

export class SsdLoweringError extends LoweringError {}

// Placeholder levels for hoisting: what a value varies with.
const T_BIT = 1, P_BIT = 2, N_BIT = 4;

const isPow2 = (x: number): boolean => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
const nextPow2 = (x: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
const idiv = (a: PExpr, b: number | PExpr): PExpr => ({ k: 'bin', op: '/', a, b: typeof b === 'number' ? i(b) : b });
const imod = (a: PExpr, b: number | PExpr): PExpr => ({ k: 'bin', op: '%', a, b: typeof b === 'number' ? i(b) : b });
const and = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '&&', a, b });
const le = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '<=', a, b });
const ge = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '>=', a, b });
const sload = (arr: string, index: PExpr): PExpr => ({ k: 'sload', arr, index });
const sstore = (arr: string, index: PExpr, value: PExpr): PStmt => ({ k: 'sstore', arr, index, value });

/** Tile sizes, strides and accumulator layouts of one kernel. */
export interface SsdTiles {
  Q: number;
  T: number;
  /** P-axis elements per workgroup, and the padded (power-of-two) width computed with. */
  Pt: number;
  PtPad: number;
  /** N-axis elements per tile, and N rounded up to whole tiles. */
  Nt: number;
  NPad: number;
  /** One tile holds all of N: the chunk's inputs load in one pass (see lowerSsd). */
  whole: boolean;
  /** Columns of the state-update product per pass (a divisor of Nt): bounds its accumulator registers. */
  Nu: number;
  strides: { X: number; C: number; W: number; S: number; M: number };
  frags: { G: Fragment; Y: Fragment; U: Fragment };
  sharedBytes: number;
}

/** Row stride of a workgroup array: padded so that threads reading down a column hit different banks. */
function padded(n: number, matrixUnits: boolean): number {
  // Scalar loops read along columns with consecutive threads (odd stride);
  // m16n8k16 operand loads read 8 rows × 4 pairs (stride ≡ 8 mod 16).
  return matrixUnits ? n + ((8 - (n % 16) + 16) % 16) : n + (n % 2 === 0 ? 1 : 0);
}

export function chooseSsdTiles(P: number, N: number, sched: SsdSchedule, caps: SsdCaps): SsdTiles {
  const T = sched.threads, Q = sched.chunk;
  if (!isPow2(T)) throw new SsdLoweringError(`threads must be a power of two, got ${T}`);
  if (!isPow2(Q)) throw new SsdLoweringError(`chunk must be a power of two, got ${Q}`);
  const divisors = [...Array(P).keys()].map((k) => P - k).filter((d) => P % d === 0);
  if (sched.headTile !== undefined && (!Number.isInteger(sched.headTile) || P % sched.headTile !== 0)) {
    throw new SsdLoweringError(`headTile must divide the state's P axis (${P}), got ${sched.headTile}`);
  }
  const pts = sched.headTile !== undefined ? [sched.headTile] : divisors;
  // All of N in one tile (rounded up to a multiple of 16 for the matrix units' k steps): one load pass per chunk.
  const wholeN = caps.matrixUnits ? Math.ceil(N / 16) * 16 : N;
  if (sched.nTile !== undefined && sched.nTile !== N && !isPow2(sched.nTile)) throw new SsdLoweringError(`nTile must be a power of two or N (${N}), got ${sched.nTile}`);
  const nts: number[] = [];
  // Widest N tile: 32 (scalar loops), 16 with matrix units (their operand registers would spill at 256 threads).
  for (let nt = Math.min(nextPow2(N), caps.matrixUnits ? 16 : 32); nt >= 1; nt /= 2) nts.push(nt);
  // N tiles of at least 16 first, then all of N in one tile while at most 4 workgroups share a
  // head, then the rest. Measured on the H100 (bench/RESULTS.md run 12): whole-N, with one load
  // pass and 5 + log2 Q barriers per chunk, was predicted faster but took 3.86 ms against 2.31 ms
  // for 16-wide tiles (bf16, t128 q32 p32), and was slower on WebGPU too: its larger workgroup
  // memory and registers cost more residency than its fewer barriers saved.
  const wide = Math.min(16, nextPow2(N));
  const order: [number, number][] = sched.nTile !== undefined
    ? pts.map((Pt): [number, number] => [Pt, sched.nTile === N ? wholeN : sched.nTile!])
    : [
      ...pts.flatMap((Pt) => nts.filter((nt) => nt >= wide && nt < wholeN).map((Nt): [number, number] => [Pt, Nt])),
      ...pts.filter((Pt) => 4 * Pt >= P).map((Pt): [number, number] => [Pt, wholeN]),
      ...pts.filter((Pt) => 4 * Pt < P).map((Pt): [number, number] => [Pt, wholeN]),
      ...pts.flatMap((Pt) => nts.filter((nt) => nt < wide && nt < wholeN).map((Nt): [number, number] => [Pt, Nt])),
    ];
  const tried: string[] = [];
  for (const [Pt, Nt] of order) {
    const PtPad = nextPow2(Pt), NPad = Math.ceil(N / Nt) * Nt;
    const whole = NPad === Nt;
    const frag = (name: string, r: number, c: number): Fragment => (caps.matrixUnits ? mmaFragment(name, r, c, T) : undefined) ?? gridFragment(name, r, c, T);
    // The state-update product in passes of Nu columns: at most 16 accumulators per thread.
    let Nu = Nt;
    while (Nu % 2 === 0 && PtPad * Nu > 16 * T && (!caps.matrixUnits || Nu > 8)) Nu /= 2;
    let frags: SsdTiles['frags'];
    try {
      frags = { G: frag('g', Q, Q), Y: frag('yv', Q, PtPad), U: frag('su', PtPad, Nu) };
    } catch (e) {
      if (!(e instanceof FragmentError)) throw e;
      tried.push(`Pt ${Pt}, Nt ${Nt}: ${e.message}`);
      continue;
    }
    const mu = caps.matrixUnits;
    const strides = { X: padded(PtPad, mu), C: padded(Nt, mu), W: padded(Nt, mu), S: padded(NPad, mu), M: padded(Q, mu) };
    // Operand arrays in 2 bytes where the target stores them narrow (16-byte aligned, as render/cuda.ts carves them).
    const opBytes = (n: number): number => (caps.narrowOperands ? Math.ceil((2 * n) / 16) * 16 : 4 * n);
    const sharedBytes = 4 * (3 * Q + PtPad * strides.S) + opBytes(Q * strides.X) + opBytes(Q * strides.C) + opBytes(Q * strides.W) + opBytes(Q * strides.M);
    if (sharedBytes <= caps.sharedBytes) return { Q, T, Pt, PtPad, Nt, NPad, whole, Nu, strides, frags, sharedBytes };
    tried.push(`Pt ${Pt}, Nt ${Nt}: ${sharedBytes} bytes of workgroup memory`);
  }
  throw new SsdLoweringError(`no tiling of chunk ${Q} × P ${P} × N ${N} over ${T} threads fits ${caps.sharedBytes} bytes of workgroup memory (tried ${tried.slice(0, 6).join('; ')}${tried.length > 6 ? '; ...' : ''}); use a smaller chunk or fewer threads`);
}

/** The narrowest element type among the tensors the kernel reads: what matrix units may round operands to. */
export function operandPrecision(used: TensorIR[]): 'f32' | 'bf16' | 'f16' {
  if (used.some((t) => t.dtype === 'bf16')) return 'bf16';
  if (used.some((t) => t.dtype === 'f16')) return 'f16';
  return 'f32';
}

export function lowerSsd(sp: SpecializedProgram, form: SsdForm, sched: SsdSchedule, caps: SsdCaps, name: string): KernelPlan {
  const P = sp.staticDims[form.pDim]!, N = sp.staticDims[form.nDim]!;
  const tl = chooseSsdTiles(P, N, sched, caps);
  const { Q, T, Pt, PtPad, Nt, NPad, strides: ST, frags } = tl;
  const NPT = P / Pt;
  const precision = operandPrecision(sp.used);
  if (caps.narrowOperands && (!caps.matrixUnits || caps.narrowOperands !== precision)) throw new SsdLoweringError(`internal: operands stored as ${caps.narrowOperands} need matrix units at that precision (${precision})`);
  const narrow = caps.narrowOperands ? { narrow: caps.narrowOperands } : {};
  const dim = dimEnv(sp.staticDims);
  const L = dim(sp.indices[sp.scan]!.dim);
  const helpers = new Set<PFn>(['exp']);
  const rowVar = (n: string): string => `ix_${n}`;

  // ---- IR expressions → plan templates with placeholders $t, $p, $n, $r ----
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
  /**
   * Emits templates where the placeholders have the given values, in one
   * scope (loads and calls they share are named once): declarations to place
   * first, then the values.
   */
  const emitAll = (tmpls: [PExpr, Ty][], level: number, subst: Record<string, PExpr>): { decls: PStmt[]; values: PExpr[] } => {
    const scope = newScope(level, rowScope, '', new Map(Object.entries(subst)));
    const values = tmpls.map(([t, ty]) => hoister.emit(t, scope, ty));
    return { decls: scope.decls, values };
  };
  const emit = (tmpl: PExpr, level: number, subst: Record<string, PExpr>): { decls: PStmt[]; value: PExpr } => {
    const r = emitAll([[tmpl, 'f32']], level, subst);
    return { decls: r.decls, value: r.values[0]! };
  };
  const ldT = template(form.logDecay, {});
  const scT = template(form.scale, {});
  const uT = template(form.u, { [form.pVar]: '$p' });
  const wT = template(form.w, { [form.nVar]: '$n' });
  const cT = template(form.c, { [form.cVar]: '$n' });

  const body: PStmt[] = [];
  const chunk: PStmt[] = [];
  const tj = (j: PExpr): PExpr => add(v('c0'), j);
  const inSeq = (j: PExpr): PExpr => lt(tj(j), L);

  // 1. One load pass, no barrier inside: per-step log-decays and factors; X = u, the p factor of
  //    the input term, unscaled (the step factor s_j is folded into M's columns and W's decay
  //    below); with whole staging also C and W for all of N. Zero past the sequence, P and N.
  {
    const step = emitAll([[ldT, 'f32'], [scT, 'f32']], T_BIT, { $t: tj(v('sj')) });
    chunk.push(loop('sj', TID, i(Q), i(T), [
      decl('sld', 'f32', f(0), true),
      decl('ssc', 'f32', f(0), true),
      when(inSeq(v('sj')), [...step.decls, assign('sld', step.values[0]!), assign('ssc', step.values[1]!)]),
      sstore('cs0', v('sj'), v('sld')),
      sstore('sc', v('sj'), v('ssc')),
    ]));
  }
  {
    const p = add(v('p0'), v('xp'));
    const u = emit(uT, T_BIT | P_BIT, { $t: tj(v('xj')), $p: p });
    chunk.push(loop('xe', TID, i(Q * PtPad), i(T), [
      decl('xj', 'i32', idiv(v('xe'), PtPad)),
      decl('xp', 'i32', imod(v('xe'), PtPad)),
      decl('xv', 'f32', f(0), true),
      when(and(inSeq(v('xj')), lt(v('xp'), i(Pt))), [...u.decls, assign('xv', u.value)]),
      sstore('Xs', add(mul(v('xj'), i(ST.X)), v('xp')), v('xv')),
    ]));
  }
  /** C and W of the chunk for N elements n0 .. n0 + Nt. */
  const loadCW = (n0: PExpr): PStmt => {
    const n = add(n0, v('bn'));
    const cw = emitAll([[cT, 'f32'], [wT, 'f32']], T_BIT | N_BIT, { $t: tj(v('bj')), $n: n });
    return loop('be', TID, i(Q * Nt), i(T), [
      decl('bj', 'i32', idiv(v('be'), Nt)),
      decl('bn', 'i32', imod(v('be'), Nt)),
      decl('cv', 'f32', f(0), true),
      decl('wv', 'f32', f(0), true),
      when(and(inSeq(v('bj')), lt(n, i(N))), [...cw.decls, assign('cv', cw.values[0]!), assign('wv', cw.values[1]!)]),
      sstore('Ct', add(mul(v('bj'), i(ST.C)), v('bn')), v('cv')),
      sstore('Wt', add(mul(v('bj'), i(ST.W)), v('bn')), v('wv')),
    ]);
  };
  if (tl.whole) chunk.push(loadCW(i(0)));
  chunk.push(barrier);

  // 2. Inclusive cumulative sum of the log-decays (Hillis–Steele, ping-pong between cs0 and cs1).
  let csArr = 'cs0';
  for (let off = 1; off < Q; off *= 2) {
    const src = csArr, dst = csArr === 'cs0' ? 'cs1' : 'cs0';
    const q = `hs${off}`;
    chunk.push(loop(`${q}j`, TID, i(Q), i(T), [
      decl(q, 'f32', sload(src, v(`${q}j`)), true),
      // A guarded workgroup-memory read is an if, not a select (llvmpipe miscompiles the latter across barriers).
      when(ge(v(`${q}j`), i(off)), [assign(q, add(v(q), sload(src, sub(v(`${q}j`), i(off)))))]),
      sstore(dst, v(`${q}j`), v(q)),
    ]), barrier);
    csArr = dst;
  }
  const cs = (j: PExpr): PExpr => sload(csArr, j);
  chunk.push(decl('csLast', 'f32', cs(i(Q - 1))), decl('chunkDecay', 'f32', call('exp', v('csLast'))));
  chunk.push(...clearFragment(frags.G), ...clearFragment(frags.Y));

  // 3. Per N tile (whole staging: one, already loaded): G += C·Wᵀ, Y += C·Sᵀ (the state before
  // the chunk); W rows scaled by s_j·exp(cs_last − cs_j), so the state update is one product,
  // S ← exp(cs_last)·S + Xᵀ·W, in passes of Nu columns.
  // With matrix units every array has even strides and sizes (padded()), so pairs along a contiguous k are 8-byte aligned.
  const kPairs = caps.matrixUnits && Q % 2 === 0 && Nt % 2 === 0 && Object.values(ST).every((x) => x % 2 === 0);
  const n0 = tl.whole ? i(0) : v('n0');
  const opC: MatOperand = { arr: 'Ct', base: i(0), rowStride: ST.C, colStride: 1, kPairs };
  const opWt: MatOperand = { arr: 'Wt', base: i(0), rowStride: 1, colStride: ST.W, kPairs }; // B(k = n, col = j) = W[j][n]
  const opSt: MatOperand = { arr: 'Ss', base: n0, rowStride: 1, colStride: ST.S, kPairs }; // B(k = n, col = p) = S[p][n0 + n]
  const opXt: MatOperand = { arr: 'Xs', base: i(0), rowStride: 1, colStride: ST.X }; // A(row = p, k = j) = X[j][p]
  const opW: MatOperand = { arr: 'Wt', base: v('nu'), rowStride: ST.W, colStride: 1 }; // B(k = j, col = n) = W[j][nu + n]
  const products: PStmt[] = [
    // Only G's lower triangle survives the causal mask.
    { k: 'mma', id: 'mg', frag: frags.G, a: opC, b: opWt, kLen: Nt, precision, outputLower: true },
    { k: 'mma', id: 'my', frag: frags.Y, a: opC, b: opSt, kLen: Nt, precision },
    barrier,
    loop('de', TID, i(Q * Nt), i(T), [
      decl('dj', 'i32', idiv(v('de'), Nt)),
      decl('dw', 'i32', add(mul(v('dj'), i(ST.W)), imod(v('de'), Nt))),
      sstore('Wt', v('dw'), mul(sload('Wt', v('dw')), mul(sload('sc', v('dj')), call('exp', sub(v('csLast'), cs(v('dj'))))))),
    ]),
  ];
  // 4 (first half). The causal decay mask, M = G ∘ [j ≤ i]·exp(cs_i − cs_j)·s_j.
  const mask: PStmt[] = [];
  for (const [k, e] of fragElements(frags.G).entries()) {
    const m = `gm${k}`;
    mask.push(
      decl(m, 'f32', f(0), true),
      when(le(e.col, e.row), [assign(m, mul(mul(v(e.reg), call('exp', sub(cs(e.row), cs(e.col)))), sload('sc', e.col)))]),
      ...owning(e, [sstore('Ms', add(mul(e.row, i(ST.M)), e.col), v(m))]),
    );
  }
  const update: PStmt[] = [
    ...clearFragment(frags.U),
    // bf16 operands here too: each chunk's contribution carries ~1e-3 relative rounding, added in fp32, not compounded.
    { k: 'mma', id: 'mu', frag: frags.U, a: opXt, b: opW, kLen: Q, precision },
  ];
  // Each thread updates the state elements it owns (nobody else touches them until the barrier).
  for (const e of fragElements(frags.U)) {
    const at = add(add(add(mul(e.row, i(ST.S)), n0), v('nu')), e.col);
    update.push(...owning(e, [sstore('Ss', at, add(v(e.reg), mul(v('chunkDecay'), sload('Ss', at))))]));
  }
  const updateLoop = loop('nu', i(0), i(Nt), i(tl.Nu), update);
  if (tl.whole) {
    // M is stored beside W's decay, and the update's passes need no barrier between them.
    chunk.push(...products, ...mask, barrier, updateLoop);
  } else {
    chunk.push(loop('n0', i(0), i(NPad), i(Nt), [loadCW(v('n0')), barrier, ...products, barrier, updateLoop, barrier]), ...mask);
  }

  // 4. Y rows scaled by the decay since the chunk start; Y += M·X.
  for (const e of fragElements(frags.Y)) chunk.push(assign(e.reg, mul(v(e.reg), call('exp', cs(e.row)))));
  if (!tl.whole) chunk.push(barrier);
  chunk.push({
    k: 'mma', id: 'mx', frag: frags.Y, precision, aLower: true,
    a: { arr: 'Ms', base: i(0), rowStride: ST.M, colStride: 1, kPairs },
    b: { arr: 'Xs', base: i(0), rowStride: ST.X, colStride: 1 },
    kLen: Q,
  });

  // 5. Outputs per (step, p).
  for (const e of fragElements(frags.Y)) {
    const t = tj(e.row), p = add(v('p0'), e.col);
    const stores: PStmt[] = [];
    for (const s of form.stores) {
      const env = { ivar: (n: string): PExpr => (sp.parallel.includes(n) ? v(rowVar(n)) : n === sp.scan ? v('$t') : n === s.pVar ? v('$p') : err(n)), dim };
      const r = emitAll([[offsetOf(s.tensor, s.idx.map((ie) => indexExpr(ie, env)), env), 'i32'], [template(s.expr, { [s.pVar]: '$p' }), 'f32']], T_BIT | P_BIT, { $t: t, $p: p, $r: v(e.reg) });
      stores.push(...r.decls, { k: 'store', buf: s.tensor.name, index: r.values[0]!, value: r.values[1]! });
    }
    const valid = and(lt(t, L), lt(e.col, i(Pt)));
    chunk.push(when(e.owned ? and(e.owned, valid) : valid, stores));
  }
  // Everyone is done with cs, X, M and the state before the next chunk overwrites them.
  chunk.push(barrier);

  // ---- the row: which (row, P tile) this workgroup owns; state in; the chunk walk; state out ----
  const rowDims = sp.parallel.map((x) => sp.indices[x]!.dim);
  const nRows = rowDims.map(dim).reduce((a, b) => mul(a, b), i(1));
  const decompose: PStmt[] = [decl('rem0', 'i32', v('row'))];
  for (let k = sp.parallel.length - 1; k >= 0; k--) {
    const d = dim(rowDims[k]!);
    const r = `rem${sp.parallel.length - 1 - k}`;
    decompose.push(decl(rowVar(sp.parallel[k]!), 'i32', imod(v(r), d)));
    if (k > 0) decompose.push(decl(`rem${sp.parallel.length - k}`, 'i32', idiv(v(r), d)));
  }
  const st = form.state;
  const D0 = dim(st.shape[0]!), D1 = dim(st.shape[1]!);
  /** Offset of state element (p, n) of this row in `${S}_init` / `${S}_final` (parallel dims..., state dims...). */
  const stateAt = (p: PExpr, n: PExpr): PExpr => {
    const [a, b] = form.pAxis === 0 ? [p, n] : [n, p];
    return add(mul(add(mul(v('row'), D0), a), D1), b);
  };
  const init: PStmt[] = [];
  {
    const given = sp.variant.initStates.includes(st.name);
    const p = add(v('p0'), v('iP')), ok = and(lt(v('iP'), i(Pt)), lt(v('iN'), i(N)));
    init.push(loop('ie', TID, i(PtPad * ST.S), i(T), [
      decl('iP', 'i32', idiv(v('ie'), ST.S)),
      decl('iN', 'i32', imod(v('ie'), ST.S)),
      decl('iv', 'f32', f(0), true),
      ...(given ? [when(ok, [assign('iv', { k: 'load', buf: st.init, index: stateAt(p, v('iN')) })])] : []),
      sstore('Ss', v('ie'), v('iv')),
    ]));
  }
  const final: PStmt[] = [];
  if (sp.variant.finalStates.includes(st.name)) {
    final.push(loop('fe', TID, i(Pt * N), i(T), [
      decl('fP', 'i32', idiv(v('fe'), N)),
      decl('fN', 'i32', imod(v('fe'), N)),
      { k: 'store', buf: st.final, index: stateAt(add(v('p0'), v('fP')), v('fN')), value: sload('Ss', add(mul(v('fP'), i(ST.S)), v('fN'))) },
    ]));
  }
  const rowBody: PStmt[] = [
    decl('row', 'i32', idiv(GROUP, NPT)),
    decl('p0', 'i32', mul(imod(GROUP, NPT), i(Pt))),
    ...decompose,
    ...rowScope.decls,
    ...zeroFragment(frags.G),
    ...zeroFragment(frags.Y),
    ...zeroFragment(frags.U),
    ...init,
    barrier,
    loop('c0', i(0), L, i(Q), chunk),
    ...final,
  ];
  // The grid may hold a few workgroups past the end (spread over x and y): they do nothing.
  body.push(when(lt(GROUP, mul(nRows, i(NPT))), rowBody));

  const shared: SharedArray[] = [
    { name: 'cs0', ty: 'f32', size: Q },
    { name: 'cs1', ty: 'f32', size: Q },
    { name: 'sc', ty: 'f32', size: Q },
    { name: 'Xs', ty: 'f32', size: Q * ST.X, ...narrow },
    { name: 'Ct', ty: 'f32', size: Q * ST.C, ...narrow },
    { name: 'Wt', ty: 'f32', size: Q * ST.W, ...narrow },
    { name: 'Ss', ty: 'f32', size: PtPad * ST.S },
    { name: 'Ms', ty: 'f32', size: Q * ST.M, ...narrow },
  ];
  const buffers = [...sp.used, ...sp.written].map((t) => ({
    name: t.name, access: (sp.written.includes(t) ? 'read_write' : 'read') as 'read' | 'read_write', elem: t.dtype,
  }));
  const params = sp.dims.filter((d) => sp.staticDims[d] === undefined).map((d) => ({ name: d, type: 'i32' as const }));
  const accumulators = fragSize(frags.G) + fragSize(frags.Y) + fragSize(frags.U);
  return {
    name,
    workgroupSize: T,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: false,
    // Workgroups = rows × (P / Pt): a "row" of the grid is one (parallel…, p) recurrence.
    grid: { groupsFromDims: [...rowDims, form.pDim], rowsPerGroup: Pt },
    helpers,
    registerBudget: Math.min(255, Math.max(64, 2 * accumulators + 48)),
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
  };
}

/** Writes of a fragment element, by its owner only (threads holding copies stay out). */
function owning(e: FragElement, stmts: PStmt[]): PStmt[] {
  return e.owned ? [when(e.owned, stmts)] : stmts;
}

function err(n: string): never {
  throw new SsdLoweringError(`internal: index ${n} has no value in a store`);
}
