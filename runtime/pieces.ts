// A run whose tensors are larger than one buffer binding may be (WebGPU's
// maxStorageBufferBindingSize: 2 GiB − 4 on Dawn; the long Mamba-1 shape's
// u, delta, z and y are 4 GiB each in fp32) runs as several runs, each over
// a range of one parallel dim. Parallel rows are independent, so the pieces
// compute exactly what the whole run would. The cut dim must leave every
// tensor's slice contiguous: in each tensor that has it, every dim before it
// is 1 (batch 1 for `dim`; `batch` itself, the outermost, always qualifies).
// Knows nothing about any SSM family.

import type { SpecializedProgram, TensorIR } from '../dsl/ir.js';
import { stateParallelShape } from '../dsl/ir.js';
import { elemBytes } from './dtype.js';
import { shapeOf, sizeOf, type Dims } from './shapes.js';

export interface HostSlice {
  data: Float32Array;
  shape: readonly number[];
}

/** The run cut along `dim` into ranges [start, start + count). */
export interface PiecePlan {
  dim: string;
  parts: { start: number; count: number }[];
}

/** Bytes of a tensor on the device (the specialised program's element types). */
const deviceBytes = (t: TensorIR, dims: Dims): number => sizeOf(t, dims) * elemBytes(t.dtype);

/**
 * The pieces a run needs so that no tensor's slice exceeds `maxBytes`, or
 * undefined when every tensor fits already. Throws, naming the tensor, when
 * no parallel dim can cut the run so.
 */
export function planPieces(sp: SpecializedProgram, dims: Dims, maxBytes: number): PiecePlan | undefined {
  const tensors = [...sp.used, ...sp.written];
  const big = tensors.filter((t) => deviceBytes(t, dims) > maxBytes);
  if (!big.length) return undefined;
  const why: string[] = [];
  // Outermost dims first: the fewest pieces that keep every slice contiguous.
  for (const dim of stateParallelShape(sp)) {
    const blocked = tensors.find((t) => t.shape.includes(dim) && t.shape.slice(0, t.shape.indexOf(dim)).some((d) => dims[d] !== 1));
    if (blocked) {
      why.push(`${dim}: '${blocked.name}' [${blocked.shape.join(', ')}] has ${blocked.shape.slice(0, blocked.shape.indexOf(dim)).map((d) => `${d} = ${dims[d]}`).join(', ')} before it`);
      continue;
    }
    const whole = tensors.find((t) => !t.shape.includes(dim) && deviceBytes(t, dims) > maxBytes);
    if (whole) {
      why.push(`${dim}: '${whole.name}' does not have it and is ${deviceBytes(whole, dims)} bytes itself`);
      continue;
    }
    // Each unit of the dim costs a tensor its bytes ÷ extent; the pieces are as even as can be.
    const extent = dims[dim]!;
    const perUnit = Math.max(...tensors.filter((t) => t.shape.includes(dim)).map((t) => deviceBytes(t, dims) / extent));
    const most = Math.floor(maxBytes / perUnit);
    if (most < 1) {
      why.push(`${dim}: one ${dim} of a tensor is ${perUnit} bytes`);
      continue;
    }
    const n = Math.ceil(extent / most);
    const parts = Array.from({ length: n }, (_, k) => {
      const start = Math.floor((k * extent) / n);
      return { start, count: Math.floor(((k + 1) * extent) / n) - start };
    });
    return { dim, parts };
  }
  const t = big[0]!;
  throw new Error(`${sp.name}: tensor '${t.name}' needs ${deviceBytes(t, dims)} bytes on the device, more than one binding may hold (${maxBytes}), `
    + `and no parallel dim cuts every tensor into contiguous pieces (${why.join('; ')}); use a smaller shape or a backend without the limit (CUDA)`);
}

/** Dims of a piece. */
export function pieceDims(plan: PiecePlan, dims: Dims, part: PiecePlan['parts'][number]): Dims {
  return { ...dims, [plan.dim]: part.count };
}

/** A tensor's slice for a piece (a view where it has the cut dim: contiguous by planPieces' rule; else the tensor). */
export function sliceTensor(t: TensorIR, host: HostSlice, plan: PiecePlan, part: PiecePlan['parts'][number], dims: Dims): HostSlice {
  const axis = t.shape.indexOf(plan.dim);
  if (axis < 0) return host;
  const inner = shapeOf(t, dims).slice(axis + 1).reduce((a, b) => a * b, 1);
  const shape = [...host.shape];
  shape[axis] = part.count;
  return { data: host.data.subarray(part.start * inner, (part.start + part.count) * inner), shape };
}

/** Where a piece's output goes in the whole run's: its slice's offset (elements). */
export function pieceOffset(t: TensorIR, plan: PiecePlan, part: PiecePlan['parts'][number], dims: Dims): number {
  const axis = t.shape.indexOf(plan.dim);
  if (axis < 0) throw new Error(`internal: written tensor '${t.name}' lacks the cut dim ${plan.dim}`);
  return part.start * shapeOf(t, dims).slice(axis + 1).reduce((a, b) => a * b, 1);
}
