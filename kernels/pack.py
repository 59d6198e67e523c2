"""Byte movers of the host pipeline: gather compressed blocks into one packed buffer, copy blocks.

Host-only (no GPU twin): they call the C library's ``memcpy`` (through ctypes, several times faster
than a byte loop; numba cannot cache a function that holds a ctypes pointer, so those compile at
first use: they are tiny) and ``pread`` (declared by name, so its callers are cached).
"""

from __future__ import annotations

import ctypes

import numba
from numba import types

_memcpy = ctypes.CDLL(None).memcpy
_memcpy.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_memcpy.restype = ctypes.c_void_p


@numba.njit(nogil=True)
def copy_ranges(src, src_lo, length, dst, dst_lo, i0, i1):
    """Copy ``src[src_lo[i]:src_lo[i]+length[i]]`` to ``dst[dst_lo[i]:...]`` for items ``i0 .. i1-1``.

    The caller guarantees every range lies inside its array (the host checked offsets against
    the file size and sized ``dst``).
    """
    s = src.ctypes.data
    d = dst.ctypes.data
    for i in range(i0, i1):
        if length[i] > 0:
            _memcpy(d + dst_lo[i], s + src_lo[i], length[i])


# The C library's pread, declared to numba by name (not through a ctypes pointer) so that callers can
# be cached: ssize_t pread(int fd, void *buf, size_t count, off_t offset), the buffer passed as its
# address (a pointer and a 64-bit integer travel alike in the 64-bit calling conventions).
_pread = types.ExternalFunction("pread", types.intp(types.intc, types.uintp, types.uintp, types.int64))


@numba.njit(nogil=True, cache=True)
def pread_ranges(fds, offset, length, dst, dst_lo, got, i0, i1):
    """Read ``length[i]`` bytes at offset ``offset[i]`` of descriptor ``fds[i]`` into ``dst[dst_lo[i]:]``
    (items ``i0 .. i1-1``; one call reads the blocks of many files).

    Positional reads share no file offset, so threads may read one descriptor at once.  ``got[i]``
    receives the bytes read (fewer than asked when the file is shorter than its index says).
    """
    d = dst.ctypes.data
    for i in range(i0, i1):
        n = 0
        while n < length[i]:
            r = _pread(fds[i], d + dst_lo[i] + n, length[i] - n, offset[i] + n)
            if r <= 0:
                break
            n += r
        got[i] = n
