// Loads Dawn (the `webgpu` npm package) on first use.
//
// Why lazily: importing `webgpu` loads a native addon. Code that merely
// imports the backend's types (the CLI, codegen tests) should not need the
// addon to load, and a machine without it should fail only when a WebGPU
// device is actually asked for.

import type { create as createFn } from 'webgpu';

export type CreateGpu = typeof createFn;

let loaded: Promise<CreateGpu> | null = null;

export function loadDawn(): Promise<CreateGpu> {
  loaded ??= (async () => {
    const mod = await import('webgpu');
    // Dawn's GL backend picks its EGL platform from this variable when it
    // starts; without a display (CI, servers) only "surfaceless" works. It must
    // be set before the first create(), and Node's process.env writes through
    // to the C environment that Mesa reads.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    // The WebGPU constants (GPUBufferUsage, GPUMapMode, GPUShaderStage, ...)
    // live on `globals`; the backend refers to them by their standard global
    // names, as browser code would. Only fill in what is missing so that a
    // host that already provides WebGPU keeps its own objects.
    const g = globalThis as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod.globals)) {
      if (!(name in g)) g[name] = value;
    }
    return mod.create;
  })();
  // A failed load (missing binary) should be retried next time, not cached.
  loaded.catch(() => {
    loaded = null;
  });
  return loaded;
}
