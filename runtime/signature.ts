// A program's calling convention without its step: the dims, tensors, state,
// flags and requirements a caller must satisfy. It is what validation and
// dim resolution need, and what a generated wrapper embeds so that calling a
// prebuilt kernel needs neither the program file nor the compiler.

import type { Program, StateIR, TensorIR } from '../dsl/ir.js';

export type ProgramSignature = Pick<
  Program,
  'name' | 'dims' | 'staticDims' | 'inputs' | 'outputs' | 'state' | 'flags' | 'parallel' | 'scan' | 'indices' | 'requires'
>;

/** The signature of a loaded program: only the parallel and scan indices are kept (the others are the step's business). */
export function signatureOf(p: Program): ProgramSignature {
  const keep = new Set([...p.parallel, p.scan]);
  return {
    name: p.name,
    dims: [...p.dims],
    staticDims: { ...p.staticDims },
    inputs: p.inputs.map((t) => ({ ...t, shape: [...t.shape] })),
    outputs: p.outputs.map((t) => ({ ...t, shape: [...t.shape] })),
    state: p.state.map((s) => ({ ...s, shape: [...s.shape] })),
    flags: { ...p.flags },
    parallel: [...p.parallel],
    scan: p.scan,
    indices: Object.fromEntries(Object.entries(p.indices).filter(([v]) => keep.has(v))),
    requires: p.requires,
  };
}

/** Shape of a state's `_init` / `_final` tensor: the parallel dims, then the state's own dims. */
export function stateTensorShape(sig: ProgramSignature, s: StateIR): string[] {
  return [...sig.parallel.map((i) => sig.indices[i]!.dim), ...s.shape];
}

/** The `_init` or `_final` tensor of a state (state is always fp32). */
export function stateTensor(sig: ProgramSignature, s: StateIR, role: 'state-init' | 'state-final'): TensorIR {
  const name = role === 'state-init' ? s.init : s.final;
  return { name, dtype: 'f32', shape: stateTensorShape(sig, s), optional: true, role, state: s.name, dist: { kind: 'normal', mean: 0, std: 1 } };
}

/** Every tensor a call can pass or get back, by name: inputs, outputs, state inits and finals. */
export function tensorsByName(sig: ProgramSignature): Map<string, TensorIR> {
  const all = [...sig.inputs, ...sig.outputs, ...sig.state.flatMap((s) => [stateTensor(sig, s, 'state-init'), stateTensor(sig, s, 'state-final')])];
  return new Map(all.map((t) => [t.name, t]));
}
