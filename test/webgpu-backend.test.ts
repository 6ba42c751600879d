// The WebGPU backend end to end on whatever adapter this machine has (the
// CPU through llvmpipe on CI): compile, move data, launch, time, and fail
// loudly on bad input.

import { saxpyKernel } from '../bench/saxpy.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedKernel } from '../runtime/backend.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';
import { WARMUP } from '../runtime/warmup.ts';

const SAXPY_WGSL = `struct Params { n: u32, a: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn saxpy(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) { return; }
  out[i] = params.a * x[i] + y[i];
}
`;

const saxpy: RenderedKernel = saxpyKernel('wgsl', SAXPY_WGSL, 64);

function randomF32(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

describe('WebGPU backend', () => {
  let gpu: WebGpuBackend;

  beforeAll(async () => {
    gpu = await openWebGpu();
    console.log(`WebGPU device: ${gpu.deviceName}; timing: ${gpu.timingSource}; features: ${gpu.adapter.features.join(', ') || 'none'}`);
    console.log(`limits: ${JSON.stringify(gpu.limits)}`);
  }, 60_000);

  afterAll(() => gpu?.destroy());

  it('reports usable limits and a stable identity', () => {
    expect(gpu.kind).toBe('webgpu');
    expect(gpu.limits.maxWorkgroupStorageBytes).toBeGreaterThanOrEqual(16384);
    expect(gpu.limits.maxThreadsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(gpu.limits.maxStorageBuffers).toBeGreaterThanOrEqual(8);
    expect(gpu.limits.maxGridDim[0]).toBeGreaterThanOrEqual(65535);
    expect(gpu.fingerprint).toContain(gpu.adapter.backend);
    expect(gpu.deviceName).toMatch(/\((\w+), (gpu|cpu)\)$/);
  });

  it('computes saxpy over n = 1000 (not a multiple of the workgroup size)', async () => {
    const n = 1000;
    const a = 1.75;
    const x = randomF32(n);
    const y = randomF32(n);
    const bx = gpu.createBuffer(n * 4);
    const by = gpu.createBuffer(n * 4);
    const bout = gpu.createBuffer(n * 4);
    gpu.write(bx, x);
    gpu.write(by, y);
    // NaN everywhere, so an element the kernel skipped cannot pass by luck.
    gpu.write(bout, new Float32Array(n).fill(NaN));

    const k = await gpu.compile(saxpy);
    gpu.launch(k, [Math.ceil(n / 64), 1, 1], [bx, by, bout], [n, a]);
    await gpu.sync();
    const got = new Float32Array(await gpu.read(bout));

    expect(got.length).toBe(n);
    for (let i = 0; i < n; i++) {
      const want = Math.fround(Math.fround(a) * x[i]! + y[i]!);
      expect(Math.abs(got[i]! - want), `out[${i}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
    }

    // Recompiling the same source reuses the cached pipeline.
    const before = gpu.compiledPipelines;
    await gpu.compile({ ...saxpy });
    expect(gpu.compiledPipelines).toBe(before);

    for (const b of [bx, by, bout]) gpu.destroyBuffer(b);
  }, 60_000);

  it('throws a WGSL syntax error with the offending source line', async () => {
    const badLine = '  let bad = 1 +* ;';
    const source = SAXPY_WGSL.replace('  let i = gid.x;', `  let i = gid.x;\n${badLine}`);
    const err = await gpu.compile({ ...saxpy, source }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain(badLine);
    expect(message).toMatch(/line 11/);
    // The failure must not leave an error behind for the next sync().
    await gpu.sync();
  }, 60_000);

  it('rejects launches with the wrong number of buffers or too large a grid', async () => {
    const k = await gpu.compile(saxpy);
    const b = gpu.createBuffer(64 * 4);
    expect(() => gpu.launch(k, [1, 1, 1], [b, b], [64, 1])).toThrow(/saxpy.*3 buffers/);
    const [x, y] = [gpu.createBuffer(256), gpu.createBuffer(256)];
    expect(() => gpu.launch(k, [gpu.limits.maxGridDim[0] + 1, 1, 1], [x, y, b], [64, 1])).toThrow(/saxpy.*grid x/);
    expect(() => gpu.launch(k, [1, 1, 1], [x, y, b], [64])).toThrow(/saxpy.*2 params/);
    await gpu.sync();
    for (const buf of [b, x, y]) gpu.destroyBuffer(buf);
  }, 60_000);

  it('times launches', async () => {
    const n = 1 << 16;
    const k = await gpu.compile(saxpy);
    const sets = [0, 1].map(() => {
      const set = [gpu.createBuffer(n * 4), gpu.createBuffer(n * 4), gpu.createBuffer(n * 4)];
      gpu.write(set[0]!, randomF32(n));
      gpu.write(set[1]!, randomF32(n));
      return set;
    });
    const reps = 5;
    const ms = await gpu.timeLaunches(k, [n / 64, 1, 1], sets, [n, 0.5], reps);
    console.log(`saxpy n=${n}: ${ms.map((t) => t.toFixed(3)).join(', ')} ms (${gpu.timingSource})`);
    expect(ms).toHaveLength(reps);
    for (const t of ms) {
      expect(Number.isFinite(t)).toBe(true);
      expect(t).toBeGreaterThan(0);
    }
    // The warm-up (runtime/warmup.ts) touched every set and ran for WARMUP.minMs after its first launch, or up to its launch cap.
    const warm = gpu.lastWarmupMs;
    expect(warm.length).toBeGreaterThanOrEqual(sets.length);
    expect(warm.slice(1).reduce((a, b) => a + b, 0) >= WARMUP.minMs || warm.length === WARMUP.maxLaunches, warm.join(' ')).toBe(true);
    for (const set of sets) for (const b of set) gpu.destroyBuffer(b);
  }, 60_000);
});
