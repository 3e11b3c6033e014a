#!/usr/bin/env python3
"""PyTorch CPU timings of the cases of bench/bench_layers.c (the same shapes,
forward + backward, float32, batch 1, 1 and 2 threads, best of up to 3 runs; the thread count
set for OpenBLAS too: bench/lib/torch_threads.py).
Prints CSV rows "layer,<case>,<threads>,pytorch,<ms>,ms".
Usage: layers_torch.py [substring-of-case-names]
"""
import os
import re
import sys
import time

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from torch_threads import blas_threads_warning, set_threads  # noqa: E402

CASE_RE = re.compile(r'\{"([^"]+)", (CONV|CONVT|POOL), ([-0-9, ]+)\}')


def cases():
    """The case table, read from bench_layers.c so that the two never disagree."""
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_layers.c")).read()
    for m in CASE_RE.finditer(src):
        vals = [int(v) for v in m.group(3).split(",")]
        yield (m.group(1), m.group(2)) + tuple(vals)


def run(case):
    name, kind, C, OC, H, W, K, s, p, bias, need_din, ceil = case
    x = torch.rand(1, C, H, W) * 2 - 1
    x.requires_grad_(bool(need_din))
    if kind == "POOL":
        params = []
    else:
        wshape = (OC, C, K, K) if kind == "CONV" else (C, OC, K, K)
        w = (torch.rand(*wshape) * 2 - 1).requires_grad_(True)
        b = (torch.rand(OC) * 2 - 1).requires_grad_(True) if bias else None
        params = [w] + ([b] if bias else [])
    if kind == "POOL":
        oh, ow = ((H + 1) // 2, (W + 1) // 2) if ceil else (H // 2, W // 2)
    elif kind == "CONV":
        oh, ow = (H + 2 * p - K) // s + 1, (W + 2 * p - K) // s + 1
    else:
        oh, ow = (H - 1) * s - 2 * p + K, (W - 1) * s - 2 * p + K
    dy = torch.rand(1, OC, oh, ow) * 2 - 1
    best, total, rep = None, 0.0, 0
    while rep < 3 and total < 1.0:
        for t in params + [x]:
            t.grad = None
        t0 = time.perf_counter()
        if kind == "POOL":
            y = Fn.max_pool2d(x, 2, 2, ceil_mode=bool(ceil))
        elif kind == "CONV":
            y = Fn.conv2d(x, w, b, stride=s, padding=p)
        else:
            y = Fn.conv_transpose2d(x, w, b, stride=s, padding=p)
        y.backward(dy)
        t = time.perf_counter() - t0
        total += t
        best = t if best is None else min(best, t)
        rep += 1
    return best * 1e3


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else None
    warning = blas_threads_warning()
    if warning:
        sys.stderr.write(warning + "\n")
    torch.manual_seed(0)
    for case in cases():
        if filt and filt not in case[0]:
            continue
        for threads in (1, 2):
            set_threads(threads)
            print("layer,%s,%d,pytorch,%.3f,ms" % (case[0], threads, run(case)), flush=True)


if __name__ == "__main__":
    main()
