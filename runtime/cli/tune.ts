// `scanforge tune`: searches a program's schedule space on one backend at one
// shape, prints progress and a table of the best configurations, and files
// the winner in the tune cache; a second run answers from the cache.

import type { DType } from '../../dsl/decl.js';
import type { Program, Variant } from '../../dsl/ir.js';
import type { Schedule } from '../../codegen/compile.js';
import type { Backend } from '../backend.js';
import { fmtDims } from '../shapes.js';
import { TuneCache, tuneCacheDisabled, type TunedEntry } from '../tune/cache.js';
import { tune, tuneVariant, type Candidate, type TuneMode, type TuneResult } from '../tune/search.js';
import { formatSchedule, scheduleKey, type ScheduleSpace, type SpaceOverride } from '../tune/space.js';

export interface TuneCliOptions {
  dims: Record<string, number>;
  dtype?: DType;
  budgetMs: number;
  mode: TuneMode;
  space: SpaceOverride;
  /** Optional inputs present ('all' by default), states given / asked. */
  present?: string[];
  initStates: string[];
  finalStates: string[];
  cachePath?: string;
  force: boolean;
  reps?: number;
  log: (line: string) => void;
}

/** "60s", "2m", "500ms", "90" (seconds) → milliseconds. */
export function parseBudget(s: string | undefined): number {
  if (s === undefined) return 60_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`--budget: '${s}' is not a duration like 60s, 2m or 500ms`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (!(ms > 0)) throw new Error(`--budget must be positive, got '${s}'`);
  return ms;
}

/** "threads=32,64;rows=1,2" → { threads: [32, 64], rows: [1, 2] } (knob names are checked against the program). */
export function parseSpace(s: string | undefined): SpaceOverride {
  const out: Partial<Record<string, number[]>> = {};
  for (const part of (s ?? '').split(';').map((x) => x.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    const values = (v ?? '').split(',').map((x) => Number(x.trim()));
    if (!k || !v || values.some((x) => !Number.isInteger(x) || x < 0)) throw new Error(`--space: '${part}' is not knob=value,value,... with non-negative integers`);
    out[k.trim()] = values;
  }
  return out as SpaceOverride;
}

/**
 * `--schedule 'lanes=8;items=2;rows=8'`: one value per knob, over the
 * program's default schedule (build and check). Unknown knobs are refused
 * when the program is known (scheduleOverride below).
 */
export function parseScheduleOption(s: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, values] of Object.entries(parseSpace(s))) {
    if (values!.length !== 1) throw new Error(`--schedule: '${k}' takes one value, got ${values!.join(',')}`);
    out[k] = values![0]!;
  }
  return out;
}

/** The knobs of `given` that program `p` declares; an unknown one is an error naming the knobs there are. */
export function scheduleOverride(p: Program, given: Record<string, number>): Partial<Schedule> {
  const names = Object.keys(p.schedule);
  for (const k of Object.keys(given)) if (!names.includes(k)) throw new Error(`${p.name}: unknown schedule knob '${k}' (knobs: ${names.join(', ')})`);
  return given as Partial<Schedule>;
}

function variantFor(p: Program, o: TuneCliOptions): Variant {
  const v = tuneVariant(p);
  return { ...v, present: o.present ?? v.present, initStates: o.initStates, finalStates: o.finalStates };
}

const fmtMs = (ms: number): string => `${ms.toFixed(ms < 1 ? 4 : 3)} ms`;

function columns(rows: string[][]): string[] {
  const w = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  return rows.map((r) => '  ' + r.map((c, k) => c.padEnd(w[k]!)).join('  ').trimEnd());
}

function topTable(entry: TunedEntry, space: ScheduleSpace, candidates: Candidate[]): string[] {
  const extra = (sched: Record<string, number>): string => {
    const c = candidates.find((x) => scheduleKey(x.schedule) === scheduleKey(sched));
    if (!c) return '';
    const parts: string[] = [];
    if (c.registers !== undefined) parts.push(`${c.registers} regs`);
    if (c.occupancy) parts.push(`${c.occupancy.blocksPerSm} blocks/SM (${(100 * c.occupancy.fraction).toFixed(0)}%)`);
    if (c.spillBytes) parts.push(`${c.spillBytes} B spilled`);
    return parts.join(', ');
  };
  const rows = [['', 'schedule', 'median', 'vs default', 'resources']];
  entry.top.forEach((t, k) => {
    const chosen = scheduleKey(t.schedule) === scheduleKey(entry.schedule);
    rows.push([
      chosen ? '→' : String(k + 1),
      formatSchedule(t.schedule, space),
      fmtMs(t.ms),
      entry.defaultMs ? `${(entry.defaultMs / t.ms).toFixed(2)}×` : '-',
      extra(t.schedule),
    ]);
  });
  return columns(rows);
}

function statusLine(c: Candidate, space: ScheduleSpace): string {
  const s = formatSchedule(c.schedule, space);
  if (c.status === 'measured') return `${s}: ${fmtMs(c.ms!)}`;
  const why = c.reasons.join('; ');
  return `${s}: ${c.status} (${why.length > 200 ? `${why.slice(0, 200)}…` : why})`;
}

function summary(r: TuneResult, cachePath: string | undefined, log: (l: string) => void): void {
  const e = r.entry;
  const vs = e.defaultMs ? `${(e.defaultMs / e.ms).toFixed(2)}× the default (${formatSchedule(e.defaultSchedule, r.space)}: ${fmtMs(e.defaultMs)})` : 'the default schedule could not run';
  log(`  chosen: ${formatSchedule(e.schedule, r.space)}: ${fmtMs(e.ms)}, ${vs}`);
  if (cachePath) log(`  saved in ${cachePath}`);
}

/** Rejected points listed one by one before the search (the rest are counted). */
const SHOWN_REJECTED = 20;

/** Tunes every program in a file; returns true when each got a schedule. */
export async function tunePrograms(backend: Backend, programs: Program[], o: TuneCliOptions): Promise<boolean> {
  // SCANFORGE_TUNE_CACHE=off without --cache: no cache read or written (it was written to a file named "off").
  const cache = o.cachePath === undefined && tuneCacheDisabled() ? undefined : TuneCache.open({ path: o.cachePath });
  for (const p of programs) {
    const dims = { ...p.staticDims, ...o.dims };
    const missing = p.dims.filter((d) => dims[d] === undefined);
    if (missing.length) throw new Error(`${p.name}: give the shape to tune at: --shape ${missing.map((d) => `${d}=N`).join(',')}`);
    const what = `${p.name} ${o.dtype ?? 'declared dtypes'} ${fmtDims(dims)}`;
    const result = await tune({
      backend,
      program: p,
      dims,
      variant: variantFor(p, o),
      dtype: o.dtype,
      budgetMs: o.budgetMs,
      mode: o.mode,
      space: o.space,
      reps: o.reps,
      cache: cache ?? false,
      force: o.force,
      onStart: (st) => {
        const rejected = st.candidates.filter((c) => c.status === 'rejected');
        o.log(`${what}: ${st.candidates.length} schedules, ${rejected.length} rejected by the resource model, ${st.survivors} distinct kernels to try; ${st.mode} search, budget ${(o.budgetMs / 1000).toFixed(0)} s`);
        // A few, then how many more: Mamba-1's whole space rejects 69 936 points (RESULTS run 98).
        for (const c of rejected.slice(0, SHOWN_REJECTED)) o.log(`  rejected ${statusLine(c, st.space)}`);
        if (rejected.length > SHOWN_REJECTED) o.log(`  ... and ${rejected.length - SHOWN_REJECTED} more rejected`);
      },
      onProgress: (ev) => {
        const best = ev.best ? `best ${formatSchedule(ev.best.schedule, ev.space)} ${fmtMs(ev.best.ms!)}` : 'no valid schedule yet';
        o.log(`  [${String(ev.done).padStart(String(ev.total).length)}/${ev.total}] ${statusLine(ev.candidate, ev.space)}   ${best}`);
      },
    });
    if (result.fromCache) {
      const e = result.entry;
      o.log(`${what}: answered from the tune cache (${cache?.path}), tuned ${e.tunedAt} in ${e.tuneSeconds} s (${e.mode}, ${e.measured} kernels measured); --force tunes again`);
      for (const l of topTable(e, result.space, [])) o.log(l);
      summary(result, undefined, o.log);
      continue;
    }
    o.log(`  ${result.entry.measured} measured in ${(result.elapsedMs / 1000).toFixed(1)} s${result.budgetExhausted ? ` (budget of ${(o.budgetMs / 1000).toFixed(0)} s reached: best so far)` : ''}; top configurations (median of the timed launches):`);
    for (const l of topTable(result.entry, result.space, result.candidates)) o.log(l);
    summary(result, cache?.path, o.log);
  }
  return true;
}
