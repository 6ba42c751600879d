// Tests for the CUDA backend. The host-only parts (library search, argument
// packing, launch checks, cubin cache, kernel source via nvcc) run anywhere;
// the device parts run only where cudaAvailability() says CUDA works.

import { saxpyKernel } from '../bench/saxpy.ts';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceLimits, RenderedKernel } from '../runtime/backend.ts';
import { cudaAvailability, openCuda, type CudaBackend } from '../runtime/cuda/backend.ts';
import { koffi, loadFirst } from '../runtime/cuda/ffi.ts';
import { checkParamValue, KernelArgBlock } from '../runtime/cuda/kernel-args.ts';
import { checkLaunch } from '../runtime/cuda/launch-checks.ts';
import { cudaIncludeDirs, expandGlob, libcudaCandidates, nvrtcCandidates } from '../runtime/cuda/library-paths.ts';
import { CubinCache, cubinCacheDir, cubinCacheKey } from '../runtime/cuda/module-cache.ts';
import { archFor, archProblemFor, compileOptions } from '../runtime/cuda/nvrtc.ts';
import { SPIN_KERNEL } from '../runtime/cuda/timing.ts';

const SAXPY_SOURCE = `extern "C" __global__ void saxpy(const float* x, const float* y, float* out, unsigned n, float a) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}
`;

const SAXPY: RenderedKernel = saxpyKernel('cuda', SAXPY_SOURCE, 128);

const LIMITS: DeviceLimits = {
  maxWorkgroupStorageBytes: 227 * 1024,
  maxThreadsPerWorkgroup: 1024,
  maxStorageBuffers: 1e9,
  maxGridDim: [2147483647, 65535, 65535],
  subgroups: true,
  shaderF16: true,
};
const FN = { maxThreadsPerBlock: 1024, staticSharedBytes: 0 };

const status = cudaAvailability();

describe('CUDA backend without a device', () => {
  it('imports without touching native libraries and reports availability without throwing', async () => {
    const mod = await import('../runtime/cuda/backend.ts');
    expect(typeof mod.openCuda).toBe('function');
    const s = mod.cudaAvailability();
    expect(typeof s.available).toBe('boolean');
  });

  it.skipIf(status.available)('says why CUDA is unavailable, naming the missing piece', async () => {
    expect(status.available).toBe(false);
    if (!status.available) expect(status.reason).toMatch(/libcuda\.so\.1 not found|no CUDA device|libnvrtc not found/);
    await expect(openCuda()).rejects.toThrow(/CUDA is unavailable/);
  });

  it('reports every libcuda candidate tried, honouring SCANFORGE_LIBCUDA', () => {
    const candidates = libcudaCandidates({ SCANFORGE_LIBCUDA: '/nonexistent/libcuda.so.1' });
    expect(candidates).toEqual(['/nonexistent/libcuda.so.1']);
    expect(() => loadFirst('libcuda.so.1', candidates)).toThrow(/libcuda\.so\.1 not found: tried \/nonexistent\/libcuda\.so\.1: /);
    expect(libcudaCandidates({})[0]).toBe('libcuda.so.1');
  });

  it('searches NVRTC by soname first and honours SCANFORGE_NVRTC', () => {
    expect(nvrtcCandidates({ SCANFORGE_NVRTC: '/x/libnvrtc.so.13' })).toEqual(['/x/libnvrtc.so.13']);
    expect(nvrtcCandidates({}).slice(0, 3)).toEqual(['libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12']);
  });

  it('finds the toolkit headers (and CCCL beside them) for the NVRTC include fallback', () => {
    expect(cudaIncludeDirs({ SCANFORGE_CUDA_INCLUDE: '/a/include:/a/include/cccl' })).toEqual(['/a/include', '/a/include/cccl']);
    if (existsSync('/usr/local/cuda/include/cuda_fp16.h')) {
      const dirs = cudaIncludeDirs({});
      expect(dirs[0]).toBe('/usr/local/cuda/include');
      if (existsSync('/usr/local/cuda/include/cccl/nv/target')) expect(dirs[1]).toBe('/usr/local/cuda/include/cccl');
    }
  });

  it('expands * in path segments, newest version first', () => {
    const root = mkdtempSync(join(tmpdir(), 'sf-glob-'));
    try {
      for (const d of ['python3.9', 'python3.12', 'python3.10', 'other']) execFileSync('mkdir', ['-p', join(root, 'lib', d, 'site')]);
      expect(expandGlob(join(root, 'lib/python3*/site'))).toEqual(
        ['python3.12', 'python3.10', 'python3.9'].map((d) => join(root, 'lib', d, 'site')),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says why a GPU older than sm_80, or one NVRTC cannot target, gets no kernels', () => {
    const archs = [75, 80, 86, 89, 90, 100];
    expect(archProblemFor(90, archs, 'NVRTC 13.0')).toBeNull();
    expect(archProblemFor(80, archs, 'NVRTC 13.0')).toBeNull();
    expect(archProblemFor(75, archs, 'NVRTC 13.0')).toBe("sm_75 is older than the sm_80 scanforge's CUDA kernels need (cp.async copies, bf16 and tf32 tensor-core products); --backend webgpu runs them on this GPU");
    expect(archProblemFor(120, archs, 'NVRTC 13.0')).toBe('NVRTC 13.0 cannot target sm_120 (it supports sm_75 sm_80 sm_86 sm_89 sm_90 sm_100); point SCANFORGE_NVRTC at a newer libnvrtc');
  });

  it('targets sm_XY, with the arch-specific "a" variant from Hopper on', () => {
    expect(archFor(9, 0)).toBe('sm_90a');
    expect(archFor(10, 0)).toBe('sm_100a');
    expect(archFor(8, 6)).toBe('sm_86');
    expect(archFor(7, 5)).toBe('sm_75');
    const opts = compileOptions('sm_90a', ['-lineinfo']);
    expect(opts).toEqual(['--gpu-architecture=sm_90a', '-std=c++17', '-default-device', '-lineinfo']);
    expect(opts).not.toContain('--use_fast_math');
  });
});

describe('kernel arguments', () => {
  it('lays out pointer slots, then params, and a table of their addresses', () => {
    const block = new KernelArgBlock();
    try {
      const table = block.pack([0x7f0012345678n, 0x7f00abcdef00n], SAXPY.params.slice(), [1000, 2.5]);
      const k = koffi();
      const ptrs = new BigUint64Array(k.view(table, 4 * 8));
      const slot = (i: number, n: number) => new DataView(k.view(ptrs[i], n));
      expect(slot(0, 8).getBigUint64(0, true)).toBe(0x7f0012345678n);
      expect(slot(1, 8).getBigUint64(0, true)).toBe(0x7f00abcdef00n);
      expect(slot(2, 4).getUint32(0, true)).toBe(1000);
      expect(slot(3, 4).getFloat32(0, true)).toBe(2.5);
      // Reuse with more arguments grows the block.
      const many = Array.from({ length: 200 }, (_, i) => BigInt(i + 1));
      const t2 = block.pack(many, [{ name: 'v', type: 'i32' }], [-7]);
      const p2 = new BigUint64Array(k.view(t2, 201 * 8));
      expect(new DataView(k.view(p2[199], 8)).getBigUint64(0, true)).toBe(200n);
      expect(new DataView(k.view(p2[200], 4)).getInt32(0, true)).toBe(-7);
    } finally {
      block.free();
    }
  });

  it('rejects params that do not fit their type', () => {
    expect(() => checkParamValue({ name: 'n', type: 'u32' }, -1)).toThrow(/'n' \(u32\)/);
    expect(() => checkParamValue({ name: 'n', type: 'u32' }, 2 ** 32)).toThrow(RangeError);
    expect(() => checkParamValue({ name: 'n', type: 'u32' }, 1.5)).toThrow(RangeError);
    expect(() => checkParamValue({ name: 'k', type: 'i32' }, 2 ** 31)).toThrow(RangeError);
    expect(() => checkParamValue({ name: 'k', type: 'i32' }, -(2 ** 31))).not.toThrow();
    expect(() => checkParamValue({ name: 'a', type: 'f32' }, NaN)).not.toThrow();
  });
});

describe('launch checks', () => {
  it('accepts a well-formed launch', () => {
    expect(() => checkLaunch(SAXPY, [8, 1, 1], 3, [1000, 2], LIMITS, FN)).not.toThrow();
  });

  it('names the expected buffers when the count is wrong', () => {
    expect(() => checkLaunch(SAXPY, [8, 1, 1], 2, [1000, 2], LIMITS, FN)).toThrow(/'saxpy': expected 3 buffers \(x, y, out\), got 2/);
  });

  it('checks param count and grid limits', () => {
    expect(() => checkLaunch(SAXPY, [8, 1, 1], 3, [1000], LIMITS, FN)).toThrow(/expected 2 params \(n, a\)/);
    expect(() => checkLaunch(SAXPY, [0, 1, 1], 3, [1000, 2], LIMITS, FN)).toThrow(/grid\[0\] = 0 is outside \[1, 2147483647\]/);
    expect(() => checkLaunch(SAXPY, [1, 65536, 1], 3, [1000, 2], LIMITS, FN)).toThrow(/grid\[1\] = 65536/);
    expect(() => checkLaunch(SAXPY, [1.5, 1, 1], 3, [1000, 2], LIMITS, FN)).toThrow(/grid\[0\]/);
  });

  it('checks block size against the kernel and shared memory against the device', () => {
    expect(() => checkLaunch(SAXPY, [1, 1, 1], 3, [1, 2], LIMITS, { ...FN, maxThreadsPerBlock: 64 })).toThrow(/workgroupSize 128/);
    const big = { ...SAXPY, sharedBytes: 227 * 1024 };
    expect(() => checkLaunch(big, [1, 1, 1], 3, [1, 2], LIMITS, FN)).not.toThrow();
    expect(() => checkLaunch(big, [1, 1, 1], 3, [1, 2], LIMITS, { ...FN, staticSharedBytes: 16 })).toThrow(/shared memory exceeds/);
  });
});

describe('cubin cache', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sf-cubin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const key = { source: SAXPY_SOURCE, arch: 'sm_90a', nvrtcVersion: '13.0', options: ['-std=c++17'] };

  it('lives under SCANFORGE_CACHE_DIR, else XDG_CACHE_HOME/scanforge, else ~/.cache/scanforge', () => {
    expect(cubinCacheDir({ SCANFORGE_CACHE_DIR: '/a', XDG_CACHE_HOME: '/b' })).toBe('/a/cubin');
    expect(cubinCacheDir({ XDG_CACHE_HOME: '/b' })).toBe('/b/scanforge/cubin');
    expect(cubinCacheDir({})).toMatch(/\/\.cache\/scanforge\/cubin$/);
  });

  it('keys on source, arch, NVRTC version and options', () => {
    const k = cubinCacheKey(key);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(cubinCacheKey({ ...key })).toBe(k);
    expect(cubinCacheKey({ ...key, arch: 'sm_100a' })).not.toBe(k);
    expect(cubinCacheKey({ ...key, nvrtcVersion: '13.1' })).not.toBe(k);
    expect(cubinCacheKey({ ...key, options: ['-std=c++17', '--use_fast_math'] })).not.toBe(k);
    expect(cubinCacheKey({ ...key, source: key.source + ' ' })).not.toBe(k);
    // Part boundaries matter: moving text between parts changes the key.
    expect(cubinCacheKey({ ...key, options: ['-std=c++1', '7'] })).not.toBe(k);
  });

  it('compiles once, then serves from disk, leaving no temporary files', async () => {
    const cache = new CubinCache(dir);
    let compiles = 0;
    const compile = async () => {
      compiles++;
      return new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]);
    };
    const first = await cache.getOrCompile(key, compile);
    const second = await new CubinCache(dir).getOrCompile(key, compile);
    expect(first.hit).toBe(false);
    expect(second.hit).toBe(true);
    expect(compiles).toBe(1);
    expect(Array.from(second.cubin)).toEqual(Array.from(first.cubin));
    expect(execFileSync('ls', [dir]).toString().trim().split('\n')).toEqual([`${first.key}.cubin`]);
  });

  it('recompiles a corrupt or truncated entry', async () => {
    const cache = new CubinCache(dir);
    const k = cubinCacheKey(key);
    const file = cache.pathFor(k);
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] ^= 0xff;
    for (const bad of [flipped, good.subarray(0, 20), Buffer.from('garbage')]) {
      writeFileSync(file, bad);
      let compiles = 0;
      const got = await cache.getOrCompile(key, async () => {
        compiles++;
        return new Uint8Array([9, 9, 9]);
      });
      expect(compiles).toBe(1);
      expect(got.hit).toBe(false);
      expect(Array.from(cache.get(k)!)).toEqual([9, 9, 9]);
    }
  });

  it('still returns the cubin when the cache directory cannot be written', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const cache = new CubinCache(join(blocker, 'cubin'));
    const got = await cache.getOrCompile(key, async () => new Uint8Array([1]));
    expect(got.hit).toBe(false);
    expect(Array.from(got.cubin)).toEqual([1]);
  });
});

// nvcc is on the build machine even where no GPU is: it checks that the
// kernel sources we hand NVRTC are well-formed CUDA for the arch we target.
const nvcc = ['/usr/local/bin/nvcc', '/usr/local/cuda/bin/nvcc'].find((p) => existsSync(p));

describe.skipIf(!nvcc)('kernel sources compile with nvcc', () => {
  const compileWithNvcc = (name: string, source: string): Buffer => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-nvcc-'));
    try {
      writeFileSync(join(dir, `${name}.cu`), source);
      execFileSync(nvcc!, ['-arch=sm_90', '-cubin', '-o', join(dir, `${name}.cubin`), join(dir, `${name}.cu`)], { stdio: 'pipe' });
      return readFileSync(join(dir, `${name}.cubin`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('saxpy: an ELF cubin exporting the unmangled entry', () => {
    const cubin = compileWithNvcc('saxpy', SAXPY_SOURCE);
    expect(cubin.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(cubin.includes(Buffer.from('\0saxpy\0'))).toBe(true);
  }, 60_000);

  it('the timing spin kernel', () => {
    const cubin = compileWithNvcc('spin', SPIN_KERNEL.source);
    expect(cubin.includes(Buffer.from(`\0${SPIN_KERNEL.entry}\0`))).toBe(true);
  }, 60_000);
});

describe.skipIf(!status.available)('CUDA backend on a device', () => {
  let cuda: CudaBackend;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'sf-cuda-cache-'));
    process.env.SCANFORGE_CACHE_DIR = cacheDir;
    cuda = await openCuda();
  });
  afterAll(() => {
    cuda?.destroy();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('describes the device', () => {
    expect(cuda.kind).toBe('cuda');
    expect(cuda.deviceName).toMatch(/\(sm_\d+, driver \d+\.\d+\)$/);
    expect(cuda.smCount).toBeGreaterThan(0);
    expect(cuda.limits.maxThreadsPerWorkgroup).toBeGreaterThanOrEqual(1024);
    expect(cuda.limits.maxWorkgroupStorageBytes).toBeGreaterThanOrEqual(48 * 1024);
  });

  it('runs saxpy and matches a JS computation', async () => {
    const n = 1000;
    const a = 2.5;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const y = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
    const kernel = await cuda.compile(SAXPY);
    expect(kernel.registers).toBeGreaterThan(0);
    expect(kernel.localBytes).toBe(0);
    const bx = cuda.createBuffer(n * 4);
    const by = cuda.createBuffer(n * 4);
    const bout = cuda.createBuffer(n * 4);
    cuda.write(bx, x);
    cuda.write(by, y);
    cuda.write(bout, new Float32Array(n).fill(NaN));
    cuda.launch(kernel, [Math.ceil(n / SAXPY.workgroupSize), 1, 1], [bx, by, bout], [n, a]);
    await cuda.sync();
    const out = new Float32Array(await cuda.read(bout));
    const af = Math.fround(a);
    for (let i = 0; i < n; i++) {
      // The device may fuse a*x+y into one FMA (NVRTC's default --fmad=true)
      // or round the product first: allow the difference, about one float32
      // ulp of the terms.
      const ref = af * x[i] + y[i];
      const tol = 2 ** -23 * (Math.abs(af * x[i]) + Math.abs(y[i]));
      expect(Math.abs(out[i] - ref), `out[${i}] = ${out[i]}, expected ${ref}`).toBeLessThanOrEqual(tol);
    }

    const ms = await cuda.timeLaunches(kernel, [8, 1, 1], [[bx, by, bout], [by, bx, bout]], [n, a], 5);
    expect(ms).toHaveLength(5);
    for (const t of ms) {
      expect(Number.isFinite(t)).toBe(true);
      expect(t).toBeGreaterThan(0);
    }
    for (const b of [bx, by, bout]) cuda.destroyBuffer(b);
  });

  it('serves a second compile from the cubin cache', async () => {
    const again = await cuda.compile(SAXPY);
    expect(again.cacheHit).toBe(true);
  });

  it('reports compile errors with the entry name and NVRTC log', async () => {
    const broken = { ...SAXPY, entry: 'broken', source: 'extern "C" __global__ void broken() { undefined_thing(); }' };
    await expect(cuda.compile(broken)).rejects.toThrow(/kernel 'broken'[\s\S]*undefined_thing/);
  });

  it('rejects a launch with the wrong buffers before reaching the driver', async () => {
    const kernel = await cuda.compile(SAXPY);
    const b = cuda.createBuffer(16);
    expect(() => cuda.launch(kernel, [1, 1, 1], [b, b], [4, 1])).toThrow(/expected 3 buffers/);
    cuda.destroyBuffer(b);
    expect(() => cuda.launch(kernel, [1, 1, 1], [b, b, b], [4, 1])).toThrow(/destroyed/);
  });
});
