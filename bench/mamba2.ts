// Mamba-2 SSD (examples/mamba2.ts) at the standard shape batch=4 seqlen=4096
// nheads=80 headdim=64 dstate=128 ngroups=1 (Mamba-2 2.7B), with D, z and
// dt_bias, no initial or final state (as mamba_chunk_scan_combined is called
// in a forward pass): CUDA bf16 and fp32, WebGPU fp32, through the SSD
// lowering over a few schedules (and the generic chunked scan forced, once
// per dtype, for comparison). Roofline, all measured in this process or by
// bench/mamba2_torch.py on the same device:
//   max(bytes ÷ copy bandwidth, flops ÷ bf16 matmul rate)
// bytes: every input read once, every output written once, in the run's
// dtype; flops: the chunked form at the kernel's chunk Q, per (batch, head,
// chunk) 2·Q²·N (C·Bᵀ) + 2·Q²·P (masked · X) + 2·Q·P·N (chunk state) +
// 2·Q·P·N (state → output); also reported at Q = 256, mamba_ssm's chunk.
// Run on the GPU host:
//   python3 bench/mamba2_torch.py $OUT/mamba2-torch.json
//   TORCH_BASELINE=$OUT/mamba2-torch.json bash .gpu/enter tsx bench/mamba2.ts [--quick]
// Writes $OUT/bench-mamba2.json when OUT is set. Options: --quick; --schedules=t128q32p32,t128q32p32n16,t256q64p32c,...
// (SSD schedules t<threads>q<chunk>[p<headTile>][n<nTile>][c], for every backend; a trailing c: the chunk-parallel
// form, three launches, timed launch by launch and summed: runtime/tune/measure.ts timeRun); --backends=cuda;
// --dtypes=bf16; --no-generic (skip the forced generic scan); --shape=name=value,...

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Schedule } from '../codegen/compile.js';
import type { DType } from '../dsl/decl.js';
import { loadProgram } from '../dsl/load.js';
import type { Backend } from '../runtime/backend.js';
import { randomInputs } from '../runtime/check.js';
import { elemBytes } from '../runtime/dtype.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { sizeOf } from '../runtime/shapes.js';
import { parseShape } from '../runtime/cli/args.js';
import { RotatingBuffers, copyBandwidth, median, table } from './common.js';
import { timeRun } from '../runtime/tune/measure.js';

const quick = process.argv.includes('--quick');
const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba2.ts'));
// --shape=name=value,... overrides the standard shape (a smoke run on a small device or the CPU adapter; copies 64 MiB then).
const shapeArg = process.argv.find((a) => a.startsWith('--shape='))?.slice('--shape='.length);
const DIMS = { batch: 4, seqlen: 4096, nheads: 80, headdim: 64, ngroups: 1, dstate: 128, ...parseShape(shapeArg) };
const PRESENT = ['D', 'z', 'dt_bias'];

let torch: Record<string, number> = {};
const torchFile = process.env.TORCH_BASELINE;
if (torchFile && existsSync(torchFile)) torch = JSON.parse(readFileSync(torchFile, 'utf8')) as Record<string, number>;
const matmulRate = (torch.matmul_bf16_tflops ?? NaN) * 1e12;
if (!Number.isFinite(matmulRate)) console.log('no TORCH_BASELINE with matmul_bf16_tflops: the roofline is the bytes term only');

const ssd = (threads: number, chunk: number, headTile?: number, nTile?: number, chunked = false): Schedule => ({ threads, items: 4, chunk, ...(headTile ? { headTile } : {}), ...(nTile ? { nTile } : {}), ...(chunked ? { ssdForm: 'chunked' as const } : {}), lowering: 'ssd' });
const chunked = (threads: number, chunk: number, headTile?: number, nTile?: number): Schedule => ssd(threads, chunk, headTile, nTile, true);
/**
 * t<threads>q<chunk>[p<headTile>][n<nTile>][c|w][x], e.g. t128q32p32n16 (n16: N staged in tiles of 16, the Run 9 kernel);
 * c: the chunk-parallel form; w: the walk on warpgroup products (t128q64w; CUDA sm_90a, bf16/f16); x: fp32 products as
 * split tf32 on the tensor cores (f32Products 'tf32x3': CUDA fp32's default, named); f: fp32 products on the FMA units
 * (f32Products 'fma').
 */
function parseSsd(s: string): Schedule {
  const m = /^t(\d+)q(\d+)(?:p(\d+))?(?:n(\d+))?([cw])?([xf])?$/.exec(s);
  if (!m) throw new Error(`--schedules: '${s}' is not t<threads>q<chunk>[p<headTile>][n<nTile>][c|w][x|f]`);
  const sched = ssd(Number(m[1]), Number(m[2]), m[3] ? Number(m[3]) : undefined, m[4] ? Number(m[4]) : undefined, m[5] === 'c');
  return { ...sched, ...(m[5] === 'w' ? { ssdForm: 'wgmma' as const } : {}), ...(m[6] ? { f32Products: m[6] === 'x' ? 'tf32x3' as const : 'fma' as const } : {}) };
}
// The chunk-parallel form: chunk 64 and 128 (its output kernel holds the Q × Q block in registers, so 256 does not fit).
const chunkedSchedules: Schedule[] = quick
  ? [chunked(256, 64, 32), chunked(256, 128, 16)]
  : [chunked(256, 64, 32), chunked(128, 64, 32), chunked(256, 64, 64), chunked(256, 64, 16), chunked(256, 128, 16), chunked(256, 128, 32), chunked(256, 256, 16)];
const listArg = (name: string): string[] | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3).split(',').filter(Boolean);
// --schedules=... replaces both lists; --backends=cuda and --dtypes=bf16 trim the run; --no-generic skips the forced scan.
const given = listArg('schedules')?.map(parseSsd);
const onlyBackends = listArg('backends');
const onlyDtypes = listArg('dtypes');
// The walk on warpgroup products (sm_90a, bf16/f16; elsewhere it is skipped with the reason).
const wgmma: Schedule = { ...ssd(128, 64), ssdForm: 'wgmma' };
const cudaSchedules: Schedule[] = given ?? (quick
  ? [wgmma, ssd(128, 32, 32), ssd(128, 32, 32, 16), ...chunkedSchedules]
  : [
    wgmma,
    ...chunkedSchedules,
    // Run 9's best (N in tiles of 16) for comparison, then whole-N staging with bf16 operands in shared memory.
    ssd(128, 32, 32, 16), ssd(128, 32, 32), ssd(256, 32, 32), ssd(256, 32), ssd(128, 32), ssd(64, 32, 16),
    ssd(128, 16, 32), ssd(256, 64, 32), ssd(256, 64), ssd(128, 64, 16), ssd(256, 64, 16), ssd(128, 32, 16), ssd(256, 128, 16),
  ]);
const wgslSchedules: Schedule[] = given ?? (quick ? [ssd(256, 32), chunked(256, 64, 16)] : [ssd(256, 32), ssd(128, 32), ssd(256, 64), ssd(128, 16), ssd(256, 32, 16), chunked(256, 64, 16), chunked(256, 64, 32)]);
const generic: Schedule = { threads: 128, items: 4, rows: 1, lowering: 'diagonal-scan' };
const withGeneric = !quick && !process.argv.includes('--no-generic');

const backends: { name: string; open: () => Promise<Backend>; dtypes: DType[]; schedules: Schedule[] }[] = [
  { name: 'cuda', open: async () => (await import('../runtime/cuda/backend.js')).openCuda(), dtypes: ['bf16', 'f32', 'f16'], schedules: cudaSchedules },
  { name: 'webgpu', open: async () => (await import('../runtime/webgpu/index.js')).openWebGpu(), dtypes: ['f32'], schedules: wgslSchedules },
];

/** Flops of the chunked form at chunk Q (dense, no causal saving). */
function flops(Q: number): number {
  const { batch: B, seqlen: L, nheads: H, headdim: P, dstate: N } = DIMS;
  return B * H * Math.ceil(L / Q) * (2 * Q * Q * N + 2 * Q * Q * P + 4 * Q * P * N);
}

interface Row { perLaunchMs?: number[]; scratchBytes?: number; backend: string; device: string; dtype: DType; lowering: string; schedule: string; kernel: string; ms: number; bytes: number; flops: number; roofMs: number; sharedBytes: number; registers?: number; localBytes?: number; groups: number; blocksPerSm?: number; waves?: number }
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
  const bw = await copyBandwidth(backend, shapeArg ? 64 << 20 : 1 << 30);
  rooflines[b.name] = bw;
  if (b.name === 'cuda') cudaCopy = bw;
  console.log(`${b.name}: ${backend.deviceName}; copy ${(bw / 1e12).toFixed(3)} TB/s; workgroup memory ${backend.limits.maxWorkgroupStorageBytes} B`);
  const runner = new ProgramRunner(backend, program, { tuned: false });
  const inputs = randomInputs(program, { dims: DIMS, present: PRESENT, initStates: [], finalStates: [], seed: 1 });
  for (const dtype of b.dtypes.filter((d) => !onlyDtypes || onlyDtypes.includes(d))) {
    // Rotated buffer sets, shared by schedules with the same bindings and scratch sizes, so no launch finds the previous one's data in L2.
    const sets = new RotatingBuffers(runner, inputs);
    for (const sched of [...b.schedules, ...(withGeneric ? [generic] : [])]) {
      let label = sched.lowering === 'ssd' ? `t${sched.threads} q${sched.chunk}${sched.headTile ? ` p${sched.headTile}` : ''}${sched.nTile ? ` n${sched.nTile}` : ''}${sched.f32Products ? ` ${sched.f32Products}` : ''}` : `scan t${sched.threads}i${sched.items}`;
      try {
        const prep = await runner.prepare(inputs, { dims: DIMS, dtype, schedule: sched });
        // The form the compiler ran: the one asked for, or its default (the walk at t128 q64 where the device has it).
        const form = prep.info.schedule.ssdForm;
        if (sched.lowering === 'ssd' && (form === 'chunked' || form === 'wgmma')) label += ` ${form}`;
        const timed = await timeRun(backend, prep, sets.runs(prep), quick ? 5 : 10);
        const ms = median(timed.ms);
        const perLaunchMs = timed.perLaunch.map(median);
        const scratchBytes = prep.scratch.reduce((a, x) => a + x.bytes, 0);
        const bytes = [...prep.program.used, ...prep.program.written].reduce((a, t) => a + sizeOf(t, prep.dims) * elemBytes(t.dtype), 0);
        const f = sched.lowering === 'ssd' ? flops(sched.chunk!) : 0;
        const roofMs = Math.max(bytes / (cudaCopy || bw), Number.isFinite(matmulRate) ? f / matmulRate : 0) * 1e3;
        const usage = prep.kernel.usage;
        const registers = usage?.registersPerThread;
        const groups = prep.grid[0] * prep.grid[1] * prep.grid[2];
        // Resident blocks per SM by shared memory, registers and threads (what decides the waves over the grid).
        const sm = backend.limits.sm;
        const shared = prep.info.kernel.sharedBytes + (usage?.staticSharedBytes ?? 0);
        const perSm = sm && registers !== undefined
          ? Math.min(Math.floor(sm.sharedBytes / (shared + sm.reservedSharedPerBlock)), Math.floor(sm.registers / (Math.ceil(registers / 8) * 8 * prep.kernel.kernel.workgroupSize)), Math.floor(sm.maxThreads / prep.kernel.kernel.workgroupSize), sm.maxBlocks)
          : undefined;
        const waves = perSm && sm ? groups / (perSm * sm.count) : undefined;
        rows.push({ ...(perLaunchMs.length > 1 ? { perLaunchMs, scratchBytes } : {}), backend: b.name, device: backend.deviceName, dtype, lowering: `${prep.info.lowering}${form === 'chunked' || form === 'wgmma' ? ` (${form})` : ''}`, schedule: label, kernel: prep.info.kernel.entry, ms, bytes, flops: f, roofMs, sharedBytes: prep.info.kernel.sharedBytes, registers, localBytes: usage?.localBytes, groups, blocksPerSm: perSm, waves });
        console.log(`  ${dtype} ${prep.info.lowering} ${label}: ${ms.toFixed(3)} ms, ${(bytes / (ms * 1e-3) / 1e9).toFixed(0)} GB/s, ${f ? `${(f / (ms * 1e-3) / 1e12).toFixed(1)} TFLOP/s, ` : ''}roofline ${roofMs.toFixed(3)} ms (${(ms / roofMs).toFixed(2)}×), ${prep.info.kernel.sharedBytes} B shared${registers !== undefined ? `, ${registers} regs, ${usage?.localBytes ?? '?'} B local` : ''}, ${groups} blocks${perSm !== undefined ? `, ${perSm}/SM, ${waves!.toFixed(2)} waves` : ''} [${prep.info.kernel.entry}]`);
        // A run of several launches: each one's median, its shared memory, registers, spills and blocks (the line above is the first's).
        if (perLaunchMs.length > 1) {
          console.log(`    sum of ${perLaunchMs.length} launches timed one by one; scratch ${(scratchBytes / 2 ** 20).toFixed(0)} MiB`);
          prep.launches.forEach((l, k) => {
            const u = l.kernel.usage;
            console.log(`    ${l.kernel.kernel.entry}: ${perLaunchMs[k]!.toFixed(3)} ms, ${l.kernel.kernel.sharedBytes} B shared${u ? `, ${u.registersPerThread} regs, ${u.localBytes} B local` : ''}, ${l.grid[0] * l.grid[1] * l.grid[2]} blocks`);
          });
        }
      } catch (e) {
        console.log(`  skip ${dtype} ${label}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
    sets.destroy(backend);
  }
  backend.destroy();
}

const best = new Map<string, Row>();
for (const r of rows) {
  const key = `${r.backend}|${r.dtype}|${r.lowering}`;
  if (!best.has(key) || best.get(key)!.ms > r.ms) best.set(key, r);
}
const bytesBf16 = rows.find((r) => r.dtype === 'bf16')?.bytes;
const roof256 = Number.isFinite(matmulRate) && bytesBf16 ? Math.max(bytesBf16 / cudaCopy, flops(256) / matmulRate) * 1e3 : NaN;
const out: (string | number)[][] = [['backend', 'dtype', 'lowering', 'best schedule', 'ms', 'roofline ms', '× roofline', 'PyTorch ms', 'speed-up vs PyTorch']];
for (const r of best.values()) {
  const t = torch[`standard|${r.dtype}`];
  out.push([r.backend, r.dtype, r.lowering, r.schedule, r.ms, r.roofMs, `${(r.ms / r.roofMs).toFixed(2)}×`, t ?? '-', t ? `${(t / r.ms).toFixed(1)}×` : '-']);
}
console.log(`\ncopy: ${Object.entries(rooflines).map(([k, v]) => `${k} ${(v / 1e12).toFixed(3)} TB/s`).join(', ')}; bf16 matmul ${Number.isFinite(matmulRate) ? `${(matmulRate / 1e12).toFixed(0)} TFLOP/s` : 'not measured'}`);
if (Number.isFinite(roof256)) console.log(`roofline at mamba_ssm's chunk 256 (bf16 bytes): ${roof256.toFixed(3)} ms`);
console.log(table(out));
if (process.env.OUT) writeFileSync(path.join(process.env.OUT, 'bench-mamba2.json'), JSON.stringify({ dims: DIMS, present: PRESENT, rooflines, matmulRate, torch, rows }, null, 2));
