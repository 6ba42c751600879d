// A sequence in pieces: slicing inputs along the scan dim and putting
// outputs back together, for the tests (and bench/mamba3-check.ts) that
// check a prefill in pieces, or token by token, against one whole run. No
// vitest here, so that the benchmarks can import it.

import type { Program } from '../../dsl/ir.ts';
import type { HostTensor } from '../../runtime/program-runner.ts';

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Positions [from, to) of a tensor along `axis`. */
export function sliceAxis(t: HostTensor, axis: number, from: number, to: number): HostTensor {
  const outer = product(t.shape.slice(0, axis));
  const inner = product(t.shape.slice(axis + 1));
  const len = t.shape[axis]!, n = to - from;
  const data = new Float32Array(outer * n * inner);
  for (let o = 0; o < outer; o++) data.set(t.data.subarray((o * len + from) * inner, (o * len + to) * inner), o * n * inner);
  const shape = [...t.shape];
  shape[axis] = n;
  return { data, shape };
}

/** Positions [from, to) along the scan dim of every input that has it; the others as they are. */
export function sliceSeq(p: Program, inputs: Record<string, HostTensor>, from: number, to: number): Record<string, HostTensor> {
  const seqDim = p.indices[p.scan]!.dim;
  return Object.fromEntries(Object.entries(inputs).map(([name, t]) => {
    const axis = p.inputs.find((x) => x.name === name)?.shape.indexOf(seqDim) ?? -1;
    return [name, axis < 0 ? t : sliceAxis(t, axis, from, to)];
  }));
}

/** Concatenates pieces of an output along `axis`. */
export function concatAxis(parts: readonly HostTensor[], axis: number): HostTensor {
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((a, p) => a + p.shape[axis]!, 0);
  const outer = product(shape.slice(0, axis));
  const inner = product(shape.slice(axis + 1));
  const data = new Float32Array(product(shape));
  let at = 0;
  for (const p of parts) {
    const n = p.shape[axis]!;
    for (let o = 0; o < outer; o++) data.set(p.data.subarray(o * n * inner, (o + 1) * n * inner), (o * shape[axis]! + at) * inner);
    at += n;
  }
  return { data, shape };
}
