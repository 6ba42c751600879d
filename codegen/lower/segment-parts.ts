// What the three launches of the split sequence (segments.ts) agree on:
// the names of the workgroup's row group and segment, the scratch buffers
// and their layout, and each launch's bindings.

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { KernelBinding } from '../../runtime/backend.js';
import { add, bin, decl, GROUP, i, lt, mul, sub, v, type PExpr, type PStmt } from '../plan/ast.js';
import { LoweringError } from './diagonal-templates.js';
import { programBindings } from './program-bindings.js';

/** Scratch: each segment's end state from zero, replaced by the pass with the state entering it (`sf_`: no tensor can take it). */
export const SEG_STATES = 'sf_seg_states';
/** Scratch: the product of each state element's decays over each segment. */
export const SEG_DECAYS = 'sf_seg_decays';

/** Variables the segment kernels declare: row groups, this workgroup's row group, its segment, the segments, the segment's first step. */
export const ROW_GROUPS = 'sgRows';
export const ROW_GROUP = 'sgRow';
export const SEG = 'sgIdx';
export const SEG_COUNT = 'sgCount';
export const SEG_START = 'sgStart';

/**
 * A segment length the state-lanes chunks tile: whole tile spans (`span`
 * steps) so every chunk keeps its place in the span, and a multiple of 4 so
 * a segment's vector accesses are aligned where the whole axis's are.
 */
export function checkSegment(length: number, span: number): void {
  const unit = lcm(span, 4);
  if (!Number.isInteger(length) || length < 1 || length % unit !== 0) {
    throw new LoweringError(`segment must be a positive multiple of ${unit} (lanes × items × tileChunks = ${span}, and 4), got ${length}`);
  }
}

/**
 * The workgroup's row group and segment: workgroup g takes row group
 * g mod (row groups) in segment g / (row groups), so workgroups launched
 * together share a segment, and the lines of what their rows read alike
 * (Mamba-1's B and C). Its steps are [start, min(L, start + length)).
 * Workgroups past the last segment (a grid padded to a rectangle where it
 * exceeds a row of the device's grid: WebGPU's 65 535) get the row group
 * past the last, so the rows test leaves them idle — a select, not another
 * test around the body: that one made ptxas spill the outputs kernel.
 */
export function segmentOf(nRows: PExpr, rowsPerGroup: number, length: number, L: PExpr): PStmt[] {
  return [
    decl(ROW_GROUPS, 'i32', rowGroups(nRows, rowsPerGroup)),
    decl(SEG, 'i32', bin('/', GROUP, v(ROW_GROUPS))),
    decl(SEG_COUNT, 'i32', segmentCount(L, length)),
    decl(ROW_GROUP, 'i32', { k: 'select', c: lt(v(SEG), v(SEG_COUNT)), a: bin('%', GROUP, v(ROW_GROUPS)), b: v(ROW_GROUPS) }),
    decl(SEG_START, 'i32', mul(v(SEG), i(length))),
  ];
}

/** Whether position `at` starts a segment (a chunk's c0: its segment's first; c0 + chunk: the chunk ends its segment). */
export function segmentEnds(at: PExpr, length: number): PExpr {
  return bin('==', bin('%', at, i(length)), i(0));
}

/**
 * The workgroup's segment is the last: its index is at least (segments − 1) × (row groups). From the workgroup
 * index and the dims alone, unlike the declared segment index: ptxas then keeps nothing live through the chunks
 * for it (the outputs kernel spilled 48 bytes at 128 registers when the test read the segment index).
 */
export function isLastSegment(nRows: PExpr, rowsPerGroup: number, length: number, L: PExpr): PExpr {
  return bin('>=', GROUP, mul(sub(segmentCount(L, length), i(1)), rowGroups(nRows, rowsPerGroup)));
}

function rowGroups(nRows: PExpr, rowsPerGroup: number): PExpr {
  return bin('/', add(nRows, i(rowsPerGroup - 1)), i(rowsPerGroup));
}

/** ceil(L / length): the segments of the scan axis. */
export function segmentCount(L: PExpr, length: number): PExpr {
  return bin('/', add(L, i(length - 1)), i(length));
}

/** Where state s (of `states`), element n of row `row` sits for segment `seg` in the scratch buffers: [row][segment][state][n]. */
export function segmentSlot(row: PExpr, seg: PExpr, s: number, states: number, N: number, n: PExpr): PExpr {
  return add(mul(add(mul(add(mul(row, v(SEG_COUNT)), seg), i(states)), i(s)), i(N)), n);
}

/**
 * A segment kernel's bindings: the summary writes scratch and no state
 * tensor; the outputs kernel reads scratch (the pass folded the initial
 * states in) and writes the final states.
 */
export function segmentBindings(sp: SpecializedProgram, role: 'summary' | 'outputs' | 'pass'): ReturnType<typeof programBindings> {
  const { buffers, params } = programBindings(sp);
  const inits = new Set(sp.state.map((s) => s.init)), finals = new Set(sp.state.map((s) => s.final));
  const keep = buffers.filter((b) => (role === 'pass' ? inits.has(b.name) : role === 'summary' ? !inits.has(b.name) && !finals.has(b.name) : !inits.has(b.name)));
  const scratch: KernelBinding[] = [
    { name: SEG_STATES, access: role === 'outputs' ? 'read' : 'read_write', elem: 'f32' },
    ...(role === 'outputs' ? [] : [{ name: SEG_DECAYS, access: role === 'summary' ? 'read_write' : 'read', elem: 'f32' } as KernelBinding]),
  ];
  const all = [...keep, ...scratch];
  return { buffers: all, params, elem: Object.fromEntries(all.map((b) => [b.name, b.elem])) };
}

function lcm(a: number, b: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  return (a / gcd(a, b)) * b;
}
