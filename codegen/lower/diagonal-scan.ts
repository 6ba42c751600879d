// Lowering "chunked diagonal scan": for programs whose every state update is
// h[n] = a·h[n] + b (diagonal linear) and whose outputs read the state
// through sums over n. One workgroup owns one row of the parallel axes and
// walks the scan axis in chunks of threads × items steps: each thread folds
// its consecutive items into one affine pair per state element, a workgroup
// scan of those pairs gives every thread its incoming state, and the running
// state is carried across chunks in workgroup memory. State elements are
// visited in an outer loop (one scan each), so registers hold only the
// per-item values, as in mamba_ssm's selective-scan kernel.
//
// rowBlock K > 1: each thread slot handles K consecutive rows (along the
// last parallel axis), K copies of everything per row (pairs, scans,
// carries, accumulators, stores). The last parallel variable becomes a
// placeholder with its own hoisting level (one value per copy), so what
// does not depend on it is emitted once and used K times. Indices like
// Mamba-1's group g = d / (dim / ngroups) depend on it but agree across the
// block almost always: a second "uniform" form of the chunk loop reads
// div(last, X) and the other parallel variables at copy 0's row (B and C
// loads then shared), chosen per workgroup when its first and last rows
// agree on them (a condition uniform across the workgroup, as the barriers
// inside require).

import { programBindings } from './program-bindings.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import {
  add, assign, barrier, decl, f, i, loop, lt, mul, type KernelPlan, type PExpr, type PStmt, type SharedArray, TID, type Ty, v, when,
} from '../plan/ast.js';
import { blockExclusiveScan, scanIsBarrierFree, scanShared, type ScanTarget } from './block-scan.js';
import { chainOf, emitIn, newScope, type Level, type Scope } from './hoist.js';
import { foldSkipTerms } from './fold-skip.js';
import { vectorizeItemLoads, type AlignedLoads } from './vectorize-loads.js';
import { dimEnv } from './index-math.js';
import {
  analyseDiagonal, copyLevelBit, diagonalTemplates, elemBytesOf, LoweringError, N_BIT, rowDecomposition, rowsAlignedFor, scanContiguousTensors, slotRows, T_BIT, uniformCheck, type Templates,
} from './diagonal-templates.js';

export { diagonalScanRejects, LoweringError } from './diagonal-templates.js';

export interface DiagonalScanSchedule {
  /** Threads per row, cooperating along the scan axis. */
  threads: number;
  items: number;
  /** Rows of the parallel axes per workgroup (consecutive rows share loads through the cache). */
  rows: number;
  /**
   * Consecutive rows (along the last parallel axis) each thread slot handles,
   * K copies of everything per row: what the rows share (B and C of one group
   * in Mamba-1) is loaded once and used K times. Default 1.
   */
  rowBlock?: number;
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

export function lowerDiagonalScan(sp: SpecializedProgram, sched: DiagonalScanSchedule, caps: LoweringCaps, name: string): KernelPlan {
  const an = analyseDiagonal(sp);
  const { updates, stores, stateDim } = an;
  const T = sched.threads, I = sched.items, R = sched.rows, K = sched.rowBlock ?? 1;
  if (!Number.isInteger(R) || R < 1) throw new LoweringError(`rows must be a positive integer, got ${R}`);
  if (!Number.isInteger(K) || K < 1) throw new LoweringError(`rowBlock must be a positive integer, got ${K}`);
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
  // Per-copy values (one per row of the thread's block) vary in the copies' "loop" (diagonal-templates.ts).
  const P_BIT = copyLevelBit(K);
  /** Name of copy j of a per-row variable (the name itself when there is one copy). */
  const cn = (n: string, j: number): string => (K === 1 ? n : `${n}_r${j}`);
  const copies = Array.from({ length: K }, (_, j) => j);

  const tp = diagonalTemplates(sp, an, K);
  const { hoister, helpers, accs, templatesFor, uniformDivs, uniformVars, rowVar, hVar } = tp;
  const general = templatesFor(K === 1 ? 'one' : 'general');
  const uniform = K === 1 ? undefined : templatesFor('uniform');
  // Nothing the copies could share beyond what the general form shares: one form.
  const hasUniform = !!uniform && (uniformDivs.size > 0 || uniformVars.size > 0);

  const chunkLen = T * I;
  // Tensors read contiguously in t: their item groups start at base = (a multiple of the last dim) + a multiple of the vector width.
  const tLast = scanContiguousTensors(sp);
  const alignedLoads: AlignedLoads = { eligible: (buf) => tLast.has(buf), widths: new Map() };

  const rowScope = newScope(0, undefined);
  // Per-copy row values: the parallel variables of row j of the thread's block.
  const rowCopies: (Scope | undefined)[] = copies.map((j) => (K === 1 ? undefined : newScope(P_BIT, rowScope, `_r${j}`, new Map(sp.parallel.map((p) => [`$p:${p}`, v(rowVar(p, j))] as [string, PExpr])))));
  // The thread's slot for copy j: its scan group and carry.
  const slotOf = (j: number): PExpr => (K === 1 ? v('slot') : v(`slot_r${j}`));
  const carryIdx = (parity: PExpr, s: number, n: PExpr, j: number): PExpr => add(add(add(mul(slotOf(j), i(2 * S * N)), mul(parity, i(S * N))), i(s * N)), n);
  // Unrolled when barrier-free: the state elements are independent chains the target can interleave.
  // With copies an iteration also holds K scans' values: a smaller factor keeps I·K ≤ 8 within 128
  // registers (ptxas, sm_90; test/row-block-cuda.test.ts).
  // Default: 16 / I chains (at most 4) for one row per thread, 4 at 8 items when the inputs are 16-bit
  // (packed loads leave the registers: 128, no spill; t32i8 bf16 2.20 ms at 4 against 2.60 at 2 on the
  // H100, run 26; fp32 at 4 needs more than 128 with states in and out); with K rows, 8 / (I·K).
  const narrowInputs = sp.used.some((t) => t.dtype !== 'f32');
  const unroll = barrierFree ? Math.min(N, sched.unroll ?? (K === 1 ? (narrowInputs && I === 8 ? 4 : Math.max(1, Math.min(4, Math.floor(16 / I)))) : Math.max(1, Math.min(4, Math.floor(8 / (I * K)))))) : 1;

  /**
   * One chunk's code. `guarded`: some items may lie past the end of the
   * sequence (the last chunk), so their pairs become the identity and their
   * stores are skipped; every other chunk runs the unguarded copy, free of
   * those selects and clamps.
   */
  function chunk(tm: Templates, guarded: boolean): PStmt[] {
    // ---- scopes: row → chunk → item i → state loop n → item i inside n; each with its per-copy twin ----
    const accSubst = (it: number, j: number): [string, PExpr][] => accs.map((a) => [`$${a.name}`, v(cn(`${a.name}_${it}`, j))]);
    const itemSubst = (it: number): Map<string, PExpr> => new Map([['$t', v(`t_${it}`)], ...(K === 1 ? accSubst(it, 0) : [])]);
    const nScope = newScope(N_BIT, rowScope, '', new Map([['$n', v('n')]]));
    const nCopies = copies.map((j) => (K === 1 ? undefined : newScope(N_BIT | P_BIT, nScope, `_nr${j}`)));
    const itemScopes: Scope[] = [];
    const innerScopes: Scope[] = [];
    const itemCopies: (Scope | undefined)[][] = [];
    const innerCopies: (Scope | undefined)[][] = [];
    for (let it = 0; it < I; it++) {
      itemScopes.push(newScope(T_BIT, rowScope, `_${it}`, itemSubst(it)));
      innerScopes.push(newScope(T_BIT | N_BIT, nScope, `_${it}n`, new Map([['$t', v(`t_${it}`)]])));
      itemCopies.push(copies.map((j) => (K === 1 ? undefined : newScope(T_BIT | P_BIT, itemScopes[it], `_${it}r${j}`, new Map(accSubst(it, j))))));
      innerCopies.push(copies.map((j) => (K === 1 ? undefined : newScope(T_BIT | N_BIT | P_BIT, innerScopes[it], `_${it}nr${j}`))));
    }
    // Scope chain of item `it`, copy j, inside the state loop: inner → item → n → row, innermost first, each after its copy.
    const innerChain = (it: number, j: number): Scope[] => chainOf([innerScopes[it]!, innerCopies[it]![j]], [itemScopes[it]!, itemCopies[it]![j]], [nScope, nCopies[j]], [rowScope, rowCopies[j]]);
    const emitInner = (e: PExpr, it: number, j: number): PExpr => emitIn(hoister, e, innerChain(it, j));
    // Declarations the inner scopes gained since the last flush go right before their first use.
    const flushInner = (it: number, j: number): PStmt[] => [...innerScopes[it]!.decls.splice(0), ...(innerCopies[it]![j]?.decls.splice(0) ?? [])];
    const innerOf = (it: number, j: number): Scope => innerCopies[it]![j] ?? innerScopes[it]!;

    const chunkBody: PStmt[] = [];
    const nBody: PStmt[] = [];
    const folded = foldSkipTerms(tm, accs.map((a) => a.name));

    // Per state: local fold over items, workgroup scan, per-item states (each per copy).
    updates.forEach((u, s) => {
      const pa = (j: number): string => cn(`pa${s}`, j), pb = (j: number): string => cn(`pb${s}`, j);
      for (const j of copies) nBody.push(decl(pa(j), 'f32', f(1), true), decl(pb(j), 'f32', f(0), true));
      for (let it = 0; it < I; it++) {
        for (const j of copies) {
          const valid = v(`valid_${it}`);
          const a = emitInner(tm.coef[s]!, it, j), b = emitInner(tm.rest[s]!, it, j);
          const an = cn(`a${s}_${it}`, j), bn = cn(`b${s}_${it}`, j);
          nBody.push(
            ...flushInner(it, j),
            decl(an, 'f32', guarded ? { k: 'select', c: valid, a, b: f(1) } : a),
            decl(bn, 'f32', guarded ? { k: 'select', c: valid, a: b, b: f(0) } : b),
            assign(pb(j), add(mul(v(an), v(pb(j))), v(bn))),
            assign(pa(j), mul(v(an), v(pa(j)))),
            decl(cn(`ca${s}_${it}`, j), 'f32', v(pa(j))),
            decl(cn(`cb${s}_${it}`, j), 'f32', v(pb(j))),
          );
        }
      }
      for (const j of copies) {
        const scan = blockExclusiveScan(pa(j), pb(j), T, scanTarget, K === 1 ? `s${s}_` : `s${s}r${j}_`, { tid: v('ltid'), slot: slotOf(j) });
        const hin = cn(`hin${s}`, j), h = (it: number): string => cn(`h${s}_${it}`, j);
        nBody.push(...scan.stmts);
        nBody.push(decl(hin, 'f32', add(mul(v(scan.ea), { k: 'sload', arr: 'carry', index: carryIdx(v('par'), s, v('n'), j) }), v(scan.eb))));
        for (let it = 0; it < I; it++) {
          nBody.push(decl(h(it), 'f32', add(mul(v(cn(`ca${s}_${it}`, j)), v(hin)), v(cn(`cb${s}_${it}`, j)))));
          innerOf(it, j).subst.set(hVar(u.state.name, false), v(h(it)));
          innerOf(it, j).subst.set(hVar(u.state.name, true), it === 0 ? v(hin) : v(h(it - 1)));
        }
        // The last thread's last state is the next chunk's carry (other parity: no race with readers).
        nBody.push(when({ k: 'bin', op: '==', a: v('ltid'), b: i(T - 1) }, [
          { k: 'sstore', arr: 'carry', index: carryIdx(sub1(v('par')), s, v('n'), j), value: v(h(I - 1)) },
        ]));
      }
    });
    // Sums over the state index accumulate per item (and copy).
    for (let it = 0; it < I; it++) {
      for (const j of copies) {
        accs.forEach((a, k) => {
          const term = emitInner(tm.acc[k]!, it, j);
          const name = cn(`${a.name}_${it}`, j);
          nBody.push(...flushInner(it, j), assign(name, add(v(name), term)));
        });
      }
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
    }
    // Accumulators start at the term the stores add to them (fold-skip.ts), emitted in the item's scope.
    const accStarts = Array.from({ length: I }, (_, it) => copies.map((j) => folded.accInit.map((e) => emitIn(hoister, e, chainOf([itemScopes[it]!, itemCopies[it]![j]], [rowScope, rowCopies[j]])))));
    // Item-scope declarations the state loop needs (hoisting filled them while emitting).
    for (let it = 0; it < I; it++) chunkBody.push(...itemScopes[it]!.decls, ...itemCopies[it]!.flatMap((c) => c?.decls ?? []));
    for (let it = 0; it < I; it++) for (const j of copies) accs.forEach((a, k) => chunkBody.push(decl(cn(`${a.name}_${it}`, j), 'f32', accStarts[it]![j]![k]!, true)));
    // In full chunks every item is in bounds: reads of consecutive items become vector loads.
    const itemVars = Array.from({ length: I }, (_, it) => `t_${it}`);
    const elemBytes = (buf: string): number => elemBytesOf(sp, buf);
    const vec = (xs: PStmt[]): PStmt[] => (guarded ? xs : vectorizeItemLoads(xs, itemVars, I, elemBytes, alignedLoads));
    chunkBody.push(loop('n', i(0), i(N), i(1), vec([...nScope.decls, ...nCopies.flatMap((c) => c?.decls ?? []), ...nBody]), unroll));
    // Values only the stores need are computed after the state loop (fewer registers live across it);
    // the post scopes reuse what the item scopes already hold.
    for (let it = 0; it < I; it++) {
      const post = newScope(T_BIT, rowScope, `_${it}p`, itemSubst(it));
      for (const [key, name] of itemScopes[it]!.table) post.table.set(key, name);
      const perCopy = copies.map((j) => {
        const postCopy = K === 1 ? undefined : newScope(T_BIT | P_BIT, post, `_${it}pr${j}`, new Map(accSubst(it, j)));
        for (const [key, name] of itemCopies[it]![j]?.table ?? []) postCopy!.table.set(key, name);
        const chain = chainOf([post, postCopy], [rowScope, rowCopies[j]]);
        const stores_ = stores.map((st, k) => ({ k: 'store', buf: st.tensor.name, index: emitIn(hoister, tm.storeIdx[k]!, chain, 'i32'), value: emitIn(hoister, folded.store[k]!, chain) }) as PStmt);
        return [...(postCopy?.decls ?? []), ...stores_];
      });
      if (K === 1) {
        const ok: PExpr | undefined = guarded ? (R === 1 ? v(`valid_${it}`) : { k: 'bin', op: '&&', a: v('rowOk'), b: v(`valid_${it}`) }) : R === 1 ? undefined : v('rowOk');
        chunkBody.push(...(ok ? [when(ok, [...post.decls, ...perCopy[0]!])] : [...post.decls, ...perCopy[0]!]));
      } else {
        // Shared values load at the item's (clamped, in-bounds) position; each copy stores only where its row exists.
        const body = [...post.decls, ...perCopy.map((xs, j) => when(v(cn('rowOk', j)), xs))];
        chunkBody.push(...(guarded ? [when(v(`valid_${it}`), body)] : body));
      }
    }
    return vec(chunkBody);
  }

  // The chunk loop of one row mode; its copies are built before the row's code: hoisting fills the row scopes while building them.
  const chunkLoop = (tm: Templates): PStmt => {
    const fullChunk = chunk(tm, false);
    const tailChunk = chunk(tm, true);
    // A full chunk's vector loads are aligned when each vectorized tensor's last dim is a multiple
    // of the vector width (item 0 of every group sits at a multiple of it); else the guarded copy
    // runs the chunk with element loads. One uniform check instead of one per load.
    const conds = new Map<string, PExpr>();
    for (const [buf, w] of alignedLoads.widths) {
      const c = rowsAlignedFor(sp, buf, w);
      conds.set(JSON.stringify(c), c);
    }
    const aligned = [...conds.values()];
    const full: PExpr = aligned.reduce((a, c): PExpr => ({ k: 'bin', op: '&&', a, b: c }), { k: 'bin', op: '<=', a: add(v('c0'), i(chunkLen)), b: L } as PExpr);
    return loop('c0', i(0), L, i(chunkLen), [
      // Carries written in the previous chunk are visible (the scans have no barrier of their own).
      // (One thread per row writes and reads its own carry: no barrier at all.)
      ...(barrierFree && T > 1 ? [barrier] : []),
      decl('par', 'i32', { k: 'bin', op: '%', a: { k: 'bin', op: '/', a: v('c0'), b: i(chunkLen) }, b: i(2) }),
      // The condition is uniform across the workgroup, so both copies may hold barriers.
      when(full, fullChunk, tailChunk),
    ]);
  };
  const generalLoop = chunkLoop(general);
  const uniformLoop = hasUniform ? chunkLoop(uniform!) : undefined;

  // Row: which rows this thread owns, their carries, the chunk loop, the final states.
  const rowDims = sp.parallel.map((p) => sp.indices[p]!.dim);
  const nRows = rowDims.map(dim).reduce((a, b) => mul(a, b));
const { decompose } = rowDecomposition(sp);
  const rowsOfThread: PStmt[] = copies.flatMap((j) => decompose(v(cn('row', j)), (k) => cn(`rem${k}`, j), (p) => rowVar(p, j)));
  const uniCheck: PStmt[] = hasUniform ? uniformCheck(sp, tp, R * K) : [];
  const init: PStmt[] = [];
  updates.forEach((u, s) => {
    const given = sp.variant.initStates.includes(u.state.name);
    for (const j of copies) {
      const value: PExpr = given ? { k: 'load', buf: u.state.init, index: add(mul(v(cn('row', j)), i(N)), v('k')) } : f(0);
      init.push(loop('k', v('ltid'), i(N), i(T), [{ k: 'sstore', arr: 'carry', index: carryIdx(i(0), s, v('k'), j), value }]));
    }
  });
  const final: PStmt[] = [];
  updates.forEach((u, s) => {
    if (!sp.variant.finalStates.includes(u.state.name)) return;
    for (const j of copies) {
      const st: PStmt = { k: 'store', buf: u.state.final, index: add(mul(v(cn('row', j)), i(N)), v('k')), value: { k: 'sload', arr: 'carry', index: carryIdx(v('parEnd'), s, v('k'), j) } };
      final.push(loop('k', v('ltid'), i(N), i(T), [R === 1 && K === 1 ? st : when(v(cn('rowOk', j)), [st])]));
    }
  });
  const rowBody: PStmt[] = [
    ...rowsOfThread,
    ...uniCheck,
    ...rowScope.decls,
    ...rowCopies.flatMap((c) => c?.decls ?? []),
    ...init,
    barrier,
    // The form is uniform across the workgroup, so both may hold barriers.
    uniformLoop ? when(v('uni'), [uniformLoop], [generalLoop]) : generalLoop,
    barrier,
    decl('parEnd', 'i32', { k: 'bin', op: '%', a: { k: 'bin', op: '/', a: { k: 'bin', op: '+', a: L, b: i(chunkLen - 1) }, b: i(chunkLen) }, b: i(2) }),
    ...final,
  ];
  const body: PStmt[] = [
    decl('ltid', 'i32', LT),
    decl('slot', 'i32', SLOT),
    // Copy j's scan group and carry slot.
    ...(K === 1 ? [] : copies.map((j) => decl(`slot_r${j}`, 'i32', add(mul(v('slot'), i(K)), i(j))))),
    ...slotRows(nRows, R, K),
    when(lt(mul({ k: 'builtin', b: 'group' }, i(R * K)), nRows), rowBody),
  ];

  const shared: SharedArray[] = [
    { name: 'carry', ty: 'f32', size: 2 * S * N * R * K },
    ...scanShared(T, scanTarget, R * K),
  ];
  const { buffers, params, elem } = programBindings(sp);
  return {
    name,
    workgroupSize: T * R,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: useShuffle,
    grid: { groupsFromDims: rowDims, rowsPerGroup: R * K },
    helpers,
    // Per item and copy: a, b, running pair, state and accumulators live across the state loop
    // (with copies, per unrolled iteration of it too).
    registerBudget: (K === 1 ? I : I * K * unroll) <= 8 ? 128 : 255,
    elem,
  };
}

function sub1(p: PExpr): PExpr {
  return { k: 'bin', op: '-', a: i(1), b: p };
}
