"""fastwig.BigWigWriter: files read back by pyBigWig, pybigtools and UCSC's own code (pybbi), zoom
levels identical to bedGraphToBigWig's, order checks, gaps.

References: per-base values are built with numpy from the records given; level-0 zoom records come from
the conformance writer's plain-Python summariser (``fastwig.bbi_writer._ucsc_summaries``) and coarser
levels from a plain-Python merge below; UCSC-written files in ../shared are rewritten from their own
records and must come out with the same zoom levels, bit for bit.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from support import BIGWIG_DIR, SHARED_REASON

import fastwig
from fastwig.bbi_writer import _ucsc_summaries

pyBigWig = pytest.importorskip("pyBigWig", reason="pyBigWig (test extra) is an oracle")
pybigtools = pytest.importorskip("pybigtools", reason="pybigtools (test extra) is an oracle")

# UCSC bedGraphToBigWig files whose values are exact in float32 (others were written from decimal text
# whose float64 values UCSC summed, so their zoom sums differ from any float32 rewrite in the last bit)
UCSC_FILES = ["bbi-js/volvox.bw", "bbi-js/cow.bw", "deepTools/test_data__test_paired2.bw"]


def coverage_like(rng, chroms, n_per_chrom, max_gap=40, max_len=30):
    """Sorted, non-overlapping bedGraph records with gaps, per chromosome."""
    out = {}
    for chrom, size in chroms.items():
        lens = rng.integers(1, max_len, n_per_chrom)
        gaps = rng.integers(0, max_gap, n_per_chrom)
        starts = np.cumsum(gaps + np.concatenate([[0], lens[:-1]]))
        ends = starts + lens
        keep = ends <= size
        vals = rng.gamma(1.0, 3.0, n_per_chrom).astype(np.float32)
        out[chrom] = (starts[keep], ends[keep], vals[keep])
    return out


def dense(records, size):
    """Per-base float32 values (NaN where no record) of one chromosome's records."""
    row = np.full(size, np.nan, np.float32)
    for s, e, v in zip(*records):
        row[s:e] = v
    return row


def write(path, chroms, records, **kw):
    with fastwig.BigWigWriter(path, chroms, **kw) as w:
        for chrom, (s, e, v) in records.items():
            w.add_intervals(chrom, s, e, v)
    return path


COMPRESSORS = ["zlib"] + (["isal"] if importlib.util.find_spec("isal") else [])


@pytest.fixture(scope="module", params=COMPRESSORS)
def written(tmp_path_factory, request):
    """A coverage-like file written with each deflater installed (ISA-L and zlib)."""
    rng = np.random.default_rng(7)
    chroms = {"chr1": 400_000, "chr2": 250_000, "chrM": 16_569, "empty": 5000}
    records = coverage_like(rng, {k: v for k, v in chroms.items() if k != "empty"}, 12_000)
    path = write(tmp_path_factory.mktemp("w") / "cov.bw", chroms, records, items_per_slot=512,
                 compressor=request.param)
    return path, chroms, records


def test_read_back_by_pybigwig_and_pybigtools(written):
    path, chroms, records = written
    ref = pyBigWig.open(str(path))
    assert ref.chroms() == chroms
    tools = pybigtools.open(str(path))
    for chrom, (s, e, v) in records.items():
        iv = np.array(ref.intervals(chrom))
        assert np.array_equal(iv[:, 0], s) and np.array_equal(iv[:, 1], e)
        assert np.array_equal(iv[:, 2].astype(np.float32), v)
        recs = np.array(list(tools.records(chrom)))
        assert np.array_equal(recs[:, 0], s) and np.array_equal(recs[:, 2].astype(np.float32), v)
        want = dense(records[chrom], chroms[chrom])
        got = np.array(ref.values(chrom, 0, chroms[chrom]), dtype=np.float32)
        assert np.array_equal(got, want, equal_nan=True)
        with fastwig.open(path) as bw:
            assert np.array_equal(bw.values(chrom), want, equal_nan=True)
    assert ref.intervals("empty") is None


def test_total_summary(written):
    path, _chroms, records = written
    s, e, v = (np.concatenate([r[j] for r in records.values()]) for j in range(3))
    w, v = (e - s).astype(np.float64), v.astype(np.float64)
    head = pyBigWig.open(str(path)).header()       # (pyBigWig gives min and max as integers)
    assert head["nBasesCovered"] == w.sum()
    with fastwig.open(path) as bw:
        got = bw.summary
    assert got.bases_covered == w.sum() and (got.min, got.max) == (v.min(), v.max())
    assert got.sum == pytest.approx((v * w).sum(), rel=1e-12)
    assert got.sum_squares == pytest.approx((v * v * w).sum(), rel=1e-12)


def reduce_reference(level: np.ndarray, reduction: int) -> np.ndarray:
    """Plain-Python merge of a zoom level into the next (UCSC's bbiSummarySimpleReduce)."""
    out: list[list] = []
    for r in level.tolist():
        cid, s, e, n, lo, hi, sm, sq = r
        if not out or out[-1][0] != cid or e > out[-1][1] + reduction:
            out.append([cid, s, e, n, lo, hi, np.float32(sm), np.float32(sq)])
        else:
            m = out[-1]
            m[2], m[3], m[4], m[5] = e, m[3] + n, min(m[4], lo), max(m[5], hi)
            m[6], m[7] = np.float32(m[6] + np.float32(sm)), np.float32(m[7] + np.float32(sq))
    return np.array([tuple(x) for x in out], dtype=level.dtype)


def test_zoom_records_match_reference(written):
    path, chroms, records = written
    ids = {c: i for i, c in enumerate(chroms)}
    cids = np.concatenate([np.full(r[0].size, ids[c]) for c, r in records.items()])
    s, e, v = (np.concatenate([r[j] for r in records.values()]) for j in range(3))
    with fastwig.open(path) as bw:
        assert len(bw.zooms) >= 3
        assert all(b == a * 4 for a, b in zip(bw.zooms, bw.zooms[1:]))
        level = _ucsc_summaries(cids, s, e, v, list(chroms.values()), bw.zooms[0])
        for i, reduction in enumerate(bw.zooms):
            if i:
                level = reduce_reference(level, reduction)
            got = np.concatenate([bw._zoom_records(i, ids[c], 0, chroms[c]) for c in chroms])
            assert got.size == level.size, reduction
            for ours, ref in zip(["chromStart", "chromEnd", "validCount", "minVal", "maxVal"],
                                 ["s", "e", "n", "min", "max"]):
                assert np.array_equal(got[ours], level[ref]), (reduction, ours)
            # the reference sums level 0 in float64, UCSC (and the writer) round to float32 at each step
            for ours, ref in zip(["sumData", "sumSquares"], ["sum", "ssq"]):
                np.testing.assert_allclose(got[ours], level[ref], rtol=1e-5, err_msg=f"{reduction} {ours}")


@pytest.mark.skipif(not BIGWIG_DIR.is_dir(), reason=SHARED_REASON)
@pytest.mark.parametrize("name", UCSC_FILES)
def test_same_zoom_levels_as_bedgraphtobigwig(tmp_path, name):
    """A UCSC file rewritten from its own records: the same reductions and zoom records, bit for bit,
    and the same total summary."""
    src = BIGWIG_DIR / name
    with fastwig.open(src) as orig:
        records = {c: orig.intervals(c) for c in orig.chroms}
        # zlib as UCSC: the first reduction depends on the size of the compressed data
        path = write(tmp_path / "again.bw", orig.chroms, {c: r for c, r in records.items() if r[0].size},
                     compressor="zlib")
        with fastwig.open(path) as ours:
            assert list(ours.zooms) == list(orig.zooms)
            a, b = ours.summary, orig.summary       # UCSC adds the total in an order of its own
            assert (a.bases_covered, a.min, a.max) == (b.bases_covered, b.min, b.max)
            assert (a.sum, a.sum_squares) == pytest.approx((b.sum, b.sum_squares), rel=1e-7)
            for i in range(len(ours.zooms)):
                for c in orig.chroms:
                    a = orig._zoom_records(i, orig._chrom_id[c], 0, orig.chroms[c])
                    b = ours._zoom_records(i, ours._chrom_id[c], 0, ours.chroms[c])
                    assert a.tobytes() == b.tobytes(), (name, i, c)


def test_zoom_stats_agree_with_oracles(written):
    """Approximate (zoom) statistics: pyBigWig, UCSC's library (pybbi) and fastwig read the same zoom
    records; where the bins fall on zoom boundaries they agree."""
    path, chroms, _ = written
    bbi = pytest.importorskip("bbi", reason="pybbi (UCSC's library) not installed")
    ref = pyBigWig.open(str(path))
    with fastwig.open(path) as bw:
        for chrom in ("chr1", "chr2"):
            size = chroms[chrom]
            for stat in ("mean", "max", "min", "coverage"):
                ours = bw.stats(chrom, 0, size, stat=stat, bins=7, exact=False)
                if stat != "coverage":      # libBigWig weighs zoom records cut by a bin otherwise
                    theirs = np.array(ref.stats(chrom, 0, size, type=stat, nBins=7, exact=False), np.float64)
                    np.testing.assert_allclose(ours, theirs, rtol=1e-6, equal_nan=True)
                ucsc = bbi.fetch(str(path), chrom, 0, size, bins=7, summary="cov" if stat == "coverage" else stat,
                                 missing=np.nan)
                np.testing.assert_allclose(ours, ucsc, rtol=1e-5, equal_nan=True)
            exact = bw.stats(chrom, 0, size, stat="mean", bins=7, exact=True)
            approx = bw.stats(chrom, 0, size, stat="mean", bins=7, exact=False)
            np.testing.assert_allclose(approx, exact, rtol=0.05)


def test_read_back_by_ucsc_library(written):
    bbi = pytest.importorskip("bbi", reason="pybbi (UCSC's library) not installed")
    path, chroms, records = written
    info = bbi.info(str(path))
    assert info["summary"]["basesCovered"] == sum(int((e - s).sum()) for s, e, _ in records.values())
    for chrom, recs in records.items():
        got = bbi.fetch(str(path), chrom, 0, chroms[chrom], missing=np.nan).astype(np.float32)
        assert np.array_equal(got, dense(recs, chroms[chrom]), equal_nan=True)
        iv = list(bbi.fetch_intervals(str(path), chrom, 0, chroms[chrom]))
        assert [(a, b) for _, a, b, _ in iv] == list(zip(recs[0].tolist(), recs[1].tolist()))


def test_add_values_fixedstep_with_gaps(tmp_path):
    rng = np.random.default_rng(3)
    size, span = 100_003, 128
    preds = rng.random(-(-size // span)).astype(np.float32)
    preds[[5, 6, 7, 300, 781]] = np.nan           # gaps, the last one included
    chroms = {"c1": size, "c2": 1000}
    with fastwig.BigWigWriter(tmp_path / "pred.bw", chroms, items_per_slot=100) as w:
        w.add_values("c1", 0, preds, span=span)
        w.add_values("c2", 10, [1.5, 2.5], span=600)      # last value cut at the chromosome end
    want = np.repeat(preds, span)[:size]
    with fastwig.open(tmp_path / "pred.bw") as bw:
        assert np.array_equal(bw.values("c1"), want, equal_nan=True)
        c2 = np.full(1000, np.nan, np.float32)
        c2[10:610], c2[610:] = 1.5, 2.5
        assert np.array_equal(bw.values("c2"), c2, equal_nan=True)
    ref = pyBigWig.open(str(tmp_path / "pred.bw"))
    assert np.array_equal(np.array(ref.values("c1", 0, size), np.float32), want, equal_nan=True)
    assert ref.intervals("c2") == ((10, 610, 1.5), (610, 1000, 2.5))
    tools = pybigtools.open(str(tmp_path / "pred.bw"))
    assert np.array_equal(tools.values("c1", 0, size, fillna=None).astype(np.float32), want, equal_nan=True)


def test_chromosomes_in_any_order_and_chunked_calls(tmp_path, written):
    """Records added chromosome by chromosome in reverse, in chunks, interleaved: the same values."""
    _, chroms, records = written
    with fastwig.BigWigWriter(tmp_path / "mixed.bw", chroms, items_per_slot=300, threads=2) as w:
        chunks = {c: np.array_split(np.arange(r[0].size), 5) for c, r in records.items()}
        for k in range(5):
            for chrom in reversed(list(records)):
                s, e, v = records[chrom]
                idx = chunks[chrom][k]
                w.add_intervals(chrom, s[idx], e[idx], v[idx])
    ref = pyBigWig.open(str(tmp_path / "mixed.bw"))
    with fastwig.open(tmp_path / "mixed.bw") as bw:
        for chrom, recs in records.items():
            want = dense(recs, chroms[chrom])
            assert np.array_equal(bw.values(chrom), want, equal_nan=True)
            assert np.array_equal(np.array(ref.values(chrom, 0, chroms[chrom]), np.float32), want, equal_nan=True)


def test_nan_in_intervals_is_a_gap(tmp_path):
    with fastwig.BigWigWriter(tmp_path / "g.bw", {"c": 100}) as w:
        w.add_intervals("c", [0, 10, 20], [10, 20, 30], [1.0, np.nan, 3.0])
    assert pyBigWig.open(str(tmp_path / "g.bw")).intervals("c") == ((0, 10, 1.0), (20, 30, 3.0))


def test_empty_file(tmp_path):
    with fastwig.BigWigWriter(tmp_path / "e.bw", {"c": 100, "d": 5}):
        pass
    with fastwig.open(tmp_path / "e.bw") as bw:
        assert bw.chroms == {"c": 100, "d": 5} and bw.zooms == []
        assert np.isnan(bw.values("c")).all()
    assert pyBigWig.open(str(tmp_path / "e.bw")).intervals("c") is None


@pytest.mark.parametrize("calls, match", [
    ([("c", [0, 5], [10, 20], [1, 2])], r"record 1 of this call \(5-20\) starts before the previous record"),
    ([("c", [10], [20], [1]), ("c", [15], [30], [1])], r"record 0 of this call \(15-30\) starts before"),
    ([("c", [0, 20, 10], [5, 30, 15], [1, 2, 3])], r"record 2 of this call \(10-15\)"),
    ([("c", [5], [5], [1])], "ends at or before its start"),
    ([("c", [90], [101], [1])], r"runs past the chromosome's end \(100\)"),
    ([("c", [0, 1], [1], [1, 2])], "differ in length"),
])
def test_order_and_range_errors(tmp_path, calls, match):
    with pytest.raises(fastwig.RangeError, match=match), fastwig.BigWigWriter(tmp_path / "bad.bw", {"c": 100}) as w:
        for chrom, s, e, v in calls:
            w.add_intervals(chrom, s, e, v)
    assert not (tmp_path / "bad.bw").exists()       # an aborted file is removed


def test_other_errors(tmp_path):
    with fastwig.BigWigWriter(tmp_path / "x.bw", {"c": 100}) as w:
        with pytest.raises(fastwig.ChromNotFound, match="'chrZ'"):
            w.add_intervals("chrZ", [0], [1], [1.0])
        with pytest.raises(fastwig.RangeError, match="at most 10 fit"):
            w.add_values("c", 0, np.ones(11), span=10)
        with pytest.raises(fastwig.RangeError, match="span"):
            w.add_values("c", 0, [1.0], span=0)
        w.add_values("c", 0, np.ones(10), span=10)
    with pytest.raises(fastwig.FastwigError, match="closed"):
        w.add_intervals("c", [0], [1], [1.0])
    with pytest.raises(fastwig.RangeError, match="repeated"):
        fastwig.BigWigWriter(tmp_path / "y.bw", [("a", 1), ("a", 2)])
    with pytest.raises(fastwig.FastwigError, match="cannot write"):
        fastwig.BigWigWriter(tmp_path / "no" / "such" / "dir.bw", {"a": 1})


def test_compressor_choice(tmp_path):
    with fastwig.BigWigWriter(tmp_path / "z.bw", {"c": 10}, compressor="zlib") as w:
        assert w.compressor == "zlib"
    with fastwig.BigWigWriter(tmp_path / "a.bw", {"c": 10}) as w:
        assert w.compressor == ("isal" if "isal" in COMPRESSORS else "zlib")
    with fastwig.BigWigWriter(tmp_path / "s.bw", {"c": 10}, compress_level=0) as w:
        assert w.compressor == "zlib"              # level 0 (stored blocks) is zlib's alone
    with pytest.raises(fastwig.RangeError, match="compressor"):
        fastwig.BigWigWriter(tmp_path / "x.bw", {"c": 10}, compressor="lz4")


def test_zoom_levels_option(tmp_path, written):
    _, chroms, records = written
    for levels in (0, 1, 2):
        path = write(tmp_path / f"z{levels}.bw", chroms, records, zoom_levels=levels)
        with fastwig.open(path) as bw:
            assert len(bw.zooms) == levels
    path = write(tmp_path / "bs.bw", chroms, records, block_size=4, items_per_slot=64)
    with fastwig.open(path) as bw:                   # a deep R-tree reads the same
        assert np.array_equal(bw.values("chr2"), dense(records["chr2"], chroms["chr2"]), equal_nan=True)


def test_coordinates_past_two_to_the_31(tmp_path):
    """A chromosome of 2**32 - 1 bases: records at and past 2**31 (pyBigWig's intervals() turns those
    negative, so values and fastwig's intervals are compared)."""
    size = 2**32 - 1
    starts = np.array([5, 2**31 - 10, 2**31 + 17, size - 100], np.int64)
    ends = starts + np.array([10, 20, 1000, 100])
    vals = np.array([1, 2, 3, 4], np.float32)
    with fastwig.BigWigWriter(tmp_path / "big.bw", {"huge": size, "small": 10}) as w:
        w.add_intervals("huge", starts, ends, vals)
        w.add_values("small", 0, [7.0, 8.0], span=6)
    with fastwig.open(tmp_path / "big.bw") as bw:
        s, e, v = bw.intervals("huge")
        assert np.array_equal(s, starts) and np.array_equal(e, ends) and np.array_equal(v, vals)
        assert bw.summary.bases_covered == int((ends - starts).sum()) + 10
    ref = pyBigWig.open(str(tmp_path / "big.bw"))
    got = np.array(ref.values("huge", size - 101, size))
    assert np.array_equal(got, np.r_[np.nan, np.full(100, 4.0)], equal_nan=True)
    assert ref.intervals("small") == ((0, 6, 7.0), (6, 10, 8.0))


@pytest.mark.parametrize("reduction", [7, 100, 3_000_000_000])
def test_summarise_kernel_against_reference(reduction):
    """kernels.zoom.summarise against the plain-Python summariser, on records up to 2**32 - 1 and a
    reduction wider than the chromosome (integer fields exact; sums to float32 rounding)."""
    from fastwig.kernels import zoom

    rng = np.random.default_rng(reduction)
    sizes = np.array([2**32 - 1, 5000], np.int64)
    s0 = np.sort(rng.choice(2**32 - 2000, 300, replace=False)) // 10 * 10
    s1 = np.arange(0, 4990, 17)
    starts = np.concatenate([s0, s1]).astype(np.int64)
    ends = starts + np.concatenate([rng.integers(1, 10, s0.size), rng.integers(1, 17, s1.size)])
    cids = np.repeat([0, 1], [s0.size, s1.size]).astype(np.int64)
    vals = rng.random(cids.size).astype(np.float32)
    room = cids.size + int(((ends - starts) // reduction).sum()) + 1
    cols = [np.empty(room, np.uint32) for _ in range(4)] + [np.empty(room, np.float32) for _ in range(4)]
    n = zoom.summarise(cids, starts, ends, vals, sizes, reduction, *cols)
    ref = _ucsc_summaries(cids, starts, ends, vals, sizes.tolist(), reduction)
    assert n == ref.size
    for col, name in zip(cols[:6], ["cid", "s", "e", "n", "min", "max"]):
        assert np.array_equal(col[:n], ref[name]), name
    for col, name in zip(cols[6:], ["sum", "ssq"]):
        np.testing.assert_allclose(col[:n], ref[name], rtol=1e-5)


def test_add_intervals_with_a_chromosome_column(tmp_path, written):
    """A bedGraph table (chromosome per record) in one call: the same file as one call per chromosome."""
    _path, chroms, records = written
    names = np.concatenate([np.full(r[0].size, c) for c, r in records.items()])
    s, e, v = (np.concatenate([r[j] for r in records.values()]) for j in range(3))
    with fastwig.BigWigWriter(tmp_path / "table.bw", chroms, items_per_slot=512, compressor="zlib") as w:
        w.add_intervals(names, s, e, v)
    again = write(tmp_path / "calls.bw", chroms, records, items_per_slot=512, compressor="zlib")
    assert (tmp_path / "table.bw").read_bytes() == again.read_bytes()
    with pytest.raises(fastwig.RangeError, match="2 chromosome names for 3 records"):
        with fastwig.BigWigWriter(tmp_path / "bad.bw", chroms) as w:
            w.add_intervals(["chr1", "chr1"], [0, 5, 9], [5, 9, 12], [1, 2, 3])


def test_many_scaffolds(tmp_path):
    """3,000 chromosomes (a B+ tree of several levels, zoom work split across chromosome chunks)."""
    rng = np.random.default_rng(9)
    chroms = {f"scaffold_{i}": int(rng.integers(2_000, 20_000)) for i in range(3000)}
    records = coverage_like(rng, chroms, 60)
    path = write(tmp_path / "scaf.bw", chroms, records, block_size=16)
    ref = pyBigWig.open(str(path))
    assert ref.chroms() == chroms
    with fastwig.open(path) as bw:
        assert len(bw.zooms) >= 1
        ids = {c: i for i, c in enumerate(chroms)}
        cids = np.concatenate([np.full(r[0].size, ids[c]) for c, r in records.items()])
        s, e, v = (np.concatenate([r[j] for r in records.values()]) for j in range(3))
        ref0 = _ucsc_summaries(cids, s, e, v, list(chroms.values()), bw.zooms[0])
        got0 = np.concatenate([bw._zoom_records(0, ids[c], 0, chroms[c]) for c in chroms])
        assert np.array_equal(got0["chromStart"], ref0["s"]) and np.array_equal(got0["validCount"], ref0["n"])
        for chrom in list(chroms)[::250]:
            want = dense(records[chrom], chroms[chrom])
            assert np.array_equal(bw.values(chrom), want, equal_nan=True)
            assert np.array_equal(np.array(ref.values(chrom, 0, chroms[chrom]), np.float32), want, equal_nan=True)
