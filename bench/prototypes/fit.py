# Polynomial fits for the design prototypes' fp32 approximations (log1p on [0, 1], exp2 on [-1/2, 1/2]).
import numpy as np


def relative_fit(x, y, deg, iters=300):
    """Coefficients (lowest degree first, rounded to fp32) of a degree-`deg` polynomial close to y in relative
    error: least squares reweighted towards minimax (Lawson's iterations)."""
    w = np.ones(len(x))
    for _ in range(iters):
        V = np.vander(x, deg + 1, increasing=True) / y[:, None]
        c, *_ = np.linalg.lstsq(V * np.sqrt(w)[:, None], np.sqrt(w), rcond=None)
        e = np.abs(V @ c - 1); w = w * e; w /= w.sum()
    return [float(np.float32(v)) for v in c]


def chebyshev_nodes(n, lo, hi):
    """n Chebyshev nodes on [lo, hi]: where a minimax fit's error peaks are resolved."""
    return lo + (hi - lo) * (np.cos(np.pi * (np.arange(n) + 0.5) / n) + 1) / 2
