// Records launches into one compute pass and submits them together.
//
// A submit costs far more than a dispatch (on Dawn it crosses into the
// driver; on llvmpipe it is a GL flush), so launch() only records. Within one
// compute pass every dispatch is its own synchronization scope, so Dawn puts
// the barriers between dependent dispatches; batching changes no results.
// The backend flushes before anything that must observe or reorder against
// the recorded work: write() (queue.writeBuffer would otherwise run before
// launches recorded earlier), read(), sync(), timing and buffer destruction.

import type { ErrorTracker } from './errors.js';

export class LaunchBatcher {
  private readonly device: GPUDevice;
  private readonly errors: ErrorTracker;
  private readonly maxPerSubmit: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Kernel names in the open batch, so a failed submit can say which kernels it held. */
  private names: string[] = [];

  constructor(device: GPUDevice, errors: ErrorTracker, maxPerSubmit = 64) {
    this.device = device;
    this.errors = errors;
    this.maxPerSubmit = maxPerSubmit;
  }

  get recorded(): number {
    return this.names.length;
  }

  dispatch(name: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, grid: readonly [number, number, number]): void {
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder({ label: 'launches' });
      this.pass = this.encoder.beginComputePass({ label: 'launches' });
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.names.push(name);
    // Bound the latency of a long stream of launches and the size of one
    // command buffer; the GPU starts on the first batch while JS records more.
    if (this.names.length >= this.maxPerSubmit) this.flush();
  }

  /** Submits whatever is recorded. Validation errors of the batch surface at the next check(). */
  flush(): void {
    if (!this.encoder || !this.pass) return;
    const encoder = this.encoder;
    const pass = this.pass;
    const names = this.names;
    this.encoder = null;
    this.pass = null;
    this.names = [];
    // Dispatch-time validation (buffer aliasing, a destroyed buffer) is
    // deferred by WebGPU to finish()/submit(), hence the scope here.
    this.errors.scoped(`running ${describe(names)}`, () => {
      pass.end();
      this.device.queue.submit([encoder.finish()]);
    });
  }
}

function describe(names: string[]): string {
  const unique = [...new Set(names)];
  const shown = unique.slice(0, 5).map((n) => `'${n}'`).join(', ');
  const more = unique.length > 5 ? ` and ${unique.length - 5} more` : '';
  return `${names.length} launch${names.length === 1 ? '' : 'es'} of kernel${unique.length === 1 ? '' : 's'} ${shown}${more}`;
}
