// The target-neutral kernel plan: a small imperative language of scalars,
// private variables, workgroup (shared) arrays, global buffers, loops and
// barriers. Lowerings build it; renderers only print it. Anything a target
// does differently (syntax, builtins, dtype conversion) lives in a dialect.

import type { ElemType, KernelBinding, KernelParam } from '../../runtime/backend.js';

export type Ty = 'f32' | 'i32' | 'bool';

export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';

/** Float functions every target provides (renderers map names and write helpers). */
export type PFn = 'exp' | 'exp2' | 'log' | 'sqrt' | 'tanh' | 'sin' | 'cos' | 'abs' | 'sigmoid' | 'softplus' | 'silu' | 'max' | 'min' | 'pow' | 'mod' | 'floor';

export type PExpr =
  | { k: 'lit'; ty: Ty; v: number | boolean }
  | { k: 'var'; name: string }
  | { k: 'param'; name: string }
  /** Thread index in the workgroup; linear workgroup id; subgroup lane and size. */
  | { k: 'builtin'; b: 'tid' | 'group' | 'lane' | 'laneCount' }
  | { k: 'bin'; op: BinOp; a: PExpr; b: PExpr }
  | { k: 'neg'; a: PExpr }
  | { k: 'not'; a: PExpr }
  | { k: 'call'; fn: PFn; args: PExpr[] }
  /** Integer min/max (index clamping). */
  | { k: 'imin' | 'imax'; a: PExpr; b: PExpr }
  /** Element of a global buffer, converted to f32. */
  | { k: 'load'; buf: string; index: PExpr }
  /** Element of a workgroup array. */
  | { k: 'sload'; arr: string; index: PExpr }
  | { k: 'select'; c: PExpr; a: PExpr; b: PExpr }
  | { k: 'cast'; ty: Ty; a: PExpr }
  /**
   * Value of `a` in another lane of the subgroup (warp shuffle), every lane
   * taking part: 'up', the lane `b` below (undefined for lanes < b); 'xor',
   * lane (own lane ^ b); 'lane', lane b of this lane's aligned group of
   * `width` consecutive lanes (a power of two).
   */
  | { k: 'shuffle'; mode: ShuffleMode; a: PExpr; b: PExpr; width?: number };

export type ShuffleMode = 'up' | 'xor' | 'lane';

export type PStmt =
  | { k: 'decl'; name: string; ty: Ty; init: PExpr; mut: boolean }
  | { k: 'assign'; name: string; value: PExpr }
  | { k: 'sstore'; arr: string; index: PExpr; value: PExpr }
  /** Store to a global buffer, converting from f32 to the buffer's element type. */
  | { k: 'store'; buf: string; index: PExpr; value: PExpr }
  /**
   * for (var = from; var < to; var += step) — var is i32. `unroll` (> 1)
   * asks the target's compiler to unroll by that factor (a hint: independent
   * iterations then overlap; targets without such a pragma ignore it); 1
   * asks it to keep the loop rolled (fewer registers live); absent, the
   * target's compiler decides.
   */
  /** `until`: checked after each pass of the body; where it holds the loop ends (a break), before `v` steps on. */
  | { k: 'for'; v: string; from: PExpr; to: PExpr; step: PExpr; body: PStmt[]; unroll?: number; until?: PExpr }
  | { k: 'if'; c: PExpr; then: PStmt[]; else: PStmt[] }
  | { k: 'barrier' }
  | { k: 'comment'; text: string }
  /**
   * Declares f32 variables names[j] = buf[index + j] for consecutive j. A
   * target with vector loads reads them in one access when index is a
   * multiple of names.length (checked at run time; element by element
   * otherwise); the elements must all be in bounds.
   */
  /**
   * `aligned`: the lowering guarantees index is a multiple of names.length
   * (a uniform condition it checked before choosing this code), so no
   * per-load check is printed.
   */
  /**
   * `l2Bytes`: a hint that the steps after these will be read soon (the
   * next chunks of a stream): a target that can (CUDA ld.global.L2::128B)
   * has the L2 cache fetch that many bytes around the access.
   */
  | { k: 'vload'; buf: string; index: PExpr; names: string[]; aligned?: boolean; l2Bytes?: L2Fetch }
  /**
   * buf[index + j] = values[j] for consecutive j, converted as 'store' does:
   * one access where the target has vector stores and index is a multiple
   * of values.length (`aligned`: the lowering proved it under a uniform
   * condition; else checked at run time), element stores otherwise.
   * `stream`: a hint that the kernel never reads these elements again and
   * other lines held in the cache matter more (CUDA st.global.cs: evicted
   * first); targets without it ignore it.
   */
  | { k: 'vstore'; buf: string; index: PExpr; values: PExpr[]; aligned?: boolean; stream?: boolean }
  /**
   * Consecutive elements of an f32 workgroup array: names[j] = arr[index + j]
   * (svload) or arr[index + j] = values[j] (svstore), index a multiple of the
   * count and the array's rows laid out so (the lowering guarantees it). A
   * target with vector access moves them in one 8/16-byte access.
   */
  | { k: 'svload'; arr: string; index: PExpr; names: string[] }
  | { k: 'svstore'; arr: string; index: PExpr; values: PExpr[] }
  /**
   * arr[index + j] = buf[src + j] for j < count (zero for every j where
   * `valid` is false), the elements copied as they are: the workgroup array
   * holds the buffer's element type (a narrow array for a bf16/f16 buffer,
   * f32 for f32), count·bytes is 8 or 16, and index and src are multiples of
   * count (the lowering proves it). A target with asynchronous copies (CUDA
   * cp.async) starts the copy and goes on: its data is in place once an
   * 'await' has waited for its group ('acommit' closes one) and a barrier
   * has followed. Others copy at once.
   */
  /** `l2Bytes`: as vload's, the L2 cache fetches that many bytes around the source (CUDA cp.async …L2::128B). */
  | { k: 'acopy'; arr: string; index: PExpr; buf: string; src: PExpr; count: number; valid: PExpr; l2Bytes?: L2Fetch }
  | { k: 'acommit' }
  /**
   * A hint: buf[index]'s line will be read soon; a target that can (CUDA
   * prefetch.global.L2) starts bringing it into the L2 cache and goes on,
   * others print nothing. index must lie inside the buffer.
   */
  | { k: 'prefetch'; buf: string; index: PExpr }
  /** Waits until at most `pending` groups of this thread's asynchronous copies are still in flight. */
  | { k: 'await'; pending: number }
  | MmaStmt
  | SsdWgmmaStmt;

/**
 * The SSD chunk walk on Hopper's warpgroup tensor-core products
 * (lower/ssd-wgmma.ts; CUDA sm_90a only, printed by render/cuda-ssd-wgmma.ts,
 * bench/prototypes/ssd_wgmma.cu measured first): one warpgroup of 128 threads
 * per (row, 64 elements of P), chunks of 64 steps, the P × N state in the
 * accumulator registers. The program's own pieces come as plan code in terms
 * of variables the walk defines: `row` (i32, the row of the parallel axes),
 * `c0` (a chunk's first step), `sf_t` (a step), `sf_k` (an element along the
 * copied axis), `sf_p` / `sf_n` (state indices), `sf_r` (a readout), `sf_xv`
 * and `sf_zv` (the staged input and gate values of an output).
 */
export interface SsdWgmmaStmt {
  k: 'ssdWgmma';
  /** The step factor is never negative (a softplus, exp or sigmoid): the mask takes it into its exponent as −log2 s. */
  positiveScale: boolean;
  /**
   * 'walk': the chunk walk. 'prep': a first launch, one workgroup per (row,
   * chunk), that computes G = C·Bᵀ of the chunk for the rows `g.own` says
   * hold one (a group of rows shares it: C and B depend on the row only
   * through the group) into slot `g.slot` of the scratch `g.buf`; the walk
   * then reads its group's slot instead of computing it. (Where the dims do
   * not split into whole groups every row owns a slot of its own.)
   */
  role: 'walk' | 'prep';
  /** The 16-bit type of the tensors and of the products' operands. */
  ty: 'bf16' | 'f16';
  /** `floats`: a chunk's G in the scratch (its pairs on and below the diagonal), per slot and chunk. */
  g?: { buf: string; own: PExpr; slot: PExpr; floats: number };
  /** The state's N axis (64 or 128) and P axis (a multiple of 64). */
  N: 64 | 128;
  P: number;
  /** Sequence length, and rows of the parallel axes (the grid's guard). */
  L: PExpr;
  rows: PExpr;
  /** Declares the row's index variables and per-row values from `row`. */
  rowDecls: PStmt[];
  /**
   * The per-step log-decays and factors into the workgroup arrays cs0 and sc
   * (threads 0…63, one step each, for the chunk at `c0`): `carries` before
   * the walk, `prologue` (the first chunk's loads), `compute` (cs0/sc from
   * the carried loads), `issue` (the loads of the chunk after `c0`'s).
   */
  steps: { carries: PStmt[]; prologue: PStmt[]; compute: PStmt[]; issue: PStmt[] };
  /** 16-bit tensors copied 8 elements at a time: the element index of (step sf_t, element sf_k), contiguous in sf_k; declarations first. */
  x: SsdWgmmaCopy;
  z?: SsdWgmmaCopy;
  c: SsdWgmmaCopy;
  w: SsdWgmmaCopy;
  /** The output at (sf_t, sf_p) from sf_r, sf_xv (and sf_zv): declarations and value; its element index (contiguous in sf_p) with its own declarations. */
  out: { buf: string; decls: PStmt[]; value: PExpr; atDecls: PStmt[]; at: PExpr };
  /** Initial / final state element (sf_p, sf_n) of the row. */
  init?: { buf: string; at: PExpr };
  final?: { buf: string; at: PExpr };
}

export interface SsdWgmmaCopy {
  buf: string;
  decls: PStmt[];
  at: PExpr;
}

/**
 * Matrix multiply-accumulate on workgroup arrays (plan/fragment.ts): for every
 * element of `frag` this thread holds, at (row, col),
 *   frag[row][col] += Σ_{k < kLen} A(row, k) · B(k, col)
 * with A and B read from workgroup arrays. fp32 accumulation; `precision`
 * is the narrowest type the operands may be rounded to where a target has
 * matrix units for it (CUDA tensor cores). Targets without a matrix-unit
 * form print plan/fragment.ts's scalar loops, exact in fp32.
 */
export interface MmaStmt {
  k: 'mma';
  /** Unique per statement (names the temporaries of its expansion). */
  id: string;
  frag: Fragment;
  a: MatOperand;
  b: MatOperand;
  kLen: number;
  /**
   * 'tf32x3': fp32 operands, each split into two tf32 halves for three
   * tensor-core products (CUDA; close to fp32: render/cuda-mma.ts split32);
   * the scalar form computes it in fp32.
   */
  precision: 'f32' | 'bf16' | 'f16' | 'tf32x3';
  /**
   * Facts a matrix-unit form may use to skip work (the scalar form ignores
   * them and stays exact): `outputLower`, only elements with col ≤ row are
   * wanted (the others may hold anything); `aLower`, A(row, k) = 0 for k > row.
   */
  outputLower?: boolean;
  aLower?: boolean;
}

/** Element (i, j) of a matrix in a workgroup array: arr[base + i·rowStride + j·colStride]. */
export interface MatOperand {
  arr: string;
  base: PExpr;
  rowStride: number;
  colStride: number;
  /** Elements 2m and 2m+1 along k are adjacent and 8-byte aligned (one 64-bit load). */
  kPairs?: boolean;
  /**
   * One stride is 1, and base and the other stride are multiples of 8
   * elements: in an array stored narrow every run of 8 elements along the
   * unit stride starts 16-byte aligned, so CUDA loads fragments with ldmatrix.
   */
  rows16?: boolean;
}

/**
 * An fp32 accumulator tile of rows × cols spread over a workgroup of
 * `threads`: each thread holds its elements in registers named
 * `${name}_${e}` (plan/fragment.ts says which element is where).
 *   grid:    threads form threadRows × threadCols; thread (ty, tx) holds rows
 *            ty + threadRows·r and cols tx + threadCols·c.
 *   mma16x8: 16×8 tiles in the accumulator layout of the m16n8k16 matrix
 *            instruction; warps form warpRows × warpCols and warp (wm, wn)
 *            holds tile rows wm + warpRows·i and tile cols wn + warpCols·j.
 */
export interface Fragment {
  name: string;
  rows: number;
  cols: number;
  threads: number;
  /** grid: `active` (default: all) threads hold elements; the others hold copies of the first threads' (ownership in plan/fragment.ts). */
  layout: { k: 'grid'; threadRows: number; threadCols: number; active?: number } | { k: 'mma16x8'; warpRows: number; warpCols: number };
}

/** Bytes the L2 cache may fetch around a streamed access (PTX .L2::64B/128B/256B). */
export type L2Fetch = 64 | 128 | 256;

export interface SharedArray {
  name: string;
  ty: Ty;
  size: number;
  /**
   * f32 arrays whose values may be stored rounded to this type (matrix-unit
   * operands the products round anyway): targets that have it store half the
   * bytes (CUDA); others keep f32, exact.
   */
  narrow?: 'bf16' | 'f16';
}

/** How many workgroups to launch, from the dims. */
export interface GridSpec {
  /** Workgroups = ceil(product of these dims / rowsPerGroup) × the tiles' counts. */
  groupsFromDims: string[];
  rowsPerGroup: number;
  /** Each multiplies the workgroup count by ceil(dims[dim] / size) (e.g. one workgroup per chunk of the scan axis). */
  tiles?: DimTile[];
}

/** ceil(dims[dim] / size): how many tiles of `size` cover a dim. */
export interface DimTile {
  dim: string;
  size: number;
}

/**
 * A device buffer a multi-launch plan needs between its launches, which the
 * runner allocates (and nobody uploads or reads back): `times` × product of
 * `dims` × the tiles' counts elements of `elem`. Its name is a binding name
 * of the plans that use it (prefixed `sf_`, no tensor can take it).
 */
export interface ScratchSpec {
  name: string;
  elem: 'f32';
  dims: string[];
  /** Sized by `otherwise` instead where dim `dim` is not a multiple of dim `of` at run time (the SSD walk's G: per group of heads, or per head). */
  multiple?: { dim: string; of: string; otherwise: string[] };
  tiles?: DimTile[];
  times: number;
}

/** A program run as several kernels launched in order (each sees the previous ones' writes), sharing scratch buffers. */
export interface LaunchSequence {
  launches: KernelPlan[];
  scratch: ScratchSpec[];
}

export interface KernelPlan {
  name: string;
  workgroupSize: number;
  buffers: KernelBinding[];
  params: KernelParam[];
  shared: SharedArray[];
  body: PStmt[];
  /** True if the plan uses shuffles or lane builtins (needs subgroups). */
  usesSubgroups: boolean;
  grid: GridSpec;
  /** Helper functions the body calls (renderers emit them once). */
  helpers: Set<PFn>;
  /** Registers per thread the plan expects to need (targets that allocate registers size occupancy by it). */
  registerBudget: number;
  /** Element type of each buffer, for load/store conversion. */
  elem: Record<string, ElemType>;
}

// ---- builders: short names keep lowerings readable ----
export const f = (v: number): PExpr => ({ k: 'lit', ty: 'f32', v });
export const i = (v: number): PExpr => ({ k: 'lit', ty: 'i32', v });
export const v = (name: string): PExpr => ({ k: 'var', name });
export const bin = (op: BinOp, a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op, a, b });
export const add = (a: PExpr, b: PExpr): PExpr => bin('+', a, b);
export const sub = (a: PExpr, b: PExpr): PExpr => bin('-', a, b);
export const mul = (a: PExpr, b: PExpr): PExpr => bin('*', a, b);
export const lt = (a: PExpr, b: PExpr): PExpr => bin('<', a, b);
export const call = (fn: PFn, ...args: PExpr[]): PExpr => ({ k: 'call', fn, args });
export const decl = (name: string, ty: Ty, init: PExpr, mut = false): PStmt => ({ k: 'decl', name, ty, init, mut });
export const assign = (name: string, value: PExpr): PStmt => ({ k: 'assign', name, value });
export const loop = (name: string, from: PExpr, to: PExpr, step: PExpr, body: PStmt[], unroll = 1): PStmt => ({ k: 'for', v: name, from, to, step, body, ...(unroll > 1 ? { unroll } : {}) });
export const when = (c: PExpr, then: PStmt[], otherwise: PStmt[] = []): PStmt => ({ k: 'if', c, then, else: otherwise });
export const barrier: PStmt = { k: 'barrier' };
export const TID: PExpr = { k: 'builtin', b: 'tid' };
export const GROUP: PExpr = { k: 'builtin', b: 'group' };
