// Workgroup-wide exclusive scan of (a, b) pairs under the composition of
// affine maps h ↦ a·h + b: (a1,b1)∘(a2,b2) = (a1·a2, a2·b1 + b2), earlier
// first. Two forms, chosen by the target's capabilities, same result:
// Hillis–Steele through workgroup memory, or subgroup shuffles inside each
// subgroup plus one exchange of subgroup totals through workgroup memory.

import { add, assign, barrier, decl, f, i, mul, type PExpr, type PStmt, type SharedArray, TID, v, when } from '../plan/ast.js';

export interface ScanResult {
  stmts: PStmt[];
  /** Variables holding this thread's exclusive prefix (identity for thread 0). */
  ea: string;
  eb: string;
}

/**
 * How a scan group's threads map to the target: `subgroups` says shuffles
 * exist; `lanes` is the subgroup size when the target fixes it at compile
 * time (32 on CUDA). A group of exactly one subgroup needs neither workgroup
 * memory nor barriers.
 */
export interface ScanTarget {
  subgroups: boolean;
  lanes?: number;
}

function form(threads: number, t: ScanTarget): 'none' | 'single' | 'shuffle' | 'shared' {
  // One thread per group: its prefix is the identity, nothing to exchange.
  if (threads === 1) return 'none';
  if (!t.subgroups || threads % 32 !== 0) return 'shared';
  return t.lanes === threads ? 'single' : 'shuffle';
}

/** Entries of the scan arrays one scan group of `threads` threads uses. */
function entries(threads: number, t: ScanTarget): number {
  const f = form(threads, t);
  // Without a fixed subgroup size, the smallest WGSL allows (4) bounds the subgroup count.
  return f === 'single' || f === 'none' ? 0 : f === 'shuffle' ? threads / (t.lanes ?? 4) : threads;
}

/** True when the scan of `threads` threads runs without barriers (one subgroup, or one thread). */
export function scanIsBarrierFree(threads: number, t: ScanTarget): boolean {
  const f = form(threads, t);
  return f === 'single' || f === 'none';
}

/** Shared arrays for `groups` independent scans of `threads` threads each (declared once per kernel). */
export function scanShared(threads: number, t: ScanTarget, groups = 1): SharedArray[] {
  const n = entries(threads, t) * groups;
  return n === 0 ? [] : [{ name: 'scan_a', ty: 'f32', size: n }, { name: 'scan_b', ty: 'f32', size: n }];
}

/**
 * Which threads scan together: `tid` is the thread's index inside its scan
 * group and `slot` the group's index in the workgroup (several rows of the
 * parallel axes may share a workgroup, each with its own scan).
 */
export interface ScanGroup {
  tid: PExpr;
  slot: PExpr;
}

const sload = (arr: string, index: PExpr): PExpr => ({ k: 'sload', arr, index });
const ge = (a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op: '>=', a, b });
const sel = (c: PExpr, a: PExpr, b: PExpr): PExpr => ({ k: 'select', c, a, b });

/**
 * Emits an exclusive scan of the pair (pa, pb) held in mutable variables;
 * they are overwritten with the inclusive prefix. `tag` keeps names unique.
 */
export function blockExclusiveScan(pa: string, pb: string, threads: number, target: ScanTarget, tag: string, group: ScanGroup = { tid: TID, slot: i(0) }): ScanResult {
  const base = mul(group.slot, i(entries(threads, target)));
  switch (form(threads, target)) {
    case 'none': return { stmts: [decl(`${tag}ea`, 'f32', f(1)), decl(`${tag}eb`, 'f32', f(0))], ea: `${tag}ea`, eb: `${tag}eb` };
    case 'single': return subgroupScan(pa, pb, tag, target.lanes!);
    case 'shuffle': return shuffleScan(pa, pb, tag, group.tid, base);
    case 'shared': return sharedScan(pa, pb, threads, tag, group.tid, base);
  }
}

/** In-subgroup inclusive scan by shuffles, then the exclusive prefix from the lane below. */
function laneScan(pa: string, pb: string, tag: string, lanes: PExpr): { stmts: PStmt[]; la: string; lb: string } {
  const lane: PExpr = { k: 'builtin', b: 'lane' };
  const off = `${tag}off`;
  const qa = `${tag}qa`, qb = `${tag}qb`;
  const la = `${tag}la`, lb = `${tag}lb`;
  const lane0 = { k: 'bin', op: '==', a: lane, b: i(0) } as PExpr;
  return {
    la, lb,
    stmts: [
      {
        k: 'for', v: off, from: i(1), to: lanes, step: v(off), // off doubles: off += off
        body: [
          decl(qa, 'f32', { k: 'shuffle', mode: 'up', a: v(pa), b: v(off) }),
          decl(qb, 'f32', { k: 'shuffle', mode: 'up', a: v(pb), b: v(off) }),
          when(ge(lane, v(off)), [assign(pb, add(mul(v(pa), v(qb)), v(pb))), assign(pa, mul(v(pa), v(qa)))]),
        ],
      },
      // Shuffles run unconditionally in every lane (a shuffle under a branch is undefined).
      decl(`${la}s`, 'f32', { k: 'shuffle', mode: 'up', a: v(pa), b: i(1) }),
      decl(`${lb}s`, 'f32', { k: 'shuffle', mode: 'up', a: v(pb), b: i(1) }),
      decl(la, 'f32', sel(lane0, f(1), v(`${la}s`))),
      decl(lb, 'f32', sel(lane0, f(0), v(`${lb}s`))),
    ],
  };
}

/** The whole scan group is one subgroup: shuffles only, no workgroup memory, no barrier. */
function subgroupScan(pa: string, pb: string, tag: string, lanes: number): ScanResult {
  const l = laneScan(pa, pb, tag, i(lanes));
  return { stmts: l.stmts, ea: l.la, eb: l.lb };
}

function sharedScan(pa: string, pb: string, threads: number, tag: string, TID: PExpr, base: PExpr): ScanResult {
  const at = (x: PExpr): PExpr => add(base, x);
  const s: PStmt[] = [
    { k: 'sstore', arr: 'scan_a', index: at(TID), value: v(pa) },
    { k: 'sstore', arr: 'scan_b', index: at(TID), value: v(pb) },
    barrier,
  ];
  for (let off = 1; off < threads; off *= 2) {
    const src = at({ k: 'bin', op: '-', a: TID, b: i(off) });
    const qa = `${tag}qa${off}`, qb = `${tag}qb${off}`;
    s.push(
      // A guarded read is an `if`, not a select of a workgroup-memory load:
      // Mesa's llvmpipe (the CPU adapter) miscompiles the latter across barriers.
      decl(qa, 'f32', f(1), true),
      decl(qb, 'f32', f(0), true),
      when(ge(TID, i(off)), [assign(qa, sload('scan_a', src)), assign(qb, sload('scan_b', src))]),
      barrier,
      // earlier (qa, qb) then mine (pa, pb)
      assign(pb, add(mul(v(pa), v(qb)), v(pb))),
      assign(pa, mul(v(pa), v(qa))),
      { k: 'sstore', arr: 'scan_a', index: at(TID), value: v(pa) },
      { k: 'sstore', arr: 'scan_b', index: at(TID), value: v(pb) },
      barrier,
    );
  }
  const prev = at({ k: 'bin', op: '-', a: TID, b: i(1) });
  const ea = `${tag}ea`, eb = `${tag}eb`;
  s.push(
    decl(ea, 'f32', f(1), true),
    decl(eb, 'f32', f(0), true),
    when(ge(TID, i(1)), [assign(ea, sload('scan_a', prev)), assign(eb, sload('scan_b', prev))]),
    // Everyone has read the prefixes before the arrays are reused.
    barrier,
  );
  return { stmts: s, ea, eb };
}

function shuffleScan(pa: string, pb: string, tag: string, TID: PExpr, base: PExpr): ScanResult {
  const at = (x: PExpr): PExpr => add(base, x);
  const lane: PExpr = { k: 'builtin', b: 'lane' };
  const laneCount: PExpr = { k: 'builtin', b: 'laneCount' };
  const warp = `${tag}warp`;
  const l = laneScan(pa, pb, tag, laneCount);
  const s: PStmt[] = [
    decl(warp, 'i32', { k: 'bin', op: '/', a: TID, b: laneCount }),
    ...l.stmts,
    when({ k: 'bin', op: '==', a: lane, b: { k: 'bin', op: '-', a: laneCount, b: i(1) } }, [
      { k: 'sstore', arr: 'scan_a', index: at(v(warp)), value: v(pa) },
      { k: 'sstore', arr: 'scan_b', index: at(v(warp)), value: v(pb) },
    ]),
    barrier,
  ];
  // Prefix of the earlier subgroups (few: threads / lane count).
  const xa = `${tag}xa`, xb = `${tag}xb`, w = `${tag}w`;
  const ea = `${tag}ea`, eb = `${tag}eb`;
  s.push(
    decl(xa, 'f32', f(1), true),
    decl(xb, 'f32', f(0), true),
    {
      k: 'for', v: w, from: i(0), to: v(warp), step: i(1),
      body: [
        assign(xb, add(mul(sload('scan_a', at(v(w))), v(xb)), sload('scan_b', at(v(w))))),
        assign(xa, mul(v(xa), sload('scan_a', at(v(w))))),
      ],
    },
    decl(ea, 'f32', mul(v(xa), v(l.la))),
    decl(eb, 'f32', add(mul(v(l.la), v(xb)), v(l.lb))),
    // Everyone has read the subgroup totals before the arrays are reused.
    barrier,
  );
  return { stmts: s, ea, eb };
}
