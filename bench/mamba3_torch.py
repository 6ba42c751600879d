# PyTorch baseline for Mamba-3 (SISO and MIMO), written for scanforge's
# bench: the recurrence of spec §3/§4 one token at a time (a step loop,
# vectorised over batch and heads), fp32 math, inputs in the benchmarked
# dtype, the layouts of examples/mamba3_siso.ts and examples/mamba3_mimo.ts.
# It first checks itself against a plain float64 scalar loop at a tiny shape,
# then times the prefill (batch 4, seqlen 2048, nheads 16, nheads_qk 1,
# headdim 64, dstate 128, angles 32, rank 4 for MIMO) and one decode step at
# batch 1 and 64 (all four states in and out).
# Prints a table and writes {"program|run|dtype": ms} to the path in argv[1].
#   python3 bench/mamba3_torch.py $OUT/mamba3-torch.json
import json, math, sys
import torch
from torch_timing import time_ms

dev = 'cuda' if torch.cuda.is_available() else 'cpu'
F = torch.nn.functional


def rotate(x, theta):
    """Pairs (2i, 2i+1) of x (..., N) turned by theta[..., i] for i < Ra; the rest unchanged."""
    ra = theta.shape[-1]
    x0, x1 = x[..., 0:2 * ra:2], x[..., 1:2 * ra:2]
    c, s = torch.cos(theta), torch.sin(theta)
    out = x.clone()
    out[..., 0:2 * ra:2] = c * x0 - s * x1
    out[..., 1:2 * ra:2] = s * x0 + c * x1
    return out


def step(x, t, st, mimo, math_dtype=torch.float32):
    """One token for every (b, h). st = (angle (B,H,Ra), S (B,H,P,N), kprev (B,H,[R,]N), vprev (B,H,P))."""
    f = lambda a: a.to(math_dtype)
    angle, S, kprev, vprev = st
    H, Hqk = x['V'].shape[2], x['Q'].shape[-2]
    dt = f(x['DT'][:, :, t])                                                  # (B, H)
    angle = torch.remainder(angle + torch.tanh(f(x['Angles'][:, t])) * math.pi * dt[..., None], 2 * math.pi)
    Q = f(x['Q'][:, t]).repeat_interleave(H // Hqk, dim=-2)                  # (B, [R,] H, N)
    K = f(x['K'][:, t]).repeat_interleave(H // Hqk, dim=-2)
    if mimo:
        Q, K = Q.transpose(1, 2), K.transpose(1, 2)                           # (B, H, R, N)
    th = angle[:, :, None, :] if mimo else angle
    qr, kr = rotate(Q + f(x['Q_bias']), th), rotate(K + f(x['K_bias']), th)
    lam, alpha = torch.sigmoid(f(x['Trap'][:, :, t])), torch.exp(f(x['ADT'][:, :, t]))
    beta, gamma = (1 - lam) * dt * alpha, lam * dt
    v = f(x['V'][:, t])                                                       # (B, H, P)
    a4 = lambda s: s[..., None, None]
    if mimo:
        mv = f(x['MIMO_V'])                                                   # (H, R, P)
        vr, vpr = v[:, :, None, :] * mv, vprev[:, :, None, :] * mv            # (B, H, R, P)
        S = a4(alpha) * S + a4(beta) * torch.einsum('bhrp,bhrn->bhpn', vpr, kprev) + a4(gamma) * torch.einsum('bhrp,bhrn->bhpn', vr, kr)
        yr = torch.einsum('bhpn,bhrn->bhrp', S, qr) + f(x['D'])[None, :, None, None] * vr
        yr = yr * F.silu(f(x['Z'][:, t])[:, :, None, :] * f(x['MIMO_Z']))
        y = (yr * f(x['MIMO_O'])).sum(2)
    else:
        S = a4(alpha) * S + a4(beta) * vprev[..., :, None] * kprev[..., None, :] + a4(gamma) * v[..., :, None] * kr[..., None, :]
        y = torch.einsum('bhpn,bhn->bhp', S, qr) + f(x['D'])[None, :, None] * v
        y = y * F.silu(f(x['Z'][:, t]))
    return y, (angle, S, kr, v)


def run(x, st, mimo, math_dtype=torch.float32):
    ys = []
    for t in range(x['V'].shape[1]):
        y, st = step(x, t, st, mimo, math_dtype)
        ys.append(y)
    return torch.stack(ys, 1), st                                            # y (B, L, H, P)


def inputs(B, L, H, Hqk, P, N, Ra, R, mimo, dtype, device=dev, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    r = lambda *s: torch.randn(*s, device=device, generator=g)
    u = lambda lo, hi, *s: lo + (hi - lo) * torch.rand(*s, device=device, generator=g)
    rk = (R,) if mimo else ()
    x = dict(Q=r(B, L, *rk, Hqk, N), K=r(B, L, *rk, Hqk, N), V=r(B, L, H, P), ADT=u(-0.2, -0.001, B, H, L), DT=u(0.01, 0.3, B, H, L),
             Trap=r(B, H, L), Q_bias=0.5 * r(H, *rk, N), K_bias=0.5 * r(H, *rk, N), Angles=r(B, L, H, Ra), D=r(H), Z=r(B, L, H, P))
    if mimo:
        x.update(MIMO_V=0.5 * r(H, R, P), MIMO_Z=0.5 * r(H, R, P), MIMO_O=0.5 * r(H, R, P))
    return {k: v.to(dtype) for k, v in x.items()}


def states(B, H, P, N, Ra, R, mimo, random, device=dev, dtype=torch.float32):
    mk = (lambda *s: torch.randn(*s, device=device, dtype=dtype)) if random else (lambda *s: torch.zeros(*s, device=device, dtype=dtype))
    return (mk(B, H, Ra), mk(B, H, P, N), mk(B, H, R, N) if mimo else mk(B, H, N), mk(B, H, P))


def scalar_loop(x, st, mimo):
    """Spec §3/§4 with Python floats, one element at a time: the baseline's own ground truth."""
    X = {k: v.tolist() for k, v in x.items()}
    angle, S, kprev, vprev = (s.tolist() for s in st)
    B, L, H, P = x['V'].shape
    Hqk, N, Ra = x['Q'].shape[-2], x['Q'].shape[-1], x['Angles'].shape[-1]
    R = x['Q'].shape[2] if mimo else 1
    y = [[[[0.0] * P for _ in range(H)] for _ in range(L)] for _ in range(B)]
    sig = lambda a: 1 / (1 + math.exp(-a))
    for b in range(B):
        for h in range(H):
            g = h // (H // Hqk)
            th, Sm, vp = angle[b][h], S[b][h], vprev[b][h]
            kp = kprev[b][h] if mimo else [kprev[b][h]]
            for t in range(L):
                dt = X['DT'][b][h][t]
                th = [(th[i] + math.tanh(X['Angles'][b][t][h][i]) * math.pi * dt) % (2 * math.pi) for i in range(Ra)]
                def rot(vec):
                    out = list(vec)
                    for i in range(Ra):
                        c, s = math.cos(th[i]), math.sin(th[i])
                        out[2 * i], out[2 * i + 1] = c * vec[2 * i] - s * vec[2 * i + 1], s * vec[2 * i] + c * vec[2 * i + 1]
                    return out
                sel = (lambda T, r: T[b][t][r][g]) if mimo else (lambda T, r: T[b][t][g])
                bias = (lambda T, r: T[h][r]) if mimo else (lambda T, r: T[h])
                qr = [rot([sel(X['Q'], r)[n] + bias(X['Q_bias'], r)[n] for n in range(N)]) for r in range(R)]
                kr = [rot([sel(X['K'], r)[n] + bias(X['K_bias'], r)[n] for n in range(N)]) for r in range(R)]
                lam, alpha = sig(X['Trap'][b][h][t]), math.exp(X['ADT'][b][h][t])
                beta, gamma = (1 - lam) * dt * alpha, lam * dt
                vt = X['V'][b][t][h]
                up = (lambda W, r, p: X[W][h][r][p]) if mimo else (lambda W, r, p: 1.0)
                for p in range(P):
                    for n in range(N):
                        Sm[p][n] = alpha * Sm[p][n] + sum(beta * vp[p] * up('MIMO_V', r, p) * kp[r][n] + gamma * vt[p] * up('MIMO_V', r, p) * kr[r][n] for r in range(R))
                kp, vp = kr, list(vt)
                for p in range(P):
                    out = 0.0
                    for r in range(R):
                        yr = sum(Sm[p][n] * qr[r][n] for n in range(N)) + X['D'][h] * vt[p] * up('MIMO_V', r, p)
                        zz = X['Z'][b][t][h][p] * up('MIMO_Z', r, p)
                        out += yr * zz * sig(zz) * up('MIMO_O', r, p)
                    y[b][t][h][p] = out
    return torch.tensor(y, dtype=torch.float64)



for mimo in (False, True):
    shape = (2, 5, 4, 2, 3, 6, 2, 3)   # B, L, H, Hqk, P, N, Ra, R
    x = inputs(*shape, mimo, torch.float64, device='cpu', seed=1)
    st = states(shape[0], shape[2], shape[4], shape[5], shape[6], shape[7], mimo, True, device='cpu', dtype=torch.float64)
    got, _ = run(x, st, mimo, torch.float64)
    want = scalar_loop(x, st, mimo)
    err = ((got - want).norm() / want.norm()).item()
    print(f"baseline {'MIMO' if mimo else 'SISO'} rel L2 vs a float64 scalar loop: {err:.2e}")
    assert err < 1e-12, 'baseline is wrong'

quick = '--quick' in sys.argv
B, L, H, Hqk, P, N, Ra, R = 4, (256 if quick else 2048), 16, 1, 64, 128, 32, 4
out = {}
for mimo in (False, True):
    prog = 'mamba3_mimo' if mimo else 'mamba3_siso'
    for dtype, dname in ((torch.bfloat16, 'bf16'), (torch.float32, 'f32')):
        x = inputs(B, L, H, Hqk, P, N, Ra, R, mimo, dtype)
        ms = time_ms(lambda: run(x, states(B, H, P, N, Ra, R, mimo, False), mimo), reps=3)
        out[f'{prog}|prefill|{dname}'] = ms
        print(f'pytorch step loop {prog} prefill L={L} {dname}: {ms:.2f} ms')
        for batch in (1, 64):
            xd = inputs(batch, 1, H, Hqk, P, N, Ra, R, mimo, dtype)
            sd = states(batch, H, P, N, Ra, R, mimo, True)
            ms = time_ms(lambda: step(xd, 0, sd, mimo), reps=50)
            out[f'{prog}|decode-b{batch}|{dname}'] = ms
            print(f'pytorch {prog} decode step batch {batch} {dname}: {ms * 1e3:.1f} us')
        del x
        if dev == 'cuda':
            torch.cuda.empty_cache()
if len(sys.argv) > 1 and not sys.argv[1].startswith('--'):
    json.dump(out, open(sys.argv[1], 'w'), indent=1)
