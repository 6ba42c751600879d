# PyTorch baseline for Mamba-1 (selective scan), written for scanforge's
# bench: sequential over chunks, closed form inside each chunk
# (h_t = e^{cum_t} (h_0 + sum_{s<=t} e^{-cum_s} dt_s B_s u_s)), fp32 math.
# Prints a table and writes {"shape|dtype": ms} to the path in argv[1].
import json, sys, math
import torch
import torch.nn.functional as F
from torch_timing import time_ms

def selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, Q):
    b, d, L = u.shape
    n = A.shape[1]
    u, delta, B, C, z = u.float(), delta.float(), B.float(), C.float(), z.float()
    dt = F.softplus(delta + delta_bias[None, :, None])            # (b, d, L)
    h = torch.zeros(b, d, n, device=u.device)
    ys = []
    for c0 in range(0, L, Q):
        dtc = dt[:, :, c0:c0 + Q]                                  # (b, d, q)
        cum = torch.cumsum(dtc[..., None] * A[None, :, None, :], dim=2)  # (b, d, q, n)
        Bc = B[:, 0, :, c0:c0 + Q].transpose(1, 2)[:, None]        # (b, 1, q, n)
        Cc = C[:, 0, :, c0:c0 + Q].transpose(1, 2)[:, None]
        x = (dtc * u[:, :, c0:c0 + Q])[..., None] * Bc             # (b, d, q, n)
        hs = torch.exp(cum) * (h[:, :, None, :] + torch.cumsum(torch.exp(-cum) * x, dim=2))
        ys.append((hs * Cc).sum(-1))
        h = hs[:, :, -1]
    y = torch.cat(ys, dim=2) + D[None, :, None] * u
    return y * F.silu(z)

def inputs(b, d, L, n, dtype):
    g = torch.Generator(device='cuda').manual_seed(0)
    r = lambda *s: torch.randn(*s, device='cuda', generator=g)
    return dict(u=r(b, d, L).to(dtype), delta=(r(b, d, L) - 2).to(dtype), A=-(torch.rand(d, n, device='cuda', generator=g) * 0.99 + 0.01),
                B=r(b, 1, n, L).to(dtype), C=r(b, 1, n, L).to(dtype), D=r(d), z=r(b, d, L).to(dtype), delta_bias=r(d) * 0.5)

# correctness of the baseline itself against a float64 step loop, small shape
x = inputs(2, 8, 300, 16, torch.float32)
ref_h = torch.zeros(2, 8, 16, dtype=torch.float64, device='cuda'); ys = []
dt = F.softplus(x['delta'].double() + x['delta_bias'].double()[None, :, None])
for t in range(300):
    ref_h = torch.exp(dt[:, :, t, None] * x['A'].double()) * ref_h + (dt[:, :, t] * x['u'].double()[:, :, t])[..., None] * x['B'].double()[:, 0, :, t][:, None, :]
    ys.append((ref_h * x['C'].double()[:, 0, :, t][:, None, :]).sum(-1))
ref = (torch.stack(ys, 2) + x['D'].double()[None, :, None] * x['u'].double()) * F.silu(x['z'].double())
got = selective_scan_chunked(**x, Q=64).double()
err = ((got - ref).norm() / ref.norm()).item()
print(f'baseline rel L2 vs float64 loop: {err:.2e}')
assert err < 1e-4, 'baseline is wrong'

out = {}
for label, (b, d, L, n), Q in [('standard', (8, 4096, 4096, 16), 64), ('long', (1, 4096, 262144, 16), 128)]:
    for dtype, name in [(torch.float32, 'f32'), (torch.bfloat16, 'bf16')]:
        x = inputs(b, d, L, n, dtype)
        ms = time_ms(lambda: selective_scan_chunked(**x, Q=Q), reps=3 if label == 'long' else 5)
        out[f'{label}|{name}'] = ms
        print(f'pytorch chunked {label} {name}: {ms:.2f} ms')
        del x; torch.cuda.empty_cache()
json.dump(out, open(sys.argv[1], 'w'))
