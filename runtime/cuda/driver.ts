// Typed koffi bindings to the CUDA driver API (libcuda), checked call by call.
//
// We use the driver API rather than the runtime (libcudart) because the driver
// ships with every NVIDIA install while cudart is a toolkit component, and the
// driver API lets us load NVRTC's cubins directly with cuModuleLoadData.
//
// Conventions:
// - Every call goes through `check`: a non-zero CUresult throws a CudaError
//   naming the call and the driver's error name and description.
// - Handles (CUcontext, CUmodule, CUfunction, CUevent) are opaque pointers,
//   which koffi 3 represents as bigint. CUdeviceptr is a 64-bit integer and is
//   kept as bigint too: device addresses can exceed 2^53, where a JS number
//   would silently lose bits.
// - Versioned symbols (cuMemAlloc_v2, ...) are bound explicitly because cuda.h
//   maps the plain names onto them with macros; the unversioned symbols are
//   old ABIs (32-bit sizes) kept only for binary compatibility.

import { bind, bindFirst, cString, loadFirst, type LoadedLibrary, type NativeFn } from './ffi.js';
import { libcudaCandidates } from './library-paths.js';

/** CUdevice_attribute values used by the backend (cuda.h). */
export const DeviceAttribute = {
  MAX_THREADS_PER_BLOCK: 1,
  MAX_GRID_DIM_X: 5,
  MAX_GRID_DIM_Y: 6,
  MAX_GRID_DIM_Z: 7,
  MAX_SHARED_MEMORY_PER_BLOCK: 8,
  WARP_SIZE: 10,
  MAX_REGISTERS_PER_BLOCK: 12,
  MULTIPROCESSOR_COUNT: 16,
  MAX_THREADS_PER_MULTIPROCESSOR: 39,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
  MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: 81,
  MAX_REGISTERS_PER_MULTIPROCESSOR: 82,
  MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
  MAX_BLOCKS_PER_MULTIPROCESSOR: 106,
  RESERVED_SHARED_MEMORY_PER_BLOCK: 111,
} as const;

/** CUfunction_attribute values used by the backend (cuda.h). */
export const FunctionAttribute = {
  MAX_THREADS_PER_BLOCK: 0,
  SHARED_SIZE_BYTES: 1,
  LOCAL_SIZE_BYTES: 3,
  NUM_REGS: 4,
  MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
} as const;

/** A failed driver call. `code` is the raw CUresult, `errorName` e.g. "CUDA_ERROR_ILLEGAL_ADDRESS". */
export class CudaError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
    readonly errorName: string,
    readonly errorString: string,
  ) {
    super(`${call} failed: ${errorName} (${code}): ${errorString}`);
    this.name = 'CudaError';
  }
}

export type CuHandle = bigint;
export type CuDevicePtr = bigint;

/** The subset of the driver API the backend uses, with JS-shaped arguments. */
export interface CudaDriver {
  /** The library file (or soname) that was loaded. */
  readonly libraryPath: string;
  init(): void;
  /** E.g. 13000 for CUDA 13.0. */
  driverVersion(): number;
  deviceCount(): number;
  deviceGet(ordinal: number): number;
  deviceName(device: number): string;
  deviceAttribute(attribute: number, device: number): number;
  primaryCtxRetain(device: number): CuHandle;
  primaryCtxRelease(device: number): void;
  ctxSetCurrent(ctx: CuHandle): void;
  ctxSynchronize(): void;
  memAlloc(bytes: number): CuDevicePtr;
  memFree(ptr: CuDevicePtr): void;
  memcpyHtoD(dst: CuDevicePtr, src: Uint8Array): void;
  memcpyDtoH(dst: Uint8Array, src: CuDevicePtr): void;
  memsetD32(dst: CuDevicePtr, value: number, count: number): void;
  moduleLoadData(image: Uint8Array): CuHandle;
  moduleUnload(module: CuHandle): void;
  moduleGetFunction(module: CuHandle, name: string): CuHandle;
  funcSetAttribute(fn: CuHandle, attribute: number, value: number): void;
  funcGetAttribute(fn: CuHandle, attribute: number): number;
  /** kernelParams: address of a native `void*[]`, one pointer per argument (see kernel-args.ts). */
  launchKernel(
    fn: CuHandle,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    sharedBytes: number,
    stream: CuHandle | null,
    kernelParams: bigint,
  ): void;
  eventCreate(flags: number): CuHandle;
  eventRecord(event: CuHandle, stream: CuHandle | null): void;
  eventSynchronize(event: CuHandle): void;
  eventElapsedMs(start: CuHandle, end: CuHandle): number;
  eventDestroy(event: CuHandle): void;
  errorName(code: number): string;
  errorString(code: number): string;
}

let cached: CudaDriver | undefined;

/**
 * Loads and binds libcuda once per process (it is process-global state anyway).
 * Throws "libcuda.so.1 not found: …" when no candidate loads.
 */
export function loadDriver(): CudaDriver {
  if (!cached) cached = bindDriver(loadFirst('libcuda.so.1', libcudaCandidates()));
  return cached;
}

function bindDriver(loaded: LoadedLibrary): CudaDriver {
  const f = (decl: string): NativeFn => bind(loaded, decl);
  // CUresult is an int enum; handles are opaque pointers; CUdevice is int.
  const fns = {
    cuGetErrorName: f('int cuGetErrorName(int error, _Out_ const char **pStr)'),
    cuGetErrorString: f('int cuGetErrorString(int error, _Out_ const char **pStr)'),
    cuInit: f('int cuInit(unsigned int flags)'),
    cuDriverGetVersion: f('int cuDriverGetVersion(_Out_ int *version)'),
    cuDeviceGetCount: f('int cuDeviceGetCount(_Out_ int *count)'),
    cuDeviceGet: f('int cuDeviceGet(_Out_ int *device, int ordinal)'),
    cuDeviceGetName: f('int cuDeviceGetName(_Out_ uint8_t *name, int len, int dev)'),
    cuDeviceGetAttribute: f('int cuDeviceGetAttribute(_Out_ int *pi, int attrib, int dev)'),
    cuDevicePrimaryCtxRetain: f('int cuDevicePrimaryCtxRetain(_Out_ void **pctx, int dev)'),
    cuDevicePrimaryCtxRelease: f('int cuDevicePrimaryCtxRelease_v2(int dev)'),
    cuCtxSetCurrent: f('int cuCtxSetCurrent(void *ctx)'),
    cuCtxSynchronize: f('int cuCtxSynchronize()'),
    // Out-params of 64-bit device pointers are written into a BigUint64Array
    // (declared void*) rather than `_Out_ uint64_t *`, which koffi would
    // hand back as a JS number and so lose bits above 2^53.
    cuMemAlloc: f('int cuMemAlloc_v2(void *dptr, size_t bytesize)'),
    cuMemFree: f('int cuMemFree_v2(uint64_t dptr)'),
    cuMemcpyHtoD: f('int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)'),
    cuMemcpyDtoH: f('int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)'),
    cuMemsetD32: f('int cuMemsetD32_v2(uint64_t dst, unsigned int ui, size_t n)'),
    cuModuleLoadData: f('int cuModuleLoadData(_Out_ void **module, const void *image)'),
    cuModuleUnload: f('int cuModuleUnload(void *hmod)'),
    cuModuleGetFunction: f('int cuModuleGetFunction(_Out_ void **hfunc, void *hmod, const char *name)'),
    cuFuncSetAttribute: f('int cuFuncSetAttribute(void *hfunc, int attrib, int value)'),
    cuFuncGetAttribute: f('int cuFuncGetAttribute(_Out_ int *pi, int attrib, void *hfunc)'),
    cuLaunchKernel: f(
      'int cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, ' +
        'unsigned int bx, unsigned int by, unsigned int bz, unsigned int sharedMemBytes, ' +
        'void *hStream, void *kernelParams, void *extra)',
    ),
    cuEventCreate: f('int cuEventCreate(_Out_ void **phEvent, unsigned int flags)'),
    cuEventRecord: f('int cuEventRecord(void *hEvent, void *hStream)'),
    cuEventSynchronize: f('int cuEventSynchronize(void *hEvent)'),
    // CUDA 12.8+ renamed the ABI to _v2 (cuda.h maps cuEventElapsedTime onto
    // it); older drivers only export the plain name. Same signature.
    cuEventElapsedTime: bindFirst(
      loaded,
      ['cuEventElapsedTime_v2', 'cuEventElapsedTime'],
      (n) => `int ${n}(_Out_ float *ms, void *hStart, void *hEnd)`,
    ),
    cuEventDestroy: f('int cuEventDestroy_v2(void *hEvent)'),
  };

  const errorText = (fn: NativeFn, code: number, fallback: string): string => {
    const out: (string | null)[] = [null];
    const rc = fn(code, out) as number;
    return rc === 0 && out[0] ? out[0] : fallback;
  };
  const errorName = (code: number) => errorText(fns.cuGetErrorName, code, `CUresult ${code}`);
  const errorString = (code: number) => errorText(fns.cuGetErrorString, code, 'unrecognized error code');

  const check = (call: string, rc: unknown): void => {
    const code = rc as number;
    if (code !== 0) throw new CudaError(call, code, errorName(code), errorString(code));
  };
  const outInt = (call: string, fn: NativeFn, ...args: unknown[]): number => {
    const out = [0];
    check(call, fn(out, ...args));
    return out[0];
  };
  const outHandle = (call: string, fn: NativeFn, ...args: unknown[]): CuHandle => {
    const out: (bigint | null)[] = [null];
    check(call, fn(out, ...args));
    if (out[0] === null) throw new Error(`${call} returned success but a null handle`);
    return out[0];
  };

  return {
    libraryPath: loaded.path,
    init: () => check('cuInit', fns.cuInit(0)),
    driverVersion: () => outInt('cuDriverGetVersion', fns.cuDriverGetVersion),
    deviceCount: () => outInt('cuDeviceGetCount', fns.cuDeviceGetCount),
    deviceGet: (ordinal) => outInt('cuDeviceGet', fns.cuDeviceGet, ordinal),
    deviceName: (device) => {
      const buf = new Uint8Array(256);
      check('cuDeviceGetName', fns.cuDeviceGetName(buf, buf.length, device));
      return cString(buf);
    },
    deviceAttribute: (attribute, device) =>
      outInt(`cuDeviceGetAttribute(${attribute})`, fns.cuDeviceGetAttribute, attribute, device),
    primaryCtxRetain: (device) => outHandle('cuDevicePrimaryCtxRetain', fns.cuDevicePrimaryCtxRetain, device),
    primaryCtxRelease: (device) => check('cuDevicePrimaryCtxRelease_v2', fns.cuDevicePrimaryCtxRelease(device)),
    ctxSetCurrent: (ctx) => check('cuCtxSetCurrent', fns.cuCtxSetCurrent(ctx)),
    ctxSynchronize: () => check('cuCtxSynchronize', fns.cuCtxSynchronize()),
    memAlloc: (bytes) => {
      const out = new BigUint64Array(1);
      check(`cuMemAlloc_v2(${bytes} bytes)`, fns.cuMemAlloc(out, bytes));
      return out[0];
    },
    memFree: (ptr) => check('cuMemFree_v2', fns.cuMemFree(ptr)),
    memcpyHtoD: (dst, src) => check('cuMemcpyHtoD_v2', fns.cuMemcpyHtoD(dst, src, src.byteLength)),
    memcpyDtoH: (dst, src) => check('cuMemcpyDtoH_v2', fns.cuMemcpyDtoH(dst, src, dst.byteLength)),
    memsetD32: (dst, value, count) => check('cuMemsetD32_v2', fns.cuMemsetD32(dst, value >>> 0, count)),
    moduleLoadData: (image) => outHandle('cuModuleLoadData', fns.cuModuleLoadData, image),
    moduleUnload: (module) => check('cuModuleUnload', fns.cuModuleUnload(module)),
    moduleGetFunction: (module, name) =>
      outHandle(`cuModuleGetFunction('${name}')`, fns.cuModuleGetFunction, module, name),
    funcSetAttribute: (fn, attribute, value) =>
      check(`cuFuncSetAttribute(${attribute}, ${value})`, fns.cuFuncSetAttribute(fn, attribute, value)),
    funcGetAttribute: (fn, attribute) =>
      outInt(`cuFuncGetAttribute(${attribute})`, fns.cuFuncGetAttribute, attribute, fn),
    launchKernel: (fn, grid, block, sharedBytes, stream, kernelParams) =>
      check(
        'cuLaunchKernel',
        fns.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, stream, kernelParams, null),
      ),
    eventCreate: (flags) => outHandle('cuEventCreate', fns.cuEventCreate, flags),
    eventRecord: (event, stream) => check('cuEventRecord', fns.cuEventRecord(event, stream)),
    eventSynchronize: (event) => check('cuEventSynchronize', fns.cuEventSynchronize(event)),
    eventElapsedMs: (start, end) => {
      const out = [0];
      check('cuEventElapsedTime', fns.cuEventElapsedTime(out, start, end));
      return out[0];
    },
    eventDestroy: (event) => check('cuEventDestroy_v2', fns.cuEventDestroy(event)),
    errorName,
    errorString,
  };
}
