"""Section decode: check inflated blocks, bring them into one canonical layout, extract records.

After :func:`scan_block` an inflated block is in *canonical* layout: every 4-byte field in host
(little-endian) order and the ``type, reserved, itemCount`` word in its little-endian layout, so the
expansion kernels read fields through ``uint32``/``float32`` views with no byte-order branches.  Blocks
start at 4-byte aligned offsets (the host packs them so), which the views need.
"""

from __future__ import annotations

import numba
import numpy as np

from . import status
from ._twin import twin
from .inflate import INFLATE_WORK_SIZE, load_block
from .section import SECTION_HEADER_SIZE

# flags returned by scan_block (non-negative) and kept per cached block
COMPLETE = 1      # every section of the block is present (no early exit cut it)
CLEAN = 2         # one chromosome, records sorted by start and not overlapping: binary search is safe


@twin
def record_size(kind):
    """Bytes per record of a section type, or 0 for an unknown type."""
    if kind == 1:
        return 12
    if kind == 2:
        return 8
    if kind == 3:
        return 4
    return 0


@twin
def scan_block(buf, u32, lo, n, swap, may_be_partial):
    """Validate the inflated block ``buf[lo:lo+n]`` and make its layout canonical, in place.

    Parameters
    ----------
    buf : uint8 array; u32 : the same memory viewed as uint32
    lo : int, 4-byte aligned start of the block; n : int, its inflated length in bytes
    swap : bool, the file is big-endian
    may_be_partial : bool, inflation may have stopped early, so a cut last section is not an error

    Returns
    -------
    int
        ``COMPLETE | CLEAN`` flags (>= 0), or a negative status code.
    """
    if swap:
        for w in range(lo >> 2, (lo + n) >> 2):
            x = u32[w]
            u32[w] = ((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | (x >> 24)
    flags = CLEAN
    p = np.int64(lo)
    end = p + n
    chrom = np.int64(-1)
    prev_end = np.int64(0)
    while True:
        if p == end:
            flags |= COMPLETE
            break
        if end - p < SECTION_HEADER_SIZE:
            if may_be_partial:
                break
            return status.ERR_SECTION_SHORT
        if swap:
            # after the word swap this word reads (count_lo, count_hi, reserved, type)
            kind = buf[p + 23]
            reserved = buf[p + 22]
            c0 = buf[p + 20]
            c1 = buf[p + 21]
            buf[p + 20] = kind
            buf[p + 21] = reserved
            buf[p + 22] = c0
            buf[p + 23] = c1
        kind = buf[p + 20]
        count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
        size = record_size(kind)
        if size == 0:
            return status.ERR_SECTION_TYPE
        h = p >> 2
        sec_chrom = np.int64(u32[h])
        if chrom < 0:
            chrom = sec_chrom
        elif sec_chrom != chrom:
            flags &= ~CLEAN
        avail = (end - p - SECTION_HEADER_SIZE) // size
        cut = False
        if count > avail:
            if not may_be_partial:
                return status.ERR_SECTION_SHORT
            count = avail
            cut = True
        r = h + 6
        if kind == 3:
            step = np.int64(u32[h + 3])
            span = np.int64(u32[h + 4])
            if count > 1 and step < span:
                flags &= ~CLEAN
            if count > 0:
                if np.int64(u32[h + 1]) < prev_end:
                    flags &= ~CLEAN
                prev_end = np.int64(u32[h + 1]) + (count - 1) * step + span
        elif kind == 2:
            span = np.int64(u32[h + 4])
            for i in range(count):
                s = np.int64(u32[r + 2 * i])
                if s < prev_end:
                    flags &= ~CLEAN
                prev_end = s + span
        else:
            for i in range(count):
                s = np.int64(u32[r + 3 * i])
                e = np.int64(u32[r + 3 * i + 1])
                if e < s:
                    return status.ERR_RECORD_RANGE
                if s < prev_end:
                    flags &= ~CLEAN
                prev_end = e
        if cut:
            break
        p += SECTION_HEADER_SIZE + count * size
    return flags


@twin
def section_count(buf, p, end):
    """Records of the section at ``p`` that lie inside the block (a cut last section has fewer)."""
    size = record_size(buf[p + 20])
    if size == 0 or end - p < SECTION_HEADER_SIZE:
        return 0
    count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
    avail = (end - p - SECTION_HEADER_SIZE) // size
    return count if count < avail else avail


@numba.njit(nogil=True, cache=True)
def block_records(buf, u32, f32, lo, n, chrom, qstart, qend, starts, ends, values, at):
    """Append the records of canonical block ``buf[lo:lo+n]`` on ``chrom`` overlapping ``[qstart, qend)``.

    Records go to ``starts``/``ends`` (int64) and ``values`` (float32) from index ``at``; the arrays
    must have room for every record of the block.  Returns the new fill index.
    """
    p = np.int64(lo)
    end = p + n
    while end - p >= SECTION_HEADER_SIZE:
        h = p >> 2
        kind = buf[p + 20]
        count = section_count(buf, p, end)
        size = record_size(kind)
        if u32[h] == chrom:
            r = h + 6
            for i in range(count):
                if kind == 1:
                    s = np.int64(u32[r + 3 * i])
                    e = np.int64(u32[r + 3 * i + 1])
                    v = f32[r + 3 * i + 2]
                elif kind == 2:
                    s = np.int64(u32[r + 2 * i])
                    e = s + np.int64(u32[h + 4])
                    v = f32[r + 2 * i + 1]
                else:
                    s = np.int64(u32[h + 1]) + np.int64(i) * np.int64(u32[h + 3])
                    e = s + np.int64(u32[h + 4])
                    v = f32[r + i]
                if s < qend and e > qstart:
                    starts[at] = s
                    ends[at] = e
                    values[at] = v
                    at += 1
        if size == 0:
            break
        p += SECTION_HEADER_SIZE + count * size
    return at


@twin
def scan_loaded(buf, u32, lo, loaded, swap):
    """Scan a block after :func:`kernels.inflate.load_block`, whose result ``loaded`` it takes.

    ``loaded`` is the inflated length, with ``status.EARLY_STOP`` set when inflation stopped early
    (the last section may then be cut), or the negative status of a failed load, passed on.

    Returns
    -------
    (flags, length) : ``scan_block``'s flags (or a negative status) and the block's usable length
        (0 for a failed block, so that the expansion reads nothing of it)
    """
    if loaded < 0:
        return loaded, 0
    cut = loaded >= status.EARLY_STOP
    n = loaded & (status.EARLY_STOP - 1) if cut else loaded
    f = scan_block(buf, u32, lo, n, swap, cut)
    if f < 0:
        return f, 0
    return f, n


@numba.njit(nogil=True, cache=True)
def scan_loaded_cpu(buf, u32, lo, loaded, mode, flags, length, i0, i1):
    """CPU driver of :func:`scan_loaded` over items ``i0 .. i1-1`` (per-item int64 arrays); ``mode`` bit 1
    (``kernels.inflate.MODE_SWAP``) is the byte swap.  Writes ``flags`` and ``length``."""
    for i in range(i0, i1):
        f, n = scan_loaded(buf, u32, lo[i], loaded[i], (mode[i] & 1) != 0)
        flags[i] = f
        length[i] = n


@numba.njit(nogil=True, cache=True)
def load_scan_cpu(src, src_off, src_end, dst, u32, dst_off, dst_end, stop, mode, loaded, flags, length, i0, i1):
    """CPU driver of :func:`kernels.inflate.load_block` then :func:`scan_loaded`, item by item, over items
    ``i0 .. i1-1`` (per-item int64 arrays): each block is scanned right after it is loaded, while its
    bytes are still in the core's cache.  Writes ``loaded``, ``flags`` and ``length``."""
    work = np.empty(INFLATE_WORK_SIZE, dtype=np.int32)
    for i in range(i0, i1):
        r = load_block(src, src_off[i], src_end[i], dst, dst_off[i], dst_end[i], stop[i], mode[i], work)
        loaded[i] = r
        f, n = scan_loaded(dst, u32, dst_off[i], r, (mode[i] & 1) != 0)
        flags[i] = f
        length[i] = n
