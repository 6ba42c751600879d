// The autotuner's resource model, on device limit objects (no device needed):
// what it rejects and why, CUDA's post-compile checks and occupancy, and the
// issue's requirement that the CPU adapter (32 KiB) and the H100 (48 KiB
// WebGPU, 227 KiB CUDA) leave different schedule spaces.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel } from '../codegen/compile.js';
import type { Program } from '../dsl/ir.js';
import { loadProgram } from '../dsl/load.js';
import { specializeFor } from '../runtime/program-runner.js';
import { checkCompiled, checkPlan, occupancy, planResources, type PlanResources } from '../runtime/tune/resources.js';
import { screen, tuneVariant, type Candidate } from '../runtime/tune/search.js';
import { screenInParallel } from '../runtime/tune/screen-pool.js';
import { formatSchedule, scheduleSpace } from '../runtime/tune/space.js';
import { CPU_ADAPTER, H100_CUDA, H100_WEBGPU } from './fixtures/device-limits.js';

let mamba: Program;
beforeAll(async () => {
  mamba = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
}, 60_000);

const plan = (over: Partial<PlanResources>): PlanResources => ({ workgroupSize: 128, sharedBytes: 1024, storageBuffers: 8, registerBudget: 128, usesSubgroups: false, ...over });

describe('resource model before compilation', () => {
  it('accepts what fits and names every limit a plan exceeds', () => {
    expect(checkPlan('webgpu', plan({}), CPU_ADAPTER)).toEqual({ ok: true, reasons: [] });
    const v = checkPlan('webgpu', plan({ workgroupSize: 2048, sharedBytes: 40 * 1024, storageBuffers: 17, usesSubgroups: true, workgroups: 65536 * 65536 }), CPU_ADAPTER);
    expect(v.ok).toBe(false);
    expect(v.reasons.join('\n')).toMatch(/2048 threads per workgroup > 1024/);
    expect(v.reasons.join('\n')).toMatch(/40 KiB workgroup memory > 32 KiB maxComputeWorkgroupStorageSize/);
    expect(v.reasons.join('\n')).toMatch(/17 storage buffers > 16/);
    expect(v.reasons.join('\n')).toMatch(/subgroup/);
    expect(v.reasons.join('\n')).toMatch(/exceed the grid/);
    expect(v.reasons).toHaveLength(5);
  });

  it('takes the opt-in shared memory on CUDA and the SM for occupancy', () => {
    const big = plan({ sharedBytes: 200 * 1024 });
    expect(checkPlan('webgpu', big, H100_WEBGPU).ok).toBe(false);
    const v = checkPlan('cuda', big, H100_CUDA);
    expect(v.ok).toBe(true);
    expect(v.occupancy?.blocksPerSm).toBe(1);
    expect(v.occupancy?.limitedBy).toBe('shared');
    expect(checkPlan('cuda', plan({ sharedBytes: 228 * 1024 }), H100_CUDA).ok).toBe(false);
  });
});

describe('CUDA after compilation', () => {
  const usage = { registersPerThread: 64, localBytes: 0, staticSharedBytes: 0, maxThreadsPerBlock: 1024 };
  it('accepts a kernel without spills and computes its occupancy', () => {
    const v = checkCompiled('cuda', plan({}), usage, H100_CUDA);
    expect(v.ok).toBe(true);
    // 64 regs × 128 threads: 2048 registers per warp, 32 warps of registers per SM → 8 blocks, half the SM's threads.
    expect(v.occupancy).toEqual({ blocksPerSm: 8, fraction: 0.5, limitedBy: 'registers' });
  });
  it('measures a kernel that spills a few bytes (noted), rejects more', () => {
    const few = checkCompiled('cuda', plan({}), { ...usage, localBytes: 16 }, H100_CUDA);
    expect(few.ok).toBe(true);
    expect(few.spillBytes).toBe(16);
    // The SSD walk on warpgroup products spills 56 bytes at three blocks per SM and is the fastest (RESULTS run 142).
    expect(checkCompiled('cuda', plan({}), { ...usage, localBytes: 56 }, H100_CUDA).ok).toBe(true);
    expect(checkCompiled('cuda', plan({}), { ...usage, localBytes: 80 }, H100_CUDA).reasons.join()).toMatch(/spills: 80 bytes .*64 tolerated/);
  });
  it('rejects blocks too large for the registers, and blocks that fit no SM', () => {
    expect(checkCompiled('cuda', plan({ workgroupSize: 512 }), { ...usage, maxThreadsPerBlock: 256 }, H100_CUDA).reasons.join()).toMatch(/512 threads per block > 256/);
    const v = checkCompiled('cuda', plan({ workgroupSize: 512 }), { ...usage, registersPerThread: 255 }, H100_CUDA);
    expect(v.ok).toBe(false);
    expect(v.occupancy?.limitedBy).toBe('registers');
  });
  it('counts threads, blocks, registers and shared memory like the occupancy calculator', () => {
    expect(occupancy(H100_CUDA.sm!, 1024, 32, 0)).toMatchObject({ blocksPerSm: 2, fraction: 1 });
    expect(occupancy(H100_CUDA.sm!, 32, 16, 0)).toMatchObject({ blocksPerSm: 32, limitedBy: 'blocks' });
    expect(occupancy(H100_CUDA.sm!, 256, 32, 100 * 1024)).toMatchObject({ blocksPerSm: 2, limitedBy: 'shared' });
  });
});

describe('surviving spaces per device', () => {
  // A Mamba-1 with 256 state elements per row: the carried state of `rows`
  // rows takes 2 KiB each, so rows × state outgrows 32, then 48 KiB.
  const survivors = (limits: typeof CPU_ADAPTER, kind: 'webgpu' | 'cuda'): Set<string> => {
    const p: Program = { ...mamba, staticDims: { ...mamba.staticDims, dstate: 256 }, schedule: { ...mamba.schedule, threads: [32, 64], items: [2], rows: [1, 4, 8, 16, 32], rowBlock: [1], lanes: [1], shuffle: [0], tileChunks: [1], prefetch: [0], scatter: [0], stage: [0], segment: [0] } };
    const dims = { batch: 2, dim: 512, seqlen: 4096, dstate: 256, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const space = scheduleSpace(p);
    const cs = screen(sp, space, kind, limits, dims);
    for (const c of cs) if (c.status === 'rejected') expect(c.reasons.join()).toMatch(/workgroup memory|threads per workgroup/);
    return new Set(cs.filter((c) => c.status === 'untried').map((c) => formatSchedule(c.schedule, space)));
  };

  it('differ between the CPU adapter, H100 WebGPU and H100 CUDA', () => {
    const cpu = survivors(CPU_ADAPTER, 'webgpu');
    const webgpu = survivors(H100_WEBGPU, 'webgpu');
    const cuda = survivors(H100_CUDA, 'cuda');
    // Each device's space contains the smaller device's, strictly.
    for (const s of cpu) expect(webgpu.has(s), s).toBe(true);
    for (const s of webgpu) expect(cuda.has(s), s).toBe(true);
    expect(webgpu.size).toBeGreaterThan(cpu.size);
    expect(cuda.size).toBeGreaterThan(webgpu.size);
    // 16 rows × 2 KiB of carried state: over 32 KiB, under 48 KiB.
    expect(cpu.has('threads=32 rows=16')).toBe(false);
    expect(webgpu.has('threads=32 rows=16')).toBe(true);
    // 32 rows: 64 KiB, only CUDA's opt-in shared memory holds it.
    expect(webgpu.has('threads=32 rows=32')).toBe(false);
    expect(cuda.has('threads=32 rows=32')).toBe(true);
    // 64 × 32 = 2048 threads fit nowhere.
    expect(cuda.has('threads=64 rows=32')).toBe(false);
  });

  it('renders each surviving point once: knobs the lowering ignores give the same kernel', () => {
    // chunk is the SSD's knob; tileChunks, prefetch, scatter and stage the state-lanes form's with shuffles, segment the
    // state-lanes form's: the chunked scan ignores all six.
    const p: Program = { ...mamba, schedule: { ...mamba.schedule, threads: [32], items: [2], rows: [1], rowBlock: [1], lanes: [1], shuffle: [0], chunk: [16, 32, 64], tileChunks: [1, 2], prefetch: [0, 1], scatter: [0, 1], stage: [0, 1], segment: [0, 64] } };
    const dims = { batch: 1, dim: 8, seqlen: 100, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const cs = screen(sp, scheduleSpace(p), 'webgpu', CPU_ADAPTER, dims, compileKernel);
    expect(cs.filter((c) => c.status === 'untried')).toHaveLength(1);
    expect(cs.filter((c) => c.status === 'same-kernel')).toHaveLength(3 * 2 * 2 * 2 * 2 * 2 - 1);
  });

  it('judges a split sequence by its unsplit kernel: the same verdicts as rendering its three launches', () => {
    // Segment 96 is no multiple of lanes × items × tileChunks (64 with tileChunks 4): refused; rows 64 × lanes 4 × rowBlock 4 do not fit.
    const p: Program = { ...mamba, schedule: { ...mamba.schedule, threads: [32], items: [4], rows: [16, 64], rowBlock: [1, 4], lanes: [4], shuffle: [1], tileChunks: [1, 4], prefetch: [0], scatter: [0, 1], stage: [0, 1], segment: [0, 96, 256] } };
    const dims = { batch: 1, dim: 64, seqlen: 1024, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const fast = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, compileKernel);
    const full = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, (...a) => compileKernel(...a));
    expect(fast.map((c) => c.status)).toEqual(full.map((c) => c.status));
    const split = fast.filter((c) => c.schedule.segment > 0);
    expect(split.some((c) => c.status === 'untried')).toBe(true);
    expect(split.find((c) => c.schedule.segment === 96 && c.schedule.tileChunks === 4 && c.schedule.rows === 16)!.reasons.join()).toMatch(/segment must be a positive multiple of 64/);
  }, 60_000);

  it('screens in worker threads exactly as on one thread: the same statuses, reasons, resources and same-kernel links', async () => {
    const p: Program = { ...mamba, schedule: { ...mamba.schedule, threads: [32, 64], items: [4, 2, 8], rows: [16, 32], rowBlock: [1, 2], lanes: [1, 4], shuffle: [0, 1], tileChunks: [1, 2], prefetch: [0], scatter: [0, 1], stage: [0, 1], segment: [0, 256] } };
    const dims = { batch: 1, dim: 64, seqlen: 1024, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const one = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, compileKernel);
    const pool = await screenInParallel(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, { workers: 2, minRenders: 0 });
    const view = (cs: Candidate[]) => cs.map((c) => ({ s: c.schedule, status: c.status, reasons: c.reasons, resources: c.resources, occupancy: c.occupancy, sameAs: c.sameAs ? cs.indexOf(c.sameAs) : -1 }));
    expect(view(pool)).toEqual(view(one));
    expect(one.filter((c) => c.status === 'untried').length).toBeGreaterThan(20);
    expect(one.some((c) => c.status === 'rejected')).toBe(true);
  }, 120_000);

  it('a segment at least as long as the sequence is no split: the unsplit kernel stands for it, shorter ones are rendered', () => {
    const p: Program = { ...mamba, schedule: { ...mamba.schedule, threads: [32], items: [4], rows: [16], rowBlock: [1], lanes: [4], shuffle: [1], tileChunks: [1], prefetch: [0], scatter: [0], stage: [0], segment: [0, 64, 128, 4096] } };
    const dims = { batch: 1, dim: 64, seqlen: 128, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const cs = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, compileKernel);
    const at = (segment: number) => cs.find((c) => c.schedule.segment === segment)!;
    expect(at(0).status).toBe('untried');
    expect(at(64).status).toBe('untried');
    for (const s of [128, 4096]) {
      expect(at(s).status, String(s)).toBe('same-kernel');
      expect(at(s).sameAs).toBe(at(0));
    }
  });

  it('skips rendering points whose canonical schedule it has seen, and loses no distinct kernel by it', () => {
    // The state-lanes form ignores threads, and tileChunks, prefetch, scatter and stage without shuffles (scatter with one lane).
    const p: Program = { ...mamba, schedule: { ...mamba.schedule, threads: [32, 64], items: [4, 2], rows: [16], rowBlock: [1, 2], lanes: [1, 4], shuffle: [0, 1], tileChunks: [1, 2], prefetch: [0, 1], scatter: [0, 1], stage: [0, 1], segment: [0] } };
    const dims = { batch: 2, dim: 64, seqlen: 300, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const fast = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, compileKernel);
    // Another function than compileKernel: no shortcut, every point rendered and compared by its source.
    const full = screen(sp, scheduleSpace(p), 'cuda', H100_CUDA, dims, (...a) => compileKernel(...a));
    expect(fast.map((c) => c.status)).toEqual(full.map((c) => c.status));
    expect(fast.filter((c) => c.status === 'untried').length).toBe(full.filter((c) => c.status === 'untried').length);
    expect(fast.filter((c) => c.status === 'rejected').length).toBeGreaterThan(0); // scatter with items 2 < lanes 4
  }, 60_000); // 1 024 points rendered in full: a few seconds alone, more beside other test files

  it('counts rowBlock: carried state of rows × rowBlock rows, registers of items × rowBlock', () => {
    // Same 256-element state as above: 4 rows × 4 channels per thread carry as much as 16 rows (over 32 KiB with the scan arrays).
    const p: Program = { ...mamba, staticDims: { ...mamba.staticDims, dstate: 256 }, schedule: { ...mamba.schedule, threads: [32], items: [2], rows: [1, 4], rowBlock: [1, 2, 4, 8], lanes: [1], shuffle: [0], tileChunks: [1], prefetch: [0], scatter: [0], stage: [0], segment: [0] } };
    const dims = { batch: 2, dim: 512, seqlen: 4096, dstate: 256, ngroups: 1 };
    const sp = specializeFor(p, tuneVariant(p), dims);
    const cs = screen(sp, scheduleSpace(p), 'webgpu', CPU_ADAPTER, dims);
    const find = (rows: number, rowBlock: number) => cs.find((c) => c.schedule.rows === rows && c.schedule.rowBlock === rowBlock)!;
    expect(find(4, 2).status).toBe('untried'); // 8 rows' state: 16 KiB
    expect(find(1, 8).status).toBe('untried');
    expect(find(4, 4).status).toBe('rejected');
    expect(find(4, 4).reasons.join()).toMatch(/workgroup memory/);
    expect(find(4, 8).status).toBe('rejected');
    const budget = (items: number, rowBlock: number): number => compileKernel(sp, 'cuda', { threads: 32, items, rows: 1, rowBlock }, { subgroups: true }).plan.registerBudget;
    expect(budget(2, 4)).toBe(128);
    expect(budget(4, 4)).toBe(255);
    expect(budget(8, 1)).toBe(128);
  });

  it('reads shared memory and buffers off the plan', () => {
    const p = mamba;
    const dims = { batch: 1, dim: 8, seqlen: 100, dstate: 16, ngroups: 1 };
    const info = compileKernel(specializeFor(p, tuneVariant(p), dims), 'wgsl', { threads: 64, items: 2, rows: 4 }, { subgroups: false });
    const r = planResources(info.kernel, info.plan);
    expect(r.sharedBytes).toBe(info.plan.shared.reduce((n, s) => n + 4 * s.size, 0));
    expect(r.workgroupSize).toBe(256);
    expect(r.storageBuffers).toBe(info.kernel.bindings.length);
  });
});

/** nvcc, if installed: ptxas reports what the CUDA backend reads with cuFuncGetAttribute. */
function nvccPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe.skipIf(!nvccPath())('CUDA after compilation, with ptxas resource usage', () => {
  // What NUM_REGS and LOCAL_SIZE_BYTES report on the device, read off `ptxas -v` for sm_90.
  const usageOf = (threads: number, items: number) => {
    const dims = { batch: 8, dim: 64, seqlen: 4096, dstate: 16, ngroups: 1 };
    const info = compileKernel(specializeFor(mamba, tuneVariant(mamba), dims), 'cuda', { threads, items, rows: 1 }, { subgroups: true, subgroupSize: 32 });
    const dir = mkdtempSync(path.join(tmpdir(), 'scanforge-ptxas-'));
    try {
      writeFileSync(path.join(dir, 'k.cu'), info.kernel.source);
      // ptxas -v reports on stderr.
      const r = spawnSync(nvccPath()!, ['-arch=sm_90', '-cubin', '-o', path.join(dir, 'k.cubin'), '-Xptxas', '-v', path.join(dir, 'k.cu')], { encoding: 'utf8' });
      return { log: `${r.stdout}${r.stderr}`, info };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const parse = (log: string) => ({
    registersPerThread: Number(/Used (\d+) registers/.exec(log)?.[1]),
    localBytes: Number(/(\d+) bytes stack frame/.exec(log)?.[1]),
    staticSharedBytes: 0,
    maxThreadsPerBlock: 1024,
  });

  it('rejects a block whose registers spill more than a few bytes (t1024 i16) and accepts one that fits', () => {
    for (const [threads, items, ok] of [[1024, 16, false], [64, 1, true]] as const) {
      const { log, info } = usageOf(threads, items);
      const usage = parse(log);
      expect(Number.isFinite(usage.registersPerThread), log).toBe(true);
      const v = checkCompiled('cuda', planResources(info.kernel, info.plan), usage, H100_CUDA);
      expect(v.ok, `t${threads}i${items}: ${v.reasons.join('; ')}`).toBe(ok);
      if (!ok) expect(v.reasons.join()).toMatch(/spills/);
    }
  }, 60_000);
});
