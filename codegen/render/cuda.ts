// CUDA C++ spelling of a kernel plan (NVRTC and nvcc both compile it).
import type { ElemType, RenderedKernel } from '../../runtime/backend.js';
import type { KernelPlan, L2Fetch, PFn, SharedArray, Ty } from '../plan/ast.js';
import type { Dialect } from './dialect.js';
import { fmtF32 } from './literals.js';
import { log1pOf01 } from './softplus-poly.js';
import { renderPlan } from './print.js';
import { cudaMma, halfOfWord, MMA_HELPERS, TF32_SPLIT_HELPER } from './cuda-mma.js';
import { usesMma } from '../plan/fragment.js';
import { renderSsdWgmma } from './cuda-ssd-wgmma.js';

const FN: Record<PFn, string> = {
  exp: 'expf', exp2: 'sf_exp2', log: 'logf', sqrt: 'sqrtf', tanh: 'tanhf', sin: 'sinf', cos: 'cosf', abs: 'fabsf',
  sigmoid: 'sf_sigmoid', softplus: 'sf_softplus', silu: 'sf_silu', max: 'fmaxf', min: 'fminf', pow: 'powf', mod: 'sf_mod', floor: 'floorf',
};

/** `float v = instr(arg)` for a one-MUFU PTX instruction. */
const MUFU = (instr: string, v: string, arg: string): string => ` float ${v}; asm("${instr} %0, %1;" : "=f"(${v}) : "f"(${arg}));`;
/** Declares v = 2^arg by one MUFU instruction. */
const EX2 = (v: string, arg: string): string => MUFU('ex2.approx.ftz.f32', v, arg);
/** A one-argument helper function of a single MUFU instruction. */
const mufuHelper = (name: string, instr: string): string => `__device__ __forceinline__ float ${name}(float x) {${MUFU(instr, 'y', 'x')} return y; }`;

/** 1/x by one MUFU instruction (relative error ≤ 2^-23; rcp(inf) = 0, so the gates saturate cleanly). */
const RCP = (arg: string): string => `sf_rcp(${arg})`;
const RCP_HELPER = mufuHelper('sf_rcp', 'rcp.approx.ftz.f32');
const CUDA_SPELLING = { fma: (a: string, b: string, c: string) => `fmaf(${a}, ${b}, ${c})`, lit: (v: number) => fmtF32(v, () => 'INFINITY') };

const HELPERS: Partial<Record<PFn, string>> = {
  // One MUFU instruction: exp2f keeps denormal results, which costs a scale and fix-up around it
  // (a decay that small is zero to fp32 accuracy anyway). Relative error ≤ 2^-22.
  exp2: mufuHelper('sf_exp2', 'ex2.approx.ftz.f32'),
  // The gates run once per element: exp by one MUFU ex2 (relative error ≤ 2^-22) instead of expf's
  // range reduction (about 12 instructions), and 1/(1 + e) by one MUFU rcp instead of an IEEE
  // division (about 10 instructions and a slow-path branch). Run 56: 1.281 → 1.200 ms for the
  // Mamba-1 state-lanes kernel (it also stopped spilling).
  sigmoid: `__device__ __forceinline__ float sf_sigmoid(float x) {${EX2('e', '-1.4426950408889634f * x')} return ${RCP('1.0f + e')}; }`,
  silu: `__device__ __forceinline__ float sf_silu(float x) {${EX2('e', '-1.4426950408889634f * x')} return x * ${RCP('1.0f + e')}; }`,
  // max(x, 0) + log1p(exp(-|x|)) with a polynomial log1p (softplus-poly.ts): accurate for small dt,
  // and no log1pf (run 56: a further 1.200 → 1.171 ms).
  softplus: `__device__ __forceinline__ float sf_softplus(float x) {${EX2('t', '-1.4426950408889634f * fabsf(x)')} return fmaxf(x, 0.0f) + ${log1pOf01('t', CUDA_SPELLING)}; }`,
  mod: '__device__ __forceinline__ float sf_mod(float a, float b) { return a - b * floorf(a / b); }',
};
/** Helpers other helpers call, printed before them. */
const NEEDS: Partial<Record<PFn, string>> = { sigmoid: RCP_HELPER, silu: RCP_HELPER };

const TY: Record<Ty, string> = { f32: 'float', i32: 'int', bool: 'bool' };
const ELEM: Record<ElemType, string> = { f32: 'float', f16: '__half', bf16: '__nv_bfloat16', u32: 'unsigned', i32: 'int' };

const NARROW = { bf16: '__nv_bfloat16', f16: '__half' } as const;
/**
 * Bytes of a shared array as carved: every array rounded up to 16 bytes, so
 * that each starts 16-byte aligned (8- and 16-byte vector accesses, ldmatrix
 * and cp.async need it: an f32 array of odd size before one accessed as
 * float2 faulted, run 73).
 */
const arrayBytes = (s: SharedArray): number => Math.ceil(((s.narrow ? 2 : 4) * s.size) / 16) * 16;

export const cudaDialect: Dialect = {
  target: 'cuda',
  mma: cudaMma,
  sharedArrayBytes: arrayBytes,
  narrowShared: {
    load: (ty, arr, index) => (ty === 'bf16' ? `__bfloat162float(${arr}[${index}])` : `__half2float(${arr}[${index}])`),
    store: (ty, arr, index, value) => `${arr}[${index}] = ${ty === 'bf16' ? '__float2bfloat16_rn' : '__float2half_rn'}(${value});`,
    vload: (ty, arr, index, names, pad) => {
      const vt = VEC_WORDS[names.length / 2];
      if (!vt || names.length < 2 || names.length % 2) return undefined;
      const word = (w: number): string => (names.length === 2 ? 'vv' : `vv.${WORD_FIELD[w]}`);
      const unpack = names.map((n, j) => `${n} = ${halfOfWord(ty, word(j >> 1), (j & 1) === 1)};`);
      return [`${pad}float ${names.join(', ')};`, `${pad}{`, `${pad}  const ${vt} vv = *reinterpret_cast<const ${vt}*>(${arr} + (${index}));`, ...unpack.map((u) => `${pad}  ${u}`), `${pad}}`].join('\n') + '\n';
    },
    vstore: (ty, arr, index, values, pad) => {
      const vt = VEC_WORDS[values.length / 2];
      if (!vt || values.length < 2 || values.length % 2) return undefined;
      const pack = ty === 'bf16' ? 'sf_pack_bf16' : 'sf_pack_f16';
      const words = Array.from({ length: values.length / 2 }, (_, w) => `${pack}(${values[2 * w]}, ${values[2 * w + 1]})`);
      return `${pad}*reinterpret_cast<${vt}*>(${arr} + (${index})) = ${words.length === 1 ? words[0] : `make_${vt}(${words.join(', ')})`};\n`;
    },
  },
  ty: (t) => TY[t],
  lit: (ty, v) => (ty === 'bool' ? String(v) : ty === 'i32' ? ((v as number) < 0 ? `(${v})` : String(v)) : fmtF32(v as number, (pos) => (pos ? 'INFINITY' : '(-INFINITY)'))),
  decl: (name, ty, init, mut) => `${mut ? '' : 'const '}${TY[ty]} ${name} = ${init};`,
  builtin: (b) => ({ tid: '(int)threadIdx.x', group: '(int)(blockIdx.x + blockIdx.y * gridDim.x)', lane: '((int)threadIdx.x & 31)', laneCount: '32' })[b],
  param: (name) => name,
  fn: (f) => FN[f],
  select: (c, a, b) => `(${c} ? ${a} : ${b})`,
  cast: (ty, a) => `((${TY[ty]})(${a}))`,
  imin: (a, b) => `min(${a}, ${b})`,
  imax: (a, b) => `max(${a}, ${b})`,
  load: (buf, elem, index) => {
    if (elem === 'f16') return `__half2float(${buf}[${index}])`;
    if (elem === 'bf16') return `__bfloat162float(${buf}[${index}])`;
    return `${buf}[${index}]`;
  },
  store: (buf, elem, index, value) => {
    if (elem === 'f16') return `${buf}[${index}] = __float2half_rn(${value});`;
    if (elem === 'bf16') return `${buf}[${index}] = __float2bfloat16_rn(${value});`;
    return `${buf}[${index}] = ${value};`;
  },
  shuffle: (mode, a, b, width) => (mode === 'up' ? `__shfl_up_sync(0xffffffffu, ${a}, ${b})`
    : mode === 'xor' ? `__shfl_xor_sync(0xffffffffu, ${a}, ${b})` : `__shfl_sync(0xffffffffu, ${a}, ${b}, ${width})`),
  vload: cudaVectorLoad,
  vstore: cudaVectorStore,
  sharedVector: {
    load: (arr, index, names, pad) => {
      const vt = F32_VEC[names.length];
      if (!vt) return undefined;
      return [`${pad}float ${names.join(', ')};`, `${pad}{`, `${pad}  const ${vt} vv = *reinterpret_cast<const ${vt}*>(${arr} + (${index}));`,
        ...names.map((n, j) => `${pad}  ${n} = vv.${WORD_FIELD[j]};`), `${pad}}`].join('\n') + '\n';
    },
    store: (arr, index, values, pad) => {
      const vt = F32_VEC[values.length];
      if (!vt) return undefined;
      return `${pad}*reinterpret_cast<${vt}*>(${arr} + (${index})) = make_${vt}(${values.join(', ')});\n`;
    },
  },
  barrier: () => '__syncthreads();',
  // evict_last: the line stays until the chunk that asked for it reads it, not pushed out by the stream around it
  // (RESULTS run 80: −2% in the CuPy harness; run 81: no change in the bench).
  prefetch: (buf, index) => `asm volatile("prefetch.global.L2::evict_last [%0];" :: "l"(${buf} + (${index})));`,
  asyncCopy: {
    // cp.async with a source size: 0 bytes read (and the rest zero-filled) where the copy is not valid,
    // from the buffer's base then, so the address stays a real one.
    copy: (arr, index, buf, src, bytes, valid, pad, l2Bytes) => [
      '{',
      `${pad}  const bool cv = ${valid};`,
      `${pad}  asm volatile("cp.async.${bytes === 16 ? 'cg' : 'ca'}.shared.global${l2Bytes ? `.L2::${l2Bytes}B` : ''} [%0], [%1], ${bytes}, %2;" :: "r"((unsigned)__cvta_generic_to_shared(${arr} + (${index}))), "l"(cv ? ${buf} + (${src}) : ${buf}), "r"(cv ? ${bytes} : 0));`,
      `${pad}}`,
    ].join('\n'),
    commit: () => 'asm volatile("cp.async.commit_group;" ::: "memory");',
    wait: (pending) => `asm volatile("cp.async.wait_group ${pending};" ::: "memory");`,
  },
  forLoop: (v, from, to, step, unroll) => `${unroll >= 1 ? `#pragma unroll ${unroll}
` : ''}for (int ${v} = ${from}; ${v} < ${to}; ${v} += ${step})`,
  kernel: (plan, body) => {
    const lines = helperLines(plan);
    // The packing helpers serve narrow workgroup arrays' vector stores too.
    if (usesMma(plan.body) || plan.shared.some((a) => a.narrow)) lines.push(...MMA_HELPERS);
    if (usesMma(plan.body, 'tf32x3')) lines.push(TF32_SPLIT_HELPER);
    const args = kernelArgs(plan);
    // Shared arrays are carved out of one dynamic allocation so a kernel may use more than 48 KiB.
    let off = 0;
    const carve = plan.shared.map((s) => {
      const t = s.narrow ? NARROW[s.narrow] : TY[s.ty];
      const line = `  ${t}* ${s.name} = reinterpret_cast<${t}*>(sf_smem + ${off});`;
      off += arrayBytes(s);
      return line;
    });
    const smem = plan.shared.length ? `  extern __shared__ __align__(16) unsigned char sf_smem[];\n${carve.join('\n')}\n` : '';
    // Plain __launch_bounds__(T) lets ptxas cap registers low enough to spill;
    // (T, 1) allows 255 and starves occupancy. Ask for the resident blocks that
    // leave the plan's register budget per thread (64K registers per SM).
    const warps = Math.ceil(plan.workgroupSize / 32);
    const minBlocks = Math.max(1, Math.floor(65536 / (plan.registerBudget * warps * 32)));
    lines.push(`extern "C" __global__ void __launch_bounds__(${plan.workgroupSize}, ${minBlocks}) ${plan.name}(${args.join(', ')}) {\n${smem}${body}}`);
    return lines.join('\n') + '\n';
  },
};


export function renderCuda(plan: KernelPlan): RenderedKernel {
  // The warpgroup SSD walk is printed whole, around the program's pieces (render/cuda-ssd-wgmma.ts).
  const wg = plan.body.length === 1 && plan.body[0]!.k === 'ssdWgmma' ? plan.body[0] : undefined;
  if (wg) return renderSsdWgmma(plan, wg, cudaDialect, kernelArgs(plan), [...helperLines(plan), ...MMA_HELPERS]);
  return renderPlan(plan, cudaDialect);
}

/** The includes and the helper functions the plan's expressions call. */
function helperLines(plan: KernelPlan): string[] {
  const lines: string[] = ['#include <cuda_fp16.h>', '#include <cuda_bf16.h>'];
  for (const need of new Set([...plan.helpers].map((h) => NEEDS[h]))) if (need) lines.push(need);
  for (const h of plan.helpers) if (HELPERS[h]) lines.push(HELPERS[h]!);
  return lines;
}

/** The kernel's parameters: one pointer per binding, then the scalars. */
function kernelArgs(plan: KernelPlan): string[] {
  return [
    ...plan.buffers.map((b) => `${b.access === 'read' ? 'const ' : ''}${ELEM[b.elem]}* __restrict__ ${b.name}`),
    ...plan.params.map((p) => `${p.type === 'f32' ? 'float' : p.type === 'u32' ? 'unsigned' : 'int'} ${p.name}`),
  ];
}


// 8- and 16-byte vector types by width in 32-bit words, and how an element comes out of its word.
const VEC_WORDS: Record<number, string> = { 1: 'unsigned', 2: 'uint2', 4: 'uint4' };
const WORD_FIELD = ['x', 'y', 'z', 'w'];
const F32_VEC: Record<number, string> = { 2: 'float2', 4: 'float4' };

/**
 * A plan 'vstore' as one 4/8/16-byte store when the index is aligned (f32
 * words as they are; f16/bf16 rounded to nearest even and packed two per
 * word), element stores otherwise. A warp storing one element per thread
 * at rows apart writes a sector per element: run 50 measured Mamba-1 with
 * one thread per row 2× slower so. A `stream` store is __stcs (st.global.cs,
 * evict first): Mamba-1's output must not push out the input lines fetched
 * ahead (RESULTS run 85: −1%, −3% with staged inputs).
 */
function cudaVectorStore(buf: string, elem: ElemType, index: string, values: string[], pad: string, aligned: boolean, stream = false): string | undefined {
  const bytes = elem === 'f32' ? 4 : elem === 'f16' || elem === 'bf16' ? 2 : 0;
  const words = (bytes * values.length) / 4;
  if (!bytes || !VEC_WORDS[words] || !Number.isInteger(words) || values.length < 2) return undefined;
  const vt = VEC_WORDS[words]!;
  const word = (w: number): string => {
    if (bytes === 4) return `__float_as_uint(${values[w]})`;
    const half = (x: string): string => (elem === 'bf16' ? `__bfloat16_as_ushort(__float2bfloat16_rn(${x}))` : `__half_as_ushort(__float2half_rn(${x}))`);
    return `((unsigned)${half(values[2 * w]!)} | ((unsigned)${half(values[2 * w + 1]!)} << 16))`;
  };
  const packed = Array.from({ length: words }, (_, w) => word(w));
  const value = words === 1 ? packed[0]! : `make_${vt}(${packed.join(', ')})`;
  const vector = (at: string): string => (stream ? `__stcs(reinterpret_cast<${vt}*>(${buf} + ${at}), ${value});` : `*reinterpret_cast<${vt}*>(${buf} + ${at}) = ${value};`);
  if (aligned) return `${pad}${vector(`(${index})`)}\n`;
  const scalar = values.map((x, j) => cudaDialect.store(buf, elem, j === 0 ? 'vi' : `vi + ${j}`, x));
  return [`${pad}{`, `${pad}  const int vi = ${index};`, `${pad}  if ((vi & ${values.length - 1}) == 0) {`, `${pad}    ${vector('vi')}`, `${pad}  } else {`,
    ...scalar.map((x) => `${pad}    ${x}`), `${pad}  }`, `${pad}}`].join('\n') + '\n';
}

/**
 * The read-only load __ldg makes, with the L2 cache told to fetch the
 * block of `l2Bytes` around it (PTX ld.global.nc.L2::128B): a stream's next
 * chunk arrives with this one (RESULTS runs 78–79 for 256 bytes, run 89 for 128).
 */
function ldgL2(words: number, ptr: string, l2Bytes: L2Fetch): string {
  const fields = words === 1 ? ['vv'] : Array.from({ length: words }, (_, w) => `vv.${WORD_FIELD[w]}`);
  const regs = fields.map((_, w) => `%${w}`).join(', ');
  const type = words === 1 ? 'u32' : `v${words}.u32`;
  return `asm("ld.global.nc.L2::${l2Bytes}B.${type} ${words === 1 ? regs : `{${regs}}`}, [%${words}];" : ${fields.map((f) => `"=r"(${f})`).join(', ')} : "l"(${ptr}));`;
}

/**
 * A plan 'vload' as one 8/16-byte load when the index is aligned, element
 * loads otherwise. An `aligned` vload (the lowering proved it) is the vector
 * load alone: with a per-thread check nvcc if-converts both paths, and every
 * load is issued twice over (run 26).
 */
function cudaVectorLoad(buf: string, elem: ElemType, index: string, names: string[], pad: string, aligned: boolean, l2Bytes?: L2Fetch): string | undefined {
  const bytes = elem === 'f32' ? 4 : elem === 'f16' || elem === 'bf16' ? 2 : 0;
  const words = (bytes * names.length) / 4;
  if (!bytes || !VEC_WORDS[words] || words < 1 || (bytes * names.length) % 4 !== 0 || names.length < 2) return undefined;
  const vt = VEC_WORDS[words]!;
  const word = (w: number): string => (words === 1 ? 'vv' : `vv.${WORD_FIELD[w]}`);
  const unpack = names.map((n, j) => {
    if (bytes === 4) return `${n} = __uint_as_float(${word(j)});`;
    return `${n} = ${halfOfWord(elem as 'bf16' | 'f16', word(j >> 1), (j & 1) === 1)};`;
  });
  const scalar = names.map((n, j) => `${n} = ${cudaDialect.load(buf, elem, j === 0 ? 'vi' : `vi + ${j}`)};`);
  if (aligned) {
    return [
      `${pad}float ${names.join(', ')};`,
      `${pad}{`,
      l2Bytes ? `${pad}  ${vt} vv;\n${pad}  ${ldgL2(words, `${buf} + (${index})`, l2Bytes)}` : `${pad}  const ${vt} vv = __ldg(reinterpret_cast<const ${vt}*>(${buf} + (${index})));`,
      ...unpack.map((u) => `${pad}  ${u}`),
      `${pad}}`,
    ].join('\n') + '\n';
  }
  return [
    `${pad}float ${names.join(', ')};`,
    `${pad}{`,
    `${pad}  const int vi = ${index};`,
    `${pad}  if ((vi & ${names.length - 1}) == 0) {`,
    `${pad}    const ${vt} vv = __ldg(reinterpret_cast<const ${vt}*>(${buf} + vi));`,
    ...unpack.map((u) => `${pad}    ${u}`),
    `${pad}  } else {`,
    ...scalar.map((u) => `${pad}    ${u}`),
    `${pad}  }`,
    `${pad}}`,
  ].join('\n') + '\n';
}
