// The CUDA sources of the chunk-parallel SSD form (three launches, lower/ssd-chunked.ts)
// for Mamba-2, compiled offline with nvcc -arch=sm_90: every launch builds, exports its
// entry, spills nothing, fits the shared memory budget, and the matrix launches use
// tensor cores exactly when the tensors are bf16/f16. The bench's schedules at the
// standard shape, and a small shape.

import { describe, expect, it, beforeAll } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { loadProgram } from '../dsl/load.ts';
import type { RenderedKernel } from '../runtime/backend.ts';
import { specializeFor } from '../runtime/program-runner.ts';
import { compileCubins, nvcc, type CubinReport } from './helpers/nvcc.ts';

const STANDARD = { batch: 4, seqlen: 4096, nheads: 80, headdim: 64, ngroups: 1, dstate: 128 };
const SMALL = { batch: 2, seqlen: 100, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 };
const chunked = (threads: number, chunk: number, headTile?: number): Schedule => ({ threads, items: 4, chunk, ...(headTile ? { headTile } : {}), ssdForm: 'chunked' });

// aScalar: the chunk-state product (P tile × 16 columns) has fewer 16×8 tiles than the block has warps,
// so launch (a) prints it as scalar FMA (a known cost of these schedules; see the lowering's notes).
interface Case { name: string; dims: Record<string, number>; variant: (p: Program) => Variant; dtype: DType; schedule: Schedule; aScalar?: boolean }
const CASES: Case[] = [
  { name: 'standard / full / bf16 / t256 q64 p32', dims: STANDARD, variant: fullVariant, dtype: 'bf16', schedule: chunked(256, 64, 32), aScalar: true },
  { name: 'standard / bare / bf16 / t128 q64 p32', dims: STANDARD, variant: defaultVariant, dtype: 'bf16', schedule: chunked(128, 64, 32) },
  { name: 'standard / bare / bf16 / t256 q128 p16', dims: STANDARD, variant: defaultVariant, dtype: 'bf16', schedule: chunked(256, 128, 16), aScalar: true },
  { name: 'standard / full / f32 / t256 q64 p32', dims: STANDARD, variant: fullVariant, dtype: 'f32', schedule: chunked(256, 64, 32) },
  { name: 'small / full / bf16 / t64 q32', dims: SMALL, variant: fullVariant, dtype: 'bf16', schedule: chunked(64, 32) },
];

describe('Mamba-2 SSD chunk-parallel kernels for CUDA', () => {
  let p: Program;
  const kernels = new Map<string, RenderedKernel[]>();
  let reports: Promise<CubinReport[]>;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    for (const c of CASES) {
      const info = compileKernel(specializeFor(p, c.variant(p), c.dims, c.dtype), 'cuda', c.schedule, { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 });
      expect(info.lowering).toBe('ssd');
      kernels.set(c.name, info.launches.map((l) => l.kernel));
    }
    reports = nvcc ? compileCubins(CASES.flatMap((c) => kernels.get(c.name)!)) : Promise.resolve([]);
  }, 60_000);

  it('chunk 256 does not fit the output launch (Q × Q accumulators), and says so', () => {
    const sp = specializeFor(p, defaultVariant(p), STANDARD, 'bf16');
    expect(() => compileKernel(sp, 'cuda', chunked(256, 256, 16), { subgroups: true, subgroupSize: 32 })).toThrow(/chunked form: no tiling of chunk 256 .*accumulators per thread/);
  });

  let first = 0;
  for (const c of CASES) {
    const at = first;
    first += 3;
    it(`${c.name}: three launches; tensor cores for 16-bit tensors in (c), and in (a) where its tiles split over the warps`, () => {
      const ks = kernels.get(c.name)!;
      expect(ks.map((k) => k.entry.slice(-2))).toEqual(['_a', '_b', '_c']);
      for (const [k, src] of ks.entries()) {
        const mma = src.source.match(/mma\.sync\.aligned\.m16n8k16/g) ?? [];
        expect(mma.length > 0, src.entry).toBe(c.dtype !== 'f32' && (k === 2 || (k === 0 && !c.aScalar)));
        expect(src.sharedBytes).toBeLessThanOrEqual(96 * 1024);
      }
    });
    it.skipIf(!nvcc)(`${c.name}: nvcc builds every launch for sm_90 with 0 bytes spilled`, async () => {
      const rs = (await reports).slice(at, at + 3);
      for (const r of rs) {
        expect(r.code, r.log).toBe(0);
        expect(r.exportsEntry, r.log).toBe(true);
        expect(r.spillStores, r.log).toBe(0);
        expect(r.spillLoads, r.log).toBe(0);
      }
    }, 180_000);
  }
});
