// Binding concrete sizes to a program's dims from the tensors a caller passes,
// with errors that name the tensor, the expected and the actual shape.

import type { SpecializedProgram, TensorIR } from '../dsl/ir.js';
import type { ProgramSignature } from './signature.js';

export type Dims = Record<string, number>;

export function shapeOf(t: TensorIR, dims: Dims): number[] {
  return t.shape.map((d) => dims[d]!);
}

export function sizeOf(t: TensorIR, dims: Dims): number {
  return shapeOf(t, dims).reduce((a, b) => a * b, 1);
}

/**
 * Infers dims from the shapes of the given tensors (plus explicit `given`
 * dims), and checks every shape and requirement. Throws naming the tensor.
 */
export function resolveDims(p: ProgramSignature, shapes: Record<string, readonly number[]>, given: Dims = {}): Dims {
  const dims: Dims = { ...given };
  const from: Record<string, string> = {};
  for (const k of Object.keys(given)) from[k] = 'the given dims';
  const tensors = [...p.inputs, ...p.outputs, ...p.state.map((s) => ({ name: s.init, shape: [...p.parallel.map((i) => p.indices[i]!.dim), ...s.shape] }))];
  for (const t of tensors) {
    const shape = shapes[t.name];
    if (!shape) continue;
    if (shape.length !== t.shape.length) {
      throw new Error(`${p.name}: tensor '${t.name}' must have ${t.shape.length} dims (${t.shape.join(', ')}), got shape [${shape.join(', ')}]`);
    }
    t.shape.forEach((d, i) => {
      const v = shape[i]!;
      if (!Number.isInteger(v) || v < 1) throw new Error(`${p.name}: tensor '${t.name}' has invalid size ${v} for dim ${d}`);
      if (dims[d] !== undefined && dims[d] !== v) {
        throw new Error(`${p.name}: tensor '${t.name}' has ${d} = ${v} (shape [${shape.join(', ')}], expected (${t.shape.join(', ')})), but ${from[d]} gave ${d} = ${dims[d]}`);
      }
      if (dims[d] === undefined) { dims[d] = v; from[d] = `tensor '${t.name}'`; }
    });
  }
  for (const d of p.dims) if (dims[d] === undefined) throw new Error(`${p.name}: dim '${d}' is not known: pass a tensor that has it, or give it explicitly`);
  for (const [ok, msg] of p.requires) if (!ok(dims)) throw new Error(`${p.name}: ${msg} (dims: ${fmtDims(dims)})`);
  return dims;
}

export function fmtDims(d: Dims): string {
  return Object.entries(d).map(([k, v]) => `${k}=${v}`).join(' ');
}

/** Shapes of every tensor a specialised program reads or writes. */
export function tensorShapes(p: SpecializedProgram, dims: Dims): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const t of [...p.used, ...p.written]) out[t.name] = shapeOf(t, dims);
  return out;
}
