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
  /** Value of `a` in the lane `delta` below (subgroup/warp shuffle); undefined for lanes < delta. */
  | { k: 'shuffleUp'; a: PExpr; delta: PExpr };

export type PStmt =
  | { k: 'decl'; name: string; ty: Ty; init: PExpr; mut: boolean }
  | { k: 'assign'; name: string; value: PExpr }
  | { k: 'sstore'; arr: string; index: PExpr; value: PExpr }
  /** Store to a global buffer, converting from f32 to the buffer's element type. */
  | { k: 'store'; buf: string; index: PExpr; value: PExpr }
  /** for (var = from; var < to; var += step) — var is i32. */
  | { k: 'for'; v: string; from: PExpr; to: PExpr; step: PExpr; body: PStmt[] }
  | { k: 'if'; c: PExpr; then: PStmt[]; else: PStmt[] }
  | { k: 'barrier' }
  | { k: 'comment'; text: string };

export interface SharedArray {
  name: string;
  ty: Ty;
  size: number;
}

/** How many workgroups to launch, from the dims. */
export interface GridSpec {
  /** Workgroups = ceil(product of these dims / rowsPerGroup). */
  groupsFromDims: string[];
  rowsPerGroup: number;
}

export interface KernelPlan {
  name: string;
  workgroupSize: number;
  buffers: KernelBinding[];
  params: KernelParam[];
  shared: SharedArray[];
  body: PStmt[];
  /** True if the plan uses shuffleUp/lane builtins (needs subgroups). */
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
export const loop = (name: string, from: PExpr, to: PExpr, step: PExpr, body: PStmt[]): PStmt => ({ k: 'for', v: name, from, to, step, body });
export const when = (c: PExpr, then: PStmt[], otherwise: PStmt[] = []): PStmt => ({ k: 'if', c, then, else: otherwise });
export const barrier: PStmt = { k: 'barrier' };
export const TID: PExpr = { k: 'builtin', b: 'tid' };
export const GROUP: PExpr = { k: 'builtin', b: 'group' };
