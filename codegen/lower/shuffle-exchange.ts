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
// rowBlock K > 1: a lane serves its elements in K consecutive rows (copies
// j < K of every per-row value, as in the shared form): each tile value it
// reads from workgroup memory serves K rows. What bounds the K = 1 kernel is
// the L1 data pipe (RESULTS run 58: 86% busy, two thirds of it the tile
// reads, a third the shuffles), and the tile reads are what K divides. At
// K = 2, 4 items: CUDA f32 1.365 → 1.200 ms, bf16 1.265 → 1.023, WebGPU
// 1.718 → 1.331 (the fastest there); at 8 items K = 1 stays the fastest
// CUDA f32 kernel (1.157), K = 2 needing more than 128 registers (run 59).
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

import { add, assign, barrier, decl, f, i, lt, mul, v, when, TID, type L2Fetch, type PExpr, type PStmt, type Ty } from '../plan/ast.js';
import { stmtVars } from '../plan/walk.js';
import { chainOf, emitIn, newScope, type Hoister, type Scope } from './hoist.js';
import { copyLevelBit, T_BIT, type Templates } from './diagonal-templates.js';
import { vectorizeItemLoads, vectorizeItemStores, type AlignedLoads } from './vectorize-loads.js';

/** Phase B of one group of W steps (state-lanes.ts emitB), before the sums' partials cross lanes. */
export interface StepGroupBody {
  body: PStmt[];
  /** The group's step scopes: step w's values phase B reads were hoisted into steps[w]. */
  steps: Scope[];
  /** Their per-row twins (undefined with one row per thread): stepCopies[w][j] holds row j's values. */
  stepCopies: (Scope | undefined)[][];
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
  /** Rows per thread slot, and each row's twin of rowScope (undefined with one row). */
  rowBlock: number;
  rowCopies: (Scope | undefined)[];
  /** Conditions under which the chunk's vector accesses are aligned (the tile fills'), besides the chunk being full. */
  aligned: PExpr[];
  elemBytes: (buf: string) => number;
  /** Tensors accessed contiguously along the scan axis: their vector accesses are aligned under `rowsAligned`. */
  contiguous: Set<string>;
  rowsAligned: (buf: string, w: number) => PExpr;
  /** The workgroup's tile fills for this chunk (none without tiles): a barrier follows them. */
  fills: PStmt[];
  /** With tiles spanning several chunks: the chunks that fill them (and pass the barrier); absent, every chunk. */
  fillNow?: PExpr;
  /** Chunks ahead whose step inputs a full chunk asks the L2 cache to fetch (0: none). */
  prefetch: number;
  /** Sum the partials by reduce-scatter (scatterReduce) instead of a butterfly per step; needs lanes | W and lanes | items. */
  scatter: boolean;
  /** Holds in the first chunk a workgroup runs (default c0 == 0; a segment's first when the sequence is split). */
  first?: PExpr;
  /**
   * Stage the step inputs of the next full chunk in workgroup memory by
   * asynchronous copies (each thread its own slots; plan acopy), read there
   * at the chunk's start instead of from global memory (see stageStreams).
   */
  stage?: {
    /** Threads of the workgroup (each owns one slot per streamed load). */
    threads: number;
    /** Declares a workgroup array (f32, stored narrow where the buffer is bf16/f16). */
    need: (name: string, size: number, narrow?: 'bf16' | 'f16') => void;
    /** The element type of a buffer. */
    elemOf: (buf: string) => 'f32' | 'bf16' | 'f16';
  };
}

/** The chunk's phases A, B and C: full chunks in the first branch, the last (guarded) chunk in the second. */
export function shuffleChunk(x: ShuffleChunkInput): PStmt {
  const { tag, lanes: S, items: IA, W, L, hoister, rowScope, rowBlock: K, rowCopies } = x;
  const TB = S * IA;
  const itemsOf = Array.from({ length: IA }, (_, ia) => ia);
  const subs = Array.from({ length: W }, (_, w) => w);
  const copies = Array.from({ length: K }, (_, j) => j);
  /** Name of row j's copy of a per-row value (the name itself with one row). */
  const cn = (n: string, j: number): string => (K === 1 ? n : `${n}_r${j}`);

  // The step values phase B reads, by their hoisting key (the template at level T, or T and row j's
  // copy): phase A emits the same templates at its own steps. Keys in first-use order; one register
  // per (key, item).
  const keys: { key: string; ty: Ty; j: number | undefined }[] = [];
  const keyOf = (sc: Scope, name: string): string => [...sc.table].find(([, n]) => n === name)![0];
  /** Step w's scopes in a group body: the step's own (j undefined) and each row's twin. */
  const scopesOf = (b: StepGroupBody, w: number): [Scope, number | undefined][] =>
    [[b.steps[w]!, undefined], ...copies.flatMap((j): [Scope, number][] => (b.stepCopies[w]?.[j] ? [[b.stepCopies[w]![j]!, j]] : []))];
  for (const b of [x.full, x.tail]) {
    for (const w of subs) {
      for (const [sc, j] of scopesOf(b, w)) {
        for (const d of sc.decls) {
          if (d.k !== 'decl' || !x.usedInB.has(d.name)) continue;
          const key = keyOf(sc, d.name);
          if (!keys.some((k) => k.key === key && k.j === j)) keys.push({ key, ty: d.ty, j });
        }
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
    const aCopies = itemsOf.map((ia) => copies.map((j) => (K === 1 ? undefined : newScope(T_BIT | copyLevelBit(K), aScopes[ia], `_a${tag}${g}${ia}r${j}`))));
    const aChain = (ia: number, j: number | undefined): Scope[] => (j === undefined ? [aScopes[ia]!, rowScope] : chainOf([aScopes[ia]!, aCopies[ia]![j]], [rowScope, rowCopies[j]]));
    const steps: PStmt[] = itemsOf.map((ia) => decl(tsa(ia), 'i32', guarded ? { k: 'imin', a: rawStep(ia), b: { k: 'bin', op: '-', a: L, b: i(1) } } : rawStep(ia)));
    const a: PStmt[] = [];
    for (const ia of itemsOf) {
      const values = keys.map(({ key, ty, j }) => emitIn(hoister, JSON.parse(key) as PExpr, aChain(ia, j), ty));
      a.push(...aScopes[ia]!.decls, ...aCopies[ia]!.flatMap((c) => c?.decls ?? []), ...keys.map(({ ty }, q) => decl(sv(q, ia), ty, values[q]!)));
    }

    // ---- B: unrolled groups of W steps; each group's names live in a block of its own ----
    const b = guarded ? x.tail : x.full;
    const sums: PStmt[] = copies.flatMap((j) => x.accNames.flatMap((_, k) => itemsOf.map((ic) => decl(cn(`o${k}_${ic}`, j), 'f32', f(0), true))));
    const scatter = x.scatter && S > 1;
    // With reduce-scatter, q{k}_g holds the sum of step S·g + lane until the chunk's end regroups them.
    const scattered: PStmt[] = scatter ? copies.flatMap((j) => x.accNames.flatMap((_, k) => itemsOf.map((g) => decl(cn(`q${k}_${g}`, j), 'f32', f(0), true)))) : [];
    const used = stmtVars(b.body);
    const groups: PStmt[] = Array.from({ length: TB / W }, (_, gi) => {
      const sk = gi * W;
      const ts = subs.filter((w) => used.has(`ts${w}`)).map((w) => {
        const raw = add(add(v('c0'), v('sk')), i(w));
        return decl(`ts${w}`, 'i32', guarded ? { k: 'imin', a: raw, b: { k: 'bin', op: '-', a: L, b: i(1) } } : raw);
      });
      const values = subs.flatMap((w) => scopesOf(b, w).flatMap(([sc, j]) => sc.decls.flatMap((d) => {
        if (d.k !== 'decl' || !x.usedInB.has(d.name)) return [];
        const q = keys.findIndex((k) => k.key === keyOf(sc, d.name) && k.j === j);
        const st = sk + w;
        return [decl(d.name, d.ty, fromOwner(v(sv(q, st % IA)), Math.floor(st / IA), S, d.ty))];
      })));
      // The row's sum of each step in every lane; the lane that owns the step keeps it for phase C.
      const reduce = scatter ? copies.flatMap((j) => x.accNames.flatMap((_, k) => Array.from({ length: W / S }, (_, r) => {
        const first = sk + S * r;
        return scatterReduce(Array.from({ length: S }, (_, m) => cn(`part${k}_${S * r + m}`, j)), cn(`q${k}_${first / S}`, j), `${cn(`rs${k}`, j)}_${r}`);
      }).flat())) : subs.flatMap((w) => copies.flatMap((j) => x.accNames.flatMap((_, k) => {
        const st = sk + w, own = cn(`o${k}_${st % IA}`, j), part = cn(`part${k}_${w}`, j);
        const out: PStmt[] = [];
        for (let m = 1; m < S; m *= 2) out.push(assign(part, add(v(part), { k: 'shuffle', mode: 'xor', a: v(part), b: i(m) })));
        out.push(assign(own, S === 1 ? v(part) : { k: 'select', c: { k: 'bin', op: '==', a: v('lane'), b: i(Math.floor(st / IA)) }, a: v(part), b: v(own) }));
        return out;
      })));
      return block([decl('sk', 'i32', i(sk)), ...ts, ...values, ...b.body, ...reduce]);
    });

    // ---- C: the outputs of this lane's steps (each row's); what phase A loaded at a step is reused ----
    const stores: PStmt[][] = copies.map(() => []);
    const accsOf = (ic: number, j: number): [string, PExpr][] => x.accNames.map((n, k) => [`$${n}`, v(cn(`o${k}_${ic}`, j))]);
    const c: PStmt[] = itemsOf.flatMap((ic) => {
      const post = newScope(T_BIT, rowScope, `_c${tag}${g}${ic}`, new Map<string, PExpr>([['$t', v(tsa(ic))], ...(K === 1 ? accsOf(ic, 0) : [])]));
      for (const [key, name] of aScopes[ic]!.table) post.table.set(key, name);
      const out: PStmt[] = [];
      const perRow = copies.map((j) => {
        const postCopy = K === 1 ? undefined : newScope(T_BIT | copyLevelBit(K), post, `_c${tag}${g}${ic}r${j}`, new Map(accsOf(ic, j)));
        for (const [key, name] of aCopies[ic]![j]?.table ?? []) postCopy!.table.set(key, name);
        const chain = chainOf([post, postCopy], [rowScope, rowCopies[j]]);
        const mine = x.templates.store.map((value, k) => ({ k: 'store', buf: x.storeTensors[k]!, index: emitIn(hoister, x.templates.storeIdx[k]!, chain, 'i32'), value: emitIn(hoister, value, chain) }) as PStmt);
        return { postCopy, mine };
      });
      out.push(...post.decls);
      perRow.forEach(({ postCopy, mine }, j) => {
        out.push(...(postCopy?.decls ?? []));
        if (guarded) out.push(when({ k: 'bin', op: '&&', a: v(cn('rowOk', j)), b: lt(rawStep(ic), L) }, mine));
        else stores[j]!.push(...mine);
      });
      return out;
    });
    // A full chunk stores a lane's steps together: one vector store per output and row (16 bytes where they fit).
    // Where lines are held in L2 for later chunks (prefetched, or fetched 128 bytes at a time), the outputs stream past them.
    const streamOut = (xs: PStmt[]): PStmt[] => (x.prefetch > 0 || x.stage ? xs.map((s) => (s.k === 'vstore' ? { ...s, stream: true } : s)) : xs);
    if (!guarded) for (const j of copies) c.push(when(v(cn('rowOk', j)), streamOut(vectorizeItemStores(stores[j]!, itemsOf.map(tsa), IA, x.elemBytes, alignedLoads))));
    // Every global load of A and C is issued first, then the tile fills, then A's arithmetic: the
    // latencies overlap each other and the barrier (few warps per SM hide little; RESULTS run 50).
    // With prefetch, the step inputs stream: their loads have the L2 fetch 128 bytes (the next chunk's too).
    const streamed = (xs: PStmt[]): PStmt[] => (x.prefetch > 0 ? xs.map((s) => (isStreamLoad(s, x.contiguous) ? { ...s, l2Bytes: STREAM_FETCH } : s)) : xs);
    const va = streamed(vec(a)), vc = streamed(vec(c));
    const early = loadsFirst([...va, ...vc]);
    const fromC = new Set(vc);
    const restA = early.rest.filter((s) => !fromC.has(s)), restC = early.rest.filter((s) => fromC.has(s));
    const onFill = (xs: PStmt[]): PStmt[] => (x.fillNow && xs.length ? [when(x.fillNow, xs)] : xs);
    const staged = !guarded && x.stage ? stageStreams(early.loads, x.stage, TB, L, x.first ?? { k: 'bin', op: '==', a: v('c0'), b: i(0) }, x.contiguous, x.elemBytes) : undefined;
    const ahead = guarded ? [] : prefetchAhead(early.loads, x.prefetch, TB, L, x.contiguous);
    const regroup = scatter ? copies.flatMap((j) => x.accNames.flatMap((_, k) => regroupSums(S, IA, (g) => cn(`q${k}_${g}`, j), (ic) => cn(`o${k}_${ic}`, j), cn(`rg${k}`, j)))) : [];
    const loads = staged ? staged.loads : early.loads;
    // A guarded chunk reads nothing staged; it waits for the copies in flight so none outlives the kernel.
    const settle: PStmt[] = guarded && x.stage ? [{ k: 'await', pending: 0 }] : [];
    return [...settle, ...steps, ...loads, ...ahead, ...onFill(x.fills), ...restA, ...(staged?.next ?? []), ...onFill(x.fills.length ? [barrier] : []), ...sums, ...scattered, ...groups, ...regroup, ...restC];
  };

  const fullVersion = version(false), tailVersion = version(true);
  // A full chunk's vector loads are aligned when each such tensor's axis length is a multiple of its width.
  const conds = [...x.aligned, ...[...alignedLoads.widths].map(([buf, w]) => x.rowsAligned(buf, w))];
  const unique = [...new Map(conds.map((c) => [JSON.stringify(c), c])).values()];
  const full = unique.reduce((acc, c): PExpr => ({ k: 'bin', op: '&&', a: acc, b: c }), { k: 'bin', op: '<=', a: add(v('c0'), i(TB)), b: L } as PExpr);
  return when(full, fullVersion, tailVersion);
}

const laneBit = (h: number): PExpr => ({ k: 'bin', op: '!=', a: { k: 'bin', op: '%', a: { k: 'bin', op: '/', a: v('lane'), b: i(h) }, b: i(2) }, b: i(0) });
/** This lane is the one whose partner in round d (lane ^ d) is r. */
const partnerIs = (d: number, r: number): PExpr => ({ k: 'bin', op: '==', a: v('lane'), b: i(r ^ d) });
const sel = (c: PExpr, a: PExpr, b: PExpr): PExpr => ({ k: 'select', c, a, b });

/**
 * Reduce-scatter of S partials (parts[m]: this lane's share of step m of S
 * consecutive steps) over the S lanes of a row: recursive halving, where at
 * lane bit h each lane sends the half of its values the other side keeps and
 * adds what it receives to its own half; the sum of step `lane` ends in
 * `into`. S − 1 shuffles for S steps where a butterfly per step takes
 * S·log2 S: the shuffles, the tile reads and the step-value broadcasts share
 * the L1 data pipe, which bounded the kernel (RESULTS run 58; −1 to −3%, run 77).
 */
export function scatterReduce(parts: string[], into: string, tag: string): PStmt[] {
  const out: PStmt[] = [];
  let vals = parts.map((p) => v(p) as PExpr);
  for (let h = parts.length / 2; h >= 1; h /= 2) {
    const next: PExpr[] = [];
    for (let m = 0; m < h; m++) {
      const send = `${tag}s${h}_${m}`, keep = `${tag}k${h}_${m}`;
      const sum = `${tag}a${h}_${m}`;
      out.push(
        decl(send, 'f32', sel(laneBit(h), vals[m]!, vals[m + h]!)),
        decl(keep, 'f32', sel(laneBit(h), vals[m + h]!, vals[m]!)),
        decl(sum, 'f32', add(v(keep), { k: 'shuffle', mode: 'xor', a: v(send), b: i(h) })),
      );
      next.push(v(sum));
    }
    vals = next;
  }
  out.push(assign(into, vals[0]!));
  return out;
}

/**
 * After reduce-scatter lane ℓ holds the sums of steps S·g + ℓ (q(g), g <
 * items); phase C wants lane ℓ's own steps items·ℓ + i (o(i)). Step items·ℓ + i
 * is lane i % S's q((items / S)·ℓ + ⌊i / S⌋): in round d each lane sends its
 * partner ℓ ^ d the values that partner wants (chosen by lane) and files what
 * it receives by its partner's lane: S − 1 shuffles per items / S values.
 */
export function regroupSums(S: number, IA: number, q: (g: number) => string, o: (i: number) => string, tag: string): PStmt[] {
  const out: PStmt[] = [];
  const per = IA / S;
  for (let d = 0; d < S; d++) {
    for (let c = 0; c < per; c++) {
      // What partner r wants from this lane: q(per·r + c), chosen by r = lane ^ d.
      let pick: PExpr = v(q(per * (S - 1) + c));
      for (let r = S - 2; r >= 0; r--) pick = sel(partnerIs(d, r), v(q(per * r + c)), pick);
      const got = `${tag}_${d}_${c}`;
      out.push(decl(got, 'f32', d === 0 ? pick : { k: 'shuffle', mode: 'xor', a: pick, b: i(d) }));
      // It is step items·ℓ + S·c + (lane ^ d) of this lane.
      for (let m = 0; m < S; m++) out.push(assign(o(S * c + m), sel(partnerIs(d, m), v(got), v(o(S * c + m)))));
    }
  }
  return out;
}

/**
 * Bytes the L2 cache fetches around a streamed load or copy. 128, not 256: with 256 every resident row held
 * 4 chunks of each input ahead (25 MB of the 50 MB L2 at the standard shape), lines were evicted before their
 * chunk came (DRAM read 1.78 GB for 1.61 GB of inputs, RESULTS run 88), and 128 took Mamba-1 f32 from 1.000 to
 * 0.94 ms (run 89).
 */
const STREAM_FETCH: L2Fetch = 128;

/** A vector load of a tensor read contiguously along the scan axis: a step input the chunks stream through. */
function isStreamLoad(s: PStmt, contiguous: Set<string>): s is Extract<PStmt, { k: 'vload' }> {
  return s.k === 'vload' && contiguous.has(s.buf);
}

/**
 * The step inputs' vector loads of a full chunk read from workgroup memory
 * where the previous full chunk had them copied asynchronously (each thread
 * copies and reads only its own slots: no barrier), and the copies of the
 * next chunk's, issued once this chunk's arithmetic of phase A has consumed
 * the slots (the reads came first in the thread's order and their values are
 * used). The first chunk (of the axis, or of a segment) copies its own and waits. The next chunk's copies
 * are valid where it is full: then, and only then, it takes the full branch
 * and reads them (its alignment conditions are this chunk's). The copies
 * fetch STREAM_FETCH bytes into L2, as the streamed loads do.
 * Why: the inputs arrive a chunk ahead at no register cost (the registers of
 * loads one chunk ahead spill at 128, run 52). Measured on Mamba-1 f32: alone
 * nothing (run 84); with the outputs stored as a stream −3% (run 85), and
 * with 128-byte fetches −6% more (run 89).
 */
function stageStreams(loads: PStmt[], st: NonNullable<ShuffleChunkInput['stage']>, TB: number, L: PExpr, first: PExpr, contiguous: Set<string>, elemBytes: (buf: string) => number): { loads: PStmt[]; next: PStmt[] } {
  const own: PStmt[] = [], next: PStmt[] = [];
  let q = 0;
  const out = loads.map((s): PStmt => {
    // Copies move 8 or 16 bytes from an address they are aligned to: only the loads proven aligned qualify.
    if (!isStreamLoad(s, contiguous) || !s.aligned || ![8, 16].includes(s.names.length * elemBytes(s.buf))) return s;
    const elem = st.elemOf(s.buf), count = s.names.length;
    const arr = `stg${q++}`;
    const slot = mul(TID, i(count));
    st.need(arr, st.threads * count, elem === 'f32' ? undefined : elem);
    own.push({ k: 'acopy', arr, index: slot, buf: s.buf, src: s.index, count, valid: { k: 'lit', ty: 'bool', v: true }, l2Bytes: STREAM_FETCH });
    next.push({ k: 'acopy', arr, index: slot, buf: s.buf, src: add(s.index, i(TB)), count, valid: { k: 'bin', op: '<=', a: add(v('c0'), i(2 * TB)), b: L }, l2Bytes: STREAM_FETCH });
    return { k: 'svload', arr, index: slot, names: s.names };
  });
  if (!own.length) return { loads, next: [] };
  const firstCopy = when(first, [...own, { k: 'acommit' }]);
  return { loads: [firstCopy, { k: 'await', pending: 0 }, ...out], next: [...next, { k: 'acommit' }] };
}

/**
 * L2 prefetches of the step inputs `ahead` chunks on: one per tensor read
 * contiguously along the scan axis (its first vector load; the lane's other
 * loads of it share the line), where that chunk lies inside the axis.
 * Why: at 16 warps per SM the chunk's loads are issued together and then
 * wait a DRAM round trip; from L2 they wait a fraction of it.
 */
function prefetchAhead(loads: PStmt[], ahead: number, TB: number, L: PExpr, contiguous: Set<string>): PStmt[] {
  if (ahead < 1) return [];
  const seen = new Set<string>();
  const hints: PStmt[] = [];
  for (const s of loads) {
    if (!isStreamLoad(s, contiguous) || seen.has(s.buf)) continue;
    seen.add(s.buf);
    hints.push({ k: 'prefetch', buf: s.buf, index: add(s.index, i(ahead * TB)) });
  }
  return hints.length ? [when({ k: 'bin', op: '<=', a: add(v('c0'), i((ahead + 1) * TB)), b: L }, hints)] : [];
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
