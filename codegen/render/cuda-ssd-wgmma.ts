// CUDA's spelling of the plan's `ssdWgmma` statement (lower/ssd-wgmma.ts):
// the SSD chunk walk on Hopper's warpgroup tensor-core products, printed
// whole around the program's own pieces (step factors, copies' indices, the
// output, the states), which come as plan code and print through the CUDA
// dialect. bench/prototypes/ssd_wgmma.cu is the hand-written form it was
// measured as first (RESULTS runs 120–135: its GIN, HALVES, one-buffer build).
//
// One warpgroup (128 threads) per (row, 64 elements of P); chunks of Q = 64
// steps; the state S (64 × N, fp32) in the accumulators of an m64nN product.
// Per chunk, three barriers and a half:
//   b0   x, C, B of the chunk landed (copied at b1 / b2 of the chunk before);
//   G = C·Bᵀ (both operands from shared memory), its blocks on and below the
//        diagonal into M's buffer (16-bit), a barrier, then M = G ∘ the causal
//        decay mask in place, 9 pairs per thread (the 36 lower 8×8 blocks
//        spread evenly; the blocks above stay zero from the start);
//   b1   M visible to the tensor cores; x read (the next chunk's x copied);
//   the update S/σ' ← S/σ + X'ᵀ·B (A = Xᵀ by ldmatrix.trans, scaled by the
//        state weights as 16-bit pairs; B read transposed), then the readout
//        in two halves of the chunk, Yᵀ = exp2(cs_i)·σ·(S·Cᵀ) + Xᵀ·Mᵀ (A = S
//        packed to 16 bits from its own registers), each half's outputs staged
//        over z's tile by stmatrix.trans and stored 16 bytes at a time by the
//        warp that owns those 16 p;
//   b2   C, B, M and z free: the next chunk's C, B and z copied; the step
//        factors of the next chunk computed from their loads (issued a chunk
//        ahead) and summed by warp 0.
// The state is kept as S/σ: each chunk's decay goes into the running σ
// (warp 0) instead of N/2 multiplies per thread, and comes back through the
// readout's exp2(cs_i)·σ and the update's weights; when σ would fall under
// 2^-40 the chunk folds it into the state instead.

import type { KernelPlan, PExpr, PStmt, SsdWgmmaCopy, SsdWgmmaStmt } from '../plan/ast.js';
import type { RenderedKernel } from '../../runtime/backend.js';
import type { Dialect } from './dialect.js';
import { halfOfWord } from './cuda-mma.js';
import { printBlock, printExpr } from './print.js';

const Q = 64;
const T = 128;
/** Bytes per row of the staged x and z tiles: 64 16-bit elements + 16, so ldmatrix's 8 rows fall on distinct banks. */
const XROW = 144;

/** The shared-memory carve-up, in bytes, and the total (a multiple of 1024: the swizzled operands need that alignment); `gBytes`: a chunk's G from the first launch (0: none). */
export function ssdWgmmaLayout(N: number, gBytes: number): { cc: number; bn: number; m: number; x: number; zy: number; g: number; f: number; bytes: number } {
  const op = Q * N * 2;
  const cc = 0, bn = op, m = 2 * op, x = m + Q * Q * 2, zy = x + Q * XROW, gs = zy + Q * XROW, f = gs + gBytes;
  // Floats after f: cs0, sc (the step hooks' arrays), cs, ecs, scj (64 each), wj (32 words), ren, sigma.
  const end = f + 4 * (5 * Q + Q / 2 + 2);
  return { cc, bn, m, x, zy, g: gs, f, bytes: Math.ceil(end / 1024) * 1024 };
}

type Ty16 = SsdWgmmaStmt['ty'];

/** A packed pair of the walk's 16-bit type: its halves as floats (lo, hi) and its product with another pair. */
function pairHelpers(ty: Ty16): string[] {
  const t2 = ty === 'bf16' ? '__nv_bfloat162' : '__half2';
  return [
    `__device__ __forceinline__ float sf_lo16(unsigned v) { return ${halfOfWord(ty, 'v', false)}; }`,
    `__device__ __forceinline__ float sf_hi16(unsigned v) { return ${halfOfWord(ty, 'v', true)}; }`,
    `__device__ __forceinline__ unsigned sf_mul2(unsigned a, unsigned b) { ${t2} r = __hmul2(*reinterpret_cast<${t2}*>(&a), *reinterpret_cast<${t2}*>(&b)); return *reinterpret_cast<unsigned*>(&r); }`,
  ];
}

/**
 * When the chunk folds the running σ into the state (next σ below this): the state is kept as S/σ and the update's
 * weights carry 1/σ', both packed to the 16-bit type as the products' operands. bf16 has fp32's exponent range, so σ
 * may fall to 2^-40 (a fold every many chunks); f16's ends at 65504, so σ stays 1 (a fold, N/2 multiplies per thread,
 * every chunk that decays) and the operands keep the state's own magnitude, as the fused f16 kernel's do.
 */
const FOLD_BELOW: Record<Ty16, string> = { bf16: '0x1p-40f', f16: '1.0f' };

/** `wgmma.mma_async` m64nNk16 bf16/f16 → f32 as a device function: A from 4 registers or a descriptor, B from a descriptor (transposed: imm-trans-b). */
function wgmmaFn(name: string, n: number, aRegs: boolean, transB: boolean, ty: Ty16): string {
  const R = n / 2;
  const ops = (k: number, from = 0): string => Array.from({ length: k }, (_, i) => `%${from + i}`).join(',');
  const d = Array.from({ length: R }, (_, i) => `"+f"(d[${i}])`).join(', ');
  const [aOp, aIn, descAt, scaleAt] = aRegs ? [`{${ops(4, R)}}`, '"r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), ', R + 4, R + 5] : [`%${R}`, '"l"(adesc), ', R + 1, R + 2];
  const imm = aRegs ? `1, 1, ${transB ? 1 : 0}` : `1, 1, 0, ${transB ? 1 : 0}`;
  const aParam = aRegs ? 'const unsigned (&a)[4]' : 'unsigned long long adesc';
  return `__device__ __forceinline__ void ${name}(float (&d)[${R}], ${aParam}, unsigned long long bdesc, int scaleD) {
  asm volatile("{\\n.reg .pred p;\\nsetp.ne.b32 p, %${scaleAt}, 0;\\n"
    "wgmma.mma_async.sync.aligned.m64n${n}k16.f32.${ty}.${ty} {${ops(R)}}, ${aOp}, %${descAt}, p, ${imm};\\n}\\n"
    : ${d}
    : ${aIn}"l"(bdesc), "r"(scaleD) : "memory");
}`;
}

/** Device helpers of the walk (independent of the program but for its 16-bit type). */
function walkHelpers(N: number, ty: Ty16): string {
  return [
    '__device__ __forceinline__ unsigned sf_smem_u32(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }',
    // K-major operand rows of 64 elements (128 bytes), 16-byte pieces XOR row % 8 (the 128-byte swizzle), atoms of 64 rows.
    '__device__ __forceinline__ int sf_swz(int r, int k) { return (k >> 6) * 8192 + r * 128 + ((((k >> 3) & 7) ^ (r & 7)) << 4) + (k & 7) * 2; }',
    '__device__ __forceinline__ unsigned long long sf_desc(unsigned addr, unsigned lbo, unsigned sbo) { return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)(lbo >> 4) << 16) | ((unsigned long long)(sbo >> 4) << 32) | (1ull << 62); }',
    // A K-major operand's 16-wide K block kb; the leading offset is unused with the 128-byte swizzle.
    '__device__ __forceinline__ unsigned long long sf_kdesc(unsigned base, int kb) { return sf_desc(base + (kb >> 2) * 8192 + (kb & 3) * 32, 16, 1024); }',
    // The same buffer read transposed (B as (k = row, n)): leading offset between 64-element atoms along n, stride between 8-row groups (RESULTS run 134).
    '__device__ __forceinline__ unsigned long long sf_mndesc(unsigned base, int kb) { return sf_desc(base + 2048 * kb, 8192, 1024); }',
    '__device__ __forceinline__ void sf_cp16(unsigned dst, const void* src, bool ok) { asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\\n" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory"); }',
    '__device__ __forceinline__ void sf_fence_async() { asm volatile("fence.proxy.async.shared::cta;\\n" ::: "memory"); }',
    '__device__ __forceinline__ void sf_wg_fence() { asm volatile("wgmma.fence.sync.aligned;\\n" ::: "memory"); }',
    '__device__ __forceinline__ void sf_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\\n" ::: "memory"); }',
    '__device__ __forceinline__ void sf_wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\\n" ::: "memory"); }',
    'template <int R> __device__ __forceinline__ void sf_keep(float (&d)[R]) {\n#pragma unroll\n  for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i]) :: "memory");\n}',
    '__device__ __forceinline__ void sf_ldsm_t(unsigned (&r)[4], unsigned addr) { asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr)); }',
    '__device__ __forceinline__ void sf_stsm_t(unsigned addr, const unsigned (&r)[4]) { asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1,%2,%3,%4};\\n" :: "r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory"); }',
    ...pairHelpers(ty),
    // sigmoid(x) = (1 + tanh(x/2)) / 2 and silu(x) = x·sigmoid(x) = h + h·tanh(h), h = x/2: one MUFU each.
    '__device__ __forceinline__ float sf_tanh_a(float x) { float t; asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(x)); return t; }',
    '__device__ __forceinline__ float sf_silu_t(float x) { const float h = 0.5f * x; return fmaf(h, sf_tanh_a(h), h); }',
    '__device__ __forceinline__ float sf_sigmoid_t(float x) { return fmaf(0.5f, sf_tanh_a(0.5f * x), 0.5f); }',
    // The 36 8×8 blocks (bi, bj), bj ≤ bi, of the causal mask: a warp takes one block per pass.
    '__constant__ unsigned char sf_lower[36][2] = {{0,0},{1,0},{1,1},{2,0},{2,1},{2,2},{3,0},{3,1},{3,2},{3,3},{4,0},{4,1},{4,2},{4,3},{4,4},{5,0},{5,1},{5,2},{5,3},{5,4},{5,5},{6,0},{6,1},{6,2},{6,3},{6,4},{6,5},{6,6},{7,0},{7,1},{7,2},{7,3},{7,4},{7,5},{7,6},{7,7}};',
    wgmmaFn('sf_wgmma_g', 64, false, false, ty),
    wgmmaFn('sf_wgmma_y', 32, true, false, ty),
    wgmmaFn('sf_wgmma_s', N, true, true, ty),
  ].join('\n');
}

/** The address of chunk c0's G in the first launch's scratch, at slot `slot` (a printed expression). */
function gChunkAt(g: NonNullable<SsdWgmmaStmt['g']>, slot: string): string {
  return `${g.buf} + ((size_t)(${slot}) * sf_nc + c0 / ${Q}) * ${g.floats}`;
}

/** G = C·Bᵀ of the chunk in C's and B's shared buffers, into the accumulators `G` (m64n64: 32 per thread), waited for. */
function gProduct(KN: number, pad: string): string {
  return [
    'float G[32];',
    '#pragma unroll',
    'for (int k = 0; k < 32; k++) G[k] = 0.0f;',
    'sf_wg_fence();',
    '#pragma unroll',
    `for (int kb = 0; kb < ${KN}; kb++) sf_wgmma_g(G, sf_kdesc(sf_smem_u32(sf_cc), kb), sf_kdesc(sf_smem_u32(sf_bn), kb), kb > 0);`,
    'sf_wg_commit();',
    'sf_wg_wait0();',
    'sf_keep(G);',
  ].map((l) => (l.startsWith('#') ? l : pad + l)).join('\n') + '\n';
}

/** The kernel source of a plan whose body is one `ssdWgmma` statement; `args` and `helpers` as the CUDA dialect prints them for any plan. */
export function renderSsdWgmma(plan: KernelPlan, s: SsdWgmmaStmt, cuda: Dialect, args: string[], helpers: string[]): RenderedKernel {
  // bf16 outputs: their gates may take one MUFU tanh (relative error ~2^-11, under bf16's rounding) instead of the
  // fp32 kernels' ex2 and rcp (RESULTS run 126: part of the prototype's −35%). f16 rounds at 2^-11 itself: exact gates.
  const d: Dialect = s.ty === 'bf16' ? { ...cuda, fn: (f) => (f === 'silu' ? 'sf_silu_t' : f === 'sigmoid' ? 'sf_sigmoid_t' : cuda.fn(f)) } : cuda;
  const pack = `sf_pack_${s.ty}`;
  const e = (x: PExpr): string => printExpr(x, d, plan);
  const b = (stmts: PStmt[], depth: number): string => printBlock(stmts, d, plan, depth);
  if (s.role === 'prep') return renderPrep(plan, s, e, b, args, helpers);
  const N = s.N, lay = ssdWgmmaLayout(N, s.g ? 4 * s.g.floats : 0);
  const PT = s.P / 64;
  const KN = N / 16; // 16-wide K blocks along N
  const { rowCopies, cbCopies } = copiesOf(s, e, b);
  // G of chunk c0 from the first launch (its group's slot), 16 bytes at a time.
  const gCopy = (pad: string): string => (s.g
    ? `${pad}for (int sf_o = sf_tid * 16; sf_o < ${4 * s.g.floats}; sf_o += ${T * 16}) sf_cp16(sf_smem_u32(sf_gs + sf_o), reinterpret_cast<const unsigned char*>(${gChunkAt(s.g, 'sf_gslot')}) + sf_o, true);\n`
    : '');
  // The state element (p, n) of accumulator k of this thread (m64nN layout: warp w rows 16w…).
  const accAt = (k: string): string => `const int sf_p = sf_p0 + 16 * sf_w + (sf_l >> 2) + 8 * ((${k} >> 1) & 1); const int sf_n = (${k} >> 2) * 8 + 2 * (sf_l & 3) + (${k} & 1);`;
  const init = s.init
    ? `#pragma unroll\n    for (int k = 0; k < ${N / 2}; k++) { ${accAt('k')} S[k] = ${d.load(s.init.buf, plan.elem[s.init.buf]!, e(s.init.at))}; }\n`
    : '';
  const final = s.final
    ? `    __syncthreads();\n    const float sf_sig = sf_ren[1];\n#pragma unroll\n    for (int k = 0; k < ${N / 2}; k++) { ${accAt('k')} ${d.store(s.final.buf, plan.elem[s.final.buf]!, e(s.final.at), 'S[k] * sf_sig')} }\n`
    : '';
  // One output element from readout `r` and the staged x and z values (16-bit halves of `xw`, `zw`).
  const outValue = (r: string, half: 'lo' | 'hi', pad: string): string =>
    `${pad}{\n${pad}  const int sf_t = c0 + sf_i + ${half === 'hi' ? 1 : 0};\n${pad}  const int sf_p = sf_pp;\n${pad}  const float sf_r = ${r};\n` +
    `${pad}  const float sf_xv = sf_${half}16(sf_xw);\n${pad}  const float sf_zv = sf_${half}16(sf_zw);\n` +
    `${b(s.out.decls, pad.length / 2 + 1)}${pad}  sf_o${half} = ${e(s.out.value)};\n${pad}}\n`;
  const source = `${helpers.join('\n')}
${walkHelpers(N, s.ty)}
extern "C" __global__ void __launch_bounds__(${T}, 3) ${plan.name}(${args.join(', ')}) {
  extern __shared__ __align__(1024) unsigned char sf_smem[];
  unsigned char* const sf_cc = sf_smem + ${lay.cc};
  unsigned char* const sf_bn = sf_smem + ${lay.bn};
  unsigned char* const sf_m = sf_smem + ${lay.m};
  unsigned char* const sf_x = sf_smem + ${lay.x};
  unsigned char* const sf_zy = sf_smem + ${lay.zy};
  unsigned char* const sf_gs = sf_smem + ${lay.g};
  float* const sf_f = reinterpret_cast<float*>(sf_smem + ${lay.f});
  float* const cs0 = sf_f;                  // the step hooks' log-decays and factors of a chunk
  float* const sc = sf_f + ${Q};
  float* const sf_cs = sf_f + ${2 * Q};     // cumulative log2-decay
  float* const sf_ecs = sf_f + ${3 * Q};    // exp2(cs_i)·σ
  float* const sf_scj = sf_f + ${4 * Q};    // for the mask: the step factors, or cs_j − log2 s_j where they are positive
  unsigned* const sf_wj = reinterpret_cast<unsigned*>(sf_f + ${5 * Q});   // 16-bit pairs exp2(cs_last − cs_j)·s_j / σ'
  float* const sf_ren = sf_f + ${5 * Q + Q / 2};   // the factor the state takes this chunk (1: none); then σ at the end
  const int sf_tid = (int)threadIdx.x, sf_w = sf_tid >> 5, sf_l = sf_tid & 31, sf_tig = sf_l & 3;
  const int sf_group = (int)(blockIdx.x + blockIdx.y * gridDim.x);
  if (sf_group < (${e(s.rows)}) * ${PT}) {
    const int row = sf_group / ${PT};
    const int sf_p0 = (sf_group % ${PT}) * 64;
    const int sf_L = ${e(s.L)};
    const int sf_nc = (sf_L + ${Q - 1}) / ${Q};
${b(s.rowDecls, 2)}${s.g ? `    const int sf_gslot = ${e(s.g.slot)};   // where the first launch left this row's G\n` : ''}${b(s.steps.carries, 2)}    // M's blocks above the diagonal stay zero.
    for (int e = sf_tid; e < ${(Q * Q) / 2}; e += ${T}) {
      const int i = e / ${Q / 2}, j = 2 * (e % ${Q / 2});
      if ((j >> 3) > (i >> 3)) *reinterpret_cast<unsigned*>(sf_m + sf_swz(i, j)) = 0u;
    }
    float S[${N / 2}];
#pragma unroll
    for (int k = 0; k < ${N / 2}; k++) S[k] = 0.0f;
${init}    float sf_sigma = 1.0f;   // warp 0: the running σ
    // Warp 0: the chunk's cumulative log2-decay from cs0 and sc (two steps per lane), the weights and σ's bookkeeping.
    auto sf_decay = [&]() {
      const float d0 = sc[2 * sf_l], d1 = sc[2 * sf_l + 1];
      const float a0 = cs0[2 * sf_l] * 1.4426950408889634f, a01 = a0 + cs0[2 * sf_l + 1] * 1.4426950408889634f;
      float inc = a01;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) { const float v = __shfl_up_sync(0xffffffffu, inc, o); if (sf_l >= o) inc += v; }
      const float c1 = inc, c0v = inc - a01 + a0;
      const float last = __shfl_sync(0xffffffffu, inc, 31);
      const float next = sf_sigma * sf_exp2(last);
      const bool fold = next < ${FOLD_BELOW[s.ty]};
      const float inv = fold ? 1.0f : 1.0f / next;
      sf_cs[2 * sf_l] = c0v; sf_cs[2 * sf_l + 1] = c1;
      sf_ecs[2 * sf_l] = sf_exp2(c0v) * sf_sigma; sf_ecs[2 * sf_l + 1] = sf_exp2(c1) * sf_sigma;
      ${s.positiveScale ? 'sf_scj[2 * sf_l] = c0v - __log2f(d0); sf_scj[2 * sf_l + 1] = c1 - __log2f(d1);   // cs_j − log2 s_j (s_j = 0: +inf, a zero weight)' : 'sf_scj[2 * sf_l] = d0; sf_scj[2 * sf_l + 1] = d1;'}
      sf_wj[sf_l] = ${pack}(sf_exp2(last - c0v) * d0 * inv, sf_exp2(last - c1) * d1 * inv);
      if (sf_l == 0) sf_ren[0] = fold ? next : 1.0f;
      sf_sigma = fold ? 1.0f : next;
    };
    {
      const int c0 = 0;
${b(s.steps.prologue, 3)}${b(s.steps.compute, 3)}      if (sf_w < 2) asm volatile("bar.sync 1, 64;" ::: "memory");   // warps 0 and 1 only: the steps' writers
      if (sf_w == 0) sf_decay();
${b(s.steps.issue, 3)}${rowCopies(s.x, 'sf_x', '      ')}${gCopy('      ')}${s.z ? rowCopies(s.z, 'sf_zy', '      ') : ''}${cbCopies('      ')}      asm volatile("cp.async.commit_group;" ::: "memory");
    }
    for (int sf_c = 0; sf_c < sf_nc; sf_c++) {
      const int c0 = sf_c * ${Q};
      asm volatile("cp.async.wait_group 0;" ::: "memory");
      sf_fence_async();
      __syncthreads();   // b0
${s.g ? '' : `      {   // G = C·Bᵀ; its blocks on and below the diagonal, 16-bit, into M's buffer.
${gProduct(KN, '        ')}#pragma unroll
        for (int k = 0; k < 32; k += 2) {
          const int i = 16 * sf_w + (sf_l >> 2) + 8 * ((k >> 1) & 1), j = (k >> 2) * 8 + 2 * sf_tig;
          if ((j >> 3) <= (i >> 3)) *reinterpret_cast<unsigned*>(sf_m + sf_swz(i, j)) = ${pack}(G[k], G[k + 1]);
        }
      }
`}      // Xᵀ in the A-operand layout (rows p = 16w…, K = step), by transposing loads of x [step][p].
      unsigned xf[4][4];
#pragma unroll
      for (int kb = 0; kb < 4; kb++) {
        const int mi = sf_l >> 3;
        sf_ldsm_t(xf[kb], sf_smem_u32(sf_x + (16 * kb + 8 * (mi >> 1) + (sf_l & 7)) * ${XROW} + (16 * sf_w + 8 * (mi & 1)) * 2));
      }
${s.g ? '' : '      __syncthreads();   // G in M\'s buffer\n'}      // M = G ∘ exp2(cs_i − cs_j)·s_j on and below the diagonal, ${s.g ? 'G from the first launch' : 'in place'}.
#pragma unroll
      for (int r = 0; r < 9; r++) {
        const int e = sf_tid + ${T} * r, bk = e >> 5, bi = sf_lower[bk][0], bj = sf_lower[bk][1];
        const int i = 8 * bi + (sf_l >> 2), j = 8 * bj + 2 * sf_tig;
        unsigned* at = reinterpret_cast<unsigned*>(sf_m + sf_swz(i, j));
        ${s.g ? 'const float2 gv = reinterpret_cast<const float2*>(sf_gs)[e];\n        const float glo = gv.x, ghi = gv.y;' : 'const unsigned gp = *at;\n        const float glo = sf_lo16(gp), ghi = sf_hi16(gp);'}
        const float ci = sf_cs[i];
        ${s.positiveScale
    ? 'const float2 uj = *reinterpret_cast<const float2*>(&sf_scj[j]);\n        float m0 = glo * sf_exp2(ci - uj.x), m1 = ghi * sf_exp2(ci - uj.y);'
    : 'float m0 = glo * sf_exp2(ci - sf_cs[j]) * sf_scj[j], m1 = ghi * sf_exp2(ci - sf_cs[j + 1]) * sf_scj[j + 1];'}
        if (bi == bj) { m0 = j <= i ? m0 : 0.0f; m1 = j + 1 <= i ? m1 : 0.0f; }
        *at = ${pack}(m0, m1);
      }
      sf_fence_async();
      __syncthreads();   // b1: M visible to the tensor cores; x read
      if (sf_c + 1 < sf_nc) {
        const int c0 = (sf_c + 1) * ${Q};
${rowCopies(s.x, 'sf_x', '        ')}${gCopy('        ')}      }
      asm volatile("cp.async.commit_group;" ::: "memory");
      // The state packed to 16 bits for the readout, before the update changes it.
      unsigned sa[${KN}][4];
#pragma unroll
      for (int kb = 0; kb < ${KN}; kb++) {
        sa[kb][0] = ${pack}(S[8 * kb], S[8 * kb + 1]); sa[kb][1] = ${pack}(S[8 * kb + 2], S[8 * kb + 3]);
        sa[kb][2] = ${pack}(S[8 * kb + 4], S[8 * kb + 5]); sa[kb][3] = ${pack}(S[8 * kb + 6], S[8 * kb + 7]);
      }
      {
        unsigned xw[4][4];
#pragma unroll
        for (int kb = 0; kb < 4; kb++) {
          const unsigned w01 = sf_wj[8 * kb + sf_tig], w89 = sf_wj[8 * kb + 4 + sf_tig];
          xw[kb][0] = sf_mul2(xf[kb][0], w01); xw[kb][1] = sf_mul2(xf[kb][1], w01);
          xw[kb][2] = sf_mul2(xf[kb][2], w89); xw[kb][3] = sf_mul2(xf[kb][3], w89);
        }
        const float ren = sf_ren[0];
        if (ren != 1.0f) {
#pragma unroll
          for (int k = 0; k < ${N / 2}; k++) S[k] *= ren;
        }
        sf_wg_fence();
#pragma unroll
        for (int kb = 0; kb < 4; kb++) sf_wgmma_s(S, xw[kb], sf_mndesc(sf_smem_u32(sf_bn), kb), 1);
        sf_wg_commit();
        sf_wg_wait0();
        sf_keep(S);
      }
      // The readout in two halves of the chunk's steps, each stored before the next.
#pragma unroll
      for (int hf = 0; hf < 2; hf++) {
        float Y[16];
#pragma unroll
        for (int k = 0; k < 16; k++) Y[k] = 0.0f;
        sf_wg_fence();
#pragma unroll
        for (int kb = 0; kb < ${KN}; kb++) sf_wgmma_y(Y, sa[kb], sf_kdesc(sf_smem_u32(sf_cc) + 4096 * hf, kb), kb > 0);
        sf_wg_commit();
        sf_wg_wait0();
        sf_keep(Y);
#pragma unroll
        for (int k = 0; k < 16; k += 4) {
          const float2 ev = *reinterpret_cast<const float2*>(&sf_ecs[32 * hf + (k >> 2) * 8 + 2 * sf_tig]);
          Y[k] *= ev.x; Y[k + 1] *= ev.y; Y[k + 2] *= ev.x; Y[k + 3] *= ev.y;
        }
        sf_wg_fence();
#pragma unroll
        for (int kb = 0; kb < 4; kb++) sf_wgmma_y(Y, xf[kb], sf_kdesc(sf_smem_u32(sf_m) + 4096 * hf, kb) , 1);
        sf_wg_commit();
        sf_wg_wait0();
        sf_keep(Y);
#pragma unroll
        for (int kh = 0; kh < 2; kh++) {
          const int kb = 2 * hf + kh, mi = sf_l >> 3;
          const unsigned at = sf_smem_u32(sf_zy + (16 * kb + 8 * (mi >> 1) + (sf_l & 7)) * ${XROW} + (16 * sf_w + 8 * (mi & 1)) * 2);
          unsigned zf[4], o[4];
${s.z ? '          sf_ldsm_t(zf, at);\n' : '          zf[0] = zf[1] = zf[2] = zf[3] = 0u;\n'}#pragma unroll
          for (int r = 0; r < 4; r++) {
            const int k = 8 * kh + ((r >> 1) << 2) + ((r & 1) << 1);   // r = 2·(col + 8) + (row + 8)
            const int sf_i = 16 * kb + 8 * (r >> 1) + 2 * sf_tig;
            const int sf_pp = sf_p0 + 16 * sf_w + (sf_l >> 2) + 8 * (r & 1);
            const unsigned sf_xw = xf[kb][r], sf_zw = zf[r];
            float sf_olo, sf_ohi;
${outValue('Y[k]', 'lo', '            ')}${outValue('Y[k + 1]', 'hi', '            ')}            o[r] = ${pack}(sf_olo, sf_ohi);
          }
          sf_stsm_t(at, o);
        }
        __syncwarp();
#pragma unroll
        for (int k = 0; k < 2; k++) {
          const int e = sf_l + 32 * k, sf_row = 32 * hf + (e >> 1), sf_half = e & 1;
          if (c0 + sf_row < sf_L) {
            const int sf_t = c0 + sf_row;
            const int sf_p = sf_p0 + 16 * sf_w + 8 * sf_half;
${b(s.out.atDecls, 6)}            *reinterpret_cast<uint4*>(${s.out.buf} + (${e(s.out.at)})) = *reinterpret_cast<const uint4*>(sf_zy + sf_row * ${XROW} + (16 * sf_w + 8 * sf_half) * 2);
          }
        }
      }
      __syncthreads();   // b2: C, B, M and z free
      if (sf_c + 1 < sf_nc) {
        const int c0 = (sf_c + 1) * ${Q};
${s.z ? rowCopies(s.z, 'sf_zy', '        ') : ''}${cbCopies('        ')}${b(s.steps.compute, 4)}        if (sf_w < 2) asm volatile("bar.sync 1, 64;" ::: "memory");   // warps 0 and 1 only: the steps' writers
        if (sf_w == 0) sf_decay();
${b(s.steps.issue, 4)}      }
      asm volatile("cp.async.commit_group;" ::: "memory");
    }
    if (sf_w == 0 && sf_l == 0) sf_ren[1] = sf_sigma;
${final}  }
}
`;
  return { target: 'cuda', entry: plan.name, source, bindings: plan.buffers, params: plan.params, workgroupSize: T, sharedBytes: lay.bytes };
}

/** The 16-byte copies of the walk and the first launch: a chunk's rows of x or z (64 p), and of C and B (all of N, swizzled). */
function copiesOf(s: SsdWgmmaStmt, e: (x: PExpr) => string, b: (stmts: PStmt[], depth: number) => string) {
  const N = s.N;
  // A 16-byte copy of 8 elements along the copied axis: declarations and the source index printed in a scope of their own.
  const copy = (c: SsdWgmmaCopy, dst: string, t: string, k: string, ok: string, pad: string): string =>
    `${pad}{\n${pad}  const int sf_t = ${t};\n${pad}  const int sf_k = ${k};\n${b(c.decls, pad.length / 2 + 1)}${pad}  sf_cp16(${dst}, ${c.buf} + (${e(c.at)}), ${ok});\n${pad}}\n`;
  const rowCopies = (c: SsdWgmmaCopy, base: string, pad: string): string =>
    `${pad}#pragma unroll 1\n${pad}for (int sf_q = 0; sf_q < ${(Q * 8) / T}; sf_q++) {\n` +
    `${pad}  const int sf_e = sf_tid + ${T} * sf_q, sf_row = sf_e >> 3, sf_pc = sf_e & 7, sf_tt = c0 + sf_row;\n` +
    copy(c, `sf_smem_u32(${base} + sf_row * ${XROW} + sf_pc * 16)`, 'min(sf_tt, sf_L - 1)', 'sf_p0 + 8 * sf_pc', 'sf_tt < sf_L', `${pad}  `) + `${pad}}\n`;
  const cbCopies = (pad: string): string =>
    `${pad}#pragma unroll 1\n${pad}for (int sf_q = 0; sf_q < ${(Q * N) / 8 / T}; sf_q++) {\n` +
    `${pad}  const int sf_e = sf_tid + ${T} * sf_q, sf_row = sf_e / ${N / 8}, sf_pc = sf_e % ${N / 8}, sf_tt = c0 + sf_row;\n` +
    copy(s.c, 'sf_smem_u32(sf_cc + sf_swz(sf_row, 8 * sf_pc))', 'min(sf_tt, sf_L - 1)', '8 * sf_pc', 'sf_tt < sf_L', `${pad}  `) +
    copy(s.w, 'sf_smem_u32(sf_bn + sf_swz(sf_row, 8 * sf_pc))', 'min(sf_tt, sf_L - 1)', '8 * sf_pc', 'sf_tt < sf_L', `${pad}  `) + `${pad}}\n`;
  return { rowCopies, cbCopies };
}

/**
 * The first launch: one warpgroup per (row, chunk); the rows that own their group's G copy the chunk's C and B,
 * compute G = C·Bᵀ (both operands from shared memory) and store its pairs on and below the diagonal in the order
 * the walk's mask reads them (block k of sf_lower, then row i % 8, then pair (j % 8) / 2).
 */
function renderPrep(plan: KernelPlan, s: SsdWgmmaStmt, e: (x: PExpr) => string, b: (stmts: PStmt[], depth: number) => string, args: string[], helpers: string[]): RenderedKernel {
  if (!s.g) throw new Error('internal: a first launch without its scratch');
  const N = s.N, KN = N / 16, bytes = 2 * Q * N * 2;
  const { cbCopies } = copiesOf(s, e, b);
  const source = `${helpers.join('\n')}
${walkHelpers(N, s.ty)}
extern "C" __global__ void __launch_bounds__(${T}, 1) ${plan.name}(${args.join(', ')}) {
  extern __shared__ __align__(1024) unsigned char sf_smem[];
  unsigned char* const sf_cc = sf_smem;
  unsigned char* const sf_bn = sf_smem + ${Q * N * 2};
  const int sf_tid = (int)threadIdx.x, sf_w = sf_tid >> 5, sf_l = sf_tid & 31, sf_tig = sf_l & 3;
  const int sf_group = (int)(blockIdx.x + blockIdx.y * gridDim.x);
  const int sf_L = ${e(s.L)};
  const int sf_nc = (sf_L + ${Q - 1}) / ${Q};
  if (sf_group < (${e(s.rows)}) * sf_nc) {
    const int row = sf_group / sf_nc;
    const int c0 = (sf_group % sf_nc) * ${Q};
${b(s.rowDecls, 2)}    if (${e(s.g.own)}) {
${cbCopies('      ')}      asm volatile("cp.async.commit_group;" ::: "memory");
      asm volatile("cp.async.wait_group 0;" ::: "memory");
      sf_fence_async();
      __syncthreads();
${gProduct(KN, '      ')}      float2* const sf_out = reinterpret_cast<float2*>(${gChunkAt(s.g, e(s.g.slot))});
#pragma unroll
      for (int k = 0; k < 32; k += 2) {
        const int i = 16 * sf_w + (sf_l >> 2) + 8 * ((k >> 1) & 1), j = (k >> 2) * 8 + 2 * sf_tig, bi = i >> 3, bj = j >> 3;
        if (bj <= bi) sf_out[(bi * (bi + 1) / 2 + bj) * 32 + (i & 7) * 4 + ((j & 7) >> 1)] = make_float2(G[k], G[k + 1]);
      }
    }
  }
}
`;
  return { target: 'cuda', entry: plan.name, source, bindings: plan.buffers, params: plan.params, workgroupSize: T, sharedBytes: bytes };
}
