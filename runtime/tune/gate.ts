// The correctness gate: before a candidate is timed, its kernel runs once on
// fresh seeded inputs at a small check shape (not tile multiples, the
// program's checkDims), outputs poisoned with NaN, and every written tensor
// is compared with the float64 reference within the spec's tolerance. A
// schedule that computes the wrong thing fast must never win. The reference
// does not depend on the schedule, so it is computed once.

import type { Schedule } from '../../codegen/compile.js';
import type { DType } from '../../dsl/decl.js';
import type { Program, Variant } from '../../dsl/ir.js';
import { compareToReference, randomInputs, referenceOutputs, type TensorError } from '../check.js';
import type { HostTensor, PreparedLaunch, ProgramRunner, RunOptions } from '../program-runner.js';
import type { Dims } from '../shapes.js';

export interface GateVerdict {
  ok: boolean;
  errors: TensorError[];
  /** The prepared launch at the check shape (its kernel is the one timed: runtime dims are parameters). */
  prep: PreparedLaunch;
}

export class CorrectnessGate {
  readonly inputs: Record<string, HostTensor>;
  private reference: Record<string, Float64Array> | undefined;

  constructor(
    private readonly runner: ProgramRunner,
    readonly variant: Variant,
    readonly dims: Dims,
    readonly dtype: DType | undefined,
    seed: number,
  ) {
    this.inputs = randomInputs(runner.program, { dims, present: variant.present, initStates: variant.initStates, finalStates: variant.finalStates, flags: variant.flags, dtype, seed });
  }

  private opts(schedule: Schedule): RunOptions {
    return { finalStates: this.variant.finalStates, flags: this.variant.flags, dims: this.dims, dtype: this.dtype, schedule, poison: true };
  }

  /** Compiles (through the runner's cache) without running: lets compiles overlap. */
  prepare(schedule: Schedule): Promise<PreparedLaunch> {
    return this.runner.prepare(this.inputs, this.opts(schedule));
  }

  async check(schedule: Schedule): Promise<GateVerdict> {
    const prep = await this.prepare(schedule);
    const got = await this.runner.run(this.inputs, this.opts(schedule));
    this.reference ??= referenceOutputs(prep, this.inputs);
    const errors = compareToReference(prep, got, this.reference, this.dtype);
    return { ok: errors.every((e) => e.ok), errors, prep };
  }
}

/** The check shape: the program's checkDims, with the tuning shape's static dims (so the kernel is the same one). */
export function checkShape(p: Program, tuneDims: Dims, override?: Dims): Dims {
  const statics = Object.fromEntries(Object.keys(p.staticDims).map((d) => [d, tuneDims[d] ?? p.staticDims[d]!]));
  return { ...tuneDims, ...p.checkDims, ...(override ?? {}), ...statics };
}
