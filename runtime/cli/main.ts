// The scanforge command line: build | check | check-all | tune | bench.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrograms } from '../../dsl/load.js';
import type { DType } from '../../dsl/decl.js';
import type { Target } from '../../codegen/compile.js';
import { openBackend, type BackendChoice } from '../open-backend.js';
import { parseArgs, parseShape } from './args.js';
import { buildProgram } from './build.js';
import { checkProgram } from './check.js';

const USAGE = `usage:
  scanforge build <program.ts> [--target wgsl,cuda] [--out DIR] [--shape name=value,...] [--dtype f32|f16|bf16] [--wgsl-subgroups]
  scanforge check <program.ts> [--backend auto|webgpu|cuda] [--shape name=value,...] [--seed N] [--dtype f32|f16|bf16]
  scanforge check-all [--backend auto|webgpu|cuda] [--out DIR]   build and check every program in examples/
  scanforge tune | bench                                         (not yet: see the autotuner issue and bench/)`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function dtypeOf(s: string | undefined): DType | undefined {
  if (s === undefined) return undefined;
  if (s === 'f32' || s === 'f16' || s === 'bf16') return s;
  throw new Error(`--dtype must be f32, f16 or bf16, got '${s}'`);
}

function backendOf(s: string | undefined): BackendChoice {
  const b = s ?? 'auto';
  if (b === 'auto' || b === 'webgpu' || b === 'cuda') return b;
  throw new Error(`--backend must be auto, webgpu or cuda, got '${b}'`);
}

function targetsOf(s: string | undefined): Target[] {
  const ts = (s ?? 'wgsl,cuda').split(',').map((x) => x.trim());
  for (const t of ts) if (t !== 'wgsl' && t !== 'cuda') throw new Error(`--target takes wgsl and/or cuda, got '${t}'`);
  return ts as Target[];
}

async function build(file: string, o: Map<string, string>): Promise<void> {
  for (const p of await loadPrograms(file)) {
    const out = o.get('out') ?? path.join('out', p.name);
    const ms = buildProgram(p, { targets: targetsOf(o.get('target')), out, dims: parseShape(o.get('shape')), dtype: dtypeOf(o.get('dtype')), wgslSubgroups: o.has('wgsl-subgroups') });
    console.log(`${p.name}: ${ms.length} kernels (${[...new Set(ms.map((m) => m.lowering))].join(', ')}) → ${out}`);
  }
}

async function check(files: string[], o: Map<string, string>): Promise<boolean> {
  const backend = await openBackend(backendOf(o.get('backend')));
  try {
    console.log(`backend: ${backend.kind} on ${backend.deviceName}`);
    let ok = true;
    for (const file of files) {
      for (const p of await loadPrograms(file)) {
        ok = (await checkProgram(backend, p, {
          dims: parseShape(o.get('shape')),
          seed: Number(o.get('seed') ?? Date.now() % 100000),
          dtype: dtypeOf(o.get('dtype')),
          log: (l) => console.log(l),
        })) && ok;
      }
    }
    console.log(ok ? 'check: all within tolerance' : 'check: FAILED');
    return ok;
  } finally {
    backend.destroy();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const { positional, options } = parseArgs(rest, ['wgsl-subgroups']);
  switch (cmd) {
    case 'build':
      if (positional.length !== 1) throw new Error('build takes one program file');
      await build(positional[0]!, options);
      return 0;
    case 'check':
      if (positional.length !== 1) throw new Error('check takes one program file');
      return (await check(positional, options)) ? 0 : 1;
    case 'check-all': {
      const dir = path.join(root, 'examples');
      const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort().map((f) => path.join(dir, f));
      for (const f of files) await build(f, new Map([...options].filter(([k]) => k !== 'backend')));
      return (await check(files, options)) ? 0 : 1;
    }
    case 'tune':
    case 'bench':
      console.error(`scanforge ${cmd}: not yet (the autotuner lands with its own issue; benchmarks live in bench/)`);
      return 2;
    default:
      console.error(USAGE);
      return cmd === undefined || cmd === '--help' || cmd === 'help' ? 0 : 2;
  }
}

const invoked = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`scanforge: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
