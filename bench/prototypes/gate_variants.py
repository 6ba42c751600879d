# Design prototype: what the gates (softplus, SiLU) and the decay exponentials
# cost in the compiler's own Mamba-1 kernel, measured by rewriting the helper
# functions of a generated .cu in text and timing every variant in one process
# (with the copy roofline), each checked against a float64 reference first.
#   python3 bench/prototypes/gate_variants.py <kernel.cu> <kernel.cuda.json> [<kernel2.cu> <kernel2.cuda.json> ...]
# The kernels are fp32 ones `scanforge build examples/mamba1.ts --target cuda`
# writes for D, z, delta_bias and softplus with no states (variant 8f74b309).
#
# Variants:
#   base       as generated: softplus = log1pf(exp x), SiLU = x / (1 + exp(-x)) (IEEE division)
#   silu-rcp   SiLU = x * rcp.approx(1 + exp(-x))
#   gates      silu-rcp, and softplus = max(x, 0) + t * q(t), t = exp(-|x|), q a degree-8 polynomial (no log1pf)
#   gates+pN   gates, and the decay exponentials of N of a lane's 4 state elements on the FMA pipe
#              (Cody-Waite split, degree-5 polynomial) instead of MUFU.EX2
#   no-gates   upper bound only (wrong numbers): softplus and SiLU replaced by identity
#   no-exp     upper bound only (wrong numbers): decay exponentials replaced by an FMA
#   no-lds     upper bound only (wrong numbers): the B/C tile reads from shared memory replaced by constants
#   no-bcast   upper bound only (wrong numbers): the step values' lane shuffles replaced by the lane's own value
#   no-xor     upper bound only (wrong numbers): the partial sums' butterfly shuffles dropped
#   no-pf      the L2 prefetches of the next chunk's inputs dropped (kernels built with prefetch 1)
#   l2-256     u, delta and z read with ld.global.nc.L2::256B (the L2 fetches 256-byte blocks: the next chunks ride along)
#   l2-256-nopf  l2-256 and no-pf
#   l1-noalloc the 256-byte-fetch loads also skip L1 (ld.global.nc.L1::no_allocate.L2::256B)
#   pf-last    the L2 prefetches with evict_last priority
#   pf-plus2   a second prefetch, two chunks ahead, beside the one a chunk ahead
#   pf2-only   the prefetch two chunks ahead instead of one
#   minblocksN the kernel's __launch_bounds__ asking for N resident blocks (its register cap) instead
# Pass --variants=a,b,... to choose (default: all of the above but minblocksN), and --profile to only
# launch each variant once at the standard shape (under Nsight Compute; nothing checked or timed).
import sys, json, re, os, subprocess
import numpy as np
import cupy as cp
sys.path.insert(0, os.path.dirname(__file__))
from state_lanes import reference, make, timeit
from fit import chebyshev_nodes, relative_fit

HELPERS = r'''
__device__ __forceinline__ float pv_rcp(float x) { float y; asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
// 2^x on the FMA pipe: x = j + f, j = round(x), |f| <= 1/2; 2^f by a degree-5 minimax polynomial (rel. error 1.6e-7).
__device__ __forceinline__ float sf_exp2p(float x) {
  x = fminf(fmaxf(x, -126.0f), 126.0f);
  const float r = x + 12582912.0f;          // 1.5 * 2^23: j sits in r's low mantissa bits
  const float f = x - (r - 12582912.0f);
  float p = 0.001327647129073739f;
  p = fmaf(p, f, 0.009675540961325169f);
  p = fmaf(p, f, 0.05550713092088699f);
  p = fmaf(p, f, 0.24022120237350464f);
  p = fmaf(p, f, 0.6931469440460205f);
  p = fmaf(p, f, 1.0000001192092896f);
  return __int_as_float(__float_as_int(p) + (__float_as_int(r) << 23));
}
__device__ __forceinline__ uint4 pv_ldg256(const uint4* p) {
  uint4 r;
  asm volatile("ld.global.nc.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
}
// log1p(t)/t on [0, 1], degree 8 (rel. error 6.4e-8).
__device__ __forceinline__ float sf_log1p01(float t) {
  float q = LOG1P_C8;
  LOG1P_HORNER
  return t * q;
}
'''

SOFTPLUS_FAST = '__device__ __forceinline__ float sf_softplus(float x) { float t; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(t) : "f"(-1.4426950408889634f * fabsf(x))); return x > 20.0f ? x : fmaxf(x, 0.0f) + sf_log1p01(t); }'
SILU_RCP = '__device__ __forceinline__ float sf_silu(float x) { float e; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(-1.4426950408889634f * x)); return x * pv_rcp(1.0f + e); }'


def log1p_coeffs(deg=8):
    t = chebyshev_nodes(4000, 0.0, 1.0) + 1e-12
    return relative_fit(t, np.log1p(t) / t, deg)


def helpers():
    c = log1p_coeffs()
    horner = ' '.join(f'q = fmaf(q, t, {x!r}f);' for x in reversed(c[:-1]))
    return HELPERS.replace('LOG1P_C8', f'{c[-1]!r}f').replace('LOG1P_HORNER', horner)


def sub_line(src, name, new):
    return re.sub(r'^__device__ __forceinline__ float ' + name + r'\(.*$', new, src, count=1, flags=re.M)


def variant(src, name):
    src = src.replace('#include <cuda_bf16.h>\n', '#include <cuda_bf16.h>\n' + helpers(), 1)
    if name in ('silu-rcp', 'gates') or name.startswith('gates+p'):
        src = sub_line(src, 'sf_silu', SILU_RCP)
    if name == 'gates' or name.startswith('gates+p'):
        src = sub_line(src, 'sf_softplus', SOFTPLUS_FAST)
    if name.startswith('gates+p'):
        k = int(name[len('gates+p'):])
        for e in range(k):  # the decay exponential of element e: sf_exp2((x<id>_e<e> * ...
            src = re.sub(r'sf_exp2\(\((x\d+_e' + str(e) + r') \*', r'sf_exp2p((\1 *', src)
    if name == 'no-gates':
        src = sub_line(src, 'sf_softplus', '__device__ __forceinline__ float sf_softplus(float x) { return x; }')
        src = sub_line(src, 'sf_silu', '__device__ __forceinline__ float sf_silu(float x) { return x; }')
    if name == 'no-lds':
        src = re.sub(r'\*reinterpret_cast<const float4\*>\(tileu[01] \+ \([^;]*\)\);', 'make_float4(1.0f, 0.5f, 0.25f, 0.125f);', src)
    if name == 'no-bcast':
        src = re.sub(r'__shfl_sync\(0xffffffffu, (\w+), \d+, \d+\)', r'\1', src)
    if name == 'no-xor':
        src = re.sub(r'__shfl_xor_sync\(0xffffffffu, (\w+), \d+\)', r'0.0f', src)
    if name in ('no-pf', 'l2-256-nopf'):
        src = re.sub(r'^.*prefetch\.global\.L2.*$\n', '', src, flags=re.M)
    if name in ('l2-256', 'l2-256-nopf'):
        src = re.sub(r'__ldg\(reinterpret_cast<const uint4\*>\(((?:u|delta|z) \+)', r'pv_ldg256(reinterpret_cast<const uint4*>(\1', src)
    if name == 'l1-noalloc':
        src = src.replace('ld.global.nc.L2::256B', 'ld.global.nc.L1::no_allocate.L2::256B')
    if name == 'pf-last':
        src = src.replace('prefetch.global.L2 [', 'prefetch.global.L2::evict_last [')
    if name in ('pf-plus2', 'pf2-only'):
        def ahead(m):
            line, step = m.group(0), int(m.group(2))
            far = line.replace(f'+ {step})', f'+ {2 * step})')
            return far if name == 'pf2-only' else line + '\n' + far
        src = re.sub(r'^(.*prefetch\.global\.L2 .*\+ (\d+)\)\)\)\);)$', ahead, src, flags=re.M)
    if name.startswith('minblocks'):
        src = re.sub(r'__launch_bounds__\((\d+), \d+\)', r'__launch_bounds__(\1, ' + name[len('minblocks'):] + ')', src)
    if name == 'no-exp':
        src = sub_line(src, 'sf_exp2', '__device__ __forceinline__ float sf_exp2(float x) { return fmaf(x, 0.01f, 0.99f); }')
    return src


NAMES = ['base', 'silu-rcp', 'gates', 'gates+p1', 'gates+p2', 'no-gates', 'no-exp', 'no-lds', 'no-bcast', 'no-xor']
EXACT = {'base', 'silu-rcp', 'gates', 'gates+p1', 'gates+p2', 'no-pf', 'l2-256', 'l2-256-nopf', 'l1-noalloc', 'pf-last', 'pf-plus2', 'pf2-only'} | {f'minblocks{n}' for n in range(1, 33)}


def sass_counts(src, entry, out_dir):
    """Instruction mix of the variant's SASS (nvcc + cuobjdump), or None where the toolkit is absent."""
    os.makedirs(out_dir, exist_ok=True)
    cu = os.path.join(out_dir, entry + '.cu')
    open(cu, 'w').write(src)
    try:
        subprocess.run(['nvcc', '-arch=sm_90', '-cubin', '-o', cu + 'bin', cu], check=True, capture_output=True)
        sass = subprocess.run(['cuobjdump', '-sass', cu + 'bin'], check=True, capture_output=True, text=True).stdout
    except Exception as e:  # noqa: BLE001 - only a report
        return {'error': str(e)[:200]}
    open(cu + '.sass', 'w').write(sass)
    # Addresses grow past 4 hex digits in long kernels.
    ops = re.findall(r'/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)', sass)
    counts = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return {'total': len(ops), 'MUFU': counts.get('MUFU', 0), 'FFMA': counts.get('FFMA', 0), 'FMUL': counts.get('FMUL', 0),
            'FADD': counts.get('FADD', 0), 'SHFL': counts.get('SHFL', 0), 'LDS': counts.get('LDS', 0)}


def main():
    out_dir = '/tmp/gate-variants'  # SASS listings, tarred into $OUT at the end (the device returns at most 8 files)
    profile = '--profile' in sys.argv
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    names = next((a.split('=', 1)[1].split(',') for a in sys.argv[1:] if a.startswith('--variants=')), NAMES)
    pairs = list(zip(args[0::2], args[1::2]))
    std = (8, 4096, 4096, 16, 1)
    dev_t = [cp.asarray(x) for x in make(*std, 1)]
    out_t = cp.empty(std[:2] + (std[2],), cp.float32)
    small = (2, 128, 517, 16, 2)       # L not a multiple of the chunk; dim/G = 64
    host_s = make(*small, 3)
    ref_s = reference(*host_s)
    # Realistic Mamba dt (softplus(x) around 0.001..0.1): the regime where an inexact log1p would show.
    host_r = list(make(*small, 4)); host_r[1] = (host_r[1] * 1.0 - 5.0).astype(np.float32)
    ref_r = reference(*host_r)
    nbytes = sum(x.nbytes for x in dev_t) + out_t.nbytes
    big = cp.empty(1 << 28, cp.float32); big2 = cp.empty_like(big)
    timeit(lambda: big2.__setitem__(slice(None), big))
    copy_ms = timeit(lambda: big2.__setitem__(slice(None), big), 100)
    roof_ms = nbytes / (2 * big.nbytes / (copy_ms * 1e-3)) * 1e3
    print(f'roofline {roof_ms:.3f} ms ({nbytes / 1e9:.3f} GB at {2 * big.nbytes / copy_ms / 1e9:.3f} TB/s)', flush=True)
    results = []
    for cu_path, json_path in pairs:
        man = json.load(open(json_path))
        entry, shared, rows = man['entry'], man['sharedBytes'], man['grid']['rowsPerGroup']
        base_src = open(cu_path).read()
        for name in names:
            src = variant(base_src, name)
            fn = cp.RawModule(code=src, options=('-std=c++17',)).get_function(entry)
            if shared > 48 * 1024:
                fn.max_dynamic_shared_size_bytes = shared

            def launch(dev, out, shp):
                bsz, dim, L, N, G = shp
                blocks = (bsz * dim + rows - 1) // rows
                fn((blocks,), (man['workgroupSize'],), (*dev, out, np.int32(bsz), np.int32(dim), np.int32(L), np.int32(G)), shared_mem=shared)
            if profile:
                launch(dev_t, out_t, std); cp.cuda.Device().synchronize()
                continue
            errs = []
            for host, ref in ((host_s, ref_s), (host_r, ref_r)):
                dev = [cp.asarray(x) for x in host]
                out = cp.full(small[:2] + (small[2],), np.nan, cp.float32)
                launch(dev, out, small)
                got = cp.asnumpy(out).astype(np.float64)
                errs.append(float(np.linalg.norm(got - ref) / np.linalg.norm(ref)))
            ms = timeit(lambda: launch(dev_t, out_t, std), 30)
            mix = sass_counts(src, f'{entry}-{name}', out_dir)
            ok = all(e < 1e-5 for e in errs) if name in EXACT else None
            results.append({'kernel': entry, 'variant': name, 'ms': ms, 'pct': roof_ms / ms * 100, 'err': errs, 'ok': ok,
                            'regs': fn.num_regs, 'local': fn.local_size_bytes, 'sass': mix})
            print(f'{entry[-12:]:>12s} {name:10s} {ms:7.3f} ms {roof_ms / ms * 100:5.1f}%  err {errs[0]:.2e} / {errs[1]:.2e}'
                  f'{"" if ok is None else (" ok" if ok else " FAIL")}  regs {fn.num_regs} local {fn.local_size_bytes}  {mix}', flush=True)
    print(json.dumps({'roofline_ms': roof_ms, 'results': results}))
    if os.environ.get('OUT'):
        subprocess.run(['tar', 'czf', os.path.join(os.environ['OUT'], 'gate-variants-sass.tgz'), '-C', out_dir, '.'])


if __name__ == '__main__':
    main()
