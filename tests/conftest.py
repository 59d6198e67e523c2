"""Fixtures shared by the test modules (helpers live in support.py and gpu_support.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def small_cache():
    """Shrink the block cache so that batches wrap the ring and evict."""
    import fastwig
    from fastwig.cache import cache
    old = fastwig.settings.cache_bytes
    fastwig.settings.cache_bytes = 64 << 10
    cache.clear()
    yield
    fastwig.settings.cache_bytes = old
    cache.clear()


@pytest.fixture(scope="session")
def gpu():
    """fastwig's GPU drivers (``kernels.cuda``) on the simulator or a real device; skips elsewhere.

    See gpu_support.py for where GPU tests run.  With ``FASTWIG_GPU_TEST_MODE=real`` or ``=sim`` a
    missing device or simulator fails the test instead of skipping it.
    """
    from gpu_support import gpu_drivers, required_mode

    kc, why = gpu_drivers()
    if kc is None:
        if required_mode() != "auto":
            pytest.fail(why)
        pytest.skip(why)
    return kc


@pytest.fixture
def tiny_launches(monkeypatch):
    """fastwig's CUDA launches shrunk to 2 threads per block and at most 2 blocks for one test."""
    from gpu_support import BLOCKS, TPB

    import fastwig

    monkeypatch.setattr(fastwig.settings, "gpu_threads_per_block", TPB)
    monkeypatch.setattr(fastwig.settings, "gpu_max_blocks", BLOCKS)


@pytest.fixture
def read_twins(gpu, tiny_launches):
    """``check(label, tracks, chroms, starts, width, **kw)``: ``read_windows`` on the CPU and on the GPU
    (tiny launches), asserted equal bit for bit; returns the CPU result."""
    from gpu_support import ReadTwins

    import fastwig

    return ReadTwins(fastwig)
