// The CUDA implementation of the Backend contract: NVRTC compiles rendered
// kernels to cubins (cached on disk), the driver API loads and launches them.
//
// Nothing native is touched at import time: libcuda and NVRTC are loaded on
// the first cudaAvailability() / openCuda() call, so this module can be
// imported (and the CLI can list backends) on machines without CUDA.
//
// All driver calls happen on the main JS thread with the device's primary
// context current. CUDA contexts are bound per host thread, which is why only
// NVRTC compiles (which need no context) run on worker threads.

import type { Backend, CompiledKernel, DeviceBuffer, DeviceLimits, Grid, KernelUsage, RenderedKernel } from '../backend.js';
import { CudaError, DeviceAttribute, FunctionAttribute, loadDriver, type CudaDriver, type CuDevicePtr, type CuHandle } from './driver.js';
import { KernelArgBlock } from './kernel-args.js';
import { checkLaunch } from './launch-checks.js';
import { CubinCache } from './module-cache.js';
import { archFor, archProblemFor, compileOptions, loadNvrtc, type Nvrtc } from './nvrtc.js';
import { EventPool, SPIN_KERNEL, timeLaunchesWithEvents } from './timing.js';

export type CudaAvailability = { available: true } | { available: false; reason: string };

let availability: CudaAvailability | undefined;

/**
 * Whether openCuda() can work here: libcuda loads, a device exists, NVRTC
 * loads. Never throws; the answer is computed once per process.
 */
export function cudaAvailability(): CudaAvailability {
  if (!availability) availability = probe();
  return availability;
}

function probe(): CudaAvailability {
  let driver: CudaDriver;
  try {
    driver = loadDriver();
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
  try {
    driver.init();
    if (driver.deviceCount() === 0) return { available: false, reason: `no CUDA device (libcuda: ${driver.libraryPath})` };
  } catch (err) {
    return { available: false, reason: `no CUDA device: ${(err as Error).message}` };
  }
  try {
    loadNvrtc();
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
  return { available: true };
}

export interface CudaOpenOptions {
  /** Device ordinal; default SCANFORGE_CUDA_DEVICE or 0. */
  device?: number;
  /** Extra NVRTC options for every compile (e.g. '--use_fast_math'). */
  nvrtcOptions?: string[];
  /** Cubin cache; `false` disables it. Default: the per-user cache directory. */
  cache?: CubinCache | false;
  /**
   * Whether timeLaunches keeps the GPU busy while the host enqueues the timed
   * launches (see timing.ts). Default true; false is for comparing.
   */
  timingHeadStart?: boolean;
}

/** Opens a device; rejects with the reason when CUDA is unavailable. */
export async function openCuda(options: CudaOpenOptions = {}): Promise<CudaBackend> {
  const status = cudaAvailability();
  if (!status.available) throw new Error(`CUDA is unavailable: ${status.reason}`);
  return new CudaBackend(loadDriver(), loadNvrtc(), options);
}

export class CudaDeviceBuffer implements DeviceBuffer {
  /** @internal */ destroyed = false;
  constructor(
    readonly bytes: number,
    /** Device address (CUdeviceptr). */
    readonly ptr: CuDevicePtr,
    /** @internal */ readonly owner: CudaBackend,
  ) {}
}

export class CudaCompiledKernel implements CompiledKernel {
  /** @internal */ unloaded = false;
  constructor(
    readonly kernel: RenderedKernel,
    /** Registers per thread (CU_FUNC_ATTRIBUTE_NUM_REGS). */
    readonly registers: number,
    /** Local memory per thread in bytes: register spills and stack (CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES). */
    readonly localBytes: number,
    /** Static __shared__ bytes (CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES), on top of kernel.sharedBytes. */
    readonly staticSharedBytes: number,
    /** Largest block this kernel can launch with, given its register use. */
    readonly maxThreadsPerBlock: number,
    /** NVRTC target, e.g. "sm_90a". */
    readonly arch: string,
    /** Whether the cubin came from the on-disk cache. */
    readonly cacheHit: boolean,
    /** NVRTC's log (warnings); empty on a cache hit. */
    readonly compileLog: string,
    /** @internal */ readonly module: CuHandle,
    /** @internal */ readonly fn: CuHandle,
    /** @internal */ readonly owner: CudaBackend,
  ) {}

  get usage(): KernelUsage {
    return { registersPerThread: this.registers, localBytes: this.localBytes, staticSharedBytes: this.staticSharedBytes, maxThreadsPerBlock: this.maxThreadsPerBlock };
  }
}

/**
 * The context this module last made current on the main thread. Checked
 * before driver work so that two backends on different devices can be used
 * alternately; the check avoids a driver call per launch in the common case.
 */
let currentCtx: CuHandle | null = null;

/** CUresults after which the context is unusable until the process exits. */
const STICKY_ERRORS = new Set([700, 702, 714, 715, 716, 717, 718, 719]);

export class CudaBackend implements Backend {
  readonly kind = 'cuda' as const;
  readonly deviceName: string;
  readonly fingerprint: string;
  readonly limits: DeviceLimits;
  /** Number of streaming multiprocessors. */
  readonly smCount: number;
  readonly computeCapability: { major: number; minor: number };
  /** cuDriverGetVersion, e.g. 13000. */
  readonly driverVersion: number;
  /** NVRTC target for this device, e.g. "sm_90a". */
  readonly arch: string;
  readonly nvrtcVersion: { major: number; minor: number };
  readonly device: number;
  /** GPU ms of each warm-up launch of the last timeLaunches() (see ../warmup.ts). */
  lastWarmupMs: readonly number[] = [];

  private readonly ctx: CuHandle;
  private readonly cache: CubinCache | null;
  private readonly extraOptions: string[];
  private readonly args = new KernelArgBlock();
  private readonly events: EventPool;
  private readonly buffers = new Set<CudaDeviceBuffer>();
  private readonly kernels = new Set<CudaCompiledKernel>();
  private spin: Promise<CudaCompiledKernel | null> | undefined;
  private readonly headStart: boolean;
  /** Why this device cannot compile scanforge's kernels (too old, or NVRTC cannot target it), or null. */
  readonly archProblem: string | null;
  private destroyed = false;

  /** Use openCuda(). */
  constructor(
    private readonly driver: CudaDriver,
    private readonly nvrtc: Nvrtc,
    options: CudaOpenOptions = {},
  ) {
    driver.init();
    this.device = driver.deviceGet(options.device ?? Number(process.env.SCANFORGE_CUDA_DEVICE ?? 0));
    const attr = (a: number) => driver.deviceAttribute(a, this.device);
    const name = driver.deviceName(this.device);
    this.computeCapability = {
      major: attr(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR),
      minor: attr(DeviceAttribute.COMPUTE_CAPABILITY_MINOR),
    };
    const cc = `${this.computeCapability.major}${this.computeCapability.minor}`;
    this.driverVersion = driver.driverVersion();
    const version = `${Math.floor(this.driverVersion / 1000)}.${(this.driverVersion % 1000) / 10}`;
    this.deviceName = `${name} (sm_${cc}, driver ${version})`;
    this.fingerprint = `cuda:${name}:sm_${cc}:driver-${version}`;
    this.smCount = attr(DeviceAttribute.MULTIPROCESSOR_COUNT);
    this.limits = {
      // The opt-in maximum: kernels above 48 KiB get it via cuFuncSetAttribute in compile().
      maxWorkgroupStorageBytes: attr(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
      maxThreadsPerWorkgroup: attr(DeviceAttribute.MAX_THREADS_PER_BLOCK),
      // Kernel pointer arguments have no binding-count limit (only the 32 KiB
      // parameter space, far beyond what codegen emits).
      maxStorageBuffers: 1e9,
      maxGridDim: [attr(DeviceAttribute.MAX_GRID_DIM_X), attr(DeviceAttribute.MAX_GRID_DIM_Y), attr(DeviceAttribute.MAX_GRID_DIM_Z)],
      subgroups: true,
      subgroupSize: 32,
      shaderF16: true,
      // sm_90 exactly: NVRTC compiles for sm_90a there (archFor), whose wgmma later archs do not keep.
      warpgroupMma: this.computeCapability.major === 9 && this.computeCapability.minor === 0,
      sm: {
        count: this.smCount,
        maxThreads: attr(DeviceAttribute.MAX_THREADS_PER_MULTIPROCESSOR),
        maxBlocks: attr(DeviceAttribute.MAX_BLOCKS_PER_MULTIPROCESSOR),
        registers: attr(DeviceAttribute.MAX_REGISTERS_PER_MULTIPROCESSOR),
        registersPerBlock: attr(DeviceAttribute.MAX_REGISTERS_PER_BLOCK),
        sharedBytes: attr(DeviceAttribute.MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
        reservedSharedPerBlock: attr(DeviceAttribute.RESERVED_SHARED_MEMORY_PER_BLOCK),
      },
    };
    this.arch = archFor(this.computeCapability.major, this.computeCapability.minor);
    this.nvrtcVersion = nvrtc.version();
    const archs = nvrtc.supportedArchs();
    const wanted = this.computeCapability.major * 10 + this.computeCapability.minor;
    // Checked here so that compile() can say what is wrong instead of relaying NVRTC's errors.
    this.archProblem = archProblemFor(wanted, archs, `NVRTC ${this.nvrtcVersion.major}.${this.nvrtcVersion.minor} (${nvrtc.libraryPath})`);
    this.cache = options.cache === false ? null : (options.cache ?? new CubinCache());
    this.extraOptions = options.nvrtcOptions ?? [];
    this.headStart = options.timingHeadStart ?? true;
    this.ctx = driver.primaryCtxRetain(this.device);
    driver.ctxSetCurrent(this.ctx);
    currentCtx = this.ctx;
    this.events = new EventPool(driver);
  }

  createBuffer(bytes: number): CudaDeviceBuffer {
    this.live();
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`createBuffer: bad size ${bytes}`);
    // Allocate whole 32-bit words (at least one: cuMemAlloc rejects 0) and
    // zero them, matching WebGPU, whose buffers start zeroed.
    const words = Math.max(1, Math.ceil(bytes / 4));
    const ptr = this.call(() => this.driver.memAlloc(words * 4));
    try {
      this.driver.memsetD32(ptr, 0, words);
    } catch (err) {
      this.driver.memFree(ptr);
      throw err;
    }
    const buf = new CudaDeviceBuffer(bytes, ptr, this);
    this.buffers.add(buf);
    return buf;
  }

  write(buffer: DeviceBuffer, data: ArrayBufferView): void {
    const buf = this.ownBuffer(buffer, 'write');
    if (data.byteLength > buf.bytes) {
      throw new RangeError(`write: ${data.byteLength} bytes do not fit a ${buf.bytes}-byte buffer`);
    }
    if (data.byteLength === 0) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.call(() => this.driver.memcpyHtoD(buf.ptr, bytes));
  }

  async read(buffer: DeviceBuffer): Promise<ArrayBuffer> {
    const buf = this.ownBuffer(buffer, 'read');
    const out = new Uint8Array(buf.bytes);
    // Synchronous copy on the legacy default stream: it waits for every kernel
    // launched before it, so no explicit sync is needed first.
    if (buf.bytes > 0) this.call(() => this.driver.memcpyDtoH(out, buf.ptr));
    return out.buffer;
  }

  async compile(kernel: RenderedKernel, options: { nvrtcOptions?: string[] } = {}): Promise<CudaCompiledKernel> {
    this.live();
    if (kernel.target !== 'cuda') throw new Error(`compile: kernel '${kernel.entry}' targets ${kernel.target}, not cuda`);
    if (this.archProblem) throw new Error(`compile of '${kernel.entry}': ${this.archProblem}`);
    const opts = compileOptions(this.arch, [...this.extraOptions, ...(options.nvrtcOptions ?? [])]);
    let log = '';
    const build = async () => {
      const result = await this.nvrtc.compile(kernel.source, kernel.entry, opts);
      log = result.log;
      return result.cubin;
    };
    const key = {
      source: kernel.source,
      arch: this.arch,
      nvrtcVersion: `${this.nvrtcVersion.major}.${this.nvrtcVersion.minor}`,
      options: opts,
    };
    let cubin: Uint8Array;
    let hit = false;
    let cacheKey: string | undefined;
    if (this.cache) {
      const found = await this.cache.getOrCompile(key, build);
      ({ cubin, hit } = found);
      cacheKey = found.key;
    } else {
      cubin = await build();
    }
    this.live();
    let module: CuHandle;
    try {
      module = this.driver.moduleLoadData(cubin);
    } catch (err) {
      // A cached cubin the driver refuses (say, written by an NVRTC whose
      // output this driver cannot load) is dropped and rebuilt once.
      if (!hit || !this.cache || !cacheKey) throw err;
      this.cache.invalidate(cacheKey);
      cubin = await build();
      this.cache.put(cacheKey, cubin);
      hit = false;
      module = this.driver.moduleLoadData(cubin);
    }
    try {
      let fn: CuHandle;
      try {
        fn = this.driver.moduleGetFunction(module, kernel.entry);
      } catch (err) {
        throw new Error(
          `kernel '${kernel.entry}' not found in its module: is it declared extern "C" __global__? (${(err as Error).message})`,
          { cause: err },
        );
      }
      // Dynamic shared memory above 48 KiB is opt-in per function.
      if (kernel.sharedBytes > 48 * 1024) {
        this.driver.funcSetAttribute(fn, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, kernel.sharedBytes);
      }
      const fattr = (a: number) => this.driver.funcGetAttribute(fn, a);
      const compiled = new CudaCompiledKernel(
        kernel,
        fattr(FunctionAttribute.NUM_REGS),
        fattr(FunctionAttribute.LOCAL_SIZE_BYTES),
        fattr(FunctionAttribute.SHARED_SIZE_BYTES),
        fattr(FunctionAttribute.MAX_THREADS_PER_BLOCK),
        this.arch,
        hit,
        log,
        module,
        fn,
        this,
      );
      this.kernels.add(compiled);
      return compiled;
    } catch (err) {
      this.driver.moduleUnload(module);
      throw err;
    }
  }

  launch(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[], params: number[]): void {
    const k = this.ownKernel(kernel);
    checkLaunch(k.kernel, grid, buffers.length, params, this.limits, {
      maxThreadsPerBlock: k.maxThreadsPerBlock,
      staticSharedBytes: k.staticSharedBytes,
    });
    const ptrs = buffers.map((b) => this.ownBuffer(b, `launch of '${k.kernel.entry}'`).ptr);
    this.enqueue(k, grid, ptrs, params);
  }

  async sync(): Promise<void> {
    this.live();
    // Kernel faults are asynchronous: this is where they surface.
    this.call(() => this.driver.ctxSynchronize());
  }

  async timeLaunches(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[][], params: number[], reps: number): Promise<number[]> {
    const k = this.ownKernel(kernel);
    if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`timeLaunches: reps must be a positive integer, got ${reps}`);
    if (buffers.length === 0) throw new Error('timeLaunches: at least one buffer set is needed');
    const fnLimits = { maxThreadsPerBlock: k.maxThreadsPerBlock, staticSharedBytes: k.staticSharedBytes };
    const sets = buffers.map((set, i) => {
      checkLaunch(k.kernel, grid, set.length, params, this.limits, fnLimits);
      return set.map((b) => this.ownBuffer(b, `timeLaunches buffer set ${i}`).ptr);
    });
    const spin = this.headStart ? await this.spinKernel() : null;
    this.live();
    const t = this.call(() =>
      timeLaunchesWithEvents(
        {
          driver: this.driver,
          events: this.events,
          sets: sets.length,
          launch: (rep) => this.enqueue(k, grid, sets[rep % sets.length], params),
          spin: spin ? (us) => this.enqueue(spin, [1, 1, 1], [], [us]) : undefined,
        },
        reps,
      ),
    );
    this.lastWarmupMs = t.warmupMs;
    return t.ms;
  }

  destroyBuffer(buffer: DeviceBuffer): void {
    const buf = this.ownBuffer(buffer, 'destroyBuffer');
    buf.destroyed = true;
    this.buffers.delete(buf);
    this.driver.memFree(buf.ptr);
  }

  /** Unloads a compiled kernel's module (optional; destroy() unloads all). */
  unload(kernel: CompiledKernel): void {
    const k = this.ownKernel(kernel);
    k.unloaded = true;
    this.kernels.delete(k);
    this.driver.moduleUnload(k.module);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // Best effort: after a sticky fault every call fails, and we still want
    // the primary context released.
    const attempt = (f: () => void) => {
      try {
        f();
      } catch {
        // Ignored: see above.
      }
    };
    attempt(() => this.driver.ctxSetCurrent(this.ctx));
    currentCtx = this.ctx;
    for (const b of this.buffers) {
      b.destroyed = true;
      attempt(() => this.driver.memFree(b.ptr));
    }
    for (const k of this.kernels) {
      k.unloaded = true;
      attempt(() => this.driver.moduleUnload(k.module));
    }
    this.buffers.clear();
    this.kernels.clear();
    attempt(() => this.events.destroy());
    this.args.free();
    attempt(() => this.driver.primaryCtxRelease(this.device));
  }

  /** Packs arguments and calls cuLaunchKernel; inputs are already validated. */
  private enqueue(k: CudaCompiledKernel, grid: Grid, ptrs: CuDevicePtr[], params: readonly number[]): void {
    const argv = this.args.pack(ptrs, k.kernel.params, params);
    try {
      this.driver.launchKernel(k.fn, grid, [k.kernel.workgroupSize, 1, 1], k.kernel.sharedBytes, null, argv);
    } catch (err) {
      throw this.annotate(err, `launch of '${k.kernel.entry}' (grid ${grid.join('x')}, block ${k.kernel.workgroupSize})`);
    }
  }

  /** The timing head-start kernel, compiled once; null if it cannot be (timing then works without it). */
  private spinKernel(): Promise<CudaCompiledKernel | null> {
    this.spin ??= this.compile(SPIN_KERNEL).catch(() => null);
    return this.spin;
  }

  /** Runs a driver call, adding a hint when the error means the context is lost. */
  private call<T>(f: () => T): T {
    this.live();
    try {
      return f();
    } catch (err) {
      throw this.annotate(err);
    }
  }

  private annotate(err: unknown, what?: string): unknown {
    if (!(err instanceof CudaError)) return err;
    const sticky = STICKY_ERRORS.has(err.code)
      ? '. A kernel faulted: the CUDA context is unusable from now on (restart the process; run under compute-sanitizer to locate the fault).'
      : '';
    if (!what && !sticky) return err;
    const e = new CudaError(err.call, err.code, err.errorName, err.errorString);
    e.message = `${what ? `${what}: ` : ''}${err.message}${sticky}`;
    return e;
  }

  /** Throws after destroy(); otherwise makes this backend's context current. */
  private live(): void {
    if (this.destroyed) throw new Error('CUDA backend used after destroy()');
    if (currentCtx !== this.ctx) {
      this.driver.ctxSetCurrent(this.ctx);
      currentCtx = this.ctx;
    }
  }

  private ownBuffer(buffer: DeviceBuffer, what: string): CudaDeviceBuffer {
    this.live();
    if (!(buffer instanceof CudaDeviceBuffer) || buffer.owner !== this) {
      throw new Error(`${what}: buffer was not created by this CUDA backend`);
    }
    if (buffer.destroyed) throw new Error(`${what}: buffer was destroyed`);
    return buffer;
  }

  private ownKernel(kernel: CompiledKernel): CudaCompiledKernel {
    this.live();
    if (!(kernel instanceof CudaCompiledKernel) || kernel.owner !== this) {
      throw new Error(`kernel '${kernel.kernel.entry}' was not compiled by this CUDA backend`);
    }
    if (kernel.unloaded) throw new Error(`kernel '${kernel.kernel.entry}' was unloaded`);
    return kernel;
  }
}
