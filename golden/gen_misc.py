"""Goldens for the element-wise layers, instance norm, dropout, losses and optimisers.

Writes activation, norm, dropout, loss and optim .safetensors into outdir. Every case is
computed by PyTorch itself (forward by the torch.nn module or functional, gradients by
autograd with a random upstream gradient); the C tests (tests/test_<name>.c) compare.
"""
import os

import torch
import torch.nn.functional as F

from common import dtype_for, save


def _grads(fn, inputs, dout):
    """Runs out = fn(*inputs) and returns (out, [d(sum(out*dout))/d(input) ...])."""
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    out.backward(dout)
    return out.detach(), [x.grad.detach() for x in xs]


def gen_activation(outdir, device, dt):
    g = torch.Generator().manual_seed(101)
    t = {}
    shapes = [(1, 8, 5, 7), (2, 3, 4, 6)]
    acts = [("relu", torch.relu), ("leaky", lambda x: F.leaky_relu(x, 0.2)),
            ("sigmoid", torch.sigmoid)]
    for name, fn in acts:
        for k, shape in enumerate(shapes):
            x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
            flat = x.view(-1)
            flat[::9] = 0.0                       # the kink: PyTorch's convention at 0
            if name == "sigmoid":
                flat[1], flat[2], flat[3], flat[4] = 40.0, -40.0, 800.0, -800.0
            dout = torch.randn(shape, generator=g, dtype=torch.float64)
            x, dout = x.to(device, dt), dout.to(device, dt)
            out, (dx,) = _grads(fn, [x], dout)
            p = "%s.%d." % (name, k)
            t.update({p + "x": x, p + "out": out, p + "dout": dout, p + "dx": dx})
    save(os.path.join(outdir, "activation.safetensors"), t, device, slope="0.2")


def gen_norm(outdir, device, dt):
    g = torch.Generator().manual_seed(202)
    t = {}
    # reduced-channel versions of G's and D's instance-norm inputs, odd sizes included
    shapes = [(1, 8, 10, 20), (2, 6, 5, 7), (1, 4, 2, 2), (1, 5, 3, 1), (2, 3, 9, 11)]
    hw1 = "ok"
    try:
        torch.nn.InstanceNorm2d(2)(torch.randn(1, 2, 1, 1, dtype=torch.float64))
    except Exception as e:  # PyTorch refuses one spatial element in training
        hw1 = "error: " + str(e).splitlines()[0]
    for k, shape in enumerate(shapes):
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 5 * (k % 2)
        dout = torch.randn(shape, generator=g, dtype=torch.float64)
        x, dout = x.to(device, dt), dout.to(device, dt)
        m = torch.nn.InstanceNorm2d(shape[1], eps=1e-5, affine=False, track_running_stats=False)
        m.train()
        out, (dx,) = _grads(m, [x], dout)
        mean = x.mean(dim=(2, 3))
        rstd = 1.0 / torch.sqrt(x.var(dim=(2, 3), unbiased=False) + 1e-5)
        p = "in.%d." % k
        t.update({p + "x": x, p + "out": out, p + "dout": dout, p + "dx": dx,
                  p + "mean": mean, p + "rstd": rstd})
    save(os.path.join(outdir, "norm.safetensors"), t, device, eps="1e-5", hw1=hw1,
         cases=len(shapes))


def gen_dropout(outdir, device, dt):
    """Masks come from PyTorch's own F.dropout / F.dropout2d (training), recovered from
    the output, so the stored mask has PyTorch's semantics (0 or 1/(1-p))."""
    t = {}
    p_drop = 0.5
    cases = [("drop", F.dropout, (1, 8, 5, 7)), ("drop", F.dropout, (2, 3, 4, 6)),
             ("drop2d", F.dropout2d, (1, 16, 3, 5)), ("drop2d", F.dropout2d, (2, 8, 2, 3))]
    g = torch.Generator().manual_seed(303)
    for k, (kind, fn, shape) in enumerate(cases):
        x = torch.rand(shape, generator=g, dtype=torch.float64) + 0.5   # never 0
        dout = torch.randn(shape, generator=g, dtype=torch.float64)
        x, dout = x.to(device, dt), dout.to(device, dt)
        torch.manual_seed(1000 + k)
        out, (dx,) = _grads(lambda a: fn(a, p_drop, True), [x], dout)
        mask = torch.where(out != 0, torch.full_like(out, 1.0 / (1.0 - p_drop)),
                           torch.zeros_like(out))
        assert torch.equal(out, x * mask)
        if kind == "drop2d":
            mask = mask[:, :, 0, 0]
        p = "%s.%d." % (kind, k)
        t.update({p + "x": x, p + "mask": mask, p + "dout": dout, p + "out": out, p + "dx": dx})
    save(os.path.join(outdir, "dropout.safetensors"), t, device, p=str(p_drop))


def gen_loss(outdir, device, dt):
    g = torch.Generator().manual_seed(404)
    t = {}
    # (N, C, H, W, logit scale, fraction ignored): D's 4-way head, C's n-way output
    ce = [(1, 4, 5, 7, 2.0, 0.2), (2, 5, 3, 4, 2.0, 0.3), (1, 19, 4, 6, 3.0, 0.1),
          (2, 4, 6, 5, 30.0, 0.2), (1, 16, 3, 3, 1.0, 0.0)]
    for k, (n, c, h, w, sc, fi) in enumerate(ce):
        logits = (torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * sc).to(device, dt)
        labels = torch.randint(0, c, (n, h, w), generator=g)
        labels[torch.rand(n, h, w, generator=g) < fi] = 255
        lab = labels.to(device)
        p = "ce.%d." % k
        t[p + "logits"] = logits
        t[p + "labels"] = labels.to(torch.uint8)
        for red in ("sum", "mean"):
            x = logits.detach().clone().requires_grad_(True)
            loss = F.cross_entropy(x, lab, ignore_index=255, reduction=red)
            loss.backward()
            t[p + "loss_" + red] = loss.detach().reshape(1)
            t[p + "dlogits_" + red] = x.grad.detach()
    # constant target (D's domain labels), reduction sum
    cec = [(2, 4, 3, 5, 2, 2.0), (1, 4, 4, 4, 0, 20.0), (1, 4, 1, 7, 3, 1.0)]
    for k, (n, c, h, w, label, sc) in enumerate(cec):
        logits = (torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * sc).to(device, dt)
        x = logits.detach().clone().requires_grad_(True)
        target = torch.full((n, h, w), label, dtype=torch.long, device=device)
        loss = F.cross_entropy(x, target, reduction="sum")
        loss.backward()
        p = "cec.%d." % k
        t.update({p + "logits": logits, p + "label": torch.tensor([label], dtype=torch.int64),
                  p + "loss": loss.detach().reshape(1), p + "dlogits": x.grad.detach()})
    # L1 (mean), with x == target at some elements (gradient 0 there)
    for k, shape in enumerate([(1, 3, 6, 5), (2, 3, 4, 7)]):
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        target = torch.rand(shape, generator=g, dtype=torch.float64)
        same = torch.rand(shape, generator=g) < 0.2
        target[same] = x[same]
        x, target = x.to(device, dt), target.to(device, dt)
        xg = x.detach().clone().requires_grad_(True)
        loss = F.l1_loss(xg, target, reduction="mean")
        loss.backward()
        p = "l1.%d." % k
        t.update({p + "x": x, p + "target": target, p + "loss": loss.detach().reshape(1),
                  p + "dx": xg.grad.detach()})
    save(os.path.join(outdir, "loss.safetensors"), t, device, ignore_index="255",
         ce_cases=len(ce), cec_cases=len(cec), l1_cases=2)


def _grad_steps(g, steps, shape, dt, device):
    """Per-step gradients with varied scales and some exact zeros."""
    scales = [1e-2, 1.0, 1e-4, 3e-1, 5e-3, 2.0, 1e-1][:steps]
    out = []
    for s in scales:
        gr = torch.randn(shape, generator=g, dtype=torch.float64) * s
        gr.view(-1)[::7] = 0.0
        out.append(gr)
    return torch.stack(out).to(device, dt)


def gen_optim(outdir, device, dt):
    g = torch.Generator().manual_seed(505)
    t = {}
    steps = 5
    # Adam: (lr weights, lr biases, beta1, beta2, eps, weight decay)
    adam = [(1e-5, 2e-5, 0.9, 0.999, 1e-8, 0.0),      # F and C
            (1e-4, 1e-4, 0.7, 0.999, 1e-8, 0.0),      # G and D
            (1e-3, 2e-3, 0.9, 0.999, 1e-8, 1e-2)]     # weight decay
    for k, (lrw, lrb, b1, b2, eps, wd) in enumerate(adam):
        w0 = (torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.1).to(device, dt)
        b0 = (torch.randn(4, generator=g, dtype=torch.float64) * 0.01).to(device, dt)
        fz0 = torch.randn(3, 3, generator=g, dtype=torch.float64).to(device, dt)
        gw = _grad_steps(g, steps, (4, 3), dt, device)
        gb = _grad_steps(g, steps, (4,), dt, device)
        w, b, fz = [torch.nn.Parameter(a.clone()) for a in (w0, b0, fz0)]
        opt = torch.optim.Adam([{"params": [w, fz], "lr": lrw}, {"params": [b], "lr": lrb}],
                               betas=(b1, b2), eps=eps, weight_decay=wd, foreach=False)
        ws, bs = [], []
        for s in range(steps):
            opt.zero_grad(set_to_none=True)
            w.grad, b.grad = gw[s].clone(), gb[s].clone()   # fz.grad stays None: frozen
            opt.step()
            ws.append(w.detach().clone())
            bs.append(b.detach().clone())
        assert torch.equal(fz.detach(), fz0)
        p = "adam.%d." % k
        t.update({p + "hp": torch.tensor([lrw, lrb, b1, b2, eps, wd], dtype=torch.float64),
                  p + "w0": w0, p + "b0": b0, p + "frozen0": fz0, p + "frozen": fz.detach(),
                  p + "gw": gw, p + "gb": gb, p + "w": torch.stack(ws), p + "b": torch.stack(bs),
                  p + "m_w": opt.state[w]["exp_avg"], p + "v_w": opt.state[w]["exp_avg_sq"],
                  p + "m_b": opt.state[b]["exp_avg"], p + "v_b": opt.state[b]["exp_avg_sq"]})
    # SGD, the authors' alternative: momentum 0.99, weight decay 5e-4, biases at twice the lr
    lrw = 1e-3
    w0 = (torch.randn(5, 3, generator=g, dtype=torch.float64) * 0.1).to(device, dt)
    b0 = (torch.randn(5, generator=g, dtype=torch.float64) * 0.01).to(device, dt)
    gw = _grad_steps(g, steps, (5, 3), dt, device)
    gb = _grad_steps(g, steps, (5,), dt, device)
    w, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    opt = torch.optim.SGD([{"params": [w], "lr": lrw}, {"params": [b], "lr": 2 * lrw}],
                          lr=lrw, momentum=0.99, weight_decay=5e-4, foreach=False)
    ws, bs = [], []
    for s in range(steps):
        opt.zero_grad(set_to_none=True)
        w.grad, b.grad = gw[s].clone(), gb[s].clone()
        opt.step()
        ws.append(w.detach().clone())
        bs.append(b.detach().clone())
    t.update({"sgd.0.hp": torch.tensor([lrw, 2 * lrw, 0.99, 5e-4], dtype=torch.float64),
              "sgd.0.w0": w0, "sgd.0.b0": b0, "sgd.0.gw": gw, "sgd.0.gb": gb,
              "sgd.0.w": torch.stack(ws), "sgd.0.b": torch.stack(bs),
              "sgd.0.buf_w": opt.state[w]["momentum_buffer"],
              "sgd.0.buf_b": opt.state[b]["momentum_buffer"]})
    # StepLR: the learning rate in force at iterations 0..T-1
    base, step_size, gamma, T = 1e-5, 3, 0.1, 14
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    lrs = []
    for _ in range(T):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    t["steplr.hp"] = torch.tensor([base, step_size, gamma], dtype=torch.float64)
    t["steplr.lr"] = torch.tensor(lrs, dtype=torch.float64)
    # beta ** t as Python evaluates it for Adam's bias corrections (step is a float there)
    betas = [0.9, 0.999, 0.7, 0.99]
    ts = [1, 2, 3, 5, 10, 37, 100, 1000, 8191, 12345, 100000, 1000000]
    t["betapow.beta"] = torch.tensor(betas, dtype=torch.float64)
    t["betapow.t"] = torch.tensor(ts, dtype=torch.int64)
    t["betapow.val"] = torch.tensor([[bb ** float(s) for s in ts] for bb in betas],
                                    dtype=torch.float64)
    save(os.path.join(outdir, "optim.safetensors"), t, device, steps=steps,
         adam_cases=len(adam), foreach="False")


def generate(outdir, device):
    """Writes every golden file of this part into outdir."""
    dt = dtype_for(device)
    torch.manual_seed(0)
    gen_activation(outdir, device, dt)
    gen_norm(outdir, device, dt)
    gen_dropout(outdir, device, dt)
    gen_loss(outdir, device, dt)
    gen_optim(outdir, device, dt)
