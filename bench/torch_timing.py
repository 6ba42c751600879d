# The median time of a PyTorch callable, shared by the bench/*_torch.py
# baselines (each script's folder is on sys.path when run as a script).
import time

import torch


def time_ms(fn, reps=5):
    """Median milliseconds of `reps` calls after one warm-up call: CUDA events on a GPU, wall clock otherwise."""
    cuda = torch.cuda.is_available()
    fn()
    if cuda:
        torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        if cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); torch.cuda.synchronize()
            ts.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]
