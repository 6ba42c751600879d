// Turns a program file into IR: the declarations come from importing the file
// (they are ordinary data), the step from parsing it with ts-morph.

import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { DslError } from './errors.js';
import type { ProgramDecl, TensorSpec } from './decl.js';
import type { IndexIR, Program, StateIR, TensorIR } from './ir.js';
import { findStep, loadSourceFile, locOf, parseStep, type NameKind, type StepContext } from './parse-step.js';

function isProgramDecl(x: unknown): x is ProgramDecl {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'scanforge-program';
}

/** Loads every program a file exports (default export first). */
export async function loadPrograms(file: string): Promise<Program[]> {
  const abs = path.resolve(file);
  const mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  const decls = Object.entries(mod)
    .sort(([a], [b]) => (a === 'default' ? -1 : b === 'default' ? 1 : 0))
    .map(([, v]) => v)
    .filter(isProgramDecl);
  const unique = [...new Set(decls)];
  if (unique.length === 0) throw new Error(`${abs}: exports no program(...) (export default program({...}))`);
  return unique.map((d) => buildProgram(abs, d));
}

/** Loads the one program of a file (its default export, or its only program). */
export async function loadProgram(file: string): Promise<Program> {
  return (await loadPrograms(file))[0]!;
}

export function buildProgram(file: string, decl: ProgramDecl): Program {
  const s = decl.spec;
  const sf = loadSourceFile(file);
  const stepNode = findStep(sf, s.name);
  const progLoc = locOf(stepNode);
  const fail = (msg: string): never => {
    throw new DslError(progLoc, `program '${s.name}': ${msg}`);
  };
  const dims = [...s.dims];
  const dimSet = new Set(dims);
  const checkShape = (what: string, t: TensorSpec): string[] => {
    for (const d of t.shape) if (!dimSet.has(d)) fail(`${what} uses dim '${d}', which is not in dims [${dims.join(', ')}]`);
    return [...t.shape];
  };
  const inputs: TensorIR[] = Object.entries(s.inputs).map(([name, t]) => ({
    name, dtype: t.dtype, shape: checkShape(`input ${name}`, t), optional: t.optional, role: 'input', dist: t.dist,
  }));
  const outputs: TensorIR[] = Object.entries(s.outputs).map(([name, t]) => {
    if (t.optional) fail(`output ${name} cannot be optional`);
    return { name, dtype: t.dtype, shape: checkShape(`output ${name}`, t), optional: false, role: 'output', dist: t.dist };
  });
  const state: StateIR[] = Object.entries(s.state).map(([name, t]) => ({
    name, dtype: t.dtype, shape: checkShape(`state ${name}`, t), init: `${name}_init`, final: `${name}_final`,
  }));
  if (state.some((st) => st.dtype !== 'f32')) fail('state is always f32 (accumulation precision)');
  const flags = { ...(s.flags ?? {}) };

  const names = new Map<string, NameKind>();
  const shapes = new Map<string, string[]>();
  const claim = (n: string, k: NameKind): void => {
    if (names.has(n)) fail(`'${n}' is declared twice (as ${names.get(n)} and ${k})`);
    names.set(n, k);
  };
  for (const t of inputs) { claim(t.name, 'input'); shapes.set(t.name, t.shape); }
  for (const t of outputs) { claim(t.name, 'output'); shapes.set(t.name, t.shape); }
  for (const st of state) { claim(st.name, 'state'); shapes.set(st.name, st.shape); }
  for (const f of Object.keys(flags)) claim(f, 'flag');
  for (const d of dims) claim(d, 'dim');

  const ctx: StepContext = {
    names, shapes,
    optionalInputs: new Set(inputs.filter((t) => t.optional).map((t) => t.name)),
    parallel: [...s.parallel],
    scan: s.scan,
  };
  const parsed = parseStep(stepNode, ctx);

  const indices: Record<string, IndexIR> = {};
  for (const [v, dim] of parsed.indexDims) {
    const role = s.parallel.includes(v) ? 'parallel' : v === s.scan ? 'scan' : 'state';
    indices[v] = { name: v, dim, role };
  }
  for (const v of [...s.parallel, s.scan]) {
    if (!indices[v]) fail(`index '${v}' is never used to index a tensor, so its range is unknown`);
  }
  const staticDims = { ...(s.static ?? {}) };
  for (const st of state) for (const d of st.shape) {
    if (staticDims[d] === undefined) fail(`state dim '${d}' needs a default value in static: { ${d}: ... } (kernels are specialised on state sizes)`);
  }
  const knob = (k: number | readonly number[] | undefined, dflt: number[]): number[] => (k === undefined ? dflt : typeof k === 'number' ? [k] : [...k]);
  return {
    name: s.name,
    file,
    dims,
    staticDims,
    inputs,
    outputs,
    state,
    flags,
    parallel: [...s.parallel],
    scan: s.scan,
    indices,
    step: parsed.stmts,
    schedule: {
      threads: knob(s.schedule?.threads, [128]),
      items: knob(s.schedule?.items, [4]),
      rows: knob(s.schedule?.rows, [1]),
      rowBlock: knob(s.schedule?.rowBlock, [1]),
      lanes: knob(s.schedule?.lanes, [1]),
      shuffle: knob(s.schedule?.shuffle, [0]),
      tileChunks: knob(s.schedule?.tileChunks, [1]),
      prefetch: knob(s.schedule?.prefetch, [0]),
      scatter: knob(s.schedule?.scatter, [0]),
      stage: knob(s.schedule?.stage, [0]),
      segment: knob(s.schedule?.segment, [0]),
      chunk: knob(s.schedule?.chunk, [64]),
    },
    requires: s.requires ?? [],
    checkDims: { ...(s.checkDims ?? {}) },
    loc: parsed.loc,
  };
}
