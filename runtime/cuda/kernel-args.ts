// Builds cuLaunchKernel's `void **kernelParams`: an array holding, for each
// kernel argument, the address of that argument's value.
//
// The values and the pointer table live in one block of native memory
// (koffi.alloc) rather than in JS buffers, so their addresses are stable and
// nothing depends on how koffi marshals nested pointers. The driver copies the
// argument values when cuLaunchKernel is called, so the block can be reused by
// the next launch straight away.

import type { KernelParam, ParamType } from '../backend.js';
import { koffi } from './ffi.js';

/** Each argument gets an 8-byte slot: enough for a device pointer and aligned for every scalar type. */
const SLOT = 8;

/**
 * Checks that `value` fits `type` exactly, so a bad parameter fails loudly
 * here instead of wrapping around silently in the kernel.
 */
export function checkParamValue(param: KernelParam, value: number): void {
  const fail = (why: string) => {
    throw new RangeError(`kernel parameter '${param.name}' (${param.type}): ${value} ${why}`);
  };
  if (typeof value !== 'number') fail('is not a number');
  switch (param.type) {
    case 'u32':
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) fail('is not an integer in [0, 2^32)');
      break;
    case 'i32':
      if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) fail('is not an integer in [-2^31, 2^31)');
      break;
    case 'f32':
      // Any double is accepted (NaN and Inf included) and rounded to float32,
      // the same as assigning it to a float in C.
      break;
    default: {
      const never: never = param.type;
      fail(`has unknown type ${String(never)}`);
    }
  }
}

/** Writes one scalar parameter, little-endian, 4 bytes. */
export function encodeParam(view: DataView, offset: number, type: ParamType, value: number): void {
  if (type === 'u32') view.setUint32(offset, value, true);
  else if (type === 'i32') view.setInt32(offset, value, true);
  else view.setFloat32(offset, value, true);
}

/** Reusable native storage for kernel arguments; one per backend. */
export class KernelArgBlock {
  private ptr: bigint | null = null;
  private capacity = 0;
  private view: DataView | null = null;

  /**
   * Lays out `pointers` (device addresses, in binding order) followed by the
   * scalar params, and returns the address of the `void*[]` table to pass as
   * kernelParams. Params must already be validated (checkParamValue).
   */
  pack(pointers: readonly bigint[], params: readonly KernelParam[], values: readonly number[]): bigint {
    const count = pointers.length + params.length;
    // Slots first, then the table of their addresses.
    const bytes = Math.max(1, count) * SLOT * 2;
    this.reserve(bytes);
    const view = this.view!;
    const base = this.ptr!;
    const tableOffset = count * SLOT;
    for (let i = 0; i < count; i++) {
      const slot = i * SLOT;
      if (i < pointers.length) view.setBigUint64(slot, pointers[i], true);
      else {
        const p = i - pointers.length;
        view.setBigUint64(slot, 0n, true);
        encodeParam(view, slot, params[p].type, values[p]);
      }
      view.setBigUint64(tableOffset + i * SLOT, base + BigInt(slot), true);
    }
    return base + BigInt(tableOffset);
  }

  /** Returns the native memory; the block can still be used again afterwards. */
  free(): void {
    if (this.ptr !== null) koffi().free(this.ptr);
    this.ptr = null;
    this.view = null;
    this.capacity = 0;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.capacity) return;
    this.free();
    const capacity = Math.max(bytes, 1024);
    const k = koffi();
    this.ptr = k.alloc('uint8_t', capacity) as bigint;
    this.view = new DataView(k.view(this.ptr, capacity));
    this.capacity = capacity;
  }
}
