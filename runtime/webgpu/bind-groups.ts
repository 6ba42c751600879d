// Caches bind groups and the small uniform buffers that hold packed params.
//
// A model step launches the same kernels on the same buffers with the same
// params again and again; creating a uniform buffer and a bind group each
// time would cost more JS->native calls than the dispatch itself. Uniform
// buffers are immutable once made (their key is their content), so sharing
// them across kernels and launches is safe without any ordering concerns.

import type { WebGpuBuffer } from './buffers.js';
import type { WebGpuKernel } from './compile.js';
import type { ErrorTracker } from './errors.js';
import { paramsKey } from './params.js';

export class BindGroupCache {
  private readonly device: GPUDevice;
  private readonly errors: ErrorTracker;
  private readonly maxEntries: number;
  /** Called before uniform buffers are destroyed, so recorded launches using them get submitted first. */
  private readonly beforeEvict: () => void;
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly groups = new Map<string, GPUBindGroup>();
  /** buffer uid -> keys of the groups that bind it, so destroyBuffer() can drop just those. */
  private readonly byBuffer = new Map<number, Set<string>>();

  constructor(device: GPUDevice, errors: ErrorTracker, beforeEvict: () => void, maxEntries = 4096) {
    this.device = device;
    this.errors = errors;
    this.beforeEvict = beforeEvict;
    this.maxEntries = maxEntries;
  }

  get(kernel: WebGpuKernel, buffers: readonly WebGpuBuffer[], params: Uint8Array | null): GPUBindGroup {
    const pKey = params ? paramsKey(params) : '';
    const key = `${kernel.pipelineUid}|${buffers.map((b) => b.uid).join(',')}|${pKey}`;
    const hit = this.groups.get(key);
    if (hit) return hit;

    // Unbounded growth would leak GPU memory in a long autotuning run that
    // sweeps params; a wholesale reset is simple and rare.
    if (this.groups.size >= this.maxEntries || this.uniforms.size >= this.maxEntries) this.clear();

    const name = kernel.kernel.entry;
    const group = this.errors.scoped(`binding buffers for kernel '${name}'`, () => {
      const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({ binding: i, resource: { buffer: b.gpu } }));
      if (params) entries.push({ binding: buffers.length, resource: { buffer: this.uniform(pKey, params) } });
      return this.device.createBindGroup({ label: name, layout: kernel.layout, entries });
    });
    this.groups.set(key, group);
    for (const b of buffers) {
      let keys = this.byBuffer.get(b.uid);
      if (!keys) this.byBuffer.set(b.uid, (keys = new Set()));
      keys.add(key);
    }
    return group;
  }

  /** Drops every group that binds this buffer (it is about to be destroyed). */
  forgetBuffer(uid: number): void {
    for (const key of this.byBuffer.get(uid) ?? []) this.groups.delete(key);
    this.byBuffer.delete(uid);
  }

  clear(): void {
    this.beforeEvict();
    this.groups.clear();
    this.byBuffer.clear();
    // Destroy is safe for work already submitted: Dawn frees the memory only
    // once the queue has finished with it.
    for (const u of this.uniforms.values()) u.destroy();
    this.uniforms.clear();
  }

  private uniform(key: string, bytes: Uint8Array): GPUBuffer {
    let buffer = this.uniforms.get(key);
    if (!buffer) {
      // mappedAtCreation fills it without a queue operation, so its content
      // is in place before any launch that is recorded with it.
      buffer = this.device.createBuffer({ label: 'params', size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(bytes);
      buffer.unmap();
      this.uniforms.set(key, buffer);
    }
    return buffer;
  }
}
