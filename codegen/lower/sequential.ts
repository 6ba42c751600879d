// Lowering "sequential": any program the DSL accepts (coupled states, states
// of several shapes, non-linear updates, carries of the previous step). One
// workgroup owns one row of the parallel axes and walks the scan axis one
// step at a time; inside a step the statements run in order as phases
// (sequential/phases.ts), each spreading the elements of its domain over the
// threads, with state in workgroup memory (sequential/storage.ts) and
// barriers only where a phase reads or overwrites what another thread wrote
// or read since the last one. With seqlen = 1 it is the decode step: one
// token in, every state in and out.
//
// Workgroup memory: when the state does not fit the target's budget (a 64 ×
// 128 fp32 S is 32 KiB, all of the CPU adapter's), a state axis along which
// the update never mixes elements (analysis/tile-axes.ts) is split over
// several workgroups per row: each owns a slice of that axis of every state
// that has it, and recomputes the small states without it. The slice is a
// divisor of the axis, so the grid stays "rows × axis / slice" and no
// workgroup has a ragged tail. The `tile` knob forces a slice (more
// workgroups for a small batch).

import { programBindings } from './program-bindings.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import { tileableAxes, type TileAxis } from '../analysis/tile-axes.js';
import {
  assign, barrier, decl, f, i, loop, lt, mul, add, type KernelPlan, type PExpr, type PStmt, TID, v, when,
} from '../plan/ast.js';
import { dimEnv, offsetOf } from './index-math.js';
import { ExprEmitter, horner, type Bind, type Env } from './sequential/emit.js';
import { planStep, StepFacts, type Phase, type SizeOf, type StepPlan } from './sequential/phases.js';
import { ident, layoutStep, pow2Ceil, type Layout, type TileChoice } from './sequential/storage.js';

export interface SequentialSchedule {
  /** Threads per workgroup (a power of two); fewer are used when no phase has that many elements. */
  threads: number;
  /** Elements of the split state axis per workgroup (must divide it); default: the largest slice that fits. */
  tile?: number;
}

export interface SequentialCaps {
  /** Workgroup (shared) memory the kernel may declare, in bytes. */
  workgroupStorageBytes: number;
}

export class SequentialLoweringError extends Error {}

export interface SequentialLowering {
  plan: KernelPlan;
  tile?: TileChoice;
  notes: string[];
}

export function lowerSequential(sp: SpecializedProgram, sched: SequentialSchedule, caps: SequentialCaps, name: string): SequentialLowering {
  const maxT = sched.threads;
  if (!Number.isInteger(maxT) || maxT < 1 || maxT > 1024 || !Number.isInteger(Math.log2(maxT))) {
    throw new SequentialLoweringError(`threads must be a power of two between 1 and 1024, got ${maxT}`);
  }
  const facts = new StepFacts(sp);
  const budget = caps.workgroupStorageBytes;
  const sizesFor = (tile: TileChoice | undefined): SizeOf => (x) => {
    const d = sp.indices[x]?.dim;
    if (d === undefined) return undefined;
    if (tile && x === tile.index) return tile.size;
    return sp.staticDims[d];
  };
  const attempt = (tile: TileChoice | undefined, threads: number): { plan: StepPlan; layout: Layout } => {
    const plan = planStep(facts, sizesFor(tile), threads);
    return { plan, layout: layoutStep(facts, plan, sizesFor(tile), threads, tile) };
  };

  const candidates = tileableAxes(sp);
  let tile = forcedTile(sp, sched.tile, candidates);
  let r = attempt(tile, maxT);
  if (r.layout.bytes > budget && sched.tile === undefined) {
    // The largest slice of any splittable axis that fits (fewest workgroups per row).
    let best: { tile: TileChoice; r: typeof r; frac: number } | undefined;
    for (const c of candidates) {
      const X = sp.staticDims[c.dim]!;
      for (const size of divisors(X).filter((d) => d < X).reverse()) {
        const t = { ...c, size };
        const rt = attempt(t, maxT);
        if (rt.layout.bytes <= budget) {
          if (!best || size / X > best.frac) best = { tile: t, r: rt, frac: size / X };
          break;
        }
      }
    }
    if (best) ({ tile, r } = best);
  }
  if (r.layout.bytes > budget) {
    const why = candidates.length
      ? `even split over ${candidates.map((c) => `${c.index} (${c.dim})`).join(', ')}`
      : 'and no state axis can be split over workgroups (every axis is summed over or read at other elements)';
    throw new SequentialLoweringError(`${sp.name}: the step needs ${r.layout.bytes} bytes of workgroup memory (${r.layout.shared.map((s) => `${s.name} ${4 * s.size}`).join(', ')}), more than the ${budget} the target allows, ${why}`);
  }
  // No more threads than the widest phase has elements (at least one warp).
  const threads = Math.max(Math.min(32, maxT), Math.min(maxT, pow2Ceil(widestWork(r.plan, sizesFor(tile)))));
  if (threads !== maxT) r = attempt(tile, threads);

  const plan = emitKernel(sp, facts, r.plan, r.layout, threads, tile, name);
  const notes = tile ? [`sequential: state axis ${tile.index} (${tile.dim}) split over workgroups of ${tile.size} (${r.layout.bytes} bytes of workgroup memory each)`] : [];
  return { plan, tile, notes };
}

function forcedTile(sp: SpecializedProgram, size: number | undefined, candidates: TileAxis[]): TileChoice | undefined {
  if (size === undefined) return undefined;
  if (!Number.isInteger(size) || size < 1) throw new SequentialLoweringError(`tile must be a positive integer, got ${size}`);
  const c = [...candidates].sort((a, b) => sp.staticDims[b.dim]! - sp.staticDims[a.dim]!)[0];
  if (!c) throw new SequentialLoweringError(`tile = ${size}: no state axis of ${sp.name} can be split over workgroups`);
  const X = sp.staticDims[c.dim]!;
  if (X % size !== 0) throw new SequentialLoweringError(`tile = ${size} does not divide ${c.dim} = ${X} (the axis ${c.index} is split in equal slices)`);
  return { ...c, size };
}

/**
 * for (v = from; v < to; v += step), or, when `to` is a constant no larger
 * than `step` (every thread has at most one element), `if (from < to)`:
 * fewer loops per step. (The CPU adapter, llvmpipe, stops a shader after
 * 65535 loop iterations in all, so loops inside the scan loop bound the
 * sequence length it can run; real GPUs have no such limit.)
 */
function strided(name: string, from: PExpr, to: PExpr, step: number, body: PStmt[]): PStmt {
  if (to.k === 'lit' && (to.v as number) <= step && from.k !== 'lit') return when(lt(from, to), [decl(name, 'i32', from), ...body]);
  return loop(name, from, to, i(step), body);
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** Elements (or, for a reduction, terms) of the widest phase; Infinity for runtime-sized domains. */
function widestWork(plan: StepPlan, sizeOf: SizeOf): number {
  let w = 1;
  for (const ph of plan.phases) {
    if (ph.k === 'scalar') continue;
    let n = ph.vars.reduce((a, x) => a * (sizeOf(x) ?? Infinity), 1);
    if (ph.k === 'reduce') n *= sizeOf(ph.index) ?? Infinity;
    w = Math.max(w, n);
  }
  return w;
}

/** Inserts a barrier before a phase that reads or overwrites what others wrote or read since the last one. */
class Barriers {
  private readonly read = new Set<string>();
  private readonly written = new Set<string>();

  need(reads: Iterable<string>, writes: Iterable<string>): PStmt[] {
    const r = [...reads], w = [...writes];
    const clash = r.some((a) => this.written.has(a)) || w.some((a) => this.written.has(a) || this.read.has(a));
    return clash ? this.reset() : [];
  }

  did(reads: Iterable<string>, writes: Iterable<string>): void {
    for (const a of reads) this.read.add(a);
    for (const a of writes) this.written.add(a);
  }

  /** A barrier if anything is pending. */
  flush(): PStmt[] {
    return this.read.size || this.written.size ? this.reset() : [];
  }

  reset(): PStmt[] {
    this.read.clear();
    this.written.clear();
    return [barrier];
  }
}

function emitKernel(sp: SpecializedProgram, facts: StepFacts, steps: StepPlan, layout: Layout, T: number, tile: TileChoice | undefined, name: string): KernelPlan {
  const dim = dimEnv(sp.staticDims);
  const em = new ExprEmitter(facts, layout, dim);
  const base = new Map<string, Bind>();
  for (const x of sp.parallel) base.set(x, { g: v(`sf_i_${ident(x)}`), l: v(`sf_i_${ident(x)}`) });
  base.set(sp.scan, { g: v('sf_t'), l: v('sf_t') });
  const nTiles = tile ? sp.staticDims[tile.dim]! / tile.size : 1;
  const tileZero: PExpr = { k: 'bin', op: '==', a: v('sf_tile'), b: i(0) };

  /** for (e = tid; e < |domain|; e += T) with the domain's variables bound (global and local values). */
  const elemLoop = (vars: string[], body: (env: Env, e: PExpr) => PStmt[], reads: Set<string>, reds: Env['reds']): PStmt[] => {
    const e = em.fresh('e');
    const sizes = vars.map((x) => em.extent(x));
    const total = sizes.reduce<PExpr>((a, s) => (a.k === 'lit' && s.k === 'lit' ? i((a.v as number) * (s.v as number)) : mul(a, s)), i(1));
    const pre: PStmt[] = [];
    const vars2 = new Map(base);
    let rem: PExpr = v(e);
    for (let j = vars.length - 1; j >= 0; j--) {
      const c = em.fresh(`c_${ident(vars[j]!)}_`);
      pre.push(decl(c, 'i32', j === 0 ? rem : { k: 'bin', op: '%', a: rem, b: sizes[j]! }));
      if (j > 0) {
        const r = em.fresh('r');
        pre.push(decl(r, 'i32', { k: 'bin', op: '/', a: rem, b: sizes[j]! }));
        rem = v(r);
      }
      const global = tile && vars[j] === tile.index ? add(v('sf_x0'), v(c)) : v(c);
      vars2.set(vars[j]!, { g: global, l: v(c) });
    }
    const env: Env = { vars: vars2, out: [], reds, reads };
    const stmts = body(env, v(e));
    return [strided(e, TID, total, T, [...pre, ...env.out, ...stmts])];
  };

  const bar = new Barriers();
  const stepBody: PStmt[] = [];
  for (const ph of steps.phases) stepBody.push(...emitPhase(ph));
  for (const c of layout.copies) {
    const to = layout.stateArray(c.state, 0);
    const size = layout.stateAxes(c.state).sizes.reduce((a, b) => a * b, 1);
    const e = em.fresh('e');
    stepBody.push(...bar.need([c.from], [to]), strided(e, TID, i(size), T, [{ k: 'sstore', arr: to, index: v(e), value: { k: 'sload', arr: c.from, index: v(e) } }]));
    bar.did([c.from], [to]);
  }
  stepBody.push(...bar.flush());

  function emitPhase(ph: Phase): PStmt[] {
    const reads = new Set<string>();
    const out: PStmt[] = [];
    switch (ph.k) {
      case 'scalar': {
        const env: Env = { vars: new Map(base), out: [], reds: ph.reds, reads };
        const value = em.value(ph.expr, env);
        out.push(...bar.need(reads, []), ...env.out, decl(layout.scalar(ph.name)!, 'f32', value));
        bar.did(reads, []);
        return out;
      }
      case 'elem': {
        const t = ph.target;
        const writes: string[] = [];
        const body = elemLoop(ph.vars, (env, e) => {
          const value = em.value(ph.expr, env);
          if (t.k === 'let') {
            const arr = layout.letArray(t.name)!.arr;
            writes.push(arr);
            return [{ k: 'sstore', arr, index: e, value }];
          }
          if (t.k === 'state') {
            const arr = layout.stateArray(t.name, t.ver);
            writes.push(arr);
            return [{ k: 'sstore', arr, index: e, value }];
          }
          const tensor = sp.written.find((x) => x.name === t.tensor)!;
          const idx = t.idx.map((ie) => em.index(ie, env));
          return [{ k: 'store', buf: t.tensor, index: offsetOf(tensor, idx, { ivar: () => i(0), dim }), value }];
        }, reads, ph.reds);
        // An output element outside the split axis is the same in every tile: tile 0 writes it.
        const guarded = t.k === 'store' && tile && !ph.vars.includes(tile.index) ? [when(tileZero, body)] : body;
        out.push(...bar.need(reads, writes), ...guarded);
        bar.did(reads, writes);
        return out;
      }
      case 'reduce': return emitReduce(ph, reads);
    }
  }

  function emitReduce(ph: Extract<Phase, { k: 'reduce' }>, reads: Set<string>): PStmt[] {
    const G = layout.lanes.get(ph.id)!;
    const rd = layout.reduction(ph.id).arr;
    const out: PStmt[] = [];
    if (G === 1) {
      const body = elemLoop(ph.vars, (env, e) => {
        const acc = em.fresh('acc');
        const k = em.fresh('k');
        const inner: Env = { ...env, vars: new Map(env.vars).set(ph.index, { g: v(k), l: v(k) }), out: [] };
        const term = em.value(ph.body, inner);
        return [decl(acc, 'f32', f(0), true), loop(k, i(0), em.extent(ph.index), i(1), [...inner.out, assign(acc, add(v(acc), term))]), { k: 'sstore', arr: rd, index: e, value: v(acc) }];
      }, reads, ph.reds);
      out.push(...bar.need(reads, [rd]), ...body);
      bar.did(reads, [rd]);
      return out;
    }
    // G lanes per result: lane l sums terms l, l + G, ...; then a tree through the scratch array.
    const red = layout.scratch!;
    const size = ph.vars.reduce((a, x) => a * layout.sizeOf(x)!, 1);
    const d = em.fresh('d'), lane = em.fresh('lane'), acc = em.fresh('acc'), k = em.fresh('k');
    const vars2 = new Map(base);
    const pre: PStmt[] = [];
    let rem: PExpr = v(d);
    for (let j = ph.vars.length - 1; j >= 0; j--) {
      const x = ph.vars[j]!;
      const s = i(layout.sizeOf(x)!);
      const c = em.fresh(`c_${ident(x)}_`);
      pre.push(decl(c, 'i32', j === 0 ? rem : { k: 'bin', op: '%', a: rem, b: s }));
      if (j > 0) {
        const r = em.fresh('r');
        pre.push(decl(r, 'i32', { k: 'bin', op: '/', a: rem, b: s }));
        rem = v(r);
      }
      vars2.set(x, { g: tile && x === tile.index ? add(v('sf_x0'), v(c)) : v(c), l: v(c) });
    }
    vars2.set(ph.index, { g: v(k), l: v(k) });
    const env: Env = { vars: vars2, out: [], reds: ph.reds, reads };
    const term = em.value(ph.body, env);
    const sum: PStmt[] = [...pre, strided(k, v(lane), em.extent(ph.index), G, [...env.out, assign(acc, add(v(acc), term))])];
    out.push(...bar.need(reads, [red]));
    out.push(
      decl(d, 'i32', { k: 'bin', op: '/', a: TID, b: i(G) }),
      decl(lane, 'i32', { k: 'bin', op: '%', a: TID, b: i(G) }),
      decl(acc, 'f32', f(0), true),
      when(lt(v(d), i(size)), sum),
      { k: 'sstore', arr: red, index: TID, value: v(acc) },
      barrier,
    );
    for (let s = G / 2; s >= 1; s /= 2) {
      out.push(when(lt(v(lane), i(s)), [{ k: 'sstore', arr: red, index: TID, value: add({ k: 'sload', arr: red, index: TID }, { k: 'sload', arr: red, index: add(TID, i(s)) }) }]));
      if (s > 1) out.push(barrier);
    }
    out.push(when({ k: 'bin', op: '&&', a: { k: 'bin', op: '==', a: v(lane), b: i(0) }, b: lt(v(d), i(size)) }, [{ k: 'sstore', arr: rd, index: v(d), value: { k: 'sload', arr: red, index: TID } }]));
    bar.reset();
    bar.did([red], [red, rd]);
    return out;
  }

  // ---- the row: parallel indices, the tile, initial states, the scan loop, final states ----
  const rowDims = sp.parallel.map((x) => sp.indices[x]!.dim);
  const body: PStmt[] = [decl('sf_group', 'i32', { k: 'builtin', b: 'group' })];
  if (tile) {
    body.push(
      decl('sf_tile', 'i32', { k: 'bin', op: '%', a: v('sf_group'), b: i(nTiles) }),
      decl('sf_row', 'i32', { k: 'bin', op: '/', a: v('sf_group'), b: i(nTiles) }),
      decl('sf_x0', 'i32', mul(v('sf_tile'), i(tile.size))),
    );
  } else {
    body.push(decl('sf_row', 'i32', v('sf_group')));
  }
  let rem: PExpr = v('sf_row');
  for (let j = sp.parallel.length - 1; j >= 0; j--) {
    const d = dim(rowDims[j]!);
    body.push(decl(`sf_i_${ident(sp.parallel[j]!)}`, 'i32', j === 0 ? rem : { k: 'bin', op: '%', a: rem, b: d }));
    if (j > 0) {
      const r = em.fresh('row');
      body.push(decl(r, 'i32', { k: 'bin', op: '/', a: rem, b: d }));
      rem = v(r);
    }
  }
  const init: PStmt[] = [];
  const final: PStmt[] = [];
  for (const st of sp.state) {
    const axes = layout.stateAxes(st.name);
    const arr = layout.stateArray(st.name, 0);
    const localSize = axes.sizes.reduce((a, b) => a * b, 1);
    const globalSize = st.shape.reduce((a, d) => a * sp.staticDims[d]!, 1);
    const walk = (make: (local: PExpr, globalOff: PExpr) => PStmt): PStmt => {
      const e = em.fresh('e');
      const pre: PStmt[] = [];
      const coords: PExpr[] = new Array<PExpr>(st.shape.length);
      let r: PExpr = v(e);
      for (let j = st.shape.length - 1; j >= 0; j--) {
        const c = em.fresh('s');
        pre.push(decl(c, 'i32', j === 0 ? r : { k: 'bin', op: '%', a: r, b: i(axes.sizes[j]!) }));
        if (j > 0) {
          const q = em.fresh('q');
          pre.push(decl(q, 'i32', { k: 'bin', op: '/', a: r, b: i(axes.sizes[j]!) }));
          r = v(q);
        }
        coords[j] = j === axes.tiled ? add(v('sf_x0'), v(c)) : v(c);
      }
      const off = add(mul(v('sf_row'), i(globalSize)), horner(coords, st.shape.map((d) => i(sp.staticDims[d]!))));
      return strided(e, TID, i(localSize), T, [...pre, make(v(e), off)]);
    };
    const given = sp.variant.initStates.includes(st.name);
    init.push(walk((local, off) => ({ k: 'sstore', arr, index: local, value: given ? { k: 'load', buf: st.init, index: off } : f(0) })));
    if (sp.variant.finalStates.includes(st.name)) {
      // Each tile owns its slice of a split state; a state without the split axis is written by tile 0.
      const w = walk((local, off) => ({ k: 'store', buf: st.final, index: off, value: { k: 'sload', arr, index: local } }));
      final.push(tile && axes.tiled < 0 ? when(tileZero, [w]) : w);
    }
  }
  const L = dim(sp.indices[sp.scan]!.dim);
  body.push(...init, barrier, loop('sf_t', i(0), L, i(1), stepBody), ...final);

  const { buffers, params, elem } = programBindings(sp);
  return {
    name,
    workgroupSize: T,
    buffers,
    params,
    shared: layout.shared,
    body,
    usesSubgroups: false,
    grid: { groupsFromDims: tile ? [...rowDims, tile.dim] : rowDims, rowsPerGroup: tile ? tile.size : 1 },
    helpers: em.helpers,
    // Loops, not unrolled items: a handful of live values per thread.
    registerBudget: 128,
    elem,
  };
}
