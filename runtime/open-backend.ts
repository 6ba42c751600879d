// Picks the backend a command runs on: CUDA when a CUDA driver is present and
// the kernels can be compiled for its GPU, else WebGPU (a real GPU adapter if
// any, else the CPU adapter).

import type { Backend } from './backend.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cuda';

export async function openBackend(choice: BackendChoice): Promise<Backend> {
  if (choice === 'cuda' || choice === 'auto') {
    const { cudaAvailability, openCuda } = await import('./cuda/backend.js');
    const avail = cudaAvailability();
    if (avail.available) {
      const cuda = await openCuda();
      if (!cuda.archProblem || choice === 'cuda') return cuda;
      // 'auto' on a GPU the CUDA kernels cannot target: WebGPU, saying why.
      console.error(`scanforge: not using CUDA: ${cuda.archProblem}`);
      cuda.destroy();
    } else if (choice === 'cuda') throw new Error(`CUDA backend unavailable: ${avail.reason}`);
  }
  const { openWebGpu } = await import('./webgpu/index.js');
  return openWebGpu();
}
