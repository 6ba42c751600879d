// NVRTC: CUDA C++ source -> cubin, in process.
//
// We ask NVRTC for a cubin (SASS for the exact GPU) rather than PTX: the
// driver then loads it without a JIT step, and the register / spill numbers
// cuFuncGetAttribute reports are those of the code that really runs.

import { bind, loadFirst, type LoadedLibrary, type NativeFn } from './ffi.js';
import { cudaIncludeDirs, nvrtcCandidates } from './library-paths.js';

/** A failed compile. The message holds the entry name and NVRTC's full log. */
export class NvrtcCompileError extends Error {
  constructor(
    readonly entry: string,
    readonly log: string,
    readonly options: string[],
  ) {
    super(`NVRTC failed to compile kernel '${entry}' (options: ${options.join(' ')}):\n${log}`);
    this.name = 'NvrtcCompileError';
  }
}

export interface NvrtcVersion {
  major: number;
  minor: number;
}

export interface CompileResult {
  cubin: Uint8Array;
  /** NVRTC's log; may hold warnings even on success. */
  log: string;
  /** The options actually used (including any include-path fallback). */
  options: string[];
}

export interface Nvrtc {
  readonly libraryPath: string;
  version(): NvrtcVersion;
  /** Archs this NVRTC can target, as numbers like 90 for sm_90. */
  supportedArchs(): number[];
  /**
   * Compiles `source`; rejects with NvrtcCompileError (holding the log) on
   * failure. The compile itself runs on a koffi worker thread: NVRTC needs no
   * CUDA context and is thread-safe across programs, so several compiles (an
   * autotuner's variants) proceed in parallel without blocking the event loop.
   */
  compile(source: string, entry: string, options: string[]): Promise<CompileResult>;
}

/**
 * The compile target for a compute capability. Hopper and newer get the
 * arch-specific 'a' variant (sm_90a, sm_100a) so kernels may use wgmma /
 * setmaxnreg and friends; the cubin then only loads on that exact CC, which is
 * fine since we compile for the device we run on.
 */
export function archFor(major: number, minor: number): string {
  return `sm_${major}${minor}${major >= 9 ? 'a' : ''}`;
}

/** The oldest compute capability the generated kernels run on: cp.async copies and bf16/tf32 mma.sync are sm_80's. */
export const MIN_COMPUTE_CAPABILITY = 80;

/**
 * Why kernels cannot be compiled for compute capability `cc` (major·10 + minor)
 * with an NVRTC that targets `archs`, or null: said before NVRTC would answer
 * with a bare "invalid value for --gpu-architecture" or a failed compile of an
 * sm_80 instruction.
 */
export function archProblemFor(cc: number, archs: readonly number[], nvrtc: string): string | null {
  if (cc < MIN_COMPUTE_CAPABILITY) {
    return `sm_${cc} is older than the sm_${MIN_COMPUTE_CAPABILITY} scanforge's CUDA kernels need (cp.async copies, bf16 and tf32 tensor-core products); --backend webgpu runs them on this GPU`;
  }
  if (!archs.includes(cc)) return `${nvrtc} cannot target sm_${cc} (it supports ${archs.map((a) => `sm_${a}`).join(' ')}); point SCANFORGE_NVRTC at a newer libnvrtc`;
  return null;
}

/**
 * Options for a compile, accuracy first: no --use_fast_math unless the caller
 * asks for it (callers pass it in `extra`). -default-device makes functions
 * without an execution-space annotation device functions, which suits
 * generated code.
 */
export function compileOptions(arch: string, extra: readonly string[] = []): string[] {
  return [`--gpu-architecture=${arch}`, '-std=c++17', '-default-device', ...extra];
}

let cached: Nvrtc | undefined;

/** Loads NVRTC once per process. Throws "libnvrtc not found: …" when no candidate loads. */
export function loadNvrtc(): Nvrtc {
  if (!cached) cached = bindNvrtc(loadFirst('libnvrtc', nvrtcCandidates()));
  return cached;
}

function bindNvrtc(loaded: LoadedLibrary): Nvrtc {
  const f = (decl: string): NativeFn => bind(loaded, decl);
  // nvrtcResult is an int enum; nvrtcProgram is an opaque pointer.
  const fns = {
    nvrtcGetErrorString: f('const char *nvrtcGetErrorString(int result)'),
    nvrtcVersion: f('int nvrtcVersion(_Out_ int *major, _Out_ int *minor)'),
    nvrtcGetNumSupportedArchs: f('int nvrtcGetNumSupportedArchs(_Out_ int *n)'),
    nvrtcGetSupportedArchs: f('int nvrtcGetSupportedArchs(_Out_ int *archs)'),
    nvrtcCreateProgram: f(
      'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, ' +
        'int numHeaders, const char **headers, const char **includeNames)',
    ),
    nvrtcCompileProgram: f('int nvrtcCompileProgram(void *prog, int numOptions, const char **options)'),
    nvrtcGetCUBINSize: f('int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetCUBIN: f('int nvrtcGetCUBIN(void *prog, _Out_ uint8_t *cubin)'),
    nvrtcGetProgramLogSize: f('int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetProgramLog: f('int nvrtcGetProgramLog(void *prog, _Out_ uint8_t *log)'),
    nvrtcDestroyProgram: f('int nvrtcDestroyProgram(_Inout_ void **prog)'),
  };

  const check = (call: string, rc: unknown): void => {
    const code = rc as number;
    if (code !== 0) {
      const text = (fns.nvrtcGetErrorString(code) as string | null) ?? `nvrtcResult ${code}`;
      throw new Error(`${call} failed: ${text} (${code})`);
    }
  };
  const outSize = (call: string, fn: NativeFn, prog: bigint): number => {
    const out = [0];
    check(call, fn(prog, out));
    return out[0];
  };

  const compileProgramAsync = (prog: bigint, options: string[]): Promise<number> =>
    new Promise((resolve, reject) => {
      fns.nvrtcCompileProgram.async(prog, options.length, options, (err: unknown, rc: number) =>
        err ? reject(err) : resolve(rc),
      );
    });

  const compileOnce = async (source: string, entry: string, options: string[]): Promise<CompileResult> => {
    const progOut: (bigint | null)[] = [null];
    // The program name shows up in the log's diagnostics ("saxpy.cu(3): error").
    check('nvrtcCreateProgram', fns.nvrtcCreateProgram(progOut, source, `${entry}.cu`, 0, null, null));
    const prog = progOut[0];
    if (prog === null) throw new Error('nvrtcCreateProgram returned a null program');
    try {
      const rc = await compileProgramAsync(prog, options);
      const logBytes = new Uint8Array(Math.max(1, outSize('nvrtcGetProgramLogSize', fns.nvrtcGetProgramLogSize, prog)));
      check('nvrtcGetProgramLog', fns.nvrtcGetProgramLog(prog, logBytes));
      const log = Buffer.from(logBytes).toString('utf8').replace(/\0+$/, '').trim();
      if (rc !== 0) {
        const text = (fns.nvrtcGetErrorString(rc) as string | null) ?? `nvrtcResult ${rc}`;
        throw new NvrtcCompileError(entry, log || text, options);
      }
      const cubin = new Uint8Array(outSize('nvrtcGetCUBINSize', fns.nvrtcGetCUBINSize, prog));
      if (cubin.length === 0) throw new Error(`NVRTC produced an empty cubin for '${entry}' (options: ${options.join(' ')})`);
      check('nvrtcGetCUBIN', fns.nvrtcGetCUBIN(prog, cubin));
      return { cubin, log, options };
    } finally {
      fns.nvrtcDestroyProgram([prog]);
    }
  };

  let versionCache: NvrtcVersion | undefined;
  return {
    libraryPath: loaded.path,
    version: () => {
      if (!versionCache) {
        const major = [0];
        const minor = [0];
        check('nvrtcVersion', fns.nvrtcVersion(major, minor));
        versionCache = { major: major[0], minor: minor[0] };
      }
      return versionCache;
    },
    supportedArchs: () => {
      const n = [0];
      check('nvrtcGetNumSupportedArchs', fns.nvrtcGetNumSupportedArchs(n));
      const archs = new Int32Array(n[0]);
      check('nvrtcGetSupportedArchs', fns.nvrtcGetSupportedArchs(archs));
      return Array.from(archs);
    },
    compile: async (source, entry, options) => {
      try {
        return await compileOnce(source, entry, options);
      } catch (err) {
        // NVRTC 13.0 does not have cuda_fp16.h / cuda_bf16.h built in (seen
        // on the H100 host: "could not open source file", no directories in
        // the search list). Retry once with the toolkit's headers, plus
        // CCCL's, which CUDA 13's fp16 headers include (nv/target). Only on
        // demand, so kernels without those includes never depend on a
        // toolkit install being present.
        const missing =
          err instanceof NvrtcCompileError && /(cannot|could not) open source file "cuda_(fp16|bf16)/.test(err.log);
        if (!missing) throw err;
        const dirs = cudaIncludeDirs();
        if (dirs.length === 0) {
          const hint = '\n(no CUDA include folder holding cuda_fp16.h was found; set SCANFORGE_CUDA_INCLUDE)';
          throw new NvrtcCompileError(entry, err.log + hint, options);
        }
        return await compileOnce(source, entry, [...options, ...dirs.map((d) => `-I${d}`)]);
      }
    },
  };
}
