// Lowering "chunked SSD on warpgroup products": the SSD chunk walk for
// Hopper's wgmma (CUDA sm_90a), as one plan statement the CUDA renderer prints
// whole (render/cuda-ssd-wgmma.ts says how it runs) around the program's own
// pieces, built here from the SSD analysis' templates exactly as the fused
// form builds them (ssd-parts.ts): the per-step log-decay and factor, the
// addresses of u, c, w and of the outputs' staged loads, the output value
// from the readout, and the initial/final states.
//
// It applies where the walk's fixed tiling does: bf16 or f16 tensors, one rank-1
// update and no other state or previous-step term, P a multiple of 64 (one
// warpgroup per 64), N of 64 or 128 (the state's registers), u, c and w plain
// loads contiguous along p / n, and one output contiguous along p whose
// per-step loads are u's and at most one more (z). `ssdWgmmaRefusal` says why
// not otherwise; the fused form (lower/ssd.ts) serves those programs, and
// every program on the other targets.

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { SsdForm } from '../analysis/ssd.js';
import { exprChildren, exprVars } from '../plan/walk.js';
import { i, v, type KernelPlan, type LaunchSequence, type PExpr, type PStmt, type ScratchSpec, type SsdWgmmaCopy, type SsdWgmmaStmt } from '../plan/ast.js';
import type { KernelBinding } from '../../runtime/backend.js';
import {
  asyncCopyable, decomposeRow, idiv, imod, loadStepFactors, rowVar, N_BIT, outputTemplates, P_BIT, prefetchedStepFactors, programBindings, rowsOf, ssdEmitter,
  stageableOutputLoads, stagedKey, stateOffset, T_BIT, type SsdEmitter, type StagedLoad,
} from './ssd-parts.js';
import { operandPrecision } from './ssd.js';

/** The walk's chunk and workgroup. */
export const WGMMA_CHUNK = 64;
export const WGMMA_THREADS = 128;
/** Scratch of the first launch: G's pairs on and below the diagonal of each (group's row, chunk), 36 blocks × 32 pairs. */
export const G_SCRATCH = 'sf_g';
const G_FLOATS = 36 * 32 * 2;

/** Why the warpgroup walk cannot run this program, or undefined where it can. */
export function ssdWgmmaRefusal(sp: SpecializedProgram, form: SsdForm): string | undefined {
  const ty = operandPrecision(sp.used);
  if (ty === 'f32') return 'it needs bf16 or f16 tensors';
  const em = ssdEmitter(sp, form);
  if (form.rank) return `it handles one rank-1 update; this program has a rank axis (${form.rank.dim})`;
  if (form.prev) return 'it handles no previous-step input term';
  if (form.side.scans.length || form.side.carries.length) return `it handles no state besides ${form.state.name}`;
  if (em.P % 64 !== 0) return `the state's P axis must be a multiple of 64 (one warpgroup per 64), got ${em.P}`;
  if (em.N !== 64 && em.N !== 128) return `the state's N axis must be 64 or 128 (its registers), got ${em.N}`;
  const copies: [PExpr, '$p' | '$n', string][] = [[em.u, '$p', 'u'], [em.c, '$n', 'c'], [em.w, '$n', 'w']];
  for (const [tmpl, key, what] of copies) {
    if (tmpl.k !== 'load' || !asyncCopyable(em, tmpl, key, ty, 8)) return `its ${what} must be a plain load of a ${ty} tensor, 8 consecutive elements along ${key.slice(1)} at a time`;
  }
  const staged = stagedLoads(em, ty);
  const outs = outputTemplates(em, staged);
  if (outs.length !== 1) return `it writes one output, this program writes ${outs.length}`;
  const out = outs[0]!;
  const outLoad: PExpr = { k: 'load', buf: out.buf, index: out.index };
  if (!asyncCopyable(em, outLoad, '$p', ty, 8)) return `its output ${out.buf} must be a ${ty} tensor stored 8 consecutive elements along p at a time`;
  if (staged.filter((x) => x.arr !== 'Xs').length > 1) return 'its output reads at most one per-step tensor besides u';
  const rest = perStepLoads(out.value);
  if (rest.length) return `its output reads ${rest.map((x) => (x.k === 'load' ? x.buf : '?')).join(', ')} per step in a way the walk cannot stage`;
  return undefined;
}

/** The output's per-step loads the walk stages: u's (in x's tile) and at most one more (z's tile). */
function stagedLoads(em: SsdEmitter, ty: 'bf16' | 'f16'): StagedLoad[] {
  return stageableOutputLoads(em, ty, 8);
}

/** Loads in `x` that vary with the step (what the output may not read apart from its staged loads). */
function perStepLoads(x: PExpr, out: PExpr[] = []): PExpr[] {
  if (x.k === 'load' && exprVars(x.index).has('$t')) out.push(x);
  exprChildren(x).forEach((c) => perStepLoads(c, out));
  return out;
}

/**
 * How many consecutive rows share C and B (so G): the row's fastest index h
 * may appear in the c and w templates only as h / K for one K (the group of
 * Mamba-2's heads), or not at all (every h shares); undefined where it
 * appears otherwise.
 */
function groupDivisor(em: SsdEmitter): PExpr | undefined {
  const h = em.sp.parallel[em.sp.parallel.length - 1]!;
  const hv = rowVar(h);
  const divisors: PExpr[] = [];
  let bare = false;
  const visit = (x: PExpr): void => {
    if (x.k === 'bin' && x.op === '/' && x.a.k === 'var' && x.a.name === hv && !exprVars(x.b).has(hv)) {
      divisors.push(x.b);
      return;
    }
    if (x.k === 'var' && x.name === hv) bare = true;
    exprChildren(x).forEach(visit);
  };
  for (const t of [em.c, em.w]) if (t.k === 'load') visit(t.index);
  if (bare) return undefined;
  if (!divisors.length) return em.dim(em.sp.indices[h]!.dim);
  return divisors.every((d) => JSON.stringify(d) === JSON.stringify(divisors[0])) ? divisors[0] : undefined;
}

/**
 * How many groups of K rows the last parallel axis (dim `hDim`, size H) splits
 * into, where the program's K says: K = H (one group: C and B do not depend on
 * the row's h) or K = H / X for a dim X (X groups, whole only where X divides
 * H: `whole`, checked at run time). The scratch's dims are the rows' with hDim
 * dropped or replaced by X (or the rows' own where the groups are not whole).
 * Other divisors: no shared G.
 */
function groupsOf(em: SsdEmitter, K: PExpr, hDim: string): { count: PExpr; whole?: PExpr; scratch: (rows: string[]) => Pick<ScratchSpec, 'dims' | 'multiple'> } | undefined {
  const H = em.dim(hDim);
  const same = (a: PExpr, b: PExpr): boolean => JSON.stringify(a) === JSON.stringify(b);
  if (same(K, H)) return { count: i(1), scratch: (rows) => ({ dims: rows.filter((d) => d !== hDim) }) };
  if (K.k !== 'bin' || K.op !== '/' || !same(K.a, H) || K.b.k !== 'param' || !em.sp.dims.includes(K.b.name)) return undefined;
  const X = K.b.name;
  return {
    count: K.b,
    whole: { k: 'bin', op: '==', a: imod(H, K.b), b: i(0) },
    scratch: (rows) => ({ dims: rows.map((d) => (d === hDim ? X : d)), multiple: { dim: hDim, of: X, otherwise: rows } }),
  };
}

export function lowerSsdWgmma(sp: SpecializedProgram, form: SsdForm, name: string): LaunchSequence {
  const why = ssdWgmmaRefusal(sp, form);
  if (why) throw new Error(`internal: the warpgroup SSD walk was chosen, but ${why}`);
  const em = ssdEmitter(sp, form);
  const Q = WGMMA_CHUNK, T = WGMMA_THREADS;
  const steps = prefetchedStepFactors(em, Q, T);
  const copy = (tmpl: PExpr, key: '$p' | '$n'): SsdWgmmaCopy => {
    if (tmpl.k !== 'load') throw new Error('internal: a copied template is a plain load');
    const r = em.emitAll([[tmpl.index, 'i32']], T_BIT | (key === '$p' ? P_BIT : N_BIT), { $t: v('sf_t'), [key]: v('sf_k') });
    return { buf: tmpl.buf, decls: r.decls, at: r.values[0]! };
  };
  // The walk's 16-bit type: its tensors' and its products' operands (ssdWgmmaRefusal has said it is one).
  const ty = operandPrecision(sp.used) === 'f16' ? 'f16' : 'bf16';
  const staged = stagedLoads(em, ty);
  const z = staged.find((x) => x.arr !== 'Xs');
  const out = outputTemplates(em, staged)[0]!;
  const stagedVars = Object.fromEntries(staged.map((x, k) => [stagedKey(k), v(x.arr === 'Xs' ? 'sf_xv' : 'sf_zv')]));
  const value = em.emitAll([[out.value, 'f32']], T_BIT | P_BIT, { $t: v('sf_t'), $p: v('sf_p'), $r: v('sf_r'), ...stagedVars });
  const at = em.emitAll([[out.index, 'i32']], T_BIT | P_BIT, { $t: v('sf_t'), $p: v('sf_p') });
  const sv = form.state;
  const stateAt = stateOffset(em, v('row'), v('sf_p'), v('sf_n'));
  // Rows sharing G (a group of K along the last parallel axis h): the first launch computes it once per group. Where the
  // rows split into whole groups, a slot per group, (row / H)·groups + h / K, owned by the group's first row; else
  // (groups.whole false at run time) a slot per row: each side within the scratch sized for it (groups.scratch).
  const hIndex = sp.parallel[sp.parallel.length - 1]!;
  const h = v(rowVar(hIndex)), hDim = sp.indices[hIndex]!.dim;
  const K = groupDivisor(em);
  const groups = K ? groupsOf(em, K, hDim) : undefined;
  const whole = (a: PExpr, b: PExpr): PExpr => (groups?.whole ? { k: 'select', c: groups.whole, a, b } : a);
  const g = K && groups
    ? {
      buf: G_SCRATCH,
      own: whole({ k: 'bin', op: '==', a: imod(h, K), b: i(0) }, { k: 'lit', ty: 'bool', v: true }),
      slot: whole({ k: 'bin', op: '+', a: { k: 'bin', op: '*', a: idiv(v('row'), em.dim(hDim)), b: groups.count }, b: idiv(h, K) }, v('row')),
      floats: G_FLOATS,
    }
    : undefined;
  const walk: SsdWgmmaStmt = {
    k: 'ssdWgmma',
    positiveScale: em.sc.k === 'call' && ['softplus', 'exp', 'sigmoid'].includes(em.sc.fn),
    role: 'walk',
    ty,
    ...(g ? { g } : {}),
    N: em.N as 64 | 128,
    P: em.P,
    L: em.L,
    rows: rowsOf(em).count,
    rowDecls: [],
    steps: steps
      ? { carries: steps.carries, prologue: steps.prologue, compute: [steps.compute], issue: [steps.issue] }
      : { carries: [], prologue: [], compute: [loadStepFactors(em, Q, T)], issue: [] },
    x: copy(em.u, '$p'),
    ...(z ? { z: copy(z.tmpl, '$p') } : {}),
    c: copy(em.c, '$n'),
    w: copy(em.w, '$n'),
    out: { buf: out.buf, decls: value.decls, value: value.values[0]!, atDecls: at.decls, at: at.values[0]! },
    ...(sp.variant.initStates.includes(sv.name) ? { init: { buf: sv.init, at: stateAt } } : {}),
    ...(sp.variant.finalStates.includes(sv.name) ? { final: { buf: sv.final, at: stateAt } } : {}),
  };
  // The row's values hoisted out of every template above, declared once after its index variables.
  const rowDecls: PStmt[] = [...decomposeRow(em), ...em.rowScope.decls];
  const { buffers, params } = programBindings(sp);
  const rows = rowsOf(em);
  const scanDim = sp.indices[sp.scan]!.dim;
  const gBinding = (access: 'read' | 'read_write'): KernelBinding[] => (g ? [{ name: G_SCRATCH, access, elem: 'f32' }] : []);
  const plan = (suffix: string, body: SsdWgmmaStmt, bindings: KernelBinding[], grid: KernelPlan['grid']): KernelPlan => ({
    name: `${name}${suffix}`,
    workgroupSize: T,
    buffers: bindings,
    params,
    // The walk carves its shared memory itself (render/cuda-ssd-wgmma.ts ssdWgmmaLayout).
    shared: [],
    body: [{ ...body, rowDecls }],
    usesSubgroups: true,
    grid,
    // exp2: the walk's own ex2 calls use the dialect's one-MUFU helper.
    helpers: new Set([...em.helpers, 'exp2']),
    // Three blocks per SM (the walk asks for them in its launch bounds).
    registerBudget: 168,
    elem: Object.fromEntries(bindings.map((b) => [b.name, b.elem])),
  });
  // One workgroup per (row, 64 elements of P).
  const walkPlan = plan('', walk, [...buffers, ...gBinding('read')], { groupsFromDims: [...rows.dims, form.pDim], rowsPerGroup: 64 });
  if (!g || !groups) return { launches: [walkPlan], scratch: [] };
  // The first launch: one workgroup per (row, chunk); only the rows that own their group's G work.
  // (It binds what the walk binds: the row's hoisted values may read any tensor.)
  const prep = plan('_g', { ...walk, role: 'prep' }, [...buffers, ...gBinding('read_write')],
    { groupsFromDims: rows.dims, rowsPerGroup: 1, tiles: [{ dim: scanDim, size: Q }] });
  const scratch: ScratchSpec[] = [{ name: G_SCRATCH, elem: 'f32', ...groups.scratch(rows.dims), tiles: [{ dim: scanDim, size: Q }], times: G_FLOATS }];
  return { launches: [prep, walkPlan], scratch };
}
