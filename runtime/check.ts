// Checking kernels against the float64 reference: fresh seeded inputs of
// realistic magnitude, outputs poisoned with NaN, relative L2 error of every
// output and state against the spec's tolerance.

import type { DType } from '../dsl/decl.js';
import type { Program } from '../dsl/ir.js';
import { runReference } from './reference/interpret.js';
import { ProgramRunner, specializeFor, type HostTensor, type PreparedLaunch, type RunOptions } from './program-runner.js';
import { roundTo } from './dtype.js';
import { rng, sample } from './random.js';
import { shapeOf, sizeOf, type Dims } from './shapes.js';
import type { Schedule } from '../codegen/compile.js';

export interface CheckCase {
  dims: Dims;
  /** Optional inputs to pass. */
  present: string[];
  /** States given an initial value / asked for a final value. */
  initStates: string[];
  finalStates: string[];
  flags?: Record<string, boolean>;
  dtype?: DType;
  seed: number;
  schedule?: Schedule;
}

export interface TensorError {
  name: string;
  relL2: number;
  nan: number;
  tolerance: number;
  ok: boolean;
}

export interface CheckResult {
  errors: TensorError[];
  ok: boolean;
  kernel: string;
}

/** Spec §6: fp32 ≤ 1e-5 up to L = 4096, ≤ 1e-4 beyond; fp16/bf16 ≤ 1e-2. */
export function tolerance(dtype: DType, seqlen: number): number {
  if (dtype !== 'f32') return 1e-2;
  return seqlen <= 4096 ? 1e-5 : 1e-4;
}

export function relL2(out: Float32Array, ref: Float64Array): { relL2: number; nan: number } {
  let num = 0, den = 0, nan = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    if (!Number.isFinite(o)) { nan++; continue; }
    const d = o - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return { relL2: nan ? Infinity : Math.sqrt(num / Math.max(den, 1e-300)), nan };
}

/** Random inputs for a case: every used tensor drawn from its declared distribution. */
export function randomInputs(p: Program, c: CheckCase): Record<string, HostTensor> {
  const next = rng(c.seed);
  const sp = specializeFor(p, { present: c.present, flags: { ...p.flags, ...(c.flags ?? {}) }, initStates: c.initStates, finalStates: c.finalStates }, c.dims, c.dtype);
  const out: Record<string, HostTensor> = {};
  for (const t of sp.used) out[t.name] = { data: sample(t.dist, sizeOf(t, c.dims), next), shape: shapeOf(t, c.dims) };
  return out;
}

/** Runs one case on the runner's backend and on the reference; compares every written tensor. */
export async function checkCase(runner: ProgramRunner, c: CheckCase, given?: Record<string, HostTensor>): Promise<CheckResult> {
  const p = runner.program;
  const inputs = given ?? randomInputs(p, c);
  const opts: RunOptions = { finalStates: c.finalStates, flags: c.flags, dims: c.dims, dtype: c.dtype, schedule: c.schedule, poison: true };
  const prep = await runner.prepare(inputs, opts);
  const got = await runner.run(inputs, opts);
  const errors = compareToReference(prep, got, referenceOutputs(prep, inputs), c.dtype);
  return { errors, ok: errors.every((e) => e.ok), kernel: prep.info.kernel.entry };
}

/** The float64 reference of a prepared launch. It sees exactly the values the device sees (rounded to the input dtype). */
export function referenceOutputs(prep: PreparedLaunch, inputs: Record<string, HostTensor>): Record<string, Float64Array> {
  return runReference(prep.program, prep.dims, Object.fromEntries(prep.program.used.map((t) => [t.name, roundTo(t.dtype, inputs[t.name]!.data)])));
}

/** Every written tensor against the reference, with the spec's tolerance for its dtype and length. */
export function compareToReference(prep: PreparedLaunch, got: Record<string, HostTensor>, ref64: Record<string, Float64Array>, dtype?: DType): TensorError[] {
  const sp = prep.program;
  const L = prep.dims[sp.indices[sp.scan]!.dim]!;
  return sp.written.map((t) => {
    const { relL2: e, nan } = relL2(got[t.name]!.data, ref64[t.name]!);
    const tol = tolerance(dtype ?? t.dtype, L);
    return { name: t.name, relL2: e, nan, tolerance: tol, ok: nan === 0 && e <= tol };
  });
}
