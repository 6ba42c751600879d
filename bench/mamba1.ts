// Mamba-1 selective scan: kernel time against the memory roofline measured in
// the same process, on every backend present (CUDA fp32/bf16, WebGPU fp32),
// for a few schedules each. Run on the GPU host:
//   bash .gpu/enter tsx bench/mamba1.ts [--quick]
// Writes a JSON copy of the table to $OUT/bench-mamba1.json when OUT is set.

import { writeFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadProgram } from '../dsl/load.js';
import type { DType } from '../dsl/decl.js';
import type { Backend } from '../runtime/backend.js';
import { ProgramRunner, type HostTensor } from '../runtime/program-runner.js';
import { randomInputs } from '../runtime/check.js';
import { sizeOf } from '../runtime/shapes.js';
import { elemBytes } from '../runtime/dtype.js';
import { copyBandwidth, listArg, median, parseSchedule, scheduleLabel, table, type BenchSchedule } from './common.js';

const quick = process.argv.includes('--quick');
const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));

const backends: { name: string; open: () => Promise<Backend> }[] = [
  { name: 'cuda', open: async () => (await import('../runtime/cuda/backend.js')).openCuda() },
  { name: 'webgpu', open: async () => (await import('../runtime/webgpu/index.js')).openWebGpu() },
];

const onlyShape = process.argv.find((a) => a.startsWith('--shape='))?.slice('--shape='.length);
const shapes = [
  { label: 'standard', dims: { batch: 8, dim: 4096, seqlen: 4096, dstate: 16, ngroups: 1 } },
  { label: 'long', dims: { batch: 1, dim: 4096, seqlen: 262144, dstate: 16, ngroups: 1 } },
].filter((s) => !onlyShape || s.label === onlyShape);
// --schedules=t32i4,t32i8u2,... overrides the list.
const schedules: BenchSchedule[] = listArg('schedules')?.map(parseSchedule) ?? (quick ? [{ threads: 128, items: 4, rows: 1 }] : [
  { threads: 32, items: 4, rows: 1 }, { threads: 128, items: 4, rows: 1 },
  { threads: 32, items: 4, rows: 4 }, { threads: 32, items: 4, rows: 8 }, { threads: 32, items: 2, rows: 8 },
  { threads: 64, items: 4, rows: 4 }, { threads: 64, items: 2, rows: 4 }, { threads: 128, items: 4, rows: 2 }, { threads: 32, items: 8, rows: 4 },
]);
const onlyDtypes = listArg('dtypes');
const onlyBackends = listArg('backends');

interface Row { backend: string; device: string; shape: string; dtype: DType; schedule: string; ms: number; gbps: number; roofline: number; registers?: number }
const rows: Row[] = [];
const rooflines: Record<string, number> = {};
let cudaCopy = 0;

for (const b of backends.filter((x) => !onlyBackends || onlyBackends.includes(x.name))) {
  let backend: Backend;
  try {
    backend = await b.open();
  } catch (e) {
    console.log(`${b.name}: unavailable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    continue;
  }
  const bw = await copyBandwidth(backend, 1 << 30);
  rooflines[b.name] = bw;
  if (b.name === 'cuda') cudaCopy = bw;
  console.log(`${b.name}: ${backend.deviceName}; copy ${(bw / 1e12).toFixed(3)} TB/s`);
  const dtypes: DType[] = (b.name === 'cuda' ? ['f32', 'bf16'] as DType[] : ['f32'] as DType[]).filter((d) => !onlyDtypes || onlyDtypes.includes(d));
  const runner = new ProgramRunner(backend, program);
  for (const shape of shapes) {
    const c = { dims: shape.dims, present: ['D', 'z', 'delta_bias'], initStates: [], finalStates: [], seed: 1 };
    const inputs: Record<string, HostTensor> = randomInputs(program, c);
    for (const dtype of dtypes) {
      // Buffers are uploaded once per dtype (two sets, rotated so no launch finds the last one's data in L2)
      // and shared by every schedule: the bindings do not depend on the schedule.
      let sets: ReturnType<ProgramRunner['upload']>[] | undefined;
      for (const sched of schedules) {
        const opts = { dims: shape.dims, dtype, schedule: sched };
        let prep;
        try {
          prep = await runner.prepare(inputs, opts);
        } catch (e) {
          console.log(`  skip ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
          continue;
        }
        const p0 = prep;
        let times: number[];
        try {
          sets ??= [runner.upload(p0, inputs, false), runner.upload(p0, inputs, false)];
          times = await backend.timeLaunches(prep.kernel, prep.grid, sets.map((s) => s.list), prep.params, quick ? 5 : 15);
        } catch (e) {
          console.log(`  skip ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
          break;
        }
        const ms = median(times);
        // Bytes the kernel must move: every input read once, every output written once.
        const bytes = [...prep.program.used, ...prep.program.written].reduce((a, t) => a + sizeOf(t, prep.dims) * elemBytes(t.dtype), 0);
        const gbps = bytes / (ms * 1e-3) / 1e9;
        const roof = (bytes / cudaCopyOr(bw)) * 1e3;
        const registers = (prep.kernel as { registers?: number }).registers;
        rows.push({ backend: b.name, device: backend.deviceName, shape: shape.label, dtype, schedule: scheduleLabel(sched), ms, gbps, roofline: roof / ms, registers });
        console.log(`  ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${ms.toFixed(3)} ms, ${gbps.toFixed(0)} GB/s, ${(100 * roof / ms).toFixed(1)}% of roofline${registers !== undefined ? `, ${registers} regs` : ''}`);
      }
      for (const s of sets ?? []) for (const buf of s.list) backend.destroyBuffer(buf);
    }
  }
  backend.destroy();
}

function cudaCopyOr(bw: number): number {
  // One roofline for every backend: the CUDA copy if measured (the hardware's), else this backend's.
  return cudaCopy || bw;
}

const best = new Map<string, Row>();
for (const r of rows) {
  const key = `${r.backend}|${r.shape}|${r.dtype}`;
  if (!best.has(key) || best.get(key)!.ms > r.ms) best.set(key, r);
}
let torch: Record<string, number> = {};
const torchFile = process.env.TORCH_BASELINE;
if (torchFile && existsSync(torchFile)) torch = JSON.parse(readFileSync(torchFile, 'utf8')) as Record<string, number>;
const out: (string | number)[][] = [['backend', 'shape', 'dtype', 'best schedule', 'ms', 'GB/s', '% of roofline', 'vs CUDA fp32', 'PyTorch ms', 'speed-up vs PyTorch']];
for (const r of best.values()) {
  const ref = best.get(`cuda|${r.shape}|f32`);
  const t = torch[`${r.shape}|${r.dtype}`];
  out.push([r.backend, r.shape, r.dtype, r.schedule, r.ms, r.gbps, `${(100 * r.roofline).toFixed(1)}%`, ref ? `${(r.ms / ref.ms).toFixed(2)}×` : '-', t ?? '-', t ? `${(t / r.ms).toFixed(1)}×` : '-']);
}
console.log(`\ncopy roofline: ${Object.entries(rooflines).map(([k, v]) => `${k} ${(v / 1e12).toFixed(3)} TB/s`).join(', ')}`);
console.log(table(out));
if (process.env.OUT) writeFileSync(path.join(process.env.OUT, 'bench-mamba1.json'), JSON.stringify({ rooflines, rows }, null, 2));
