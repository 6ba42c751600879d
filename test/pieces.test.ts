// Runs whose tensors exceed one buffer binding (WebGPU: maxStorageBufferBindingSize,
// 2 GiB − 4 on Dawn) go in pieces along a parallel dim (runtime/pieces.ts).
// The plan: the outermost dim that keeps every slice contiguous, even pieces,
// and an error naming the tensor and every dim's reason where none does. The
// runs: on the CPU adapter with the binding limit lowered, the pieces' outputs
// and final states equal the whole run's bit for bit and pass the float64
// reference (outputs poisoned), for the diagonal scan (Mamba-1, cut along dim)
// and the SSD lowering (Mamba-2, cut along batch).

import { describe, expect, it } from 'vitest';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import type { Program } from '../dsl/ir.ts';
import { loadProgram } from '../dsl/load.ts';
import { checkCase, randomInputs, type CheckCase } from '../runtime/check.ts';
import { planPieces } from '../runtime/pieces.ts';
import { ProgramRunner, specializeFor } from '../runtime/program-runner.ts';
import { describeResult } from './helpers/check.ts';
import { useExample } from './helpers/example.ts';

const GPU_TIMEOUT = 120_000;
const mamba1 = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);

describe('planPieces', () => {
  const plan = (dims: Record<string, number>, max: number, p: Program = mamba1) => planPieces(specializeFor(p, fullVariant(p), dims, 'f32'), dims, max);
  const dims = { batch: 1, dim: 10, seqlen: 64, dstate: 16, ngroups: 1 };

  it('is undefined where every tensor fits', () => {
    expect(plan(dims, 1 << 20)).toBeUndefined();
  });

  it('cuts along dim where batch is 1, into even pieces no larger than the limit (u: 256 bytes a row)', () => {
    // B and C are 16 × 64 × 4 = 4 KiB and have no `dim`: the limit must hold them.
    expect(plan(dims, 4096)).toBeUndefined();
    expect(plan({ ...dims, dim: 20 }, 4096)).toEqual({ dim: 'dim', parts: [{ start: 0, count: 10 }, { start: 10, count: 10 }] });
    expect(plan({ ...dims, dim: 70 }, 4096)).toEqual({ dim: 'dim', parts: [{ start: 0, count: 14 }, { start: 14, count: 14 }, { start: 28, count: 14 }, { start: 42, count: 14 }, { start: 56, count: 14 }] });
  });

  it('cuts along batch, the outermost, where one batch fits', () => {
    expect(plan({ ...dims, batch: 3, dim: 4 }, 4096)).toEqual({ dim: 'batch', parts: [{ start: 0, count: 1 }, { start: 1, count: 1 }, { start: 2, count: 1 }] });
  });

  it('says why no dim cuts a run: the tensor, its bytes, the limit, and each dim\'s reason', () => {
    // One batch of h_init (dim 64 × 16 × 4 bytes) is over the limit, and dim has batch = 2 before it.
    expect(() => plan({ ...dims, batch: 2, dim: 64 }, 4096)).toThrow(/tensor 'u' needs 32768 bytes on the device, more than one binding may hold \(4096\).*batch: one batch of a tensor is 16384 bytes; dim: 'u' \[batch, dim, seqlen\] has batch = 2 before it/);
    // B has no `dim` and alone exceeds the limit.
    expect(() => plan({ ...dims, dim: 2 }, 2048)).toThrow(/tensor 'B' needs 4096 bytes.*dim: 'B' does not have it and is 4096 bytes itself/);
  });
});

describe('runs in pieces on the CPU adapter', () => {
  const ex = useExample('mamba1', GPU_TIMEOUT);

  /** The case whole and with the binding limit at `limit` bytes: equal bit for bit, and both against the reference. */
  async function expectPiecesEqualWhole(p: Program, c: CheckCase, limit: number, pieces: number): Promise<void> {
    const whole = new ProgramRunner(ex.gpu, p, { tuned: false });
    const cut = new ProgramRunner(ex.gpu, p, { tuned: false, maxBindingBytes: limit });
    const inputs = randomInputs(p, c);
    const opts = { finalStates: c.finalStates, dims: c.dims, schedule: c.schedule, poison: true };
    expect(whole.pieces(inputs, opts)).toBeUndefined();
    expect(cut.pieces(inputs, opts)).toHaveLength(pieces);
    const a = await whole.run(inputs, opts), b = await cut.run(inputs, opts);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [name, t] of Object.entries(a)) {
      expect(b[name]!.shape, name).toEqual(t.shape);
      expect(Buffer.from(b[name]!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`).toBe(true);
    }
    const r = await checkCase(cut, c, inputs);
    expect(r.ok, describeResult(r)).toBe(true);
  }

  it('Mamba-1, batch 1, cut along dim (21 rows in 2 pieces, 60 in 4), states in and out', async () => {
    const c: CheckCase = { dims: { batch: 1, dim: 21, seqlen: 130, dstate: 16, ngroups: 1 }, present: ['D', 'z', 'delta_bias'], initStates: ['h'], finalStates: ['h'], seed: 3, schedule: { threads: 32, items: 4 } };
    // u is 21 × 130 × 4 = 10 920 bytes and B 16 × 130 × 4 = 8 320: 9 000 bytes hold 17 rows (11 + 10).
    await expectPiecesEqualWhole(ex.p, c, 9000, 2);
    // 60 rows of 60 steps (240 bytes a row; B 3 840): 4 000 bytes hold 16 rows, 4 pieces of 15.
    await expectPiecesEqualWhole(ex.p, { ...c, dims: { ...c.dims, dim: 60, seqlen: 60 }, seed: 4 }, 4000, 4);
  }, GPU_TIMEOUT);

  it('Mamba-2 (SSD lowering), batch 3 in 3 pieces, no optional input', async () => {
    const p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const c: CheckCase = { dims: { batch: 3, seqlen: 70, nheads: 2, headdim: 8, ngroups: 1, dstate: 16 }, present: [], initStates: [], finalStates: ['S'], seed: 5, schedule: { threads: 64, items: 4, chunk: 32, lowering: 'ssd' } };
    expect(defaultVariant(p).present).toEqual([]);
    // x is 3 × 70 × 2 × 8 × 4 = 13 440 bytes; a batch of it is 4 480.
    await expectPiecesEqualWhole(p, c, 4480, 3);
  }, GPU_TIMEOUT);
});
