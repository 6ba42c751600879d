# A/B of the compiler's own wgmma walks (#4): several builds of one generated kernel (`scanforge build
# examples/mamba2.ts --target cuda --dtype bf16 --ssd-form wgmma`, variant p:D,dt_bias,z;f:dt_softplus=1), each
# compiled with `nvcc -arch=sm_90a -cubin`, checked against the float64 recurrence at small shapes (NaN-poisoned) and
# timed in one process, round-robin, at the standard shape against the copy roofline measured in the same process.
#   python3 bench/prototypes/ssd_wgmma_ab.py name=kernel.cubin:kernel.cuda.json ... [proto=ssd_wgmma.cubin ...]
# A `proto…=` cubin is a build of bench/prototypes/ssd_wgmma.cu (first launch + walk), timed as an anchor.
import sys, json, os
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import timeit, copy_roofline
from ssd_ablation import from_bf16
from ssd_wgmma import make, reference, rel, Wgmma

SMALL = [(2, 1000, 4, 64, 128, 1), (2, 130, 6, 64, 128, 2), (1, 4097, 2, 64, 128, 1), (1, 63, 2, 64, 128, 1), (1, 1, 2, 64, 128, 1)]
STANDARD = (4, 4096, 80, 64, 128, 1)


class Compiled:
    """One generated walk: entry, shared bytes and threads from its manifest; one block per (batch, head)."""

    def __init__(self, cubin, js):
        man = json.load(open(js))
        self.fn = cp.RawModule(path=cubin).get_function(man['entry'])
        self.shared, self.T = man['sharedBytes'], man['workgroupSize']
        self.fn.max_dynamic_shared_size_bytes = self.shared

    def run(self, d, shape, y):
        b, L, h, p, n, g = shape
        self.fn((b * h,), (self.T,), (d['x'], d['dt'], d['A'], d['B'], d['C'], d['D'], d['z'], d['dtb'], y,
                                      np.int32(b), np.int32(L), np.int32(h), np.int32(g)), shared_mem=self.shared)


class Proto:
    def __init__(self, cubin):
        self.wg = Wgmma(cp.RawModule(path=cubin))
        self.bufs = {}

    def run(self, d, shape, y):
        if shape not in self.bufs:
            self.bufs[shape] = self.wg.buffers(shape)
        self.wg.run_prep(d, shape, self.bufs[shape])
        self.wg.run_walk(d, shape, self.bufs[shape], y)


def main():
    cp.random.seed(5)
    kernels = {}
    for arg in sys.argv[1:]:
        name, spec = arg.split('=', 1)
        kernels[name] = Proto(spec) if name.startswith('proto') else Compiled(*spec.split(':'))
    rows = {k: {'errs': []} for k in kernels}
    for shape in SMALL:
        d = make(*shape)
        want = reference(d, shape)
        y = cp.empty(want.shape, cp.uint16)
        for name, k in kernels.items():
            y.fill(0x7FC0)  # NaN
            k.run(d, shape, y)
            rows[name]['errs'].append(rel(from_bf16(y).astype(cp.float64), want))
    for name, r in rows.items():
        r['ok'] = all(e < 1e-2 for e in r['errs'])   # spec §6: bf16 1e-2 against the float64 reference
        print(f'check {name:12s} rel L2 vs float64: ' + ' '.join(f'{e:.2e}' for e in r['errs']) + ('  ok' if r['ok'] else '  FAIL'), flush=True)
    b, L, h, p, n, g = STANDARD
    d = make(*STANDARD)
    y = cp.empty((b, L, h, p), cp.uint16)
    nbytes = 2 * (3 * b * L * h * p + 2 * b * L * g * n + b * L * h)
    _, roof = copy_roofline(nbytes)
    for name in kernels:
        rows[name]['ms'] = []
    for _ in range(4):   # round-robin: drift between variants shows as spread, not as a difference
        for name, k in kernels.items():
            rows[name]['ms'].append(timeit(lambda: k.run(d, STANDARD, y), 30))
    for name, r in rows.items():
        best = min(r['ms'])
        r['best'] = best
        print(f'{name:12s} best {best:7.4f} ms  {best / roof:5.2f}x roofline  rounds ' + ' '.join(f'{m:.4f}' for m in r['ms']), flush=True)
    print(json.dumps({'roofline_ms': roof, 'rows': rows}))


if __name__ == '__main__':
    main()
