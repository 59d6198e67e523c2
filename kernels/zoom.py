"""Zoom-level summaries for the bigWig writer, made the way UCSC's bedGraphToBigWig makes them.

Host-only loops (no GPU twin: writing is not on the training path), ``numba.njit(nogil=True,
cache=True)`` over flat arrays; nothing imports fastwig.  Records are sorted by (chromosome id,
start) and do not overlap.

UCSC's scheme, reproduced field by field (``bbiAddRangeToSummary`` and ``bbiSummarySimpleReduce`` in
kent's ``bbiWrite.c``):

- :func:`summarise`: on each chromosome a summary of ``reduction`` bases opens at the first record
  that the previous summary does not reach (or, when a record runs past a summary's end, right at that
  end), and is cut at the chromosome's end; it holds the covered bases (``validCount``), the least and
  greatest value, and the sums of value and squared value per base.  Summaries are therefore not
  aligned to multiples of ``reduction``.
- :func:`reduce_summaries`: a coarser level from a finer one: a summary is merged into the previous
  one while both lie on one chromosome and the merged summary spans at most ``reduction`` bases.
- :func:`count_summaries`: how many summaries each candidate reduction would make, as UCSC counts
  them to choose the first level (ends not cut at the chromosome end).

Sums are kept in float32 as UCSC keeps them (``struct bbiSummary`` holds floats): each step adds in
float64 and rounds, so the zoom records are the ones bedGraphToBigWig writes for the same records.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "cache": True}


@numba.njit(**_JIT)
def summarise(cids, starts, ends, values, sizes, reduction, out_cid, out_start, out_end, out_count,
              out_min, out_max, out_sum, out_ssq):
    """Summaries of ``reduction`` bases over the records; returns how many were written.

    Parameters
    ----------
    cids, starts, ends : int64 (n,)
        Records sorted by (cid, start), ``starts < ends <= sizes[cid]``, not overlapping.
    values : float32 (n,)
    sizes : int64 (n_chroms,)
        Chromosome sizes.
    reduction : int
    out_* : (m,) arrays
        uint32 for cid/start/end/count, float32 for min/max/sum/ssq, with ``m`` at least
        ``n + sum((ends - starts) // reduction)`` (each record opens at most one summary more than
        the number of whole reductions it spans).
    """
    k = -1
    cur_cid, cur_end = -1, -1
    for i in range(cids.size):
        cid, s, e = cids[i], starts[i], ends[i]
        v = np.float64(values[i])
        if k < 0 or cur_cid != cid or cur_end <= s:
            k += 1
            cur_cid, cur_end = cid, min(s + reduction, sizes[cid])
            _open(k, cid, s, cur_end, values[i], out_cid, out_start, out_end, out_count, out_min, out_max,
                  out_sum, out_ssq)
        while e > cur_end:
            _add(k, cur_end - s, v, values[i], out_count, out_min, out_max, out_sum, out_ssq)
            s = cur_end
            k += 1
            cur_end = min(s + reduction, sizes[cid])
            _open(k, cid, s, cur_end, values[i], out_cid, out_start, out_end, out_count, out_min, out_max,
                  out_sum, out_ssq)
        _add(k, e - s, v, values[i], out_count, out_min, out_max, out_sum, out_ssq)
    return k + 1


@numba.njit(inline="always", **_JIT)
def _open(k, cid, start, end, v32, out_cid, out_start, out_end, out_count, out_min, out_max, out_sum, out_ssq):
    out_cid[k] = cid
    out_start[k] = start
    out_end[k] = end
    out_count[k] = 0
    out_min[k] = v32
    out_max[k] = v32
    out_sum[k] = 0.0
    out_ssq[k] = 0.0


@numba.njit(inline="always", **_JIT)
def _add(k, overlap, v, v32, out_count, out_min, out_max, out_sum, out_ssq):
    out_count[k] += overlap
    out_min[k] = min(out_min[k], v32)
    out_max[k] = max(out_max[k], v32)
    out_sum[k] = np.float32(np.float64(out_sum[k]) + v * overlap)
    out_ssq[k] = np.float32(np.float64(out_ssq[k]) + v * v * overlap)


@numba.njit(**_JIT)
def reduce_summaries(cid, start, end, count, vmin, vmax, vsum, vssq, reduction):
    """Merge a level's summaries (sorted) into ones of at most ``reduction`` bases, in place; returns
    how many there are now (the first ones of each array)."""
    k = -1
    for i in range(cid.size):
        if k < 0 or cid[k] != cid[i] or np.int64(end[i]) > np.int64(start[k]) + reduction:
            k += 1
            cid[k], start[k], end[k], count[k] = cid[i], start[i], end[i], count[i]
            vmin[k], vmax[k], vsum[k], vssq[k] = vmin[i], vmax[i], vsum[i], vssq[i]
        else:
            end[k] = end[i]
            count[k] += count[i]
            vmin[k] = min(vmin[k], vmin[i])
            vmax[k] = max(vmax[k], vmax[i])
            vsum[k] += vsum[i]
            vssq[k] += vssq[i]
    return k + 1


@numba.njit(**_JIT)
def count_summaries(cids, starts, ends, scales, out):
    """``out[j]``: how many summaries of ``scales[j]`` bases the records make (UCSC's estimate)."""
    res_end = np.zeros(scales.size, np.int64)
    out[:] = 0
    last = -1
    for i in range(cids.size):
        if cids[i] != last:
            res_end[:] = 0
            last = cids[i]
        for j in range(scales.size):
            if starts[i] >= res_end[j]:
                out[j] += 1
                res_end[j] = starts[i] + scales[j]
            while ends[i] > res_end[j]:
                out[j] += 1
                res_end[j] += scales[j]


@numba.njit(**_JIT)
def totals(starts, ends, values):
    """(bases covered, min, max, sum, sum of squares) per base over the records, in float64 -- the
    file's total summary (UCSC sums its values in double precision too)."""
    covered = 0
    lo, hi, total, squares = np.inf, -np.inf, 0.0, 0.0
    for i in range(starts.size):
        w = ends[i] - starts[i]
        v = np.float64(values[i])
        covered += w
        lo = min(lo, v)
        hi = max(hi, v)
        total += v * w
        squares += v * v * w
    return covered, lo, hi, total, squares
