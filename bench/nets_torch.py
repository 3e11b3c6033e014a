#!/usr/bin/env python3
"""PyTorch CPU (float32) timings of the rows of bench/bench_nets.c: one LSD iteration
(golden/model.py's `iteration`: D, G, F+C updates with Adam), one source-only iteration
(`iteration_source_only`) and one inference (C(F(x)) under no_grad), batch 1, with 1 and 2
threads (torch.set_num_threads, and OpenBLAS's own pool likewise: bench/lib/torch_threads.py),
for the reduced configuration at 64x128, `lsdseg demo`'s networks at 64x128 (with the demo's
learning rates and adversarial weight) and the paper's networks at 320x640. Dropout is on: the
masks (Dropout2d for F.fc6/fc7, element dropout in every residual block of G and D, p = 0.5) are
drawn anew inside each timed iteration, as lsd_step does. Prints CSV rows
"nets,<case>,<threads>,pytorch,<ms>,ms" (best of the timed runs after warm-up runs, the same
counts as bench_nets.c).

Environment as bench_nets.c: LSD_BENCH_QUICK=1 or LSD_BENCH_FULL=0 skip the full size,
LSD_BENCH_THREADS (default "1,2"), LSD_BENCH_FULL_WARM (default 1), LSD_BENCH_FULL_REPS
(default 1).
Usage: nets_torch.py [substring-of-case-names]. Without torch: a note on stderr, exit 0.
"""
import os
import sys
import time

try:
    import torch
except ImportError:
    sys.stderr.write("nets_torch.py: PyTorch is not installed; pytorch rows skipped\n")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from torch_threads import blas_threads_warning, set_threads  # noqa: E402
from torch_util import (DEMO, DEMO_STEP, REDUCED, build, draw_masks, env_int,  # noqa: E402
                        inputs, mask_shapes, model, set_learning_rates)


def mem_available():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def bench_config(suffix, cfg, H, W, full, filt, threads, step=None):
    """The rows of one configuration; step: learning rates and loss weights (DEMO_STEP's keys),
    None for golden/model.py's defaults (the authors')."""
    if filt and not any(filt in "%s-%s" % (p, suffix)
                        for p in ("lsd-iter", "sourceonly-iter", "infer")):
        return
    F, G, D = build(cfg)
    opts = model.make_optimizers(F, G, D)
    weights = {}
    if step:
        set_learning_rates(opts, step["lr_f"], step["lr_gd"])
        weights = dict(advw=step["advw"], cw=step["cw"], l1w=step["l1w"])
    b = inputs(H, W, cfg["n_class"])
    shapes = mask_shapes(F, G, D, b)
    warm = env_int("LSD_BENCH_FULL_WARM", 1) if full else 2
    maxrep = env_int("LSD_BENCH_FULL_REPS", 1) if full else 10
    budget = 1e9 if full else 3.0

    def lsd():
        model.iteration(F, G, D, opts, b, draw_masks(shapes), **weights)

    def source_only():
        masks = {k: v for k, v in draw_masks(
            {k: s for k, s in shapes.items() if k.startswith("F.") and k.endswith(".src")}).items()}
        model.iteration_source_only(F, opts[0], b, masks)

    def infer():
        with torch.no_grad():
            F.classify(*F.features(b["xs"], None, "src"), H, W)

    for prefix, fn in (("lsd-iter", lsd), ("sourceonly-iter", source_only), ("infer", infer)):
        name = "%s-%s" % (prefix, suffix)
        if filt and filt not in name:
            continue
        for t in threads:
            set_threads(t)
            for _ in range(warm):
                fn()
            best, total, rep = None, 0.0, 0
            while rep < maxrep and (rep < 2 or total < budget):
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                total += dt
                best = dt if best is None else min(best, dt)
                rep += 1
            print("nets,%s,%d,pytorch,%.1f,ms" % (name, t, best * 1e3), flush=True)


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else None
    threads = [int(v) for v in os.environ.get("LSD_BENCH_THREADS", "1,2").split(",") if v]
    warning = blas_threads_warning()
    if warning:
        sys.stderr.write(warning + "\n")
    bench_config("64x128-reduced", REDUCED, 64, 128, False, filt, threads)
    bench_config("64x128-demo", DEMO, 64, 128, False, filt, threads, DEMO_STEP)
    if env_int("LSD_BENCH_QUICK", 0) or not env_int("LSD_BENCH_FULL", 1):
        sys.stderr.write("nets_torch.py: full-size rows skipped (LSD_BENCH_QUICK / LSD_BENCH_FULL)\n")
        return
    if filt and not any(filt in "%s-320x640-full" % p
                        for p in ("lsd-iter", "sourceonly-iter", "infer")):
        return
    avail = mem_available()
    if avail is not None and avail < 12e9:
        sys.stderr.write("nets_torch.py: full-size rows skipped: %.1f GB available, ~12 GB needed\n"
                         % (avail / 1e9))
        return
    bench_config("320x640-full", dict(model.DEFAULT), 320, 640, True, filt, threads)


if __name__ == "__main__":
    main()
