"""Goldens for the authors' recipe (docs/method.md, "Two schedules"): iterations of
model.iteration_authors (trainer_LSD.py's one-forward schedule with PyTorch 0.2's Adam, their
labels for D and BGR images for D), and each of the four switches alone.

Parameters, masks and inputs follow the hash rule of gen_nets.py's docstring.

Files (float64 on the CPU):
  authors_small_b1  reduced config at 64x128, batch 1, masks on, one iteration of the authors'
                    recipe: loss_D, loss_G, loss_F, each update's gradients (grad.D.*, grad.G.*,
                    grad.F.*), the updated parameters (new.*).
  authors_switch    the same start and inputs, one iteration with one switch of the authors'
                    recipe at a time on the paper's others: <switch>.loss_*, <switch>.new.*
                    (switch = schedule, adam, d_labels, d_input).
  authors_small_b2  reduced config at 32x64, batch 2, masks on: three iterations in a row
                    (loss_* of shape [3], new.* after the third).
  authors_full      (not with LSD_GOLDEN_AUTHORS_FULL=0: tests/test_goldens.c makes it again
                    only with LSD_SLOW=1)
                    the paper's config at 32x64, batch 1, no dropout, one iteration of each
                    recipe (prefix authors. and paper.): the losses, and per trainable tensor
                    every 2003rd element of the updated parameters (new.*).
"""
import os

import torch

import model
from common import save
from gen_nets import SMALL, hash_masks, make_inputs, mask_shapes

SWITCHES = ("schedule", "adam", "d_labels", "d_input")


def fresh(cfg):
    F, G, D = model.build(cfg)
    model.init_hash(F, G, D)
    return F, G, D


def run(cfg, b, masks, recipe, iters, grads=None):
    """iters iterations of recipe from the hash-rule start: (losses, F, G, D)."""
    F, G, D = fresh(cfg)
    opts = model.make_optimizers(F, G, D, recipe)
    losses = [model.iteration(F, G, D, opts, b, masks, grads=grads, recipe=recipe)
              for _ in range(iters)]
    return losses, F, G, D


def put_losses(out, prefix, losses):
    for i, name in enumerate(("loss_D", "loss_G", "loss_F")):
        out[prefix + name] = torch.tensor([l[i] for l in losses])


def put_params(out, prefix, F, G, D):
    for k, v in model.named_params(F, G, D).items():
        if v.requires_grad:
            out[prefix + "new." + k] = v.detach().clone()


def small_case(outdir, device, N, H, W, iters, name):
    torch.set_default_dtype(torch.float64)
    F, G, D = fresh(SMALL)
    b = make_inputs(N, H, W, SMALL["n_class"])
    masks = hash_masks(mask_shapes(F, G, D, N, H, W, SMALL["fc"]))
    out = {}
    grads = {} if iters == 1 else None
    losses, F, G, D = run(SMALL, b, masks, model.AUTHORS, iters, grads)
    put_losses(out, "", losses)
    put_params(out, "", F, G, D)
    if iters == 1:
        for k, v in grads.items():
            out["grad." + k] = v
    save(os.path.join(outdir, name), out, device, N=N, H=H, W=W, iterations=iters,
         rule="gen_nets.py docstring", recipe="authors", **SMALL)
    if iters == 1:
        out = {}
        for sw in SWITCHES:
            recipe = dict(model.PAPER, **{sw: model.AUTHORS[sw]})
            losses, F, G, D = run(SMALL, b, masks, recipe, 1)
            put_losses(out, sw + ".", losses)
            put_params(out, sw + ".", F, G, D)
        save(os.path.join(outdir, "authors_switch.safetensors"), out, device, N=N, H=H, W=W,
             iterations=1, rule="gen_nets.py docstring", **SMALL)


def full_case(outdir, device):
    torch.set_default_dtype(torch.float64)
    cfg = model.DEFAULT
    N, H, W = 1, 32, 64
    b = make_inputs(N, H, W, cfg["n_class"])
    out = {}
    for tag, recipe in (("authors.", model.AUTHORS), ("paper.", model.PAPER)):
        losses, F, G, D = run(cfg, b, None, recipe, 1)
        put_losses(out, tag, losses)
        for k, v in model.named_params(F, G, D).items():
            if v.requires_grad:
                out[tag + "new." + k] = v.detach().reshape(-1)[::2003].clone()
        del F, G, D
    save(os.path.join(outdir, "authors_full.safetensors"), out, device, N=N, H=H, W=W,
         stride=2003, **cfg)


def generate(outdir, device):
    if device != "cpu":
        return  # float64 CPU only
    # gen.py runs the parts in one process in name order: leave the default dtype and the
    # global RNG as found, so that the later parts (gen_misc's float32 draws) are unchanged
    dtype = torch.get_default_dtype()
    try:
        with torch.random.fork_rng():
            small_case(outdir, device, 1, 64, 128, 1, "authors_small_b1.safetensors")
            small_case(outdir, device, 2, 32, 64, 3, "authors_small_b2.safetensors")
            if (os.environ.get("LSD_GOLDEN_FULL", "1") != "0" and
                    os.environ.get("LSD_GOLDEN_AUTHORS_FULL", "1") != "0"):
                full_case(outdir, device)
    finally:
        torch.set_default_dtype(dtype)
