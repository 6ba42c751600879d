// The chunk-parallel form of the SSD lowering (spec §2), three launches in
// order instead of lower/ssd.ts's one kernel walking the chunks:
//   (a) chunk states, one workgroup per (row, P tile, chunk):
//       S_c = Σ_j exp(cs_last − cs_j)·s_j·u_j ⊗ w_j, and the chunk's total
//       log-decay cs_last, into scratch (fp32);
//   (b) state passing, one thread per (row, p, n) state element, walking the
//       chunks: S_in[0] = S_init (or 0), S_in[c] = exp(cs_last[c−1])·S_in[c−1]
//       + S_c[c−1], written over S_c[c] in place; S_final = what enters the
//       chunk after the last. The only sequential part: NC steps of one
//       multiply-add per element, memory-bound;
//   (c) outputs, one workgroup per (row, P tile, chunk): Y = (C·Wᵀ ∘ decay
//       mask)·X + diag(exp(cs))·(C·S_inᵀ), then y = f(Y) as the program says.
// Every chunk is independent in (a) and (c), so the grid has NC times the
// fused kernel's workgroups. The price: the chunk states go through device
// memory (4 × rows × NC × P × N × 4 bytes of traffic). The per-chunk pieces
// are lower/ssd-parts.ts's, shared with the fused form.

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { SsdForm } from '../analysis/ssd.js';
import { clearFragment, fragElements, fragSize, zeroFragment } from '../plan/fragment.js';
import {
  add, assign, barrier, call, decl, f, i, loop, lt, mul, v, when, GROUP, TID,
  type KernelPlan, type LaunchSequence, type MatOperand, type MmaStmt, type PExpr, type PStmt, type ScratchSpec, type SharedArray,
} from '../plan/ast.js';
import type { KernelBinding } from '../../runtime/backend.js';
import {
  chunkFragments, operandBytes,
  chunkArrays,
  SsdLoweringError, and, cumulativeSum, decayMask, decomposeRow, idiv, imod, isPow2, loadCW, loadStepFactors, loadX, nextPow2, owning, padded,
  programBindings, rowsOf, scaleWForState, sload, sstore, ssdEmitter, stateOffset, storeOutputs, type SsdEmitter,
} from './ssd-parts.js';
import { operandPrecision, productPrecision, type ChunkTileBase, type SsdCaps, type SsdSchedule } from './ssd.js';

/** Scratch buffer names (the `sf_` prefix: no tensor can take them). */
export const STATES = 'sf_states';
export const DECAYS = 'sf_decays';

/** Tiles of the chunk-state (a) and output (c) kernels. */
export interface ChunkedTiles extends ChunkTileBase {
  /** Workgroup memory of (a) and (c). */
  bytes: { state: number; output: number };
}

export function chooseChunkedTiles(P: number, N: number, sched: SsdSchedule, caps: SsdCaps): ChunkedTiles {
  const T = sched.threads, Q = sched.chunk;
  if (!isPow2(T)) throw new SsdLoweringError(`threads must be a power of two, got ${T}`);
  if (!isPow2(Q)) throw new SsdLoweringError(`chunk must be a power of two, got ${Q}`);
  if (sched.headTile !== undefined && (!Number.isInteger(sched.headTile) || P % sched.headTile !== 0)) {
    throw new SsdLoweringError(`headTile must divide the state's P axis (${P}), got ${sched.headTile}`);
  }
  if (sched.nTile !== undefined && sched.nTile !== N && !isPow2(sched.nTile)) throw new SsdLoweringError(`nTile must be a power of two or N (${N}), got ${sched.nTile}`);
  const pts = sched.headTile !== undefined ? [sched.headTile] : [...Array(P).keys()].map((k) => P - k).filter((d) => P % d === 0);
  const mu = caps.matrixUnits;
  const wholeN = mu ? Math.ceil(N / 16) * 16 : N;
  // N tiles: 32 wide at most (16 with matrix units: operand registers), as the fused form.
  const nts: number[] = sched.nTile !== undefined ? [sched.nTile === N ? wholeN : sched.nTile] : [];
  if (sched.nTile === undefined) for (let nt = Math.min(nextPow2(N), mu ? 16 : 32); nt >= 1; nt /= 2) nts.push(nt);
  const opBytes = (n: number): number => operandBytes(n, caps);
  const tried: string[] = [];
  for (const Pt of pts) {
    for (const Nt of nts) {
      const f = chunkFragments(Q, T, Pt, Nt, N, mu);
      if (typeof f === 'string') {
        tried.push(f);
        continue;
      }
      const { PtPad, NPad, Nu, frags } = f;
      // The output kernel holds G (Q × Q) and Y (Q × Pt) in registers: beyond 128 per thread they spill.
      if (fragSize(frags.G) + fragSize(frags.Y) > 128) {
        tried.push(`Pt ${Pt}, Nt ${Nt}: ${fragSize(frags.G) + fragSize(frags.Y)} accumulators per thread`);
        continue;
      }
      const strides = { X: padded(PtPad, mu), C: padded(Nt, mu), W: padded(Nt, mu), S: padded(Nt, mu), M: padded(Q, mu) };
      const state = 4 * 3 * Q + opBytes(Q * strides.X) + opBytes(Q * strides.W);
      const output = 4 * (3 * Q + PtPad * strides.S) + opBytes(Q * strides.X) + opBytes(Q * strides.C) + opBytes(Q * strides.W) + opBytes(Q * strides.M);
      if (Math.max(state, output) <= caps.sharedBytes) return { Q, QR: Q, T, Pt, PtPad, Nt, NPad, Nu, strides, frags, bytes: { state, output } };
      tried.push(`Pt ${Pt}, Nt ${Nt}: ${Math.max(state, output)} bytes of workgroup memory`);
    }
  }
  throw new SsdLoweringError(`chunked form: no tiling of chunk ${Q} × P ${P} × N ${N} over ${T} threads fits (tried ${tried.slice(0, 6).join('; ')}${tried.length > 6 ? '; ...' : ''}); use a smaller chunk or more threads`);
}

export function lowerSsdChunked(sp: SpecializedProgram, form: SsdForm, sched: SsdSchedule, caps: SsdCaps, name: string): LaunchSequence {
  const P = sp.staticDims[form.pDim]!, N = sp.staticDims[form.nDim]!;
  // The chunks run in parallel here: states beside S and the previous-step term would need their values at every chunk's start first.
  const extras = [form.rank && `a rank axis (${form.rank.dim})`, form.prev && 'a previous-step input term', form.side.scans.length && `scans (${form.side.scans.map((x) => x.state.name).join(', ')})`, form.side.carries.length && `carried states (${form.side.carries.map((x) => x.state.name).join(', ')})`].filter(Boolean);
  if (extras.length) throw new SsdLoweringError(`the chunk-parallel form (ssdForm: 'chunked') handles one rank-1 update and no other states; this program has ${extras.join(', ')}: use the fused form`);
  const tl = chooseChunkedTiles(P, N, sched, caps);
  const operands = operandPrecision(sp.used);
  if (caps.narrowOperands && (!caps.matrixUnits || caps.narrowOperands !== operands)) throw new SsdLoweringError(`internal: operands stored as ${caps.narrowOperands} need matrix units at that precision (${operands})`);
  const precision = productPrecision(sp.used, caps);
  const rowDims = rowsOf(ssdEmitter(sp, form)).dims;
  const chunks = { dim: sp.indices[sp.scan]!.dim, size: tl.Q };
  const scratch: ScratchSpec[] = [
    { name: STATES, elem: 'f32', dims: rowDims, tiles: [chunks], times: P * N },
    { name: DECAYS, elem: 'f32', dims: rowDims, tiles: [chunks], times: 1 },
  ];
  return {
    launches: [
      chunkStates(sp, form, tl, caps, precision, `${name}_a`),
      statePassing(sp, form, sched.threads, tl.Q, `${name}_b`),
      chunkOutputs(sp, form, tl, caps, precision, `${name}_c`),
    ],
    scratch,
  };
}

const scratchBinding = (name: string, access: 'read' | 'read_write'): KernelBinding => ({ name, access, elem: 'f32' });

/** Chunks of the sequence: NC = ceil(L / Q), as an i32 declared `nc`. */
function chunkCount(em: SsdEmitter, Q: number): PStmt {
  return decl('nc', 'i32', idiv(add(em.L, i(Q - 1)), Q));
}

/** (a) and (c): which (row, P tile, chunk) this workgroup owns; the body runs for the grid's real workgroups only. */
function perChunk(em: SsdEmitter, tl: ChunkedTiles, body: PStmt[]): PStmt[] {
  const NPT = em.P / tl.Pt;
  return [
    chunkCount(em, tl.Q),
    when(lt(GROUP, mul(mul(rowsOf(em).count, i(NPT)), v('nc'))), [
      decl('rp', 'i32', idiv(GROUP, v('nc'))),
      decl('ci', 'i32', imod(GROUP, v('nc'))),
      decl('c0', 'i32', mul(v('ci'), i(tl.Q))),
      decl('row', 'i32', idiv(v('rp'), NPT)),
      decl('p0', 'i32', mul(imod(v('rp'), NPT), i(tl.Pt))),
      ...decomposeRow(em),
      ...em.rowScope.decls,
      ...body,
    ]),
  ];
}

/** Element (p, n) of chunk `ci`'s slot in the states scratch, p from 0 and n from 0 for this row. */
function stateSlot(em: SsdEmitter, p: PExpr, n: PExpr): PExpr {
  return add(mul(add(mul(add(mul(v('row'), v('nc')), v('ci')), i(em.P)), p), i(em.N)), n);
}

function plan(name: string, T: number, buffers: KernelBinding[], params: KernelPlan['params'], shared: SharedArray[], body: PStmt[], grid: KernelPlan['grid'], em: SsdEmitter, accumulators: number): KernelPlan {
  return {
    name, workgroupSize: T, buffers, params, shared, body, usesSubgroups: false, grid,
    helpers: em.helpers,
    registerBudget: Math.min(255, Math.max(64, 2 * accumulators + 48)),
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
  };
}

/** The program's own bindings a per-chunk kernel needs (no initial or final state), plus scratch. */
function chunkBindings(sp: SpecializedProgram, scratch: KernelBinding[]): { buffers: KernelBinding[]; params: KernelPlan['params'] } {
  const { buffers, params } = programBindings(sp);
  const states = new Set(sp.state.flatMap((s) => [s.init, s.final]));
  return { buffers: [...buffers.filter((b) => !states.has(b.name)), ...scratch], params };
}

/** (a) S_c and cs_last of each chunk. */
function chunkStates(sp: SpecializedProgram, form: SsdForm, tl: ChunkedTiles, caps: SsdCaps, precision: MmaStmt['precision'], name: string): KernelPlan {
  const em = ssdEmitter(sp, form);
  const { Q, T, Pt, PtPad, Nt, NPad, strides: ST, frags } = tl;
  const body: PStmt[] = [loadStepFactors(em, Q, T), loadX(em, Q, T, Pt, PtPad, ST.X, !!caps.narrowOperands), barrier];
  const scan = cumulativeSum(Q, T);
  const cs = (j: PExpr): PExpr => sload(scan.arr, j);
  body.push(...scan.stmts, decl('csLast', 'f32', cs(i(Q - 1))));
  // One P tile writes the chunk's decay (every tile has the same).
  body.push(when(and(lt(TID, i(1)), lt(v('p0'), i(1))), [{ k: 'store', buf: DECAYS, index: add(mul(v('row'), v('nc')), v('ci')), value: v('csLast') }]));
  const opXt: MatOperand = { arr: 'Xs', base: i(0), rowStride: 1, colStride: ST.X }; // A(row = p, k = j) = X[j][p]
  const opW: MatOperand = { arr: 'Wt', base: v('nu'), rowStride: ST.W, colStride: 1 }; // B(k = j, col = n) = W[j][nu + n]
  const update: PStmt[] = [...clearFragment(frags.U), { k: 'mma', id: 'mu', frag: frags.U, a: opXt, b: opW, kLen: Q, precision }];
  for (const e of fragElements(frags.U)) {
    const n = add(add(v('n0'), v('nu')), e.col);
    update.push(...owning(e, [when(and(lt(e.row, i(Pt)), lt(n, i(em.N))), [{ k: 'store', buf: STATES, index: stateSlot(em, add(v('p0'), e.row), n), value: v(e.reg) }])]));
  }
  body.push(loop('n0', i(0), i(NPad), i(Nt), [
    ...loadCW(em, v('n0'), Q, T, Nt, { W: ST.W }, !!caps.narrowOperands), barrier,
    scaleWForState(em, Q, T, Nt, ST.W, cs), barrier,
    loop('nu', i(0), i(Nt), i(tl.Nu), update), barrier,
  ]));
  const shared = chunkArrays(tl, caps, ['X', 'W']);
  const { buffers, params } = chunkBindings(sp, [scratchBinding(STATES, 'read_write'), scratchBinding(DECAYS, 'read_write')]);
  const rows = rowsOf(em);
  return plan(name, T, buffers, params, shared, [...zeroFragment(frags.U), ...perChunk(em, tl, body)], { groupsFromDims: [...rows.dims, form.pDim], rowsPerGroup: Pt, tiles: [{ dim: sp.indices[sp.scan]!.dim, size: Q }] }, em, fragSize(frags.U));
}

/** (b) The state entering each chunk, over S_c in place, and the final state. */
function statePassing(sp: SpecializedProgram, form: SsdForm, T: number, Q: number, name: string): KernelPlan {
  const em = ssdEmitter(sp, form);
  const st = form.state;
  const PN = em.P * em.N;
  const rows = rowsOf(em);
  const init = sp.variant.initStates.includes(st.name);
  const final = sp.variant.finalStates.includes(st.name);
  const at = (row: PExpr): PExpr => stateOffset(em, row, v('ep'), v('en'));
  const body: PStmt[] = [
    decl('nq', 'i32', idiv(add(em.L, i(Q - 1)), Q)),
    decl('ge', 'i32', add(mul(GROUP, i(T)), TID)),
    when(lt(v('ge'), mul(rows.count, i(PN))), [
      decl('row', 'i32', idiv(v('ge'), PN)),
      decl('ee', 'i32', imod(v('ge'), PN)),
      decl('ep', 'i32', idiv(v('ee'), em.N)),
      decl('en', 'i32', imod(v('ee'), em.N)),
      decl('s', 'f32', init ? { k: 'load', buf: st.init, index: at(v('row')) } : f(0), true),
      loop('ci', i(0), v('nq'), i(1), [
        decl('sa', 'i32', add(mul(add(mul(v('row'), v('nq')), v('ci')), i(PN)), v('ee'))),
        decl('sn', 'f32', { k: 'load', buf: STATES, index: v('sa') }),
        { k: 'store', buf: STATES, index: v('sa'), value: v('s') },
        assign('s', add(mul(call('exp', { k: 'load', buf: DECAYS, index: add(mul(v('row'), v('nq')), v('ci')) }), v('s')), v('sn'))),
      ]),
      ...(final ? [{ k: 'store', buf: st.final, index: at(v('row')), value: v('s') } as PStmt] : []),
    ]),
  ];
  const { buffers: all, params } = programBindings(sp);
  const buffers = [...all.filter((b) => (init && b.name === st.init) || (final && b.name === st.final)), scratchBinding(STATES, 'read_write'), scratchBinding(DECAYS, 'read')];
  return plan(name, T, buffers, params, [], body, { groupsFromDims: [...rows.dims, form.pDim, form.nDim], rowsPerGroup: T }, em, 0);
}

/** (c) Outputs of each chunk from its inputs and the state entering it. */
function chunkOutputs(sp: SpecializedProgram, form: SsdForm, tl: ChunkedTiles, caps: SsdCaps, precision: MmaStmt['precision'], name: string): KernelPlan {
  const em = ssdEmitter(sp, form);
  const { Q, T, Pt, PtPad, Nt, NPad, strides: ST, frags } = tl;
  const body: PStmt[] = [loadStepFactors(em, Q, T), loadX(em, Q, T, Pt, PtPad, ST.X, !!caps.narrowOperands), barrier];
  const scan = cumulativeSum(Q, T);
  const cs = (j: PExpr): PExpr => sload(scan.arr, j);
  body.push(...scan.stmts, ...clearFragment(frags.G), ...clearFragment(frags.Y));
  const kPairs = caps.matrixUnits && Q % 2 === 0 && Nt % 2 === 0 && Object.values(ST).every((x) => x % 2 === 0);
  const opC: MatOperand = { arr: 'Ct', base: i(0), rowStride: ST.C, colStride: 1, kPairs };
  const opWt: MatOperand = { arr: 'Wt', base: i(0), rowStride: 1, colStride: ST.W, kPairs }; // B(k = n, col = j) = W[j][n]
  const opSt: MatOperand = { arr: 'Ss', base: i(0), rowStride: 1, colStride: ST.S, kPairs }; // B(k = n, col = p) = S[p][n0 + n]
  // The entering state's tile, P tile × Nt, zero past P and N.
  const n = add(v('n0'), v('sN'));
  const loadS = loop('se', TID, i(PtPad * Nt), i(T), [
    decl('sP', 'i32', idiv(v('se'), Nt)),
    decl('sN', 'i32', imod(v('se'), Nt)),
    decl('sv', 'f32', f(0), true),
    when(and(lt(v('sP'), i(Pt)), lt(n, i(em.N))), [assign('sv', { k: 'load', buf: STATES, index: stateSlot(em, add(v('p0'), v('sP')), n) })]),
    sstore('Ss', add(mul(v('sP'), i(ST.S)), v('sN')), v('sv')),
  ]);
  body.push(loop('n0', i(0), i(NPad), i(Nt), [
    ...loadCW(em, v('n0'), Q, T, Nt, { C: ST.C, W: ST.W }, !!caps.narrowOperands), loadS, barrier,
    // Only G's lower triangle survives the causal mask.
    { k: 'mma', id: 'mg', frag: frags.G, a: opC, b: opWt, kLen: Nt, precision, outputLower: true },
    { k: 'mma', id: 'my', frag: frags.Y, a: opC, b: opSt, kLen: Nt, precision },
    barrier,
  ]));
  body.push(...decayMask(em, frags.G, ST.M, cs));
  for (const e of fragElements(frags.Y)) body.push(assign(e.reg, mul(v(e.reg), call('exp', cs(e.row)))));
  body.push(barrier, {
    k: 'mma', id: 'mx', frag: frags.Y, precision, aLower: true,
    a: { arr: 'Ms', base: i(0), rowStride: ST.M, colStride: 1, kPairs },
    b: { arr: 'Xs', base: i(0), rowStride: ST.X, colStride: 1 },
    kLen: Q,
  }, ...storeOutputs(em, frags.Y, Pt, Q, T, PtPad + 1));
  const shared = chunkArrays(tl, caps, ['X', 'C', 'W', 'S', 'M']);
  const { buffers, params } = chunkBindings(sp, [scratchBinding(STATES, 'read')]);
  const rows = rowsOf(em);
  return plan(name, T, buffers, params, shared, [...zeroFragment(frags.G), ...zeroFragment(frags.Y), ...perChunk(em, tl, body)], { groupsFromDims: [...rows.dims, form.pDim], rowsPerGroup: Pt, tiles: [{ dim: sp.indices[sp.scan]!.dim, size: Q }] }, em, fragSize(frags.G) + fragSize(frags.Y));
}
