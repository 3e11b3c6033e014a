"""Helpers shared by the golden generators: saving with metadata."""
import json
import struct

import torch


def meta(device, **extra):
    """Metadata every golden file carries: PyTorch version, device, dtype."""
    m = {"torch_version": torch.__version__, "device": str(device),
         "dtype": "float64" if device == "cpu" else "float32",
         "generator": "golden/gen.py"}
    m.update({k: str(v) for k, v in extra.items()})
    return m


def dtype_for(device):
    return torch.float64 if device == "cpu" else torch.float32


# safetensors dtype names and item sizes of the torch dtypes the goldens use
_ST_DTYPE = {torch.float64: ("F64", 8), torch.float32: ("F32", 4), torch.int64: ("I64", 8),
             torch.int32: ("I32", 4), torch.uint8: ("U8", 1)}


def save(path, tensors, device, **extra):
    """Saves a dict of tensors (moved to the CPU, made contiguous) with metadata, as a
    safetensors file whose bytes depend on the contents alone: the header is JSON with sorted
    keys and no spaces, padded with spaces to a multiple of 8, and the data are laid out by
    item size (largest first, so every tensor is aligned) and then by name. The safetensors
    package itself writes the metadata in hash order, which changes from run to run."""
    out = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    order = sorted(out, key=lambda k: (-_ST_DTYPE[out[k].dtype][1], k))
    header, blobs, offset = {"__metadata__": meta(device, **extra)}, [], 0
    for k in order:
        name, _ = _ST_DTYPE[out[k].dtype]
        data = out[k].numpy().astype(out[k].numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": name, "shape": list(out[k].shape),
                     "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
