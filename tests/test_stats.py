"""fastwig.stats: binned statistics against pyBigWig, pybigtools and a dense numpy reference.

The real-file tests feed ``exact_stats`` the intervals pyBigWig returns and ``zoom_stats`` the zoom
records read by the test-only reader ``_zoomrecords`` (independent of the fastwig reader), so they
test the arithmetic alone.  What pyBigWig 0.3.29 does, and where fastwig deliberately differs, is
written in ``fastwig/stats.py``'s module docstring; the tests below pin each point.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from support import SHARED_REASON, file_id, real_bigwigs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwig import stats as fs
from fastwig.errors import FastwigError, RangeError

try:
    from ._ucsc import ucsc_zoom_summary
    from ._zoomrecords import ZoomFile
except ImportError:  # tests/ is not a package
    from _ucsc import ucsc_zoom_summary
    from _zoomrecords import ZoomFile

pyBigWig = pytest.importorskip("pyBigWig", reason="pyBigWig (test extra) is the oracle")

FILES = real_bigwigs()
needs_files = pytest.mark.skipif(not FILES, reason=SHARED_REASON)
RTOL = 1e-6


# -- helpers -------------------------------------------------------------------------------------------
@functools.cache
def _records(path) -> dict:
    """chrom -> (size, starts int64, ends int64, values float32) from pyBigWig.intervals."""
    out = {}
    with pyBigWig.open(str(path)) as pb:
        for chrom, size in pb.chroms().items():
            iv = pb.intervals(chrom) or ()
            a = np.array(iv, dtype=np.float64).reshape(-1, 3)
            out[chrom] = (size, a[:, 0].astype(np.int64), a[:, 1].astype(np.int64),
                          np.array([r[2] for r in iv], dtype=np.float32))
    return out


@functools.cache
def _zoomfile(path) -> ZoomFile:
    return ZoomFile(path)


@functools.cache
def _zoom_records(path, level: int, chrom: str):
    return _zoomfile(path).records(level, chrom)


def pb_stats(pb, chrom, s, e, stat, bins, exact) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in
                     pb.stats(chrom, s, e, type=stat, nBins=bins, exact=exact)], dtype=np.float64)


def close(a, b, rtol=RTOL, atol=0.0) -> np.ndarray:
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def ranges(rng, size, lo, hi, n_data, n_any):
    """The whole chromosome, ranges around the data, and ranges anywhere on the chromosome."""
    out = [(0, size)]
    for _ in range(n_data):
        s = int(rng.integers(max(0, lo - 1000), max(1, min(size, hi + 1000))))
        e = int(min(size, s + rng.integers(1, max(2, 2 * (hi - lo) + 10))))
        if e > s:
            out.append((s, e))
    for _ in range(n_any):
        s = int(rng.integers(0, size))
        e = int(min(size, s + rng.integers(1, size + 1)))
        if e > s:
            out.append((s, e))
    return out


# -- argument checks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["median", "Mean", "", None, "cov"])
def test_unknown_stat_raises(bad):
    with pytest.raises(RangeError, match="unknown statistic"):
        fs.exact_stats([0], [1], [1.0], 0, 10, 1, bad)
    with pytest.raises(RangeError):
        fs.zoom_stats([0], [1], [1], [1.0], [1.0], [1.0], [1.0], 0, 10, 1, bad)


@pytest.mark.parametrize("bins", [0, -1, 1.5, "3", None, True])
def test_bad_bins_raise(bins):
    with pytest.raises(RangeError) as info:
        fs.exact_stats([0], [1], [1.0], 0, 10, bins, "mean")
    assert isinstance(info.value, FastwigError) and isinstance(info.value, ValueError)
    with pytest.raises(RangeError):
        fs.bin_edges(0, 10, bins)


@pytest.mark.parametrize("start, end", [(5, 5), (6, 5), (-1, 5)])
def test_bad_range_raises(start, end):
    with pytest.raises(RangeError):
        fs.exact_stats([0], [1], [1.0], start, end, 1, "mean")
    with pytest.raises(RangeError):
        fs.bin_edges(start, end, 1)


def test_ragged_records_raise():
    with pytest.raises(RangeError, match="differ in length"):
        fs.exact_stats([0, 5], [1], [1.0], 0, 10, 1, "mean")
    with pytest.raises(RangeError, match="differ in length"):
        fs.zoom_stats([0], [1], [1], [1.0], [1.0], [1.0, 2.0], [1.0], 0, 10, 1, "mean")
    with pytest.raises(RangeError, match="overlaps"):
        fs.exact_stats([0], [1], [1.0], 0, 10, 1, "mean", overlaps="first")


def test_no_records_all_nan():
    for stat in fs.STATS:
        out = fs.exact_stats(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                             0, 100, 4, stat)
        assert out.dtype == np.float64 and out.shape == (4,) and np.isnan(out).all()
        z = [np.zeros(0, np.uint32)] * 3 + [np.zeros(0, np.float32)] * 4
        assert np.isnan(fs.zoom_stats(*z, 0, 100, 4, stat)).all()


# -- bin edges ---------------------------------------------------------------------------------------------
def test_bin_edges_formula():
    assert fs.bin_edges(10, 20, 3).tolist() == [10, 13, 16, 20]
    assert fs.bin_edges(0, 7, 3).tolist() == [0, 2, 4, 7]
    assert fs.bin_edges(0, 2, 5).tolist() == [0, 0, 0, 1, 1, 2]  # more bins than bases: empty bins
    e = fs.bin_edges(4_000_000_000, 2**32 - 1, 7_777)
    assert e.dtype == np.int64 and e[0] == 4_000_000_000 and e[-1] == 2**32 - 1
    assert (np.diff(e) >= 0).all()


def test_bin_edges_are_pybigwigs(tmp_path):
    """Each bin's width, read back from pyBigWig's exact sum over a run of 1.0s, is ours."""
    size = 2**32 - 1
    cases = [(0, 10, 3), (0, 7, 3), (5, 105, 7), (123, 100_123, 999), (0, 5, 17),
             (4_000_000_000, 4_000_001_234, 1_000), (4_294_000_000, 4_294_960_000, 9_973),
             (3_999_999_999, 4_016_777_216, 3)]
    path = str(tmp_path / "ones.bw")
    with pyBigWig.open(path, "w") as w:
        w.addHeader([("c", size)], maxZooms=0)
        runs = sorted({(s, e) for s, e, _ in cases})
        merged = []
        for s, e in runs:  # one record per disjoint stretch
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        w.addEntries(["c"] * len(merged), [m[0] for m in merged], ends=[m[1] for m in merged],
                     values=[1.0] * len(merged))
    with pyBigWig.open(path) as pb:
        for s, e, b in cases:
            edges = fs.bin_edges(s, e, b)
            ref = pb_stats(pb, "c", s, e, "sum", b, True)
            width = np.diff(edges)
            assert np.array_equal(ref[width > 0], width[width > 0]), (s, e, b)


def test_pybigwig_empty_bin_artefact():
    """More bins than bases: pyBigWig answers an empty bin [p, p) from the records strictly holding p
    (min/max = their value, sum = 0.0); fastwig gives NaN for every statistic of an empty bin."""
    path = next((p for p in FILES if p.name == "test.bw" and p.parent.name == "pyBigWig"), None)
    if path is None:
        pytest.skip(SHARED_REASON)
    _, s, e, v = _records(path)["1"]  # holds [100, 150) = 1.4
    with pyBigWig.open(str(path)) as pb:
        assert pb_stats(pb, "1", 110, 112, "min", 5, True)[0] == pytest.approx(1.4)
        assert pb_stats(pb, "1", 110, 112, "sum", 5, True)[0] == 0.0
        assert math.isnan(pb_stats(pb, "1", 110, 112, "mean", 5, True)[0])
    assert fs.bin_edges(110, 112, 5).tolist() == [110, 110, 110, 111, 111, 112]
    for stat in fs.STATS:
        out = fs.exact_stats(s, e, v, 110, 112, 5, stat)
        assert np.isnan(out[[0, 1, 3]]).all()
        assert not np.isnan(out[[2, 4]]).any()


# -- choose_zoom ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reductions, width, expected", [
    ([10, 40, 160], 20.0, 0),      # d = 10
    ([10, 40, 160], 19.99, -1),    # int(19.99) // 2 = 9
    ([10, 40, 160], 21.0, 0),      # d = 10
    ([10, 40, 160], 80.0, 1),
    ([10, 40, 160], 79.0, 0),      # d = 39
    ([10, 40, 160], 1e12, 2),
    ([160, 10, 40], 100.0, 2),     # header order does not matter, the reduction does
    ([40, 40, 10], 100.0, 0),      # ties: the first
    ([0, 10], 5.0, -1),            # a reduction of 0 is never used
    ([0, 10], 25.0, 1),
    ([], 1e9, -1),
    ([2684354560], 2 * 2684354560.0, 0),  # reductions beyond 2**31 (bigtools)
    ([10], 0.5, -1),               # more bins than bases
])
def test_choose_zoom_rule(reductions, width, expected):
    assert fs.choose_zoom(reductions, width) == expected


@pytest.mark.parametrize("width", [-1.0, float("nan"), float("inf")])
def test_choose_zoom_bad_width(width):
    with pytest.raises(RangeError):
        fs.choose_zoom([10], width)


# -- real files: exact statistics --------------------------------------------------------------------------
def _exact_cases(rng, size, lo, hi):
    """(start, end, bins): whole chromosome, ranges around the data, one anywhere, and narrow ranges
    cut into more bins than bases.  pyBigWig costs ~0.1 ms per bin, so bin counts stay modest."""
    cases = []
    for k, (s, e) in enumerate(ranges(rng, size, lo, hi, 4, 1)):
        w = e - s
        cases.append((s, e, int(rng.integers(1, min(w, 12) + 1))))
        if k == 1:
            cases.append((s, e, int(rng.integers(1, min(w, 150) + 1))))
    for _ in range(2):  # bins > width
        s = int(rng.integers(max(0, lo - 20), max(1, min(size - 1, hi + 20))))
        e = int(min(size, s + rng.integers(1, 30)))
        if e > s:
            cases.append((s, e, int(rng.integers(e - s + 1, 2 * (e - s) + 4))))
    return cases


@needs_files
@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_exact_vs_pybigwig(path):
    rng = np.random.default_rng(11)
    with pyBigWig.open(str(path)) as pb:
        for chrom, (size, s_, e_, v_) in _records(path).items():
            lo, hi = (int(s_.min()), int(e_.max())) if s_.size else (0, size)
            absv = np.abs(v_)
            for s, e, bins in _exact_cases(rng, size, lo, hi):
                nonempty = np.diff(fs.bin_edges(s, e, bins)) > 0
                # pyBigWig multiplies length * value in float32 for sum: allow that rounding
                abs_sum = np.nan_to_num(fs.exact_stats(s_, e_, absv, s, e, bins, "sum"))
                for stat in fs.STATS:
                    ours = fs.exact_stats(s_, e_, v_, s, e, bins, stat)
                    assert ours.dtype == np.float64 and ours.shape == (bins,)
                    ref = pb_stats(pb, chrom, s, e, stat, bins, True)
                    atol = 1e-6 * abs_sum if stat == "sum" else 0.0
                    ok = close(ours, ref, atol=atol)
                    assert ok[nonempty].all(), (chrom, s, e, bins, stat, ours[~ok][:4], ref[~ok][:4])
                    assert np.isnan(ours[~nonempty]).all()


@needs_files
@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_exact_uint32_input_same(path):
    for size, s_, e_, v_ in _records(path).values():
        for stat in fs.STATS:
            a = fs.exact_stats(s_, e_, v_, 0, size, 37, stat)
            b = fs.exact_stats(s_.astype(np.uint32), e_.astype(np.uint32), v_, 0, size, 37, stat)
            assert np.array_equal(a, b, equal_nan=True)


@needs_files
@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_exact_vs_pybigtools(path):
    """pybigtools' exact summaries agree where its bins are pyBigWig's: width a multiple of bins.

    (Otherwise pybigtools uses fractional bin boundaries.)  Its ``bin_covered`` is 0.0, not NaN, for a
    bin without data.
    """
    pybigtools = pytest.importorskip("pybigtools")
    rng = np.random.default_rng(12)
    bt = pybigtools.open(str(path))
    names = {"mean": "mean", "min": "min", "max": "max", "sum": "sum", "std": "std",
             "coverage": "bin_covered"}
    for chrom, (size, s_, e_, v_) in _records(path).items():
        lo, hi = (int(s_.min()), int(e_.max())) if s_.size else (0, size)
        absv = np.abs(v_)
        for s, e in ranges(rng, size, lo, hi, 6, 1):
            divisors = [d for d in (1, 2, 3, 4, 5, 8, 10, 16, 25, 100, 1000) if (e - s) % d == 0]
            for bins in rng.choice(divisors, size=min(3, len(divisors)), replace=False):
                bins = int(bins)
                abs_sum = np.nan_to_num(fs.exact_stats(s_, e_, absv, s, e, bins, "sum"))
                for stat, name in names.items():
                    ours = fs.exact_stats(s_, e_, v_, s, e, bins, stat)
                    ref = bt.values(chrom, s, e, bins=bins, summary=name, exact=True, fillna=None)
                    if stat == "coverage":
                        ours = np.nan_to_num(ours)
                    atol = 1e-6 * abs_sum if stat in ("sum", "mean") else 1e-12
                    ok = close(ours, ref, rtol=1e-5, atol=atol)
                    assert ok.all(), (chrom, s, e, bins, stat, ours[~ok][:4], ref[~ok][:4])


# -- real files: zoom statistics ---------------------------------------------------------------------------
# what pyBigWig computes as UCSC does on zoom levels (its coverage and std do not round the weighted
# base count as kent does, and its sum is wrong: see fastwig/stats.py; test_stats_ucsc.py covers those)
ZOOM_STATS = ("mean", "min", "max")


def _zoom_cases(rng, size, lo, hi, reductions):
    """(start, end, bins) with bins wide enough for some zoom level, and one just too narrow."""
    smallest = min(r for r in reductions if r > 0)
    cases = []
    for k, (s, e) in enumerate(ranges(rng, size, lo, hi, 8, 2)):
        most = (e - s) // (2 * smallest)  # the most bins that still use a zoom level
        if most < 1:
            cases.append((s, e, 1))  # no level is coarse enough: pyBigWig uses the base data
            continue
        cases.append((s, e, int(rng.integers(1, min(most, 12) + 1))))
        if k == 0:
            cases.append((s, e, int(rng.integers(1, min(most, 120) + 1))))
        if most < 120:
            cases.append((s, e, int(most)))
            cases.append((s, e, int(most) + 1))  # just too narrow: base data
    return cases


ZOOM_FILES = [p for p in FILES if _zoomfile(p).reductions] if FILES else []


@needs_files
@pytest.mark.parametrize("path", ZOOM_FILES, ids=file_id)
def test_zoom_vs_pybigwig(path):
    """zoom_stats on the level choose_zoom picks reproduces pyBigWig's ``exact=False`` answer; and
    choose_zoom's level is the only one that does, whenever the levels' answers differ."""
    rng = np.random.default_rng(13)
    zf = _zoomfile(path)
    discriminated = 0
    with pyBigWig.open(str(path)) as pb:
        for chrom, (size, s_, e_, v_) in _records(path).items():
            lo, hi = (int(s_.min()), int(e_.max())) if s_.size else (0, size)
            for s, e, bins in _zoom_cases(rng, size, lo, hi, zf.reductions):
                level = fs.choose_zoom(zf.reductions, (e - s) / bins)
                for stat in ZOOM_STATS:
                    if level >= 0:
                        ours = fs.zoom_stats(*_zoom_records(path, level, chrom), s, e, bins, stat)
                    else:
                        ours = fs.exact_stats(s_, e_, v_, s, e, bins, stat)
                    ref = pb_stats(pb, chrom, s, e, stat, bins, False)
                    ok = close(ours, ref)
                    assert ok.all(), (chrom, s, e, bins, stat, level, ours[~ok][:4], ref[~ok][:4])
                    if stat == "mean":
                        others = [fs.exact_stats(s_, e_, v_, s, e, bins, stat)] + [
                            fs.zoom_stats(*_zoom_records(path, lv, chrom), s, e, bins, stat)
                            for lv in range(len(zf.reductions))]
                        chosen = others.pop(level + 1)
                        if not any(close(o, chosen).all() for o in others):
                            discriminated += 1
                            assert not any(close(o, ref).all() for o in others)
    if len(zf.reductions) >= 3 and sum(r[1].size for r in _records(path).values()) >= 10_000:
        assert discriminated > 0, "no case told the zoom levels apart"


@needs_files
def test_choose_zoom_threshold_against_pybigwig():
    """Right at the threshold: width/bins = 2 * reduction uses that level, one base less does not."""
    path = next((p for p in FILES if p.name == "volvox.bw"), None)
    if path is None:
        pytest.skip(SHARED_REASON)
    zf = _zoomfile(path)
    assert zf.reductions[:2] == [40, 160]
    _, s_, e_, v_ = _records(path)["ctgA"]
    with pyBigWig.open(str(path)) as pb:
        for red, level in ((40, 0), (160, 1)):
            for width, expect in ((2 * red, level), (2 * red - 1, level - 1)):
                bins = 30
                s, e = 1000, 1000 + width * bins
                assert fs.choose_zoom(zf.reductions, (e - s) / bins) == expect
                ref = pb_stats(pb, "ctgA", s, e, "mean", bins, False)
                if expect >= 0:
                    ours = fs.zoom_stats(*_zoom_records(path, expect, "ctgA"), s, e, bins, "mean")
                else:
                    ours = fs.exact_stats(s_, e_, v_, s, e, bins, "mean")
                assert close(ours, ref).all()


@needs_files
def test_pybigwig_zoom_sum_is_wrong():
    """libBigWig's zoom sum truncates each record's weight to an integer: it adds the *mean*
    (sumData / validCount) of each zoom record lying wholly inside the bin and drops the rest.
    fastwig's zoom sum (Σ weight · sumData, as UCSC) tracks the exact sum instead."""
    path = next((p for p in FILES if p.name == "volvox.bw"), None)
    if path is None:
        pytest.skip(SHARED_REASON)
    size, s_, e_, v_ = _records(path)["ctgA"]
    with pyBigWig.open(str(path)) as pb:
        for s, e, bins in [(0, size, 1), (0, size, 100), (1234, 40_000, 7)]:
            assert fs.choose_zoom(_zoomfile(path).reductions, (e - s) / bins) >= 0
            edges = fs.bin_edges(s, e, bins)
            ref = pb_stats(pb, "ctgA", s, e, "sum", bins, False)
            level = fs.choose_zoom(_zoomfile(path).reductions, (e - s) / bins)
            z = _zoom_records(path, level, "ctgA")
            buggy = np.array([
                np.sum(z[5][(z[0] >= a) & (z[1] <= b)].astype(np.float64)
                       / z[2][(z[0] >= a) & (z[1] <= b)]) for a, b in itertools.pairwise(edges)])
            assert close(ref, buggy).all()
            exact = np.nan_to_num(fs.exact_stats(s_, e_, v_, s, e, bins, "sum"))
            ours = np.nan_to_num(fs.zoom_stats(*z, s, e, bins, "sum"))
            # weights of one record add up to 1 over the bins: the total is the records' total
            inside = (z[0] >= s) & (z[1] <= e)
            if inside.all():
                assert ours.sum() == pytest.approx(exact.sum(), rel=1e-5)
            # per bin, the zoom sum is off by at most the sums of the records its edges cut
            cut = np.array([np.abs(z[5][(z[0] < x) & (z[1] > x)].astype(np.float64)).sum() for x in edges])
            assert (np.abs(ours - exact) <= cut[:-1] + cut[1:] + 1e-3 * np.abs(exact)).all()
            assert not close(ref, exact, rtol=0.5).any()  # pyBigWig: off by ~ the reduction


@needs_files
def test_zoom_records_reader_matches_fastwig():
    """The test-only zoom reader and the fastwig reader's ``_zoom_records`` agree."""
    fastwig = pytest.importorskip("fastwig")
    if not hasattr(fastwig, "open"):
        pytest.skip("fastwig.open not available")
    for path in ZOOM_FILES:
        zf = _zoomfile(path)
        with fastwig.open(path) as bw:
            if not hasattr(bw, "_zoom_records"):
                pytest.skip("BigWig._zoom_records not available")
            for chrom, size in bw.chroms.items():
                cid = zf.chrom_ids[chrom]
                for level in range(len(zf.reductions)):
                    rec = bw._zoom_records(level, cid, 0, size)
                    mine = _zoom_records(path, level, chrom)
                    assert rec["chromStart"].tolist() == mine[0].tolist()
                    assert np.array_equal(rec["sumData"].astype(np.float32), mine[5])


# -- overlapping records ------------------------------------------------------------------------------------
def test_overlaps_last_wins_vs_all():
    starts, ends = np.array([0, 5, 8]), np.array([10, 15, 9])
    vals = np.array([1.0, 3.0, 7.0], np.float32)
    # per base (last wins): 1 1 1 1 1 3 3 3 7 3 3 3 3 3 3 .
    last = {s: fs.exact_stats(starts, ends, vals, 0, 16, 2, s) for s in fs.STATS}
    assert last["sum"].tolist() == [14.0, 25.0]
    assert last["coverage"].tolist() == [1.0, 7 / 8]
    assert last["min"].tolist() == [1.0, 3.0]
    # every record on its own (pyBigWig's stats): base 8 counts three times
    allr = {s: fs.exact_stats(starts, ends, vals, 0, 16, 2, s, overlaps="all") for s in fs.STATS}
    assert allr["sum"].tolist() == [17.0, 30.0]
    assert allr["coverage"].tolist() == [11 / 8, 10 / 8]
    assert allr["min"].tolist() == [1.0, 1.0]


def test_overlaps_all_is_pybigwig(tmp_path):
    """pyBigWig's stats count overlapping records on their own (its values let the last win)."""
    writer = pytest.importorskip("fastwig.writer")
    rng = np.random.default_rng(5)
    n = 300
    starts = np.sort(rng.integers(0, 5000, n))
    ends = starts + rng.integers(1, 200, n)
    vals = rng.normal(size=n).astype(np.float32)
    path = writer.bigwig_from_arrays(tmp_path / "ovl.bw", {"c": 6000}, ["c"] * n, starts, ends, vals,
                                     zoom_levels=0)
    with pyBigWig.open(str(path)) as pb:
        iv = pb.intervals("c")
        s_ = np.array([r[0] for r in iv])
        e_ = np.array([r[1] for r in iv])
        v_ = np.array([r[2] for r in iv], np.float32)
        dense = np.array(pb.values("c", 0, 6000), dtype=np.float64)
        for s, e, bins in [(0, 6000, 1), (0, 6000, 13), (100, 2345, 50), (4000, 4100, 100)]:
            for stat in fs.STATS:
                ref = pb_stats(pb, "c", s, e, stat, bins, True)
                ours = fs.exact_stats(s_, e_, v_, s, e, bins, stat, overlaps="all")
                atol = 1e-6 * np.nan_to_num(fs.exact_stats(s_, e_, np.abs(v_), s, e, bins, "sum",
                                                           overlaps="all")) if stat == "sum" else 0.0
                assert close(ours, ref, atol=atol).all(), (s, e, bins, stat)
            # overlaps="last": the statistic of pyBigWig's (last-wins) values
            edges = fs.bin_edges(s, e, bins)
            ref = [np.nanmean(dense[a:b]) if np.isfinite(dense[a:b]).any() else np.nan
                   for a, b in itertools.pairwise(edges)]
            assert close(fs.exact_stats(s_, e_, v_, s, e, bins, "mean"), ref).all()


# -- property tests against a dense reference ----------------------------------------------------------------
def dense_reference(starts, ends, values, start, end, bins, stat):
    """Paint records per base (later records win), then reduce each bin with numpy."""
    base = np.full(end - start, np.nan)
    for s, e, v in zip(starts, ends, values):
        a, b = max(s, start), min(e, end)
        if a < b:
            base[a - start:b - start] = np.float64(v)
    edges = fs.bin_edges(start, end, bins)
    out = np.full(bins, np.nan)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        x = base[a - start:b - start]
        x = x[~np.isnan(x)]
        if x.size == 0:
            continue
        if stat == "coverage":
            out[i] = x.size / (b - a)
        elif stat == "std":
            out[i] = np.std(x, ddof=1) if x.size > 1 else 0.0
        else:
            out[i] = {"mean": np.mean, "min": np.min, "max": np.max, "sum": np.sum}[stat](x)
    return out


@st.composite
def record_sets(draw, overlapping=False):
    offset = draw(st.sampled_from([0, 2**31 - 300, 2**32 - 3000]))
    n = draw(st.integers(0, 25))
    starts, ends, pos = [], [], offset
    for _ in range(n):
        if overlapping:
            s = offset + draw(st.integers(0, 400))
        else:
            s = pos + draw(st.integers(0, 30))
        e = s + draw(st.integers(1, 60))
        starts.append(s)
        ends.append(e)
        pos = e
    values = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=n, max_size=n))
    if not overlapping and draw(st.booleans()):
        order = draw(st.permutations(list(range(n))))
        starts, ends, values = ([x[i] for i in order] for x in (starts, ends, values))
    start = offset + draw(st.integers(0, 300))
    end = start + draw(st.integers(1, 500))
    bins = draw(st.one_of(st.integers(1, 12), st.integers(1, 2 * (end - start) + 3)))
    return (np.array(starts, np.int64), np.array(ends, np.int64), np.array(values, np.float32),
            start, end, bins)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_sets(), st.sampled_from(fs.STATS))
def test_exact_matches_dense_reference(case, stat):
    starts, ends, values, start, end, bins = case
    ours = fs.exact_stats(starts, ends, values, start, end, bins, stat)
    ref = dense_reference(starts, ends, values, start, end, bins, stat)
    assert close(ours, ref, rtol=1e-9, atol=1e-9).all(), (ours, ref)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_sets(overlapping=True), st.sampled_from(fs.STATS))
def test_overlapping_last_wins_matches_dense_reference(case, stat):
    starts, ends, values, start, end, bins = case
    ours = fs.exact_stats(starts, ends, values, start, end, bins, stat)
    ref = dense_reference(starts, ends, values, start, end, bins, stat)
    assert close(ours, ref, rtol=1e-9, atol=1e-9).all(), (ours, ref)


@settings(max_examples=100, deadline=None)
@given(record_sets(overlapping=True))
def test_resolve_last_wins_segments(case):
    from fastwig._kernels import stats as kst
    starts, ends, values, start, end, _ = case
    s, e, v = kst.resolve_last_wins(starts, ends, values, start, end)
    assert (s < e).all() and (e[:-1] <= s[1:]).all()
    painted = np.full(end - start, np.nan, np.float32)
    for a, b, x in zip(s, e, v):
        painted[a - start:b - start] = x
    ref = np.full(end - start, np.nan, np.float32)
    for a, b, x in zip(starts, ends, values):
        a, b = max(a, start), min(b, end)
        if a < b:
            ref[a - start:b - start] = x
    assert np.array_equal(painted, ref, equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(record_sets(), st.integers(1, 64), st.sampled_from(fs.STATS))
def test_zoom_matches_definition(case, step, stat):
    # summarise the random records into zoom records of `step` bases, as a writer would
    starts, ends, values, start, end, bins = case
    order = np.argsort(starts, kind="stable")
    starts, ends, values = starts[order], ends[order], values[order]
    recs = []
    if starts.size:
        t0 = int(starts[0])
        grid = np.arange(t0, int(ends.max()) + step, step)
        for a in grid[:-1]:
            b = a + step
            x = [(max(s, a), min(e, b), v) for s, e, v in zip(starts, ends, values) if s < b and e > a]
            if not x:
                continue
            n = sum(e - s for s, e, _ in x)
            recs.append((x[0][0], x[-1][1], n, min(v for *_, v in x), max(v for *_, v in x),
                         sum((e - s) * float(v) for s, e, v in x),
                         sum((e - s) * float(v) ** 2 for s, e, v in x)))
    dtypes = [np.uint32] * 3 + [np.float32] * 4
    z = [np.array([r[k] for r in recs], dtype=dt) for k, dt in enumerate(dtypes)]
    ours = fs.zoom_stats(*z, start, end, bins, stat)
    ref = np.array(ucsc_zoom_summary(*z, start, end, bins, stat))
    assert close(ours, ref, rtol=1e-9, atol=1e-9).all(), (ours, ref)


def test_large_whole_chromosome():
    """Two million records, whole-chromosome statistics, against a vectorised numpy reference."""
    rng = np.random.default_rng(7)
    n = 2_000_000
    lengths = rng.integers(1, 50, n)
    gaps = rng.integers(0, 20, n)
    starts = np.cumsum(gaps + np.r_[0, lengths[:-1]]).astype(np.int64) + 1000
    ends = starts + lengths
    values = rng.normal(size=n).astype(np.float32)
    size = int(ends[-1]) + 1000
    for bins in (1, 10_000):
        edges = fs.bin_edges(0, size, bins)
        ours = np.nan_to_num(fs.exact_stats(starts, ends, values, 0, size, bins, "sum"))
        # reference: split records at bin edges by prefix sums over a cumulative value function
        def cum(x):
            k = np.searchsorted(starts, x, side="right") - 1
            full = np.r_[0.0, np.cumsum(lengths * values.astype(np.float64))]
            part = np.where(k >= 0, np.clip(x - starts[np.maximum(k, 0)], 0, lengths[np.maximum(k, 0)])
                            * values[np.maximum(k, 0)].astype(np.float64), 0.0)
            return full[np.maximum(k, 0)] * (k >= 0) + part
        ref = np.diff(cum(edges))
        assert np.allclose(ours, ref, rtol=1e-9, atol=1e-6)
        cov = fs.exact_stats(starts, ends, values, 0, size, bins, "coverage")
        assert np.isclose(np.nansum(cov * np.diff(edges)), lengths.sum())


@needs_files
def test_pybigwig_zoom_coverage_and_std_do_not_round():
    """Where pyBigWig differs from UCSC on zoom levels: its coverage is the weighted base count C over
    the bin width, and its std uses C; UCSC (fastwig) rounds C up to whole bases and scales the sums."""
    path = next((p for p in FILES if p.name == "valid.bigWig"), None)
    if path is None:
        pytest.skip(SHARED_REASON)
    s, e, bins = 100_000, 200_000, 10           # issue 10's case: records with gaps cut by bin edges
    level = fs.choose_zoom(_zoomfile(path).reductions, (e - s) / bins)
    assert level >= 0
    z = _zoom_records(path, level, "chr17")
    edges = fs.bin_edges(s, e, bins)
    weighted = np.zeros(bins)
    for a, b, cnt in zip(z[0].astype(np.int64), z[1].astype(np.int64), z[2].astype(np.float64)):
        for i in range(bins):
            o = min(b, edges[i + 1]) - max(a, edges[i])
            if o > 0:
                weighted[i] += cnt * o / (b - a)
    with pyBigWig.open(str(path)) as pb:
        theirs = pb_stats(pb, "chr17", s, e, "coverage", bins, False)
        theirs_std = pb_stats(pb, "chr17", s, e, "std", bins, False)
    ours = fs.zoom_stats(*z, s, e, bins, "coverage")
    ours_std = fs.zoom_stats(*z, s, e, bins, "std")
    has = weighted > 0
    assert close(theirs[has], weighted[has] / np.diff(edges)[has]).all()
    assert close(ours[has], np.ceil(weighted[has]) * bins / (e - s)).all()
    fractional = has & (weighted != np.ceil(weighted))
    assert fractional.any() and not close(ours[fractional], theirs[fractional], rtol=1e-9).all()
    assert not close(ours_std[fractional], theirs_std[fractional], rtol=1e-9).all()
