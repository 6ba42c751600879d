// ProgramRunner rejects bad input with an error that names the tensor and
// says what was expected, before it compiles, allocates or launches
// anything on the device.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import type { Backend } from '../runtime/backend.ts';
import { ProgramRunner, type HostTensor, type RunOptions } from '../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

const GPU_TIMEOUT = 120_000;

type Counted = 'compile' | 'createBuffer' | 'write' | 'launch';

/** The real backend, counting the calls that touch the device. */
function counting(inner: Backend): { backend: Backend; calls: Record<Counted, number> } {
  const calls: Record<Counted, number> = { compile: 0, createBuffer: 0, write: 0, launch: 0 };
  const backend = new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (typeof prop === 'string' && prop in calls) calls[prop as Counted]++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend, calls };
}

function tensor(shape: number[], fill = (i: number) => Math.sin(i) * 0.5): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => fill(i)), shape };
}

/** Valid required inputs for batch 2, dim 4, seqlen 8, dstate 16, ngroups 1. */
function validInputs(over: { batch?: number; dim?: number; seqlen?: number; dstate?: number; ngroups?: number } = {}): Record<string, HostTensor> {
  const { batch = 2, dim = 4, seqlen = 8, dstate = 16, ngroups = 1 } = over;
  return {
    u: tensor([batch, dim, seqlen]),
    delta: tensor([batch, dim, seqlen], (i) => -2 + Math.cos(i)),
    A: tensor([dim, dstate], (i) => -0.5 - 0.4 * Math.sin(i)),
    B: tensor([batch, ngroups, dstate, seqlen]),
    C: tensor([batch, ngroups, dstate, seqlen]),
  };
}

describe('ProgramRunner input validation (WebGPU)', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  let runner: ProgramRunner;
  let calls: Record<Counted, number>;

  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    gpu = await openWebGpu();
    const c = counting(gpu);
    calls = c.calls;
    runner = new ProgramRunner(c.backend, p);
  }, GPU_TIMEOUT);

  afterAll(() => gpu?.destroy());

  /** Expects run() to reject with `message` without touching the device. */
  async function rejects(inputs: Record<string, HostTensor>, message: RegExp, opts: RunOptions = {}): Promise<void> {
    const before = { ...calls };
    await expect(runner.run(inputs, opts)).rejects.toThrow(message);
    expect(calls, 'nothing was compiled, allocated, written or launched').toEqual(before);
  }

  it('a missing required input is named, with its dims', async () => {
    const { delta: _delta, ...inputs } = validInputs();
    await rejects(inputs, /selective_scan: missing required input 'delta' \(batch, dim, seqlen\)/);
    const { A: _A, ...noA } = validInputs();
    await rejects(noA, /missing required input 'A' \(dim, dstate\)/);
  }, GPU_TIMEOUT);

  it('an unknown input name is named, with the known ones listed', async () => {
    await rejects({ ...validInputs(), q: tensor([2]) }, /unknown input 'q' \(inputs: u, delta, A, B, C, D, z, delta_bias, h_init\)/);
    // A misspelt optional input is not silently ignored.
    await rejects({ ...validInputs(), dleta_bias: tensor([4]) }, /unknown input 'dleta_bias'/);
    // h_final is an output, not an input.
    await rejects({ ...validInputs(), h_final: tensor([2, 4, 16]) }, /unknown input 'h_final'/);
  }, GPU_TIMEOUT);

  it('a tensor of the wrong rank: names the tensor and its expected dims', async () => {
    await rejects({ ...validInputs(), u: tensor([2, 32]) }, /tensor 'u' must have 3 dims \(batch, dim, seqlen\), got shape \[2, 32\]/);
    await rejects({ ...validInputs(), B: tensor([2, 16, 8]) }, /tensor 'B' must have 4 dims \(batch, ngroups, dstate, seqlen\), got shape \[2, 16, 8\]/);
    await rejects({ ...validInputs(), D: tensor([1, 4]) }, /tensor 'D' must have 1 dims \(dim\), got shape \[1, 4\]/);
    await rejects({ ...validInputs(), h_init: tensor([8, 16]) }, /tensor 'h_init' must have 3 dims \(batch, dim, dstate\)/);
  }, GPU_TIMEOUT);

  it('a dim on which two tensors disagree: names both tensors and both values', async () => {
    await rejects({ ...validInputs(), delta: tensor([2, 4, 9]) }, /tensor 'delta' has seqlen = 9 \(shape \[2, 4, 9\], expected \(batch, dim, seqlen\)\), but tensor 'u' gave seqlen = 8/);
    await rejects({ ...validInputs(), A: tensor([5, 16]) }, /tensor 'A' has dim = 5 .*but tensor 'u' gave dim = 4/);
    await rejects({ ...validInputs(), C: tensor([2, 1, 8, 8]) }, /tensor 'C' has dstate = 8 .*but tensor 'A' gave dstate = 16/);
    await rejects({ ...validInputs(), h_init: tensor([2, 4, 4]) }, /tensor 'h_init' has dstate = 4 .*but tensor 'A' gave dstate = 16/);
    // Explicitly given dims are checked against the tensors too.
    await rejects(validInputs(), /tensor 'u' has seqlen = 8 .*but the given dims gave seqlen = 9/, { dims: { seqlen: 9 } });
  }, GPU_TIMEOUT);

  it('a size that is not a positive integer', async () => {
    await rejects({ ...validInputs(), u: { data: new Float32Array(0), shape: [2, 0, 8] } }, /tensor 'u' has invalid size 0 for dim dim/);
  }, GPU_TIMEOUT);

  it('data whose length does not match its shape', async () => {
    const u = tensor([2, 4, 8]);
    await rejects({ ...validInputs(), u: { data: u.data.subarray(1), shape: u.shape } }, /input 'u' has 63 elements but shape \[2, 4, 8\] needs 64/);
  }, GPU_TIMEOUT);

  it('a Float64Array instead of a Float32Array', async () => {
    const bad = { data: new Float64Array(64) as unknown as Float32Array, shape: [2, 4, 8] };
    await rejects({ ...validInputs(), u: bad }, /input 'u' must be a Float32Array/);
    const plain = { data: Array.from({ length: 4 }, () => 1) as unknown as Float32Array, shape: [4] };
    await rejects({ ...validInputs(), D: plain }, /input 'D' must be a Float32Array/);
  }, GPU_TIMEOUT);

  it("dim not a multiple of ngroups: the program's requires message", async () => {
    await rejects(validInputs({ dim: 3, ngroups: 2 }), /selective_scan: dim must be a multiple of ngroups \(dims: .*dim=3.*ngroups=2/);
  }, GPU_TIMEOUT);

  it('an unknown state in finalStates', async () => {
    await rejects(validInputs(), /unknown state 'g' in finalStates \(states: h\)/, { finalStates: ['g'] });
    await rejects(validInputs(), /unknown state 'h_final' in finalStates/, { finalStates: ['h_final'] });
  }, GPU_TIMEOUT);

  it('an unknown flag', async () => {
    await rejects(validInputs(), /unknown flag 'softplus'/, { flags: { softplus: false } });
  }, GPU_TIMEOUT);

  it('valid inputs run, and then the device is used', async () => {
    const before = { ...calls };
    const out = await runner.run(validInputs(), { finalStates: ['h'] });
    expect(Object.keys(out).sort()).toEqual(['h_final', 'y']);
    expect(out.y!.shape).toEqual([2, 4, 8]);
    expect(out.h_final!.shape).toEqual([2, 4, 16]);
    for (const t of Object.values(out)) expect(t.data.every(Number.isFinite)).toBe(true);
    expect(calls.launch - before.launch).toBe(1);
    expect(calls.compile - before.compile).toBe(1);
    expect(calls.createBuffer - before.createBuffer).toBe(7); // u, delta, A, B, C in; y, h_final out
  }, GPU_TIMEOUT);
});
