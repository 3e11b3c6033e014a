"""LSD-seg's four networks in PyTorch, with the authors' module names (swamiviv/LSD-seg),
written for golden generation: sizes are configurable and every dropout takes an explicit
mask (or none), so the C implementation can be fed the very same masks.

Config (the paper's values are the defaults):
    vgg   channels of conv1 (64); the VGG stages have vgg, 2vgg, 4vgg, 8vgg, 8vgg channels
    fc    width of fc6 and fc7 (4096)
    ngf   generator width (64), ndf discriminator width (64; D's layers have 2*ndf channels)
    n_class  number of classes (19)

Masks: a dict name -> tensor. Dropout2d masks (F.fc6, F.fc7) have shape (N, C); element
dropout masks (every residual block of G and D) have the activation's shape. Values are 0 or
1/(1-p) = 2. The name is "<net>.<module path>.<input kind>", kind = src or tgt for F and G,
and src_real, src_fake, tgt_real, tgt_fake for D (D's domain classes 0..3). masks=None means
no dropout.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn
from PIL import Image

DEFAULT = dict(vgg=64, fc=4096, ngf=64, ndf=64, n_class=19)


def bilinear_weight(c, k):
    """Bilinear upsampling filter (c, c, k, k): FCN's get_upsampling_weight."""
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = np.ogrid[:k, :k]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    w = np.zeros((c, c, k, k), dtype=np.float64)
    w[range(c), range(c), :, :] = filt
    return torch.from_numpy(w)


def apply_mask(x, masks, key):
    """x * mask (element mask, or channel mask broadcast over H, W); identity without masks."""
    if masks is None:
        return x
    m = masks[key].to(x.dtype)
    if m.dim() == 2:
        m = m[:, :, None, None]
    return x * m


class FCN8s(nn.Module):
    """F (VGG16 trunk up to fc7) and C (FCN-8s score layers, skip fusion, frozen upsampling)."""

    def __init__(self, vgg=64, fc=4096, n_class=19):
        super().__init__()
        chans = [vgg, 2 * vgg, 4 * vgg, 8 * vgg, 8 * vgg]
        convs = [2, 2, 3, 3, 3]
        cin = 3
        self.trunk = []
        for s in range(5):
            for j in range(convs[s]):
                name = "conv%d_%d" % (s + 1, j + 1)
                setattr(self, name, nn.Conv2d(cin, chans[s], 3, padding=100 if cin == 3 else 1))
                self.trunk.append(name)
                cin = chans[s]
            self.trunk.append("pool%d" % (s + 1))
        self.fc6 = nn.Conv2d(8 * vgg, fc, 7)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score_fr = nn.Conv2d(fc, n_class, 1)
        self.score_pool3 = nn.Conv2d(4 * vgg, n_class, 1)
        self.score_pool4 = nn.Conv2d(8 * vgg, n_class, 1)
        self.upscore2 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(n_class, n_class, 16, stride=8, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        for m in (self.upscore2, self.upscore8, self.upscore_pool4):
            m.weight.requires_grad_(False)

    def features(self, x, masks=None, kind="src"):
        """F: returns fc7 (after its dropout), pool4, pool3."""
        h = x
        for name in self.trunk:
            if name.startswith("pool"):
                h = Fn.max_pool2d(h, 2, 2, ceil_mode=True)
                if name == "pool3":
                    pool3 = h
                if name == "pool4":
                    pool4 = h
            else:
                h = torch.relu(getattr(self, name)(h))
        h = apply_mask(torch.relu(self.fc6(h)), masks, "F.fc6." + kind)
        h = apply_mask(torch.relu(self.fc7(h)), masks, "F.fc7." + kind)
        return h, pool4, pool3

    def classify(self, fc7, pool4, pool3, H, W):
        """C: class scores (N, n_class, H, W)."""
        up2 = self.upscore2(self.score_fr(fc7))
        sp4 = self.score_pool4(pool4)[:, :, 5:5 + up2.shape[2], 5:5 + up2.shape[3]]
        up4 = self.upscore_pool4(up2 + sp4)
        sp3 = self.score_pool3(pool3)[:, :, 9:9 + up4.shape[2], 9:9 + up4.shape[3]]
        up8 = self.upscore8(up4 + sp3)
        return up8[:, :, 31:31 + H, 31:31 + W]


class ResnetBlock(nn.Module):
    """x + dropout(act(instance_norm(conv3x3(x))))."""

    def __init__(self, c, bias, leaky):
        super().__init__()
        self.conv_layer = nn.Conv2d(c, c, 3, 1, 1, bias=bias)
        self.leaky = leaky

    def forward(self, x, masks=None, key=None):
        h = Fn.instance_norm(self.conv_layer(x), eps=1e-5)
        h = Fn.leaky_relu(h, 0.2) if self.leaky else torch.relu(h)
        return x + apply_mask(h, masks, key)


def run_seq(seq, x, prefix, masks, kind):
    """Runs an nn.Sequential, passing each residual block its mask."""
    for i, m in enumerate(seq):
        if isinstance(m, ResnetBlock):
            x = m(x, masks, "%s.%d.%s" % (prefix, i, kind))
        else:
            x = m(x)
    return x


class NetG(nn.Module):
    """G: decodes (fc7, pool4, pool3) into an RGB image in [0, 1]."""

    def __init__(self, vgg=64, fc=4096, ngf=64):
        super().__init__()

        def up(cin, cout, k, s, p):
            return [nn.ConvTranspose2d(cin, cout, k, s, p, bias=False), nn.InstanceNorm2d(cout),
                    nn.ReLU(), ResnetBlock(cout, False, False), ResnetBlock(cout, False, False)]

        self.stage1_upsample = nn.Sequential(*(up(fc, 4 * ngf, 7, 1, 0) +
                                               up(4 * ngf, 8 * ngf, 3, 2, 1)))
        self.stage2_upsample = nn.Sequential(*up(8 * ngf + 8 * vgg, 4 * ngf, 3, 2, 1))
        self.stage3_upsample = nn.Sequential(*(up(4 * ngf + 4 * vgg, 2 * ngf, 5, 2, 2) +
                                               up(2 * ngf, ngf, 5, 2, 2)))
        self.stage4_upsample = nn.Sequential(nn.ConvTranspose2d(ngf, 3, 8, 2, 100), nn.Sigmoid())

    def forward(self, fc7, pool4, pool3, masks=None, kind="src"):
        h = run_seq(self.stage1_upsample, fc7, "G.stage1_upsample", masks, kind)
        h = run_seq(self.stage2_upsample, torch.cat((h, pool4), 1), "G.stage2_upsample", masks, kind)
        h = run_seq(self.stage3_upsample, torch.cat((h, pool3), 1), "G.stage3_upsample", masks, kind)
        return self.stage4_upsample(h)


class NetD(nn.Module):
    """D: per pixel at 1/8 size, a 4-way domain score (out_s) and an n-way class score (out_c)."""

    def __init__(self, ndf=64, n_class=19):
        super().__init__()
        c = 2 * ndf

        def rb():
            return ResnetBlock(c, True, True)

        self.feature = nn.Sequential(nn.Conv2d(3, c, 4, 2, 2), nn.InstanceNorm2d(c),
                                     nn.LeakyReLU(0.2), rb(), rb(), rb(), nn.MaxPool2d(2, 2),
                                     rb(), rb(), rb(), nn.MaxPool2d(2, 2), rb(), rb(), rb())
        self.out_s = nn.Sequential(nn.Conv2d(c, 4, 3, padding=1))
        self.out_c = nn.Sequential(nn.Conv2d(c, n_class, 3, padding=1))

    def forward(self, x, masks=None, kind="src_real"):
        h = run_seq(self.feature, x, "D.feature", masks, kind)
        return self.out_s(h), self.out_c(h)


def build(cfg):
    """The three modules F (with C), G, D for a config dict."""
    return (FCN8s(cfg["vgg"], cfg["fc"], cfg["n_class"]), NetG(cfg["vgg"], cfg["fc"], cfg["ngf"]),
            NetD(cfg["ndf"], cfg["n_class"]))


def named_params(F, G, D):
    """Every parameter under its file name (F., G., D. prefixes), frozen ones included."""
    out = {}
    for p, m in (("F.", F), ("G.", G), ("D.", D)):
        for k, v in m.named_parameters():
            out[p + k] = v
    return out


# ---- the deterministic parameter rule shared with gan/params.c (lsd_params_init_hash)
M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def hash_uniform(name, n):
    """n values in [-1, 1): u_i = splitmix64(fnv1a64(name) + (i+1) * golden gamma), top 53 bits."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return 2.0 * u - 1.0


def hash_scale(shape):
    """Scale of the rule: 1/sqrt(shape[1]*KH*KW) for 4-D weights, 0.1 for vectors."""
    if len(shape) == 4:
        return 1.0 / np.sqrt(shape[1] * shape[2] * shape[3])
    return 0.1


def init_hash(F, G, D):
    """Every trainable parameter from the hash rule (prefixed name), upscore layers bilinear."""
    with torch.no_grad():
        for name, p in named_params(F, G, D).items():
            if name.startswith("F.upscore"):
                p.copy_(bilinear_weight(p.shape[0], p.shape[2]))
            else:
                v = hash_uniform(name, p.numel()) * hash_scale(tuple(p.shape))
                p.copy_(torch.from_numpy(v).reshape(p.shape))


# ---- losses and one training iteration (docs/method.md, "Losses", "One iteration")
def ce(scores, labels):
    """Pixel-wise softmax cross-entropy summed over labelled pixels (ignore 255)."""
    return Fn.cross_entropy(scores, labels, ignore_index=255, reduction="sum")


def ce_const(scores, label):
    t = torch.full((scores.shape[0], scores.shape[2], scores.shape[3]), label, dtype=torch.long)
    return Fn.cross_entropy(scores, t, reduction="sum")


def labels_for_d(ys, oh, ow):
    """Ys resized to D's output size with PIL nearest: index floor((i + 0.5) * in / out)."""
    H, W = ys.shape[1], ys.shape[2]
    ri = [((2 * i + 1) * H) // (2 * oh) for i in range(oh)]
    ci = [((2 * j + 1) * W) // (2 * ow) for j in range(ow)]
    return ys[:, ri][:, :, ci]


def loss_D(s_rs, c_rs, s_fs, s_rt, s_ft, yd, N):
    """D's loss from its outputs on the four images (real source with classes, fake source, real
    target, fake target), divided by N."""
    return (ce_const(s_rs, 0) + ce_const(s_fs, 1) + ce(c_rs, yd) + ce_const(s_rt, 2) +
            ce_const(s_ft, 3)) / N


def loss_G(c_fs, s_fs, s_ft, gs, gt, xs01, xt01, yd, l1w, N):
    """G's loss: its fakes classified as real (with the source's classes), plus L1 / N."""
    return (ce(c_fs, yd) + 0.1 * (ce_const(s_fs, 0) + ce_const(s_ft, 2)) +
            l1w * (Fn.l1_loss(gs, xs01) + Fn.l1_loss(gt, xt01))) / N


def loss_F(score, ys, s_fs, s_ft, c_fs, yd, advw, cw, N):
    """F's loss: segmentation, plus the domains swapped for D and D's classes, / N."""
    return (ce(score, ys) + advw * (ce_const(s_fs, 2) + ce_const(s_ft, 0)) +
            cw * ce(c_fs, yd)) / N


def labels_for_d_authors(ys, oh, ow):
    """The authors' transform_label_forD: PIL's resize given (oh, ow) as (width, height) makes
    an ow x oh map, which their code copies element by element into the (oh, ow) slot."""
    out = torch.empty((ys.shape[0], oh, ow), dtype=torch.long)
    for i in range(ys.shape[0]):
        img = Image.fromarray(ys[i].numpy().astype(np.uint8))
        out[i] = torch.from_numpy(np.array(img.resize((oh, ow), Image.NEAREST),
                                           dtype=np.int64).reshape(oh, ow))
    return out


# The recipes (docs/method.md, "Two schedules"): the paper's, the authors' released code.
PAPER = dict(schedule="paper", adam="modern", d_labels="centre", d_input="rgb")
AUTHORS = dict(schedule="authors", adam="pytorch02", d_labels="authors", d_input="bgr")


class DataAdam:
    """Adam that changes the parameters through .data, as PyTorch 0.2's optimisers did: a
    graph kept from before the step then backpropagates through the updated weights (today's
    torch.optim.Adam would make autograd refuse). pytorch02=True is 0.2's formula
    (denominator sqrt(v) + eps, step lr * sqrt(1 - b2^t) / (1 - b1^t)), False today's
    (sqrt(v) / sqrt(1 - b2^t) + eps, step lr / (1 - b1^t)), operation by operation."""

    def __init__(self, groups, betas, eps, pytorch02):
        self.groups = groups  # [(params, lr)]
        self.b1, self.b2 = betas
        self.eps, self.pytorch02 = eps, pytorch02
        self.t = 0
        self.state = {}

    def step(self):
        self.t += 1
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for params, lr in self.groups:
            for p in params:
                g = p.grad.data
                m, v = self.state.setdefault(id(p), (torch.zeros_like(p.data),
                                                     torch.zeros_like(p.data)))
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                if self.pytorch02:
                    denom = v.sqrt().add_(self.eps)
                    p.data.addcdiv_(m, denom, value=-(lr * math.sqrt(bc2) / bc1))
                else:
                    denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
                    p.data.addcdiv_(m, denom, value=-(lr / bc1))


def make_optimizers(F, G, D, recipe=None):
    """Adam as the authors: F weights 1e-5, biases 2e-5, betas (0.9, 0.999); G, D 1e-4, (0.7, 0.999).
    torch.optim.Adam for the paper's recipe, DataAdam for any other."""
    fw = [p for n, p in F.named_parameters() if p.requires_grad and n.endswith("weight")]
    fb = [p for n, p in F.named_parameters() if p.requires_grad and n.endswith("bias")]
    if recipe is not None and recipe != PAPER:
        o2 = recipe["adam"] == "pytorch02"
        return (DataAdam([(fw, 1e-5), (fb, 2e-5)], (0.9, 0.999), 1e-8, o2),
                DataAdam([(list(G.parameters()), 1e-4)], (0.7, 0.999), 1e-8, o2),
                DataAdam([(list(D.parameters()), 1e-4)], (0.7, 0.999), 1e-8, o2))
    optF = torch.optim.Adam([{"params": fw, "lr": 1e-5}, {"params": fb, "lr": 2e-5}],
                            betas=(0.9, 0.999), eps=1e-8)
    optG = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.7, 0.999), eps=1e-8)
    optD = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.7, 0.999), eps=1e-8)
    return optF, optG, optD


def recipe_inputs(b, recipe):
    """D's real images (BGR when the recipe says so) and its class labels y'."""
    xs01, xt01 = b["xs_forD"], b["xt_forD"]
    if recipe["d_input"] == "bgr":
        xs01, xt01 = xs01.flip(1), xt01.flip(1)
    H, W = b["xs"].shape[2], b["xs"].shape[3]
    yd = (labels_for_d_authors if recipe["d_labels"] == "authors" else labels_for_d)(
        b["ys"], H // 8, W // 8)
    return xs01, xt01, yd


def _zero_grads(*nets):
    for m in nets:
        m.zero_grad(set_to_none=False)


def _begin(F, G, D, b, recipe):
    """An iteration's inputs (docs/method.md, "Inputs") with every gradient zeroed."""
    xs, ys, xt = b["xs"], b["ys"], b["xt"]
    xs01, xt01, yd = recipe_inputs(b, recipe)
    _zero_grads(F, G, D)
    return xs, ys, xt, xs01, xt01, yd, xs.shape[0], xs.shape[2], xs.shape[3]


def _generate(F, G, xs, xt, masks):
    """F's features of the source and target images, and G's images of them."""
    fs = F.features(xs, masks, "src")
    ft = F.features(xt, masks, "tgt")
    return fs, ft, G(*fs, masks=masks, kind="src"), G(*ft, masks=masks, kind="tgt")


def _update(net, name, loss, opt, grads, retain=False):
    """loss.backward(), net's gradients into grads["<name>.<param>"] if grads is a dict,
    then opt.step()."""
    loss.backward(retain_graph=retain)
    if grads is not None:
        grads.update({name + "." + k: v.grad.clone() for k, v in net.named_parameters()
                      if v.requires_grad})
    opt.step()


def iteration_authors(F, G, D, opts, b, masks, advw=0.1, cw=0.1, l1w=1.0, grads=None,
                      recipe=AUTHORS):
    """One iteration in the authors' schedule (trainer_LSD.py): every forward pass once, then
    lossD.backward(retain_graph); optD.step(); lossG.backward(retain_graph); optG.step();
    lossF.backward(); optF.step(). opts must change the weights through .data (DataAdam), so
    that the later backward passes run through the updated weights. Returns the losses of
    the one forward."""
    optF, optG, optD = opts
    xs, ys, xt, xs01, xt01, yd, N, H, W = _begin(F, G, D, b, recipe)
    fs, ft, gs, gt = _generate(F, G, xs, xt, masks)
    score = F.classify(*fs, H, W)
    s_fs, c_fs = D(gs, masks, "src_fake")
    s_rs, c_rs = D(xs01, masks, "src_real")
    s_rt, _ = D(xt01, masks, "tgt_real")
    s_ft, _ = D(gt, masks, "tgt_fake")
    # 1. D
    D.zero_grad(set_to_none=False)
    loss_d = loss_D(s_rs, c_rs, s_fs, s_rt, s_ft, yd, N)
    _update(D, "D", loss_d, optD, grads, retain=True)
    # 2. G, through D's updated weights
    G.zero_grad(set_to_none=False)
    loss_g = loss_G(c_fs, s_fs, s_ft, gs, gt, xs01, xt01, yd, l1w, N)
    _update(G, "G", loss_g, optG, grads, retain=True)
    # 3. F and C, through G's and D's updated weights
    F.zero_grad(set_to_none=False)
    loss_f = loss_F(score, ys, s_fs, s_ft, c_fs, yd, advw, cw, N)
    _update(F, "F", loss_f, optF, grads)
    _zero_grads(F, G, D)
    return loss_d.item(), loss_g.item(), loss_f.item()


def iteration(F, G, D, opts, b, masks, advw=0.1, cw=0.1, l1w=1.0, grads=None, recipe=PAPER):
    """One LSD iteration: D update, then G update, then F+C update, each with the current
    parameters. b: dict xs, ys, xt, xs_forD, xt_forD. Returns (loss_D, loss_G, loss_F);
    grads (a dict), if given, receives each step's gradients (D's, G's, F's). A recipe with
    the authors' schedule runs iteration_authors."""
    if recipe["schedule"] == "authors":
        return iteration_authors(F, G, D, opts, b, masks, advw, cw, l1w, grads, recipe)
    optF, optG, optD = opts
    xs, ys, xt, xs01, xt01, yd, N, H, W = _begin(F, G, D, b, recipe)
    # 1. D: G's outputs are constants
    with torch.no_grad():
        fs, ft, gs, gt = _generate(F, G, xs, xt, masks)
    s_rs, c_rs = D(xs01, masks, "src_real")
    s_fs, _ = D(gs, masks, "src_fake")
    s_rt, _ = D(xt01, masks, "tgt_real")
    s_ft, _ = D(gt, masks, "tgt_fake")
    loss_d = loss_D(s_rs, c_rs, s_fs, s_rt, s_ft, yd, N)
    _update(D, "D", loss_d, optD, grads)
    # 2. G: gradient through D (not updated), F's features constant
    _zero_grads(F, G, D)
    gs = G(*fs, masks=masks, kind="src")
    gt = G(*ft, masks=masks, kind="tgt")
    s_fs, c_fs = D(gs, masks, "src_fake")
    s_ft, _ = D(gt, masks, "tgt_fake")
    loss_g = loss_G(c_fs, s_fs, s_ft, gs, gt, xs01, xt01, yd, l1w, N)
    _update(G, "G", loss_g, optG, grads)
    # 3. F and C: through C, and through G and D into F
    _zero_grads(F, G, D)
    fs, ft, gs, gt = _generate(F, G, xs, xt, masks)
    score = F.classify(*fs, H, W)
    s_fs, c_fs = D(gs, masks, "src_fake")
    s_ft, _ = D(gt, masks, "tgt_fake")
    loss_f = loss_F(score, ys, s_fs, s_ft, c_fs, yd, advw, cw, N)
    _update(F, "F", loss_f, optF, grads)
    _zero_grads(F, G, D)
    return loss_d.item(), loss_g.item(), loss_f.item()


def iteration_source_only(F, optF, b, masks=None):
    """The source-only baseline: F and C trained with CE(C(F(Xs)), Ys) / N alone."""
    xs, ys = b["xs"], b["ys"]
    N, H, W = xs.shape[0], xs.shape[2], xs.shape[3]
    F.zero_grad(set_to_none=False)
    loss = ce(F.classify(*F.features(xs, masks, "src"), H, W), ys) / N
    loss.backward()
    optF.step()
    return loss.item()
