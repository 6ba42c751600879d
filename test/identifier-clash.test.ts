// A tensor named like something the kernel declares or the target reserves
// is refused by compileKernel with the name to change (codegen/plan/
// identifiers.ts), instead of a kernel that fails to compile with a message
// about generated code, or reads a workgroup array in place of the tensor.
// The programs are Mamba-1 (examples/mamba1.ts) with the gate tensor z
// renamed; a harmless shadow (GLA's tensor k, the chunked form's loop
// counter k elsewhere in the kernel) still compiles.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type Schedule, type Target } from '../codegen/compile.ts';
import { loadProgram } from '../dsl/load.ts';
import { fullVariant } from '../dsl/specialize.ts';
import { specializeFor } from '../runtime/program-runner.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIMS = { batch: 2, dim: 8, seqlen: 64, dstate: 16, ngroups: 1 };

let dir: string;
beforeAll(() => {
  mkdirSync(join(REPO, 'test', '.tmp'), { recursive: true });
  dir = mkdtempSync(join(REPO, 'test', '.tmp', 'clash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** examples/mamba1.ts with tensor z renamed to `name`, compiled for `target`. */
async function compileWithZ(name: string, target: Target, schedule: Schedule): Promise<string> {
  const src = readFileSync(join(REPO, 'examples', 'mamba1.ts'), 'utf8');
  const file = join(dir, `mamba1_${name}.ts`);
  let dsl = relative(dirname(file), join(REPO, 'dsl', 'index.js'));
  if (!dsl.startsWith('.')) dsl = `./${dsl}`;
  writeFileSync(file, src.replace(/from '\.\.\/dsl\/index\.js'/, `from '${dsl}'`).replace(/\bz\b/g, name));
  const p = await loadProgram(file);
  return compileKernel(specializeFor(p, fullVariant(p), DIMS, 'f32'), target, schedule, { subgroups: target === 'cuda' }).kernel.entry;
}

describe('tensor names that clash with the kernel', () => {
  it("a workgroup array's name (the chunked scan's carry)", async () => {
    await expect(compileWithZ('carry', 'cuda', { threads: 32, items: 4 })).rejects.toThrow("tensor 'carry' has the name of a workgroup array of selective_scan");
  });

  it("a variable the kernel declares at its top level (state lanes' lane)", async () => {
    await expect(compileWithZ('lane', 'wgsl', { threads: 1, items: 2, lanes: 8, rows: 2 })).rejects.toThrow(/tensor 'lane' has the name of a variable selective_scan_\w+ declares where the tensor is needed/);
  });

  it('a keyword of the target only (fn in WGSL; CUDA takes it)', async () => {
    await expect(compileWithZ('fn', 'wgsl', { threads: 32, items: 4 })).rejects.toThrow("tensor 'fn' is a WGSL keyword or reserved word");
    expect(await compileWithZ('fn', 'cuda', { threads: 32, items: 4 })).toMatch(/^selective_scan_/);
  });

  it("a renderer's own name (P holds WGSL's parameters)", async () => {
    await expect(compileWithZ('P', 'wgsl', { threads: 32, items: 4 })).rejects.toThrow("tensor 'P' has the name of an identifier every WGSL kernel uses");
  });

  it('a name declared only where the tensor is not used compiles (GLA: tensor k, loop counter k of the carries)', async () => {
    const gla = await loadProgram(join(REPO, 'examples', 'gla.ts'));
    const sp = specializeFor(gla, fullVariant(gla), { batch: 1, seqlen: 40, nheads: 2, headdim: 4, dkey: 8 }, 'f32');
    const info = compileKernel(sp, 'cuda', { threads: 32, items: 4, rowBlock: 4 }, { subgroups: true });
    expect(info.kernel.source).toMatch(/for \(int k = /);
  });
});
