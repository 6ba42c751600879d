// Accumulator fragments and the `mma` plan statement, target-neutral: which
// thread holds which element of a fragment, how to pick a layout, and the
// scalar-loop form of `mma` that every target can print. A target with
// matrix units (CUDA tensor cores) prints `mma` on mma16x8 fragments its own
// way (render/cuda.ts) from mmaTiles() below; the element positions are the
// same, so lowerings address fragment elements one way for every target.

import { add, decl, f, i, loop, mul, v, TID, type Fragment, type MatOperand, type MmaStmt, type PExpr, type PStmt } from './ast.js';

export interface FragElement {
  /** Register holding the element. */
  reg: string;
  row: PExpr;
  col: PExpr;
  /**
   * Whether this thread owns the element, when some threads only hold
   * copies (a fragment smaller than the workgroup): writes of the element
   * must be guarded by it. Undefined: every thread owns its elements.
   */
  owned?: PExpr;
}

const div = (a: PExpr, b: number): PExpr => ({ k: 'bin', op: '/', a, b: i(b) });
const mod = (a: PExpr, b: number): PExpr => ({ k: 'bin', op: '%', a, b: i(b) });
const LANE = mod(TID, 32);
const WARP = div(TID, 32);

/** Registers per thread. */
export function fragSize(fr: Fragment): number {
  return (fr.rows * fr.cols) / (fr.layout.k === 'grid' ? (fr.layout.active ?? fr.threads) : fr.threads);
}

/** The elements this thread holds, in register order. */
export function fragElements(fr: Fragment): FragElement[] {
  const out: FragElement[] = [];
  if (fr.layout.k === 'grid') {
    const { threadRows: TR, threadCols: TC } = fr.layout;
    const active = fr.layout.active ?? fr.threads;
    // Threads past the active ones wrap around: they hold (and compute) copies, in range, and own nothing.
    const t = active < fr.threads ? mod(TID, active) : TID;
    const owned = active < fr.threads ? { k: 'bin', op: '<', a: TID, b: i(active) } as PExpr : undefined;
    const ty = div(t, TC), tx = mod(t, TC);
    const nc = fr.cols / TC;
    for (let r = 0; r < fr.rows / TR; r++) {
      for (let c = 0; c < nc; c++) out.push({ reg: `${fr.name}_${r * nc + c}`, row: add(ty, i(TR * r)), col: add(tx, i(TC * c)), ...(owned ? { owned } : {}) });
    }
    return out;
  }
  const t = mmaTiles(fr);
  t.tileRows.forEach((rowBase, ti) => {
    t.tileCols.forEach((colBase, tj) => {
      for (let e = 0; e < 4; e++) {
        out.push({ reg: t.acc(ti, tj, e), row: add(rowBase, add(div(LANE, 4), i(8 * (e >> 1)))), col: add(colBase, add(mul(mod(LANE, 4), i(2)), i(e & 1))) });
      }
    });
  });
  return out;
}

/** For mma16x8 fragments: this warp's tiles (first row / first col of each) and the accumulator register of tile (i, j), element e. */
export function mmaTiles(fr: Fragment): { tileRows: PExpr[]; tileCols: PExpr[]; acc: (ti: number, tj: number, e: number) => string } {
  if (fr.layout.k !== 'mma16x8') throw new Error(`internal: fragment ${fr.name} is not mma16x8`);
  const { warpRows: WR, warpCols: WC } = fr.layout;
  const wm = div(WARP, WC), wn = mod(WARP, WC);
  const nI = fr.rows / 16 / WR, nJ = fr.cols / 8 / WC;
  const tileRows = Array.from({ length: nI }, (_, ti) => mul(add(wm, i(WR * ti)), i(16)));
  const tileCols = Array.from({ length: nJ }, (_, tj) => mul(add(wn, i(WC * tj)), i(8)));
  return { tileRows, tileCols, acc: (ti, tj, e) => `${fr.name}_${(ti * nJ + tj) * 4 + e}` };
}

/** For ldmatrix: the 8×8 matrix whose row a lane addresses (lane / 8), and that row (lane % 8). */
export function ldmatrixLane(): { matrix: PExpr; row: PExpr } {
  return { matrix: div(LANE, 8), row: mod(LANE, 8) };
}

/** Lane-dependent offsets inside one m16n8k16 step: groupID (lane / 4) and 2·(lane % 4); lane % 4 itself for m16n8k8 (tf32). */
export function mmaLane(): { group: PExpr; pair: PExpr; quad: PExpr } {
  return { group: div(LANE, 4), pair: mul(mod(LANE, 4), i(2)), quad: mod(LANE, 4) };
}

/**
 * A grid layout over `threads` (over rows × cols of them when the fragment
 * has fewer elements than threads), or an error saying why none exists.
 * Prefers square per-thread tiles.
 */
export function gridFragment(name: string, rows: number, cols: number, threads: number): Fragment {
  const active = Math.min(threads, rows * cols);
  let best: { TR: number; TC: number; cost: number } | undefined;
  for (let TR = 1; TR <= active; TR *= 2) {
    const TC = active / TR;
    if (!Number.isInteger(TC) || rows % TR || cols % TC) continue;
    // Shared loads per k step: one per distinct row plus one per distinct column.
    const cost = rows / TR + cols / TC + (TC >= 16 || TC === cols ? 0 : 0.5);
    if (!best || cost < best.cost) best = { TR, TC, cost };
  }
  if (!best) throw new FragmentError(`a ${rows}×${cols} accumulator cannot be spread over ${threads} threads in a power-of-two grid`);
  return { name, rows, cols, threads, layout: { k: 'grid', threadRows: best.TR, threadCols: best.TC, ...(active < threads ? { active } : {}) } };
}

/** An mma16x8 layout over `threads` (whole warps), or undefined when the tile counts do not split over the warps. */
export function mmaFragment(name: string, rows: number, cols: number, threads: number): Fragment | undefined {
  if (threads % 32 || rows % 16 || cols % 8) return undefined;
  const warps = threads / 32, tm = rows / 16, tn = cols / 8;
  let best: { WR: number; WC: number; cost: number } | undefined;
  for (let WR = 1; WR <= warps; WR *= 2) {
    const WC = warps / WR;
    if (!Number.isInteger(WC) || tm % WR || tn % WC) continue;
    // Operand fragments loaded per k step: A per tile row, B per tile column.
    const cost = 2 * (tm / WR) + tn / WC;
    if (!best || cost < best.cost) best = { WR, WC, cost };
  }
  return best && { name, rows, cols, threads, layout: { k: 'mma16x8', warpRows: best.WR, warpCols: best.WC } };
}

export class FragmentError extends Error {}

/**
 * Stores of a fragment's elements into workgroup array `arr`, element e (the
 * k-th) at at(e) with value(e, k), each by its owner. With `pairs`, an mma16x8
 * fragment's elements 2m and 2m + 1 (adjacent columns 2q, 2q + 1) go as one
 * 2-wide svstore (8 bytes f32, 4 bytes narrow): the caller vouches that at()
 * of an even element is even (an even row stride).
 */
export function storeFragment(fr: Fragment, arr: string, at: (e: FragElement) => PExpr, value: (e: FragElement, k: number) => PExpr, pairs: boolean): PStmt[] {
  const els = fragElements(fr);
  if (pairs && fr.layout.k === 'mma16x8') {
    return els.flatMap((e, k): PStmt[] => (k % 2 === 0 ? [{ k: 'svstore', arr, index: at(e), values: [value(e, k), value(els[k + 1]!, k + 1)] }] : []));
  }
  return els.flatMap((e, k): PStmt[] => {
    const st: PStmt = { k: 'sstore', arr, index: at(e), value: value(e, k) };
    return e.owned ? [{ k: 'if', c: e.owned, then: [st], else: [] }] : [st];
  });
}

/** Declares a fragment's registers, zeroed. */
export function zeroFragment(fr: Fragment): PStmt[] {
  return fragElements(fr).map((e) => decl(e.reg, 'f32', f(0), true));
}

/** Sets a fragment's registers back to zero. */
export function clearFragment(fr: Fragment): PStmt[] {
  return fragElements(fr).map((e) => ({ k: 'assign', name: e.reg, value: f(0) }));
}

const sload = (arr: string, index: PExpr): PExpr => ({ k: 'sload', arr, index });

/** Element (r, c) of an operand. */
export function operandAt(op: MatOperand, r: PExpr, c: PExpr): PExpr {
  return sload(op.arr, add(add(op.base, mul(r, i(op.rowStride))), mul(c, i(op.colStride))));
}

/**
 * The scalar form of `mma`: a loop over k; per step, one workgroup-memory
 * load per distinct row of A and per distinct column of B this thread
 * needs, then one multiply-add per element.
 */
export function expandMma(s: MmaStmt): PStmt[] {
  const els = fragElements(s.frag);
  const out: PStmt[] = [];
  const k = `${s.id}_k`;
  const rows = new Map<string, string>(), cols = new Map<string, string>();
  const body: PStmt[] = [];
  // Row and column offsets do not change with k: computed once, before the loop.
  for (const e of els) {
    const rk = JSON.stringify(e.row), ck = JSON.stringify(e.col);
    if (!rows.has(rk)) {
      const n = `${s.id}_a${rows.size}`;
      rows.set(rk, n);
      out.push(decl(`${n}o`, 'i32', add(s.a.base, mul(e.row, i(s.a.rowStride)))));
      body.push(decl(n, 'f32', sload(s.a.arr, add(v(`${n}o`), mul(v(k), i(s.a.colStride))))));
    }
    if (!cols.has(ck)) {
      const n = `${s.id}_b${cols.size}`;
      cols.set(ck, n);
      out.push(decl(`${n}o`, 'i32', add(s.b.base, mul(e.col, i(s.b.colStride)))));
      body.push(decl(n, 'f32', sload(s.b.arr, add(v(`${n}o`), mul(v(k), i(s.b.rowStride))))));
    }
  }
  for (const e of els) {
    body.push({ k: 'assign', name: e.reg, value: add(v(e.reg), mul(v(rows.get(JSON.stringify(e.row))!), v(cols.get(JSON.stringify(e.col))!))) });
  }
  out.push(loop(k, i(0), i(s.kLen), i(1), body));
  return out;
}

/** True if any statement (at any depth) is an `mma`. */
export function usesMma(stmts: PStmt[], precision?: MmaStmt['precision']): boolean {
  return stmts.some((s) => (s.k === 'mma' && (precision === undefined || s.precision === precision)) || (s.k === 'for' && usesMma(s.body, precision)) || (s.k === 'if' && (usesMma(s.then, precision) || usesMma(s.else, precision))));
}
