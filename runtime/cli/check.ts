// `scanforge check`: runs a program's kernels on fresh random inputs against
// the float64 reference and prints each output's and state's error.

import type { DType } from '../../dsl/decl.js';
import type { Program, Variant } from '../../dsl/ir.js';
import type { Backend } from '../backend.js';
import { checkCase, type CheckCase } from '../check.js';
import { ProgramRunner, specializeFor } from '../program-runner.js';
import { defaultSchedule, type LoweringName, type Schedule } from '../../codegen/compile.js';
import { fmtDims } from '../shapes.js';
import { fullVariant, defaultVariant } from '../../dsl/specialize.js';

export interface CheckOptions {
  dims: Record<string, number>;
  seed: number;
  dtype?: DType;
  /** Force a lowering (e.g. the generic scan for a program analysis would lower as SSD). */
  lowering?: LoweringName;
  /** Knobs set over the program's default schedule (check --schedule). */
  schedule?: Partial<Schedule>;
  log: (line: string) => void;
}

/** Checks the fullest and the barest variant of a program; returns false if any tensor is out of tolerance. */
export async function checkProgram(backend: Backend, p: Program, opts: CheckOptions): Promise<boolean> {
  const runner = new ProgramRunner(backend, p);
  const dims = { ...p.staticDims, ...p.checkDims, ...opts.dims };
  const variants: [string, Variant][] = [['all inputs, state in/out', fullVariant(p)], ['required inputs only', defaultVariant(p)]];
  let ok = true;
  for (const [label, v] of variants) {
    const schedule = opts.lowering || opts.schedule ? { ...defaultSchedule(specializeFor(p, v, dims, opts.dtype)), ...opts.schedule, ...(opts.lowering ? { lowering: opts.lowering } : {}) } : undefined;
    const c: CheckCase = { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, flags: v.flags, dtype: opts.dtype, seed: opts.seed, schedule };
    const res = await checkCase(runner, c);
    opts.log(`  ${p.name} [${label}] ${fmtDims(dims)} ${opts.dtype ?? 'declared dtypes'} seed=${opts.seed} kernel=${res.kernel}`);
    for (const e of res.errors) {
      opts.log(`    ${e.ok ? 'ok  ' : 'FAIL'} ${e.name.padEnd(12)} rel L2 ${e.relL2.toExponential(2)} (tolerance ${e.tolerance.toExponential(0)})${e.nan ? `, ${e.nan} non-finite` : ''}`);
    }
    ok &&= res.ok;
  }
  return ok;
}
