// Where a run's tensors exceed one binding (WebGPU: 2 GiB − 4 bytes), the
// kernels can bind each such tensor as windows along a parallel dim
// (codegen/lower/binding-windows.ts), each window a buffer of its own holding
// that range of the tensor, so every launch still holds all rows;
// runtime/pieces.ts's one piece after another is the default and the fallback
// where windows cannot serve. This file places the windows: how many, where
// each starts. Knows nothing about any SSM family.

import type { SpecializedProgram, TensorIR } from '../dsl/ir.js';
import type { CompiledKernelInfo } from '../codegen/compile.js';
import type { WindowSpec } from '../codegen/lower/binding-windows.js';
import { elemBytes } from './dtype.js';
import { planPieces } from './pieces.js';
import { sizeOf, type Dims } from './shapes.js';

export interface WindowLayout {
  spec: WindowSpec;
  /** The first index of the cut dim in each window, then the dim's extent (count + 1 numbers). */
  starts: number[];
  /** Bytes of each windowed tensor per index of the cut dim. */
  unitBytes: Record<string, number>;
  /** Elements of each windowed tensor per index of the cut dim. */
  unitElems: Record<string, number>;
}

const deviceBytes = (t: TensorIR, dims: Dims): number => sizeOf(t, dims) * elemBytes(t.dtype);

/**
 * The tensors a run must bind as windows and the dim that cuts them (the one
 * pieces would be cut along), or undefined where every tensor fits one
 * binding, or where no dim leaves their slices contiguous (planPieces says why
 * when the run is cut).
 */
export function windowedTensors(sp: SpecializedProgram, dims: Dims, maxBinding: number): Omit<WindowSpec, 'count'> | undefined {
  const tensors = [...sp.used, ...sp.written];
  const big = tensors.filter((t) => deviceBytes(t, dims) > maxBinding);
  if (!big.length) return undefined;
  let dim: string;
  try {
    const plan = planPieces(sp, dims, maxBinding);
    if (!plan) return undefined;
    dim = plan.dim;
  } catch {
    return undefined;
  }
  return { dim, tensors: big.map((t) => t.name) };
}

/**
 * The fewest windows (and where they start) such that each spans at most
 * `maxBinding` bytes of every windowed tensor, starts at a multiple of `align`
 * bytes into it (16: the kernels' vector accesses stay aligned in the window's
 * buffer), and splits no workgroup's rows: a window boundary b (an index
 * of the cut dim) must make b × (rows per index) a multiple of each launch's
 * rows per workgroup. `grids`: the run's launches (windowed or not, their
 * grids are the same). Undefined where none do within a few more windows than
 * the bytes alone need.
 */
export function placeWindows(
  cut: Omit<WindowSpec, 'count'>, grids: Pick<CompiledKernelInfo, 'launches'>, sp: SpecializedProgram, dims: Dims, maxBinding: number, align: number,
): WindowLayout | undefined {
  const extent = dims[cut.dim]!;
  const tensors = [...sp.used, ...sp.written].filter((t) => cut.tensors.includes(t.name));
  const unitBytes = Object.fromEntries(tensors.map((t) => [t.name, deviceBytes(t, dims) / extent]));
  const unitElems = Object.fromEntries(tensors.map((t) => [t.name, sizeOf(t, dims) / extent]));
  // Boundaries in whole multiples of `step` indices of the cut dim.
  let step = 1;
  for (const l of grids.launches) {
    if (!l.kernel.bindings.some((b) => cut.tensors.includes(b.name))) continue;
    const at = l.gridFromDims.indexOf(cut.dim);
    if (at < 0) return undefined;
    const inner = l.gridFromDims.slice(at + 1).reduce((a, d) => a * dims[d]!, 1);
    step = lcm(step, l.rowsPerGroup / gcd(l.rowsPerGroup, inner));
  }
  for (const u of Object.values(unitBytes)) step = lcm(step, align / gcd(align, u));
  const most = Math.floor(Math.min(...Object.values(unitBytes).map((u) => Math.floor(maxBinding / u))) / step) * step;
  if (most < step) return undefined;
  const fewest = Math.max(2, Math.ceil(extent / most));
  for (let count = fewest; count <= fewest + 3; count++) {
    const size = Math.ceil(extent / count / step) * step;
    if (size > most || (count - 1) * size >= extent) continue;
    const starts = [...Array.from({ length: count }, (_, k) => k * size), extent];
    return { spec: { ...cut, count }, starts, unitBytes, unitElems };
  }
  return undefined;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
