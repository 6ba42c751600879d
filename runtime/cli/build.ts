// `scanforge build`: writes every kernel of a program, per target, with a
// JSON manifest saying how to call it.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Program } from '../../dsl/ir.js';
import { compileKernel, defaultSchedule, type CompiledKernelInfo, type Target } from '../../codegen/compile.js';
import { specializeFor } from '../program-runner.js';
import { allVariants } from '../variants.js';
import type { DType } from '../../dsl/decl.js';

export interface BuildOptions {
  targets: Target[];
  out: string;
  dims: Record<string, number>;
  dtype?: DType;
  /** Use subgroup shuffles in WGSL (only for adapters that have subgroups). */
  wgslSubgroups: boolean;
}

export interface Manifest {
  program: string;
  source: string;
  target: Target;
  entry: string;
  lowering: string;
  variant: string;
  schedule: { threads: number; items: number; rows?: number };
  staticDims: Record<string, number>;
  bindings: CompiledKernelInfo['kernel']['bindings'];
  params: CompiledKernelInfo['kernel']['params'];
  workgroupSize: number;
  sharedBytes: number;
  dispatch: { workgroups: string; gridX: string; gridY: string };
}

export function buildProgram(p: Program, opts: BuildOptions): Manifest[] {
  mkdirSync(opts.out, { recursive: true });
  const manifests: Manifest[] = [];
  const dims = { ...p.staticDims, ...opts.dims };
  for (const variant of allVariants(p)) {
    const sp = specializeFor(p, variant, dims, opts.dtype);
    const sched = defaultSchedule(sp);
    for (const target of opts.targets) {
      const info = compileKernel(sp, target, sched, { subgroups: target === 'cuda' || opts.wgslSubgroups });
      const ext = target === 'wgsl' ? 'wgsl' : 'cu';
      const file = `${info.kernel.entry}.${ext}`;
      writeFileSync(path.join(opts.out, file), info.kernel.source);
      const rows = info.gridFromDims.join(' * ') || '1';
      const groups = info.rowsPerGroup > 1 ? `ceil((${rows}) / ${info.rowsPerGroup})` : rows;
      const m: Manifest = {
        program: p.name,
        source: file,
        target,
        entry: info.kernel.entry,
        lowering: info.lowering,
        variant: info.variant,
        schedule: info.schedule,
        staticDims: info.staticDims,
        bindings: info.kernel.bindings,
        params: info.kernel.params,
        workgroupSize: info.kernel.workgroupSize,
        sharedBytes: info.kernel.sharedBytes,
        dispatch: { workgroups: groups, gridX: `min(${groups}, maxGridX)`, gridY: `ceil((${groups}) / gridX)` },
      };
      writeFileSync(path.join(opts.out, `${info.kernel.entry}.${target}.json`), JSON.stringify(m, null, 2) + '\n');
      manifests.push(m);
    }
  }
  return manifests;
}
