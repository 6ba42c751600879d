// The fused SSD kernel's pieces for the states beside S (analysis/ssd-side.ts)
// and for the previous-step input term:
//   - scans: per chunk, their inputs are computed for every (step, element)
//     at once into workgroup memory, then each element runs its Q steps in
//     one thread (only the recurrence itself is sequential), writing every
//     step's value into sv_<state> for the matrix operands to read;
//   - the previous-step term: step j's input u_j ⊗ w_j enters S again at step
//     j + 1 with factor s1_{j+1}. Inside a chunk that is one more share per
//     mask entry (ssd-parts.ts); across the chunk boundary it is folded into
//     the state when the chunk starts: S += s1_{c0}·exp(−ld_{c0})·Σ_r u⊗w of
//     step c0 − 1 (at c0 = 0, the carries' initial values), so the chunk's
//     decay of S brings the share to exp(cs_t − cs_{c0})·s1_{c0}, as the
//     recurrence has it (exact while one step's decay exp(ld) stays above
//     ~1e-35, fp32's range for exp(−ld));
//   - carries' final values: their assigned value at the last step.

import type { Expr } from '../../dsl/ir.js';
import { visitExpr } from '../../dsl/ir-walk.js';
import type { SideScan } from '../analysis/ssd-side.js';
import { add, assign, barrier, call, decl, f, i, loop, lt, mul, sub, v, when, TID, type PExpr, type PStmt, type SharedArray } from '../plan/ast.js';
import { N_BIT, P_BIT, R_BIT, T_BIT, idiv, imod, scanArray, sload, sstore, type SsdEmitter } from './ssd-parts.js';

interface ScanPlan {
  scan: SideScan;
  size: number;
  /** The update with its own read as $cur and its state-free inputs as $m… placeholders. */
  seq: Expr;
  /** The inputs computed for all steps at once, with their arrays. */
  parts: { ph: string; arr: string; expr: Expr }[];
}

function planScans(em: SsdEmitter): ScanPlan[] {
  return em.form.side.scans.map((scan) => {
    const size = scan.state.shape.reduce((a, d) => a * em.sp.staticDims[d]!, 1);
    const parts: ScanPlan['parts'] = [];
    // Maximal sub-expressions that read no state but read memory: every step's value at once, in parallel.
    const cut = (e: Expr): Expr => {
      if (e.k === 'state') return e.name === scan.state.name ? { k: 'local', name: '$cur' } : e;
      if (!readsAnyState(e) && readsMemory(e)) {
        const k = parts.length;
        parts.push({ ph: `$m${scan.state.name}_${k}`, arr: `sm_${scan.state.name}_${k}`, expr: e });
        return { k: 'local', name: parts[k]!.ph };
      }
      switch (e.k) {
        case 'bin': return { ...e, a: cut(e.a), b: cut(e.b) };
        case 'neg': return { ...e, a: cut(e.a) };
        case 'call': return { ...e, args: e.args.map(cut) };
        case 'where': return { ...e, a: cut(e.a), b: cut(e.b) };
        default: return e;
      }
    };
    return { scan, size, seq: cut(scan.expr), parts };
  });
}

/** Some sub-expression satisfies `pred`. */
function some(e: Expr, pred: (x: Expr) => boolean): boolean {
  let found = false;
  visitExpr(e, (x) => { found ||= pred(x); });
  return found;
}
const readsAnyState = (e: Expr): boolean => some(e, (x) => x.k === 'state');
const readsMemory = (e: Expr): boolean => some(e, (x) => x.k === 'load');

/** The element `flat` of a state block as values of its index variables ($a0, $a1, …). */
function elementVars(em: SsdEmitter, shape: string[], idx: string[], flat: PExpr, prefix: string): { vars: Record<string, string>; subst: Record<string, PExpr> } {
  const sizes = shape.map((d) => em.sp.staticDims[d]!);
  const vars: Record<string, string> = {}, subst: Record<string, PExpr> = {};
  let rest = flat;
  for (let k = sizes.length - 1; k >= 0; k--) {
    vars[idx[k]!] = `${prefix}${k}`;
    subst[`${prefix}${k}`] = k === 0 ? rest : imod(rest, sizes[k]!);
    rest = idiv(rest, sizes[k]!);
  }
  return { vars, subst };
}

export class SsdSide {
  private readonly scans: ScanPlan[];

  constructor(private readonly em: SsdEmitter, private readonly Q: number, private readonly T: number) {
    this.scans = planScans(em);
  }

  /** Workgroup arrays: per scan its values (Q + 1 rows) and inputs (Q rows); with a previous-step term step c0 − 1's u (R × PtPad) and w (R × NPad). */
  arrays(PtPad: number, NPad: number): SharedArray[] {
    const out: SharedArray[] = [];
    for (const s of this.scans) {
      out.push({ name: scanArray(s.scan.state.name), ty: 'f32', size: (this.Q + 1) * s.size });
      for (const p of s.parts) out.push({ name: p.arr, ty: 'f32', size: this.Q * s.size });
    }
    if (this.em.prev) out.push({ name: 'pu', ty: 'f32', size: this.em.R * PtPad }, { name: 'pw', ty: 'f32', size: this.em.R * NPad });
    return out;
  }

  static bytes(arrays: SharedArray[]): number {
    return arrays.reduce((a, x) => a + 4 * x.size, 0);
  }

  /** Before the chunk walk: row 0 of every scan's values from its initial state (or zero). */
  init(): PStmt[] {
    const { em, T } = this;
    return this.scans.map((s) => {
      const given = em.sp.variant.initStates.includes(s.scan.state.name);
      const value: PExpr = given ? { k: 'load', buf: s.scan.state.init, index: add(mul(v('row'), i(s.size)), v('ae')) } : f(0);
      return loop('ae', TID, i(s.size), i(T), [sstore(scanArray(s.scan.state.name), v('ae'), value)]);
    });
  }

  /** At a chunk's start: the scans' inputs for every step, then their Q steps per element; a barrier after each. */
  chunkStart(): PStmt[] {
    const { em, Q, T } = this;
    if (!this.scans.length) return [];
    const out: PStmt[] = [];
    for (const s of this.scans) {
      for (const p of s.parts) {
        const el = elementVars(em, s.scan.state.shape, s.scan.idx, imod(v('me'), s.size), '$a');
        const r = em.emitAll([[em.template(p.expr, el.vars), 'f32']], T_BIT | N_BIT, { $t: add(v('c0'), idiv(v('me'), s.size)), ...el.subst });
        out.push(loop('me', TID, i(Q * s.size), i(T), [
          decl('mv', 'f32', f(0), true),
          when(lt(add(v('c0'), idiv(v('me'), s.size)), em.L), [...r.decls, assign('mv', r.values[0]!)]),
          sstore(p.arr, v('me'), v('mv')),
        ]));
      }
    }
    out.push(barrier);
    for (const s of this.scans) {
      const arr = scanArray(s.scan.state.name);
      const el = elementVars(em, s.scan.state.shape, s.scan.idx, v('ae'), '$a');
      const inputs = Object.fromEntries(s.parts.map((p) => [p.ph, sload(p.arr, add(mul(v('aj'), i(s.size)), v('ae')))]));
      const r = em.emitAll([[em.template(s.seq, el.vars), 'f32']], T_BIT | N_BIT, { $t: add(v('c0'), v('aj')), $cur: v('acur'), ...inputs, ...el.subst });
      out.push(loop('ae', TID, i(s.size), i(T), [
        // Row 0: the value entering the chunk (the previous chunk's last row, written by this same thread).
        when(lt(i(0), v('c0')), [sstore(arr, v('ae'), sload(arr, add(i(Q * s.size), v('ae'))))]),
        decl('acur', 'f32', sload(arr, v('ae')), true),
        loop('aj', i(0), i(Q), i(1), [
          when(lt(add(v('c0'), v('aj')), em.L), [...r.decls, assign('acur', r.values[0]!)]),
          sstore(arr, add(mul(add(v('aj'), i(1)), i(s.size)), v('ae')), v('acur')),
        ]),
      ]));
    }
    out.push(barrier);
    return out;
  }

  /** In the chunk's load pass (no barrier needed before it): step c0 − 1's u and w, for the fold. */
  prevLoads(Pt: number, PtPad: number, NPad: number): PStmt[] {
    const { em, T } = this;
    const pr = em.prev;
    if (!pr) return [];
    const side = (name: string, reg: string, e: string, width: number, limit: number, axis: '$p' | '$n', base: PExpr, cur: PExpr, first: PExpr): PStmt => {
      const ax = axis === '$p' ? P_BIT : N_BIT;
      const at = add(base, v(`${e}x`));
      const later = em.emitAll([[cur, 'f32']], T_BIT | ax | R_BIT, { $t: sub(v('c0'), i(1)), [axis]: at, $k: v(`${e}r`) });
      const start = em.emitAll([[first, 'f32']], ax | R_BIT, { [axis]: at, $k: v(`${e}r`) });
      return loop(e, TID, i(em.R * width), i(T), [
        decl(`${e}r`, 'i32', idiv(v(e), width)),
        decl(`${e}x`, 'i32', imod(v(e), width)),
        decl(reg, 'f32', f(0), true),
        when(lt(v(`${e}x`), i(limit)), [
          when(lt(i(0), v('c0')), [...later.decls, assign(reg, later.values[0]!)], [...start.decls, assign(reg, start.values[0]!)]),
        ]),
        sstore(name, v(e), v(reg)),
      ]);
    };
    return [
      side('pu', 'puv', 'ue', PtPad, Pt, '$p', v('p0'), em.u, pr.u0),
      side('pw', 'pwv', 'we', NPad, em.N, '$n', i(0), em.w, pr.w0),
    ];
  }

  /** After the load pass's barrier: S += s1_{c0}·exp(−ld_{c0})·Σ_r pu[r] ⊗ pw[r] (state tile Ss, stride sS). */
  fold(Pt: number, PtPad: number, NPad: number, sS: number): PStmt[] {
    const { em, T } = this;
    if (!em.prev) return [];
    const k = em.emitAll([[em.prev.s1, 'f32'], [em.ld, 'f32']], T_BIT, { $t: v('c0') });
    let acc: PExpr | undefined;
    for (let r = 0; r < em.R; r++) {
      const term = mul(sload('pu', add(i(r * PtPad), v('fp'))), sload('pw', add(i(r * NPad), v('fq'))));
      acc = acc ? add(acc, term) : term;
    }
    return [
      ...k.decls,
      decl('kap', 'f32', mul(k.values[0]!, call('exp', { k: 'neg', a: k.values[1]! }))),
      loop('fe', TID, i(Pt * em.N), i(T), [
        decl('fp', 'i32', idiv(v('fe'), em.N)),
        decl('fq', 'i32', imod(v('fe'), em.N)),
        decl('fa', 'i32', add(mul(v('fp'), i(sS)), v('fq'))),
        sstore('Ss', v('fa'), add(sload('Ss', v('fa')), mul(v('kap'), acc!))),
      ]),
    ];
  }

  /** After the chunk walk: the scans' and carries' final values. */
  finals(): PStmt[] {
    const { em, Q, T } = this;
    const out: PStmt[] = [];
    const L = em.L;
    for (const s of this.scans) {
      if (!em.sp.variant.finalStates.includes(s.scan.state.name)) continue;
      const arr = scanArray(s.scan.state.name);
      out.push(loop('ae', TID, i(s.size), i(T), [
        decl('afin', 'f32', sload(arr, v('ae')), true),
        when(lt(i(0), L), [assign('afin', sload(arr, add(i(Q * s.size), v('ae'))))]),
        { k: 'store', buf: s.scan.state.final, index: add(mul(v('row'), i(s.size)), v('ae')), value: v('afin') },
      ]));
    }
    for (const c of em.form.side.carries) {
      if (!em.sp.variant.finalStates.includes(c.state.name)) continue;
      const size = c.state.shape.reduce((a, d) => a * em.sp.staticDims[d]!, 1);
      const el = elementVars(em, c.state.shape, c.idx, v('ce'), '$c');
      const last = em.emitAll([[em.template(c.expr, el.vars), 'f32']], T_BIT | N_BIT, { $t: sub(L, i(1)), ...el.subst });
      const given = em.sp.variant.initStates.includes(c.state.name);
      const at = add(mul(v('row'), i(size)), v('ce'));
      out.push(loop('ce', TID, i(size), i(T), [
        decl('cfin', 'f32', given ? { k: 'load', buf: c.state.init, index: at } : f(0), true),
        // The value assigned at the last step; the scans it reads are the last chunk's (c0 of that chunk).
        when(lt(i(0), L), [decl('c0', 'i32', mul(idiv(sub(L, i(1)), Q), i(Q))), ...last.decls, assign('cfin', last.values[0]!)]),
        { k: 'store', buf: c.state.final, index: at, value: v('cfin') },
      ]));
    }
    return out;
  }
}
