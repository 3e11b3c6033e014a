"""Writes the safetensors dtype fixtures of tests/test_safetensors.c.

  /usr/bin/python3 tests/data/safetensors_dtypes.py

For every dtype the Python safetensors package knows (0.8.0: BOOL U8 I8 U16 I16 U32 I32 U64
I64 F16 BF16 F32 F64 F8_E4M3 F8_E5M2 F8_E4M3FNUZ F8_E5M2FNUZ F8_E8M0 F4 F6_E2M3 F6_E3M2 C64)
it writes tests/data/dtypes/<DTYPE>.safetensors with the package's own writer (F6_E2M3 and
F6_E3M2, which its writer does not take, by hand; the package's reader must accept them), and
tests/data/dtypes/expected.txt with what Python decodes from each tensor, so that the C test
compares the reader against Python, not against itself. The files are committed: the tests
also run under qemu on s390x, where there is no Python.

Values: numpy decodes the integers, F16, F32 and F64; torch decodes BF16 (ml_dtypes must
agree); ml_dtypes decodes the F8 kinds, every one of their 256 bit patterns. torch 1.13 has no
float8 and numpy none of BF16 or F8, so ml_dtypes is needed; without it in /usr/bin/python3:
  python3 -m venv --system-site-packages /tmp/stv && /tmp/stv/bin/pip install ml_dtypes
  /tmp/stv/bin/python tests/data/safetensors_dtypes.py

expected.txt, one line each ('#' lines are comments):
  tensor DTYPE NAME NDIM D0 D1 ...   a tensor of file DTYPE.safetensors
  raw HEX                            its data bytes, as stored
  int F24 F53 I64 V0 V1 ...          integer values in decimal; F24, F53: the first element that
                                     float (24-bit significand) / double (53 bits) cannot hold
                                     exactly, I64: the first above INT64_MAX (-1: none)
  float V0 V1 ...                    values as C99 hex floats, inf, -inf or nan
  none                               not numbers (BOOL, C64, packed F4 / F6): raw bytes only
"""
import json
import os
import sys

import numpy as np
import torch
import safetensors
from safetensors import TensorSpec, deserialize, serialize_file
import safetensors.numpy as stnp
import safetensors.torch as stt

try:
    import ml_dtypes
except ImportError:
    sys.exit("safetensors_dtypes.py: needs ml_dtypes for the F8 values (see the docstring)")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dtypes")


def hexfloat(v):
    """v as a short C99 hex float (exact), or inf / -inf / nan."""
    v = float(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    s = v.hex()                       # e.g. -0x1.c000000000000p+8
    mant, exp = s.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return mant + "p" + exp


def first(pred, values):
    """Index of the first value for which pred is true, or -1."""
    for i, v in enumerate(values):
        if pred(v):
            return i
    return -1


def int_line(values):
    vals = [int(v) for v in values]
    f24 = first(lambda v: int(np.float32(v)) != v, vals)
    f53 = first(lambda v: int(float(v)) != v, vals)
    i64 = first(lambda v: v > 2**63 - 1, vals)
    return "int %d %d %d %s" % (f24, f53, i64, " ".join(str(v) for v in vals))


def float_line(values):
    return "float " + " ".join(hexfloat(v) for v in values)


def raw_of(path, name):
    """The stored bytes and header entry of tensor name, read back by the package."""
    with open(path, "rb") as f:
        data = f.read()
    for k, v in deserialize(data):
        if k == name:
            return bytes(v["data"]), v
    raise KeyError(name)


lines = ["# written by tests/data/safetensors_dtypes.py with safetensors %s, numpy %s, torch %s,"
         " ml_dtypes %s" % (safetensors.__version__, np.__version__, torch.__version__,
                            ml_dtypes.__version__)]


def record(dtype, tensors, kinds):
    """Adds the expectation lines of file dtype.safetensors: tensors {name: shape},
    kinds {name: value line or 'none'}."""
    path = os.path.join(OUT, dtype + ".safetensors")
    for name in sorted(tensors):
        raw, entry = raw_of(path, name)
        assert entry["dtype"] == dtype, (entry["dtype"], dtype)
        shape = list(entry["shape"])
        assert shape == list(tensors[name]), (shape, tensors[name])
        lines.append("tensor %s %s %d %s" % (dtype, name, len(shape), " ".join(map(str, shape))))
        lines.append("raw " + raw.hex())
        lines.append(kinds[name])


def save_np(dtype, arrays):
    """Writes arrays {name: numpy array} with safetensors.numpy; lines from numpy's values."""
    path = os.path.join(OUT, dtype + ".safetensors")
    stnp.save_file(arrays, path)
    back = stnp.load_file(path)
    kinds = {}
    for name, a in arrays.items():
        assert back[name].dtype == a.dtype and back[name].tobytes() == a.tobytes()
        if a.dtype.kind in "iu":
            kinds[name] = int_line(a.reshape(-1).tolist())
        elif a.dtype.kind == "b" or a.dtype.kind == "c":
            kinds[name] = "none"
        else:
            kinds[name] = float_line(a.reshape(-1).astype(np.float64).tolist())
    record(dtype, {k: a.shape for k, a in arrays.items()}, kinds)


os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    if f.endswith(".safetensors"):
        os.remove(os.path.join(OUT, f))

# ---- integers and BOOL: the limits of each kind, and for the wide kinds an "exact" tensor
# of large values that float holds exactly
save_np("BOOL", {"x": np.array([True, False, True, True, False])})
save_np("U8", {"x": np.array([0, 1, 127, 128, 254, 255], np.uint8)})
save_np("I8", {"x": np.array([-128, -127, -1, 0, 1, 126, 127], np.int8)})
save_np("U16", {"x": np.array([0, 1, 255, 256, 32767, 32768, 65534, 65535], np.uint16)})
save_np("I16", {"x": np.array([[-32768, -32767, -256, -1], [0, 1, 255, 32767]], np.int16)})
save_np("U32", {"x": np.array([0, 1, 2**24, 2**24 + 1, 2**31, 2**32 - 2, 2**32 - 1], np.uint32),
                "exact": np.array([2**24, 2**24 + 2, 2**31, 0xFFFFFF00, 0], np.uint32)})
save_np("I32", {"x": np.array([-2**31, -2**31 + 1, -2**24 - 1, -1, 0, 1, 2**24 + 1, 2**31 - 1],
                              np.int32),
                "exact": np.array([-2**31, -2**24, 2**24 + 2, 0x7FFFFF80], np.int32)})
save_np("U64", {"x": np.array([0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1],
                              np.uint64),
                "exact": np.array([2**63, 0xFFFFFF0000000000, 2**53, 12345], np.uint64),
                "low": np.array([0, 1, 2**63 - 1], np.uint64)})
save_np("I64", {"x": np.array([-2**63, -2**63 + 1, -2**53 - 1, -1, 0, 1, 2**53 + 1, 2**63 - 1],
                              np.int64),
                "exact": np.array([-2**63, -2**53, 0x7FFFFF8000000000, 2**24, 1], np.int64)})

# ---- IEEE floats from bit patterns: zeros, subnormals, normals, the largest finite, inf, NaN
f16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0x3C01, 0xC000, 0x3555,
       0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01]
save_np("F16", {"x": np.array(f16, np.uint16).view(np.float16)})
f32 = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0x3EAAAAAB,
       0xC0490FDB, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000]
save_np("F32", {"x": np.array(f32, np.uint32).view(np.float32)})
f64 = [0, 1 << 63, 1, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x3FF0000000000000,
       0x3FD5555555555555, 0x400921FB54442D18, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
       0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000]
save_np("F64", {"x": np.array(f64, np.uint64).view(np.float64)})

# BF16 through torch (torch.bfloat16 decodes it; ml_dtypes must agree)
bf16 = [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xC040, 0x3EAB, 0x4049, 0x7F7F, 0xFF7F,
        0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x8001]
bt = torch.tensor([b - 65536 if b >= 32768 else b for b in bf16], dtype=torch.int16)
bt = bt.view(torch.bfloat16).reshape(4, 4)
stt.save_file({"x": bt}, os.path.join(OUT, "BF16.safetensors"))
bv = bt.reshape(-1).double().tolist()
mv = np.array(bf16, np.uint16).view(ml_dtypes.bfloat16).astype(np.float64).tolist()
assert [hexfloat(a) for a in bv] == [hexfloat(b) for b in mv]
assert torch.equal(stt.load_file(os.path.join(OUT, "BF16.safetensors"))["x"].view(torch.int16),
                   bt.view(torch.int16))
record("BF16", {"x": [4, 4]}, {"x": float_line(bv)})

# ---- the 8-bit floats: all 256 bit patterns, decoded by ml_dtypes
every = np.arange(256, dtype=np.uint8)
for dtype, mt in [("F8_E4M3", ml_dtypes.float8_e4m3fn), ("F8_E5M2", ml_dtypes.float8_e5m2),
                  ("F8_E4M3FNUZ", ml_dtypes.float8_e4m3fnuz),
                  ("F8_E5M2FNUZ", ml_dtypes.float8_e5m2fnuz), ("F8_E8M0", ml_dtypes.float8_e8m0fnu)]:
    a = every.view(mt).reshape(16, 16)
    path = os.path.join(OUT, dtype + ".safetensors")
    stnp.save_file({"x": a}, path)       # the package names the dtype from ml_dtypes' name
    record(dtype, {"x": [16, 16]}, {"x": float_line(a.reshape(-1).astype(np.float64).tolist())})

# ---- not numbers to lsdseg: complex, and the packed sub-byte floats (raw bytes only)
save_np("C64", {"x": np.array([1 + 2j, -0.5 - 0.25j], np.complex64)})
packed = np.array([0x21, 0x7F, 0x8A], np.uint8)  # F4: 6 elements, two to a byte
serialize_file({"x": TensorSpec(dtype="float4_e2m1fn_x2", shape=[3], data_ptr=packed.ctypes.data,
                                data_len=3)}, os.path.join(OUT, "F4.safetensors"))
record("F4", {"x": [6]}, {"x": "none"})
for dtype in ("F6_E2M3", "F6_E3M2"):   # 4 elements in 3 bytes; the writer takes no F6
    data = bytes([0x41, 0xC3, 0x9E])
    h = json.dumps({"x": {"dtype": dtype, "shape": [4], "data_offsets": [0, 3]}},
                   separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(OUT, dtype + ".safetensors"), "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + data)
    record(dtype, {"x": [4]}, {"x": "none"})

with open(os.path.join(OUT, "expected.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print("safetensors_dtypes.py: wrote %d files, %d bytes, in %s" % (len(os.listdir(OUT)), total, OUT))
