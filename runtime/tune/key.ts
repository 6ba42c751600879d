// What a tuned schedule is remembered under: the device (fingerprint), the
// kernel (a hash of the source generated for the default schedule, with its
// variant, dtype, lowering and target) and the shape (each runtime dim
// rounded up to a power of two). A new compiler, a changed program, a new
// driver or another GPU each give a new key, so no stale winner is reused.

import { createHash } from 'node:crypto';
import { compileKernel, defaultSchedule, type Target, type TargetCaps } from '../../codegen/compile.js';
import type { DType } from '../../dsl/decl.js';
import type { SpecializedProgram } from '../../dsl/ir.js';
import { variantKey } from '../../dsl/ir.js';
import type { Dims } from '../shapes.js';

export type Codegen = typeof compileKernel;

export interface TuneKey {
  fingerprint: string;
  kernelHash: string;
  bucket: string;
}

/** The element type of the kernel's inputs and outputs, as the run gives it or the program declares it. */
export function dtypeLabel(sp: SpecializedProgram, dtype: DType | undefined): string {
  if (dtype) return dtype;
  return [...new Set([...sp.used, ...sp.written].filter((t) => t.role === 'input' || t.role === 'output').map((t) => t.dtype))].sort().join('+');
}

export interface KernelIdentity {
  hash: string;
  lowering: string;
  variant: string;
  dtype: string;
  target: Target;
}

/** Identity of the kernel a runner would build for this specialisation, independent of the schedule chosen. */
export function kernelIdentity(sp: SpecializedProgram, target: Target, caps: TargetCaps, dtype: DType | undefined, codegen: Codegen = compileKernel): KernelIdentity {
  let lowering: string;
  let body: string;
  try {
    const info = codegen(sp, target, defaultSchedule(sp), caps);
    lowering = info.lowering;
    body = info.kernel.source;
  } catch (e) {
    // The default schedule does not fit this device (other points of the
    // space may): identify the kernel by its specialised IR and the reason.
    lowering = 'default-rejected';
    body = `${e instanceof Error ? e.message : String(e)}\n${JSON.stringify({ step: sp.step, used: sp.used, written: sp.written, staticDims: sp.staticDims, caps })}`;
  }
  const parts = { lowering, variant: variantKey(sp.variant), dtype: dtypeLabel(sp, dtype), target };
  const h = createHash('sha256');
  // Length-prefixed, so that no two different inputs concatenate to the same text.
  for (const part of [parts.lowering, parts.variant, parts.dtype, parts.target, body]) h.update(`${Buffer.byteLength(part)}:`).update(part);
  return { hash: h.digest('hex').slice(0, 20), ...parts };
}

/** Every runtime dim rounded up to a power of two (static dims are in the kernel hash). */
export function shapeBucket(sp: Pick<SpecializedProgram, 'dims' | 'staticDims'>, dims: Dims): string {
  return sp.dims
    .filter((d) => sp.staticDims[d] === undefined)
    .sort()
    .map((d) => `${d}<=${2 ** Math.ceil(Math.log2(Math.max(1, dims[d] ?? 1)))}`)
    .join(',');
}

export function keyText(k: TuneKey): string {
  return `${k.fingerprint} # ${k.kernelHash} # ${k.bucket}`;
}
