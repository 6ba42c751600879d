// On-disk cache of compiled cubins.
//
// NVRTC takes tens to hundreds of milliseconds per kernel, and the autotuner
// compiles many variants, so cubins are kept across runs. An entry is keyed by
// everything that determines the binary: source, target arch, NVRTC version
// and options. Entries carry a checksum so that a truncated or corrupted file
// is recompiled instead of being handed to the driver.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/** `${SCANFORGE_CACHE_DIR ?? (XDG_CACHE_HOME ?? ~/.cache)/scanforge}/cubin`. */
export function cubinCacheDir(env: Env = process.env): string {
  const root = env.SCANFORGE_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'scanforge');
  return join(root, 'cubin');
}

export interface CubinKey {
  source: string;
  arch: string;
  /** e.g. "13.0" */
  nvrtcVersion: string;
  options: readonly string[];
}

/** sha256 over the key's parts, each length-prefixed so that no two different keys can concatenate to the same text. */
export function cubinCacheKey(key: CubinKey): string {
  const h = createHash('sha256');
  for (const part of [key.source, key.arch, key.nvrtcVersion, ...key.options]) {
    h.update(`${Buffer.byteLength(part)}:`);
    h.update(part);
  }
  return h.digest('hex');
}

/** File layout: MAGIC, 32-byte sha256 of the payload, payload (the cubin). */
const MAGIC = Buffer.from('SFCUBIN1');
const HEADER = MAGIC.length + 32;

export interface CacheLookup {
  cubin: Uint8Array;
  key: string;
  /** True when the cubin came from disk. */
  hit: boolean;
}

export class CubinCache {
  constructor(readonly dir: string = cubinCacheDir()) {}

  pathFor(key: string): string {
    return join(this.dir, `${key}.cubin`);
  }

  /** The cached cubin, or undefined when absent, unreadable or failing its checksum. */
  get(key: string): Uint8Array | undefined {
    let file: Buffer;
    try {
      file = readFileSync(this.pathFor(key));
    } catch {
      return undefined;
    }
    if (file.length <= HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const payload = file.subarray(HEADER);
    const sum = createHash('sha256').update(payload).digest();
    if (!sum.equals(file.subarray(MAGIC.length, HEADER))) return undefined;
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
  }

  /**
   * Stores a cubin atomically: written to a unique temporary file, then
   * renamed over the entry, so concurrent processes never see half a file.
   * Failures (read-only or full disk) are swallowed: the cache only saves
   * time, and a kernel that compiled should still run.
   */
  put(key: string, cubin: Uint8Array): boolean {
    const target = this.pathFor(key);
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true });
      const sum = createHash('sha256').update(cubin).digest();
      writeFileSync(tmp, Buffer.concat([MAGIC, sum, cubin]));
      renameSync(tmp, target);
      return true;
    } catch {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Nothing more to do: a stray .tmp file is harmless.
      }
      return false;
    }
  }

  /** Drops an entry, e.g. one the driver refused to load. */
  invalidate(key: string): void {
    rmSync(this.pathFor(key), { force: true });
  }

  /** Returns the cached cubin for `key`, or compiles, stores and returns it. */
  async getOrCompile(key: CubinKey, compile: () => Promise<Uint8Array>): Promise<CacheLookup> {
    const k = cubinCacheKey(key);
    const cached = this.get(k);
    if (cached) return { cubin: cached, key: k, hit: true };
    const cubin = await compile();
    this.put(k, cubin);
    return { cubin, key: k, hit: false };
  }
}
