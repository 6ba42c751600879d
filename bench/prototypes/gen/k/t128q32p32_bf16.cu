#include <cuda_fp16.h>
#include <cuda_bf16.h>
__device__ __forceinline__ float sf_rcp(float x) { float y; asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ __forceinline__ float sf_silu(float x) { float e; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(-1.4426950408889634f * x)); return x * sf_rcp(1.0f + e); }
__device__ __forceinline__ unsigned sf_pack_bf16(float lo, float hi) { __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); return *reinterpret_cast<unsigned*>(&v); }
__device__ __forceinline__ unsigned sf_pack_f16(float lo, float hi) { __half2 v = __floats2half2_rn(lo, hi); return *reinterpret_cast<unsigned*>(&v); }
__device__ __forceinline__ unsigned sf_pack_bf162(float2 v) { return sf_pack_bf16(v.x, v.y); }
__device__ __forceinline__ unsigned sf_pack_f162(float2 v) { return sf_pack_f16(v.x, v.y); }
__device__ __forceinline__ unsigned sf_join16(unsigned short lo, unsigned short hi) { return (unsigned)lo | ((unsigned)hi << 16); }
extern "C" __global__ void __launch_bounds__(128, 4) mamba2_chunk_scan_581b5479_ssd_t128q32p32(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ dt, const __nv_bfloat16* __restrict__ A, const __nv_bfloat16* __restrict__ B, const __nv_bfloat16* __restrict__ C, const __nv_bfloat16* __restrict__ z, const __nv_bfloat16* __restrict__ dt_bias, __nv_bfloat16* __restrict__ y, int batch, int seqlen, int nheads, int ngroups) {
  extern __shared__ __align__(16) unsigned char sf_smem[];
  float* cs0 = reinterpret_cast<float*>(sf_smem + 0);
  float* cs1 = reinterpret_cast<float*>(sf_smem + 128);
  float* sc = reinterpret_cast<float*>(sf_smem + 256);
  __nv_bfloat16* Ss = reinterpret_cast<__nv_bfloat16*>(sf_smem + 384);
  __nv_bfloat16* Xs = reinterpret_cast<__nv_bfloat16*>(sf_smem + 9088);
  __nv_bfloat16* Xw = reinterpret_cast<__nv_bfloat16*>(sf_smem + 14208);
  __nv_bfloat16* Ct = reinterpret_cast<__nv_bfloat16*>(sf_smem + 16768);
  __nv_bfloat16* Wt = reinterpret_cast<__nv_bfloat16*>(sf_smem + 34176);
  __nv_bfloat16* Ms = reinterpret_cast<__nv_bfloat16*>(sf_smem + 51584);
  float* Ys = reinterpret_cast<float*>(sf_smem + 54144);
  __nv_bfloat16* Os0 = reinterpret_cast<__nv_bfloat16*>(sf_smem + 58368);
  if (((int)(blockIdx.x + blockIdx.y * gridDim.x) < (((1 * batch) * nheads) * 2))) {
    const int row = ((int)(blockIdx.x + blockIdx.y * gridDim.x) / 2);
    const int p0 = (((int)(blockIdx.x + blockIdx.y * gridDim.x) % 2) * 32);
    const int rem0 = row;
    const int ix_h = (rem0 % nheads);
    const int rem1 = (rem0 / nheads);
    const int ix_b = (rem1 % batch);
    const int x0 = (ix_b * seqlen);
    const int x1 = (ix_h / (nheads / ngroups));
    const float x3 = __bfloat162float(dt_bias[ix_h]);
    const float x4 = __bfloat162float(A[ix_h]);
    float g_0 = 0.00000000f;
    float g_1 = 0.00000000f;
    float g_2 = 0.00000000f;
    float g_3 = 0.00000000f;
    float g_4 = 0.00000000f;
    float g_5 = 0.00000000f;
    float g_6 = 0.00000000f;
    float g_7 = 0.00000000f;
    float yv_0 = 0.00000000f;
    float yv_1 = 0.00000000f;
    float yv_2 = 0.00000000f;
    float yv_3 = 0.00000000f;
    float yv_4 = 0.00000000f;
    float yv_5 = 0.00000000f;
    float yv_6 = 0.00000000f;
    float yv_7 = 0.00000000f;
    float st_0 = 0.00000000f;
    float st_1 = 0.00000000f;
    float st_2 = 0.00000000f;
    float st_3 = 0.00000000f;
    float st_4 = 0.00000000f;
    float st_5 = 0.00000000f;
    float st_6 = 0.00000000f;
    float st_7 = 0.00000000f;
    float st_8 = 0.00000000f;
    float st_9 = 0.00000000f;
    float st_10 = 0.00000000f;
    float st_11 = 0.00000000f;
    float st_12 = 0.00000000f;
    float st_13 = 0.00000000f;
    float st_14 = 0.00000000f;
    float st_15 = 0.00000000f;
    float st_16 = 0.00000000f;
    float st_17 = 0.00000000f;
    float st_18 = 0.00000000f;
    float st_19 = 0.00000000f;
    float st_20 = 0.00000000f;
    float st_21 = 0.00000000f;
    float st_22 = 0.00000000f;
    float st_23 = 0.00000000f;
    float st_24 = 0.00000000f;
    float st_25 = 0.00000000f;
    float st_26 = 0.00000000f;
    float st_27 = 0.00000000f;
    float st_28 = 0.00000000f;
    float st_29 = 0.00000000f;
    float st_30 = 0.00000000f;
    float st_31 = 0.00000000f;
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_0);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_1);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_2);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_3);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_4);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_5);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_6);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_7);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_8);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_9);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_10);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_11);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_12);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_13);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_14);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_15);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_16);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_17);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_18);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_19);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_20);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_21);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_22);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_23);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_24);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_25);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_26);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_27);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_28);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_29);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_30);
    Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_31);
    float sfp0 = 0.00000000f;
    if ((((int)threadIdx.x < 32) && ((0 + (int)threadIdx.x) < seqlen))) {
      const float x5 = __bfloat162float(dt[(((x0 + (0 + (int)threadIdx.x)) * nheads) + ix_h)]);
      sfp0 = x5;
    }
    for (int xe = (int)threadIdx.x; xe < 128; xe += 128) {
      const int xj = (xe / 4);
      const int xc = ((xe % 4) * 8);
      const int xc0 = (p0 + xc);
      const bool xok = (((0 + xj) < seqlen) && (xc0 < (p0 + 32)));
      {
        const bool cv = xok;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Xs + (((xj * 40) + xc)))), "l"(cv ? x + ((((((x0 + (0 + xj)) * nheads) + ix_h) * 64) + xc0)) : x), "r"(cv ? 16 : 0));
      }
    }
    for (int o0e = (int)threadIdx.x; o0e < 128; o0e += 128) {
      const int o0j = (o0e / 4);
      const int o0c = ((o0e % 4) * 8);
      const int o0c0 = (p0 + o0c);
      const bool o0ok = (((0 + o0j) < seqlen) && (o0c0 < (p0 + 32)));
      {
        const bool cv = o0ok;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Os0 + (((o0j * 40) + o0c)))), "l"(cv ? z + ((((((x0 + (0 + o0j)) * nheads) + ix_h) * 64) + o0c0)) : z), "r"(cv ? 16 : 0));
      }
    }
    for (int bce = (int)threadIdx.x; bce < 512; bce += 128) {
      const int bcj = (bce / 16);
      const int bcc = ((bce % 16) * 8);
      const int bcc0 = bcc;
      const bool bcok = (((0 + bcj) < seqlen) && (bcc0 < 128));
      {
        const bool cv = bcok;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Ct + (((bcj * 136) + bcc)))), "l"(cv ? C + ((((((x0 + (0 + bcj)) * ngroups) + x1) * 128) + bcc0)) : C), "r"(cv ? 16 : 0));
      }
    }
    for (int bwe = (int)threadIdx.x; bwe < 512; bwe += 128) {
      const int bwj = (bwe / 16);
      const int bwc = ((bwe % 16) * 8);
      const int bwc0 = bwc;
      const bool bwok = (((0 + bwj) < seqlen) && (bwc0 < 128));
      {
        const bool cv = bwok;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Wt + (((bwj * 136) + bwc)))), "l"(cv ? B + ((((((x0 + (0 + bwj)) * ngroups) + x1) * 128) + bwc0)) : B), "r"(cv ? 16 : 0));
      }
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
    __syncthreads();
    for (int c0 = 0; c0 < seqlen; c0 += 32) {
      const int cbuf = ((c0 / 32) % 2);
      for (int xe = (int)threadIdx.x; xe < 128; xe += 128) {
        const int xj = (xe / 4);
        const int xc = ((xe % 4) * 8);
        const int xc0 = (p0 + xc);
        const bool xok = ((((c0 + 32) + xj) < seqlen) && (xc0 < (p0 + 32)));
        {
          const bool cv = xok;
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Xs + ((((1 - cbuf) * 1280) + ((xj * 40) + xc))))), "l"(cv ? x + ((((((x0 + ((c0 + 32) + xj)) * nheads) + ix_h) * 64) + xc0)) : x), "r"(cv ? 16 : 0));
        }
      }
      for (int o0e = (int)threadIdx.x; o0e < 128; o0e += 128) {
        const int o0j = (o0e / 4);
        const int o0c = ((o0e % 4) * 8);
        const int o0c0 = (p0 + o0c);
        const bool o0ok = ((((c0 + 32) + o0j) < seqlen) && (o0c0 < (p0 + 32)));
        {
          const bool cv = o0ok;
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Os0 + ((((1 - cbuf) * 1280) + ((o0j * 40) + o0c))))), "l"(cv ? z + ((((((x0 + ((c0 + 32) + o0j)) * nheads) + ix_h) * 64) + o0c0)) : z), "r"(cv ? 16 : 0));
        }
      }
      for (int bce = (int)threadIdx.x; bce < 512; bce += 128) {
        const int bcj = (bce / 16);
        const int bcc = ((bce % 16) * 8);
        const int bcc0 = bcc;
        const bool bcok = ((((c0 + 32) + bcj) < seqlen) && (bcc0 < 128));
        {
          const bool cv = bcok;
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Ct + ((((1 - cbuf) * 4352) + ((bcj * 136) + bcc))))), "l"(cv ? C + ((((((x0 + ((c0 + 32) + bcj)) * ngroups) + x1) * 128) + bcc0)) : C), "r"(cv ? 16 : 0));
        }
      }
      for (int bwe = (int)threadIdx.x; bwe < 512; bwe += 128) {
        const int bwj = (bwe / 16);
        const int bwc = ((bwe % 16) * 8);
        const int bwc0 = bwc;
        const bool bwok = ((((c0 + 32) + bwj) < seqlen) && (bwc0 < 128));
        {
          const bool cv = bwok;
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"((unsigned)__cvta_generic_to_shared(Wt + ((((1 - cbuf) * 4352) + ((bwj * 136) + bwc))))), "l"(cv ? B + ((((((x0 + ((c0 + 32) + bwj)) * ngroups) + x1) * 128) + bwc0)) : B), "r"(cv ? 16 : 0));
        }
      }
      asm volatile("cp.async.commit_group;" ::: "memory");
      if (((int)threadIdx.x < 32)) {
        float sld = 0.00000000f;
        float ssc = 0.00000000f;
        if (((c0 + (int)threadIdx.x) < seqlen)) {
          const float x2 = sfp0;
          sld = ((x2 + x3) * x4);
          ssc = (x2 + x3);
        }
        cs0[(int)threadIdx.x] = sld;
        sc[(int)threadIdx.x] = ssc;
      }
      if ((((int)threadIdx.x < 32) && (((c0 + 32) + (int)threadIdx.x) < seqlen))) {
        const float x6 = __bfloat162float(dt[(((x0 + ((c0 + 32) + (int)threadIdx.x)) * nheads) + ix_h)]);
        sfp0 = x6;
      }
      asm volatile("cp.async.wait_group 1;" ::: "memory");
      __syncthreads();
      for (int hs1j = (int)threadIdx.x; hs1j < 32; hs1j += 128) {
        float hs1 = cs0[hs1j];
        if ((hs1j >= 1)) {
          hs1 = (hs1 + cs0[(hs1j - 1)]);
        }
        cs1[hs1j] = hs1;
      }
      __syncthreads();
      for (int hs2j = (int)threadIdx.x; hs2j < 32; hs2j += 128) {
        float hs2 = cs1[hs2j];
        if ((hs2j >= 2)) {
          hs2 = (hs2 + cs1[(hs2j - 2)]);
        }
        cs0[hs2j] = hs2;
      }
      __syncthreads();
      for (int hs4j = (int)threadIdx.x; hs4j < 32; hs4j += 128) {
        float hs4 = cs0[hs4j];
        if ((hs4j >= 4)) {
          hs4 = (hs4 + cs0[(hs4j - 4)]);
        }
        cs1[hs4j] = hs4;
      }
      __syncthreads();
      for (int hs8j = (int)threadIdx.x; hs8j < 32; hs8j += 128) {
        float hs8 = cs1[hs8j];
        if ((hs8j >= 8)) {
          hs8 = (hs8 + cs1[(hs8j - 8)]);
        }
        cs0[hs8j] = hs8;
      }
      __syncthreads();
      for (int hs16j = (int)threadIdx.x; hs16j < 32; hs16j += 128) {
        float hs16 = cs0[hs16j];
        if ((hs16j >= 16)) {
          hs16 = (hs16 + cs0[(hs16j - 16)]);
        }
        cs1[hs16j] = hs16;
      }
      __syncthreads();
      const float csLast = cs1[31];
      const float chunkDecay = expf(csLast);
      for (int qe = (int)threadIdx.x; qe < 1024; qe += 128) {
        const int qrow = (qe / 32);
        const int qj = qrow;
        const int qw = ((qrow * 40) + (qe % 32));
        Xw[qw] = __float2bfloat16_rn((__bfloat162float(Xs[((cbuf * 1280) + qw)]) * (sc[qj] * expf((csLast - cs1[qj])))));
      }
      g_0 = 0.00000000f;
      g_1 = 0.00000000f;
      g_2 = 0.00000000f;
      g_3 = 0.00000000f;
      g_4 = 0.00000000f;
      g_5 = 0.00000000f;
      g_6 = 0.00000000f;
      g_7 = 0.00000000f;
      yv_0 = 0.00000000f;
      yv_1 = 0.00000000f;
      yv_2 = 0.00000000f;
      yv_3 = 0.00000000f;
      yv_4 = 0.00000000f;
      yv_5 = 0.00000000f;
      yv_6 = 0.00000000f;
      yv_7 = 0.00000000f;
      for (int mg_kk = 0; mg_kk < 128; mg_kk += 16) {
        const unsigned mg_b0_0 = *reinterpret_cast<const unsigned*>(&Wt[(((cbuf * 4352) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned mg_b0_1 = *reinterpret_cast<const unsigned*>(&Wt[(((cbuf * 4352) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned mg_b1_0 = *reinterpret_cast<const unsigned*>(&Wt[(((cbuf * 4352) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned mg_b1_1 = *reinterpret_cast<const unsigned*>(&Wt[(((cbuf * 4352) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        {
          const unsigned mg_a0_0 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 136)) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned mg_a0_1 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136)) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned mg_a0_2 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 136)) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          const unsigned mg_a0_3 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136)) + ((mg_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          if ((((((int)threadIdx.x / 32) % 2) + 0) * 8) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + 15)) asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(g_0), "+f"(g_1), "+f"(g_2), "+f"(g_3) : "r"(mg_a0_0), "r"(mg_a0_1), "r"(mg_a0_2), "r"(mg_a0_3), "r"(mg_b0_0), "r"(mg_b0_1));
          if ((((((int)threadIdx.x / 32) % 2) + 2) * 8) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + 15)) asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(g_4), "+f"(g_5), "+f"(g_6), "+f"(g_7) : "r"(mg_a0_0), "r"(mg_a0_1), "r"(mg_a0_2), "r"(mg_a0_3), "r"(mg_b1_0), "r"(mg_b1_1));
        }
      }
      for (int my_kk = 0; my_kk < 128; my_kk += 16) {
        const unsigned my_b0_0 = *reinterpret_cast<const unsigned*>(&Ss[((0 + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned my_b0_1 = *reinterpret_cast<const unsigned*>(&Ss[((0 + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned my_b1_0 = *reinterpret_cast<const unsigned*>(&Ss[((0 + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        const unsigned my_b1_1 = *reinterpret_cast<const unsigned*>(&Ss[((0 + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 136))]);
        {
          const unsigned my_a0_0 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 136)) + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned my_a0_1 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136)) + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned my_a0_2 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 136)) + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          const unsigned my_a0_3 = *reinterpret_cast<const unsigned*>(&Ct[(((cbuf * 4352) + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136)) + ((my_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(yv_0), "+f"(yv_1), "+f"(yv_2), "+f"(yv_3) : "r"(my_a0_0), "r"(my_a0_1), "r"(my_a0_2), "r"(my_a0_3), "r"(my_b0_0), "r"(my_b0_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(yv_4), "+f"(yv_5), "+f"(yv_6), "+f"(yv_7) : "r"(my_a0_0), "r"(my_a0_1), "r"(my_a0_2), "r"(my_a0_3), "r"(my_b1_0), "r"(my_b1_1));
        }
      }
      __syncthreads();
      float gm0 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)))) {
        gm0 = ((g_0 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))] - cs1[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(gm0);
      float gm1 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)))) {
        gm1 = ((g_1 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))] - cs1[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(gm1);
      float gm2 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)))) {
        gm2 = ((g_2 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))] - cs1[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(gm2);
      float gm3 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)))) {
        gm3 = ((g_3 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))] - cs1[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(gm3);
      float gm4 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)))) {
        gm4 = ((g_4 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))] - cs1[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(gm4);
      float gm5 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)))) {
        gm5 = ((g_5 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))] - cs1[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(gm5);
      float gm6 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)))) {
        gm6 = ((g_6 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))] - cs1[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(gm6);
      float gm7 = 0.00000000f;
      if ((((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)))) {
        gm7 = ((g_7 * expf((cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))] - cs1[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]))) * sc[((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1))]);
      }
      Ms[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(gm7);
      __syncthreads();
      st_0 = (st_0 * chunkDecay);
      st_1 = (st_1 * chunkDecay);
      st_2 = (st_2 * chunkDecay);
      st_3 = (st_3 * chunkDecay);
      st_4 = (st_4 * chunkDecay);
      st_5 = (st_5 * chunkDecay);
      st_6 = (st_6 * chunkDecay);
      st_7 = (st_7 * chunkDecay);
      st_8 = (st_8 * chunkDecay);
      st_9 = (st_9 * chunkDecay);
      st_10 = (st_10 * chunkDecay);
      st_11 = (st_11 * chunkDecay);
      st_12 = (st_12 * chunkDecay);
      st_13 = (st_13 * chunkDecay);
      st_14 = (st_14 * chunkDecay);
      st_15 = (st_15 * chunkDecay);
      st_16 = (st_16 * chunkDecay);
      st_17 = (st_17 * chunkDecay);
      st_18 = (st_18 * chunkDecay);
      st_19 = (st_19 * chunkDecay);
      st_20 = (st_20 * chunkDecay);
      st_21 = (st_21 * chunkDecay);
      st_22 = (st_22 * chunkDecay);
      st_23 = (st_23 * chunkDecay);
      st_24 = (st_24 * chunkDecay);
      st_25 = (st_25 * chunkDecay);
      st_26 = (st_26 * chunkDecay);
      st_27 = (st_27 * chunkDecay);
      st_28 = (st_28 * chunkDecay);
      st_29 = (st_29 * chunkDecay);
      st_30 = (st_30 * chunkDecay);
      st_31 = (st_31 * chunkDecay);
      for (int mu_kk = 0; mu_kk < 32; mu_kk += 16) {
        const unsigned mu_b0_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b0_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b1_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b1_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b2_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b2_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b3_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mu_b3_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Wt[(((cbuf * 4352) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 136)) + (((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        {
          const unsigned mu_a0_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40))]));
          const unsigned mu_a0_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40))]));
          const unsigned mu_a0_2 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40))]));
          const unsigned mu_a0_3 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40))]));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_0), "+f"(st_1), "+f"(st_2), "+f"(st_3) : "r"(mu_a0_0), "r"(mu_a0_1), "r"(mu_a0_2), "r"(mu_a0_3), "r"(mu_b0_0), "r"(mu_b0_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_4), "+f"(st_5), "+f"(st_6), "+f"(st_7) : "r"(mu_a0_0), "r"(mu_a0_1), "r"(mu_a0_2), "r"(mu_a0_3), "r"(mu_b1_0), "r"(mu_b1_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_8), "+f"(st_9), "+f"(st_10), "+f"(st_11) : "r"(mu_a0_0), "r"(mu_a0_1), "r"(mu_a0_2), "r"(mu_a0_3), "r"(mu_b2_0), "r"(mu_b2_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_12), "+f"(st_13), "+f"(st_14), "+f"(st_15) : "r"(mu_a0_0), "r"(mu_a0_1), "r"(mu_a0_2), "r"(mu_a0_3), "r"(mu_b3_0), "r"(mu_b3_1));
        }
        {
          const unsigned mu_a1_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40))]));
          const unsigned mu_a1_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40))]));
          const unsigned mu_a1_2 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + (((int)threadIdx.x % 32) / 4)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40))]));
          const unsigned mu_a1_3 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40))]), *reinterpret_cast<const unsigned short*>(&Xw[((0 + (((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 1)) + ((mu_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40))]));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_16), "+f"(st_17), "+f"(st_18), "+f"(st_19) : "r"(mu_a1_0), "r"(mu_a1_1), "r"(mu_a1_2), "r"(mu_a1_3), "r"(mu_b0_0), "r"(mu_b0_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_20), "+f"(st_21), "+f"(st_22), "+f"(st_23) : "r"(mu_a1_0), "r"(mu_a1_1), "r"(mu_a1_2), "r"(mu_a1_3), "r"(mu_b1_0), "r"(mu_b1_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_24), "+f"(st_25), "+f"(st_26), "+f"(st_27) : "r"(mu_a1_0), "r"(mu_a1_1), "r"(mu_a1_2), "r"(mu_a1_3), "r"(mu_b2_0), "r"(mu_b2_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(st_28), "+f"(st_29), "+f"(st_30), "+f"(st_31) : "r"(mu_a1_0), "r"(mu_a1_1), "r"(mu_a1_2), "r"(mu_a1_3), "r"(mu_b3_0), "r"(mu_b3_1));
        }
      }
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_0);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_1);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_2);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_3);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_4);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_5);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_6);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_7);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_8);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_9);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_10);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_11);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_12);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_13);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_14);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_15);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_16);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_17);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_18);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_19);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_20);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_21);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_22);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 4) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_23);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_24);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_25);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_26);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 8) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_27);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_28);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_29);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = __float2bfloat16_rn(st_30);
      Ss[((((((((int)threadIdx.x / 32) / 4) + 1) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 136) + ((((((int)threadIdx.x / 32) % 4) + 12) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = __float2bfloat16_rn(st_31);
      yv_0 = (yv_0 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))]));
      yv_1 = (yv_1 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))]));
      yv_2 = (yv_2 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))]));
      yv_3 = (yv_3 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))]));
      yv_4 = (yv_4 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))]));
      yv_5 = (yv_5 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0))]));
      yv_6 = (yv_6 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))]));
      yv_7 = (yv_7 * expf(cs1[((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8))]));
      for (int mx_kk = 0; mx_kk < 32; mx_kk += 16) {
        const unsigned mx_b0_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mx_b0_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mx_b1_0 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 1)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        const unsigned mx_b1_1 = sf_join16(*reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]), *reinterpret_cast<const unsigned short*>(&Xs[(((cbuf * 1280) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 9)) * 40)) + (((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((int)threadIdx.x % 32) / 4)) * 1))]));
        if (mx_kk <= ((((((int)threadIdx.x / 32) / 2) + 0) * 16) + 15)) {
          const unsigned mx_a0_0 = *reinterpret_cast<const unsigned*>(&Ms[((0 + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 40)) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned mx_a0_1 = *reinterpret_cast<const unsigned*>(&Ms[((0 + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40)) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 0)) * 1))]);
          const unsigned mx_a0_2 = *reinterpret_cast<const unsigned*>(&Ms[((0 + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + (((int)threadIdx.x % 32) / 4)) * 40)) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          const unsigned mx_a0_3 = *reinterpret_cast<const unsigned*>(&Ms[((0 + (((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 40)) + ((mx_kk + (((((int)threadIdx.x % 32) % 4) * 2) + 8)) * 1))]);
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(yv_0), "+f"(yv_1), "+f"(yv_2), "+f"(yv_3) : "r"(mx_a0_0), "r"(mx_a0_1), "r"(mx_a0_2), "r"(mx_a0_3), "r"(mx_b0_0), "r"(mx_b0_1));
          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : "+f"(yv_4), "+f"(yv_5), "+f"(yv_6), "+f"(yv_7) : "r"(mx_a0_0), "r"(mx_a0_1), "r"(mx_a0_2), "r"(mx_a0_3), "r"(mx_b1_0), "r"(mx_b1_1));
        }
      }
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = yv_0;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = yv_1;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = yv_2;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 0) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = yv_3;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = yv_4;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 0)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = yv_5;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 0)))] = yv_6;
      Ys[((((((((int)threadIdx.x / 32) / 2) + 0) * 16) + ((((int)threadIdx.x % 32) / 4) + 8)) * 33) + ((((((int)threadIdx.x / 32) % 2) + 2) * 8) + (((((int)threadIdx.x % 32) % 4) * 2) + 1)))] = yv_7;
      __syncthreads();
      for (int oe = (int)threadIdx.x; oe < 128; oe += 128) {
        const int oj = (oe / 4);
        const int oc = ((oe % 4) * 8);
        const int op0 = ((p0 + oc) + 0);
        if (((c0 + oj) < seqlen)) {
          const float x7 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 0))]));
          const float x8 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 1))]));
          const float x9 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 2))]));
          const float x10 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 3))]));
          const float x11 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 4))]));
          const float x12 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 5))]));
          const float x13 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 6))]));
          const float x14 = sf_silu(__bfloat162float(Os0[((cbuf * 1280) + (((oj * 40) + oc) + 7))]));
          *reinterpret_cast<uint4*>(y + ((((((x0 + (c0 + oj)) * nheads) + ix_h) * 64) + op0))) = make_uint4(((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 0)] * x7))) | ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 1)] * x8))) << 16)), ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 2)] * x9))) | ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 3)] * x10))) << 16)), ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 4)] * x11))) | ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 5)] * x12))) << 16)), ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 6)] * x13))) | ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn((Ys[(((((oj * 1) + 0) * 33) + oc) + 7)] * x14))) << 16)));
        }
      }
      __syncthreads();
    }
  }
}
