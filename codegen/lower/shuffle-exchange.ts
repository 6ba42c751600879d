// The state-lanes form's chunk with `shuffle` (state-lanes.ts): what the
// shared form passes through workgroup memory stays in registers.
//  A. lane ℓ computes the step values phase B reads (Mamba-1's dt and dt·u)
//     for its own `items` consecutive steps ℓ·items … of the chunk, with
//     vector loads in full aligned chunks;
//  B. unrolled over the chunk: each step's values come from their owner
//     lane by shuffle (lane ℓ's own registers with one lane per row), each
//     lane folds its elements into one partial per step, and butterfly
//     shuffles leave the row's sum in every lane; the owner keeps it;
//  C. lane ℓ stores the outputs of its steps, reusing what A loaded.
// Why: the shared form moves 16 bytes of workgroup memory per (step,
// element) at 8 lanes (RESULTS run 34), which bounds it; here only the
// tiles the rows share (B and C) go through workgroup memory. The
// hand-written prototype of this exchange (bench/prototypes/register_rows.py,
// RESULTS run 48) ran Mamba-1 in 1.17 ms against the shared form's 1.96; this
// lowering runs it in 1.26 ms on CUDA and 1.42 ms on WebGPU (4 lanes, 8 items,
// 32 rows; run 54). Tried and left out: prefetching the next chunk's loads
// into registers (the prototype's last 10%): at one lane it changed nothing
// here (run 52), at two lanes its registers spill at the budget that keeps
// every row resident.

import { add, assign, barrier, decl, f, i, lt, mul, v, when, type PExpr, type PStmt, type Ty } from '../plan/ast.js';
import { stmtVars } from '../plan/walk.js';
import { emitIn, newScope, type Hoister, type Scope } from './hoist.js';
import { T_BIT, type Templates } from './diagonal-templates.js';
import { vectorizeItemLoads, vectorizeItemStores, type AlignedLoads } from './vectorize-loads.js';

/** Phase B of one group of W steps (state-lanes.ts emitB), before the sums' partials cross lanes. */
export interface StepGroupBody {
  body: PStmt[];
  /** The group's step scopes: step w's values phase B reads were hoisted into steps[w]. */
  steps: Scope[];
}

export interface ShuffleChunkInput {
  /** Distinguishes the uniform and general chunk loops' names. */
  tag: string;
  lanes: number;
  items: number;
  /** Steps per phase-B group (one vector tile read each). */
  W: number;
  /** The scan axis's length. */
  L: PExpr;
  full: StepGroupBody;
  tail: StepGroupBody;
  /** Variables phase B reads (of both bodies). */
  usedInB: Set<string>;
  templates: Templates;
  accNames: string[];
  /** The output tensor of each store template. */
  storeTensors: string[];
  hoister: Hoister;
  rowScope: Scope;
  /** Conditions under which the chunk's vector accesses are aligned (the tile fills'), besides the chunk being full. */
  aligned: PExpr[];
  elemBytes: (buf: string) => number;
  /** Tensors accessed contiguously along the scan axis: their vector accesses are aligned under `rowsAligned`. */
  contiguous: Set<string>;
  rowsAligned: (buf: string, w: number) => PExpr;
  /** The workgroup's tile fills for this chunk (none without tiles): a barrier follows them. */
  fills: PStmt[];
}

/** The chunk's phases A, B and C: full chunks in the first branch, the last (guarded) chunk in the second. */
export function shuffleChunk(x: ShuffleChunkInput): PStmt {
  const { tag, lanes: S, items: IA, W, L, hoister, rowScope } = x;
  const TB = S * IA;
  const itemsOf = Array.from({ length: IA }, (_, ia) => ia);
  const subs = Array.from({ length: W }, (_, w) => w);

  // The step values phase B reads, by their hoisting key (the template at level T): phase A emits the
  // same templates at its own steps. Keys in first-use order; one register per (key, item).
  const keys: { key: string; ty: Ty }[] = [];
  const keyOf = (sc: Scope, name: string): string => [...sc.table].find(([, n]) => n === name)![0];
  for (const b of [x.full, x.tail]) {
    for (const sc of b.steps) {
      for (const d of sc.decls) {
        if (d.k !== 'decl' || !x.usedInB.has(d.name)) continue;
        const key = keyOf(sc, d.name);
        if (!keys.some((k) => k.key === key)) keys.push({ key, ty: d.ty });
      }
    }
  }
  const sv = (q: number, ia: number): string => `sv${tag}${q}_${ia}`;
  const alignedLoads: AlignedLoads = { eligible: (buf) => x.contiguous.has(buf), widths: new Map() };

  const version = (guarded: boolean): PStmt[] => {
    const g = guarded ? 'g' : '';
    const tsa = (ia: number): string => `tsa${ia}`;
    const rawStep = (ia: number): PExpr => add(add(v('c0'), mul(v('lane'), i(IA))), i(ia));
    const vec = (xs: PStmt[]): PStmt[] => (guarded ? xs : vectorizeItemLoads(xs, itemsOf.map(tsa), IA, x.elemBytes, alignedLoads));

    // ---- A: this lane's steps; the last chunk clamps them (what lies past the end is never stored) ----
    const aScopes = itemsOf.map((ia) => newScope(T_BIT, rowScope, `_a${tag}${g}${ia}`, new Map([['$t', v(tsa(ia))]])));
    const steps: PStmt[] = itemsOf.map((ia) => decl(tsa(ia), 'i32', guarded ? { k: 'imin', a: rawStep(ia), b: { k: 'bin', op: '-', a: L, b: i(1) } } : rawStep(ia)));
    const a: PStmt[] = [];
    for (const ia of itemsOf) {
      const values = keys.map(({ key, ty }) => emitIn(hoister, JSON.parse(key) as PExpr, [aScopes[ia]!, rowScope], ty));
      a.push(...aScopes[ia]!.decls, ...keys.map(({ ty }, q) => decl(sv(q, ia), ty, values[q]!)));
    }

    // ---- B: unrolled groups of W steps; each group's names live in a block of its own ----
    const b = guarded ? x.tail : x.full;
    const sums: PStmt[] = x.accNames.flatMap((_, k) => itemsOf.map((ic) => decl(`o${k}_${ic}`, 'f32', f(0), true)));
    const used = stmtVars(b.body);
    const groups: PStmt[] = Array.from({ length: TB / W }, (_, gi) => {
      const sk = gi * W;
      const ts = subs.filter((w) => used.has(`ts${w}`)).map((w) => {
        const raw = add(add(v('c0'), v('sk')), i(w));
        return decl(`ts${w}`, 'i32', guarded ? { k: 'imin', a: raw, b: { k: 'bin', op: '-', a: L, b: i(1) } } : raw);
      });
      const values = subs.flatMap((w) => b.steps[w]!.decls.flatMap((d) => {
        if (d.k !== 'decl' || !x.usedInB.has(d.name)) return [];
        const q = keys.findIndex((k) => k.key === keyOf(b.steps[w]!, d.name));
        const st = sk + w;
        return [decl(d.name, d.ty, fromOwner(v(sv(q, st % IA)), Math.floor(st / IA), S, d.ty))];
      }));
      // The row's sum of each step in every lane; the lane that owns the step keeps it for phase C.
      const reduce = subs.flatMap((w) => x.accNames.flatMap((_, k) => {
        const st = sk + w, own = `o${k}_${st % IA}`, part = `part${k}_${w}`;
        const out: PStmt[] = [];
        for (let m = 1; m < S; m *= 2) out.push(assign(part, add(v(part), { k: 'shuffle', mode: 'xor', a: v(part), b: i(m) })));
        out.push(assign(own, S === 1 ? v(part) : { k: 'select', c: { k: 'bin', op: '==', a: v('lane'), b: i(Math.floor(st / IA)) }, a: v(part), b: v(own) }));
        return out;
      }));
      return block([decl('sk', 'i32', i(sk)), ...ts, ...values, ...b.body, ...reduce]);
    });

    // ---- C: the outputs of this lane's steps; what phase A loaded at a step is reused ----
    const stores: PStmt[] = [];
    const c: PStmt[] = itemsOf.flatMap((ic) => {
      const post = newScope(T_BIT, rowScope, `_c${tag}${g}${ic}`, new Map<string, PExpr>([['$t', v(tsa(ic))], ...x.accNames.map((n, k) => [`$${n}`, v(`o${k}_${ic}`)] as [string, PExpr])]));
      for (const [key, name] of aScopes[ic]!.table) post.table.set(key, name);
      const chain = [post, rowScope];
      const mine = x.templates.store.map((value, k) => ({ k: 'store', buf: x.storeTensors[k]!, index: emitIn(hoister, x.templates.storeIdx[k]!, chain, 'i32'), value: emitIn(hoister, value, chain) }) as PStmt);
      if (!guarded) stores.push(...mine);
      return guarded ? [...post.decls, when({ k: 'bin', op: '&&', a: v('rowOk'), b: lt(rawStep(ic), L) }, mine)] : post.decls;
    });
    // A full chunk stores a lane's steps together: one vector store per output (16 bytes where they fit).
    if (!guarded) c.push(when(v('rowOk'), vectorizeItemStores(stores, itemsOf.map(tsa), IA, x.elemBytes, alignedLoads)));
    // Every global load of A and C is issued first, then the tile fills, then A's arithmetic: the
    // latencies overlap each other and the barrier (few warps per SM hide little; RESULTS run 50).
    const va = vec(a), vc = vec(c);
    const early = loadsFirst([...va, ...vc]);
    const fromC = new Set(vc);
    const restA = early.rest.filter((s) => !fromC.has(s)), restC = early.rest.filter((s) => fromC.has(s));
    return [...steps, ...early.loads, ...x.fills, ...restA, ...(x.fills.length ? [barrier] : []), ...sums, ...groups, ...restC];
  };

  const fullVersion = version(false), tailVersion = version(true);
  // A full chunk's vector loads are aligned when each such tensor's axis length is a multiple of its width.
  const conds = [...x.aligned, ...[...alignedLoads.widths].map(([buf, w]) => x.rowsAligned(buf, w))];
  const unique = [...new Map(conds.map((c) => [JSON.stringify(c), c])).values()];
  const full = unique.reduce((acc, c): PExpr => ({ k: 'bin', op: '&&', a: acc, b: c }), { k: 'bin', op: '<=', a: add(v('c0'), i(TB)), b: L } as PExpr);
  return when(full, fullVersion, tailVersion);
}

/**
 * The loads of a straight statement list moved to its front (those whose
 * index reads nothing the list declares in place), the rest in order.
 */
function loadsFirst(stmts: PStmt[]): { loads: PStmt[]; rest: PStmt[] } {
  const loads: PStmt[] = [], rest: PStmt[] = [];
  const inPlace = new Set<string>();
  for (const s of stmts) {
    const isLoad = s.k === 'vload' || (s.k === 'decl' && s.init.k === 'load');
    if (isLoad && ![...stmtVars([s])].some((n) => inPlace.has(n))) {
      loads.push(s);
    } else {
      rest.push(s);
      if (s.k === 'decl') inPlace.add(s.name);
      if (s.k === 'vload' || s.k === 'svload') for (const n of s.names) inPlace.add(n);
    }
  }
  return { loads, rest };
}

/** `value` as held by lane `owner` of this lane's group of `lanes` (itself with one lane); bools travel as integers. */
function fromOwner(value: PExpr, owner: number, lanes: number, ty: Ty): PExpr {
  if (lanes === 1) return value;
  if (ty !== 'bool') return { k: 'shuffle', mode: 'lane', a: value, b: i(owner), width: lanes };
  const asInt: PExpr = { k: 'select', c: value, a: i(1), b: i(0) };
  return { k: 'bin', op: '!=', a: { k: 'shuffle', mode: 'lane', a: asInt, b: i(owner), width: lanes }, b: i(0) };
}

/** Statements in a block of their own (names declared there stay there). */
function block(body: PStmt[]): PStmt {
  return when({ k: 'lit', ty: 'bool', v: true }, body);
}
