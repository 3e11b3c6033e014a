"""Helpers shared by bench/nets_torch.py and bench/gpu_torch.py: the reduced and demo
configurations, an integer from the environment, the networks with bench_nets.c's initialisation, the batch
inputs and the dropout masks. A module, not a benchmark: bench/run.sh runs only bench/*.py,
and running this file does nothing. The caller imports torch first (and skips without it)."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "golden"))
import model  # noqa: E402  golden/model.py

REDUCED = dict(vgg=16, fc=256, ngf=16, ndf=16, n_class=19)
# `lsdseg demo`'s networks (ref/cmd_demo.c: --width 4,32,4,8, 8 synthetic classes) and its step
# options: F's Adam 2e-4 (biases 2x), G and D's 2e-4, adversarial weight 2, c 0.1, l1 1
DEMO = dict(vgg=4, fc=32, ngf=4, ndf=8, n_class=8)
DEMO_STEP = dict(lr_f=2e-4, lr_gd=2e-4, advw=2.0, cw=0.1, l1w=1.0)


def set_learning_rates(opts, lr_f, lr_gd):
    """Sets make_optimizers' rates: F's weights lr_f, biases 2 lr_f, G's and D's lr_gd."""
    optF, optG, optD = opts
    optF.param_groups[0]["lr"], optF.param_groups[1]["lr"] = lr_f, 2 * lr_f
    for o in (optG, optD):
        for g in o.param_groups:
            g["lr"] = lr_gd


def env_int(name, dflt):
    v = os.environ.get(name, "")
    return int(v) if v else dflt


def build(cfg):
    """F, G, D of cfg on the CPU: He-normal F, N(0, 0.02) G and D, bilinear upsampling (as
    lsd_model_init), then F's biases from N(0, 0.1) (as bench_nets.c), after
    torch.manual_seed(1)."""
    torch.manual_seed(1)
    F, G, D = model.build(cfg)
    with torch.no_grad():
        for name, p in model.named_params(F, G, D).items():
            if name.startswith("F.upscore"):
                p.copy_(model.bilinear_weight(p.shape[0], p.shape[2]))
            elif p.dim() == 4 and name.startswith("F."):
                p.normal_(0, (2.0 / (p.shape[1] * p.shape[2] * p.shape[3])) ** 0.5)
            elif p.dim() == 4:
                p.normal_(0, 0.02)
            elif name.startswith("F.conv") or name.startswith("F.fc"):
                p.normal_(0, 0.1)  # biases as VGG16's are: nonzero (bench_nets.c's pretrained_biases)
            elif name.startswith("F."):
                p.zero_()
            else:
                p.uniform_(-0.01, 0.01)
    return F, G, D


def mask_shapes(F, G, D, b):
    """Every mask name of one iteration with the shape of the activation it multiplies, found
    by running the forward passes once with a recording apply_mask."""
    shapes = {}
    orig = model.apply_mask

    def record(x, masks, key):
        shapes[key] = tuple(x.shape[:2]) if key.startswith("F.") else tuple(x.shape)
        return x

    model.apply_mask = record
    try:
        with torch.no_grad():
            for kind, x in (("src", b["xs"]), ("tgt", b["xt"])):
                f = F.features(x, {}, kind)
                G(*f, masks={}, kind=kind)
            for kind in ("src_real", "src_fake", "tgt_real", "tgt_fake"):
                D(b["xs_forD"], {}, kind)
    finally:
        model.apply_mask = orig
    return shapes


def draw_masks(shapes, dev=None):
    """Dropout p = 0.5 on device dev (None: the default device): 0 or 2 for every mask."""
    return {k: torch.bernoulli(torch.full(s, 0.5, device=dev)) * 2 for k, s in shapes.items()}


def inputs(H, W, n_class):
    """One batch (N = 1) on the CPU: images of realistic magnitude (BGR minus mean in
    [-110, 145], RGB in [0, 1]), labels 0..n_class-1 with 5% ignored (255)."""
    g = torch.Generator().manual_seed(0)
    xs01 = torch.rand(1, 3, H, W, generator=g)
    xt01 = torch.rand(1, 3, H, W, generator=g)
    ys = torch.randint(0, n_class, (1, H, W), generator=g)
    ys[torch.rand(1, H, W, generator=g) < 0.05] = 255
    return dict(xs=xs01 * 255 - 110, xt=xt01 * 255 - 110, xs_forD=xs01, xt_forD=xt01, ys=ys)
