// The runtime side of the tune cache: given what a run is about to compile,
// the tuned schedule for this device, kernel and shape bucket, if one was
// recorded and still holds. "Still holds" is checked, not assumed: the
// schedule must name exactly the program's knobs, compile, and pass the
// resource model on this device; otherwise the entry is dropped (and said so,
// once) and the run uses the default schedule.

import type { Schedule } from '../../codegen/compile.js';
import { compileKernel } from '../../codegen/compile.js';
import type { DType } from '../../dsl/decl.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import { variantKey } from '../../dsl/ir.js';
import type { Backend } from '../backend.js';
import type { Dims } from '../shapes.js';
import { capsOf, targetOf } from '../target.js';
import { TuneCache, tuneCacheDisabled, type TunedEntry } from './cache.js';
import { kernelIdentity, shapeBucket, type Codegen, type TuneKey } from './key.js';
import { checkPlan, planResources } from './resources.js';

export interface ScheduleLookupOptions {
  /** The cache to read (default: the per-user file, opened on first use). */
  cache?: TuneCache;
  codegen?: Codegen;
}

/** The ProgramRunner hook: the tuned schedule for a specialisation at these dims, or undefined. */
export type ScheduleLookup = (backend: Backend, sp: SpecializedProgram, dims: Dims, dtype: DType | undefined) => Schedule | undefined;

/** The key a specialisation's tuned schedule is filed under on this backend. */
export function tuneKeyFor(backend: Backend, sp: SpecializedProgram, dims: Dims, dtype: DType | undefined, codegen: Codegen = compileKernel): TuneKey {
  const id = kernelIdentity(sp, targetOf(backend.kind), capsOf(backend.limits), dtype, codegen);
  return { fingerprint: backend.fingerprint, kernelHash: id.hash, bucket: shapeBucket(sp, dims) };
}

/** Why a cached schedule cannot be used for this specialisation on this backend, or undefined if it can. */
export function staleReason(backend: Backend, sp: SpecializedProgram, entry: TunedEntry, codegen: Codegen = compileKernel): string | undefined {
  const knobs = Object.keys(sp.schedule);
  const have = Object.keys(entry.schedule);
  const missing = knobs.filter((k) => !have.includes(k));
  const extra = have.filter((k) => !knobs.includes(k));
  if (missing.length || extra.length) return `its schedule's knobs (${have.join(', ')}) are not the program's (${knobs.join(', ')})`;
  let info;
  try {
    info = codegen(sp, targetOf(backend.kind), entry.schedule as unknown as Schedule, capsOf(backend.limits));
  } catch (e) {
    return `its schedule no longer compiles: ${e instanceof Error ? e.message : String(e)}`;
  }
  const v = checkPlan(backend.kind, planResources(info.kernel, info.plan), backend.limits);
  return v.ok ? undefined : `its schedule no longer fits the device: ${v.reasons.join('; ')}`;
}

/** A lookup over one cache, memoised per specialisation, device and bucket until the cache changes. */
export function scheduleLookup(opts: ScheduleLookupOptions = {}): ScheduleLookup {
  const memo = new Map<string, Schedule | undefined>();
  let memoGeneration = -1;
  let cache = opts.cache;
  const codegen = opts.codegen ?? compileKernel;
  return (backend, sp, dims, dtype) => {
    if (!opts.cache && tuneCacheDisabled()) return undefined;
    cache ??= TuneCache.open();
    if (cache.generation !== memoGeneration) {
      memo.clear();
      memoGeneration = cache.generation;
    }
    const m = [backend.fingerprint, sp.file, sp.name, variantKey(sp.variant), dtype ?? '', JSON.stringify(sp.staticDims), JSON.stringify(sp.schedule), shapeBucket(sp, dims)].join('|');
    if (memo.has(m)) return memo.get(m);
    const key = tuneKeyFor(backend, sp, dims, dtype, codegen);
    const entry = cache.get(key);
    let found: Schedule | undefined;
    if (entry) {
      const why = staleReason(backend, sp, entry, codegen);
      if (why) cache.reject(key, why);
      else found = entry.schedule as unknown as Schedule;
    }
    // reject() bumped the generation; what we memoise now is already current.
    memoGeneration = cache.generation;
    memo.set(m, found);
    return found;
  };
}

let shared: ScheduleLookup | undefined;

/** The lookup runners use unless told otherwise: the per-user cache (SCANFORGE_TUNE_CACHE=off disables it). */
export function defaultScheduleLookup(): ScheduleLookup {
  shared ??= scheduleLookup();
  return shared;
}
