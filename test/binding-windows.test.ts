// Tensors larger than one binding bound as windows, each a buffer holding a
// range of the tensor (codegen/lower/binding-windows.ts, runtime/windows.ts;
// RunnerOptions.windows): every launch holds all rows, where pieces
// (test/pieces.test.ts) run a share of them at a time.
// The placement: the fewest windows within the limit, boundaries that split no
// workgroup and keep offsets aligned. The plan: one body, each access of a
// windowed tensor through an accessor that picks the workgroup's window. The
// runs: on the CPU adapter with the binding limit lowered, outputs and final
// states equal the unlimited run's bit for
// bit and pass the float64 reference (outputs poisoned), for the chunked scan
// and the split state-lanes form (Mamba-1, windows along dim) and the SSD
// lowering (Mamba-2, along batch). CUDA, whose buffers have no binding limit,
// refuses windowed plans.

import { describe, expect, it } from 'vitest';
import { fullVariant } from '../dsl/specialize.ts';
import type { Program } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import { windowBinding, windowOffsetParam, windowStartParam } from '../codegen/lower/binding-windows.ts';
import { checkCase, randomInputs, type CheckCase } from '../runtime/check.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { placeWindows, windowedTensors } from '../runtime/windows.ts';
import { describeResult } from './helpers/check.ts';
import { useExample } from './helpers/example.ts';

const GPU_TIMEOUT = 120_000;
const mamba1 = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
const mamba2 = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
const CHUNKED: Schedule = { threads: 32, items: 4 };
// lanes 1 with shuffle 1 needs no subgroups (the CPU adapter has none); rows 8: workgroups of 8 rows.
const SPLIT: Schedule = { threads: 1, lanes: 1, items: 4, rows: 8, shuffle: 1, segment: 16 };

describe('placeWindows', () => {
  const dims = { batch: 1, dim: 40, seqlen: 64, dstate: 16, ngroups: 1 };
  const sp = specializeFor(mamba1, fullVariant(mamba1), dims, 'f32');
  const place = (sched: Schedule, limit: number, align = 16) => {
    const cut = windowedTensors(sp, dims, limit)!;
    return placeWindows(cut, compileKernel(sp, 'wgsl', sched, { subgroups: false }), sp, dims, limit, align);
  };

  it('windows the tensors over the limit along the dim pieces would cut', () => {
    // u, delta, z, y: 40 rows × 256 bytes; B, C: 16 × 64 × 4 = 4096; the states 40 × 16 × 4.
    expect(windowedTensors(sp, dims, 4096)).toEqual({ dim: 'dim', tensors: ['u', 'delta', 'z', 'y'] });
    expect(windowedTensors(sp, dims, 1 << 20)).toBeUndefined();
  });

  it('takes the fewest windows within the limit, as even as the workgroups allow', () => {
    // 16 rows fit 4096 bytes: 3 windows; the chunked scan's workgroups are one row each.
    expect(place(CHUNKED, 4096)!.starts).toEqual([0, 14, 28, 40]);
    expect(place(CHUNKED, 4096)!.spec.count).toBe(3);
    // The split's workgroups hold 8 rows: boundaries at multiples of 8.
    expect(place(SPLIT, 4096)!.starts).toEqual([0, 16, 32, 40]);
    expect(place(CHUNKED, 4096)!.unitBytes).toEqual({ u: 256, delta: 256, z: 256, y: 256 });
    expect(place(CHUNKED, 4096)!.unitElems).toEqual({ u: 64, delta: 64, z: 64, y: 64 });
  });

  it('keeps every window\'s start a multiple of the alignment in bytes', () => {
    // 1024-byte alignment with 256-byte rows: boundaries at multiples of 4 rows (14 and 28 would do for bytes alone).
    const w = place(CHUNKED, 4096, 1024)!;
    for (const s of w.starts.slice(1, -1)) expect((s * 256) % 1024).toBe(0);
    expect(w.starts).toEqual([0, 16, 32, 40]);
    // No multiple of the alignment within the limit: no windows (the run goes in pieces).
    expect(place(CHUNKED, 4096, 8192)).toBeUndefined();
  });
});

describe('the windowed plan', () => {
  const dims = { batch: 1, dim: 40, seqlen: 64, dstate: 16, ngroups: 1 };
  const sp = specializeFor(mamba1, fullVariant(mamba1), dims, 'f32');
  const spec = { dim: 'dim', count: 3, tensors: ['u', 'delta', 'z', 'y'] };

  it('binds each window, takes each window start and offset, and reads and writes through window accessors', () => {
    const info = compileKernel(sp, 'wgsl', CHUNKED, { subgroups: false }, spec);
    const names = info.kernel.bindings.map((b) => b.name);
    for (const t of spec.tensors) for (const k of [0, 1, 2]) expect(names).toContain(windowBinding(t, k));
    expect(info.kernel.params.map((q) => q.name)).toEqual(expect.arrayContaining([windowStartParam(1), windowStartParam(2), windowOffsetParam('u', 2), windowOffsetParam('y', 1)]));
    expect(info.notes.join('\n')).toMatch(/u, delta, z, y bound as 3 windows along dim/);
    const src = info.kernel.source;
    // One copy of the body: the accessors choose the window per access.
    expect(src).toMatch(/fn sf_wl_u\(w: i32, i: i32\) -> f32/);
    expect(src).toMatch(/fn sf_ws_y\(w: i32, i: i32, x: f32\)/);
    expect(src).not.toMatch(/fn sf_ws_u\(/);
    expect(src).toContain(`(i - P.${windowOffsetParam('u', 2)})`);
    const plain = compileKernel(sp, 'wgsl', CHUNKED, { subgroups: false }).kernel.source;
    const bodyOf = (x: string): string => x.slice(x.indexOf('@compute'));
    expect(bodyOf(src).length).toBeLessThan(1.5 * bodyOf(plain).length);
  });

  it('leaves a launch that binds no windowed tensor as it was (the split\'s pass)', () => {
    const plain = compileKernel(sp, 'wgsl', SPLIT, { subgroups: false });
    const windowed = compileKernel(sp, 'wgsl', SPLIT, { subgroups: false }, spec);
    expect(windowed.launches).toHaveLength(3);
    expect(windowed.launches[1]!.kernel.source).toBe(plain.launches[1]!.kernel.source);
    expect(windowed.launches[2]!.kernel.source).not.toBe(plain.launches[2]!.kernel.source);
  });

  it('is refused by the CUDA renderer, whose buffers have no binding limit', () => {
    expect(() => compileKernel(sp, 'cuda', CHUNKED, { subgroups: true }, spec)).toThrow(/bound as windows \(u, delta, z, y\) are a WGSL binding form/);
  });
});

describe('runs with windows on the CPU adapter', () => {
  const ex = useExample('mamba1', GPU_TIMEOUT);

  /** The case unlimited and with the binding limit at `limit` bytes: windows, not pieces; equal bit for bit; both against the reference. */
  async function expectWindowsEqualWhole(p: Program, c: CheckCase, limit: number, count: number): Promise<void> {
    const whole = new ProgramRunner(ex.gpu, p, { tuned: false });
    const windowed = new ProgramRunner(ex.gpu, p, { tuned: false, maxBindingBytes: limit, windows: true });
    const inputs = randomInputs(p, c);
    const opts = { finalStates: c.finalStates, dims: c.dims, schedule: c.schedule, poison: true };
    expect(windowed.pieces(inputs, opts)).toBeUndefined();
    expect((await windowed.prepare(inputs, opts)).windows?.spec.count).toBe(count);
    const a = await whole.run(inputs, opts), b = await windowed.run(inputs, opts);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [name, t] of Object.entries(a)) {
      expect(b[name]!.shape, name).toEqual(t.shape);
      expect(Buffer.from(b[name]!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`).toBe(true);
    }
    const r = await checkCase(windowed, c, inputs);
    expect(r.ok, describeResult(r)).toBe(true);
  }

  const mamba1Case = (schedule: Schedule, seed: number): CheckCase => ({ dims: { batch: 1, dim: 40, seqlen: 64, dstate: 16, ngroups: 1 }, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed, schedule });

  it('Mamba-1, the chunked scan: 40 rows in 3 windows along dim, states in and out', async () => {
    await expectWindowsEqualWhole(ex.p, mamba1Case(CHUNKED, 11), 4096, 3);
  }, GPU_TIMEOUT);

  it('Mamba-1, the sequence split (three launches): windows of 16 rows', async () => {
    await expectWindowsEqualWhole(ex.p, mamba1Case(SPLIT, 12), 4096, 3);
  }, GPU_TIMEOUT);

  const mamba2Case = (headdim: number): CheckCase => ({ dims: { batch: 3, seqlen: 64, nheads: 2, headdim, ngroups: 1, dstate: 16 }, present: ['D', 'z', 'dt_bias'], initStates: ['S'], finalStates: ['S'], seed: 13, schedule: { threads: 64, items: 4, chunk: 32, lowering: 'ssd' } });

  it('Mamba-2 (SSD lowering): batch 3 in 3 windows, states in and out', async () => {
    // x, z and y are 3 × 64 × 2 × 16 × 4 = 24 576 bytes (8 192 a batch); B and C 12 288, within the limit.
    await expectWindowsEqualWhole(mamba2, mamba2Case(16), 12288, 3);
  }, GPU_TIMEOUT);

  it('goes in pieces where the windows would bind more buffers than the adapter has', async () => {
    // At headdim 8 B and C are over 4 096 bytes too: 5 tensors × 3 windows and the rest exceed 16 storage buffers even packed.
    const c = mamba2Case(8);
    const runner = new ProgramRunner(ex.gpu, mamba2, { tuned: false, maxBindingBytes: 4096, windows: true });
    const inputs = randomInputs(mamba2, c);
    const opts = { finalStates: c.finalStates, dims: c.dims, schedule: c.schedule, poison: true };
    expect(runner.pieces(inputs, opts)).toHaveLength(3);
    expect((await runner.prepare(runner.pieces(inputs, opts)![0]!.inputs, runner.pieces(inputs, opts)![0]!.opts)).windows).toBeUndefined();
    const r = await checkCase(runner, c, inputs);
    expect(r.ok, describeResult(r)).toBe(true);
  }, GPU_TIMEOUT);
});
