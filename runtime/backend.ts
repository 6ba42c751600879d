// The contract every GPU backend implements. A backend knows nothing about
// SSMs: it compiles a rendered kernel, moves bytes and launches grids. What a
// kernel means lives in codegen's plan; what its inputs mean lives in the IR.

/** Element types a kernel buffer may hold (on the device). */
export type ElemType = 'f32' | 'f16' | 'bf16' | 'u32' | 'i32';

/** Scalar kernel parameters (uniforms in WGSL, by-value arguments in CUDA). */
export type ParamType = 'u32' | 'i32' | 'f32';

export interface KernelBinding {
  /** Buffer name, as the kernel source refers to it. */
  name: string;
  access: 'read' | 'read_write';
  elem: ElemType;
  /**
   * Tensors laid end to end in this one buffer (codegen/lower/pack-bindings.ts),
   * in this order; the kernel takes each one's element offset as the i32
   * parameter `sf_off_${tensor}`. Absent for a buffer holding one tensor.
   */
  pack?: string[];
}

export interface KernelParam {
  name: string;
  type: ParamType;
}

/** One kernel rendered for one target: source text plus how to call it. */
export interface RenderedKernel {
  target: 'wgsl' | 'cuda';
  /** Entry point name (WGSL @compute fn / CUDA extern "C" __global__). */
  entry: string;
  source: string;
  /** Storage buffers, in binding order (WGSL @binding(i) / CUDA pointer argument i). */
  bindings: KernelBinding[];
  /** Scalar parameters, in order. WGSL: one uniform struct at @group(0) @binding(bindings.length), fields in this order, 4 bytes each. CUDA: by-value arguments after the pointers. */
  params: KernelParam[];
  /** Threads per workgroup / block (1-D). */
  workgroupSize: number;
  /** Workgroup / shared memory in bytes the kernel declares (static in WGSL; dynamic in CUDA). */
  sharedBytes: number;
}

export interface DeviceLimits {
  maxWorkgroupStorageBytes: number;
  maxThreadsPerWorkgroup: number;
  maxStorageBuffers: number;
  maxGridDim: [number, number, number];
  subgroups: boolean;
  /** Subgroup (warp) size when the device fixes it (CUDA: 32); undefined when it may vary per kernel. */
  subgroupSize?: number;
  shaderF16: boolean;
  /**
   * The device ends a shader invocation after this many loop iterations, counted over all its
   * loops, leaving what it had yet to write unwritten (Mesa llvmpipe: 65 535); undefined: no limit.
   */
  loopIterationLimit?: number;
  /**
   * Bytes one buffer binding may span (WebGPU maxStorageBufferBindingSize); undefined: no limit
   * below the buffer's own. Runs with larger tensors go in pieces (runtime/pieces.ts).
   */
  maxBindingBytes?: number;
  /** Per-multiprocessor resources, for occupancy; only targets that report them (CUDA). */
  sm?: MultiprocessorLimits;
  /** CUDA: warpgroup matrix products (wgmma, sm_90a) are there (the SSD walk of lower/ssd-wgmma.ts needs them). */
  warpgroupMma?: boolean;
}

/** What one streaming multiprocessor (compute unit) holds at once: blocks compete for these. */
export interface MultiprocessorLimits {
  count: number;
  maxThreads: number;
  maxBlocks: number;
  /** 32-bit registers per SM and per block. */
  registers: number;
  registersPerBlock: number;
  /** Shared memory per SM, and what the driver reserves per resident block out of it. */
  sharedBytes: number;
  reservedSharedPerBlock: number;
}

/** What the target's compiler gave one kernel, where the target reports it (CUDA: cuFuncGetAttribute). */
export interface KernelUsage {
  registersPerThread: number;
  /** Local memory per thread: register spills and stack. */
  localBytes: number;
  /** Static shared memory, on top of RenderedKernel.sharedBytes. */
  staticSharedBytes: number;
  /** Largest block the kernel can launch with, given its register use. */
  maxThreadsPerBlock: number;
}

export interface DeviceBuffer {
  readonly bytes: number;
}

export interface CompiledKernel {
  readonly kernel: RenderedKernel;
  /** Resource use after compilation, where the backend can tell (the autotuner rejects spilling kernels with it). */
  readonly usage?: KernelUsage;
}

export type Grid = [number, number, number];

export interface Backend {
  readonly kind: 'webgpu' | 'cuda';
  /** Human-readable adapter/device description, e.g. "NVIDIA H100 80GB HBM3 (vulkan)" or "llvmpipe (opengles, CPU)". */
  readonly deviceName: string;
  /** Stable fingerprint of device + driver, for caches. */
  readonly fingerprint: string;
  readonly limits: DeviceLimits;
  createBuffer(bytes: number): DeviceBuffer;
  write(buffer: DeviceBuffer, data: ArrayBufferView): void;
  read(buffer: DeviceBuffer): Promise<ArrayBuffer>;
  compile(kernel: RenderedKernel): Promise<CompiledKernel>;
  /** Params are given as numbers and packed per KernelParam.type. */
  launch(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[], params: number[]): void;
  /** Waits for all launched work. */
  sync(): Promise<void>;
  /**
   * GPU time in milliseconds of each of `reps` launches, measured with device
   * timestamps/events, after warm-up launches over every buffer set for a
   * while of GPU time (runtime/warmup.ts).
   */
  timeLaunches(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[][], params: number[], reps: number): Promise<number[]>;
  /** Milliseconds of each warm-up launch of the last timeLaunches(), for diagnosing timings. */
  readonly lastWarmupMs?: readonly number[];
  destroyBuffer(buffer: DeviceBuffer): void;
  destroy(): void;
}
