// The sequential lowering's view of one step: an ordered list of phases, each
// a loop of the workgroup's threads over the elements of one index domain.
//   scalar  a value with no free index variables (every thread, a register)
//   elem    one value per element of a domain: a state's new version, an
//           output element, or a local worth computing once per element
//           (materialised into workgroup memory) instead of at every use
//   reduce  a sum whose consumer has too few elements to keep the threads
//           busy: lanes share each result, combined through workgroup memory
// Locals neither scalar nor materialised are expression macros, expanded
// where used; sums not reduced run as serial loops inside their consumer.

import type { Expr, IExpr, SpecializedProgram } from '../../../dsl/ir.js';
import { ivarsOfCond, ivarsOfIndex, localDefs } from '../../../dsl/ir-walk.js';

/** Sums of a phase's expression that a reduce phase computed, by node, with that phase's id. */
export type RedMap = Map<Expr, number>;

export type Target =
  | { k: 'let'; name: string }
  | { k: 'state'; name: string; ver: number }
  | { k: 'store'; tensor: string; idx: IExpr[] };

export type Phase =
  | { k: 'scalar'; name: string; expr: Expr; reds: RedMap }
  | { k: 'elem'; target: Target; vars: string[]; expr: Expr; reds: RedMap }
  | { k: 'reduce'; id: number; vars: string[]; index: string; dim: string; body: Expr; reds: RedMap };

export interface StepPlan {
  phases: Phase[];
  /** Locals computed once per element into workgroup memory, with their index variables (array layout order). */
  materialized: Map<string, string[]>;
  /** Locals with no free index variables: one register per thread. */
  scalars: Set<string>;
}

/** Size of an index variable's range in one workgroup (undefined when it is a runtime dim). */
export type SizeOf = (indexVar: string) => number | undefined;

/** Facts about the step the planner and the emitter share. */
export class StepFacts {
  readonly defs: ReturnType<typeof localDefs>;
  /** Parallel and scan variables, and index locals computed from them only. */
  readonly alwaysBound: Set<string>;
  private readonly freeCache = new Map<string, string[]>();

  constructor(readonly sp: SpecializedProgram) {
    this.defs = localDefs(sp);
    this.alwaysBound = new Set([...sp.parallel, sp.scan]);
    for (const [n, e] of this.defs.ilets) if ([...ivarsOfIndex(e)].every((v) => this.alwaysBound.has(v))) this.alwaysBound.add(n);
  }

  /** Index variables (not always bound) an index expression reads, index locals expanded. */
  indexVars(e: IExpr, out: string[] = []): string[] {
    for (const v of ivarsOfIndex(e)) {
      const il = this.defs.ilets.get(v);
      if (il && !this.alwaysBound.has(v)) this.indexVars(il, out);
      else if (!this.alwaysBound.has(v) && !out.includes(v)) out.push(v);
    }
    return out;
  }

  /** Free index variables of `e` in order of first use (through locals), minus those its sums bind. */
  freeVars(e: Expr): string[] {
    const out: string[] = [];
    const add = (v: string, bound: ReadonlySet<string>): void => {
      if (!bound.has(v) && !out.includes(v)) out.push(v);
    };
    const go = (x: Expr, bound: ReadonlySet<string>): void => {
      switch (x.k) {
        case 'load': case 'state': for (const ie of x.idx) for (const v of this.indexVars(ie)) add(v, bound); break;
        case 'ival': for (const v of this.indexVars(x.e)) add(v, bound); break;
        case 'local': for (const v of this.letFree(x.name)) add(v, bound); break;
        case 'bin': go(x.a, bound); go(x.b, bound); break;
        case 'neg': go(x.a, bound); break;
        case 'call': for (const a of x.args) go(a, bound); break;
        case 'sum': go(x.body, new Set([...bound, x.index])); break;
        case 'where':
          for (const v of ivarsOfCond(x.cond)) for (const w of this.indexVars({ k: 'ivar', name: v })) add(w, bound);
          go(x.a, bound); go(x.b, bound);
          break;
        case 'num': break;
      }
    };
    go(e, new Set());
    return out;
  }

  letFree(name: string): string[] {
    let f = this.freeCache.get(name);
    if (!f) {
      f = this.freeVars(this.defs.lets.get(name)!);
      this.freeCache.set(name, f);
    }
    return f;
  }

  /** Bare index variables of a store that are not always bound: the store runs over them. */
  storeVars(idx: IExpr[]): string[] {
    return idx.filter((ie): ie is { k: 'ivar'; name: string } => ie.k === 'ivar' && !this.alwaysBound.has(ie.name) && !this.defs.ilets.has(ie.name)).map((ie) => ie.name);
  }
}

/**
 * Plans the phases of one step for a workgroup of `threads`. A sum is a
 * reduce phase when its consumer has fewer elements than threads (and its
 * own result fits an array); otherwise the consumer loops over it serially.
 */
export function planStep(facts: StepFacts, sizeOf: SizeOf, threads: number): StepPlan {
  const sp = facts.sp;
  const { scalars, materialized } = chooseMaterialized(facts, sizeOf);
  const phases: Phase[] = [];
  let nextId = 0;
  const product = (vars: readonly string[]): number | undefined => vars.reduce<number | undefined>((a, v) => (a === undefined ? undefined : sizeOf(v) === undefined ? undefined : a * sizeOf(v)!), 1);
  const isLetRead = (name: string): boolean => scalars.has(name) || materialized.has(name);

  const plan = (e: Expr, work: number | undefined, reds: RedMap): void => {
    switch (e.k) {
      case 'local': if (!isLetRead(e.name)) plan(facts.defs.lets.get(e.name)!, work, reds); return;
      case 'bin': plan(e.a, work, reds); plan(e.b, work, reds); return;
      case 'neg': plan(e.a, work, reds); return;
      case 'call': for (const a of e.args) plan(a, work, reds); return;
      case 'where': plan(e.a, work, reds); plan(e.b, work, reds); return;
      case 'sum': {
        if (reds.has(e)) return;
        const k = sizeOf(e.index);
        const vars = facts.freeVars(e);
        const size = product(vars);
        if (work === undefined || work >= threads || size === undefined) {
          plan(e.body, work === undefined || k === undefined ? undefined : work * k, reds);
          return;
        }
        const inner: RedMap = new Map();
        plan(e.body, k === undefined ? undefined : size * k, inner);
        const id = nextId++;
        phases.push({ k: 'reduce', id, vars, index: e.index, dim: e.dim, body: e.body, reds: inner });
        reds.set(e, id);
        return;
      }
      default: return;
    }
  };

  for (const s of sp.step) {
    const reds: RedMap = new Map();
    switch (s.k) {
      case 'let':
        if (scalars.has(s.name)) {
          plan(s.expr, 1, reds);
          phases.push({ k: 'scalar', name: s.name, expr: s.expr, reds });
        } else if (materialized.has(s.name)) {
          const vars = materialized.get(s.name)!;
          plan(s.expr, product(vars), reds);
          phases.push({ k: 'elem', target: { k: 'let', name: s.name }, vars, expr: s.expr, reds });
        }
        break;
      case 'setState': {
        const ver = phases.filter((ph) => ph.k === 'elem' && ph.target.k === 'state' && ph.target.name === s.name).length + 1;
        plan(s.expr, product(s.idx), reds);
        phases.push({ k: 'elem', target: { k: 'state', name: s.name, ver }, vars: [...s.idx], expr: s.expr, reds });
        break;
      }
      case 'store': {
        const vars = facts.storeVars(s.idx);
        plan(s.expr, product(vars), reds);
        phases.push({ k: 'elem', target: { k: 'store', tensor: s.tensor, idx: s.idx }, vars, expr: s.expr, reds });
        break;
      }
      case 'ilet': break;
      case 'if': throw new Error('internal: the sequential lowering takes a specialised program');
    }
  }
  return { phases, materialized, scalars };
}

/**
 * Which locals get a register (no free index variables) or a workgroup array
 * (free variables over static dims, costly to evaluate, and used at more
 * elements than it has: by two phases, or inside a larger domain, as the
 * rotated k of Mamba-3 is read for every (p, n) but has only n elements).
 * Decided from the last local to the first, so a local's consumers are known.
 */
function chooseMaterialized(facts: StepFacts, sizeOf: SizeOf): { scalars: Set<string>; materialized: Map<string, string[]> } {
  const sp = facts.sp;
  const scalars = new Set<string>();
  const materialized = new Map<string, string[]>();
  const lets = sp.step.filter((s): s is Extract<typeof s, { k: 'let' }> => s.k === 'let');
  for (const l of lets) if (facts.letFree(l.name).length === 0) scalars.add(l.name);

  // Consumers: statements, scalar lets and materialised lets, each with the variables bound around a use.
  const sitesOf = (target: string): { consumer: string; bound: Set<string> }[] => {
    const sites: { consumer: string; bound: Set<string> }[] = [];
    const go = (e: Expr, bound: Set<string>, consumer: string): void => {
      switch (e.k) {
        case 'local':
          if (e.name === target) sites.push({ consumer, bound });
          else if (!scalars.has(e.name) && !materialized.has(e.name)) go(facts.defs.lets.get(e.name)!, bound, consumer);
          return;
        case 'bin': go(e.a, bound, consumer); go(e.b, bound, consumer); return;
        case 'neg': go(e.a, bound, consumer); return;
        case 'call': for (const a of e.args) go(a, bound, consumer); return;
        case 'where': go(e.a, bound, consumer); go(e.b, bound, consumer); return;
        case 'sum': go(e.body, new Set([...bound, e.index]), consumer); return;
        default: return;
      }
    };
    sp.step.forEach((s, i) => {
      if (s.k === 'setState') go(s.expr, new Set(s.idx), `s${i}`);
      else if (s.k === 'store') go(s.expr, new Set(facts.storeVars(s.idx)), `s${i}`);
      else if (s.k === 'let' && (scalars.has(s.name) || materialized.has(s.name))) go(s.expr, new Set(facts.letFree(s.name)), `s${i}`);
    });
    return sites;
  };

  for (const l of [...lets].reverse()) {
    const free = facts.letFree(l.name);
    if (free.length === 0 || free.some((v) => sizeOf(v) === undefined) || !costly(l.expr, facts)) continue;
    const sites = sitesOf(l.name);
    const consumers = new Set(sites.map((s) => s.consumer));
    const widened = sites.some((s) => [...s.bound].some((v) => !free.includes(v)));
    if (consumers.size >= 2 || widened) materialized.set(l.name, free);
  }
  return { scalars, materialized };
}

/** Reads memory or calls a function (through the locals it expands): worth computing once. */
function costly(e: Expr, facts: StepFacts): boolean {
  switch (e.k) {
    case 'load': case 'call': case 'sum': return true;
    case 'local': return costly(facts.defs.lets.get(e.name)!, facts);
    case 'bin': return costly(e.a, facts) || costly(e.b, facts);
    case 'neg': return costly(e.a, facts);
    case 'where': return costly(e.a, facts) || costly(e.b, facts);
    default: return false;
  }
}
