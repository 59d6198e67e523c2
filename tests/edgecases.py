"""Generated bigWig edge cases: the files that real writers never produce.

``make_edge_files(dirpath)`` writes one small file per case (about 30 ms for all of them) and returns
``{name: (path, records)}``, where ``records`` lists every record ``(chrom, start, end, value)`` in file
order, values as the float32 the file holds.  Expected per-base values follow from it: the last record
in file order wins where records overlap, NaN where none covers (``dense_expected`` does exactly that).

``edge_specs()`` gives the arguments each file was written with, so a test can write a twin with one
argument changed (the big-endian tests write a little-endian twin that pyBigWig can read).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastwig.writer import BedGraph, FixedStep, VarStep, write_bigwig

# name -> what the file exercises
EDGE_CASES = {
    "bedgraph": "baseline: little-endian, compressed, 2 chroms, bedGraph in 64-record blocks, 4 zoom levels",
    "multi_chrom": "chrom ids not in name order (chr10, chr2, chrX, chr1, chrM); a chrom without data",
    "big_endian": "the 'bedgraph' file in big-endian byte order (header, trees, blocks, zoom records)",
    "big_endian_uncompressed": "big-endian, uncompressed, all three section types, B+ tree and R-tree "
                               "of depth > 1",
    "deep_chrom_tree": "300 chroms, B+ tree blockSize 4 (depth 5); data on first, middle and last ids",
    "unsorted_chrom_keys": "B+ tree leaves hold their keys in reverse name order (blockSize 4, depth 3)",
    "long_chrom_names": "keySize 120: names padded with NULs, one 1-character name",
    "deep_rtree": "R-tree blockSize 4 over 63 blocks of 8 records (depth 3), zoom R-trees deep too",
    "single_record_blocks": "items_per_block=1: one record per block and section",
    "max_items_per_block": "65535 records in one block (section itemCount = u16 maximum), zlib level 1, "
                           "no zooms",
    "version1": "version 1: uncompressed, no totalSummary, no extension header, no trailing magic",
    "version2": "version 2: compressed, no totalSummary, no extension header",
    "version3": "version 3: totalSummary, no extension header",
    "v4_bare_header": "version 4 without totalSummary, extension header or trailing magic",
    "zero_data_count": "data count field holds 0 although the file has blocks",
    "zlib_stored_blocks": "compressed file (uncompressBufSize > 0) whose zlib streams hold stored "
                          "(level 0, uncompressed) deflate blocks",
    "uncompressed": "little-endian, uncompressBufSize 0, several blocks and zoom levels",
    "chrom_tree_after_data": "B+ tree stored between the data blocks and the R-tree (bigtools layout)",
    "no_zooms": "zoom level count 0",
    "varstep": "varStep sections: span 5 with irregular gaps, span 1",
    "fixedstep_step_ne_span": "fixedStep with step > span (gaps) and step = span",
    "fixedstep_overlapping": "fixedStep with step < span: consecutive records overlap (last wins)",
    "mixed_sections": "bedGraph, varStep and fixedStep sections one after another on one chrom",
    "sections_out_of_order": "sections not in chromosome order in the file (chr2 blocks before chr1)",
    "overlapping": "bedGraph records overlapping within a section, nested, and across sections",
    "coords_ge_2_31": "chrom of size 2**32-1, records at and above 2**31, last base 2**32-2",
    "empty": "chromosomes but no section: data count 0, empty R-tree root, no zooms",
}

# cases with overlapping records (the oracles disagree there; pyBigWig keeps the last record)
OVERLAPPING = frozenset({"overlapping", "fixedstep_overlapping"})
BIG_ENDIAN = frozenset({"big_endian", "big_endian_uncompressed"})


def _tiles(rng, n, start=0, gap=(0, 6), length=(1, 25)):
    """Sorted, non-overlapping records: starts, ends, float32 values."""
    lens = rng.integers(*length, n)
    gaps = rng.integers(*gap, n)
    starts = start + np.cumsum(gaps) + np.concatenate([[0], np.cumsum(lens)[:-1]])
    return starts, starts + lens, rng.normal(size=n).astype(np.float32)


def edge_specs() -> dict[str, tuple[list, list, dict]]:
    """Arguments of every edge case: ``{name: (chroms, sections, write_bigwig keywords)}``.

    Deterministic: the same call always gives the same files.
    """
    rng = np.random.default_rng(20240531)
    specs: dict[str, tuple[list, list, dict]] = {}

    two = [("chr1", 5000), ("chr2", 3000)]
    s1, e1, v1 = _tiles(rng, 150)
    s2, e2, v2 = _tiles(rng, 70, start=100)
    bedgraph = [BedGraph("chr1", s1, e1, v1), BedGraph("chr2", s2, e2, v2)]
    specs["bedgraph"] = (two, bedgraph, dict(items_per_block=64))

    chroms = [("chr10", 4000), ("chr2", 3000), ("chrX", 2500), ("chr1", 2000), ("chrM", 600)]
    secs = []
    for name, size in chroms[:4]:
        s, e, v = _tiles(rng, 40, start=int(rng.integers(0, 50)))
        secs.append(BedGraph(name, s, e, v))
    specs["multi_chrom"] = (chroms, secs, dict(items_per_block=16))

    specs["big_endian"] = (two, bedgraph, dict(items_per_block=64, byte_order=">"))

    mixed_chroms = [(f"c{i}", 2000) for i in range(6)]
    s, e, v = _tiles(rng, 60)
    mixed = [
        BedGraph("c0", s, e, v),
        VarStep("c2", np.cumsum(rng.integers(3, 9, 50)), 3, rng.normal(size=50).astype(np.float32)),
        FixedStep("c5", 7, 9, 4, rng.normal(size=80).astype(np.float32)),
    ]
    specs["big_endian_uncompressed"] = (mixed_chroms, mixed, dict(
        byte_order=">", compress=False, items_per_block=8, chrom_block_size=2, rtree_block_size=4))

    many = [(f"chr{i}", 1000 + i) for i in range(300)]
    secs = []
    for i in (0, 1, 150, 255, 256, 299):
        s, e, v = _tiles(rng, 12)
        secs.append(BedGraph(f"chr{i}", s, e, v))
    specs["deep_chrom_tree"] = (many, secs, dict(chrom_block_size=4))

    some = [(f"scaffold_{i}", 800) for i in range(20)]
    secs = [BedGraph(f"scaffold_{i}", *_tiles(rng, 10)) for i in (0, 3, 7, 19)]
    specs["unsorted_chrom_keys"] = (some, secs, dict(chrom_block_size=4, shuffle_chrom_keys=True))

    long_chroms = [("x" * 120, 1500), ("A", 900), ("chr1_KI270706v1_random", 700)]
    secs = [BedGraph(n, *_tiles(rng, 20)) for n, _ in long_chroms]
    specs["long_chrom_names"] = (long_chroms, secs, {})

    s, e, v = _tiles(rng, 500)
    specs["deep_rtree"] = ([("chr1", int(e[-1]) + 10)], [BedGraph("chr1", s, e, v)],
                           dict(items_per_block=8, rtree_block_size=4, zoom_levels=(4, 16, 64)))

    s, e, v = _tiles(rng, 30)
    specs["single_record_blocks"] = ([("chr1", 1000)], [BedGraph("chr1", s, e, v)],
                                     dict(items_per_block=1))

    n = 65535
    starts = np.arange(n, dtype=np.int64) * 2
    specs["max_items_per_block"] = ([("chr1", 2 * n + 10)], [BedGraph(
        "chr1", starts, starts + 1 + (starts % 2), rng.normal(size=n).astype(np.float32))],
        dict(items_per_block=n, zoom_levels=0, compress_level=1))

    specs["version1"] = (two, bedgraph, dict(version=1, compress=False, trailing_magic=False,
                                             items_per_block=64))
    specs["version2"] = (two, bedgraph, dict(version=2, items_per_block=64))
    specs["version3"] = (two, bedgraph, dict(version=3, items_per_block=64))
    specs["v4_bare_header"] = (two, bedgraph, dict(extension_header=False, total_summary=False,
                                                   trailing_magic=False, items_per_block=64))
    specs["zero_data_count"] = (two, bedgraph, dict(data_count=False, items_per_block=64))
    specs["zlib_stored_blocks"] = (two, bedgraph, dict(compress_level=0, items_per_block=64))
    specs["uncompressed"] = (two, bedgraph, dict(compress=False, items_per_block=64))
    specs["chrom_tree_after_data"] = (two, bedgraph, dict(chrom_tree_after_data=True, items_per_block=64))
    specs["no_zooms"] = (two, bedgraph, dict(zoom_levels=0, items_per_block=64))

    one = [("chr1", 4000)]
    varstep = [
        VarStep("chr1", np.cumsum(rng.integers(5, 15, 100)), 5, rng.normal(size=100).astype(np.float32)),
        VarStep("chr1", 2000 + np.cumsum(rng.integers(1, 4, 100)), 1, rng.normal(size=100).astype(np.float32)),
    ]
    specs["varstep"] = (one, varstep, dict(items_per_block=32))

    fixed = [
        FixedStep("chr1", 3, 10, 4, rng.normal(size=100).astype(np.float32)),
        FixedStep("chr1", 1500, 25, 25, rng.normal(size=40).astype(np.float32)),
        FixedStep("chr1", 2600, 7, 1, rng.normal(size=100).astype(np.float32)),
    ]
    specs["fixedstep_step_ne_span"] = (one, fixed, dict(items_per_block=32))
    specs["fixedstep_overlapping"] = (one, [FixedStep("chr1", 10, 5, 12, rng.normal(size=60).astype(
        np.float32))], dict(items_per_block=16))

    s, e, v = _tiles(rng, 40, start=2500)
    mixed_one = [
        BedGraph("chr1", [0, 10, 30], [5, 30, 31], np.float32([1.5, -2.0, 3.25])),
        VarStep("chr1", [40, 47, 60], 7, np.float32([4, 5, 6])),
        FixedStep("chr1", 100, 10, 3, np.float32([7, 8, 9, 10])),
        BedGraph("chr1", s, e, v),
    ]
    specs["mixed_sections"] = (one, mixed_one, dict(items_per_block=16))

    s1, e1, v1 = _tiles(rng, 30)
    s2, e2, v2 = _tiles(rng, 30)
    specs["sections_out_of_order"] = (two, [BedGraph("chr2", s2[:15], e2[:15], v2[:15]),
                                            BedGraph("chr1", s1, e1, v1),
                                            BedGraph("chr2", s2[15:], e2[15:], v2[15:])],
                                      dict(items_per_block=8))

    specs["overlapping"] = (one, [
        BedGraph("chr1", [0, 5, 8, 20, 22, 100], [10, 15, 9, 40, 25, 200], np.float32([1, 2, 3, 4, 5, 6])),
        BedGraph("chr1", [90, 150, 300], [160, 151, 310], np.float32([7, 8, 9])),
        BedGraph("chr1", [0, 305], [3, 400], np.float32([10, 11])),
    ], dict(items_per_block=4))

    big = 2**32 - 1
    s, e, v = _tiles(rng, 50, start=2**31 - 30)
    specs["coords_ge_2_31"] = ([("small", 1000), ("huge", big)], [
        BedGraph("small", [0, 500], [10, 1000], np.float32([1, 2])),
        BedGraph("huge", s, e, v),
        FixedStep("huge", 3_000_000_000, 100, 50, rng.normal(size=20).astype(np.float32)),
        VarStep("huge", [big - 40, big - 20], 10, np.float32([0.5, -0.5])),
        BedGraph("huge", [big - 5, big - 1], [big - 3, big], np.float32([2.5, 3.5])),  # last: [2**32-2, 2**32-1)
    ], dict(items_per_block=16, zoom_levels=(100, 10_000, 2**31, big)))

    specs["empty"] = (two, [], {})
    return specs


def section_records(sections) -> list[tuple[str, int, int, float]]:
    """Expand sections (writer tuples) into ``(chrom, start, end, value)`` records in file order."""
    out = []
    for sec in sections:
        vals = np.asarray(sec.values, np.float32).tolist()
        if isinstance(sec, BedGraph):
            spans = zip(np.asarray(sec.starts).tolist(), np.asarray(sec.ends).tolist())
        elif isinstance(sec, VarStep):
            spans = ((s, s + sec.span) for s in np.asarray(sec.starts).tolist())
        else:
            spans = ((sec.start + i * sec.step, sec.start + i * sec.step + sec.span) for i in range(len(vals)))
        out += [(sec.chrom, int(s), int(e), v) for (s, e), v in zip(spans, vals)]
    return out


def make_edge_files(dirpath) -> dict[str, tuple[str, list[tuple[str, int, int, float]]]]:
    """Write every edge case into `dirpath`.

    Parameters
    ----------
    dirpath : str or os.PathLike
        Existing directory; files are named ``<case>.bw``.

    Returns
    -------
    dict
        ``{name: (path, records)}``, ``records`` being ``(chrom, start, end, value)`` in file order.
    """
    out = {}
    for name, (chroms, sections, kw) in edge_specs().items():
        path = str(Path(dirpath) / f"{name}.bw")
        write_bigwig(path, chroms, sections, **kw)
        out[name] = (path, section_records(sections))
    return out


def dense_expected(records, chrom: str, start: int, end: int) -> np.ndarray:
    """float32 values of ``[start, end)`` on `chrom`: last record in file order wins, NaN if uncovered."""
    out = np.full(end - start, np.nan, np.float32)
    for c, s, e, v in records:
        if c == chrom and s < end and e > start:
            out[max(s, start) - start:min(e, end) - start] = v
    return out
