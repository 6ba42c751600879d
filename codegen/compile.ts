// The compiler's entry: a specialised program plus a schedule and the
// target's capabilities in, one rendered kernel and its manifest out. The
// lowering is chosen by analysis; the plan is rendered by the target's dialect.

import { createHash } from 'node:crypto';
import type { SpecializedProgram } from '../dsl/ir.js';
import { variantKey } from '../dsl/ir.js';
import type { RenderedKernel } from '../runtime/backend.js';
import { diagonalScanRejects, lowerDiagonalScan, LoweringError } from './lower/diagonal-scan.js';
import type { KernelPlan } from './plan/ast.js';
import { renderCuda } from './render/cuda.js';
import { renderWgsl } from './render/wgsl.js';

export type Target = 'wgsl' | 'cuda';
export type LoweringName = 'diagonal-scan';

export interface Schedule {
  threads: number;
  items: number;
  /** Rows of the parallel axes per workgroup (default 1). */
  rows?: number;
}

export interface TargetCaps {
  subgroups: boolean;
}

export interface CompiledKernelInfo {
  program: string;
  variant: string;
  lowering: LoweringName;
  schedule: Schedule;
  target: Target;
  kernel: RenderedKernel;
  plan: KernelPlan;
  /** Workgroups launched = ceil(product of these dims / rowsPerGroup). */
  gridFromDims: string[];
  rowsPerGroup: number;
  staticDims: Record<string, number>;
}

/** Which lowering a program gets, and why the others were not chosen. */
export function chooseLowering(sp: SpecializedProgram): { lowering: LoweringName; notes: string[] } {
  const why = diagonalScanRejects(sp);
  if (why) throw new LoweringError(`${sp.name}: no lowering fits this program: diagonal-scan: ${why}`);
  return { lowering: 'diagonal-scan', notes: [] };
}

export function defaultSchedule(sp: SpecializedProgram): Schedule {
  return { threads: sp.schedule.threads[0]!, items: sp.schedule.items[0]!, rows: sp.schedule.rows[0]! };
}

export function kernelName(sp: SpecializedProgram, sched: Schedule): string {
  const h = createHash('sha256').update(variantKey(sp.variant)).digest('hex').slice(0, 8);
  return `${sp.name.replace(/[^A-Za-z0-9_]/g, '_')}_${h}_t${sched.threads}i${sched.items}${(sched.rows ?? 1) > 1 ? `r${sched.rows}` : ''}`;
}

export function compileKernel(sp: SpecializedProgram, target: Target, sched: Schedule, caps: TargetCaps): CompiledKernelInfo {
  const { lowering } = chooseLowering(sp);
  const plan = lowerDiagonalScan(sp, { ...sched, rows: sched.rows ?? 1 }, caps, kernelName(sp, sched));
  const kernel = target === 'wgsl' ? renderWgsl(plan) : renderCuda(plan);
  return {
    program: sp.name,
    variant: variantKey(sp.variant),
    lowering,
    schedule: sched,
    target,
    kernel,
    plan,
    gridFromDims: plan.grid.groupsFromDims,
    rowsPerGroup: plan.grid.rowsPerGroup,
    staticDims: sp.staticDims,
  };
}
