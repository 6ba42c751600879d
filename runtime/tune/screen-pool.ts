// The screen (search.ts) spread over worker threads: rendering a kernel is
// ~20 ms of one core, and Mamba-1's space has 6 715–13 790 distinct kernels,
// minutes on one core (RESULTS run 96: over 500 s on the H100 host before
// the tuner measured anything). The walk over the space stays one sequential
// pass on this thread (its order decides representatives and same-kernel
// links); only the renders it asks for are done ahead, in parallel, so the
// result is the serial screen's exactly.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compileKernel } from '../../codegen/compile.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import type { Backend, DeviceLimits } from '../backend.js';
import type { Dims } from '../shapes.js';
import { screen, screenWith, type Candidate, type RenderVerdict } from './search.js';
import { scheduleKey, type Knobs, type ScheduleSpace } from './space.js';

export interface ScreenPoolOptions {
  /** Worker threads (default: the CPUs less one, at most 16; SCANFORGE_SCREEN_WORKERS overrides; < 2 screens here). */
  workers?: number;
  /** Fewer renders than this are done on this thread (starting a worker costs seconds). Default 200. */
  minRenders?: number;
}

/** The compiler's screen (codegen = compileKernel), its renders done by worker threads where there are many. */
export async function screenInParallel(sp: SpecializedProgram, space: ScheduleSpace, kind: Backend['kind'], limits: DeviceLimits, dims: Dims, o: ScreenPoolOptions = {}): Promise<Candidate[]> {
  const workers = o.workers ?? defaultWorkers();
  // Which points the walk renders does not depend on what the renders say: collect them with a stand-in verdict.
  const wanted: Knobs[] = [];
  screenWith(sp, space, dims, compileKernel, (point) => {
    wanted.push(point);
    return { rejected: false, reasons: [], sig: scheduleKey(point) };
  });
  if (workers < 2 || wanted.length < (o.minRenders ?? 200)) return screen(sp, space, kind, limits, dims);
  const verdicts = await renderInWorkers(sp, wanted, kind, limits, dims, Math.min(workers, wanted.length));
  return screenWith(sp, space, dims, compileKernel, (point) => verdicts.get(scheduleKey(point))!);
}

function defaultWorkers(): number {
  const env = process.env.SCANFORGE_SCREEN_WORKERS;
  if (env !== undefined && env !== '') return Number(env);
  return Math.min(16, availableParallelism() - 1);
}

/** Verdicts of `points` by scheduleKey, worker k rendering points k, k + n, k + 2n, ... (neighbours cost alike). */
async function renderInWorkers(sp: SpecializedProgram, points: Knobs[], kind: Backend['kind'], limits: DeviceLimits, dims: Dims, n: number): Promise<Map<string, RenderVerdict>> {
  // The program goes by structured clone: its `requires` checks are functions, and rendering does not read them.
  const program = { ...sp, requires: [] };
  const shares = Array.from({ length: n }, (_, k) => points.filter((_, j) => j % n === k));
  const results = await Promise.all(shares.map((share) => new Promise<RenderVerdict[]>((resolve, reject) => {
    const w = new Worker(new URL('./screen-worker.js', import.meta.url), { workerData: { sp: program, points: share, kind, limits, dims } });
    w.once('message', (v: RenderVerdict[]) => resolve(v));
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`screen worker exited with code ${code}`))));
  })));
  const out = new Map<string, RenderVerdict>();
  shares.forEach((share, k) => share.forEach((p, j) => out.set(scheduleKey(p), results[k]![j]!)));
  return out;
}
