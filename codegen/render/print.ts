// The one printer both targets share: walks a kernel plan and asks the
// dialect for every target-specific spelling. Parenthesises fully, so no
// precedence table can differ between targets.

import type { RenderedKernel } from '../../runtime/backend.js';
import type { KernelPlan, PExpr, PStmt } from '../plan/ast.js';
import type { Dialect } from './dialect.js';
import { expandMma } from '../plan/fragment.js';

export function renderPlan(plan: KernelPlan, d: Dialect): RenderedKernel {
  const body = printBlock(plan.body, d, plan, 1);
  // Narrow arrays exist only where the dialect stores them so, and then lays them out itself.
  const sharedBytes = plan.shared.reduce((a, s) => a + (d.sharedArrayBytes?.(s) ?? 4 * s.size), 0);
  return {
    target: d.target,
    entry: plan.name,
    source: d.kernel(plan, body),
    bindings: plan.buffers,
    params: plan.params,
    workgroupSize: plan.workgroupSize,
    sharedBytes,
  };
}

/** The statements printed at `depth` (also what a kernel printed whole uses for the program's own pieces). */
export function printBlock(stmts: PStmt[], d: Dialect, plan: KernelPlan, depth: number): string {
  return stmts.map((s) => printStmt(s, d, plan, depth)).join('');
}

function printStmt(s: PStmt, d: Dialect, plan: KernelPlan, depth: number): string {
  const pad = '  '.repeat(depth);
  const e = (x: PExpr): string => printExpr(x, d, plan);
  switch (s.k) {
    case 'decl': return `${pad}${d.decl(s.name, s.ty, e(s.init), s.mut)}\n`;
    case 'assign': return `${pad}${s.name} = ${e(s.value)};\n`;
    case 'sstore': return `${pad}${narrowOf(plan, s.arr, d)?.store(s.arr, e(s.index), e(s.value)) ?? `${sharedAt(s.arr, e(s.index), d)} = ${e(s.value)};`}\n`;
    case 'store': return `${pad}${d.store(s.buf, plan.elem[s.buf]!, e(s.index), e(s.value))}\n`;
    case 'barrier': return `${pad}${d.barrier()}\n`;
    case 'vload': {
      const elem = plan.elem[s.buf]!;
      const at = (j: number): string => (j === 0 ? e(s.index) : `(${e(s.index)} + ${j})`);
      return d.vload?.(s.buf, elem, e(s.index), s.names, pad, s.aligned === true, s.l2Bytes) ?? s.names.map((n, j) => `${pad}${d.decl(n, 'f32', d.load(s.buf, elem, at(j)), false)}\n`).join('');
    }
    case 'vstore': {
      const elem = plan.elem[s.buf]!;
      const at = (j: number): string => (j === 0 ? e(s.index) : `(${e(s.index)} + ${j})`);
      const values = s.values.map(e);
      return d.vstore?.(s.buf, elem, e(s.index), values, pad, s.aligned === true, s.stream === true) ?? values.map((x, j) => `${pad}${d.store(s.buf, elem, at(j), x)}\n`).join('');
    }
    case 'svload': {
      const at = (j: number): string => (j === 0 ? e(s.index) : `(${e(s.index)} + ${j})`);
      const narrow = narrowType(plan, s.arr);
      if (narrow && d.narrowShared) {
        return d.narrowShared.vload?.(narrow, s.arr, e(s.index), s.names, pad) ?? s.names.map((n, j) => `${pad}${d.decl(n, 'f32', d.narrowShared!.load(narrow, s.arr, at(j)), false)}\n`).join('');
      }
      return d.sharedVector?.load(s.arr, e(s.index), s.names, pad) ?? s.names.map((n, j) => `${pad}${d.decl(n, 'f32', sharedAt(s.arr, at(j), d), false)}\n`).join('');
    }
    case 'svstore': {
      const at = (j: number): string => (j === 0 ? e(s.index) : `(${e(s.index)} + ${j})`);
      const values = s.values.map(e);
      const narrow = narrowType(plan, s.arr);
      // A narrow array where the target stores it narrow: its own packed store (or element stores).
      if (narrow && d.narrowShared) {
        return d.narrowShared.vstore?.(narrow, s.arr, e(s.index), values, pad) ?? values.map((x, j) => `${pad}${d.narrowShared!.store(narrow, s.arr, at(j), x)}\n`).join('');
      }
      return d.sharedVector?.store(s.arr, e(s.index), values, pad) ?? values.map((x, j) => `${pad}${sharedAt(s.arr, at(j), d)} = ${x};\n`).join('');
    }
    case 'acopy': {
      const elem = plan.elem[s.buf]!;
      const bytes = s.count * (elem === 'f32' ? 4 : 2);
      const narrow = narrowType(plan, s.arr);
      // A raw copy needs the array to hold the buffer's type as the target stores it (a packed buffer is f32: no).
      const raw = d.asyncCopy && (narrow && d.narrowShared ? elem === narrow : elem === 'f32' && !narrow);
      if (raw) return `${pad}${d.asyncCopy!.copy(s.arr, e(s.index), s.buf, e(s.src), bytes, e(s.valid), pad, s.l2Bytes)}\n`;
      const at = (x: PExpr, j: number): PExpr => (j === 0 ? x : { k: 'bin', op: '+', a: x, b: { k: 'lit', ty: 'i32', v: j } });
      const js = Array.from({ length: s.count }, (_, j) => j);
      const copy: PStmt[] = js.map((j) => ({ k: 'sstore', arr: s.arr, index: at(s.index, j), value: { k: 'load', buf: s.buf, index: at(s.src, j) } }));
      const zero: PStmt[] = js.map((j) => ({ k: 'sstore', arr: s.arr, index: at(s.index, j), value: { k: 'lit', ty: 'f32', v: 0 } }));
      return printStmt({ k: 'if', c: s.valid, then: copy, else: zero }, d, plan, depth);
    }
    case 'prefetch': return d.prefetch ? `${pad}${d.prefetch(s.buf, e(s.index))}\n` : '';
    case 'acommit': return d.asyncCopy ? `${pad}${d.asyncCopy.commit()}\n` : '';
    case 'await': return d.asyncCopy ? `${pad}${d.asyncCopy.wait(s.pending)}\n` : '';
    case 'comment': return `${pad}// ${s.text}\n`;
    // A matrix-unit form where the dialect has one for this fragment and precision, else scalar loops.
    case 'mma': return d.mma?.(s, e, pad, plan.shared) ?? printBlock(expandMma(s), d, plan, depth);
    case 'for':
    {
      const until = s.until ? `${pad}  if (${e(s.until)}) {\n${pad}    break;\n${pad}  }\n` : '';
      return `${pad}${d.forLoop(s.v, e(s.from), e(s.to), e(s.step), s.unroll ?? 0)} {\n${printBlock(s.body, d, plan, depth + 1)}${until}${pad}}\n`;
    }
    case 'if': {
      const els = s.else.length ? ` else {\n${printBlock(s.else, d, plan, depth + 1)}${pad}}` : '';
      return `${pad}if (${e(s.c)}) {\n${printBlock(s.then, d, plan, depth + 1)}${pad}}${els}\n`;
    }
    // A whole kernel of its own (render/cuda-ssd-wgmma.ts prints it); the lowering picks it only for CUDA on sm_90a.
    case 'ssdWgmma': throw new Error(`internal: the warpgroup SSD walk has no ${d.target} spelling; it is printed whole by the CUDA renderer`);
  }
}

export function printExpr(x: PExpr, d: Dialect, plan: KernelPlan): string {
  const e = (y: PExpr): string => printExpr(y, d, plan);
  switch (x.k) {
    case 'lit': return d.lit(x.ty, x.v);
    case 'var': return x.name;
    case 'param': return d.param(x.name);
    case 'builtin': return d.builtin(x.b);
    case 'bin': return `(${e(x.a)} ${x.op} ${e(x.b)})`;
    case 'neg': return `(-${e(x.a)})`;
    case 'not': return `(!${e(x.a)})`;
    case 'call': return `${d.fn(x.fn)}(${x.args.map(e).join(', ')})`;
    case 'imin': return d.imin(e(x.a), e(x.b));
    case 'imax': return d.imax(e(x.a), e(x.b));
    case 'load': return d.load(x.buf, plan.elem[x.buf]!, e(x.index));
    case 'sload': return narrowOf(plan, x.arr, d)?.load(x.arr, e(x.index)) ?? sharedAt(x.arr, e(x.index), d);
    case 'select': return d.select(e(x.c), e(x.a), e(x.b));
    case 'cast': return d.cast(x.ty, e(x.a));
    case 'shuffle': return d.shuffle(x.mode, e(x.a), e(x.b), x.width ?? 0);
  }
}

function sharedAt(arr: string, index: string, d: Dialect): string {
  return d.sharedElem?.(arr, index) ?? `${arr}[${index}]`;
}

/** The dialect's narrow spelling of a workgroup array marked narrow, where it has one. */
function narrowOf(plan: KernelPlan, arr: string, d: Dialect): { load(arr: string, index: string): string; store(arr: string, index: string, value: string): string } | undefined {
  const ty = narrowType(plan, arr);
  const n = d.narrowShared;
  return ty && n ? { load: (a, i) => n.load(ty, a, i), store: (a, i, x) => n.store(ty, a, i, x) } : undefined;
}

/** The type a workgroup array marked narrow may be stored in, or undefined. */
function narrowType(plan: KernelPlan, arr: string): 'bf16' | 'f16' | undefined {
  return plan.shared.find((s) => s.name === arr)?.narrow;
}
