"""Goldens for gan/: the four networks' forward passes and full LSD-seg iterations.

Everything is generated from deterministic rules that gan/params.c and gan/lsd.c
implement too, so the files hold only results:
  parameters   model.init_hash (hash of the prefixed name and element index)
  masks        "masks.<layer>.<kind>": 0 where hash_uniform("masks.<name>", i) < 0, else 2
  inputs       xs = 100 u("input.xs"), xt = 100 u("input.xt"), xs_forD = (1 + u("input.xs_forD"))/2,
               xt_forD likewise, ys = floor((1 + u("input.ys"))/2 * (n+1)), value n -> 255,
               with u = hash_uniform over the tensor's elements in row-major order.

Files (float64 on the CPU):
  nets_small_b1   reduced config at 64x128, batch 1, masks on: forward intermediates
                  (fwd.* but gen_t), one iteration: loss_D, loss_G, loss_F, each step's gradients
                  (grad.D.* from step 1, grad.G.* step 2, grad.F.* step 3), updated
                  parameters (new.*).
  nets_small_b2   reduced config at 32x64, batch 2, masks on: three iterations in a row
                  (loss_D etc. of shape [3], new.* after the third), then one source-only
                  iteration from the initial parameters (so.loss, so.new.F.score_fr.*,
                  so.new.F.conv1_1.*, so.new.F.fc7.*).
  nets_full_fwd   the paper's config at 32x64, batch 1, no dropout: fwd.score, fwd.fc7,
                  fwd.gen_s, fwd.d_s_real, fwd.d_c_real in full; pool4 and pool3 as sums
                  (sum.*, abssum.*) and every 97th element (sample.*); abssum.<param> for
                  every parameter so the rule can be checked.
"""
import os

import numpy as np
import torch

import model
from common import save

SMALL = dict(vgg=2, fc=16, ngf=2, ndf=4, n_class=5)


def hash_tensor(name, shape):
    return torch.from_numpy(model.hash_uniform(name, int(np.prod(shape))).reshape(shape))


def make_inputs(N, H, W, n_class):
    b = {"xs": 100 * hash_tensor("input.xs", (N, 3, H, W)),
         "xt": 100 * hash_tensor("input.xt", (N, 3, H, W)),
         "xs_forD": (1 + hash_tensor("input.xs_forD", (N, 3, H, W))) / 2,
         "xt_forD": (1 + hash_tensor("input.xt_forD", (N, 3, H, W))) / 2}
    y = torch.floor((1 + hash_tensor("input.ys", (N, H, W))) / 2 * (n_class + 1)).long()
    y[y == n_class] = 255
    b["ys"] = y
    return b


def mask_shapes(F, G, D, N, H, W, fc):
    """Every mask name and shape, found by running the networks once with hooks."""
    shapes = {}
    for kind in ("src", "tgt"):
        shapes["F.fc6." + kind] = (N, fc)
        shapes["F.fc7." + kind] = (N, fc)
    x = torch.zeros(N, 3, H, W)
    with torch.no_grad():
        f = F.features(x)
        rec = {}

        def hook(name):
            return lambda m, i, o: rec.__setitem__(name, tuple(o.shape))
        hs = []
        for st in ("stage1_upsample", "stage2_upsample", "stage3_upsample"):
            for i, m in enumerate(getattr(G, st)):
                if isinstance(m, model.ResnetBlock):
                    hs.append(m.register_forward_hook(hook("G.%s.%d" % (st, i))))
        for i, m in enumerate(D.feature):
            if isinstance(m, model.ResnetBlock):
                hs.append(m.register_forward_hook(hook("D.feature.%d" % i)))
        D(G(*f))
        for h in hs:
            h.remove()
    for k, s in rec.items():
        kinds = ("src", "tgt") if k.startswith("G.") else ("src_real", "src_fake", "tgt_real",
                                                            "tgt_fake")
        for kind in kinds:
            shapes[k + "." + kind] = s
    return shapes


def hash_masks(shapes):
    return {k: (hash_tensor("masks." + k, s) >= 0).double() * 2 for k, s in shapes.items()}


def forward_all(F, G, D, b, masks):
    H, W = b["xs"].shape[2], b["xs"].shape[3]
    with torch.no_grad():
        fs = F.features(b["xs"], masks, "src")
        ft = F.features(b["xt"], masks, "tgt")
        score = F.classify(*fs, H, W)
        gs = G(*fs, masks=masks, kind="src")
        gt = G(*ft, masks=masks, kind="tgt")
        ds, dc = D(b["xs_forD"], masks, "src_real")
    return {"fwd.score": score, "fwd.fc7": fs[0], "fwd.pool4": fs[1], "fwd.pool3": fs[2],
            "fwd.gen_s": gs, "fwd.gen_t": gt, "fwd.d_s_real": ds, "fwd.d_c_real": dc}


def small_case(outdir, device, N, H, W, iters, name):
    torch.set_default_dtype(torch.float64)
    F, G, D = model.build(SMALL)
    model.init_hash(F, G, D)
    b = make_inputs(N, H, W, SMALL["n_class"])
    masks = hash_masks(mask_shapes(F, G, D, N, H, W, SMALL["fc"]))
    out = {}
    if iters == 1:
        out.update(forward_all(F, G, D, b, masks))
        del out["fwd.gen_t"]  # G on the target is covered by the iteration's losses
    init = {k: v.detach().clone() for k, v in model.named_params(F, G, D).items()}
    opts = model.make_optimizers(F, G, D)
    losses = []
    grads = {}
    for _ in range(iters):
        losses.append(model.iteration(F, G, D, opts, b, masks, grads=grads))
    out["loss_D"] = torch.tensor([l[0] for l in losses])
    out["loss_G"] = torch.tensor([l[1] for l in losses])
    out["loss_F"] = torch.tensor([l[2] for l in losses])
    for k, v in model.named_params(F, G, D).items():
        if v.requires_grad:
            out["new." + k] = v.detach()
    if iters == 1:
        for k, v in grads.items():
            out["grad." + k] = v
    else:
        # source-only from the initial parameters
        F2, _, _ = model.build(SMALL)
        with torch.no_grad():
            for k, v in F2.named_parameters():
                v.copy_(init["F." + k])
        optF = model.make_optimizers(F2, G, D)[0]
        out["so.loss"] = torch.tensor([model.iteration_source_only(F2, optF, b, masks)])
        for k in ("score_fr.weight", "score_fr.bias", "conv1_1.weight", "conv1_1.bias",
                  "fc7.weight", "fc7.bias"):
            out["so.new.F." + k] = dict(F2.named_parameters())[k].detach()
    save(os.path.join(outdir, name), out, device, N=N, H=H, W=W, iterations=iters,
         rule="gen_nets.py docstring", **SMALL)


def full_case(outdir, device):
    torch.set_default_dtype(torch.float64)
    cfg = model.DEFAULT
    F, G, D = model.build(cfg)
    model.init_hash(F, G, D)
    N, H, W = 1, 32, 64
    b = make_inputs(N, H, W, cfg["n_class"])
    fw = forward_all(F, G, D, b, None)
    out = {}
    for k in ("fwd.score", "fwd.fc7", "fwd.gen_s", "fwd.d_s_real", "fwd.d_c_real"):
        out[k] = fw[k]
    for k in ("fwd.pool4", "fwd.pool3"):
        v = fw[k].reshape(-1)
        out["sum." + k] = v.sum().reshape(1)
        out["abssum." + k] = v.abs().sum().reshape(1)
        out["sample." + k] = v[::97].clone()
    for k, v in model.named_params(F, G, D).items():
        out["abssum." + k] = v.detach().abs().sum().reshape(1)
    save(os.path.join(outdir, "nets_full_fwd.safetensors"), out, device, N=N, H=H, W=W, **cfg)


def generate(outdir, device):
    if device != "cpu":
        return  # the nets goldens are float64 CPU only
    small_case(outdir, device, 1, 64, 128, 1, "nets_small_b1.safetensors")
    small_case(outdir, device, 2, 32, 64, 3, "nets_small_b2.safetensors")
    if os.environ.get("LSD_GOLDEN_FULL", "1") != "0":
        full_case(outdir, device)
