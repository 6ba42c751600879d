// Mesa llvmpipe (the CPU adapter) ends a shader invocation after 65 535 loop
// iterations over all its loops and leaves the rest of its outputs unwritten.
// A run that needs more must be an error that says so, never an answer: the
// runner starts the outputs as a marker there and refuses to return one that
// is still marked. Checks (poisoned with NaN) see the same run fail.

import { describe, expect, it } from 'vitest';
import { checkCase, randomInputs } from '../runtime/check.ts';
import { useExample } from './helpers/example.ts';

const GPU_TIMEOUT = 120_000;
const ex = useExample('mamba1', GPU_TIMEOUT);

// One row, 2 lanes, the shared state-lanes form: each chunk of 8 steps loops about 16 times in its
// tile fills and rolled phases, so 8193 steps need more than 65 535 iterations; 2049 steps do not.
const schedule = { threads: 1, lanes: 2, items: 4, rows: 1 };
const caseAt = (seqlen: number) => ({ dims: { batch: 1, dim: 1, seqlen, dstate: 16, ngroups: 1 }, present: ['D', 'z', 'delta_bias'], initStates: [], finalStates: ['h'], seed: 4, schedule });

describe('the CPU adapter’s loop limit', () => {
  it('is known for llvmpipe', () => {
    expect(ex.gpu.deviceName).toMatch(/llvmpipe/);
    expect(ex.gpu.limits.loopIterationLimit).toBe(65535);
  });

  it('a run past it is refused, naming the tensor, the limit and what to change', async () => {
    const c = caseAt(8193);
    await expect(ex.runner.run(randomInputs(ex.p, c), { schedule, finalStates: ['h'] })).rejects.toThrow(
      /elements of 'y' were never written\. This device ends a kernel invocation after 65535 loop iterations .*more threads per workgroup/);
  }, GPU_TIMEOUT);

  it('the same run checked (NaN-poisoned) fails the check; a shorter one passes both ways', async () => {
    const bad = await checkCase(ex.runner, caseAt(8193));
    expect(bad.ok).toBe(false);
    expect(bad.errors.find((e) => e.name === 'y')!.nan).toBeGreaterThan(0);
    const c = caseAt(2049);
    expect((await checkCase(ex.runner, c)).ok).toBe(true);
    const out = await ex.runner.run(randomInputs(ex.p, c), { schedule, finalStates: ['h'] });
    expect(out.y!.data.every(Number.isFinite)).toBe(true);
  }, GPU_TIMEOUT);
});
