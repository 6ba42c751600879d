// The uniform form of the diagonal scan's lowerings (a workgroup whose rows
// agree on what they share runs a copy that loads it once, chosen by the
// run-time condition `uni`): finding that branch in a plan, and runners whose
// kernels have it rewritten, for tests that show it runs where it should and
// is wrong where it must not run.

import { compileKernel, type CompiledKernelInfo } from '../../codegen/compile.ts';
import type { KernelPlan, PStmt } from '../../codegen/plan/ast.ts';
import { renderWgsl } from '../../codegen/render/wgsl.ts';
import type { Program } from '../../dsl/ir.ts';
import type { Backend } from '../../runtime/backend.ts';
import { checkCase, type CheckCase } from '../../runtime/check.ts';
import { ProgramRunner } from '../../runtime/program-runner.ts';
import { expect } from 'vitest';
import { expectCasePasses } from './check.ts';

/** The `if (uni)` that picks the uniform form, wherever it is in the body. */
export function uniformBranch(body: PStmt[]): Extract<PStmt, { k: 'if' }> | undefined {
  for (const s of body) {
    if (s.k === 'if') {
      if (s.c.k === 'var' && s.c.name === 'uni') return s;
      const inner = uniformBranch(s.then) ?? uniformBranch(s.else);
      if (inner) return inner;
    } else if (s.k === 'for') {
      const inner = uniformBranch(s.body);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** A runner whose kernels have the uniform form's branch rewritten by `edit` (the plan is re-rendered as WGSL). */
export function runnerWithUniform(gpu: Backend, p: Program, edit: (branch: Extract<PStmt, { k: 'if' }>) => void): ProgramRunner {
  const codegen = (...args: Parameters<typeof compileKernel>): CompiledKernelInfo => {
    const info = compileKernel(...args);
    const plan: KernelPlan = structuredClone(info.plan);
    const branch = uniformBranch(plan.body);
    if (!branch) throw new Error(`${info.kernel.entry} has no uniform form`);
    edit(branch);
    return { ...info, kernel: renderWgsl(plan) };
  };
  return new ProgramRunner(gpu, p, { tuned: false, codegen });
}

/**
 * With the uniform form's branch emptied, exactly `rows` rows of y are left NaN-poisoned (all
 * `seqlen` steps each): the uniform form runs in the workgroups whose rows agree, and only there.
 */
export async function expectUniformRunsInRows(gpu: Backend, p: Program, c: CheckCase, rows: number): Promise<void> {
  const r = await checkCase(runnerWithUniform(gpu, p, (b) => (b.then = [])), c);
  expect(r.errors.find((e) => e.name === 'y')!.nan).toBe(rows * c.dims.seqlen!);
}

/**
 * The uniform form forced into every workgroup (`branch.c` true) is wrong where a workgroup's
 * rows straddle what they share (y off by more than 1e-2); the general form forced everywhere passes.
 */
export async function expectUniformWrongWhereRowsStraddle(gpu: Backend, p: Program, c: CheckCase): Promise<void> {
  const forced = await checkCase(runnerWithUniform(gpu, p, (b) => (b.c = { k: 'lit', ty: 'bool', v: true })), c);
  expect(forced.ok).toBe(false);
  expect(forced.errors.find((e) => e.name === 'y')!.relL2).toBeGreaterThan(1e-2);
  await expectCasePasses(runnerWithUniform(gpu, p, (b) => (b.c = { k: 'lit', ty: 'bool', v: false })), c);
}
