// Timing a candidate at the tuning shape, honestly: inputs of realistic
// magnitude, several buffer sets rotated from launch to launch so that no
// launch finds its inputs in a cache the previous one warmed, device
// timestamps / events through Backend.timeLaunches (which also runs warm-up
// launches), several repetitions, the median.

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { Backend, DeviceBuffer } from '../backend.js';
import { elemBytes } from '../dtype.js';
import type { Schedule } from '../../codegen/compile.js';
import type { HostTensor, PreparedLaunch, ProgramRunner, RunBuffers, RunOptions, RunPiece } from '../program-runner.js';
import { rng, sample } from '../random.js';
import { shapeOf, sizeOf, type Dims } from '../shapes.js';

/** Distinct random values drawn per tensor; the rest of the tensor repeats them. */
const POOL = 1 << 16;

/**
 * Inputs for timing: every tensor the kernel reads, drawn from its declared
 * distribution but tiled from a small pool. A kernel's speed does not depend
 * on which values it reads (no data-dependent control flow), only on their
 * range (denormals, overflow), and drawing 10^8 normals would cost seconds of
 * the tuning budget.
 */
export function timingInputs(sp: SpecializedProgram, dims: Dims, seed: number): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  sp.used.forEach((t, k) => {
    const n = sizeOf(t, dims);
    const pool = sample(t.dist, Math.min(n, POOL), rng(seed + 7919 * k));
    const data = new Float32Array(n);
    data.set(pool);
    for (let filled = pool.length; filled < n; filled *= 2) data.copyWithin(filled, 0, Math.min(filled, n - filled));
    out[t.name] = { data, shape: shapeOf(t, dims) };
  });
  return out;
}

/** Together the rotated sets should exceed any last-level cache we know of (H100 L2: 50 MB; MI300X: 256 MB). */
const ROTATE_BYTES = 512 * 1024 * 1024;
const MIN_SETS = 2;
const MAX_SETS = 8;

export function medianOf(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Bytes a launch must move at the least: every tensor it reads once, every tensor it writes once. */
export function launchBytes(prep: PreparedLaunch): number {
  const sp = prep.program;
  return [...sp.used, ...sp.written].reduce((a, t) => a + sizeOf(t, prep.dims) * elemBytes(t.dtype), 0);
}

/**
 * Buffer sets uploaded once and shared by every candidate whose bindings are the same (they are
 * schedule-independent); candidates whose bindings or scratch differ still share the tensors' buffers
 * (pool i holds set i's), so each tensor is on the device once per set, not once per kind of candidate.
 */
export class RotatingBuffers {
  private readonly sets = new Map<string, RunBuffers[]>();
  private readonly pools: Map<string, DeviceBuffer>[] = [];

  constructor(
    private readonly runner: ProgramRunner,
    private readonly inputs: Record<string, HostTensor>,
  ) {}

  /** How many sets a launch with this footprint rotates through. */
  static count(prep: PreparedLaunch): number {
    return Math.min(MAX_SETS, Math.max(MIN_SETS, Math.ceil(ROTATE_BYTES / Math.max(1, launchBytes(prep)))));
  }

  /** The first launch's buffer sets (a single-launch kernel's). */
  for(prep: PreparedLaunch): DeviceBuffer[][] {
    return this.runs(prep).map((r) => r.list);
  }

  /** Whole runs' buffer sets: every launch's bindings, scratch included (sized for this prep's schedule). */
  runs(prep: PreparedLaunch): RunBuffers[] {
    const key = [
      ...prep.info.launches.map((l) => l.kernel.bindings.map((b) => `${b.name}:${b.elem}:${b.access}${b.pack ? `[${b.pack.join(',')}]` : ''}`).join(',')),
      ...prep.scratch.map((x) => `${x.name}:${x.bytes}`),
    ].join('|');
    let s = this.sets.get(key);
    if (!s) {
      s = [];
      for (let i = 0; i < RotatingBuffers.count(prep); i++) s.push(this.runner.upload(prep, this.inputs, 'none', (this.pools[i] ??= new Map())));
      this.sets.set(key, s);
    }
    return s;
  }

  destroy(backend: Backend): void {
    for (const pool of this.pools) for (const b of pool.values()) backend.destroyBuffer(b);
    this.pools.length = 0;
    this.sets.clear();
  }
}

/**
 * GPU milliseconds of `reps` runs, and of each launch in them. A run of one
 * launch is timed as Backend.timeLaunches times it. A run of several is
 * timed launch by launch (each with its own warm-up, over the same rotated
 * sets) and rep r's time is the sum of every launch's rep r: that leaves out
 * the gaps between launches and any reuse of one launch's writes in L2 by
 * the next, so it is an estimate of the back-to-back time, not a measurement.
 */
export async function timeRun(backend: Backend, prep: PreparedLaunch, sets: readonly RunBuffers[], reps: number): Promise<{ ms: number[]; perLaunch: number[][] }> {
  const perLaunch: number[][] = [];
  for (const [k, l] of prep.launches.entries()) perLaunch.push(await backend.timeLaunches(l.kernel, l.grid, sets.map((s) => s.lists[k]!), l.params, reps));
  return { ms: perLaunch[0]!.map((_, r) => perLaunch.reduce((a, t) => a + t[r]!, 0)), perLaunch };
}

/**
 * Times whole runs of a program at one shape, schedule after schedule, in
 * pieces where a tensor exceeds one binding (ProgramRunner.pieces: WebGPU
 * at Mamba-1's long shape): each piece has its own rotated buffer sets,
 * uploaded once and shared by every schedule, and a run's time is the sum
 * of its pieces' (they run one after another).
 */
export class RunTimer {
  /** The pieces, where the run is cut (undefined: whole). */
  readonly pieces: RunPiece[] | undefined;
  private readonly parts: { inputs: Record<string, HostTensor>; opts: RunOptions; buffers: RotatingBuffers }[];

  constructor(private readonly runner: ProgramRunner, inputs: Record<string, HostTensor>, opts: RunOptions) {
    this.pieces = runner.pieces(inputs, opts);
    this.parts = (this.pieces ?? [{ inputs, opts }]).map((pc) => ({ inputs: pc.inputs, opts: pc.opts, buffers: new RotatingBuffers(runner, pc.inputs) }));
  }

  /** Each piece's run prepared for a schedule (one for an uncut run). */
  prepare(schedule: Schedule): Promise<PreparedLaunch[]> {
    return Promise.all(this.parts.map((x) => this.runner.prepare(x.inputs, { ...x.opts, schedule })));
  }

  /** GPU ms of `reps` runs (per rep, the sum over pieces and launches), and every launch's times, piece after piece. */
  async time(backend: Backend, preps: readonly PreparedLaunch[], reps: number): Promise<{ ms: number[]; perLaunch: number[][] }> {
    const ms = new Array<number>(reps).fill(0), perLaunch: number[][] = [];
    for (const [k, prep] of preps.entries()) {
      const r = await timeRun(backend, prep, this.parts[k]!.buffers.runs(prep), reps);
      r.ms.forEach((t, i) => (ms[i]! += t));
      perLaunch.push(...r.perLaunch);
    }
    return { ms, perLaunch };
  }

  destroy(backend: Backend): void {
    for (const x of this.parts) x.buffers.destroy(backend);
  }
}
