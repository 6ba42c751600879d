// Shared pieces of the benchmarks: the memory roofline measured in the same
// process (a plain copy kernel on each backend), medians, and table output.

import type { Backend, RenderedKernel } from '../runtime/backend.js';
import { gridFor } from '../runtime/program-runner.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
  const ms = median(await backend.timeLaunches(ck, grid, sets, [n4], reps));
  for (const s of sets) for (const b of s) backend.destroyBuffer(b);
  return (2 * bytes) / (ms * 1e-3);
}

export function table(rows: (string | number)[][]): string {
  const str = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toPrecision(4)) : c)));
  const w = str[0]!.map((_, k) => Math.max(...str.map((r) => r[k]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, k) => c.padEnd(w[k]!)).join(' | ')} |`;
  return [line(str[0]!), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...str.slice(1).map(line)].join('\n');
}

/** A schedule written as t32i4 / t32i4r4 / t32i8u2 (threads, items, rows, unroll). */
export interface BenchSchedule { threads: number; items: number; rows: number; unroll?: number }

export function parseSchedule(s: string): BenchSchedule {
  const m = /^t(\d+)i(\d+)(?:r(\d+))?(?:u(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`schedule '${s}' is not of the form t32i4[r4][u2]`);
  return { threads: Number(m[1]), items: Number(m[2]), rows: Number(m[3] ?? 1), ...(m[4] ? { unroll: Number(m[4]) } : {}) };
}

export function scheduleLabel(s: BenchSchedule): string {
  return `t${s.threads}i${s.items}r${s.rows}${s.unroll !== undefined ? `u${s.unroll}` : ''}`;
}

/** `--name=a,b,c` from the command line, or undefined. */
export function listArg(name: string): string[] | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3).split(',').filter((x) => x.length > 0) : undefined;
}
