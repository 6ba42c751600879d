// An example program with a WebGPU backend (the CPU adapter here) and a
// runner that never reads the tune cache: what most kernel test files open
// once in their beforeAll.
import { afterAll, beforeAll } from 'vitest';
import type { Program } from '../../dsl/ir.ts';
import { loadProgram } from '../../dsl/load.ts';
import { ProgramRunner } from '../../runtime/program-runner.ts';
import { openWebGpu, type WebGpuBackend } from '../../runtime/webgpu/index.ts';

export interface OpenExample {
  p: Program;
  gpu: WebGpuBackend;
  runner: ProgramRunner;
}

/** Loads examples/<name>.ts and opens a WebGPU backend with an untuned runner for it. */
export async function openExample(name: string): Promise<OpenExample> {
  const p = await loadProgram(new URL(`../../examples/${name}.ts`, import.meta.url).pathname);
  const gpu = await openWebGpu();
  return { p, gpu, runner: new ProgramRunner(gpu, p, { tuned: false }) };
}

/**
 * The same for a whole test file: opened before its tests (beforeAll) and
 * closed after them (afterAll); the fields are there once the tests run.
 */
export function useExample(name: string, timeout = 120_000): OpenExample {
  const ex = {} as OpenExample;
  beforeAll(async () => {
    Object.assign(ex, await openExample(name));
  }, timeout);
  afterAll(() => ex.gpu?.destroy());
  return ex;
}
