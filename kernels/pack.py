"""Byte movers of the host pipeline: gather compressed blocks into one packed buffer, copy blocks."""

from __future__ import annotations

import numba


@numba.njit(nogil=True, cache=True)
def copy_ranges(src, src_lo, length, dst, dst_lo, i0, i1):
    """Copy ``src[src_lo[i]:src_lo[i]+length[i]]`` to ``dst[dst_lo[i]:...]`` for items ``i0 .. i1-1``."""
    for i in range(i0, i1):
        a = src_lo[i]
        b = dst_lo[i]
        for k in range(length[i]):
            dst[b + k] = src[a + k]
