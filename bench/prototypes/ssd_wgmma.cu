// Design prototype for #4: the Mamba-2 SSD chunk walk on Hopper's warpgroup tensor-core instructions (wgmma),
// hand-written, to measure what that form reaches before building it into the compiler (RESULTS runs 120–129).
// One warpgroup (128 threads) per (batch, head) walks the chunks of Q = 64 steps with the whole state
// S (P 64 × N 128, fp32) in the accumulator registers of one m64n128 product:
//   Yᵀ (p × i) = exp(cs_i)·S·Cᵀ   (A = S packed to bf16 from its own registers, B = C from shared memory)
//              + Xᵀ·Mᵀ           (A = Xᵀ by ldmatrix.trans, B = M = (C·Bᵀ ∘ decay mask ∘ dt) from shared memory)
//   S ← exp(cs_last)·S + X'ᵀ·B   (A = Xᵀ scaled by exp(cs_last − cs_j)·dt_j, bf16 pairs, B = Bᵀ from shared memory)
// A first launch (`ssd_prep`, one warpgroup per batch × chunk × group) computes G = C·Bᵀ on the tensor cores and
// writes G's pairs on and below the diagonal, C and Bᵀ in the walk's shared-memory operand layouts, so the walk
// copies them flat. The walk keeps the state as S/σ (the chunk decays folded into one running factor), computes the
// mask's 36 lower 8×8 blocks spread evenly over the 128 threads, reads out Yᵀ in two halves of the chunk (so three
// blocks fit an SM without ptxas serializing the products), and stores y from each warp's own columns.
// Shapes are fixed here (P 64, N 128, Q 64); inputs bf16 as the compiler's kernel takes them
// (x, dt, A, B, C, D, z, dt_bias), softplus on dt; no initial or final states.
// Build: nvcc -arch=sm_90a -cubin [-DNB=2] [-DHALVES=0] [-DSWZ=0] [-DSWAP_LS=1] [-DABL_*] bench/prototypes/ssd_wgmma.cu
// (defaults: 128-byte swizzle, one buffer per stream so three blocks fit an SM, the readout in two halves; ABL_* are
// upper-bound ablations).
#include <cuda_bf16.h>
#include <stdint.h>

#define QC 64
#define PD 64
#define ND 128
#define NT 128
#define XROW 144             // bytes per row of the staged x / z / y tiles (64 bf16 + 16: ldmatrix rows on distinct banks)
#define LOG2E 1.4426950408889634f

// Shared-memory operand descriptor, K-major, no swizzle: lbo = bytes between core matrices along K,
// sbo = bytes between core matrices along M/N (PTX "matrix descriptor"). SWAP_LS swaps the two (checked by wg_test).
#ifndef SWAP_LS
#define SWAP_LS 0
#endif
__device__ __forceinline__ uint64_t kdesc(uint32_t addr, uint32_t kstride, uint32_t rstride) {
  const uint32_t lbo = SWAP_LS ? rstride : kstride, sbo = SWAP_LS ? kstride : rstride;
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32);
}
// The three shared-memory operands, K-major. SWZ 0: 8×8 core matrices, no swizzle (LBO along K, SBO along rows);
// SWZ 1: 128-byte swizzle (rows of 64 K elements, 16-byte pieces XOR row % 8; SBO 1024 between 8-row groups; the
// K block's start advances 32 bytes inside the atom). Buffers are 1024-byte aligned.
#ifndef ABL_INTER
#define ABL_INTER 1
#endif
#ifndef ABL_UPDATE
#define ABL_UPDATE 1
#endif
#ifndef ABL_INTRA
#define ABL_INTRA 1
#endif
#ifndef SWZ
#define SWZ 1
#endif
__device__ __forceinline__ int cc_off(int i, int n) {    // C: rows i (64), K = n (128)
  return SWZ ? (n >> 6) * 8192 + i * 128 + ((((n >> 3) & 7) ^ (i & 7)) << 4) + (n & 7) * 2 : (i >> 3) * 2048 + (n >> 3) * 128 + (i & 7) * 16 + (n & 7) * 2;
}
__device__ __forceinline__ int r64_off(int r, int k) {   // Bᵀ (rows n, K = j) and M (rows i, K = j): K 64
  return SWZ ? r * 128 + ((((k >> 3) & 7) ^ (r & 7)) << 4) + (k & 7) * 2 : (r >> 3) * 1024 + (k >> 3) * 128 + (r & 7) * 16 + (k & 7) * 2;
}
__device__ __forceinline__ uint64_t cc_desc(uint32_t base, int kb) {
  return SWZ ? (kdesc(base + (kb >> 2) * 8192 + (kb & 3) * 32, 16, 1024) | (1ull << 62)) : kdesc(base + 256 * kb, 128, 2048);
}
__device__ __forceinline__ uint64_t r64_desc(uint32_t base, int kb) {
  return SWZ ? (kdesc(base + kb * 32, 16, 1024) | (1ull << 62)) : kdesc(base + 256 * kb, 128, 1024);
}
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cp16(uint32_t dst, const void* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }
__device__ __forceinline__ void fence_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }
template <int R> __device__ __forceinline__ void keep(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}
__device__ __forceinline__ void ldsm_t(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void stsm_t(uint32_t addr, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1,%2,%3,%4};\n" :: "r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory");
}
__device__ __forceinline__ uint32_t pack(float lo, float hi) { __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); return *reinterpret_cast<uint32_t*>(&v); }
__device__ __forceinline__ float lo16(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float hi16(uint32_t v) { return __uint_as_float(v & 0xFFFF0000u); }
__device__ __forceinline__ float bf(const __nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ex2(float x) { float t; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(t) : "f"(x)); return t; }
__device__ __forceinline__ float softplus(float x) { return x > 20.0f ? x : log1pf(__expf(x)); }
__device__ __forceinline__ float tanh_(float x) { float t; asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(x)); return t; }
// silu(z) = z·sigmoid(z) = h + h·tanh(h), h = z/2: one MUFU (tanh.approx, ~2^-11 relative) for the bf16 output.
__device__ __forceinline__ float silu(float x) { const float h = 0.5f * x; return fmaf(h, tanh_(h), h); }
__device__ __forceinline__ uint32_t mul2(uint32_t a, uint32_t b) {
  __nv_bfloat162 r = __hmul2(*reinterpret_cast<__nv_bfloat162*>(&a), *reinterpret_cast<__nv_bfloat162*>(&b));
  return *reinterpret_cast<uint32_t*>(&r);
}
// The 36 8×8 blocks (bi, bj), bj ≤ bi, of the causal Q×Q mask, in the order the prep stores G's pairs.
__constant__ unsigned char LOWER[36][2] = {
  {0,0},{1,0},{1,1},{2,0},{2,1},{2,2},{3,0},{3,1},{3,2},{3,3},{4,0},{4,1},{4,2},{4,3},{4,4},{5,0},{5,1},{5,2},
  {5,3},{5,4},{5,5},{6,0},{6,1},{6,2},{6,3},{6,4},{6,5},{6,6},{7,0},{7,1},{7,2},{7,3},{7,4},{7,5},{7,6},{7,7}};
#define GPAIRS (36 * 32)          // G's pairs on or below the diagonal: 9 per walk thread

__device__ __forceinline__ void wgmma_n32(float (&d)[16], const uint32_t (&a)[4], uint64_t desc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1, 0;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scaleD) : "memory");
}
__device__ __forceinline__ void wgmma_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t desc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 0;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scaleD) : "memory");
}
__device__ __forceinline__ void wgmma_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t desc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, 0;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scaleD) : "memory");
}

// B read MN-major (imm-trans-b 1): the operand (k, n) at row k of an n-contiguous layout.
__device__ __forceinline__ void wgmma_n128_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t desc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, 1;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scaleD) : "memory");
}
__device__ __forceinline__ void wgmma_n64_tb_t(float (&d)[32], const uint32_t (&a)[4], uint64_t desc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scaleD) : "memory");
}
// A and B both from shared memory, K-major.
__device__ __forceinline__ void wgmma_ss_n64(float (&d)[32], uint64_t adesc, uint64_t bdesc, int scaleD) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
    : "l"(adesc), "l"(bdesc), "r"(scaleD) : "memory");
}

// ---- checks of the conventions: D (64 × N) = A (64 × 16, from registers) · B (16 × N) from shared memory, B stored
// K-major in 8×8 core matrices without swizzle (MN false: core (n/8, k/8) at n/8·256 + k/8·128) or, MN true, as rows k
// of N contiguous elements in 64-element atoms of 128 bytes, 16-byte pieces XOR k % 8, atoms 2048 bytes apart, read
// transposed (imm-trans-b); the descriptor's lbo and sbo given. ----
template <int N, bool MN>
__device__ void wg_test_body(const float* A, const float* B, float* D, int lbo, int sbo) {
  __shared__ __align__(1024) unsigned char bs[N * 16 * 2];
  const int tid = threadIdx.x, w = tid >> 5, l = tid & 31, gid = l >> 2, tig = l & 3;
  for (int e = tid; e < N * 16; e += NT) {
    const int k = e / N, n = e % N;
    const int at = MN ? (n >> 6) * 2048 + k * 128 + ((((n >> 3) & 7) ^ (k & 7)) << 4) + (n & 7) * 2 : (n >> 3) * 256 + (k >> 3) * 128 + (n & 7) * 16 + (k & 7) * 2;
    *reinterpret_cast<__nv_bfloat16*>(bs + at) = __float2bfloat16(B[k * N + n]);
  }
  fence_async();
  __syncthreads();
  const int r = 16 * w + gid;
  uint32_t a[4] = {pack(A[r * 16 + 2 * tig], A[r * 16 + 2 * tig + 1]), pack(A[(r + 8) * 16 + 2 * tig], A[(r + 8) * 16 + 2 * tig + 1]),
                   pack(A[r * 16 + 8 + 2 * tig], A[r * 16 + 9 + 2 * tig]), pack(A[(r + 8) * 16 + 8 + 2 * tig], A[(r + 8) * 16 + 9 + 2 * tig])};
  float d[N / 2];
#pragma unroll
  for (int i = 0; i < N / 2; i++) d[i] = 0.0f;
  const uint64_t desc = kdesc(smem_u32(bs), lbo, sbo) | (MN ? (1ull << 62) : 0ull);
  wg_fence();
  if constexpr (MN) { if constexpr (N == 64) wgmma_n64_tb_t(d, a, desc, 0); else wgmma_n128_tb(d, a, desc, 0); }
  else { if constexpr (N == 64) wgmma_n64(d, a, desc, 0); else wgmma_n128(d, a, desc, 0); }
  wg_commit();
  wg_wait<0>();
  keep(d);
#pragma unroll
  for (int i = 0; i < N / 2; i++) {
    const int row = r + 8 * ((i >> 1) & 1), col = (i >> 2) * 8 + 2 * tig + (i & 1);
    D[row * N + col] = d[i];
  }
}
// K-major: lbo 128 (between core matrices along K), sbo 256 (along N); SWAP_LS swaps them inside kdesc.
extern "C" __global__ void wg_test64(const float* A, const float* B, float* D) { wg_test_body<64, false>(A, B, D, 128, 256); }
extern "C" __global__ void wg_test128(const float* A, const float* B, float* D) { wg_test_body<128, false>(A, B, D, 128, 256); }
extern "C" __global__ void wg_test_mn64(const float* A, const float* B, float* D, int lbo, int sbo) { wg_test_body<64, true>(A, B, D, lbo, sbo); }
extern "C" __global__ void wg_test_mn128(const float* A, const float* B, float* D, int lbo, int sbo) { wg_test_body<128, true>(A, B, D, lbo, sbo); }

// ---- first launch: per (batch, chunk, group), G = C·Bᵀ on the tensor cores, its pairs on and below the diagonal
// in the order the walk's mask reads them, and C, Bᵀ in the walk's shared-memory operand layouts. Steps past seqlen are zero. ----
// Per chunk: G 16 KB (float4 k4-major: [k4 0..7][thread 0..127]), Cc 16 KB (rows i, K = n), Bt 16 KB (rows n, K = j).
__device__ __forceinline__ void ldsm(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
// One warpgroup per (batch, chunk, group): G = C·Bᵀ on the tensor cores (A = C by ldmatrix from C's operand layout,
// B = B in the same layout), its pairs on or below the diagonal written in LOWER order; C and Bᵀ rewritten in the walk's layouts.
extern "C" __global__ void __launch_bounds__(NT) ssd_prep(const __nv_bfloat16* __restrict__ B, const __nv_bfloat16* __restrict__ C,
    float* __restrict__ Gout, __nv_bfloat16* __restrict__ Cout, __nv_bfloat16* __restrict__ Btout, int seqlen, int ngroups) {
  __shared__ __align__(1024) unsigned char ccs[QC * ND * 2], bn[QC * ND * 2], bts[QC * ND * 2];
  const int nc = (seqlen + QC - 1) / QC, blk = blockIdx.x;
  const int g = blk % ngroups, c = (blk / ngroups) % nc, b = blk / ngroups / nc;
  const int tid = threadIdx.x, w = tid >> 5, l = tid & 31, gid = l >> 2, tig = l & 3;
  unsigned char* co = reinterpret_cast<unsigned char*>(Cout + (size_t)blk * QC * ND);
  for (int e = tid; e < QC * ND / 8; e += NT) {      // 16-byte pieces: row r, columns 8·pc … 8·pc + 7
    const int r = e >> 4, pc = e & 15, t = c * QC + r;
    const size_t at = ((size_t)(b * seqlen + t) * ngroups + g) * ND + 8 * pc;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    const uint4 cv = t < seqlen ? *reinterpret_cast<const uint4*>(C + at) : zero;
    const uint4 bv = t < seqlen ? *reinterpret_cast<const uint4*>(B + at) : zero;
    *reinterpret_cast<uint4*>(ccs + cc_off(r, 8 * pc)) = cv;
    *reinterpret_cast<uint4*>(co + cc_off(r, 8 * pc)) = cv;
    *reinterpret_cast<uint4*>(bn + cc_off(r, 8 * pc)) = bv;
    const __nv_bfloat16* bh = reinterpret_cast<const __nv_bfloat16*>(&bv);
#pragma unroll
    for (int k = 0; k < 8; k++) *reinterpret_cast<__nv_bfloat16*>(bts + r64_off(8 * pc + k, r)) = bh[k];
  }
  fence_async();
  __syncthreads();
  float acc[32];
#pragma unroll
  for (int k = 0; k < 32; k++) acc[k] = 0.0f;
  uint32_t a[8][4];
#pragma unroll
  for (int kb = 0; kb < 8; kb++) {
    const int mi = l >> 3;
    ldsm(a[kb], smem_u32(ccs + cc_off(16 * w + 8 * (mi & 1) + (l & 7), 16 * kb + 8 * (mi >> 1))));
  }
  wg_fence();
#pragma unroll
  for (int kb = 0; kb < 8; kb++) wgmma_n64(acc, a[kb], cc_desc(smem_u32(bn), kb), kb > 0);
  wg_commit();
  unsigned char* bo = reinterpret_cast<unsigned char*>(Btout + (size_t)blk * QC * ND);
  for (int o = tid * 16; o < QC * ND * 2; o += NT * 16) *reinterpret_cast<uint4*>(bo + o) = *reinterpret_cast<const uint4*>(bts + o);
  wg_wait<0>();
  keep(acc);
  float2* go = reinterpret_cast<float2*>(Gout) + (size_t)blk * GPAIRS;
#pragma unroll
  for (int k = 0; k < 32; k += 2) {
    const int i = 16 * w + gid + 8 * ((k >> 1) & 1), j = (k >> 2) * 8 + 2 * tig, bi = i >> 3, bj = j >> 3;
    if (bj <= bi) go[(bi * (bi + 1) / 2 + bj) * 32 + (i & 7) * 4 + ((j & 7) >> 1)] = make_float2(acc[k], acc[k + 1]);
  }
}

// ---- the walk: one warpgroup per (batch, head) ----
// Per chunk c, three barriers: b0 (x, z, G of c and C, Bᵀ of c landed; cs of c written), b1 (M written), b2 (the
// products done: C, Bᵀ free). x, z and G are copied a whole chunk ahead (two buffers each); C and Bᵀ from b2 of
// the chunk before; warp 0 computes the next chunk's cumulative decay after b2. Each warp stores the y of its own
// 16 p (32 bytes a row) from the z tile it read, so the output needs no barrier.
// NB 1 (three blocks per SM: 70 KB, 168 registers): one buffer each; x and G of c + 1 are copied after b1 (x and G of
// c read), z of c after b0 (the y of c − 1 stored), waited for at b2.
#ifndef NB
#define NB 1
#endif
// HALVES (with NB 1; the default): the readout in two halves, z copied at b2 (see the loop). HALVES 0 with NB 1
// holds 160 registers over the products, which ptxas (C7512) then serializes.
#ifndef HALVES
#define HALVES (NB == 1)
#endif
// GIN 1 (with HALVES): no first launch. The walk copies C and B straight from the tensors (16-byte pieces into the
// operand layout, rows i or j, K = n), computes G = C·Bᵀ itself (both operands from shared memory), and the update
// reads B transposed (imm-trans-b: B as the (k = j, n) operand, n-contiguous). MN_SWAP swaps that descriptor's
// leading/stride offsets (wg_test_mn, run 134: the leading offset is between 64-element atoms along n, the stride
// offset between 8-row groups along k; the swapped reading faults).
#ifndef GIN
#define GIN 0
#endif
#ifndef MN_SWAP
#define MN_SWAP 0
#endif
__device__ __forceinline__ uint64_t mn_desc(uint32_t base, int kb) {   // B (k = j, n) of a (rows j, K = n) cc_off buffer
  return kdesc(base + 2048 * kb, MN_SWAP ? 1024 : 8192, MN_SWAP ? 8192 : 1024) | (1ull << 62);
}
struct __align__(1024) Smem {
  unsigned char cc[QC * ND * 2];      // C of the chunk in its operand layout (cc_off: rows i, K = n)
  unsigned char bt[QC * ND * 2];      // Bᵀ of the chunk (r64_off: rows n, K = j); GIN: B (cc_off: rows j, K = n)
  unsigned char m[QC * QC * 2];       // M (r64_off: rows i, K = j)
#if !GIN
  float2 g[NB][GPAIRS];              // G's lower pairs of the chunk
#endif
  unsigned char x[NB][QC * XROW];     // x of the chunk, [j][p]
  unsigned char zy[NB][QC * XROW];    // z of the chunk [i][p]; y staged over it
  float cs[NB][QC], ecs[NB][QC], u[NB][QC];   // cs; exp2(cs_i)·σ; cs_j − log2 dt_j
  uint32_t wj[NB][QC / 2];            // bf16 pairs of exp2(cs_last − cs_j)·dt_j / σ'
  float ren[NB];                      // the factor the state takes this chunk (1: none)
};

extern "C" __device__ int ssd_smem_bytes = sizeof(Smem);   // read by the harness

extern "C" __global__ void __launch_bounds__(NT, NB == 1 ? 3 : 2) ssd_wgmma(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ dt,
    const __nv_bfloat16* __restrict__ Ah, const __nv_bfloat16* __restrict__ Dh, const __nv_bfloat16* __restrict__ z,
    const __nv_bfloat16* __restrict__ dt_bias, const float* __restrict__ Gpre, const __nv_bfloat16* __restrict__ Cpre,
    const __nv_bfloat16* __restrict__ Btpre, const __nv_bfloat16* __restrict__ Bg, const __nv_bfloat16* __restrict__ Cg,
    __nv_bfloat16* __restrict__ y, int seqlen, int nheads, int ngroups) {
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  Smem& s = *reinterpret_cast<Smem*>(smem_raw);
  const int tid = threadIdx.x, w = tid >> 5, l = tid & 31, tig = l & 3;
  const int h = blockIdx.x % nheads, b = blockIdx.x / nheads, g = h / (nheads / ngroups);
  const int nc = (seqlen + QC - 1) / QC;
  const float A2 = bf(Ah[h]) * LOG2E, Dv = bf(Dh[h]), dtb = bf(dt_bias[h]);
  const size_t rowStride = (size_t)nheads * PD;                 // elements between steps in x, z, y
  const __nv_bfloat16* xb = x + (size_t)b * seqlen * rowStride + (size_t)h * PD;
  const __nv_bfloat16* zb = z + (size_t)b * seqlen * rowStride + (size_t)h * PD;
  __nv_bfloat16* yb = y + (size_t)b * seqlen * rowStride + (size_t)h * PD;

  auto loadRows = [&](unsigned char* dst, const __nv_bfloat16* src, int c) {   // 64 rows × 8 pieces of 16 bytes: 4 per thread
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const int q = tid + NT * k, row = q >> 3, piece = q & 7, t = c * QC + row;
      cp16(smem_u32(dst + row * XROW + piece * 16), src + (size_t)min(t, seqlen - 1) * rowStride + piece * 8, t < seqlen);
    }
  };
#if !GIN   // GIN copies C and B from the tensors and reads no first launch
  auto loadFlat = [&](void* dst, const void* src, int bytes) {
    for (int o = tid * 16; o < bytes; o += NT * 16) cp16(smem_u32(reinterpret_cast<unsigned char*>(dst) + o), reinterpret_cast<const unsigned char*>(src) + o, true);
  };
  auto pre = [&](int c) { return (size_t)(b * nc + c) * ngroups + g; };
#endif
  auto loadXG = [&](int c) {
    loadRows(s.x[c % NB], xb, c);
#if !GIN
    loadFlat(s.g[c % NB], Gpre + pre(c) * GPAIRS * 2, GPAIRS * 8);
#endif
  };
  auto loadZ = [&](int c) { loadRows(s.zy[c % NB], zb, c); };
  auto loadCB = [&](int c) {
#if GIN
#pragma unroll
    for (int k = 0; k < QC * ND / 8 / NT; k++) {   // 16-byte pieces: row r, columns 8·pc …
      const int e = tid + NT * k, r = e >> 4, pc = e & 15, t = c * QC + r;
      const size_t at = ((size_t)(b * seqlen + min(t, seqlen - 1)) * ngroups + g) * ND + 8 * pc;
      cp16(smem_u32(s.cc + cc_off(r, 8 * pc)), Cg + at, t < seqlen);
      cp16(smem_u32(s.bt + cc_off(r, 8 * pc)), Bg + at, t < seqlen);
    }
#else
    loadFlat(s.cc, Cpre + pre(c) * QC * ND, QC * ND * 2);
    loadFlat(s.bt, Btpre + pre(c) * QC * ND, QC * ND * 2);
#endif
  };
  // warp 0 holds the raw dt of the next chunk (lane l: steps 2l, 2l + 1) and writes each chunk's cumulative decay.
  float dtr0 = 0.0f, dtr1 = 0.0f;
  auto loadDt = [&](int c) {
    const int t = c * QC + 2 * l;
    dtr0 = t < seqlen ? bf(dt[((size_t)b * seqlen + t) * nheads + h]) : 0.0f;
    dtr1 = t + 1 < seqlen ? bf(dt[((size_t)b * seqlen + t + 1) * nheads + h]) : 0.0f;
  };
  // The state is kept as S/σ: a chunk's decay exp2(cs_last) goes into σ instead of 64 multiplies per thread, and
  // comes back through the readout's exp2(cs_i)·σ and the update's weights / σ'. When σ' would fall under 2^-40 the
  // chunk multiplies the state by σ·exp2(cs_last) itself (ren) and σ restarts at 1.
  float sigma = 1.0f;
  auto decay = [&](int c) {
    const int t0 = c * QC, q = c % NB;
    const float d0 = t0 + 2 * l < seqlen ? softplus(dtr0 + dtb) : 0.0f;
    const float d1 = t0 + 2 * l + 1 < seqlen ? softplus(dtr1 + dtb) : 0.0f;
    const float a0 = d0 * A2, a01 = a0 + d1 * A2;
    float inc = a01;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) { const float v = __shfl_up_sync(0xffffffffu, inc, o); if (l >= o) inc += v; }
    const float c1 = inc, c0 = inc - a01 + a0;
    const float last = __shfl_sync(0xffffffffu, inc, 31);
    const float next = sigma * ex2(last);
    const bool fold = next < 0x1p-40f;
    const float inv = fold ? 1.0f : 1.0f / next;
    s.cs[q][2 * l] = c0; s.cs[q][2 * l + 1] = c1;
    s.ecs[q][2 * l] = ex2(c0) * sigma; s.ecs[q][2 * l + 1] = ex2(c1) * sigma;
    s.u[q][2 * l] = c0 - __log2f(d0); s.u[q][2 * l + 1] = c1 - __log2f(d1);
    s.wj[q][l] = pack(ex2(last - c0) * d0 * inv, ex2(last - c1) * d1 * inv);
    if (l == 0) s.ren[q] = fold ? next : 1.0f;
    sigma = fold ? 1.0f : next;
  };

  float S[64];
#pragma unroll
  for (int i = 0; i < 64; i++) S[i] = 0.0f;

  // M's blocks above the diagonal stay zero: written once.
  for (int e = tid; e < QC * QC / 2; e += NT) {
    const int i = e / (QC / 2), j = 2 * (e % (QC / 2));
    if ((j >> 3) > (i >> 3)) *reinterpret_cast<uint32_t*>(s.m + r64_off(i, j)) = 0u;
  }
  loadXG(0); loadZ(0); loadCB(0); cp_commit();
  if (w == 0) { loadDt(0); decay(0); if (nc > 1) loadDt(1); }

  for (int c = 0; c < nc; c++) {
    const int t0 = c * QC, q = c % NB;
    cp_wait<0>();
    fence_async();
    __syncthreads();                                         // b0
    if (NB == 2 && c + 1 < nc) { loadXG(c + 1); loadZ(c + 1); }
    if (NB == 1 && !HALVES && c > 0) loadZ(c);
    cp_commit();
    // Xᵀ in the A-operand layout (rows p = 16w…, K = j), by transposing loads of x [j][p].
    uint32_t xf[4][4];
#pragma unroll
    for (int kb = 0; kb < 4; kb++) {
      const int mi = l >> 3;
      ldsm_t(xf[kb], smem_u32(s.x[q] + (16 * kb + 8 * (mi >> 1) + (l & 7)) * XROW + (16 * w + 8 * (mi & 1)) * 2));
    }
#if GIN
    // G = C·Bᵀ on the tensor cores (A = C, B = B, both from shared memory); its blocks on and below the diagonal,
    // bf16, into M's buffer, which the mask then rewrites in place (9 pairs per thread, spread as below).
    {
      float Gv[32];
#pragma unroll
      for (int k = 0; k < 32; k++) Gv[k] = 0.0f;
      wg_fence();
#pragma unroll
      for (int kb = 0; kb < 8; kb++) wgmma_ss_n64(Gv, cc_desc(smem_u32(s.cc), kb), cc_desc(smem_u32(s.bt), kb), kb > 0);
      wg_commit();
      wg_wait<0>();
      keep(Gv);
      const int gid = l >> 2;
#pragma unroll
      for (int k = 0; k < 32; k += 2) {
        const int i = 16 * w + gid + 8 * ((k >> 1) & 1), j = (k >> 2) * 8 + 2 * tig;
        if ((j >> 3) <= (i >> 3)) *reinterpret_cast<uint32_t*>(s.m + r64_off(i, j)) = pack(Gv[k], Gv[k + 1]);
      }
    }
    __syncthreads();                                         // G in M's buffer
#pragma unroll
    for (int r = 0; r < GPAIRS / NT; r++) {
      const int e = tid + NT * r, bk = e >> 5, bi = LOWER[bk][0], bj = LOWER[bk][1];
      const int i = 8 * bi + (l >> 2), j = 8 * bj + 2 * (l & 3);
      uint32_t* at = reinterpret_cast<uint32_t*>(s.m + r64_off(i, j));
      const uint32_t gp = *at;
      const float2 uj = *reinterpret_cast<const float2*>(&s.u[q][j]);
      const float ci = s.cs[q][i];
      float m0 = lo16(gp) * ex2(ci - uj.x), m1 = hi16(gp) * ex2(ci - uj.y);
      if (bi == bj) { m0 = j <= i ? m0 : 0.0f; m1 = j + 1 <= i ? m1 : 0.0f; }
      *at = pack(m0, m1);
    }
#else
    // M = G ∘ exp2(cs_i − cs_j)·dt_j = G·exp2(cs_i − u_j) on and below the diagonal, 9 pairs per thread (a warp takes
    // one 8×8 block at a time), stored bf16 as the B operand of Yᵀ += Xᵀ·Mᵀ.
#pragma unroll
    for (int r = 0; r < GPAIRS / NT; r++) {
      const int e = tid + NT * r, bk = e >> 5, bi = LOWER[bk][0], bj = LOWER[bk][1];
      const int i = 8 * bi + (l >> 2), j = 8 * bj + 2 * (l & 3);
      const float2 gv = s.g[q][e];
      const float2 uj = *reinterpret_cast<const float2*>(&s.u[q][j]);
      const float ci = s.cs[q][i];
      float m0 = gv.x * ex2(ci - uj.x), m1 = gv.y * ex2(ci - uj.y);
      if (bi == bj) { m0 = j <= i ? m0 : 0.0f; m1 = j + 1 <= i ? m1 : 0.0f; }
      *reinterpret_cast<uint32_t*>(s.m + r64_off(i, j)) = pack(m0, m1);
    }
#endif
    fence_async();
    __syncthreads();                                         // b1: M visible to the tensor cores; x and G read
    if (NB == 1 && c + 1 < nc) loadXG(c + 1);
    cp_commit();
    // Yᵀ = S·Cᵀ from the state's own registers (packed to bf16 before the update changes the state); X'ᵀ = Xᵀ scaled
    // by w_j along K (bf16 pairs); S/σ' ← S/σ + X'ᵀ·B (S·σ·exp2(cs_last) when the chunk folds).
    uint32_t sa[8][4];
#pragma unroll
    for (int kb = 0; kb < 8; kb++) {
      sa[kb][0] = pack(S[8 * kb], S[8 * kb + 1]); sa[kb][1] = pack(S[8 * kb + 2], S[8 * kb + 3]);
      sa[kb][2] = pack(S[8 * kb + 4], S[8 * kb + 5]); sa[kb][3] = pack(S[8 * kb + 6], S[8 * kb + 7]);
    }
    uint32_t xw[4][4];
#pragma unroll
    for (int kb = 0; kb < 4; kb++) {
      const uint32_t w01 = s.wj[q][8 * kb + tig], w89 = s.wj[q][8 * kb + 4 + tig];
      xw[kb][0] = mul2(xf[kb][0], w01); xw[kb][1] = mul2(xf[kb][1], w01);
      xw[kb][2] = mul2(xf[kb][2], w89); xw[kb][3] = mul2(xf[kb][3], w89);
    }
    const float ren = s.ren[q];
    if (ren != 1.0f) {
#pragma unroll
      for (int i = 0; i < 64; i++) S[i] *= ren;
    }
#if HALVES
    // The readout in two halves of the chunk's steps (Yᵀ 64 × 32 each, 16 registers), each stored before the next:
    // with the update waited for first, no more than S + the packed state + one half + Xᵀ (128 registers) are live,
    // so three blocks per SM (168) keep the products asynchronous. z of c landed at b0 (copied at b2 of c − 1).
    {
      wg_fence();
#pragma unroll
#if GIN
      for (int kb = 0; kb < 4 * ABL_UPDATE; kb++) wgmma_n128_tb(S, xw[kb], mn_desc(smem_u32(s.bt), kb), 1);
#else
      for (int kb = 0; kb < 4 * ABL_UPDATE; kb++) wgmma_n128(S, xw[kb], r64_desc(smem_u32(s.bt), kb), 1);
#endif
      wg_commit();
      wg_wait<0>();
      keep(S);
    }
    const bool full = t0 + QC <= seqlen;
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
      float Y[16];
#pragma unroll
      for (int i = 0; i < 16; i++) Y[i] = 0.0f;
      wg_fence();
#pragma unroll
      for (int kb = 0; kb < 8 * ABL_INTER; kb++) wgmma_n32(Y, sa[kb], cc_desc(smem_u32(s.cc) + 4096 * hf, kb), kb > 0);
      wg_commit();
      wg_wait<0>();
      keep(Y);
#pragma unroll
      for (int k = 0; k < 16; k += 4) {
        const float2 e = *reinterpret_cast<const float2*>(&s.ecs[q][32 * hf + (k >> 2) * 8 + 2 * tig]);
        Y[k] *= e.x; Y[k + 1] *= e.y; Y[k + 2] *= e.x; Y[k + 3] *= e.y;
      }
      wg_fence();
#pragma unroll
      for (int kb = 0; kb < 4 * ABL_INTRA; kb++) wgmma_n32(Y, xf[kb], r64_desc(smem_u32(s.m) + 4096 * hf, kb), 1);
      wg_commit();
      wg_wait<0>();
      keep(Y);
      // y = (Yᵀ + D·x)·silu(z) for steps 32·hf …, staged [i][p] over z's tile (each warp its own 16 p) and stored.
#pragma unroll
      for (int kh = 0; kh < 2; kh++) {
        const int kb = 2 * hf + kh, mi = l >> 3;
        const uint32_t at = smem_u32(s.zy[q] + (16 * kb + 8 * (mi >> 1) + (l & 7)) * XROW + (16 * w + 8 * (mi & 1)) * 2);
        uint32_t zf[4], o[4];
        ldsm_t(zf, at);
#pragma unroll
        for (int r = 0; r < 4; r++) {
          const int k = 8 * kh + ((r >> 1) << 2) + ((r & 1) << 1);
          o[r] = pack((Y[k] + Dv * lo16(xf[kb][r])) * silu(lo16(zf[r])), (Y[k + 1] + Dv * hi16(xf[kb][r])) * silu(hi16(zf[r])));
        }
        stsm_t(at, o);
      }
      __syncwarp();
#pragma unroll
      for (int k = 0; k < 2; k++) {
        const int e = l + 32 * k, row = 32 * hf + (e >> 1), half = e & 1, t = t0 + row;
        if (full || t < seqlen) *reinterpret_cast<uint4*>(yb + (size_t)t * rowStride + 16 * w + 8 * half) = *reinterpret_cast<const uint4*>(s.zy[q] + row * XROW + (16 * w + 8 * half) * 2);
      }
    }
    __syncthreads();                                         // b2: C, Bᵀ, M, z no longer read
    if (c + 1 < nc) { loadCB(c + 1); loadZ(c + 1); }
    cp_commit();
    if (w == 0 && c + 1 < nc) { decay(c + 1); if (c + 2 < nc) loadDt(c + 2); }
#else
    // Both products issued back to back (the state's registers are touched before either is in flight).
    float Y[32];
#pragma unroll
    for (int i = 0; i < 32; i++) Y[i] = 0.0f;
    wg_fence();
#pragma unroll
    for (int kb = 0; kb < 8 * ABL_INTER; kb++) wgmma_n64(Y, sa[kb], cc_desc(smem_u32(s.cc), kb), kb > 0);
    wg_commit();
#pragma unroll
    for (int kb = 0; kb < 4 * ABL_UPDATE; kb++) wgmma_n128(S, xw[kb], r64_desc(smem_u32(s.bt), kb), 1);
    wg_commit();
    wg_wait<1>();                                            // Yᵀ = S·Cᵀ done
    keep(Y);
#pragma unroll
    for (int k = 0; k < 32; k += 4) {
      const float2 e = *reinterpret_cast<const float2*>(&s.ecs[q][(k >> 2) * 8 + 2 * tig]);
      Y[k] *= e.x; Y[k + 1] *= e.y; Y[k + 2] *= e.x; Y[k + 3] *= e.y;
    }
    wg_fence();
#pragma unroll
    for (int kb = 0; kb < 4 * ABL_INTRA; kb++) wgmma_n64(Y, xf[kb], r64_desc(smem_u32(s.m), kb), 1);
    wg_commit();
    wg_wait<0>();
    keep(Y); keep(S);
    if (NB == 1) cp_wait<1>();                               // z of c
    __syncthreads();                                         // b2: C, Bᵀ, M no longer read
#ifndef ABL_NO_CB_RELOAD
    if (c + 1 < nc) loadCB(c + 1);
#endif
    cp_commit();
    if (w == 0 && c + 1 < nc) { decay(c + 1); if (c + 2 < nc) loadDt(c + 2); }
    // y = (Yᵀ + D·x)·silu(z), staged [i][p] over z's tile: each warp reads, writes and stores only its own 16 p.
    uint32_t zf[4][4];
#pragma unroll
    for (int kb = 0; kb < 4; kb++) {
      const int mi = l >> 3;
      ldsm_t(zf[kb], smem_u32(s.zy[q] + (16 * kb + 8 * (mi >> 1) + (l & 7)) * XROW + (16 * w + 8 * (mi & 1)) * 2));
    }
#pragma unroll
    for (int kb = 0; kb < 4; kb++) {
      uint32_t o[4];
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int k = 8 * kb + ((r >> 1) << 2) + ((r & 1) << 1);   // r = 2·(col + 8) + (row + 8)
        const float z0 = lo16(zf[kb][r]), z1 = hi16(zf[kb][r]);
        o[r] = pack((Y[k] + Dv * lo16(xf[kb][r])) * silu(z0), (Y[k + 1] + Dv * hi16(xf[kb][r])) * silu(z1));
      }
      const int mi = l >> 3;
      stsm_t(smem_u32(s.zy[q] + (16 * kb + 8 * (mi >> 1) + (l & 7)) * XROW + (16 * w + 8 * (mi & 1)) * 2), o);
    }
    __syncwarp();
    const bool full = t0 + QC <= seqlen;
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const int e = l + 32 * k, row = e >> 1, half = e & 1, t = t0 + row;
      if (full || t < seqlen) *reinterpret_cast<uint4*>(yb + (size_t)t * rowStride + 16 * w + 8 * half) = *reinterpret_cast<const uint4*>(s.zy[q] + row * XROW + (16 * w + 8 * half) * 2);
    }
#endif
  }
}
