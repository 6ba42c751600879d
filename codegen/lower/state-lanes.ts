// Lowering "state lanes", the diagonal scan's second form: a row's threads
// hold its state elements (lane ℓ holds elements n = ℓ + S·e) and each walks
// the scan axis step by step — no scan and no second pass over the chunk, as
// the chunked form (diagonal-scan.ts) needs. Per chunk of TB = S·items steps:
//  A. the row's lanes compute the values that vary with the step only
//     (Mamba-1's dt and dt·u), `items` steps each, into workgroup memory; the
//     workgroup loads tiles (state element × step) of the operands its rows
//     all read alike (Mamba-1's B and C when the rows agree on batch and
//     group), coalesced, once for all rows;
//  B. every lane runs its elements' recurrences over the chunk, and adds
//     each sum's terms of its elements into one partial per step;
//  C. each lane adds up the row's S partials for `items` steps and stores
//     the outputs.
// rowBlock K > 1: each thread serves its elements in K consecutive rows (of
// the last parallel axis), so the tile values it reads once serve K rows
// (copies j < K of everything per row, as in the chunked form's rowBlock).
// Two barriers per chunk (after A and after B) order every reuse of the
// workgroup arrays. With `shuffle` the step values and partials stay in
// registers instead (shuffle-exchange.ts builds that chunk from the same
// phase-B bodies and tiles). Per (step, element) the work is the update's arithmetic
// and a few workgroup-memory reads. On the H100 the hand-written prototype
// (bench/prototypes/state_lanes.py, RESULTS run 30) ran Mamba-1 1.7× faster
// than the chunked form, this lowering 1.5× (CUDA) and 1.75× (WebGPU, with
// few lanes and many rows; runs 38, 43).

import { programBindings } from './program-bindings.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import {
  add, assign, barrier, decl, f, i, loop, lt, mul, type KernelPlan, type PExpr, type PStmt, type SharedArray, TID, type Ty, v, when,
} from '../plan/ast.js';
import { exprVars, mapExprChildren, stmtVars } from '../plan/walk.js';
import { chainOf, emitIn, newScope, type Scope } from './hoist.js';
import { shuffleChunk } from './shuffle-exchange.js';
import { dimEnv } from './index-math.js';
import { checkSegment, isLastSegment, ROW_GROUP, SEG, SEG_COUNT, SEG_DECAYS, SEG_START, SEG_STATES, segmentBindings, segmentEnds, segmentOf, segmentSlot } from './segment-parts.js';
import {
  analyseDiagonal, copyLevelBit, diagonalTemplates, elemBytesOf, LoweringError, N_BIT, rowDecomposition, rowsAlignedFor, scanContiguousTensors, slotRows, T_BIT, uniformCheck, type Templates,
} from './diagonal-templates.js';

export interface StateLanesSchedule {
  /** Threads per row, over the state elements (a power of two). */
  lanes: number;
  /** Steps each lane computes in phases A and C; the chunk is lanes × items steps. */
  items: number;
  /** Thread slots per workgroup (their rows share the staged tiles). */
  rows: number;
  /** Consecutive rows each thread slot serves (default 1): a workgroup owns rows × rowBlock rows. */
  rowBlock?: number;
  /**
   * Step values and partial sums stay in registers (shuffle-exchange.ts):
   * lane ℓ owns the chunk's steps ℓ·items … ℓ·items + items − 1 in phases A
   * and C, phase B takes each step's values from their owner by shuffle and
   * adds the row's partials by butterfly shuffles. One barrier per chunk
   * (double-buffered tiles), none without tiles.
   */
  shuffle?: boolean;
  /**
   * With `shuffle`: chunks per tile fill (default 1). The tiles cover
   * tileChunks × lanes × items steps, so the fill and its barrier come once
   * per that many chunks, while what a lane holds in registers (its items'
   * step values and sums) stays that of one chunk: few items per lane with
   * rowBlock 2 fit 128 registers, and the long tile span keeps their per-step
   * overhead that of many items (RESULTS run 75).
   */
  tileChunks?: number;
  /** With `shuffle`: chunks ahead whose step inputs each full chunk prefetches into L2 (default 0, none). */
  prefetch?: number;
  /** With `shuffle` and lanes > 1: the partials' sums by reduce-scatter (shuffle-exchange.ts scatterReduce); needs lanes | 4 and lanes | items. */
  scatter?: boolean;
  /** With `shuffle`: the step inputs staged in workgroup memory a chunk ahead by asynchronous copies (shuffle-exchange.ts stageStreams). */
  stage?: boolean;
  /** One launch of the sequence split (segments.ts): the workgroups also run over segments of the scan axis. */
  segment?: SegmentRole;
}

/**
 * A kernel of the split sequence: each workgroup runs its rows over one
 * segment of `length` steps. 'summary': from zero, no outputs; it stores each
 * state's end value and the product of its decays over the segment (all but
 * the last segment). 'outputs': from the state entering the segment (the
 * pass between the two wrote it), with the outputs; the last segment stores
 * the final states.
 */
export interface SegmentRole {
  length: number;
  role: 'summary' | 'outputs';
}

/** `shuffleLanes`: the lanes a subgroup shuffle reaches on the target (1: no subgroups). */
export function lowerStateLanes(sp: SpecializedProgram, sched: StateLanesSchedule, name: string, sharedBytes: number, shuffleLanes = 1): KernelPlan {
  const an = analyseDiagonal(sp);
  const { updates, stateDim } = an;
  const S = sched.lanes, IA = sched.items, R = sched.rows, K = sched.rowBlock ?? 1;
  if (!Number.isInteger(Math.log2(S)) || S < 1) throw new LoweringError(`lanes must be a power of two, got ${S}`);
  if (!Number.isInteger(IA) || IA < 1) throw new LoweringError(`items must be a positive integer, got ${IA}`);
  if (!Number.isInteger(R) || R < 1) throw new LoweringError(`rows must be a positive integer, got ${R}`);
  if (!Number.isInteger(K) || K < 1) throw new LoweringError(`rowBlock must be a positive integer, got ${K}`);
  const SH = sched.shuffle === true;
  const M = sched.tileChunks ?? 1;
  if (!Number.isInteger(M) || M < 1) throw new LoweringError(`tileChunks must be a positive integer, got ${M}`);
  if (SH && sched.scatter && S > 1 && (stepsPerGroup(S * IA) % S !== 0 || IA % S !== 0)) throw new LoweringError(`scatter needs lanes (${S}) to divide items (${IA}) and the ${stepsPerGroup(S * IA)}-step groups`);
  if (M > 1 && !SH) throw new LoweringError(`tileChunks ${M} needs shuffle 1 (the workgroup-memory exchange refills its arrays every chunk)`);
  if (SH && S > shuffleLanes) {
    throw new LoweringError(shuffleLanes === 1 ? `lanes ${S} with shuffle 1 need subgroup shuffles, which this target lacks (use lanes 1, or shuffle 0)`
      : `lanes ${S} with shuffle 1 exceed the ${shuffleLanes} lanes a subgroup shuffle reaches on this target`);
  }
  const N = sp.staticDims[stateDim];
  if (N === undefined) throw new LoweringError(`state dim ${stateDim} must be static`);
  if (S > N) throw new LoweringError(`lanes (${S}) exceed the ${N} state elements (${stateDim})`);
  const E = Math.ceil(N / S);
  const TB = S * IA;
  // Steps a tile fill covers (TB without tileChunks).
  const TT = TB * M;
  // Phase B takes W steps at a time, with one 8/16-byte access per array where the target has them.
  const W = stepsPerGroup(TB);
  // Row stride of the [element or lane][step] arrays: rows stay W-aligned for the vector accesses; the
  // 4-word shift (1 without vectors) puts the rows that 8 lanes read at once on distinct banks.
  const P = W > 1 ? TT + 4 : TT + 1;
  // Per-slot strides of the partials (K copies of S rows of P) and of the staged step values (K × TB):
  // the 32 / S slots of a warp start S banks apart, so a warp's reads and writes of them (one word per
  // lane, or one broadcast 16-byte word per slot) meet no bank twice (2- and 4-way conflicts otherwise, run 31).
  const slotStride = (x: number): number => (S >= 4 ? x + ((S - (x % 32) + 32) % 32) : x);
  const CR = S * P, RS = slotStride(K * CR), TS = slotStride(K * TB);
  const dim = dimEnv(sp.staticDims);
  const lastPar = sp.parallel[sp.parallel.length - 1]!;
  const tp = diagonalTemplates(sp, an, K);
  const { hoister, hVar, rowVar } = tp;
  const general = tp.templatesFor(K === 1 ? 'one' : 'general');
  const uniform = tp.templatesFor('uniform');
  const hasUniform = tp.uniformDivs.size > 0 || tp.uniformVars.size > 0;
  const els = Array.from({ length: E }, (_, e) => e);
  const copies = Array.from({ length: K }, (_, j) => j);
  /** Name of copy j of a per-row value (the name itself with one copy). */
  const cn = (n: string, j: number): string => (K === 1 ? n : `${n}_r${j}`);
  const P_BIT = copyLevelBit(K);
  // The last element slot of a lane may lie past N (N not a multiple of lanes): clamped reads, no contribution.
  const ragged = N % S !== 0;
  const seg = sched.segment;
  const summary = seg?.role === 'summary';
  if (seg) checkSegment(seg.length, TT);
  const L = dim(sp.indices[sp.scan]!.dim);
  // The chunks this workgroup walks: the whole axis, or its segment's. A segment holds whole tile spans, so
  // within it every chunk is where it would be unsplit: the guards keep L (only the sequence's last chunk is
  // short), and the loop stops after the chunk that ends the segment, a test of c0 alone (a register holding
  // the segment's end made the outputs kernel spill at 128 registers).
  const start: PExpr = seg ? v(SEG_START) : i(0);
  const chunks = (body: PStmt[]): PStmt => ({ ...loop('c0', start, L, i(TB), body), ...(seg ? { until: segmentEnds(add(v('c0'), i(TB)), seg.length) } : {}) });
  // The summary has no outputs: no sums, stores or tiles only they read.
  const accs = summary ? [] : tp.accs;

  // Scopes of the row (level 0) and of the lane's elements (N), each with a per-copy twin when K > 1.
  const rowScope = newScope(0, undefined, '', new Map(K === 1 ? [[`$p:${lastPar}`, v(rowVar(lastPar))]] : []));
  const rowCopies = copies.map((j) => (K === 1 ? undefined : newScope(P_BIT, rowScope, `_r${j}`, new Map(sp.parallel.map((q) => [`$p:${q}`, v(rowVar(q, j))] as [string, PExpr])))));
  const nScopes: Scope[] = els.map((e) => newScope(N_BIT, rowScope, `_e${e}`, new Map([['$n', v(`n_${e}`)]])));
  const nCopies = els.map((e) => copies.map((j) => (K === 1 ? undefined : newScope(N_BIT | P_BIT, nScopes[e], `_e${e}r${j}`))));
  const shared: SharedArray[] = [];
  // The two chunk loops (uniform and general row modes) never run together: same-named arrays are shared.
  // `narrow`: an f32 array a target may store in that type (the staging slots of a bf16/f16 tensor).
  const need = (name: string, ty: Ty, size: number, narrow?: 'bf16' | 'f16'): void => {
    const have = shared.find((a) => a.name === name);
    if (!have) shared.push({ name, ty, size, ...(narrow ? { narrow } : {}) });
    else if (have.ty !== ty || have.narrow !== narrow) throw new LoweringError(`internal: workgroup array ${name} wanted as ${have.narrow ?? have.ty} and ${narrow ?? ty}`);
    else have.size = Math.max(have.size, size);
  };
  const hName = (s: number, e: number, j: number): string => cn(`h${s}_${e}`, j);
  /** The summary's product of state s's decays over the segment so far. */
  const prName = (s: number, e: number, j: number): string => cn(`pr${s}_${e}`, j);
  const rowGroup: PExpr = seg ? v(ROW_GROUP) : { k: 'builtin', b: 'group' };

  /**
   * Operands read per (element, step) that every row of the workgroup reads
   * alike are staged as tiles: loads whose index holds $n and $t, no per-row
   * variable, and (unless the uniform check guards them) no row variable at all.
   */
  const tileable = (e: PExpr, uni: boolean): boolean => {
    const vars = exprVars(e);
    return vars.has('$n') && vars.has('$t') && ![...vars].some((n) => n.startsWith('$p:') || (!uni && n.startsWith('ix_')));
  };

  const contiguous = scanContiguousTensors(sp);
  const declsOf = (sc: Scope | undefined): Extract<PStmt, { k: 'decl' }>[] => (sc?.decls ?? []).filter((d): d is Extract<PStmt, { k: 'decl' }> => d.k === 'decl');

  /** One chunk loop over the scan axis, from one row mode's templates (`uni`: the rows agree on the uniform values). */
  const chunkLoop = (all: Templates, uni: boolean, tag: string): PStmt[] => {
    const tm: Templates = summary ? { ...all, acc: [], store: [], storeIdx: [] } : all;
    const vectorAligned = new Map<string, PExpr>();
    const tiles = new Map<string, { name: string; load: PExpr }>();
    const stageTiles = (x: PExpr): PExpr => {
      if (x.k === 'load' && tileable(x.index, uni)) {
        const key = JSON.stringify(x);
        if (!tiles.has(key)) tiles.set(key, { name: `tile${tag}${tiles.size}`, load: x });
        return v(`$tile:${tiles.get(key)!.name}`);
      }
      return mapExprChildren(x, stageTiles);
    };
    const coef = tm.coef.map(stageTiles), rest = tm.rest.map(stageTiles), acc = tm.acc.map(stageTiles);
    // With shuffles the tiles are double-buffered (one barrier per chunk): `tb` is this chunk's half.
    const tileAt = (x: PExpr): PExpr => (SH ? add(v('tb'), x) : x);

    // ---- B: the recurrences over the chunk's steps, W at a time (sk, sk + 1, ...), all elements and rows of the lane ----
    const redIdx = (j: number, laneExpr: PExpr, step: PExpr): PExpr => add(add(add(mul(v('slot'), i(RS)), i(j * CR)), mul(laneExpr, i(P))), step);
    const subs = Array.from({ length: W }, (_, w) => w);
    interface BBody { body: PStmt[]; steps: Scope[]; stepCopies: (Scope | undefined)[][] }
    /**
     * One group of W steps. `guarded` (the last chunk): steps past the end
     * leave the states as they are (their partials are never stored).
     */
    const emitB = (guarded: boolean): BBody => {
      const g = guarded ? 'g' : '';
      const steps = subs.map((w) => newScope(T_BIT, rowScope, `_b${tag}${g}${w}`, new Map([['$t', v(`ts${w}`)]])));
      const stepCopies = subs.map((w) => copies.map((j) => (K === 1 ? undefined : newScope(T_BIT | P_BIT, steps[w], `_b${tag}${g}${w}r${j}`))));
      const body: PStmt[] = [];
      for (const j of copies) for (const w of subs) for (let k = 0; k < accs.length; k++) body.push(decl(cn(`part${k}_${w}`, j), 'f32', f(0), true));
      for (const e of els) {
        // The element's tile values for the W steps, one vector read per tile, shared by the K rows.
        const tileVal = (t: string, w: number): string => `${t}_e${e}${g}_${w}`;
        for (const t of tiles.values()) {
          const at = add(tileAt(v(`np_${e}`)), v('sk'));
          body.push(W > 1 ? { k: 'svload', arr: t.name, index: at, names: subs.map((w) => tileVal(t.name, w)) }
            : decl(tileVal(t.name, 0), 'f32', { k: 'sload', arr: t.name, index: at }));
        }
        for (const w of subs) {
          const inner = newScope(T_BIT | N_BIT, steps[w], `_b${tag}${g}e${e}_${w}`, new Map([...tiles.values()].map((t) => [`$tile:${t.name}`, v(tileVal(t.name, w))])));
          for (const j of copies) {
            const innerCopy = K === 1 ? undefined : newScope(T_BIT | N_BIT | P_BIT, inner, `_b${tag}${g}e${e}_${w}r${j}`);
            const mine = innerCopy ?? inner;
            // inner → step → element → row, each after its copy (hoisting by exact level needs every level on the chain).
            const chain = chainOf([inner, innerCopy], [steps[w]!, stepCopies[w]![j]], [nScopes[e]!, nCopies[e]![j]], [rowScope, rowCopies[j]]);
            const emit = (x: PExpr): PExpr => emitIn(hoister, x, chain);
            const flush = (): PStmt[] => [...inner.decls.splice(0), ...(innerCopy?.decls.splice(0) ?? [])];
            const inside = lt(add(add(v('c0'), v('sk')), i(w)), L);
            const keep = (name: string, next: PExpr): PStmt => assign(name, guarded ? { k: 'select', c: inside, a: next, b: v(name) } : next);
            updates.forEach((u, s) => {
              mine.subst.set(hVar(u.state.name, true), v(hName(s, e, j)));
              const c = emit(coef[s]!), r = emit(rest[s]!);
              // The summary also multiplies up the decays (named, to use twice): the segment's state is then prName · (entering state) + hName.
              const decay = summary ? cn(`dk${s}_${e}_${w}`, j) : undefined;
              body.push(...flush(), ...(decay ? [decl(decay, 'f32', c)] : []), keep(hName(s, e, j), add(mul(decay ? v(decay) : c, v(hName(s, e, j))), r)));
              if (decay) body.push(keep(prName(s, e, j), mul(v(prName(s, e, j)), v(decay))));
            });
            updates.forEach((u, s) => mine.subst.set(hVar(u.state.name, false), v(hName(s, e, j))));
            accs.forEach((_, k) => {
              const term = emit(acc[k]!);
              const masked = ragged && e === E - 1 ? { k: 'select', c: v(`nok_${e}`), a: term, b: f(0) } as PExpr : term;
              const part = cn(`part${k}_${w}`, j);
              body.push(...flush(), assign(part, add(v(part), masked)));
            });
          }
        }
      }
      // (With shuffles the caller adds the partials up across the lanes instead.)
      for (const j of SH ? [] : copies) {
        accs.forEach((_, k) => body.push(W > 1
          ? { k: 'svstore', arr: `red${k}`, index: redIdx(j, v('lane'), v('sk')), values: subs.map((w) => v(cn(`part${k}_${w}`, j))) }
          : { k: 'sstore', arr: `red${k}`, index: redIdx(j, v('lane'), v('sk')), value: v(cn(`part${k}_0`, j)) }));
      }
      return { body, steps, stepCopies };
    };
    const full = emitB(false), tail = emitB(true);
    // Step values phase B reads come from phase A through workgroup memory: the q-th value of every step
    // scope is the same expression at another step. Values shared by the rows (level T) are staged once
    // per slot (copy 0's place); per-row ones (T|P) once per row. The others stay in phase A.
    const usedInB = stmtVars([...full.body, ...tail.body]);
    interface Staged { d: Extract<PStmt, { k: 'decl' }>; q: number; j: number | undefined; arr: string }
    const stagedOf = (scopeOf: (b: BBody, w: number) => Scope | undefined, j: number | undefined, prefix: string): Staged[] =>
      declsOf(scopeOf(full, 0)).flatMap((d, q) => ([full, tail].some((b) => subs.some((w) => usedInB.has(declsOf(scopeOf(b, w))[q]?.name ?? '')))
        ? [{ d, q, j, arr: `stage${prefix}${d.ty}${q}` }] : []));
    const staged: Staged[] = [
      ...stagedOf((b, w) => b.steps[w], undefined, ''),
      ...(K === 1 ? [] : copies.flatMap((j) => stagedOf((b, w) => b.stepCopies[w]![j], j, 'r'))),
    ];
    const stageIdx = (st: Staged, step: PExpr): PExpr => add(add(mul(v('slot'), i(TS)), i((st.j ?? 0) * TB)), step);
    const stagedLoads = (b: BBody): PStmt[] => staged.flatMap((st) => {
      const names = subs.map((w) => declsOf(st.j === undefined ? b.steps[w] : b.stepCopies[w]![st.j])[st.q]!.name);
      const index = stageIdx(st, v('sk'));
      return W > 1 && st.d.ty === 'f32' ? [{ k: 'svload', arr: st.arr, index, names } as PStmt]
        : names.map((n, w) => decl(n, st.d.ty, { k: 'sload', arr: st.arr, index: add(index, i(w)) }));
    });
    const bLoop = (b: BBody, end: PExpr, unroll: number): PStmt => {
      const loads = stagedLoads(b);
      const used = stmtVars([...loads, ...b.body]);
      // In the last chunk a group's later steps may lie past the end: they read at the last step (and change nothing).
      const ts = subs.filter((w) => used.has(`ts${w}`)).map((w) => {
        const raw = add(add(v('c0'), v('sk')), i(w));
        return decl(`ts${w}`, 'i32', b === tail ? { k: 'imin', a: raw, b: sub1(L) } : raw);
      });
      return loop('sk', i(0), end, i(W), [...ts, ...loads, ...b.body], unroll);
    };

    // ---- A: step values for `items` steps per lane (all K rows); tiles by the whole workgroup ----
    const aSteps: PStmt[] = [
      decl('ja', 'i32', add(mul(v('ia'), i(S)), v('lane'))),
      decl('ts0', 'i32', { k: 'imin', a: add(v('c0'), v('ja')), b: sub1(L) }),
      ...full.steps[0]!.decls,
      ...copies.flatMap((j) => full.stepCopies[0]![j]?.decls ?? []),
      ...staged.map((st) => ({ k: 'sstore', arr: st.arr, index: stageIdx(st, v('ja')), value: v(st.d.name) }) as PStmt),
    ];
    // Tiles whose tensor is read contiguously in t fill 4 steps per 16-byte load in full chunks when
    // its rows are 4-aligned (L % 4 == 0, one uniform check); the others, and the last chunk, element by element.
    const scalarFills: PStmt[] = [], vectorFills: PStmt[] = [];
    for (const t of tiles.values()) {
      const fill = newScope(T_BIT | N_BIT, rowScope, `_f${t.name}`, new Map([['$n', v('fe')], ['$t', v('ft')]]));
      const value = hoister.emit(t.load, fill);
      const scalar = loop('fq', TID, i(N * TT), i(S * R), [
        decl('fe', 'i32', { k: 'bin', op: '/', a: v('fq'), b: i(TT) }),
        decl('fj', 'i32', { k: 'bin', op: '%', a: v('fq'), b: i(TT) }),
        decl('ft', 'i32', { k: 'imin', a: add(v('c0'), v('fj')), b: sub1(L) }),
        ...fill.decls,
        { k: 'sstore', arr: t.name, index: tileAt(add(mul(v('fe'), i(P)), v('fj'))), value },
      ]);
      scalarFills.push(scalar);
      const buf = t.load.k === 'load' ? t.load.buf : '';
      if (W === 4 && contiguous.has(buf)) {
        const vfill = newScope(T_BIT | N_BIT, rowScope, `_v${t.name}`, new Map([['$n', v('fe')], ['$t', v('ft')]]));
        const at = t.load.k === 'load' ? hoister.emit(t.load.index, vfill, 'i32') : i(0);
        const names = [0, 1, 2, 3].map((j) => `fv${j}`);
        vectorFills.push(loop('fq', TID, i((N * TT) / 4), i(S * R), [
          decl('fe', 'i32', { k: 'bin', op: '/', a: v('fq'), b: i(TT / 4) }),
          decl('fj', 'i32', mul({ k: 'bin', op: '%', a: v('fq'), b: i(TT / 4) }, i(4))),
          decl('ft', 'i32', add(v('c0'), v('fj'))),
          ...vfill.decls,
          { k: 'vload', buf, index: at, names, aligned: true },
          { k: 'svstore', arr: t.name, index: tileAt(add(mul(v('fe'), i(P)), v('fj'))), values: names.map(v) },
        ]));
        const last = sp.used.find((x) => x.name === buf)!.shape;
        vectorAligned.set(JSON.stringify(last[last.length - 1]), rowsAlignedFor(sp, buf, 4));
      } else {
        vectorFills.push(scalar);
      }
      need(t.name, 'f32', (SH ? 2 : 1) * N * P);
    }
    const fullAligned = [...vectorAligned.values()].reduce((a, c): PExpr => ({ k: 'bin', op: '&&', a, b: c }), { k: 'bin', op: '<=', a: add(v('c0'), i(TT)), b: L } as PExpr);
    const fills: PStmt[] = vectorAligned.size ? [when(fullAligned, vectorFills, scalarFills)] : scalarFills;
    if (SH) {
      const chunk = shuffleChunk({
        tag, lanes: S, items: IA, W, L, full, tail, usedInB, templates: tm, accNames: accs.map((a) => a.name), storeTensors: an.stores.map((s) => s.tensor.name),
        hoister, rowScope, rowBlock: K, rowCopies, aligned: [...vectorAligned.values()], elemBytes: (buf) => elemBytesOf(sp, buf), contiguous, rowsAligned: (buf, w) => rowsAlignedFor(sp, buf, w), fills: tiles.size ? fills : [],
        prefetch: sched.prefetch ?? 0,
        scatter: sched.scatter === true,
        ...(seg ? { first: segmentEnds(v('c0'), seg.length) } : {}),
        ...(sched.stage ? { stage: { threads: S * R, need: (n: string, size: number, narrow?: 'bf16' | 'f16') => need(n, 'f32', size, narrow), elemOf: (buf: string) => sp.used.find((t) => t.name === buf)!.dtype } } : {}),
        fillNow: M > 1 ? { k: 'bin', op: '==', a: { k: 'bin', op: '%', a: v('c0'), b: i(TT) }, b: i(0) } : undefined,
      });
      const half: PExpr = mul({ k: 'bin', op: '%', a: { k: 'bin', op: '/', a: v('c0'), b: i(TT) }, b: i(2) }, i(N * P));
      // The tiles of tile span c (tileChunks chunks) fill half c % 2: the barrier of span c + 1 orders every read of
      // that half before span c + 2 refills it. `tb` also holds the chunk's offset in its span (0 when it fills).
      const base = M > 1 ? add(half, { k: 'bin', op: '%', a: v('c0'), b: i(TT) }) : half;
      return [chunks([...(tiles.size ? [decl('tb', 'i32', base)] : []), chunk])];
    }
    for (const st of staged) need(st.arr, st.d.ty, R * TS);
    accs.forEach((_, k) => need(`red${k}`, 'f32', R * RS));

    // ---- C: each lane sums each row's partials for `items` steps and stores the outputs ----
    const post = newScope(T_BIT, rowScope, `_c${tag}`, new Map<string, PExpr>([['$t', v('ts')], ...(K === 1 ? accs.map((a, k) => [`$${a.name}`, v(`acc${k}`)] as [string, PExpr]) : [])]));
    const perCopy = copies.map((j) => {
      const postCopy = K === 1 ? undefined : newScope(T_BIT | P_BIT, post, `_c${tag}r${j}`, new Map(accs.map((a, k) => [`$${a.name}`, v(cn(`acc${k}`, j))] as [string, PExpr])));
      const chain = chainOf([post, postCopy], [rowScope, rowCopies[j]]);
      const stores = tm.store.map((value, k) => ({ k: 'store', buf: an.stores[k]!.tensor.name, index: emitIn(hoister, tm.storeIdx[k]!, chain, 'i32'), value: emitIn(hoister, value, chain) }) as PStmt);
      return { postCopy, stores };
    });
    const cSteps: PStmt[] = [
      decl('jc', 'i32', add(mul(v('ic'), i(S)), v('lane'))),
      decl('ts', 'i32', { k: 'imin', a: add(v('c0'), v('jc')), b: sub1(L) }),
      ...copies.flatMap((j) => accs.flatMap((_, k) => [
        decl(cn(`acc${k}`, j), 'f32', f(0), true),
        loop('sm', i(0), i(S), i(1), [assign(cn(`acc${k}`, j), add(v(cn(`acc${k}`, j)), { k: 'sload', arr: `red${k}`, index: redIdx(j, v('sm'), v('jc')) }))], S),
      ])),
      when(lt(add(v('c0'), v('jc')), L), [
        // Values the rows share load at the (clamped, in-bounds) step; each row stores only where it exists.
        ...post.decls,
        ...perCopy.map(({ postCopy, stores }, j) => when(v(cn('rowOk', j)), [...(postCopy?.decls ?? []), ...stores])),
      ]),
    ];

    return [
      chunks([
        // Phase C of the previous chunk read the partials phase B rewrites; phase B read the tiles and step values A rewrites.
        barrier,
        ...fills,
        // Phases A and C stay rolled: unrolled, their calls (softplus, silu) spill at 64 registers.
        rolled('ia', IA, aSteps),
        barrier,
        when({ k: 'bin', op: '<=', a: add(v('c0'), i(TB)), b: L }, [bLoop(full, i(TB), Math.min(TB / W, 4))], [bLoop(tail, { k: 'bin', op: '-', a: L, b: v('c0') }, 1)]),
        ...(summary ? [] : [barrier, rolled('ic', IA, cSteps)]),
      ]),
    ];
  };

  const generalLoop = chunkLoop(general, false, '');
  const uniformLoop = hasUniform ? chunkLoop(uniform, true, 'u') : undefined;

  // ---- the rows and the lane's elements: indices, initial states; after the chunks, final states ----
  const { nRows, decompose } = rowDecomposition(sp);
  const elemDecls: PStmt[] = els.flatMap((e) => {
    const raw = add(v('lane'), i(S * e));
    return [
      ...(ragged && e === E - 1 ? [decl(`nok_${e}`, 'bool', lt(raw, i(N))), decl(`n_${e}`, 'i32', { k: 'imin', a: raw, b: i(N - 1) })] : [decl(`n_${e}`, 'i32', raw)]),
      decl(`np_${e}`, 'i32', mul(v(`n_${e}`), i(P))),
    ];
  });
  const stateIdx = (e: number, j: number): PExpr => add(mul(v(cn('row', j)), i(N)), v(`n_${e}`));
  const slotIdx = (s: number, e: number, j: number): PExpr => segmentSlot(v(cn('row', j)), v(SEG), s, updates.length, N, v(`n_${e}`));
  const each = <T>(fn: (s: number, e: number, j: number) => T[]): T[] => updates.flatMap((_, s) => els.flatMap((e) => copies.flatMap((j) => fn(s, e, j))));
  // Recomputed from the workgroup's index after the chunks, not kept live through them.
  const lastSegment = seg ? isLastSegment(nRows, R * K, seg.length, L) : undefined;
  const okAt = (e: number, j: number): PExpr => (ragged && e === E - 1 ? { k: 'bin', op: '&&', a: v(cn('rowOk', j)), b: v(`nok_${e}`) } : v(cn('rowOk', j)));
  const init: PStmt[] = each((s, e, j) => {
    const u = updates[s]!;
    // A segment's summary starts from zero with no decay yet; its outputs from the state the pass between found.
    if (summary) return [decl(hName(s, e, j), 'f32', f(0), true), decl(prName(s, e, j), 'f32', f(1), true)];
    if (seg) return [decl(hName(s, e, j), 'f32', { k: 'load', buf: SEG_STATES, index: slotIdx(s, e, j) }, true)];
    const given = sp.variant.initStates.includes(u.state.name);
    return [decl(hName(s, e, j), 'f32', given ? { k: 'load', buf: u.state.init, index: stateIdx(e, j) } : f(0), true)];
  });
  const final: PStmt[] = summary
    ? each((s, e, j) => [when(okAt(e, j), [
      { k: 'store', buf: SEG_STATES, index: slotIdx(s, e, j), value: v(hName(s, e, j)) },
      { k: 'store', buf: SEG_DECAYS, index: slotIdx(s, e, j), value: v(prName(s, e, j)) },
    ])])
    : each((s, e, j) => {
      const u = updates[s]!;
      if (!sp.variant.finalStates.includes(u.state.name)) return [];
      // Split, only the last segment's end is the sequence's.
      const ok = seg ? { k: 'bin', op: '&&', a: okAt(e, j), b: lastSegment } as PExpr : okAt(e, j);
      return [when(ok, [{ k: 'store', buf: u.state.final, index: stateIdx(e, j), value: v(hName(s, e, j)) }])];
    });
  // Row- and element-level values (Mamba-1's A[d][n]·log2 e) were hoisted into their scopes while emitting.
  const rowBody: PStmt[] = [
    ...copies.flatMap((j) => decompose(v(cn('row', j)), (k) => cn(`rem${k}`, j), (q) => rowVar(q, j))),
    ...(hasUniform ? uniformCheck(sp, tp, R * K, rowGroup) : []),
    ...rowScope.decls,
    ...rowCopies.flatMap((c) => c?.decls ?? []),
    ...elemDecls,
    ...nScopes.flatMap((sc, e) => [...sc.decls, ...nCopies[e]!.flatMap((c) => c?.decls ?? [])]),
    ...init,
    ...(uniformLoop ? [when(v('uni'), uniformLoop, generalLoop)] : generalLoop),
    ...final,
  ];
  // Split, workgroup g runs row group g mod (row groups) over segment g / (row groups): neighbours share a segment (and its B and C lines).
  const segDecls = seg ? segmentOf(nRows, R * K, seg.length, L) : [];
  const live: PExpr = lt(mul(rowGroup, i(R * K)), nRows);
  const body: PStmt[] = [
    decl('lane', 'i32', R === 1 ? TID : { k: 'bin', op: '%', a: TID, b: i(S) }),
    decl('slot', 'i32', R === 1 ? i(0) : { k: 'bin', op: '/', a: TID, b: i(S) }),
    ...segDecls,
    ...slotRows(nRows, R, K, rowGroup),
    // The last segment needs no summary: nothing comes after it.
    when(summary ? { k: 'bin', op: '&&', a: live, b: lt(v(SEG), sub1(v(SEG_COUNT))) } : live, rowBody),
  ];
  const bytes = shared.reduce((a, s) => a + 4 * s.size, 0);
  if (bytes > sharedBytes) {
    throw new LoweringError(`state lanes: lanes ${S} × items ${IA} × rows ${R}${K > 1 ? ` × rowBlock ${K}` : ''} needs ${bytes} bytes of workgroup memory, more than the ${sharedBytes} this target allows`);
  }
  const { buffers, params, elem } = seg ? segmentBindings(sp, seg.role) : programBindings(sp);
  return {
    name,
    workgroupSize: S * R,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: SH && S > 1,
    grid: { groupsFromDims: sp.parallel.map((q) => sp.indices[q]!.dim), rowsPerGroup: R * K, ...(seg ? { tiles: [{ dim: sp.indices[sp.scan]!.dim, size: seg.length }] } : {}) },
    helpers: tp.helpers,
    // A handful of values per element and step: 64 registers let ptxas keep the occupancy the form needs
    // (the prototype: 64 registers at 256 threads, 4 workgroups per SM); more elements per lane or rows per
    // thread need more (lanes 4 of 16 elements, or 4 steps per lane in phases A and C, spill at 64:
    // test/state-lanes-cuda.test.ts).
    registerBudget: SH ? shuffleRegisterBudget(S, E, IA * K) : E * K > 2 ? 128 : K > 1 || IA > 2 ? 96 : 64,
    elem,
  };
}

/**
 * With shuffles a lane holds its E states and, for its `items` steps (of each of its rows: `items`
 * counts items × rowBlock), the step values, inputs read early and the sums: few lanes per row are
 * few threads, so each may take more registers. The smallest budget at which nvcc spills nothing for
 * Mamba-1 (test/state-lanes-cuda.test.ts).
 */
function shuffleRegisterBudget(lanes: number, E: number, items: number): number {
  if (lanes === 1) return 255;
  if (lanes === 2) return items <= 4 ? 128 : 168;
  if (lanes === 4) return items <= 2 ? 96 : 128;
  return E * items < 4 ? 64 : 96;
}

/** Steps per phase-B group of a chunk of TB steps: one 8/16-byte access per array where the target has them. */
function stepsPerGroup(TB: number): number {
  return TB % 4 === 0 ? 4 : TB % 2 === 0 ? 2 : 1;
}

/** for (v = 0; v < n; v++), asked to stay rolled. */
function rolled(name: string, n: number, body: PStmt[]): PStmt {
  return { k: 'for', v: name, from: i(0), to: i(n), step: i(1), body, unroll: 1 };
}

function sub1(p: PExpr): PExpr {
  return { k: 'bin', op: '-', a: p, b: i(1) };
}
