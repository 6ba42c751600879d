// Host-side conversion between float32 data and the element types kernels
// store on the device, bit-exact with the GPU's own conversions
// (__float2half_rn, __float2bfloat16_rn: round to nearest, ties to even).
//
// roundTo() exists so the float64 reference can be fed exactly the values the
// device sees: comparing a kernel that read bf16 inputs against a reference
// that read the unrounded float32 inputs would charge the kernel with the
// input rounding error, which is not its fault.

import type { ElemType } from './backend.js';

export function elemBytes(elem: ElemType): number {
  switch (elem) {
    case 'f16':
    case 'bf16':
      return 2;
    case 'f32':
    case 'u32':
    case 'i32':
      return 4;
    default: {
      const never: never = elem;
      throw new Error(`unknown element type ${String(never)}`);
    }
  }
}

// Scratch for reinterpreting float32 bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

/**
 * The NaN both GPU conversions produce (PTX cvt.rn.f16.f32 / cvt.rn.bf16.f32
 * return the canonical NaN, whatever the input NaN's sign and payload).
 */
const CANONICAL_NAN16 = 0x7fff;

/** float32 value -> IEEE binary16 bits, round to nearest even; overflow -> inf, NaN -> canonical NaN. */
export function f32ToF16Bits(x: number): number {
  const b = bitsOf(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? CANONICAL_NAN16 : sign | 0x7c00;
  const e = exp - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal (or zero). Value = m * 2^(exp-150) with the implicit bit;
    // in units of the smallest half subnormal (2^-24) that is m >> (14 - e).
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1))) h++; // may carry into the smallest normal: correct
    return sign | h;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry may reach inf (0x7c00): correct
  return h;
}

/** IEEE binary16 bits -> value (exact in float32). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 value -> bfloat16 bits, round to nearest even on the upper 16 bits; NaN -> canonical NaN. */
export function f32ToBf16Bits(x: number): number {
  const b = bitsOf(x);
  // Handled apart: rounding a NaN's bits could carry or truncate it into inf.
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return CANONICAL_NAN16;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  return floatOf((h & 0xffff) << 16);
}

/** Checks that a value can be stored exactly in an integer element. */
function toInt(x: number, elem: 'u32' | 'i32', i: number): number {
  const [lo, hi] = elem === 'u32' ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
  if (!Number.isInteger(x) || x < lo || x > hi) {
    throw new RangeError(`element ${i}: ${x} is not representable as ${elem}`);
  }
  return x;
}

/** Encodes float32 data as the device's little-endian element bytes. */
export function toDeviceBytes(data: Float32Array, elem: ElemType): Uint8Array {
  const n = data.length;
  switch (elem) {
    case 'f32':
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case 'f16':
    case 'bf16': {
      const out = new Uint16Array(n);
      const conv = elem === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i++) out[i] = conv(data[i]);
      return new Uint8Array(out.buffer);
    }
    case 'u32':
    case 'i32': {
      const out = elem === 'u32' ? new Uint32Array(n) : new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = toInt(data[i], elem, i);
      return new Uint8Array(out.buffer);
    }
    default: {
      const never: never = elem;
      throw new Error(`unknown element type ${String(never)}`);
    }
  }
}

/** Decodes `count` device elements into float32 (exact for f16 and bf16). */
export function fromDeviceBytes(bytes: ArrayBuffer, elem: ElemType, count: number): Float32Array {
  const need = count * elemBytes(elem);
  if (!Number.isInteger(count) || count < 0 || need > bytes.byteLength) {
    throw new RangeError(`fromDeviceBytes: ${count} ${elem} elements need ${need} bytes, got ${bytes.byteLength}`);
  }
  const out = new Float32Array(count);
  switch (elem) {
    case 'f32':
      out.set(new Float32Array(bytes, 0, count));
      break;
    case 'f16': {
      const src = new Uint16Array(bytes, 0, count);
      for (let i = 0; i < count; i++) out[i] = f16BitsToF32(src[i]);
      break;
    }
    case 'bf16': {
      const src = new Uint16Array(bytes, 0, count);
      for (let i = 0; i < count; i++) out[i] = bf16BitsToF32(src[i]);
      break;
    }
    case 'u32':
      out.set(new Uint32Array(bytes, 0, count));
      break;
    case 'i32':
      out.set(new Int32Array(bytes, 0, count));
      break;
    default: {
      const never: never = elem;
      throw new Error(`unknown element type ${String(never)}`);
    }
  }
  return out;
}

/** The values the device will hold after `toDeviceBytes(x, elem)`, as float64 for the reference. */
export function roundTo(elem: ElemType, x: Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  switch (elem) {
    case 'f32':
      out.set(x);
      break;
    case 'f16':
      for (let i = 0; i < x.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(x[i]));
      break;
    case 'bf16':
      for (let i = 0; i < x.length; i++) out[i] = bf16BitsToF32(f32ToBf16Bits(x[i]));
      break;
    case 'u32':
    case 'i32':
      for (let i = 0; i < x.length; i++) out[i] = toInt(x[i], elem, i);
      break;
    default: {
      const never: never = elem;
      throw new Error(`unknown element type ${String(never)}`);
    }
  }
  return out;
}
