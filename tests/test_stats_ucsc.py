"""Zoom-level statistics (``stats(..., exact=False)``) as UCSC computes them.

Three oracles: pybbi (the UCSC library itself; optional, in the ``test`` extra), a plain-Python
reference of kent's algorithm (``_ucsc.py``, always), and the figures UCSC gives in issue 10 for
bigtools' ``valid.bigWig``.  Where pyBigWig differs is pinned in ``test_stats.py`` and written in
``fastwig/stats.py``'s docstring.
"""

from __future__ import annotations

import numpy as np
import pytest
from support import SHARED_REASON, file_id, real_bigwigs

import fastwig
from fastwig import stats as fs

try:
    from ._ucsc import ucsc_zoom_summary
    from ._zoomrecords import ZoomFile
except ImportError:  # tests/ is not a package
    from _ucsc import ucsc_zoom_summary
    from _zoomrecords import ZoomFile

FILES = real_bigwigs()
ZOOM_FILES = [p for p in FILES if ZoomFile(p).reductions]
needs_files = pytest.mark.skipif(not FILES, reason=SHARED_REASON)
PYBBI_NAMES = {"mean": "mean", "min": "min", "max": "max", "coverage": "cov", "std": "std", "sum": "sum"}


def _zoom_cases(bw, chrom, rng):
    """(start, end, bins) over the data of ``chrom`` for which choose_zoom picks a zoom level."""
    s_, e_, _ = bw.intervals(chrom)
    if s_.size == 0:
        return []
    size = bw.chroms[chrom]
    lo, hi = int(s_.min()), int(e_.max())
    smallest = min(int(z) for z in bw.zooms)
    cases = [(0, size, 1), (0, size, 7), (lo, hi, 3)]
    for _ in range(30):
        a = int(rng.integers(max(0, lo - 2000), hi))
        e = int(rng.integers(a + 1, min(size, hi + 2000) + 1))
        most = (e - a) // (2 * smallest)
        if most >= 1:
            cases.append((a, e, int(rng.integers(1, min(most, 64) + 1))))
    return [(a, e, b) for a, e, b in cases if fs.choose_zoom(bw.zooms, (e - a) / b) >= 0]


@needs_files
@pytest.mark.parametrize("path", ZOOM_FILES, ids=file_id)
def test_zoom_stats_match_kent_reference(path):
    """BigWig.stats(exact=False) against the plain-Python kent algorithm on the same zoom records
    (read by the independent test reader), every statistic."""
    rng = np.random.default_rng(21)
    zf = ZoomFile(path)
    checked = 0
    with fastwig.open(path) as bw:
        for chrom in bw.chroms:
            for s, e, bins in _zoom_cases(bw, chrom, rng):
                level = fs.choose_zoom(bw.zooms, (e - s) / bins)
                z = zf.records(level, chrom, s, e)
                for stat in fs.STATS:
                    ours = bw.stats(chrom, s, e, stat=stat, bins=bins)
                    ref = np.array(ucsc_zoom_summary(*z, s, e, bins, stat))
                    assert np.allclose(ours, ref, rtol=1e-12, atol=0, equal_nan=True), \
                        (chrom, s, e, bins, stat, ours[:4], ref[:4])
                    checked += 1
    if checked == 0:
        pytest.skip("no chromosome of this file is long enough for its zoom levels")


@needs_files
@pytest.mark.parametrize("path", ZOOM_FILES, ids=file_id)
def test_zoom_stats_match_pybbi(path):
    """The UCSC library (pybbi) and fastwig agree on zoom-based statistics, every statistic."""
    bbi = pytest.importorskip("bbi", reason="pybbi (the UCSC library; test extra) is not installed")
    rng = np.random.default_rng(22)
    checked = 0
    with fastwig.open(path) as bw, bbi.open(str(path)) as ucsc:
        for chrom in bw.chroms:
            for s, e, bins in _zoom_cases(bw, chrom, rng):
                for stat, name in PYBBI_NAMES.items():
                    ours = bw.stats(chrom, s, e, stat=stat, bins=bins)
                    ref = ucsc.fetch(chrom, s, e, bins=bins, summary=name, missing=np.nan)
                    assert np.allclose(ours, ref, rtol=1e-12, atol=0, equal_nan=True), \
                        (chrom, s, e, bins, stat, ours[:4], ref[:4])
                    checked += 1
    if checked == 0:
        pytest.skip("no chromosome of this file is long enough for its zoom levels")


@needs_files
def test_most_zoom_files_are_checked():
    """The two tests above skip a file whose chromosomes are too short for its zoom levels: most
    files with zoom levels must not be such."""
    rng = np.random.default_rng(0)
    usable = 0
    for path in ZOOM_FILES:
        with fastwig.open(path) as bw:
            usable += any(_zoom_cases(bw, c, rng) for c in bw.chroms)
    assert usable >= 10, usable


def _valid_bigwig():
    path = next((p for p in FILES if p.name == "valid.bigWig"), None)
    if path is None:
        pytest.skip(SHARED_REASON)
    return path


def test_issue_figures_sum():
    """chr17:100000-200000 in 10 bins: UCSC's zoom sum is 28348.07 in bin 0 (pyBigWig-style weights
    without kent's rounding of the base count gave 28346.58); bins 5-9 agree either way."""
    with fastwig.open(_valid_bigwig()) as bw:
        got = bw.stats("chr17", 100_000, 200_000, stat="sum", bins=10)
        assert got[0] == pytest.approx(28348.07, abs=0.005)
        assert got[0] != pytest.approx(28346.58, abs=0.005)


def test_issue_figures_std():
    """chr17:0-1000000 in 100 bins, bin 5: UCSC's std is 2.51500403 (pyBigWig: 2.51549733)."""
    with fastwig.open(_valid_bigwig()) as bw:
        got = bw.stats("chr17", 0, 1_000_000, stat="std", bins=100)
        assert got[5] == pytest.approx(2.51500403, abs=5e-9)


def test_rounding_of_the_base_count():
    """One zoom record of 10 bases, 4 of them with data, cut in half by two bins: each bin has a
    weighted base count of 2.0 (kept) -- and with 5 of 10, 2.5, rounded up to 3 bases with the sums
    scaled by 3 / 2.5."""
    z = ([0], [10], [5], [1.0], [3.0], [10.0], [24.0])
    assert fs.zoom_stats(*z, 0, 10, 2, "sum").tolist() == pytest.approx([6.0, 6.0])        # 5 * 3/2.5
    assert fs.zoom_stats(*z, 0, 10, 2, "mean").tolist() == pytest.approx([2.0, 2.0])
    assert fs.zoom_stats(*z, 0, 10, 2, "coverage").tolist() == pytest.approx([0.6, 0.6])   # 3 / 5
    # std: S2 = 12 * 1.2 = 14.4, sum = 6, n = 3: (14.4 - 12) / 2 = 1.2
    assert fs.zoom_stats(*z, 0, 10, 2, "std").tolist() == pytest.approx([1.2 ** 0.5] * 2)
    assert fs.zoom_stats(*z, 0, 10, 2, "min").tolist() == [1.0, 1.0]
    for stat in fs.STATS:
        ref = ucsc_zoom_summary(*z, 0, 10, 2, stat)
        assert fs.zoom_stats(*z, 0, 10, 2, stat).tolist() == pytest.approx(ref, rel=1e-15)


def test_coverage_uses_the_mean_bin_width():
    """Bins of 3 and 4 bases (7 bases in 2 bins): UCSC multiplies the rounded count by bins / width."""
    z = ([0], [7], [7], [1.0], [1.0], [7.0], [7.0])
    got = fs.zoom_stats(*z, 0, 7, 2, "coverage")
    assert got.tolist() == pytest.approx([3 * 2 / 7, 4 * 2 / 7])
    assert got.tolist() == pytest.approx(ucsc_zoom_summary(*z, 0, 7, 2, "coverage"), rel=1e-15)


def test_no_zoom_below_two_bases_per_half_bin():
    """UCSC uses no zoom level when width / bins // 2 <= 1, even a level of reduction 1."""
    assert fs.choose_zoom([1], 3.99) == -1
    assert fs.choose_zoom([1, 2], 4.0) == 1
