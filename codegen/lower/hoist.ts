// Loop-invariant hoisting and common-subexpression elimination for kernel
// plans built from templates. A template is a PExpr in which placeholder
// variables stand for loop-dependent values; each placeholder has a level
// (a bit set of the loops it varies in). An expression emitted inside a loop
// nest has every maximal sub-expression of a lower level moved to the scope
// of that level, once, under one name.

import type { PExpr, PStmt, Ty } from '../plan/ast.js';

/** Bit set of the loops a value varies in. */
export type Level = number;

export interface Scope {
  level: Level;
  /** Substitutions of placeholders valid in this scope (e.g. $t → t_3). */
  subst: Map<string, PExpr>;
  /** Suffix that makes names unique per unrolled copy of this scope. */
  suffix: string;
  decls: PStmt[];
  /** key → hoisted variable name */
  table: Map<string, string>;
  parent?: Scope;
}

export class Hoister {
  private counter = 0;
  constructor(private readonly placeholderLevel: (name: string) => Level | undefined) {}

  level(e: PExpr): Level {
    switch (e.k) {
      case 'var': return this.placeholderLevel(e.name) ?? 0;
      case 'bin': case 'imin': case 'imax': return this.level(e.a) | this.level(e.b);
      case 'neg': case 'not': case 'cast': return this.level(e.a);
      case 'call': return e.args.reduce((l, a) => l | this.level(a), 0);
      case 'load': return this.level(e.index);
      case 'sload': return this.level(e.index) | 0x100; // shared memory: never hoisted across barriers
      case 'select': return this.level(e.c) | this.level(e.a) | this.level(e.b);
      case 'shuffle': return 0x100; // another lane's value: never hoisted out of where all lanes meet
      default: return 0;
    }
  }

  /**
   * Emits template `e` for use in `scope`: sub-expressions of a lower level
   * are declared in the innermost enclosing scope of exactly that level.
   */
  emit(e: PExpr, scope: Scope, ty: Ty = 'f32'): PExpr {
    const lv = this.level(e);
    if (!(lv & 0x100) && !trivial(e)) {
      const target = findScope(scope, lv);
      // Loads and calls are always named once per scope (common-subexpression elimination
      // of the expensive parts); anything of a lower level moves out to its own scope.
      if (target && (target !== scope || e.k === 'load' || e.k === 'call')) return this.hoistInto(e, target, ty);
    }
    return this.rebuild(e, scope, ty);
  }

  private hoistInto(e: PExpr, target: Scope, ty: Ty): PExpr {
    const key = JSON.stringify(e);
    const hit = target.table.get(key);
    if (hit) return { k: 'var', name: hit };
    const value = this.rebuild(e, target, ty);
    const name = `x${this.counter++}${target.suffix}`;
    target.decls.push({ k: 'decl', name, ty: exprTy(e, ty), init: value, mut: false });
    target.table.set(key, name);
    return { k: 'var', name };
  }

  private rebuild(e: PExpr, scope: Scope, ty: Ty): PExpr {
    const r = (x: PExpr, t: Ty = ty): PExpr => this.emit(x, scope, t);
    switch (e.k) {
      case 'var': return lookup(scope, e.name) ?? e;
      case 'bin': {
        const cmp = ['<', '<=', '>', '>=', '==', '!='].includes(e.op);
        const logical = e.op === '&&' || e.op === '||';
        const operandTy: Ty = logical ? 'bool' : cmp ? exprTy(e.a, 'i32') : ty;
        return { ...e, a: r(e.a, operandTy), b: r(e.b, operandTy) };
      }
      case 'imin': case 'imax': return { ...e, a: r(e.a, 'i32'), b: r(e.b, 'i32') };
      case 'neg': return { ...e, a: r(e.a) };
      case 'not': return { ...e, a: r(e.a, 'bool') };
      case 'cast': return { ...e, a: r(e.a, e.ty === 'f32' ? 'i32' : 'f32') };
      case 'call': return { ...e, args: e.args.map((a) => r(a, 'f32')) };
      case 'load': return { ...e, index: r(e.index, 'i32') };
      case 'sload': return { ...e, index: r(e.index, 'i32') };
      case 'select': return { ...e, c: r(e.c, 'bool'), a: r(e.a), b: r(e.b) };
      case 'shuffle': return { ...e, a: r(e.a), b: r(e.b, 'i32') };
      default: return e;
    }
  }
}

function trivial(e: PExpr): boolean {
  return e.k === 'lit' || e.k === 'var' || e.k === 'param' || e.k === 'builtin';
}

function findScope(scope: Scope, lv: Level): Scope | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.level === lv) return s;
  // No scope of exactly that level: the innermost scope whose level covers it.
  for (let s: Scope | undefined = scope; s; s = s.parent) if ((s.level & lv) === lv && (!s.parent || (s.parent.level & lv) !== lv)) return s;
  return undefined;
}

function lookup(scope: Scope, name: string): PExpr | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const x = s.subst.get(name);
    if (x) return x;
  }
  return undefined;
}

/** Type of an expression, when it is decidable from its shape; otherwise `fallback`. */
export function exprTy(e: PExpr, fallback: Ty): Ty {
  switch (e.k) {
    case 'lit': return e.ty;
    case 'cast': return e.ty;
    case 'load': case 'call': return 'f32';
    case 'not': return 'bool';
    case 'imin': case 'imax': return 'i32';
    case 'bin':
      if (['<', '<=', '>', '>=', '==', '!=', '&&', '||'].includes(e.op)) return 'bool';
      return exprTy(e.a, exprTy(e.b, fallback));
    case 'neg': return exprTy(e.a, fallback);
    case 'select': return exprTy(e.a, exprTy(e.b, fallback));
    default: return fallback;
  }
}

export function newScope(level: Level, parent: Scope | undefined, suffix = '', subst: Map<string, PExpr> = new Map()): Scope {
  return { level, subst, suffix, decls: [], table: new Map(), parent };
}

/** A scope chain, innermost first, from (shared scope, its per-copy twin or undefined) pairs: the twin comes first. */
export function chainOf(...pairs: [Scope, Scope | undefined][]): Scope[] {
  return pairs.flatMap(([shared, copy]) => (copy ? [copy, shared] : [shared]));
}

/**
 * Emits an expression in `chain[0]` with the scopes of `chain` linked
 * innermost first, e.g. inside the n loop for item i (copy j):
 * inner(T|N|P) → inner(T|N) → item(T|P) → item(T) → n(N|P) → n(N) → row(P) → row(0).
 * Every level has one scope on the chain, so hoisting by exact level picks
 * the right one; substitutions resolve from the innermost scope outwards.
 * The links are temporary: one scope serves several chains (the shared
 * scopes of every copy).
 */
export function emitIn(h: Hoister, e: PExpr, chain: Scope[], ty?: Ty): PExpr {
  const saved = chain.map((s) => s.parent);
  chain.forEach((s, k) => (s.parent = chain[k + 1]));
  try {
    return h.emit(e, chain[0]!, ty);
  } finally {
    chain.forEach((s, k) => (s.parent = saved[k]));
  }
}
