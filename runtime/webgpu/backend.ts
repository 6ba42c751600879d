// The WebGPU implementation of Backend. It owns one GPUDevice and ties the
// pieces together: buffers (buffers.ts), compilation (compile.ts), bind
// groups (bind-groups.ts), launch batching (batch.ts), timing (timing.ts) and
// error reporting (errors.ts). Use openWebGpu() (adapter.ts) to get one.

import type { Backend, CompiledKernel, DeviceBuffer, DeviceLimits, Grid, RenderedKernel } from '../backend.js';
import { LaunchBatcher } from './batch.js';
import { BindGroupCache } from './bind-groups.js';
import { WebGpuBuffer, readFromBuffer, writeToBuffer } from './buffers.js';
import { PipelineCache, type WebGpuKernel } from './compile.js';
import { ErrorTracker, WebGpuError } from './errors.js';
import { packParams } from './params.js';
import { timeWithTimestamps, timeWithWallClock } from './timing.js';
import { AFTER_IDLE, IDLE_MS, WARMUP, warmupLaunches } from '../warmup.js';

/** What was found when the device was opened (see adapter.ts). */
export interface WebGpuAdapterSummary {
  /** Dawn backend the adapter came from: 'vulkan', 'metal', 'd3d12', 'opengles', ... */
  readonly backend: string;
  /** 'cpu' for software rasterizers (llvmpipe, SwiftShader, lavapipe). */
  readonly adapterKind: 'gpu' | 'cpu';
  readonly featureLevel: 'core' | 'compatibility';
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** Features enabled on the device. */
  readonly features: readonly string[];
}

export interface WebGpuBackendInit {
  /** The object returned by Dawn's create(): it must outlive the device. */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly deviceName: string;
  readonly fingerprint: string;
  readonly limits: DeviceLimits;
  readonly adapter: WebGpuAdapterSummary;
}

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly deviceName: string;
  readonly fingerprint: string;
  readonly limits: DeviceLimits;
  readonly adapter: WebGpuAdapterSummary;
  /** How timeLaunches() measures: device timestamps when 'timestamp-query' exists. */
  readonly timingSource: 'timestamp' | 'wall-clock';
  /** Milliseconds of each warm-up launch of the last timeLaunches() (see ../warmup.ts). */
  lastWarmupMs: readonly number[] = [];

  private gpu: GPU | null;
  /** When the last timeLaunches() finished (performance.now()): after a pause the warm-up is longer (AFTER_IDLE). */
  private lastTimedAt = -Infinity;
  private readonly device: GPUDevice;
  private readonly errors: ErrorTracker;
  private readonly pipelines: PipelineCache;
  private readonly batcher: LaunchBatcher;
  private readonly bindGroups: BindGroupCache;
  private readonly maxBindingBytes: number;
  private readonly maxBufferBytes: number;

  constructor(init: WebGpuBackendInit) {
    this.gpu = init.gpu;
    this.device = init.device;
    this.deviceName = init.deviceName;
    this.fingerprint = init.fingerprint;
    this.limits = init.limits;
    this.adapter = init.adapter;
    this.timingSource = init.device.features.has('timestamp-query') ? 'timestamp' : 'wall-clock';
    this.maxBindingBytes = init.device.limits.maxStorageBufferBindingSize;
    this.maxBufferBytes = init.device.limits.maxBufferSize;
    this.errors = new ErrorTracker(init.device);
    this.pipelines = new PipelineCache(this, init.device, this.errors, init.limits);
    this.batcher = new LaunchBatcher(init.device, this.errors);
    this.bindGroups = new BindGroupCache(init.device, this.errors, () => this.batcher.flush());
  }

  /** Distinct pipelines compiled so far (recompiling the same source adds none). */
  get compiledPipelines(): number {
    return this.pipelines.size;
  }

  createBuffer(bytes: number): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`createBuffer: bytes must be a non-negative integer, got ${bytes}`);
    if (bytes > this.maxBufferBytes) throw new RangeError(`createBuffer: ${bytes} bytes exceeds the device's maxBufferSize ${this.maxBufferBytes}`);
    return this.errors.scoped(`creating a ${bytes}-byte buffer`, () => new WebGpuBuffer(this, this.device, bytes));
  }

  write(buffer: DeviceBuffer, data: ArrayBufferView): void {
    const b = this.ownBuffer(buffer, 'write');
    if (data.byteLength > b.bytes) throw new RangeError(`write: ${data.byteLength} bytes into a ${b.bytes}-byte buffer`);
    // queue.writeBuffer is ordered before anything submitted later, so
    // launches recorded earlier must be submitted first.
    this.batcher.flush();
    this.errors.scoped(`writing ${data.byteLength} bytes to ${b.gpu.label}`, () => writeToBuffer(this.device.queue, b, data));
  }

  async read(buffer: DeviceBuffer): Promise<ArrayBuffer> {
    const b = this.ownBuffer(buffer, 'read');
    this.batcher.flush();
    const data = await readFromBuffer(this.device, b, (encode) =>
      this.errors.scoped(`reading ${b.gpu.label}`, () => this.device.queue.submit([encode()])),
    );
    // Data produced by a launch that failed validation would be stale; say so
    // instead of returning it silently.
    await this.errors.check();
    return data;
  }

  compile(kernel: RenderedKernel): Promise<CompiledKernel> {
    this.errors.assertUsable();
    return this.pipelines.compile(kernel);
  }

  launch(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[], params: number[]): void {
    const k = this.ownKernel(kernel);
    const bufs = this.checkBuffers(k, buffers);
    this.checkGrid(k, grid);
    const packed = this.packFor(k, params);
    const group = this.bindGroups.get(k, bufs, packed);
    // An empty grid is a legal no-op (e.g. a zero-length sequence).
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    this.batcher.dispatch(k.kernel.entry, k.pipeline, group, grid);
  }

  async sync(): Promise<void> {
    this.errors.assertUsable();
    this.batcher.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.errors.check();
  }

  async timeLaunches(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[][], params: number[], reps: number): Promise<number[]> {
    const k = this.ownKernel(kernel);
    if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`timeLaunches: reps must be a positive integer, got ${reps}`);
    if (buffers.length === 0) throw new RangeError(`timeLaunches: kernel '${k.kernel.entry}' needs at least one buffer set`);
    this.checkGrid(k, grid);
    const packed = this.packFor(k, params);
    const groups = buffers.map((set) => this.bindGroups.get(k, this.checkBuffers(k, set), packed));
    const launchOne = (i: number) => {
      this.batcher.dispatch(k.kernel.entry, k.pipeline, groups[i % groups.length]!, grid);
      this.batcher.flush();
    };
    const waitIdle = () => this.device.queue.onSubmittedWorkDone();
    const timed = { name: k.kernel.entry, pipeline: k.pipeline, bindGroups: groups, grid };
    const measure = (n: number): Promise<number[]> =>
      this.timingSource === 'timestamp' ? timeWithTimestamps(this.device, this.errors, timed, n) : timeWithWallClock(launchOne, waitIdle, n);

    // Get earlier work (uploads) out of the way, then warm clocks, caches and
    // every buffer set up for a while of GPU time, measured the way the reps
    // are (first launches of a pipeline also pay for lazy driver work).
    this.batcher.flush();
    await waitIdle();
    const warm: number[] = [];
    const policy = performance.now() - this.lastTimedAt > IDLE_MS ? AFTER_IDLE : WARMUP;
    for (let n = warmupLaunches(warm, groups.length, policy); n > 0; n = warmupLaunches(warm, groups.length, policy)) warm.push(...(await measure(n)));
    this.lastWarmupMs = warm;
    await this.errors.check();

    const ms = await measure(reps);
    await this.errors.check();
    this.lastTimedAt = performance.now();
    return ms;
  }

  destroyBuffer(buffer: DeviceBuffer): void {
    const b = this.ownBuffer(buffer, 'destroyBuffer', { allowDestroyed: true });
    if (b.destroyed) return;
    // Recorded launches that use it must reach the queue before it dies.
    this.batcher.flush();
    this.bindGroups.forgetBuffer(b.uid);
    b.gpu.destroy();
    b.destroyed = true;
  }

  destroy(): void {
    if (!this.gpu) return;
    this.errors.markDestroyed();
    this.device.destroy();
    // Dropping the instance lets Node exit: dawn.node keeps the event loop
    // alive while the object returned by create() is reachable.
    this.gpu = null;
  }

  private ownBuffer(buffer: DeviceBuffer, op: string, opts: { allowDestroyed?: boolean } = {}): WebGpuBuffer {
    this.errors.assertUsable();
    if (!(buffer instanceof WebGpuBuffer) || buffer.owner !== this) {
      throw new WebGpuError('usage', `${op}: buffer was not created by this WebGPU backend`);
    }
    if (buffer.destroyed && !opts.allowDestroyed) throw new WebGpuError('usage', `${op}: ${buffer.gpu.label} was destroyed`);
    return buffer;
  }

  private ownKernel(kernel: CompiledKernel): WebGpuKernel {
    this.errors.assertUsable();
    const k = kernel as Partial<WebGpuKernel>;
    if (k.owner !== this || !k.pipeline || !k.layout) {
      throw new WebGpuError('usage', `kernel '${kernel.kernel.entry}' was not compiled by this WebGPU backend`);
    }
    return kernel as WebGpuKernel;
  }

  private checkBuffers(k: WebGpuKernel, buffers: readonly DeviceBuffer[]): WebGpuBuffer[] {
    const name = k.kernel.entry;
    const bindings = k.kernel.bindings;
    if (buffers.length !== bindings.length) {
      const names = bindings.map((b) => b.name).join(', ');
      throw new WebGpuError('usage', `kernel '${name}' takes ${bindings.length} buffers (${names}), got ${buffers.length}`);
    }
    const bufs = buffers.map((buffer, i) => {
      const b = this.ownBuffer(buffer, `kernel '${name}' binding ${bindings[i]!.name}`);
      if (b.bytes < 4) throw new WebGpuError('usage', `kernel '${name}' binding ${bindings[i]!.name}: buffer is ${b.bytes} bytes, needs at least 4`);
      if (b.gpu.size > this.maxBindingBytes) {
        throw new WebGpuError('usage', `kernel '${name}' binding ${bindings[i]!.name}: ${b.gpu.size} bytes exceeds maxStorageBufferBindingSize ${this.maxBindingBytes}`);
      }
      return b;
    });
    // WebGPU forbids a buffer bound writable twice, or writable and readable,
    // in one dispatch; it would fail later at submit with a vaguer message.
    bufs.forEach((b, i) => {
      const j = bufs.indexOf(b);
      if (j !== i && (bindings[i]!.access === 'read_write' || bindings[j]!.access === 'read_write')) {
        throw new WebGpuError('usage', `kernel '${name}': the same buffer is bound to ${bindings[j]!.name} and ${bindings[i]!.name}, and one of them is read_write`);
      }
    });
    return bufs;
  }

  private checkGrid(k: WebGpuKernel, grid: Grid): void {
    const max = this.limits.maxGridDim;
    (['x', 'y', 'z'] as const).forEach((axis, i) => {
      const n = grid[i];
      if (n === undefined || !Number.isInteger(n) || n < 0) {
        throw new WebGpuError('usage', `kernel '${k.kernel.entry}': grid ${axis} = ${n} is not a non-negative integer`);
      }
      if (n > max[i]!) {
        throw new WebGpuError('usage', `kernel '${k.kernel.entry}': grid ${axis} = ${n} exceeds maxComputeWorkgroupsPerDimension ${max[i]}`);
      }
    });
  }

  private packFor(k: WebGpuKernel, params: readonly number[]): Uint8Array | null {
    const packed = packParams(k.kernel.entry, k.kernel.params, params);
    return k.kernel.params.length > 0 ? packed : null;
  }
}
