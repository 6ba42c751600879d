// Expressions of the IR as plan code inside one element of a phase. Values
// become plan expressions; what needs statements (a sum walked serially, a
// where() that must evaluate only its chosen branch) appends them to the
// element's body first. Reads of workgroup memory are recorded, so the
// caller knows which arrays a phase reads (barriers) and clamps every index
// that is not provably in range: a where() branch not chosen may index past
// an array (angle[div(n, 2)] beyond the rotated prefix), and its value is
// dropped, but the read must stay inside the array.

import type { Expr, ICond, IExpr } from '../../../dsl/ir.js';
import { inlineIndex } from '../../../dsl/ir-walk.js';
import { add, assign, decl, f, i, loop, mul, v, when, type PExpr, type PFn, type PStmt } from '../../plan/ast.js';
import { clampIndex, condExpr, indexExpr, offsetOf } from '../index-math.js';
import type { RedMap, StepFacts } from './phases.js';

/** An index variable's value: global (tensors, conditions) and in this workgroup's arrays (local). */
export interface Bind {
  g: PExpr;
  l: PExpr;
}

export interface Env {
  vars: Map<string, Bind>;
  /** Statements that must run before the value is used. */
  out: PStmt[];
  reds: RedMap;
  /** Workgroup arrays read so far. */
  reads: Set<string>;
}

/** Where the step's values live in workgroup memory (storage.ts decides). */
export interface Storage {
  /** Array holding version `ver` of a state. */
  stateArray(name: string, ver: number): string;
  /** Local extent of each axis of a state's array, and which axis is tiled (-1: none). */
  stateAxes(name: string): { sizes: number[]; tiled: number };
  /** Workgroup array of a materialised local, with its index variables. */
  letArray(name: string): { arr: string; vars: string[] } | undefined;
  /** Register of a scalar local. */
  scalar(name: string): string | undefined;
  /** Result array of a reduce phase, with its index variables. */
  reduction(id: number): { arr: string; vars: string[] };
  /** Local extent of an index variable (tile size for the tiled one), undefined for runtime dims. */
  sizeOf(indexVar: string): number | undefined;
}

export class ExprEmitter {
  readonly helpers = new Set<PFn>();
  private count = 0;

  constructor(
    private readonly facts: StepFacts,
    private readonly storage: Storage,
    private readonly dim: (name: string) => PExpr,
  ) {}

  fresh(prefix: string): string {
    return `sf_${prefix}${this.count++}`;
  }

  value(e: Expr, env: Env): PExpr {
    switch (e.k) {
      case 'num': return f(e.v);
      case 'ival': return { k: 'cast', ty: 'f32', a: this.index(e.e, env) };
      case 'load': {
        const t = this.facts.sp.used.find((x) => x.name === e.tensor)!;
        const idx = e.idx.map((ie, j) => this.inRange(ie, t.shape[j]!, this.dim(t.shape[j]!), env));
        return { k: 'load', buf: e.tensor, index: offsetOf(t, idx, { ivar: () => i(0), dim: this.dim }) };
      }
      case 'state': {
        const arr = this.storage.stateArray(e.name, e.ver ?? 0);
        const st = this.facts.sp.state.find((s) => s.name === e.name)!;
        const axes = this.storage.stateAxes(e.name);
        const idx = e.idx.map((ie, j) => (j === axes.tiled ? this.local(ie, env) : this.inRange(ie, st.shape[j]!, i(axes.sizes[j]!), env)));
        env.reads.add(arr);
        return { k: 'sload', arr, index: horner(idx, axes.sizes.map(i)) };
      }
      case 'local': {
        const reg = this.storage.scalar(e.name);
        if (reg) return v(reg);
        const m = this.storage.letArray(e.name);
        if (m) return this.readDomainArray(m.arr, m.vars, env);
        return this.value(this.facts.defs.lets.get(e.name)!, env);
      }
      case 'bin': return { k: 'bin', op: e.op, a: this.value(e.a, env), b: this.value(e.b, env) };
      case 'neg': return { k: 'neg', a: this.value(e.a, env) };
      case 'call': {
        this.helpers.add(e.fn);
        return { k: 'call', fn: e.fn, args: e.args.map((a) => this.value(a, env)) };
      }
      case 'sum': {
        const id = env.reds.get(e);
        if (id !== undefined) {
          const r = this.storage.reduction(id);
          return this.readDomainArray(r.arr, r.vars, env);
        }
        // Serial: this element's thread walks the summed index.
        const acc = this.fresh('acc');
        const k = this.fresh('k');
        const inner: Env = { ...env, vars: new Map(env.vars).set(e.index, { g: v(k), l: v(k) }), out: [] };
        const term = this.value(e.body, inner);
        env.out.push(decl(acc, 'f32', f(0), true), loop(k, i(0), this.extent(e.index), i(1), [...inner.out, assign(acc, add(v(acc), term))]));
        return v(acc);
      }
      case 'where': {
        // Only the chosen branch runs (its reads may be out of range where it is not chosen).
        const w = this.fresh('w');
        const a: Env = { ...env, out: [] }, b: Env = { ...env, out: [] };
        const va = this.value(e.a, a), vb = this.value(e.b, b);
        env.out.push(decl(w, 'f32', f(0), true), when(this.cond(e.cond, env), [...a.out, assign(w, va)], [...b.out, assign(w, vb)]));
        return v(w);
      }
    }
  }

  cond(c: ICond, env: Env): PExpr {
    return condExpr(c, (ie) => this.index(ie, env));
  }

  /** Global value of an index expression. */
  index(ie: IExpr, env: Env): PExpr {
    return indexExpr(inlineIndex(ie, this.facts.defs.ilets), {
      ivar: (n) => {
        const b = env.vars.get(n);
        if (!b) throw new Error(`internal: index '${n}' is not bound in the sequential lowering`);
        return b.g;
      },
      dim: this.dim,
    });
  }

  /** Extent of an index variable's range in this workgroup, as a plan expression. */
  extent(indexVar: string): PExpr {
    const s = this.storage.sizeOf(indexVar);
    return s === undefined ? this.dim(this.facts.sp.indices[indexVar]!.dim) : i(s);
  }

  /** Element of an array laid out over index variables, at their current values. */
  readDomainArray(arr: string, vars: string[], env: Env): PExpr {
    env.reads.add(arr);
    const idx = vars.map((x) => {
      const b = env.vars.get(x);
      if (!b) throw new Error(`internal: index '${x}' of ${arr} is not bound`);
      return b.l;
    });
    return { k: 'sload', arr, index: horner(idx, vars.map((x) => i(this.storage.sizeOf(x)!))) };
  }

  /** The tiled axis of a state is read at its own (bare) variable: its local value. */
  private local(ie: IExpr, env: Env): PExpr {
    if (ie.k !== 'ivar' || !env.vars.has(ie.name)) throw new Error('internal: a tiled state axis must be read at its own index variable');
    return env.vars.get(ie.name)!.l;
  }

  /** Global index value, clamped to [0, extent) unless it provably lies there. */
  private inRange(ie: IExpr, dim: string, extent: PExpr, env: Env): PExpr {
    const x = this.index(ie, env);
    const sp = this.facts.sp;
    if (ie.k === 'ivar' && !this.facts.defs.ilets.has(ie.name) && sp.indices[ie.name]?.dim === dim) return x;
    if (ie.k === 'iconst' && ie.v >= 0 && sp.staticDims[dim] !== undefined && ie.v < sp.staticDims[dim]!) return x;
    return clampIndex(x, extent);
  }
}

/** Row-major flat index of coordinates in an array of the given extents. */
export function horner(idx: PExpr[], sizes: PExpr[]): PExpr {
  if (idx.length === 0) return i(0);
  let off = idx[0]!;
  for (let k = 1; k < idx.length; k++) off = add(mul(off, sizes[k]!), idx[k]!);
  return off;
}
