# Design prototype (hand-written, not generated): "register rows", state lanes
# with few lanes per row and nothing per step in shared memory but the B/C tiles.
#
# Why: the compiled state-lanes form (l8i2r8, 1.93 ms) is bound by shared-memory
# traffic of 16 B per (step, element): step values 8/E, partials 8/E, tiles 8
# (RESULTS run 34). With L = 1, 2 or 4 lanes per row (E = 16/L elements each):
#  - each lane computes the step values (dt, dt*u) of its own IA = T/L steps in
#    registers, and the row's lanes exchange them by warp shuffle;
#  - each lane folds its elements' C*h into one partial per step, and the row's
#    lanes add the partials by shfl_xor: every lane holds y, and keeps the IA
#    steps it owns;
#  - only the B/C tiles (shared by the block's rows) go through shared memory,
#    step-major [T][16 + 4], double-buffered: one barrier per chunk;
#  - PF: the next chunk's global reads (u, delta, z and the tile) are issued
#    before this chunk's recurrence, into registers, so their latency hides
#    behind the MUFU-bound phase B (few warps: L = 1 is 8 warps per SM).
#   python3 bench/prototypes/register_rows.py
import sys, json
import numpy as np
import cupy as cp
from state_lanes import make, reference  # the same inputs and float64 reference as run 30's prototype

SRC = r'''
#define LOG2E 1.4426950408889634f
__device__ __forceinline__ float ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(ex2(x * LOG2E)); }
__device__ __forceinline__ float silu(float x) { return x / (1.f + ex2(-x * LOG2E)); }
template <int W> __device__ __forceinline__ void ldn(const float* p, float* o) {
#pragma unroll
  for (int q = 0; q < W; q += 4) { float4 x = __ldg(reinterpret_cast<const float4*>(p + q)); o[q] = x.x; o[q + 1] = x.y; o[q + 2] = x.z; o[q + 3] = x.w; }
}
template <int W> __device__ __forceinline__ void stn(float* p, const float* o) {
#pragma unroll
  for (int q = 0; q < W; q += 4) *reinterpret_cast<float4*>(p + q) = make_float4(o[q], o[q + 1], o[q + 2], o[q + 3]);
}
// L lanes per row, T steps per chunk, R rows per block, PF prefetch, MINB blocks per SM for ptxas;
// VS: y stored 16 bytes at a time (else one element per store, as the compiler's kernel of run 49 does).
template <int L, int T, int R, bool PF, int MINB, bool VS = true>
__global__ void __launch_bounds__(L * R, MINB) rr(const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C, const float* __restrict__ D,
    const float* __restrict__ z, const float* __restrict__ dbias, float* __restrict__ y, int batch, int dim, int Lseq, int ngroups) {
  constexpr int N = 16, E = N / L, IA = T / L, NT = L * R, P = N + 4;
  constexpr int TV = 2 * N * T / 4;            // float4s of one chunk's B and C tiles
  constexpr int TQ = (TV + NT - 1) / NT;       // ... per thread
  __shared__ __align__(16) float sT[2][2][T][P];  // [buffer][B or C][step][element]
  const int tid = threadIdx.x, r = tid / L, lane = tid % L;
  const int row = blockIdx.x * R + r;
  const int d = row % dim;
  float A2[E], h[E];
#pragma unroll
  for (int e = 0; e < E; e++) { A2[e] = A[d * N + lane * E + e] * LOG2E; h[e] = 0.f; }
  const float db = dbias[d], Dd = D[d];
  const int b0 = (blockIdx.x * R) / dim, g0 = ((blockIdx.x * R) % dim) / (dim / ngroups);
  const float* Bt = B + ((size_t)(b0 * ngroups + g0) * N) * Lseq;
  const float* Ct = C + ((size_t)(b0 * ngroups + g0) * N) * Lseq;
  const size_t ro = (size_t)row * Lseq + lane * IA;
  float4 tb[TQ];
  auto loadTile = [&](int c0) {
#pragma unroll
    for (int q = 0; q < TQ; q++) {
      const int idx = tid + q * NT;
      if (TV % NT == 0 || idx < TV) {
        const int which = idx / (N * T / 4), rem = idx % (N * T / 4), n = rem % N, k = rem / N;
        tb[q] = __ldg(reinterpret_cast<const float4*>((which ? Ct : Bt) + (size_t)n * Lseq + c0 + 4 * k));
      }
    }
  };
  auto storeTile = [&](int buf) {
#pragma unroll
    for (int q = 0; q < TQ; q++) {
      const int idx = tid + q * NT;
      if (TV % NT == 0 || idx < TV) {
        const int which = idx / (N * T / 4), rem = idx % (N * T / 4), n = rem % N, k = rem / N;
        sT[buf][which][4 * k][n] = tb[q].x; sT[buf][which][4 * k + 1][n] = tb[q].y;
        sT[buf][which][4 * k + 2][n] = tb[q].z; sT[buf][which][4 * k + 3][n] = tb[q].w;
      }
    }
  };
  float uu[IA], dl[IA], zz[IA];
  ldn<IA>(u + ro, uu); ldn<IA>(delta + ro, dl); ldn<IA>(z + ro, zz);
  loadTile(0);
  storeTile(0);
  __syncthreads();
  for (int c0 = 0; c0 < Lseq; c0 += T) {
    const int buf = (c0 / T) & 1;
    const bool more = c0 + T < Lseq;
    float nu[IA], nd[IA], nz[IA];
    if (PF && more) { ldn<IA>(u + ro + c0 + T, nu); ldn<IA>(delta + ro + c0 + T, nd); ldn<IA>(z + ro + c0 + T, nz); loadTile(c0 + T); }
    float dt[IA], du[IA], o[IA];
#pragma unroll
    for (int j = 0; j < IA; j++) { dt[j] = softplus(dl[j] + db); du[j] = dt[j] * uu[j]; }
#pragma unroll
    for (int i = 0; i < T; i++) {
      const float dti = L == 1 ? dt[i] : __shfl_sync(0xffffffffu, dt[i % IA], i / IA, L);
      const float dui = L == 1 ? du[i] : __shfl_sync(0xffffffffu, du[i % IA], i / IA, L);
      float p = 0.f;
#pragma unroll
      for (int e = 0; e < E; e += 4) {
        const float4 b4 = *reinterpret_cast<const float4*>(&sT[buf][0][i][lane * E + e]);
        const float4 c4 = *reinterpret_cast<const float4*>(&sT[buf][1][i][lane * E + e]);
        h[e] = ex2(A2[e] * dti) * h[e] + dui * b4.x; p += c4.x * h[e];
        h[e + 1] = ex2(A2[e + 1] * dti) * h[e + 1] + dui * b4.y; p += c4.y * h[e + 1];
        h[e + 2] = ex2(A2[e + 2] * dti) * h[e + 2] + dui * b4.z; p += c4.z * h[e + 2];
        h[e + 3] = ex2(A2[e + 3] * dti) * h[e + 3] + dui * b4.w; p += c4.w * h[e + 3];
      }
#pragma unroll
      for (int s = 1; s < L; s <<= 1) p += __shfl_xor_sync(0xffffffffu, p, s, L);
      if (L == 1) o[i % IA] = p; else if (i / IA == lane) o[i % IA] = p;
    }
#pragma unroll
    for (int j = 0; j < IA; j++) o[j] = (o[j] + Dd * uu[j]) * silu(zz[j]);
    if (VS) stn<IA>(y + ro + c0, o);
    else {
#pragma unroll
      for (int j = 0; j < IA; j++) y[ro + c0 + j] = o[j];
    }
    if (more) {
      if (!PF) { ldn<IA>(u + ro + c0 + T, nu); ldn<IA>(delta + ro + c0 + T, nd); ldn<IA>(z + ro + c0 + T, nz); loadTile(c0 + T); }
      storeTile(buf ^ 1);
#pragma unroll
      for (int j = 0; j < IA; j++) { uu[j] = nu[j]; dl[j] = nd[j]; zz[j] = nz[j]; }
    }
    __syncthreads();
  }
}
'''

# (L, T, R, PF, MINB)
# Run 50 (scalar vs vector y stores); run 48 swept L 1/2/4, T 8/16/32, R 16–128, PF on/off, MINB 1–16.
VARIANTS = [
    (1, 8, 32, True, 1), (1, 8, 32, True, 1, False), (1, 8, 32, False, 1), (1, 8, 32, False, 1, False),
    (2, 8, 64, True, 4), (2, 8, 64, True, 4, False), (2, 8, 64, False, 4), (2, 8, 64, False, 4, False),
    (4, 16, 32, False, 8), (4, 16, 32, False, 8, False),
]
TNAME = lambda v: f'rr<{v[0]},{v[1]},{v[2]},{"true" if v[3] else "false"},{v[4]},{"false" if len(v) > 5 and not v[5] else "true"}>'
LABEL = lambda v: f'L{v[0]} T{v[1]} R{v[2]} {"pf" if v[3] else "--"} minb{v[4]}{" scalar-y" if len(v) > 5 and not v[5] else ""}'


def timeit(fn, reps=30):
    for _ in range(3): fn()
    cp.cuda.Device().synchronize()
    s, e = cp.cuda.Event(), cp.cuda.Event()
    ts = []
    for _ in range(reps):
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(cp.cuda.get_elapsed_time(s, e))
    return float(np.median(ts))


def main():
    mod = cp.RawModule(code=SRC, options=('-std=c++17',), name_expressions=[TNAME(v) for v in VARIANTS])
    kern = {v: mod.get_function(TNAME(v)) for v in VARIANTS}
    for v in VARIANTS:
        k = kern[v]
        print(f'{LABEL(v)}: {k.num_regs} registers, {k.local_size_bytes} B local, {k.shared_size_bytes} B shared', flush=True)

    def launch(v, args, bsz, dim, L, G):
        Ln, T, R = v[0], v[1], v[2]
        kern[v]((bsz * dim // R,), (Ln * R,), (*args, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)))

    # Correctness: dim/G = 128 (blocks of up to 128 rows share b and g), NaN-poisoned outputs.
    bsz, dim, L, N, G = 2, 256, 512, 16, 2
    host = make(bsz, dim, L, N, G, 3)
    ref = reference(*host)
    dev = [cp.asarray(x) for x in host]
    out = cp.empty((bsz, dim, L), cp.float32)
    res = {}
    for v in VARIANTS:
        out.fill(np.nan)
        launch(v, (*dev, out), bsz, dim, L, G)
        got = cp.asnumpy(out).astype(np.float64)
        res[LABEL(v)] = err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        print(f'check {LABEL(v)}: rel L2 {err:.2e}{"" if err < 1e-5 else "  FAIL"}', flush=True)

    bsz, dim, L, N, G = 8, 4096, 4096, 16, 1
    dev = [cp.asarray(x) for x in make(bsz, dim, L, N, G, 1)]
    out = cp.empty((bsz, dim, L), cp.float32)
    nbytes = sum(x.nbytes for x in dev) + out.nbytes
    big = cp.empty(1 << 28, cp.float32); big2 = cp.empty_like(big)
    copy_ms = timeit(lambda: big2.__setitem__(slice(None), big), 200)
    bw = 2 * big.nbytes / (copy_ms * 1e-3)
    roof_ms = nbytes / bw * 1e3
    print(f'copy {bw / 1e12:.3f} TB/s; roofline {roof_ms:.3f} ms for {nbytes / 1e9:.3f} GB', flush=True)
    rows = []
    for v in VARIANTS:
        ms = timeit(lambda: launch(v, (*dev, out), bsz, dim, L, G))
        rows.append((LABEL(v), ms))
        print(f'{LABEL(v):28s} {ms:8.3f} ms  {roof_ms / ms * 100:5.1f}% of roofline', flush=True)
    print(json.dumps({'check': res, 'time': rows, 'roofline_ms': roof_ms}))


main()
