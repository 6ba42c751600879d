// Host side of packed bindings (codegen/lower/pack-bindings.ts): a binding
// that holds several read-only fp32 tensors end to end. The runner uploads
// their concatenation and passes each member's element offset.

import type { KernelBinding, KernelParam } from './backend.js';

/** Value of a packed member's offset parameter, or undefined when `param` is not one. */
export function packOffset(bindings: readonly KernelBinding[], param: KernelParam, sizes: (tensor: string) => number): number | undefined {
  for (const b of bindings) {
    if (!b.pack) continue;
    let off = 0;
    for (const m of b.pack) {
      if (param.name === `sf_off_${m}`) return off;
      off += sizes(m);
    }
  }
  return undefined;
}

/** The members' data laid end to end, in the binding's order. */
export function packData(b: KernelBinding, data: (tensor: string) => Float32Array): Float32Array {
  const parts = b.pack!.map(data);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
