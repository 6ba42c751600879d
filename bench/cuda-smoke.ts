// Smoke test of the CUDA backend on a GPU host:
//   bash .gpu/enter tsx bench/cuda-smoke.ts
// Opens the device, prints what it found, then compiles and checks a few
// kernels (saxpy, f16/bf16 conversions against runtime/dtype.ts, >48 KiB of
// dynamic shared memory, scalar parameter packing), times saxpy, and finally
// checks that a faulting kernel surfaces as an Error from sync(). Exits
// non-zero if any check fails.

import type { RenderedKernel } from '../runtime/backend.ts';
import { saxpyKernel } from './saxpy.ts';
import { cudaAvailability, openCuda, type CudaBackend } from '../runtime/cuda/backend.ts';
import { loadDriver } from '../runtime/cuda/driver.ts';
import { loadNvrtc } from '../runtime/cuda/nvrtc.ts';
import { SPIN_KERNEL } from '../runtime/cuda/timing.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../runtime/dtype.ts';

let failures = 0;
function check(name: string, ok: boolean, detail = ''): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sameFloat = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

const SAXPY: RenderedKernel = saxpyKernel('cuda', `extern "C" __global__ void saxpy(const float* x, const float* y, float* out, unsigned n, float a) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}
`, 256);

async function saxpy(cuda: CudaBackend): Promise<void> {
  const t0 = performance.now();
  const k = await cuda.compile(SAXPY);
  const compileMs = performance.now() - t0;
  console.log(
    `saxpy: ${k.registers} registers, ${k.localBytes} B local (spill/stack), ${k.staticSharedBytes} B static shared, ` +
      `max block ${k.maxThreadsPerBlock}, ${k.cacheHit ? 'cache hit' : 'compiled'} in ${compileMs.toFixed(1)} ms (${k.arch})`,
  );
  if (k.compileLog) console.log(`saxpy NVRTC log:\n${k.compileLog}`);
  const n = 1000;
  const a = 2.5;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
  const y = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
  const [bx, by, bo] = [cuda.createBuffer(4 * n), cuda.createBuffer(4 * n), cuda.createBuffer(4 * n)];
  cuda.write(bx, x);
  cuda.write(by, y);
  cuda.write(bo, new Float32Array(n).fill(NaN));
  cuda.launch(k, [Math.ceil(n / SAXPY.workgroupSize), 1, 1], [bx, by, bo], [n, a]);
  await cuda.sync();
  const out = new Float32Array(await cuda.read(bo));
  let worst = 0;
  let fused = 0;
  for (let i = 0; i < n; i++) {
    const ref = a * x[i] + y[i];
    const err = Math.abs(out[i] - ref) / (Math.abs(a * x[i]) + Math.abs(y[i]));
    worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
    if (out[i] === Math.fround(ref)) fused++;
  }
  check('saxpy matches JS', worst <= 2 ** -23, `worst error ${worst.toExponential(2)} of the terms; ${fused}/${n} equal to the once-rounded result`);

  // timeLaunches silently times without its head-start kernel if that fails
  // to compile; make sure it does compile here.
  const spin = await cuda.compile(SPIN_KERNEL).then(
    () => '',
    (err: Error) => err.message,
  );
  check('timing head-start kernel compiles', spin === '', spin);

  const again = await cuda.compile(SAXPY);
  check('second compile is a cubin cache hit', again.cacheHit);

  const big = 1 << 24;
  const [gx, gy, go] = [cuda.createBuffer(4 * big), cuda.createBuffer(4 * big), cuda.createBuffer(4 * big)];
  const grid: [number, number, number] = [Math.ceil(big / SAXPY.workgroupSize), 1, 1];
  const small = await cuda.timeLaunches(k, [4, 1, 1], [[bx, by, bo]], [n, a], 50);
  const large = await cuda.timeLaunches(k, grid, [[gx, gy, go], [gy, gx, go]], [big, a], 20);
  check('timeLaunches gives finite positive times', [...small, ...large].every((t) => Number.isFinite(t) && t > 0));
  const gbps = (3 * 4 * big) / (median(large) * 1e-3) / 1e9;
  console.log(
    `saxpy n=${n}: median ${(median(small) * 1e3).toFixed(2)} us, min ${(Math.min(...small) * 1e3).toFixed(2)} us, ` +
      `max ${(Math.max(...small) * 1e3).toFixed(2)} us (50 reps)`,
  );
  console.log(`saxpy n=2^24: median ${(median(large) * 1e3).toFixed(1)} us = ${gbps.toFixed(0)} GB/s (20 reps)`);
  for (const b of [bx, by, bo, gx, gy, go]) cuda.destroyBuffer(b);
}

/** Device conversions (NVRTC's built-in cuda_fp16.h / cuda_bf16.h) against runtime/dtype.ts, bit for bit. */
async function conversions(cuda: CudaBackend): Promise<void> {
  const k = await cuda.compile({
    target: 'cuda',
    entry: 'convert',
    source: `#include <cuda_fp16.h>
#include <cuda_bf16.h>
extern "C" __global__ void convert(const float* x, unsigned short* h, unsigned short* b,
                                   const unsigned short* bits, float* hout, float* bout, unsigned n) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  h[i] = __half_as_ushort(__float2half_rn(x[i]));
  b[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
  hout[i] = __half2float(__ushort_as_half(bits[i]));
  bout[i] = __bfloat162float(__ushort_as_bfloat16(bits[i]));
}
`,
    bindings: [
      { name: 'x', access: 'read', elem: 'f32' },
      { name: 'h', access: 'read_write', elem: 'f16' },
      { name: 'b', access: 'read_write', elem: 'bf16' },
      { name: 'bits', access: 'read', elem: 'f16' },
      { name: 'hout', access: 'read_write', elem: 'f32' },
      { name: 'bout', access: 'read_write', elem: 'f32' },
    ],
    params: [{ name: 'n', type: 'u32' }],
    workgroupSize: 256,
    sharedBytes: 0,
  });
  const n = 1 << 16;
  // Every float32 bit pattern class: random bits (NaNs, subnormals, huge),
  // values around the f16 range, and exact ties.
  const xb = new Uint32Array(n);
  let s = 2463534242;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    xb[i] = s;
  }
  const x = new Float32Array(xb.buffer);
  const special = [0, -0, 1, -2.5, 0.1, 65504, 65519, 65520, 1e-5, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 2 ** -8, Infinity, -Infinity, NaN];
  special.forEach((v, i) => (x[i] = v));
  for (let i = 0; i < 4096; i++) x[special.length + i] = (i - 2048) * 2 ** (-30 + (i % 50));
  const bits = Uint16Array.from({ length: n }, (_, i) => i);
  const bufs = [4 * n, 2 * n, 2 * n, 2 * n, 4 * n, 4 * n].map((b) => cuda.createBuffer(b));
  cuda.write(bufs[0], x);
  cuda.write(bufs[3], bits);
  cuda.launch(k, [n / 256, 1, 1], bufs, [n]);
  const h = new Uint16Array(await cuda.read(bufs[1]));
  const b = new Uint16Array(await cuda.read(bufs[2]));
  const hout = new Float32Array(await cuda.read(bufs[4]));
  const bout = new Float32Array(await cuda.read(bufs[5]));
  const report = (name: string, bad: number[], show: (i: number) => string) =>
    check(name, bad.length === 0, bad.length ? `${bad.length} mismatches, e.g. ${bad.slice(0, 4).map(show).join('; ')}` : `${n} values`);
  const hex = (v: number) => `0x${v.toString(16)}`;
  const badH: number[] = [];
  const badB: number[] = [];
  const badHo: number[] = [];
  const badBo: number[] = [];
  for (let i = 0; i < n; i++) {
    if (h[i] !== f32ToF16Bits(x[i])) badH.push(i);
    if (b[i] !== f32ToBf16Bits(x[i])) badB.push(i);
    if (!sameFloat(hout[i], f16BitsToF32(i))) badHo.push(i);
    if (!sameFloat(bout[i], bf16BitsToF32(i))) badBo.push(i);
  }
  report('f32 -> f16 bits match __float2half_rn', badH, (i) => `${x[i]} (${hex(xb[i])}): device ${hex(h[i])}, host ${hex(f32ToF16Bits(x[i]))}`);
  report('f32 -> bf16 bits match __float2bfloat16_rn', badB, (i) => `${x[i]} (${hex(xb[i])}): device ${hex(b[i])}, host ${hex(f32ToBf16Bits(x[i]))}`);
  report('f16 -> f32 matches __half2float for all 65536 patterns', badHo, (i) => `${hex(i)}: device ${hout[i]}, host ${f16BitsToF32(i)}`);
  report('bf16 -> f32 matches __bfloat162float for all 65536 patterns', badBo, (i) => `${hex(i)}: device ${bout[i]}, host ${bf16BitsToF32(i)}`);
  for (const buf of bufs) cuda.destroyBuffer(buf);
}

/** More than 48 KiB of dynamic shared memory (the opt-in path) and every scalar parameter type. */
async function sharedAndParams(cuda: CudaBackend): Promise<void> {
  const sharedBytes = Math.min(cuda.limits.maxWorkgroupStorageBytes, 160 * 1024);
  const words = sharedBytes / 4;
  const k = await cuda.compile({
    target: 'cuda',
    entry: 'smem_params',
    source: `extern "C" __global__ void smem_params(float* out, int* echo, unsigned words, int neg, float f) {
  extern __shared__ float s[];
  for (unsigned j = threadIdx.x; j < words; j += blockDim.x) s[j] = (float)(j % 1024);
  __syncthreads();
  float acc = 0.0f;
  for (unsigned j = threadIdx.x; j < words; j += blockDim.x) acc += s[words - 1 - j];
  out[blockIdx.x * blockDim.x + threadIdx.x] = acc;
  if (blockIdx.x == 0 && threadIdx.x == 0) { echo[0] = (int)words; echo[1] = neg; echo[2] = __float_as_int(f); }
}
`,
    bindings: [
      { name: 'out', access: 'read_write', elem: 'f32' },
      { name: 'echo', access: 'read_write', elem: 'i32' },
    ],
    params: [
      { name: 'words', type: 'u32' },
      { name: 'neg', type: 'i32' },
      { name: 'f', type: 'f32' },
    ],
    workgroupSize: 256,
    sharedBytes,
  });
  const blocks = 4;
  const out = cuda.createBuffer(4 * 256 * blocks);
  const echo = cuda.createBuffer(12);
  cuda.launch(k, [blocks, 1, 1], [out, echo], [words, -123456, -0.15625]);
  const got = new Float32Array(await cuda.read(out));
  let bad = 0;
  for (let t = 0; t < 256; t++) {
    let acc = 0;
    for (let j = t; j < words; j += 256) acc = Math.fround(acc + ((words - 1 - j) % 1024));
    for (let bl = 0; bl < blocks; bl++) if (got[bl * 256 + t] !== acc) bad++;
  }
  check(`${sharedBytes} B dynamic shared memory`, bad === 0, `${bad} wrong sums`);
  const e = new Int32Array(await cuda.read(echo));
  const f = new Float32Array(e.buffer)[2];
  check('u32 / i32 / f32 params arrive intact', e[0] === words && e[1] === -123456 && f === -0.15625, `${e[0]}, ${e[1]}, ${f}`);
  cuda.destroyBuffer(out);
  cuda.destroyBuffer(echo);
}

/** Last: an illegal address poisons the context for good. */
async function fault(cuda: CudaBackend): Promise<void> {
  const k = await cuda.compile({
    target: 'cuda',
    entry: 'fault',
    source: `extern "C" __global__ void fault(float* p) { ((float*)16)[threadIdx.x] = p[0]; }\n`,
    bindings: [{ name: 'p', access: 'read', elem: 'f32' }],
    params: [],
    workgroupSize: 32,
    sharedBytes: 0,
  });
  const p = cuda.createBuffer(4);
  cuda.launch(k, [1, 1, 1], [p], []);
  try {
    await cuda.sync();
    check('a faulting kernel makes sync() throw', false, 'sync() returned normally');
  } catch (err) {
    const message = (err as Error).message;
    check('a faulting kernel makes sync() throw', /CUDA_ERROR_ILLEGAL_ADDRESS/.test(message), message);
  }
}

async function main(): Promise<void> {
  const status = cudaAvailability();
  if (!status.available) {
    console.error(`CUDA unavailable: ${status.reason}`);
    process.exit(2);
  }
  const driver = loadDriver();
  const nvrtc = loadNvrtc();
  const v = nvrtc.version();
  console.log(`libcuda: ${driver.libraryPath}`);
  console.log(`NVRTC ${v.major}.${v.minor}: ${nvrtc.libraryPath}; archs ${nvrtc.supportedArchs().join(' ')}`);
  const cuda = await openCuda();
  console.log(`device: ${cuda.deviceName}`);
  console.log(`fingerprint: ${cuda.fingerprint}`);
  console.log(`SMs: ${cuda.smCount}, CC ${cuda.computeCapability.major}.${cuda.computeCapability.minor}, target ${cuda.arch}`);
  console.log(`limits: ${JSON.stringify(cuda.limits)}`);
  const steps: [string, (c: CudaBackend) => Promise<void>][] = [
    ['saxpy', saxpy],
    ['conversions', conversions],
    ['shared memory and params', sharedAndParams],
    ['fault', fault],
  ];
  for (const [name, step] of steps) {
    try {
      await step(cuda);
    } catch (err) {
      check(name, false, (err as Error).stack ?? String(err));
    }
  }
  cuda.destroy();
  console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
