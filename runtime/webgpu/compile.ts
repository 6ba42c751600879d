// RenderedKernel (WGSL) -> GPUComputePipeline, with readable errors and a
// cache keyed by a hash of everything the pipeline depends on.

import { createHash } from 'node:crypto';
import type { CompiledKernel, DeviceLimits, RenderedKernel } from '../backend.js';
import { ErrorTracker, WebGpuError } from './errors.js';

/** What compile() hands out: the caller's kernel plus the pipeline it runs on. */
export interface WebGpuKernel extends CompiledKernel {
  readonly kernel: RenderedKernel;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Identity of the pipeline (shared by kernels with the same source), for bind-group caching. */
  readonly pipelineUid: number;
  /** The backend that compiled it: pipelines cannot cross devices. */
  readonly owner: object;
}

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  uid: number;
}

let nextPipelineUid = 1;

/**
 * The pipeline depends on the source, the entry point, and the layout we
 * derive from bindings (access modes) and params (whether a uniform exists).
 * Names and elem types are not in the key: they do not change the pipeline.
 */
export function pipelineKey(kernel: RenderedKernel): string {
  const h = createHash('sha256');
  h.update(kernel.entry).update('\0').update(kernel.source).update('\0');
  h.update(kernel.bindings.map((b) => b.access).join(',')).update('\0');
  h.update(kernel.params.length > 0 ? 'uniform' : 'none');
  return h.digest('hex');
}

/**
 * Compilation messages with the source lines they point at, e.g.
 *
 *   kernel 'saxpy': WGSL compilation failed
 *   error at line 7:15: expected ';' for let declaration
 *       6 |   let i = gid.x;
 *   >   7 |   let bad = 1 +* 2
 *       |               ^
 *       8 | }
 */
export function formatCompilationMessages(kernel: RenderedKernel, messages: readonly GPUCompilationMessage[]): string {
  const lines = kernel.source.split('\n');
  const width = String(lines.length).length;
  const gutter = (n: number, mark: string) => `${mark} ${String(n).padStart(width)} | `;
  const out = [`kernel '${kernel.entry}': WGSL compilation failed`];
  for (const m of messages) {
    if (m.lineNum <= 0 || m.lineNum > lines.length) {
      out.push(`${m.type}: ${m.message}`);
      continue;
    }
    out.push(`${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`);
    // One line of context either side: parsers often blame the line after
    // the real mistake (a missing ';' is reported at the next token).
    for (let n = Math.max(1, m.lineNum - 1); n <= Math.min(lines.length, m.lineNum + 1); n++) {
      out.push(gutter(n, n === m.lineNum ? '>' : ' ') + lines[n - 1]);
      if (n === m.lineNum && m.linePos > 0) {
        out.push(' '.repeat(width + 2) + ' | ' + ' '.repeat(m.linePos - 1) + '^'.repeat(Math.max(1, m.length)));
      }
    }
  }
  return out.join('\n');
}

/** Checks the kernel against the device before Dawn does, for clearer messages. */
function checkKernelFits(kernel: RenderedKernel, limits: DeviceLimits): void {
  const k = `kernel '${kernel.entry}'`;
  if (kernel.target !== 'wgsl') throw new WebGpuError('usage', `${k} is rendered for ${kernel.target}, not wgsl`);
  if (kernel.bindings.length > limits.maxStorageBuffers) {
    throw new WebGpuError('usage', `${k} binds ${kernel.bindings.length} storage buffers; the device allows ${limits.maxStorageBuffers} per shader stage`);
  }
  if (!Number.isInteger(kernel.workgroupSize) || kernel.workgroupSize < 1 || kernel.workgroupSize > limits.maxThreadsPerWorkgroup) {
    throw new WebGpuError('usage', `${k} workgroup size ${kernel.workgroupSize} is outside 1..${limits.maxThreadsPerWorkgroup}`);
  }
  if (kernel.sharedBytes > limits.maxWorkgroupStorageBytes) {
    throw new WebGpuError('usage', `${k} declares ${kernel.sharedBytes} bytes of workgroup storage; the device allows ${limits.maxWorkgroupStorageBytes}`);
  }
}

/**
 * The explicit layout: bindings 0..n-1 are storage buffers in binding order,
 * binding n the params uniform. Explicit (not 'auto') so that a binding the
 * shader happens not to use still accepts the buffer the plan passes, and so
 * the layout can be checked against `kernel.bindings` here, not at launch.
 */
function layoutEntries(kernel: RenderedKernel): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = kernel.bindings.map((b, i) => ({
    binding: i,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
  }));
  if (kernel.params.length > 0) {
    entries.push({ binding: kernel.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
  }
  return entries;
}

export class PipelineCache {
  private readonly device: GPUDevice;
  private readonly errors: ErrorTracker;
  private readonly limits: DeviceLimits;
  private readonly owner: object;
  /** Promises, so that two concurrent compiles of one source share the work. */
  private readonly entries = new Map<string, Promise<PipelineEntry>>();

  constructor(owner: object, device: GPUDevice, errors: ErrorTracker, limits: DeviceLimits) {
    this.owner = owner;
    this.device = device;
    this.errors = errors;
    this.limits = limits;
  }

  get size(): number {
    return this.entries.size;
  }

  async compile(kernel: RenderedKernel): Promise<WebGpuKernel> {
    checkKernelFits(kernel, this.limits);
    const key = pipelineKey(kernel);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = this.build(kernel);
      this.entries.set(key, entry);
      // A failed compile must not poison the cache (the caller may fix a
      // driver issue or simply retry); drop it so the next call rebuilds.
      entry.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    const { pipeline, layout, uid } = await entry;
    return { kernel, pipeline, layout, pipelineUid: uid, owner: this.owner };
  }

  private async build(kernel: RenderedKernel): Promise<PipelineEntry> {
    const label = kernel.entry;
    const context = `compiling kernel '${label}'`;
    const { result, error } = await this.errors.scopedSettled(context, () => {
      const module = this.device.createShaderModule({ label, code: kernel.source });
      const layout = this.device.createBindGroupLayout({ label, entries: layoutEntries(kernel) });
      const pipelineLayout = this.device.createPipelineLayout({ label, bindGroupLayouts: [layout] });
      return { module, layout, pipelineLayout };
    });
    const { module, layout, pipelineLayout } = result;
    // The compiler's own messages (with positions, shown against the source)
    // beat the generic "invalid ShaderModule" validation error, so look first.
    const info = await module.getCompilationInfo();
    if (info.messages.some((m) => m.type === 'error')) {
      throw new WebGpuError('compile', formatCompilationMessages(kernel, info.messages));
    }
    if (error) throw error;
    try {
      // Async creation lets Dawn compile to the driver off the JS thread; an
      // autotuner compiling many variants gets them in parallel.
      const pipeline = await this.device.createComputePipelineAsync({
        label,
        layout: pipelineLayout,
        compute: { module, entryPoint: kernel.entry },
      });
      return { pipeline, layout, uid: nextPipelineUid++ };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new WebGpuError('compile', `${context}: pipeline creation failed: ${message}`);
    }
  }
}
