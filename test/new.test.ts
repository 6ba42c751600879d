// `scanforge new <name>`: the scaffold is a working program as written. In a
// package that depends on scanforge it imports from 'scanforge', type-checks
// under strict tsc, loads, and passes `scanforge check` (full and bare
// variants against the float64 reference) on this machine's WebGPU adapter.
// Inside the checkout it imports the DSL by relative path. It never
// overwrites a file.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import { checkProgram } from '../runtime/cli/check.ts';
import { main } from '../runtime/cli/main.ts';
import { newProgram } from '../runtime/cli/new.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TIMEOUT = 60_000;

describe('scanforge new', () => {
  let gpu: WebGpuBackend;
  let scratch: string;
  let inRepo: string;

  beforeAll(async () => {
    gpu = await openWebGpu();
    scratch = mkdtempSync(path.join(tmpdir(), 'scanforge-new-'));
    mkdirSync(path.join(scratch, 'node_modules/@types'), { recursive: true });
    symlinkSync(root, path.join(scratch, 'node_modules/scanforge'), 'dir');
    symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(scratch, 'node_modules/@types/node'), 'dir');
    writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'research', private: true, type: 'module' }));
    // out/ is ignored by git and by tsc -p .: a scaffold there cannot leak into the checkout.
    mkdirSync(path.join(root, 'out'), { recursive: true });
    inRepo = mkdtempSync(path.join(root, 'out', 'new-test-'));
  }, TIMEOUT);

  afterAll(() => {
    gpu?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (inRepo) rmSync(inRepo, { recursive: true, force: true });
  });

  it('in a package that depends on scanforge: examples/<name>.ts importing from scanforge, which loads and passes check', async () => {
    const file = newProgram('my_scan', { cwd: scratch, root });
    expect(file).toBe(path.join(scratch, 'examples/my_scan.ts'));
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^import \{ program, f32, exp, sum \} from 'scanforge';$/m);
    for (const topic of ['DIMS', 'STATIC DIMS', 'TENSORS', 'STATE', 'AXES', 'STEP', 'SCHEDULE', 'CHECK DIMS']) expect(text).toContain(`// ${topic}:`);

    const p = await loadProgram(file);
    expect(p.name).toBe('my_scan');
    expect(p.inputs.filter((t) => t.optional).map((t) => t.name)).toEqual(['D']);
    const lines: string[] = [];
    const ok = await checkProgram(gpu, p, { dims: {}, seed: 42, log: (l) => lines.push(l) });
    expect(ok, lines.join('\n')).toBe(true);
    // Both variants ran and compared y (and h_final in the full one).
    expect(lines.filter((l) => /\bok\s+y\s/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /\bok\s+h_final\s/.test(l))).toHaveLength(1);
  }, TIMEOUT);

  it('type-checks under strict tsc in that package', async () => {
    writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
        allowImportingTsExtensions: true, // scanforge's sources import some of their files as './x.ts'
      },
      include: ['examples'],
    }));
    const out = await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch }).then(
      () => '',
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    // scanforge's own sources are type-checked by `tsc -p .` in the checkout; the scaffold is this test's business.
    expect(out.split(/\n(?=\S)/).filter((d) => d.startsWith('examples/')).join('\n')).toBe('');
  }, TIMEOUT);

  it('inside the checkout: imports the DSL by relative path, and loads', async () => {
    const file = newProgram('in_repo', { cwd: root, out: path.relative(root, path.join(inRepo, 'deeper/in_repo.ts')), root });
    expect(readFileSync(file, 'utf8')).toMatch(/^import \{ program, f32, exp, sum \} from '\.\.\/\.\.\/\.\.\/dsl\/index\.js';$/m);
    expect((await loadProgram(file)).name).toBe('in_repo');
  }, TIMEOUT);

  it('never overwrites, and rejects a name that cannot name kernels and functions', async () => {
    const file = path.join(scratch, 'mine.ts');
    writeFileSync(file, '// my work\n');
    expect(() => newProgram('gla', { cwd: scratch, out: 'mine.ts', root })).toThrow(/mine\.ts already exists, and new never overwrites/);
    expect(readFileSync(file, 'utf8')).toBe('// my work\n');
    expect(() => newProgram('my_scan', { cwd: scratch, root })).toThrow(/examples\/my_scan\.ts already exists/);
    expect(() => newProgram('2fast', { cwd: scratch, root })).toThrow(/'2fast' is not a program name/);
    expect(() => newProgram('gla-v2', { cwd: scratch, root })).toThrow(/'gla-v2' is not a program name/);
  });

  it('is a CLI command: scanforge new <name> --out FILE', async () => {
    const file = path.join(scratch, 'cli/gla.ts');
    const log: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => { log.push(a.join(' ')); };
    try {
      expect(await main(['new', 'gla', '--out', file])).toBe(0);
    } finally {
      console.log = orig;
    }
    expect(readFileSync(file, 'utf8')).toContain("name: 'gla',");
    expect(log.join('\n')).toMatch(/wrote .*cli\/gla\.ts: edit it, then scanforge check /);
    await expect(main(['new', 'gla', '--out', file])).rejects.toThrow(/already exists/);
  });
});
