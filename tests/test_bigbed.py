"""fastwig.BigBed: records against pyBigWig's ``entries`` on real and generated bigBed files.

Generated files come from pybigtools' bigBed writer (what users meet) and from fastwig's conformance
writer (``fastwig.bbi_writer.write_bigbed``) for what pybigtools cannot write: a file without records,
a chromosome tree of several levels, big-endian and uncompressed files.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from support import SHARED_REASON, real_bigbeds, real_bigwigs

import fastwig
from fastwig.autosql import Field, parse_autosql
from fastwig.bbi_writer import write_bigbed

pyBigWig = pytest.importorskip("pyBigWig", reason="pyBigWig (test extra) is the oracle")

NARROWPEAK_AS = """table bigNarrowPeak
"BED6+4 Peaks of signal enrichment (ENCODE narrowPeak), as a bigBed"
(
    string chrom;        "Reference sequence chromosome or scaffold"
    uint   chromStart;   "Start position in chromosome"
    uint   chromEnd;     "End position in chromosome"
    string name;         "Name given to a region (preferably unique). Use . if no name is assigned"
    uint   score;        "Indicates how dark the peak will be displayed in the browser (0-1000)"
    char[1]  strand;     "+ or - or . for unknown"
    float  signalValue;  "Measurement of average enrichment for the region"
    float  pValue;       "Statistical significance of signal value (-log10). Set to -1 if not used."
    float  qValue;       "Statistical significance with multiple-test correction applied (FDR -log10)."
    int    peak;         "Point-source called for this peak; 0-based offset from chromStart."
)
"""


def oracle_entries(path, chrom, start, end):
    got = pyBigWig.open(str(path)).entries(chrom, start, end)
    return [tuple(x) for x in got] if got else []


def ours(bb, chrom, start, end):
    s, e, rest = bb.entries(chrom, start, end)
    assert s.dtype == np.int64 and e.dtype == np.int64 and len(rest) == s.size == e.size
    return list(zip(s.tolist(), e.tolist(), rest))


def query_ranges(rng, size, n=12):
    """Whole chromosome, halves, random ranges, ranges of 1 base and the last base."""
    out = [(0, size), (0, size // 2), (size // 2, size), (max(size - 1, 0), size)]
    for _ in range(n):
        a = int(rng.integers(0, size))
        out.append((a, int(min(size, a + rng.integers(1, max(2, size // 4))))))
        out.append((a, a + 1))
    return out


def assert_matches_oracle(path, seed=0):
    rng = np.random.default_rng(seed)
    with fastwig.open(path) as bb:
        assert isinstance(bb, fastwig.BigBed)
        assert bb.chroms == pyBigWig.open(str(path)).chroms()
        for chrom, size in bb.chroms.items():
            for a, b in query_ranges(rng, size):
                assert ours(bb, chrom, a, b) == oracle_entries(path, chrom, a, b), (path, chrom, a, b)


def narrowpeaks(rng, chroms, n):
    """Random, sorted bigNarrowPeak-like records (overlapping, some of length 0, some at the end)."""
    recs = []
    for chrom, size in chroms.items():
        k = n // len(chroms)
        starts = np.sort(rng.integers(0, size - 1, k))
        ends = np.minimum(starts + rng.integers(0, 600, k), size)
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            rest = (f"peak_{chrom}_{i}\t{int(rng.integers(0, 1001))}\t{'+-.'[i % 3]}\t{rng.random() * 50:.5g}"
                    f"\t{rng.random() * 20:.4g}\t{rng.random() * 10:.4g}\t{int(rng.integers(-1, max(1, e - s)))}")
            recs.append((chrom, s, e, rest))
    return recs


@pytest.fixture(scope="module")
def pybigtools_narrowpeak(tmp_path_factory):
    pybigtools = pytest.importorskip("pybigtools")
    rng = np.random.default_rng(11)
    chroms = {"chr1": 2_000_000, "chr2": 1_500_000, "chrX": 700_000, "chrM": 16_569}
    recs = narrowpeaks(rng, chroms, 6000)
    path = tmp_path_factory.mktemp("bb") / "peaks.bb"
    pybigtools.open(str(path), "w").write(chroms, iter(recs), autosql=NARROWPEAK_AS)
    return path, chroms, recs


@pytest.mark.skipif(not real_bigbeds(), reason=SHARED_REASON)
@pytest.mark.parametrize("path", real_bigbeds(), ids=lambda p: p.name)
def test_real_bigbeds_match_pybigwig(path):
    assert_matches_oracle(path)


@pytest.mark.skipif(not real_bigbeds(), reason=SHARED_REASON)
@pytest.mark.parametrize("path", real_bigbeds(), ids=lambda p: p.name)
def test_real_bigbed_metadata(path):
    ref = pyBigWig.open(str(path))
    with fastwig.open(path) as bb:
        sql = ref.SQL()
        assert bb.autosql == (sql.decode() if sql else None)
        assert [f.name for f in bb.fields][:3] == ["chrom", "chromStart", "chromEnd"]
        assert len(bb.fields) == bb.header.fieldCount
        head = ref.header()
        assert bb.header.version == head["version"]
        if bb.header.totalSummaryOffset:
            assert bb.summary.bases_covered == head["nBasesCovered"]
            assert (bb.summary.min, bb.summary.max) == (head["minVal"], head["maxVal"])
            assert (bb.summary.sum, bb.summary.sum_squares) == (head["sumData"], head["sumSquared"])


@pytest.mark.skipif(not real_bigbeds(), reason=SHARED_REASON)
@pytest.mark.parametrize("path", real_bigbeds(), ids=lambda p: p.name)
def test_summary_from_records_equals_stored(path):
    """The coverage-depth summary computed from the records (what a version-1 file gets) equals the
    one UCSC / bigtools stored; the v1 file has none, and gets the computed one."""
    with fastwig.open(path) as bb:
        stored = bb.summary
        bb._summary = None
        computed = bb.summary
    if not fastwig.open(path).header.totalSummaryOffset:
        assert computed.bases_covered > 0 and computed.min >= 1
    else:
        assert computed == stored


def test_pybigtools_narrowpeak(pybigtools_narrowpeak):
    path, chroms, recs = pybigtools_narrowpeak
    assert_matches_oracle(path, seed=3)
    with fastwig.open(path) as bb:
        assert [f.name for f in bb.fields] == ["chrom", "chromStart", "chromEnd", "name", "score", "strand",
                                              "signalValue", "pValue", "qValue", "peak"]
        assert [f.type for f in bb.fields][5:] == ["char[1]", "float", "float", "float", "int"]
        assert bb.fields[6].dtype == np.float64 and bb.fields[4].dtype == np.int64
        assert bb.fields[3].dtype == object
        for chrom in chroms:   # every record, in input order, with its rest exactly as written
            s, e, rest = bb.entries(chrom)
            want = [r for r in recs if r[0] == chrom]
            assert list(zip(s.tolist(), e.tolist(), rest)) == [r[1:] for r in want]


@pytest.mark.parametrize("variant", [
    {},
    {"byte_order": ">"},
    {"compress": False},
    {"version": 1, "total_summary": False},
    {"items_per_block": 3, "rtree_block_size": 2},
])
def test_generated_variants(tmp_path, variant):
    rng = np.random.default_rng(5)
    chroms = {"a": 50_000, "b": 20_000, "c": 3}
    recs = narrowpeaks(rng, {"a": 50_000, "b": 20_000}, 400) + [("c", 0, 3, "last\t0\t.\t0\t0\t0\t0")]
    path = write_bigbed(tmp_path / "v.bb", chroms, recs, autosql=NARROWPEAK_AS, **variant)
    with fastwig.open(path) as bb:
        for chrom in chroms:
            s, e, rest = bb.entries(chrom)
            assert list(zip(s.tolist(), e.tolist(), rest)) == [r[1:] for r in recs if r[0] == chrom]
        assert len(bb.fields) == 10
    if variant.get("byte_order") != ">":     # pyBigWig reads little-endian files only
        assert_matches_oracle(path, seed=1)


def test_many_chromosomes_deep_chrom_tree(tmp_path):
    """600 chromosomes with a B+ tree of blockSize 4 (five levels); each holds BED3+2 records."""
    chroms = {f"scaffold_{i}": 1000 + i for i in range(600)}
    recs = [(c, j * 100, j * 100 + 150, f"n{j}\t{j}") for c in chroms for j in range(3)]
    path = write_bigbed(tmp_path / "many.bb", chroms, recs, chrom_block_size=4, items_per_block=7)
    with fastwig.open(path) as bb:
        assert bb.chroms == chroms
        assert [f.name for f in bb.fields] == ["chrom", "chromStart", "chromEnd", "name", "score"]
    assert_matches_oracle(path)


def test_empty_bigbed(tmp_path):
    path = write_bigbed(tmp_path / "empty.bb", {"chr1": 1000, "chr2": 10}, [])
    with fastwig.open(path) as bb:
        s, e, rest = bb.entries("chr1")
        assert s.size == e.size == 0 and rest == []
        assert bb.summary.bases_covered == 0
        assert [f.name for f in bb.fields] == ["chrom", "chromStart", "chromEnd"]


def test_bed3_rest_is_empty_string(tmp_path):
    path = write_bigbed(tmp_path / "b3.bb", {"c": 100}, [("c", 1, 5, ""), ("c", 2, 9, "")])
    assert_matches_oracle(path)
    with fastwig.open(path) as bb:
        assert bb.entries("c", 4, 6)[2] == ["", ""]


def test_conformance_writer_refuses_an_unknown_chromosome(tmp_path):
    """A record on a chromosome the file does not list: a ValueError naming it (as write_bigwig's),
    not a bare KeyError, and no file half written."""
    path = tmp_path / "unknown.bb"
    with pytest.raises(ValueError, match="unknown chromosome 'chr9'"):
        write_bigbed(path, {"chr1": 100}, iter([("chr1", 1, 5, ""), ("chr9", 2, 9, "")]))
    assert not path.exists()


def test_contract_open_close_pickle(pybigtools_narrowpeak):
    path = pybigtools_narrowpeak[0]
    bb = fastwig.open(path)
    copy = pickle.loads(pickle.dumps(bb))
    assert isinstance(copy, fastwig.BigBed) and copy.chroms == bb.chroms
    assert ours(copy, "chr2", 0, 500_000) == ours(bb, "chr2", 0, 500_000)
    with pytest.raises(fastwig.ChromNotFound):
        bb.entries("chr9")
    with pytest.raises(fastwig.RangeError):
        bb.entries("chr1", 10, 5)
    with pytest.raises(fastwig.RangeError):
        bb.entries("chr1", 0, bb.chroms["chr1"] + 1)
    assert "BigBed" in repr(bb)
    bb.close()
    with pytest.raises(fastwig.FastwigError, match="closed"):
        bb.entries("chr1")
    with fastwig.BigBed(path) as again:
        assert again.entries("chrM")[0].size == sum(1 for r in pybigtools_narrowpeak[2] if r[0] == "chrM")


def test_wrong_kind_calls_raise_format_error(pybigtools_narrowpeak):
    path = pybigtools_narrowpeak[0]
    with fastwig.open(path) as bb:
        for verb in ("values", "intervals", "stats"):
            with pytest.raises(fastwig.FormatError, match="bigBed.*entries"):
                getattr(bb, verb)("chr1", 0, 100)
    with pytest.raises(fastwig.FormatError, match="bigBed"):
        fastwig.BigWig(path)
    with pytest.raises(fastwig.FormatError, match="bigBed"):
        fastwig.read_windows([str(path)], "chr1", [0], 100)
    bigwigs = real_bigwigs()
    if bigwigs:
        with fastwig.open(bigwigs[0]) as bw:
            assert isinstance(bw, fastwig.BigWig)
            with pytest.raises(fastwig.FormatError, match="bigWig.*intervals"):
                bw.entries(next(iter(bw.chroms)))
        with pytest.raises(fastwig.FormatError, match="bigWig"):
            fastwig.BigBed(bigwigs[0])


def test_malformed(tmp_path, pybigtools_narrowpeak):
    good = pybigtools_narrowpeak[0].read_bytes()
    bad_magic = bytearray(good)
    struct.pack_into("<I", bad_magic, 0, 0x12345678)
    (tmp_path / "magic.bb").write_bytes(bytes(bad_magic))
    with pytest.raises(fastwig.FormatError, match="magic.bb"):
        fastwig.open(tmp_path / "magic.bb")
    (tmp_path / "tiny.bb").write_bytes(good[:40])
    with pytest.raises(fastwig.FormatError, match="tiny.bb"):
        fastwig.open(tmp_path / "tiny.bb")
    # cut inside the data: the file opens only if its index precedes the cut; reading fails either way
    with fastwig.open(pybigtools_narrowpeak[0]) as bb:
        first_block, index_at = int(bb._index.offset.min()), bb.header.fullIndexOffset
    for cut in (first_block + 5, len(good) // 2, index_at + 60):
        p = tmp_path / f"cut{cut}.bb"
        p.write_bytes(good[:cut])
        with pytest.raises(fastwig.FormatError, match=p.name), fastwig.open(p) as bb:
            for chrom in bb.chroms:
                bb.entries(chrom)
    # truncated after open: the read of a block raises
    p = tmp_path / "shrinks.bb"
    p.write_bytes(good)
    with fastwig.open(p) as bb:
        with open(p, "r+b") as f:
            f.truncate(first_block + 10)
        with pytest.raises(fastwig.FormatError, match=p.name):
            bb.entries("chr1")
    # a data block whose bytes are garbage
    corrupt = bytearray(good)
    corrupt[first_block:first_block + 16] = b"\xff" * 16
    (tmp_path / "garbage.bb").write_bytes(bytes(corrupt))
    with pytest.raises(fastwig.FormatError, match="garbage.bb"), fastwig.open(tmp_path / "garbage.bb") as bb:
        for chrom in bb.chroms:
            bb.entries(chrom)


def test_record_cut_inside_block(tmp_path):
    """An uncompressed block whose last record lacks its NUL: a FormatError, not a wrong record."""
    path = write_bigbed(tmp_path / "u.bb", {"c": 100}, [("c", 1, 5, "x"), ("c", 6, 9, "yz")], compress=False)
    raw = bytearray(Path(path).read_bytes())
    at = raw.find(b"yz\0")
    raw[at + 2] = ord("w")
    (tmp_path / "nonul.bb").write_bytes(bytes(raw))
    with fastwig.open(tmp_path / "nonul.bb") as bb, pytest.raises(fastwig.FormatError, match="ends inside a record"):
        bb.entries("c")


def test_autosql_parser():
    fields = parse_autosql(NARROWPEAK_AS)
    assert fields[0] == Field("chrom", "string", "Reference sequence chromosome or scaffold")
    assert len(fields) == 10 and fields[-1].name == "peak" and fields[-1].type == "int"
    odd = parse_autosql('table t "c (with parens)"\n(\nint[ blockCount ] sizes; "s"\nenum(a, b) kind;'
                        ' "e"\nlstring note;\nuint id primary; "key"\n)')
    assert [(f.name, f.type) for f in odd] == [("sizes", "int[blockCount]"), ("kind", "enum(a, b)"),
                                               ("note", "lstring"), ("id", "uint")]
    assert [f.dtype for f in odd] == [np.dtype(object), np.dtype(object), np.dtype(object), np.dtype(np.int64)]
    with pytest.raises(fastwig.FormatError):
        parse_autosql("table t no columns")
    with pytest.raises(fastwig.FormatError):
        parse_autosql("table t\n(\nstring chrom\n)")


def test_table_typed_columns(pybigtools_narrowpeak):
    path, chroms, recs = pybigtools_narrowpeak
    with fastwig.open(path) as bb:
        cols, aliases = bb.table()
    order = sorted(recs, key=lambda r: list(chroms).index(r[0]))    # chromosome id order, then file order
    assert list(cols) == ["chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue",
                          "qValue", "peak"]
    assert cols["chrom"].tolist() == [r[0] for r in order]
    assert cols["start"].dtype == np.int64 and cols["start"].tolist() == [r[1] for r in order]
    assert cols["score"].dtype == np.int64 and cols["peak"].dtype == np.int64
    assert cols["signalValue"].dtype == np.float64 and cols["strand"].dtype == object
    rest = [r[3].split("\t") for r in order]
    assert cols["name"].tolist() == [x[0] for x in rest]
    np.testing.assert_array_equal(cols["pValue"], [float(x[4]) for x in rest])
    np.testing.assert_array_equal(cols["peak"], [int(x[6]) for x in rest])
    assert aliases["col7"] == "signalValue" and aliases["col4"] == "name"


def test_table_missing_numbers_and_extra_columns(tmp_path):
    sql = 'table t\n"x"\n(\nstring chrom; ""\nuint chromStart; ""\nuint chromEnd; ""\nint score; ""\n)'
    path = write_bigbed(tmp_path / "t.bb", {"c": 100}, [("c", 0, 5, "3\textra"), ("c", 6, 9, ".")], autosql=sql,
                        field_count=5)
    with fastwig.open(path) as bb:
        cols, aliases = bb.table()
    np.testing.assert_array_equal(cols["score"], [3.0, np.nan])     # "." in an int column: float with NaN
    assert cols["col5"].tolist() == ["extra", ""]
    assert aliases == {"col4": "score"}


@pytest.mark.filterwarnings("ignore:.*autoSql")     # a damaged autoSql only warns
@pytest.mark.parametrize("seed", range(6))
def test_damaged_files_raise_fastwig_errors(tmp_path, pybigtools_narrowpeak, seed):
    """Random byte changes and cuts: every outcome is a result or a FastwigError, never another
    exception (the reader is numpy and zlib only, so nothing here can crash the interpreter)."""
    rng = np.random.default_rng(seed)
    good = pybigtools_narrowpeak[0].read_bytes()
    for trial in range(40):
        raw = bytearray(good)
        if trial % 4 == 0:
            raw = raw[:int(rng.integers(0, len(raw)))]
        else:
            at = rng.integers(0, len(raw), int(rng.integers(1, 8)))
            for a in at.tolist():
                raw[a] = int(rng.integers(0, 256))
        p = tmp_path / f"d{trial}.bb"
        p.write_bytes(bytes(raw))
        try:
            with fastwig.open(p) as bb:
                for chrom in bb.chroms:
                    bb.entries(chrom)
                bb.table()
                _ = bb.summary
        except fastwig.FastwigError:
            pass


def test_threads_share_one_bigbed(pybigtools_narrowpeak):
    """Queries from several threads on one object (through its cache of parsed blocks) answer as one
    thread does."""
    from concurrent.futures import ThreadPoolExecutor

    path, _chroms, _ = pybigtools_narrowpeak
    rng = np.random.default_rng(2)
    queries = [(c, int(a), int(a) + 5000) for c in ("chr1", "chr2") for a in rng.integers(0, 1_400_000, 150)]
    with fastwig.open(path) as bb:
        want = [ours(bb, *q) for q in queries]
        bb._parsed.clear()
        with ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda q: ours(bb, *q), queries * 3))
    assert got == want * 3


@pytest.mark.parametrize("which", ["real", "pybigtools"])
def test_records_match_ucsc_library(which, pybigtools_narrowpeak):
    """UCSC's own reader (pybbi) as a second oracle: the same records, fields split on tabs."""
    bbi = pytest.importorskip("bbi", reason="pybbi (UCSC's library) not installed")
    paths = real_bigbeds() if which == "real" else [pybigtools_narrowpeak[0]]
    if not paths:
        pytest.skip(SHARED_REASON)
    for path in paths:
        with fastwig.open(path) as bb:
            for chrom, size in bb.chroms.items():
                s, e, rest = bb.entries(chrom)
                ours_rows = [(chrom, a, b, *(r.split("\t") if r else []))
                             for a, b, r in zip(s.tolist(), e.tolist(), rest)]
                assert ours_rows == [tuple(x) for x in bbi.fetch_intervals(str(path), chrom, 0, size)], (path, chrom)


def test_autosql_that_does_not_parse_is_not_fatal(tmp_path):
    path = write_bigbed(tmp_path / "odd.bb", {"c": 100}, [("c", 1, 5, "x\t3")], autosql="not autoSql at all")
    with pytest.warns(UserWarning, match="autoSql"):
        bb = fastwig.open(path)
    assert bb.autosql == "not autoSql at all"     # BED3 + 2 undeclared columns, as the header says
    assert [f.name for f in bb.fields] == ["chrom", "chromStart", "chromEnd", "field4", "field5"]
    assert ours(bb, "c", 0, 100) == [(1, 5, "x\t3")]
