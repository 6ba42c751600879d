// Runs a program's kernels on a backend: picks the variant from what the
// caller passes, validates every tensor (name, shape, dtype) before anything
// touches the GPU, compiles once per (variant, dtype, schedule, static dims),
// and launches. Knows nothing about any SSM family.

import type { DType } from '../dsl/decl.js';
import type { Program, SpecializedProgram, TensorIR, Variant } from '../dsl/ir.js';
import { variantKey } from '../dsl/ir.js';
import { specialize } from '../dsl/specialize.js';
import { compileKernel, defaultSchedule, type CompiledKernelInfo, type KernelLaunchInfo, type Schedule } from '../codegen/compile.js';
import type { ScratchSpec } from '../codegen/plan/ast.js';
import type { Backend, CompiledKernel, DeviceBuffer, Grid } from './backend.js';
import { elemBytes, fromDeviceBytes, toDeviceBytes } from './dtype.js';
import { fmtDims, resolveDims, shapeOf, sizeOf, type Dims } from './shapes.js';
import { validateInputs, variantOf } from './validate-inputs.js';
import { packData, packOffset } from './packed-bindings.js';
import { pieceDims, pieceOffset, planPieces, sliceTensor, type PiecePlan } from './pieces.js';
import { capsOf, targetOf } from './target.js';
import { defaultScheduleLookup, type ScheduleLookup } from './tune/lookup.js';
import { scheduleKey } from './tune/space.js';

export interface HostTensor {
  data: Float32Array;
  shape: readonly number[];
}

export interface RunOptions {
  /** States whose final value to return (as `${state}_final`). */
  finalStates?: string[];
  flags?: Record<string, boolean>;
  /** Dims not implied by any given tensor. */
  dims?: Dims;
  /** Element type of the inputs and outputs on the device (state stays fp32). */
  dtype?: DType;
  schedule?: Schedule;
  /** Fill outputs with NaN before the launch, so an unwritten element cannot pass a check. */
  poison?: boolean;
}

/** One kernel of a run, ready to launch. */
export interface PreparedKernel {
  kernel: CompiledKernel;
  grid: Grid;
  params: number[];
}

export interface PreparedLaunch {
  info: CompiledKernelInfo;
  /** The first launch's (the only one for most lowerings). */
  kernel: CompiledKernel;
  grid: Grid;
  params: number[];
  /** Every launch of a run, in order (info.launches compiled). */
  launches: PreparedKernel[];
  /** Scratch buffers the launches share: name and bytes at these dims. */
  scratch: { name: string; bytes: number }[];
  program: SpecializedProgram;
  dims: Dims;
}

/** Device buffers of one run: per launch, in its kernel's binding order; every buffer by name (scratch included). */
export interface RunBuffers {
  /** The first launch's binding order. */
  list: DeviceBuffer[];
  lists: DeviceBuffer[][];
  byName: Map<string, DeviceBuffer>;
}

export interface RunnerOptions {
  /**
   * Where the schedule comes from when a run passes none: by default the
   * autotuner's cache (a winner for this device, kernel and shape bucket,
   * validated before use); false for the program's default schedule.
   */
  tuned?: ScheduleLookup | false;
  /** Renders kernels (default compileKernel); the autotuner's tests wrap it to plant a wrong kernel. */
  codegen?: typeof compileKernel;
  /** Bytes one binding may span, below the backend's own limit (tests cut runs into pieces with it). */
  maxBindingBytes?: number;
}

/** One piece of a run cut along a parallel dim (runtime/pieces.ts): its tensors, options and where it sits. */
export interface RunPiece {
  inputs: Record<string, HostTensor>;
  opts: RunOptions;
  plan: PiecePlan;
  part: PiecePlan['parts'][number];
}

export class ProgramRunner {
  private readonly kernels = new Map<string, Promise<{ info: CompiledKernelInfo; kernels: CompiledKernel[] }>>();

  constructor(
    readonly backend: Backend,
    readonly program: Program,
    readonly options: RunnerOptions = {},
  ) {}

  /** The run's specialised program and dims; validates shapes. */
  private specializeRun(inputs: Record<string, HostTensor>, opts: RunOptions): { sp: SpecializedProgram; dims: Dims; variant: Variant } {
    const p = this.program;
    validateInputs(p, inputs, opts.finalStates);
    const dims = resolveDims(p, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])), opts.dims);
    const variant = variantOf(p, inputs, opts);
    return { sp: specializeFor(p, variant, dims, opts.dtype), dims, variant };
  }

  /**
   * The pieces a run goes in where a tensor exceeds what one binding of this
   * backend may span (runtime/pieces.ts), each with its inputs (views) and
   * options; undefined where the run fits whole. run() uses them; a bench
   * times them one by one.
   */
  pieces(inputs: Record<string, HostTensor>, opts: RunOptions = {}): RunPiece[] | undefined {
    return this.cut(inputs, opts)?.pieces;
  }

  /** pieces(), with the whole run's program and dims (where its outputs go). */
  private cut(inputs: Record<string, HostTensor>, opts: RunOptions): { pieces: RunPiece[]; sp: SpecializedProgram; dims: Dims } | undefined {
    const limit = Math.min(this.options.maxBindingBytes ?? Infinity, this.backend.limits.maxBindingBytes ?? Infinity);
    if (limit === Infinity) return undefined;
    const { sp, dims } = this.specializeRun(inputs, opts);
    const plan = planPieces(sp, dims, limit);
    if (!plan) return undefined;
    const byName = new Map(sp.used.map((t) => [t.name, t]));
    const pieces = plan.parts.map((part) => ({
      inputs: Object.fromEntries(Object.entries(inputs).map(([k, x]) => [k, byName.has(k) ? sliceTensor(byName.get(k)!, x, plan, part, dims) : x])),
      opts: { ...opts, dims: pieceDims(plan, { ...(opts.dims ?? {}), ...dims }, part) },
      plan,
      part,
    }));
    return { pieces, sp, dims };
  }

  /** Specialises for what is passed and compiles (cached); validates shapes. */
  async prepare(inputs: Record<string, HostTensor>, opts: RunOptions = {}): Promise<PreparedLaunch> {
    const p = this.program;
    const { sp, dims, variant } = this.specializeRun(inputs, opts);
    for (const t of [...sp.used, ...sp.written]) {
      const n = sizeOf(t, dims);
      if (n >= 2 ** 31) throw new Error(`${p.name}: tensor '${t.name}' has ${n} elements; kernels index with 32-bit integers (at most 2^31 - 1)`);
    }
    const sched = opts.schedule ?? this.tunedSchedule(sp, dims, opts.dtype) ?? defaultSchedule(sp);
    const key = [variantKey(variant), opts.dtype ?? '', scheduleKey({ ...sched, rows: sched.rows ?? 1, rowBlock: sched.rowBlock ?? 1, lanes: sched.lanes ?? 1, shuffle: sched.shuffle ?? 0 }), JSON.stringify(sp.staticDims)].join('|');
    let entry = this.kernels.get(key);
    if (!entry) {
      entry = (async () => {
        const info = (this.options.codegen ?? compileKernel)(sp, targetOf(this.backend.kind), sched, capsOf(this.backend.limits));
        // info.kernel is the first launch's (a codegen wrapper may have replaced it alone).
        return { info, kernels: await Promise.all(info.launches.map((l, k) => this.backend.compile(k === 0 ? info.kernel : l.kernel))) };
      })();
      this.kernels.set(key, entry);
      entry.catch(() => this.kernels.delete(key));
    }
    const { info, kernels } = await entry;
    const tensorSize = (name: string): number => sizeOf([...sp.used, ...sp.written].find((t) => t.name === name)!, dims);
    const launches = info.launches.map((l0, k): PreparedKernel => {
      const l = k === 0 ? { ...l0, kernel: info.kernel } : l0;
      return {
      kernel: kernels[k]!,
      grid: gridFor(workgroupsOf(l, dims), this.backend.limits.maxGridDim, info.launches.length > 1 ? `${p.name} (${l.kernel.entry})` : p.name),
      params: l.kernel.params.map((q) => dims[q.name] ?? packOffset(l.kernel.bindings, q, tensorSize)!),
      };
    });
    const scratch = info.scratch.map((x) => ({ name: x.name, bytes: 4 * scratchElements(x, dims) }));
    const first = launches[0]!;
    return { info, kernel: first.kernel, grid: first.grid, params: first.params, launches, scratch, program: sp, dims };
  }

  private tunedSchedule(sp: SpecializedProgram, dims: Dims, dtype: DType | undefined): Schedule | undefined {
    if (this.options.tuned === false) return undefined;
    return (this.options.tuned ?? defaultScheduleLookup())(this.backend, sp, dims, dtype);
  }

  /**
   * Runs once and returns every written tensor (outputs and asked final
   * states) as fp32 host data; in pieces where a tensor exceeds one binding
   * (pieces()), each piece's outputs written into the whole run's. The
   * pieces run one after another, one on the device at a time: launched
   * interleaved they took as long on the H100's Vulkan adapter (Dawn orders
   * dispatches that write storage buffers; RESULTS run 105) and needed every
   * piece resident at once.
   */
  async run(inputs: Record<string, HostTensor>, opts: RunOptions = {}): Promise<Record<string, HostTensor>> {
    const cut = this.cut(inputs, opts);
    if (!cut) return this.runWhole(inputs, opts);
    const { pieces, sp, dims } = cut;
    const out = Object.fromEntries(sp.written.map((t) => [t.name, { data: new Float32Array(sizeOf(t, dims)), shape: shapeOf(t, dims) }]));
    for (const pc of pieces) {
      const r = await this.runWhole(pc.inputs, pc.opts);
      for (const t of sp.written) out[t.name]!.data.set(r[t.name]!.data, pieceOffset(t, pc.plan, pc.part, dims));
    }
    return out;
  }

  private async runWhole(inputs: Record<string, HostTensor>, opts: RunOptions): Promise<Record<string, HostTensor>> {
    const prep = await this.prepare(inputs, opts);
    // Where the device may end a kernel early (llvmpipe's loop limiter), outputs start as a marker
    // no arithmetic produces, and any marker left after the run is an error rather than an answer.
    // (Poisoned runs, the checks, see unwritten outputs as NaN and fail already.)
    const guard = this.backend.limits.loopIterationLimit !== undefined && !opts.poison;
    const bufs = this.upload(prep, inputs, opts.poison ? 'nan' : guard ? 'marker' : 'none');
    try {
      prep.launches.forEach((l, k) => this.backend.launch(l.kernel, l.grid, bufs.lists[k]!, l.params));
      await this.backend.sync();
      const out: Record<string, HostTensor> = {};
      for (const t of prep.program.written) {
        const bytes = await this.backend.read(bufs.byName.get(t.name)!);
        out[t.name] = { data: fromDeviceBytes(bytes, t.dtype, sizeOf(t, prep.dims)), shape: shapeOf(t, prep.dims) };
        if (guard) this.expectWritten(prep, t.name, out[t.name]!.data);
      }
      return out;
    } finally {
      for (const b of bufs.byName.values()) this.backend.destroyBuffer(b);
    }
  }

  private expectWritten(prep: PreparedLaunch, name: string, data: Float32Array): void {
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
    let left = 0;
    for (const w of words) if (w === UNWRITTEN) left++;
    if (left === 0) return;
    throw new Error(`${prep.info.kernel.entry} on ${this.backend.deviceName}: ${left} of ${data.length} elements of '${name}' were never written. `
      + `This device ends a kernel invocation after ${this.backend.limits.loopIterationLimit} loop iterations over all its loops (Mesa llvmpipe's loop limiter), `
      + 'and this run needs more: give it more threads per workgroup (the schedule\'s rows or threads), fewer steps per call '
      + '(chain calls through final and initial states), or a GPU adapter.');
  }

  /**
   * Device buffers in each kernel's binding order (inputs uploaded, outputs
   * allocated, scratch allocated); destroy every one of byName when done.
   * `fill` sets the outputs first: 'nan' (checks), 'marker' (see run), 'none'.
   * `pool` (timing, fill 'none'): buffers earlier uploads made, by tensor or
   * packing and by scratch name and size; taken from it where there, added
   * where made, so the runs of several schedules share one copy of the
   * tensors (the long Mamba-1 shape's are 17 GB a copy) and the pool's owner
   * destroys them, not the caller.
   */
  upload(prep: PreparedLaunch, inputs: Record<string, HostTensor>, fill: 'nan' | 'marker' | 'none', pool?: Map<string, DeviceBuffer>): RunBuffers {
    if (pool && fill !== 'none') throw new Error('internal: pooled buffers are for timing (fill none)');
    const byName = new Map<string, DeviceBuffer>();
    const sp = prep.program;
    /** The buffer `poolKey` names in the pool, else a new one: of `bytes`, or (given none) holding `data`. */
    const buffer = (poolKey: string, bytes: number | undefined, data?: () => Uint8Array): DeviceBuffer => {
      const have = pool?.get(poolKey);
      if (have) return have;
      const init = data?.();
      const buf = this.backend.createBuffer(bytes ?? init!.byteLength);
      if (init) this.backend.write(buf, init);
      pool?.set(poolKey, buf);
      return buf;
    };
    // Tensors sharing a packed binding are uploaded once per packing, end to end (runtime/packed-bindings.ts).
    const bindings = prep.info.launches.map((l, k) => (k === 0 ? prep.info.kernel : l.kernel).bindings);
    const packKey = (b: { name: string; pack?: string[] }): string => (b.pack ? `${b.name}|${b.pack.join(',')}` : b.name);
    const packed = new Set(bindings.flat().flatMap((b) => b.pack ?? []));
    // A tensor one launch packs may be bound alone by another (the split's summary binds fewer buffers than its outputs kernel).
    const alone = new Set(bindings.flat().filter((b) => !b.pack).map((b) => b.name));
    for (const b of bindings.flat()) {
      if (!b.pack || byName.has(packKey(b))) continue;
      const bytes = (): Uint8Array => toDeviceBytes(packData(b, (m) => inputs[m]!.data), 'f32');
      byName.set(packKey(b), buffer(`pack:${packKey(b)}`, undefined, bytes));
    }
    // Scratch: written by one launch before another reads it; never uploaded, never read back.
    for (const x of prep.scratch) byName.set(x.name, buffer(`scratch:${x.name}:${x.bytes}`, x.bytes));
    for (const t of sp.used) {
      if (packed.has(t.name) && !alone.has(t.name)) continue;
      byName.set(t.name, buffer(`in:${t.name}:${t.dtype}`, undefined, () => toDeviceBytes(inputs[t.name]!.data, t.dtype)));
    }
    for (const t of sp.written) {
      const n = sizeOf(t, prep.dims);
      const buf = buffer(`out:${t.name}:${t.dtype}`, n * elemBytes(t.dtype));
      if (fill === 'nan') this.backend.write(buf, toDeviceBytes(new Float32Array(n).fill(NaN), t.dtype));
      else if (fill === 'marker' && t.dtype === 'f32') this.backend.write(buf, new Uint8Array(new Uint32Array(n).fill(UNWRITTEN).buffer));
      byName.set(t.name, buf);
    }
    const lists = bindings.map((bs) => bs.map((b) => {
      const buf = byName.get(packKey(b));
      if (!buf) throw new Error(`internal: kernel binding '${b.name}' has no buffer`);
      return buf;
    }));
    return { list: lists[0]!, lists, byName };
  }
}

/** A NaN whose payload arithmetic never produces (results carry the canonical NaN or their operand's). */
const UNWRITTEN = 0x7fa5f00d;

/** Specialises and applies the run's static dims and dtype. */
export function specializeFor(p: Program, variant: Variant, dims: Dims, dtype?: DType): SpecializedProgram {
  const sp = specialize(p, variant);
  const staticDims: Record<string, number> = {};
  for (const d of Object.keys(p.staticDims)) staticDims[d] = dims[d]!;
  const retype = (t: TensorIR): TensorIR => (dtype && (t.role === 'input' || t.role === 'output') ? { ...t, dtype } : t);
  return { ...sp, staticDims, used: sp.used.map(retype), written: sp.written.map(retype) };
}

/** Workgroups of one launch at these dims. */
export function workgroupsOf(l: Pick<KernelLaunchInfo, 'gridFromDims' | 'rowsPerGroup' | 'gridTiles'>, dims: Dims): number {
  const rows = Math.ceil(l.gridFromDims.reduce((a, d) => a * dims[d]!, 1) / l.rowsPerGroup);
  return l.gridTiles.reduce((a, t) => a * Math.ceil(dims[t.dim]! / t.size), rows);
}

/** Elements of a scratch buffer at these dims. */
export function scratchElements(x: ScratchSpec, dims: Dims): number {
  const sized = x.multiple && dims[x.multiple.dim]! % dims[x.multiple.of]! !== 0 ? x.multiple.otherwise : x.dims;
  const n = sized.reduce((a, d) => a * dims[d]!, x.times);
  return (x.tiles ?? []).reduce((a, t) => a * Math.ceil(dims[t.dim]! / t.size), n);
}

/** Spreads a count of workgroups over x and y within the device's grid limits. */
export function gridFor(groups: number, max: [number, number, number], what: string): Grid {
  const x = Math.min(groups, max[0]);
  const y = Math.ceil(groups / x);
  if (y > max[1]) throw new Error(`${what}: ${groups} workgroups exceed the device grid (${max[0]} × ${max[1]})`);
  return [x, y, 1];
}

export { fmtDims };
