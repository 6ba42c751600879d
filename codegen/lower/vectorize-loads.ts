// Vector loads for per-item reads (and vector stores for per-item writes). A thread of the chunked scan owns
// `items` consecutive positions, so the same tensor read at its items is
// base + t_0, base + t_1, ... — consecutive addresses. Grouped into one
// 'vload' statement, a target with vector loads (CUDA: 8- and 16-byte
// loads) fetches them in one instruction instead of one per item, which
// also spares the per-item address arithmetic.

import type { PExpr, PStmt } from '../plan/ast.js';

/** `base + item` (either order) → base, or undefined. */
function baseOf(index: PExpr, item: string): PExpr | undefined {
  if (index.k !== 'bin' || index.op !== '+') return undefined;
  if (index.b.k === 'var' && index.b.name === item) return index.a;
  if (index.a.k === 'var' && index.a.name === item) return index.b;
  return undefined;
}

/**
 * Rewrites a flat statement list: for each group of `width` consecutive
 * items, declarations `x_k = buf[base + item_k]` with one buf and one base
 * become a single vload placed where the group's first declaration was.
 * `items[k]` names item k's position variable; positions must be
 * consecutive (item k at item 0 + k) and all in bounds.
 */
/**
 * Buffers whose vector loads the caller can prove aligned under one uniform
 * condition (every read of the buffer has the item position as its last,
 * contiguous index, so base is a multiple of the last dim): their vloads are
 * marked `aligned`, and `widths` records the widest vector per buffer for the
 * caller's condition (last dim % width == 0).
 */
export interface AlignedLoads {
  eligible: (buf: string) => boolean;
  widths: Map<string, number>;
}

/** A statement of a flat list that accesses `buf` at `index` = base + item (one of the list's loads or stores). */
interface ItemAccess { at: number; buf: string; index: PExpr; stmt: PStmt }

/**
 * The common part of both passes: accesses of `width` consecutive items (one buf, one base;
 * at most 16 bytes each, so bf16/f16 take up to 8 items) become one statement made by `fuse`,
 * placed where `place` says among its members' positions; the other members are dropped.
 */
function fuseItemAccesses(stmts: PStmt[], items: string[], width: number, elemBytes: (buf: string) => number,
  access: (s: PStmt) => { buf: string; index: PExpr } | undefined, fuse: (members: ItemAccess[], aligned: boolean) => PStmt,
  place: (ats: number[]) => number, aligned?: AlignedLoads): PStmt[] {
  if (width < 2 || items.length % width !== 0) return stmts;
  const found = new Map<string, ItemAccess>();
  stmts.forEach((stmt, at) => {
    const x = access(stmt);
    if (!x) return;
    items.forEach((item, k) => {
      const base = baseOf(x.index, item);
      if (base) found.set(`${x.buf}|${JSON.stringify(base)}|${k}`, { at, buf: x.buf, index: x.index, stmt });
    });
  });
  const replace = new Map<number, PStmt>();
  const drop = new Set<number>();
  for (const key of found.keys()) {
    const [buf, baseKey, k0] = key.split('|') as [string, string, string];
    const k = Number(k0);
    if (k % width !== 0) continue;
    const w = Math.min(width, 16 / elemBytes(buf));
    if (w < 2) continue;
    for (let g = 0; g < width; g += w) {
      const group = Array.from({ length: w }, (_, j) => found.get(`${buf}|${baseKey}|${k + g + j}`));
      if (group.some((x) => !x || drop.has(x.at) || replace.has(x.at))) continue;
      const members = group as ItemAccess[];
      const at = place(members.map((m) => m.at));
      // A thread's first item sits at a multiple of `width` (when the tensor's rows are w-aligned), so a
      // group is provably aligned only when w divides width: 6 items in groups of 4 start at 6·thread + 0.
      const proven = aligned?.eligible(buf) === true && width % w === 0;
      if (proven) aligned!.widths.set(buf, Math.max(w, aligned!.widths.get(buf) ?? 0));
      replace.set(at, fuse(members, proven));
      for (const m of members) if (m.at !== at) drop.add(m.at);
    }
  }
  return stmts.flatMap((s, at) => (drop.has(at) ? [] : [replace.get(at) ?? s]));
}

export function vectorizeItemLoads(stmts: PStmt[], items: string[], width: number, elemBytes: (buf: string) => number, aligned?: AlignedLoads): PStmt[] {
  return fuseItemAccesses(stmts, items, width, elemBytes,
    (s) => (s.k === 'decl' && !s.mut && s.init.k === 'load' ? { buf: s.init.buf, index: s.init.index } : undefined),
    (ms, proven) => ({ k: 'vload', buf: ms[0]!.buf, index: ms[0]!.index, names: ms.map((m) => (m.stmt as Extract<PStmt, { k: 'decl' }>).name), ...(proven ? { aligned: true } : {}) }),
    (ats) => Math.min(...ats), aligned);
}

/**
 * The stores' counterpart: in a flat statement list, stores `buf[base + item_k] = value_k`
 * of `width` consecutive items (one buf, one base) become one vstore placed where the
 * group's last store was (every value is computed by then). Items must be in bounds.
 */
export function vectorizeItemStores(stmts: PStmt[], items: string[], width: number, elemBytes: (buf: string) => number, aligned?: AlignedLoads): PStmt[] {
  return fuseItemAccesses(stmts, items, width, elemBytes,
    (s) => (s.k === 'store' ? { buf: s.buf, index: s.index } : undefined),
    (ms, proven) => ({ k: 'vstore', buf: ms[0]!.buf, index: ms[0]!.index, values: ms.map((m) => (m.stmt as Extract<PStmt, { k: 'store' }>).value), ...(proven ? { aligned: true } : {}) }),
    (ats) => Math.max(...ats), aligned);
}
