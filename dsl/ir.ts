// The intermediate representation every later stage consumes. It is
// target-neutral and family-neutral: a program is dims, tensors, state and a
// straight-line step (after specialisation) over named index variables.

import type { DType, Dist } from './decl.js';
import type { MathFn } from './functions.js';

/** Where a node came from in the user's file, for error messages. */
export interface SourceLoc {
  file: string;
  line: number;
  column: number;
}

// ---- index expressions (integers) ----
export type IExpr =
  | { k: 'ivar'; name: string }
  | { k: 'iconst'; v: number }
  | { k: 'idim'; name: string }
  | { k: 'ibin'; op: '+' | '-' | '*' | 'div' | 'mod'; a: IExpr; b: IExpr };

/**
 * A condition on index expressions (integers only, so it is known before any
 * data is read): what where() selects on, e.g. `n < 2 * angles` or
 * `mod(n, 2) == 0`.
 */
export type ICond =
  | { k: 'icmp'; op: '<' | '<=' | '>' | '>=' | '==' | '!='; a: IExpr; b: IExpr }
  | { k: 'inot'; c: ICond }
  | { k: 'iand' | 'ior'; a: ICond; b: ICond };

// ---- value expressions (float64 in the reference, fp32 in kernels) ----
export type Expr =
  | { k: 'num'; v: number }
  /** Read of an input tensor. */
  | { k: 'load'; tensor: string; idx: IExpr[] }
  /**
   * Read of a state element. After specialisation `ver` says which value:
   * 0 is the value the step started with, v the value after the v-th
   * assignment to that state in this step.
   */
  | { k: 'state'; name: string; idx: IExpr[]; ver?: number }
  /** Reference to a `const`/`let` binding (bindings are expression macros; see Stmt 'let'). */
  | { k: 'local'; name: string }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; a: Expr; b: Expr }
  | { k: 'neg'; a: Expr }
  | { k: 'call'; fn: MathFn; args: Expr[] }
  /** Σ over every value of index variable `index` (ranging over `dim`). */
  | { k: 'sum'; index: string; dim: string; body: Expr }
  /** An index expression used as a number (e.g. a position). */
  | { k: 'ival'; e: IExpr }
  /**
   * where(cond, a, b): `a` at the index values where `cond` holds, else `b`.
   * Only the chosen branch is evaluated, so a branch may index out of range
   * where it is not chosen (angle[div(n, 2)] past the rotated prefix).
   */
  | { k: 'where'; cond: ICond; a: Expr; b: Expr };

/** Compile-time conditions: presence of an optional input, or a flag. */
export type Cond =
  | { k: 'present'; tensor: string }
  | { k: 'flag'; name: string }
  | { k: 'not'; c: Cond }
  | { k: 'and' | 'or'; a: Cond; b: Cond };

export type Stmt =
  /**
   * A named value. Its free index variables are bound where it is used, so
   * `const dA = exp(dt * A[d][n])` is fine as long as every use binds n.
   * A later `let` of the same name (reassignment) shadows it.
   */
  | { k: 'let'; name: string; expr: Expr; loc: SourceLoc }
  /** Named index value, e.g. `const g = div(d, div(dim, ngroups))`. */
  | { k: 'ilet'; name: string; expr: IExpr; loc: SourceLoc }
  /** `s[i][j] = expr` for every value of the index variables i, j (simultaneous update). */
  | { k: 'setState'; name: string; idx: string[]; expr: Expr; loc: SourceLoc }
  /** `y[...] = expr`; index variables in idx that are not parallel/scan are bound by this statement. */
  | { k: 'store'; tensor: string; idx: IExpr[]; expr: Expr; loc: SourceLoc }
  | { k: 'if'; cond: Cond; then: Stmt[]; else: Stmt[]; loc: SourceLoc };

export interface TensorIR {
  name: string;
  dtype: DType;
  shape: string[];
  optional: boolean;
  role: 'input' | 'output' | 'state-init' | 'state-final';
  /** Distribution of random test values. */
  dist: Dist;
  /** For state-init/state-final: which state. */
  state?: string;
}

export interface StateIR {
  name: string;
  dtype: DType;
  /** Dims of the state per parallel element. */
  shape: string[];
  /** Names of the generated tensors. */
  init: string;
  final: string;
}

export interface IndexIR {
  name: string;
  dim: string;
  role: 'parallel' | 'scan' | 'state' | 'reduce';
}

export interface Program {
  name: string;
  file: string;
  dims: string[];
  /** Compile-time dims and their default values. */
  staticDims: Record<string, number>;
  inputs: TensorIR[];
  outputs: TensorIR[];
  state: StateIR[];
  flags: Record<string, boolean>;
  parallel: string[];
  scan: string;
  /** Every index variable with the dim it ranges over. */
  indices: Record<string, IndexIR>;
  step: Stmt[];
  schedule: { threads: number[]; items: number[]; rows: number[]; rowBlock: number[]; lanes: number[]; shuffle: number[]; tileChunks: number[]; prefetch: number[]; scatter: number[]; stage: number[]; segment: number[]; chunk: number[] };
  requires: ReadonlyArray<readonly [(dims: Record<string, number>) => boolean, string]>;
  checkDims: Record<string, number>;
  loc: SourceLoc;
}

/** A choice of what is present: which optional inputs, which flags, state in/out. */
export interface Variant {
  present: string[];
  flags: Record<string, boolean>;
  /** States whose `_init` tensor is given. */
  initStates: string[];
  /** States whose `_final` tensor is asked for. */
  finalStates: string[];
}

/** A program specialised to one variant: no `if`, no reassignment shadowing ambiguity. */
export interface SpecializedProgram extends Program {
  variant: Variant;
  /** Inputs actually read (required + present optional + given inits). */
  used: TensorIR[];
  /** Outputs actually written (outputs + asked finals). */
  written: TensorIR[];
}

export function variantKey(v: Variant): string {
  const flags = Object.keys(v.flags).sort().map((f) => `${f}=${v.flags[f] ? 1 : 0}`);
  return [
    `p:${[...v.present].sort().join(',')}`,
    `f:${flags.join(',')}`,
    `i:${[...v.initStates].sort().join(',')}`,
    `o:${[...v.finalStates].sort().join(',')}`,
  ].join(';');
}

const STATE_DIST: Dist = { kind: 'normal', mean: 0, std: 1 };

/** All tensors of a program: inputs, outputs, state inits and finals. */
export function allTensors(p: Program): TensorIR[] {
  const inits: TensorIR[] = p.state.map((s) => ({
    name: s.init, dtype: 'f32', shape: [...stateParallelShape(p), ...s.shape], optional: true, role: 'state-init', state: s.name, dist: STATE_DIST,
  }));
  const finals: TensorIR[] = p.state.map((s) => ({
    name: s.final, dtype: 'f32', shape: [...stateParallelShape(p), ...s.shape], optional: true, role: 'state-final', state: s.name, dist: STATE_DIST,
  }));
  return [...p.inputs, ...p.outputs, ...inits, ...finals];
}

/** Dims of the parallel axes, in declaration order (the leading dims of every state tensor). */
export function stateParallelShape(p: Program): string[] {
  return p.parallel.map((i) => p.indices[i]!.dim);
}
