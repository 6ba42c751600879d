// Correctness on the GPU host: the spine's test grid (seqlen 1, 7, 1000, 4097;
// ngroups 1 and 2; every optional input on and off; state in/out) for every
// backend present, in fp32, fp16 and bf16 (CUDA) and fp32 (WebGPU).
//   bash .gpu/enter tsx bench/device-check.ts
import path from 'node:path';
import { loadProgram } from '../dsl/load.js';
import type { DType } from '../dsl/decl.js';
import type { Backend } from '../runtime/backend.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { checkCase } from '../runtime/check.js';

const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
const opens: [string, () => Promise<Backend>][] = [
  ['cuda', async () => (await import('../runtime/cuda/backend.js')).openCuda()],
  ['webgpu', async () => (await import('../runtime/webgpu/index.js')).openWebGpu()],
];
let failed = 0, passed = 0;
for (const [name, open] of opens) {
  let backend: Backend;
  try { backend = await open(); } catch (e) { console.log(`${name}: unavailable: ${e instanceof Error ? e.message : e}`); continue; }
  console.log(`== ${name}: ${backend.deviceName} (subgroups: ${backend.limits.subgroups})`);
  const runner = new ProgramRunner(backend, program);
  const dtypes: DType[] = name === 'cuda' ? ['f32', 'f16', 'bf16'] : ['f32'];
  const scheds = [{ threads: 128, items: 4 }, { threads: 32, items: 1 }, { threads: 256, items: 8 }, { threads: 64, items: 16 }, { threads: 32, items: 4, rows: 4 }, { threads: 64, items: 2, rows: 3 }];
  for (const dtype of dtypes) for (const seqlen of [1, 7, 1000, 4097]) for (const ngroups of [1, 2]) for (const full of [true, false]) for (const sched of scheds) {
    const dims = { batch: 2, dim: 8, seqlen, dstate: 16, ngroups };
    const res = await checkCase(runner, {
      dims, present: full ? ['D', 'z', 'delta_bias'] : [], initStates: full ? ['h'] : [], finalStates: full ? ['h'] : [], dtype, seed: seqlen * 7 + ngroups, schedule: sched,
    });
    if (res.ok) passed++; else failed++;
    const errs = res.errors.map((e) => `${e.name} ${e.relL2.toExponential(2)}${e.nan ? ` nan=${e.nan}` : ''}`).join(', ');
    if (!res.ok || seqlen === 4097) console.log(`${res.ok ? 'ok  ' : 'FAIL'} ${name} ${dtype} L=${seqlen} G=${ngroups} ${full ? 'full' : 'bare'} t${sched.threads}i${sched.items}r${sched.rows ?? 1}: ${errs}`);
  }
  backend.destroy();
}
console.log(`device-check: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
