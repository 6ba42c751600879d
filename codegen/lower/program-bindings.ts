// A program's kernel interface, the same for every lowering: its tensors as
// bindings (read-only inputs, read-write outputs) and its dynamic dims as
// i32 parameters, plus the element type of each binding for the renderers.

import type { SpecializedProgram } from '../../dsl/ir.js';
import type { ElemType, KernelBinding, KernelParam } from '../../runtime/backend.js';

/** The program's tensors as bindings (read-only inputs, read-write outputs), and its dynamic dims as parameters. */
export function programBindings(sp: SpecializedProgram): { buffers: KernelBinding[]; params: KernelParam[]; elem: Record<string, ElemType> } {
  const buffers = [...sp.used, ...sp.written].map((t) => ({
    name: t.name, access: (sp.written.includes(t) ? 'read_write' : 'read') as 'read' | 'read_write', elem: t.dtype,
  }));
  const params = sp.dims.filter((d) => sp.staticDims[d] === undefined).map((d) => ({ name: d, type: 'i32' as const }));
  return { buffers, params, elem: Object.fromEntries(buffers.map((b) => [b.name, b.elem])) };
}
