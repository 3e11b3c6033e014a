"""PyTorch on a given number of threads, its BLAS included: set_threads(n) for
bench/nets_torch.py and bench/layers_torch.py. A module, not a benchmark (bench/run.sh runs
only bench/*.py). The caller imports torch first.

torch.set_num_threads sets the OpenMP threads of ATen and oneDNN, but not the thread pool of
an OpenBLAS built with pthreads (Debian's libopenblas0-pthread, what python3-torch uses):
that pool keeps one thread a core. PyTorch calls OpenBLAS for its transposed convolutions and
its matrix products, so a "1 thread" PyTorch ran them on every core of the machine (G's first
transposed convolution, forward and backward at 320x640: 457 ms on the 2 cores against 833 ms
on one; the 2-thread run 429 ms). set_threads gives OpenBLAS the same count through its
openblas_set_num_threads, found in the library this process has loaded."""
import ctypes
import os

import torch

_blas_path = None
_blas_setter = None
_blas_looked = False


def blas_library():
    """Path of the OpenBLAS this process has loaded (from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f
                            if "openblas" in line and ".so" in line.split()[-1]})
    except OSError:
        return None
    for p in paths:
        if os.path.basename(p).startswith("libopenblas"):
            return p
    return paths[0] if paths else None


def _setter():
    """openblas_set_num_threads of the loaded OpenBLAS, or None (another BLAS, none loaded,
    no /proc: then torch.set_num_threads is all there is to set)."""
    global _blas_path, _blas_setter, _blas_looked
    if not _blas_looked:
        _blas_looked = True
        _blas_path = blas_library()
        if _blas_path:
            try:
                fn = ctypes.CDLL(_blas_path).openblas_set_num_threads
                fn.argtypes, fn.restype = [ctypes.c_int], None
                _blas_setter = fn
            except (OSError, AttributeError):
                _blas_setter = None
    return _blas_setter


def set_threads(n):
    """torch.set_num_threads(n), and OpenBLAS's pool to n threads where it is loaded.
    Returns True when OpenBLAS was set too."""
    torch.set_num_threads(n)
    fn = _setter()
    if fn is not None:
        fn(n)
        return True
    return False


def blas_threads_warning():
    """A line for stderr where an OpenBLAS is loaded whose threads set_threads cannot set (its
    BLAS calls may then use every core whatever the thread count), else None."""
    if _setter() is None and _blas_path is not None:
        return ("torch_threads: %s has no openblas_set_num_threads: PyTorch's BLAS calls may "
                "use every core whatever the thread count" % _blas_path)
    return None
