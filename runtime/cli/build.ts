// `scanforge build`: writes every kernel of a program, per target, with a
// JSON manifest saying how to call it.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Program, SpecializedProgram } from '../../dsl/ir.js';
import type { BakedSchedule } from '../tune/bake.js';
import { compileKernel, defaultSchedule, type CompiledKernelInfo, type LoweringName, type Schedule, type Target } from '../../codegen/compile.js';
import { specializeFor } from '../program-runner.js';
import { allVariants } from '../variants.js';
import type { DType } from '../../dsl/decl.js';
import { writeWrapper } from './wrapper-gen.js';

export interface BuildOptions {
  targets: Target[];
  out: string;
  dims: Record<string, number>;
  dtype?: DType;
  /** Use subgroup shuffles in WGSL (only for adapters that have subgroups). */
  wgslSubgroups: boolean;
  /** Tuned schedules to bake into each manifest, their kernels written beside it (build --tuned). */
  tuned?: (sp: SpecializedProgram, target: Target) => BakedSchedule[];
  /** Force a lowering for every kernel (build --lowering sequential: the decode-step kernels). */
  lowering?: LoweringName;
  /** Knobs set for every kernel over the program's default schedule (build --schedule). */
  schedule?: Partial<Schedule>;
}

export interface Manifest {
  program: string;
  source: string;
  target: Target;
  entry: string;
  lowering: string;
  /** State axes the kernel runs as parallel axes (they are in dispatch.workgroups), and why that lowering. */
  promotedAxes: CompiledKernelInfo['promotedAxes'];
  notes: string[];
  variant: string;
  schedule: { threads: number; items: number; rows?: number; rowBlock?: number; lanes?: number; shuffle?: number };
  staticDims: Record<string, number>;
  bindings: CompiledKernelInfo['kernel']['bindings'];
  params: CompiledKernelInfo['kernel']['params'];
  workgroupSize: number;
  sharedBytes: number;
  dispatch: { workgroups: string; gridX: string; gridY: string };
  /** What `dispatch` spells out, for launchers: workgroups = ceil(product of these dims / rowsPerGroup). */
  grid: { fromDims: string[]; rowsPerGroup: number };
  /** Whether the source uses subgroup operations (a WGSL one needs an adapter that has them). */
  subgroups: boolean;
  /** The tune cache's winners for this kernel, per device and shape bucket (build --tuned). */
  tuned?: BakedSchedule[];
  /**
   * Present when a run is several kernels launched in order (the fields
   * above then describe the first): each launch's kernel and grid, and the
   * scratch buffers a launcher must allocate (elements = times × product of
   * dims × ceil(dims[tile.dim] / tile.size) per tile, fp32; `multiple.otherwise`
   * replaces dims where dims[multiple.dim] is not a multiple of
   * dims[multiple.of]: runtime/program-runner.ts scratchElements) and bind by name.
   */
  launches?: ManifestLaunch[];
  scratch?: CompiledKernelInfo['scratch'];
}

export interface ManifestLaunch {
  source: string;
  entry: string;
  bindings: Manifest['bindings'];
  params: Manifest['params'];
  workgroupSize: number;
  sharedBytes: number;
  /** workgroups = ceil(product of fromDims / rowsPerGroup) × product over tiles of ceil(dims[dim] / size). */
  grid: { fromDims: string[]; rowsPerGroup: number; tiles: { dim: string; size: number }[] };
  subgroups: boolean;
}

export function buildProgram(p: Program, opts: BuildOptions): Manifest[] {
  mkdirSync(opts.out, { recursive: true });
  const manifests: Manifest[] = [];
  const dims = { ...p.staticDims, ...opts.dims };
  for (const variant of allVariants(p)) {
    const sp = specializeFor(p, variant, dims, opts.dtype);
    const sched = { ...defaultSchedule(sp), ...opts.schedule, ...(opts.lowering ? { lowering: opts.lowering } : {}) };
    for (const target of opts.targets) {
      // Built without a device: the wgmma form, where asked for, is built for sm_90a (it needs the warpgroup products).
      const info = compileKernel(sp, target, sched, { subgroups: target === 'cuda' || opts.wgslSubgroups, ...(target === 'cuda' && sched.ssdForm === 'wgmma' ? { warpgroupMma: true } : {}) });
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
        promotedAxes: info.promotedAxes,
        notes: info.notes,
        variant: info.variant,
        schedule: info.schedule,
        staticDims: info.staticDims,
        bindings: info.kernel.bindings,
        params: info.kernel.params,
        workgroupSize: info.kernel.workgroupSize,
        sharedBytes: info.kernel.sharedBytes,
        dispatch: { workgroups: groups, gridX: `min(${groups}, maxGridX)`, gridY: `ceil((${groups}) / gridX)` },
        grid: { fromDims: info.gridFromDims, rowsPerGroup: info.rowsPerGroup },
        subgroups: info.plan.usesSubgroups,
      };
      if (info.launches.length > 1) {
        m.launches = info.launches.map((l) => {
          const src = `${l.kernel.entry}.${ext}`;
          writeFileSync(path.join(opts.out, src), l.kernel.source);
          return { source: src, entry: l.kernel.entry, bindings: l.kernel.bindings, params: l.kernel.params, workgroupSize: l.kernel.workgroupSize, sharedBytes: l.kernel.sharedBytes, grid: { fromDims: l.gridFromDims, rowsPerGroup: l.rowsPerGroup, tiles: l.gridTiles }, subgroups: l.plan.usesSubgroups };
        });
        m.scratch = info.scratch;
      }
      const tuned = opts.tuned?.(sp, target);
      if (tuned?.length) m.tuned = tuned;
      writeFileSync(path.join(opts.out, `${info.kernel.entry}.${target}.json`), JSON.stringify(m, null, 2) + '\n');
      manifests.push(m);
    }
  }
  writeWrapper(p, manifests, opts);
  return manifests;
}
