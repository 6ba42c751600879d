// Per-item reads of consecutive positions become one vector load, and only
// those: other buffers, other bases, incomplete groups stay element loads.
import { describe, expect, it } from 'vitest';
import { vectorizeItemLoads } from '../codegen/lower/vectorize-loads.ts';
import type { PExpr, PStmt } from '../codegen/plan/ast.ts';

const v = (name: string): PExpr => ({ k: 'var', name });
const load = (buf: string, base: string, item: string): PStmt => ({ k: 'decl', name: `${buf}_${base}_${item}`, ty: 'f32', mut: false, init: { k: 'load', buf, index: { k: 'bin', op: '+', a: v(base), b: v(item) } } });
const items = ['t_0', 't_1', 't_2', 't_3'];
const f32 = (): number => 4;

describe('vectorizeItemLoads', () => {
  it('marks the vloads of eligible buffers aligned and records their widths; others keep the run-time check', () => {
    const stmts = ['t_0', 't_1', 't_2', 't_3'].flatMap((t) => [load('u', 'x3', t), load('w', 'x9', t)]);
    const widths = new Map<string, number>();
    const out = vectorizeItemLoads(stmts, items, 4, f32, { eligible: (b) => b === 'u', widths });
    expect(out).toHaveLength(2);
    expect(out.find((s) => s.k === 'vload' && s.buf === 'u')).toMatchObject({ aligned: true });
    expect(out.find((s) => s.k === 'vload' && s.buf === 'w')).not.toHaveProperty('aligned');
    expect([...widths]).toEqual([['u', 4]]);
  });
  it('groups four f32 loads of one buffer and base into one vload where the first was', () => {
    const stmts = [load('u', 'x3', 't_0'), load('d', 'x3', 't_0'), load('u', 'x3', 't_1'), load('u', 'x3', 't_2'), load('u', 'x3', 't_3')];
    const out = vectorizeItemLoads(stmts, items, 4, f32);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ k: 'vload', buf: 'u', names: ['u_x3_t_0', 'u_x3_t_1', 'u_x3_t_2', 'u_x3_t_3'] });
    expect(out[1]).toEqual(stmts[1]);
  });
  it('leaves a group alone when one item reads another base', () => {
    const stmts = [load('u', 'x3', 't_0'), load('u', 'x3', 't_1'), load('u', 'x9', 't_2'), load('u', 'x3', 't_3')];
    expect(vectorizeItemLoads(stmts, items, 4, f32)).toEqual(stmts);
  });
  it('splits 8 f32 items into two 16-byte loads, and 8 bf16 items into one', () => {
    const eight = Array.from({ length: 8 }, (_, k) => `t_${k}`);
    const stmts = eight.map((t) => load('B', 'x11', t));
    expect(vectorizeItemLoads(stmts, eight, 8, f32).map((s) => (s.k === 'vload' ? s.names.length : 0))).toEqual([4, 4]);
    expect(vectorizeItemLoads(stmts, eight, 8, () => 2).map((s) => (s.k === 'vload' ? s.names.length : 0))).toEqual([8]);
  });
  it('claims no alignment where the groups do not tile a thread\'s items (6 f32 items: 16-byte groups at 6·thread + 0)', () => {
    const six = Array.from({ length: 6 }, (_, k) => `t_${k}`);
    const widths = new Map<string, number>();
    const out = vectorizeItemLoads(six.map((t) => load('u', 'x3', t)), six, 6, f32, { eligible: () => true, widths });
    expect(out.find((s) => s.k === 'vload')).toMatchObject({ k: 'vload', names: ['u_x3_t_0', 'u_x3_t_1', 'u_x3_t_2', 'u_x3_t_3'] });
    expect(out.find((s) => s.k === 'vload')).not.toHaveProperty('aligned');
    expect(widths.size).toBe(0);
  });
  it('does nothing for one item per thread', () => {
    const stmts = [load('u', 'x3', 't_0')];
    expect(vectorizeItemLoads(stmts, ['t_0'], 1, f32)).toEqual(stmts);
  });
});

describe('Mamba-1 CUDA kernels', () => {
  it('read u, delta, z, B and C with 16-byte loads in full chunks (f32 i4, bf16 i8)', async () => {
    const { loadProgram } = await import('../dsl/load.ts');
    const { fullVariant } = await import('../dsl/specialize.ts');
    const { specializeFor } = await import('../runtime/program-runner.ts');
    const { compileKernel } = await import('../codegen/compile.ts');
    const p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    for (const [dtype, items] of [['f32', 4], ['bf16', 8]] as const) {
      const sp = specializeFor(p, fullVariant(p), { batch: 2, dim: 8, seqlen: 1000, dstate: 16, ngroups: 1 }, dtype);
      const src = compileKernel(sp, 'cuda', { threads: 32, items }, { subgroups: true }).kernel.source;
      // Proven aligned: one uniform check per chunk (the last dim a multiple of the vector width), no per-load check.
      for (const buf of ['u', 'delta', 'z', 'B', 'C']) expect(src, `${dtype} ${buf}`).toMatch(new RegExp(`reinterpret_cast<const uint4\\*>\\(${buf} \\+ \\(`));
      expect(src).not.toContain('(vi & ');
      expect(src).toContain(`((seqlen % ${dtype === 'f32' ? 4 : 8}) == 0)`);
    }
  });
});

describe('Mamba-1 WGSL kernels', () => {
  it('bind the vector-loaded tensors as vec4 arrays and read them 16 bytes at a time', async () => {
    const { loadProgram } = await import('../dsl/load.ts');
    const { fullVariant } = await import('../dsl/specialize.ts');
    const { specializeFor } = await import('../runtime/program-runner.ts');
    const { compileKernel } = await import('../codegen/compile.ts');
    const p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    const sp = specializeFor(p, fullVariant(p), { batch: 2, dim: 8, seqlen: 1000, dstate: 16, ngroups: 1 }, 'f32');
    const src = compileKernel(sp, 'wgsl', { threads: 32, items: 4 }, { subgroups: false }).kernel.source;
    for (const buf of ['u', 'delta', 'z', 'B', 'C']) {
      expect(src, buf).toContain(`var<storage, read> ${buf}: array<vec4<f32>>;`);
      expect(src, buf).toMatch(new RegExp(`let \\w+v = ${buf}\\[\\(.*\\) / 4\\];`));
    }
    expect(src).toContain('((P.seqlen % 4i) == 0i)');
    // Written and scalar-only tensors keep plain f32 arrays.
    expect(src).toContain('var<storage, read_write> y: array<f32>;');
    expect(src).toContain('var<storage, read> A: array<f32>;');
  });
});
