#!/usr/bin/env python3
"""Regenerates the golden reference files under golden/ with PyTorch.

Every golden/gen_<part>.py module defines generate(outdir, device) and writes
small safetensors files (float64 on the CPU; float32 with TF32 off on CUDA) into
outdir. This script runs them all:

    python3 golden/gen.py                  # CPU float64 -> golden/
    python3 golden/gen.py --device cuda    # GPU float32 -> golden/gpu/
    python3 golden/gen.py --only conv      # one part

The test suite reads the files with lsdseg's own safetensors reader and never
needs Python.
"""
import argparse
import glob
import importlib.util
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu (float64) or cuda (float32, TF32 off)")
    ap.add_argument("--only", default=None, help="run only golden/gen_<ONLY>.py")
    ap.add_argument("--out", default=None, help="output folder (default golden/ or golden/gpu/)")
    args = ap.parse_args()
    import torch
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    outdir = args.out or (here if args.device == "cpu" else os.path.join(here, "gpu"))
    os.makedirs(outdir, exist_ok=True)
    parts = sorted(glob.glob(os.path.join(here, "gen_*.py")))
    for path in parts:
        name = os.path.basename(path)[4:-3]
        if args.only and name != args.only:
            continue
        spec = importlib.util.spec_from_file_location("gen_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.path.insert(0, here)
        spec.loader.exec_module(mod)
        print("golden: %s -> %s" % (name, outdir), flush=True)
        mod.generate(outdir, args.device)


if __name__ == "__main__":
    main()
