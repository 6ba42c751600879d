// `scanforge new <name>`: a program file to start a new variant from. It is
// the smallest complete program (a diagonal linear recurrence with one
// optional input), commented so that a researcher reads, in order, what
// dims, tensors, state, the step and the schedule mean; it loads and passes
// `scanforge check` as written, so every edit starts from a working program.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface NewOptions {
  /** Where to write (default examples/<name>.ts under cwd). */
  out?: string;
  cwd: string;
  /** The scanforge checkout: a file inside it imports the DSL by relative path, one outside from 'scanforge'. */
  root: string;
}

/** Writes the scaffold and returns its path; refuses to overwrite. */
export function newProgram(name: string, opts: NewOptions): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`'${name}' is not a program name (letters, digits and _, not starting with a digit): it names kernels, files and the wrapper function`);
  }
  const file = path.resolve(opts.cwd, opts.out ?? path.join('examples', `${name}.ts`));
  const fromRoot = path.relative(opts.root, file);
  const inside = !fromRoot.startsWith('..') && !path.isAbsolute(fromRoot);
  let from = 'scanforge';
  if (inside) {
    from = path.relative(path.dirname(file), path.join(opts.root, 'dsl/index.js')).split(path.sep).join('/');
    if (!from.startsWith('.')) from = `./${from}`;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, scaffold(name, from, path.relative(opts.cwd, file).split(path.sep).join('/')), { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} already exists, and new never overwrites: pick another name or --out FILE`);
    throw e;
  }
  return file;
}

/** The program text: `name` is the program, `from` where it imports the DSL, `rel` how the commands name the file. */
export function scaffold(name: string, from: string, rel: string): string {
  return `// ${name}: a scanforge program, scaffolded by \`scanforge new ${name}\`. Edit it.
//
// A program is ONE step of a recurrence that runs along a scan axis (time),
// independently for every element of its parallel axes (batch, channel,
// head, ...). scanforge never runs the step: it parses it, checks it, works
// out what kind of recurrence it is, and writes WGSL and CUDA kernels for it.
//
// As scaffolded it is the simplest diagonal linear recurrence (S4D/Mamba-like):
//   h[n] = exp(logA[d][n]) · h[n] + B[b][d][t][n] · x[b][d][t]   for every state element n
//   y[b][d][t] = Σ_n C[b][d][t][n] · h[n]  (+ D[d] · x[b][d][t] when D is given)
// It passes the check below as written; change one thing at a time and check again.
//
//   npx scanforge check ${rel}                     kernels vs the float64 reference (exit 1 if out of tolerance)
//   npx scanforge build ${rel} --out kernels/${name}   kernels, manifests and a typed module kernels/${name}/${name}.ts
//   npx scanforge tune ${rel} --shape batch=4,dim=512,seqlen=4096   search the schedule below on this device
import { program, f32, exp, sum } from '${from}';

export default program({
  // Names the kernels, the files \`build\` writes and the typed wrapper's function.
  name: '${name}',

  // DIMS: every size a tensor's shape uses. A call takes them from the
  // tensors it passes, and checks that the tensors agree.
  dims: ['batch', 'dim', 'seqlen', 'dstate'],

  // STATIC DIMS: sizes the kernels are specialised on (like C++ template
  // parameters). Every dim of a state must be static; the number is its
  // default (\`--shape dstate=16\` builds or checks another size).
  static: { dstate: 8 },

  // TENSORS: f32(...dims) is an fp32 tensor, row-major, with those dims in
  // that order (f16 / bf16 exist too; state and arithmetic stay fp32).
  //   .normal(mean, std) / .uniform(lo, hi): how \`check\` draws random inputs.
  //      Give realistic magnitudes: a decay above 1 blows any recurrence up.
  //   .optionalInput(): the step tests it with \`if (D) { ... }\`; every
  //      combination of given / not given gets its own kernel.
  inputs: {
    x: f32('batch', 'dim', 'seqlen'),
    // log of the decay; ≤ 0 keeps 0 < exp(logA) ≤ 1, a stable recurrence.
    logA: f32('dim', 'dstate').uniform(-1, -0.01),
    B: f32('batch', 'dim', 'seqlen', 'dstate'),
    C: f32('batch', 'dim', 'seqlen', 'dstate'),
    D: f32('dim').optionalInput(),
  },
  outputs: { y: f32('batch', 'dim', 'seqlen') },

  // STATE: carried along the scan axis, one per element of the parallel
  // axes, shaped by its own (static) dims; always fp32. Each state h also
  // gets an optional input h_init and an optional output h_final, shaped
  // (parallel dims..., state dims...) = (batch, dim, dstate) here, which is
  // how a long sequence is run in pieces.
  state: { h: f32('dstate') },

  // FLAGS (optional): compile-time switches the step tests with \`if (flag)\`,
  // e.g. flags: { gated: true }; each setting gets its own kernel.

  // AXES: the step's index variables. Every combination of the parallel ones
  // runs independently; the scan one is walked in order. Any other index
  // variable (n below) ranges over the dim of the tensor position it indexes.
  parallel: ['b', 'd'],
  scan: 't',

  // STEP: one time step in index notation; parsed, never run.
  //   h[n] = ...      updates every n at once (reads on the right see the old h)
  //   sum(n, e)       Σ over n;  exp log sqrt tanh sigmoid softplus silu pow max min ... from the DSL
  //   const / let     name a value;  if (D) / if (flag) are compile-time only
  // A mistake is reported at this file's line and column.
  step({ b, d, t, n }, { x, logA, B, C, D, y, h }) {
    h[n] = exp(logA[d][n]) * h[n] + B[b][d][t][n] * x[b][d][t];
    let out = sum(n, C[b][d][t][n] * h[n]);
    if (D) out = out + D[d] * x[b][d][t];
    y[b][d][t] = out;
  },

  // REQUIREMENTS (optional): checked before any launch, the message is the error.
  // requires: [[({ dim }) => dim % 2 === 0, 'dim must be even']],

  // SCHEDULE: each knob is a number or a list of candidates for \`scanforge tune\`;
  // the first is the default. \`threads\` cooperate along the scan, each owning
  // \`items\` consecutive steps (one chunk = threads × items steps); \`rows\` is
  // how many rows of the parallel axes share a workgroup.
  schedule: { threads: [64, 128, 32], items: [4, 2, 8], rows: [1, 2] },

  // CHECK DIMS: what \`scanforge check\` runs (\`--shape\` overrides). Keep them
  // small and NOT multiples of the chunk, so ragged tails are checked too.
  checkDims: { batch: 2, dim: 3, seqlen: 300, dstate: 8 },
});
`;
}
