// The state-lanes form with the sequence split into segments, for programs
// with too few rows to fill the GPU (Mamba-1 at batch 1, dim 4096 is 4 096
// rows: the one-launch kernel keeps under 4 warps per SM busy, RESULTS run
// 62). Every update is h[n] = a·h[n] + b, so a segment maps the state
// entering it to P·h_in + h_end, with P the product of its decays and h_end
// its end state from zero. Three launches in order:
//   (a) summary: each (row group, segment) but the last runs the chunks of
//       its segment from zero with no outputs, and writes h_end and P to
//       scratch;
//   (b) pass: one thread per (row, state element) walks the segments,
//       h_in[0] = the initial state (or 0), h_in[s + 1] = P[s]·h_in[s] +
//       h_end[s], written over h_end in place — segments × one multiply-add;
//   (c) outputs: each (row group, segment) runs its segment from h_in with
//       the outputs, the last segment storing the final states.
// The price: (a) reads the step inputs a second time (Mamba-1: u and delta
// of all but the last segment) and runs their decays again; the scratch is
// 2 × rows × segments × states × N floats.

import type { SpecializedProgram } from '../../dsl/ir.js';
import { add, assign, bin, decl, f, GROUP, i, loop, lt, mul, sub, TID, v, when, type KernelPlan, type LaunchSequence, type PExpr, type PStmt, type ScratchSpec } from '../plan/ast.js';
import { buffersUsed } from '../plan/walk.js';
import { analyseDiagonal, rowDecomposition, type DiagonalAnalysis } from './diagonal-templates.js';
import { dimEnv } from './index-math.js';
import { SEG_COUNT, SEG_DECAYS, SEG_STATES, segmentBindings, segmentCount, segmentSlot } from './segment-parts.js';
import { lowerStateLanes, type StateLanesSchedule } from './state-lanes.js';

/** Threads per workgroup of the pass (b): one per (row, state element). */
const PASS_THREADS = 64;

export function lowerSegmented(sp: SpecializedProgram, sched: StateLanesSchedule, length: number, name: string, sharedBytes: number, shuffleLanes: number): LaunchSequence {
  // The summary serves one row per thread slot whatever the schedule's rowBlock: it reads no C tile for a
  // second row to share, and its decay products take the registers a second row would need (at rowBlock 2
  // ptxas spills; RESULTS run 92: its launch took 5.88 ms at rowBlock 2, 5.35 at 1). The launches meet only
  // in the scratch, indexed by row, so each may group rows its own way.
  const summary = lowerStateLanes(sp, { ...sched, rowBlock: 1, segment: { length, role: 'summary' } }, `${name}_a`, sharedBytes, shuffleLanes);
  const outputs = lowerStateLanes(sp, { ...sched, segment: { length, role: 'outputs' } }, `${name}_c`, sharedBytes, shuffleLanes);
  const an = analyseDiagonal(sp);
  const N = sp.staticDims[an.stateDim]!;
  const rowDims = sp.parallel.map((q) => sp.indices[q]!.dim);
  const segments = { dim: sp.indices[sp.scan]!.dim, size: length };
  const scratch: ScratchSpec[] = [SEG_STATES, SEG_DECAYS].map((n) => ({ name: n, elem: 'f32', dims: rowDims, tiles: [segments], times: an.updates.length * N }));
  return { launches: [bindingsUsed(summary), segmentPass(sp, an, length, `${name}_b`), outputs], scratch };
}

/**
 * The plan binding only the buffers its body touches: the summary reads the
 * step inputs and writes scratch, and binding the outputs, C and the states
 * besides (Mamba-1: 5 of 12) only spent storage-buffer slots (WebGPU: 8–16).
 */
function bindingsUsed(plan: KernelPlan): KernelPlan {
  const used = buffersUsed(plan.body);
  return { ...plan, buffers: plan.buffers.filter((b) => used.has(b.name)) };
}

/** (b) The state entering each segment, over its summary's end state in place. */
function segmentPass(sp: SpecializedProgram, an: DiagonalAnalysis, length: number, name: string): KernelPlan {
  const N = sp.staticDims[an.stateDim]!;
  const U = an.updates.length;
  const { nRows } = rowDecomposition(sp);
  const L = dimEnv(sp.staticDims)(sp.indices[sp.scan]!.dim);
  const at = (seg: PExpr, s: number): PExpr => segmentSlot(v('row'), seg, s, U, N, v('en'));
  const h = (s: number): string => `hs${s}`;
  const body: PStmt[] = [
    decl(SEG_COUNT, 'i32', segmentCount(L, length)),
    decl('ge', 'i32', add(mul(GROUP, i(PASS_THREADS)), TID)),
    when(lt(v('ge'), mul(nRows, i(N))), [
      decl('row', 'i32', bin('/', v('ge'), i(N))),
      decl('en', 'i32', bin('%', v('ge'), i(N))),
      ...an.updates.map((u, s) => decl(h(s), 'f32', sp.variant.initStates.includes(u.state.name) ? { k: 'load', buf: u.state.init, index: add(mul(v('row'), i(N)), v('en')) } : f(0), true)),
      loop('sp', i(0), sub(v(SEG_COUNT), i(1)), i(1), an.updates.flatMap((_, s) => [
        decl(`he${s}`, 'f32', { k: 'load', buf: SEG_STATES, index: at(v('sp'), s) }),
        { k: 'store', buf: SEG_STATES, index: at(v('sp'), s), value: v(h(s)) },
        assign(h(s), add(mul({ k: 'load', buf: SEG_DECAYS, index: at(v('sp'), s) }, v(h(s))), v(`he${s}`))),
      ])),
      ...an.updates.map((_, s): PStmt => ({ k: 'store', buf: SEG_STATES, index: at(sub(v(SEG_COUNT), i(1)), s), value: v(h(s)) })),
    ]),
  ];
  const { buffers, params, elem } = segmentBindings(sp, 'pass');
  return {
    name, workgroupSize: PASS_THREADS, buffers, params, shared: [], body, usesSubgroups: false,
    grid: { groupsFromDims: [...sp.parallel.map((q) => sp.indices[q]!.dim), an.stateDim], rowsPerGroup: PASS_THREADS },
    helpers: new Set(), registerBudget: 64, elem,
  };
}
