// Plan pieces the fused SSD kernel is built from, checked on their own:
// asynchronous copies (acopy/acommit/await: cp.async on CUDA, plain loads
// and stores elsewhere) and work-sharing loops rewritten to a static trip
// count (plan/static-trips.ts). Printed for both targets and run on the
// WebGPU adapter at hand, outputs poisoned with NaN.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, barrier, decl, i, lt, mul, v, TID, type KernelPlan, type PExpr, type PStmt } from '../codegen/plan/ast.ts';
import { staticTrips } from '../codegen/plan/static-trips.ts';
import { renderCuda } from '../codegen/render/cuda.ts';
import { renderWgsl } from '../codegen/render/wgsl.ts';
import { openWebGpu, type WebGpuBackend } from '../runtime/webgpu/index.ts';

const T = 64;

function plan(name: string, body: PStmt[], shared: KernelPlan['shared'] = [], elem: 'f32' | 'bf16' = 'f32'): KernelPlan {
  return {
    name, workgroupSize: T, body, shared, usesSubgroups: false, helpers: new Set(), registerBudget: 64,
    buffers: [{ name: 'src', access: 'read', elem }, { name: 'out', access: 'read_write', elem: 'f32' }],
    params: [{ name: 'n', type: 'i32' }],
    grid: { groupsFromDims: [], rowsPerGroup: 1 },
    elem: { src: elem, out: 'f32' },
  };
}

const n: PExpr = { k: 'param', name: 'n' };
/** Thread t copies src[4t .. 4t + 3] into sh where the whole group is below n (else zeros), then writes sh to out. */
const copyBody = (narrow: boolean): PStmt[] => [
  { k: 'acopy', arr: 'sh', index: mul(TID, i(4)), buf: 'src', src: mul(TID, i(4)), count: narrow ? 8 : 4, valid: { k: 'bin', op: '<=', a: add(mul(TID, i(4)), i(4)), b: n } },
  { k: 'acommit' },
  { k: 'await', pending: 0 },
  barrier,
  ...[0, 1, 2, 3].map((j): PStmt => ({ k: 'store', buf: 'out', index: add(mul(TID, i(4)), i(j)), value: { k: 'sload', arr: 'sh', index: add(mul(TID, i(4)), i(j)) } })),
];

describe('asynchronous copies in the plan', () => {
  it('print as cp.async with a zero-fill source size on CUDA, raw into a narrow array of the same type', () => {
    const src = renderCuda(plan('copy_bf16', copyBody(true), [{ name: 'sh', ty: 'f32', size: 8 * T, narrow: 'bf16' }], 'bf16')).source;
    expect(src).toContain('cp.async.cg.shared.global [%0], [%1], 16, %2;');
    expect(src).toMatch(/"r"\(cv \? 16 : 0\)/);
    expect(src).toContain('cp.async.commit_group;');
    expect(src).toContain('cp.async.wait_group 0;');
    // 8 bytes: the .ca form.
    expect(renderCuda(plan('copy_f32x2', [{ ...copyBody(false)[0] as Extract<PStmt, { k: 'acopy' }>, count: 2 }], [{ name: 'sh', ty: 'f32', size: 4 * T }])).source).toContain('cp.async.ca.shared.global [%0], [%1], 8, %2;');
  });

  it('print as loads and stores where the array does not hold the buffer type as it is (f32 buffer, bf16 array)', () => {
    const src = renderCuda(plan('copy_mixed', copyBody(false), [{ name: 'sh', ty: 'f32', size: 4 * T, narrow: 'bf16' }])).source;
    expect(src).not.toContain('cp.async.cg');
    expect(src).toContain('__float2bfloat16_rn(src[');
  });

  it('print as loads and stores (zeros where not valid) on WGSL, with no commit or wait', () => {
    const src = renderWgsl(plan('copy_wgsl', copyBody(false), [{ name: 'sh', ty: 'f32', size: 4 * T }])).source;
    expect(src).not.toMatch(/cp\.async|commit|wait_group/);
    expect(src).toContain('sh[((i32(lid) * 4i) + 3i)] = src[((i32(lid) * 4i) + 3i)];');
    expect(src).toMatch(/\} else \{\n\s*sh\[\(i32\(lid\) \* 4i\)\] = 0\.0+f;/);
  });
});

/** out[e] = e for e < total, spread over the workgroup as lowerings do. */
const body = (total: number): PStmt[] => [{ k: 'for', v: 'e', from: TID, to: i(total), step: i(T), body: [{ k: 'store', buf: 'out', index: v('e'), value: { k: 'cast', ty: 'f32', a: v('e') } }] }];

describe('CUDA shared arrays', () => {
  const offsets = (src: string): [string, number][] => [...src.matchAll(/(\w+)\* (\w+) = reinterpret_cast<\w+\*>\(sf_smem \+ (\d+)\)/g)].map((m) => [m[2]!, Number(m[3])]);

  it('each start 16-byte aligned, whatever the sizes before them (an f32 array of 13 elements, a narrow one of 3)', () => {
    const shared: KernelPlan['shared'] = [{ name: 'a', ty: 'f32', size: 13 }, { name: 'b', ty: 'f32', size: 3, narrow: 'bf16' }, { name: 'c', ty: 'f32', size: 8 }];
    const body: PStmt[] = [{ k: 'svstore', arr: 'c', index: i(0), values: [v('x'), v('x')] }];
    const k = renderCuda(plan('aligned', [decl('x', 'f32', { k: 'lit', ty: 'f32', v: 1 }), ...body], shared));
    expect(offsets(k.source)).toEqual([['a', 0], ['b', 64], ['c', 80]]);
    // The bytes the launcher reserves include the padding.
    expect(k.sharedBytes).toBe(112);
  });

  it('in the Mamba-3 MIMO chunked kernel, whose side-state arrays have odd sizes (its float2 stores of Y faulted, run 73)', async () => {
    const { loadProgram } = await import('../dsl/load.ts');
    const { specializeFor } = await import('../runtime/program-runner.ts');
    const { compileKernel } = await import('../codegen/compile.ts');
    const p = await loadProgram(new URL('../examples/mamba3_mimo.ts', import.meta.url).pathname);
    const STATES = ['angle', 'S', 'kprev', 'vprev'];
    const sp = specializeFor(p, { present: ['D', 'Z'], flags: {}, initStates: STATES, finalStates: STATES }, { batch: 2, seqlen: 300, nheads: 4, nheads_qk: 2, headdim: 12, dstate: 10, angles: 3, rank: 3 }, 'bf16');
    const src = compileKernel(sp, 'cuda', { threads: 128, items: 1, chunk: 16, lowering: 'ssd' }, { subgroups: true, subgroupSize: 32, sharedBytes: 227 * 1024 }).kernel.source;
    expect(src).toContain('reinterpret_cast<float2*>(Ys');
    const offs = offsets(src);
    expect(offs.length).toBeGreaterThan(10);
    for (const [name, off] of offs) expect(off % 16, name).toBe(0);
  });
});

describe('storeFragment', () => {
  it('stores a tensor-core fragment in 2-wide pairs of adjacent columns, and a thread grid element by element, by owners', async () => {
    const { gridFragment, mmaFragment, storeFragment, fragElements } = await import('../codegen/plan/fragment.ts');
    const mma = mmaFragment('y', 32, 32, 128)!;
    const at = (e: { row: PExpr; col: PExpr }): PExpr => add(mul(e.row, i(40)), e.col);
    const paired = storeFragment(mma, 'Ys', at, (e) => v(e.reg), true);
    expect(paired).toHaveLength(fragElements(mma).length / 2);
    expect(paired.every((s) => s.k === 'svstore' && s.values.length === 2)).toBe(true);
    // The pair's first element is column 2q: the second is the next column of the same row.
    const els = fragElements(mma);
    expect(JSON.stringify(els[1]!.row)).toBe(JSON.stringify(els[0]!.row));
    expect(storeFragment(mma, 'Ys', at, (e) => v(e.reg), false).every((s) => s.k === 'sstore')).toBe(true);
    // 64 elements over 128 threads: the copies past 64 own nothing, so their stores are guarded.
    const grid = gridFragment('g', 8, 8, 128);
    const stores = storeFragment(grid, 'Ys', at, (e) => v(e.reg), true);
    expect(stores.every((s) => s.k === 'if')).toBe(true);
  });
});

describe('static trip counts', () => {
  it('rewrite a loop of total = k·T into k fixed iterations, one of total ≤ T into an if, and leave the rest', () => {
    const [a] = staticTrips(body(4 * T), T);
    expect(a).toMatchObject({ k: 'for', v: 'e_it', from: i(0), to: i(4), step: i(1), unroll: 1 });
    expect((a as Extract<PStmt, { k: 'for' }>).body[0]).toEqual(decl('e', 'i32', add(TID, mul(v('e_it'), i(T)))));
    const [b] = staticTrips(body(40), T);
    expect(b).toMatchObject({ k: 'if', c: lt(TID, i(40)) });
    expect(staticTrips(body(100), T)).toEqual(body(100));
    // Nested inside an if, too; a loop not over the thread index is left alone.
    const [c] = staticTrips([{ k: 'if', c: lt(TID, i(1)), then: body(2 * T), else: [] }], T);
    expect((c as Extract<PStmt, { k: 'if' }>).then[0]).toMatchObject({ k: 'for', v: 'e_it' });
    const other: PStmt = { k: 'for', v: 'e', from: i(0), to: i(2 * T), step: i(T), body: [] };
    expect(staticTrips([other], T)).toEqual([other]);
  });
});

describe('on the WebGPU adapter', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => { gpu = await openWebGpu(); }, 60_000);
  afterAll(() => gpu?.destroy());

  async function run(p: KernelPlan, src: Float32Array, nValue: number): Promise<Float32Array> {
    const k = await gpu.compile(renderWgsl(p));
    const bs = gpu.createBuffer(src.length * 4), bo = gpu.createBuffer(4 * T * 4);
    gpu.write(bs, src);
    gpu.write(bo, new Float32Array(4 * T).fill(NaN));
    gpu.launch(k, [1, 1, 1], [bs, bo], [nValue]);
    await gpu.sync();
    const got = new Float32Array(await gpu.read(bo));
    gpu.destroyBuffer(bs);
    gpu.destroyBuffer(bo);
    return got;
  }

  it('copy whole groups below n and zero the rest', async () => {
    const src = Float32Array.from({ length: 4 * T }, (_, k) => k + 0.5);
    const got = await run(plan('copy_run', copyBody(false), [{ name: 'sh', ty: 'f32', size: 4 * T }]), src, 150);
    // Groups of 4 entirely below 150: 0 … 147; the rest are zeros, not NaN.
    expect([...got]).toEqual([...src].map((x, k) => (k < 148 ? x : 0)));
  }, 60_000);

  it('run a rewritten loop exactly as the original (every element once, NaN past the total)', async () => {
    for (const total of [4 * T, 40]) {
      const src = new Float32Array(4);
      const want = Array.from({ length: 4 * T }, (_, k) => (k < total ? k : NaN));
      expect([...await run(plan(`trips_${total}`, staticTrips(body(total), T)), src, 0)]).toEqual(want);
      expect([...await run(plan(`loop_${total}`, body(total)), src, 0)]).toEqual(want);
    }
  }, 60_000);

});
