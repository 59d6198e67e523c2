"""Binned summary statistics over bigWig records: the hot loops of ``fastwig.stats``.

Every function here is ``numba.njit(nogil=True, cache=True)`` over flat arrays; nothing imports
fastwig.  The host (``fastwig.stats``) validates arguments, computes the bin edges, allocates the
accumulators and turns them into the requested statistic.

Bins are given by ``edges`` (int64, shape ``(bins + 1,)``, non-decreasing): bin ``i`` is
``[edges[i], edges[i + 1])``; a bin may be empty (``edges[i] == edges[i + 1]``) when there are more bins
than bases, and then nothing is ever added to it.  A record ``[s, e)`` is clipped to
``[edges[0], edges[-1])``; a record with ``e <= s`` after clipping is skipped.

Work is ``O(records + bins)`` for records that are sorted and do not overlap (each record visits only the
bins it touches; the first one is found from the previous record's bin, or by bisection).
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "cache": True}


@numba.njit(**_JIT)
def find_bin(edges, pos, hint):
    """Index ``i`` of the non-empty bin holding ``pos``: ``edges[i] <= pos < edges[i + 1]``.

    ``pos`` must lie in ``[edges[0], edges[-1])``.  ``hint`` (a previous answer, or -1) is tried first:
    records in file order are sorted, so it is usually right or one short.
    """
    nb = edges.shape[0] - 1
    if hint >= 0:
        if edges[hint] <= pos < edges[hint + 1]:
            return hint
        if hint + 1 < nb and edges[hint + 1] <= pos < edges[hint + 2]:
            return hint + 1
    lo = 0
    hi = nb  # invariant: edges[lo] <= pos < edges[hi]
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if edges[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(**_JIT)
def _walk_bins(starts, ends, values, edges, count, total, vmin, vmax, mean, m2, second):
    """Visit every (record, bin) overlap once; the first pass sums, the second (``second``) adds
    squared deviations from ``mean``.  One walk serves both passes of the standard deviation."""
    nb = edges.shape[0] - 1
    lo = edges[0]
    hi = edges[nb]
    hint = -1
    for r in range(starts.shape[0]):
        a = max(starts[r], lo)
        b = min(ends[r], hi)
        if a >= b:
            continue
        v = np.float64(values[r])
        i = find_bin(edges, a, hint)
        hint = i
        while i < nb and edges[i] < b:
            s = max(a, edges[i])
            e = min(b, edges[i + 1])
            if e > s:
                length = np.float64(e - s)
                if second:
                    d = v - mean[i]
                    m2[i] += length * d * d
                else:
                    count[i] += length
                    total[i] += length * v
                    if v < vmin[i]:  # noqa: PLR1730 - explicit: a NaN never replaces the running min
                        vmin[i] = v
                    if v > vmax[i]:  # noqa: PLR1730
                        vmax[i] = v
                hint = i
            i += 1


@numba.njit(**_JIT)
def exact_accumulate(starts, ends, values, edges, count, total, vmin, vmax):
    """Add each record's clipped bases to the bins it covers.

    Parameters
    ----------
    starts, ends : int64[n]
        Record coordinates (0-based, half-open), any order.
    values : float32[n] or float64[n]
        Record values.
    edges : int64[bins + 1]
        Bin edges.
    count : float64[bins]
        Covered bases per bin (in/out).
    total : float64[bins]
        Sum over covered bases of the value (in/out).
    vmin, vmax : float64[bins]
        Running minimum / maximum (in/out; start at +inf / -inf).
    """
    unused = np.zeros(0)
    _walk_bins(starts, ends, values, edges, count, total, vmin, vmax, unused, unused, False)


@numba.njit(**_JIT)
def exact_sq_dev(starts, ends, values, edges, mean, m2):
    """Second pass for the standard deviation: ``m2[i] += length * (value - mean[i])**2``.

    Parameters
    ----------
    starts, ends, values, edges
        As for :func:`exact_accumulate`.
    mean : float64[bins]
        Per-bin mean from the first pass.
    m2 : float64[bins]
        Sum of squared deviations (in/out).
    """
    unused = np.zeros(0)
    _walk_bins(starts, ends, values, edges, unused, unused, unused, unused, mean, m2, True)


@numba.njit(**_JIT)
def sorted_disjoint(starts, ends, lo, hi):
    """Whether the records, clipped to ``[lo, hi)`` (empty ones ignored), are in order and do not overlap.

    True means every base is covered by at most one record, so no overlap resolution is needed.
    """
    prev_end = lo
    for r in range(starts.shape[0]):
        a = max(starts[r], lo)
        b = min(ends[r], hi)
        if a >= b:
            continue
        if a < prev_end:
            return False
        prev_end = b
    return True


@numba.njit(**_JIT)
def _find_free(parent, i):
    """Smallest unpainted elementary segment ``>= i`` (disjoint-set find with path compression)."""
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(**_JIT)
def resolve_last_wins(starts, ends, values, lo, hi):
    """Flatten possibly overlapping records into disjoint segments where the later record wins.

    Records are clipped to ``[lo, hi)``.  Each base gets the value of the last record (in array order,
    i.e. file order) that covers it, as ``BigWig.values`` does.  Records are painted from last to first
    over the elementary segments between all distinct boundaries; a disjoint-set "next unpainted
    segment" pointer makes each segment painted once, ``O(n log n)`` overall (the sort of boundaries).

    Parameters
    ----------
    starts, ends : int64[n]
        Record coordinates, any order, may overlap.
    values : float32[n] or float64[n]
        Record values.
    lo, hi : int
        Clip range.

    Returns
    -------
    seg_starts, seg_ends : int64[m]
        Disjoint segments, sorted by start (adjacent segments of the same record merged).
    seg_values : same dtype as ``values``, shape ``(m,)``
    """
    n = starts.shape[0]
    keep = 0
    for r in range(n):
        if max(starts[r], lo) < min(ends[r], hi):
            keep += 1
    bounds = np.empty(2 * keep, np.int64)
    k = 0
    for r in range(n):
        a = max(starts[r], lo)
        b = min(ends[r], hi)
        if a < b:
            bounds[k] = a
            bounds[k + 1] = b
            k += 2
    bounds = np.unique(bounds)
    m = bounds.shape[0]
    nseg = max(m - 1, 0)
    owner = np.full(nseg, -1, np.int64)
    parent = np.arange(nseg + 1)  # parent[nseg] == nseg is the sentinel "past the end"
    for r in range(n - 1, -1, -1):
        a = max(starts[r], lo)
        b = min(ends[r], hi)
        if a >= b:
            continue
        j0 = np.searchsorted(bounds, a)
        j1 = np.searchsorted(bounds, b)
        j = _find_free(parent, j0)
        while j < j1:
            owner[j] = r
            parent[j] = j + 1
            j = _find_free(parent, j + 1)
    out = 0
    prev = -1
    for j in range(nseg):
        w = owner[j]
        if w >= 0 and w != prev:
            out += 1
        prev = w
    seg_s = np.empty(out, np.int64)
    seg_e = np.empty(out, np.int64)
    seg_v = np.empty(out, values.dtype)
    o = -1
    prev = -1
    for j in range(nseg):
        w = owner[j]
        if w < 0:
            prev = -1
            continue
        if w == prev:
            seg_e[o] = bounds[j + 1]
        else:
            o += 1
            seg_s[o] = bounds[j]
            seg_e[o] = bounds[j + 1]
            seg_v[o] = values[w]
        prev = w
    return seg_s, seg_e, seg_v


@numba.njit(**_JIT)
def zoom_accumulate(z_starts, z_ends, valid_count, min_val, max_val, sum_data, sum_squares,
                    edges, cover, total, sumsq, vmin, vmax, hit):
    """Add each zoom record to the bins it overlaps, weighted by the fraction of it inside the bin.

    A record ``[s, e)`` overlapping bin ``[p, q)`` by ``o = min(e, q) - max(s, p)`` bases adds
    ``w = o / (e - s)`` times its ``validCount``, ``sumData`` and ``sumSquares`` to the bin, and its
    ``minVal`` / ``maxVal`` unweighted (as UCSC and libBigWig do).  Empty bins get nothing.

    Parameters
    ----------
    z_starts, z_ends : int64[n]
        Zoom record coordinates.
    valid_count, min_val, max_val, sum_data, sum_squares : float32[n] or float64[n]
        Zoom record fields.
    edges : int64[bins + 1]
        Bin edges.
    cover, total, sumsq : float64[bins]
        Weighted sums of validCount, sumData, sumSquares (in/out).
    vmin, vmax : float64[bins]
        Running minimum / maximum (in/out; start at +inf / -inf).
    hit : bool[bins]
        Set where at least one record overlaps the bin (in/out).
    """
    nb = edges.shape[0] - 1
    lo = edges[0]
    hi = edges[nb]
    hint = -1
    for r in range(z_starts.shape[0]):
        a = z_starts[r]
        b = z_ends[r]
        if a >= b or b <= lo or a >= hi:
            continue
        length = np.float64(b - a)
        cnt = np.float64(valid_count[r])
        sm = np.float64(sum_data[r])
        sq = np.float64(sum_squares[r])
        mn = np.float64(min_val[r])
        mx = np.float64(max_val[r])
        i = find_bin(edges, max(a, lo), hint)
        hint = i
        while i < nb and edges[i] < b:
            s = max(a, edges[i])
            e = min(b, edges[i + 1])
            if e > s:
                w = np.float64(e - s) / length
                cover[i] += cnt * w
                total[i] += sm * w
                sumsq[i] += sq * w
                if mn < vmin[i]:  # noqa: PLR1730 - explicit: a NaN never replaces the running min
                    vmin[i] = mn
                if mx > vmax[i]:  # noqa: PLR1730
                    vmax[i] = mx
                hit[i] = True
                hint = i
            i += 1
