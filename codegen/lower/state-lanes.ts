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
// Two barriers per chunk (after A and after B) order every reuse of the
// workgroup arrays. Per (step, element) the work is the update's arithmetic
// and a few workgroup-memory reads; the prototype of this form (bench/
// prototypes/state_lanes.py, RESULTS run 30) ran Mamba-1 1.7× faster than
// the chunked form on the H100.

import type { SpecializedProgram } from '../../dsl/ir.js';
import {
  add, assign, barrier, decl, f, i, loop, lt, mul, type KernelPlan, type PExpr, type PStmt, type SharedArray, TID, type Ty, v, when,
} from '../plan/ast.js';
import { newScope, type Scope } from './hoist.js';
import { dimEnv } from './index-math.js';
import {
  analyseDiagonal, diagonalTemplates, LoweringError, N_BIT, rowDecomposition, scanContiguousTensors, T_BIT, uniformCheck, type Templates,
} from './diagonal-templates.js';

export interface StateLanesSchedule {
  /** Threads per row, over the state elements (a power of two). */
  lanes: number;
  /** Steps each lane computes in phases A and C; the chunk is lanes × items steps. */
  items: number;
  /** Rows per workgroup (they share the staged tiles). */
  rows: number;
}

/** Workgroup memory the form needs (bytes), for a schedule; undefined if the program does not fit the form. */
export function stateLanesShared(sp: SpecializedProgram, sched: StateLanesSchedule): number {
  return lowerStateLanes(sp, sched, 'size', Number.MAX_SAFE_INTEGER).shared.reduce((a, s) => a + 4 * s.size, 0);
}

export function lowerStateLanes(sp: SpecializedProgram, sched: StateLanesSchedule, name: string, sharedBytes: number): KernelPlan {
  const an = analyseDiagonal(sp);
  const { updates, stateDim } = an;
  const S = sched.lanes, IA = sched.items, R = sched.rows;
  if (!Number.isInteger(Math.log2(S)) || S < 1) throw new LoweringError(`lanes must be a power of two, got ${S}`);
  if (!Number.isInteger(IA) || IA < 1) throw new LoweringError(`items must be a positive integer, got ${IA}`);
  if (!Number.isInteger(R) || R < 1) throw new LoweringError(`rows must be a positive integer, got ${R}`);
  const N = sp.staticDims[stateDim];
  if (N === undefined) throw new LoweringError(`state dim ${stateDim} must be static`);
  if (S > N) throw new LoweringError(`lanes (${S}) exceed the ${N} state elements (${stateDim})`);
  const E = Math.ceil(N / S);
  const TB = S * IA;
  // Phase B takes W steps at a time, with one 8/16-byte access per array where the target has them.
  const W = TB % 4 === 0 ? 4 : TB % 2 === 0 ? 2 : 1;
  // Row stride of the [element or lane][step] arrays: rows stay W-aligned for the vector accesses; the
  // 4-word shift (1 without vectors) puts the rows that 8 lanes read at once on distinct banks.
  const P = W > 1 ? TB + 4 : TB + 1;
  // Per-row (slot) strides of the partials (S rows of P) and of the staged step values (TB): the 32 / S
  // slots of a warp start S banks apart, so a warp's reads and writes of them (one word per lane, or
  // one broadcast 16-byte word per slot) meet no bank twice (2- and 4-way conflicts otherwise, run 31).
  const slotStride = (x: number): number => (S >= 4 ? x + ((S - (x % 32) + 32) % 32) : x);
  const RS = slotStride(S * P), TS = slotStride(TB);
  const dim = dimEnv(sp.staticDims);
  const L = dim(sp.indices[sp.scan]!.dim);
  const lastPar = sp.parallel[sp.parallel.length - 1]!;
  const tp = diagonalTemplates(sp, an, 1);
  const { hoister, accs, hVar } = tp;
  const general = tp.templatesFor('one');
  const uniform = tp.templatesFor('uniform');
  const hasUniform = tp.uniformDivs.size > 0 || tp.uniformVars.size > 0;
  const els = Array.from({ length: E }, (_, e) => e);
  // The last element slot of a lane may lie past N (N not a multiple of lanes): clamped reads, no contribution.
  const ragged = N % S !== 0;

  const rowScope = newScope(0, undefined, '', new Map([[`$p:${lastPar}`, v(`ix_${lastPar}`)]]));
  const nScopes: Scope[] = els.map((e) => newScope(N_BIT, rowScope, `_e${e}`, new Map([['$n', v(`n_${e}`)]])));
  const shared: SharedArray[] = [];
  // The two chunk loops (uniform and general row modes) never run together: same-named arrays are shared.
  const need = (name: string, ty: Ty, size: number): void => {
    const have = shared.find((a) => a.name === name);
    if (!have) shared.push({ name, ty, size });
    else if (have.ty !== ty) throw new LoweringError(`internal: workgroup array ${name} wanted as ${have.ty} and ${ty}`);
    else have.size = Math.max(have.size, size);
  };
  const hName = (s: number, e: number): string => `h${s}_${e}`;

  /**
   * Operands read per (element, step) that every row of the workgroup reads
   * alike are staged as tiles: loads whose index holds $n and $t, no per-row
   * variable, and (unless the uniform check guards them) no row variable at all.
   */
  const tileable = (e: PExpr, uni: boolean): boolean => {
    const vars = new Set<string>();
    const walk = (x: PExpr): void => {
      if (x.k === 'var') vars.add(x.name);
      for (const c of children(x)) walk(c);
    };
    walk(e);
    return vars.has('$n') && vars.has('$t') && ![...vars].some((n) => n.startsWith('$p:') || (!uni && n.startsWith('ix_')));
  };

  const contiguous = scanContiguousTensors(sp);

  /** One chunk loop over the scan axis, from one row mode's templates (`uni`: the rows agree on the uniform values). */
  const chunkLoop = (tm: Templates, uni: boolean, tag: string): PStmt[] => {
    const vectorAligned = new Map<string, PExpr>();
    const tiles = new Map<string, { name: string; load: PExpr }>();
    const stageTiles = (x: PExpr): PExpr => {
      if (x.k === 'load' && tileable(x.index, uni)) {
        const key = JSON.stringify(x);
        if (!tiles.has(key)) tiles.set(key, { name: `tile${tag}${tiles.size}`, load: x });
        return v(`$tile:${tiles.get(key)!.name}`);
      }
      return mapChildren(x, stageTiles);
    };
    const coef = tm.coef.map(stageTiles), rest = tm.rest.map(stageTiles), acc = tm.acc.map(stageTiles);

    // ---- B: the recurrences over the chunk's steps, W at a time (sk, sk + 1, ...), all elements of the lane ----
    const redIdx = (laneExpr: PExpr, step: PExpr): PExpr => add(add(mul(v('slot'), i(RS)), mul(laneExpr, i(P))), step);
    const subs = Array.from({ length: W }, (_, w) => w);
    /**
     * One group of W steps. `guarded` (the last chunk): steps past the end
     * leave the states as they are (their partials are never stored).
     */
    const emitB = (guarded: boolean): { body: PStmt[]; steps: Scope[] } => {
      const g = guarded ? 'g' : '';
      const steps = subs.map((w) => newScope(T_BIT, rowScope, `_b${tag}${g}${w}`, new Map([['$t', v(`ts${w}`)]])));
      const body: PStmt[] = [];
      for (const w of subs) for (let k = 0; k < accs.length; k++) body.push(decl(`part${k}_${w}`, 'f32', f(0), true));
      for (const e of els) {
        // The element's tile values for the W steps, one vector read per tile.
        const tileVal = (t: string, w: number): string => `${t}_e${e}${g}_${w}`;
        for (const t of tiles.values()) {
          body.push(W > 1 ? { k: 'svload', arr: t.name, index: add(v(`np_${e}`), v('sk')), names: subs.map((w) => tileVal(t.name, w)) }
            : decl(tileVal(t.name, 0), 'f32', { k: 'sload', arr: t.name, index: add(v(`np_${e}`), v('sk')) }));
        }
        for (const w of subs) {
          const inner = newScope(T_BIT | N_BIT, steps[w], `_b${tag}${g}e${e}_${w}`, new Map([...tiles.values()].map((t) => [`$tile:${t.name}`, v(tileVal(t.name, w))])));
          // The chain inner → step → element → row (hoisting by exact level needs the element scope on it).
          steps[w]!.parent = nScopes[e];
          updates.forEach((u, s) => {
            inner.subst.set(hVar(u.state.name, true), v(hName(s, e)));
            const next = add(mul(hoister.emit(coef[s]!, inner), v(hName(s, e))), hoister.emit(rest[s]!, inner));
            body.push(...inner.decls.splice(0), assign(hName(s, e), guarded ? { k: 'select', c: lt(add(add(v('c0'), v('sk')), i(w)), L), a: next, b: v(hName(s, e)) } : next));
          });
          updates.forEach((u, s) => inner.subst.set(hVar(u.state.name, false), v(hName(s, e))));
          accs.forEach((_, k) => {
            const term = hoister.emit(acc[k]!, inner);
            const masked = ragged && e === E - 1 ? { k: 'select', c: v(`nok_${e}`), a: term, b: f(0) } as PExpr : term;
            body.push(...inner.decls.splice(0), assign(`part${k}_${w}`, add(v(`part${k}_${w}`), masked)));
          });
          steps[w]!.parent = rowScope;
        }
      }
      accs.forEach((_, k) => body.push(W > 1
        ? { k: 'svstore', arr: `red${k}`, index: redIdx(v('lane'), v('sk')), values: subs.map((w) => v(`part${k}_${w}`)) }
        : { k: 'sstore', arr: `red${k}`, index: redIdx(v('lane'), v('sk')), value: v(`part${k}_0`) }));
      return { body, steps };
    };
    const full = emitB(false), tail = emitB(true);
    // Step values phase B reads come from phase A through workgroup memory (the q-th value of every
    // step scope is the same expression at another step); the others stay in phase A.
    const declsOf = (sc: Scope): Extract<PStmt, { k: 'decl' }>[] => sc.decls.filter((d): d is Extract<PStmt, { k: 'decl' }> => d.k === 'decl');
    const usedInB = referencedVars([...full.body, ...tail.body]);
    const stagedIdx = declsOf(full.steps[0]!).map((_, q) => q).filter((q) => [full, tail].some((b) => b.steps.some((sc) => usedInB.has(declsOf(sc)[q]?.name ?? ''))));
    const staged = stagedIdx.map((q) => declsOf(full.steps[0]!)[q]!);
    const stageName = (q: number): string => `stage${staged[q]!.ty}${q}`;
    const stagedLoads = (b: { steps: Scope[] }): PStmt[] => staged.flatMap((d, q) => {
      const names = b.steps.map((sc) => declsOf(sc)[stagedIdx[q]!]!.name);
      const index = add(mul(v('slot'), i(TS)), v('sk'));
      return W > 1 && d.ty === 'f32' ? [{ k: 'svload', arr: stageName(q), index, names } as PStmt]
        : names.map((n, w) => decl(n, d.ty, { k: 'sload', arr: stageName(q), index: add(index, i(w)) }));
    });
    const bLoop = (b: { body: PStmt[]; steps: Scope[] }, end: PExpr, unroll: number): PStmt => {
      const loads = stagedLoads(b);
      const used = referencedVars([...loads, ...b.body]);
      const ts = subs.filter((w) => used.has(`ts${w}`)).map((w) => decl(`ts${w}`, 'i32', add(add(v('c0'), v('sk')), i(w))));
      return loop('sk', i(0), end, i(W), [...ts, ...loads, ...b.body], unroll);
    };

    // ---- A: step values for `items` steps per lane; tiles by the whole workgroup ----
    const aSteps: PStmt[] = [
      decl('ja', 'i32', add(mul(v('ia'), i(S)), v('lane'))),
      decl('ts0', 'i32', { k: 'imin', a: add(v('c0'), v('ja')), b: sub1(L) }),
      ...full.steps[0]!.decls,
      ...staged.map((d, q) => ({ k: 'sstore', arr: stageName(q), index: add(mul(v('slot'), i(TS)), v('ja')), value: v(d.name) }) as PStmt),
    ];
    // Tiles whose tensor is read contiguously in t fill 4 steps per 16-byte load in full chunks when
    // its rows are 4-aligned (L % 4 == 0, one uniform check); the others, and the last chunk, element by element.
    const scalarFills: PStmt[] = [], vectorFills: PStmt[] = [];
    for (const t of tiles.values()) {
      const fill = newScope(T_BIT | N_BIT, rowScope, `_f${t.name}`, new Map([['$n', v('fe')], ['$t', v('ft')]]));
      const value = hoister.emit(t.load, fill);
      const scalar = loop('fq', TID, i(N * TB), i(S * R), [
        decl('fe', 'i32', { k: 'bin', op: '/', a: v('fq'), b: i(TB) }),
        decl('fj', 'i32', { k: 'bin', op: '%', a: v('fq'), b: i(TB) }),
        decl('ft', 'i32', { k: 'imin', a: add(v('c0'), v('fj')), b: sub1(L) }),
        ...fill.decls,
        { k: 'sstore', arr: t.name, index: add(mul(v('fe'), i(P)), v('fj')), value },
      ]);
      scalarFills.push(scalar);
      const buf = t.load.k === 'load' ? t.load.buf : '';
      if (W === 4 && contiguous.has(buf)) {
        const vfill = newScope(T_BIT | N_BIT, rowScope, `_v${t.name}`, new Map([['$n', v('fe')], ['$t', v('ft')]]));
        const at = t.load.k === 'load' ? hoister.emit(t.load.index, vfill, 'i32') : i(0);
        const names = [0, 1, 2, 3].map((j) => `fv${j}`);
        vectorFills.push(loop('fq', TID, i((N * TB) / 4), i(S * R), [
          decl('fe', 'i32', { k: 'bin', op: '/', a: v('fq'), b: i(TB / 4) }),
          decl('fj', 'i32', mul({ k: 'bin', op: '%', a: v('fq'), b: i(TB / 4) }, i(4))),
          decl('ft', 'i32', add(v('c0'), v('fj'))),
          ...vfill.decls,
          { k: 'vload', buf, index: at, names, aligned: true },
          { k: 'svstore', arr: t.name, index: add(mul(v('fe'), i(P)), v('fj')), values: names.map(v) },
        ]));
        const last = sp.used.find((x) => x.name === buf)!.shape;
        vectorAligned.set(JSON.stringify(last[last.length - 1]), { k: 'bin', op: '==', a: { k: 'bin', op: '%', a: dim(last[last.length - 1]!), b: i(4) }, b: i(0) });
      } else {
        vectorFills.push(scalar);
      }
      need(t.name, 'f32', N * P);
    }
    const fullAligned = (cs: PExpr): PExpr => [...vectorAligned.values()].reduce((a, c): PExpr => ({ k: 'bin', op: '&&', a, b: c }), { k: 'bin', op: '<=', a: add(cs, i(TB)), b: L } as PExpr);
    const fills: PStmt[] = vectorAligned.size ? [when(fullAligned(v('c0')), vectorFills, scalarFills)] : scalarFills;
    staged.forEach((d, q) => need(stageName(q), d.ty, R * TS));
    accs.forEach((_, k) => need(`red${k}`, 'f32', R * RS));

    // ---- C: each lane sums the row's partials for `items` steps and stores the outputs ----
    const post = newScope(T_BIT, rowScope, `_c${tag}`, new Map<string, PExpr>([['$t', v('ts')], ...accs.map((a, k) => [`$${a.name}`, v(`acc${k}`)] as [string, PExpr])]));
    const stores = tm.store.map((value, k) => ({ k: 'store', buf: an.stores[k]!.tensor.name, index: hoister.emit(tm.storeIdx[k]!, post, 'i32'), value: hoister.emit(value, post) }) as PStmt);
    const cSteps: PStmt[] = [
      decl('jc', 'i32', add(mul(v('ic'), i(S)), v('lane'))),
      decl('ts', 'i32', { k: 'imin', a: add(v('c0'), v('jc')), b: sub1(L) }),
      ...accs.flatMap((_, k) => [
        decl(`acc${k}`, 'f32', f(0), true),
        loop('sm', i(0), i(S), i(1), [assign(`acc${k}`, add(v(`acc${k}`), { k: 'sload', arr: `red${k}`, index: redIdx(v('sm'), v('jc')) }))], S),
      ]),
      when({ k: 'bin', op: '&&', a: v('rowOk'), b: lt(add(v('c0'), v('jc')), L) }, [...post.decls, ...stores]),
    ];

    return [
      loop('c0', i(0), L, i(TB), [
      // Phase C of the previous chunk read the partials phase B rewrites; phase B read the tiles and step values A rewrites.
      barrier,
      ...fills,
      // Phases A and C stay rolled: unrolled, their calls (softplus, silu) spill at 64 registers.
      rolled('ia', IA, aSteps),
      barrier,
      when({ k: 'bin', op: '<=', a: add(v('c0'), i(TB)), b: L }, [bLoop(full, i(TB), Math.min(TB / W, 4))], [bLoop(tail, { k: 'bin', op: '-', a: L, b: v('c0') }, 1)]),
      barrier,
      rolled('ic', IA, cSteps),
    ])];
  };

  const generalLoop = chunkLoop(general, false, '');
  const uniformLoop = hasUniform ? chunkLoop(uniform, true, 'u') : undefined;

  // ---- the row and the lane's elements: indices, initial states; after the chunks, final states ----
  const { nRows, decompose } = rowDecomposition(sp);
  const elemDecls: PStmt[] = els.flatMap((e) => {
    const raw = add(v('lane'), i(S * e));
    return [
      ...(ragged && e === E - 1 ? [decl(`nok_${e}`, 'bool', lt(raw, i(N))), decl(`n_${e}`, 'i32', { k: 'imin', a: raw, b: i(N - 1) })] : [decl(`n_${e}`, 'i32', raw)]),
      decl(`np_${e}`, 'i32', mul(v(`n_${e}`), i(P))),
    ];
  });
  const stateIdx = (e: number): PExpr => add(mul(v('row'), i(N)), v(`n_${e}`));
  const init: PStmt[] = updates.flatMap((u, s) => els.map((e) => {
    const given = sp.variant.initStates.includes(u.state.name);
    return decl(hName(s, e), 'f32', given ? { k: 'load', buf: u.state.init, index: stateIdx(e) } : f(0), true);
  }));
  const final: PStmt[] = updates.flatMap((u, s) => (sp.variant.finalStates.includes(u.state.name) ? els.map((e) => {
    const ok: PExpr = ragged && e === E - 1 ? { k: 'bin', op: '&&', a: v('rowOk'), b: v(`nok_${e}`) } : v('rowOk');
    return when(ok, [{ k: 'store', buf: u.state.final, index: stateIdx(e), value: v(hName(s, e)) }]);
  }) : []));
  // Element-level values (Mamba-1's A[d][n]·log2 e) were hoisted into the element scopes while emitting.
  const rowBody: PStmt[] = [
    ...decompose(v('row'), (k) => `rem${k}`, (p) => `ix_${p}`),
    ...(hasUniform ? uniformCheck(sp, tp, R) : []),
    ...rowScope.decls,
    ...elemDecls,
    ...nScopes.flatMap((s) => s.decls),
    ...init,
    ...(uniformLoop ? [when(v('uni'), uniformLoop, generalLoop)] : generalLoop),
    ...final,
  ];
  // Rows past the end (last workgroup) run along on a clamped row, so the barriers stay uniform, and store nothing.
  const rowRaw = add(mul({ k: 'builtin', b: 'group' }, i(R)), v('slot'));
  const body: PStmt[] = [
    decl('lane', 'i32', R === 1 ? TID : { k: 'bin', op: '%', a: TID, b: i(S) }),
    decl('slot', 'i32', R === 1 ? i(0) : { k: 'bin', op: '/', a: TID, b: i(S) }),
    decl('rowOk', 'bool', lt(rowRaw, nRows)),
    decl('row', 'i32', { k: 'imin', a: rowRaw, b: sub1(nRows) }),
    when(lt(mul({ k: 'builtin', b: 'group' }, i(R)), nRows), rowBody),
  ];
  const bytes = shared.reduce((a, s) => a + 4 * s.size, 0);
  if (bytes > sharedBytes) {
    throw new LoweringError(`state lanes: lanes ${S} × items ${IA} × rows ${R} needs ${bytes} bytes of workgroup memory, more than the ${sharedBytes} this target allows`);
  }
  const buffers = [...sp.used, ...sp.written].map((t) => ({
    name: t.name, access: (sp.written.includes(t) ? 'read_write' : 'read') as 'read' | 'read_write', elem: t.dtype,
  }));
  const params = sp.dims.filter((d) => sp.staticDims[d] === undefined).map((d) => ({ name: d, type: 'i32' as const }));
  return {
    name,
    workgroupSize: S * R,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: false,
    grid: { groupsFromDims: sp.parallel.map((p) => sp.indices[p]!.dim), rowsPerGroup: R },
    helpers: tp.helpers,
    // A handful of values per element and step: 64 registers let ptxas keep the occupancy the form needs
    // (the prototype: 64 registers at 256 threads, 4 workgroups per SM); more elements per lane need more
    // (lanes 4 of 16 elements, or 4 steps per lane in phases A and C, spill at 64: test/state-lanes-cuda.test.ts).
    registerBudget: E > 2 ? 128 : IA > 2 ? 96 : 64,
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
  };
}

/** for (v = 0; v < n; v++), asked to stay rolled. */
function rolled(name: string, n: number, body: PStmt[]): PStmt {
  return { k: 'for', v: name, from: i(0), to: i(n), step: i(1), body, unroll: 1 };
}

function sub1(p: PExpr): PExpr {
  return { k: 'bin', op: '-', a: p, b: i(1) };
}

function children(x: PExpr): PExpr[] {
  switch (x.k) {
    case 'bin': case 'imin': case 'imax': return [x.a, x.b];
    case 'neg': case 'not': case 'cast': return [x.a];
    case 'call': return x.args;
    case 'load': case 'sload': return [x.index];
    case 'select': return [x.c, x.a, x.b];
    case 'shuffleUp': return [x.a, x.delta];
    default: return [];
  }
}

function mapChildren(x: PExpr, fn: (c: PExpr) => PExpr): PExpr {
  switch (x.k) {
    case 'bin': case 'imin': case 'imax': return { ...x, a: fn(x.a), b: fn(x.b) };
    case 'neg': case 'not': case 'cast': return { ...x, a: fn(x.a) };
    case 'call': return { ...x, args: x.args.map(fn) };
    case 'load': case 'sload': return { ...x, index: fn(x.index) };
    case 'select': return { ...x, c: fn(x.c), a: fn(x.a), b: fn(x.b) };
    case 'shuffleUp': return { ...x, a: fn(x.a), delta: fn(x.delta) };
    default: return x;
  }
}

/** Names of the variables the statements read. */
function referencedVars(stmts: PStmt[]): Set<string> {
  const out = new Set<string>();
  const ex = (x: PExpr): void => {
    if (x.k === 'var') out.add(x.name);
    for (const c of children(x)) ex(c);
  };
  const st = (s: PStmt): void => {
    switch (s.k) {
      case 'decl': ex(s.init); break;
      case 'assign': ex(s.value); break;
      case 'sstore': case 'store': ex(s.index); ex(s.value); break;
      case 'for': ex(s.from); ex(s.to); ex(s.step); s.body.forEach(st); break;
      case 'if': ex(s.c); s.then.forEach(st); s.else.forEach(st); break;
      case 'vload': case 'svload': ex(s.index); break;
      case 'svstore': ex(s.index); s.values.forEach(ex); break;
      default: break;
    }
  };
  stmts.forEach(st);
  return out;
}

export type { Ty };
