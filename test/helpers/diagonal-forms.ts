// Checks both state-lanes test files run (test/state-lanes.test.ts, the
// shared form; test/shuffle-exchange.test.ts, with shuffles): the other
// example programs the diagonal scan takes, each against the reference, and
// a Mamba-1 sequence cut in two pieces against the uncut run; and the loop
// that makes one test of each row of their case tables.

import { expect, it } from 'vitest';
import type { Schedule } from '../../codegen/compile.ts';
import type { Program } from '../../dsl/ir.ts';
import { loadProgram } from '../../dsl/load.ts';
import type { Backend } from '../../runtime/backend.ts';
import { randomInputs, type CheckCase } from '../../runtime/check.ts';
import { ProgramRunner } from '../../runtime/program-runner.ts';
import { expectCasePasses, expectClose, type CaseSpec } from './check.ts';
import { concatAxis, sliceSeq } from './sequence.ts';

/** examples/<file>.ts with every optional input and every state in and out, against the reference; the kernel's name ends in `_<label>`. */
export async function expectExamplePasses(gpu: Backend, file: string, dims: Record<string, number>, schedule: Schedule, label: string, seed: number): Promise<void> {
  const prog = await loadProgram(new URL(`../../examples/${file}.ts`, import.meta.url).pathname);
  const states = prog.state.map((s) => s.name);
  const c = { dims, present: prog.inputs.filter((t) => t.optional).map((t) => t.name), initStates: states, finalStates: states, seed, schedule };
  const res = await expectCasePasses(new ProgramRunner(gpu, prog, { tuned: false }), c);
  expect(res.kernel).toMatch(new RegExp(`_${label}$`));
}

/** A Mamba-1 case cut at step `cut` (final state → initial state of the second piece) equals the uncut run. */
export async function expectCutEqualsWhole(runner: ProgramRunner, p: Program, c: CheckCase, schedule: Schedule, cut: number): Promise<void> {
  const inputs = randomInputs(p, c);
  const L = c.dims.seqlen!;
  const opts = { finalStates: ['h'], schedule };
  const whole = await runner.run(inputs, opts);
  const first = await runner.run(sliceSeq(p, inputs, 0, cut), opts);
  const second = await runner.run({ ...sliceSeq(p, inputs, cut, L), h_init: first.h_final! }, opts);
  expectClose(concatAxis([first.y!, second.y!], 2), whole.y!, 1e-5);
  expectClose(second.h_final!, whole.h_final!, 1e-5);
}

export interface FormCase { name: string; spec: CaseSpec; schedule: Schedule }

/**
 * One test per row: the case passes against the reference, run by a kernel
 * whose name ends in `_<label(schedule)>`; `seed` varies the inputs per row.
 */
export function itPassesEach(runner: () => ProgramRunner, caseOf: (spec: CaseSpec) => CheckCase, cases: FormCase[], label: (s: Schedule) => string, seed: (x: FormCase) => number, timeout: number): void {
  for (const x of cases) {
    it(`${label(x.schedule)}: ${x.name}`, async () => {
      const r = await expectCasePasses(runner(), caseOf({ ...x.spec, schedule: x.schedule, seed: seed(x) }));
      expect(r.kernel).toMatch(new RegExp(`_${label(x.schedule)}$`));
    }, timeout);
  }
}
