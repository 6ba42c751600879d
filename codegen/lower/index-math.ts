// Index expressions and tensor offsets as plan expressions. Tensors are
// row-major in their declared dim order; dims are kernel parameters except
// static (compile-time) dims, which become literals.

import type { ICond, IExpr, TensorIR } from '../../dsl/ir.js';
import { add, i, mul, sub, type PExpr } from '../plan/ast.js';

export interface IndexEnv {
  /** Value of each index variable. */
  ivar: (name: string) => PExpr;
  /** Value of each dim (param or literal). */
  dim: (name: string) => PExpr;
  /** A value for a whole sub-expression, taking precedence over the rules below (e.g. one shared by several rows). */
  override?: (e: IExpr) => PExpr | undefined;
}

export function indexExpr(e: IExpr, env: IndexEnv): PExpr {
  const o = env.override?.(e);
  if (o) return o;
  switch (e.k) {
    case 'iconst': return i(e.v);
    case 'idim': return env.dim(e.name);
    case 'ivar': return env.ivar(e.name);
    case 'ibin': {
      const a = indexExpr(e.a, env), b = indexExpr(e.b, env);
      const op = e.op === 'div' ? '/' : e.op === 'mod' ? '%' : e.op;
      return { k: 'bin', op, a, b };
    }
  }
}

/** Row-major offset of element `idx` of tensor `t` (Horner form). */
export function offsetOf(t: TensorIR, idx: PExpr[], env: IndexEnv): PExpr {
  let off = idx[0]!;
  for (let k = 1; k < idx.length; k++) off = add(mul(off, env.dim(t.shape[k]!)), idx[k]!);
  return off;
}

export function dimEnv(staticDims: Record<string, number>): (name: string) => PExpr {
  return (name) => (staticDims[name] !== undefined ? i(staticDims[name]!) : { k: 'param', name });
}

/** A read of element `idx` of input `name` (one of `tensors`) as a plan load. */
export function loadOf(tensors: readonly TensorIR[], name: string, idx: IExpr[], env: IndexEnv): PExpr {
  const tensor = tensors.find((x) => x.name === name);
  if (!tensor) throw new Error(`internal: tensor ${name} is not among the kernel's inputs`);
  return { k: 'load', buf: name, index: offsetOf(tensor, idx.map((ie) => indexExpr(ie, env)), env) };
}

/** A where() condition as a plan expression, its index expressions given by `index`. */
export function condExpr(c: ICond, index: (e: IExpr) => PExpr): PExpr {
  switch (c.k) {
    case 'icmp': return { k: 'bin', op: c.op, a: index(c.a), b: index(c.b) };
    case 'inot': return { k: 'not', a: condExpr(c.c, index) };
    case 'iand': return { k: 'bin', op: '&&', a: condExpr(c.a, index), b: condExpr(c.b, index) };
    case 'ior': return { k: 'bin', op: '||', a: condExpr(c.a, index), b: condExpr(c.b, index) };
  }
}

/** An index clamped to [0, extent): a where() branch not chosen may point outside, its read must not. */
export function clampIndex(x: PExpr, extent: PExpr): PExpr {
  const last = extent.k === 'lit' ? i((extent.v as number) - 1) : sub(extent, i(1));
  return { k: 'imin', a: { k: 'imax', a: x, b: i(0) }, b: last };
}
