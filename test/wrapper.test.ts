// The typed module `scanforge build` writes beside a program's kernels, used
// the way a team that ships kernels uses it: a scratch package that depends
// on scanforge (node_modules/scanforge → this checkout) builds
// examples/mamba1.ts into its own folder, type-checks a strict caller with
// tsc (including calls that must NOT type-check), runs it with tsx on this
// machine's WebGPU adapter (llvmpipe here) and compares against the float64
// reference. In-process tests then check what the module runs: the source
// file the build wrote (tampering with it shows), the manifest's schedule and
// grid (a tuned build's), and its errors for bad input.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import { variantKey, type Program, type Variant } from '../dsl/ir.ts';
import { compileKernel } from '../codegen/compile.ts';
import { buildProgram, type Manifest } from '../runtime/cli/build.ts';
import { relL2, tolerance } from '../runtime/check.ts';
import { roundTo } from '../runtime/dtype.ts';
import { specializeFor, type HostTensor } from '../runtime/program-runner.ts';
import type { PrebuiltCallOptions, PrebuiltProgram } from '../runtime/prebuilt/index.ts';
import { runReference } from '../runtime/reference/interpret.ts';
import { rng, sample } from '../runtime/random.ts';
import { resolveDims } from '../runtime/shapes.ts';
import { shapeBucket } from '../runtime/tune/key.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mamba1 = path.join(root, 'examples/mamba1.ts');
const TIMEOUT = 60_000;

/** What the tests need of a generated module (its real types are checked by tsc in the scratch package). */
interface WrapperModule {
  prebuilt: PrebuiltProgram;
  selectiveScan: (inputs: object, options?: PrebuiltCallOptions) => Promise<Record<string, HostTensor>>;
}

/** Imports a generated module; a query makes a fresh instance (its compiled kernels are cached per instance). */
async function importWrapper(file: string, query = ''): Promise<WrapperModule> {
  const url = pathToFileURL(file);
  url.search = query;
  return (await import(url.href)) as WrapperModule;
}

// The caller a user writes: typed inputs, the typed result, the float64 reference.
const CALLER = `
import { fullVariant, loadProgram, openBackend, relL2, runReference, specializeFor } from 'scanforge';
import { prebuilt, selectiveScan, type Inputs } from '../kernels/selective_scan.js';

// seqlen 300: not a multiple of the scan chunk; ngroups 2 shares B and C between channels.
const [batch, dim, seqlen, dstate, ngroups] = [2, 4, 300, 16, 2];
let seed = 20240611;
function rand(n: number, scale = 1, shift = 0): Float32Array {
  return Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return shift + scale * (2 * (seed / 2147483648) - 1);
  });
}
const inputs: Inputs = {
  u: { data: rand(batch * dim * seqlen), shape: [batch, dim, seqlen] },
  delta: { data: rand(batch * dim * seqlen, 1, -2), shape: [batch, dim, seqlen] },
  A: { data: rand(dim * dstate, 0.45, -0.55), shape: [dim, dstate] },
  B: { data: rand(batch * ngroups * dstate * seqlen), shape: [batch, ngroups, dstate, seqlen] },
  C: { data: rand(batch * ngroups * dstate * seqlen), shape: [batch, ngroups, dstate, seqlen] },
  D: { data: rand(dim), shape: [dim] },
  z: { data: rand(batch * dim * seqlen), shape: [batch, dim, seqlen] },
  delta_bias: { data: rand(dim, 0.5), shape: [dim] },
  h_init: { data: rand(batch * dim * dstate), shape: [batch, dim, dstate] },
};

const backend = await openBackend('webgpu');
try {
  const { choice } = await prebuilt.plan(inputs, { backend, finalStates: ['h'] });
  const out = await selectiveScan(inputs, { backend, finalStates: ['h'] });
  const y: Float32Array = out.y.data;
  const hFinal: readonly [number, number, number] = out.h_final.shape;

  const p = await loadProgram(process.argv[2]!);
  const dims = { batch, dim, seqlen, dstate, ngroups };
  const sp = specializeFor(p, fullVariant(p), dims);
  const given: Record<string, { data: Float32Array } | undefined> = { ...inputs };
  const ref = runReference(sp, dims, Object.fromEntries(sp.used.map((t) => [t.name, Float64Array.from(given[t.name]!.data)])));

  const wrongShape = await selectiveScan({ ...inputs, delta: { data: rand(batch * dim * (seqlen + 1)), shape: [batch, dim, seqlen + 1] } }, { backend })
    .then(() => 'no error', (e: unknown) => (e instanceof Error ? e.message : String(e)));
  console.log(JSON.stringify({
    kernel: choice.kind === 'prebuilt' ? choice.kernel.entry : 'compiled: ' + choice.reason,
    y: relL2(y, ref.y!).relL2,
    h_final: relL2(out.h_final.data, ref.h_final!).relL2,
    shapes: [out.y.shape, hFinal],
    wrongShape,
  }));
} finally {
  backend.destroy();
}
`;

// Calls that must not type-check: each @ts-expect-error fails tsc if its line is accepted.
const MISUSE = `
import { selectiveScan, type Inputs } from '../kernels/selective_scan.js';

export async function misuse(inputs: Inputs, x: Float32Array): Promise<void> {
  // @ts-expect-error u has rank 3 (batch, dim, seqlen)
  await selectiveScan({ ...inputs, u: { data: x, shape: [2, 3] } });
  // @ts-expect-error host data is a Float32Array
  await selectiveScan({ ...inputs, u: { data: new Float64Array(6), shape: [1, 2, 3] } });
  const { delta: _delta, ...noDelta } = inputs;
  // @ts-expect-error delta is required
  await selectiveScan(noDelta);
  // @ts-expect-error 'g' is not a state
  await selectiveScan(inputs, { finalStates: ['g'] });
  // @ts-expect-error no flag 'softplus' (it is delta_softplus)
  await selectiveScan(inputs, { flags: { softplus: true } });
  const plain = await selectiveScan(inputs);
  // @ts-expect-error h_final is returned only when finalStates asks for it
  void plain.h_final;
  const withFinal = await selectiveScan(inputs, { finalStates: ['h'], flags: { delta_softplus: false }, dims: { ngroups: 1 } });
  const shape: readonly [batch: number, dim: number, dstate: number] = withFinal.h_final.shape;
  void shape;
}
`;

/** A temp folder that is a package depending on scanforge: what `npm install file:<checkout>` makes, a link. */
function scratchPackage(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  mkdirSync(path.join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(root, path.join(dir, 'node_modules/scanforge'), 'dir');
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(dir, 'node_modules/@types/node'), 'dir');
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies: { scanforge: `file:${root}` } }, null, 2));
  return dir;
}

describe('scanforge build: the typed wrapper, from a scratch package', () => {
  let scratch: string;
  let kernels: string;

  beforeAll(async () => {
    scratch = scratchPackage('scanforge-scratch-');
    kernels = path.join(scratch, 'kernels');
    mkdirSync(path.join(scratch, 'src'));
    writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
        // scanforge ships TypeScript sources, and some of them import './x.ts'; a consumer's tsc checks those files too.
        allowImportingTsExtensions: true,
      },
      include: ['src', 'kernels'],
    }, null, 2));
    writeFileSync(path.join(scratch, 'src/main.ts'), CALLER);
    writeFileSync(path.join(scratch, 'src/misuse.ts'), MISUSE);
    // The installed command, as a package script would run it.
    await run(process.execPath, [path.join(root, 'runtime/cli/bin.js'), 'build', mamba1, '--out', kernels, '--target', 'wgsl,cuda'], { cwd: scratch });
  }, TIMEOUT);

  afterAll(() => { if (scratch) rmSync(scratch, { recursive: true, force: true }); });

  it('writes one module per program beside the kernels, importing only the scanforge/prebuilt entry', () => {
    const src = readFileSync(path.join(kernels, 'selective_scan.ts'), 'utf8');
    expect(src).toMatch(/^import \{ PrebuiltProgram, type Backend \} from 'scanforge\/prebuilt';$/m);
    expect(src).toMatch(/export interface Inputs \{/);
    expect(src).toMatch(/ {2}D\?: \{\s+data: Float32Array;\s+shape: readonly \[dim: number\];/);
    expect(src).toMatch(/ {2}h_init\?: \{/);
    expect(src).toMatch(/export async function selectiveScan<F extends State = never>\(inputs: Inputs, options: Options<F> = \{\}\): Promise<Outputs<F>>/);
    expect(src).toContain("requires: [[({ dim, ngroups }) => dim % ngroups === 0, 'dim must be a multiple of ngroups']]");
  });

  it('type-checks under strict tsc, and rejects calls with the wrong rank, dtype, inputs, states or flags', async () => {
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const res = await run(process.execPath, [tsc, '-p', scratch], { cwd: scratch }).then(
      () => '',
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    // Only this package's files are this test's business: scanforge's own sources are type-checked by
    // `tsc -p .` in the checkout (a half-edited file there must not read as a wrapper failure here).
    const ours = res.split(/\n(?=\S)/).filter((d) => /^(src|kernels)\//.test(d));
    expect(ours.join('\n')).toBe('');
    expect(res === '' || /^\.\.\//m.test(res), `tsc failed without a diagnostic:\n${res}`).toBe(true);
  }, TIMEOUT);

  it('runs with tsx on the WebGPU adapter: the prebuilt kernel, within tolerance of the float64 reference', async () => {
    const tsx = path.join(root, 'node_modules/tsx/dist/cli.mjs');
    const { stdout } = await run(process.execPath, [tsx, 'src/main.ts', mamba1], { cwd: scratch, env: { ...process.env, EGL_PLATFORM: process.env.EGL_PLATFORM ?? 'surfaceless' } });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { kernel: string; y: number; h_final: number; shapes: number[][]; wrongShape: string };
    expect(r.kernel).toMatch(/^selective_scan_[0-9a-f]{8}_t\d+i\d+/);
    expect(r.shapes).toEqual([[2, 4, 300], [2, 4, 16]]);
    expect(r.y).toBeLessThanOrEqual(tolerance('f32', 300));
    expect(r.h_final).toBeLessThanOrEqual(tolerance('f32', 300));
    expect(r.wrongShape).toMatch(/selective_scan: tensor 'delta' has seqlen = 301 \(shape \[2, 4, 301\], expected \(batch, dim, seqlen\)\), but tensor 'u' gave seqlen = 300/);
  }, TIMEOUT);
});

describe('the generated module in process: what it runs, and its errors', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let dir: string;

  beforeAll(async () => {
    gpu = await openWebGpu();
    p = await loadProgram(mamba1);
    dir = scratchPackage('scanforge-wrapper-');
  }, TIMEOUT);

  afterAll(() => {
    gpu?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Builds `prog` (wgsl only) into a fresh folder and imports its module. */
  async function build(name: string, prog: Program): Promise<{ out: string; mod: WrapperModule; manifests: Manifest[] }> {
    const out = path.join(dir, name);
    const manifests = buildProgram(prog, { targets: ['wgsl'], out, dims: {}, wgslSubgroups: false });
    return { out, mod: await importWrapper(path.join(out, 'selective_scan.ts')), manifests };
  }

  const variantOfCase = (present: string[], init: boolean, final: boolean): Variant => ({ present, flags: { ...p.flags }, initStates: init ? ['h'] : [], finalStates: final ? ['h'] : [] });

  /** Fresh inputs for a variant, and the reference of every tensor it writes. */
  function inputsAndReference(v: Variant, dims: Record<string, number>, seed: number): { inputs: Record<string, HostTensor>; ref: Record<string, Float64Array> } {
    const sp = specializeFor(p, v, dims);
    const next = rng(seed);
    const inputs: Record<string, HostTensor> = {};
    for (const t of sp.used) inputs[t.name] = { data: sample(t.dist, t.shape.reduce((a, d) => a * dims[d]!, 1), next), shape: t.shape.map((d) => dims[d]!) };
    const ref = runReference(sp, resolveDims(p, Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape])), dims), Object.fromEntries(sp.used.map((t) => [t.name, roundTo(t.dtype, inputs[t.name]!.data)])));
    return { inputs, ref };
  }

  function expectClose(got: Record<string, HostTensor>, ref: Record<string, Float64Array>, L: number): void {
    expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
    for (const [k, r] of Object.entries(ref)) {
      const e = relL2(got[k]!.data, r);
      expect(e.nan, `${k} has non-finite elements`).toBe(0);
      expect(e.relL2, k).toBeLessThanOrEqual(tolerance('f32', L));
    }
  }

  it('runs the source file the build wrote: a broken source breaks the call', async () => {
    const { out, mod } = await build('tamper', p);
    const v = variantOfCase(['D'], false, true);
    const dims = { batch: 2, dim: 3, seqlen: 130, dstate: 16, ngroups: 1 };
    const { inputs, ref } = inputsAndReference(v, dims, 7);
    const plan = await mod.prebuilt.plan(inputs, { backend: gpu, finalStates: ['h'] });
    if (plan.choice.kind !== 'prebuilt') throw new Error(`expected the prebuilt kernel, got: ${plan.choice.reason}`);
    const k = plan.choice.kernel;
    expect(k.entry).toBe(plan.choice.manifest.entry);
    expectClose(await mod.selectiveScan(inputs, { backend: gpu, finalStates: ['h'], poison: true }), ref, 130);

    // A fresh module (the compiled kernel is cached per module) over a corrupted source.
    const wgsl = path.join(out, k.source);
    writeFileSync(wgsl, readFileSync(wgsl, 'utf8').replace('@compute', '@compute @nonsense'));
    const fresh = await importWrapper(path.join(out, 'selective_scan.ts'), '?fresh');
    await expect(fresh.selectiveScan(inputs, { backend: gpu, finalStates: ['h'] })).rejects.toThrow(/nonsense|attribute/i);
  }, TIMEOUT);

  it("launches on the manifest's grid and compiles a fallback with the manifest's schedule (as a tuned build writes it)", async () => {
    // A schedule with two rows per workgroup: the grid must be ceil(batch·dim / 2) or rows go unwritten (poisoned NaN).
    const tuned: Program = { ...p, schedule: { ...p.schedule, threads: [32], items: [2], rows: [2] } };
    const { mod } = await build('rows', tuned);
    const v = variantOfCase(['z'], true, true);
    const dims = { batch: 3, dim: 3, seqlen: 77, dstate: 16, ngroups: 1 };
    const { inputs, ref } = inputsAndReference(v, dims, 11);
    const plan = await mod.prebuilt.plan(inputs, { backend: gpu, finalStates: ['h'] });
    expect(plan.choice.kind === 'prebuilt' && plan.choice.kernel.grid).toEqual({ fromDims: ['batch', 'dim'], rowsPerGroup: 2 });
    expectClose(await mod.selectiveScan(inputs, { backend: gpu, finalStates: ['h'], poison: true }), ref, 77);

    // Other static dims than the build's: compiled from the program file, with the manifest's schedule.
    const small = { ...dims, dstate: 5 };
    const other = inputsAndReference(v, small, 12);
    const fallback = await mod.prebuilt.plan(other.inputs, { backend: gpu, finalStates: ['h'] });
    expect(fallback.choice).toMatchObject({ kind: 'compile', schedule: { threads: 32, items: 2, rows: 2 } });
    expect(fallback.choice.kind === 'compile' && fallback.choice.reason).toMatch(/is specialised on dstate=16, and the call has dstate=5/);
    expectClose(await mod.selectiveScan(other.inputs, { backend: gpu, finalStates: ['h'], poison: true }), other.ref, 77);
  }, TIMEOUT);

  it("runs a manifest's tuned kernel (build --tuned) for this device and shape bucket, the default kernel elsewhere", async () => {
    const { out, manifests } = await build('tuned', p);
    const v = variantOfCase([], true, true);
    const dims = { batch: 2, dim: 3, seqlen: 100, dstate: 16, ngroups: 1 };
    const sp = specializeFor(p, v, dims);
    const m = manifests.find((x) => x.variant === variantKey(v))!;
    // What tune/bake.ts writes: a kernel compiled with the winning schedule, and its launch shape, per device and bucket.
    const baked = (fingerprint: string, schedule: { threads: number; items: number; rows: number }, broken: boolean) => {
      const info = compileKernel(sp, 'wgsl', schedule, { subgroups: false });
      const source = `${info.kernel.entry}.wgsl`;
      writeFileSync(path.join(out, source), broken ? 'this is not WGSL' : info.kernel.source);
      return {
        device: fingerprint, fingerprint, bucket: shapeBucket(sp, dims), dims, schedule, ms: 1, defaultMs: 2,
        entry: info.kernel.entry, source, workgroupSize: info.kernel.workgroupSize, sharedBytes: info.kernel.sharedBytes,
        grid: { fromDims: info.gridFromDims, rowsPerGroup: info.rowsPerGroup }, subgroups: info.plan.usesSubgroups,
      };
    };
    const tuned = [baked('another GPU', { threads: 64, items: 1, rows: 1 }, true), baked(gpu.fingerprint, { threads: 32, items: 3, rows: 2 }, false)];
    writeFileSync(path.join(out, `${m.entry}.wgsl.json`), JSON.stringify({ ...m, tuned }, null, 2));
    const mod = await importWrapper(path.join(out, 'selective_scan.ts'));

    const { inputs, ref } = inputsAndReference(v, dims, 5);
    const plan = await mod.prebuilt.plan(inputs, { backend: gpu, finalStates: ['h'] });
    expect(plan.choice.kind === 'prebuilt' && plan.choice.kernel).toMatchObject({ entry: tuned[1]!.entry, schedule: { threads: 32, items: 3, rows: 2 }, grid: { rowsPerGroup: 2 }, tuned: { device: gpu.fingerprint } });
    expectClose(await mod.selectiveScan(inputs, { backend: gpu, finalStates: ['h'], poison: true }), ref, 100);

    // seqlen 200 is in another bucket (≤ 256): nothing was tuned there, the manifest's own kernel runs.
    const longer = inputsAndReference(v, { ...dims, seqlen: 200 }, 6);
    const other = await mod.prebuilt.plan(longer.inputs, { backend: gpu, finalStates: ['h'] });
    expect(other.choice.kind === 'prebuilt' && other.choice.kernel).toMatchObject({ entry: m.entry, schedule: m.schedule });
    expect(other.choice.kind === 'prebuilt' && other.choice.kernel.tuned).toBeUndefined();
    expectClose(await mod.selectiveScan(longer.inputs, { backend: gpu, finalStates: ['h'], poison: true }), longer.ref, 200);
  }, TIMEOUT);

  it('bad input: names the tensor, what was expected and what came, before anything touches the device', async () => {
    const { mod } = await build('errors', p);
    const dims = { batch: 2, dim: 4, seqlen: 8, dstate: 16, ngroups: 2 };
    const { inputs } = inputsAndReference(variantOfCase([], false, false), dims, 3);
    const call = (over: Record<string, unknown>, opts: PrebuiltCallOptions = {}) => mod.selectiveScan({ ...inputs, ...over }, { backend: gpu, ...opts });
    await expect(call({ u: { data: new Float32Array(8), shape: [2, 4] } })).rejects.toThrow(/tensor 'u' must have 3 dims \(batch, dim, seqlen\), got shape \[2, 4\]/);
    await expect(call({ A: { data: new Float32Array(8 * 16), shape: [8, 16] } })).rejects.toThrow(/tensor 'A' has dim = 8 \(shape \[8, 16\], expected \(dim, dstate\)\), but tensor 'u' gave dim = 4/);
    await expect(call({ u: { data: new Float64Array(64), shape: [2, 4, 8] } })).rejects.toThrow(/input 'u' must be a Float32Array .*got Float64Array/);
    await expect(call({ u: { data: new Float32Array(63), shape: [2, 4, 8] } })).rejects.toThrow(/input 'u' has 63 elements but shape \[2, 4, 8\] needs 64/);
    await expect(call({ u: undefined })).rejects.toThrow(/input 'u' is undefined/);
    await expect(call({ D: { data: new Float32Array(4), shape: [4] }, Dee: { data: new Float32Array(4), shape: [4] } })).rejects.toThrow(/unknown input 'Dee' \(inputs: u, delta, A, B, C, D, z, delta_bias, h_init\)/);
    await expect(call({ A: { data: new Float32Array(3 * 16), shape: [3, 16] }, u: { data: new Float32Array(48), shape: [2, 3, 8] }, delta: { data: new Float32Array(48), shape: [2, 3, 8] } }))
      .rejects.toThrow(/selective_scan: dim must be a multiple of ngroups \(dims: .*dim=3/);
    await expect(call({}, { finalStates: ['g'] })).rejects.toThrow(/unknown state 'g' in finalStates \(states: h\)/);
    await expect(call({}, { flags: { softplus: true } })).rejects.toThrow(/unknown flag 'softplus' \(flags: delta_softplus\)/);
    const { u: _u, ...noU } = inputs;
    await expect(mod.selectiveScan(noU, { backend: gpu })).rejects.toThrow(/missing required input 'u' \(batch, dim, seqlen\)/);
  }, TIMEOUT);
});
