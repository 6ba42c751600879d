// The saxpy kernel's calling convention (out = a·x + y), shared by the backend
// tests and the CUDA smoke bench; each supplies the source for its target.
import type { RenderedKernel } from '../runtime/backend.js';

export function saxpyKernel(target: 'wgsl' | 'cuda', source: string, workgroupSize: number): RenderedKernel {
  return {
    target,
    entry: 'saxpy',
    source,
    bindings: [
      { name: 'x', access: 'read', elem: 'f32' },
      { name: 'y', access: 'read', elem: 'f32' },
      { name: 'out', access: 'read_write', elem: 'f32' },
    ],
    params: [
      { name: 'n', type: 'u32' },
      { name: 'a', type: 'f32' },
    ],
    workgroupSize,
    sharedBytes: 0,
  };
}
