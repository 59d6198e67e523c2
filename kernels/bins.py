"""Bins straight from records: reduce a window's records into bins without a per-base row.

One item is a (window, track) row and a range of its bins ``[b0, b1)``: long windows are split into
several items so that every thread (and every GPU thread) has work when a batch holds few windows.

The fast path walks the item's records in file order (blocks in file order, records in stored
order), clips each to the item's bases and to the chromosome, and adds it to a streaming
accumulator: ``value * length`` to a float64 sum, the length to a count, the value to min and max.
A bin is finished, and written once, as soon as the walk passes its end, so the memory an item
needs is a handful of scalars, whatever the window's width.  Uncovered bases (no record, a NaN
record) take the fill value when the bin is finished.

"The record stored last wins" needs no work while records do not overlap, which the format
requires of sorted files and every writer we know produces.  The fast path checks it on the way
(each record must start at or after the previous one's end); at the first record that breaks it,
the item starts again on the bounded slow path: :data:`CHUNK` bases at a time are painted with the
per-base painter of :mod:`kernels.expand` (last wins) into a small scratch that the caller owns
(``cuda.local.array`` on the GPU), then fed to the same accumulator.

Bases outside ``[0, chrom_len)`` take ``oob``: uncovered when ``oob`` is unset or NaN, else a
covered base of value ``oob`` (as the per-base path paints them).
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin
from .decode import CLEAN, record_size, section_count
from .expand import expand_range, section_first
from .section import SECTION_HEADER_SIZE

# reduction statistics: the one table of their codes (names in fastwig.request.STATS)
STAT_MEAN = 0
STAT_SUM = 1
STAT_MIN = 2
STAT_MAX = 3
STAT_COVERAGE = 4

# bases painted at once on the slow path (float32 scratch per thread: 1 KiB of GPU local memory)
CHUNK = 256

# Bases per item: a window longer than this is split into parts of whole bins, so that a batch of a
# few long windows still gives every thread work.  The CPU takes 65,536 (3 parts per Enformer window:
# a 16-window batch over 8 tracks is 384 items for 2 threads; 16,384 cost 8% more in finding each
# part's first records); the GPU, whose threads are many and slow, 16,384.
ITEM_BASES = 1 << 16
ITEM_BASES_GPU = 1 << 14

# min and max run in float32, the values' type (float64 compares would convert every value)
INF32 = np.float32(np.inf)

# Hot-loop indices go through IX (unsigned): numba adds negative-index wraparound code to signed
# indices only (see kernels/expand.py).
IX = np.uint64

# item return values
FAST = 0
PAINTED = 1


def parts_per_row(nbins: int, bin_size: int, item_bases: int = ITEM_BASES) -> int:
    """Items each (window, track) row is split into (host-side helper of both drivers)."""
    step = max(1, item_bases // bin_size)
    return max(1, -(-nbins // step))


@twin
def bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing):
    """The statistic of one bin from its accumulator: ``n`` covered bases, float64 ``total``, ``lo``, ``hi``."""
    if stat == STAT_COVERAGE:
        return np.float32(n / bin_size)
    if n < bin_size and not covered_only:
        # uncovered bases take the fill value
        fill = np.float64(missing)
        total += fill * (bin_size - n)
        if fill < lo:
            lo = fill
        if fill > hi:
            hi = fill
        n = bin_size
    if n == 0:
        return np.float32(missing)
    if stat == STAT_MEAN:
        return np.float32(total / n)
    if stat == STAT_SUM:
        return np.float32(total)
    if stat == STAT_MIN:
        return np.float32(lo)
    return np.float32(hi)


@twin
def add_span(out, obase, s, e, v, n, total, lo, hi, j, bin_end, bin_size, stat, covered_only, missing):
    """Add value ``v`` over bases ``[s, e)`` to the accumulator ``(n, total, lo, hi)`` of bin ``j``
    (which ends at ``bin_end``), first finishing bin ``j`` and any empty bins before ``s``.

    ``s`` must not precede the bases already added.  Returns the accumulator and ``(j, bin_end)``.
    """
    while s < e:
        if s >= bin_end:
            out[obase + j] = bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing)
            n = 0
            total = 0.0
            lo = INF32
            hi = -INF32
            j += 1
            bin_end += bin_size
            while s >= bin_end:
                out[obase + j] = bin_value(0, 0.0, INF32, -INF32, bin_size, stat, covered_only, missing)
                j += 1
                bin_end += bin_size
        t = e if e < bin_end else bin_end
        n += t - s
        total += np.float64(v) * (t - s)
        if stat == STAT_MIN or stat == STAT_MAX:
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        s = t
    return n, total, lo, hi, j, bin_end


@twin
def bin_records(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, chrom, ws, chrom_len,
                bin_size, b0, b1, stat, covered_only, missing, oob, oob_covers, out, obase):
    """Fast path: bins ``b0 .. b1-1`` of item ``item`` from its records; ``PAINTED`` means "not done".

    Parameters
    ----------
    buf, u32, f32 : the block arena as uint8, uint32 and float32 views of the same memory
    blk_lo, blk_len, blk_flags : int64 (m,), byte offset, length and scan flags of each block
    bptr, blist : int64 CSR, item i reads blocks ``blist[bptr[i]:bptr[i+1]]`` in file order
    chrom : int, the file's chromId of the window (-1: the file lacks the chromosome)
    ws : int, window start; chrom_len : int, chromosome length (0 when the file lacks it)
    bin_size, b0, b1 : int, bases per bin and this item's bins
    stat : int, a ``STAT_*`` code; covered_only : bool
    missing, oob : float32 fill values; oob_covers : bool, bases outside the chromosome count as
        covered with value ``oob``
    out : float32 (rows * nbins,), flat; bin j of this item goes to ``out[obase + j]``

    Returns
    -------
    int
        ``FAST`` when every bin was written, ``PAINTED`` when records overlap or are out of order
        (the bins are not valid then: the caller runs :func:`bin_painted`).
    """
    rs = ws + b0 * bin_size          # the item's bases [rs, re)
    re = ws + b1 * bin_size
    lo_clip = rs if rs > 0 else 0    # records are clipped to the item and to the chromosome
    hi_clip = re if re < chrom_len else chrom_len
    j = b0
    bin_end = ws + (b0 + 1) * bin_size
    n = 0
    total = 0.0
    lo = INF32
    hi = -INF32
    minmax = stat == STAT_MIN or stat == STAT_MAX   # mean, sum and coverage need no running min and max
    if oob_covers and rs < 0:        # bases before the chromosome
        n, total, lo, hi, j, bin_end = add_span(out, obase, rs, re if re < 0 else 0, oob, n, total, lo, hi, j,
                                                bin_end, bin_size, stat, covered_only, missing)
    cursor = lo_clip                 # end of the last record added: the next must start at or after it
    if chrom >= 0 and lo_clip < hi_clip:
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
                p += SECTION_HEADER_SIZE + count * size
                if u32[h] != chrom:
                    continue
                r = h + 6
                step = np.int64(u32[h + 3])
                span = np.int64(u32[h + 4])
                i = section_first(u32, h, kind, count, lo_clip, clean)
                while i < count:
                    if kind == 1:
                        q = IX(r + 3 * i)
                        s = np.int64(u32[q])
                        e = np.int64(u32[q + IX(1)])
                        v = f32[q + IX(2)]
                    elif kind == 2:
                        q = IX(r + 2 * i)
                        s = np.int64(u32[q])
                        e = s + span
                        v = f32[q + IX(1)]
                    else:
                        s = np.int64(u32[h + 1]) + i * step
                        e = s + span
                        v = f32[IX(r + i)]
                    i += 1
                    if s >= hi_clip:
                        if clean or kind == 3:
                            break
                        continue
                    if s < lo_clip:
                        s = lo_clip
                    if e > hi_clip:
                        e = hi_clip
                    if e <= s:
                        continue
                    if s < cursor:
                        return PAINTED     # overlapping or unsorted records: last-wins needs painting
                    cursor = e
                    if v != v:             # a NaN record is no data
                        continue
                    # add_span's job, in line: a tuple-returning call per record cost 17% of an Enformer
                    # batch.  First finish the bins before the record, if it starts past the current one.
                    if s >= bin_end:
                        out[obase + j] = bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing)
                        j += 1
                        bin_end += bin_size
                        if s >= bin_end:
                            empty = bin_value(0, 0.0, INF32, -INF32, bin_size, stat, covered_only, missing)
                            while s >= bin_end:
                                out[obase + j] = empty
                                j += 1
                                bin_end += bin_size
                        n = 0
                        total = 0.0
                        lo = INF32
                        hi = -INF32
                    # its part in this bin: all of it in the common case, where the record ends inside
                    t = e if e < bin_end else bin_end
                    n += t - s
                    total += np.float64(v) * (t - s)
                    if minmax:
                        if v < lo:
                            lo = v
                        if v > hi:
                            hi = v
                    if e <= bin_end:
                        continue
                    # past the bin: finish it, then the bins the record covers whole (one value), then its tail
                    out[obase + j] = bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing)
                    j += 1
                    bin_end += bin_size
                    if e >= bin_end:
                        whole = bin_value(bin_size, np.float64(v) * bin_size, v, v, bin_size, stat, covered_only,
                                          missing)
                        while e >= bin_end:
                            out[obase + j] = whole
                            j += 1
                            bin_end += bin_size
                    n = e - (bin_end - bin_size)
                    total = np.float64(v) * n
                    lo = INF32
                    hi = -INF32
                    if minmax and n > 0:
                        lo = v
                        hi = v
    if oob_covers and re > chrom_len:  # bases past the chromosome's end
        n, total, lo, hi, j, bin_end = add_span(out, obase, rs if rs > chrom_len else chrom_len, re, oob, n, total,
                                                lo, hi, j, bin_end, bin_size, stat, covered_only, missing)
    # finish the bin in progress and the empty ones after it
    while j < b1:
        out[obase + j] = bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing)
        n = 0
        total = 0.0
        lo = INF32
        hi = -INF32
        j += 1
    return FAST


@twin
def bin_painted(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, chrom, ws, chrom_len,
                bin_size, b0, b1, stat, covered_only, missing, oob, oob_covers, out, obase, scratch):
    """Slow path of :func:`bin_records` (same arguments, plus float32 ``scratch`` of :data:`CHUNK`):
    paint :data:`CHUNK` bases at a time, the record stored last winning, and reduce them."""
    rs = ws + b0 * bin_size
    re = ws + b1 * bin_size
    nan = np.float32(np.nan)
    oob_fill = oob if oob_covers else nan
    j = b0
    n = 0
    total = 0.0
    lo = INF32
    hi = -INF32
    cs = rs
    while cs < re:
        w = re - cs if re - cs < CHUNK else CHUNK
        expand_range(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, item, chrom, cs, w, chrom_len,
                     nan, oob_fill, scratch, 0)
        for x in range(w):
            v = scratch[x]
            if v == v:
                n += 1
                total += np.float64(v)
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
            if (cs + x + 1 - ws) % bin_size == 0:
                out[obase + j] = bin_value(n, total, lo, hi, bin_size, stat, covered_only, missing)
                n = 0
                total = 0.0
                lo = INF32
                hi = -INF32
                j += 1
        cs += w


@twin
def bin_item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len, n_tracks,
             bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers, out, scratch, k):
    """Item ``k`` of a binned batch: output row ``k // per_row`` (``window * n_tracks + track``), its
    bins part ``k % per_row`` (``nbins // per_row`` bins, the last part taking the rest).

    ``chrom`` and ``chrom_len`` are per plan item (track-major: ``track * n + window``).  Returns
    ``FAST`` or ``PAINTED`` (which path served it).
    """
    n = starts.shape[0]
    row = k // per_row
    part = k - row * per_row
    w = row // n_tracks
    i = (row - w * n_tracks) * n + w
    step = (nbins + per_row - 1) // per_row
    b0 = part * step
    b1 = b0 + step if b0 + step < nbins else nbins
    if b1 <= b0:
        return FAST
    c = chrom[i]
    ws = starts[w]
    cl = chrom_len[i]
    obase = row * nbins
    got = bin_records(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, i, c, ws, cl, bin_size, b0, b1,
                      stat, covered_only, missing, oob, oob_covers, out, obase)
    if got == PAINTED:
        bin_painted(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, i, c, ws, cl, bin_size, b0, b1,
                    stat, covered_only, missing, oob, oob_covers, out, obase, scratch)
    return got


@numba.njit(nogil=True, cache=True)
def bin_batch_cpu(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len, n_tracks,
                  bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers, out, painted, k0, k1):
    """CPU driver of :func:`bin_item` over items ``k0 .. k1 - 1``; ``painted[k]`` set for slow-path items."""
    scratch = np.empty(CHUNK, dtype=np.float32)
    for k in range(k0, k1):
        painted[k] = bin_item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len,
                              n_tracks, bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers,
                              out, scratch, k)
