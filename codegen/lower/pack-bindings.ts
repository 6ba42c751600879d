// When a kernel binds more storage buffers than the target allows (the CPU
// WebGPU adapter allows 16; Mamba-3 with every state in and out binds 20),
// several read-only fp32 tensors share one binding: they are laid end to end
// in one buffer and each load adds the tensor's offset, a kernel parameter.
// The binding lists its members (KernelBinding.pack), so the runner uploads
// the concatenation and passes the offsets. Any lowering's plan can be packed.

import type { KernelBinding } from '../../runtime/backend.js';
import type { KernelPlan } from '../plan/ast.js';
import { redirectBuffers } from '../plan/redirect.js';

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
  // A packed buffer is f32 whatever its tensor's type: an asynchronous copy from it converts element by element.
  const body = redirectBuffers(plan.body, (buf, written) => {
    if (!isMember.has(buf)) return undefined;
    if (written) throw new Error(`internal: packed buffer ${buf} is written`);
    return { buf: PACKED_BINDING, offset: { k: 'param', name: packOffsetParam(buf) } };
  });
  const packed: KernelBinding = { name: PACKED_BINDING, access: 'read', elem: 'f32', pack: members };
  const buffers = [...plan.buffers.filter((b) => !isMember.has(b.name)), packed];
  const elem = Object.fromEntries(buffers.map((b) => [b.name, b.elem]));
  return {
    ...plan,
    buffers,
    elem,
    params: [...plan.params, ...members.map((m) => ({ name: packOffsetParam(m), type: 'i32' as const }))],
    body,
  };
}
