// Autotuner on the device (issue 6, item 5): for each program at its bench
// shape, on every backend present (CUDA fp32 + bf16, WebGPU fp32):
//   1. a guided search (pattern search, time budget) from scratch: its
//      winner and its tuning time;
//   2. an exhaustive search of the same space in the same process (reusing
//      the compiled kernels), which measures every point: the guided
//      winner's time there against the exhaustive best (must be within 5%),
//      and the default schedule's time there (speed-up of tuned over default).
// Run on the GPU host:
//   bash .gpu/enter tsx bench/tune.ts
//   bash .gpu/enter tsx bench/tune.ts --programs=examples/mamba1.ts,examples/ssd.ts \
//     --shape=ssd:batch=8,seqlen=4096,... '--space=ssd:chunk=64,128;threads=64,128'
// Options: --shape=NAME:dims and --space=NAME:knob=v,v;knob=v (NAME = file name
// without .ts, or the program's name; repeat per program), --backends=cuda,webgpu,
// --budget=40 (s, guided), --exhaustive-budget=70 (s), --deadline=225 (s, whole run),
// --reps=15. Tune-cache entries go to $OUT/tune-cache.json (else a temp file),
// the table to $OUT/bench-tune.json.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DType } from '../dsl/decl.js';
import type { Program } from '../dsl/ir.js';
import { loadPrograms } from '../dsl/load.js';
import type { Backend } from '../runtime/backend.js';
import { parseShape } from '../runtime/cli/args.js';
import { parseSpace } from '../runtime/cli/tune.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { TuneCache } from '../runtime/tune/cache.js';
import { tune, type Candidate, type TuneResult } from '../runtime/tune/search.js';
import { formatSchedule, scheduleKey, type SpaceOverride } from '../runtime/tune/space.js';
import { table } from './common.js';

const t0 = performance.now();
const root = path.resolve(import.meta.dirname, '..');

/** Every `--name=value` on the command line (repeatable). */
function args(name: string): string[] {
  return process.argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
}
const one = (name: string, dflt: string): string => args(name).at(-1) ?? dflt;

/** Per-program defaults: the bench shapes of bench/mamba1.ts and a space wider than the declared one (rows too). */
const DEFAULTS: Record<string, { shape: string; space: string }> = {
  mamba1: { shape: 'batch=8,dim=4096,seqlen=4096,dstate=16,ngroups=1', space: 'threads=32,64,128,256;items=1,2,4,8,16;rows=1,2,4,8' },
};

/** `NAME:rest` options keyed by NAME. */
function perProgram(name: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of args(name)) {
    const i = a.indexOf(':');
    if (i < 1) throw new Error(`--${name}=${a}: expected NAME:value (NAME = program file name without .ts, or program name)`);
    m.set(a.slice(0, i), a.slice(i + 1));
  }
  return m;
}

const files = (args('programs').at(-1) ?? 'examples/mamba1.ts').split(',').filter(Boolean).map((f) => path.resolve(root, f));
const shapes = perProgram('shape');
const spaces = perProgram('space');
const backendNames = one('backends', 'cuda,webgpu').split(',');
const guidedBudget = Number(one('budget', '40')) * 1000;
const exhaustiveBudget = Number(one('exhaustive-budget', '70')) * 1000;
const deadline = Number(one('deadline', '225')) * 1000;
const reps = Number(one('reps', '15'));
const outDir = process.env.OUT;
const cachePath = path.join(outDir ?? mkdtempSync(path.join(tmpdir(), 'scanforge-bench-tune-')), 'tune-cache.json');

interface Job { file: string; program: Program; dims: Record<string, number>; space: SpaceOverride }
const jobs: Job[] = [];
for (const file of files) {
  const base = path.basename(file, '.ts');
  for (const program of await loadPrograms(file)) {
    const pick = (m: Map<string, string>, what: 'shape' | 'space'): string | undefined => m.get(base) ?? m.get(program.name) ?? DEFAULTS[base]?.[what];
    const shape = pick(shapes, 'shape');
    if (!shape) throw new Error(`${program.name} (${base}.ts): give its bench shape with --shape=${base}:dim=...,seqlen=...`);
    jobs.push({ file: base, program, dims: { ...program.staticDims, ...parseShape(shape) }, space: parseSpace(pick(spaces, 'space')) });
  }
}

const opens: Record<string, () => Promise<Backend>> = {
  cuda: async () => (await import('../runtime/cuda/backend.js')).openCuda(),
  webgpu: async () => (await import('../runtime/webgpu/index.js')).openWebGpu(),
};
const DTYPES: Record<string, DType[]> = { cuda: ['f32', 'bf16'], webgpu: ['f32'] };

interface Row {
  backend: string; device: string; program: string; dtype: DType; dims: Record<string, number>;
  space: number; survivors: number;
  guided: { schedule: string; ms: number; seconds: number; measured: number; budgetHit: boolean };
  exhaustive: { schedule: string; ms: number; seconds: number; measured: number; complete: boolean };
  guidedInExhaustive: number | null; ratio: number | null; within5: boolean | null;
  defaultSchedule: string; defaultMs: number | null; speedup: number | null;
  top: { schedule: string; ms: number; registers?: number; blocksPerSm?: number }[];
}
const rows: Row[] = [];
let attempted = 0;
const kernelsLeft = (): number => jobs.length * backendNames.reduce((n, b) => n + (DTYPES[b]?.length ?? 0), 0) - attempted;

/** The time a schedule got in a result (same-kernel points share their representative's). */
function msIn(r: TuneResult, sched: Record<string, number>): number | null {
  const c = r.candidates.find((x) => scheduleKey(x.schedule) === scheduleKey(sched));
  const rep: Candidate | undefined = c?.sameAs ?? c;
  return rep?.status === 'measured' ? rep.ms! : null;
}

for (const name of backendNames) {
  const open = opens[name];
  if (!open) throw new Error(`--backends: unknown backend '${name}' (cuda, webgpu)`);
  let backend: Backend;
  try {
    backend = await open();
  } catch (e) {
    console.log(`${name}: unavailable (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    attempted += jobs.length * (DTYPES[name]?.length ?? 0);
    continue;
  }
  console.log(`== ${name}: ${backend.deviceName}`);
  console.log(`   limits: ${JSON.stringify(backend.limits)}`);
  console.log(`   fingerprint: ${backend.fingerprint}`);
  const cache = new TuneCache(cachePath);
  for (const job of jobs) {
    const runner = new ProgramRunner(backend, job.program, { tuned: false });
    for (const dtype of DTYPES[name] ?? []) {
      const left = deadline - (performance.now() - t0);
      // Share what is left of the deadline among the kernels still to tune, guided and exhaustive in proportion.
      const share = Math.max(5_000, left / Math.max(1, kernelsLeft()));
      attempted++;
      const gBudget = Math.min(guidedBudget, share * (guidedBudget / (guidedBudget + exhaustiveBudget)));
      const eBudget = Math.min(exhaustiveBudget, share - gBudget);
      const label = `${name} ${job.program.name} ${dtype}`;
      let lastBest = '';
      const common = {
        backend, program: job.program, dims: job.dims, dtype, space: job.space, reps, cache, force: true, runner,
        onProgress: (p: { done: number; total: number; best?: Candidate }) => {
          const b = p.best ? `${formatSchedule(p.best.schedule)} ${p.best.ms!.toFixed(3)} ms` : '-';
          if (b !== lastBest) console.log(`   [${p.done}/${p.total}] best ${b}`);
          lastBest = b;
        },
      };
      let g: TuneResult, x: TuneResult;
      try {
        console.log(`-- ${label}: guided search, budget ${(gBudget / 1000).toFixed(0)} s`);
        g = await tune({ ...common, mode: 'guided', budgetMs: gBudget });
        console.log(`   guided: ${formatSchedule(g.entry.schedule, g.space)} ${g.entry.ms.toFixed(3)} ms after ${(g.elapsedMs / 1000).toFixed(1)} s, ${g.entry.measured} measured`);
        lastBest = '';
        console.log(`-- ${label}: exhaustive search, budget ${(eBudget / 1000).toFixed(0)} s`);
        x = await tune({ ...common, mode: 'exhaustive', budgetMs: eBudget });
      } catch (e) {
        console.log(`   ${label}: failed: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      const survivors = x.candidates.filter((c) => c.status !== 'rejected' && c.status !== 'same-kernel').length;
      const gInX = msIn(x, g.entry.schedule);
      const dflt = msIn(x, x.entry.defaultSchedule);
      const ratio = gInX !== null ? gInX / x.entry.ms : null;
      const measured = x.candidates.filter((c) => c.status === 'measured').sort((a, b) => a.ms! - b.ms!);
      rows.push({
        backend: name, device: backend.deviceName, program: job.program.name, dtype, dims: job.dims,
        space: x.candidates.length, survivors,
        guided: { schedule: formatSchedule(g.entry.schedule, g.space), ms: g.entry.ms, seconds: g.elapsedMs / 1000, measured: g.entry.measured, budgetHit: g.budgetExhausted },
        exhaustive: { schedule: formatSchedule(x.entry.schedule, x.space), ms: x.entry.ms, seconds: x.elapsedMs / 1000, measured: x.entry.measured, complete: !x.budgetExhausted },
        guidedInExhaustive: gInX, ratio, within5: ratio === null ? null : ratio <= 1.05,
        defaultSchedule: formatSchedule(x.entry.defaultSchedule, x.space), defaultMs: dflt, speedup: dflt !== null ? dflt / (gInX ?? g.entry.ms) : null,
        top: measured.slice(0, 5).map((c) => ({ schedule: formatSchedule(c.schedule, x.space), ms: c.ms!, registers: c.registers, blocksPerSm: c.occupancy?.blocksPerSm })),
      });
      const r = rows.at(-1)!;
      console.log(`   exhaustive: ${r.exhaustive.schedule} ${r.exhaustive.ms.toFixed(3)} ms (${r.exhaustive.measured}/${survivors} measured${r.exhaustive.complete ? '' : ', budget hit'}); guided winner there ${gInX?.toFixed(3) ?? '-'} ms = ${ratio?.toFixed(3) ?? '-'}× the best; default ${dflt?.toFixed(3) ?? '-'} ms`);
      for (const t of r.top) console.log(`     ${t.schedule.padEnd(28)} ${t.ms.toFixed(3)} ms${t.registers !== undefined ? `  ${t.registers} regs` : ''}${t.blocksPerSm !== undefined ? `  ${t.blocksPerSm} blocks/SM` : ''}`);
    }
  }
  backend.destroy();
}

console.log(`\ntotal wall time ${((performance.now() - t0) / 1000).toFixed(1)} s; tune cache entries in ${cachePath}`);
console.log(table([
  ['backend', 'program', 'dtype', 'space (survivors)', 'guided winner', 'ms', 'tuning s', 'measured', 'exhaustive best', 'ms', 'guided/best', '≤5%', 'default ms', 'speed-up'],
  ...rows.map((r) => [
    r.backend, r.program, r.dtype, `${r.space} (${r.survivors})`, r.guided.schedule, r.guided.ms, r.guided.seconds.toFixed(1) + (r.guided.budgetHit ? ' (budget)' : ''),
    r.guided.measured, r.exhaustive.schedule + (r.exhaustive.complete ? '' : ' (partial)'), r.exhaustive.ms, r.ratio?.toFixed(3) ?? '-',
    r.within5 === null ? '-' : r.within5 ? 'yes' : 'NO', r.defaultMs ?? '-', r.speedup !== null ? `${r.speedup.toFixed(2)}×` : '-',
  ]),
]));
if (outDir) writeFileSync(path.join(outDir, 'bench-tune.json'), JSON.stringify({ totalSeconds: (performance.now() - t0) / 1000, rows }, null, 2));
