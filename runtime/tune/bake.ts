// `scanforge build --tuned`: the tune cache's winners for a kernel, rendered
// at build time beside the default kernel and listed in its manifest, so that
// an application without the runtime can pick the tuned kernel for its
// device and shape. Only entries whose kernel hash still matches the program
// as built now are baked; others are reported as stale and skipped.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileKernel, type Schedule, type Target } from '../../codegen/compile.js';
import type { DType } from '../../dsl/decl.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import type { TuneCache } from './cache.js';
import { kernelIdentity } from './key.js';

export interface BakedSchedule {
  device: string;
  fingerprint: string;
  /** Shape bucket the winner was tuned for (each runtime dim ≤ a power of two) and the exact shape. */
  bucket: string;
  dims: Record<string, number>;
  schedule: Record<string, number>;
  ms: number;
  defaultMs: number | null;
  /** The tuned kernel: entry point, source file written beside the manifest, launch shape. */
  entry: string;
  source: string;
  workgroupSize: number;
  sharedBytes: number;
  grid: { fromDims: string[]; rowsPerGroup: number };
  subgroups: boolean;
}

/** A build hook: the tuned kernels of one specialisation and target, their sources written into `out`. */
export function tunedBaker(cache: TuneCache, out: string, dtype: DType | undefined, report: (line: string) => void): (sp: SpecializedProgram, target: Target) => BakedSchedule[] {
  return (sp, target) => {
    const baked: BakedSchedule[] = [];
    for (const e of cache.all()) {
      if (e.program !== sp.name || e.target !== target) continue;
      // Tuned for other static dims (state sizes): another kernel, not a stale one.
      if (Object.entries(sp.staticDims).some(([d, v]) => e.dims[d] !== v)) continue;
      const id = kernelIdentity(sp, target, e.caps, dtype);
      if (id.variant !== e.variant || id.dtype !== e.dtype) continue;
      if (id.hash !== e.kernelHash) {
        report(`  tuned: skipped a stale entry for ${sp.name} ${e.variant} on ${e.device} (the kernel changed since it was tuned; tune again)`);
        continue;
      }
      const info = compileKernel(sp, target, e.schedule as unknown as Schedule, e.caps);
      const source = `${info.kernel.entry}.${target === 'wgsl' ? 'wgsl' : 'cu'}`;
      writeFileSync(path.join(out, source), info.kernel.source);
      baked.push({
        device: e.device,
        fingerprint: e.fingerprint,
        bucket: e.bucket,
        dims: e.dims,
        schedule: e.schedule,
        ms: e.ms,
        defaultMs: e.defaultMs,
        entry: info.kernel.entry,
        source,
        workgroupSize: info.kernel.workgroupSize,
        sharedBytes: info.kernel.sharedBytes,
        grid: { fromDims: info.gridFromDims, rowsPerGroup: info.rowsPerGroup },
        subgroups: info.plan.usesSubgroups,
      });
    }
    return baked;
  };
}
