// A tensor larger than one binding may span (WebGPU's maxStorageBufferBindingSize,
// 2 GiB − 4 on Dawn: the long Mamba-1 shape's u, delta, z and y are 4 GiB each in
// fp32) bound as `count` windows, each a binding over a range of one parallel dim
// (the cut dim: its slices are contiguous in every such tensor, runtime/pieces.ts
// chooses it; the runner gives each window a buffer of its own). A workgroup's
// rows all lie in one window (the runner places the boundaries so), so the kernel
// picks its window once, from its workgroup index, and every access of a windowed
// tensor goes to that window's binding, at its index less the window's offset.
// Unlike running the pieces one after another, every launch then holds all rows
// (RESULTS run 109: the long shape's WebGPU launches fill the GPU only so). Any
// lowering's plan can be windowed: workgroup g serves the flattened rows
// [(g mod rowGroups) · rowsPerGroup, …) of its grid's dims, tiles (the split's
// segments) counting over the row groups.
//
// The body is not copied per window: each access of a windowed tensor picks its
// window where it is spelled (WGSL: a small switch in an accessor function). A
// first form copied the whole body once per window; NVIDIA's Vulkan compiler
// made the long shape's outputs kernel 250× slower with three copies, and Tint
// failed on one (RESULTS run 116).

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { KernelBinding } from '../../runtime/backend.js';
import { add, bin, decl, GROUP, i, mul, type KernelPlan, type PExpr } from '../plan/ast.js';
import { dimEnv } from './index-math.js';
import { LoweringError } from './diagonal-templates.js';

export interface WindowSpec {
  /** The parallel dim the windows cut. */
  dim: string;
  /** Windows per tensor (≥ 2). */
  count: number;
  /** Tensors bound as windows (the others, whole). */
  tensors: readonly string[];
}

/** Binding of window k of a tensor (window 0 keeps the tensor's name; `sf_`: no tensor can take it). */
export const windowBinding = (tensor: string, k: number): string => (k === 0 ? tensor : `sf_w${k}_${tensor}`);

/** Parameter: the first index of the cut dim in window k (k ≥ 1). */
export const windowStartParam = (k: number): string => `sf_wstart${k}`;

/** Parameter: the elements of a tensor before its window k (k ≥ 1). */
export const windowOffsetParam = (tensor: string, k: number): string => `sf_woff${k}_${tensor}`;

/** The window this workgroup's rows lie in. */
const WINDOW = 'sf_window';

/** The plan with `spec`'s tensors bound as windows; the plan itself where it binds none of them. */
export function windowPlan(plan: KernelPlan, spec: WindowSpec, sp: SpecializedProgram): KernelPlan {
  const windowed = plan.buffers.filter((b) => spec.tensors.includes(b.name)).map((b) => b.name);
  if (!windowed.length) return plan;
  if (!Number.isInteger(spec.count) || spec.count < 2) throw new LoweringError(`internal: ${spec.count} binding windows`);
  const dims = plan.grid.groupsFromDims;
  const at = dims.indexOf(spec.dim);
  if (at < 0) throw new LoweringError(`${plan.name} binds ${windowed.join(', ')} but its workgroups do not run over ${spec.dim}: it cannot bind them as windows of ${spec.dim}`);
  const dim = dimEnv(sp.staticDims);
  const product = (names: readonly string[]): PExpr => names.map(dim).reduce((a, b) => mul(a, b), i(1) as PExpr);
  const R = plan.grid.rowsPerGroup;
  const rowGroups = bin('/', add(product(dims), i(R - 1)), i(R));
  const firstRow = mul(bin('%', GROUP, rowGroups), i(R));
  const cutIndex = bin('%', bin('/', firstRow, product(dims.slice(at + 1))), dim(spec.dim));
  const ks = Array.from({ length: spec.count }, (_, k) => k).slice(1);
  const which: PExpr = ks.reduce((acc: PExpr, k): PExpr => add(acc, { k: 'select', c: bin('>=', cutIndex, { k: 'param', name: windowStartParam(k) }), a: i(1), b: i(0) }), i(0));
  const buffers: KernelBinding[] = plan.buffers.flatMap((b) => (windowed.includes(b.name) ? [b, ...ks.map((k) => ({ ...b, name: windowBinding(b.name, k) }))] : [b]));
  return {
    ...plan,
    buffers,
    elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])),
    params: [...plan.params, ...ks.map((k) => ({ name: windowStartParam(k), type: 'i32' as const })), ...windowed.flatMap((t) => ks.map((k) => ({ name: windowOffsetParam(t, k), type: 'i32' as const })))],
    body: [decl(WINDOW, 'i32', which), ...plan.body],
    windows: { tensors: windowed, count: spec.count, selector: WINDOW },
  };
}
