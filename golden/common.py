"""Helpers shared by the golden generators: saving with metadata."""
import torch
from safetensors.torch import save_file


def meta(device, **extra):
    """Metadata every golden file carries: PyTorch version, device, dtype."""
    m = {"torch_version": torch.__version__, "device": str(device),
         "dtype": "float64" if device == "cpu" else "float32",
         "generator": "golden/gen.py"}
    m.update({k: str(v) for k, v in extra.items()})
    return m


def dtype_for(device):
    return torch.float64 if device == "cpu" else torch.float32


def save(path, tensors, device, **extra):
    """Saves a dict of tensors (moved to the CPU, made contiguous) with metadata."""
    out = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(out, path, metadata=meta(device, **extra))
