// The CUDA source the compiler renders for Mamba-1, across variants,
// schedules and dtypes, compiled offline with nvcc for sm_90: it must build,
// export its entry unmangled, and keep everything in registers (ptxas
// reports no spill stores or loads). The WGSL of the same variants is
// rendered too. No GPU is needed, only nvcc.

import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule } from '../codegen/compile.ts';
import type { DType } from '../dsl/decl.ts';
import type { Program, Variant } from '../dsl/ir.ts';
import { defaultVariant, fullVariant } from '../dsl/specialize.ts';
import { loadProgram } from '../dsl/load.ts';
import { specializeFor } from '../runtime/program-runner.ts';

/** nvcc on PATH, or undefined. */
function findOnPath(exe: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, exe);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
const nvcc = findOnPath('nvcc');

const DIMS = { batch: 2, dim: 8, seqlen: 1000, dstate: 16, ngroups: 2 };

const VARIANTS: Record<string, (p: Program) => Variant> = {
  full: (p) => fullVariant(p),
  none: (p) => defaultVariant(p),
  'final state only': (p) => ({ ...defaultVariant(p), finalStates: ['h'] }),
  'z, final state, no softplus': (p) => ({ present: ['z'], flags: { ...p.flags, delta_softplus: false }, initStates: [], finalStates: ['h'] }),
  'D + delta_bias, initial state': (p) => ({ present: ['D', 'delta_bias'], flags: { ...p.flags }, initStates: ['h'], finalStates: [] }),
};

const DTYPES: DType[] = ['f32', 'f16', 'bf16'];

const DEFAULT_SCHEDULE: Schedule = { threads: 128, items: 4 }; // the program's first candidates
const OTHER_SCHEDULES: Schedule[] = [
  { threads: 64, items: 8 },
  { threads: 32, items: 1 },
  { threads: 256, items: 2 },
  { threads: 16, items: 8 }, // below a warp: no shuffles
  { threads: 128, items: 16 },
];
const SCHEDULES = [DEFAULT_SCHEDULE, ...OTHER_SCHEDULES];

interface CudaCase {
  name: string;
  variant: string;
  dtype: DType;
  schedule: Schedule;
  subgroups: boolean;
}

const sched = (s: Schedule): string => `t${s.threads}×i${s.items}`;

// Every variant × dtype with the default schedule and one other, rotating so
// that every other schedule meets every dtype; plus the non-shuffle path.
const CASES: CudaCase[] = [];
{
  let k = 0;
  for (const variant of Object.keys(VARIANTS)) {
    for (const dtype of DTYPES) {
      for (const schedule of [DEFAULT_SCHEDULE, OTHER_SCHEDULES[k++ % OTHER_SCHEDULES.length]!]) {
        CASES.push({ name: `${variant} / ${dtype} / ${sched(schedule)}`, variant, dtype, schedule, subgroups: true });
      }
    }
  }
  for (const [variant, dtype, schedule] of [['full', 'bf16', DEFAULT_SCHEDULE], ['none', 'f32', OTHER_SCHEDULES[0]!]] as const) {
    CASES.push({ name: `${variant} / ${dtype} / ${sched(schedule)} / no subgroups`, variant, dtype, schedule, subgroups: false });
  }
}

interface NvccResult {
  entry: string;
  source: string;
  code: number;
  ptxas: string;
  cubin?: Buffer;
}

function runNvcc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nvcc!, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === 1 && !stderr ? String(err) : '') });
    });
  });
}

/** Runs `jobs` with at most `limit` in flight. */
function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T>[] {
  let next = 0;
  const results = jobs.map(() => {
    let resolve!: (v: T) => void;
    const promise = new Promise<T>((r) => (resolve = r));
    return { promise, resolve };
  });
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i]!.resolve(await jobs[i]!());
    }
  };
  for (let w = 0; w < Math.min(limit, jobs.length); w++) void worker();
  return results.map((r) => r.promise);
}

describe('Mamba-1 kernel sources', () => {
  let p: Program;
  beforeAll(async () => {
    p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
  }, 60_000);

  describe.skipIf(!nvcc)('CUDA compiles with nvcc -arch=sm_90 without spills', () => {
    let dir: string;
    const results = new Map<string, Promise<NvccResult>>();

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sf-codegen-'));
      // Render everything, then compile in parallel; each test awaits its own.
      const jobs = CASES.map((c, i) => {
        const sp = specializeFor(p, VARIANTS[c.variant]!(p), DIMS, c.dtype);
        const { kernel } = compileKernel(sp, 'cuda', c.schedule, { subgroups: c.subgroups });
        const base = join(dir, `k${i}`);
        writeFileSync(`${base}.cu`, kernel.source);
        return async (): Promise<NvccResult> => {
          const r = await runNvcc(['-arch=sm_90', '-cubin', '-Xptxas', '-v', '-o', `${base}.cubin`, `${base}.cu`]);
          const cubin = r.code === 0 ? readFileSync(`${base}.cubin`) : undefined;
          return { entry: kernel.entry, source: kernel.source, code: r.code, ptxas: r.stdout + r.stderr, cubin };
        };
      });
      const promises = pool(jobs, Math.max(1, availableParallelism()));
      CASES.forEach((c, i) => results.set(c.name, promises[i]!));
    }, 60_000);

    afterAll(async () => {
      await Promise.all(results.values());
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    for (const c of CASES) {
      it(`${c.name}: builds, exporting its entry`, async () => {
        const r = await results.get(c.name)!;
        expect(r.code, r.ptxas).toBe(0);
        expect(r.ptxas).toContain(`Compiling entry function '${r.entry}' for 'sm_90'`);
        // One function in the module.
        expect([...r.ptxas.matchAll(/bytes stack frame/g)], r.ptxas).toHaveLength(1);
        const regs = Number(/Used (\d+) registers/.exec(r.ptxas)?.[1]);
        expect(regs).toBeGreaterThan(0);
        expect(regs * c.schedule.threads).toBeLessThanOrEqual(65536);
        // An ELF cubin exporting the unmangled entry (extern "C").
        expect(r.cubin!.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
        expect(r.cubin!.includes(Buffer.from(`\0${r.entry}\0`))).toBe(true);

        // The source says what it is: dtype of the tensors, fp32 state, block size, variant.
        expect(r.source).toContain(`__launch_bounds__(${c.schedule.threads}`);
        const elem = { f32: 'float', f16: '__half', bf16: '__nv_bfloat16' }[c.dtype];
        expect(r.source).toContain(`const ${elem}* __restrict__ u`);
        expect(r.source).toContain(`${elem}* __restrict__ y`);
        const v = VARIANTS[c.variant]!(p);
        if (v.initStates.includes('h')) expect(r.source).toContain('const float* __restrict__ h_init');
        else expect(r.source).not.toContain('h_init');
        if (v.finalStates.includes('h')) expect(r.source).toContain('float* __restrict__ h_final');
        else expect(r.source).not.toContain('h_final');
        for (const opt of ['D', 'z', 'delta_bias']) {
          const arg = new RegExp(`\\* __restrict__ ${opt}[,)]`);
          if (v.present.includes(opt)) expect(r.source).toMatch(arg);
          else expect(r.source).not.toMatch(arg);
        }
        expect(r.source.includes('sf_softplus(')).toBe(v.flags.delta_softplus!);
        const shuffles = c.subgroups && c.schedule.threads % 32 === 0;
        expect(r.source.includes('__shfl_up_sync')).toBe(shuffles);
      }, 120_000);

      it(`${c.name}: ptxas reports 0 bytes spill stores and loads`, async () => {
        const r = await results.get(c.name)!;
        expect(r.code, r.ptxas).toBe(0);
        const props = [...r.ptxas.matchAll(/(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/g)];
        expect(props, r.ptxas).toHaveLength(1);
        expect(r.ptxas).toMatch(/\b0 bytes spill stores/);
        expect(r.ptxas).toMatch(/\b0 bytes spill loads/);
        expect(props[0]![2], r.ptxas).toBe('0');
        expect(props[0]![3], r.ptxas).toBe('0');
      }, 120_000);
    }
  });

  describe('schedule validation', () => {
    it('threads must be a power of two', () => {
      const sp = specializeFor(p, fullVariant(p), DIMS, 'f32');
      for (const threads of [0, 48, 100]) {
        for (const target of ['cuda', 'wgsl'] as const) {
          expect(() => compileKernel(sp, target, { threads, items: 4 }, { subgroups: true })).toThrow(`threads must be a power of two, got ${threads}`);
        }
      }
    });

    // items = 0 would render `c0 += 0` (an endless loop on the device); -1 and 1.5 are nonsense.
    for (const items of [0, -1, 1.5]) {
      it(`items = ${items} is rejected before rendering`, () => {
        const sp = specializeFor(p, fullVariant(p), DIMS, 'f32');
        expect(() => compileKernel(sp, 'cuda', { threads: 32, items }, { subgroups: true })).toThrow(/items/);
      });
    }
  });

  describe('WGSL of the same variants', () => {
    for (const variant of Object.keys(VARIANTS)) {
      for (const schedule of SCHEDULES.slice(0, 4)) {
        it(`${variant} / t${schedule.threads}×i${schedule.items}`, () => {
          const sp = specializeFor(p, VARIANTS[variant]!(p), DIMS, 'f32');
          for (const subgroups of [false, true]) {
            const { kernel } = compileKernel(sp, 'wgsl', schedule, { subgroups });
            expect(kernel.target).toBe('wgsl');
            expect(kernel.source).toContain('@compute');
            expect(kernel.source).toContain(`@compute @workgroup_size(${schedule.threads})`);
            expect(kernel.source).toContain(`fn ${kernel.entry}(`);
            expect(kernel.workgroupSize).toBe(schedule.threads);
            expect(kernel.source.includes('enable subgroups;')).toBe(subgroups && schedule.threads % 32 === 0);
            const v = VARIANTS[variant]!(p);
            expect(kernel.bindings.map((b) => b.name).sort()).toEqual(
              [...sp.used, ...sp.written].map((t) => t.name).sort(),
            );
            expect(kernel.bindings.every((b) => b.elem === 'f32')).toBe(true);
            expect(kernel.bindings.filter((b) => b.access === 'read_write').map((b) => b.name).sort()).toEqual(
              ['y', ...v.finalStates.map((s) => `${s}_final`)].sort(),
            );
          }
        });
      }
    }

    it('f16 and bf16 tensors are refused with a clear message (WGSL kernels take f32)', () => {
      for (const dtype of ['f16', 'bf16'] as const) {
        const sp = specializeFor(p, fullVariant(p), DIMS, dtype);
        expect(() => compileKernel(sp, 'wgsl', SCHEDULES[0]!, { subgroups: false })).toThrow(new RegExp(`is ${dtype}; WGSL kernels take f32 tensors`));
      }
    });
  });
});
