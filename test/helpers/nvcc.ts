// Offline CUDA compile checks shared by the tests of generated kernels: nvcc
// -arch=sm_90 (or sm_90a) -cubin -Xptxas -v on each source, in parallel, and what ptxas
// says about the one function (registers, spills). No GPU needed.

import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { RenderedKernel } from '../../runtime/backend.ts';

/** nvcc on PATH, or undefined (the tests that need it are skipped). */
export const nvcc: string | undefined = (() => {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'nvcc'), constants.X_OK);
      return join(dir, 'nvcc');
    } catch {
      /* not here */
    }
  }
  return undefined;
})();

export interface CubinReport {
  entry: string;
  code: number;
  /** nvcc's stdout + stderr (ptxas -v lines). */
  log: string;
  registers: number;
  spillStores: number;
  spillLoads: number;
  /** Functions ptxas compiled (one per module expected). */
  functions: number;
  /** The cubin is an ELF that exports the unmangled entry. */
  exportsEntry: boolean;
}

function runNvcc(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(nvcc!, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: String(stdout) + String(stderr) + (err && !stderr ? String(err) : '') });
    });
  });
}

/** Compiles every kernel (at most one per CPU at a time) for `arch` (sm_90a for warpgroup products); the results come in the kernels' order. */
export async function compileCubins(kernels: RenderedKernel[], arch = 'sm_90'): Promise<CubinReport[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-nvcc-'));
  try {
    const jobs = kernels.map((k, i) => async (): Promise<CubinReport> => {
      const base = join(dir, `k${i}`);
      writeFileSync(`${base}.cu`, k.source);
      const r = await runNvcc([`-arch=${arch}`, '-cubin', '-Xptxas', '-v', '-o', `${base}.cubin`, `${base}.cu`]);
      const props = [...r.out.matchAll(/(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/g)];
      const cubin = r.code === 0 ? readFileSync(`${base}.cubin`) : undefined;
      return {
        entry: k.entry,
        code: r.code,
        log: r.out,
        registers: Number(/Used (\d+) registers/.exec(r.out)?.[1] ?? NaN),
        spillStores: props.reduce((a, m) => a + Number(m[2]), 0),
        spillLoads: props.reduce((a, m) => a + Number(m[3]), 0),
        functions: props.length,
        exportsEntry: !!cubin && cubin.subarray(0, 4).toString('latin1') === '\x7fELF' && cubin.includes(Buffer.from(`\0${k.entry}\0`)),
      };
    });
    const out: CubinReport[] = new Array(jobs.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, availableParallelism()), jobs.length) }, worker));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
