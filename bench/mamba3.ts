// Mamba-3 SISO and MIMO (rank 4) through the sequential lowering: prefill at
// batch 4, seqlen 2048, nheads 16, headdim 64, dstate 128 (angles 32,
// nheads_qk 1, D and Z given, no initial state), and the decode step (one
// token, all four states in and out) at batch 1 and 64; CUDA bf16 and fp32,
// WebGPU fp32. Against the memory roofline measured in the same process (a
// copy kernel: a kernel's roofline time is the bytes it must move ÷ copy
// bandwidth) and against the PyTorch step loop of bench/mamba3_torch.py.
// Run on the GPU host:
//   python3 bench/mamba3_torch.py $OUT/mamba3-torch.json
//   TORCH_BASELINE=$OUT/mamba3-torch.json bash .gpu/enter tsx bench/mamba3.ts [--quick]
// Writes $OUT/bench-mamba3.json when OUT is set.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Schedule } from '../codegen/compile.js';
import type { DType } from '../dsl/decl.js';
import type { Program } from '../dsl/ir.js';
import { loadProgram } from '../dsl/load.js';
import type { Backend } from '../runtime/backend.js';
import { randomInputs } from '../runtime/check.js';
import { elemBytes } from '../runtime/dtype.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { sizeOf } from '../runtime/shapes.js';
import { copyBandwidth, median, table } from './common.js';

const quick = process.argv.includes('--quick');
const STATES = ['angle', 'S', 'kprev', 'vprev'];
const programs: Program[] = [];
for (const f of ['mamba3_siso', 'mamba3_mimo']) programs.push(await loadProgram(path.resolve(import.meta.dirname, `../examples/${f}.ts`)));

const STATIC = { headdim: 64, dstate: 128, angles: 32, rank: 4, nheads: 16, nheads_qk: 1 };
const runs = [
  { label: 'prefill', dims: { batch: 4, seqlen: 2048, ...STATIC }, states: false, reps: quick ? 3 : 5 },
  { label: 'decode-b1', dims: { batch: 1, seqlen: 1, ...STATIC }, states: true, reps: quick ? 20 : 100 },
  { label: 'decode-b64', dims: { batch: 64, seqlen: 1, ...STATIC }, states: true, reps: quick ? 20 : 100 },
];
// threads × rows of S per workgroup (undefined: the largest slice that fits workgroup memory).
const schedules: Schedule[] = (quick ? [[128, undefined], [128, 16]] as const : [[128, undefined], [256, undefined], [128, 32], [128, 16], [256, 16], [128, 8], [64, 8], [128, 4]] as const)
  .map(([threads, headTile]) => ({ threads, items: 1, lowering: 'sequential' as const, ...(headTile ? { headTile } : {}) }));

const backends: { name: string; open: () => Promise<Backend>; dtypes: DType[] }[] = [
  { name: 'cuda', open: async () => (await import('../runtime/cuda/backend.js')).openCuda(), dtypes: ['bf16', 'f32'] },
  { name: 'webgpu', open: async () => (await import('../runtime/webgpu/index.js')).openWebGpu(), dtypes: ['f32'] },
];

interface Row { backend: string; device: string; program: string; run: string; dtype: DType; schedule: string; ms: number; bytes: number; roofMs: number; workgroups: number; sharedBytes: number }
const rows: Row[] = [];
const rooflines: Record<string, number> = {};

for (const b of backends) {
  let backend: Backend;
  try {
    backend = await b.open();
  } catch (e) {
    console.log(`${b.name}: unavailable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    continue;
  }
  const bw = await copyBandwidth(backend, 1 << 30);
  rooflines[b.name] = bw;
  console.log(`${b.name}: ${backend.deviceName}; copy ${(bw / 1e12).toFixed(3)} TB/s`);
  for (const p of programs) {
    const runner = new ProgramRunner(backend, p, { tuned: false });
    for (const run of runs) {
      const states = run.states ? STATES : [];
      const inputs = randomInputs(p, { dims: run.dims, present: ['D', 'Z'], initStates: states, finalStates: states, seed: 1 });
      for (const dtype of b.dtypes) {
        let sets: ReturnType<ProgramRunner['upload']>[] | undefined;
        for (const schedule of schedules) {
          const label = `t${schedule.threads}${schedule.headTile ? `p${schedule.headTile}` : ''}`;
          try {
            const prep = await runner.prepare(inputs, { dims: run.dims, dtype, schedule, finalStates: states });
            // Bindings do not depend on the schedule (packing aside): upload once per dtype, two sets rotated.
            sets ??= [runner.upload(prep, inputs, false), runner.upload(prep, inputs, false)];
            const times = await backend.timeLaunches(prep.kernel, prep.grid, sets.map((s) => s.list), prep.params, run.reps);
            const ms = median(times);
            const bytes = [...prep.program.used, ...prep.program.written].reduce((a, t) => a + sizeOf(t, prep.dims) * elemBytes(t.dtype), 0);
            const roofMs = (bytes / (rooflines.cuda ?? bw)) * 1e3;
            const workgroups = prep.grid[0] * prep.grid[1];
            rows.push({ backend: b.name, device: backend.deviceName, program: p.name, run: run.label, dtype, schedule: label, ms, bytes, roofMs, workgroups, sharedBytes: prep.info.kernel.sharedBytes });
            console.log(`  ${p.name} ${run.label} ${dtype} ${label}: ${run.states ? `${(ms * 1e3).toFixed(1)} µs` : `${ms.toFixed(3)} ms`}, ${(100 * roofMs / ms).toFixed(1)}% of roofline, ${workgroups} workgroups × ${prep.info.kernel.workgroupSize} threads, ${prep.info.kernel.sharedBytes} B shared`);
          } catch (e) {
            console.log(`  skip ${p.name} ${run.label} ${dtype} ${label}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
          }
        }
        for (const s of sets ?? []) for (const buf of s.list) backend.destroyBuffer(buf);
      }
    }
  }
  backend.destroy();
}

const best = new Map<string, Row>();
for (const r of rows) {
  const key = `${r.backend}|${r.program}|${r.run}|${r.dtype}`;
  if (!best.has(key) || best.get(key)!.ms > r.ms) best.set(key, r);
}
let torch: Record<string, number> = {};
const torchFile = process.env.TORCH_BASELINE;
if (torchFile && existsSync(torchFile)) torch = JSON.parse(readFileSync(torchFile, 'utf8')) as Record<string, number>;
const out: (string | number)[][] = [['backend', 'program', 'run', 'dtype', 'best schedule', 'time', '% of roofline', 'PyTorch step loop', 'speed-up']];
for (const r of best.values()) {
  const t = torch[`${r.program}|${r.run}|${r.dtype}`];
  const fmt = (ms: number): string => (r.run === 'prefill' ? `${ms.toFixed(3)} ms` : `${(ms * 1e3).toFixed(1)} µs`);
  out.push([r.backend, r.program, r.run, r.dtype, r.schedule, fmt(r.ms), `${(100 * r.roofMs / r.ms).toFixed(1)}%`, t ? fmt(t) : '-', t ? `${(t / r.ms).toFixed(1)}×` : '-']);
}
console.log(`\ncopy roofline: ${Object.entries(rooflines).map(([k, v]) => `${k} ${(v / 1e12).toFixed(3)} TB/s`).join(', ')}`);
console.log(table(out));
if (process.env.OUT) writeFileSync(path.join(process.env.OUT, 'bench-mamba3.json'), JSON.stringify({ rooflines, rows }, null, 2));
