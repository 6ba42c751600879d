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

export function vectorizeItemLoads(stmts: PStmt[], items: string[], width: number, elemBytes: (buf: string) => number, aligned?: AlignedLoads): PStmt[] {
  if (width < 2 || items.length % width !== 0) return stmts;
  // Every load declaration, by (buf, base, item).
  const found = new Map<string, { at: number; name: string; index: PExpr }>();
  stmts.forEach((s, at) => {
    if (s.k !== 'decl' || s.mut || s.init.k !== 'load') return;
    const load = s.init;
    items.forEach((item, k) => {
      const base = baseOf(load.index, item);
      if (base) found.set(`${load.buf}|${JSON.stringify(base)}|${k}`, { at, name: s.name, index: load.index });
    });
  });
  const replace = new Map<number, PStmt>();
  const drop = new Set<number>();
  for (const [key, first] of found) {
    const [buf, baseKey, k0] = key.split('|') as [string, string, string];
    const k = Number(k0);
    if (k % width !== 0) continue;
    const lanes = 16 / elemBytes(buf);
    const w = Math.min(width, lanes);
    if (w < 2) continue;
    for (let g = 0; g < width; g += w) {
      const group = Array.from({ length: w }, (_, j) => found.get(`${buf}|${baseKey}|${k + g + j}`));
      if (group.some((x) => !x) || group.some((x) => drop.has(x!.at) || replace.has(x!.at))) continue;
      const members = group as { at: number; name: string; index: PExpr }[];
      const at = Math.min(...members.map((m) => m.at));
      const proven = aligned?.eligible(buf) === true;
      if (proven) aligned!.widths.set(buf, Math.max(w, aligned!.widths.get(buf) ?? 0));
      replace.set(at, { k: 'vload', buf, index: members[0]!.index, names: members.map((m) => m.name), ...(proven ? { aligned: true } : {}) });
      for (const m of members) if (m.at !== at) drop.add(m.at);
    }
  }
  return stmts.flatMap((s, at) => (drop.has(at) ? [] : [replace.get(at) ?? s]));
}

/**
 * The stores' counterpart: in a flat statement list, stores `buf[base + item_k] = value_k`
 * of `width` consecutive items (one buf, one base) become one vstore placed where the
 * group's last store was (every value is computed by then). Items must be in bounds.
 */
export function vectorizeItemStores(stmts: PStmt[], items: string[], width: number, elemBytes: (buf: string) => number, aligned?: AlignedLoads): PStmt[] {
  if (width < 2 || items.length % width !== 0) return stmts;
  const found = new Map<string, { at: number; index: PExpr; value: PExpr }>();
  stmts.forEach((s, at) => {
    if (s.k !== 'store') return;
    items.forEach((item, k) => {
      const base = baseOf(s.index, item);
      if (base) found.set(`${s.buf}|${JSON.stringify(base)}|${k}`, { at, index: s.index, value: s.value });
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
      const members = group as { at: number; index: PExpr; value: PExpr }[];
      const at = Math.max(...members.map((m) => m.at));
      const proven = aligned?.eligible(buf) === true;
      if (proven) aligned!.widths.set(buf, Math.max(w, aligned!.widths.get(buf) ?? 0));
      replace.set(at, { k: 'vstore', buf, index: members[0]!.index, values: members.map((m) => m.value), ...(proven ? { aligned: true } : {}) });
      for (const m of members) if (m.at !== at) drop.add(m.at);
    }
  }
  return stmts.flatMap((s, at) => (drop.has(at) ? [] : [replace.get(at) ?? s]));
}
