// Specialisation: fixes which optional inputs are present, the flags, and the
// state in/out, then flattens the step into straight-line SSA. After this,
// locals have unique names, every state read carries the version it reads,
// and `if` is gone. Every later stage works on this form.

import { DslError } from './errors.js';
import type { Cond, Expr, IExpr, Program, SpecializedProgram, Stmt, TensorIR, Variant } from './ir.js';
import { allTensors } from './ir.js';
import { mapCond } from './ir-walk.js';

export function defaultVariant(p: Program): Variant {
  return { present: [], flags: { ...p.flags }, initStates: [], finalStates: [] };
}

/** Every optional input present, initial and final state on: the fullest variant. */
export function fullVariant(p: Program): Variant {
  return {
    present: p.inputs.filter((t) => t.optional).map((t) => t.name),
    flags: { ...p.flags },
    initStates: p.state.map((s) => s.name),
    finalStates: p.state.map((s) => s.name),
  };
}

export function specialize(p: Program, v: Variant): SpecializedProgram {
  for (const name of v.present) {
    const t = p.inputs.find((x) => x.name === name);
    if (!t || !t.optional) throw new Error(`${p.name}: '${name}' is not an optional input (optional inputs: ${p.inputs.filter((x) => x.optional).map((x) => x.name).join(', ') || 'none'})`);
  }
  for (const f of Object.keys(v.flags)) if (!(f in p.flags)) throw new Error(`${p.name}: unknown flag '${f}'`);
  const flags = { ...p.flags, ...v.flags };
  const present = new Set(v.present);
  const evalCond = (c: Cond): boolean => {
    switch (c.k) {
      case 'present': return present.has(c.tensor);
      case 'flag': return flags[c.name]!;
      case 'not': return !evalCond(c.c);
      case 'and': return evalCond(c.a) && evalCond(c.b);
      case 'or': return evalCond(c.a) || evalCond(c.b);
    }
  };

  const out: Stmt[] = [];
  const current = new Map<string, string>(); // user local name → SSA name
  const counts = new Map<string, number>();
  const stateVer = new Map<string, number>(p.state.map((s) => [s.name, 0]));
  const fresh = (name: string): string => {
    const c = counts.get(name) ?? 0;
    counts.set(name, c + 1);
    return c === 0 ? name : `${name}_${c}`;
  };
  const renameI = (e: IExpr, loc: Stmt['loc']): IExpr => {
    switch (e.k) {
      case 'ivar': return current.has(e.name) ? { k: 'ivar', name: current.get(e.name)! } : e;
      case 'ibin': return { ...e, a: renameI(e.a, loc), b: renameI(e.b, loc) };
      default: return e;
    }
  };
  const rename = (e: Expr, loc: Stmt['loc']): Expr => {
    switch (e.k) {
      case 'local': {
        const n = current.get(e.name);
        if (!n) throw new DslError(loc, `'${e.name}' has no value in this variant (it is only set inside an if that is false here: ${describe(v)})`);
        return { k: 'local', name: n };
      }
      case 'load': return { ...e, idx: e.idx.map((i) => renameI(i, loc)) };
      case 'state': return { ...e, idx: e.idx.map((i) => renameI(i, loc)), ver: stateVer.get(e.name)! };
      case 'bin': return { ...e, a: rename(e.a, loc), b: rename(e.b, loc) };
      case 'neg': return { ...e, a: rename(e.a, loc) };
      case 'call': return { ...e, args: e.args.map((a) => rename(a, loc)) };
      case 'sum': return { ...e, body: rename(e.body, loc) };
      case 'ival': return { ...e, e: renameI(e.e, loc) };
      case 'where': return { ...e, cond: mapCond(e.cond, (i) => renameI(i, loc)), a: rename(e.a, loc), b: rename(e.b, loc) };
      case 'num': return e;
    }
  };
  const walk = (stmts: Stmt[]): void => {
    for (const s of stmts) {
      switch (s.k) {
        case 'if': walk(evalCond(s.cond) ? s.then : s.else); break;
        case 'let': {
          const expr = rename(s.expr, s.loc);
          const name = fresh(s.name);
          current.set(s.name, name);
          out.push({ ...s, name, expr });
          break;
        }
        case 'ilet': {
          const expr = renameI(s.expr, s.loc);
          const name = fresh(s.name);
          current.set(s.name, name);
          out.push({ ...s, name, expr });
          break;
        }
        case 'setState': {
          const expr = rename(s.expr, s.loc);
          stateVer.set(s.name, stateVer.get(s.name)! + 1);
          out.push({ ...s, expr });
          break;
        }
        case 'store': out.push({ ...s, idx: s.idx.map((i) => renameI(i, s.loc)), expr: rename(s.expr, s.loc) }); break;
      }
    }
  };
  walk(p.step);

  for (const o of p.outputs) {
    const n = out.filter((s) => s.k === 'store' && s.tensor === o.name).length;
    if (n !== 1) throw new DslError(p.loc, `output ${o.name} must be written exactly once per step, but is written ${n} times when ${describe(v)}`);
  }
  const tensors = allTensors(p);
  const used: TensorIR[] = [
    ...p.inputs.filter((t) => !t.optional || present.has(t.name)),
    ...tensors.filter((t) => t.role === 'state-init' && v.initStates.includes(t.state!)),
  ];
  const written: TensorIR[] = [...p.outputs, ...tensors.filter((t) => t.role === 'state-final' && v.finalStates.includes(t.state!))];
  return { ...p, step: out, variant: { ...v, flags }, used, written };
}

function describe(v: Variant): string {
  const flags = Object.entries(v.flags).map(([k, x]) => `${k}=${x}`);
  return `present: [${v.present.join(', ')}], flags: [${flags.join(', ')}]`;
}

/** The number of assignments to each state in a specialised step. */
export function stateVersions(p: SpecializedProgram): Map<string, number> {
  const m = new Map<string, number>(p.state.map((s) => [s.name, 0]));
  for (const s of p.step) if (s.k === 'setState') m.set(s.name, m.get(s.name)! + 1);
  return m;
}
