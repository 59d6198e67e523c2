"""The reader on generated files no real writer produces (tests/edgecases.py): big-endian, deep
trees, versions 1-3, fixedStep with step != span, overlaps, coordinates >= 2**31, empty files..."""

from __future__ import annotations

import numpy as np
import pytest

import fastwig
from support import bits_equal
from edgecases import EDGE_CASES, dense_expected, edge_specs, make_edge_files


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory):
    return make_edge_files(tmp_path_factory.mktemp("edge"))


def sample_ranges(rng, size, records, chrom, n=12):
    """Ranges around record boundaries and at random, clipped to the chromosome."""
    edges = [s for c, s, e, _ in records if c == chrom] + [e for c, s, e, _ in records if c == chrom]
    out = [(0, min(size, 5000))]
    for _ in range(n):
        if edges and rng.random() < 0.7:
            centre = int(rng.choice(edges))
        else:
            centre = int(rng.integers(0, size))
        s = max(0, centre - int(rng.integers(0, 300)))
        out.append((s, min(size, s + int(rng.integers(1, 2000)))))
    return out


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_values_and_intervals(edge_files, case):
    path, records = edge_files[case]
    chroms = dict(edge_specs()[case][0])
    rng = np.random.default_rng(11)
    with fastwig.open(path) as bw:
        assert bw.chroms == chroms
        for chrom, size in chroms.items():
            for s, e in sample_ranges(rng, size, records, chrom):
                assert bits_equal(bw.values(chrom, s, e), dense_expected(records, chrom, s, e)), (case, chrom, s, e)
                starts, ends, vals = bw.intervals(chrom, s, e)
                ref = [(a, b, v) for c, a, b, v in records if c == chrom and a < e and b > s]
                assert starts.tolist() == [r[0] for r in ref], (case, chrom, s, e)
                assert ends.tolist() == [r[1] for r in ref]
                assert bits_equal(vals, np.array([r[2] for r in ref], dtype=np.float32))


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_read_windows(edge_files, case):
    path, records = edge_files[case]
    chroms = dict(edge_specs()[case][0])
    rng = np.random.default_rng(12)
    names = list(chroms)
    n, width = 40, 256
    win_chroms = np.array([names[i] for i in rng.integers(0, len(names), n)])
    starts = np.array([int(rng.integers(-100, chroms[c] + 50)) for c in win_chroms], dtype=np.int64)
    with fastwig.open(path) as bw:
        got = fastwig.read_windows([bw], win_chroms, starts, width, missing=-1.0, oob=-3.0, threads=2)
    for i, (c, s) in enumerate(zip(win_chroms, starts)):
        ref = np.full(width, -3.0, np.float32)
        a, b = max(0, s), min(chroms[c], s + width)
        if b > a:
            d = dense_expected(records, c, a, b)
            ref[a - s:b - s] = np.where(np.isnan(d), -1.0, d)
        assert bits_equal(got[i, 0], ref), (case, c, s)


def test_big_endian_equals_little_endian(edge_files):
    le, _ = edge_files["bedgraph"]
    be, _ = edge_files["big_endian"]
    with fastwig.open(le) as a, fastwig.open(be) as b:
        assert b.header.byte_order == ">" and a.header.byte_order == "<"
        assert a.chroms == b.chroms
        for chrom, size in a.chroms.items():
            assert bits_equal(a.values(chrom), b.values(chrom))
            for stat in ("mean", "max", "coverage"):
                np.testing.assert_array_equal(a.stats(chrom, stat=stat, bins=7), b.stats(chrom, stat=stat, bins=7))
        assert a.summary == b.summary


def test_empty_file(edge_files):
    path, _ = edge_files["empty"]
    with fastwig.open(path) as bw:
        chrom, size = next(iter(bw.chroms.items()))
        assert np.isnan(bw.values(chrom, 0, min(size, 100))).all()
        assert bw.intervals(chrom)[0].size == 0
        assert np.isnan(bw.stats(chrom, exact=True)).all()
        assert (fastwig.read_windows([bw], chrom, [0], 50, missing=0.5) == 0.5).all()


def test_coordinates_beyond_2_31(edge_files):
    path, records = edge_files["coords_ge_2_31"]
    with fastwig.open(path) as bw:
        chrom, size = next(iter(bw.chroms.items()))
        assert size > 2**31
        last = max(e for c, s, e, v in records)
        s = last - 1000
        assert bits_equal(bw.values(chrom, s, last), dense_expected(records, chrom, s, last))
        starts, ends, _ = bw.intervals(chrom, s, last)
        assert starts.dtype == np.int64 and (ends <= size).all() and ends.max() > 2**31


def test_version1_summary_is_computed(edge_files):
    path, records = edge_files["version1"]
    with fastwig.open(path) as bw:
        assert bw.header.version == 1 and bw.header.totalSummaryOffset == 0
        covered = bw.summary.bases_covered
        assert covered == sum(e - s for c, s, e, v in records)


@pytest.mark.parametrize("early_exit", [True, False])
def test_cache_settings_do_not_change_answers(edge_files, early_exit, small_cache):
    path, records = edge_files["deep_rtree"]
    old = fastwig.settings.early_exit
    fastwig.settings.early_exit = early_exit
    try:
        with fastwig.open(path) as bw:
            chrom, size = next(iter(bw.chroms.items()))
            starts = np.arange(0, size, 97, dtype=np.int64)
            first = fastwig.read_windows([bw], chrom, starts, 300, missing=np.nan)
            again = fastwig.read_windows([bw], chrom, starts, 300, missing=np.nan)
            assert bits_equal(first, again)
            for i, s in enumerate(starts):
                e = min(size, s + 300)
                assert bits_equal(first[i, 0, :e - s], dense_expected(records, chrom, int(s), int(e)))
    finally:
        fastwig.settings.early_exit = old
