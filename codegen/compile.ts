// The compiler's entry: a specialised program plus a schedule and the
// target's capabilities in, one rendered kernel and its manifest out. The
// lowering is chosen by analysis; the plan is rendered by the target's dialect.

import { createHash } from 'node:crypto';
import type { SpecializedProgram } from '../dsl/ir.js';
import { variantKey } from '../dsl/ir.js';
import type { RenderedKernel } from '../runtime/backend.js';
import { diagonalScanRejects, lowerDiagonalScan, LoweringError } from './lower/diagonal-scan.js';
import { NotPromotable, type FreeAxis } from './analysis/free-state-axes.js';
import { promoteFreeStateAxes } from './lower/promote-state-axes.js';
import { ssdRejects } from './analysis/ssd.js';
import { SsdLoweringError } from './lower/ssd.js';
import { ssdLaunches } from './ssd-plans.js';
import { lowerSequential, SequentialLoweringError } from './lower/sequential.js';
import { lowerStateLanes } from './lower/state-lanes.js';
import { lowerSegmented } from './lower/segments.js';
import { checkSegment } from './lower/segment-parts.js';
import { packBindings } from './lower/pack-bindings.js';
import type { DimTile, KernelPlan, LaunchSequence, ScratchSpec } from './plan/ast.js';
import { identifierClash } from './plan/identifiers.js';
import { renderCuda } from './render/cuda.js';
import { renderWgsl } from './render/wgsl.js';

export type Target = 'wgsl' | 'cuda';
export type LoweringName = 'diagonal-scan' | 'ssd' | 'sequential';

export interface Schedule {
  threads: number;
  items: number;
  /** Rows of the parallel axes per workgroup (default 1). */
  rows?: number;
  /**
   * Diagonal scan: consecutive rows of the last parallel axis each thread handles
   * (default 1), sharing what those rows read alike (lower/diagonal-scan.ts).
   * The SSD and sequential lowerings ignore it: the tuner then finds the same
   * kernel source for every value and measures it once.
   */
  rowBlock?: number;
  /**
   * Diagonal scan: threads per row over the state elements, > 1 selecting the
   * state-lanes form (lower/state-lanes.ts: `items` steps per lane and chunk
   * phase, `rows` thread slots per workgroup, `rowBlock` rows per slot,
   * `threads` unused); 1 or absent, the chunked scan.
   */
  lanes?: number;
  /**
   * State-lanes form: 1, step values and partial sums stay in registers and
   * move between a row's lanes by subgroup shuffles (and `lanes` 1 selects
   * the form too: a row per thread); 0 or absent, through workgroup memory.
   */
  shuffle?: number;
  /** State-lanes form with shuffle 1: chunks per tile fill (default 1; lower/state-lanes.ts). */
  tileChunks?: number;
  /** State-lanes form with shuffle 1: chunks ahead whose step inputs are prefetched into L2 (default 0, none; CUDA only). */
  prefetch?: number;
  /** State-lanes form with shuffle 1: 1, the row's partials summed by reduce-scatter instead of a butterfly per step. */
  scatter?: number;
  /**
   * State-lanes form with shuffle 1: 1, the next chunk's step inputs copied into workgroup memory a chunk
   * ahead (CUDA cp.async; plain copies on WGSL) and the outputs stored as a stream (lower/shuffle-exchange.ts stageStreams).
   */
  stage?: number;
  /**
   * State-lanes form: steps per segment when the sequence is split across
   * workgroups (default 0, not split; lower/segments.ts: three launches).
   */
  segment?: number;
  /** Unroll factor of the state loop (diagonal scan, barrier-free form); default by heuristic. */
  unroll?: number;
  /** SSD: steps per chunk (default: the program's first chunk candidate that fits the target's workgroup memory). */
  chunk?: number;
  /**
   * SSD: elements of the state's kept (P) axis per workgroup; default: the largest divisor of P that fits.
   * Sequential: elements of the split state axis per workgroup (analysis/tile-axes.ts); default: as for SSD.
   */
  headTile?: number;
  /** SSD: elements of the state's contracted (N) axis staged per pass over a chunk; default: all of N where it fits (lower/ssd.ts). */
  nTile?: number;
  /**
   * SSD: 'fused' (default), one kernel walking the chunks with the state in
   * workgroup memory; 'chunked', three launches with the chunks in parallel
   * and the chunk states in scratch buffers (lower/ssd-chunked.ts); 'wgmma',
   * the walk on Hopper's warpgroup products, chunk 64 and 128 threads (CUDA
   * on sm_90a, bf16 or f16; lower/ssd-wgmma.ts).
   */
  ssdForm?: 'fused' | 'chunked' | 'wgmma';
  /**
   * SSD on CUDA with fp32 inputs: 'tf32x3' runs the chunk's products on the
   * tensor cores with each fp32 operand split into two tf32 halves (three
   * products, ~fp32 accuracy: render/cuda-mma.ts split32; the default on
   * CUDA, see defaultF32Products); 'fma' multiplies in fp32 on the FMA units.
   */
  f32Products?: 'fma' | 'tf32x3';
  /** Force a lowering instead of the one analysis picks (e.g. to check one against the other). */
  lowering?: LoweringName;
}

export interface TargetCaps {
  subgroups: boolean;
  /** Subgroup size when the target fixes it (CUDA warps are always 32). */
  subgroupSize?: number;
  /** Workgroup memory a kernel may use (bytes); default: WebGPU's guaranteed 16 KiB for WGSL, 96 KiB for CUDA. */
  sharedBytes?: number;
  /**
   * Lay SSD accumulators out in 16×8 matrix-unit tiles. Default: CUDA with
   * bf16/f16 tensors or split-tf32 products (tensor cores); elsewhere the same
   * layout prints as scalar loops, which is how the CPU tests check it. false
   * on CUDA: no tensor cores, so fp32 products stay on the FMA units.
   */
  matrixUnits?: boolean;
  /** Storage buffers a kernel may bind; beyond it read-only tensors share one (lower/pack-bindings.ts). Default: no limit. */
  maxStorageBuffers?: number;
  /** CUDA: the device has warpgroup matrix products (wgmma, sm_90a), which the SSD walk may use (lower/ssd-wgmma.ts). */
  warpgroupMma?: boolean;
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
  /**
   * Every kernel of a run, launched in this order (one for most lowerings;
   * `kernel`, `plan`, `gridFromDims` and `rowsPerGroup` above are the first's).
   */
  launches: KernelLaunchInfo[];
  /** Buffers the runner allocates for the launches to pass data between them (none for one launch). */
  scratch: ScratchSpec[];
  /** State axes run as extra parallel axes (last in the grid's dims), and other choices the analysis made. */
  promotedAxes: FreeAxis[];
  notes: string[];
}

/** One kernel launch of a run: workgroups = ceil(product of gridFromDims / rowsPerGroup) × Π ceil(dims[tile.dim] / tile.size). */
export interface KernelLaunchInfo {
  kernel: RenderedKernel;
  plan: KernelPlan;
  gridFromDims: string[];
  rowsPerGroup: number;
  gridTiles: DimTile[];
}

/**
 * Which lowering a program gets, and why the others were not chosen: the
 * chunked SSD matrix form when analysis/ssd.ts proves the program SSD-able,
 * else the chunked scan, else the sequential lowering (any program; the
 * reason the others did not fit goes into the notes, and so the manifest).
 * `force` picks one (and fails saying why it does not fit).
 */
export function chooseLowering(sp: SpecializedProgram, force?: LoweringName): { lowering: LoweringName; notes: string[]; program: SpecializedProgram; promotedAxes: FreeAxis[] } {
  if (force === 'sequential') return { lowering: 'sequential', notes: ['sequential: asked for'], program: sp, promotedAxes: [] };
  if (force) return chooseFastLowering(sp, force);
  // The sequential lowering takes any program: the fallback when no faster one fits, saying why.
  try {
    return chooseFastLowering(sp);
  } catch (e) {
    if (!(e instanceof LoweringError)) throw e;
    return { lowering: 'sequential', notes: [`sequential: no faster lowering fits: ${e.message}`], program: sp, promotedAxes: [] };
  }
}

/** The chunked scan where it fits, else the sequential lowering: where the SSD form cannot be tiled for a target. */
function chooseNonSsdLowering(sp: SpecializedProgram): ReturnType<typeof chooseLowering> {
  try {
    return chooseScanLowering(sp);
  } catch (e) {
    if (!(e instanceof LoweringError)) throw e;
    return { lowering: 'sequential', notes: [`sequential: ${e.message}`], program: sp, promotedAxes: [] };
  }
}

function chooseFastLowering(sp: SpecializedProgram, force?: LoweringName): { lowering: LoweringName; notes: string[]; program: SpecializedProgram; promotedAxes: FreeAxis[] } {
  const ssdWhy = force === 'diagonal-scan' ? undefined : ssdRejects(sp);
  if (force !== 'diagonal-scan' && !ssdWhy) {
    return { lowering: 'ssd', notes: ['ssd: one scalar decay per step, rank-1 update, linear readout: chunked matrix form'], program: sp, promotedAxes: [] };
  }
  if (force === 'ssd') throw new LoweringError(`${sp.name}: the ssd lowering does not fit this program: ${ssdWhy}`);
  try {
    return chooseScanLowering(sp);
  } catch (e) {
    if (e instanceof LoweringError && ssdWhy) throw new LoweringError(`${e.message}; ssd: ${ssdWhy}`);
    throw e;
  }
}

/**
 * The chunked scan's form of a program: matrix states have their free
 * leading axes promoted to parallel axes (analysis/free-state-axes.ts).
 */
function chooseScanLowering(sp: SpecializedProgram): { lowering: LoweringName; notes: string[]; program: SpecializedProgram; promotedAxes: FreeAxis[] } {
  let promoted: ReturnType<typeof promoteFreeStateAxes>;
  try {
    promoted = promoteFreeStateAxes(sp);
  } catch (e) {
    if (!(e instanceof NotPromotable)) throw e;
    const states = sp.state.filter((s) => s.shape.length > 1).map((s) => `${s.name} (${s.shape.join(', ')})`).join(', ');
    throw new LoweringError(`${sp.name}: no lowering fits this program: diagonal-scan: it scans 1-D states, and the leading axes of ${states} cannot become parallel axes: ${e.reason}`);
  }
  const { program, axes } = promoted;
  const why = diagonalScanRejects(program);
  const after = axes.length ? ` (after promoting ${axes.map((a) => a.index).join(', ')} to parallel axes)` : '';
  if (why) throw new LoweringError(`${sp.name}: no lowering fits this program: diagonal-scan${after}: ${why}`);
  const notes = axes.length
    ? [`state axes ${axes.map((a) => `${a.index} (${a.dim})`).join(', ')} run as parallel axes: every update is diagonal in them, every output binds them, nothing sums over them`]
    : [];
  return { lowering: 'diagonal-scan', notes, program, promotedAxes: axes };
}

export function defaultSchedule(sp: SpecializedProgram): Schedule {
  return { threads: sp.schedule.threads[0]!, items: sp.schedule.items[0]!, rows: sp.schedule.rows[0]!, rowBlock: sp.schedule.rowBlock[0]!, lanes: sp.schedule.lanes[0]!, shuffle: sp.schedule.shuffle[0]!, tileChunks: sp.schedule.tileChunks[0]!, prefetch: sp.schedule.prefetch[0]!, scatter: sp.schedule.scatter[0]!, stage: sp.schedule.stage[0]!, segment: sp.schedule.segment[0]! };
}

export function kernelName(sp: SpecializedProgram, sched: Schedule, lowering: LoweringName = 'diagonal-scan'): string {
  const h = createHash('sha256').update(variantKey(sp.variant)).digest('hex').slice(0, 8);
  if (lowering === 'sequential') return `${sp.name.replace(/[^A-Za-z0-9_]/g, '_')}_${h}_seq_t${sched.threads}${sched.headTile !== undefined ? `p${sched.headTile}` : ''}`;
  if (lowering === 'ssd') return `${sp.name.replace(/[^A-Za-z0-9_]/g, '_')}_${h}_ssd${sched.ssdForm === 'chunked' ? 'c' : sched.ssdForm === 'wgmma' ? 'w' : ''}_t${sched.threads}q${sched.chunk ?? sp.schedule.chunk[0]}${sched.headTile !== undefined ? `p${sched.headTile}` : ''}${sched.nTile !== undefined ? `n${sched.nTile}` : ''}${sched.f32Products === 'tf32x3' ? 'x' : ''}`;
  if (isStateLanes(sched)) return `${sp.name.replace(/[^A-Za-z0-9_]/g, '_')}_${h}_l${sched.lanes ?? 1}i${sched.items}${(sched.rows ?? 1) > 1 ? `r${sched.rows}` : ''}${(sched.rowBlock ?? 1) > 1 ? `k${sched.rowBlock}` : ''}${sched.shuffle ? shuffleKnobsTag(sched) : ''}${sched.shuffle ? 's' : ''}${segmentTag(sched)}`;
  return `${sp.name.replace(/[^A-Za-z0-9_]/g, '_')}_${h}_t${sched.threads}i${sched.items}${(sched.rows ?? 1) > 1 ? `r${sched.rows}` : ''}${(sched.rowBlock ?? 1) > 1 ? `k${sched.rowBlock}` : ''}${sched.unroll !== undefined ? `u${sched.unroll}` : ''}`;
}

export function compileKernel(sp: SpecializedProgram, target: Target, given: Schedule, caps: TargetCaps): CompiledKernelInfo {
  let { lowering, notes, program, promotedAxes } = chooseLowering(sp, given.lowering);
  let sched = given;
  let ssd: LaunchSequence | undefined;
  if (lowering === 'ssd') {
    try {
      ({ ssd, sched } = ssdLaunches(sp, target, given, caps, notes, (x) => kernelName(sp, x, 'ssd')));
    } catch (e) {
      // SSD-able, but no tiling fits this target's workgroup memory: the next lowering that fits, saying
      // why — unless ssd or an SSD tiling (chunk, headTile, nTile, form, products) was asked for, which is refused.
      const asked = given.lowering === 'ssd' || [given.chunk, given.headTile, given.nTile, given.ssdForm, given.f32Products].some((x) => x !== undefined);
      if (!(e instanceof SsdLoweringError) || asked) throw e;
      ({ lowering, notes, program, promotedAxes } = chooseNonSsdLowering(sp));
      notes.unshift(`ssd: the program is SSD-able but no tiling fits this target: ${e.message}`);
    }
  }
  const seq = lowering === 'sequential' ? sequentialPlan(sp, target, sched, caps) : undefined;
  if (seq) notes.push(...seq.notes);
  const lowered: LaunchSequence = seq ? { launches: [seq.plan], scratch: [] } : ssd ?? diagonalPlans(program, sp, target, sched, caps);
  if (lowered.launches.length > 1) notes.push(`${lowered.launches.length} launches in order, scratch ${lowered.scratch.map((x) => x.name).join(', ')}`);
  const launches = lowered.launches.map((l): KernelLaunchInfo => {
    const clash = identifierClash(l, target, { tensors: [...sp.used, ...sp.written].map((t) => t.name), dims: sp.dims });
    if (clash) throw new LoweringError(`${sp.name}: ${clash.what}; rename it`);
    const plan = caps.maxStorageBuffers === undefined ? l : packBindings(l, caps.maxStorageBuffers, packPreference(sp));
    if (plan !== l) notes.push(`bindings${lowered.launches.length > 1 ? ` of ${plan.name}` : ''}: ${plan.buffers.find((b) => b.pack)!.pack!.join(', ')} share one buffer (the target binds at most ${caps.maxStorageBuffers})`);
    const kernel = target === 'wgsl' ? renderWgsl(plan) : renderCuda(plan);
    return { kernel, plan, gridFromDims: plan.grid.groupsFromDims, rowsPerGroup: plan.grid.rowsPerGroup, gridTiles: plan.grid.tiles ?? [] };
  });
  const { kernel, plan } = launches[0]!;
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
    launches,
    scratch: lowered.scratch,
    promotedAxes: seq?.tile ? [{ index: seq.tile.index, dim: seq.tile.dim }] : promotedAxes,
    notes,
  };
}

/**
 * The diagonal scan's plans: the state-lanes form when the schedule asks for
 * lanes (its workgroup arrays within 48 KiB on CUDA, several blocks per SM),
 * split into segments when it asks for them (three launches), else the
 * chunked scan.
 */
function diagonalPlans(program: SpecializedProgram, sp: SpecializedProgram, target: Target, sched: Schedule, caps: TargetCaps): LaunchSequence {
  const name = kernelName(sp, sched);
  if (isStateLanes(sched)) {
    const budget = target === 'cuda' ? Math.min(caps.sharedBytes ?? Infinity, 48 * 1024) : (caps.sharedBytes ?? 16 * 1024);
    const shuffleLanes = target === 'cuda' ? 32 : caps.subgroups ? (caps.subgroupSize ?? MIN_WGSL_SUBGROUP) : 1;
    const sh = effectiveShuffleKnobs(sched);
    const form = { lanes: sh.lanes ?? 1, items: sh.items, rows: sh.rows ?? 1, rowBlock: sh.rowBlock ?? 1, shuffle: !!sh.shuffle, tileChunks: sh.tileChunks, prefetch: sh.prefetch, scatter: !!sh.scatter, stage: !!sh.stage };
    if (sh.segment) return lowerSegmented(program, form, sh.segment, name, budget, shuffleLanes);
    return { launches: [lowerStateLanes(program, form, name, budget, shuffleLanes)], scratch: [] };
  }
  return { launches: [lowerDiagonalScan(program, { ...sched, rows: sched.rows ?? 1 }, { subgroups: caps.subgroups, lanes: target === 'cuda' ? 32 : caps.subgroupSize }, name)], scratch: [] };
}

/** The kernel-name part of the shuffle form's knobs (m tileChunks, f prefetch, a stage, x scatter), each where it changes the kernel. */
function shuffleKnobsTag(sched: Schedule): string {
  const k = effectiveShuffleKnobs(sched);
  return `${(k.tileChunks ?? 1) > 1 ? `m${k.tileChunks}` : ''}${(k.prefetch ?? 0) > 0 ? `f${k.prefetch}` : ''}${k.stage ? 'a' : ''}${k.scatter ? 'x' : ''}`;
}

/** The kernel-name part of a split sequence: g and the segment's steps, after the form's letters. */
function segmentTag(sched: Schedule): string {
  const k = effectiveShuffleKnobs(sched);
  return k.segment ? `g${k.segment}` : '';
}

/**
 * tileChunks, prefetch, stage and scatter where the diagonal scan's form reads them (state lanes with shuffles;
 * scatter with lanes > 1), segment in the state-lanes form, else their defaults.
 */
function effectiveShuffleKnobs(sched: Schedule): Schedule {
  const shuffled = isStateLanes(sched) && !!sched.shuffle;
  return {
    ...sched,
    tileChunks: shuffled ? (sched.tileChunks ?? 1) : 1,
    prefetch: shuffled ? (sched.prefetch ?? 0) : 0,
    scatter: shuffled && (sched.lanes ?? 1) > 1 ? (sched.scatter ?? 0) : 0,
    stage: shuffled ? (sched.stage ?? 0) : 0,
    segment: isStateLanes(sched) ? (sched.segment ?? 0) : 0,
  };
}

/**
 * The schedule with the knobs its lowering ignores at their defaults: two
 * schedules with the same canonical form render the same kernel, so the
 * tuner renders one of them (runtime/tune/search.ts screen). Conservative:
 * only what is known ignored — the shuffle form's tileChunks, prefetch,
 * stage and scatter outside it (and for the other lowerings), segment
 * outside the state-lanes form, and `threads` in the state-lanes form (it
 * sizes workgroups by lanes × rows). Given the run's length `seqlen`, a
 * segment at least that long is no split: the one-launch kernel computes
 * the same (the split's three launches only add work), so it stands for it.
 */
export function canonicalSchedule(sp: SpecializedProgram, sched: Schedule, seqlen?: number): Schedule {
  const whole = seqlen !== undefined && (sched.segment ?? 0) >= seqlen;
  const base = effectiveShuffleKnobs(whole ? { ...sched, segment: 0 } : sched);
  const lowering = loweringOf(sp, sched.lowering);
  if (lowering === undefined) return base; // no lowering takes it: compileKernel will say why
  if (lowering !== 'diagonal-scan') return { ...sched, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0 };
  return isStateLanes(sched) ? { ...base, threads: 1 } : base;
}

/**
 * A schedule that splits the sequence (segment > 0 in the state-lanes form, shorter than `seqlen` where
 * given): the unsplit schedule, whose one kernel needs at least what each of the split's launches does (the
 * outputs kernel has its arrays and register budget, the summary fewer arrays, the pass next to nothing),
 * and why the split is refused where it is. Undefined for any other schedule. The tuner's screen judges a
 * split by its unsplit kernel instead of rendering three (lower/segments.ts).
 */
export function splitOf(sp: SpecializedProgram, sched: Schedule, seqlen?: number): { unsplit: Schedule; rejects?: string } | undefined {
  const k = effectiveShuffleKnobs(sched);
  if (!k.segment || (seqlen !== undefined && k.segment >= seqlen) || loweringOf(sp, sched.lowering) !== 'diagonal-scan') return undefined;
  try {
    checkSegment(k.segment, (k.lanes ?? 1) * k.items * (k.tileChunks ?? 1));
    return { unsplit: { ...sched, segment: 0 } };
  } catch (e) {
    if (!(e instanceof LoweringError)) throw e;
    return { unsplit: { ...sched, segment: 0 }, rejects: e.message };
  }
}

const loweringMemo = new WeakMap<SpecializedProgram, Map<string, LoweringName | undefined>>();
/** chooseLowering's pick, remembered per program (the tuner asks once per point of its space). */
function loweringOf(sp: SpecializedProgram, force?: LoweringName): LoweringName | undefined {
  let memo = loweringMemo.get(sp);
  if (!memo) loweringMemo.set(sp, (memo = new Map()));
  const key = force ?? '';
  if (!memo.has(key)) {
    try {
      memo.set(key, chooseLowering(sp, force).lowering);
    } catch {
      memo.set(key, undefined);
    }
  }
  return memo.get(key);
}

/** The state-lanes form: lanes > 1, or shuffle 1 (which allows one lane per row). */
function isStateLanes(sched: Schedule): boolean {
  return (sched.lanes ?? 1) > 1 || !!sched.shuffle;
}

/** WebGPU guarantees subgroups of at least 4 invocations where it has them. */
const MIN_WGSL_SUBGROUP = 4;

/** Which read-only tensors share a binding first: state inits, then inputs without the scan axis (small), then the rest. */
function packPreference(sp: SpecializedProgram): string[] {
  const seqDim = sp.indices[sp.scan]!.dim;
  const inits = sp.used.filter((t) => t.role === 'state-init');
  const small = sp.used.filter((t) => t.role === 'input' && !t.shape.includes(seqDim));
  return [...inits, ...small].map((t) => t.name);
}

/**
 * The sequential plan (the general fallback and the decode step): state in
 * workgroup memory, at most 48 KiB on CUDA (no opt-in, several blocks per SM).
 */
function sequentialPlan(sp: SpecializedProgram, target: Target, sched: Schedule, caps: TargetCaps): ReturnType<typeof lowerSequential> {
  const budget = target === 'cuda' ? Math.min(caps.sharedBytes ?? Infinity, 48 * 1024) : (caps.sharedBytes ?? 16 * 1024);
  try {
    return lowerSequential(sp, { threads: sched.threads, tile: sched.headTile }, { workgroupStorageBytes: budget }, kernelName(sp, sched, 'sequential'));
  } catch (e) {
    if (e instanceof SequentialLoweringError) throw new LoweringError(`${sp.name}: sequential: ${e.message}`);
    throw e;
  }
}

