// The front end's rejections: every mistake in a step is reported as a
// DslError at the user's file, line and column, with a message that says what
// is wrong. Each case writes a small program file (one mistake in an otherwise
// valid Mamba-1 step) into a temporary folder inside the repository, so that
// its import of the DSL resolves the same way a user's program would.

import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel } from '../codegen/compile.ts';
import { DslError } from '../dsl/errors.ts';
import { loadProgram } from '../dsl/load.ts';
import { defaultVariant, fullVariant, specialize } from '../dsl/specialize.ts';
import { runReference } from '../runtime/reference/interpret.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const TMP_ROOT = join(REPO, 'test', '.tmp');

/** A Mamba-1 program whose step body is `body` (one statement per line). */
function programText(dslImport: string, body: string[], extraTop: string[] = []): string {
  return [
    `import { program, f32, exp, softplus, silu, sum, div, where, mod } from '${dslImport}';`,
    ...extraTop,
    '',
    'export default program({',
    "  name: 'broken_scan',",
    "  dims: ['batch', 'dim', 'seqlen', 'dstate', 'ngroups'],",
    '  static: { dstate: 16 },',
    '  inputs: {',
    "    u: f32('batch', 'dim', 'seqlen'),",
    "    delta: f32('batch', 'dim', 'seqlen').normal(-2, 1),",
    "    A: f32('dim', 'dstate').uniform(-1, -0.01),",
    "    B: f32('batch', 'ngroups', 'dstate', 'seqlen'),",
    "    C: f32('batch', 'ngroups', 'dstate', 'seqlen'),",
    "    D: f32('dim').optionalInput(),",
    "    z: f32('batch', 'dim', 'seqlen').optionalInput(),",
    "    delta_bias: f32('dim').optionalInput(),",
    '  },',
    "  outputs: { y: f32('batch', 'dim', 'seqlen') },",
    "  state: { h: f32('dstate') },",
    '  flags: { delta_softplus: true },',
    "  parallel: ['b', 'd'],",
    "  scan: 't',",
    '  step({ b, d, t, n }, { u, delta, A, B, C, D, z, delta_bias, delta_softplus, y, h, dim, ngroups }) {',
    '    // body',
    ...body.map((l) => `    ${l}`),
    '  },',
    '});',
    '',
  ].join('\n');
}

/** The valid Mamba-1 step, statement by statement. */
const GOOD = {
  g: 'const g = div(d, div(dim, ngroups));',
  dt: 'let dt = delta[b][d][t];',
  bias: 'if (delta_bias) dt = dt + delta_bias[d];',
  sp: 'if (delta_softplus) dt = softplus(dt);',
  h: 'h[n] = exp(dt * A[d][n]) * h[n] + dt * B[b][g][n][t] * u[b][d][t];',
  out: 'let out = sum(n, C[b][g][n][t] * h[n]);',
  D: 'if (D) out = out + D[d] * u[b][d][t];',
  z: 'if (z) out = out * silu(z[b][d][t]);',
  y: 'y[b][d][t] = out;',
};
const goodBody = (): string[] => Object.values(GOOD);

/** 1-based line and column of the first `marker` after the step's `// body` comment. */
function locate(text: string, marker: string): { line: number; column: number } {
  const start = text.indexOf('// body');
  const at = text.indexOf(marker, start);
  if (start < 0 || at < 0) throw new Error(`test bug: marker '${marker}' not in the program text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

describe('step parse errors', () => {
  let dir: string;
  let count = 0;

  beforeAll(() => {
    mkdirSync(TMP_ROOT, { recursive: true });
    dir = mkdtempSync(join(TMP_ROOT, 'parse-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    try {
      rmdirSync(TMP_ROOT); // only if empty: other test files may be using it
    } catch {
      /* not empty, or already gone */
    }
  });

  /** Writes a program file and returns its path and text. */
  function write(body: string[], extraTop: string[] = []): { file: string; text: string } {
    const file = join(dir, `prog${count++}.ts`);
    let dsl = relative(dirname(file), join(REPO, 'dsl', 'index.js'));
    if (!dsl.startsWith('.')) dsl = `./${dsl}`;
    const text = programText(dsl, body, extraTop);
    writeFileSync(file, text);
    return { file, text };
  }

  /** Loads the program and expects a DslError at `marker`, whose message matches `detail`. */
  async function expectError(body: string[], marker: string, detail: RegExp, extraTop: string[] = []): Promise<DslError> {
    const { file, text } = write(body, extraTop);
    const { line, column } = locate(text, marker);
    let caught: unknown;
    try {
      await loadProgram(file);
    } catch (e) {
      caught = e;
    }
    expect(caught, 'loadProgram should reject').toBeInstanceOf(DslError);
    const err = caught as DslError;
    expect(err.loc).toEqual({ file, line, column });
    expect(err.message.startsWith(`${file}:${line}:${column}: `), err.message).toBe(true);
    expect(err.message).toContain(basename(file));
    expect(err.detail).toMatch(detail);
    return err;
  }

  it('accepts the valid template (so every other case fails for its one mistake)', async () => {
    const { file } = write(goodBody());
    const p = await loadProgram(file);
    expect(p.name).toBe('broken_scan');
    expect(p.indices.n).toEqual({ name: 'n', dim: 'dstate', role: 'state' });
    expect(p.indices.t!.role).toBe('scan');
  }, 60_000);

  it('an unknown tensor name', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.y)] = 'y[b][d][t] = out + q[b][d][t];';
    await expectError(body, 'q[b][d][t]', /'q' is not an input or state of this program/);
  }, 60_000);

  it('the wrong number of indices', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.dt)] = 'let dt = delta[b][d][t] + u[b][t];';
    await expectError(body, 'u[b][t]', /u has 3 dims \(batch, dim, seqlen\), but 2 indices are given/);
  }, 60_000);

  it('the wrong number of indices on an assigned output', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.y)] = 'y[b][t] = out;';
    await expectError(body, 'y[b][t]', /y has 3 dims \(batch, dim, seqlen\), but 2 indices are given/);
  }, 60_000);

  it('an index that is not in scope (a state index in an output store, outside a sum)', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.y)] = 'y[b][d][t] = out + A[d][n];';
    const err = await expectError(body, 'n];', /index 'n' is not bound here/);
    expect(err.detail).toContain('sum(n, ...)');
  }, 60_000);

  it('reading an optional input outside if (x)', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.bias)] = 'dt = dt + delta_bias[d];';
    await expectError(body, 'delta_bias[d]', /delta_bias is optional: read it inside if \(delta_bias\)/);
  }, 60_000);

  it('reading an optional input in the else branch of its own test', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.D)] = 'if (D) { out = out + u[b][d][t]; } else { out = out + D[d]; }';
    await expectError(body, 'D[d]', /D is optional/);
  }, 60_000);

  it('assigning to an input', async () => {
    const body = goodBody();
    body.splice(body.indexOf(GOOD.y), 0, 'u[b][d][t] = out;');
    await expectError(body, 'u[b][d][t] = out', /only state and outputs can be assigned; 'u' is an input/);
  }, 60_000);

  it('a data-dependent if', async () => {
    const body = goodBody();
    body.splice(body.indexOf(GOOD.y), 0, 'if (u[b][d][t] > 0) out = out * 2;');
    await expectError(body, 'u[b][d][t] > 0', /if condition tests an optional input or a flag.*data-dependent branches are not supported/);
  }, 60_000);

  it('testing a required input in an if', async () => {
    const body = goodBody();
    body.splice(body.indexOf(GOOD.y), 0, 'if (u) out = out * 2;');
    await expectError(body, 'u) out', /'u' is a required input, so it is always present/);
  }, 60_000);

  it('an unknown function', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.sp)] = 'if (delta_softplus) dt = foo(dt);';
    // foo exists in the file (so the module imports) but is not a DSL function.
    const err = await expectError(body, 'foo(dt)', /unknown function 'foo'; available: .*softplus.*sum, div/, ['const foo = (x: number): number => x;']);
    expect(err.detail).toContain('silu');
  }, 60_000);

  it('a for loop statement', async () => {
    const body = goodBody();
    body.splice(body.indexOf(GOOD.out) + 1, 0, 'for (let i = 0; i < 2; i++) { out = out * 2; }');
    await expectError(body, 'for (let i', /'ForStatement' is not allowed in a step/);
  }, 60_000);

  it('a while loop statement', async () => {
    const body = goodBody();
    body.splice(body.indexOf(GOOD.out) + 1, 0, 'while (out > 1) { out = out / 2; }');
    await expectError(body, 'while (', /'WhileStatement' is not allowed in a step/);
  }, 60_000);

  it('an index variable used with inconsistent dims', async () => {
    const body = goodBody();
    // n ranges over dstate (h[n], A[d][n]); position 1 of u is dim.
    body[body.indexOf(GOOD.h)] = 'h[n] = exp(dt * A[d][n]) * h[n] + dt * B[b][g][n][t] * u[b][n][t];';
    await expectError(body, 'n][t];', /index 'n' ranges over dstate elsewhere, but position 1 of u is dim/);
  }, 60_000);

  it('reading an output', async () => {
    const body = goodBody();
    body.push('h[n] = h[n] + y[b][d][t];');
    await expectError(body, 'y[b][d][t];', /output y cannot be read in the step/);
  }, 60_000);

  it('a state written without its own index', async () => {
    const body = goodBody();
    body[body.indexOf(GOOD.h)] = 'h[d] = h[d] + u[b][d][t];';
    await expectError(body, 'd] = h[d]', /index 'd' is already bound here/);
  }, 60_000);

  it('accepts the same step written differently, and it computes the same (locals over n, +=, else if, &&, blocks)', async () => {
    const { file } = write([
      'const g = div(d, div(dim, ngroups));',
      'const dt0 = delta[b][d][t];',
      'let dt = dt0;',
      'if (delta_bias) { dt += delta_bias[d]; }',
      'if (delta_softplus) { dt = softplus(dt); } else { dt = dt * 1; }',
      'const dA = exp(dt * A[d][n]);',
      'const dBu = dt * B[b][g][n][t] * u[b][d][t];',
      'h[n] = dA * h[n] + dBu;',
      'const ch = C[b][g][n][t] * h[n];',
      'let out = sum(n, ch);',
      'if (D && z) { out = (out + D[d] * u[b][d][t]) * silu(z[b][d][t]); }',
      'else if (D) out += D[d] * u[b][d][t];',
      'else if (z) out *= silu(z[b][d][t]);',
      'y[b][d][t] = -(-out);',
    ]);
    const alt = await loadProgram(file);
    const ref = await loadProgram(join(REPO, 'examples', 'mamba1.ts'));
    const dims = { batch: 2, dim: 4, seqlen: 30, dstate: 4, ngroups: 2 };
    const size = (shape: string[]) => shape.reduce((a, d) => a * dims[d as keyof typeof dims], 1);
    const inputs: Record<string, Float64Array> = {};
    let s = 1;
    for (const t of [...ref.inputs, { name: 'h_init', shape: ['batch', 'dim', 'dstate'] }]) {
      inputs[t.name] = Float64Array.from({ length: size(t.shape) }, () => Math.sin(s++) * (t.name === 'A' ? -0.5 : 1) - (t.name === 'A' ? 0.6 : 0));
    }
    for (const present of [[], ['D'], ['z'], ['D', 'z'], ['D', 'z', 'delta_bias']]) {
      for (const delta_softplus of [true, false]) {
        const v = { present, flags: { delta_softplus }, initStates: ['h'], finalStates: ['h'] };
        const want = runReference(specialize(ref, v), dims, inputs);
        const got = runReference(specialize(alt, v), dims, inputs);
        for (const name of ['y', 'h_final']) {
          for (let i = 0; i < want[name]!.length; i++) expect(Math.abs(got[name]![i]! - want[name]![i]!)).toBeLessThan(1e-12);
        }
      }
    }
  }, 60_000);

  describe('a state update that is not linear', () => {
    const QUAD = [
      'const g = div(d, div(dim, ngroups));',
      'h[n] = h[n] * h[n] + u[b][d][t];',
      'y[b][d][t] = sum(n, C[b][g][n][t] * h[n]);',
    ];

    it('loads and runs in the reference; the chunked scan refuses it ("quadratic"), the sequential lowering takes it', async () => {
      const { file } = write(QUAD);
      const p = await loadProgram(file);
      expect(p.step.map((s) => s.k)).toEqual(['ilet', 'setState', 'store']);

      // Reference: tiny inputs, checked against a hand loop of h ← h² + u.
      const dims = { batch: 1, dim: 2, seqlen: 5, dstate: 3, ngroups: 1 };
      const sp = specialize(p, { ...defaultVariant(p), finalStates: ['h'] });
      const L = dims.seqlen, N = dims.dstate;
      const mk = (n: number, f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
      const inputs = {
        u: mk(dims.dim * L, (i) => 0.3 * Math.sin(i + 1)),
        delta: mk(dims.dim * L, () => 0),
        A: mk(dims.dim * N, () => 0),
        B: mk(N * L, () => 0),
        C: mk(N * L, (i) => 0.5 + 0.1 * i),
      };
      const out = runReference(sp, dims, inputs);
      for (let d = 0; d < dims.dim; d++) {
        const h = new Float64Array(N);
        for (let t = 0; t < L; t++) {
          const u = inputs.u[d * L + t]!;
          for (let n = 0; n < N; n++) h[n] = h[n]! * h[n]! + u;
          let y = 0;
          for (let n = 0; n < N; n++) y += inputs.C[n * L + t]! * h[n]!;
          expect(out.y![d * L + t]).toBeCloseTo(y, 14);
        }
        for (let n = 0; n < N; n++) expect(out.h_final![d * N + n]).toBeCloseTo(h[n]!, 14);
      }

      for (const target of ['wgsl', 'cuda'] as const) {
        const full = specialize(p, fullVariant(p));
        expect(() => compileKernel(full, target, { threads: 32, items: 1, lowering: 'diagonal-scan' }, { subgroups: false })).toThrow(/quadratic/);
        // Without a forced lowering it falls back to the sequential one, and the manifest's notes say why.
        const info = compileKernel(full, target, { threads: 32, items: 1 }, { subgroups: false });
        expect(info.lowering).toBe('sequential');
        expect(info.notes[0]).toMatch(/^sequential: no faster lowering fits: .*quadratic/);
      }
    }, 60_000);
  });

  describe('where(): selection by index', () => {
    it('a condition that reads data', async () => {
      const body = goodBody();
      body[body.indexOf(GOOD.y)] = 'y[b][d][t] = where(u[b][d][t] > 0, out, 0);';
      await expectError(body, 'u[b][d][t] > 0', /the condition of where compares index expressions .*'u\[b\]\[d\]\[t\]' is not one: where cannot select on data/);
    }, 60_000);

    it('a condition that is not a comparison', async () => {
      const body = goodBody();
      body[body.indexOf(GOOD.y)] = 'y[b][d][t] = where(d, out, 0);';
      await expectError(body, 'd, out, 0)', /the condition of where compares index expressions .*'d' is not such a comparison/);
    }, 60_000);

    it('the wrong number of arguments', async () => {
      const body = goodBody();
      body[body.indexOf(GOOD.y)] = 'y[b][d][t] = where(d < 2, out);';
      await expectError(body, 'where(d < 2, out)', /where takes a condition on indices and two values, e.g. where\(n < 2 \* angles, a, b\); got 2 arguments/);
    }, 60_000);

    it('an index in the condition that is not bound there', async () => {
      const body = goodBody();
      body[body.indexOf(GOOD.y)] = 'y[b][d][t] = where(n < 2, out, 0);';
      await expectError(body, 'n < 2', /index 'n' is not bound here/);
    }, 60_000);

    it('a non-integer index inside mod()', async () => {
      const body = goodBody();
      body[body.indexOf(GOOD.h)] = 'h[n] = exp(dt * A[d][mod(n, 1.5)]) * h[n] + dt * B[b][g][n][t] * u[b][d][t];';
      await expectError(body, '1.5', /index 1.5 is not an integer/);
    }, 60_000);

    it('an if on an index points to where()', async () => {
      const body = goodBody();
      body.splice(body.indexOf(GOOD.y), 0, 'if (d < 2) out = out * 2;');
      await expectError(body, 'd < 2', /data-dependent branches are not supported \(to choose a value by index, use where\(n < k, a, b\)\)/);
    }, 60_000);

    it('selects by parity and prefix, evaluates only the chosen branch, and agrees with a hand loop', async () => {
      // B of odd n is read from its even partner (index arithmetic), and only the first 4
      // elements are gated: A[d][n + 1] is out of range at n = dstate - 1, where it is not chosen.
      const { file } = write([
        'const g = div(d, div(dim, ngroups));',
        'const pair = n + 1 - 2 * mod(n, 2);',
        'const Bn = where(mod(n, 2) == 0, B[b][g][n][t], -B[b][g][pair][t]);',
        'const a = where(n < 4 && !(n >= 5), A[d][n + 1], A[d][n]);',
        'h[n] = exp(softplus(delta[b][d][t]) * a) * h[n] + Bn * u[b][d][t];',
        'y[b][d][t] = sum(n, C[b][g][n][t] * h[n]);',
      ]);
      const p = await loadProgram(file);
      const dims = { batch: 1, dim: 2, seqlen: 6, dstate: 6, ngroups: 1 };
      const sp = specialize(p, { ...defaultVariant(p), finalStates: ['h'] });
      const L = dims.seqlen, N = dims.dstate;
      const mk = (n: number, f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
      const x = {
        u: mk(dims.dim * L, (i) => Math.sin(i + 1)), delta: mk(dims.dim * L, (i) => Math.cos(i) - 2),
        A: mk(dims.dim * N, (i) => -0.1 - 0.05 * i), B: mk(N * L, (i) => Math.sin(3 * i)), C: mk(N * L, (i) => 0.5 + 0.1 * i),
      };
      const out = runReference(sp, dims, x);
      for (let d = 0; d < dims.dim; d++) {
        const h = new Float64Array(N);
        for (let t = 0; t < L; t++) {
          const dt = Math.log1p(Math.exp(x.delta[d * L + t]!));
          for (let n = 0; n < N; n++) {
            const Bn = n % 2 === 0 ? x.B[n * L + t]! : -x.B[(n - 1) * L + t]!;
            const a = n < 4 ? x.A[d * N + n + 1]! : x.A[d * N + n]!;
            h[n] = Math.exp(dt * a) * h[n]! + Bn * x.u[d * L + t]!;
          }
          let y = 0;
          for (let n = 0; n < N; n++) y += x.C[n * L + t]! * h[n]!;
          expect(out.y![d * L + t]).toBeCloseTo(y, 12);
        }
      }
      // The chosen branch is evaluated: an index that is out of range where it is chosen is an error.
      const { file: bad } = write([
        'const g = div(d, div(dim, ngroups));',
        'h[n] = exp(softplus(delta[b][d][t]) * where(n < 100, A[d][n + 1], 0)) * h[n] + u[b][d][t];',
        'y[b][d][t] = sum(n, C[b][g][n][t] * h[n]);',
      ]);
      const pBad = await loadProgram(bad);
      expect(() => runReference(specialize(pBad, defaultVariant(pBad)), dims, x)).toThrow(/index 6 out of range \[0, 6\) at position 1 of A/);
    }, 60_000);
  });
});
