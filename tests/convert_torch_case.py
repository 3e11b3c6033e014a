"""Test cases of tools/convert_torch.py for tests/test_convert.c (no download, reduced widths).

  convert_torch_case.py OUTDIR

Builds, with random weights,
  (a) a VGG16 with torchvision's module names (features.0 ... features.28, classifier.0, .3, .6)
      at reduced width, saved as its state dict; converts it with `convert_torch.py vgg16`;
      the reference is golden/model.py's FCN8s with the trunk and fc6/fc7 copied the way the
      authors' copy_params_from_vgg16 does (view of the classifier's linear weights);
  (b) the authors' FCN8s_LSD / _netG / _netD as golden/model.py builds them, saved the way the
      authors' code saves them (a checkpoint dict with model_state_dict; 'module.' prefixes;
      running_mean / running_var entries of the instance norms); converts them with
      `convert_torch.py lsd --channels bgr` (lsd.safetensors) and `--channels rgb`
      (lsd_rgb.safetensors).
Writes OUTDIR/vgg_f.safetensors, OUTDIR/lsd.safetensors and OUTDIR/ref.safetensors with the
input and PyTorch's outputs (float64, no dropout): x, x01; vgg.fc7, vgg.pool4, vgg.pool3;
lsd.fc7, lsd.pool4, lsd.pool3, lsd.score, lsd.gen, lsd.d_s, lsd.d_c.
Then runs two conversions that must fail (a discriminator given as VGG16; lsd with netD as
netG) and writes their exit status and stderr to OUTDIR/refuse_vgg.rc, .err and
OUTDIR/refuse_lsd.rc, .err.
Every conversion runs convert_torch.py as its command line does, in this interpreter (runpy),
so that torch is imported once. Exits with 77 when torch, numpy or safetensors is missing.
"""
import io
import os
import runpy
import sys
import traceback

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import safetensors.torch  # noqa: F401
except ImportError as e:
    print("convert_torch_case.py: %s" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import model  # noqa: E402  (golden/model.py: the authors' module names)

CFG = dict(vgg=2, fc=16, ngf=2, ndf=4, n_class=5)
H, W = 32, 64


def tv_vgg16(v, fc, ncls=10):
    """torchvision's VGG16 module tree (same names and indices) at width v."""
    layers, cin = [], 3
    for c in [v, v, "M", 2 * v, 2 * v, "M", 4 * v, 4 * v, 4 * v, "M", 8 * v, 8 * v, 8 * v, "M",
              8 * v, 8 * v, 8 * v, "M"]:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(True)]
            cin = c
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    m.classifier = nn.Sequential(nn.Linear(8 * v * 49, fc), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(fc, fc), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(fc, ncls))
    return m


def convert(args, out=None, tag=None):
    """Runs `convert_torch.py ARGS` as __main__ in this interpreter. Without tag it must
    succeed; with tag its exit status and stderr go to OUT/tag.rc and OUT/tag.err."""
    tool = os.path.join(HERE, "..", "tools", "convert_torch.py")
    saved = sys.argv, sys.stdout, sys.stderr
    err = io.StringIO()
    sys.argv, sys.stdout, sys.stderr = [tool] + args, io.StringIO(), err
    code = 0
    try:
        runpy.run_path(tool, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:  # a traceback is a failure too, shown as the command line would
        err.write(traceback.format_exc())
        code = 1
    finally:
        sys.argv, sys.stdout, sys.stderr = saved
    if tag is None:
        if code != 0:
            sys.stderr.write(err.getvalue())
            sys.exit("convert_torch.py %s failed with status %d" % (args[0], code))
        return
    with open(os.path.join(out, tag + ".rc"), "w") as f:
        f.write("%d\n" % code)
    with open(os.path.join(out, tag + ".err"), "w") as f:
        f.write(err.getvalue())


def main():
    out = sys.argv[1]
    torch.manual_seed(1234)
    ref = {}
    x = (torch.rand(1, 3, H, W, dtype=torch.float32) * 200 - 100).double()
    x01 = torch.rand(1, 3, H, W, dtype=torch.float32).double()
    ref["x"], ref["x01"] = x, x01

    # (a) torchvision VGG16 -> F initialisation
    vgg = tv_vgg16(CFG["vgg"], CFG["fc"])
    for p in vgg.parameters():  # larger than the default so activations stay away from zero
        with torch.no_grad():
            p.mul_(2.0)
    torch.save(vgg.state_dict(), os.path.join(out, "vgg.pth"))
    convert(["vgg16", os.path.join(out, "vgg.pth"), os.path.join(out, "vgg_f.safetensors")])
    F = model.FCN8s(CFG["vgg"], CFG["fc"], CFG["n_class"]).double()
    convs = [m for m in vgg.features if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for name, l1 in zip([n for n in F.trunk if n.startswith("conv")], convs):
            getattr(F, name).weight.copy_(l1.weight)
            getattr(F, name).bias.copy_(l1.bias)
        for i, name in zip([0, 3], ["fc6", "fc7"]):
            l1, l2 = vgg.classifier[i], getattr(F, name)
            l2.weight.copy_(l1.weight.view(l2.weight.size()))
            l2.bias.copy_(l1.bias.view(l2.bias.size()))
        fc7, pool4, pool3 = F.features(x)
    ref["vgg.fc7"], ref["vgg.pool4"], ref["vgg.pool3"] = fc7, pool4, pool3

    # (b) the authors' three networks -> lsdseg checkpoint
    F, G, D = model.build(CFG)
    with torch.no_grad():
        for m in (F.upscore2, F.upscore8, F.upscore_pool4):
            m.weight.copy_(model.bilinear_weight(m.weight.shape[0], m.weight.shape[2]))
        for net in (F, G, D):  # the authors' weights_init scale is too small to test with
            for name, p in net.named_parameters():
                if "upscore" not in name:
                    p.copy_(torch.randn_like(p) * (0.5 if p.dim() == 1 else
                                                   1.0 / np.sqrt(p[0].numel())))
    sdF = {k: v.float() for k, v in F.state_dict().items()}
    torch.save({"epoch": 3, "iteration": 1234, "arch": "FCN8s_LSD", "model_state_dict": sdF,
                "best_mean_iu": 0.3}, os.path.join(out, "fcn.pth"))
    sdG = {"module." + k: v.float() for k, v in G.state_dict().items()}
    for k in list(sdG):  # old PyTorch: instance norms carried running statistics
        if k.endswith("conv_layer.weight"):
            c = sdG[k].shape[0]
            base = k[:-len("conv_layer.weight")]
            sdG[base + "normalization_layer.running_mean"] = torch.zeros(c)
            sdG[base + "normalization_layer.running_var"] = torch.ones(c)
    sdG["module.stage1_upsample.1.running_mean"] = torch.zeros(4 * CFG["ngf"])
    sdG["module.stage1_upsample.1.running_var"] = torch.ones(4 * CFG["ngf"])
    torch.save(sdG, os.path.join(out, "netG.pth"))
    sdD = {k: v.float() for k, v in D.state_dict().items()}
    sdD["feature.1.running_mean"] = torch.zeros(2 * CFG["ndf"])
    sdD["feature.1.running_var"] = torch.ones(2 * CFG["ndf"])
    torch.save(sdD, os.path.join(out, "netD.pth"))
    for ch in ("bgr", "rgb"):
        convert(["lsd", "--fcn", os.path.join(out, "fcn.pth"), "--netG",
                 os.path.join(out, "netG.pth"), "--netD", os.path.join(out, "netD.pth"),
                 "--channels", ch,
                 os.path.join(out, "lsd.safetensors" if ch == "bgr" else "lsd_rgb.safetensors")])
    F, G, D = F.double(), G.double(), D.double()  # exact: the values are float32 numbers
    with torch.no_grad():
        fc7, pool4, pool3 = F.features(x)
        ref["lsd.fc7"], ref["lsd.pool4"], ref["lsd.pool3"] = fc7, pool4, pool3
        ref["lsd.score"] = F.classify(fc7, pool4, pool3, H, W)
        ref["lsd.gen"] = G(fc7, pool4, pool3)
        ref["lsd.d_s"], ref["lsd.d_c"] = D(x01)
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "ref.safetensors"))

    # files of the wrong kind must be refused with a message
    convert(["vgg16", os.path.join(out, "netD.pth"), os.path.join(out, "x.safetensors")],
            out, "refuse_vgg")
    convert(["lsd", "--fcn", os.path.join(out, "fcn.pth"), "--netG", os.path.join(out, "netD.pth"),
             "--netD", os.path.join(out, "netD.pth"), "--channels", "bgr",
             os.path.join(out, "x.safetensors")], out, "refuse_lsd")


if __name__ == "__main__":
    main()
