# PyTorch baseline for Mamba-2 SSD, written for scanforge's bench: the
# chunked matrix form of spec §2 in einsums (the structure of mamba_ssm's
# ssd_minimal_discrete): intra-chunk (C·Bᵀ ∘ decay mask)·(dt·x), chunk states,
# inter-chunk state passing, state-to-output, + D·x, ·silu(z). Einsums run in
# the input dtype (bf16 on tensor cores), cumulative sums and exps in fp32.
# Also measures the bf16 (and fp32) matmul rate that bench/mamba2.ts uses for
# its roofline. Prints a table and writes, to the path in argv[1],
#   {"standard|f32": ms, "standard|bf16": ms, "matmul_bf16_tflops": x, "matmul_f32_tflops": y, ...}
import json, sys
import torch
import torch.nn.functional as F
from torch_timing import time_ms

def segsum(a):
    # a (..., T) -> (..., T, T): sum_{j < k <= i} a[k] for j <= i, -inf above the diagonal.
    T = a.size(-1)
    x = a[..., None].expand(*a.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, device=a.device, dtype=torch.bool), -1), 0)
    s = torch.cumsum(x, dim=-2)
    return s.masked_fill(~torch.tril(torch.ones(T, T, device=a.device, dtype=torch.bool), 0), -torch.inf)

def ssd_chunked(x, dt, A, B, C, D, z, dt_bias, Q, initial_states=None):
    b, L, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    dtype = x.dtype
    dtv = F.softplus(dt.float() + dt_bias.float())                 # (b, L, h) fp32
    a = dtv * A.float()                                             # log-decay per step
    X = (x.float() * dtv[..., None]).to(dtype)                      # (b, L, h, p)
    Bh = B.repeat_interleave(h // g, dim=2)                         # (b, L, h, n)
    Ch = C.repeat_interleave(h // g, dim=2)
    c = L // Q
    X, Bh, Ch = (t.reshape(b, c, Q, h, -1) for t in (X, Bh, Ch))
    a = a.reshape(b, c, Q, h).permute(0, 3, 1, 2)                   # (b, h, c, Q)
    cs = torch.cumsum(a, dim=-1)
    # 1. intra-chunk
    Lmask = torch.exp(segsum(a))                                    # (b, h, c, Q, Q)
    CB = torch.einsum('bclhn,bcshn->bhcls', Ch, Bh)
    Y = torch.einsum('bhcls,bcshp->bclhp', (CB.float() * Lmask).to(dtype), X).float()
    # 2. chunk states
    decay_states = torch.exp(cs[..., -1:] - cs)                     # (b, h, c, Q)
    states = torch.einsum('bclhn,bhcl,bclhp->bchpn', Bh, decay_states.to(dtype), X).float()
    # 3. state passing
    if initial_states is None:
        initial_states = torch.zeros_like(states[:, :1])
    states = torch.cat([initial_states[:, None] if initial_states.dim() == 4 else initial_states, states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(cs[..., -1], (1, 0))))    # (b, h, c+1, c+1)
    new_states = torch.einsum('bhzc,bchpn->bzhpn', decay_chunk, states)
    states, final_state = new_states[:, :-1], new_states[:, -1]
    # 4. state -> output
    Y = Y + torch.einsum('bclhn,bchpn,bhcl->bclhp', Ch.float(), states, torch.exp(cs))
    y = Y.reshape(b, L, h, p) + D.float()[:, None] * x.float()
    return (y * F.silu(z.float())).to(dtype), final_state

def inputs(b, L, h, p, g, n, dtype):
    gen = torch.Generator(device=DEV).manual_seed(0)
    r = lambda *s: torch.randn(*s, device=DEV, generator=gen)
    return dict(x=r(b, L, h, p).to(dtype), dt=(r(b, L, h) - 2).to(dtype), A=-(torch.rand(h, device=DEV, generator=gen) * 0.99 + 0.01),
                B=r(b, L, g, n).to(dtype), C=r(b, L, g, n).to(dtype), D=r(h), z=r(b, L, h, p).to(dtype), dt_bias=r(h) * 0.5)

def matmul_tflops(dtype, n=8192, reps=20):
    a = torch.randn(n, n, device=DEV).to(dtype)
    bm = torch.randn(n, n, device=DEV).to(dtype)
    ms = time_ms(lambda: torch.matmul(a, bm), reps)
    return 2 * n ** 3 / (ms * 1e-3) / 1e12

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

# correctness of the baseline itself against a float64 step loop, small shape
b, L, h, p, g, n = 2, 96, 4, 8, 2, 16
x = inputs(b, L, h, p, g, n, torch.float32)
S = torch.zeros(b, h, p, n, dtype=torch.float64, device=DEV)
dtv = F.softplus(x['dt'].double() + x['dt_bias'].double())
Bh = x['B'].double().repeat_interleave(h // g, dim=2); Ch = x['C'].double().repeat_interleave(h // g, dim=2)
ys = []
for t in range(L):
    S = torch.exp(dtv[:, t, :, None, None] * x['A'].double()[None, :, None, None]) * S \
        + (dtv[:, t, :, None] * x['x'].double()[:, t])[..., None] * Bh[:, t, :, None, :]
    ys.append((S * Ch[:, t, :, None, :]).sum(-1))
ref = (torch.stack(ys, 1) + x['D'].double()[:, None] * x['x'].double()) * F.silu(x['z'].double())
got, fin = ssd_chunked(**x, Q=32)
err = ((got.double() - ref).norm() / ref.norm()).item()
errS = ((fin.double() - S).norm() / S.norm()).item()
print(f'baseline rel L2 vs float64 loop: y {err:.2e}, final state {errS:.2e}')
assert err < 1e-4 and errS < 1e-4, 'baseline is wrong'
if DEV != 'cuda':
    sys.exit('no CUDA device: checked the baseline only')

out = {}
out['matmul_bf16_tflops'] = matmul_tflops(torch.bfloat16)
out['matmul_f32_tflops'] = matmul_tflops(torch.float32, reps=5)
print(f"torch matmul 8192^3: bf16 {out['matmul_bf16_tflops']:.0f} TFLOP/s, fp32 (no tf32) {out['matmul_f32_tflops']:.1f} TFLOP/s")
for label, (b, L, h, p, g, n), Q in [('standard', (4, 4096, 80, 64, 1, 128), 256)]:
    for dtype, name in [(torch.float32, 'f32'), (torch.bfloat16, 'bf16')]:
        x = inputs(b, L, h, p, g, n, dtype)
        ms = time_ms(lambda: ssd_chunked(**x, Q=Q))
        out[f'{label}|{name}'] = ms
        print(f'pytorch chunked einsum {label} {name} (chunk {Q}): {ms:.3f} ms')
        del x; torch.cuda.empty_cache()
json.dump(out, open(sys.argv[1], 'w'))
