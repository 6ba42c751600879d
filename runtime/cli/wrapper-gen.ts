// The typed TypeScript module `scanforge build` writes beside a program's
// kernels: input and output types derived from the program's tensors and
// dims, and one async function that validates a call and runs the prebuilt
// kernel of the variant the call selects (runtime/prebuilt/program.ts does
// the work; the module carries the types, the program's signature and the
// index of manifests this build wrote). Written with ts-morph's structures
// and code writer, so the output is formatted and quoted by one printer.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { IndentationText, Project, QuoteKind, VariableDeclarationKind, Writers, type CodeBlockWriter, type WriterFunction } from 'ts-morph';
import type { Program } from '../../dsl/ir.js';
import { signatureOf, stateTensorShape } from '../signature.js';
import type { BuildOptions, Manifest } from './build.js';
import { requiresSource } from './requires-source.js';

/** Names the module itself exports; the function must not take one of them. */
const OWN_NAMES = new Set(['Dim', 'State', 'Inputs', 'FinalStates', 'Outputs', 'Options', 'prebuilt']);
const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await'.split(' '),
);

/** `selective_scan` → `selectiveScan`: the function a caller imports. */
export function wrapperFunctionName(programName: string): string {
  const words = programName.split(/[^A-Za-z0-9]+/).filter(Boolean);
  let name = words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
  if (!/^[A-Za-z]/.test(name)) name = `run${name[0]?.toUpperCase() ?? ''}${name.slice(1)}`;
  return OWN_NAMES.has(name) || RESERVED.has(name) ? `${name}Kernel` : name;
}

/** File name of the module for a program, inside the build's output directory. */
export function wrapperFileName(programName: string): string {
  return `${programName.replace(/[^A-Za-z0-9_]/g, '_')}.ts`;
}

/** Writes the module into opts.out and returns its path. */
export function writeWrapper(p: Program, manifests: Manifest[], opts: Pick<BuildOptions, 'out' | 'dtype'>): string {
  const file = path.join(opts.out, wrapperFileName(p.name));
  writeFileSync(file, wrapperSource(p, manifests, opts));
  return file;
}

/** `{ data: Float32Array; shape: readonly [batch: number, ...] }` for a tensor over `dims`. */
function tensorType(dims: readonly string[]): WriterFunction {
  return Writers.objectType({
    properties: [
      { name: 'data', type: 'Float32Array' },
      { name: 'shape', type: `readonly [${dims.map((d) => `${d}: number`).join(', ')}]` },
    ],
  });
}

function union(names: readonly string[]): string | WriterFunction {
  if (names.length === 0) return 'never';
  const [a, ...rest] = names.map((n) => (w: CodeBlockWriter) => void w.quote(n));
  return rest.length === 0 ? a! : Writers.unionType(a!, rest[0]!, ...rest.slice(1));
}

/** Short objects and arrays of plain values go on one line; the rest one entry per line. */
function fitsOnOneLine(v: unknown): boolean {
  const plain = (x: unknown): boolean => typeof x !== 'object' || x === null || Object.values(x).every(plain);
  return plain(v) && JSON.stringify(v).length <= 110;
}

/** Writes plain data (the signature, the manifest index) as a TypeScript literal. */
function writeValue(w: CodeBlockWriter, v: unknown): void {
  if (typeof v === 'string') w.quote(v);
  else if (typeof v === 'number' || typeof v === 'boolean') w.write(String(v));
  else if (Array.isArray(v)) {
    if (fitsOnOneLine(v)) {
      w.write('[');
      v.forEach((x, i) => { if (i) w.write(', '); writeValue(w, x); });
      w.write(']');
    } else {
      w.write('[').indent(() => v.forEach((x) => { writeValue(w, x); w.write(',').newLine(); })).write(']');
    }
  } else if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    const key = (k: string): void => { if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k)) w.write(k); else w.quote(k); };
    if (entries.length === 0) w.write('{}');
    else if (fitsOnOneLine(v)) {
      w.write('{ ');
      entries.forEach(([k, x], i) => { if (i) w.write(', '); key(k); w.write(': '); writeValue(w, x); });
      w.write(' }');
    } else {
      w.write('{').indent(() => {
        for (const [k, x] of entries) { key(k); w.write(': '); writeValue(w, x); w.write(',').newLine(); }
      }).write('}');
    }
  } else throw new Error(`internal: cannot write ${String(v)} as a literal`);
}

export function wrapperSource(p: Program, manifests: Manifest[], opts: Pick<BuildOptions, 'out' | 'dtype'>): string {
  const fn = wrapperFunctionName(p.name);
  const out = path.resolve(opts.out);
  const programFile = path.relative(out, p.file).split(path.sep).join('/');
  const sig = signatureOf(p);
  const states = p.state.map((s) => s.name);
  const flagNames = Object.keys(p.flags);

  const kernels: Record<string, Record<string, string>> = {};
  for (const m of manifests) (kernels[m.variant] ??= {})[m.target] = `${m.entry}.${m.target}.json`;
  const distinct = (xs: string[]): string => [...new Set(xs)].join(', ');
  const targets = distinct(manifests.map((m) => m.target));
  const schedules = distinct(manifests.map((m) => Object.entries(m.schedule).map(([k, v]) => `${k}=${v}`).join(' ')));
  const staticDims = Object.entries(p.staticDims).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  const requires = requiresSource(p);

  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single },
  });
  const sf = project.createSourceFile(`/${wrapperFileName(p.name)}`);

  sf.addImportDeclaration({ moduleSpecifier: 'scanforge/prebuilt', namedImports: ['PrebuiltProgram', { name: 'Backend', isTypeOnly: true }] });
  sf.insertStatements(0, [
    `// Generated by \`scanforge build\` from ${programFile} (program '${p.name}'); do not edit, build again.`,
    `// Calls the kernels built beside this file: ${Object.keys(kernels).length} variants × ${targets}. ESM; run it with tsx.`,
  ]);

  sf.addTypeAlias({ name: 'Dim', isExported: true, type: union(p.dims), docs: [`The dims of ${p.name}.`] });
  sf.addTypeAlias({ name: 'State', isExported: true, type: union(states), docs: [`The states ${p.name} carries along its scan axis '${p.scan}'.`] });

  sf.addInterface({
    name: 'Inputs',
    isExported: true,
    docs: [`Inputs of ${fn}: fp32 host data, row-major, converted to each kernel's dtype on upload.`],
    properties: [
      ...p.inputs.map((t) => ({
        name: t.name,
        hasQuestionToken: t.optional,
        type: tensorType(t.shape),
        docs: [`${t.optional ? 'Optional. ' : ''}${t.dtype} [${t.shape.join(', ')}]`],
      })),
      ...p.state.map((s) => ({
        name: s.init,
        hasQuestionToken: true,
        type: tensorType(stateTensorShape(sig, s)),
        docs: [`Initial value of state ${s.name}, f32 [${stateTensorShape(sig, s).join(', ')}]; zero when left out.`],
      })),
    ],
  });

  sf.addInterface({
    name: 'FinalStates',
    isExported: true,
    docs: ['Final values of the states, returned for the states named in `finalStates`.'],
    properties: p.state.map((s) => ({ name: s.final, type: tensorType(stateTensorShape(sig, s)), docs: [`f32 [${stateTensorShape(sig, s).join(', ')}]`] })),
  });

  sf.addTypeAlias({
    name: 'Outputs',
    isExported: true,
    typeParameters: [{ name: 'F', constraint: 'State', default: 'never' }],
    docs: [`What ${fn} returns: every output, and \`\${state}_final\` for each state in \`finalStates\`.`],
    type: Writers.intersectionType(
      Writers.objectType({ properties: p.outputs.map((t) => ({ name: t.name, type: tensorType(t.shape), docs: [`${t.dtype} [${t.shape.join(', ')}]`] })) }),
      'Pick<FinalStates, `${F}_final`>',
    ),
  });

  sf.addInterface({
    name: 'Options',
    isExported: true,
    typeParameters: [{ name: 'F', constraint: 'State', default: 'never' }],
    properties: [
      { name: 'finalStates', hasQuestionToken: true, type: 'readonly F[]', docs: ['States whose final value to return, as `${state}_final`.'] },
      ...(flagNames.length
        ? [{
            name: 'flags',
            hasQuestionToken: true,
            type: Writers.objectType({ properties: flagNames.map((f) => ({ name: f, hasQuestionToken: true, type: 'boolean' })) }),
            docs: [`Compile-time switches, each setting its own kernel. Defaults: ${flagNames.map((f) => `${f} = ${p.flags[f]}`).join(', ')}.`],
          }]
        : []),
      { name: 'dims', hasQuestionToken: true, type: 'Partial<Record<Dim, number>>', docs: ['Dims that no given tensor implies.'] },
      { name: 'backend', hasQuestionToken: true, type: 'Backend', docs: ['Where to run. Default: one shared backend (CUDA if a driver is there, else WebGPU), opened on first use.'] },
    ],
  });

  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: [`The program's signature and the manifests this build wrote, per variant and target (\`prebuilt.plan(...)\` says which kernel a call runs).`],
    declarations: [{
      name: 'prebuilt',
      initializer: (w) => {
        w.write('new PrebuiltProgram(').inlineBlock(() => {
          w.write('signature: ');
          const { requires: _fns, ...data } = sig;
          w.write('{').indent(() => {
            for (const [k, x] of Object.entries(data)) { w.write(`${k}: `); writeValue(w, x); w.write(',').newLine(); }
            w.write('requires: ').write(requires ?? '[]').write(',').newLine();
          }).write('},').newLine();
          w.writeLine("dir: new URL('.', import.meta.url),");
          w.write('kernels: '); writeValue(w, kernels); w.write(',').newLine();
          w.write('programFile: ').quote(programFile).write(',').newLine();
          if (opts.dtype) w.write('dtype: ').quote(opts.dtype).write(',').newLine();
        }).write(')');
      },
    }],
  });

  sf.addFunction({
    name: fn,
    isExported: true,
    isAsync: true,
    typeParameters: [{ name: 'F', constraint: 'State', default: 'never' }],
    parameters: [
      { name: 'inputs', type: 'Inputs' },
      { name: 'options', type: 'Options<F>', initializer: '{}' },
    ],
    returnType: 'Promise<Outputs<F>>',
    docs: [[
      `Runs ${p.name} (${distinct(manifests.map((m) => m.lowering))}; static dims ${staticDims}; schedule ${schedules}).`,
      'Checks every tensor first (name, rank, sizes against the other tensors and the program\'s requirements, Float32Array data)',
      'and says which tensor, what was expected and what came; then runs the prebuilt kernel of the variant the call selects',
      '(optional inputs and initial states given, final states asked, flags), compiling only when none fits (other static dims or target).',
    ].join('\n')],
    statements: (w) => { w.writeLine('return (await prebuilt.run(inputs, options)) as Outputs<F>;'); },
  });

  // The structures' writers indent nested object types from their own column; the formatter evens that out.
  sf.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true });
  return sf.getFullText();
}
