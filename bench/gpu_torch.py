#!/usr/bin/env python3
"""PyTorch on CUDA: the rows of bench/bench_opencl.c, measured side by side with it.

  gemm      torch.mm GFLOP/s at 1024^3 and 4096^3 (float32)
  conv_fwd  a 3x3 convolution forward, 64 -> 64 channels at 160x320, GFLOP/s
            (each timed run of the 1024^3 gemm and of the convolution does 10 of them, as
            bench_opencl does on a GPU)
  nets      ms per LSD-seg training iteration (golden/model.py's `iteration`: D, G, F+C
            updates with Adam; dropout masks drawn on the GPU inside each iteration), per
            source-only iteration (`iteration_source_only`) and per inference (the image
            copied from the host, C(F(x)) under no_grad, the scores copied back to the host,
            as cl_lsd_infer does), batch 1, for the reduced configuration (vgg 16, fc 256,
            ngf 16, ndf 16, 19 classes) at 64x128 and the paper's networks at 320x640
            (inference also at 1024x2048). The training batch is copied from the host in
            each iteration, as cl_lsd_step uploads it.

Every row twice: impl `pytorch-cuda` (float32, TF32 off for matmul and cuDNN) and
`pytorch-cuda-tf32` (TF32 on for both). cuDNN's other settings are PyTorch's defaults
(benchmark off). Rows are "bench,case,dev,impl,value,unit", the same bench and case names
as bench_opencl.c, so bench/run.sh shows them in the same table row. Each value is the best of
the timed runs, each ended by torch.cuda.synchronize(), after warm-up runs (gemm/conv: 2
warm-ups, best of up to 20 runs; reduced: 2 warm-ups, up to 10 runs or 2 s; full:
LSD_BENCH_FULL_WARM warm-ups, default 2, then up to LSD_BENCH_FULL_REPS runs, default 5,
or 10 s; at least 2 runs); the median goes to stderr.

Environment: LSD_BENCH_FULL=0 or LSD_BENCH_QUICK=1 skip the 4096^3 gemm and the full-size
rows; LSD_BENCH_FULL_WARM, LSD_BENCH_FULL_REPS as above; LSD_GPU_TORCH_DEVICE=cpu runs the
same code on the CPU (impl `pytorch-cpu`, no TF32 rows; for checking this script on a
machine without a GPU). Usage: gpu_torch.py [substring-of-case-names]. Without PyTorch or
without CUDA: a note on stderr, no rows, exit 0.
"""
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as Fn
except ImportError:
    sys.stderr.write("gpu_torch.py: PyTorch is not installed; pytorch-cuda rows skipped\n")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from torch_util import REDUCED, draw_masks, env_int, inputs, mask_shapes, model  # noqa: E402
from torch_util import build as build_cpu  # noqa: E402


def ce_const(scores, label):
    """model.ce_const with the target on the scores' device."""
    t = torch.full((scores.shape[0], scores.shape[2], scores.shape[3]), label, dtype=torch.long,
                   device=scores.device)
    return Fn.cross_entropy(scores, t, reduction="sum")


model.ce_const = ce_const  # iteration() looks it up at call time


def set_tf32(on):
    """TF32 for matmul and cuDNN convolutions: the fp32_precision settings of PyTorch >= 2.9,
    else the older allow_tf32 flags. Returns a description of what is in force."""
    prec = "tf32" if on else "ieee"
    try:
        torch.backends.cuda.matmul.fp32_precision = prec
        torch.backends.cudnn.conv.fp32_precision = prec
        return "matmul.fp32_precision=%s cudnn.conv.fp32_precision=%s" % (
            torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    except Exception:  # noqa: BLE001  older PyTorch: AssertionError or AttributeError
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
        return "matmul.allow_tf32=%s cudnn.allow_tf32=%s" % (
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


class Timer:
    def __init__(self, dev):
        self.dev = dev

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def run(self, fn, warm, maxrep, budget, minrep=2):
        """Sorted seconds of the timed runs of fn."""
        for _ in range(warm):
            fn()
        self.sync()
        times, total = [], 0.0
        while len(times) < maxrep and (len(times) < minrep or total < budget):
            t0 = time.perf_counter()
            fn()
            self.sync()
            dt = time.perf_counter() - t0
            times.append(dt)
            total += dt
        return sorted(times)


def row(bench, case, impl, value, unit):
    print("%s,%s,dev,%s,%.2f,%s" % (bench, case, impl, value, unit), flush=True)


def bench_kernels(dev, impl, timer, filt, full):
    sizes = [1024] + ([4096] if full else [])
    for n in sizes:
        case = "%dx%dx%d" % (n, n, n)
        if filt and filt not in "gemm," + case:
            continue
        g = torch.Generator(device="cpu").manual_seed(0)
        a = (torch.rand(n, n, generator=g) * 2 - 1).to(dev)
        b = (torch.rand(n, n, generator=g) * 2 - 1).to(dev)
        c = torch.empty(n, n, device=dev)
        inner = 10 if n <= 1024 else 1  # as bench_opencl on a GPU

        def mm():
            for _ in range(inner):
                torch.mm(a, b, out=c)

        t = timer.run(mm, 2, 20, 1e9)
        row("gemm", case, impl, 2.0 * n ** 3 * inner / t[0] * 1e-9, "GFLOP/s")
        del a, b, c
    case = "3x3 64-64 160x320"
    if not filt or filt in "conv_fwd," + case:
        x = torch.full((1, 64, 160, 320), 0.5, device=dev)
        w = torch.full((64, 64, 3, 3), 0.25, device=dev)
        def conv():
            for _ in range(10):
                Fn.conv2d(x, w, padding=1)

        t = timer.run(conv, 2, 20, 1e9)
        row("conv_fwd", case, impl, 2.0 * 64 * 160 * 320 * 64 * 9 * 10 / t[0] * 1e-9, "GFLOP/s")


def build(cfg, dev):
    F, G, D = build_cpu(cfg)
    F, G, D = F.to(dev), G.to(dev), D.to(dev)
    return F, G, D, model.make_optimizers(F, G, D)


def bench_config(dev, impl, timer, suffix, cfg, cases, full, filt):
    names = ["%s-%dx%d-%s" % (p, H, W, suffix) for p, H, W in cases]
    if not any(not filt or filt in n for n in names):
        return
    F, G, D, opts = build(cfg, dev)
    warm = env_int("LSD_BENCH_FULL_WARM", 2) if full else 2
    maxrep = env_int("LSD_BENCH_FULL_REPS", 5) if full else 10
    budget = 10.0 if full else 2.0
    shapes_at = {}
    for (prefix, H, W), name in zip(cases, names):
        if filt and filt not in name:
            continue
        hb = inputs(H, W, cfg["n_class"])
        if prefix != "infer" and (H, W) not in shapes_at:
            shapes_at[(H, W)] = mask_shapes(F, G, D, {k: v.to(dev) for k, v in hb.items()})
        shapes = shapes_at.get((H, W))

        def upload():
            return {k: v.to(dev, non_blocking=False) for k, v in hb.items()}

        def lsd():
            model.iteration(F, G, D, opts, upload(), draw_masks(shapes, dev))

        def source_only():
            b = {k: v.to(dev) for k, v in hb.items() if k in ("xs", "ys")}
            masks = draw_masks({k: s for k, s in shapes.items()
                                if k.startswith("F.") and k.endswith(".src")}, dev)
            model.iteration_source_only(F, opts[0], b, masks)

        def infer():
            with torch.no_grad():
                x = hb["xs"].to(dev)
                F.classify(*F.features(x, None, "src"), H, W).cpu()

        fn = dict(zip(("lsd-iter", "sourceonly-iter", "infer"), (lsd, source_only, infer)))[prefix]
        try:
            t = timer.run(fn, warm, maxrep, budget)
        except RuntimeError as e:  # out of memory and the like: skip the row
            sys.stderr.write("gpu_torch.py: %s %s failed: %s\n" % (impl, name, str(e)[:300]))
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            continue
        row("nets", name, impl, t[0] * 1e3, "ms")
        sys.stderr.write("gpu_torch.py: %s %s: best %.2f ms, median %.2f ms of %d runs\n"
                         % (impl, name, t[0] * 1e3, t[len(t) // 2] * 1e3, len(t)))
    del F, G, D, opts
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else None
    want = os.environ.get("LSD_GPU_TORCH_DEVICE", "cuda")
    if want == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("gpu_torch.py: no CUDA device (PyTorch %s); pytorch-cuda rows skipped\n"
                         % torch.__version__)
        return
    dev = torch.device(want)
    full = not (env_int("LSD_BENCH_QUICK", 0) or not env_int("LSD_BENCH_FULL", 1))
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        sys.stderr.write("gpu_torch.py: PyTorch %s, CUDA %s, cuDNN %s, %s, %.1f GB\n"
                         % (torch.__version__, torch.version.cuda,
                            torch.backends.cudnn.version(), p.name, p.total_memory / 1e9))
        if full and p.total_memory < 16e9:
            sys.stderr.write("gpu_torch.py: full-size rows skipped: %.1f GB on the device, "
                             "~16 GB needed\n" % (p.total_memory / 1e9))
            full = False
        variants = [(False, "pytorch-cuda"), (True, "pytorch-cuda-tf32")]
    else:
        sys.stderr.write("gpu_torch.py: PyTorch %s on %s (a check of this script)\n"
                         % (torch.__version__, dev))
        variants = [(None, "pytorch-" + dev.type)]
    if not full:
        sys.stderr.write("gpu_torch.py: 4096^3 gemm and full-size rows skipped\n")
    timer = Timer(dev)
    for tf32, impl in variants:
        if tf32 is not None:
            sys.stderr.write("gpu_torch.py: %s: %s\n" % (impl, set_tf32(tf32)))
        bench_kernels(dev, impl, timer, filt, full)
        bench_config(dev, impl, timer, "reduced", REDUCED,
                     [("lsd-iter", 64, 128), ("sourceonly-iter", 64, 128), ("infer", 64, 128)],
                     False, filt)
        if full:
            bench_config(dev, impl, timer, "full", dict(model.DEFAULT),
                         [("lsd-iter", 320, 640), ("sourceonly-iter", 320, 640),
                          ("infer", 320, 640), ("infer", 1024, 2048)], True, filt)
    if dev.type == "cuda":
        set_tf32(False)


if __name__ == "__main__":
    main()
