"""Binned summary statistics of bigWig data: the arithmetic behind ``BigWig.stats``.

Pure functions over numpy arrays (no file I/O): the reader hands them the records of one chromosome
(base data for ``exact=True``, the records of one zoom level for ``exact=False``) and gets back one
float64 per bin.  The loops run in ``numba.njit`` kernels (``fastwig.kernels.stats``).

Semantics (oracles: pyBigWig 0.3.29 for base data, UCSC's library for zoom levels; differences listed)
----------------------------------------------------------------------------------------------------
Bins
    ``[start, end)`` is cut at ``edges[i] = start + floor(width * i / bins)`` (``width = end - start``),
    computed in float64 exactly as libBigWig does (``start + (double)width * i / bins``, truncated), so
    the bins are those pyBigWig uses.  Bin ``i`` is ``[edges[i], edges[i + 1])``.  With more bins than
    bases some bins are empty (zero width); they are NaN for every statistic.  pyBigWig instead answers
    an empty bin ``[p, p)`` from the records that strictly contain ``p``: min/max give that record's
    value and sum gives 0.0 (mean, coverage and std give NaN).  fastwig does not copy that artefact.
Statistics (``exact=True``, base data)
    Over the covered bases of a bin (each base weighted once): ``mean`` = sum / covered bases;
    ``min`` / ``max`` of the covering values; ``sum`` = sum over covered bases; ``coverage`` = covered
    bases / bin width; ``std`` = sample standard deviation (n - 1), two-pass, and 0.0 for a bin with one
    covered base (pyBigWig does the same).  A bin with no covered base is NaN.
Overlapping records
    pyBigWig's stats count every record on its own (a base covered twice is counted twice: coverage can
    exceed 1 and the mean is record-length weighted), while its ``values`` let the later record win.
    fastwig's default, ``overlaps="last"``, makes ``stats`` the statistic of what ``values`` returns
    (the record stored later in the file wins each base); ``overlaps="all"`` reproduces pyBigWig's stats.
    libBigWig and bigtools refuse to write overlapping records and no file in shared/data/bigwig has
    any, so the two modes agree on real files.
Zoom levels (``exact=False``): UCSC's arithmetic (kent ``bbiRead.c``; pybbi, the UCSC library, is the oracle)
    :func:`choose_zoom` picks what UCSC and libBigWig pick: ``d = int(width / bins) // 2``; the level
    whose reduction is the largest one ``<= d`` (the first such level in header order on ties), or the
    base data (-1) when none is or when ``d <= 1``.  A zoom record ``[s, e)`` overlapping a bin by ``o``
    bases counts with weight ``o / (e - s)`` in the bin's validCount, sumData and sumSquares; its
    min/max count whole.  The weighted base count ``C = Σ w·validCount`` is then rounded up to whole
    bases, ``n = ceil(C)``, and the sums are scaled by ``n / C`` (kent's ``normalizeCount``):
    ``sum`` = Σ w·sumData · n / C; ``mean`` = sum / n; ``coverage`` = n · bins / width (UCSC divides by
    the mean bin width, not by the bin's own); ``std`` = sqrt((S2 - sum² / n) / (n - 1)) with
    ``S2 = Σ w·sumSquares · n / C`` (not divided when ``n == 1``; NaN where float32 rounding of the stored
    sums makes the variance negative, as C's ``sqrt`` gives).  A bin that no record with data overlaps
    is NaN.  These agree with pybbi bit for bit on every file in shared/data/bigwig.
Where pyBigWig (libBigWig) differs on zoom levels
    ``min`` and ``max`` agree; ``mean`` agrees up to rounding (libBigWig: Σ w·sumData / C).  libBigWig
    does not round ``C``: its ``coverage`` is C / bin width and its ``std`` uses C and the unscaled
    sums (it also zeroes a variance within 1e-8 of 0, and fails with EDOM below that).  Its zoom ``sum``
    is wrong: it truncates the weight to an integer, so it adds ``sumData / validCount`` (a record's
    *mean*) of each record lying wholly inside the bin and drops the partly overlapping ones; do not use
    pyBigWig's ``stats(type="sum", exact=False)`` as an oracle.  (libBigWig's weight for a record that
    covers a whole bin is ``(e - p) / (e - s)``, not clipped at the bin end; a level chosen by
    :func:`choose_zoom` has records shorter than the bins, so this never arises there.)
Where UCSC differs on base data
    UCSC's base-data statistics (``exact=True``, or no suitable zoom level) take coverage over the mean
    bin width too, and answer an empty bin from the base after it; fastwig keeps pyBigWig's per-bin
    width and NaN empty bins there (see Bins).
Sums in float64
    fastwig adds ``length * value`` in float64.  libBigWig's exact ``sum`` works in float32, so where
    pyBigWig's own test expects 35.0 for 25 bases of ``1.4f``, fastwig answers 34.99999940395355: the
    exact sum of the values as stored (``1.4f`` is 1.39999997615814...); fastwig is right there.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from ._kernels import stats as _kst
from .errors import RangeError

STATS = ("mean", "min", "max", "sum", "coverage", "std")
OVERLAPS = ("last", "all")


# -- argument checks ---------------------------------------------------------------------------------
def _check_stat(stat) -> str:
    if stat not in STATS:
        raise RangeError(f"unknown statistic {stat!r}: expected one of {', '.join(STATS)}")
    return stat


def _check_bins(bins) -> int:
    if isinstance(bins, (bool, np.bool_)):
        raise RangeError(f"bins must be an integer >= 1, not {bins!r}")
    try:
        n = operator.index(bins)
    except TypeError:
        raise RangeError(f"bins must be an integer >= 1, not {bins!r}") from None
    if n < 1:
        raise RangeError(f"bins must be >= 1, not {n}")
    return n


def _check_range(start, end) -> tuple[int, int]:
    try:
        s = operator.index(start)
        e = operator.index(end)
    except TypeError:
        raise RangeError(f"start and end must be integers, not {start!r}, {end!r}") from None
    if s < 0 or e <= s:
        raise RangeError(f"invalid range [{s}, {e}): need 0 <= start < end")
    return s, e


def _coords(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise RangeError(f"{name} must be one-dimensional, not shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise RangeError(f"{name} must be integers, not {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _floats(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise RangeError(f"{name} must be one-dimensional, not shape {arr.shape}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    return np.ascontiguousarray(arr, dtype=dtype)


def _same_length(**arrays) -> None:
    sizes = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise RangeError(f"record arrays differ in length: {sizes}")


# -- public functions ----------------------------------------------------------------------------------
def bin_edges(start: int, end: int, bins: int) -> np.ndarray:
    """Split ``[start, end)`` into ``bins`` bins exactly as pyBigWig / libBigWig do.

    ``edges[i] = start + floor(width * i / bins)`` with ``width = end - start``, evaluated in float64 in
    libBigWig's order of operations (so the result matches bit for bit, rounding included).

    Parameters
    ----------
    start, end : int
        0-based half-open range, ``0 <= start < end``.
    bins : int
        Number of bins, ``>= 1``; may exceed the width (some bins are then empty).

    Returns
    -------
    numpy.ndarray
        int64, shape ``(bins + 1,)``, non-decreasing; ``edges[0] == start``, ``edges[-1] == end``.

    Raises
    ------
    fastwig.errors.RangeError
        ``bins < 1`` or an invalid range.
    """
    start, end = _check_range(start, end)
    bins = _check_bins(bins)
    edges = np.empty(bins + 1, dtype=np.int64)
    edges[0] = start
    i = np.arange(1, bins + 1, dtype=np.float64)
    edges[1:] = np.floor(np.float64(start) + (np.float64(end - start) * i) / np.float64(bins))
    edges[-1] = end  # exact in float64 already; keeps the contract for any width
    return edges


def choose_zoom(reductions: Sequence[int], bin_width: float) -> int:
    """Index of the zoom level ``stats(..., exact=False)`` uses, or -1 for the base data.

    The rule of UCSC (and libBigWig): with ``d = int(bin_width) // 2``, the level with the largest
    reduction ``<= d``; on equal reductions the first in header order; none when ``d <= 1`` (UCSC; only a
    level of reduction 1, which no real writer makes, would tell libBigWig apart).  A reduction of 0 (a
    corrupt header) is never chosen.

    Parameters
    ----------
    reductions : sequence of int
        Reduction level (bases per zoom record) of each zoom level, in header order.
    bin_width : float
        Bases per bin, ``(end - start) / bins``.

    Returns
    -------
    int
        Index into ``reductions``, or -1 when no level is coarse-grained enough to help.

    Raises
    ------
    fastwig.errors.RangeError
        ``bin_width`` negative or not finite.
    """
    w = float(bin_width)
    if not np.isfinite(w) or w < 0:
        raise RangeError(f"bin width must be a finite number >= 0, not {bin_width!r}")
    desired = int(w) // 2  # libBigWig: double -> int (truncation), then integer halving
    if desired <= 1:       # kent: no zoom level is worth it
        return -1
    best, best_diff = -1, None
    for i, red in enumerate(reductions):
        red = int(red)
        if red <= 0:
            continue
        diff = desired - red
        if diff >= 0 and (best_diff is None or diff < best_diff):
            best, best_diff = i, diff
    return best


def exact_stats(starts, ends, values, start: int, end: int, bins: int, stat: str = "mean", *,
                overlaps: str = "last") -> np.ndarray:
    """A statistic of base-data records over ``bins`` bins of ``[start, end)``.

    Parameters
    ----------
    starts, ends : array_like of int, shape (n,)
        Record coordinates (0-based, half-open; int64 or uint32), in file order.  Records may extend
        outside ``[start, end)`` (they are clipped) and need not be sorted.
    values : array_like of float, shape (n,)
        Record values (float32 as stored; float64 accepted).
    start, end : int
        Range, ``0 <= start < end``.
    bins : int
        Number of bins (``>= 1``), cut as :func:`bin_edges`.
    stat : {"mean", "min", "max", "sum", "coverage", "std"}
        Statistic; see the module docstring.
    overlaps : {"last", "all"}
        Where records overlap: ``"last"`` (default) lets the record later in the array win each base,
        as ``BigWig.values`` does; ``"all"`` counts every record on its own, as pyBigWig's stats do.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(bins,)``; NaN for a bin without a covered base.

    Raises
    ------
    fastwig.errors.RangeError
        Unknown ``stat`` or ``overlaps``, ``bins < 1``, an invalid range, or ragged record arrays.
    """
    stat = _check_stat(stat)
    if overlaps not in OVERLAPS:
        raise RangeError(f"unknown overlaps mode {overlaps!r}: expected 'last' or 'all'")
    edges = bin_edges(start, end, bins)
    s = _coords(starts, "starts")
    e = _coords(ends, "ends")
    v = _floats(values, "values")
    _same_length(starts=s, ends=e, values=v)
    lo, hi = int(edges[0]), int(edges[-1])
    if overlaps == "last" and not _kst.sorted_disjoint(s, e, lo, hi):
        s, e, v = _kst.resolve_last_wins(s, e, v, lo, hi)

    nb = edges.shape[0] - 1
    count = np.zeros(nb)
    total = np.zeros(nb)
    vmin = np.full(nb, np.inf)
    vmax = np.full(nb, -np.inf)
    _kst.exact_accumulate(s, e, v, edges, count, total, vmin, vmax)

    covered = count > 0
    if stat != "std":
        return _simple_stat(stat, covered, count, total, vmin, vmax, edges)
    # std: two passes, as libBigWig (robust when the mean is large against the spread)
    out = np.full(nb, np.nan)
    mean = np.zeros(nb)
    np.divide(total, count, out=mean, where=covered)
    m2 = np.zeros(nb)
    _kst.exact_sq_dev(s, e, v, edges, mean, m2)
    many = count >= 2
    out[covered] = 0.0  # one covered base: 0.0, as pyBigWig
    out[many] = np.sqrt(m2[many] / (count[many] - 1.0))
    return out


def _simple_stat(stat: str, has: np.ndarray, count: np.ndarray, total: np.ndarray, vmin: np.ndarray,
                 vmax: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """mean, sum, min, max or coverage per bin from accumulated bases ``count`` (float64), value sums
    and extremes; NaN where ``has`` is False.  Shared by the exact and the zoom paths."""
    out = np.full(has.size, np.nan)
    if stat == "mean":
        np.divide(total, count, out=out, where=has)
    elif stat == "sum":
        out[has] = total[has]
    elif stat == "min":
        out[has] = vmin[has]
    elif stat == "max":
        out[has] = vmax[has]
    else:  # coverage
        np.divide(count, np.diff(edges).astype(np.float64), out=out, where=has)
    return out


def zoom_stats(z_starts, z_ends, valid_count, min_val, max_val, sum_data, sum_squares,
               start: int, end: int, bins: int, stat: str = "mean") -> np.ndarray:
    """A statistic over ``bins`` bins of ``[start, end)`` from the records of one zoom level.

    Parameters
    ----------
    z_starts, z_ends : array_like of int, shape (n,)
        Zoom record coordinates (uint32 as stored; int64 accepted) of one chromosome; may extend
        outside ``[start, end)``.
    valid_count : array_like, shape (n,)
        Bases with data in each record (uint32).
    min_val, max_val, sum_data, sum_squares : array_like of float, shape (n,)
        Record summaries (float32 as stored).
    start, end : int
        Range, ``0 <= start < end``.
    bins : int
        Number of bins (``>= 1``), cut as :func:`bin_edges`.
    stat : {"mean", "min", "max", "sum", "coverage", "std"}
        Statistic; weighting and formulas in the module docstring.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(bins,)``; NaN for a bin that no record with data overlaps (and, for ``std``,
        where float32 rounding makes the variance negative, as UCSC).

    Raises
    ------
    fastwig.errors.RangeError
        Unknown ``stat``, ``bins < 1``, an invalid range, or ragged record arrays.
    """
    stat = _check_stat(stat)
    edges = bin_edges(start, end, bins)
    zs = _coords(z_starts, "z_starts")
    ze = _coords(z_ends, "z_ends")
    cnt = _floats(valid_count, "valid_count")
    mn = _floats(min_val, "min_val")
    mx = _floats(max_val, "max_val")
    sm = _floats(sum_data, "sum_data")
    sq = _floats(sum_squares, "sum_squares")
    _same_length(z_starts=zs, z_ends=ze, valid_count=cnt, min_val=mn, max_val=mx, sum_data=sm,
                 sum_squares=sq)

    nb = edges.shape[0] - 1
    cover = np.zeros(nb)
    total = np.zeros(nb)
    sumsq = np.zeros(nb)
    vmin = np.full(nb, np.inf)
    vmax = np.full(nb, -np.inf)
    hit = np.zeros(nb, dtype=np.bool_)
    _kst.zoom_accumulate(zs, ze, cnt, mn, mx, sm, sq, edges, cover, total, sumsq, vmin, vmax, hit)

    has = hit & (cover > 0)
    if stat in ("min", "max"):
        return _simple_stat(stat, has, cover, total, vmin, vmax, edges)
    return _ucsc_finish(stat, has, cover, total, sumsq, bins / (edges[-1] - edges[0]))


def _ucsc_finish(stat: str, has: np.ndarray, cover: np.ndarray, total: np.ndarray, sumsq: np.ndarray,
                 cov_factor: float) -> np.ndarray:
    """mean, sum, coverage or std of zoom bins in UCSC's arithmetic (kent ``bbiRead.c``).

    The weighted base count ``C`` of a bin is rounded up to whole bases, ``n = ceil(C)``, and the
    weighted sums are scaled by ``n / C``; then mean = sum / n, coverage = n * bins / width (the mean
    bin width, not the bin's own), and std = sqrt((sumSq - sum² / n) / (n - 1)) (no division when
    ``n == 1``; a variance that float32 rounding makes negative gives NaN, as ``sqrt`` does in C).
    """
    out = np.full(has.size, np.nan)
    c = cover[has]
    n = np.ceil(c)
    norm = n / c
    sm = total[has] * norm
    if stat == "mean":
        out[has] = sm / n
    elif stat == "sum":
        out[has] = sm
    elif stat == "coverage":
        out[has] = cov_factor * n
    else:  # std
        var = sumsq[has] * norm - sm * sm / n
        var = np.where(n > 1, var / np.maximum(n - 1, 1), var)
        with np.errstate(invalid="ignore"):
            out[has] = np.sqrt(var)
    return out
