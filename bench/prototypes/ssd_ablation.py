# Design prototype: where the fused SSD kernel's time goes (#4), by rewriting the compiler's own bf16 kernel
# in text and timing each variant in one process at the standard shape (batch 4, seqlen 4096, nheads 80,
# headdim 64, dstate 128, ngroups 1, D, z, dt_bias, softplus), as gate_variants.py did for Mamba-1.
#   python3 bench/prototypes/ssd_ablation.py <kernel.cu> <kernel.cuda.json> [--variants=a,b]
# The kernel is the one `scanforge build examples/mamba2.ts --target cuda --dtype bf16` writes for
# variant p:D,dt_bias,z;f:dt_softplus=1 (t128 q32, the P tile 32), with __launch_bounds__(128, 5) as on the H100.
#
# Variants (outputs compared with the generated kernel's; "exact" ones must match it bit for bit):
#   base        as generated
#   hoistG      exact: G = C Bt of each chunk read from a buffer (8 floats per thread, in the accumulator
#               layout) instead of computed by each of the 160 (head, P tile) workgroups of a batch; the
#               buffer is written once by `dumpG` (base plus the store), standing in for a first launch
#   hoistG-early  hoistG with the loads at the top of the chunk, a barrier earlier
#   no-mask-exp upper bound (wrong numbers): the decay mask's exps replaced by 1
#   no-silu     upper bound: the z gate's SiLU replaced by the identity
#   no-state-copy upper bound: the state's bf16 copy for the next chunk's readout not stored
#   no-yinter   upper bound: the readout of the state (C S) not computed
import sys, json, re, os
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import timeit

NAMES = ['base', 'dumpG', 'hoistG', 'hoistG-early', 'no-mask-exp', 'no-silu', 'no-state-copy', 'no-yinter']
EXACT = {'hoistG', 'hoistG-early', 'dumpG'}

G_AT = '(((ix_b * ((seqlen + 31) / 32) + c0 / 32) * ngroups + x9) * 128 + (int)threadIdx.x) * 8'


def variant(src, name):
    # The runtime's build on the H100 asks for 5 resident blocks (lower/ssd.ts registerStateBudget: 43.5 KB of shared
    # memory each); a build without a device asks for 2. Time what the bench runs.
    src = re.sub(r'__launch_bounds__\((\d+), \d+\)', r'__launch_bounds__(\1, 5)', src, count=1)
    src = src.replace('__nv_bfloat16* __restrict__ y, int batch', '__nv_bfloat16* __restrict__ y, float* __restrict__ Gpre, int batch', 1)
    mg = re.search(r'\n      for \(int mg_kk = 0;.*?\n      for \(int my_kk', src, flags=re.S)
    zero_g = ''.join(f'      g_{k} = 0.00000000f;\n' for k in range(8))
    load_g = (f'      {{ const float4 ga = *reinterpret_cast<const float4*>(Gpre + {G_AT}); const float4 gb = *reinterpret_cast<const float4*>(Gpre + {G_AT} + 4);\n'
              '        g_0 = ga.x; g_1 = ga.y; g_2 = ga.z; g_3 = ga.w; g_4 = gb.x; g_5 = gb.y; g_6 = gb.z; g_7 = gb.w; }\n')
    if name == 'dumpG':
        store = (f'      *reinterpret_cast<float4*>(Gpre + {G_AT}) = make_float4(g_0, g_1, g_2, g_3); *reinterpret_cast<float4*>(Gpre + {G_AT} + 4) = make_float4(g_4, g_5, g_6, g_7);\n')
        src = src[:mg.end() - len('\n      for (int my_kk')] + '\n' + store + src[mg.end() - len('      for (int my_kk'):]
    if name in ('hoistG', 'hoistG-early'):
        src = src[:mg.start()] + '\n      for (int my_kk' + src[mg.end():]
        assert zero_g in src
        src = src.replace(zero_g, load_g if name == 'hoistG' else '', 1)
        if name == 'hoistG-early':
            src = src.replace('      const int cbuf = ((c0 / 32) % 2);\n', '      const int cbuf = ((c0 / 32) % 2);\n' + load_g, 1)
    if name == 'no-mask-exp':
        src = re.sub(r'expf\(\(cs1\[[^\]]*\] - cs1\[[^\]]*\]\)\)', '1.0f', src)
    if name == 'no-silu':
        src = re.sub(r'sf_silu\((\w+)\)', r'(\1)', src)
    if name == 'no-state-copy':
        mu = src.index('for (int mu_kk')
        head, tail = src[:mu], src[mu:]
        tail = re.sub(r'^\s*\*reinterpret_cast<unsigned\*>\(Ss \+ .*= sf_pack_bf16\(st_\d+, st_\d+\);\n', '', tail, flags=re.M)
        src = head + tail
    if name == 'no-yinter':
        src = re.sub(r'\n      for \(int my_kk = 0;.*?\n      \}\n      __syncthreads\(\);', '\n      __syncthreads();', src, count=1, flags=re.S)
    return src


def bf16(a):
    u = a.astype(cp.float32).view(cp.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(cp.uint16)


def from_bf16(b):
    return (b.astype(cp.uint32) << 16).view(cp.float32)


def main():
    cu, js = sys.argv[1], sys.argv[2]
    names = next((a.split('=', 1)[1].split(',') for a in sys.argv[3:] if a.startswith('--variants=')), NAMES)
    man = json.load(open(js))
    entry, shared, T = man['entry'], man['sharedBytes'], man['workgroupSize']
    base_src = open(cu).read()
    cp.random.seed(7)
    shapes = {'small': (2, 1000, 4, 64, 128, 1), 'standard': (4, 4096, 80, 64, 128, 1)}

    def make(b, L, h, p, n, g):
        r = lambda *s, scale=1.0, shift=0.0: bf16(cp.random.standard_normal(s, dtype=cp.float32) * scale + shift)
        x, dt, A = r(b, L, h, p), r(b, L, h, scale=0.5, shift=-1.0), bf16(-cp.exp(cp.random.standard_normal(h, dtype=cp.float32) * 0.5))
        B, C = r(b, L, g, n, scale=0.1), r(b, L, g, n, scale=0.1)
        D, z, dtb = r(h), r(b, L, h, p), r(h, scale=0.1)
        y = cp.zeros((b, L, h, p), cp.uint16)
        Gpre = cp.zeros((b * ((L + 31) // 32) * g * 128 * 8,), cp.float32)
        return [x, dt, A, B, C, D, z, dtb, y, Gpre]

    data = {k: make(*v) for k, v in shapes.items()}
    fns = {}
    for name in names:
        src = variant(base_src, name)
        fns[name] = cp.RawModule(code=src, options=('-std=c++17',)).get_function(entry)

    def launch(name, k):
        b, L, h, p, n, g = shapes[k]
        blocks = (b * h * p + 31) // 32
        fns[name]((blocks,), (T,), (*data[k], np.int32(b), np.int32(L), np.int32(h), np.int32(g)), shared_mem=shared)

    ref = {}
    rows = []
    for name in names:
        times = {}
        errs = {}
        for k in shapes:
            y = data[k][8]
            y.fill(0x7FC0)  # NaN
            launch(name, k)
            got = from_bf16(y).astype(cp.float64)
            if name == 'base':
                ref[k] = got
            e = float(cp.linalg.norm(got - ref[k]) / cp.linalg.norm(ref[k])) if bool(cp.isfinite(got).all()) else float('nan')
            errs[k] = e
        times = timeit(lambda: launch(name, 'standard'), 30)
        ok = (errs['small'] == 0 and errs['standard'] == 0) if name in EXACT else None
        rows.append({'variant': name, 'ms': times, 'err': errs, 'exact': ok, 'regs': fns[name].num_regs, 'local': fns[name].local_size_bytes})
        print(f'{name:14s} {times:7.4f} ms  vs base: small {errs["small"]:.2e}, standard {errs["standard"]:.2e}'
              f'{"" if ok is None else ("  bit-identical" if ok else "  DIFFERS")}  regs {fns[name].num_regs} local {fns[name].local_size_bytes}', flush=True)
    print(json.dumps(rows))


if __name__ == '__main__':
    main()
