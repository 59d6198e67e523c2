"""Regions: BED parsing, SQL filters, tiling, thresholding tracks, exclusion, splits, rows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastwig.errors import ChromNotFound, FastwigError, RangeError
from fastwig.progress import Progress
from fastwig.regions import OverlapIndex, Regions, read_chrom_sizes

VOLVOX = Path(__file__).resolve().parents[2] / "shared" / "data" / "volvox"
needs_volvox = pytest.mark.skipif(not VOLVOX.is_dir(), reason=f"volvox test data not found at {VOLVOX}")

BED_MIXED = """\
browser position chr1:1-1000
track name=test description="a test"
# a comment

chr1\t100\t200\tpeak1\t600\t+
chr1\t150\t400\tpeak2\t400\t-
chrM\t0\t50\tmito\t900\t.
chr2\t1000\t1100\tpeak3\t700\t+

chr2\t5\t5\tempty\t0\t+
"""

BED12_EXTRA = (
    "chr1\t1049\t9000\tEDEN.1\t1000\t+\t1200\t7608\t0,0,0\t4\t451,903,501,2001\t0,1950,3950,5950\tEDEN\t3.5\n"
    "chr1\t1299\t9000\tEDEN.3\t1000\t+\t3300\t7600\t0,0,0\t4\t201,903,501,2001\t0,1700,3700,5700\tEDEN\t-1\n"
)

NARROWPEAK = (
    "chr1\t10\t60\tp1\t0\t.\t5.5\t-1\t3.2\t25\n"
    "chr1\t90\t130\tp2\t0\t.\t8.0\t-1\t.\t20\n"
)


def write(path: Path, text: str, gz: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def mixed(tmp_path) -> Regions:
    return Regions.from_bed(write(tmp_path / "mixed.bed", BED_MIXED))


# --- BED parsing ------------------------------------------------------------------------------

def test_bed6_with_headers_comments_blank_lines(mixed):
    assert len(mixed) == 5
    assert mixed.columns == ["chrom", "start", "end", "name", "score", "strand"]
    assert mixed.chrom.tolist() == ["chr1", "chr1", "chrM", "chr2", "chr2"]
    assert mixed.start.dtype == np.int64 and mixed.start.tolist() == [100, 150, 0, 1000, 5]
    assert mixed.end.tolist() == [200, 400, 50, 1100, 5]
    assert mixed["score"].dtype == np.int64
    assert mixed["strand"].tolist() == ["+", "-", ".", "+", "+"]
    assert mixed[0] == {"chrom": "chr1", "start": 100, "end": 200, "name": "peak1", "score": 600, "strand": "+"}


@pytest.mark.parametrize("gz", [False, True])
def test_bed3_plain_and_gzipped(tmp_path, gz):
    r = Regions.from_bed(write(tmp_path / ("a.bed.gz" if gz else "a.bed"), "chrA\t0\t10\nchrB\t5\t20\n", gz=gz))
    assert r.columns == ["chrom", "start", "end"]
    assert list(r) == [{"chrom": "chrA", "start": 0, "end": 10}, {"chrom": "chrB", "start": 5, "end": 20}]


def test_gzip_equals_plain(tmp_path):
    a = Regions.from_bed(write(tmp_path / "m.bed", BED_MIXED))
    b = Regions.from_bed(write(tmp_path / "m.bed.gz", BED_MIXED, gz=True))
    assert list(a) == list(b)


def test_bed12_with_extra_columns(tmp_path):
    r = Regions.from_bed(write(tmp_path / "b12.bed", BED12_EXTRA))
    assert r.columns == ["chrom", "start", "end", "name", "score", "strand", "thickStart", "thickEnd",
                         "itemRgb", "blockCount", "blockSizes", "blockStarts", "col13", "col14"]
    row = r[0]
    assert row["thickStart"] == 1200 and row["blockCount"] == 4 and row["itemRgb"] == "0,0,0"
    assert row["blockSizes"] == "451,903,501,2001" and row["col13"] == "EDEN"
    assert r["col14"].dtype == np.float64 and r["col14"].tolist() == [3.5, -1.0]
    np.testing.assert_array_equal(r["col7"], r["thickStart"])  # colN aliases a named column
    assert len(r.where("col7 = 1200 AND COL14 < 0")) == 0 and len(r.where("col7 = 1200")) == 1


def test_bed6_plus_extras_are_colN(tmp_path):
    r = Regions.from_bed(write(tmp_path / "p.narrowPeak", NARROWPEAK))
    assert r.columns == ["chrom", "start", "end", "name", "score", "strand", "col7", "col8", "col9", "col10"]
    assert r["col7"].tolist() == [5.5, 8.0]
    assert r["col8"].dtype == np.int64
    c9 = r["col9"]
    assert c9.dtype == np.float64 and c9[0] == pytest.approx(3.2) and np.isnan(c9[1])  # "." is missing
    assert len(r.where("col9 IS NULL")) == 1 and r.where("col10 > 22")[0]["name"] == "p1"


def test_bed4_and_whitespace_separated_and_ragged(tmp_path):
    r = Regions.from_bed(write(tmp_path / "ws.bed", "chr1 0 10 a\nchr1  20 30 b extra\r\n"))
    assert r.columns == ["chrom", "start", "end", "name", "score"]
    assert r["name"].tolist() == ["a", "b"]
    assert r["score"].tolist() == ["", "extra"]


def test_dot_only_score_stays_text(tmp_path):
    r = Regions.from_bed(write(tmp_path / "dot.bed", "c\t0\t5\tx\t.\t+\nc\t5\t9\ty\t.\t-\n"))
    assert r["score"].dtype == object and r["score"].tolist() == [".", "."]


def test_empty_bed(tmp_path):
    r = Regions.from_bed(write(tmp_path / "empty.bed", "track name=x\n# nothing\n\n"))
    assert len(r) == 0 and r.total_bases == 0 and list(r) == []


@pytest.mark.parametrize("text,what", [
    ("chr1\t0\n", "line 1: a BED line needs at least 3 fields"),
    ("# c\nchr1\t0\t5\nchr1\t0\t5\t\tx\nchr1\t0\n", "line 4: a BED line needs at least 3 fields"),
    ("chr1\t0\t10\nchr1\tzero\t10\n", "line 2: start 'zero'"),
    ("chr1\t0\t1.5\n", "end '1.5'"),
    ("chr1\t10\t5\n", "end is before start"),
])
def test_bed_errors_name_file_and_line(tmp_path, text, what):
    path = write(tmp_path / "bad.bed", text)
    with pytest.raises(FastwigError, match=what) as info:
        Regions.from_bed(path)
    assert str(path) in str(info.value)


def test_missing_bed_file(tmp_path):
    with pytest.raises(FastwigError, match="nope.bed"):
        Regions.from_bed(tmp_path / "nope.bed")


@needs_volvox
def test_volvox_beds():
    remark = Regions.from_bed(VOLVOX / "volvox-remark.bed")
    assert len(remark) == 16 and remark.columns[3:] == ["name", "score", "strand"]
    assert remark[-1] == {"chrom": "ctgA", "start": 1000, "end": 2000, "name": "hga", "score": ".", "strand": "."}
    segments = Regions.from_bed(VOLVOX / "volvox_segment.bed")
    assert len(segments) == 49 and segments.total_bases == 50000
    bed12 = Regions.from_bed(VOLVOX / "volvox-bed12.bed.gz")  # BGZF
    assert len(bed12) == 4 and bed12.columns[-5:] == ["col13", "col14", "col15", "col16", "col17"]
    assert bed12["blockCount"].tolist() == [4, 3, 4, 3]
    sort = Regions.from_bed(VOLVOX / "volvox.sort.bed.gz")
    assert len(sort) == 109 and set(sort.chrom) == {"contigA"}


# --- construction, rows, columns ------------------------------------------------------------

def test_constructor_and_rows():
    r = Regions(chrom=["c1", "c2", "c1"], start=[0, 10, 50], end=[5, 30, 55], name=["a", "b", "c"],
                score=[1.5, 2.5, 3.5], assembly="hg38")
    assert len(r) == 3 and r.total_bases == 30
    assert r.columns == ["chrom", "start", "end", "name", "score", "assembly"]
    assert r["assembly"].tolist() == ["hg38"] * 3
    rows = list(r)
    assert rows[1] == {"chrom": "c2", "start": 10, "end": 30, "name": "b", "score": 2.5, "assembly": "hg38"}
    assert rows[1]["chrom"] == r[1]["chrom"] == r[-2]["chrom"]
    assert type(rows[0]["start"]) is int and type(r[0]["score"]) is float
    sub = r[1:]
    assert isinstance(sub, Regions) and sub.chrom.tolist() == ["c2", "c1"]
    assert r[np.array([True, False, True])]["name"].tolist() == ["a", "c"]
    assert r[[2, 0]]["name"].tolist() == ["c", "a"]
    assert r[np.array([], dtype=np.int64)].columns == r.columns
    with pytest.raises(IndexError):
        r[3]
    with pytest.raises(KeyError):
        r["nope"]
    with pytest.raises(ValueError):
        r.start[0] = 1  # tables are immutable


def test_constructor_errors():
    with pytest.raises(RangeError):
        Regions(chrom=["a"], start=[5], end=[4])
    with pytest.raises(RangeError):
        Regions(chrom=["a", "b"], start=[0], end=[1])
    with pytest.raises(RangeError):
        Regions(chrom=["a"], start=[0], end=[1], extra=[1, 2])
    with pytest.raises(RangeError):
        Regions(chrom=["a"], start=[0.5], end=[1])


def test_from_records_and_dict():
    recs = [{"chrom": "c1", "start": 0, "end": 10, "name": "x"}, {"chrom": "c2", "start": 3, "end": 4}]
    r = Regions.from_records(recs)
    assert r.columns == ["chrom", "start", "end", "name"] and r[1]["name"] is None
    t = Regions.from_records([("c1", 0, 10, "x", 5)])
    assert t.columns == ["chrom", "start", "end", "name", "score"] and t[0]["score"] == 5
    d = Regions.from_dict({"chrom": np.array(["c1"]), "start": [1], "end": [2], "v": np.array([7])})
    assert list(d) == [{"chrom": "c1", "start": 1, "end": 2, "v": 7}]
    assert list(Regions.from_dict(d.to_dict())) == list(d)


def test_concat_and_sort():
    a = Regions(chrom=["c2", "c1"], start=[5, 9], end=[6, 10])
    b = Regions(chrom=["c1", "c3"], start=[1, 0], end=[2, 1])
    both = Regions.concat([a, b])
    assert [(x["chrom"], x["start"]) for x in both] == [("c2", 5), ("c1", 9), ("c1", 1), ("c3", 0)]
    assert [(x["chrom"], x["start"]) for x in both.sort()] == [("c1", 1), ("c1", 9), ("c2", 5), ("c3", 0)]


# --- SQL --------------------------------------------------------------------------------------

def test_where_examples(mixed):
    assert mixed.where("score > 500 AND chrom != 'chrM'")["name"].tolist() == ["peak1", "peak3"]
    assert mixed.where("end - start >= 200")["name"].tolist() == ["peak2"]
    assert mixed.where("end - start >= 100")["name"].tolist() == ["peak1", "peak2", "peak3"]
    assert mixed.where("name LIKE 'peak%' AND strand = '+'")["name"].tolist() == ["peak1", "peak3"]
    assert mixed.where("chrom IN ('chr2', 'chrM') AND start < 100")["name"].tolist() == ["mito", "empty"]
    assert len(mixed.where("0")) == 0 and len(mixed.where("1")) == 5


def test_where_keeps_order_and_quoted_names():
    r = Regions(chrom=["a"] * 4, start=[3, 1, 2, 0], end=[4, 2, 3, 1], group=[1, 2, 1, 2])
    assert r.where('"group" = 1')["start"].tolist() == [3, 2]  # row order kept
    assert r.where('"end" > 1 AND "start" < 3')["start"].tolist() == [1, 2]


@pytest.mark.parametrize("clause", ["scor > 1", "score >", "1; DROP TABLE regions", "", "1 ORDER BY start"])
def test_where_bad_clause(mixed, clause):
    with pytest.raises(RangeError, match="WHERE clause") as info:
        mixed.where(clause)
    assert isinstance(info.value, FastwigError)


# --- tile ---------------------------------------------------------------------------------------

def test_tile_drops_partial_last_tile(tmp_path):
    t = Regions.tile({"a": 25, "b": 9, "c": 10}, width=10)
    assert [(x["chrom"], x["start"], x["end"]) for x in t] == [("a", 0, 10), ("a", 10, 20), ("c", 0, 10)]
    s = Regions.tile({"a": 25}, width=10, stride=5)
    assert s.start.tolist() == [0, 5, 10, 15]
    sizes = write(tmp_path / "x.sizes", "a\t25\n\nb 9\n")
    assert list(Regions.tile(sizes, 10)) == list(Regions.tile({"a": 25, "b": 9}, 10))
    assert Regions.tile({"a": 25, "b": 30}, 10, chroms=["b"]).chrom.tolist() == ["b"] * 3
    with pytest.raises(RangeError):
        Regions.tile({"a": 5}, 0)
    with pytest.raises(ChromNotFound):
        Regions.tile({"a": 5}, 1, chroms=["z"])


@needs_volvox
def test_tile_from_fai_and_sizes_file():
    t = Regions.tile(VOLVOX / "volvox.fa.fai", 1000, 500)
    assert len(t) == (50001 - 1000) // 500 + 1 + (6079 - 1000) // 500 + 1
    assert read_chrom_sizes(VOLVOX / "volvox_chrom.sizes") == {"ctgA": 50001, "ctgB": 66}


# --- threshold ----------------------------------------------------------------------------------

class FakeTrack:
    """Anything with ``.chroms`` and ``.values(chrom, start, end)`` is a track."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.chroms = {c: len(a) for c, a in arrays.items()}
        self.calls = 0

    def values(self, chrom, start, end):
        self.calls += 1
        return self.arrays[chrom][start:end].astype(np.float32)


def threshold_reference(arrays_per_track, above, merge_gap, min_length):
    """Base-by-base loops: independent of the vectorised implementation."""
    chroms = []
    for arrays in arrays_per_track:
        chroms += [c for c in arrays if c not in chroms]
    out = []
    for chrom in chroms:
        length = max(len(a[chrom]) for a in arrays_per_track if chrom in a)
        sel = [any(chrom in a and p < len(a[chrom]) and a[chrom][p] > above for a in arrays_per_track)
               for p in range(length)]
        runs, p = [], 0
        while p < length:
            if sel[p]:
                q = p
                while q < length and sel[q]:
                    q += 1
                if runs and p - runs[-1][1] <= merge_gap:
                    runs[-1][1] = q
                else:
                    runs.append([p, q])
                p = q
            else:
                p += 1
        out += [(chrom, s, e) for s, e in runs if e - s >= min_length]
    return out


def as_tuples(r: Regions):
    return [(x["chrom"], x["start"], x["end"]) for x in r]


def test_threshold_small_example():
    sig = np.array([0, 5, 5, 0, 0, 6, np.nan, 7, 0, 0, 0, 9], dtype=np.float32)
    track = FakeTrack({"c": sig})
    got = Regions.threshold(track, 1.0, progress=False)
    assert as_tuples(got) == [("c", 1, 3), ("c", 5, 6), ("c", 7, 8), ("c", 11, 12)]
    got = Regions.threshold(track, 1.0, merge_gap=1, progress=False)
    assert as_tuples(got) == [("c", 1, 3), ("c", 5, 8), ("c", 11, 12)]
    assert as_tuples(Regions.threshold(track, 1.0, merge_gap=2, min_length=4, progress=False)) == [("c", 1, 8)]
    assert as_tuples(Regions.threshold(track, 5.0, progress=False)) == [("c", 5, 6), ("c", 7, 8), ("c", 11, 12)]
    assert len(Regions.threshold(track, 100.0, progress=False)) == 0


def test_threshold_any_track_and_chunks():
    a = FakeTrack({"c1": np.array([0, 0, 3, 3, 0, 0, 0, 0], float), "c2": np.array([1, 0], float)})
    b = FakeTrack({"c1": np.array([0, 0, 0, 0, 3, 0], float), "c3": np.array([0, 2, 2], float)})
    got = Regions.threshold([a, b], 0.5, chunk=3, progress=False)
    assert as_tuples(got) == [("c1", 2, 5), ("c2", 0, 1), ("c3", 1, 3)]
    assert as_tuples(Regions.threshold([a, b], 0.5, chroms=["c3"], progress=False)) == [("c3", 1, 3)]
    with pytest.raises(ChromNotFound):
        Regions.threshold([a, b], 0.5, chroms=["c9"], progress=False)
    with pytest.raises(RangeError):
        Regions.threshold(a, 0.5, merge_gap=-1)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_tracks=st.integers(1, 3), above=st.sampled_from([0.0, 0.5, 2.0]),
       merge_gap=st.integers(0, 4), min_length=st.integers(1, 5), chunk=st.integers(1, 40))
def test_threshold_matches_reference(data, n_tracks, above, merge_gap, min_length, chunk):
    values = st.sampled_from([0.0, 0.3, 1.0, 3.0, np.nan])
    tracks = []
    for _ in range(n_tracks):
        arrays = {}
        for chrom in data.draw(st.lists(st.sampled_from(["c1", "c2", "c3"]), min_size=1, max_size=3, unique=True)):
            arrays[chrom] = np.array(data.draw(st.lists(values, min_size=0, max_size=60)), dtype=np.float32)
        tracks.append(arrays)
    got = Regions.threshold([FakeTrack(a) for a in tracks], above, merge_gap=merge_gap,
                            min_length=min_length, chunk=chunk, progress=False)
    assert as_tuples(got) == threshold_reference(tracks, above, merge_gap, min_length)


def _pybigwig_track(path):
    pyBigWig = pytest.importorskip("pyBigWig")
    bw = pyBigWig.open(str(path))

    class Track:
        chroms = bw.chroms()

        @staticmethod
        def values(chrom, start, end):
            return np.array(bw.values(chrom, start, end), dtype=np.float32)

    return Track()


@needs_volvox
def test_threshold_volvox_bigwigs_via_pybigwig():
    cov = _pybigwig_track(VOLVOX / "volvox-sorted.bam.coverage.bw")
    sine = _pybigwig_track(VOLVOX / "volvox_sine.bw")
    full = {name: {"ctgA": t.values("ctgA", 0, 50001)} for name, t in (("cov", cov), ("sine", sine))}
    got = Regions.threshold([cov, sine], 25.0, merge_gap=10, min_length=5, chunk=7777, progress=False)
    assert as_tuples(got) == threshold_reference([full["cov"], full["sine"]], 25.0, 10, 5)
    assert len(got) > 0
    got = Regions.threshold(sine, 0.9, chunk=5000, progress=False)
    assert as_tuples(got) == threshold_reference([full["sine"]], 0.9, 0, 1)


@needs_volvox
def test_threshold_from_paths_with_fastwig_reader():
    path = VOLVOX / "volvox-sorted.bam.coverage.bw"
    expected = Regions.threshold(_pybigwig_track(path), 20.0, merge_gap=3, progress=False)
    got = Regions.threshold(str(path), 20.0, merge_gap=3, chunk=10_000, progress=False)
    assert as_tuples(got) == as_tuples(expected)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_threshold_progress_bar(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr("sys.stderr", err)
    Regions.threshold(FakeTrack({"c": np.ones(100)}), 0.5, chunk=10, progress=True)
    assert "threshold" in err.getvalue() and "100.0%" in err.getvalue() and err.getvalue().endswith("\n")
    err2 = FakeTTY()
    monkeypatch.setattr("sys.stderr", err2)
    Regions.threshold(FakeTrack({"c": np.ones(100)}), 0.5, progress=False)
    assert err2.getvalue() == ""


def test_progress_silent_when_not_a_tty():
    out = io.StringIO()
    with Progress(10, "x", file=out) as bar:
        bar.update(10)
    assert out.getvalue() == ""
    tty = FakeTTY()
    with Progress(10, "x", file=tty, min_interval=0) as bar:
        bar.update(5)
    assert "50.0%" in tty.getvalue() and "100.0%" not in tty.getvalue()


# --- overlaps, exclude, split -------------------------------------------------------------------

def overlaps_reference(a: Regions, b: Regions) -> np.ndarray:
    return np.array([any(x["chrom"] == y["chrom"] and x["start"] < y["end"] and y["start"] < x["end"] for y in b)
                     for x in a], dtype=bool)


def random_regions(rng, n, chroms, span=1000, maxlen=60) -> Regions:
    start = rng.integers(0, span, n)
    return Regions(chrom=rng.choice(chroms, n), start=start, end=start + rng.integers(0, maxlen, n),
                   idx=np.arange(n))


def test_overlaps_and_exclude_random():
    rng = np.random.default_rng(4)
    for _ in range(20):
        a = random_regions(rng, 80, ["c1", "c2", "c3"])
        b = random_regions(rng, 15, ["c2", "c3", "c4"], maxlen=100)
        ref = overlaps_reference(a, b)
        np.testing.assert_array_equal(a.overlaps(b), ref)
        kept = a.exclude(b)
        assert kept["idx"].tolist() == a["idx"][~ref].tolist()


def test_overlap_index_against_brute_force():
    """The one overlap index (Regions.overlaps and the dataset's labels use it): integer keys, negative keys
    dropped, coordinates past 2**31 and below 0, touching intervals do not overlap."""
    rng = np.random.default_rng(9)
    for trial in range(30):
        n, m = int(rng.integers(0, 40)), int(rng.integers(0, 60))
        keys = rng.integers(-1, 4, n)
        starts = rng.integers(-50, 400, n) + (2 ** 32 if trial % 3 == 0 else 0)
        ends = starts + rng.integers(0, 80, n)
        qk = rng.integers(-1, 5, m)
        qs = rng.integers(-60, 420, m) + (2 ** 32 if trial % 3 == 0 else 0)
        qe = qs + rng.integers(0, 50, m)
        want = [any(k >= 0 and k == q and s < e2 and s2 < e for k, s, e in zip(keys, starts, ends))
                for q, s2, e2 in zip(qk, qs, qe)]
        ix = OverlapIndex(keys, starts, ends)
        assert len(ix) == int((keys >= 0).sum())
        assert ix.query(qk, qs, qe).tolist() == want, trial


def test_overlap_index_from_regions_maps_chromosomes_by_name():
    table = Regions(chrom=["c2", "c9", "c1"], start=[0, 0, 100], end=[10, 10, 200])
    ix = OverlapIndex.from_regions(table, ["c1", "c2", "c3"])      # c9: not asked about, dropped
    assert len(ix) == 2
    assert ix.query([0, 1, 1, 2], [150, 5, 10, 0], [151, 6, 20, 10]).tolist() == [True, True, False, False]
    assert len(OverlapIndex.from_regions(Regions([], [], []), ["c1"])) == 0
    with pytest.raises(ValueError):
        OverlapIndex([0, 1], [0], [1])


def test_exclude_edges_and_bed_path(tmp_path):
    r = Regions(chrom=["c", "c", "c", "d"], start=[0, 10, 20, 10], end=[10, 20, 30, 20])
    bl = write(tmp_path / "bl.bed", "c\t10\t11\nd\t20\t25\nz\t0\t100\n")
    # [10, 20) overlaps [10, 11); [0, 10) and [20, 30) only touch it; d:[10, 20) only touches [20, 25)
    assert as_tuples(r.exclude(bl)) == [("c", 0, 10), ("c", 20, 30), ("d", 10, 20)]
    assert len(r.exclude(Regions([], [], []))) == 4
    assert len(Regions([], [], []).exclude(bl)) == 0


def test_split_by_chromosome():
    r = Regions(chrom=["c1", "c2", "c3", "c1", "c4"], start=[0, 0, 0, 5, 0], end=[1, 1, 1, 6, 1])
    train, val, test = r.split(val=["c2"], test="c3")
    assert train.chrom.tolist() == ["c1", "c1", "c4"]
    assert val.chrom.tolist() == ["c2"] and test.chrom.tolist() == ["c3"]
    assert len(train) + len(val) + len(test) == len(r)
    train, val, test = r.split(val=["c9"])
    assert len(train) == 5 and len(val) == 0 and len(test) == 0
    with pytest.raises(RangeError):
        r.split(val=["c1"], test=["c1"])
