// Mamba-3 SISO and MIMO (rank 4): prefill through the chunked matrix form
// (ssd) and the sequential lowering, at
// batch 4, seqlen 2048, nheads 16, headdim 64, dstate 128 (angles 32,
// nheads_qk 1, D and Z given, no initial state), and the decode step (one
// token, all four states in and out; the sequential lowering) at batch 1 and 64; CUDA bf16 and fp32,
// WebGPU fp32. Against the memory roofline measured in the same process (a
// copy kernel: a kernel's roofline time is the bytes it must move ÷ copy
// bandwidth) and against the PyTorch step loop of bench/mamba3_torch.py.
// Run on the GPU host:
//   python3 bench/mamba3_torch.py $OUT/mamba3-torch.json
//   TORCH_BASELINE=$OUT/mamba3-torch.json bash .gpu/enter tsx bench/mamba3.ts [--quick] [--lowerings=ssd,sequential]
// Writes $OUT/bench-mamba3.json when OUT is set.

import path from 'node:path';
import type { Schedule } from '../codegen/compile.js';
import type { DType } from '../dsl/decl.js';
import type { Program } from '../dsl/ir.js';
import { loadProgram } from '../dsl/load.js';
import { randomInputs } from '../runtime/check.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import {
  RotatingBuffers, copyBandwidth, errorLine, fastestBy, forEachBackend, formatRooflines, launchBytes, listArg, medianMs, narrowedBackends, table, torchBaseline, writeOut,
  type BackendName,
} from './common.js';

const quick = process.argv.includes('--quick');
const STATES = ['angle', 'S', 'kprev', 'vprev'];
const programs: Program[] = [];
for (const f of ['mamba3_siso', 'mamba3_mimo']) programs.push(await loadProgram(path.resolve(import.meta.dirname, `../examples/${f}.ts`)));

const STATIC = { headdim: 64, dstate: 128, angles: 32, rank: 4, nheads: 16, nheads_qk: 1 };
// Sequential: threads × rows of S per workgroup (undefined: the largest slice that fits workgroup memory).
const sequential: Schedule[] = (quick ? [[128, undefined], [128, 16]] as const : [[128, undefined], [256, undefined], [128, 32], [128, 16], [256, 16], [128, 8], [64, 8], [128, 4]] as const)
  .map(([threads, headTile]) => ({ threads, items: 1, lowering: 'sequential' as const, ...(headTile ? { headTile } : {}) }));
// Chunked matrix form: threads × chunk × rows of S per workgroup (MIMO's matrices are chunk × rank rows).
const chunked: Schedule[] = (quick ? [[128, 16, undefined], [128, 32, undefined]] as const : [[128, 16, undefined], [256, 16, undefined], [128, 32, undefined], [256, 32, undefined], [128, 64, undefined], [256, 64, undefined], [128, 32, 32], [128, 16, 32], [128, 8, undefined]] as const)
  .map(([threads, chunk, headTile]) => ({ threads, items: 1, chunk, lowering: 'ssd' as const, ...(headTile ? { headTile } : {}) }));
const lowerings = listArg('lowerings') ?? ['ssd', 'sequential'];
const pick = (xs: Schedule[]): Schedule[] => xs.filter((x) => lowerings.includes(x.lowering!));
const runs = [
  // Prefill through the sequential lowering only as a point of comparison (its two best schedules of run 10).
  { label: 'prefill', dims: { batch: 4, seqlen: 2048, ...STATIC }, states: false, reps: quick ? 3 : 5, schedules: pick([...chunked, ...sequential.slice(0, 1), ...sequential.filter((x) => x.headTile === 16).slice(0, 1)]) },
  { label: 'decode-b1', dims: { batch: 1, seqlen: 1, ...STATIC }, states: true, reps: quick ? 20 : 100, schedules: pick(sequential) },
  { label: 'decode-b64', dims: { batch: 64, seqlen: 1, ...STATIC }, states: true, reps: quick ? 20 : 100, schedules: pick(sequential) },
];

// --backends=cuda and --dtypes=f32 narrow a run (as bench/mamba2.ts does).
const backends = narrowedBackends([
  { name: 'cuda', dtypes: ['bf16', 'f32'] },
  { name: 'webgpu', dtypes: ['f32'] },
]);
// CUDA fp32 chunked form: the default products (split tf32 on the tensor cores) beside the FMA units ('fma').
const productVariants = (s: Schedule, backend: BackendName, dtype: DType): Schedule[] =>
  (backend === 'cuda' && dtype === 'f32' && s.lowering === 'ssd' ? [s, { ...s, f32Products: 'fma' }] : [s]);

interface Row { backend: string; device: string; program: string; run: string; dtype: DType; schedule: string; ms: number; bytes: number; roofMs: number; workgroups: number; sharedBytes: number }
const rows: Row[] = [];
const rooflines: Record<string, number> = {};

await forEachBackend(backends, async (backend, b) => {
  const bw = await copyBandwidth(backend, 1 << 30);
  rooflines[b.name] = bw;
  console.log(`${b.name}: ${backend.deviceName}; copy ${(bw / 1e12).toFixed(3)} TB/s`);
  for (const p of programs) {
    const runner = new ProgramRunner(backend, p, { tuned: false });
    for (const run of runs) {
      const states = run.states ? STATES : [];
      const inputs = randomInputs(p, { dims: run.dims, present: ['D', 'Z'], initStates: states, finalStates: states, seed: 1 });
      for (const dtype of b.dtypes) {
        // Bindings do not depend on the schedule (packing aside): uploaded once per dtype, rotated.
        const buffers = new RotatingBuffers(runner, inputs);
        for (const schedule of run.schedules.flatMap((s) => productVariants(s, b.name, dtype))) {
          const label = `${schedule.lowering === 'ssd' ? `ssd q${schedule.chunk} ` : 'seq '}t${schedule.threads}${schedule.headTile ? `p${schedule.headTile}` : ''}${schedule.f32Products ? ` ${schedule.f32Products}` : ''}`;
          try {
            const prep = await runner.prepare(inputs, { dims: run.dims, dtype, schedule, finalStates: states });
            const ms = await medianMs(backend, prep, buffers, run.reps);
            const bytes = launchBytes(prep);
            const roofMs = (bytes / (rooflines.cuda ?? bw)) * 1e3;
            const workgroups = prep.grid[0] * prep.grid[1];
            rows.push({ backend: b.name, device: backend.deviceName, program: p.name, run: run.label, dtype, schedule: label, ms, bytes, roofMs, workgroups, sharedBytes: prep.info.kernel.sharedBytes });
            console.log(`  ${p.name} ${run.label} ${dtype} ${label}: ${run.states ? `${(ms * 1e3).toFixed(1)} µs` : `${ms.toFixed(3)} ms`}, ${(100 * roofMs / ms).toFixed(1)}% of roofline, ${workgroups} workgroups × ${prep.info.kernel.workgroupSize} threads, ${prep.info.kernel.sharedBytes} B shared [${prep.info.kernel.entry}]`);
          } catch (e) {
            console.log(`  skip ${p.name} ${run.label} ${dtype} ${label}: ${errorLine(e)}`);
          }
        }
        buffers.destroy(backend);
      }
    }
  }
});

// The best of each lowering, so the chunked form and the sequential one stand side by side.
const best = fastestBy(rows, (r) => `${r.backend}|${r.program}|${r.run}|${r.dtype}|${r.schedule.split(' ')[0]}`);
const torch = torchBaseline();
const out: (string | number)[][] = [['backend', 'program', 'run', 'dtype', 'best schedule', 'time', '% of roofline', 'PyTorch step loop', 'speed-up']];
for (const r of best.values()) {
  const t = torch[`${r.program}|${r.run}|${r.dtype}`];
  const fmt = (ms: number): string => (r.run === 'prefill' ? `${ms.toFixed(3)} ms` : `${(ms * 1e3).toFixed(1)} µs`);
  out.push([r.backend, r.program, r.run, r.dtype, r.schedule, fmt(r.ms), `${(100 * r.roofMs / r.ms).toFixed(1)}%`, t ? fmt(t) : '-', t ? `${(t / r.ms).toFixed(1)}×` : '-']);
}
console.log(`\ncopy roofline: ${formatRooflines(rooflines)}`);
console.log(table(out));
writeOut('bench-mamba3.json', { rooflines, rows });
