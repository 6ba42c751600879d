// The gates element by element on the CPU adapter: softplus, SiLU and sigmoid
// within a few fp32 ulps of float64 *relative to each element*, small ones
// included. (A relative L2 error over a tensor hides a wrong tail: softplus
// of -10 is 4.5e-5, so log(1 + e) loses most of its digits there and the
// tensor-wide error would not show it. Mamba's dt sits there: softplus of
// dt_bias is initialised in [0.001, 0.1].)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import type { Program } from '../dsl/ir.ts';
import { ProgramRunner } from '../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

const REF: Record<string, (x: number) => number> = {
  sp: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))),
  si: (x) => x / (1 + Math.exp(-x)),
  sg: (x) => 1 / (1 + Math.exp(-x)),
};

/** Inputs: a sweep of [-100, 100], the small-dt range densely, and the switch points exactly. */
function sweep(): Float32Array {
  const xs: number[] = [];
  for (let k = 0; k <= 4000; k++) xs.push(-100 + (200 * k) / 4000);
  for (let k = 0; k <= 2000; k++) xs.push(-12 + (12 * k) / 2000);
  xs.push(0, -0, 1e-30, -1e-30, 17, 20, 20.5, -87.5, 88.5, -88.5);
  return Float32Array.from(xs);
}

describe('gate functions, per element', () => {
  let gpu: WebGpuBackend;
  let p: Program;
  beforeAll(async () => {
    gpu = await openWebGpu();
    p = await loadProgram(new URL('./fixtures/gates.ts', import.meta.url).pathname);
  }, 120_000);
  afterAll(() => gpu?.destroy());

  // exp(x) in fp32 is only as good as x·log2(e) rounded: the bound grows with |x| (Vulkan allows
  // 3 + 2|x| ulp); 4 + 2|x| ulp here. A naive log(1 + exp(x)) is off by 9e-6 relative at x = -5.
  const bound = (x: number): number => 2 ** -23 * (4 + 2 * Math.abs(x));

  it('softplus, SiLU and sigmoid agree with float64 to (4 + 2|x|) ulp relative at every x (or 1e-30 absolute)', async () => {
    const x = sweep();
    const out = await new ProgramRunner(gpu, p).run({ x: { data: x, shape: [1, x.length] } }, { poison: true, dims: { dstate: 1 } });
    for (const name of Object.keys(REF)) {
      const got = out[name]!.data;
      let worst = 0, at = 0;
      for (let k = 0; k < x.length; k++) {
        const want = REF[name]!(x[k]!);
        const err = Math.abs(got[k]! - want) / Math.max(Math.abs(want), 1e-30) / bound(x[k]!);
        if (!(err <= worst)) { worst = err; at = k; }
      }
      expect(worst, `${name}(${x[at]}) = ${got[at]}, want ${REF[name]!(x[at]!)} (error / bound)`).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});
