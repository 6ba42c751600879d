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
import { ProgramRunner } from '../../runtime/program-runner.ts';

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
