// Lazy access to koffi and a "first library that loads" helper.
//
// koffi is required lazily (not imported at module top) so that importing the
// CUDA backend can never throw, even where koffi's native package is missing:
// on such a machine cudaAvailability() reports the reason instead.

import { createRequire } from 'node:module';

export type Koffi = typeof import('koffi');
export type KoffiLibrary = ReturnType<Koffi['load']>;
/**
 * A bound native function. koffi types these as taking and returning `any`;
 * here they take and return `unknown`, and driver.ts / nvrtc.ts wrap them in
 * typed methods. `async` runs the call on a koffi worker thread.
 */
export type NativeFn = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

let koffiInstance: Koffi | undefined;

export function koffi(): Koffi {
  if (!koffiInstance) {
    const require = createRequire(import.meta.url);
    koffiInstance = require('koffi') as Koffi;
  }
  return koffiInstance;
}

export interface LoadedLibrary {
  lib: KoffiLibrary;
  /** The candidate that loaded (a soname or an absolute path). */
  path: string;
}

/**
 * Loads the first candidate that dlopen accepts. On failure the error lists
 * every candidate with its dlopen message, so "not found" and "found but
 * unloadable" (wrong architecture, missing dependency) can be told apart.
 */
export function loadFirst(what: string, candidates: string[]): LoadedLibrary {
  const k = koffi();
  // dlopen message -> the candidates that failed with it, so that a dozen
  // "No such file" misses collapse into one line.
  const failures = new Map<string, string[]>();
  for (const path of candidates) {
    try {
      return { lib: k.load(path), path };
    } catch (err) {
      const message = (err as Error).message;
      failures.set(message, [...(failures.get(message) ?? []), path]);
    }
  }
  const tried = [...failures].map(([message, paths]) => `${paths.join(', ')}: ${message}`).join('; ');
  throw new Error(`${what} not found: tried ${tried}`);
}

/** Binds a C declaration, naming the library and symbol if the symbol is missing. */
export function bind(loaded: LoadedLibrary, declaration: string): NativeFn {
  try {
    return loaded.lib.func(declaration) as NativeFn;
  } catch (err) {
    throw new Error(`${loaded.path}: cannot bind '${declaration}': ${(err as Error).message}`);
  }
}

/** Like bind, but tries several symbol names (newest ABI first) for the same signature. */
export function bindFirst(loaded: LoadedLibrary, names: string[], signature: (name: string) => string): NativeFn {
  let last: unknown;
  for (const name of names) {
    try {
      return loaded.lib.func(signature(name)) as NativeFn;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`${loaded.path}: none of ${names.join(', ')} could be bound: ${(last as Error).message}`);
}

/** Reads a NUL-terminated C string out of a byte buffer. */
export function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(buf.buffer, buf.byteOffset, end < 0 ? buf.length : end).toString('utf8');
}
