"""GPU drivers of the kernel twins: every ``numba.cuda`` use in fastwig lives in this module.

Nothing here touches CUDA at import: ``numba.cuda`` is imported, and each kernel compiled, the first
time its driver is called (:func:`_kernel`).  A kernel loops over its items with a grid stride, so any
launch size covers any input; launch sizes are arguments (tests shrink them to force many blocks and
several grid-stride iterations on tiny inputs).  Arrays may be host arrays (numba copies them) or
device arrays (anything with ``__cuda_array_interface__``, e.g. torch CUDA tensors).
"""

from __future__ import annotations

import numpy as np

from . import _twin

_KERNELS: dict[str, object] = {}
# numba.cuda, bound on first use.  Kernels must see it as a module global (not a closure variable):
# the CUDA simulator swaps a kernel's global ``cuda`` for its fake module.
cuda = None


def _cuda():
    global cuda
    if cuda is None:
        from numba import cuda as _numba_cuda

        cuda = _numba_cuda
    return cuda


def _kernel(name: str, build):
    """The compiled kernel ``name``, built by ``build()`` on first use."""
    k = _KERNELS.get(name)
    if k is None:
        k = _KERNELS[name] = build()
    return k


# --- one-hot / integer sequence encoding (kernels/onehot.py) ------------------------------------

def _build_onehot():
    _cuda()
    from . import onehot

    item = _twin.gpu(onehot.onehot_base)

    @cuda.jit
    def onehot_kernel(codes, rc, out, n_value):
        width = codes.shape[1]
        total = codes.shape[0] * width
        k = cuda.grid(1)
        step = cuda.gridsize(1)
        while k < total:
            i = k // width
            item(codes, out, i, k - i * width, rc[i] != 0, n_value)
            k += step

    return onehot_kernel


def _build_integer():
    _cuda()
    from . import onehot

    item = _twin.gpu(onehot.integer_base)

    @cuda.jit
    def integer_kernel(codes, rc, out):
        width = codes.shape[1]
        total = codes.shape[0] * width
        k = cuda.grid(1)
        step = cuda.gridsize(1)
        while k < total:
            i = k // width
            item(codes, out, i, k - i * width, rc[i] != 0)
            k += step

    return integer_kernel


def onehot_batch_gpu(codes, rc, out, n_value, threads_per_block: int, blocks: int, stream=0) -> None:
    """One-hot encode a batch on the GPU; GPU twin of :func:`kernels.onehot.onehot_batch_cpu`.

    Parameters
    ----------
    codes : uint8 (n, width), host or device
        ASCII bytes.
    rc : uint8 (n,), host or device
        Non-zero: that window reverse-complemented.
    out : float32 (n, 4, width), device (or host: numba copies it back)
        Output.
    n_value : float
        Value of the four rows for a non-ACGT byte (cast to float32).
    threads_per_block, blocks : int
        Launch size; the grid-stride loop covers all ``n * width`` bases whatever it is.
    stream : numba CUDA stream or 0
    """
    if codes.shape[0] == 0 or codes.shape[1] == 0:
        return
    k = _kernel("onehot", _build_onehot)
    k[int(blocks), int(threads_per_block), stream](codes, rc, out, np.float32(n_value))


def integer_batch_gpu(codes, rc, out, threads_per_block: int, blocks: int, stream=0) -> None:
    """Integer-encode a batch (``out``: uint8 (n, width)); GPU twin of :func:`kernels.onehot.integer_batch_cpu`."""
    if codes.shape[0] == 0 or codes.shape[1] == 0:
        return
    k = _kernel("integer", _build_integer)
    k[int(blocks), int(threads_per_block), stream](codes, rc, out)
