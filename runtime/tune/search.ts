// The autotuner: for one program variant, dtype, device and shape, finds the
// fastest schedule in the program's declared space and remembers it.
//
//  1. Every point of the space is rendered and put through the resource
//     model (resources.ts); points the device cannot run are rejected before
//     anything is compiled for it, and points that render to the same kernel
//     are measured once.
//  2. Survivors are compiled; what the compiler reports (CUDA: registers,
//     spills) can still reject them. Each then passes the correctness gate
//     (gate.ts) before it is timed (measure.ts): a wrong kernel cannot win.
//  3. Small spaces are measured exhaustively; larger ones by pattern search
//     (compass and trade steps, Hooke–Jeeves moves) from the default schedule and
//     the best-looking points by occupancy. Both stop at the time budget.
//  4. The winner goes into the tune cache (cache.ts); a later call for the
//     same key answers from there without measuring.

import { createHash } from 'node:crypto';
import { canonicalSchedule, compileKernel, splitOf } from '../../codegen/compile.js';
import type { DType } from '../../dsl/decl.js';
import type { Program, SpecializedProgram, Variant } from '../../dsl/ir.js';
import type { Backend, DeviceLimits } from '../backend.js';
import { ProgramRunner, specializeFor, workgroupsOf, type RunOptions } from '../program-runner.js';
import { resolveDims, type Dims } from '../shapes.js';
import { capsOf, targetOf } from '../target.js';
import { TuneCache, type TunedEntry } from './cache.js';
import { CorrectnessGate, checkShape } from './gate.js';
import { kernelIdentity, shapeBucket, type Codegen, type TuneKey } from './key.js';
import { staleReason } from './lookup.js';
import { RunTimer, medianOf, timingInputs } from './measure.js';
import { checkCompiled, checkPlan, planResources, type Occupancy, type PlanResources } from './resources.js';
import { screenInParallel } from './screen-pool.js';
import { allPoints, asSchedule, formatSchedule, indexOf, scheduleKey, scheduleSpace, spaceSize, type Knobs, type ScheduleSpace, type SpaceOverride } from './space.js';

export type TuneMode = 'auto' | 'exhaustive' | 'guided';

export interface TuneOptions {
  backend: Backend;
  program: Program;
  /** The shape to tune at (static dims default to the program's). */
  dims: Dims;
  /** Default: every optional input present, default flags, no initial or final state (tuneVariant). */
  variant?: Variant;
  dtype?: DType;
  /** Wall-clock budget for the whole search, ms (default 60 s). */
  budgetMs?: number;
  /** 'auto' (default): exhaustive when at most `exhaustiveMax` distinct kernels survive, guided otherwise. */
  mode?: TuneMode;
  exhaustiveMax?: number;
  /** Candidate values per knob instead of the program's declared ones. */
  space?: SpaceOverride;
  /** Timed launches per candidate (default 15). */
  reps?: number;
  /** The cache to read and write (default: the per-user file); false: neither. */
  cache?: TuneCache | false;
  /** Search even when the cache has an answer. */
  force?: boolean;
  /** Shape of the correctness check (default: the program's checkDims). */
  checkDims?: Dims;
  seed?: number;
  /** Renders kernels (tests wrap compileKernel to plant a wrong one). */
  codegen?: Codegen;
  /** Called once the resource model has run, before anything is compiled. */
  onStart?: (s: TuneStart) => void;
  onProgress?: (p: TuneProgress) => void;
  /** A runner to compile through (one tune after another at the same program reuses its compiled kernels). */
  runner?: ProgramRunner;
}

export type CandidateStatus = 'untried' | 'rejected' | 'same-kernel' | 'measured' | 'failed-check' | 'error';

/**
 * A candidate whose first timed run takes this many times the best so far is
 * timed no further (its one run is its time): at Mamba-1's long shape on
 * WebGPU, 1-second kernels took 15–20 s each of a 200-s budget (run 101).
 */
export const PROBE_FACTOR = 2;

export interface Candidate {
  schedule: Knobs;
  /** Per-axis value indices in the space. */
  index: number[];
  status: CandidateStatus;
  /** Why it was rejected, failed or errored. */
  reasons: string[];
  resources?: PlanResources;
  occupancy?: Occupancy;
  /** Another point that renders to the same kernel (measured in its place). */
  sameAs?: Candidate;
  ms?: number;
  /** Its runs' GPU ms: one only where that one was already PROBE_FACTOR × the best so far. */
  times?: number[];
  registers?: number;
  /** Bytes per thread the target compiler spilled (a few are tolerated: resources.ts). */
  spillBytes?: number;
}

export interface TuneStart {
  space: ScheduleSpace;
  candidates: readonly Candidate[];
  /** Distinct kernels that passed the resource model. */
  survivors: number;
  mode: 'exhaustive' | 'guided';
}

export interface TuneProgress {
  /** Distinct kernels evaluated so far, and how many survived the resource model. */
  done: number;
  total: number;
  candidate: Candidate;
  best?: Candidate;
  space: ScheduleSpace;
}

export interface TuneResult {
  fromCache: boolean;
  key: TuneKey;
  entry: TunedEntry;
  space: ScheduleSpace;
  /** Every point of the space with what happened to it (empty when answered from the cache). */
  candidates: Candidate[];
  mode: 'exhaustive' | 'guided';
  budgetExhausted: boolean;
  elapsedMs: number;
}

/** The variant tuned unless told otherwise: what a model's forward pass typically runs. */
export function tuneVariant(p: Program): Variant {
  return { present: p.inputs.filter((t) => t.optional).map((t) => t.name), flags: { ...p.flags }, initStates: [], finalStates: [] };
}

/** A space as text, stored with an entry: a different space asks for a new search. */
export function spaceText(s: ScheduleSpace): string {
  return s.axes.map((a) => `${a.name}=${a.values.join('/')}`).join(';');
}

/** Improvement a move must bring to count (below this, timings are noise). */
const EPS = 0.005;
/** Compiles started ahead of the candidate being measured (NVRTC / pipeline creation overlap). */
const PREFETCH = 6;
/**
 * Start points of the pattern search: the default, then each time the best-ranked point farthest
 * from the seeds before (most knobs different): a space of several kernel forms (Mamba-1's chunked
 * scan and state lanes, lanes × shuffle) has a basin per form, and climbs from near seeds stay in
 * the default's (RESULTS run 53: the guided CUDA search kept the default, 2.04× the best).
 */
const SEEDS = 3;
/** Errors after which the device cannot be used any more: stop rather than fail every candidate. */
const FATAL = /device lost|context is unusable|used after destroy/i;

export async function tune(o: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  const { backend, program: p } = o;
  const budget = o.budgetMs ?? 60_000;
  const variant = o.variant ?? tuneVariant(p);
  const dims = resolveDims(p, {}, { ...p.staticDims, ...o.dims });
  const codegen = o.codegen ?? compileKernel;
  const target = targetOf(backend.kind);
  const caps = capsOf(backend.limits);
  const sp = specializeFor(p, variant, dims, o.dtype);
  const space = scheduleSpace(p, o.space);
  const id = kernelIdentity(sp, target, caps, o.dtype, codegen);
  const key: TuneKey = { fingerprint: backend.fingerprint, kernelHash: id.hash, bucket: shapeBucket(sp, dims) };
  const cache = o.cache === false ? undefined : (o.cache ?? TuneCache.open());
  const elapsed = () => performance.now() - t0;

  if (cache && !o.force) {
    const hit = cache.get(key);
    if (hit && hit.space === spaceText(space)) {
      const why = staleReason(backend, sp, hit, codegen);
      if (!why) return { fromCache: true, key, entry: hit, space, candidates: [], mode: hit.mode, budgetExhausted: false, elapsedMs: elapsed() };
      cache.reject(key, why);
    }
  }

  // 1. Resource model over every point; one representative per distinct kernel.
  const candidates = codegen === compileKernel ? await screenInParallel(sp, space, backend.kind, backend.limits, dims) : screen(sp, space, backend.kind, backend.limits, dims, codegen);
  const survivors = candidates.filter((c) => c.status === 'untried');
  if (survivors.length === 0) throw new Error(`${p.name}: no schedule of the space fits ${backend.deviceName}:\n${reasonSummary(candidates, space)}`);
  const mode = o.mode === 'exhaustive' || o.mode === 'guided' ? o.mode : survivors.length <= (o.exhaustiveMax ?? 32) ? 'exhaustive' : 'guided';
  o.onStart?.({ space, candidates, survivors: survivors.length, mode });

  // 2. Compile, check, time.
  const runner = o.runner ?? new ProgramRunner(backend, p, { tuned: false, codegen });
  const gate = new CorrectnessGate(runner, variant, checkShape(p, dims, o.checkDims), o.dtype, o.seed ?? 1);
  const reps = o.reps ?? 15;
  const seed = o.seed ?? 1;
  let timer: RunTimer | undefined;
  let done = 0;
  let best: Candidate | undefined;
  let budgetExhausted = false;
  // The budget never stops a search that has no valid answer yet.
  const outOfBudget = (): boolean => (budgetExhausted ||= best !== undefined && elapsed() > budget);
  const timingOpts = (c: Candidate): RunOptions => ({ finalStates: variant.finalStates, flags: variant.flags, dims, dtype: o.dtype, schedule: asSchedule(c.schedule) });
  const prefetch = (cs: Candidate[]): void => {
    for (const c of cs.slice(0, PREFETCH)) if (c.status === 'untried') gate.prepare(asSchedule(c.schedule)).catch(() => undefined);
  };

  const evaluate = async (c: Candidate): Promise<number | undefined> => {
    if (c.sameAs) return evaluate(c.sameAs);
    if (c.status !== 'untried') return c.ms;
    try {
      const prep = await gate.prepare(asSchedule(c.schedule));
      const post = checkCompiled(backend.kind, c.resources!, prep.kernel.usage, backend.limits);
      c.registers = prep.kernel.usage?.registersPerThread;
      if (post.occupancy) c.occupancy = post.occupancy;
      if (post.spillBytes) c.spillBytes = post.spillBytes;
      if (!post.ok) {
        c.status = 'rejected';
        c.reasons.push(...post.reasons);
      } else {
        const verdict = await gate.check(asSchedule(c.schedule));
        if (!verdict.ok) {
          c.status = 'failed-check';
          c.reasons.push(...verdict.errors.filter((e) => !e.ok).map((e) => `${e.name}: rel L2 ${e.relL2.toExponential(2)} > ${e.tolerance.toExponential(0)}${e.nan ? ` (${e.nan} non-finite)` : ''}`));
        } else {
          // Where a tensor exceeds one binding (WebGPU), the runs go in pieces, timed one after another.
          timer ??= new RunTimer(runner, timingInputs(sp, dims, seed), timingOpts(c));
          const preps = await timer.prepare(asSchedule(c.schedule));
          // One run first: a candidate already far slower than the best is not worth its repetitions.
          const probe = best && reps > 1 ? (await timer.time(backend, preps, 1)).ms : undefined;
          c.times = probe && probe[0]! > PROBE_FACTOR * best!.ms! ? probe : (await timer.time(backend, preps, reps)).ms;
          c.ms = medianOf(c.times);
          c.status = 'measured';
          if (!best || c.ms < best.ms!) best = c;
        }
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (FATAL.test(msg)) throw e;
      c.status = 'error';
      c.reasons.push(msg.split('\n')[0]!);
    }
    done++;
    o.onProgress?.({ done, total: survivors.length, candidate: c, best, space });
    return c.ms;
  };

  const ranked = rankSeeds(survivors, space, p);
  try {
    if (mode === 'exhaustive') {
      for (let k = 0; k < ranked.length && !outOfBudget(); k++) {
        prefetch(ranked.slice(k + 1));
        await evaluate(ranked[k]!);
      }
    } else {
      await patternSearch(space, candidates, ranked, evaluate, prefetch, outOfBudget);
    }
  } finally {
    timer?.destroy(backend);
  }

  // 3. The winner, remembered.
  const measured = survivors.filter((c) => c.status === 'measured').sort((a, b) => a.ms! - b.ms!);
  if (!best || measured.length === 0) {
    throw new Error(`${p.name}: no schedule could be measured on ${backend.deviceName}${budgetExhausted ? ` within the ${(budget / 1000).toFixed(0)} s budget` : ''}:\n${reasonSummary(candidates, space)}`);
  }
  const dflt = candidates.find((c) => scheduleKey(c.schedule) === scheduleKey(space.defaults));
  const dfltRep = dflt?.sameAs ?? dflt;
  const entry: TunedEntry = {
    ...key,
    device: backend.deviceName,
    program: p.name,
    variant: id.variant,
    dtype: id.dtype,
    lowering: id.lowering,
    target,
    caps: { ...caps },
    schedule: { ...best.schedule },
    ms: best.ms!,
    defaultSchedule: { ...space.defaults },
    defaultMs: dfltRep?.status === 'measured' ? dfltRep.ms! : null,
    dims,
    space: spaceText(space),
    mode,
    candidates: spaceSize(space),
    measured: measured.length,
    top: measured.slice(0, 8).map((c) => ({ schedule: { ...c.schedule }, ms: c.ms! })),
    tunedAt: new Date().toISOString(),
    tuneSeconds: Number((elapsed() / 1000).toFixed(2)),
  };
  cache?.put(entry);
  return { fromCache: false, key, entry, space, candidates, mode, budgetExhausted, elapsedMs: elapsed() };
}

/**
 * The resource model over every point of the space, for a device described
 * by its limits alone (no device needed): each point is rendered, rejected
 * with reasons if the lowering refuses it or it does not fit, or marked as
 * rendering the same kernel as an earlier point. Survivors stay 'untried'.
 */
export function screen(sp: SpecializedProgram, space: ScheduleSpace, kind: Backend['kind'], limits: DeviceLimits, dims: Dims, codegen: Codegen = compileKernel): Candidate[] {
  return screenWith(sp, space, dims, codegen, (point) => renderVerdict(sp, point, kind, limits, dims, codegen));
}

/** What rendering one point tells the screen: why the lowering or the device refuses it, or its resources and kernel identity. */
export interface RenderVerdict {
  rejected: boolean;
  reasons: string[];
  resources?: PlanResources;
  occupancy?: Occupancy;
  /** Hash of the launches' sources and grids (the kernel's identity), for survivors. */
  sig?: string;
}

/** Renders one point and puts every launch of it through the resource model. */
export function renderVerdict(sp: SpecializedProgram, point: Knobs, kind: Backend['kind'], limits: DeviceLimits, dims: Dims, codegen: Codegen = compileKernel): RenderVerdict {
  let info;
  try {
    info = codegen(sp, targetOf(kind), asSchedule(point), capsOf(limits));
  } catch (e) {
    return { rejected: true, reasons: [`lowering: ${e instanceof Error ? e.message : String(e)}`] };
  }
  // Every launch of a run must fit; the first's resources and occupancy are the candidate's.
  const verdicts = info.launches.map((l) => {
    const r = planResources(l.kernel, l.plan, workgroupsOf(l, dims));
    return { r, v: checkPlan(kind, r, limits), entry: l.kernel.entry };
  });
  const first = { resources: verdicts[0]!.r, ...(verdicts[0]!.v.occupancy ? { occupancy: verdicts[0]!.v.occupancy } : {}) };
  if (verdicts.some((x) => !x.v.ok)) {
    return { rejected: true, ...first, reasons: verdicts.flatMap((x) => x.v.reasons.map((m) => (verdicts.length > 1 ? `${x.entry}: ${m}` : m))) };
  }
  const sig = createHash('sha256')
    .update(info.launches.map((l) => l.kernel.source.split(l.kernel.entry).join('\0')).join('\n'))
    .update(info.launches.map((l) => `|${l.gridFromDims.join(',')}|${l.rowsPerGroup}|${l.gridTiles.map((t) => `${t.dim}/${t.size}`).join(',')}|${l.kernel.workgroupSize}|${l.kernel.sharedBytes}`).join(''))
    .digest('hex');
  return { rejected: false, reasons: [], ...first, sig };
}

/**
 * The screen's walk over the space in order, `render` giving each point it
 * has to render its verdict: points equal once the knobs their lowering
 * ignores are set aside render the same kernel and are rendered once, a
 * split sequence is judged by its unsplit kernel, and survivors with the
 * same kernel identity are measured once.
 */
export function screenWith(sp: SpecializedProgram, space: ScheduleSpace, dims: Dims, codegen: Codegen, render: (point: Knobs) => RenderVerdict): Candidate[] {
  const candidates: Candidate[] = [];
  const bySource = new Map<string, Candidate>();
  // Points equal once the knobs their lowering ignores are set aside render the same kernel: rendered once
  // (Mamba-1's space is 201 600 points: 6 715 distinct survivors on the H100 at the standard shape, 13 790 at the long one,
  // whose splits are judged by their unsplit kernels, not rendered; about 210 s on one CPU core for the long shape). Only for
  // the compiler's own codegen, whose ignored knobs these are.
  const byCanonical = new Map<string, Candidate>();
  const seqlen = dims[sp.indices[sp.scan]!.dim];
  const canonicalKey = (point: Knobs): string | undefined => (codegen === compileKernel ? scheduleKey(canonicalSchedule(sp, asSchedule(point), seqlen)) : undefined);
  // The default first: where several points render its kernel, it is the one measured (and named).
  const dflt = scheduleKey(space.defaults);
  const points = allPoints(space).sort((a, b) => Number(scheduleKey(b) === dflt) - Number(scheduleKey(a) === dflt));
  for (const point of points) {
    const c: Candidate = { schedule: point, index: indexOf(space, point), status: 'untried', reasons: [] };
    candidates.push(c);
    const canon = canonicalKey(point);
    const seen = canon === undefined ? undefined : byCanonical.get(canon);
    if (seen) {
      c.resources = seen.resources;
      c.occupancy = seen.occupancy;
      if (seen.status === 'rejected') {
        c.status = 'rejected';
        c.reasons.push(...seen.reasons);
      } else {
        c.status = 'same-kernel';
        c.sameAs = seen.sameAs ?? seen;
      }
      continue;
    }
    if (canon !== undefined) byCanonical.set(canon, c);
    // A split sequence stands or falls with its unsplit kernel (screened before it: segment 0 comes first on its axis).
    const split = canon === undefined ? undefined : splitOf(sp, asSchedule(point), seqlen);
    const unsplit = split && byCanonical.get(scheduleKey(canonicalSchedule(sp, split.unsplit, seqlen)));
    if (split && unsplit) {
      c.resources = unsplit.resources;
      c.occupancy = unsplit.occupancy;
      if (split.rejects || unsplit.status === 'rejected') {
        c.status = 'rejected';
        c.reasons.push(...(split.rejects ? [`lowering: ${split.rejects}`] : unsplit.reasons));
      }
      continue;
    }
    const r = render(point);
    if (r.resources) c.resources = r.resources;
    if (r.occupancy) c.occupancy = r.occupancy;
    if (r.rejected) {
      c.status = 'rejected';
      c.reasons.push(...r.reasons);
      continue;
    }
    // Knobs a lowering ignores render the same kernel: measure it once.
    const same = bySource.get(r.sig!);
    if (same) {
      c.status = 'same-kernel';
      c.sameAs = same;
    } else bySource.set(r.sig!, c);
  }
  return candidates;
}

/**
 * Survivors in the order they are worth trying: the program's default first,
 * then by estimated occupancy (where the device reports SM resources), a
 * workgroup size near 256, and the order the program lists its values in.
 */
function rankSeeds(survivors: Candidate[], space: ScheduleSpace, p: Program): Candidate[] {
  const declaredRank = (c: Candidate): number =>
    space.axes.reduce((n, a) => {
      const i = p.schedule[a.name].indexOf(c.schedule[a.name]);
      return n + (i < 0 ? p.schedule[a.name].length : i);
    }, 0);
  const dflt = scheduleKey(space.defaults);
  const score = (c: Candidate): number[] => [
    scheduleKey(c.schedule) === dflt ? 0 : 1,
    -(c.occupancy?.fraction ?? 0),
    Math.abs(Math.log2((c.resources?.workgroupSize ?? 256) / 256)),
    declaredRank(c),
  ];
  const keyed = survivors.map((c) => ({ c, s: score(c) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < a.s.length; i++) if (a.s[i] !== b.s[i]) return a.s[i]! - b.s[i]!;
    return 0;
  });
  return keyed.map((k) => k.c);
}

/** Compass search on the grid of value indices, with Hooke–Jeeves extrapolation along moves that paid off. */
export async function patternSearch(
  space: ScheduleSpace,
  all: Candidate[],
  ranked: Candidate[],
  evaluate: (c: Candidate) => Promise<number | undefined>,
  prefetch: (cs: Candidate[]) => void,
  outOfBudget: () => boolean,
): Promise<void> {
  const at = new Map(all.map((c) => [c.index.join(','), c]));
  const get = (idx: number[]): Candidate | undefined => at.get(idx.join(','));
  const firstStep = Math.max(1, ...space.axes.map((a) => Math.floor((a.values.length - 1) / 2)));
  const started = new Set<Candidate>();
  const differs = (a: Candidate, b: Candidate): number => a.index.reduce((n, v, k) => n + (v === b.index[k] ? 0 : 1), 0);
  const nextSeed = (): Candidate | undefined => {
    let pick: Candidate | undefined, far = -1;
    for (const c of ranked) {
      if (c.status !== 'untried') continue; // already visited by an earlier climb
      const d = started.size ? Math.min(...[...started].map((s) => differs(c, s))) : 0;
      if (d > far) { pick = c; far = d; }
      if (!started.size) break;
    }
    return pick;
  };
  for (;;) {
    if (started.size >= SEEDS || outOfBudget()) break;
    const seed = nextSeed();
    if (!seed) break;
    started.add(seed);
    let cur = seed;
    const first = await evaluate(cur);
    if (first === undefined) continue;
    let curMs: number = first;
    let step = firstStep;
    while (step >= 1 && !outOfBudget()) {
      // Compass moves along each axis, and trades (one knob up, another down
      // by the same step), which keep products like threads × rows in reach:
      // the best points of a space often lie along such a diagonal.
      const moves: number[][] = [];
      const n = space.axes.length;
      for (let a = 0; a < n; a++) for (const d of [-step, step]) moves.push(space.axes.map((_, k) => (k === a ? d : 0)));
      for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) for (const d of [-step, step]) moves.push(space.axes.map((_, k) => (k === a ? d : k === b ? -d : 0)));
      const around: Candidate[] = [];
      for (const m of moves) {
        const c = get(cur.index.map((v, k) => v + m[k]!));
        if (c && c.status !== 'rejected' && !around.includes(c)) around.push(c);
      }
      prefetch(around);
      let next: Candidate | undefined;
      let nextMs: number = curMs;
      for (const n of around) {
        if (outOfBudget()) break;
        const ms = await evaluate(n);
        if (ms !== undefined && ms < nextMs * (1 - EPS)) {
          next = n;
          nextMs = ms;
        }
      }
      if (!next) {
        step = Math.floor(step / 2);
        continue;
      }
      const dir = next.index.map((v, i) => v - cur.index[i]!);
      cur = next;
      curMs = nextMs;
      // Keep going the way that paid off while it keeps paying.
      for (;;) {
        const further = get(cur.index.map((v, i) => v + dir[i]!));
        if (!further || outOfBudget()) break;
        const ms = await evaluate(further);
        if (ms === undefined || ms >= curMs * (1 - EPS)) break;
        cur = further;
        curMs = ms;
      }
    }
  }
}

/** Why points were not measured, grouped by reason, for error messages. */
function reasonSummary(cs: Candidate[], space: ScheduleSpace): string {
  const groups = new Map<string, string[]>();
  for (const c of cs) {
    if (c.status === 'measured' || c.status === 'same-kernel') continue;
    const why = c.status === 'untried' ? 'not reached' : `${c.status}: ${c.reasons.join('; ')}`;
    const g = groups.get(why) ?? [];
    g.push(formatSchedule(c.schedule, space));
    groups.set(why, g);
  }
  return [...groups].map(([why, ss]) => `  ${why}\n    (${ss.slice(0, 6).join(', ')}${ss.length > 6 ? `, … ${ss.length} in all` : ''})`).join('\n');
}
