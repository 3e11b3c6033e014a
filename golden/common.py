"""Helpers shared by the golden generators: saving with metadata."""
import ctypes
import json
import os
import struct

import torch

# oneDNN 2.x's dnnl_cpu_isa_t values (dnnl_types.h) and the names ONEDNN_MAX_CPU_ISA takes
_ONEDNN_ISA = {0x0: "all", 0x1: "sse41", 0x3: "avx", 0x7: "avx2", 0xf: "avx512_mic",
               0x1f: "avx512_mic_4ops", 0x27: "avx512_core", 0x67: "avx512_core_vnni",
               0xe7: "avx512_core_bf16", 0x3e7: "avx512_core_amx", 0x407: "avx2_vnni"}


def _mapped_libraries():
    """Real paths of the shared libraries this process has mapped (Linux; else empty)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line and ".so" in line}
    except OSError:
        return []
    return sorted({os.path.realpath(p) for p in paths})


def _onednn_isa():
    """The instruction set oneDNN runs here (after ONEDNN_MAX_CPU_ISA), or 'unknown'."""
    libs = [p for p in _mapped_libraries() if "dnnl" in os.path.basename(p)
            or "torch_cpu" in os.path.basename(p)]
    for path in libs:
        try:
            fn = ctypes.CDLL(path).dnnl_get_effective_cpu_isa
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_int
        v = fn()
        return "%s (0x%x)" % (_ONEDNN_ISA.get(v, "?"), v)
    return "unknown"


def _blas():
    """The BLAS libraries mapped into this process (the alternative libblas.so.3 points to:
    Debian's reference BLAS, OpenBLAS, BLIS, MKL), as their last two path components."""
    names = ["/".join(p.split("/")[-2:]) for p in _mapped_libraries()
             if any(k in os.path.basename(p).lower() for k in ("blas", "blis", "mkl"))]
    return ",".join(names) or "none"


def cpu_path():
    """What chooses PyTorch's float64 CPU code paths, so that a file regenerated elsewhere
    is compared to the byte only when all of these agree (tests/test_goldens.c): torch's
    version and CPU capability (ATEN_CPU_CAPABILITY), oneDNN's ISA (ONEDNN_MAX_CPU_ISA),
    the BLAS library and the number of threads."""
    torch.zeros(1) + 1  # loads the kernels
    show = torch.__config__.show()
    cap = [l.split(":", 1)[1].strip() for l in show.splitlines() if "CPU capability" in l]
    return {"torch_version": torch.__version__,
            "cpu_capability": cap[0] if cap else "unknown",
            "onednn_isa": _onednn_isa(), "blas": _blas(),
            "threads": str(torch.get_num_threads())}


def meta(device, **extra):
    """Metadata every golden file carries: device, dtype and the CPU path (cpu_path)."""
    m = {"device": str(device), "dtype": "float64" if device == "cpu" else "float32",
         "generator": "golden/gen.py"}
    m.update(cpu_path())
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
