# Design prototype for #4 (RESULTS runs 120–129): the SSD chunk walk on wgmma (ssd_wgmma.cu), checked against a float64
# recurrence and timed in one process with the compiler's own fused bf16 kernel at the standard shape.
#   python3 bench/prototypes/ssd_wgmma.py <ssd_wgmma.cubin> <ssd_wgmma_swapped.cubin> <compiler kernel.cu> <.cuda.json> [name=variant.cubin ...]
# The cubins are `nvcc -arch=sm_90a -cubin bench/prototypes/ssd_wgmma.cu` without and with -DSWAP_LS=1 (the two
# readings of the descriptor's leading/stride byte offsets; wg_test says which one the hardware takes). Each further
# name=cubin is another build of ssd_wgmma.cu (-DNB=2, -DSWZ=0, the ABL_* upper bounds): checked at two small shapes and timed.
import sys, json, re, os
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import timeit, copy_roofline
from ssd_ablation import bf16, from_bf16

QC, NT = 64, 128


def wg_test(mod, tag):
    ok = True
    for n in (64, 128):
        A = from_bf16(bf16(cp.random.standard_normal((64, 16), dtype=cp.float32)))
        B = from_bf16(bf16(cp.random.standard_normal((16, n), dtype=cp.float32)))
        D = cp.full((64, n), cp.nan, cp.float32)
        mod.get_function(f'wg_test{n}')((1,), (NT,), (A, B, D))
        want = A.astype(cp.float64) @ B.astype(cp.float64)
        err = float(cp.abs(D - want).max()) if bool(cp.isfinite(D).all()) else float('nan')
        print(f'wg_test {tag} n{n}: max abs err {err:.3e}', flush=True)
        ok = ok and err < 1e-3
    return ok


def make(b, L, h, p, n, g):
    r = lambda *s, scale=1.0, shift=0.0: bf16(cp.random.standard_normal(s, dtype=cp.float32) * scale + shift)
    x, dt, A = r(b, L, h, p), r(b, L, h, scale=0.5, shift=-1.0), bf16(-cp.exp(cp.random.standard_normal(h, dtype=cp.float32) * 0.5))
    B, C = r(b, L, g, n, scale=0.1), r(b, L, g, n, scale=0.1)
    D, z, dtb = r(h), r(b, L, h, p), r(h, scale=0.1)
    return dict(x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dtb=dtb)


def reference(d, shape):
    b, L, h, p, n, g = shape
    f = lambda k: from_bf16(d[k]).astype(cp.float64)
    x, dt, A, B, C, D, z, dtb = (f(k) for k in ('x', 'dt', 'A', 'B', 'C', 'D', 'z', 'dtb'))
    v = dt + dtb
    dtv = cp.where(v > 20, v, cp.log1p(cp.exp(v)))
    a = cp.exp(dtv * A)
    gi = cp.arange(h) // (h // g)
    S = cp.zeros((b, h, p, n), cp.float64)
    y = cp.empty((b, L, h, p), cp.float64)
    for t in range(L):
        Bt, Ct = B[:, t][:, gi], C[:, t][:, gi]
        S = a[:, t, :, None, None] * S + (dtv[:, t, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]
        y[:, t] = cp.einsum('bhpn,bhn->bhp', S, Ct) + D[None, :, None] * x[:, t]
    return y * (z / (1 + cp.exp(-z)))


class Wgmma:
    def __init__(self, mod):
        self.prep, self.walk = mod.get_function('ssd_prep'), mod.get_function('ssd_wgmma')
        self.smem = int(cp.ndarray((1,), cp.int32, mod.get_global('ssd_smem_bytes'))[0])
        self.walk.max_dynamic_shared_size_bytes = self.smem

    def buffers(self, shape):
        b, L, h, p, n, g = shape
        nc = (L + QC - 1) // QC
        return dict(G=cp.empty(b * nc * g * 36 * 32 * 2, cp.float32), Cp=cp.empty(b * nc * g * QC * n, cp.uint16), Bp=cp.empty(b * nc * g * QC * n, cp.uint16))

    def run_prep(self, d, shape, bufs):
        b, L, h, p, n, g = shape
        nc = (L + QC - 1) // QC
        self.prep((b * nc * g,), (NT,), (d['B'], d['C'], bufs['G'], bufs['Cp'], bufs['Bp'], np.int32(L), np.int32(g)))

    def run_walk(self, d, shape, bufs, y):
        b, L, h, p, n, g = shape
        self.walk((b * h,), (NT,), (d['x'], d['dt'], d['A'], d['D'], d['z'], d['dtb'], bufs['G'], bufs['Cp'], bufs['Bp'], d['B'], d['C'], y,
                                    np.int32(L), np.int32(h), np.int32(g)), shared_mem=self.smem)


class Base:
    def __init__(self, cu, js):
        man = json.load(open(js))
        src = re.sub(r'__launch_bounds__\((\d+), \d+\)', r'__launch_bounds__(\1, 5)', open(cu).read(), count=1)
        self.fn, self.shared, self.T = cp.RawModule(code=src, options=('-std=c++17',)).get_function(man['entry']), man['sharedBytes'], man['workgroupSize']
        self.fn.max_dynamic_shared_size_bytes = self.shared

    def run(self, d, shape, y):
        b, L, h, p, n, g = shape
        self.fn(((b * h * p + 31) // 32,), (self.T,), (d['x'], d['dt'], d['A'], d['B'], d['C'], d['D'], d['z'], d['dtb'], y,
                                                       np.int32(b), np.int32(L), np.int32(h), np.int32(g)), shared_mem=self.shared)


def rel(got, want):
    return float(cp.linalg.norm(got - want) / cp.linalg.norm(want)) if bool(cp.isfinite(got).all()) else float('nan')


def main():
    cubin, cubin_sw, cu, js = sys.argv[1:5]
    cp.random.seed(11)
    mods = {'as documented': cp.RawModule(path=cubin), 'swapped': cp.RawModule(path=cubin_sw)}
    good = [k for k, m in mods.items() if wg_test(m, k)]
    # The transposed-B reading (imm-trans-b): leading offset = between 64-element atoms along n (2048 bytes here),
    # stride offset = between 8-row groups along k (1024). The other reading (run 134) reads out of bounds: a fault.
    for lbo, sbo in ((2048, 1024),):
        for n in (64, 128):
            A = from_bf16(bf16(cp.random.standard_normal((64, 16), dtype=cp.float32)))
            B = from_bf16(bf16(cp.random.standard_normal((16, n), dtype=cp.float32)))
            D = cp.full((64, n), cp.nan, cp.float32)
            mods['as documented'].get_function(f'wg_test_mn{n}')((1,), (NT,), (A, B, D, np.int32(lbo), np.int32(sbo)))
            want = A.astype(cp.float64) @ B.astype(cp.float64)
            err = float(cp.abs(D - want).max()) if bool(cp.isfinite(D).all()) else float('nan')
            print(f'wg_test_mn n{n} lbo {lbo} sbo {sbo}: max abs err {err:.3e}', flush=True)
    print(f'descriptor reading that multiplies right: {good}', flush=True)
    if not good:
        return
    wg, base = Wgmma(mods[good[0]]), Base(cu, js)
    fails = 0
    for shape in [(2, 1000, 4, 64, 128, 1), (2, 130, 6, 64, 128, 2), (1, 4096, 2, 64, 128, 1), (1, 64, 2, 64, 128, 1), (1, 1, 2, 64, 128, 1)]:
        d = make(*shape)
        want = reference(d, shape)
        bufs = wg.buffers(shape)
        y = cp.empty(want.shape, cp.uint16)
        errs = {}
        for name, run in (('wgmma', lambda: (wg.run_prep(d, shape, bufs), wg.run_walk(d, shape, bufs, y))), ('compiler', lambda: base.run(d, shape, y))):
            y.fill(0x7FC0)  # NaN
            run()
            errs[name] = rel(from_bf16(y).astype(cp.float64), want)
        ok = errs['wgmma'] < 2 * errs['compiler'] + 1e-3
        fails += not ok
        print(f'check {shape}: rel L2 vs float64: wgmma {errs["wgmma"]:.3e}, compiler {errs["compiler"]:.3e}  {"ok" if ok else "FAIL"}', flush=True)
    shape = (4, 4096, 80, 64, 128, 1)
    b, L, h, p, n, g = shape
    d = make(*shape)
    bufs = wg.buffers(shape)
    ys = {k: cp.empty((b, L, h, p), cp.uint16) for k in ('wgmma', 'compiler')}
    nbytes = 2 * (3 * b * L * h * p + 2 * b * L * g * n + b * L * h)
    _, roof = copy_roofline(nbytes)
    for k in ys:
        ys[k].fill(0x7FC0)
    wg.run_prep(d, shape, bufs); wg.run_walk(d, shape, bufs, ys['wgmma']); base.run(d, shape, ys['compiler'])
    print(f'standard shape: wgmma vs compiler rel L2 {rel(from_bf16(ys["wgmma"]).astype(cp.float64), from_bf16(ys["compiler"]).astype(cp.float64)):.3e}', flush=True)
    t = {
        'compiler (t128 q32 p32)': timeit(lambda: base.run(d, shape, ys['compiler']), 30),
        'wgmma walk': timeit(lambda: wg.run_walk(d, shape, bufs, ys['wgmma']), 30),
        'wgmma prep': timeit(lambda: wg.run_prep(d, shape, bufs), 30),
        'wgmma prep + walk': timeit(lambda: (wg.run_prep(d, shape, bufs), wg.run_walk(d, shape, bufs, ys['wgmma'])), 30),
    }
    for k, v in t.items():
        print(f'{k:26s} {v:7.4f} ms  {v / roof:5.2f}x roofline', flush=True)
    try:
        occ = cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(wg.walk.kernel.ptr, NT, wg.smem)
        print(f'walk: {occ} blocks per SM by the occupancy calculator; {b * h} blocks', flush=True)
    except Exception as e:  # noqa: BLE001 (the figure is informative only)
        print(f'walk: occupancy not read ({e})', flush=True)
    # The wave tail (the same work per block with fewer heads), and other batch sizes and lengths: the walk's
    # parallelism is batch × heads chains of chunks. --shapes=b:L:h,... adds shapes (default: 4:4096:66, 4:4096:33).
    extra = next((a.split('=', 1)[1] for a in sys.argv if a.startswith('--shapes=')), '4:4096:66,4:4096:33')
    for spec in extra.split(','):
        bx, lx, hh = (int(x) for x in spec.split(':'))
        sh = (bx, lx, hh, p, n, g)
        dd, bb = make(*sh), wg.buffers(sh)
        yy = cp.empty((bx, lx, hh, p), cp.uint16)
        rf = 2 * (3 * bx * lx * hh * p + 2 * bx * lx * g * n + bx * lx * hh) / (nbytes / roof)
        tw = timeit(lambda: (wg.run_prep(dd, sh, bb), wg.run_walk(dd, sh, bb, yy)), 30)
        tc = timeit(lambda: base.run(dd, sh, yy), 30)
        print(f'batch {bx}, seqlen {lx}, nheads {hh} ({bx * hh} walk blocks): wgmma prep + walk {tw:7.4f} ms ({tw / rf:5.2f}x), '
              f'compiler {tc:7.4f} ms ({tc / rf:5.2f}x); roofline {rf:.4f} ms', flush=True)
    small = [(2, 1000, 4, 64, 128, 1), (2, 130, 6, 64, 128, 2)]
    smalld = [(sh, make(*sh)) for sh in small]
    smallw = [reference(dd, sh) for sh, dd in smalld]
    for arg in (a for a in sys.argv[5:] if not a.startswith('--')):
        name, path = arg.split('=', 1)
        v = Wgmma(cp.RawModule(path=path))
        errs = []
        for (sh, dd), want in zip(smalld, smallw):
            bb, yy = v.buffers(sh), cp.empty(want.shape, cp.uint16)
            yy.fill(0x7FC0)
            v.run_prep(dd, sh, bb); v.run_walk(dd, sh, bb, yy)
            errs.append(rel(from_bf16(yy).astype(cp.float64), want))
        vb = v.buffers(shape)
        v.run_prep(d, shape, vb)
        ms = timeit(lambda: v.run_walk(d, shape, vb, ys['wgmma']), 30)
        t[name] = ms
        print(f'{name:26s} {ms:7.4f} ms  {ms / roof:5.2f}x roofline  rel L2 vs float64 {errs[0]:.3e} {errs[1]:.3e}  regs {v.walk.num_regs}', flush=True)
    print(json.dumps({'fails': fails, 'roofline_ms': roof, 'ms': t, 'regs': wg.walk.num_regs, 'local': wg.walk.local_size_bytes}))


if __name__ == '__main__':
    main()
