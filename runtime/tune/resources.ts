// The resource model: which schedules can run on a device at all, decided
// before anything is launched. Two stages:
//  - checkPlan: from the rendered kernel and its plan alone (threads per
//    workgroup, shared memory, storage buffers, subgroups, grid) against the
//    device's limits. No compiler, no device: runs on limit objects.
//  - checkCompiled: after the target compiler ran, from what it reports
//    (CUDA: registers per thread, local memory = spills, the largest block
//    the kernel can launch) and the occupancy that follows. A few spilled
//    bytes do not reject a kernel: they can be the price of occupancy, and
//    the measurement decides (RESULTS run 57: 16 bytes spilled outside the
//    step loop at 128 registers ran 16% faster than 0 at 168; run 142: the
//    SSD walk on warpgroup products, 56 bytes at the 168-register cap of three
//    blocks per SM, is the fastest Mamba-2 kernel by 1.5× and was rejected at
//    a 32-byte limit).
// A rejected schedule carries its reasons; an accepted one an occupancy
// estimate the search uses to order its seeds.

import type { KernelPlan } from '../../codegen/plan/ast.js';
import type { Backend, DeviceLimits, KernelUsage, MultiprocessorLimits, RenderedKernel } from '../backend.js';

/** What a kernel asks of the device, read off its plan. */
export interface PlanResources {
  workgroupSize: number;
  sharedBytes: number;
  storageBuffers: number;
  /** Registers per thread the plan expects (an upper estimate before compilation). */
  registerBudget: number;
  usesSubgroups: boolean;
  /** Workgroups a launch at the tuning shape needs, when known. */
  workgroups?: number;
}

export interface Occupancy {
  blocksPerSm: number;
  /** Resident threads per SM as a fraction of the SM's maximum. */
  fraction: number;
  limitedBy: 'threads' | 'blocks' | 'registers' | 'shared';
}

export interface Verdict {
  ok: boolean;
  /** Why not (empty when ok). */
  reasons: string[];
  /** Spilled bytes per thread of an accepted kernel (at most TOLERATED_SPILL_BYTES). */
  spillBytes?: number;
  /** Where the device reports SM resources (CUDA); estimated from the register budget before compilation. */
  occupancy?: Occupancy;
}

/** Bytes of one element of a workgroup array: every plan type is 32-bit. */
const SHARED_ELEM_BYTES = 4;
const WARP = 32;
const MAX_REGISTERS = 255;
/** Registers are allocated per warp in units of 256 (sm_50 and later). */
const REGISTER_UNIT = 256;
/** Local memory per thread the tuner still measures; more is a kernel the compiler could not fit. */
export const TOLERATED_SPILL_BYTES = 64;

export function planResources(kernel: RenderedKernel, plan: KernelPlan, workgroups?: number): PlanResources {
  const fromPlan = plan.shared.reduce((n, s) => n + s.size * SHARED_ELEM_BYTES, 0);
  return {
    workgroupSize: kernel.workgroupSize,
    // The renderer's figure is what the launch asks for; the plan's is the floor.
    sharedBytes: Math.max(kernel.sharedBytes, fromPlan),
    storageBuffers: kernel.bindings.length,
    registerBudget: plan.registerBudget,
    usesSubgroups: plan.usesSubgroups,
    workgroups,
  };
}

const kib = (b: number): string => `${(b / 1024).toFixed(b % 1024 ? 1 : 0)} KiB`;

/** Limits every target shares: workgroup size, shared memory, buffers, subgroups, grid. */
function commonReasons(kind: Backend['kind'], r: PlanResources, limits: DeviceLimits): string[] {
  const why: string[] = [];
  const storage = kind === 'cuda' ? 'shared memory per block (opt-in maximum)' : 'maxComputeWorkgroupStorageSize';
  if (r.workgroupSize > limits.maxThreadsPerWorkgroup) why.push(`${r.workgroupSize} threads per workgroup > ${limits.maxThreadsPerWorkgroup} allowed`);
  if (r.sharedBytes > limits.maxWorkgroupStorageBytes) why.push(`${kib(r.sharedBytes)} workgroup memory > ${kib(limits.maxWorkgroupStorageBytes)} ${storage}`);
  if (r.storageBuffers > limits.maxStorageBuffers) why.push(`${r.storageBuffers} storage buffers > ${limits.maxStorageBuffers} per shader stage`);
  if (r.usesSubgroups && !limits.subgroups) why.push('uses subgroup operations the device does not have');
  if (r.workgroups !== undefined && r.workgroups > limits.maxGridDim[0] * limits.maxGridDim[1]) {
    why.push(`${r.workgroups} workgroups exceed the grid (${limits.maxGridDim[0]} × ${limits.maxGridDim[1]})`);
  }
  return why;
}

/** Before compilation: the plan against the device's limits. */
export function checkPlan(kind: Backend['kind'], r: PlanResources, limits: DeviceLimits): Verdict {
  const reasons = commonReasons(kind, r, limits);
  if (!limits.sm || reasons.length) return { ok: reasons.length === 0, reasons };
  // The compiler will fit the registers to the block (launch bounds); estimate
  // what it will use so that seeds can be ordered by occupancy.
  const regs = Math.min(r.registerBudget, Math.floor(limits.sm.registersPerBlock / roundUp(r.workgroupSize, WARP)), MAX_REGISTERS);
  const occ = occupancy(limits.sm, r.workgroupSize, regs, r.sharedBytes);
  if (occ.blocksPerSm === 0) reasons.push(`not one block fits an SM (${occ.limitedBy}: ${kib(r.sharedBytes)} + ${kib(limits.sm.reservedSharedPerBlock)} reserved of ${kib(limits.sm.sharedBytes)})`);
  return { ok: reasons.length === 0, reasons, occupancy: occ };
}

/** After compilation: what the target compiler reports, where it reports it. */
export function checkCompiled(kind: Backend['kind'], r: PlanResources, usage: KernelUsage | undefined, limits: DeviceLimits): Verdict {
  const pre = checkPlan(kind, r, limits);
  if (!pre.ok || !usage) return pre;
  const reasons: string[] = [];
  if (usage.localBytes > TOLERATED_SPILL_BYTES) reasons.push(`spills: ${usage.localBytes} bytes of local memory per thread (${usage.registersPerThread} registers; ${TOLERATED_SPILL_BYTES} tolerated)`);
  if (r.workgroupSize > usage.maxThreadsPerBlock) reasons.push(`${r.workgroupSize} threads per block > ${usage.maxThreadsPerBlock} this kernel can launch with ${usage.registersPerThread} registers`);
  const shared = r.sharedBytes + usage.staticSharedBytes;
  if (shared > limits.maxWorkgroupStorageBytes) reasons.push(`${kib(shared)} shared memory (with static) > ${kib(limits.maxWorkgroupStorageBytes)}`);
  let occ: Occupancy | undefined;
  if (limits.sm) {
    occ = occupancy(limits.sm, r.workgroupSize, usage.registersPerThread, shared);
    if (occ.blocksPerSm === 0) reasons.push(`not one block fits an SM (${occ.limitedBy}: ${usage.registersPerThread} registers × ${r.workgroupSize} threads, ${kib(shared)} shared)`);
  }
  return { ok: reasons.length === 0, reasons, occupancy: occ, ...(usage.localBytes > 0 ? { spillBytes: usage.localBytes } : {}) };
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/** Resident blocks per SM, as the CUDA occupancy calculator counts them. */
export function occupancy(sm: MultiprocessorLimits, threads: number, registersPerThread: number, sharedBytes: number): Occupancy {
  const warps = Math.ceil(threads / WARP);
  const regsPerWarp = roundUp(Math.max(1, registersPerThread) * WARP, REGISTER_UNIT);
  const limits: [Occupancy['limitedBy'], number][] = [
    ['threads', Math.floor(sm.maxThreads / (warps * WARP))],
    ['blocks', sm.maxBlocks],
    ['registers', regsPerWarp * warps > sm.registersPerBlock ? 0 : Math.floor(Math.floor(sm.registers / regsPerWarp) / warps)],
    ['shared', Math.floor(sm.sharedBytes / (sharedBytes + sm.reservedSharedPerBlock))],
  ];
  const [limitedBy, blocksPerSm] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
  return { blocksPerSm, fraction: (blocksPerSm * warps * WARP) / sm.maxThreads, limitedBy };
}
