"""The reader against pyBigWig and pybigtools on every real bigWig in shared/data/bigwig."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastwig
from fastwig import stats as fstats
from support import SHARED_REASON, bits_equal, file_id, real_bigbeds, real_bigwigs

try:
    from ._ucsc import ucsc_zoom_summary
    from ._zoomrecords import ZoomFile
except ImportError:  # tests/ is not a package
    from _ucsc import ucsc_zoom_summary
    from _zoomrecords import ZoomFile

pyBigWig = pytest.importorskip("pyBigWig", reason="pyBigWig (test extra) is the oracle")
pybigtools = pytest.importorskip("pybigtools", reason="pybigtools (test extra) is the oracle")

FILES = real_bigwigs()
pytestmark = pytest.mark.skipif(not FILES, reason=SHARED_REASON)


def random_ranges(rng, size, n, max_width=200_000):
    for _ in range(n):
        s = int(rng.integers(0, size))
        e = int(min(size, s + rng.integers(1, max_width)))
        yield s, e


@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_chroms_header_summary(path):
    with fastwig.open(path) as bw, pyBigWig.open(str(path)) as pb:
        assert bw.chroms == pb.chroms()
        assert list(bw.chroms) == list(pb.chroms())
        pbh = pb.header()
        assert bw.header.version == pbh["version"]
        assert len(bw.zooms) == pbh["nLevels"]
        # pyBigWig's header truncates the summary to integers; pybigtools keeps floats
        info = pybigtools.open(str(path)).info()["summary"]
        assert bw.summary.bases_covered == pbh["nBasesCovered"] == info["basesCovered"]
        assert bw.summary.min == pytest.approx(info["min"]) and int(bw.summary.min) == pbh["minVal"]
        assert bw.summary.max == pytest.approx(info["max"]) and int(bw.summary.max) == pbh["maxVal"]
        assert bw.summary.sum == pytest.approx(info["sum"])
        assert int(bw.summary.sum_squares) == pbh["sumSquared"]


@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_values_bit_for_bit(path):
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    bt = pybigtools.open(str(path))
    with fastwig.open(path) as bw, pyBigWig.open(str(path)) as pb:
        for chrom, size in bw.chroms.items():
            for s, e in random_ranges(rng, size, 8):
                ours = bw.values(chrom, s, e)
                assert bits_equal(ours, np.array(pb.values(chrom, s, e), dtype=np.float32)), (chrom, s, e)
                assert bits_equal(ours, bt.values(chrom, s, e, fillna=None)), (chrom, s, e)
            # the whole chromosome at once (split into chunks internally)
            if size <= 5_000_000:
                assert bits_equal(bw.values(chrom), np.array(pb.values(chrom, 0, size), dtype=np.float32))


@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_intervals(path):
    rng = np.random.default_rng(1)
    with fastwig.open(path) as bw, pyBigWig.open(str(path)) as pb:
        for chrom, size in bw.chroms.items():
            ranges = [(0, size)] + list(random_ranges(rng, size, 5))
            for s, e in ranges:
                starts, ends, vals = bw.intervals(chrom, s, e)
                ref = pb.intervals(chrom, s, e) or ()
                assert starts.dtype == np.int64 and ends.dtype == np.int64 and vals.dtype == np.float32
                assert starts.tolist() == [r[0] for r in ref]
                assert ends.tolist() == [r[1] for r in ref]
                assert bits_equal(vals, np.array([r[2] for r in ref], dtype=np.float32))


def compare_stats(ours, ref, start, end, bins):
    """Equal to pyBigWig, except bins holding no base (more bins than bases): those are NaN here,
    while pyBigWig answers some statistics from a record around the empty bin's position."""
    empty = np.diff(fstats.bin_edges(start, end, bins)) == 0
    assert np.isnan(ours[empty]).all()
    np.testing.assert_allclose(ours[~empty], ref[~empty], rtol=1e-5, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("path", FILES, ids=file_id)
@pytest.mark.parametrize("stat", ["mean", "min", "max", "coverage", "std", "sum"])
def test_stats_exact(path, stat):
    rng = np.random.default_rng(2)
    with fastwig.open(path) as bw, pyBigWig.open(str(path)) as pb:
        for chrom, size in bw.chroms.items():
            for s, e in list(random_ranges(rng, size, 3)) + [(0, size)]:
                bins = int(rng.integers(1, 20))
                ours = bw.stats(chrom, s, e, stat=stat, bins=bins, exact=True)
                ref = np.array(pb.stats(chrom, s, e, type=stat, nBins=bins, exact=True), dtype=np.float64)
                compare_stats(ours, ref, s, e, bins)


@pytest.mark.parametrize("path", FILES, ids=file_id)
@pytest.mark.parametrize("stat", ["mean", "min", "max", "coverage", "std", "sum"])
def test_stats_zoom(path, stat):
    """exact=False: on a zoom level, UCSC's arithmetic (the kent reference in ``_ucsc.py``; pyBigWig
    agrees on mean, min and max, not on coverage, std and sum); on base data, pyBigWig."""
    rng = np.random.default_rng(3)
    zf = ZoomFile(path)
    with fastwig.open(path) as bw, pyBigWig.open(str(path)) as pb:
        for chrom, size in bw.chroms.items():
            for s, e in list(random_ranges(rng, size, 3, max_width=size)) + [(0, size)]:
                bins = int(rng.integers(1, 8))
                ours = bw.stats(chrom, s, e, stat=stat, bins=bins)
                level = fstats.choose_zoom(bw.zooms, (e - s) / bins)
                if level >= 0 and stat in ("coverage", "std", "sum"):
                    ref = ucsc_zoom_summary(*zf.records(level, chrom, s, e), s, e, bins, stat)
                    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0, equal_nan=True)
                else:
                    ref = np.array(pb.stats(chrom, s, e, type=stat, nBins=bins, exact=level < 0), dtype=np.float64)
                    compare_stats(ours, ref, s, e, bins)


@pytest.mark.parametrize("path", FILES[:6], ids=file_id)
def test_read_windows_matches_values(path):
    rng = np.random.default_rng(4)
    bw = fastwig.open(path)
    chroms = list(bw.chroms)
    n, width = 64, 700
    names = np.array([chroms[i] for i in rng.integers(0, len(chroms), n)])
    starts = np.array([rng.integers(-300, bw.chroms[c] + 300) for c in names], dtype=np.int64)
    got = fastwig.read_windows([bw, str(path)], names, starts, width, missing=-1.0, oob=-2.0)
    assert got.shape == (n, 2, width) and got.dtype == np.float32
    for i, (c, s) in enumerate(zip(names, starts)):
        ref = np.full(width, -2.0, dtype=np.float32)
        a, b = max(0, s), min(bw.chroms[c], s + width)
        if b > a:
            v = bw.values(c, a, b)
            ref[a - s:b - s] = np.where(np.isnan(v), -1.0, v)
        assert bits_equal(got[i, 0], ref) and bits_equal(got[i, 1], ref), (c, s)


def test_bigbed_refused():
    beds = real_bigbeds()
    if not beds:
        pytest.skip(SHARED_REASON)
    for p in beds:
        with pytest.raises(fastwig.FormatError, match="bigBed"):
            fastwig.BigWig(p)       # fastwig.open(p) gives a BigBed (tests/test_bigbed.py)


def test_pickle_reopens():
    bw = fastwig.open(FILES[0])
    copy = pickle.loads(pickle.dumps(bw))
    assert copy.path == bw.path and copy.chroms == bw.chroms
    chrom = next(iter(bw.chroms))
    assert bits_equal(copy.values(chrom, 0, 1000), bw.values(chrom, 0, 1000))
