// Host-side checks before a launch. The driver would reject most of these
// too, but only with CUDA_ERROR_INVALID_VALUE and no hint of which argument
// was wrong; and a missing buffer would not be rejected at all (the kernel
// would read garbage from an unset pointer slot).

import type { DeviceLimits, Grid, RenderedKernel } from '../backend.js';
import { checkParamValue } from './kernel-args.js';

export interface FunctionLimits {
  /** CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: may be below the device limit when a kernel uses many registers. */
  maxThreadsPerBlock: number;
  /** CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: static __shared__ arrays, counted against the same budget as dynamic shared memory. */
  staticSharedBytes: number;
}

export function checkLaunch(
  kernel: RenderedKernel,
  grid: Grid,
  bufferCount: number,
  params: readonly number[],
  device: DeviceLimits,
  fn: FunctionLimits,
): void {
  const where = `launch of '${kernel.entry}'`;
  if (bufferCount !== kernel.bindings.length) {
    const names = kernel.bindings.map((b) => b.name).join(', ');
    throw new Error(`${where}: expected ${kernel.bindings.length} buffers (${names}), got ${bufferCount}`);
  }
  if (params.length !== kernel.params.length) {
    const names = kernel.params.map((p) => p.name).join(', ');
    throw new Error(`${where}: expected ${kernel.params.length} params (${names}), got ${params.length}`);
  }
  kernel.params.forEach((p, i) => checkParamValue(p, params[i]));
  if (!Array.isArray(grid) || grid.length !== 3) throw new Error(`${where}: grid must be [x, y, z], got ${String(grid)}`);
  for (let d = 0; d < 3; d++) {
    const n = grid[d];
    if (!Number.isInteger(n) || n < 1 || n > device.maxGridDim[d]) {
      throw new RangeError(`${where}: grid[${d}] = ${n} is outside [1, ${device.maxGridDim[d]}]`);
    }
  }
  const block = kernel.workgroupSize;
  const maxBlock = Math.min(device.maxThreadsPerWorkgroup, fn.maxThreadsPerBlock);
  if (!Number.isInteger(block) || block < 1 || block > maxBlock) {
    throw new RangeError(
      `${where}: workgroupSize ${block} is outside [1, ${maxBlock}] (device ${device.maxThreadsPerWorkgroup}, ` +
        `kernel ${fn.maxThreadsPerBlock} given its register use)`,
    );
  }
  const shared = kernel.sharedBytes + fn.staticSharedBytes;
  if (!Number.isInteger(kernel.sharedBytes) || kernel.sharedBytes < 0 || shared > device.maxWorkgroupStorageBytes) {
    throw new RangeError(
      `${where}: ${kernel.sharedBytes} B dynamic + ${fn.staticSharedBytes} B static shared memory exceeds ` +
        `the device's ${device.maxWorkgroupStorageBytes} B per block`,
    );
  }
}
