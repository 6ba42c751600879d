// Packs scalar kernel parameters into the bytes of the WGSL uniform struct.
//
// The RenderedKernel contract fixes the layout: one struct, fields in
// KernelParam order, each a 4-byte u32/i32/f32, so field i sits at byte 4*i
// (WGSL's natural alignment for 4-byte scalars leaves no holes). The buffer
// is padded to a multiple of 16 bytes, the granularity uniform buffers are
// bound at, so the binding always covers the struct.

import type { KernelParam } from '../backend.js';

export function paramsByteSize(count: number): number {
  return Math.max(16, Math.ceil((count * 4) / 16) * 16);
}

/** Throws (naming the kernel and parameter) when a value does not fit its type. */
export function packParams(kernelName: string, specs: readonly KernelParam[], values: readonly number[]): Uint8Array {
  if (values.length !== specs.length) {
    const names = specs.map((p) => `${p.name}: ${p.type}`).join(', ');
    throw new RangeError(`kernel '${kernelName}' takes ${specs.length} params (${names}), got ${values.length}`);
  }
  const bytes = new Uint8Array(paramsByteSize(specs.length));
  const view = new DataView(bytes.buffer);
  specs.forEach((spec, i) => {
    const v = values[i]!;
    const where = `kernel '${kernelName}' param ${spec.name}: ${spec.type}`;
    switch (spec.type) {
      case 'u32':
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${where} = ${v} is not a u32`);
        view.setUint32(i * 4, v, true);
        break;
      case 'i32':
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${where} = ${v} is not an i32`);
        view.setInt32(i * 4, v, true);
        break;
      case 'f32':
        // Any number is representable (with rounding); NaN/Inf pass through on purpose.
        view.setFloat32(i * 4, v, true);
        break;
    }
  });
  return bytes;
}

/** A cache key for packed params: the 32-bit words, so 0 and -0 (f32) stay distinct. */
export function paramsKey(bytes: Uint8Array): string {
  return Array.from(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)).join(',');
}
