"""Interval expansion: paint the records of canonical blocks into dense per-base rows.

One item is one (window, track) row (binned reads do not come here: :mod:`kernels.bins` reduces
records straight into bins, and paints through :func:`expand_range` only on its slow path).  Its blocks are visited in file order and, within a block,
records in stored order, so where records overlap the one stored last wins -- identically on both
twins, since every item writes only its own row.
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin
from .decode import CLEAN, record_size, section_count
from .section import SECTION_HEADER_SIZE

# Hot-loop indices go through IX: numba adds negative-index wraparound code to signed indices only,
# which keeps LLVM from vectorising the fills.
IX = np.uint64

# bedGraph runs vary in length record to record, so a paint loop that stops at a run's exact end
# mispredicts its exit nearly every time: half of a sparse batch's fill.  Where a section's records
# average at least WIDE_MEAN bases, they are painted PAINT_RUN bases at a time, past their end where the
# row has room (the bases past the end lie beyond the painted frontier ``pos``, where the next record or
# the row's final fill writes over them).  Shorter records (per-base signal) keep exact loops, which
# would otherwise write PAINT_RUN bases for each.  On the standard sparse workload (mean run 40 bp) 128
# measured 0.56 ms a batch, 64 0.83, 256 0.76, exact loops 1.14.
PAINT_RUN = 128
WIDE_MEAN = 16


@twin
def paint(out, base, width, pos, ws, s, e, v, missing, wide):
    """Write ``v`` over ``[s, e) & [ws, ws + width)`` of the row at ``out[base:]``; return the new ``pos``.

    ``out[base:base+pos]`` is already written; a record that starts past ``pos`` first fills the gap
    with ``missing``, so every base is written once in the common (sorted) case and the row needs no
    separate fill.  ``wide``: paint in runs of :data:`PAINT_RUN`; bases at or past the returned ``pos``
    may then hold scratch values, so the caller fills ``[pos, width)`` when the row's records are done.
    NaN values count as missing.
    """
    if v != v:
        v = missing
    a = s - ws if s > ws else 0
    b = e - ws if e - ws < width else width
    if b <= a:
        return pos
    if wide and b >= pos and b + PAINT_RUN <= width:
        # whole runs of PAINT_RUN: the gap's last run ends before a + PAINT_RUN, the value's after b
        x = base + pos
        while x < base + a:
            for z in range(PAINT_RUN):
                out[IX(x + z)] = missing
            x += PAINT_RUN
        x = base + a
        while True:
            for z in range(PAINT_RUN):
                out[IX(x + z)] = v
            x += PAINT_RUN
            if x >= base + b:
                return b
    for x in range(IX(base + pos), IX(base + a)):
        out[x] = missing
    for x in range(IX(base + a), IX(base + b)):
        out[x] = v
    return b if b > pos else pos


@twin
def first_record(u32, r, stride, count, ws):
    """First record of a clean section whose end lies after ``ws`` (binary search on starts)."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.int64(u32[IX(r + stride * mid)]) < ws:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0:
        lo -= 1  # the record before may still cover ws
    return lo


@twin
def section_first(u32, h, kind, count, x, clean):
    """The first record of the section whose header is word ``h`` that may reach past base ``x``: every
    record before it ends at or before ``x`` (fixedStep by arithmetic, a clean bedGraph or varStep
    section by binary search; 0 when records may be unsorted).  Shared by both record walks."""
    if kind == 3:
        start = np.int64(u32[h + 1])
        step = np.int64(u32[h + 3])
        span = np.int64(u32[h + 4])
        if step > 0 and x - start - span >= 0:
            return (x - start - span) // step + 1
        return 0
    if clean:
        return first_record(u32, h + 6, 3 if kind == 1 else 2, count, x)
    return 0


@twin
def expand_range(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, chrom, ws, width,
                 chrom_len, missing, oob, out, base):
    """Paint bases ``[ws, ws+width)`` of plan item ``item`` into ``out[base:base+width]``.

    Parameters
    ----------
    buf, u32, f32 : the block arena as uint8, uint32 and float32 views of the same memory
    blk_lo, blk_len, blk_flags : int64 arrays, byte offset, length and scan flags of each block
    bptr, blist : int64 CSR: item i reads blocks ``blist[bptr[i]:bptr[i+1]]``, in file order
    chrom : int, the file's chromId for this window, or -1 when the file lacks the chromosome
    chrom_len : int, chromosome length; bases outside ``[0, chrom_len)`` get ``oob``
    missing, oob : float32 fill values
    out : float32, flat; base : int, where the range's first base goes
    """
    we = ws + width
    pos = 0
    if chrom >= 0:
        for k in range(bptr[item], bptr[item + 1]):
            b = blist[k]
            p = np.int64(blk_lo[b])
            end = p + blk_len[b]
            clean = (blk_flags[b] & CLEAN) != 0
            while end - p >= SECTION_HEADER_SIZE:
                h = p >> 2
                kind = buf[p + 20]
                size = record_size(kind)
                if size == 0:
                    break
                count = section_count(buf, p, end)
                if u32[h] == chrom:
                    r = h + 6
                    i = section_first(u32, h, kind, count, ws, clean)
                    # wide where records average WIDE_MEAN bases or more; never for fixedStep, whose
                    # constant step and span make exact loops predict well
                    wide = kind != 3 and np.int64(u32[h + 2]) - np.int64(u32[h + 1]) >= WIDE_MEAN * count
                    if kind == 3:
                        start = np.int64(u32[h + 1])
                        step = np.int64(u32[h + 3])
                        span = np.int64(u32[h + 4])
                        while i < count:
                            s = start + i * step
                            if s >= we:
                                break
                            pos = paint(out, base, width, pos, ws, s, s + span, f32[r + i], missing, wide)
                            i += 1
                    elif kind == 2:
                        span = np.int64(u32[h + 4])
                        while i < count:
                            s = np.int64(u32[r + 2 * i])
                            if clean and s >= we:
                                break
                            pos = paint(out, base, width, pos, ws, s, s + span, f32[r + 2 * i + 1], missing,
                                        wide)
                            i += 1
                    else:
                        while i < count:
                            q = IX(r + 3 * i)
                            s = np.int64(u32[q])
                            if clean and s >= we:
                                break
                            pos = paint(out, base, width, pos, ws, s, np.int64(u32[q + IX(1)]),
                                        f32[q + IX(2)], missing, wide)
                            i += 1
                p += SECTION_HEADER_SIZE + count * size
    for x in range(IX(base + pos), IX(base + width)):
        out[x] = missing
    lo_oob = -ws if ws < 0 else 0
    if lo_oob > width:
        lo_oob = width
    for x in range(IX(base), IX(base + lo_oob)):
        out[x] = oob
    hi_oob = chrom_len - ws
    if hi_oob < 0:
        hi_oob = 0
    if hi_oob < width:
        for x in range(IX(base + hi_oob), IX(base + width)):
            out[x] = oob


@twin
def expand_item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, row, chrom, ws, width,
                chrom_len, missing, oob, out):
    """Fill output row ``row`` (``out[row*width:(row+1)*width]``) with plan item ``item``, the window
    ``[ws, ws+width)`` on ``chrom`` (see :func:`expand_range`)."""
    expand_range(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, chrom, ws, width, chrom_len,
                 missing, oob, out, row * width)


@numba.njit(nogil=True, cache=True)
def expand_batch_cpu(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, width,
                     chrom_len, missing, oob, out, r0, r1):
    """CPU driver of :func:`expand_item` over output rows ``r0 .. r1 - 1``.

    Row ``window * n_tracks + track`` of the flat ``out`` is filled by item ``track * n + window``
    (items are track-major, with ``n = starts.size``; ``chrom`` and ``chrom_len`` are per item).
    Walking rows in memory order keeps the writes sequential.
    """
    n = starts.size
    n_tracks = out.size // (n * width)
    for row in range(r0, r1):
        w = row // n_tracks
        i = (row % n_tracks) * n + w
        expand_item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, i, row, chrom[i], starts[w],
                    width, chrom_len[i], missing, oob, out)
