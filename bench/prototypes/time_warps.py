# Design prototype (hand-written, not generated): Mamba-1 fp32 at the long shape
# (batch 1, dim 4096, seqlen 262144) with the sequence parallelism found *inside*
# a block instead of in a split with a summary launch.
#
# Why: the split (lower/segments.ts) reads u and delta and computes every decay
# exp a second time for all but the last segment (24.7 GB against the 17.2 GB
# the roofline counts, RESULTS runs 113-114: no split reaches 70%). Unsplit,
# 4 096 rows fill under 4 warps per SM.
#
# Time warps: a block's W warps serve the same 8 rows (4 lanes x 4 states each,
# as the compiler's l4 shuffle form) and take consecutive chunks of TB = 4 x IT
# steps, one each per round of W chunks. Phase 1 runs the warp's chunk from
# zero: h_loc, the running decay product P_t, the partial outputs of h_loc, and
# keeps q_t[n] = C_t[n] P_t[n] in registers (the stash: E x TB per lane). Each
# warp publishes (P_end, h_loc_end) to shared memory; one barrier; every warp
# folds the round's carry through the warps before it (its entering state h_in)
# and through all W (the next round's carry). Phase 3 adds sum_n q_t[n] h_in[n]
# to the partials (the outputs are linear in h: y_t = sum_n C_t[n] h_t[n] and
# h_t = h_loc_t + P_t h_in), which are then reduce-scattered and stored. One exp
# per (row, step, state): no summary launch, no second read of u and delta.
#   python3 bench/prototypes/time_warps.py
# `tw2` below is the correction form and `tw3` (tw2 with REPLAY) the replay form; run 110's unstaged `tw` is in
# commit a2b3751. Prototype limits: L a multiple of W x TB, a block's rows share batch and group,
# no initial/final states (the bench's case). It prints rel. L2 errors against
# float64 (normal decays, and decays 100x slower so states cross many rounds),
# then times each variant at the long shape against the copy roofline.
import sys, json, os
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import copy_roofline, reference, make as make_inputs, timeit

SRC = r'''
#define LOG2E 1.4426950408889634f
__device__ __forceinline__ float ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ __forceinline__ float rcpa(float x) { float y; asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
// The compiler's softplus (render/softplus-poly.ts) and SiLU.
__device__ __forceinline__ float softplus(float x) { float t = ex2(-LOG2E * fabsf(x)); return fmaxf(x, 0.0f) + t * fmaf(fmaf(fmaf(fmaf(fmaf(fmaf(fmaf(fmaf(0.00523269130f, t, (-0.0295052268f)), t, 0.0782259330f), t, (-0.136632442f)), t, 0.191060066f), t, (-0.248429820f)), t, 0.333190978f), t, (-0.499994934f)), t, 0.999999940f); }
__device__ __forceinline__ float silu(float x) { return x * rcpa(1.0f + ex2(-LOG2E * x)); }
template <int W> __device__ __forceinline__ void ldn(const float* p, float* o) {
  if constexpr (W % 4 == 0) {
#pragma unroll
    for (int q = 0; q < W; q += 4) { float4 x = __ldg(reinterpret_cast<const float4*>(p + q)); o[q] = x.x; o[q + 1] = x.y; o[q + 2] = x.z; o[q + 3] = x.w; }
  } else if constexpr (W == 2) { float2 x = __ldg(reinterpret_cast<const float2*>(p)); o[0] = x.x; o[1] = x.y; }
  else { o[0] = __ldg(p); }
}
template <int W> __device__ __forceinline__ void stn(float* p, const float* o) {
  if constexpr (W % 4 == 0) {
#pragma unroll
    for (int q = 0; q < W; q += 4) __stcs(reinterpret_cast<float4*>(p + q), make_float4(o[q], o[q + 1], o[q + 2], o[q + 3]));
  } else if constexpr (W == 2) __stcs(reinterpret_cast<float2*>(p), make_float2(o[0], o[1]));
  else __stcs(p, o[0]);
}

// Reduce-scatter of TB = 4 IT partial sums over a row's 4 lanes: lane ln ends with the sums of steps
// ln*IT ... ln*IT + IT - 1 (two shuffle rounds: halves, then quarters).
template <int IT> __device__ __forceinline__ void reduceScatter4(const float* part, int ln, float* p3) {
  constexpr int TB = 4 * IT;
  float p2[TB / 2];
  const bool hi2 = (ln & 2) != 0, hi1 = (ln & 1) != 0;
#pragma unroll
  for (int j = 0; j < TB / 2; j++) {
    const float send = hi2 ? part[j] : part[j + TB / 2];
    const float keep = hi2 ? part[j + TB / 2] : part[j];
    p2[j] = keep + __shfl_xor_sync(0xffffffffu, send, 2);
  }
#pragma unroll
  for (int j = 0; j < IT; j++) {
    const float send = hi1 ? p2[j] : p2[j + IT];
    const float keep = hi1 ? p2[j + IT] : p2[j];
    p3[j] = keep + __shfl_xor_sync(0xffffffffu, send, 1);
  }
}

__device__ __forceinline__ void cpa16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src));
}
// tw2 <IT, W, RG, MINB, REPLAY>: IT steps a lane owns per chunk (TB = 4 IT), W warps over time, RG row groups
// (8 rows) per block. Every input staged by cp.async two rounds ahead (three buffers): the tiles by the block,
// each warp's u, delta and z of its chunk by the warp itself (only the warp reads them). (Run 110's `tw`, the same
// without staging, is in commit a2b3751.)
// REPLAY (`tw3` below): the chunk replayed instead of corrected: phase 1 keeps each step's decay a and input
// term dt*u*B (2 x E x TB registers) and runs h_loc only to publish its end, P_end = ex2(A2 * sum dt); phase 3
// replays h = a*h + b from h_in with the outputs (C read there only). One multiply-add per element-step more
// than the one-pass kernel, against three for the correction.
template <int IT, int W, int RG, int MINB, bool REPLAY>
__global__ void __launch_bounds__(32 * W * RG, MINB) tw2(const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C, const float* __restrict__ D,
    const float* __restrict__ z, const float* __restrict__ dbias, float* __restrict__ y, int batch, int dim, int L, int ngroups) {
  constexpr int NS = 4, E = 4, N = 16, TB = NS * IT, SPAN = W * TB, PS = SPAN + 4, NT = 32 * W * RG, NB = 3;
  extern __shared__ __align__(16) float smem[];
  float* sB = smem;                                  // [NB][N][PS]
  float* sC = sB + NB * N * PS;                      // [NB][N][PS]
  float* sIn = sC + NB * N * PS;                     // [NB][RG][W][3][8][TB]
  float4* pubP = reinterpret_cast<float4*>(sIn + NB * RG * W * 3 * 8 * TB);  // [2][RG][W][32]
  float4* pubH = pubP + 2 * RG * W * 32;
  const int tid = threadIdx.x, warp = tid / 32, lt = tid % 32;
  const int rg = warp / W, w = warp % W;
  const int ln = lt % NS, slot = lt / NS;
  const int row0 = (blockIdx.x * RG + rg) * 8;
  const int row = row0 + slot;
  const int d = row % dim;
  float A2[E];
#pragma unroll
  for (int e = 0; e < E; e++) A2[e] = A[d * N + ln * E + e] * LOG2E;
  const float db = dbias[d], Dd = D[d];
  const int b0 = (blockIdx.x * RG * 8) / dim, g0 = ((blockIdx.x * RG * 8) % dim) / (dim / ngroups);
  const float* Bt = B + (size_t)(b0 * ngroups + g0) * N * L;
  const float* Ct = C + (size_t)(b0 * ngroups + g0) * N * L;
  const size_t ro = (size_t)row * L;
  const int rounds = L / SPAN;
  auto inAt = [&](int buf, int t, int r8, int j) -> float* { return sIn + ((((buf * RG + rg) * W + w) * 3 + t) * 8 + r8) * TB + j; };
  // Round r's data: the block's tiles, this warp's inputs.
  auto stage = [&](int r) {
    if (r < rounds) {
      const int buf = r % NB;
      for (int q = tid; q < N * SPAN / 4; q += NT) {
        const int m = q / (SPAN / 4), k4 = (q % (SPAN / 4)) * 4;
        cpa16(&sB[(buf * N + m) * PS + k4], Bt + (size_t)m * L + (size_t)r * SPAN + k4);
        cpa16(&sC[(buf * N + m) * PS + k4], Ct + (size_t)m * L + (size_t)r * SPAN + k4);
      }
      const size_t c0 = (size_t)r * SPAN + w * TB;
#pragma unroll
      for (int q = lt; q < 3 * 8 * TB / 4; q += 32) {
        const int t = q / (8 * TB / 4), rem = q % (8 * TB / 4), r8 = rem / (TB / 4), k4 = (rem % (TB / 4)) * 4;
        const float* src = (t == 0 ? u : t == 1 ? delta : z) + (size_t)(row0 + r8) * L + c0 + k4;
        cpa16(inAt(buf, t, r8, k4), src);
      }
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
  };
  float carry[E];
#pragma unroll
  for (int e = 0; e < E; e++) carry[e] = 0.f;
  stage(0);
  stage(1);
  asm volatile("cp.async.wait_group 1;" ::: "memory");
  __syncthreads();
  const unsigned FULL = 0xffffffffu;
  const int base = lt & ~(NS - 1);
  for (int r = 0; r < rounds; r++) {
    const int buf = r % NB;
    stage(r + 2);
    float uu[IT], dl[IT], dt[IT], du[IT];
#pragma unroll
    for (int i = 0; i < IT; i++) { uu[i] = *inAt(buf, 0, slot, ln * IT + i); dl[i] = *inAt(buf, 1, slot, ln * IT + i); }
#pragma unroll
    for (int i = 0; i < IT; i++) { dt[i] = softplus(dl[i] + db); du[i] = dt[i] * uu[i]; }
    // Phase 1: the chunk from zero. Correction: h_loc, the decay product P_t, the partials of h_loc and
    // q_t = C_t P_t kept. Replay: each step's a and b kept, h_loc to its end, P_end from the dt sum.
    float h[E], P[E], part[TB], q[E][TB], sa[REPLAY ? E : 1][TB], sb[REPLAY ? E : 1][TB], dsum = 0.f;
#pragma unroll
    for (int e = 0; e < E; e++) { h[e] = 0.f; P[e] = 1.f; }
#pragma unroll
    for (int k = 0; k < TB; k += 4) {
      float sdt[4], sdu[4];
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const int j = k + s;
        sdt[s] = __shfl_sync(FULL, dt[j % IT], base + j / IT);
        sdu[s] = __shfl_sync(FULL, du[j % IT], base + j / IT);
        part[j] = 0.f;
        dsum += sdt[s];
      }
#pragma unroll
      for (int e = 0; e < E; e++) {
        const float4 b4 = *reinterpret_cast<const float4*>(&sB[(buf * N + ln * E + e) * PS + w * TB + k]);
        const float4 c4 = REPLAY ? b4 : *reinterpret_cast<const float4*>(&sC[(buf * N + ln * E + e) * PS + w * TB + k]);
        const float bb[4] = {b4.x, b4.y, b4.z, b4.w}, cc[4] = {c4.x, c4.y, c4.z, c4.w};
#pragma unroll
        for (int s = 0; s < 4; s++) {
          const float a = ex2(A2[e] * sdt[s]);
          if constexpr (REPLAY) {
            sa[e][k + s] = a;
            sb[e][k + s] = sdu[s] * bb[s];
            h[e] = fmaf(a, h[e], sb[e][k + s]);
          } else {
            h[e] = fmaf(a, h[e], sdu[s] * bb[s]);
            P[e] *= a;
            part[k + s] = fmaf(cc[s], h[e], part[k + s]);
            q[e][k + s] = cc[s] * P[e];
          }
        }
      }
    }
    if constexpr (REPLAY) {
#pragma unroll
      for (int e = 0; e < E; e++) P[e] = ex2(A2[e] * dsum);
    }
    const int pb = r & 1;
    pubP[(pb * RG + rg) * W * 32 + w * 32 + lt] = make_float4(P[0], P[1], P[2], P[3]);
    pubH[(pb * RG + rg) * W * 32 + w * 32 + lt] = make_float4(h[0], h[1], h[2], h[3]);
    // Round r + 1's data has landed (this thread's copies) before the barrier that makes it everyone's.
    asm volatile("cp.async.wait_group 1;" ::: "memory");
    __syncthreads();
    float hin[E];
#pragma unroll
    for (int wp = 0; wp < W; wp++) {
      if (wp == w) {
#pragma unroll
        for (int e = 0; e < E; e++) hin[e] = carry[e];
      }
      const float4 p4 = pubP[(pb * RG + rg) * W * 32 + wp * 32 + lt], h4 = pubH[(pb * RG + rg) * W * 32 + wp * 32 + lt];
      carry[0] = fmaf(p4.x, carry[0], h4.x); carry[1] = fmaf(p4.y, carry[1], h4.y);
      carry[2] = fmaf(p4.z, carry[2], h4.z); carry[3] = fmaf(p4.w, carry[3], h4.w);
    }
    // Phase 3: the entering state's share of the outputs (correction), or the chunk again from it (replay).
    if constexpr (REPLAY) {
#pragma unroll
      for (int k = 0; k < TB; k += 4) {
#pragma unroll
        for (int e = 0; e < E; e++) {
          const float4 c4 = *reinterpret_cast<const float4*>(&sC[(buf * N + ln * E + e) * PS + w * TB + k]);
          const float cc[4] = {c4.x, c4.y, c4.z, c4.w};
#pragma unroll
          for (int s = 0; s < 4; s++) {
            hin[e] = fmaf(sa[e][k + s], hin[e], sb[e][k + s]);
            part[k + s] = fmaf(cc[s], hin[e], part[k + s]);
          }
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < TB; j++) {
#pragma unroll
        for (int e = 0; e < E; e++) part[j] = fmaf(q[e][j], hin[e], part[j]);
      }
    }
    float p3[IT];
    reduceScatter4<IT>(part, ln, p3);
    float out[IT];
#pragma unroll
    for (int i = 0; i < IT; i++) out[i] = (p3[i] + Dd * uu[i]) * silu(*inAt(buf, 2, slot, ln * IT + i));
    stn<IT>(y + ro + (size_t)r * SPAN + w * TB + ln * IT, out);
  }
}
'''

# (kernel, IT, W, RG, MINB)
VARIANTS = [('tw2', 4, 4, 2, 2), ('tw2', 4, 4, 1, 3), ('tw3', 2, 4, 1, 4), ('tw3', 2, 4, 2, 2), ('tw3', 2, 8, 1, 2), ('tw3', 4, 4, 1, 4), ('tw3', 4, 4, 1, 3),
            ('tw3', 4, 4, 2, 2), ('tw3', 2, 4, 1, 3), ('tw3', 2, 2, 2, 4), ('tw3', 4, 2, 2, 3), ('tw3', 2, 3, 1, 5)]
TNAME = lambda v: f'tw2<{v[1]},{v[2]},{v[3]},{v[4]},{"true" if v[0] == "tw3" else "false"}>'


def smem_bytes(v):
    kind, IT, W, RG, _ = v
    if kind not in ('tw2', 'tw3'):
        return 0
    TB = 4 * IT; SPAN = W * TB
    return 4 * (3 * 16 * (SPAN + 4) * 2 + 3 * RG * W * 3 * 8 * TB) + 16 * 2 * 2 * RG * W * 32


def make(bsz, dim, L, N, G, seed, slow=False):
    """state_lanes.make's inputs; `slow`: decays 100x slower, so states cross many rounds."""
    host = list(make_inputs(bsz, dim, L, N, G, seed))
    if slow:
        host[2] = (host[2] * 0.01).astype(np.float32)
    return host


def main():
    mod = cp.RawModule(code=SRC, options=('-std=c++17', '--use_fast_math'), name_expressions=[TNAME(v) for v in VARIANTS])
    kern = {}
    for v in VARIANTS:
        try:
            kern[v] = mod.get_function(TNAME(v))
            if smem_bytes(v) > 48 * 1024:
                kern[v].max_dynamic_shared_size_bytes = smem_bytes(v)
            print(f'{TNAME(v)}: {kern[v].num_regs} regs, {kern[v].local_size_bytes} B local, {kern[v].shared_size_bytes} B shared', flush=True)
        except Exception as ex:  # noqa: BLE001
            print(f'{TNAME(v)}: {ex}', flush=True)

    def launch(v, args, bsz, dim, L, G):
        _, IT, W, RG, MINB = v
        kern[v]((bsz * dim // (8 * RG),), (32 * W * RG,), (*args, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)), shared_mem=smem_bytes(v))

    # Correctness: NaN-poisoned outputs, float64 reference; slow decays carry states across many rounds.
    res = {}
    bsz, dim, L, N, G = 2, 64, 3072, 16, 2
    for slow in (False, True):
        host = make(bsz, dim, L, N, G, 3, slow)
        ref = reference(*host)
        dev = [cp.asarray(x) for x in host]
        out = cp.empty((bsz, dim, L), cp.float32)
        for v in kern:
            out.fill(np.nan)
            launch(v, (*dev, out), bsz, dim, L, G)
            got = cp.asnumpy(out).astype(np.float64)
            err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref)) if np.isfinite(got).all() else float('nan')
            res[f'{TNAME(v)}{" slow" if slow else ""}'] = err
            print(f'check {TNAME(v)}{" slow decays" if slow else ""}: rel L2 {err:.2e}', flush=True)

    # The long shape, one process: the copy roofline, then each variant.
    bsz, dim, L, N, G = 1, 4096, 262144, 16, 1
    cp.random.seed(1)
    g = lambda *s, scale=1.0, shift=0.0: (cp.random.standard_normal(s, dtype=cp.float32) * scale + shift).astype(cp.float32)
    dev = [g(bsz, dim, L), g(bsz, dim, L, scale=0.5, shift=-1.0), (-cp.exp(g(dim, N, scale=0.5))).astype(cp.float32),
           g(bsz, G, N, L), g(bsz, G, N, L), g(dim), g(bsz, dim, L), g(dim, scale=0.1)]
    out = cp.empty((bsz, dim, L), cp.float32)
    bw, roof_ms = copy_roofline(sum(x.nbytes for x in dev) + out.nbytes)
    rows = []
    for v in kern:
        ms = timeit(lambda: launch(v, (*dev, out), bsz, dim, L, G))
        ok = bool(cp.isfinite(out).all())
        rows.append((TNAME(v), ms, kern[v].num_regs))
        print(f'{TNAME(v):20s} smem {smem_bytes(v)} B: {ms:8.3f} ms  {roof_ms / ms * 100:5.1f}% of roofline, {kern[v].num_regs} regs{"" if ok else ", NON-FINITE OUTPUT"}', flush=True)
    print(json.dumps({'check': res, 'time': rows, 'roofline_ms': roof_ms, 'copy_tbps': bw / 1e12}))


if __name__ == '__main__':
    main()
