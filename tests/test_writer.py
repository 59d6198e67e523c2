"""fastwig.writer: generated files read back by pyBigWig and pybigtools, and by a tiny struct parser.

pyBigWig and pybigtools cannot read big-endian files, so those are decoded with ``parse_bigwig`` below
and compared with a little-endian twin written from the same arguments.

Oracle quirks met here (pyBigWig 0.3.29, pybigtools 0.3.0):
- pyBigWig ``intervals()`` returns coordinates >= 2**31 as negative (signed 32-bit) numbers; its
  ``values()`` is right there.  pybigtools refuses any range query with a coordinate >= 2**31
  (OverflowError) but ``records(chrom)`` over a whole chromosome is right.
- On a file without data both open; pyBigWig ``intervals`` gives None, pybigtools ``records`` nothing.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecases import (BIG_ENDIAN, EDGE_CASES, OVERLAPPING, dense_expected, edge_specs,
                       make_edge_files, section_records)
from fastwig.writer import (BIGWIG_MAGIC, BedGraph, FixedStep, VarStep, bigwig_from_arrays,
                            write_bigwig)

try:
    import pyBigWig
    import pybigtools
except ImportError:  # pragma: no cover - the test extra installs both
    pyBigWig = pybigtools = None

oracles = pytest.mark.skipif(pyBigWig is None, reason="pyBigWig and pybigtools (test extra) not installed")
LE_CASES = sorted(set(EDGE_CASES) - BIG_ENDIAN)
U32 = 2**32


def parse_bigwig(path) -> dict:
    """Decode a bigWig of either byte order with ``struct``: header, chroms, records, zooms, tree depths."""
    d = open(path, "rb").read()
    bo = "<" if struct.unpack_from("<I", d)[0] == BIGWIG_MAGIC else ">"

    def u(fmt, off):
        return struct.unpack_from(bo + fmt, d, off)

    head = dict(zip("magic version nzoom ctree data index fc dfc asql tsum buf ext".split(),
                    u("IHHQQQHHQQIQ", 0)))
    chroms, leaf_keys = {}, []

    def bpt(off, ks, depth=1):
        leaf, _, n = u("BBH", off)
        if leaf:
            leaf_keys.append([d[off + 4 + i * (ks + 8):][:ks].rstrip(b"\0") for i in range(n)])
        for i in range(n):
            p = off + 4 + i * (ks + 8)
            if leaf:
                cid, size = u("II", p + ks)
                chroms[cid] = (d[p:p + ks].rstrip(b"\0").decode(), size)
            else:
                child_depth = bpt(u("Q", p + ks)[0], ks, depth + 1)
        return depth if leaf else child_depth

    ctree_depth = bpt(head["ctree"] + 32, u("I", head["ctree"] + 8)[0])

    def leaves(off, depth=1):  # -> [(offset, size)], depth
        leaf, _, n = u("BBH", off)
        if leaf:
            return [u("QQ", off + 4 + 32 * i + 16) for i in range(n)], depth
        out = []
        for i in range(n):
            sub, sub_depth = leaves(u("Q", off + 4 + 24 * i + 16)[0], depth + 1)
            out += sub
        return out, sub_depth

    def block(off, size):
        return zlib.decompress(d[off:off + size]) if head["buf"] else d[off:off + size]

    blocks, rtree_depth = leaves(head["index"] + 48)
    records = []
    for off, size in blocks:
        b = block(off, size)
        cid, cstart, _, step, span, kind, _, n = struct.unpack_from(bo + "IIIIIBBH", b)
        for i in range(n):
            if kind == 1:
                s, e, v = struct.unpack_from(bo + "IIf", b, 24 + 12 * i)
            elif kind == 2:
                s, v = struct.unpack_from(bo + "If", b, 24 + 8 * i)
                e = s + span
            else:
                s = cstart + i * step
                e, v = s + span, struct.unpack_from(bo + "f", b, 24 + 4 * i)[0]
            records.append((chroms[cid][0], s, e, v))
    zooms = []
    for z in range(head["nzoom"]):
        red, _, zdata, zindex = u("IIQQ", 64 + 24 * z)
        zblocks, _ = leaves(zindex + 48)
        zrec = [struct.unpack_from(bo + "IIIIffff", b, k)
                for b in (block(o, s) for o, s in zblocks) for k in range(0, len(b), 32)]
        assert u("I", zdata)[0] == len(zrec)
        zooms.append((red, zrec))
    return dict(byte_order=bo, head=head, chroms=[chroms[i] for i in sorted(chroms)], records=records,
                zooms=zooms, summary=u("Qdddd", head["tsum"]) if head["tsum"] else None,
                data_count=u("Q", head["data"])[0], n_blocks=len(blocks), ctree_depth=ctree_depth,
                rtree_depth=rtree_depth, leaf_keys=leaf_keys, blocks=[d[o:o + s] for o, s in blocks],
                trailing_magic=struct.unpack_from(bo + "I", d, len(d) - 4)[0] == BIGWIG_MAGIC)


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory):
    return make_edge_files(tmp_path_factory.mktemp("edge"))


def by_chrom(records, chrom):
    return [(s, e, v) for c, s, e, v in records if c == chrom]


def test_edge_table_complete(edge_files):
    assert set(edge_files) == set(EDGE_CASES) == set(edge_specs())
    assert OVERLAPPING <= set(EDGE_CASES) and BIG_ENDIAN <= set(EDGE_CASES)


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_struct_parser_reads_what_was_written(edge_files, name):
    path, expected = edge_files[name]
    chroms, sections, kw = edge_specs()[name]
    got = parse_bigwig(path)
    assert got["byte_order"] == kw.get("byte_order", "<")
    assert got["chroms"] == [tuple(c) for c in chroms]
    assert got["records"] == expected  # file order, overlaps included


@oracles
@pytest.mark.parametrize("name", LE_CASES)
def test_oracles_read_edge_cases(edge_files, name):
    path, expected = edge_files[name]
    chroms = dict(edge_specs()[name][0])
    bw, bt = pyBigWig.open(path), pybigtools.open(path)
    assert bw.chroms() == chroms
    assert bt.chroms() == chroms
    for chrom, size in chroms.items():
        want = by_chrom(expected, chrom)
        if name not in OVERLAPPING:  # pybigtools sums overlapping records, pyBigWig keeps them apart
            assert [(s % U32, e % U32, v) for s, e, v in bw.intervals(chrom) or ()] == want
            assert list(bt.records(chrom)) == want
        if size <= 10**6:
            windows = [(0, size)]
        else:  # around records, to keep the dense arrays small
            windows = [(max(0, s - 7), min(size, e + 7)) for s, e, _ in want[::7] + want[-3:]]
        for start, end in windows:
            np.testing.assert_array_equal(bw.values(chrom, start, end, numpy=True),
                                          dense_expected(expected, chrom, start, end))
    if not expected:
        assert all(bw.intervals(c) is None and list(bt.records(c)) == [] for c in chroms)


@pytest.mark.parametrize("name", sorted(BIG_ENDIAN))
def test_big_endian_matches_little_endian_twin(edge_files, tmp_path, name):
    path, expected = edge_files[name]
    chroms, sections, kw = edge_specs()[name]
    twin = write_bigwig(tmp_path / "le.bw", chroms, sections, **{**kw, "byte_order": "<"})
    raw_be, raw_le = open(path, "rb").read(), open(twin, "rb").read()
    assert struct.unpack_from(">I", raw_be)[0] == BIGWIG_MAGIC != struct.unpack_from("<I", raw_be)[0]
    assert raw_be != raw_le
    if not kw.get("compress", True):
        assert len(raw_be) == len(raw_le)
    be, le = parse_bigwig(path), parse_bigwig(twin)
    for key in ("chroms", "records", "zooms", "summary", "ctree_depth", "rtree_depth", "data_count"):
        assert be[key] == le[key], key
    if not kw.get("compress", True):  # compressed blocks differ in size, and so do the offsets after them
        assert be["head"] == le["head"]
    assert be["records"] == expected
    if pyBigWig is not None:
        bw = pyBigWig.open(twin)
        for chrom, _ in chroms:
            assert list(bw.intervals(chrom) or ()) == by_chrom(expected, chrom)


def _check_zoom_level(parsed, reduction, zrec):
    """Every zoom record against the base records (non-overlapping), and UCSC's bin placement."""
    names = [c for c, _ in parsed["chroms"]]
    recs = np.array([(names.index(c), s, e, v) for c, s, e, v in parsed["records"]], dtype=float)
    prev = None
    for cid, s, e, n, mn, mx, sm, ssq in zrec:
        assert 0 < e - s <= reduction
        assert prev is None or (cid, s) >= (prev[0], prev[2])  # disjoint, in order
        on = recs[(recs[:, 0] == cid) & (recs[:, 1] < e) & (recs[:, 2] > s)]
        ov = np.minimum(on[:, 2], e) - np.maximum(on[:, 1], s)
        assert n == ov.sum() > 0
        assert (mn, mx) == (np.float32(on[:, 3].min()), np.float32(on[:, 3].max()))
        np.testing.assert_allclose([sm, ssq], [(on[:, 3] * ov).sum(), (on[:, 3] ** 2 * ov).sum()],
                                   rtol=1e-5, atol=1e-4)
        # a bin opens at a record start, or right where the previous one ended inside a record
        assert s in on[:, 1] or (prev is not None and prev[0] == cid and prev[2] == s)
        prev = (cid, s, e)
    assert sum(z[3] for z in zrec) == sum(e - s for _, s, e, _ in parsed["records"])


@pytest.mark.parametrize("name", [n for n in sorted(EDGE_CASES) if n not in OVERLAPPING])
def test_zoom_records(edge_files, name):
    parsed = parse_bigwig(edge_files[name][0])
    kw = edge_specs()[name][2]
    if kw.get("zoom_levels") == 0 or not parsed["records"]:
        assert parsed["zooms"] == []
    else:
        assert parsed["zooms"]
    if isinstance(kw.get("zoom_levels"), tuple):
        assert [r for r, _ in parsed["zooms"]] == list(kw["zoom_levels"])
    for reduction, zrec in parsed["zooms"]:
        _check_zoom_level(parsed, reduction, zrec)


@oracles
@pytest.mark.parametrize("name", ["bedgraph", "multi_chrom", "deep_rtree", "varstep", "mixed_sections",
                                  "fixedstep_step_ne_span", "coords_ge_2_31", "big_endian_uncompressed"])
def test_oracle_zoom_stats_agree_with_exact(edge_files, tmp_path, name):
    path = edge_files[name][0]
    if name in BIG_ENDIAN:
        chroms, sections, kw = edge_specs()[name]
        path = write_bigwig(tmp_path / "le.bw", chroms, sections, **{**kw, "byte_order": "<"})
    bw = pyBigWig.open(path)
    for chrom in bw.chroms():
        if bw.intervals(chrom) is None:
            continue
        for kind in ("mean", "min", "max", "coverage"):
            zoomed, exact = bw.stats(chrom, type=kind)[0], bw.stats(chrom, type=kind, exact=True)[0]
            assert zoomed == pytest.approx(exact, rel=1e-5), (chrom, kind)


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_total_summary(edge_files, name):
    path, expected = edge_files[name]
    parsed = parse_bigwig(path)
    if parsed["head"]["version"] < 3 or name == "v4_bare_header":
        assert parsed["summary"] is None and parsed["head"]["tsum"] == 0
        return
    covered, mn, mx, sm, ssq = parsed["summary"]
    w = np.array([e - s for _, s, e, _ in expected], dtype=float)
    v = np.array([x for *_, x in expected], dtype=float)
    assert covered == w.sum()
    assert (mn, mx) == ((v.min(), v.max()) if v.size else (0.0, 0.0))
    np.testing.assert_allclose([sm, ssq], [(v * w).sum(), (v * v * w).sum()], rtol=1e-12, atol=1e-9)
    if pybigtools is not None and name not in BIG_ENDIAN:
        assert pybigtools.open(path).info()["summary"]["basesCovered"] == covered


def test_layout_variants(edge_files):
    p = {name: parse_bigwig(path) for name, (path, _) in edge_files.items()}
    assert p["deep_chrom_tree"]["ctree_depth"] == 5  # 300 keys, 4 per node
    assert p["unsorted_chrom_keys"]["ctree_depth"] == 3
    assert p["big_endian_uncompressed"]["ctree_depth"] > 1 and p["big_endian_uncompressed"]["rtree_depth"] > 1
    assert p["deep_rtree"]["rtree_depth"] == 3 and p["deep_rtree"]["n_blocks"] == 63
    assert p["bedgraph"]["ctree_depth"] == p["bedgraph"]["rtree_depth"] == 1
    keys = p["unsorted_chrom_keys"]["leaf_keys"]
    assert all(k == sorted(k, reverse=True) for k in keys) and any(len(k) > 1 for k in keys)
    assert all(k == sorted(k) for k in p["deep_chrom_tree"]["leaf_keys"])
    h = p["chrom_tree_after_data"]["head"]
    assert h["data"] < h["ctree"] < h["index"]
    h = p["bedgraph"]["head"]
    assert h["ctree"] < h["data"] < h["index"] and h["ext"] > 0 and h["buf"] > 0
    assert p["bedgraph"]["data_count"] == p["bedgraph"]["n_blocks"] > 1
    assert p["zero_data_count"]["data_count"] == 0 < p["zero_data_count"]["n_blocks"]
    assert p["empty"]["data_count"] == p["empty"]["n_blocks"] == 0 and p["empty"]["zooms"] == []
    assert p["uncompressed"]["head"]["buf"] == p["version1"]["head"]["buf"] == 0
    assert p["max_items_per_block"]["n_blocks"] == 1 and len(p["max_items_per_block"]["records"]) == 65535
    assert p["single_record_blocks"]["n_blocks"] == 30
    # level 0: every deflate block in the zlib stream is stored (BTYPE 00 in bits 1-2 of its first byte)
    assert all((blk[2] >> 1) & 3 == 0 for blk in p["zlib_stored_blocks"]["blocks"])
    for name in ("version1", "version2", "version3"):
        assert p[name]["head"]["version"] == int(name[-1]) and p[name]["head"]["ext"] == 0
    assert not p["version1"]["trailing_magic"] and not p["v4_bare_header"]["trailing_magic"]
    assert p["bedgraph"]["trailing_magic"] and p["big_endian"]["trailing_magic"]
    assert p["v4_bare_header"]["head"]["ext"] == 0
    assert p["no_zooms"]["head"]["nzoom"] == 0
    red = [r for r, _ in p["coords_ge_2_31"]["zooms"]]
    assert red[-1] == U32 - 1 and p["coords_ge_2_31"]["records"][-1][1:3] == (U32 - 2, U32 - 1)


@oracles
@pytest.mark.parametrize("version", [1, 2, 3, 4])
@pytest.mark.parametrize("compress", [False, True])
def test_versions_read_by_oracles(tmp_path, version, compress):
    recs = [("chr1", 0, 5, 1.5), ("chr1", 9, 12, -2.0), ("chr2", 3, 4, 7.0)]
    path = bigwig_from_arrays(tmp_path / "v.bw", {"chr1": 100, "chr2": 50}, *zip(*recs),
                              version=version, compress=compress, zoom_levels=2)
    for chrom in ("chr1", "chr2"):
        assert list(pyBigWig.open(path).intervals(chrom)) == by_chrom(recs, chrom)
        assert list(pybigtools.open(path).records(chrom)) == by_chrom(recs, chrom)
    assert pyBigWig.open(path).header()["version"] == version
    assert pybigtools.open(path).info()["isCompressed"] is compress


def test_bigwig_from_arrays_splits_sections(tmp_path):
    names = ["b"] * 5 + ["a"] * 3
    starts = [0, 10, 20, 30, 40, 0, 5, 9]
    path = bigwig_from_arrays(tmp_path / "x.bw", [("b", 100), ("a", 50)], names, starts,
                              np.add(starts, 2), np.arange(8), items_per_block=2)
    parsed = parse_bigwig(path)
    assert parsed["n_blocks"] == 3 + 2
    assert parsed["records"] == [(c, s, s + 2, float(i)) for i, (c, s) in enumerate(zip(names, starts))]
    assert parsed["chroms"] == [("b", 100), ("a", 50)]  # ids follow the given order


def test_section_spellings_give_identical_files(tmp_path):
    chroms = {"chr1": 1000}
    forms = [
        [BedGraph("chr1", [0, 5], [2, 9], [1, 2]), VarStep("chr1", [20, 30], 4, [3, 4]),
         FixedStep("chr1", 100, 10, 3, [5, 6])],
        [dict(type="bedGraph", chrom="chr1", starts=[0, 5], ends=[2, 9], values=[1, 2]),
         dict(type="varStep", chrom="chr1", starts=[20, 30], span=4, values=[3, 4]),
         dict(type="fixedStep", chrom="chr1", start=100, step=10, span=3, values=[5, 6])],
        [("bedGraph", "chr1", [0, 5], [2, 9], [1, 2]), ("varStep", "chr1", [20, 30], 4, [3, 4]),
         ("fixedStep", "chr1", 100, 10, 3, [5, 6])],
    ]
    raws = [open(write_bigwig(tmp_path / f"{i}.bw", chroms, f), "rb").read() for i, f in enumerate(forms)]
    assert raws[0] == raws[1] == raws[2]


def test_edge_files_are_deterministic(tmp_path):
    chroms, sections, kw = edge_specs()["big_endian_uncompressed"]
    a = open(write_bigwig(tmp_path / "a.bw", chroms, sections, **kw), "rb").read()
    chroms, sections, kw = edge_specs()["big_endian_uncompressed"]
    assert open(write_bigwig(tmp_path / "b.bw", chroms, sections, **kw), "rb").read() == a


@pytest.mark.parametrize("chroms, sections, kw", [
    ({"c": 10}, [BedGraph("d", [0], [1], [1])], {}),  # unknown chromosome
    ({"c": 10}, [BedGraph("c", [0], [U32], [1])], {}),  # end past 2**32 - 1
    ({"c": 10}, [BedGraph("c", [-1], [1], [1])], {}),
    ({"c": 10}, [BedGraph("c", [5], [4], [1])], {}),  # end < start
    ({"c": 10}, [BedGraph("c", [0, 1], [1], [1])], {}),  # lengths differ
    ({"c": 10}, [FixedStep("c", U32 - 5, 10, 1, [1, 2])], {}),  # second record past 2**32 - 1
    ({"c": U32}, [], {}),  # chromosome size
    ([("c", 1), ("c", 2)], [], {}),
    ({"c": 10}, [{"chrom": "c"}], {}),  # no type
    ({"c": 10}, [], {"byte_order": "="}),
    ({"c": 10}, [], {"items_per_block": 65536}),
    ({"c": 10}, [], {"rtree_block_size": 1}),
    ({"c": 10, "d": 10}, [], {"chrom_block_size": 1}),  # no tree has fan-out 1
    ({"c": 10}, [], {"compress_level": 10}),
    ({"c": 10}, [BedGraph("c", [0], [1], [1])], {"zoom_levels": (0,)}),
])
def test_rejects_what_the_format_cannot_hold(tmp_path, chroms, sections, kw):
    with pytest.raises(ValueError):
        write_bigwig(tmp_path / "bad.bw", chroms, sections, **kw)


@st.composite
def random_files(draw):
    n_chroms = draw(st.integers(1, 4))
    sections = []
    for c in range(n_chroms):
        pos = draw(st.integers(0, 2**32 - 10_000))
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["bedGraph", "varStep", "fixedStep"]))
            n = draw(st.integers(1, 40))
            vals = np.float32(draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=n, max_size=n)))
            if kind == "bedGraph":
                lens = np.array(draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)))
                gaps = np.array(draw(st.lists(st.integers(0, 30), min_size=n, max_size=n)))
                starts = pos + np.cumsum(gaps) + np.concatenate([[0], np.cumsum(lens)[:-1]])
                sections.append(BedGraph(f"c{c}", starts, starts + lens, vals))
            elif kind == "varStep":
                span = draw(st.integers(1, 10))
                starts = pos + np.cumsum(draw(st.lists(st.integers(span, span + 20), min_size=n, max_size=n)))
                sections.append(VarStep(f"c{c}", starts, span, vals))
            else:
                span = draw(st.integers(1, 10))
                sections.append(FixedStep(f"c{c}", pos, draw(st.integers(span, 20)), span, vals))
            pos = max(section_records([sections[-1]])[-1][2], pos) + draw(st.integers(0, 50))
    chroms = [(f"c{c}", 2**32 - 1) for c in range(n_chroms)]
    kw = dict(
        byte_order=draw(st.sampled_from("<>")), compress=draw(st.booleans()),
        items_per_block=draw(st.integers(1, 50)), chrom_block_size=draw(st.integers(2, 3)),
        rtree_block_size=draw(st.integers(2, 5)), zoom_levels=draw(st.sampled_from([0, 1, 2, (7, 1000)])),
        chrom_tree_after_data=draw(st.booleans()), shuffle_chrom_keys=draw(st.booleans()),
        version=draw(st.integers(1, 4)),
    )
    return chroms, sections, kw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_files())
def test_random_files_round_trip(tmp_path, spec):
    chroms, sections, kw = spec
    path = write_bigwig(tmp_path / "r.bw", chroms, sections, **kw)
    parsed = parse_bigwig(path)
    expected = section_records(sections)
    assert parsed["records"] == expected and parsed["chroms"] == chroms
    for reduction, zrec in parsed["zooms"]:
        _check_zoom_level(parsed, reduction, zrec)
    if kw["byte_order"] == "<" and pyBigWig is not None:
        bw, bt = pyBigWig.open(path), pybigtools.open(path)
        for chrom, _ in chroms:
            want = by_chrom(expected, chrom)
            assert [(s % U32, e % U32, v) for s, e, v in bw.intervals(chrom) or ()] == want
            assert list(bt.records(chrom)) == want
