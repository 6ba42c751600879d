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
  shaderF16: boolean;
}

export interface DeviceBuffer {
  readonly bytes: number;
}

export interface CompiledKernel {
  readonly kernel: RenderedKernel;
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
  /** GPU time in milliseconds of each of `reps` launches, measured with device timestamps/events. */
  timeLaunches(kernel: CompiledKernel, grid: Grid, buffers: DeviceBuffer[][], params: number[], reps: number): Promise<number[]>;
  destroyBuffer(buffer: DeviceBuffer): void;
  destroy(): void;
}
