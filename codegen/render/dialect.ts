// What differs between targets when printing a plan: spelling only.
import type { ElemType } from '../../runtime/backend.js';
import type { KernelPlan, L2Fetch, MmaStmt, PExpr, PFn, SharedArray, ShuffleMode, Ty } from '../plan/ast.js';

export interface Dialect {
  target: 'wgsl' | 'cuda';
  ty(t: Ty): string;
  lit(ty: Ty, v: number | boolean): string;
  /** `let`/`var` (WGSL) or `const T`/`T` (CUDA) declaration. */
  decl(name: string, ty: Ty, init: string, mut: boolean): string;
  builtin(b: 'tid' | 'group' | 'lane' | 'laneCount'): string;
  param(name: string): string;
  fn(f: PFn): string;
  select(c: string, a: string, b: string): string;
  cast(ty: Ty, a: string): string;
  imin(a: string, b: string): string;
  imax(a: string, b: string): string;
  load(buf: string, elem: ElemType, index: string): string;
  store(buf: string, elem: ElemType, index: string, value: string): string;
  /** A plan 'shuffle' (`width`: the lane group of mode 'lane', else 0). */
  shuffle(mode: ShuffleMode, a: string, b: string, width: number): string;
  /** A vector load of names.length elements (a plan 'vload'), or undefined to print element loads. */
  vload?(buf: string, elem: ElemType, index: string, names: string[], pad: string, aligned: boolean, l2Bytes?: L2Fetch): string | undefined;
  /** A vector store of values.length elements (a plan 'vstore'), or undefined to print element stores. */
  vstore?(buf: string, elem: ElemType, index: string, values: string[], pad: string, aligned: boolean, stream?: boolean): string | undefined;
  /** The spelling of element `index` of workgroup array `arr` (a place: read or assigned), or undefined for `arr[index]`. */
  sharedElem?(arr: string, index: string): string | undefined;
  /** One 8/16-byte access of 2 or 4 consecutive f32 workgroup-array elements (plan svload/svstore), or undefined for element accesses. */
  sharedVector?: {
    load(arr: string, index: string, names: string[], pad: string): string | undefined;
    store(arr: string, index: string, values: string[], pad: string): string | undefined;
  };
  /** Bytes an array takes in workgroup memory as the target lays it out (alignment padding included), where it differs from its elements' bytes. */
  sharedArrayBytes?(s: SharedArray): number;
  barrier(): string;
  /**
   * Asynchronous copies (plan acopy, acommit, await): a copy of `bytes`
   * (8 or 16) from buf + src into arr + index, zero-filled where `valid` is
   * false; closing a group; waiting for all but `pending` groups. Without
   * them, a copy is printed as loads and stores, and commit and wait as nothing.
   */
  asyncCopy?: {
    copy(arr: string, index: string, buf: string, src: string, bytes: number, valid: string, pad: string, l2Bytes?: L2Fetch): string;
    commit(): string;
    wait(pending: number): string;
  };
  /** A prefetch of buf[index]'s line into the L2 cache (plan 'prefetch'); without it, nothing is printed. */
  prefetch?(buf: string, index: string): string;
  /** `unroll` > 1: ask the target compiler to unroll by that factor; 1: to keep the loop rolled; 0: its choice. */
  forLoop(v: string, from: string, to: string, step: string, unroll: number): string;
  /** Whole-kernel text around the printed body. */
  kernel(plan: KernelPlan, body: string): string;
  /**
   * A matrix-unit spelling of `mma` (lines indented by `pad`), or undefined
   * to print the scalar loops of plan/fragment.ts. `e` prints an expression.
   */
  mma?(s: MmaStmt, e: (x: PExpr) => string, pad: string, shared: SharedArray[]): string | undefined;
  /**
   * Workgroup arrays marked `narrow` stored in that type (element load as
   * f32, store from f32; their bytes through sharedArrayBytes); without it
   * they print as f32 arrays.
   */
  narrowShared?: {
    load(ty: 'bf16' | 'f16', arr: string, index: string): string;
    store(ty: 'bf16' | 'f16', arr: string, index: string, value: string): string;
    /** f32 variables `names` from 2, 4 or 8 consecutive elements in one 4/8/16-byte load (index a multiple of the count), or undefined for element loads. */
    vload?(ty: 'bf16' | 'f16', arr: string, index: string, names: string[], pad: string): string | undefined;
    /** 2, 4 or 8 consecutive elements from f32 values in one 4/8/16-byte store (index a multiple of the count), or undefined for element stores. */
    vstore?(ty: 'bf16' | 'f16', arr: string, index: string, values: string[], pad: string): string | undefined;
  };
}
