// The SSD lowering's choices for a schedule and target — which form (the
// warpgroup walk, the fused kernel, the chunk-parallel form), which products
// for fp32 tensors (split tf32 on the tensor cores or the FMA units), which
// chunk where none is given — and the launches they make. compile.ts asks
// here once analysis/ssd.ts has proved a program SSD-able.

import type { SpecializedProgram } from '../dsl/ir.js';
import { analyseSsd, type SsdForm } from './analysis/ssd.js';
import type { Schedule, Target, TargetCaps } from './compile.js';
import { chooseSsdTiles, lowerSsd, operandPrecision, SsdLoweringError, type SsdCaps, type SsdSchedule } from './lower/ssd.js';
import { chooseChunkedTiles, lowerSsdChunked } from './lower/ssd-chunked.js';
import { lowerSsdWgmma, ssdWgmmaRefusal, WGMMA_CHUNK, WGMMA_THREADS } from './lower/ssd-wgmma.js';
import type { LaunchSequence } from './plan/ast.js';

/**
 * The SSD form a schedule that names none gets: the warpgroup walk where the
 * device has the products, the program takes the walk and the schedule is the
 * walk's tile (128 threads; chunk 64 or left to the compiler; no P or N tile),
 * as the fastest form measured there (bench/RESULTS.md run 149: 0.389 ms
 * against the fused kernel's 0.621); else the fused kernel. So the tuner's
 * points at threads 128, chunk 64 run the walk and its other points the fused
 * kernel; `ssdForm: 'fused'` asks for the fused kernel at that tile.
 */
function defaultSsdForm(sp: SpecializedProgram, form: SsdForm, target: Target, sched: Schedule, caps: TargetCaps): Schedule {
  if (sched.ssdForm !== undefined || target !== 'cuda' || !caps.warpgroupMma) return sched;
  // A P or N tile is the fused kernel's knob: asking for one asks for that kernel.
  if (sched.threads !== WGMMA_THREADS || (sched.chunk ?? WGMMA_CHUNK) !== WGMMA_CHUNK || sched.headTile !== undefined || sched.nTile !== undefined) return sched;
  return ssdWgmmaRefusal(sp, form) === undefined ? { ...sched, ssdForm: 'wgmma' } : sched;
}

/**
 * The fp32 products a schedule that names none gets: split tf32 on the
 * tensor cores for an SSD program whose tensors are all fp32, on CUDA (whose
 * matrix units the caps leave on), inside the fp32 tolerance (rel. L2 ≤ 2e-6
 * against float64) and faster than the FMA units at every fused tile of
 * Mamba-2 measured (bench/RESULTS.md runs 153 and 156: 5–30%) and at Mamba-3's best tiles,
 * slower only at its smallest chunks (q8, q16 t256), where the split's
 * conversions outweigh the small products.
 * `ssdLaunches` falls back to the FMA units where no split tiling fits (its
 * 4-byte operands take more workgroup memory); `f32Products: 'fma'` asks for
 * them.
 */
function defaultF32Products(sp: SpecializedProgram, target: Target, sched: Schedule, caps: TargetCaps): Schedule {
  if (sched.f32Products !== undefined || target !== 'cuda' || caps.matrixUnits === false || sched.ssdForm === 'wgmma') return sched;
  return sp.used.every((t) => t.dtype === 'f32') ? { ...sched, f32Products: 'tf32x3' } : sched;
}

/**
 * The SSD launches of a schedule, in the form defaultSsdForm gives (the program analysed once for every choice
 * below), with the products defaultF32Products gives, or as the schedule asks where no split tiling fits; the
 * schedule they ran. `nameOf` names a kernel.
 */
export function ssdLaunches(sp: SpecializedProgram, target: Target, given: Schedule, caps: TargetCaps, notes: string[], nameOf: (s: Schedule) => string): { ssd: LaunchSequence; sched: Schedule } {
  const form = analyseSsd(sp);
  const formed = defaultSsdForm(sp, form, target, given, caps);
  if (formed !== given) notes.push(`ssd: the walk on warpgroup products (ssdForm 'wgmma'), the device having them; ssdForm 'fused' asks for the fused kernel`);
  const split = defaultF32Products(sp, target, formed, caps);
  if (split !== formed) {
    try {
      const ssd = ssdPlans(sp, form, target, split, caps, nameOf);
      notes.push(`ssd: fp32 products on the tensor cores as split tf32 (f32Products 'tf32x3'); f32Products 'fma' asks for the FMA units`);
      return { ssd, sched: split };
    } catch (e) {
      if (!(e instanceof SsdLoweringError)) throw e;
      notes.push(`ssd: fp32 products on the FMA units: ${e.message}`);
    }
  }
  return { ssd: ssdPlans(sp, form, target, formed, caps, nameOf), sched: formed };
}

/**
 * The SSD plan for a target: tensor-core-shaped accumulators on CUDA when
 * the tensors are bf16/f16; on CUDA at most 96 KiB of shared memory, so two
 * workgroups share an SM.
 */
function ssdPlans(sp: SpecializedProgram, form: SsdForm, target: Target, sched: Schedule, caps: TargetCaps, nameOf: (s: Schedule) => string): LaunchSequence {
  const narrow = sp.used.some((t) => t.dtype !== 'f32');
  const budget = target === 'cuda' ? Math.min(caps.sharedBytes ?? Infinity, 96 * 1024) : (caps.sharedBytes ?? 16 * 1024);
  const splitF32 = sched.f32Products === 'tf32x3';
  if (splitF32) {
    const why = target !== 'cuda' ? `it is CUDA's (${target} has no tf32 products)` : narrow ? 'it is for fp32 tensors (bf16/f16 products are on the tensor cores already)' : undefined;
    if (why) throw new SsdLoweringError(`f32Products 'tf32x3' cannot run ${sp.name}: ${why}`);
  }
  // Asking for the FMA units where the tensor cores take 16-bit products: refused rather than ignored.
  if (sched.f32Products === 'fma' && target === 'cuda' && narrow && caps.matrixUnits !== false) {
    throw new SsdLoweringError(`f32Products 'fma' cannot run ${sp.name}: it is for fp32 tensors (bf16/f16 products are on the tensor cores)`);
  }
  const matrixUnits = caps.matrixUnits ?? (target === 'cuda' && (narrow || splitF32));
  // CUDA keeps the products' operands in shared memory as the tensor cores round them (2 bytes each).
  const precision = operandPrecision(sp.used);
  // CUDA copies global to shared memory asynchronously (cp.async, sm_80 on).
  // Subgroups of a known size (CUDA warps; a WebGPU adapter reporting one size) run the chunk's cumulative sum on shuffles.
  const subgroupLanes = target === 'cuda' ? 32 : caps.subgroups ? caps.subgroupSize : undefined;
  const ssdCaps = { sharedBytes: budget, matrixUnits, asyncCopies: target === 'cuda', ...(caps.sharedBytes !== undefined ? { residentSharedBytes: caps.sharedBytes } : {}), ...(target === 'cuda' && matrixUnits && precision !== 'f32' ? { narrowOperands: precision } : {}), ...(subgroupLanes ? { subgroupLanes } : {}), ...(splitF32 ? { splitF32 } : {}) };
  if (sched.ssdForm === 'wgmma') {
    // The warpgroup walk's tiling is fixed: chunk 64, 128 threads.
    const why = target !== 'cuda' ? `it is CUDA's (${target} has no warpgroup products)` : !caps.warpgroupMma ? 'the device has no warpgroup matrix products (sm_90a)' : ssdWgmmaRefusal(sp, form);
    if (why) throw new SsdLoweringError(`ssdForm 'wgmma' cannot run ${sp.name}: ${why}`);
    if ((sched.chunk ?? WGMMA_CHUNK) !== WGMMA_CHUNK || sched.threads !== WGMMA_THREADS) throw new SsdLoweringError(`ssdForm 'wgmma' runs chunk ${WGMMA_CHUNK} on ${WGMMA_THREADS} threads, got chunk ${sched.chunk ?? '(default)'}, threads ${sched.threads}`);
    return lowerSsdWgmma(sp, form, nameOf({ ...sched, chunk: WGMMA_CHUNK }));
  }
  const [P, N] = [sp.staticDims[form.pDim]!, sp.staticDims[form.nDim]!];
  // An explicit chunk is taken as given (and fails if it does not fit); else the first candidate that fits.
  const chunked = sched.ssdForm === 'chunked';
  const tiles = (s: SsdSchedule, c: SsdCaps): unknown => (chunked ? chooseChunkedTiles(P, N, s, c) : chooseSsdTiles(P, N, s, c, 1, undefined, form.prev === undefined));
  const fits = (chunk: number): boolean => {
    try {
      tiles({ threads: sched.threads, chunk, headTile: sched.headTile, nTile: sched.nTile }, ssdCaps);
      return true;
    } catch (e) {
      if (e instanceof SsdLoweringError) return false;
      throw e;
    }
  };
  const chunk = sched.chunk ?? sp.schedule.chunk.find(fits) ?? sp.schedule.chunk[0]!;
  const ssdSched = { threads: sched.threads, chunk, headTile: sched.headTile, nTile: sched.nTile };
  const name = nameOf({ ...sched, chunk });
  return chunked ? lowerSsdChunked(sp, form, ssdSched, ssdCaps, name) : { launches: [lowerSsd(sp, form, ssdSched, ssdCaps, name)], scratch: [] };
}
