// Workgroup memory of the sequential lowering: one array per state (the value
// a step starts from), one per materialised local and per reduce phase, and
// a scratch array for the lanes of reductions. A state update writes its
// array in place when that is safe: the update reads the old version only at
// the element it writes (each thread reads and writes its own elements), and
// nothing later in the step reads the old version. Otherwise the new version
// gets an array of its own, copied back at the end of the step (a mixing
// update, or an output that reads the state before its update).

import type { Expr } from '../../../dsl/ir.js';
import type { SharedArray } from '../../plan/ast.js';
import type { Storage } from './emit.js';
import type { Phase, RedMap, SizeOf, StepFacts, StepPlan } from './phases.js';

export interface TileChoice {
  index: string;
  dim: string;
  /** Elements of the tiled axis per workgroup (divides the dim). */
  size: number;
}

export interface Layout extends Storage {
  shared: SharedArray[];
  bytes: number;
  /** States whose last version is not in their base array: copied back at the end of each step. */
  copies: { state: string; from: string }[];
  /** Lanes per result of each reduce phase (1: one thread sums serially). */
  lanes: Map<number, number>;
  /** Scratch for reduction lanes (undefined when no reduction has more than one lane). */
  scratch?: string;
}

export const ident = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

export function layoutStep(facts: StepFacts, plan: StepPlan, sizeOf: SizeOf, threads: number, tile: TileChoice | undefined): Layout {
  const sp = facts.sp;
  const shared: SharedArray[] = [];
  const addArray = (name: string, size: number): string => {
    shared.push({ name, ty: 'f32', size: Math.max(1, size) });
    return name;
  };
  const axesOf = new Map(sp.state.map((s) => {
    const sizes = s.shape.map((d) => (tile && d === tile.dim ? tile.size : sp.staticDims[d]!));
    return [s.name, { sizes, tiled: tile ? s.shape.indexOf(tile.dim) : -1 }] as const;
  }));
  const stateSize = (name: string): number => axesOf.get(name)!.sizes.reduce((a, b) => a * b, 1);

  // Versions: in place when the update is diagonal in the old version and nothing after it reads that version.
  const arrays = new Map<string, string>();
  const key = (s: string, ver: number): string => `${s}@${ver}`;
  for (const s of sp.state) arrays.set(key(s.name, 0), addArray(`sf_st_${ident(s.name)}`, stateSize(s.name)));
  const reads = plan.phases.map((ph) => stateReads(ph, plan, facts));
  plan.phases.forEach((ph, at) => {
    if (ph.k !== 'elem' || ph.target.k !== 'state') return;
    const { name, ver } = ph.target;
    const prev = arrays.get(key(name, ver - 1))!;
    const mine = reads[at]!.filter((r) => r.name === name && (r.ver ?? 0) === ver - 1);
    const diagonal = mine.every((r) => r.idx.length === ph.vars.length && r.idx.every((ie, j) => ie.k === 'ivar' && ie.name === ph.vars[j]));
    const readLater = reads.slice(at + 1).some((rs) => rs.some((r) => r.name === name && (r.ver ?? 0) === ver - 1));
    arrays.set(key(name, ver), diagonal && !readLater ? prev : addArray(`sf_st_${ident(name)}_v${ver}`, stateSize(name)));
  });
  const copies: Layout['copies'] = [];
  for (const s of sp.state) {
    const versions = plan.phases.filter((ph) => ph.k === 'elem' && ph.target.k === 'state' && ph.target.name === s.name).length;
    const last = arrays.get(key(s.name, versions))!;
    if (last !== arrays.get(key(s.name, 0))) copies.push({ state: s.name, from: last });
  }

  const letArrays = new Map<string, { arr: string; vars: string[] }>();
  for (const [name, vars] of plan.materialized) {
    letArrays.set(name, { arr: addArray(`sf_lt_${ident(name)}`, vars.reduce((a, x) => a * sizeOf(x)!, 1)), vars });
  }
  const reductions = new Map<number, { arr: string; vars: string[] }>();
  const lanes = new Map<number, number>();
  for (const ph of plan.phases) {
    if (ph.k !== 'reduce') continue;
    const size = ph.vars.reduce((a, x) => a * sizeOf(x)!, 1);
    reductions.set(ph.id, { arr: addArray(`sf_rd${ph.id}`, size), vars: ph.vars });
    const k = sizeOf(ph.index) ?? Infinity;
    const g = Math.min(pow2Floor(threads / size), pow2Ceil(k));
    lanes.set(ph.id, g >= 2 ? g : 1);
  }
  const scratch = [...lanes.values()].some((g) => g > 1) ? addArray('sf_red', threads) : undefined;

  return {
    shared,
    bytes: shared.reduce((a, s) => a + 4 * s.size, 0),
    copies,
    lanes,
    scratch,
    stateArray: (name, ver) => {
      const arr = arrays.get(key(name, ver));
      if (!arr) throw new Error(`internal: no array for version ${ver} of state ${name}`);
      return arr;
    },
    stateAxes: (name) => axesOf.get(name)!,
    letArray: (name) => letArrays.get(name),
    scalar: (name) => (plan.scalars.has(name) ? `sf_sc_${ident(name)}` : undefined),
    reduction: (id) => reductions.get(id)!,
    sizeOf,
  };
}

/** State reads a phase performs itself (not those inside materialised locals or reduce phases it consumes). */
export function stateReads(ph: Phase, plan: StepPlan, facts: StepFacts): Extract<Expr, { k: 'state' }>[] {
  const out: Extract<Expr, { k: 'state' }>[] = [];
  const go = (e: Expr, reds: RedMap): void => {
    switch (e.k) {
      case 'state': out.push(e); return;
      case 'local':
        if (!plan.scalars.has(e.name) && !plan.materialized.has(e.name)) go(facts.defs.lets.get(e.name)!, reds);
        return;
      case 'sum': if (!reds.has(e)) go(e.body, reds); return;
      case 'bin': go(e.a, reds); go(e.b, reds); return;
      case 'neg': go(e.a, reds); return;
      case 'call': for (const a of e.args) go(a, reds); return;
      case 'where': go(e.a, reds); go(e.b, reds); return;
      default: return;
    }
  };
  go(ph.k === 'reduce' ? ph.body : ph.expr, ph.reds);
  return out;
}

export function pow2Floor(x: number): number {
  return x < 1 ? 0 : 2 ** Math.floor(Math.log2(x));
}

export function pow2Ceil(x: number): number {
  return !Number.isFinite(x) ? Infinity : 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}
