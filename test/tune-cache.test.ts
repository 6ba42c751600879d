// The tune cache: round trip through the file, corrupt files set aside and
// rebuilt (reported once), malformed and stale entries rejected, and keys
// that separate devices, kernels and shape buckets. No device needed: the
// lookup only reads a backend's kind, fingerprint and limits.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Program } from '../dsl/ir.js';
import { loadProgram } from '../dsl/load.js';
import type { Backend } from '../runtime/backend.js';
import { specializeFor } from '../runtime/program-runner.js';
import { TUNE_CACHE_VERSION, TuneCache, tuneCachePath, type TunedEntry } from '../runtime/tune/cache.js';
import { keyText, shapeBucket } from '../runtime/tune/key.js';
import { scheduleLookup, tuneKeyFor } from '../runtime/tune/lookup.js';
import { tuneVariant } from '../runtime/tune/search.js';
import { CPU_ADAPTER, H100_CUDA } from './fixtures/device-limits.js';

let mamba: Program;
let dir: string;
beforeAll(async () => {
  mamba = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
  dir = mkdtempSync(path.join(tmpdir(), 'scanforge-tune-cache-'));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fake = (fingerprint: string, kind: 'webgpu' | 'cuda' = 'webgpu'): Backend =>
  ({ kind, fingerprint, deviceName: `fake ${fingerprint}`, limits: kind === 'cuda' ? H100_CUDA : CPU_ADAPTER }) as unknown as Backend;

const DIMS = { batch: 2, dim: 64, seqlen: 3000, dstate: 16, ngroups: 1 };
let files = 0;
const freshPath = (): string => path.join(dir, `tune-${files++}.json`);

/** A well-formed entry for Mamba-1's tuned variant on `backend`, with this schedule. */
function entryFor(backend: Backend, schedule: Record<string, number>, dims = DIMS): TunedEntry {
  const sp = specializeFor(mamba, tuneVariant(mamba), dims);
  const key = tuneKeyFor(backend, sp, dims, undefined);
  return {
    ...key, device: backend.deviceName, program: mamba.name, variant: 'v', dtype: 'f32', lowering: 'diagonal-scan', target: 'wgsl',
    caps: { subgroups: false }, schedule, ms: 1.5, defaultSchedule: { threads: 128, items: 4, rows: 1, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0, chunk: 64 }, defaultMs: 2,
    dims, space: 'threads=32/128', mode: 'exhaustive', candidates: 2, measured: 2, top: [{ schedule, ms: 1.5 }], tunedAt: new Date(0).toISOString(), tuneSeconds: 1,
  };
}

const lookupIn = (cache: TuneCache, backend: Backend, dims = DIMS) =>
  scheduleLookup({ cache })(backend, specializeFor(mamba, tuneVariant(mamba), dims), dims, undefined);

const GOOD = { threads: 32, items: 2, rows: 2, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0, chunk: 64 };

describe('tune cache file', () => {
  it('lives in the scanforge cache folder unless SCANFORGE_TUNE_CACHE says otherwise', () => {
    expect(tuneCachePath({ XDG_CACHE_HOME: '/x' })).toBe(path.join('/x', 'scanforge', 'tune.json'));
    expect(tuneCachePath({ SCANFORGE_TUNE_CACHE: '/y/t.json', XDG_CACHE_HOME: '/x' })).toBe('/y/t.json');
  });

  it('round-trips entries through the file', () => {
    const file = freshPath();
    const e = entryFor(fake('A'), GOOD);
    new TuneCache(file).put(e);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json.version).toBe(TUNE_CACHE_VERSION);
    const again = new TuneCache(file);
    expect(again.get(e)).toEqual(e);
    expect(again.all()).toHaveLength(1);
  });

  it('sets a corrupt file aside, reports it once, and rebuilds it', () => {
    for (const bad of ['{"version": 1, "entries": {', JSON.stringify({ version: 99, entries: {} }), '[]']) {
      const file = freshPath();
      writeFileSync(file, bad);
      const reports: string[] = [];
      const c = new TuneCache(file, (m) => reports.push(m));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatch(/not trusted/);
      expect(existsSync(`${file}.corrupt`)).toBe(true);
      expect(c.all()).toHaveLength(0);
      c.put(entryFor(fake('A'), GOOD));
      // Rebuilt: a new reader finds a valid file and nothing to report.
      const reports2: string[] = [];
      expect(new TuneCache(file, (m) => reports2.push(m)).all()).toHaveLength(1);
      expect(reports2).toEqual([]);
    }
  });

  it('drops malformed entries and entries filed under a key that is not theirs', () => {
    const file = freshPath();
    const good = entryFor(fake('A'), GOOD);
    const moved = entryFor(fake('B'), GOOD);
    writeFileSync(file, JSON.stringify({
      version: TUNE_CACHE_VERSION,
      entries: { [keyText(good)]: good, [keyText(good).replace('# ', '#x ')]: moved, junk: { ms: 'fast' } },
    }));
    const reports: string[] = [];
    const c = new TuneCache(file, (m) => reports.push(m));
    expect(c.all()).toEqual([good]);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/2 malformed entries/);
    // The file was rewritten without them: the next reader has nothing to report.
    const again: string[] = [];
    expect(new TuneCache(file, (m) => again.push(m)).all()).toEqual([good]);
    expect(again).toEqual([]);
  });
});

describe('tuned schedule lookup', () => {
  it('finds the winner for its device, kernel and shape bucket only', () => {
    const cache = new TuneCache(freshPath());
    cache.put(entryFor(fake('A'), GOOD));
    expect(lookupIn(cache, fake('A'))).toEqual(GOOD);
    // Same kernel, same shape, another device (fingerprint): not this winner.
    expect(lookupIn(cache, fake('B'))).toBeUndefined();
    // Another shape bucket (seqlen 3000 → ≤4096; 5000 → ≤8192).
    expect(lookupIn(cache, fake('A'), { ...DIMS, seqlen: 5000 })).toBeUndefined();
    expect(lookupIn(cache, fake('A'), { ...DIMS, seqlen: 2049, batch: 2, dim: 33 })).toEqual(GOOD);
    // Another kernel (static dim dstate changes the source).
    expect(lookupIn(cache, fake('A'), { ...DIMS, dstate: 8 })).toBeUndefined();
  });

  it('keys on the shape bucket of the runtime dims', () => {
    const sp = specializeFor(mamba, tuneVariant(mamba), DIMS);
    expect(shapeBucket(sp, DIMS)).toBe('batch<=2,dim<=64,ngroups<=1,seqlen<=4096');
  });

  it('rejects and removes a stale entry whose schedule no longer compiles or fits', () => {
    for (const [schedule, why] of [
      [{ threads: 24, items: 2, rows: 1, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0, chunk: 64 }, /no longer compiles: .*power of two/],
      [{ threads: 256, items: 2, rows: 8, rowBlock: 1, lanes: 1, shuffle: 0, tileChunks: 1, prefetch: 0, scatter: 0, stage: 0, segment: 0, chunk: 64 }, /no longer fits the device: 2048 threads/],
      [{ threads: 32, items: 2 }, /knobs/],
    ] as const) {
      const file = freshPath();
      const reports: string[] = [];
      const cache = new TuneCache(file, (m) => reports.push(m));
      cache.put(entryFor(fake('A'), schedule));
      expect(lookupIn(cache, fake('A'))).toBeUndefined();
      expect(reports.join()).toMatch(why);
      expect(new TuneCache(file).all()).toHaveLength(0);
      // Reported once: the next lookup finds nothing and says nothing.
      expect(lookupIn(cache, fake('A'))).toBeUndefined();
      expect(reports).toHaveLength(1);
    }
  });
});
