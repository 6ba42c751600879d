// The tuned-schedule cache: one JSON file, by default
// $XDG_CACHE_HOME/scanforge/tune.json (~/.cache/scanforge/tune.json), beside
// the cubin cache; SCANFORGE_TUNE_CACHE or an explicit path overrides it.
//
// Nothing in it is trusted: a file that is not JSON or has another schema
// version is reported once, set aside as `<file>.corrupt` and rebuilt; an
// entry that is malformed or whose key does not match its fields is dropped;
// an entry whose schedule no longer compiles or fits the device is rejected
// by the reader (lookup.ts) and removed. Writes are atomic (temporary file,
// then rename) and merge with what other processes wrote meanwhile.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cubinCacheDir } from '../cuda/module-cache.js';
import type { Dims } from '../shapes.js';
import { keyText, type TuneKey } from './key.js';

export const TUNE_CACHE_VERSION = 1;

export interface TunedPoint {
  schedule: Record<string, number>;
  ms: number;
}

export interface TunedEntry extends TuneKey {
  /** Human-readable device name (the fingerprint is what matches). */
  device: string;
  program: string;
  variant: string;
  dtype: string;
  lowering: string;
  target: string;
  /** What the kernels were rendered for (subgroups, their size): build --tuned renders the winner the same way. */
  caps: { subgroups: boolean; subgroupSize?: number };
  /** The winner and its median time at `dims`. */
  schedule: Record<string, number>;
  ms: number;
  defaultSchedule: Record<string, number>;
  /** Median time of the default schedule, when it could run. */
  defaultMs: number | null;
  /** The shape tuned at (inside `bucket`). */
  dims: Dims;
  /** The space searched (scheduleKey-like text per knob), so a changed space means a new search. */
  space: string;
  mode: 'exhaustive' | 'guided';
  /** Points in the space, and how many were measured. */
  candidates: number;
  measured: number;
  /** Fastest measured points, best first. */
  top: TunedPoint[];
  tunedAt: string;
  tuneSeconds: number;
}

type Env = Record<string, string | undefined>;

/** Where the cache lives: SCANFORGE_TUNE_CACHE, else tune.json in scanforge's cache folder. */
export function tuneCachePath(env: Env = process.env): string {
  return env.SCANFORGE_TUNE_CACHE || join(dirname(cubinCacheDir(env)), 'tune.json');
}

/** SCANFORGE_TUNE_CACHE=off turns the runtime's automatic use of tuned schedules off. */
export function tuneCacheDisabled(env: Env = process.env): boolean {
  return env.SCANFORGE_TUNE_CACHE === 'off';
}

export interface TuneCacheOptions {
  path?: string;
  /** Where problems with the file are reported (once per problem); default console.warn. */
  report?: (message: string) => void;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isPosNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
const isSchedule = (x: unknown): x is Record<string, number> =>
  isObj(x) && Object.keys(x).length > 0 && Object.values(x).every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0);

/** Why an entry is malformed, or undefined when it is well-formed and filed under its own key. */
function entryProblem(key: string, e: unknown): string | undefined {
  if (!isObj(e)) return 'not an object';
  for (const f of ['fingerprint', 'kernelHash', 'bucket', 'device', 'program', 'variant', 'dtype', 'lowering', 'target', 'space', 'tunedAt'] as const) {
    if (!isStr(e[f])) return `field '${f}' is not a string`;
  }
  if (!isSchedule(e.schedule) || !isSchedule(e.defaultSchedule)) return 'schedule is not a map of knobs to positive integers';
  if (!isPosNum(e.ms)) return 'ms is not a positive number';
  if (e.defaultMs !== null && !isPosNum(e.defaultMs)) return 'defaultMs is not a positive number or null';
  if (e.mode !== 'exhaustive' && e.mode !== 'guided') return `mode '${String(e.mode)}' is unknown`;
  if (!isObj(e.dims) || !Array.isArray(e.top)) return 'dims or top missing';
  if (!isObj(e.caps) || typeof e.caps.subgroups !== 'boolean') return 'caps missing';
  if (!e.top.every((t: unknown) => isObj(t) && isSchedule(t.schedule) && isPosNum(t.ms))) return 'top holds a malformed point';
  if (keyText({ fingerprint: e.fingerprint as string, kernelHash: e.kernelHash as string, bucket: e.bucket as string }) !== key) return 'filed under a key that does not match its fields';
  return undefined;
}

type Parsed = { ok: true; entries: Map<string, TunedEntry>; dropped: { key: string; why: string }[] } | { ok: false; why: string } | { ok: 'absent' };

function readFile(path: string): Parsed {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: 'absent' };
    return { ok: false, why: `unreadable: ${(e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, why: `not JSON (${(e as Error).message})` };
  }
  if (!isObj(json)) return { ok: false, why: 'not a JSON object' };
  if (json.version !== TUNE_CACHE_VERSION) return { ok: false, why: `schema version ${JSON.stringify(json.version)}, expected ${TUNE_CACHE_VERSION}` };
  if (!isObj(json.entries)) return { ok: false, why: "no 'entries' object" };
  const entries = new Map<string, TunedEntry>();
  const dropped: { key: string; why: string }[] = [];
  for (const [k, e] of Object.entries(json.entries)) {
    const why = entryProblem(k, e);
    if (why) dropped.push({ key: k, why });
    else entries.set(k, e as unknown as TunedEntry);
  }
  return { ok: true, entries, dropped };
}

const shared = new Map<string, TuneCache>();

export class TuneCache {
  private entries = new Map<string, TunedEntry>();
  /** Changes not yet merged into the file: an entry, or null for a removal. */
  private readonly changes = new Map<string, TunedEntry | null>();
  private readonly reported = new Set<string>();
  /** Bumped on every change, so that memoised lookups know to look again. */
  generation = 0;

  /** One instance per file in a process, so a problem is reported once and lookups see the tuner's writes. */
  static open(opts: TuneCacheOptions = {}): TuneCache {
    const path = opts.path ?? tuneCachePath();
    let c = shared.get(path);
    if (!c) {
      c = new TuneCache(path, opts.report);
      shared.set(path, c);
    }
    return c;
  }

  /** A private instance (tests, or a caller that wants its own report channel). */
  constructor(
    readonly path: string,
    private readonly reportTo: (message: string) => void = (m) => console.warn(m),
  ) {
    this.load();
  }

  /** Reports a problem once per cache instance. */
  report(message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.reportTo(`scanforge tune cache ${this.path}: ${message}`);
  }

  get(key: TuneKey): TunedEntry | undefined {
    return this.entries.get(keyText(key));
  }

  all(): TunedEntry[] {
    return [...this.entries.values()];
  }

  put(entry: TunedEntry): void {
    const k = keyText(entry);
    this.entries.set(k, entry);
    this.changes.set(k, entry);
    this.generation++;
    this.save();
  }

  /** Drops an entry that turned out stale, saying why (once). */
  reject(key: TuneKey, why: string): void {
    const k = keyText(key);
    if (!this.entries.has(k)) return;
    this.report(`dropped the entry for ${k}: ${why}; it will be re-tuned`);
    this.entries.delete(k);
    this.changes.set(k, null);
    this.generation++;
    this.save();
  }

  private load(): void {
    const parsed = readFile(this.path);
    if (parsed.ok === 'absent') return;
    if (parsed.ok === false) {
      this.setAside(parsed.why);
      return;
    }
    this.entries = parsed.entries;
    if (parsed.dropped.length) {
      this.report(`ignoring ${parsed.dropped.length} malformed entr${parsed.dropped.length === 1 ? 'y' : 'ies'} (${parsed.dropped.slice(0, 3).map((d) => `${d.key}: ${d.why}`).join('; ')}${parsed.dropped.length > 3 ? '; …' : ''}); they will be re-tuned`);
      for (const d of parsed.dropped) this.changes.set(d.key, null);
      // Rewritten now, so the next process does not report them again.
      this.save();
    }
  }

  /** Moves a corrupt file out of the way (kept for inspection) and starts empty. */
  private setAside(why: string): void {
    const aside = `${this.path}.corrupt`;
    let where = `moved to ${aside}`;
    try {
      renameSync(this.path, aside);
    } catch {
      where = 'it will be overwritten';
    }
    this.report(`${why}: not trusted, ${where}; starting an empty cache`);
    this.entries = new Map();
  }

  /** Merges this instance's changes into the file as it is now, atomically. Failures are reported, never thrown. */
  private save(): void {
    const now = readFile(this.path);
    const merged = now.ok === true ? now.entries : new Map<string, TunedEntry>();
    for (const [k, e] of this.changes) {
      if (e) merged.set(k, e);
      else merged.delete(k);
    }
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, JSON.stringify({ version: TUNE_CACHE_VERSION, entries: Object.fromEntries(merged) }, null, 1) + '\n');
      renameSync(tmp, this.path);
      this.changes.clear();
      this.entries = merged;
    } catch (e) {
      rmSync(tmp, { force: true });
      this.report(`could not be written (${(e as Error).message}); tuned schedules stay in memory for this process`);
    }
  }
}
