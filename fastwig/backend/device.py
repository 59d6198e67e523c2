"""The CUDA runtime as the executor sees it: probe, devices, streams, memory, events.

Every host-side use of ``numba.cuda`` (outside the kernels themselves, in ``kernels/cuda.py``) goes
through this module; nothing here runs at import: ``numba.cuda`` is imported on the first call.
"""

from __future__ import annotations

import contextlib

import numpy as np


def _cuda():
    from numba import cuda  # deferred: importing fastwig never imports numba.cuda

    return cuda


def probe() -> str | None:
    """None when numba.cuda has a usable device (or is the simulator), else the reason it has none.

    This is the first thing a CUDA path calls; it imports ``numba.cuda`` and initialises the driver.
    """
    try:
        c = _cuda()
    except Exception as exc:  # numba-cuda not installed, or broken
        return f"numba.cuda cannot be imported ({type(exc).__name__}: {exc}); install the 'cuda' extra"
    try:
        if c.is_available():
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    try:
        from numba.cuda.cudadrv.driver import driver

        driver.initialize()  # raises the driver's own reason
    except Exception as exc:
        return " ".join(f"{type(exc).__name__}: {exc}".split())
    return "numba.cuda.is_available() is False"


def is_simulator() -> bool:
    """Whether numba.cuda is the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba was imported)."""
    _cuda()
    try:
        from numba.cuda.core import config
    except ImportError:  # older numba-cuda
        from numba.core import config
    return bool(config.ENABLE_CUDASIM)


def select_device(index: int | None):
    """A context manager making device ``index`` current (None: the current device)."""
    c = _cuda()
    if index is None:
        return contextlib.nullcontext()
    return c.gpus[int(index)]


def device_count() -> int:
    return len(_cuda().gpus)


def current_device_id() -> int:
    """Index of the current device (0 under the simulator)."""
    c = _cuda()
    try:
        return int(c.get_current_device().id)
    except Exception:
        return 0


def new_stream():
    """A new CUDA stream (kernels and copies of one batch queue on it)."""
    return _cuda().stream()


def pinned_empty(nbytes: int) -> np.ndarray:
    """A page-locked host uint8 array (asynchronous host-to-device copies need one)."""
    return _cuda().pinned_array(int(nbytes), dtype=np.uint8)


def device_empty(shape, dtype):
    """An uninitialised device array."""
    return _cuda().device_array(shape, dtype=dtype)


def to_device(ary, stream=0):
    """A new device array holding a copy of host array ``ary``."""
    return _cuda().to_device(ary, stream=stream)


def device_view(buf, byte_lo: int, count: int, dtype):
    """``count`` elements of ``dtype`` at byte ``byte_lo`` of the 1-D uint8 device array ``buf``
    (``byte_lo`` a multiple of the item size), sharing its memory."""
    size = np.dtype(dtype).itemsize
    return buf[byte_lo:byte_lo + count * size].view(dtype)


def reshape(arr, *shape):
    """A C-contiguous device array seen with another shape, sharing memory."""
    return arr.reshape(*shape)


def copy_to_device(dst, src, stream=0) -> None:
    """Copy host ``src`` into device ``dst`` (same byte size); asynchronous on ``stream`` when ``src``
    is page-locked."""
    dst.copy_to_device(src, stream=stream)


def copy_to_host(src, dst=None, stream=0):
    """Copy device ``src`` to host (into ``dst`` if given) and return the host array; with a stream,
    call :func:`synchronize` before reading it."""
    return src.copy_to_host(dst, stream=stream)


def synchronize(stream=0) -> None:
    """Wait for everything queued on ``stream`` (0: the whole device)."""
    if stream:
        stream.synchronize()
    else:
        _cuda().synchronize()


def as_device_array(obj):
    """``obj`` as a numba device array sharing its memory (a numba device array as is, anything with
    ``__cuda_array_interface__`` such as a torch CUDA tensor through a view), or None if it is neither."""
    c = _cuda()
    if getattr(obj, "__cuda_ndarray__", False) or type(obj).__name__ in ("DeviceNDArray", "FakeCUDAArray"):
        return obj
    if hasattr(obj, "__cuda_array_interface__") and hasattr(c, "as_cuda_array"):
        return c.as_cuda_array(obj)
    return None


def new_event():
    """A CUDA event that records timing (the simulator's report -1)."""
    return _cuda().event(timing=True)


def record(event, stream=0) -> None:
    event.record(stream=stream)


def elapsed_ms(start, end) -> float:
    """Milliseconds between two recorded events (after a synchronize)."""
    return float(start.elapsed_time(end))


