// What a caller passes, checked before anything touches a device: every
// tensor known, required ones present, host data a Float32Array whose length
// matches its shape, asked final states and flags known. Shared by
// ProgramRunner (compiles on demand) and PrebuiltProgram (runs the kernels
// `scanforge build` wrote), so both reject bad input with the same words.
// Shapes against dims and the program's requirements: shapes.ts resolveDims.

import type { TensorIR, Variant } from '../dsl/ir.js';
import type { HostTensor } from './program-runner.js';
import { stateTensorShape, type ProgramSignature } from './signature.js';

/** Checks the inputs object (which may come from untyped JavaScript) and returns it typed. */
export function validateInputs(sig: ProgramSignature, inputs: object, finalStates: readonly string[] = []): Record<string, HostTensor> {
  const name = sig.name;
  const known = new Map<string, Pick<TensorIR, 'name' | 'shape'>>([
    ...sig.inputs.map((t) => [t.name, t] as const),
    ...sig.state.map((s) => [s.init, { name: s.init, shape: stateTensorShape(sig, s) }] as const),
  ]);
  const entries = Object.entries(inputs) as [string, unknown][];
  for (const [n, t] of entries) {
    if (t === undefined) throw new Error(`${name}: input '${n}' is undefined; leave an absent optional input out of the object`);
    if (!known.has(n)) throw new Error(`${name}: unknown input '${n}' (inputs: ${[...known.keys()].join(', ')})`);
  }
  const given = new Map(entries);
  for (const t of sig.inputs) if (!t.optional && !given.get(t.name)) throw new Error(`${name}: missing required input '${t.name}' (${t.shape.join(', ')})`);
  const out: Record<string, HostTensor> = {};
  for (const [n, t] of entries) {
    const expected = known.get(n)!.shape.join(', ');
    if (typeof t !== 'object' || t === null) throw new Error(`${name}: input '${n}' must be { data: Float32Array, shape: [${expected}] }, got ${typeof t}`);
    const { data, shape } = t as { data?: unknown; shape?: unknown };
    if (!(data instanceof Float32Array)) {
      throw new Error(`${name}: input '${n}' must be a Float32Array (host data; converted to the kernel's dtype on upload), got ${describe(data)}`);
    }
    if (!Array.isArray(shape) || !shape.every((v) => typeof v === 'number')) throw new Error(`${name}: input '${n}' needs a shape: an array of numbers (${expected}), got ${describe(shape)}`);
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (data.length !== count) throw new Error(`${name}: input '${n}' has ${data.length} elements but shape [${shape.join(', ')}] needs ${count}`);
    out[n] = { data, shape: shape as number[] };
  }
  for (const s of finalStates) if (!sig.state.some((x) => x.name === s)) throw new Error(`${name}: unknown state '${s}' in finalStates (states: ${sig.state.map((x) => x.name).join(', ')})`);
  return out;
}

/** The variant a call selects: optional inputs and initial states by presence, flags over their defaults. */
export function variantOf(
  sig: ProgramSignature,
  inputs: Record<string, HostTensor>,
  opts: { finalStates?: readonly string[]; flags?: Readonly<Record<string, boolean | undefined>> },
): Variant {
  const flags: Record<string, boolean> = { ...sig.flags };
  for (const [f, v] of Object.entries(opts.flags ?? {})) {
    if (!(f in sig.flags)) throw new Error(`${sig.name}: unknown flag '${f}' (flags: ${Object.keys(sig.flags).join(', ') || 'none'})`);
    if (v !== undefined) flags[f] = v;
  }
  return {
    present: sig.inputs.filter((t) => t.optional && inputs[t.name]).map((t) => t.name),
    flags,
    initStates: sig.state.filter((s) => inputs[s.init]).map((s) => s.name),
    finalStates: [...(opts.finalStates ?? [])],
  };
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}
