// Runs the kernels `scanforge build` wrote, the way a generated wrapper calls
// them. The build-time sources are what runs: a call is validated against
// the program's signature (embedded in the wrapper), the variant it selects
// picks the manifest, and the manifest says which source to compile and how
// to launch it (bindings, parameters, grid), as written. When the manifest
// carries tuned kernels (`build --tuned`) and one was tuned on this device
// for this shape bucket, that one runs; otherwise the manifest's own kernel,
// built with the manifest's schedule. Only when no prebuilt kernel fits
// (another target, other static dims, a WGSL kernel using subgroups on an
// adapter without them) is the program compiled, with the manifest's
// schedule; that path loads the compiler and the program file lazily.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { DType } from '../../dsl/decl.js';
import type { Program, TensorIR } from '../../dsl/ir.js';
import { variantKey } from '../../dsl/ir.js';
import type { Schedule, Target } from '../../codegen/compile.js';
import type { Manifest } from '../cli/build.js';
import type { Backend, CompiledKernel, DeviceBuffer, ElemType } from '../backend.js';
import { elemBytes, fromDeviceBytes, toDeviceBytes } from '../dtype.js';
import { gridFor, ProgramRunner, type HostTensor } from '../program-runner.js';
import { fmtDims, resolveDims, shapeOf, sizeOf, type Dims } from '../shapes.js';
import { tensorsByName, type ProgramSignature } from '../signature.js';
import { shapeBucket } from '../tune/key.js';
import { validateInputs, variantOf } from '../validate-inputs.js';
import { defaultBackend } from './default-backend.js';

export interface PrebuiltSpec {
  signature: ProgramSignature;
  /** Directory holding the manifests and sources: the generated module's own, `new URL('.', import.meta.url)`. */
  dir: URL;
  /** Manifest file (relative to `dir`) per variant key and target, as the build wrote them. */
  kernels: Readonly<Record<string, Readonly<Partial<Record<Target, string>>>>>;
  /** The program file relative to `dir`, compiled from when no prebuilt kernel fits; without it such a call fails. */
  programFile?: string;
  /** The device dtype of inputs and outputs the build used (--dtype), so a compiled fallback matches the prebuilt kernels. */
  dtype?: DType;
}

export interface PrebuiltCallOptions {
  /** States whose final value to return as `${state}_final`. */
  finalStates?: readonly string[];
  flags?: Readonly<Record<string, boolean | undefined>>;
  /** Dims no given tensor implies. */
  dims?: Readonly<Record<string, number | undefined>>;
  /** Default: the shared backend of defaultBackend(). */
  backend?: Backend;
  /** Fill outputs with NaN before the launch (checks: an unwritten element cannot pass). */
  poison?: boolean;
}

/** A prebuilt kernel: the manifest's own, or one of its tuned ones. */
export interface PrebuiltKernel {
  entry: string;
  /** Source file beside the manifest. */
  source: string;
  /** The schedule it was built with (knob → value). */
  schedule: Readonly<Record<string, number>>;
  workgroupSize: number;
  sharedBytes: number;
  grid: Manifest['grid'];
  subgroups: boolean;
  /** Set when the tune cache's winner for this device and shape bucket was picked. */
  tuned?: { device: string; bucket: string };
}

/** Which kernel a call runs. */
export type KernelChoice =
  | { kind: 'prebuilt'; manifest: Manifest; kernel: PrebuiltKernel }
  | { kind: 'compile'; reason: string; schedule?: Schedule };

interface Call {
  backend: Backend;
  host: Record<string, HostTensor>;
  dims: Dims;
  flags: Record<string, boolean>;
  choice: KernelChoice;
}

export class PrebuiltProgram {
  private readonly manifests = new Map<string, Promise<Manifest>>();
  private readonly compiled = new WeakMap<Backend, Map<string, Promise<CompiledKernel>>>();
  private readonly runners = new WeakMap<Backend, Promise<ProgramRunner>>();
  private program: Promise<Program> | undefined;
  private readonly tensors: Map<string, TensorIR>;

  constructor(readonly spec: PrebuiltSpec) {
    this.tensors = tensorsByName(spec.signature);
  }

  /** Validates a call and says which kernel it would run, without running it. */
  async plan(inputs: object, opts: PrebuiltCallOptions = {}): Promise<{ choice: KernelChoice; dims: Dims }> {
    const c = await this.prepare(inputs, opts);
    return { choice: c.choice, dims: c.dims };
  }

  /** Validates, launches and returns every output and asked final state as fp32 host data. */
  async run(inputs: object, opts: PrebuiltCallOptions = {}): Promise<Record<string, HostTensor>> {
    const c = await this.prepare(inputs, opts);
    if (c.choice.kind === 'prebuilt') return this.launch(c, c.choice.manifest, c.choice.kernel, opts.poison ?? false);
    const runner = await this.runner(c.backend, c.choice.reason);
    return runner.run(c.host, { finalStates: [...(opts.finalStates ?? [])], flags: c.flags, dims: c.dims, dtype: this.spec.dtype, schedule: c.choice.schedule, poison: opts.poison });
  }

  private async prepare(inputs: object, opts: PrebuiltCallOptions): Promise<Call> {
    const sig = this.spec.signature;
    const host = validateInputs(sig, inputs, opts.finalStates);
    const given: Dims = {};
    for (const [d, v] of Object.entries(opts.dims ?? {})) if (v !== undefined) given[d] = v;
    const dims = resolveDims(sig, Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.shape])), given);
    const variant = variantOf(sig, host, opts);
    const backend = opts.backend ?? (await defaultBackend());
    const choice = await this.choose(variantKey(variant), backend.kind === 'cuda' ? 'cuda' : 'wgsl', dims, backend);
    return { backend, host, dims, flags: variant.flags, choice };
  }

  private async choose(key: string, target: Target, dims: Dims, backend: Backend): Promise<KernelChoice> {
    const files = this.spec.kernels[key];
    if (!files) return { kind: 'compile', reason: `no kernel was built for variant ${key}` };
    const file = files[target];
    if (!file) return { kind: 'compile', reason: `variant ${key} was built for ${Object.keys(files).join(', ')} only, and ${backend.deviceName} runs ${target}` };
    const m = await this.manifest(file, key, target);
    const differ = Object.keys(m.staticDims).filter((d) => dims[d] !== m.staticDims[d]);
    if (differ.length) {
      return { kind: 'compile', reason: `${m.entry} is specialised on ${fmtDims(m.staticDims)}, and the call has ${differ.map((d) => `${d}=${dims[d]}`).join(' ')}`, schedule: m.schedule };
    }
    // A run of several launches with scratch buffers (manifest.launches): the wrapper runtime launches single
    // kernels only, so such a call goes through the compiler's runner (which launches sequences), saying so.
    if (m.launches && m.launches.length > 1) {
      return { kind: 'compile', reason: `${m.entry} is the first of ${m.launches.length} launches with scratch buffers (${(m.scratch ?? []).map((x) => x.name).join(', ')}); prebuilt kernels run one launch per call, so this one is compiled and run by the program runner`, schedule: m.schedule };
    }
    const usable = (k: { subgroups: boolean }): boolean => target === 'cuda' || !k.subgroups || backend.limits.subgroups;
    const bucket = shapeBucket(this.spec.signature, dims);
    const tuned = m.tuned?.find((t) => t.fingerprint === backend.fingerprint && t.bucket === bucket && usable(t));
    if (tuned) {
      const { entry, source, workgroupSize, sharedBytes, grid, subgroups } = tuned;
      return { kind: 'prebuilt', manifest: m, kernel: { entry, source, schedule: tuned.schedule, workgroupSize, sharedBytes, grid, subgroups, tuned: { device: tuned.device, bucket } } };
    }
    if (!usable(m)) return { kind: 'compile', reason: `${m.entry} uses subgroups, which ${backend.deviceName} lacks`, schedule: m.schedule };
    const { entry, source, schedule, workgroupSize, sharedBytes, grid, subgroups } = m;
    return { kind: 'prebuilt', manifest: m, kernel: { entry, source, schedule, workgroupSize, sharedBytes, grid, subgroups } };
  }

  private manifest(file: string, key: string, target: Target): Promise<Manifest> {
    let m = this.manifests.get(file);
    if (!m) {
      m = this.readManifest(file, key, target);
      this.manifests.set(file, m);
      m.catch(() => this.manifests.delete(file));
    }
    return m;
  }

  private async readManifest(file: string, key: string, target: Target): Promise<Manifest> {
    const name = this.spec.signature.name;
    const at = fileURLToPath(new URL(file, this.spec.dir));
    let m: Manifest;
    try {
      m = JSON.parse(await readFile(at, 'utf8')) as Manifest;
    } catch (e) {
      throw new Error(`${name}: cannot read the kernel manifest ${at} (${e instanceof Error ? e.message : String(e)}); run scanforge build again`);
    }
    if (m.program !== name || m.variant !== key || m.target !== target) {
      throw new Error(`${name}: ${at} is the manifest of ${m.program} ${m.variant} (${m.target}), not of ${key} (${target}): this module and that directory come from different builds; run scanforge build again`);
    }
    if (!m.grid) throw new Error(`${name}: ${at} has no grid (written by an older scanforge build); run scanforge build again`);
    return m;
  }

  private kernel(backend: Backend, m: Manifest, pk: PrebuiltKernel): Promise<CompiledKernel> {
    let bySource = this.compiled.get(backend);
    if (!bySource) this.compiled.set(backend, (bySource = new Map()));
    let k = bySource.get(pk.source);
    if (!k) {
      const cache = bySource;
      k = (async () => {
        const at = new URL(pk.source, this.spec.dir);
        const source = await readFile(at, 'utf8').catch((e: unknown) => {
          throw new Error(`${m.program}: cannot read the kernel source ${fileURLToPath(at)} (${e instanceof Error ? e.message : String(e)}); run scanforge build again`);
        });
        // Bindings and parameters are the variant's; a tuned kernel differs only in schedule and launch shape.
        return backend.compile({ target: m.target, entry: pk.entry, source, bindings: m.bindings, params: m.params, workgroupSize: pk.workgroupSize, sharedBytes: pk.sharedBytes });
      })();
      cache.set(pk.source, k);
      k.catch(() => cache.delete(pk.source));
    }
    return k;
  }

  /** Uploads in the manifest's binding order, launches on the manifest's grid, reads back what the kernel wrote. */
  private async launch(c: Call, m: Manifest, pk: PrebuiltKernel, poison: boolean): Promise<Record<string, HostTensor>> {
    const name = this.spec.signature.name;
    const { backend, dims } = c;
    const kernel = await this.kernel(backend, m, pk);
    const bufs: DeviceBuffer[] = [];
    const written: { t: TensorIR; buf: DeviceBuffer; elem: ElemType }[] = [];
    try {
      for (const b of m.bindings) {
        const t = this.tensors.get(b.name);
        if (!t) throw new Error(`${name}: ${m.entry} binds '${b.name}', which the program does not declare; run scanforge build again`);
        const n = sizeOf(t, dims);
        if (n >= 2 ** 31) throw new Error(`${name}: tensor '${t.name}' has ${n} elements; kernels index with 32-bit integers (at most 2^31 - 1)`);
        if (t.role === 'input' || t.role === 'state-init') {
          const given = c.host[b.name];
          if (!given) throw new Error(`internal: ${m.entry} reads '${b.name}', which this call did not pass`);
          const bytes = toDeviceBytes(given.data, b.elem);
          const buf = backend.createBuffer(bytes.byteLength);
          bufs.push(buf);
          backend.write(buf, bytes);
        } else {
          const buf = backend.createBuffer(n * elemBytes(b.elem));
          bufs.push(buf);
          if (poison) backend.write(buf, toDeviceBytes(new Float32Array(n).fill(NaN), b.elem));
          written.push({ t, buf, elem: b.elem });
        }
      }
      const groups = Math.ceil(pk.grid.fromDims.reduce((a, d) => a * dims[d]!, 1) / pk.grid.rowsPerGroup);
      const params = m.params.map((q) => {
        const v = dims[q.name];
        if (v === undefined) throw new Error(`internal: ${m.entry} takes parameter '${q.name}', which is not a dim`);
        return v;
      });
      backend.launch(kernel, gridFor(groups, backend.limits.maxGridDim, name), bufs, params);
      await backend.sync();
      const out: Record<string, HostTensor> = {};
      for (const w of written) out[w.t.name] = { data: fromDeviceBytes(await backend.read(w.buf), w.elem, sizeOf(w.t, dims)), shape: shapeOf(w.t, dims) };
      return out;
    } finally {
      for (const b of bufs) backend.destroyBuffer(b);
    }
  }

  /** The compile-on-demand runner for calls no prebuilt kernel fits; loads the program file once. */
  private runner(backend: Backend, reason: string): Promise<ProgramRunner> {
    const { name } = this.spec.signature;
    const rel = this.spec.programFile;
    if (rel === undefined) return Promise.reject(new Error(`${name}: no prebuilt kernel fits this call (${reason}), and this module names no program file to compile from; build for this case`));
    let r = this.runners.get(backend);
    if (!r) {
      this.program ??= (async () => {
        const file = fileURLToPath(new URL(rel, this.spec.dir));
        const { loadPrograms } = await import('../../dsl/load.js');
        const p = (await loadPrograms(file)).find((x) => x.name === name);
        if (!p) throw new Error(`${name}: ${file} no longer declares program '${name}'`);
        return p;
      })();
      const loading = this.program;
      r = loading.then((p) => new ProgramRunner(backend, p));
      this.runners.set(backend, r);
      r.catch(() => {
        this.runners.delete(backend);
        if (this.program === loading) this.program = undefined;
      });
    }
    return r;
  }
}
