// Mamba-1 selective scan: kernel time against the memory roofline measured in
// the same process, on every backend present (CUDA fp32/bf16, WebGPU fp32),
// for a few schedules each. Run on the GPU host:
//   bash .gpu/enter tsx bench/mamba1.ts [--quick] [--backends=webgpu] [--dtypes=f32] [--shape=standard | --dims=batch=1,dim=4096,seqlen=131068] [--schedules=t32i4r1,t32i4k4,...] (t<threads>i<items>[r<rows>][k<rowBlock>][u<unroll>])
// Writes a JSON copy of the table to $OUT/bench-mamba1.json when OUT is set.

import path from 'node:path';
import { loadProgram } from '../dsl/load.js';
import type { DType } from '../dsl/decl.js';
import { ProgramRunner, type HostTensor } from '../runtime/program-runner.js';
import { randomInputs } from '../runtime/check.js';
import { RunTimer } from '../runtime/tune/measure.js';
import { parseShape } from '../runtime/cli/args.js';
import {
  copyBandwidth, errorLine, fastestBy, forEachBackend, formatRooflines, launchBytes, listArg, medianTimes, parseSchedule,
  scheduleLabel, table, torchBaseline, writeOut, type BackendName, type BenchSchedule,
} from './common.js';

const quick = process.argv.includes('--quick');
const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba1.ts'));

const backends: { name: BackendName; dtypes: DType[] }[] = [
  { name: 'cuda', dtypes: ['f32', 'bf16'] },
  { name: 'webgpu', dtypes: ['f32'] },
];

const onlyShape = process.argv.find((a) => a.startsWith('--shape='))?.slice('--shape='.length);
const shapes = [
  { label: 'standard', dims: { batch: 8, dim: 4096, seqlen: 4096, dstate: 16, ngroups: 1 } },
  { label: 'long', dims: { batch: 1, dim: 4096, seqlen: 262144, dstate: 16, ngroups: 1 } },
].filter((s) => !onlyShape || s.label === onlyShape);
// --dims=batch=1,dim=4096,seqlen=131068 runs that shape alone (labelled by its dims).
const dimsArg = process.argv.find((a) => a.startsWith('--dims='))?.slice('--dims='.length);
if (dimsArg) {
  const dims = { dstate: 16, ngroups: 1, ...parseShape(dimsArg) };
  shapes.splice(0, shapes.length, { label: dimsArg, dims: dims as (typeof shapes)[number]['dims'] });
}
// --schedules=t32i4,t32i8u2,... overrides the list.
const schedules: BenchSchedule[] = listArg('schedules')?.map(parseSchedule) ?? (quick ? [{ threads: 128, items: 4, rows: 1 }] : [
  { threads: 32, items: 4, rows: 1 }, { threads: 128, items: 4, rows: 1 },
  { threads: 32, items: 4, rows: 4 }, { threads: 32, items: 4, rows: 8 }, { threads: 32, items: 2, rows: 8 },
  { threads: 64, items: 4, rows: 4 }, { threads: 64, items: 2, rows: 4 }, { threads: 128, items: 4, rows: 2 }, { threads: 32, items: 8, rows: 4 },
]);
const onlyDtypes = listArg('dtypes');

interface Row { backend: string; device: string; shape: string; dtype: DType; schedule: string; ms: number; gbps: number; roofline: number; registers?: number }
const rows: Row[] = [];
const rooflines: Record<string, number> = {};
let cudaCopy = 0;

await forEachBackend(backends, async (backend, b) => {
  const bw = await copyBandwidth(backend, 1 << 30);
  rooflines[b.name] = bw;
  if (b.name === 'cuda') cudaCopy = bw;
  console.log(`${b.name}: ${backend.deviceName}; copy ${(bw / 1e12).toFixed(3)} TB/s`);
  const runner = new ProgramRunner(backend, program);
  for (const shape of shapes) {
    const c = { dims: shape.dims, present: ['D', 'z', 'delta_bias'], initStates: [], finalStates: [], seed: 1 };
    const inputs: Record<string, HostTensor> = randomInputs(program, c);
    for (const dtype of b.dtypes.filter((d) => !onlyDtypes || onlyDtypes.includes(d))) {
      // Where a tensor exceeds one binding (WebGPU at the long shape: 4 GiB tensors, 2 GiB bindings), the run goes
      // in pieces along a parallel dim (runtime/pieces.ts), timed one after the other: their sum is the run's time.
      // Buffers are uploaded once per dtype (and piece) and shared by every schedule (the bindings do not depend on it).
      const timer = new RunTimer(runner, inputs, { dims: shape.dims, dtype });
      if (timer.pieces) console.log(`  ${shape.label} ${dtype}: in ${timer.pieces.length} pieces along ${timer.pieces[0]!.plan.dim} (${timer.pieces.map((pc) => pc.part.count).join(' + ')})`);
      for (const sched of schedules) {
        let preps;
        try {
          preps = await timer.prepare(sched);
        } catch (e) {
          console.log(`  skip ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${errorLine(e)}`);
          continue;
        }
        let ms: number, perLaunch: number[];
        try {
          ({ ms, perLaunch } = medianTimes(backend, await timer.time(backend, preps, quick ? 5 : 15)));
        } catch (e) {
          console.log(`  skip ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${errorLine(e)}`);
          break;
        }
        const bytes = preps.reduce((a, prep) => a + launchBytes(prep), 0);
        const gbps = bytes / (ms * 1e-3) / 1e9;
        const roof = (bytes / cudaCopyOr(bw)) * 1e3;
        const registers = (preps[0]!.kernel as { registers?: number }).registers;
        rows.push({ backend: b.name, device: backend.deviceName, shape: shape.label, dtype, schedule: scheduleLabel(sched), ms, gbps, roofline: roof / ms, registers });
        // A split sequence's launches each (summary, pass, outputs), per piece: their sum is the run's time.
        const launches = perLaunch.length > 1 ? ` (launches ${perLaunch.map((t) => t.toFixed(3)).join(' + ')} ms)` : '';
        console.log(`  ${shape.label} ${dtype} ${scheduleLabel(sched)}: ${ms.toFixed(3)} ms${launches}, ${gbps.toFixed(0)} GB/s, ${(100 * roof / ms).toFixed(1)}% of roofline${registers !== undefined ? `, ${registers} regs` : ''}`);
      }
      timer.destroy(backend);
    }
  }
});

function cudaCopyOr(bw: number): number {
  // One roofline for every backend: the CUDA copy if measured (the hardware's), else this backend's.
  return cudaCopy || bw;
}

const best = fastestBy(rows, (r) => `${r.backend}|${r.shape}|${r.dtype}`);
const torch = torchBaseline();
const out: (string | number)[][] = [['backend', 'shape', 'dtype', 'best schedule', 'ms', 'GB/s', '% of roofline', 'vs CUDA fp32', 'PyTorch ms', 'speed-up vs PyTorch']];
for (const r of best.values()) {
  const ref = best.get(`cuda|${r.shape}|f32`);
  const t = torch[`${r.shape}|${r.dtype}`];
  out.push([r.backend, r.shape, r.dtype, r.schedule, r.ms, r.gbps, `${(100 * r.roofline).toFixed(1)}%`, ref ? `${(r.ms / ref.ms).toFixed(2)}×` : '-', t ?? '-', t ? `${(t / r.ms).toFixed(1)}×` : '-']);
}
console.log(`\ncopy roofline: ${formatRooflines(rooflines)}`);
console.log(table(out));
writeOut('bench-mamba1.json', { rooflines, rows });
