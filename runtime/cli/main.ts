// The scanforge command line: build | check | check-all | tune | new | bench.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrograms } from '../../dsl/load.js';
import type { DType } from '../../dsl/decl.js';
import type { LoweringName, Target } from '../../codegen/compile.js';
import { openBackend, type BackendChoice } from '../open-backend.js';
import { parseArgs, parseShape, ssdOptions } from './args.js';
import { buildProgram } from './build.js';
import { checkProgram } from './check.js';
import { newProgram } from './new.js';
import { parseBudget, parseScheduleOption, parseSpace, scheduleOverride, tunePrograms } from './tune.js';
import { TuneCache } from '../tune/cache.js';
import { tunedBaker } from '../tune/bake.js';
import type { TuneMode } from '../tune/search.js';

const USAGE = `usage:
  scanforge build <program.ts> [--target wgsl,cuda] [--out DIR] [--shape name=value,...] [--dtype f32|f16|bf16] [--wgsl-subgroups]
                 [--lowering diagonal-scan|ssd|sequential]       (sequential: the decode-step kernels, any program)
                 [--schedule 'lanes=8;items=2;rows=8']           (knobs set over the program's default schedule)
                 [--ssd-form fused|chunked|wgmma]                (SSD programs; wgmma: CUDA on sm_90a, bf16/f16)
                 [--f32-products tf32x3|fma]                     (SSD programs, CUDA, fp32: split tf32 on the tensor cores (default) or the FMA units)
  scanforge check <program.ts> [--backend auto|webgpu|cuda] [--shape name=value,...] [--seed N] [--dtype f32|f16|bf16] [--lowering diagonal-scan|ssd|sequential]
                 [--schedule 'knob=value;...'] [--ssd-form fused|chunked|wgmma] [--f32-products tf32x3|fma]
  scanforge check-all [--backend auto|webgpu|cuda] [--out DIR]   build and check every program in examples/
  scanforge tune <program.ts> [--backend auto|webgpu|cuda] --shape name=value,... [--budget 60s] [--dtype f32|f16|bf16]
                 [--mode auto|exhaustive|guided] [--space 'threads=32,64;rows=1,2'] [--present a,b|none] [--init s] [--final s]
                 [--reps N] [--cache FILE] [--force]
  scanforge build ... --tuned [--tune-cache FILE]                 also bake the tune cache's winners into the manifests
  scanforge new <name> [--out FILE]                              scaffold a commented program (examples/<name>.ts); never overwrites
  scanforge bench                                                (not yet: benchmarks live in bench/)`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function dtypeOf(s: string | undefined): DType | undefined {
  if (s === undefined) return undefined;
  if (s === 'f32' || s === 'f16' || s === 'bf16') return s;
  throw new Error(`--dtype must be f32, f16 or bf16, got '${s}'`);
}

function loweringOf(s: string | undefined): LoweringName | undefined {
  if (s === undefined) return undefined;
  if (s === 'diagonal-scan' || s === 'ssd' || s === 'sequential') return s;
  throw new Error(`--lowering must be diagonal-scan, ssd or sequential, got '${s}'`);
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
    const dtype = dtypeOf(o.get('dtype'));
    const tuned = o.has('tuned') ? tunedBaker(TuneCache.open({ path: o.get('tune-cache') }), out, dtype, (l) => console.log(l)) : undefined;
    const schedule = { ...scheduleOverride(p, parseScheduleOption(o.get('schedule'))), ...ssdOptions(o) };
    const ms = buildProgram(p, { targets: targetsOf(o.get('target')), out, dims: parseShape(o.get('shape')), dtype, wgslSubgroups: o.has('wgsl-subgroups'), tuned, lowering: loweringOf(o.get('lowering')), schedule });
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
          lowering: loweringOf(o.get('lowering')),
          schedule: { ...scheduleOverride(p, parseScheduleOption(o.get('schedule'))), ...ssdOptions(o) },
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

async function tuneCmd(file: string, o: Map<string, string>): Promise<boolean> {
  const list = (s: string | undefined): string[] => (s ?? '').split(',').map((x) => x.trim()).filter((x) => x && x !== 'none');
  const programs = await loadPrograms(file);
  const backend = await openBackend(backendOf(o.get('backend')));
  try {
    console.log(`backend: ${backend.kind} on ${backend.deviceName}`);
    return await tunePrograms(backend, programs, {
      dims: parseShape(o.get('shape')),
      dtype: dtypeOf(o.get('dtype')),
      budgetMs: parseBudget(o.get('budget')),
      mode: modeOf(o.get('mode')),
      space: parseSpace(o.get('space')),
      present: o.has('present') ? list(o.get('present')) : undefined,
      initStates: list(o.get('init')),
      finalStates: list(o.get('final')),
      cachePath: o.get('cache'),
      force: o.has('force'),
      reps: repsOf(o.get('reps')),
      log: (l) => console.log(l),
    });
  } finally {
    backend.destroy();
  }
}

function repsOf(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--reps must be a positive integer, got '${s}'`);
  return n;
}

function modeOf(s: string | undefined): TuneMode {
  const m = s ?? 'auto';
  if (m === 'auto' || m === 'exhaustive' || m === 'guided') return m;
  throw new Error(`--mode must be auto, exhaustive or guided, got '${m}'`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const { positional, options } = parseArgs(rest, ['wgsl-subgroups', 'tuned', 'force']);
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
    case 'new': {
      if (positional.length !== 1) throw new Error('new takes one program name, e.g. scanforge new gla');
      const file = newProgram(positional[0]!, { out: options.get('out'), cwd: process.cwd(), root });
      console.log(`wrote ${path.relative(process.cwd(), file)}: edit it, then scanforge check ${path.relative(process.cwd(), file)}`);
      return 0;
    }
    case 'tune':
      if (positional.length !== 1) throw new Error('tune takes one program file');
      return (await tuneCmd(positional[0]!, options)) ? 0 : 1;
    case 'bench':
      console.error(`scanforge ${cmd}: not yet (benchmarks live in bench/; see README)`);
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
