// The ground truth: a float64 interpreter of any specialised program. It
// walks the parallel axes, then the scan axis in order, executing the step's
// statements exactly as written (simultaneous state updates, sums as loops).
// Expressions are turned into closures once, so long sequences stay fast.

import type { Expr, ICond, IExpr, SpecializedProgram } from '../../dsl/ir.js';
import { freeIndexVars, localDefs, ivarsOfIndex, visitExpr } from '../../dsl/ir-walk.js';
import { stateVersions } from '../../dsl/specialize.js';
import { shapeOf, sizeOf, type Dims } from '../shapes.js';

type Num = () => number;

/** Element-wise math in float64, the meaning of each DSL function. */
export const MATH64: Record<string, (...a: number[]) => number> = {
  exp: Math.exp, log: Math.log, sqrt: Math.sqrt, tanh: Math.tanh, sin: Math.sin, cos: Math.cos, abs: Math.abs,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  softplus: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))),
  silu: (x) => x / (1 + Math.exp(-x)),
  max: Math.max, min: Math.min, pow: Math.pow,
  mod: (a, b) => a - b * Math.floor(a / b),
};

export type HostArrays = Record<string, Float64Array>;

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/**
 * Runs `p` on `inputs` (every tensor in p.used, row-major, float64) and
 * returns every tensor in p.written.
 */
export function runReference(p: SpecializedProgram, dims: Dims, inputs: HostArrays): HostArrays {
  for (const t of p.used) {
    const a = inputs[t.name];
    if (!a) throw new Error(`reference: missing input '${t.name}'`);
    if (a.length !== sizeOf(t, dims)) throw new Error(`reference: '${t.name}' has ${a.length} elements, expected ${sizeOf(t, dims)} (${t.shape.join('×')})`);
  }
  const outputs: HostArrays = {};
  for (const t of p.written) outputs[t.name] = new Float64Array(sizeOf(t, dims));

  // Index slots: every index variable and index local gets a cell.
  const slot = new Map<string, number>();
  const slotOf = (n: string): number => {
    if (!slot.has(n)) slot.set(n, slot.size);
    return slot.get(n)!;
  };
  for (const v of Object.keys(p.indices)) slotOf(v);
  const defs = localDefs(p);
  for (const n of defs.ilets.keys()) slotOf(n);
  for (const n of defs.lets.keys()) slotOf(`let:${n}`);
  const ix = new Float64Array(slot.size + 8);

  const versions = stateVersions(p);
  const stateSize = new Map(p.state.map((s) => [s.name, s.shape.reduce((a, d) => a * dims[d]!, 1)]));
  const stateStrides = new Map(p.state.map((s) => [s.name, strides(s.shape.map((d) => dims[d]!))]));
  // stateVals[name][ver]: the value after the ver-th assignment in the current step.
  const stateVals = new Map(p.state.map((s) => [s.name, Array.from({ length: versions.get(s.name)! + 1 }, () => new Float64Array(stateSize.get(s.name)!))]));

  const idx = (e: IExpr): Num => {
    switch (e.k) {
      case 'iconst': { const v = e.v; return () => v; }
      case 'idim': { const v = dims[e.name]!; return () => v; }
      case 'ivar': {
        // An index local over a state/sum index has no slot of its own: it is inlined where used.
        if (defs.ilets.has(e.name) && !alwaysBound.has(e.name)) return idx(defs.ilets.get(e.name)!);
        const s = slotOf(e.name);
        return () => ix[s]!;
      }
      case 'ibin': {
        const a = idx(e.a), b = idx(e.b);
        switch (e.op) {
          case '+': return () => a() + b();
          case '-': return () => a() - b();
          case '*': return () => a() * b();
          case 'div': return () => Math.floor(a() / b());
          case 'mod': return () => { const x = a(), y = b(); return x - y * Math.floor(x / y); };
        }
      }
    }
  };
  const cond = (c: ICond): (() => boolean) => {
    switch (c.k) {
      case 'icmp': return compare(c.op, idx(c.a), idx(c.b));
      case 'inot': { const x = cond(c.c); return () => !x(); }
      case 'iand': { const a = cond(c.a), b = cond(c.b); return () => a() && b(); }
      case 'ior': { const a = cond(c.a), b = cond(c.b); return () => a() || b(); }
    }
  };
  const offset = (shape: number[], idxs: IExpr[], what: string): Num => {
    const st = strides(shape);
    const parts = idxs.map(idx);
    return () => {
      let o = 0;
      for (let i = 0; i < parts.length; i++) {
        const v = parts[i]!();
        if (v < 0 || v >= shape[i]!) throw new Error(`reference: index ${v} out of range [0, ${shape[i]}) at position ${i} of ${what}`);
        o += v * st[i]!;
      }
      return o;
    };
  };
  // Locals without free index variables are computed once per step into a slot;
  // the others are inlined at each use (their index variables bound there).
  const cached = new Set<string>();
  const val = (e: Expr): Num => {
    switch (e.k) {
      case 'num': { const v = e.v; return () => v; }
      case 'ival': return idx(e.e);
      case 'load': {
        const t = p.used.find((x) => x.name === e.tensor)!;
        const arr = inputs[e.tensor]!;
        const off = offset(shapeOf(t, dims), e.idx, e.tensor);
        return () => arr[off()]!;
      }
      case 'state': {
        const st = p.state.find((s) => s.name === e.name)!;
        const vals = stateVals.get(e.name)!;
        const ver = e.ver ?? 0;
        const off = offset(st.shape.map((d) => dims[d]!), e.idx, e.name);
        return () => vals[ver]![off()]!;
      }
      case 'local': {
        if (cached.has(e.name)) { const s = slotOf(`let:${e.name}`); return () => ix[s]!; }
        return val(defs.lets.get(e.name)!);
      }
      case 'neg': { const a = val(e.a); return () => -a(); }
      case 'bin': {
        const a = val(e.a), b = val(e.b);
        switch (e.op) {
          case '+': return () => a() + b();
          case '-': return () => a() - b();
          case '*': return () => a() * b();
          case '/': return () => a() / b();
        }
      }
      case 'call': {
        const f = MATH64[e.fn]!;
        const args = e.args.map(val);
        if (args.length === 1) { const a = args[0]!; return () => f(a()); }
        const a = args[0]!, b = args[1]!;
        return () => f(a(), b());
      }
      case 'where': {
        // Lazy: the branch not chosen is never evaluated (it may index out of range there).
        const c = cond(e.cond), a = val(e.a), b = val(e.b);
        return () => (c() ? a() : b());
      }
      case 'sum': {
        const s = slotOf(e.index);
        const n = dims[e.dim]!;
        const body = val(e.body);
        return () => {
          let acc = 0;
          for (let i = 0; i < n; i++) { ix[s] = i; acc += body(); }
          return acc;
        };
      }
    }
  };

  // (declared before the step's closures are built; idx() consults it for index locals)
  const alwaysBound = new Set([...p.parallel, p.scan]);
  // An index local whose own variables are always bound (like a group index) is always bound too.
  for (const [n, e] of defs.ilets) if ([...ivarsOfIndex(e)].every((v) => alwaysBound.has(v))) alwaysBound.add(n);
  const body: Array<() => void> = [];
  const stateVer = new Map(p.state.map((s) => [s.name, 0]));
  for (const s of p.step) {
    switch (s.k) {
      case 'ilet': {
        if (alwaysBound.has(s.name)) {
          const f = idx(s.expr), sl = slotOf(s.name);
          body.push(() => { ix[sl] = f(); });
        }
        // Otherwise it depends on a state/sum index and idx() inlines it at each use.
        break;
      }
      case 'let': {
        if (!hasFree(s.expr, defs.lets, alwaysBound)) {
          const f = val(s.expr), sl = slotOf(`let:${s.name}`);
          body.push(() => { ix[sl] = f(); });
          cached.add(s.name);
        }
        break;
      }
      case 'setState': {
        const st = p.state.find((x) => x.name === s.name)!;
        const ver = stateVer.get(s.name)! + 1;
        stateVer.set(s.name, ver);
        const target = stateVals.get(s.name)![ver]!;
        const shape = st.shape.map((d) => dims[d]!);
        const sl = s.idx.map(slotOf);
        const str = stateStrides.get(s.name)!;
        const f = val(s.expr);
        const total = stateSize.get(s.name)!;
        body.push(() => {
          for (let flat = 0; flat < total; flat++) {
            let r = flat;
            for (let i = shape.length - 1; i >= 0; i--) { ix[sl[i]!] = r % shape[i]!; r = Math.floor(r / shape[i]!); }
            let o = 0;
            for (let i = 0; i < shape.length; i++) o += ix[sl[i]!]! * str[i]!;
            target[o] = f();
          }
        });
        break;
      }
      case 'store': {
        const t = p.written.find((x) => x.name === s.tensor)!;
        const arr = outputs[s.tensor]!;
        const tshape = shapeOf(t, dims);
        const off = offset(tshape, s.idx, s.tensor);
        const f = val(s.expr);
        // Bare index variables in the store's indices that are not always bound range over their dims.
        const loops = s.idx.filter((e): e is { k: 'ivar'; name: string } => e.k === 'ivar' && !alwaysBound.has(e.name) && !defs.ilets.has(e.name))
          .map((e) => ({ slot: slotOf(e.name), n: dims[p.indices[e.name]!.dim]! }));
        const run = (i: number): void => {
          if (i === loops.length) { arr[off()] = f(); return; }
          const l = loops[i]!;
          for (let v = 0; v < l.n; v++) { ix[l.slot] = v; run(i + 1); }
        };
        body.push(() => run(0));
        break;
      }
      case 'if': throw new Error('reference: run a specialised program');
    }
  }

  // Walk the parallel axes (row-major), then the scan axis.
  const parDims = p.parallel.map((v) => dims[p.indices[v]!.dim]!);
  const parSlots = p.parallel.map(slotOf);
  const rows = parDims.reduce((a, b) => a * b, 1);
  const L = dims[p.indices[p.scan]!.dim]!;
  const tSlot = slotOf(p.scan);
  for (let row = 0; row < rows; row++) {
    let r = row;
    for (let i = parDims.length - 1; i >= 0; i--) { ix[parSlots[i]!] = r % parDims[i]!; r = Math.floor(r / parDims[i]!); }
    for (const st of p.state) {
      const v0 = stateVals.get(st.name)![0]!;
      const init = p.variant.initStates.includes(st.name) ? inputs[st.init]! : undefined;
      const n = stateSize.get(st.name)!;
      for (let i = 0; i < n; i++) v0[i] = init ? init[row * n + i]! : 0;
    }
    for (let t = 0; t < L; t++) {
      ix[tSlot] = t;
      for (const f of body) f();
      for (const st of p.state) {
        const vs = stateVals.get(st.name)!;
        if (vs.length > 1) vs[0]!.set(vs[vs.length - 1]!);
      }
    }
    for (const st of p.state) {
      if (!p.variant.finalStates.includes(st.name)) continue;
      const n = stateSize.get(st.name)!;
      outputs[st.final]!.set(stateVals.get(st.name)![0]!, row * n);
    }
  }
  return outputs;
}

function compare(op: Extract<ICond, { k: 'icmp' }>['op'], a: Num, b: Num): () => boolean {
  switch (op) {
    case '<': return () => a() < b();
    case '<=': return () => a() <= b();
    case '>': return () => a() > b();
    case '>=': return () => a() >= b();
    case '==': return () => a() === b();
    case '!=': return () => a() !== b();
  }
}

/** True if the value needs an index bound beyond the always-bound ones (directly or through a local). */
function hasFree(e: Expr, lets: Map<string, Expr>, alwaysBound: Set<string>): boolean {
  if ([...freeIndexVars(e)].some((v) => !alwaysBound.has(v))) return true;
  let viaLocal = false;
  visitExpr(e, (x) => {
    if (x.k === 'local' && hasFree(lets.get(x.name)!, lets, alwaysBound)) viaLocal = true;
  });
  return viaLocal;
}

