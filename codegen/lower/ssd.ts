// Lowering "chunked SSD" (state space duality, spec §2) for programs that
// analysis/ssd.ts proves SSD-able: S_t = exp(ld_t)·S_{t-1} + s_t·u_t ⊗ w_t,
// y_t[p] = f(Σ_n c_t[n]·S_t[p][n]).
//
// One fused kernel. A workgroup owns one row of the parallel axes and a tile
// of Pt elements of the state's P axis; it walks the scan axis in chunks of
// Q steps, holding its Pt × N slice of the state the whole time (in
// registers, as an accumulator fragment, when all of N is staged per chunk;
// else in workgroup memory), so the sequential state passing between chunks
// costs nothing but the walk itself. Per chunk:
//   1. per-step log-decays ld_j and factors s_j; cs = inclusive cumulative
//      sum of ld over the chunk (one pass where Q ≤ threads, with each
//      step's state weight; else Hillis–Steele in workgroup memory);
//   2. X[j][p] = u_j[p] for the chunk (Q × Pt), and X' = X with rows scaled
//      by s_j·exp(cs_last − cs_j), what step j weighs in the chunk's end state;
//   3. over tiles of N: C and W (Q × Nt) into workgroup memory;
//      G += C·Wᵀ (Q × Q), Y += C·Sᵀ (Q × Pt, the state before the chunk);
//      then the state tile updated: S ← exp(cs_last)·S + X'ᵀ·W (Pt × Nt);
//   4. M = G ∘ [j ≤ i]·exp(cs_i − cs_j) (the causal decay mask);
//      Y = diag(exp(cs))·Y + M·X;
//   5. y = f(Y) per (step, p), stored.
// Matrix products are `mma` plan statements (plan/fragment.ts): scalar loops
// on every target, tensor cores on CUDA for bf16/f16 tensors and for fp32 as
// split tf32 (productPrecision 'tf32x3', the default there). Where the
// target copies asynchronously, the chunk's inputs arrive one chunk ahead
// (doubleBuffered). Steps past the
// end of the sequence load as zero and decay by exp(0), so the last chunk may
// be partial and the carried state stays exact.

import type { SpecializedProgram, TensorIR } from '../../dsl/ir.js';
import type { SsdEmitter } from './ssd-parts.js';
import type { SsdForm } from '../analysis/ssd.js';
import { staticTrips } from '../plan/static-trips.js';
import { usesSubgroupOps } from '../plan/walk.js';
import { clearFragment, fragElements, fragSize, FragmentError, gridFragment, mmaFragment, storeFragment, zeroFragment } from '../plan/fragment.js';
import {
  add, assign, barrier, call, decl, f, i, loop, lt, mul, sub, v, when, GROUP, TID,
  type Fragment, type KernelPlan, type MatOperand, type MmaStmt, type PExpr, type PStmt, type SharedArray,
} from '../plan/ast.js';
import {
  chunkFragments, operandBytes,
  chunkArrays,
  SsdLoweringError, and, asyncCopyable, cumulativeSum, decayMask, decomposeRow, idiv, imod, isPow2, loadCW, loadStaged, loadStepFactors, loadVector, prefetchedStepFactors, stageableOutputLoads, loadX, nextPow2, owning, padded,
  programBindings, rowsOf, scaleXForState, sload, sstore, ssdEmitter, stateOffset, storeOutputs,
} from './ssd-parts.js';
import { SsdSide } from './ssd-side.js';

export { SsdLoweringError } from './ssd-parts.js';

export interface SsdSchedule {
  threads: number;
  /** Steps per chunk. */
  chunk: number;
  /** Elements of the state's P axis per workgroup (a divisor of P); default: the largest that fits workgroup memory. */
  headTile?: number;
  /**
   * Elements of the state's N axis staged per pass over a chunk (a power of
   * two, or N itself); default: all of N where that fits, else the widest
   * tile that does. All of N ("whole" staging) loads a chunk's inputs in one
   * pass and needs 5 + log2(chunk) barriers per chunk; tiles need four more
   * barriers and a load round trip per tile.
   */
  nTile?: number;
}

export interface SsdCaps {
  /** Workgroup memory the kernel may use, in bytes. */
  sharedBytes: number;
  /** Lay accumulators out for 16×8 matrix-unit tiles where they fit (CUDA tensor cores print them as mma.sync). */
  matrixUnits: boolean;
  /** The target copies global memory to workgroup memory asynchronously (plan acopy; CUDA cp.async). */
  asyncCopies?: boolean;
  /** Workgroup memory of one multiprocessor (what bounds the blocks resident together), where known. */
  residentSharedBytes?: number;
  /**
   * The target stores workgroup arrays marked narrow in this type (CUDA, with
   * matrix units at this operand precision): the products' operands X, C, W
   * and M are kept as the products round them, in half the bytes.
   */
  narrowOperands?: 'bf16' | 'f16';
  /**
   * Invocations per subgroup where the target fixes it (CUDA warps: 32; WGSL
   * where the adapter reports one size): the chunk's cumulative sum then runs
   * on subgroup shuffles (ssd-parts.ts subgroupCumulativeSum).
   */
  subgroupLanes?: number;
  /** fp32 operands multiply on the matrix units as split tf32 (MmaStmt precision 'tf32x3'; CUDA, with matrixUnits). */
  splitF32?: boolean;
}

/** Tile sizes, strides and accumulator layouts every SSD kernel of a chunk has (fused and chunked forms). */
export interface ChunkTileBase {
  Q: number;
  /** Rows of the chunk's matrices: Q steps × R ranks, step-major. */
  QR: number;
  T: number;
  /** P-axis elements per workgroup, and the padded (power-of-two) width computed with. */
  Pt: number;
  PtPad: number;
  /** N-axis elements per tile, and N rounded up to whole tiles. */
  Nt: number;
  NPad: number;
  /** Columns of the state-update product per pass (a divisor of Nt): bounds its accumulator registers. */
  Nu: number;
  strides: { X: number; C: number; W: number; S: number; M: number };
  frags: { G: Fragment; Y: Fragment; U: Fragment };
}

/** The fused kernel's tiles. */
export interface SsdTiles extends ChunkTileBase {
  /** One tile holds all of N: the chunk's inputs load in one pass (see lowerSsd). */
  whole: boolean;
  /**
   * The state lives in registers (fragment `state`, PtPad × NPad) the whole
   * walk, updated by the tensor cores in place; workgroup memory holds only
   * its copy as the products' operand (narrow where they are), rewritten
   * once per chunk. Needs whole-N staging (one update per chunk) and no
   * previous-step term (whose fold adds to the state in workgroup memory).
   */
  state?: Fragment;
  sharedBytes: number;
}

/**
 * `R` rows per step (ranks, padded) make the chunk's matrices Q·R rows tall; `extraBytes`
 * is the workgroup memory the kernel needs besides the tiles (side states),
 * given the padded P tile and N.
 */
export function chooseSsdTiles(P: number, N: number, sched: SsdSchedule, caps: SsdCaps, R = 1, extraBytes: (PtPad: number, NPad: number) => number = () => 0, registerState = false): SsdTiles {
  const T = sched.threads, Q = sched.chunk, QR = Q * R;
  if (!isPow2(T)) throw new SsdLoweringError(`threads must be a power of two, got ${T}`);
  if (!isPow2(Q)) throw new SsdLoweringError(`chunk must be a power of two, got ${Q}`);
  const divisors = [...Array(P).keys()].map((k) => P - k).filter((d) => P % d === 0);
  if (sched.headTile !== undefined && (!Number.isInteger(sched.headTile) || P % sched.headTile !== 0)) {
    throw new SsdLoweringError(`headTile must divide the state's P axis (${P}), got ${sched.headTile}`);
  }
  const pts = sched.headTile !== undefined ? [sched.headTile] : divisors;
  // All of N in one tile (rounded up to a multiple of 16 for the matrix units' k steps): one load pass per chunk.
  const wholeN = caps.matrixUnits ? Math.ceil(N / 16) * 16 : N;
  if (sched.nTile !== undefined && sched.nTile !== N && !isPow2(sched.nTile)) throw new SsdLoweringError(`nTile must be a power of two or N (${N}), got ${sched.nTile}`);
  const nts: number[] = [];
  // Widest N tile: 32 (scalar loops), 16 with matrix units (their operand registers would spill at 256 threads).
  for (let nt = Math.min(nextPow2(N), caps.matrixUnits ? 16 : 32); nt >= 1; nt /= 2) nts.push(nt);
  // N tiles of at least 16 first, then all of N in one tile while at most 4 workgroups share a
  // head, then the rest. Measured on the H100 (bench/RESULTS.md run 12): whole-N, with one load
  // pass and 5 + log2 Q barriers per chunk, was predicted faster but took 3.86 ms against 2.31 ms
  // for 16-wide tiles (bf16, t128 q32 p32), and was slower on WebGPU too: its larger workgroup
  // memory and registers cost more residency than its fewer barriers saved.
  const wide = Math.min(16, nextPow2(N));
  const order: [number, number][] = sched.nTile !== undefined
    ? pts.map((Pt): [number, number] => [Pt, sched.nTile === N ? wholeN : sched.nTile!])
    : [
      ...pts.flatMap((Pt) => nts.filter((nt) => nt >= wide && nt < wholeN).map((Nt): [number, number] => [Pt, Nt])),
      ...pts.filter((Pt) => 4 * Pt >= P).map((Pt): [number, number] => [Pt, wholeN]),
      ...pts.filter((Pt) => 4 * Pt < P).map((Pt): [number, number] => [Pt, wholeN]),
      ...pts.flatMap((Pt) => nts.filter((nt) => nt < wide && nt < wholeN).map((Nt): [number, number] => [Pt, Nt])),
    ];
  // With the state in registers, whole-N tiles come first while the state slice costs at most
  // 32 registers per thread (lowerSsd's register-state form: t128 q32 p32 and t256 q32 p64 were the
  // fastest, bench/RESULTS.md run 68), then at most 64.
  const stateRegs = (Pt: number): number => (nextPow2(Pt) * wholeN) / T;
  // Only with matrix units: in f32 (scalar products) whole-N staging needs 4-byte operand tiles, and the
  // order below (N tiles first) stayed the faster (run 69: f32 t256 q64 fell to P tiles of 8, 14.8 ms).
  // With split-tf32 products (4-byte operands) only P tiles of at least a quarter of P, as the order below
  // ranks whole-N tiles, unless a P tile is asked for: at chunk 64 only the narrowest fit whole-N, and P tiles
  // of 2 ran 33 ms where the N-tiled kernel at P 32 runs 6 (bench/RESULTS.md run 151). (16-bit operands keep
  // every P tile here: their narrow whole-N kernels were not measured against the alternative.)
  if (registerState && caps.matrixUnits && sched.nTile === undefined) {
    const wide = sched.headTile !== undefined || !caps.splitF32 ? pts : pts.filter((Pt) => 4 * Pt >= P);
    order.unshift(...[32, 64].flatMap((r) => wide.filter((Pt) => stateRegs(Pt) <= r && (r === 32 || stateRegs(Pt) > 32)).map((Pt): [number, number] => [Pt, wholeN])));
  }
  const tried: string[] = [];
  for (const [Pt, Nt] of order) {
    const f = chunkFragments(QR, T, Pt, Nt, N, caps.matrixUnits);
    if (typeof f === 'string') {
      tried.push(f);
      continue;
    }
    const { PtPad, NPad, Nu, frags } = f;
    const whole = NPad === Nt;
    const mu = caps.matrixUnits;
    const state = registerState && whole ? stateFragment(PtPad, NPad, T, mu) : undefined;
    const strides = { X: padded(PtPad, mu), C: padded(Nt, mu), W: padded(Nt, mu), S: padded(NPad, mu), M: padded(QR, mu) };
    const opBytes = (n: number): number => operandBytes(n, caps);
    // Rank R: the readouts go through workgroup memory (Ys) to be summed per step.
    const ys = R > 1 ? 4 * QR * ysStride(PtPad) : 0;
    // X twice: as loaded (Y += M·X) and scaled for the state update (Xw).
    // The state tile: f32, or (register state) the products' operand copy, narrow where they are.
    const stateBytes = state ? opBytes(PtPad * strides.S) : 4 * PtPad * strides.S;
    const sharedBytes = 4 * 3 * Q + stateBytes + 2 * opBytes(QR * strides.X) + opBytes(QR * strides.C) + opBytes(QR * strides.W) + opBytes(QR * strides.M) + ys + extraBytes(PtPad, NPad);
    if (sharedBytes <= caps.sharedBytes) return { Q, QR, T, Pt, PtPad, Nt, NPad, whole, Nu, strides, frags, sharedBytes, ...(state ? { state } : {}) };
    tried.push(`Pt ${Pt}, Nt ${Nt}: ${sharedBytes} bytes of workgroup memory`);
  }
  throw new SsdLoweringError(`no tiling of chunk ${Q} × P ${P} × N ${N} over ${T} threads fits ${caps.sharedBytes} bytes of workgroup memory (tried ${tried.slice(0, 6).join('; ')}${tried.length > 6 ? '; ...' : ''}); use a smaller chunk or fewer threads`);
}

/**
 * Registers per thread for the register-state form: the accumulators plus
 * 40 for the rest of the kernel (it keeps no second copy of the update's
 * accumulators), or more where the blocks that workgroup memory lets share
 * an SM leave more. Run 68 (bf16, t128 q32 p32, 43.5 KB: 5 blocks per SM):
 * at +64 the kernel took 121 registers, 4 blocks, 1.158 ms; at +40, 96
 * registers, 5 blocks (one wave at the standard shape), 0.907 ms; at +24,
 * 72 registers with 200 bytes of spills, 1.144 ms.
 */
function registerStateBudget(accumulators: number, T: number, sharedBytes: number, caps: SsdCaps): number {
  const blocks = caps.residentSharedBytes ? Math.max(1, Math.floor(caps.residentSharedBytes / Math.max(1, sharedBytes))) : 1;
  return Math.min(255, Math.max(64, accumulators + 40, Math.floor(65536 / (T * blocks))));
}

/** The register-resident state's layout: tensor-core tiles where the target has them, else a thread grid. */
function stateFragment(PtPad: number, NPad: number, T: number, matrixUnits: boolean): Fragment | undefined {
  try {
    return (matrixUnits ? mmaFragment('st', PtPad, NPad, T) : undefined) ?? gridFragment('st', PtPad, NPad, T);
  } catch (e) {
    if (e instanceof FragmentError) return undefined;
    throw e;
  }
}

/**
 * The narrow type X, C, W and the outputs' staged loads are copied in
 * asynchronously (X double-buffered), or undefined: where the target copies
 * asynchronously, N is staged whole
 * (one load pass per chunk), R = 1, there is no previous-step term, and
 * u, c and w are plain loads of tensors of the operands' type whose rows a
 * 16/8-byte copy covers (ssd-parts.ts asyncCopyable).
 */
function doubleBuffered(em: SsdEmitter, tl: SsdTiles, caps: SsdCaps): 'bf16' | 'f16' | undefined {
  const ty = caps.narrowOperands;
  if (!caps.asyncCopies || !ty || !tl.whole || em.prev || em.R !== 1 || Object.values(tl.strides).some((x) => x % 8 !== 0)) return undefined;
  const vx = loadVector(em, em.P, tl.Pt), vn = loadVector(em, em.N, tl.Nt);
  const ok = asyncCopyable(em, em.u, '$p', ty, vx) && asyncCopyable(em, em.c, '$n', ty, vn) && asyncCopyable(em, em.w, '$n', ty, vn);
  // The next chunk's C and W are copied in after the staged outputs' barrier (outputVector > 1).
  return ok && tl.Pt === tl.PtPad && outputVector(em, tl.Pt) > 1 ? ty : undefined;
}

/**
 * Consecutive p one thread stores per pass: the widest vector of the
 * narrowest tensor (16 bytes) dividing the P tile and P (loadVector), but
 * at least 4 wide, else 1 (element stores straight from the registers).
 */
function outputVector(em: SsdEmitter, Pt: number): number {
  const V = loadVector(em, em.P, Pt);
  return V >= 4 ? V : 1;
}

/** Row stride of the staged readouts. */
// PtPad + 8: a tensor-core fragment's pair stores (8 bytes, rows g = 0…7) fill two wavefronts, the
// minimum, and rows stay 16-byte aligned for the output pass's 4-wide reads (storeOutputs).
const ysStride = (PtPad: number): number => PtPad + 8;

/** The narrowest element type among the tensors the kernel reads: what matrix units may round operands to. */
export function operandPrecision(used: TensorIR[]): 'f32' | 'bf16' | 'f16' {
  if (used.some((t) => t.dtype === 'bf16')) return 'bf16';
  if (used.some((t) => t.dtype === 'f16')) return 'f16';
  return 'f32';
}

/** The products' precision: the operands', or split tf32 for fp32 operands where the caps ask for it. */
export function productPrecision(used: TensorIR[], caps: Pick<SsdCaps, 'splitF32'>): MmaStmt['precision'] {
  const p = operandPrecision(used);
  return p === 'f32' && caps.splitF32 ? 'tf32x3' : p;
}

export function lowerSsd(sp: SpecializedProgram, form: SsdForm, sched: SsdSchedule, caps: SsdCaps, name: string): KernelPlan {
  const em = ssdEmitter(sp, form);
  const { P, N, L, R, RP } = em;
  const side = new SsdSide(em, sched.chunk, sched.threads);
  // Outputs of V consecutive p per thread, staged through workgroup memory (storeOutputs), where a P tile holds whole vectors.
  const outVector = (Pt: number): number => (R === 1 ? outputVector(em, Pt) : 1);
  const stageBytes = (PtPad: number): number => (R === 1 && outVector(PtPad) > 1 ? 4 * sched.chunk * ysStride(PtPad) : 0);
  // With asynchronous loads (doubleBuffered): X's second half and an X-sized tile per staged load
  // of the outputs besides x (z), counted for every candidate; where no candidate fits with them,
  // the tiles are chosen again without.
  const stagedTiles = (PtPad: number): number => (caps.narrowOperands ? stageableOutputLoads(em, caps.narrowOperands, loadVector(em, P, PtPad)).filter((x) => x.arr !== 'Xs').length : 0);
  const secondHalves = (PtPad: number): number => (1 + stagedTiles(PtPad)) * operandBytes(sched.chunk * padded(PtPad, true), caps);
  const choose = (double: boolean): SsdTiles => chooseSsdTiles(P, N, sched, caps, RP,
    (PtPad, NPad) => SsdSide.bytes(side.arrays(PtPad, NPad)) + (em.prev ? 4 * sched.chunk : 0) + (sched.chunk <= sched.threads ? 4 * sched.chunk : 0) + stageBytes(PtPad) + (double ? secondHalves(PtPad) : 0), !em.prev);
  let reserved: SsdTiles | undefined;
  if (caps.asyncCopies && caps.narrowOperands && !em.prev && R === 1) {
    try {
      reserved = choose(true);
    } catch (e) {
      if (!(e instanceof SsdLoweringError)) throw e;
    }
  }
  const dbl = reserved ? doubleBuffered(em, reserved, caps) : undefined;
  // Where the tiles chosen with the reserve cannot use it, they are chosen again without it.
  const tl = dbl ? reserved! : choose(false);
  const st = tl.state;
  const { Q, QR, T, Pt, PtPad, Nt, NPad, strides: ST, frags } = tl;
  // Matrix units skip tiles above the diagonal; rows are (step, rank), so that holds tile-wise when R divides the 16-row tiles.
  const triangular = 16 % RP === 0;
  const NPT = P / Pt;
  const operands = operandPrecision(sp.used);
  if (caps.narrowOperands && (!caps.matrixUnits || caps.narrowOperands !== operands)) throw new SsdLoweringError(`internal: operands stored as ${caps.narrowOperands} need matrix units at that precision (${operands})`);
  const precision = productPrecision(sp.used, caps);
  const chunk: PStmt[] = [];
  // Strides and tile bases (buffer halves, N tiles, update passes) are multiples of 8 with matrix units: ldmatrix rows.
  const rows16 = caps.matrixUnits && Nt % 8 === 0 && tl.Nu % 8 === 0 && Object.values(ST).every((x) => x % 8 === 0);
  // Asynchronous loads (whole staging, where the target copies asynchronously and the templates
  // are plain loads), so the chunk walk no longer waits for memory once per chunk (run 65): X
  // double-buffered, chunk c + 1's on its way while chunk c computes; C and W in one buffer, chunk
  // c + 1's copied in once chunk c's last product has read them (the output pass's barrier); the
  // outputs' other loads (z) in one buffer, chunk c's copied at its start, read at its end. Half
  // the workgroup memory of doubling them all (run 68).
  const half = { X: QR * ST.X };
  const cur = (n: number): PExpr => (dbl ? mul(v('cbuf'), i(n)) : i(0));
  const nextPass = (n: number) => ({ chunk: add(v('c0'), i(Q)), offset: mul(sub(i(1), v('cbuf')), i(n)), async: dbl });
  // Loads the outputs read per (step, p) (z, and x where it is u's), staged beside X the same way.
  const V = Pt === PtPad ? outVector(Pt) : 1;
  const staged = dbl && V > 1 ? stageableOutputLoads(em, dbl, V) : [];
  if (dbl) {
    chunk.push(decl('cbuf', 'i32', imod(idiv(v('c0'), Q), 2)));
    chunk.push(loadX(em, Q, T, Pt, PtPad, ST.X, true, nextPass(half.X)), ...loadStaged(em, staged, Q, T, Pt, PtPad, ST.X, { async: dbl }), { k: 'acommit' });
  }

  // 1. One load pass, no barrier inside (with asynchronous loads: the copies issued above, waited
  //    for here): per-step log-decays and factors; X = u, the p factor of the input term, unscaled
  //    (the step factor s_j is folded into M's columns and W's decay below); with whole staging
  //    also C and W for all of N. Zero past the sequence, P and N.
  // 0. The side states' values over the chunk (scans), before anything reads them.
  chunk.push(...side.chunkStart());
  // With asynchronous loads, the step factors' loads go one chunk ahead too (in registers).
  const steps = dbl ? prefetchedStepFactors(em, Q, T) : undefined;
  chunk.push(...(steps ? [steps.compute, steps.issue] : [loadStepFactors(em, Q, T)]));
  if (dbl) chunk.push({ k: 'await', pending: 1 });
  else {
    chunk.push(loadX(em, Q, T, Pt, PtPad, ST.X, !!caps.narrowOperands));
    if (tl.whole) chunk.push(...loadCW(em, i(0), Q, T, Nt, { C: ST.C, W: ST.W }, !!caps.narrowOperands));
  }
  chunk.push(...side.prevLoads(Pt, PtPad, NPad), barrier);
  // The previous chunk's last input, as this chunk's first step reads it again (the cumulative sum's barriers order it before the products).
  chunk.push(...side.fold(Pt, PtPad, NPad, ST.S));
  if (em.prev && Q === 1) chunk.push(barrier);

  // 2. Inclusive cumulative sum of the log-decays.
  const scan = cumulativeSum(Q, T, em, caps.subgroupLanes);
  chunk.push(...scan.stmts);
  const cs = (j: PExpr): PExpr => sload(scan.arr, j);
  chunk.push(decl('csLast', 'f32', cs(i(Q - 1))), decl('chunkDecay', 'f32', call('exp', v('csLast'))));
  // X' for the state update (read after the next barrier, by the update passes), 16 bytes at a time
  // where the operands are 16-bit and their rows 16-byte aligned (rows16, as ldmatrix needs).
  chunk.push(scaleXForState(em, Q, T, PtPad, ST.X, cs, cur(half.X), scan.weights, rows16 && caps.narrowOperands ? 8 : 1));
  chunk.push(...clearFragment(frags.G), ...clearFragment(frags.Y));

  // 3. Per N tile (whole staging: one, already loaded): G += C·Wᵀ, Y += C·Sᵀ (the state before
  // the chunk); the state update is one product with X' (step 2), S ← exp(cs_last)·S + X'ᵀ·W,
  // in passes of Nu columns.
  // With matrix units every array has even strides and sizes (padded()), so pairs along a contiguous k are 8-byte aligned.
  const kPairs = caps.matrixUnits && Q % 2 === 0 && Nt % 2 === 0 && Object.values(ST).every((x) => x % 2 === 0);
  const ld = rows16 ? { rows16 } : {};
  const n0 = tl.whole ? i(0) : v('n0');
  const opC: MatOperand = { arr: 'Ct', base: i(0), rowStride: ST.C, colStride: 1, kPairs, ...ld };
  const opWt: MatOperand = { arr: 'Wt', base: i(0), rowStride: 1, colStride: ST.W, kPairs, ...ld }; // B(k = n, col = j) = W[j][n]
  const opSt: MatOperand = { arr: 'Ss', base: n0, rowStride: 1, colStride: ST.S, kPairs, ...ld }; // B(k = n, col = p) = S[p][n0 + n]
  const opXt: MatOperand = { arr: 'Xw', base: i(0), rowStride: 1, colStride: ST.X, ...ld }; // A(row = p, k = j) = X'[j][p]
  const opW: MatOperand = { arr: 'Wt', base: v('nu'), rowStride: ST.W, colStride: 1, ...ld }; // B(k = j, col = n) = W[j][nu + n]
  const products: PStmt[] = [
    // Only G's lower triangle survives the causal mask.
    { k: 'mma', id: 'mg', frag: frags.G, a: opC, b: opWt, kLen: Nt, precision, outputLower: triangular },
    { k: 'mma', id: 'my', frag: frags.Y, a: opC, b: opSt, kLen: Nt, precision },
    // The state update writes the columns of S the Y product just read.
    barrier,
  ];
  // 4 (first half). The causal decay mask, M = G ∘ [j ≤ i]·exp(cs_i − cs_j)·s_j.
  const mask = decayMask(em, frags.G, ST.M, cs, !!caps.narrowOperands);
  const update: PStmt[] = [
    ...clearFragment(frags.U),
    // bf16 operands here too: each chunk's contribution carries ~1e-3 relative rounding, added in fp32, not compounded.
    { k: 'mma', id: 'mu', frag: frags.U, a: opXt, b: opW, kLen: QR, precision },
  ];
  // Each thread updates the state elements it owns (nobody else touches them until the barrier).
  for (const e of fragElements(frags.U)) {
    const at = add(add(add(mul(e.row, i(ST.S)), n0), v('nu')), e.col);
    update.push(...owning(e, [sstore('Ss', at, add(v(e.reg), mul(v('chunkDecay'), sload('Ss', at))))]));
  }
  // Register state: decay in place, then the tensor cores add X'ᵀ·W to it; then its operand copy for the next chunk.
  const updateLoop = st
    ? [
      ...fragElements(st).map((e): PStmt => assign(e.reg, mul(v(e.reg), v('chunkDecay')))),
      { k: 'mma', id: 'mu', frag: st, a: opXt, b: { ...opW, base: i(0) }, kLen: QR, precision } as PStmt,
      ...stateCopy(st, ST.S, !!caps.narrowOperands),
    ]
    : [loop('nu', i(0), i(Nt), i(tl.Nu), update)];
  if (tl.whole) {
    // M is stored beside W's decay, and the update's passes need no barrier between them.
    chunk.push(...products, ...mask, barrier, ...updateLoop);
  } else {
    chunk.push(loop('n0', i(0), i(NPad), i(Nt), [...loadCW(em, v('n0'), Q, T, Nt, { C: ST.C, W: ST.W }, !!caps.narrowOperands), barrier, ...products, barrier, ...updateLoop, barrier]), ...mask);
  }

  // 4. Y rows scaled by the decay since the chunk start; Y += M·X.
  for (const e of fragElements(frags.Y)) chunk.push({ k: 'assign', name: e.reg, value: mul(v(e.reg), call('exp', cs(em.stepOf(e.row)))) });
  if (!tl.whole) chunk.push(barrier);
  chunk.push({
    k: 'mma', id: 'mx', frag: frags.Y, precision, aLower: triangular,
    a: { arr: 'Ms', base: i(0), rowStride: ST.M, colStride: 1, kPairs, ...ld },
    b: { arr: 'Xs', base: cur(half.X), rowStride: ST.X, colStride: 1, ...ld },
    kLen: QR,
  });

  // 5. Outputs per (step, p).
  // The next chunk's C and W, once every warp is past this chunk's products (storeOutputs' barrier).
  const nextCW: PStmt[] = dbl ? [...loadCW(em, i(0), Q, T, Nt, { C: ST.C, W: ST.W }, true, { C: { chunk: add(v('c0'), i(Q)), async: dbl }, W: { chunk: add(v('c0'), i(Q)), async: dbl } }), { k: 'acommit' }] : [];
  // This chunk's staged loads (and the next chunk's X) are in before the outputs' barrier.
  if (staged.length) chunk.push({ k: 'await', pending: 0 });
  chunk.push(...storeOutputs(em, frags.Y, Pt, Q, T, ysStride(PtPad), V, staged.length ? { loads: staged, stride: ST.X, offset: (arr) => (arr === 'Xs' ? cur(half.X) : i(0)) } : undefined, nextCW));
  // Everyone is done with cs, X, M and the state before the next chunk overwrites them.
  chunk.push(barrier);

  // ---- the row: which (row, P tile) this workgroup owns; state in; the chunk walk; state out ----
  const rows = rowsOf(em);
  const sv = form.state;
  const init: PStmt[] = [];
  if (st) {
    init.push(...stateInit(em, st, Pt));
    init.push(...stateCopy(st, ST.S, !!caps.narrowOperands));
  } else {
    const given = sp.variant.initStates.includes(sv.name);
    const p = add(v('p0'), v('iP')), ok = and(lt(v('iP'), i(Pt)), lt(v('iN'), i(N)));
    init.push(loop('ie', TID, i(PtPad * ST.S), i(T), [
      decl('iP', 'i32', idiv(v('ie'), ST.S)),
      decl('iN', 'i32', imod(v('ie'), ST.S)),
      decl('iv', 'f32', f(0), true),
      ...(given ? [when(ok, [{ k: 'assign', name: 'iv', value: { k: 'load', buf: sv.init, index: stateOffset(em, v('row'), p, v('iN')) } } as PStmt])] : []),
      sstore('Ss', v('ie'), v('iv')),
    ]));
  }
  const final: PStmt[] = [];
  if (sp.variant.finalStates.includes(sv.name) && st) {
    for (const e of fragElements(st)) {
      const ok = and(lt(e.row, i(Pt)), lt(e.col, i(N)));
      final.push(when(e.owned ? and(e.owned, ok) : ok, [{ k: 'store', buf: sv.final, index: stateOffset(em, v('row'), add(v('p0'), e.row), e.col), value: v(e.reg) }]));
    }
  } else if (sp.variant.finalStates.includes(sv.name)) {
    final.push(loop('fe', TID, i(Pt * N), i(T), [
      decl('fP', 'i32', idiv(v('fe'), N)),
      decl('fN', 'i32', imod(v('fe'), N)),
      { k: 'store', buf: sv.final, index: stateOffset(em, v('row'), add(v('p0'), v('fP')), v('fN')), value: sload('Ss', add(mul(v('fP'), i(ST.S)), v('fN'))) },
    ]));
  }
  const rowBody: PStmt[] = [
    decl('row', 'i32', idiv(GROUP, NPT)),
    decl('p0', 'i32', mul(imod(GROUP, NPT), i(Pt))),
    ...decomposeRow(em),
    ...em.rowScope.decls,
    ...zeroFragment(frags.G),
    ...zeroFragment(frags.Y),
    ...(st ? [] : zeroFragment(frags.U)),
    ...init,
    ...side.init(),
    // The first chunk's asynchronous loads, into the first halves (the chunk walk waits for them).
    ...(steps ? [...steps.carries, ...steps.prologue] : []),
    ...(dbl ? [loadX(em, Q, T, Pt, PtPad, ST.X, true, { chunk: i(0), async: dbl }), ...loadCW(em, i(0), Q, T, Nt, { C: ST.C, W: ST.W }, true, { C: { chunk: i(0), async: dbl }, W: { chunk: i(0), async: dbl } }), { k: 'acommit' } as PStmt] : []),
    barrier,
    loop('c0', i(0), L, i(Q), chunk),
    ...final,
    ...side.finals(),
  ];
  // The grid may hold a few workgroups past the end (spread over x and y): they do nothing.
  // Work-sharing loops with a static trip count say so (plan/static-trips.ts).
  const body: PStmt[] = staticTrips([when(lt(GROUP, mul(rows.count, i(NPT))), rowBody)], T);

  const shared = [
    ...chunkArrays(tl, caps, ['X', 'Xw', 'C', 'W', st ? 'Sop' : 'S', 'M'], !!em.prev, dbl ? ['X'] : []),
    ...side.arrays(PtPad, NPad),
    ...(R > 1 || V > 1 ? [{ name: 'Ys', ty: 'f32' as const, size: QR * ysStride(PtPad) }] : []),
    ...(scan.weights ? [{ name: scan.weights, ty: 'f32' as const, size: Q }] : []),
    ...staged.filter((x) => x.arr !== 'Xs').map((x): SharedArray => ({ name: x.arr, ty: 'f32', size: QR * ST.X, narrow: dbl! })),
  ];
  const { buffers, params } = programBindings(sp);
  const accumulators = fragSize(frags.G) + fragSize(frags.Y) + (st ? fragSize(st) : fragSize(frags.U));
  return {
    name,
    workgroupSize: T,
    buffers,
    params,
    shared,
    body,
    usesSubgroups: usesSubgroupOps(body),
    // Workgroups = rows × (P / Pt): a "row" of the grid is one (parallel…, p) recurrence.
    grid: { groupsFromDims: [...rows.dims, form.pDim], rowsPerGroup: Pt },
    helpers: em.helpers,
    registerBudget: st ? registerStateBudget(accumulators, T, tl.sharedBytes, caps) : Math.min(255, Math.max(64, 2 * accumulators + 48)),
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
  };
}

/** The register state's initial value: the given initial state (zero past P and N), else zero. */
function stateInit(em: SsdEmitter, st: Fragment, Pt: number): PStmt[] {
  const sv = em.form.state;
  const given = em.sp.variant.initStates.includes(sv.name);
  return fragElements(st).flatMap((e): PStmt[] => [
    decl(e.reg, 'f32', f(0), true),
    ...(given ? [when(and(lt(e.row, i(Pt)), lt(e.col, i(em.N))), [assign(e.reg, { k: 'load', buf: sv.init, index: stateOffset(em, v('row'), add(v('p0'), e.row), e.col) })])] : []),
  ]);
}

/**
 * The register state's copy in workgroup memory (Ss, stride sS), the operand
 * of the next chunk's C·Sᵀ: each element by its owner; narrow, as packed pairs.
 */
function stateCopy(st: Fragment, sS: number, narrow: boolean): PStmt[] {
  return storeFragment(st, 'Ss', (e) => add(mul(e.row, i(sS)), e.col), (e) => v(e.reg), narrow && sS % 2 === 0);
}
