// Correctness on the GPU host: the spine's test grid (seqlen 1, 7, 1000, 4097;
// ngroups 1 and 2; every optional input on and off; state in/out) for every
// backend present, in fp32, fp16 and bf16 (CUDA) and fp32 (WebGPU).
//   bash .gpu/enter tsx bench/device-check.ts
import path from 'node:path';
import { loadProgram } from '../dsl/load.js';
import type { DType } from '../dsl/decl.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { checkCase, randomInputs } from '../runtime/check.js';
import { forEachBackend, listArg, parseSchedule, scheduleLabel, type BackendName } from './common.js';

const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));
const backends: { name: BackendName; dtypes: DType[] }[] = [
  { name: 'cuda', dtypes: ['f32', 'f16', 'bf16'] },
  { name: 'webgpu', dtypes: ['f32'] },
];
let failed = 0, passed = 0;
// --dtypes=f32,bf16 --seqlens=7,4097 --schedules=t32i4,... --dims=8,128 trim or widen the grid (device time is scarce);
// --max-binding=BYTES cuts the runs into pieces.
const onlyDtypes = listArg('dtypes');
const seqlens = (listArg('seqlens') ?? ['1', '7', '1000', '4097']).map(Number);
// --dims=8,128: with dim 128 the workgroups of up to 64 rows agree on batch and group (the uniform forms run).
const dimsList = (listArg('dims') ?? ['8']).map(Number);
// --max-binding=BYTES: runs whose tensors exceed it go in pieces (runtime/pieces.ts), as WebGPU's 2 GiB bindings cut the long shape.
const maxBinding = listArg('max-binding')?.map(Number)[0];
await forEachBackend(backends, async (backend, b) => {
  const name = b.name;
  console.log(`== ${name}: ${backend.deviceName} (subgroups: ${backend.limits.subgroups})`);
  const runner = new ProgramRunner(backend, program, maxBinding ? { maxBindingBytes: maxBinding } : {});
  const dtypes = b.dtypes.filter((d) => !onlyDtypes || onlyDtypes.includes(d));
  const scheds = (listArg('schedules') ?? ['t128i4', 't32i1', 't256i8', 't64i16', 't32i4r4', 't64i2r3', 't32i4', 't32i8u2']).map(parseSchedule);
  for (const dtype of dtypes) for (const seqlen of seqlens) for (const ngroups of [1, 2]) for (const full of [true, false]) for (const dim of dimsList) for (const sched of scheds) {
    const dims = { batch: 2, dim, seqlen, dstate: 16, ngroups };
    const c = { dims, present: full ? ['D', 'z', 'delta_bias'] : [], initStates: full ? ['h'] : [], finalStates: full ? ['h'] : [], dtype, seed: seqlen * 7 + ngroups, schedule: sched };
    const inputs = randomInputs(program, c);
    const pieces = runner.pieces(inputs, { dims, dtype, finalStates: c.finalStates })?.length;
    const res = await checkCase(runner, c, inputs);
    if (res.ok) passed++; else failed++;
    const errs = res.errors.map((e) => `${e.name} ${e.relL2.toExponential(2)}${e.nan ? ` nan=${e.nan}` : ''}`).join(', ');
    console.log(`${res.ok ? 'ok  ' : 'FAIL'} ${name} ${dtype} L=${seqlen} G=${ngroups} ${full ? 'full' : 'bare'} dim=${dim} ${scheduleLabel(sched)}${pieces ? ` (${pieces} pieces)` : ''}: ${errs}`);
  }
});
console.log(`device-check: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
