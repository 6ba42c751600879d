// When a kernel binds more storage buffers than the target allows (the CPU
// WebGPU adapter allows 16; Mamba-3 with every state in and out binds 20),
// several read-only fp32 tensors share one binding: they are laid end to end
// in one buffer and each load adds the tensor's offset, a kernel parameter.
// The binding lists its members (KernelBinding.pack), so the runner uploads
// the concatenation and passes the offsets. Any lowering's plan can be packed.

import type { KernelBinding } from '../../runtime/backend.js';
import type { KernelPlan, PExpr, PStmt } from '../plan/ast.js';

export const PACKED_BINDING = 'sf_packed';

/** Offset parameter of a packed tensor (in elements). */
export const packOffsetParam = (tensor: string): string => `sf_off_${tensor}`;

/**
 * Packs read-only fp32 buffers of `plan` into one binding until it binds at
 * most `maxBuffers`, taking them in `preference` order (small ones first:
 * the caller knows the shapes) and then in binding order.
 */
export function packBindings(plan: KernelPlan, maxBuffers: number, preference: readonly string[]): KernelPlan {
  const excess = plan.buffers.length - maxBuffers;
  if (excess <= 0) return plan;
  const packable = plan.buffers.filter((b) => b.access === 'read' && b.elem === 'f32');
  const rank = (b: KernelBinding): number => {
    const k = preference.indexOf(b.name);
    return k < 0 ? preference.length + plan.buffers.indexOf(b) : k;
  };
  const chosen = [...packable].sort((a, b) => rank(a) - rank(b)).slice(0, excess + 1);
  if (chosen.length < excess + 1) {
    throw new Error(`${plan.name}: binds ${plan.buffers.length} storage buffers, the target allows ${maxBuffers}, and only ${packable.length} read-only fp32 buffers can share one`);
  }
  // Keep the members in binding order: the packed buffer is laid out in that order.
  const members = plan.buffers.filter((b) => chosen.includes(b)).map((b) => b.name);
  const isMember = new Set(members);
  const expr = (e: PExpr): PExpr => {
    switch (e.k) {
      case 'load': {
        const index = expr(e.index);
        if (!isMember.has(e.buf)) return { ...e, index };
        return { k: 'load', buf: PACKED_BINDING, index: { k: 'bin', op: '+', a: { k: 'param', name: packOffsetParam(e.buf) }, b: index } };
      }
      case 'bin': case 'imin': case 'imax': return { ...e, a: expr(e.a), b: expr(e.b) };
      case 'neg': case 'not': case 'cast': return { ...e, a: expr(e.a) };
      case 'call': return { ...e, args: e.args.map(expr) };
      case 'sload': return { ...e, index: expr(e.index) };
      case 'select': return { ...e, c: expr(e.c), a: expr(e.a), b: expr(e.b) };
      case 'shuffle': return { ...e, a: expr(e.a), b: expr(e.b) };
      default: return e;
    }
  };
  const stmt = (s: PStmt): PStmt => {
    switch (s.k) {
      case 'decl': return { ...s, init: expr(s.init) };
      case 'assign': return { ...s, value: expr(s.value) };
      case 'sstore': return { ...s, index: expr(s.index), value: expr(s.value) };
      case 'store':
        if (isMember.has(s.buf)) throw new Error(`internal: packed buffer ${s.buf} is written`);
        return { ...s, index: expr(s.index), value: expr(s.value) };
      case 'vstore':
        if (isMember.has(s.buf)) throw new Error(`internal: packed buffer ${s.buf} is written`);
        return { ...s, index: expr(s.index), values: s.values.map(expr) };
      case 'for': return { ...s, from: expr(s.from), to: expr(s.to), step: expr(s.step), body: s.body.map(stmt), ...(s.until ? { until: expr(s.until) } : {}) };
      case 'if': return { ...s, c: expr(s.c), then: s.then.map(stmt), else: s.else.map(stmt) };
      case 'mma': return { ...s, a: { ...s.a, base: expr(s.a.base) }, b: { ...s.b, base: expr(s.b.base) } };
      case 'acopy': {
        // A packed buffer is f32 whatever its tensor's type: the copy converts, element by element.
        const src = expr(s.src), rest = { index: expr(s.index), valid: expr(s.valid) };
        return isMember.has(s.buf) ? { ...s, ...rest, buf: PACKED_BINDING, src: { k: 'bin', op: '+', a: { k: 'param', name: packOffsetParam(s.buf) }, b: src } } : { ...s, ...rest, src };
      }
      case 'prefetch': {
        const index = expr(s.index);
        return isMember.has(s.buf) ? { ...s, buf: PACKED_BINDING, index: { k: 'bin', op: '+', a: { k: 'param', name: packOffsetParam(s.buf) }, b: index } } : { ...s, index };
      }
      case 'vload': {
        // The packed copy's alignment is whatever the offset makes it: the vload checks it at run time.
        const index = expr(s.index);
        return isMember.has(s.buf) ? { ...s, buf: PACKED_BINDING, index: { k: 'bin', op: '+', a: { k: 'param', name: packOffsetParam(s.buf) }, b: index } } : { ...s, index };
      }
      default: return s;
    }
  };
  const packed: KernelBinding = { name: PACKED_BINDING, access: 'read', elem: 'f32', pack: members };
  const buffers = [...plan.buffers.filter((b) => !isMember.has(b.name)), packed];
  const elem = Object.fromEntries(buffers.map((b) => [b.name, b.elem]));
  return {
    ...plan,
    buffers,
    elem,
    params: [...plan.params, ...members.map((m) => ({ name: packOffsetParam(m), type: 'i32' as const }))],
    body: plan.body.map(stmt),
  };
}
