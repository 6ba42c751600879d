# Design prototype (hand-written, not generated): the "state lanes" form of the
# diagonal scan for Mamba-1, timed against the compiler's current chunked-scan
# kernel (passed as a .cu path) and the copy roofline, in one process.
#
# State lanes: each of NS lanes holds one state element h[n] of a row and walks
# the whole sequence step by step (no scan, no second pass). Per block of TB
# steps: (A) the row's lanes compute the per-step values (dt, dt*u) for TB/NS
# steps each into shared memory; (B) every lane runs its recurrence over the TB
# steps, storing h (or C*h) to shared memory; (C) each lane sums the row's
# NS states for TB/NS steps and writes y.
#   python3 bench/prototypes/state_lanes.py <current_kernel.cu> <current_entry>
# where the current kernel is the fp32 one `scanforge build examples/mamba1.ts --target cuda` writes
# for D, z, delta_bias and softplus with no states (run 30: selective_scan_8f74b309_t32i8.cu).
import sys, json, math
import numpy as np
import cupy as cp

SRC = r'''
#define LOG2E 1.4426950408889634f
__device__ __forceinline__ float ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float silu(float x) { return x / (1.f + expf(-x)); }
template <int W> struct V;
template <> struct V<1> { typedef float T; };
template <> struct V<2> { typedef float2 T; };
template <> struct V<4> { typedef float4 T; };
template <int W> __device__ __forceinline__ void ldv(const float* p, float* o) {
  typename V<W>::T x = __ldg(reinterpret_cast<const typename V<W>::T*>(p));
  memcpy(o, &x, sizeof(x));
}
template <int W> __device__ __forceinline__ void stv(float* p, const float* o) {
  typename V<W>::T x; memcpy(&x, o, sizeof(x));
  *reinterpret_cast<typename V<W>::T*>(p) = x;
}
// CH: phase B multiplies by C and stores C*h (phase C only adds); else phase B
// stores h and phase C reads C and fuses the product into its sum.
// TILES: the block's rows share one batch and group (the launch checks it): B
// and C tiles of the chunk are loaded once, coalesced, into shared memory
// (C double-buffered: phase C of chunk i overlaps phase A of chunk i+1).
template <int NS, int TB, int R, bool CH, bool TILES, int MINB>
__global__ void __launch_bounds__(NS * R, MINB) sl(const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C, const float* __restrict__ D,
    const float* __restrict__ z, const float* __restrict__ dbias, float* __restrict__ y, int batch, int dim, int L, int ngroups) {
  constexpr int IA = TB / NS;
  __shared__ __align__(16) float sdt[R][TB];
  __shared__ __align__(16) float sdu[R][TB];
  __shared__ __align__(16) float sh[R][NS][TB + 4];
  __shared__ __align__(16) float sB[TILES ? NS : 1][TB + 4];
  __shared__ __align__(16) float sC[TILES ? 2 : 1][TILES ? NS : 1][TB + 4];
  const int r = threadIdx.x / NS, n = threadIdx.x % NS;
  const int row = blockIdx.x * R + r;
  const int b = row / dim, d = row % dim;
  const int g = d / (dim / ngroups);
  const float A2 = A[d * NS + n] * LOG2E;
  const float db = dbias[d], Dd = D[d];
  const float* Bn = B + ((size_t)(b * ngroups + g) * NS + n) * L;
  const float* Cn = C + ((size_t)(b * ngroups + g) * NS + n) * L;
  const float* Cg = C + ((size_t)(b * ngroups + g) * NS) * L;
  const size_t ro = (size_t)row * L;
  const int b0 = (blockIdx.x * R) / dim, g0 = ((blockIdx.x * R) % dim) / (dim / ngroups);
  const float* Bt = B + ((size_t)(b0 * ngroups + g0) * NS) * L;
  const float* Ct = C + ((size_t)(b0 * ngroups + g0) * NS) * L;
  float h = 0.f;
  for (int c0 = 0; c0 < L; c0 += TB) {
    const int par = (c0 / TB) & 1;
    if (TILES) {
      for (int q = threadIdx.x; q < NS * TB / 4; q += NS * R) {
        const int m = q / (TB / 4), k4 = (q % (TB / 4)) * 4;
        *reinterpret_cast<float4*>(&sB[m][k4]) = __ldg(reinterpret_cast<const float4*>(Bt + (size_t)m * L + c0 + k4));
        *reinterpret_cast<float4*>(&sC[TILES ? par : 0][m][k4]) = __ldg(reinterpret_cast<const float4*>(Ct + (size_t)m * L + c0 + k4));
      }
    }
    float uu[IA], dl[IA];
    ldv<IA>(u + ro + c0 + n * IA, uu);
    ldv<IA>(delta + ro + c0 + n * IA, dl);
    float dt[IA], du[IA];
#pragma unroll
    for (int i = 0; i < IA; i++) { dt[i] = softplus(dl[i] + db); du[i] = dt[i] * uu[i]; }
    stv<IA>(&sdt[r][n * IA], dt);
    stv<IA>(&sdu[r][n * IA], du);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TB; k += 4) {
      const float4 t4 = *reinterpret_cast<const float4*>(&sdt[r][k]);
      const float4 u4 = *reinterpret_cast<const float4*>(&sdu[r][k]);
      const float4 b4 = TILES ? *reinterpret_cast<const float4*>(&sB[TILES ? n : 0][k]) : __ldg(reinterpret_cast<const float4*>(Bn + c0 + k));
      float4 hv;
      h = ex2(A2 * t4.x) * h + u4.x * b4.x; hv.x = h;
      h = ex2(A2 * t4.y) * h + u4.y * b4.y; hv.y = h;
      h = ex2(A2 * t4.z) * h + u4.z * b4.z; hv.z = h;
      h = ex2(A2 * t4.w) * h + u4.w * b4.w; hv.w = h;
      if (CH) {
        const float4 c4 = __ldg(reinterpret_cast<const float4*>(Cn + c0 + k));
        hv.x *= c4.x; hv.y *= c4.y; hv.z *= c4.z; hv.w *= c4.w;
      }
      *reinterpret_cast<float4*>(&sh[r][n][k]) = hv;
    }
    __syncthreads();
    float acc[IA];
#pragma unroll
    for (int i = 0; i < IA; i++) acc[i] = 0.f;
#pragma unroll
    for (int m = 0; m < NS; m++) {
      float hm[IA];
      memcpy(hm, &sh[r][m][n * IA], sizeof(hm));
      if (CH) {
#pragma unroll
        for (int i = 0; i < IA; i++) acc[i] += hm[i];
      } else {
        float cm[IA];
        if (TILES) memcpy(cm, &sC[TILES ? par : 0][TILES ? m : 0][n * IA], sizeof(cm));
        else ldv<IA>(Cg + (size_t)m * L + c0 + n * IA, cm);
#pragma unroll
        for (int i = 0; i < IA; i++) acc[i] += cm[i] * hm[i];
      }
    }
    float zz[IA], out[IA];
    ldv<IA>(z + ro + c0 + n * IA, zz);
#pragma unroll
    for (int i = 0; i < IA; i++) out[i] = (acc[i] + Dd * uu[i]) * silu(zz[i]);
    stv<IA>(y + ro + c0 + n * IA, out);
  }
}
// E = 16 / NS state elements per lane: each lane folds its elements' C*h into
// one partial per step (phase B reads C from the shared tile), so phase C sums
// NS partials per step; the rows of a warp (32 / NS of them) read the same B
// and C words (broadcast).
template <int W> __device__ __forceinline__ void ldn(const float* p, float* o) {
  if constexpr (W % 4 == 0) {
#pragma unroll
    for (int q = 0; q < W; q += 4) ldv<4>(p + q, o + q);
  } else ldv<W>(p, o);
}
template <int W> __device__ __forceinline__ void stn(float* p, const float* o) {
  if constexpr (W % 4 == 0) {
#pragma unroll
    for (int q = 0; q < W; q += 4) stv<4>(p + q, o + q);
  } else stv<W>(p, o);
}
template <int NS, int TB, int R, int MINB>
__global__ void __launch_bounds__(NS * R, MINB) sl2(const float* __restrict__ u, const float* __restrict__ delta,
    const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ C, const float* __restrict__ D,
    const float* __restrict__ z, const float* __restrict__ dbias, float* __restrict__ y, int batch, int dim, int L, int ngroups) {
  constexpr int N = 16, E = N / NS, IA = TB / NS, P = TB + 4;
  __shared__ __align__(16) float sdt[R][TB];
  __shared__ __align__(16) float sdu[R][TB];
  __shared__ __align__(16) float sp[R][NS][P];
  __shared__ __align__(16) float sB[N][P];
  __shared__ __align__(16) float sC[N][P];
  const int r = threadIdx.x / NS, n = threadIdx.x % NS;
  const int row = blockIdx.x * R + r;
  const int d = row % dim;
  float A2[E], h[E];
#pragma unroll
  for (int e = 0; e < E; e++) { A2[e] = A[d * N + n * E + e] * LOG2E; h[e] = 0.f; }
  const float db = dbias[d], Dd = D[d];
  const int b0 = (blockIdx.x * R) / dim, g0 = ((blockIdx.x * R) % dim) / (dim / ngroups);
  const float* Bt = B + ((size_t)(b0 * ngroups + g0) * N) * L;
  const float* Ct = C + ((size_t)(b0 * ngroups + g0) * N) * L;
  const size_t ro = (size_t)row * L;
  for (int c0 = 0; c0 < L; c0 += TB) {
    // Phase A: tiles and per-step values. (The barrier before it orders phase C's reads of the last chunk.)
    __syncthreads();
    for (int q = threadIdx.x; q < N * TB / 4; q += NS * R) {
      const int m = q / (TB / 4), k4 = (q % (TB / 4)) * 4;
      *reinterpret_cast<float4*>(&sB[m][k4]) = __ldg(reinterpret_cast<const float4*>(Bt + (size_t)m * L + c0 + k4));
      *reinterpret_cast<float4*>(&sC[m][k4]) = __ldg(reinterpret_cast<const float4*>(Ct + (size_t)m * L + c0 + k4));
    }
    float uu[IA], dl[IA], dt[IA], du[IA];
    ldn<IA>(u + ro + c0 + n * IA, uu);
    ldn<IA>(delta + ro + c0 + n * IA, dl);
#pragma unroll
    for (int i = 0; i < IA; i++) { dt[i] = softplus(dl[i] + db); du[i] = dt[i] * uu[i]; }
    stn<IA>(&sdt[r][n * IA], dt);
    stn<IA>(&sdu[r][n * IA], du);
    __syncthreads();
    // Phase B: the recurrence of this lane's E elements over TB steps.
#pragma unroll
    for (int k = 0; k < TB; k += 4) {
      const float4 t4 = *reinterpret_cast<const float4*>(&sdt[r][k]);
      const float4 u4 = *reinterpret_cast<const float4*>(&sdu[r][k]);
      float4 p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int e = 0; e < E; e++) {
        const float4 b4 = *reinterpret_cast<const float4*>(&sB[n * E + e][k]);
        const float4 c4 = *reinterpret_cast<const float4*>(&sC[n * E + e][k]);
        h[e] = ex2(A2[e] * t4.x) * h[e] + u4.x * b4.x; p.x += c4.x * h[e];
        h[e] = ex2(A2[e] * t4.y) * h[e] + u4.y * b4.y; p.y += c4.y * h[e];
        h[e] = ex2(A2[e] * t4.z) * h[e] + u4.z * b4.z; p.z += c4.z * h[e];
        h[e] = ex2(A2[e] * t4.w) * h[e] + u4.w * b4.w; p.w += c4.w * h[e];
      }
      *reinterpret_cast<float4*>(&sp[r][n][k]) = p;
    }
    __syncthreads();
    // Phase C: y for IA steps per lane.
    float acc[IA], tmp[IA], zz[IA];
#pragma unroll
    for (int i = 0; i < IA; i++) acc[i] = 0.f;
#pragma unroll
    for (int m = 0; m < NS; m++) {
      memcpy(tmp, &sp[r][m][n * IA], sizeof(tmp));
#pragma unroll
      for (int i = 0; i < IA; i++) acc[i] += tmp[i];
    }
    ldn<IA>(z + ro + c0 + n * IA, zz);
#pragma unroll
    for (int i = 0; i < IA; i++) acc[i] = (acc[i] + Dd * uu[i]) * silu(zz[i]);
    stn<IA>(y + ro + c0 + n * IA, acc);
  }
}
'''

# (NS, TB, R, CH, TILES, MINB): MINB blocks per SM asked of ptxas (caps registers).
VARIANTS = [(16, 32, 8, False, True, 8), (16, 32, 16, False, True, 4)]
# sl2 (NS, TB, R, MINB)
VARIANTS2 = [(8, 32, 16, 1), (8, 32, 16, 3), (8, 16, 32, 1), (8, 16, 32, 2), (4, 32, 32, 1), (4, 32, 32, 3), (4, 16, 32, 1), (4, 16, 32, 4), (4, 16, 64, 1), (4, 16, 64, 2), (2, 16, 64, 1), (2, 16, 64, 2), (2, 32, 64, 1)]
TNAME2 = lambda v: f'sl2<{v[0]},{v[1]},{v[2]},{v[3]}>'
TNAME = lambda v: f'sl<{v[0]},{v[1]},{v[2]},{"true" if v[3] else "false"},{"true" if v[4] else "false"},{v[5]}>'


def reference(u, delta, A, B, C, D, z, dbias):
    bsz, dim, L = u.shape
    N = A.shape[1]
    G = B.shape[1]
    dt = delta.astype(np.float64) + dbias[None, :, None]
    dt = np.where(dt > 20, dt, np.log1p(np.exp(np.minimum(dt, 20))))
    h = np.zeros((bsz, dim, N))
    y = np.zeros((bsz, dim, L))
    gi = np.arange(dim) // (dim // G)
    for t in range(L):
        a = np.exp(dt[:, :, t, None] * A[None])
        Bt = B[:, :, :, t][:, gi]
        Ct = C[:, :, :, t][:, gi]
        h = a * h + dt[:, :, t, None] * Bt * u[:, :, t, None]
        y[:, :, t] = (h * Ct).sum(-1)
    y = (y + D[None, :, None] * u) * (z / (1 + np.exp(-z)))
    return y


def make(bsz, dim, L, N, G, seed):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    u, delta, z = f(bsz, dim, L), (f(bsz, dim, L) * 0.5 - 1).astype(np.float32), f(bsz, dim, L)
    A = (-np.exp(f(dim, N) * 0.5)).astype(np.float32)
    B, C = f(bsz, G, N, L), f(bsz, G, N, L)
    D, dbias = f(dim), (f(dim) * 0.1).astype(np.float32)
    return u, delta, A, B, C, D, z, dbias


def timeit(fn, reps=20):
    fn(); cp.cuda.Device().synchronize()
    s, e = cp.cuda.Event(), cp.cuda.Event()
    ts = []
    for _ in range(reps):
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(cp.cuda.get_elapsed_time(s, e))
    return float(np.median(ts))


def copy_roofline(nbytes):
    """The copy bandwidth measured now (bytes/s) and the time `nbytes` take at it (ms), printed."""
    big = cp.empty(1 << 28, cp.float32); big2 = cp.empty_like(big)
    copy_ms = timeit(lambda: big2.__setitem__(slice(None), big))
    bw = 2 * big.nbytes / (copy_ms * 1e-3)
    roof_ms = nbytes / bw * 1e3
    print(f'copy {bw / 1e12:.3f} TB/s; roofline {roof_ms:.3f} ms for {nbytes / 1e9:.3f} GB', flush=True)
    return bw, roof_ms


def main():
    cur_path, cur_entry = sys.argv[1], sys.argv[2]
    mod = cp.RawModule(code=SRC, options=('-std=c++17',), name_expressions=[TNAME(v) for v in VARIANTS] + [TNAME2(v) for v in VARIANTS2])
    cur = cp.RawModule(code=open(cur_path).read()).get_function(cur_entry)
    kern = {v: mod.get_function(TNAME(v)) for v in VARIANTS}
    kern2 = {v: mod.get_function(TNAME2(v)) for v in VARIANTS2}

    def launch_sl2(v, args, bsz, dim, L, G):
        NS, TB, R, MINB = v
        kern2[v]((bsz * dim // R,), (NS * R,), (*args, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)))

    def launch_sl(v, args, bsz, dim, L, G):
        NS, TB, R, CH, TILES, MINB = v
        kern[v]((bsz * dim // R,), (NS * R,), (*args, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)))

    def launch_cur(args, bsz, dim, L, G):
        cur((bsz * dim,), (32,), (*args, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)), shared_mem=128)

    if len(sys.argv) > 3:  # profile one variant: run it (and the current kernel) once at the standard shape
        v = VARIANTS[int(sys.argv[3])]
        bsz, dim, L, N, G = 8, 4096, 4096, 16, 1
        dev = [cp.asarray(x) for x in make(bsz, dim, L, N, G, 1)]
        out = cp.empty((bsz, dim, L), cp.float32)
        launch_sl(v, (*dev, out), bsz, dim, L, G)
        launch_cur((*dev, out), bsz, dim, L, G)
        cp.cuda.Device().synchronize()
        return
    # Correctness at a small shape, every variant and the current kernel, NaN-poisoned outputs.
    bsz, dim, L, N, G = 2, 128, 512, 16, 2  # dim/G = 64: blocks of up to 64 rows share b and g
    host = make(bsz, dim, L, N, G, 3)
    ref = reference(*host)
    dev = [cp.asarray(x) for x in host]
    out = cp.empty((bsz, dim, L), cp.float32)
    res = {}
    for name, fn in [('current', lambda a: launch_cur(a, bsz, dim, L, G))] + [(str(v), (lambda v: lambda a: launch_sl(v, a, bsz, dim, L, G))(v)) for v in VARIANTS] + [('sl2' + str(v), (lambda v: lambda a: launch_sl2(v, a, bsz, dim, L, G))(v)) for v in VARIANTS2]:
        out.fill(np.nan)
        fn((*dev, out))
        got = cp.asnumpy(out).astype(np.float64)
        err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        res[name] = err
        print(f'check {name}: rel L2 {err:.2e}', flush=True)

    # Timing at the standard shape.
    bsz, dim, L, N, G = 8, 4096, 4096, 16, 1
    host = make(bsz, dim, L, N, G, 1)
    dev = [cp.asarray(x) for x in host]
    out = cp.empty((bsz, dim, L), cp.float32)
    bw, roof_ms = copy_roofline(sum(x.nbytes for x in dev) + out.nbytes)
    rows = []
    ms = timeit(lambda: launch_cur((*dev, out), bsz, dim, L, G))
    rows.append(('current t32i8 (compiler)', ms))
    for v in VARIANTS:
        ms = timeit(lambda: launch_sl(v, (*dev, out), bsz, dim, L, G))
        rows.append((f'state-lanes NS{v[0]} TB{v[1]} R{v[2]} {"C*h" if v[3] else "h"}{" tiles" if v[4] else ""} minb{v[5]}', ms))
    for v in VARIANTS2:
        ms = timeit(lambda: launch_sl2(v, (*dev, out), bsz, dim, L, G))
        rows.append((f'state-lanes2 NS{v[0]} E{16 // v[0]} TB{v[1]} R{v[2]} minb{v[3]}', ms))
    for name, ms in rows:
        print(f'{name:40s} {ms:8.3f} ms  {roof_ms / ms * 100:5.1f}% of roofline', flush=True)
    print(json.dumps({'check': res, 'time': rows, 'roofline_ms': roof_ms}))


if __name__ == '__main__':
    main()
