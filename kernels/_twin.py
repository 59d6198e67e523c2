"""One per-item algorithm, two compiled twins.

A kernel module writes its per-item algorithm once, as a plain Python function over scalars and
arrays, and decorates it with :func:`twin`.  The decorator returns the CPU twin, an
``numba.njit(inline="always")`` dispatcher, so CPU drivers in the same module simply call the name.
The plain function is kept in a registry; :func:`gpu` compiles it a second time with
``numba.cuda.jit(device=True)``, rebinding the function's globals so that every call it makes to
another twin resolves to that twin's GPU build.  Nothing here imports ``numba.cuda``: the GPU side is
built lazily, only when a GPU driver asks for it.
"""

from __future__ import annotations

import types
from typing import Callable

import numba

_PLAIN: dict[str, Callable] = {}
_GPU: dict[str, object] = {}


def twin(fn: Callable) -> Callable:
    """Register ``fn`` as a per-item algorithm and return its CPU twin (inlined njit)."""
    key = f"{fn.__module__}.{fn.__qualname__}"
    _PLAIN[key] = fn
    cpu = numba.njit(inline="always", nogil=True, cache=True)(fn)
    cpu.__twin_key__ = key
    return cpu


def gpu(cpu_twin) -> object:
    """Return the ``cuda.jit(device=True)`` build of the per-item algorithm behind ``cpu_twin``."""
    key = cpu_twin.__twin_key__
    if key in _GPU:
        return _GPU[key]
    from numba import cuda  # deferred: only GPU drivers get here

    fn = _PLAIN[key]
    rebound = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = rebound.get(name)
        if getattr(value, "__twin_key__", None) is not None:
            rebound[name] = gpu(value)
    clone = types.FunctionType(fn.__code__, rebound, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    dev = cuda.jit(device=True)(clone)
    _GPU[key] = dev
    return dev
