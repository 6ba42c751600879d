// The backend a generated wrapper runs on when its caller passes none: opened
// once per process on first use (CUDA if a driver is there, else WebGPU) and
// shared by every wrapper, so calling two programs does not open two devices.

import type { Backend } from '../backend.js';
import { openBackend } from '../open-backend.js';

let shared: Promise<Backend> | undefined;

export function defaultBackend(): Promise<Backend> {
  if (!shared) {
    const opening = openBackend('auto');
    // A failed open is not cached: the next call tries again.
    opening.catch(() => { if (shared === opening) shared = undefined; });
    shared = opening;
  }
  return shared;
}

/** Destroys the shared backend (a live WebGPU device keeps Node's event loop running). */
export async function closeDefaultBackend(): Promise<void> {
  const b = shared;
  shared = undefined;
  if (b) (await b).destroy();
}
