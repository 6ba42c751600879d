// Correctness of Mamba-2 (examples/mamba2.ts) on the GPU host, for every
// backend present: the SSD lowering (tensor cores on CUDA: bf16/f16, fp32 as split tf32 unless FMA is named) and
// the generic chunked scan forced, against the float64 reference, outputs
// NaN-poisoned. CUDA f32, bf16, f16; WebGPU f32. Small shapes around chunk
// boundaries with ngroups 2 and every optional input on and off, and the
// standard head size (headdim 64, dstate 128) at seqlen 4096. About 5 min
// cold for every backend and dtype (NVRTC and Vulkan compiles); narrow it:
//   bash .gpu/enter tsx bench/mamba2-check.ts [--backends=cuda|webgpu] [--dtypes=f32,bf16] [--forms=wgmma,chunked,fused,default,tf32x3,fma]
import path from 'node:path';
import type { Schedule } from '../codegen/compile.js';
import { loadProgram } from '../dsl/load.js';
import { checkCase } from '../runtime/check.js';
import { ProgramRunner } from '../runtime/program-runner.js';
import { errorLine, forEachBackend, listArg, narrowedBackends } from './common.js';
import { LoweringError } from '../codegen/lower/diagonal-scan.js';

const program = await loadProgram(path.resolve(import.meta.dirname, '../examples/mamba2.ts'));
const ALL = ['D', 'D_hp', 'z', 'dt_bias'];
const backends = narrowedBackends([
  { name: 'cuda', dtypes: ['f32', 'bf16', 'f16'] },
  { name: 'webgpu', dtypes: ['f32'] },
]);
const ssd = (threads: number, chunk: number, headTile?: number): Schedule => ({ threads, items: 4, chunk, ...(headTile ? { headTile } : {}), lowering: 'ssd' });

interface Case { dims: Record<string, number>; full: boolean; schedule: Schedule }
const cases: Case[] = [];
for (const seqlen of [1, 63, 64, 65, 300]) {
  for (const full of [true, false]) {
    for (const schedule of [ssd(256, 64), ssd(128, 32), ssd(64, 16, 8)]) {
      cases.push({ dims: { batch: 2, seqlen, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 }, full, schedule });
    }
  }
}
cases.push({ dims: { batch: 2, seqlen: 200, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 }, full: true, schedule: { threads: 64, items: 2, lowering: 'diagonal-scan' } });
cases.push({ dims: { batch: 1, seqlen: 4096, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: ssd(256, 64) });
cases.push({ dims: { batch: 1, seqlen: 1000, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: false, schedule: ssd(128, 32, 32) });
// The state in registers (whole-N staging, no previous-step term): the standard head size, a last chunk cut short.
cases.push({ dims: { batch: 1, seqlen: 4097, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: ssd(128, 64, 32) });
cases.push({ dims: { batch: 2, seqlen: 999, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: ssd(128, 32, 64) });
// Two warps per workgroup (P tile 32); P tiles of 64 over 4 warps; a P tile padded (48 → 64, loads synchronous)
// and N padded (24 → 32); chunk boundaries, states in and out. (Run 99 checked the operand form with these.)
for (const seqlen of [1, 31, 32, 33, 300]) {
  for (const full of [true, false]) cases.push({ dims: { batch: 2, seqlen, nheads: 4, headdim: 32, ngroups: 2, dstate: 32 }, full, schedule: ssd(64, 32) });
}
cases.push({ dims: { batch: 1, seqlen: 4097, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: ssd(128, 32) });
// (Named 'fused': at 128 threads and chunk 64 a device with warpgroup products would run the walk by default.)
cases.push({ dims: { batch: 2, seqlen: 1000, nheads: 4, headdim: 64, ngroups: 2, dstate: 128 }, full: false, schedule: { ...ssd(128, 64), ssdForm: 'fused' } });
cases.push({ dims: { batch: 2, seqlen: 301, nheads: 2, headdim: 48, ngroups: 1, dstate: 24 }, full: true, schedule: ssd(128, 32) });
// N staged in tiles of 16 (Run 9's kernel); the cases above stage all of N with 16-bit operands in shared memory.
cases.push({ dims: { batch: 1, seqlen: 1000, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: { ...ssd(128, 32, 32), nTile: 16 } });
// The chunk-parallel form (three launches, scratch), as bench/mamba2.ts times it.
cases.push({ dims: { batch: 1, seqlen: 4096, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: { ...ssd(256, 64, 32), ssdForm: 'chunked' } });
cases.push({ dims: { batch: 2, seqlen: 1000, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: false, schedule: { ...ssd(256, 128, 16), ssdForm: 'chunked' } });
cases.push({ dims: { batch: 2, seqlen: 77, nheads: 4, headdim: 16, ngroups: 2, dstate: 16 }, full: true, schedule: { ...ssd(64, 32), ssdForm: 'chunked' } });
// The walk on warpgroup products (CUDA sm_90a, bf16/f16; chunk 64, the standard head size): around chunk boundaries,
// with ngroups 1 and 2, every optional input and states in and out on and off, and a long sequence cut short.
for (const seqlen of [1, 63, 64, 65, 300, 4097]) {
  const long = seqlen > 1000;
  for (const full of [true, false]) cases.push({ dims: { batch: long ? 1 : 2, seqlen, nheads: long ? 2 : 4, headdim: 64, ngroups: seqlen % 2 ? 2 : 1, dstate: 128 }, full, schedule: { ...ssd(128, 64), ssdForm: 'wgmma' } });
}
// P 128 (two warpgroups per row, one block each) and N 64 (the state in m64n64 accumulators).
for (const [headdim, dstate] of [[128, 128], [64, 64]]) {
  for (const seqlen of [65, 300]) {
    for (const full of [true, false]) cases.push({ dims: { batch: 2, seqlen, nheads: 4, headdim, ngroups: 2, dstate }, full, schedule: { ...ssd(128, 64), ssdForm: 'wgmma' } });
  }
}
// No form named, no chunk: what `scanforge check` runs by default (codegen/ssd-plans.ts defaultSsdForm: the walk on a
// device with warpgroup products for bf16 at these sizes, the fused kernel elsewhere). --forms=default selects these.
const DEFAULT: Schedule = { threads: 128, items: 4, lowering: 'ssd' };
for (const seqlen of [300, 4097]) cases.push({ dims: { batch: 2, seqlen, nheads: 4, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: DEFAULT });
// fp32 products as split tf32 on the tensor cores (f32Products 'tf32x3', CUDA fp32; the other dtypes skip them with the
// reason): the fused form at two tiles and the chunk-parallel form, chunk boundaries, states in and out, a long sequence.
for (const seqlen of [1, 63, 64, 65, 300, 4097]) {
  const long = seqlen > 1000;
  const dims = { batch: long ? 1 : 2, seqlen, nheads: long ? 2 : 4, headdim: 64, ngroups: seqlen % 2 ? 2 : 1, dstate: 128 };
  for (const full of [true, false]) cases.push({ dims, full, schedule: { ...ssd(128, 32, 32), f32Products: 'tf32x3' } });
  cases.push({ dims, full: true, schedule: { ...ssd(256, 64), f32Products: 'tf32x3' } });
}
cases.push({ dims: { batch: 2, seqlen: 1000, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: false, schedule: { ...ssd(256, 64, 32), ssdForm: 'chunked', f32Products: 'tf32x3' } });
cases.push({ dims: { batch: 2, seqlen: 300, nheads: 4, headdim: 32, ngroups: 2, dstate: 32 }, full: true, schedule: { ...ssd(64, 32), f32Products: 'tf32x3' } });
// No P tile at chunk 64: the split's 4-byte operands fit whole-N staging only at narrow P tiles, which the tile order
// passes over (P 32, N in tiles of 16, at P 64; P 128 too).
for (const headdim of [64, 128]) cases.push({ dims: { batch: 2, seqlen: 300, nheads: 2, headdim, ngroups: 1, dstate: 128 }, full: true, schedule: { ...ssd(128, 64), ssdForm: 'fused', f32Products: 'tf32x3' } });
// fp32 products on the FMA units (f32Products 'fma'; CUDA's fp32 default is the split tf32 above, so the cases that
// name no products run that): the fused form with and without a P tile, and the chunk-parallel form.
for (const seqlen of [65, 4097]) {
  const dims = { batch: seqlen > 1000 ? 1 : 2, seqlen, nheads: 4, headdim: 64, ngroups: 2, dstate: 128 };
  cases.push({ dims, full: true, schedule: { ...ssd(128, 32, 32), f32Products: 'fma' } });
  cases.push({ dims, full: seqlen > 1000, schedule: { ...ssd(256, 64), f32Products: 'fma' } });
}
cases.push({ dims: { batch: 2, seqlen: 1000, nheads: 2, headdim: 64, ngroups: 1, dstate: 128 }, full: true, schedule: { ...ssd(256, 64, 32), ssdForm: 'chunked', f32Products: 'fma' } });
// --forms=wgmma,chunked,fused,default,tf32x3,fma narrows the cases to those forms ('fused' also takes the cases that
// name no form but fix a tile the walk does not run; 'default' those that leave the form and the chunk to the compiler;
// 'tf32x3' and 'fma' the cases naming those products, whatever their form).
const onlyForms = listArg('forms');
const formOf = (s: Schedule): string => s.f32Products ?? s.ssdForm ?? (s === DEFAULT ? 'default' : 'fused');
if (onlyForms) cases.splice(0, cases.length, ...cases.filter((c) => onlyForms.includes(formOf(c.schedule))));

let failed = 0, passed = 0;
const t0 = Date.now();
await forEachBackend(backends, async (backend, { name, dtypes }) => {
  console.log(`== ${name}: ${backend.deviceName} (workgroup memory ${backend.limits.maxWorkgroupStorageBytes} B)`);
  const runner = new ProgramRunner(backend, program, { tuned: false });
  for (const dtype of dtypes) {
    for (const c of cases) {
      // Adapters whose workgroup memory cannot hold a case's tiles (WebGPU's 48 KiB and the chunk-parallel
      // form at chunk 128): the lowering says so, and the case is skipped, not failed.
      let res;
      try {
        res = await checkCase(runner, {
          dims: c.dims, present: c.full ? ALL : [], initStates: c.full ? ['S'] : [], finalStates: c.full ? ['S'] : [], dtype, seed: c.dims.seqlen! * 7 + (c.full ? 1 : 0), schedule: c.schedule,
        });
      } catch (e) {
        if (e instanceof LoweringError) {
          console.log(`skip ${name} ${dtype} L=${c.dims.seqlen} ${JSON.stringify(c.schedule)}: ${errorLine(e)}`);
          continue;
        }
        res = { ok: false, errors: [], kernel: `error: ${errorLine(e)}` };
      }
      if (res.ok) passed++; else failed++;
      const errs = res.errors.map((e) => `${e.name} ${e.relL2.toExponential(2)}${e.nan ? ` nan=${e.nan}` : ''}`).join(', ');
      const s = c.schedule;
      const label = s.lowering === 'ssd' ? `ssd t${s.threads}q${s.chunk ?? '-'}${s.headTile ? `p${s.headTile}` : ''}${s.ssdForm ? ` ${s.ssdForm}` : ''}${s.f32Products ? ` ${s.f32Products}` : ''} [${res.kernel.replace(/^.*_(ssd\w*)$/, '$1')}]` : `scan t${s.threads}i${s.items}`;
      if (!res.ok || c.dims.seqlen! >= 300) console.log(`${res.ok ? 'ok  ' : 'FAIL'} ${name} ${dtype} L=${c.dims.seqlen} P=${c.dims.headdim} N=${c.dims.dstate} ${c.full ? 'full' : 'bare'} ${label}: ${errs || res.kernel}`);
    }
  }
});
console.log(`mamba2-check: ${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(failed ? 1 : 0);
