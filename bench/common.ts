// Shared pieces of the benchmarks and device checks: opening each backend
// present, the memory roofline measured in the same process (a plain copy
// kernel on each backend), timing a prepared kernel the way the tuner does
// (rotating buffer sets, median), the PyTorch baseline, and table output.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DType } from '../dsl/decl.js';
import type { Backend, RenderedKernel } from '../runtime/backend.js';
import { openBackend } from '../runtime/open-backend.js';
import { gridFor, type PreparedLaunch } from '../runtime/program-runner.js';
import { medianOf, timeRun, type RotatingBuffers } from '../runtime/tune/measure.js';

export { medianOf as median, launchBytes, RotatingBuffers } from '../runtime/tune/measure.js';

export type BackendName = 'cuda' | 'webgpu';

/** The first line of an error's message. */
export function errorLine(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/**
 * Runs `body` on each backend in turn, opened for it and destroyed after; one
 * that does not open is reported and skipped, and so is one left out by
 * --backends=cuda,webgpu on the command line.
 */
export async function forEachBackend<T extends { name: BackendName }>(entries: readonly T[], body: (backend: Backend, entry: T) => Promise<void>): Promise<void> {
  const only = listArg('backends');
  for (const entry of entries.filter((e) => !only || only.includes(e.name))) {
    let backend: Backend;
    try {
      backend = await openBackend(entry.name);
    } catch (e) {
      console.log(`${entry.name}: unavailable (${errorLine(e)})`);
      continue;
    }
    try {
      await body(backend, entry);
    } finally {
      backend.destroy();
    }
  }
}

const warmupShown = new WeakSet<Backend>();

/**
 * Median GPU ms of `reps` launches of a prepared kernel over rotating buffer
 * sets (runtime/tune/measure.ts: as the tuner times it). The first kernel
 * timed on a backend also prints its warm-up launches (runtime/warmup.ts):
 * where the first kernel of a process reads slow, they show whether the
 * warm-up ran until the launches settled.
 */
export async function medianMs(backend: Backend, prep: PreparedLaunch, buffers: RotatingBuffers, reps: number): Promise<number> {
  return (await medianRunMs(backend, prep, buffers, reps)).ms;
}

/** The median run's milliseconds, and each launch's median (one entry for a one-launch kernel). */
export async function medianRunMs(backend: Backend, prep: PreparedLaunch, buffers: RotatingBuffers, reps: number): Promise<{ ms: number; perLaunch: number[] }> {
  return medianTimes(backend, await timeRun(backend, prep, buffers.runs(prep), reps));
}

/** The medians of timed runs (timeRun, RunTimer.time): the run's and each launch's; the backend's first warm-up printed once. */
export function medianTimes(backend: Backend, run: { ms: number[]; perLaunch: number[][] }): { ms: number; perLaunch: number[] } {
  const ms = medianOf(run.ms);
  const warm = backend.lastWarmupMs;
  if (warm?.length && !warmupShown.has(backend)) {
    warmupShown.add(backend);
    const total = warm.slice(1).reduce((a, b) => a + b, 0);
    console.log(`  (warm-up of the first kernel timed: ${warm.length} launches, ${total.toFixed(1)} ms after the first; ms: ${warm.map((t) => t.toPrecision(3)).join(' ')})`);
  }
  return { ms, perLaunch: run.perLaunch.map(medianOf) };
}

/** The PyTorch baseline the bench's _torch.py wrote to $TORCH_BASELINE, or {}. */
export function torchBaseline(): Record<string, number> {
  const file = process.env.TORCH_BASELINE;
  return file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : {};
}

/** The fastest row of each key. */
export function fastestBy<R extends { ms: number }>(rows: readonly R[], key: (r: R) => string): Map<string, R> {
  const best = new Map<string, R>();
  for (const r of rows) {
    const k = key(r);
    if (!best.has(k) || best.get(k)!.ms > r.ms) best.set(k, r);
  }
  return best;
}

/** `cuda 3.020 TB/s, webgpu 2.950 TB/s`. */
export function formatRooflines(rooflines: Record<string, number>): string {
  return Object.entries(rooflines).map(([k, v]) => `${k} ${(v / 1e12).toFixed(3)} TB/s`).join(', ');
}

/** Writes `data` as JSON to $OUT/`file` when OUT is set. */
export function writeOut(file: string, data: unknown): void {
  if (process.env.OUT) writeFileSync(path.join(process.env.OUT, file), JSON.stringify(data, null, 2));
}

const COPY_WGSL = `@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
struct Params { n4: u32 }
@group(0) @binding(2) var<uniform> P: Params;
@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i < P.n4) { dst[i] = src[i]; }
}
`;

const COPY_CUDA = `extern "C" __global__ void __launch_bounds__(256) copy(const float4* __restrict__ src, float4* __restrict__ dst, unsigned n4) {
  unsigned i = (blockIdx.x + blockIdx.y * gridDim.x) * 256u + threadIdx.x;
  if (i < n4) dst[i] = src[i];
}
`;

/** Measured copy bandwidth in bytes/s (bytes read + bytes written), median of `reps`. */
export async function copyBandwidth(backend: Backend, bytes: number, reps = 30): Promise<number> {
  const n4 = bytes / 16;
  const k: RenderedKernel = {
    target: backend.kind === 'cuda' ? 'cuda' : 'wgsl',
    entry: 'copy',
    source: backend.kind === 'cuda' ? COPY_CUDA : COPY_WGSL,
    bindings: [{ name: 'src', access: 'read', elem: 'f32' }, { name: 'dst', access: 'read_write', elem: 'f32' }],
    params: [{ name: 'n4', type: 'u32' }],
    workgroupSize: 256,
    sharedBytes: 0,
  };
  const ck = await backend.compile(k);
  const sets = [0, 1].map(() => [backend.createBuffer(bytes), backend.createBuffer(bytes)]);
  const fill = new Float32Array(bytes / 4);
  for (let i = 0; i < fill.length; i++) fill[i] = (i % 1000) * 0.001;
  for (const s of sets) backend.write(s[0]!, fill);
  const grid = gridFor(Math.ceil(n4 / 256), backend.limits.maxGridDim, 'copy');
  const ms = medianOf(await backend.timeLaunches(ck, grid, sets, [n4], reps));
  for (const s of sets) for (const b of s) backend.destroyBuffer(b);
  return (2 * bytes) / (ms * 1e-3);
}

export function table(rows: (string | number)[][]): string {
  const str = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toPrecision(4)) : c)));
  const w = str[0]!.map((_, k) => Math.max(...str.map((r) => r[k]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, k) => c.padEnd(w[k]!)).join(' | ')} |`;
  return [line(str[0]!), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...str.slice(1).map(line)].join('\n');
}

/**
 * A schedule written as t32i4 / t32i4r4 / t32i4k4 / t32i8u2 (threads, items, rows, rowBlock, unroll; in that order),
 * or l16i2r16k2 / l2i8r64s / l4i4r32k2m2f1axs (the state-lanes form: lanes, items, rows, rowBlock, tileChunks, prefetch; a: stage 1; x: scatter 1; s: shuffle 1),
 * with g<steps> after them for the sequence split into segments (l4i4r16k2m4axsg32768).
 */
export interface BenchSchedule { threads: number; items: number; rows: number; rowBlock?: number; unroll?: number; lanes?: number; shuffle?: number; tileChunks?: number; prefetch?: number; scatter?: number; stage?: number; segment?: number }

export function parseSchedule(s: string): BenchSchedule {
  const l = /^l(\d+)i(\d+)(?:r(\d+))?(?:k(\d+))?(?:m(\d+))?(?:f(\d+))?(a?)(x?)(s?)(?:g(\d+))?$/.exec(s.trim());
  if (l) return { threads: 1, lanes: Number(l[1]), items: Number(l[2]), rows: Number(l[3] ?? 1), ...(l[4] ? { rowBlock: Number(l[4]) } : {}), ...(l[5] ? { tileChunks: Number(l[5]) } : {}), ...(l[6] ? { prefetch: Number(l[6]) } : {}), ...(l[7] ? { stage: 1 } : {}), ...(l[8] ? { scatter: 1 } : {}), ...(l[9] ? { shuffle: 1 } : {}), ...(l[10] ? { segment: Number(l[10]) } : {}) };
  const m = /^t(\d+)i(\d+)(?:r(\d+))?(?:k(\d+))?(?:u(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`schedule '${s}' is not of the form t32i4[r4][k2][u2] or l16i2[r16][k2][m2][f1][a][x][s][g4096]`);
  return { threads: Number(m[1]), items: Number(m[2]), rows: Number(m[3] ?? 1), ...(m[4] ? { rowBlock: Number(m[4]) } : {}), ...(m[5] ? { unroll: Number(m[5]) } : {}) };
}

export function scheduleLabel(s: BenchSchedule): string {
  if ((s.lanes ?? 1) > 1 || s.shuffle) return `l${s.lanes ?? 1}i${s.items}r${s.rows}${(s.rowBlock ?? 1) > 1 ? `k${s.rowBlock}` : ''}${(s.tileChunks ?? 1) > 1 ? `m${s.tileChunks}` : ''}${(s.prefetch ?? 0) > 0 ? `f${s.prefetch}` : ''}${s.stage ? 'a' : ''}${s.scatter ? 'x' : ''}${s.shuffle ? 's' : ''}${s.segment ? `g${s.segment}` : ''}`;
  return `t${s.threads}i${s.items}r${s.rows}${(s.rowBlock ?? 1) > 1 ? `k${s.rowBlock}` : ''}${s.unroll !== undefined ? `u${s.unroll}` : ''}`;
}

/** `--name=a,b,c` from the command line, or undefined. */
export function listArg(name: string): string[] | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3).split(',').filter((x) => x.length > 0) : undefined;
}

/** The backends and dtypes a run takes: `--backends=cuda` and `--dtypes=f32,bf16` narrow the list given. */
export function narrowedBackends(all: { name: BackendName; dtypes: DType[] }[]): { name: BackendName; dtypes: DType[] }[] {
  const onlyBackends = listArg('backends'), onlyDtypes = listArg('dtypes');
  return all
    .filter((b) => !onlyBackends || onlyBackends.includes(b.name))
    .map((b) => ({ ...b, dtypes: b.dtypes.filter((d) => !onlyDtypes || onlyDtypes.includes(d)) }));
}
