// Runs a program's kernels on a backend: picks the variant from what the
// caller passes, validates every tensor (name, shape, dtype) before anything
// touches the GPU, compiles once per (variant, dtype, schedule, static dims),
// and launches. Knows nothing about any SSM family.

import type { DType } from '../dsl/decl.js';
import type { Program, SpecializedProgram, TensorIR, Variant } from '../dsl/ir.js';
import { variantKey } from '../dsl/ir.js';
import { specialize } from '../dsl/specialize.js';
import { compileKernel, defaultSchedule, type CompiledKernelInfo, type Schedule } from '../codegen/compile.js';
import type { Backend, CompiledKernel, DeviceBuffer, Grid } from './backend.js';
import { elemBytes, fromDeviceBytes, toDeviceBytes } from './dtype.js';
import { fmtDims, resolveDims, shapeOf, sizeOf, type Dims } from './shapes.js';

export interface HostTensor {
  data: Float32Array;
  shape: readonly number[];
}

export interface RunOptions {
  /** States whose final value to return (as `${state}_final`). */
  finalStates?: string[];
  flags?: Record<string, boolean>;
  /** Dims not implied by any given tensor. */
  dims?: Dims;
  /** Element type of the inputs and outputs on the device (state stays fp32). */
  dtype?: DType;
  schedule?: Schedule;
  /** Fill outputs with NaN before the launch, so an unwritten element cannot pass a check. */
  poison?: boolean;
}

export interface PreparedLaunch {
  info: CompiledKernelInfo;
  kernel: CompiledKernel;
  grid: Grid;
  params: number[];
  program: SpecializedProgram;
  dims: Dims;
}

export class ProgramRunner {
  private readonly kernels = new Map<string, Promise<{ info: CompiledKernelInfo; kernel: CompiledKernel }>>();

  constructor(
    readonly backend: Backend,
    readonly program: Program,
  ) {}

  /** Specialises for what is passed and compiles (cached); validates shapes. */
  async prepare(inputs: Record<string, HostTensor>, opts: RunOptions = {}): Promise<PreparedLaunch> {
    const p = this.program;
    const known = new Map<string, TensorIR>([...p.inputs.map((t) => [t.name, t] as const), ...p.state.map((s) => [s.init, { name: s.init } as TensorIR] as const)]);
    for (const [name, t] of Object.entries(inputs)) {
      if (t === undefined) throw new Error(`${p.name}: input '${name}' is undefined; leave an absent optional input out of the object`);
      if (!known.has(name)) throw new Error(`${p.name}: unknown input '${name}' (inputs: ${[...known.keys()].join(', ')})`);
    }
    for (const t of p.inputs) if (!t.optional && !inputs[t.name]) throw new Error(`${p.name}: missing required input '${t.name}' (${t.shape.join(', ')})`);
    for (const [name, t] of Object.entries(inputs)) {
      if (!(t.data instanceof Float32Array)) throw new Error(`${p.name}: input '${name}' must be a Float32Array (host data; converted to the kernel's dtype on upload)`);
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new Error(`${p.name}: input '${name}' has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${n}`);
    }
    for (const s of opts.finalStates ?? []) if (!p.state.some((x) => x.name === s)) throw new Error(`${p.name}: unknown state '${s}' in finalStates (states: ${p.state.map((x) => x.name).join(', ')})`);
    const dims = resolveDims(p, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])), opts.dims);
    const variant: Variant = {
      present: p.inputs.filter((t) => t.optional && inputs[t.name]).map((t) => t.name),
      flags: { ...p.flags, ...(opts.flags ?? {}) },
      initStates: p.state.filter((s) => inputs[s.init]).map((s) => s.name),
      finalStates: [...(opts.finalStates ?? [])],
    };
    const sp = specializeFor(p, variant, dims, opts.dtype);
    for (const t of [...sp.used, ...sp.written]) {
      const n = sizeOf(t, dims);
      if (n >= 2 ** 31) throw new Error(`${p.name}: tensor '${t.name}' has ${n} elements; kernels index with 32-bit integers (at most 2^31 - 1)`);
    }
    const sched = opts.schedule ?? defaultSchedule(sp);
    const key = [variantKey(variant), opts.dtype ?? '', sched.threads, sched.items, sched.rows ?? 1, JSON.stringify(sp.staticDims)].join('|');
    let entry = this.kernels.get(key);
    if (!entry) {
      entry = (async () => {
        const info = compileKernel(sp, this.backend.kind === 'cuda' ? 'cuda' : 'wgsl', sched, { subgroups: this.backend.limits.subgroups });
        return { info, kernel: await this.backend.compile(info.kernel) };
      })();
      this.kernels.set(key, entry);
      entry.catch(() => this.kernels.delete(key));
    }
    const { info, kernel } = await entry;
    const groups = Math.ceil(info.gridFromDims.reduce((a, d) => a * dims[d]!, 1) / info.rowsPerGroup);
    const grid = gridFor(groups, this.backend.limits.maxGridDim, p.name);
    const params = info.kernel.params.map((q) => dims[q.name]!);
    return { info, kernel, grid, params, program: sp, dims };
  }

  /** Runs once and returns every written tensor (outputs and asked final states) as fp32 host data. */
  async run(inputs: Record<string, HostTensor>, opts: RunOptions = {}): Promise<Record<string, HostTensor>> {
    const prep = await this.prepare(inputs, opts);
    const bufs = this.upload(prep, inputs, opts.poison ?? false);
    try {
      this.backend.launch(prep.kernel, prep.grid, bufs.list, prep.params);
      await this.backend.sync();
      const out: Record<string, HostTensor> = {};
      for (const t of prep.program.written) {
        const bytes = await this.backend.read(bufs.byName.get(t.name)!);
        out[t.name] = { data: fromDeviceBytes(bytes, t.dtype, sizeOf(t, prep.dims)), shape: shapeOf(t, prep.dims) };
      }
      return out;
    } finally {
      for (const b of bufs.list) this.backend.destroyBuffer(b);
    }
  }

  /** Device buffers in the kernel's binding order (inputs uploaded, outputs allocated). */
  upload(prep: PreparedLaunch, inputs: Record<string, HostTensor>, poison: boolean): { list: DeviceBuffer[]; byName: Map<string, DeviceBuffer> } {
    const byName = new Map<string, DeviceBuffer>();
    const sp = prep.program;
    for (const t of sp.used) {
      const bytes = toDeviceBytes(inputs[t.name]!.data, t.dtype);
      const buf = this.backend.createBuffer(bytes.byteLength);
      this.backend.write(buf, bytes);
      byName.set(t.name, buf);
    }
    for (const t of sp.written) {
      const n = sizeOf(t, prep.dims);
      const buf = this.backend.createBuffer(n * elemBytes(t.dtype));
      if (poison) this.backend.write(buf, toDeviceBytes(new Float32Array(n).fill(NaN), t.dtype));
      byName.set(t.name, buf);
    }
    const list = prep.info.kernel.bindings.map((b) => {
      const buf = byName.get(b.name);
      if (!buf) throw new Error(`internal: kernel binding '${b.name}' has no buffer`);
      return buf;
    });
    return { list, byName };
  }
}

/** Specialises and applies the run's static dims and dtype. */
export function specializeFor(p: Program, variant: Variant, dims: Dims, dtype?: DType): SpecializedProgram {
  const sp = specialize(p, variant);
  const staticDims: Record<string, number> = {};
  for (const d of Object.keys(p.staticDims)) staticDims[d] = dims[d]!;
  const retype = (t: TensorIR): TensorIR => (dtype && (t.role === 'input' || t.role === 'output') ? { ...t, dtype } : t);
  return { ...sp, staticDims, used: sp.used.map(retype), written: sp.written.map(retype) };
}

/** Spreads a count of workgroups over x and y within the device's grid limits. */
export function gridFor(groups: number, max: [number, number, number], what: string): Grid {
  const x = Math.min(groups, max[0]);
  const y = Math.ceil(groups / x);
  if (y > max[1]) throw new Error(`${what}: ${groups} workgroups exceed the device grid (${max[0]} × ${max[1]})`);
  return [x, y, 1];
}

export { fmtDims };
