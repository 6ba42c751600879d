// Mamba-3 (SISO and MIMO) on the GPU host against the float64 reference,
// through the chunked matrix form (ssd) and the sequential lowering (the
// decode-step kernel): CUDA fp32 and bf16, WebGPU fp32; small
// shapes that are not tile multiples, the benchmark's state sizes (headdim
// 64, dstate 128, angles 32, rank 4) whole and split in tiles, the decode
// step, L = 4096; and a prefill of 16 tokens against 16 chained decode
// steps of the sequential lowering, the prefill through the chunked form.
// Every output and all four final states are compared, outputs
// poisoned with NaN; one reference per shape, variant and dtype serves every
// schedule and backend. Run on the GPU host:
//   bash .gpu/enter tsx bench/mamba3-check.ts [--lowerings=ssd,sequential] [--backends=cuda] [--dtypes=bf16] [--programs=mamba3_mimo]
import path from 'node:path';
import { loadProgram } from '../dsl/load.js';
import type { DType } from '../dsl/decl.js';
import type { Program } from '../dsl/ir.js';
import type { Schedule } from '../codegen/compile.js';
import { ProgramRunner, specializeFor, type HostTensor } from '../runtime/program-runner.js';
import { randomInputs, relL2, tolerance } from '../runtime/check.js';
import { roundTo } from '../runtime/dtype.js';
import { runReference, type HostArrays } from '../runtime/reference/interpret.js';
import { sliceAxis, sliceSeq } from '../test/helpers/sequence.js';
import { forEachBackend, listArg, narrowedBackends } from './common.js';
import { LoweringError } from '../codegen/lower/diagonal-scan.js';

const STATES = ['angle', 'S', 'kprev', 'vprev'];
const t0 = Date.now();
const programs: Program[] = [];
for (const f of listArg('programs') ?? ['mamba3_siso', 'mamba3_mimo']) programs.push(await loadProgram(path.resolve(import.meta.dirname, `../examples/${f}.ts`)));

const BENCH = { headdim: 64, dstate: 128, angles: 32, rank: 4 };
const lowerings = listArg('lowerings') ?? ['ssd', 'sequential'];
const seq = (s: Omit<Schedule, 'items'>): Schedule => ({ items: 1, ...s, lowering: 'sequential' });
const ssd = (s: Omit<Schedule, 'items'>): Schedule => ({ items: 1, ...s, lowering: 'ssd' });
const shapes: { label: string; dims: Record<string, number>; schedules: Schedule[] }[] = [
  { label: 'small', dims: { batch: 2, seqlen: 300, nheads: 4, nheads_qk: 2, headdim: 12, dstate: 10, angles: 3, rank: 3 }, schedules: [seq({ threads: 128 }), seq({ threads: 32, headTile: 4 }), ssd({ threads: 128, chunk: 16 }), ssd({ threads: 64, chunk: 8 })] },
  { label: 'bench dims', dims: { batch: 1, seqlen: 100, nheads: 2, nheads_qk: 1, ...BENCH }, schedules: [seq({ threads: 128 }), seq({ threads: 256, headTile: 16 }), ssd({ threads: 128, chunk: 16 }), ssd({ threads: 256, chunk: 32 }), ssd({ threads: 128, chunk: 32, headTile: 32 })] },
  { label: 'decode', dims: { batch: 3, seqlen: 1, nheads: 4, nheads_qk: 2, ...BENCH }, schedules: [seq({ threads: 128 }), seq({ threads: 128, headTile: 8 }), ssd({ threads: 128, chunk: 16 })] },
  { label: 'L=4096', dims: { batch: 1, seqlen: 4096, nheads: 2, nheads_qk: 1, headdim: 16, dstate: 32, angles: 8, rank: 2 }, schedules: [seq({ threads: 128 }), ssd({ threads: 128, chunk: 32 })] },
].map((s) => ({ ...s, schedules: s.schedules.filter((x) => lowerings.includes(x.lowering!)) }));

const refs = new Map<string, HostArrays>();

/** One kernel run against the (cached) float64 reference of the same inputs, rounded to the run's dtype. */
async function check(runner: ProgramRunner, dims: Record<string, number>, full: boolean, dtype: DType, schedule: Schedule): Promise<{ ok: boolean; kernel: string; text: string }> {
  const p = runner.program;
  const present = full ? ['D', 'Z'] : [], initStates = full ? STATES : [];
  const inputs = randomInputs(p, { dims, present, initStates, finalStates: STATES, seed: dims.seqlen! + (full ? 1 : 0) });
  const opts = { dims, dtype, schedule, finalStates: STATES, poison: true };
  const prep = await runner.prepare(inputs, opts);
  const got = await runner.run(inputs, opts);
  const key = `${p.name}|${JSON.stringify(dims)}|${full}|${dtype}`;
  let ref = refs.get(key);
  if (!ref) {
    const sp = specializeFor(p, { present, flags: {}, initStates, finalStates: STATES }, dims, dtype);
    ref = runReference(sp, dims, Object.fromEntries(sp.used.map((t) => [t.name, roundTo(t.dtype, inputs[t.name]!.data)])));
    refs.set(key, ref);
  }
  let ok = true;
  const parts = prep.program.written.map((t) => {
    const e = relL2(got[t.name]!.data, ref![t.name]!);
    ok &&= e.nan === 0 && e.relL2 <= tolerance(dtype, dims.seqlen!);
    return `${t.name} ${e.relL2.toExponential(2)}${e.nan ? ` nan=${e.nan}` : ''}`;
  });
  return { ok, kernel: prep.info.kernel.entry, text: parts.join(', ') };
}

// --backends=cuda and --dtypes=bf16 narrow a run (as bench/mamba2-check.ts does), --programs=mamba3_mimo too.
const backends = narrowedBackends([
  { name: 'cuda', dtypes: ['f32', 'bf16'] },
  { name: 'webgpu', dtypes: ['f32'] },
]);
let failed = 0, passed = 0;
await forEachBackend(backends, async (backend, { name, dtypes }) => {
  console.log(`== ${name}: ${backend.deviceName}`);
  for (const p of programs) {
    const runner = new ProgramRunner(backend, p, { tuned: false });
    for (const dtype of dtypes) for (const shape of shapes) for (const schedule of shape.schedules) for (const full of shape.label === 'L=4096' ? [true] : [true, false]) {
      let res;
      try {
        res = await check(runner, shape.dims, full, dtype, schedule);
      } catch (e) {
        // A schedule the tiling cannot fit at these dims (the lowering says why) is skipped, not failed.
        if (!(e instanceof LoweringError)) throw e;
        console.log(`skip ${name} ${p.name} ${dtype} ${shape.label} ${JSON.stringify(schedule)}: ${e.message.slice(0, 160)}`);
        continue;
      }
      if (res.ok) passed++; else failed++;
      console.log(`${res.ok ? 'ok  ' : 'FAIL'} ${name} ${p.name} ${dtype} ${shape.label} ${full ? 'full' : 'bare'} ${res.kernel}: ${res.text}`);
    }
    // Prefill of 16 tokens (the chunked form, chunk 8: two chunks) = 16 decode steps chained through the four states (fp32).
    const dims = { batch: 2, seqlen: 16, nheads: 4, nheads_qk: 2, ...BENCH };
    const inputs = randomInputs(p, { dims, present: ['D', 'Z'], initStates: STATES, finalStates: STATES, seed: 16 });
    const opts = { finalStates: STATES, schedule: seq({ threads: 128 }) };
    const whole = await runner.run(inputs, { ...opts, schedule: ssd({ threads: 128, chunk: 8 }) });
    let states: Record<string, HostTensor> = Object.fromEntries(STATES.map((s) => [`${s}_init`, inputs[`${s}_init`]!]));
    let worst = 0;
    for (let t = 0; t < 16; t++) {
      const step = await runner.run({ ...sliceSeq(p, inputs, t, t + 1), ...states }, opts);
      const ref = sliceAxis(whole.y!, p.outputs[0]!.shape.indexOf(p.indices[p.scan]!.dim), t, t + 1);
      worst = Math.max(worst, relL2(step.y!.data, Float64Array.from(ref.data)).relL2);
      states = Object.fromEntries(STATES.map((s) => [`${s}_init`, step[`${s}_final`]!]));
    }
    for (const s of STATES) worst = Math.max(worst, relL2(states[`${s}_init`]!.data, Float64Array.from(whole[`${s}_final`]!.data)).relL2);
    const ok = worst < 1e-5;
    if (ok) passed++; else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} ${p.name} f32 chunked prefill(16) vs 16 sequential decode steps: worst rel L2 ${worst.toExponential(2)}`);
  }
});
console.log(`mamba3-check: ${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(failed ? 1 : 0);
