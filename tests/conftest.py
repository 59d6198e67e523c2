"""Fixtures shared by the test modules (helpers live in support.py)."""

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
