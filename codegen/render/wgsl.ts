// WGSL spelling of a kernel plan.
import type { RenderedKernel } from '../../runtime/backend.js';
import type { KernelPlan, PFn, PStmt, Ty } from '../plan/ast.js';
import type { Dialect } from './dialect.js';
import { fmtF32 } from './literals.js';
import { log1pOf01 } from './softplus-poly.js';
import { renderPlan } from './print.js';

const FN: Record<PFn, string> = {
  exp: 'exp', exp2: 'exp2', log: 'log', sqrt: 'sqrt', tanh: 'tanh', sin: 'sin', cos: 'cos', abs: 'abs',
  sigmoid: 'sf_sigmoid', softplus: 'sf_softplus', silu: 'sf_silu', max: 'max', min: 'min', pow: 'pow', mod: 'sf_mod', floor: 'floor',
};

const WGSL_SPELLING = { fma: (a: string, b: string, c: string) => `fma(${a}, ${b}, ${c})`, lit: (v: number) => fmtF32(v, () => '0x1p+128f') };

// Helpers written so that fp32 keeps full relative accuracy: softplus as
// max(x, 0) + log1p(exp(-|x|)) with a polynomial log1p (softplus-poly.ts says
// why: Vulkan's log has an absolute error bound near 1).
const HELPERS: Partial<Record<PFn, string>> = {
  sigmoid: 'fn sf_sigmoid(x: f32) -> f32 { return 1.0f / (1.0f + exp(-x)); }',
  silu: 'fn sf_silu(x: f32) -> f32 { return x / (1.0f + exp(-x)); }',
  softplus: `fn sf_softplus(x: f32) -> f32 {
  let t = exp(-abs(x));
  return max(x, 0.0f) + ${log1pOf01('t', WGSL_SPELLING)};
}`,
  mod: 'fn sf_mod(a: f32, b: f32) -> f32 { return a - b * floor(a / b); }',
};

const TY: Record<Ty, string> = { f32: 'f32', i32: 'i32', bool: 'bool' };

/**
 * The WGSL spelling. Buffers in `vec4` are bound as array<vec4<f32>> (the
 * runtime allocates every buffer in whole vec4s): an aligned 4-wide vload
 * is one 16-byte load, any other read picks its component. Workgroup arrays
 * in `sharedVec4` (read or written 4 at a time somewhere) are declared as
 * vec4 arrays the same way: one access per svload/svstore instead of four
 * bounds-checked ones.
 */
function wgslDialectFor(vec4: ReadonlySet<string>, sharedVec4: ReadonlySet<string> = new Set()): Dialect {
  const elemAt = (buf: string, index: string): string => `${buf}[(${index}) / 4][(${index}) % 4]`;
  return {
  target: 'wgsl',
  ty: (t) => TY[t],
  lit: (ty, v) => (ty === 'bool' ? String(v) : ty === 'i32' ? ((v as number) < 0 ? `(${v}i)` : `${v}i`) : fmtF32(v as number, (pos) => (pos ? '0x1p+128f' : '(-0x1p+128f)'))),
  decl: (name, ty, init, mut) => `${mut ? 'var' : 'let'} ${name}: ${TY[ty]} = ${init};`,
  builtin: (b) => ({ tid: 'i32(lid)', group: 'i32(wg.x + wg.y * nwg.x)', lane: 'i32(sg_lane)', laneCount: 'i32(sg_size)' })[b],
  param: (name) => `P.${name}`,
  fn: (f) => FN[f],
  select: (c, a, b) => `select(${b}, ${a}, ${c})`,
  cast: (ty, a) => `${TY[ty]}(${a})`,
  imin: (a, b) => `min(${a}, ${b})`,
  imax: (a, b) => `max(${a}, ${b})`,
  load: (buf, elem, index) => {
    if (elem !== 'f32') throw new Error(`WGSL renderer: buffer ${buf} is ${elem}; WGSL kernels take f32 tensors (convert on the host)`);
    return vec4.has(buf) ? elemAt(buf, index) : `${buf}[${index}]`;
  },
  vload: (buf, _elem, index, names, pad, aligned) => {
    if (!vec4.has(buf) || names.length !== 4) return undefined;
    if (aligned) {
      return [`${pad}let ${names[0]}v = ${buf}[(${index}) / 4];`, ...names.map((n, j) => `${pad}let ${n}: f32 = ${names[0]}v.${'xyzw'[j]};`)].join('\n') + '\n';
    }
    return [
      ...names.map((n) => `${pad}var ${n}: f32;`),
      `${pad}{`,
      `${pad}  let vi = ${index};`,
      `${pad}  if ((vi % 4) == 0) {`,
      `${pad}    let vv = ${buf}[vi / 4];`,
      ...names.map((n, j) => `${pad}    ${n} = vv.${'xyzw'[j]};`),
      `${pad}  } else {`,
      ...names.map((n, j) => `${pad}    ${n} = ${elemAt(buf, j === 0 ? 'vi' : `vi + ${j}`)};`),
      `${pad}  }`,
      `${pad}}`,
    ].join('\n') + '\n';
  },
  store: (buf, elem, index, value) => {
    if (elem !== 'f32') throw new Error(`WGSL renderer: buffer ${buf} is ${elem}; WGSL kernels write f32 tensors`);
    return `${vec4.has(buf) ? elemAt(buf, index) : `${buf}[${index}]`} = ${value};`;
  },
  vstore: (buf, _elem, index, values, pad, aligned) => {
    if (!vec4.has(buf) || values.length !== 4) return undefined;
    const vector = `vec4<f32>(${values.join(', ')})`;
    if (aligned) return `${pad}${buf}[(${index}) / 4] = ${vector};\n`;
    return [`${pad}{`, `${pad}  let vi = ${index};`, `${pad}  if ((vi % 4) == 0) {`, `${pad}    ${buf}[vi / 4] = ${vector};`, `${pad}  } else {`,
      ...values.map((x, j) => `${pad}    ${elemAt(buf, j === 0 ? 'vi' : `vi + ${j}`)} = ${x};`), `${pad}  }`, `${pad}}`].join('\n') + '\n';
  },
  // Lane groups are aligned runs of the subgroup's invocations (lanes of one row are consecutive invocations).
  shuffle: (mode, a, b, width) => (mode === 'up' ? `subgroupShuffleUp(${a}, u32(${b}))`
    : mode === 'xor' ? `subgroupShuffleXor(${a}, u32(${b}))` : `subgroupShuffle(${a}, (sg_lane / ${width}u) * ${width}u + u32(${b}))`),
  sharedElem: (arr, index) => (sharedVec4.has(arr) ? elemAt(arr, index) : undefined),
  sharedVector: {
    load: (arr, index, names, pad) => {
      if (!sharedVec4.has(arr) || names.length !== 4) return undefined;
      return [`${pad}let ${names[0]}v = ${arr}[(${index}) / 4];`, ...names.map((n, j) => `${pad}let ${n}: f32 = ${names[0]}v.${'xyzw'[j]};`)].join('\n') + '\n';
    },
    store: (arr, index, values, pad) => (sharedVec4.has(arr) && values.length === 4 ? `${pad}${arr}[(${index}) / 4] = vec4<f32>(${values.join(', ')});\n` : undefined),
  },
  barrier: () => 'workgroupBarrier();',
  forLoop: (v, from, to, step) => `for (var ${v}: i32 = ${from}; ${v} < ${to}; ${v} = ${v} + ${step})`,
  kernel: (plan, body) => {
    const lines: string[] = [];
    if (plan.usesSubgroups) lines.push('enable subgroups;');
    plan.buffers.forEach((b, i) => {
      lines.push(`@group(0) @binding(${i}) var<storage, ${b.access === 'read' ? 'read' : 'read_write'}> ${b.name}: array<${vec4.has(b.name) ? 'vec4<f32>' : 'f32'}>;`);
    });
    if (plan.params.length) {
      lines.push(`struct Params {\n${plan.params.map((p) => `  ${p.name}: ${p.type},`).join('\n')}\n}`);
      lines.push(`@group(0) @binding(${plan.buffers.length}) var<uniform> P: Params;`);
    }
    for (const s of plan.shared) lines.push(sharedVec4.has(s.name) ? `var<workgroup> ${s.name}: array<vec4<f32>, ${Math.ceil(s.size / 4)}>;` : `var<workgroup> ${s.name}: array<${TY[s.ty]}, ${s.size}>;`);
    for (const h of plan.helpers) if (HELPERS[h]) lines.push(HELPERS[h]!);
    const sg = plan.usesSubgroups ? ', @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32' : '';
    lines.push(`@compute @workgroup_size(${plan.workgroupSize})
fn ${plan.name}(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${sg}) {
${body}}`);
    return lines.join('\n') + '\n';
  },
};
}

export const wgslDialect: Dialect = wgslDialectFor(new Set());

export function renderWgsl(plan: KernelPlan): RenderedKernel {
  const vec4 = vec4Buffers(plan);
  const sharedVec4 = vec4Shared(plan);
  return renderPlan(plan, vec4.size || sharedVec4.size ? wgslDialectFor(vec4, sharedVec4) : wgslDialect);
}

/** f32 workgroup arrays (not narrow) that some 4-wide svload or svstore accesses: declared as array<vec4<f32>>. */
function vec4Shared(plan: KernelPlan): Set<string> {
  const out = new Set<string>();
  const walk = (ss: PStmt[]): void => {
    for (const s of ss) {
      if ((s.k === 'svload' && s.names.length === 4) || (s.k === 'svstore' && s.values.length === 4)) out.add(s.arr);
      else if (s.k === 'for') walk(s.body);
      else if (s.k === 'if') { walk(s.then); walk(s.else); }
    }
  };
  walk(plan.body);
  for (const a of plan.shared) if (a.ty !== 'f32' || a.narrow) out.delete(a.name);
  return out;
}

/**
 * f32 buffers that some 4-wide vload reads (read-only ones) or vstore writes: they are bound as
 * array<vec4<f32>> (the runtime pads every buffer to 16 bytes), other accesses go to one component.
 */
function vec4Buffers(plan: KernelPlan): Set<string> {
  const out = new Set<string>();
  const access = (buf: string): string | undefined => plan.buffers.find((b) => b.name === buf)?.access;
  const walk = (ss: PStmt[]): void => {
    for (const s of ss) {
      if (s.k === 'vload' && s.names.length === 4 && plan.elem[s.buf] === 'f32' && access(s.buf) === 'read') out.add(s.buf);
      else if (s.k === 'vstore' && s.values.length === 4 && plan.elem[s.buf] === 'f32' && access(s.buf) !== undefined) out.add(s.buf);
      else if (s.k === 'for') walk(s.body);
      else if (s.k === 'if') { walk(s.then); walk(s.else); }
    }
  };
  walk(plan.body);
  return out;
}
