import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  elemBytes,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromDeviceBytes,
  roundTo,
  toDeviceBytes,
} from '../runtime/dtype.ts';

/** Deterministic pseudo-random floats spanning many magnitudes (xorshift32). */
function randomData(n: number, seed = 12345): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * 2 ** Math.floor(next() * 20 - 10);
  return out;
}

const u16 = (bytes: Uint8Array) => Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));

describe('elemBytes', () => {
  it('gives the storage size of each element type', () => {
    expect(['f32', 'f16', 'bf16', 'u32', 'i32'].map((e) => elemBytes(e as never))).toEqual([4, 2, 2, 4, 4]);
  });
});

describe('f16', () => {
  it('encodes known values exactly', () => {
    const cases: [number, number][] = [
      [1.0, 0x3c00],
      [-2.5, 0xc100],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65519, 0x7bff], // rounds down to it
      [65520, 0x7c00], // the tie rounds to even: infinity
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [0, 0x0000],
      [-0, 0x8000],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [1e-5, 0x00a8], // subnormal: 1e-5 / 2^-24 = 167.77 -> 168
      [1e-8, 0x0000], // below half the smallest subnormal: underflows to zero
      [2 ** -25, 0x0000], // exactly half the smallest subnormal: tie to even (0)
      [3 * 2 ** -25, 0x0002], // 1.5 subnormal units: tie to even (2)
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // tie: even is 1+2^-9
    ];
    for (const [x, bits] of cases) expect(f32ToF16Bits(x), `f16(${x})`).toBe(bits);
    expect(u16(toDeviceBytes(new Float32Array(cases.map((c) => c[0])), 'f16'))).toEqual(cases.map((c) => c[1]));
  });

  it('decodes known bit patterns', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc100)).toBe(-2.5);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(f16BitsToF32(0x7e00)).toBeNaN();
  });

  it('round-trips random data within 2^-11 relative error (normal range)', () => {
    const x = randomData(20000);
    const y = fromDeviceBytes(toDeviceBytes(x, 'f16').buffer as ArrayBuffer, 'f16', x.length);
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) < 2 ** -14) continue; // subnormals have absolute, not relative, precision
      expect(Math.abs(y[i] - x[i]) / Math.abs(x[i])).toBeLessThanOrEqual(2 ** -11);
    }
  });

  it('keeps NaN a NaN', () => {
    expect(f16BitsToF32(f32ToF16Bits(NaN))).toBeNaN();
    expect(f32ToF16Bits(NaN)).toBe(0x7fff); // the canonical NaN the GPU's cvt produces
  });
});

describe('bf16', () => {
  it('encodes known values exactly', () => {
    const cases: [number, number][] = [
      [1.0, 0x3f80],
      [-2.5, 0xc020],
      [0.1, 0x3dcd], // 0x3DCCCCCD rounds up
      [65504, 0x4780], // 0x477FE000: rounds up to 65536
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [0, 0x0000],
      [-0, 0x8000],
      [3.4028234663852886e38, 0x7f80], // FLT_MAX rounds up to infinity
      [1 + 2 ** -8, 0x3f80], // tie: even is 1
      [1 + 3 * 2 ** -8, 0x3f82], // tie: even is 1+2^-6
    ];
    for (const [x, bits] of cases) expect(f32ToBf16Bits(x), `bf16(${x})`).toBe(bits);
    expect(u16(toDeviceBytes(new Float32Array(cases.map((c) => c[0])), 'bf16'))).toEqual(cases.map((c) => c[1]));
  });

  it('decodes by widening the upper 16 bits', () => {
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0x3dcd)).toBe(new Float32Array([0.10009765625])[0]);
    expect(bf16BitsToF32(0xff80)).toBe(-Infinity);
  });

  it('round-trips random data within 2^-8 relative error', () => {
    const x = randomData(20000, 777);
    const y = fromDeviceBytes(toDeviceBytes(x, 'bf16').buffer as ArrayBuffer, 'bf16', x.length);
    for (let i = 0; i < x.length; i++) {
      if (x[i] === 0) continue;
      expect(Math.abs(y[i] - x[i]) / Math.abs(x[i])).toBeLessThanOrEqual(2 ** -8);
    }
  });

  it('keeps NaN a NaN, including NaNs whose payload sits only in the low 16 bits', () => {
    const lowPayloadNaN = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0];
    const negNaN = new Float32Array(new Uint32Array([0xffffffff]).buffer)[0];
    for (const x of [NaN, lowPayloadNaN, negNaN]) {
      expect(bf16BitsToF32(f32ToBf16Bits(x))).toBeNaN();
    }
  });
});

describe('toDeviceBytes / fromDeviceBytes / roundTo', () => {
  it('passes f32 through bit for bit', () => {
    const x = randomData(100);
    const bytes = toDeviceBytes(x, 'f32');
    expect(bytes.byteLength).toBe(400);
    expect(Array.from(fromDeviceBytes(bytes.buffer as ArrayBuffer, 'f32', 100))).toEqual(Array.from(x));
    expect(Array.from(roundTo('f32', x))).toEqual(Array.from(x));
  });

  it('does not alias or misread a view with an offset', () => {
    const backing = new Float32Array([9, 1, 2, 3]);
    const view = backing.subarray(1);
    const bytes = toDeviceBytes(view, 'f32');
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual([1, 2, 3]);
    bytes[0] = 0xff;
    expect(backing[1]).toBe(1);
  });

  it('roundTo gives exactly the values decoded from the device bytes', () => {
    const x = randomData(5000, 99);
    for (const elem of ['f16', 'bf16'] as const) {
      const device = fromDeviceBytes(toDeviceBytes(x, elem).buffer as ArrayBuffer, elem, x.length);
      expect(Array.from(roundTo(elem, x))).toEqual(Array.from(device));
    }
  });

  it('stores integers exactly and rejects what does not fit', () => {
    const x = new Float32Array([0, 1, 16777216, 7]);
    expect(Array.from(new Uint32Array(toDeviceBytes(x, 'u32').buffer))).toEqual([0, 1, 16777216, 7]);
    expect(Array.from(fromDeviceBytes(toDeviceBytes(new Float32Array([-3, 5]), 'i32').buffer as ArrayBuffer, 'i32', 2))).toEqual([-3, 5]);
    expect(() => toDeviceBytes(new Float32Array([1.5]), 'i32')).toThrow(/not representable as i32/);
    expect(() => toDeviceBytes(new Float32Array([-1]), 'u32')).toThrow(/not representable as u32/);
  });

  it('rejects reading more elements than the bytes hold', () => {
    expect(() => fromDeviceBytes(new ArrayBuffer(6), 'f16', 4)).toThrow(/need 8 bytes/);
  });
});
