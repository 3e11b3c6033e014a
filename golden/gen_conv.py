"""Goldens for layers/conv.c, layers/pool.c and layers/shape.c.

Writes three files into outdir:
  conv.safetensors   every convolution and transposed convolution configuration the
                     networks use, at reduced channel counts and small odd sizes. Case
                     <c> holds <c>.cfg (int64: N C H W OC K stride pad outpad transposed
                     has_bias), <c>.x, <c>.w, [<c>.b], <c>.y, <c>.dy (a random upstream
                     gradient) and torch autograd's <c>.dx, <c>.dw, [<c>.db].
                     Two cases have padding 100 and would be large; there the tensors
                     that are zero (x, dy) or constant (y = bias, dx = 0) outside a box
                     are stored as the box only: <c>.<t>_win and <c>.<t>_box (int64
                     h0 h1 w0 w1). The generator asserts the outside values.
  conv_pool.safetensors  max_pool2d(2, 2) floor and ceil mode: <c>.cfg (N C H W ceil), <c>.x,
                     <c>.y, <c>.idx (torch's indices, int64), <c>.dy, <c>.dx. Inputs are
                     small integers (ties everywhere); one case holds NaN and -inf.
  conv_shape.safetensors crop and concat with gradients, PIL nearest label resizes, and
                     bilinear upsampling weights from an independent numpy implementation
                     of FCN's get_upsampling_weight.
"""
import os

import numpy as np
import torch
import torch.nn.functional as Fn

from common import save, dtype_for

# name: (N, C, H, W, OC, K, stride, pad, outpad, transposed, bias, windowed)
CONV_CASES = [
    ("c3x3_bias", (2, 3, 7, 9, 4, 3, 1, 1, 0, 0, 1)),       # VGG convs, D's residual convs
    ("c3x3_nobias", (1, 4, 5, 7, 3, 3, 1, 1, 0, 0, 0)),     # G's residual convs
    ("c3x3_head", (1, 5, 4, 3, 2, 3, 1, 1, 0, 0, 1)),       # D's heads out_s / out_c
    ("c_pad100", (1, 3, 5, 6, 2, 3, 1, 100, 0, 0, 1)),      # conv1_1
    ("c_fc6", (1, 5, 9, 11, 6, 7, 1, 0, 0, 0, 1)),          # fc6 7x7
    ("c_1x1", (2, 6, 5, 7, 5, 1, 1, 0, 0, 0, 1)),           # fc7, score layers
    ("c_k4s2p2", (1, 3, 9, 11, 4, 4, 2, 2, 0, 0, 1)),       # D's first conv
    ("c_k4s2p2_even", (2, 3, 8, 10, 3, 4, 2, 2, 0, 0, 1)),  # the same at even size
    ("t_k4s2", (1, 3, 5, 6, 3, 4, 2, 0, 0, 1, 0)),          # upscore2, upscore_pool4
    ("t_k16s8", (1, 2, 3, 4, 2, 16, 8, 0, 0, 1, 0)),        # upscore8
    ("t_k7s1", (1, 5, 3, 4, 3, 7, 1, 0, 0, 1, 0)),          # G stage1 first ConvT
    ("t_k3s2p1", (1, 4, 5, 6, 3, 3, 2, 1, 0, 1, 0)),        # G ConvT(.., 3, 2, 1)
    ("t_k5s2p2", (1, 3, 5, 7, 4, 5, 2, 2, 0, 1, 0)),        # G ConvT(.., 5, 2, 2)
    ("t_k8s2p100", (1, 2, 100, 101, 3, 8, 2, 100, 0, 1, 1)),  # G stage4 (bias)
    ("t_k3s2p1_op1", (1, 3, 4, 5, 2, 3, 2, 1, 1, 1, 0)),    # output_padding cases
    ("t_k5s2p2_op1", (2, 2, 3, 5, 3, 5, 2, 2, 1, 1, 1)),
    ("t_k4s2_bias", (2, 3, 4, 3, 2, 4, 2, 1, 0, 1, 1)),
    ("t_1x1", (1, 4, 3, 5, 3, 1, 1, 0, 0, 1, 1)),
]

# name: (N, C, H, W, ceil_mode, kind)
POOL_CASES = [
    ("floor_odd", (2, 3, 7, 9, 0, "int")),
    ("ceil_odd", (2, 3, 7, 9, 1, "int")),
    ("ceil_even", (1, 2, 6, 8, 1, "int")),
    ("floor_even", (1, 2, 6, 8, 0, "int")),
    ("ceil_oddh", (1, 2, 5, 4, 1, "int")),
    ("ceil_random", (1, 3, 9, 7, 1, "randn")),
    ("nan_inf", (1, 1, 5, 7, 1, "nan")),
]

# label resizes (H, W, OH, OW)
LABEL_CASES = [(37, 53, 9, 13), (64, 128, 8, 16), (40, 80, 5, 10), (5, 7, 11, 13),
               (33, 31, 7, 5), (17, 19, 17, 19), (100, 3, 7, 3),
               (64, 50, 30, 49), (10, 20, 32, 64)]  # Pillow ties; the 3.2x eval upsampling

BILINEAR_CASES = [(3, 3), (2, 4), (1, 5), (2, 8), (2, 16), (1, 1), (1, 2)]


def box_of(t, val_outside, box):
    """Asserts t (N,C,H,W) equals val_outside (per channel, or 0) outside box; returns window."""
    h0, h1, w0, w1 = box
    mask = torch.ones(t.shape[2], t.shape[3], dtype=torch.bool, device=t.device)
    mask[h0:h1, w0:w1] = False
    if val_outside is None:
        ref = torch.zeros_like(t)
    else:
        ref = val_outside.view(1, -1, 1, 1).expand_as(t)
    assert torch.equal(t[:, :, mask], ref[:, :, mask]), "values outside the stored box"
    return t[:, :, h0:h1, w0:w1]


def conv_case(name, p, gen, dt, device, out):
    N, C, H, W, OC, K, s, pad, op, tr, hb = p
    rnd = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)
    x = rnd(N, C, H, W)
    xbox = None
    if tr and pad >= K:
        # input rows/cols that reach the output: ih*s - pad + kh in [0, OH)
        OH = (H - 1) * s - 2 * pad + K + op
        OW = (W - 1) * s - 2 * pad + K + op
        h0 = max(0, (pad - K + 1) // s - 1); h1 = min(H, (pad + OH - 1) // s + 2)
        w0 = max(0, (pad - K + 1) // s - 1); w1 = min(W, (pad + OW - 1) // s + 2)
        xbox = (h0, h1, w0, w1)
        keep = torch.zeros(H, W, dtype=torch.float64)
        keep[h0:h1, w0:w1] = 1
        x = x * keep
    wshape = (C, OC, K, K) if tr else (OC, C, K, K)
    w = rnd(*wshape) / np.sqrt(C * K * K)
    b = rnd(OC) if hb else None
    xd = x.to(device, dt).requires_grad_(True)
    wd = w.to(device, dt).requires_grad_(True)
    bd = b.to(device, dt).requires_grad_(True) if hb else None
    if tr:
        y = Fn.conv_transpose2d(xd, wd, bd, stride=s, padding=pad, output_padding=op)
    else:
        y = Fn.conv2d(xd, wd, bd, stride=s, padding=pad)
    dy = rnd(*y.shape).to(device, dt)
    ybox = None
    if not tr and pad >= K:
        # output positions that see the input: oh*s - pad + kh in [0, H); one more each side
        OH, OW = y.shape[2], y.shape[3]
        ybox = (max(0, (pad - K + 1) // s - 1), min(OH, (pad + H - 1) // s + 2),
                max(0, (pad - K + 1) // s - 1), min(OW, (pad + W - 1) // s + 2))
        keep = torch.zeros(OH, OW, dtype=dt, device=device)
        keep[ybox[0]:ybox[1], ybox[2]:ybox[3]] = 1
        dy = dy * keep
    y.backward(dy)
    t = {name + ".cfg": torch.tensor([N, C, H, W, OC, K, s, pad, op, tr, hb], dtype=torch.int64),
         name + ".w": wd, name + ".dw": wd.grad}
    if hb:
        t[name + ".b"] = bd
        t[name + ".db"] = bd.grad
    if xbox:
        t[name + ".x_win"] = box_of(xd.detach(), None, xbox)
        t[name + ".dx_win"] = box_of(xd.grad, None, xbox)
        t[name + ".x_box"] = torch.tensor(xbox, dtype=torch.int64)
        t[name + ".dx_box"] = torch.tensor(xbox, dtype=torch.int64)
    else:
        t[name + ".x"] = xd
        t[name + ".dx"] = xd.grad
    if ybox:
        bias_out = bd.detach() if hb else None
        t[name + ".y_win"] = box_of(y.detach(), bias_out, ybox)
        t[name + ".dy_win"] = box_of(dy, None, ybox)
        t[name + ".y_box"] = torch.tensor(ybox, dtype=torch.int64)
        t[name + ".dy_box"] = torch.tensor(ybox, dtype=torch.int64)
    else:
        t[name + ".y"] = y
        t[name + ".dy"] = dy
    out.update({k: v.detach().to("cpu") for k, v in t.items()})


def pool_case(name, p, gen, dt, device, out):
    N, C, H, W, ceil, kind = p
    if kind == "randn":
        x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64)
    else:
        x = torch.randint(0, 4, (N, C, H, W), generator=gen).to(torch.float64)
    if kind == "nan":
        x[0, 0, 0, 1] = float("nan")        # window (0,0): NaN after a number
        x[0, 0, 2, 2] = float("nan")        # window (1,1): two NaNs, the last one wins
        x[0, 0, 3, 3] = float("nan")
        x[0, 0, 0:2, 4:6] = -float("inf")   # window (0,2): all -inf, first index
        x[0, 0, 4, 6] = -float("inf")       # ceil-mode corner window of one element
    xd = x.to(device, dt).requires_grad_(True)
    y, idx = Fn.max_pool2d(xd, 2, 2, ceil_mode=bool(ceil), return_indices=True)
    dy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(device, dt)
    y.backward(dy)
    out.update({name + ".cfg": torch.tensor([N, C, H, W, ceil], dtype=torch.int64),
                name + ".x": xd.detach().cpu(), name + ".y": y.detach().cpu(), name + ".idx": idx.cpu(),
                name + ".dy": dy.cpu(), name + ".dx": xd.grad.cpu()})


def fcn_upsampling_weight(channels, k):
    """FCN's get_upsampling_weight, restated with numpy loops (independent of the C code)."""
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    filt = np.zeros((k, k))
    for yy in range(k):
        for xx in range(k):
            filt[yy, xx] = (1 - abs(yy - center) / factor) * (1 - abs(xx - center) / factor)
    w = np.zeros((channels, channels, k, k))
    for i in range(channels):
        w[i, i] = filt
    return w


def shape_part(gen, dt, device, out):
    x = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64)
    xd = x.to(device, dt).requires_grad_(True)
    top, left, oh, ow = 2, 3, 5, 6
    y = xd[:, :, top:top + oh, left:left + ow]
    dy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(device, dt)
    y.backward(dy)
    out.update({"crop.cfg": torch.tensor([2, 3, 9, 11, top, left, oh, ow], dtype=torch.int64),
                "crop.x": xd.detach().cpu(), "crop.y": y.detach().cpu(), "crop.dy": dy.cpu(),
                "crop.dx": xd.grad.cpu()})
    a = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(2, 2, 4, 5, generator=gen, dtype=torch.float64)
    ad = a.to(device, dt).requires_grad_(True)
    bd = b.to(device, dt).requires_grad_(True)
    y = torch.cat([ad, bd], 1)
    dy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(device, dt)
    y.backward(dy)
    out.update({"concat.a": ad.detach().cpu(), "concat.b": bd.detach().cpu(),
                "concat.y": y.detach().cpu(), "concat.dy": dy.cpu(),
                "concat.da": ad.grad.cpu(), "concat.db": bd.grad.cpu()})
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        rng = np.random.RandomState(7)
        for (H, W, OH, OW) in LABEL_CASES:
            lab = rng.randint(0, 256, size=(H, W)).astype(np.uint8)
            res = np.asarray(Image.fromarray(lab).resize((OW, OH), Image.NEAREST))
            key = "labels_%dx%d_%dx%d" % (H, W, OH, OW)
            out[key + ".in"] = torch.from_numpy(lab.copy())
            out[key + ".out"] = torch.from_numpy(res.copy())
    for (c, k) in BILINEAR_CASES:
        out["bilinear_c%d_k%d" % (c, k)] = torch.from_numpy(fcn_upsampling_weight(c, k))


def generate(outdir, device):
    dt = dtype_for(device)
    gen = torch.Generator().manual_seed(20180618)
    conv = {}
    for name, p in CONV_CASES:
        conv_case(name, p, gen, dt, device, conv)
    save(os.path.join(outdir, "conv.safetensors"), conv, device, part="conv")
    pool = {}
    for name, p in POOL_CASES:
        pool_case(name, p, gen, dt, device, pool)
    save(os.path.join(outdir, "conv_pool.safetensors"), pool, device, part="pool")
    shp = {}
    shape_part(gen, dt, device, shp)
    try:
        import PIL
        pil = PIL.__version__
    except ImportError:
        pil = "absent"
    save(os.path.join(outdir, "conv_shape.safetensors"), shp, device, part="shape", pillow=pil)
