#!/usr/bin/env python3
"""Converts PyTorch weights into lsdseg's safetensors files (docs/checkpoints.md).

  convert_torch.py vgg16 VGG16.pth OUT.safetensors
      torchvision's ImageNet VGG16 state dict (features.N.*, classifier.0/.3.*) -> an F
      initialisation: conv1_1 ... conv5_3, fc6 (classifier.0 reshaped to (fc, C, 7, 7)) and
      fc7 (classifier.3 reshaped to (fc, fc, 1, 1)), the names lsd_model_init accepts.
      Use it as `lsd_model_init(m, seed, "OUT.safetensors", err)` (the train command's VGG16
      option).

  convert_torch.py lsd --fcn FCN.pth --netG G.pth --netD D.pth --channels bgr|rgb OUT.safetensors
      the authors' (swamiviv/LSD-seg) FCN8s_LSD, _netG and _netD state dicts -> a complete
      lsdseg checkpoint at iteration 0 (F., G., D. names, configuration metadata, digests),
      loadable with lsd_model_load or ckpt_load; name it DIR/ckpt-00000000.safetensors to
      resume training from it. Each input may be a bare state dict or a dict holding one under
      'model_state_dict' or 'state_dict' (the authors' checkpoint.pth.tar); 'module.' prefixes
      (DataParallel) are stripped and the instance norms' running_mean / running_var /
      num_batches_tracked entries (old PyTorch) are dropped. Adam state is not converted:
      training from the result starts Adam afresh.
      --channels says what happens to the colour order, which must be chosen: the authors'
      code gives D its real images and G its targets in BGR order (transform_forD), so their
      G draws BGR and their D reads BGR. bgr keeps that: the checkpoint records the recipe
      "d_input=bgr" (with the authors' other choices, docs/method.md "Two schedules"), so that
      lsdseg feeds D BGR images. rgb reverses the colour axis of G's last layer
      (stage4_upsample.0.weight's output channels and its bias) and of D's first layer
      (feature.0.weight's input channels): the same networks for RGB images, lsdseg's order,
      with the paper's recipe recorded. The tool prints which it did.

Needs torch (CPU is enough) and numpy. Sizes are read from the tensors, so reduced-width
models convert as well; every expected tensor must be present with its expected shape.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

FORMAT = "lsdseg-checkpoint-1"
TV_CONV = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision features.N of the convs
CONV_NAMES = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]


def fail(msg):
    sys.stderr.write("convert_torch.py: %s\n" % msg)
    sys.exit(1)


# ---------------------------------------------------------------- reading PyTorch files
def load_state(path):
    """A flat name -> float numpy array dict from a .pth file (state dict or a checkpoint)."""
    import torch
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - report any unreadable file the same way
        fail("%s: cannot read: %s" % (path, e))
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    for key in ("model_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        fail("%s: not a state dict" % path)
    out = {}
    for k, v in obj.items():
        if not hasattr(v, "detach"):
            continue
        while k.startswith("module."):
            k = k[len("module."):]
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # instance norms without affine parameters hold no information
        out[k] = v.detach().cpu().numpy()
    return out


# ---------------------------------------------------------------- the expected layout
def f_shapes(vgg, fc, n):
    """F and C (FCN-8s): name -> shape."""
    chans = [vgg, vgg, 2 * vgg, 2 * vgg, 4 * vgg, 4 * vgg, 4 * vgg] + [8 * vgg] * 6
    s, cin = {}, 3
    for name, c in zip(CONV_NAMES, chans):
        s[name + ".weight"] = (c, cin, 3, 3)
        s[name + ".bias"] = (c,)
        cin = c
    s["fc6.weight"], s["fc6.bias"] = (fc, 8 * vgg, 7, 7), (fc,)
    s["fc7.weight"], s["fc7.bias"] = (fc, fc, 1, 1), (fc,)
    s["score_fr.weight"], s["score_fr.bias"] = (n, fc, 1, 1), (n,)
    s["score_pool3.weight"], s["score_pool3.bias"] = (n, 4 * vgg, 1, 1), (n,)
    s["score_pool4.weight"], s["score_pool4.bias"] = (n, 8 * vgg, 1, 1), (n,)
    s["upscore2.weight"] = (n, n, 4, 4)
    s["upscore8.weight"] = (n, n, 16, 16)
    s["upscore_pool4.weight"] = (n, n, 4, 4)
    return s


def g_shapes(vgg, fc, ngf):
    """G: name -> shape (docs/method.md, "Parameter names")."""
    s = {}

    def up(stage, base, cin, cout, k):
        s["%s.%d.weight" % (stage, base)] = (cin, cout, k, k)  # ConvTranspose2d: (in, out, k, k)
        for r in (3, 4):
            s["%s.%d.conv_layer.weight" % (stage, base + r)] = (cout, cout, 3, 3)

    up("stage1_upsample", 0, fc, 4 * ngf, 7)
    up("stage1_upsample", 5, 4 * ngf, 8 * ngf, 3)
    up("stage2_upsample", 0, 8 * ngf + 8 * vgg, 4 * ngf, 3)
    up("stage3_upsample", 0, 4 * ngf + 4 * vgg, 2 * ngf, 5)
    up("stage3_upsample", 5, 2 * ngf, ngf, 5)
    s["stage4_upsample.0.weight"], s["stage4_upsample.0.bias"] = (ngf, 3, 8, 8), (3,)
    return s


def d_shapes(ndf, n):
    """D: name -> shape."""
    c = 2 * ndf
    s = {"feature.0.weight": (c, 3, 4, 4), "feature.0.bias": (c,)}
    for i in (3, 4, 5, 7, 8, 9, 11, 12, 13):
        s["feature.%d.conv_layer.weight" % i] = (c, c, 3, 3)
        s["feature.%d.conv_layer.bias" % i] = (c,)
    s["out_s.0.weight"], s["out_s.0.bias"] = (4, c, 3, 3), (4,)
    s["out_c.0.weight"], s["out_c.0.bias"] = (n, c, 3, 3), (n,)
    return s


def check_layout(what, path, got, want):
    """Every expected tensor present with its shape, nothing unexpected."""
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    bad = ["%s %s (expected %s)" % (k, tuple(got[k].shape), want[k]) for k in want
           if k in got and tuple(got[k].shape) != tuple(want[k])]
    if missing or extra or bad:
        fail("%s (%s) does not have the expected layout:%s%s%s" % (
            path, what,
            "\n  missing: " + ", ".join(missing[:8]) if missing else "",
            "\n  unexpected: " + ", ".join(extra[:8]) if extra else "",
            "\n  wrong shape: " + "; ".join(bad[:8]) if bad else ""))


def dim(path, sd, name, d):
    if name not in sd or sd[name].ndim <= d:
        fail("%s: no tensor %s (is this the right kind of file?)" % (path, name))
    return int(sd[name].shape[d])


# ---------------------------------------------------------------- writing safetensors
def fnv1a64(h, data):
    """64-bit FNV-1a, continuing from h (numpy-free, chunked for speed on bytes)."""
    prime, mask = 0x100000001b3, 0xffffffffffffffff
    for b in data:
        h = ((h ^ b) * prime) & mask
    return h


def header_digest(entries, meta):
    """The header digest of docs/checkpoints.md: tensor table in file order, sorted metadata."""
    h = 0xcbf29ce484222325
    for name, dtype, shape, b, e in entries:
        s = name.encode() + b"\0" + dtype.encode() + b"\0" + ",".join(str(d) for d in shape).encode()
        s += b"\0%d\0%d\n" % (b, e)
        h = fnv1a64(h, s)
    for k in sorted(meta):
        if k != "header_digest":
            h = fnv1a64(h, k.encode() + b"\0" + meta[k].encode() + b"\n")
    return h


def write_safetensors(path, tensors, meta, digests):
    """Writes tensors (list of (name, array)) in order, little-endian, crash-safely (temporary
    file, fsync, rename, directory fsync). With digests, adds digest_alg, data_bytes, digest
    and header_digest to meta."""
    blobs, entries, off = [], [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
              np.dtype(np.int64): "I64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        entries.append((name, dt, list(a.shape), off, off + len(b)))
        blobs.append(b)
        off += len(b)
    data = b"".join(blobs)
    meta = dict(meta)
    if digests:
        meta["digest_alg"] = "fnv1a64"
        meta["data_bytes"] = str(len(data))
        meta["digest"] = "%016x" % fnv1a64(0xcbf29ce484222325, data)
        meta["header_digest"] = "%016x" % header_digest(entries, meta)
    hdr = {"__metadata__": meta}
    for name, dt, shape, b, e in entries:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [b, e]}
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def as_dtype(a, double):
    return a.astype(np.float64 if double else np.float32)


# ---------------------------------------------------------------- the two conversions
def convert_vgg16(args):
    sd = load_state(args.vgg16)
    vgg = dim(args.vgg16, sd, "features.0.weight", 0)
    fc = dim(args.vgg16, sd, "classifier.0.weight", 0)
    want = {}
    for l, (i, name) in enumerate(zip(TV_CONV, CONV_NAMES)):
        shp = f_shapes(vgg, fc, 1)[name + ".weight"]
        want["features.%d.weight" % i], want["features.%d.bias" % i] = shp, (shp[0],)
    want["classifier.0.weight"], want["classifier.0.bias"] = (fc, 8 * vgg * 49), (fc,)
    want["classifier.3.weight"], want["classifier.3.bias"] = (fc, fc), (fc,)
    ncls = dim(args.vgg16, sd, "classifier.6.weight", 0)
    want["classifier.6.weight"], want["classifier.6.bias"] = (ncls, fc), (ncls,)
    check_layout("torchvision VGG16", args.vgg16, sd, want)
    out = []
    for i, name in zip(TV_CONV, CONV_NAMES):
        out.append((name + ".weight", sd["features.%d.weight" % i]))
        out.append((name + ".bias", sd["features.%d.bias" % i]))
    out.append(("fc6.weight", sd["classifier.0.weight"].reshape(fc, 8 * vgg, 7, 7)))
    out.append(("fc6.bias", sd["classifier.0.bias"]))
    out.append(("fc7.weight", sd["classifier.3.weight"].reshape(fc, fc, 1, 1)))
    out.append(("fc7.bias", sd["classifier.3.bias"]))
    out = [(k, as_dtype(v, args.double)) for k, v in out]
    meta = {"format": "lsdseg-vgg16-1", "source": os.path.basename(args.vgg16),
            "vgg": str(vgg), "fc": str(fc)}
    write_safetensors(args.out, out, meta, digests=False)
    print("%s: F initialisation (vgg %d, fc %d), %d tensors" % (args.out, vgg, fc, len(out)))


def convert_lsd(args):
    f, g, d = load_state(args.fcn), load_state(args.netG), load_state(args.netD)
    vgg = dim(args.fcn, f, "conv1_1.weight", 0)
    fc = dim(args.fcn, f, "fc6.weight", 0)
    n = dim(args.fcn, f, "score_fr.weight", 0)
    ngf = dim(args.netG, g, "stage4_upsample.0.weight", 0)
    ndf = dim(args.netD, d, "feature.0.weight", 0) // 2
    fs, gs, ds = f_shapes(vgg, fc, n), g_shapes(vgg, fc, ngf), d_shapes(ndf, n)
    check_layout("FCN8s_LSD", args.fcn, f, fs)
    check_layout("_netG", args.netG, g, gs)
    check_layout("_netD", args.netD, d, ds)
    if args.channels == "rgb":  # reverse the colour axis where images enter D and leave G
        g = dict(g)
        d = dict(d)
        g["stage4_upsample.0.weight"] = g["stage4_upsample.0.weight"][:, ::-1].copy()
        g["stage4_upsample.0.bias"] = g["stage4_upsample.0.bias"][::-1].copy()
        d["feature.0.weight"] = d["feature.0.weight"][:, ::-1].copy()
        recipe = "schedule=paper adam=modern d_labels=centre d_input=rgb"
        said = ("colours flipped to lsdseg's RGB: G.stage4_upsample.0.weight/.bias and "
                "D.feature.0.weight reversed along their colour axis; recipe paper recorded")
    else:
        recipe = "schedule=authors adam=pytorch02 d_labels=authors d_input=bgr"
        said = ("colours kept in the authors' BGR order (G draws BGR, D reads BGR); recipe "
                "authors recorded, so lsdseg gives D BGR images")
    out = []
    for prefix, sd, shapes in (("F.", f, fs), ("G.", g, gs), ("D.", d, ds)):
        for k in shapes:  # the layout's order
            out.append((prefix + k, as_dtype(sd[k], args.double)))
    out.append(("opt.step", np.zeros(1, dtype=np.int64)))
    meta = {"format": FORMAT, "lsdseg_version": "converted",
            "precision": "double" if args.double else "float",
            "iteration": "0", "lr_f_weight": "1.0000000000000001e-05",
            "lr_f_bias": "2.0000000000000002e-05", "lr_gd": "0.0001", "seed": "1337",
            "method": "lsd", "epoch": "0", "data_index": "0",
            "config": "converted from %s, %s, %s" % (os.path.basename(args.fcn),
                                                     os.path.basename(args.netG),
                                                     os.path.basename(args.netD)),
            "vgg": str(vgg), "fc": str(fc), "ngf": str(ngf), "ndf": str(ndf), "n_class": str(n),
            "recipe": recipe, "channels": args.channels}
    write_safetensors(args.out, out, meta, digests=True)
    print("%s: lsdseg checkpoint (vgg %d, fc %d, ngf %d, ndf %d, n_class %d), %d tensors" % (
        args.out, vgg, fc, ngf, ndf, n, len(out)))
    print("%s: %s" % (args.out, said))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    sub = p.add_subparsers(dest="cmd")
    v = sub.add_parser("vgg16", help="torchvision VGG16 -> F initialisation")
    v.add_argument("vgg16", help="torchvision vgg16 state dict (.pth)")
    v.add_argument("out", help="output .safetensors")
    v.add_argument("--double", action="store_true", help="store F64 instead of F32")
    l = sub.add_parser("lsd", help="the authors' FCN8s_LSD, _netG, _netD -> lsdseg checkpoint")
    l.add_argument("--fcn", required=True, help="FCN8s_LSD state dict or checkpoint.pth.tar")
    l.add_argument("--netG", required=True, help="_netG state dict")
    l.add_argument("--netD", required=True, help="_netD state dict")
    l.add_argument("--channels", required=True, choices=("bgr", "rgb"),
                   help="keep the authors' BGR order (recipe authors) or flip G and D to RGB")
    l.add_argument("out", help="output .safetensors")
    l.add_argument("--double", action="store_true", help="store F64 instead of F32")
    args = p.parse_args()
    if args.cmd == "vgg16":
        convert_vgg16(args)
    elif args.cmd == "lsd":
        convert_lsd(args)
    else:
        p.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
