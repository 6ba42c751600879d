// Picks the backend a command runs on: CUDA when a CUDA driver is present,
// else WebGPU (a real GPU adapter if any, else the CPU adapter).

import type { Backend } from './backend.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cuda';

export async function openBackend(choice: BackendChoice): Promise<Backend> {
  if (choice === 'cuda' || choice === 'auto') {
    const { cudaAvailability, openCuda } = await import('./cuda/backend.js');
    const avail = cudaAvailability();
    if (avail.available) return openCuda();
    if (choice === 'cuda') throw new Error(`CUDA backend unavailable: ${avail.reason}`);
  }
  const { openWebGpu } = await import('./webgpu/index.js');
  return openWebGpu();
}
