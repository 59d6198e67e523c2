"""Executors: where a batch's stages run.  :func:`executor` picks one for a device.

- :class:`~fastwig.backend.cpu.CpuExecutor` runs the njit twins on fastwig's thread pool
  (:func:`run_items`);
- :class:`~fastwig.backend.cuda.CudaExecutor` runs their ``numba.cuda`` twins; every use of CUDA
  buffers and streams is there, imported only when a CUDA device is asked for.

Both take a :class:`~fastwig.request.BatchRequest`, ``allocate`` its result and ``run`` the same
stages (plan, load, fill).  This package also owns the process-wide state of a read and the one
fork handler that keeps it consistent in a forked child.
"""

from __future__ import annotations

import os
import re

from ..config import resolve_threads
from ..errors import RangeError
from ..pool import run_items

_DEVICE_RE = re.compile(r"^(cpu|cuda(?::\d+)?)$")


def executor(device: str = "cpu", threads: int | None = None):
    """The executor of ``device`` ("cpu", "cuda" or "cuda:N") with ``threads`` host threads.

    Raises
    ------
    RangeError
        An unknown device name.
    CudaUnavailable
        A CUDA device was asked for and CUDA is not usable here.
    """
    device = str(device)
    if _DEVICE_RE.match(device) is None:
        raise RangeError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    threads = resolve_threads(threads)
    if device == "cpu":
        from .cpu import CpuExecutor
        return CpuExecutor(threads)
    from .cuda import CudaExecutor  # deferred: CPU reads never touch CUDA
    return CudaExecutor(device, threads)


def _fork_locks() -> list:
    """Locks a read holds, in the order it takes them: held across ``fork()`` so that a child forked
    while another thread reads (or compiles) does not inherit one locked by a thread it lacks.
    (The thread pool and the descriptor pool notice a new pid and start afresh in the child.)"""
    import sys

    from numba.core.compiler_lock import global_compiler_lock

    from .. import pool
    from ..cache import cache

    locks = [cache.lock, pool._pool_lock]
    cuda_mod = sys.modules.get(f"{__name__}.cuda")
    if cuda_mod is not None:
        locks.insert(0, cuda_mod._lock)
    return locks + [global_compiler_lock._lock]


_held: list = []


def _before_fork() -> None:
    _held[:] = _fork_locks()
    for lock in _held:
        lock.acquire()


def _after_fork() -> None:
    for lock in reversed(_held):
        lock.release()
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)

__all__ = ["executor", "run_items"]
