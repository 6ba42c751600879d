# Design prototype: the split's summary launch (lower/segments.ts, launch a) with some of its decay
# exponentials on the FMA pipe. Run 92 found that launch bound by the exp unit (16 MUFU.EX2 per row-step
# for 7/8 of the sequence, ~80% of the H100's 16 per SM per clock) with half its issue slots idle; a
# Cody-Waite split and a polynomial (about 11 FMA-pipe instructions for one MUFU) for the decays of k of a
# lane's 4 state elements should trade the idle slots for exp throughput. Run 56 tried the same in the
# one-launch kernel, where the exp unit was not the limit, and lost.
#   python3 bench/prototypes/summary_exp.py <summary_a.cu> <summary_a.cuda.json>
# The kernel is the fp32 summary `scanforge build examples/mamba1.ts --target cuda --schedule
# 'lanes=4;items=4;rows=16;rowBlock=2;tileChunks=4;stage=1;scatter=1;shuffle=1;segment=32768'` writes for
# D, z, delta_bias and softplus with no states (variant 8f74b309, file ..._a.cu). Each variant's scratch
# (end states and decay products per segment) is compared with the generated kernel's at a small shape
# (decays slow enough that the products over a segment are not 0), then each is timed at the long shape.
import sys, json, re, os
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import timeit
from fit import chebyshev_nodes, relative_fit

# 2^x for x <= 0 on the FMA pipe: x = j + f, j = round(x) by the 1.5 * 2^23 trick, |f| <= 1/2, 2^f by a
# degree-6 polynomial (relative error ~2e-8 before fp32 rounding), 2^j added to the exponent bits. x is
# clamped to [-126, 0]: below, 2^x is under fp32's normal range, where ex2.approx.ftz gives 0 too.
EXP2P = r'''
__device__ __forceinline__ float sf_exp2p(float x) {
  x = fminf(fmaxf(x, -126.0f), 0.0f);
  const float r = x + 12582912.0f;
  const float f = x - (r - 12582912.0f);
  float p = C6;
  p = fmaf(p, f, C5); p = fmaf(p, f, C4); p = fmaf(p, f, C3); p = fmaf(p, f, C2); p = fmaf(p, f, C1); p = fmaf(p, f, C0);
  return __int_as_float(__float_as_int(p) + (__float_as_int(r) << 23));
}
'''


def exp2_coeffs(deg=6):
    """2^f on [-1/2, 1/2], relative error (fit.py)."""
    x = chebyshev_nodes(4000, -0.5, 0.5)
    return relative_fit(x, np.exp2(x), deg)


def helper():
    src = EXP2P
    for k, c in enumerate(exp2_coeffs()):
        src = src.replace(f'C{k}', f'{c!r}f')
    return src


def variant(src, name):
    src = src.replace('#include <cuda_bf16.h>\n', '#include <cuda_bf16.h>\n' + helper(), 1)
    if name.startswith('p'):
        for e in range(4 - int(name[1:]), 4):  # the decays of the lane's last k elements
            src = re.sub(r'sf_exp2\(\((x\d+_e' + str(e) + r') \*', r'sf_exp2p((\1 *', src)
    if name == 'no-exp':  # upper bound only (wrong numbers)
        src = re.sub(r'^__device__ __forceinline__ float sf_exp2\(.*$', '__device__ __forceinline__ float sf_exp2(float x) { return fmaf(x, 0.01f, 0.99f); }', src, count=1, flags=re.M)
    return src


def main():
    cu, js = sys.argv[1], sys.argv[2]
    names = next((a.split('=', 1)[1].split(',') for a in sys.argv[3:] if a.startswith('--variants=')), ['base', 'p1', 'p2', 'p3', 'p4', 'no-exp'])
    man = json.load(open(js))
    entry, shared, rows, seg = man['entry'], man['sharedBytes'], man['grid']['rowsPerGroup'], man['schedule']['segment']
    base_src = open(cu).read()
    # Accuracy of the polynomial itself over the decays' range, in fp32 evaluation (numpy mirror of the helper).
    c = exp2_coeffs()
    xs = np.linspace(-126, 0, 2_000_001).astype(np.float32)
    r = (xs + np.float32(12582912.0)).astype(np.float32)
    f = (xs - (r - np.float32(12582912.0))).astype(np.float32)
    p = np.float32(c[6])
    for k in range(5, -1, -1):
        p = (p * f + np.float32(c[k])).astype(np.float32)
    got = (p.astype(np.float64) * np.exp2(np.round(xs.astype(np.float64))))
    print(f'exp2 polynomial: max rel error {np.max(np.abs(got / np.exp2(xs.astype(np.float64)) - 1)):.2e} on [-126, 0] (fp32 evaluation, fma as mul+add)', flush=True)

    def launch(fn, dev, shp):
        bsz, dim, L = shp
        blocks = ((bsz * dim + rows - 1) // rows) * ((L + seg - 1) // seg)
        fn((blocks,), (man['workgroupSize'],), (*dev, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(1)), shared_mem=shared)

    def inputs(bsz, dim, L, slow):
        g = lambda *s, scale=1.0, shift=0.0: (cp.random.standard_normal(s, dtype=cp.float32) * scale + shift).astype(cp.float32)
        A = (-cp.exp(g(dim, 16, scale=0.5)) * (1e-4 if slow else 1.0)).astype(cp.float32)
        nseg = (L + seg - 1) // seg
        scratch = [cp.full((bsz * dim * nseg * 16,), np.nan, cp.float32) for _ in range(2)]
        return [g(bsz, dim, L), g(bsz, dim, L, scale=0.5, shift=-1.0), A, g(bsz, 1, 16, L), g(dim, scale=0.1)] + scratch

    cp.random.seed(5)
    small = (1, 64, 3 * seg + 100)
    dev_s = inputs(*small, slow=True)
    long_shape = (1, 4096, 262144)
    dev_l = inputs(*long_shape, slow=False)
    base_out = None
    for name in names:
        fn = cp.RawModule(code=variant(base_src, name), options=('-std=c++17',)).get_function(entry)
        for s in dev_s[5:]:
            s.fill(np.nan)
        launch(fn, dev_s, small)
        # [row][segment][n]: every segment but each row's last has a summary.
        nseg = (small[2] + seg - 1) // seg
        outs = [cp.asnumpy(s).reshape(small[1], nseg, 16)[:, :-1, :].astype(np.float64) for s in dev_s[5:]]
        if base_out is None:
            base_out = outs
        err = [float(np.linalg.norm(o - b) / np.linalg.norm(b)) if np.isfinite(o).all() else float('nan') for o, b in zip(outs, base_out)]
        ms = timeit(lambda: launch(fn, dev_l, long_shape), 10)
        print(f'{name:7s} {ms:7.3f} ms  regs {fn.num_regs} local {fn.local_size_bytes}  scratch vs base: states {err[0]:.2e}, decays {err[1]:.2e}', flush=True)


if __name__ == '__main__':
    main()
