"""fastwig's thread pool: chunks of a stage's items run on Python threads, for the CPU twins.

The CPU drivers are serial ``numba.njit(nogil=True)`` loops over an item range; this module splits the
items of a stage into chunks and runs them on a process-wide pool of Python threads, which run truly
in parallel because the drivers release the GIL.  A pool of our own, rather than numba's ``prange``
threading layers, keeps every call thread-safe (any number of Python threads may read at once) and
fork-safe (a DataLoader worker forked after a read gets a fresh pool; the OpenMP layer would hang and
the workqueue layer aborts on concurrent use).
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_size = 0
_pool_lock = threading.Lock()

CHUNKS_PER_THREAD = 2     # more chunks than threads even out items of uneven cost


def _get_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid, _pool_size
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_size < threads:
            # after a fork the parent's worker threads do not exist in the child: start afresh
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fastwig")
            _pool_pid = os.getpid()
            _pool_size = threads
        return _pool


def run_items(driver: Callable, n_items: int, threads: int, *args, min_chunk: int = 1) -> None:
    """Call ``driver(*args, i0, i1)`` over ``[0, n_items)``, split across ``threads`` threads.

    Parameters
    ----------
    driver : callable
        A CPU driver whose last two arguments are the item range.
    n_items : int
    threads : int
        1 runs in the calling thread.
    min_chunk : int
        Fewest items worth a chunk (tiny chunks cost more in dispatch than they save).
    """
    if n_items <= 0:
        return
    chunks = min(threads * CHUNKS_PER_THREAD, max(1, n_items // max(1, min_chunk)))
    if threads <= 1 or chunks <= 1:
        driver(*args, 0, n_items)
        return
    pool = _get_pool(threads - 1)
    bounds = [n_items * k // chunks for k in range(chunks + 1)]
    claim = itertools.count()   # next() on a count is atomic under the GIL: chunks are claimed once

    def work() -> None:
        for k in iter(claim.__next__, None):
            if k >= chunks:
                return
            driver(*args, bounds[k], bounds[k + 1])

    # the calling thread works too, beside threads - 1 pool threads, all taking chunks as they free up
    futures = [pool.submit(work) for _ in range(min(threads, chunks) - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()
