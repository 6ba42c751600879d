// Assertions shared by the tests that run kernels against the float64
// reference (checkCase: fresh seeded inputs, outputs poisoned with NaN): what
// a passing result must show, the cases' defaults, and closeness of two runs.

import { expect } from 'vitest';
import type { Program } from '../../dsl/ir.ts';
import { checkCase, relL2, type CheckCase, type CheckResult } from '../../runtime/check.ts';
import { specializeFor, type HostTensor, type ProgramRunner } from '../../runtime/program-runner.ts';
import { runReference, type HostArrays } from '../../runtime/reference/interpret.ts';
import type { Dims } from '../../runtime/shapes.ts';

/** One line per result for assertion messages: kernel, then each tensor's error. */
export function describeResult(r: CheckResult): string {
  return `${r.kernel}: ${r.errors.map((e) => `${e.name} relL2=${e.relL2.toExponential(2)} nan=${e.nan} tol=${e.tolerance}`).join('; ')}`;
}

/** Exactly the tensors `written` were compared, none has a NaN, each is within its tolerance. */
export function expectOk(r: CheckResult, written: readonly string[]): void {
  expect(r.errors.map((e) => e.name).sort()).toEqual([...written].sort());
  for (const e of r.errors) {
    expect(e.nan, describeResult(r)).toBe(0);
    expect(e.relL2, describeResult(r)).toBeLessThanOrEqual(e.tolerance);
    expect(e.ok, describeResult(r)).toBe(true);
  }
  expect(r.ok, describeResult(r)).toBe(true);
}

/** The tensors a case writes: every output of the program and the final states it asks for. */
export function writtenBy(p: Program, c: Pick<CheckCase, 'finalStates'>): string[] {
  return [...p.outputs.map((o) => o.name), ...c.finalStates.map((s) => `${s}_final`)];
}

/** Runs a case through checkCase and expects it to pass (expectOk over what it writes). */
export async function expectCasePasses(runner: ProgramRunner, c: CheckCase, given?: Record<string, HostTensor>): Promise<CheckResult> {
  const r = await checkCase(runner, c, given);
  expectOk(r, writtenBy(runner.program, c));
  return r;
}

/** A case given by what differs from a suite's defaults (dims merge key by key). */
export type CaseSpec = Partial<Omit<CheckCase, 'dims'>> & { dims?: Partial<CheckCase['dims']> };

/** Completes a CaseSpec from `defaults`. */
export function caseFrom(defaults: CheckCase): (spec: CaseSpec) => CheckCase {
  return (spec) => ({ ...defaults, ...spec, dims: { ...defaults.dims, ...spec.dims } as CheckCase['dims'] });
}

/** Host inputs as the reference interpreter takes them. */
export function toFloat64(inputs: Record<string, HostTensor>): HostArrays {
  return Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, Float64Array.from(t.data)]));
}

/** The float64 reference of `p` in the variant `v` at `dims` on these inputs. */
export function referenceOf(p: Program, v: { present: string[]; initStates: string[]; finalStates: string[] }, dims: Dims, inputs: Record<string, HostTensor>): HostArrays {
  const sp = specializeFor(p, { present: v.present, flags: p.flags, initStates: v.initStates, finalStates: v.finalStates }, dims);
  return runReference(sp, dims, toFloat64(inputs));
}

/** Two device results agree: same shape, no NaN, relative L2 below `tol`. */
export function expectClose(a: HostTensor, b: HostTensor, tol: number): void {
  expect(a.shape).toEqual(b.shape);
  const e = relL2(a.data, Float64Array.from(b.data));
  expect(e.nan).toBe(0);
  expect(e.relL2).toBeLessThan(tol);
}
