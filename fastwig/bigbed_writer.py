"""A small bigBed writer, for conformance tests: files that pybigtools cannot write.

Files without records, big-endian files, versions 1 to 4, with or without autoSql and totalSummary, and
R-trees of any depth.  Records are written in the order given, neither sorted nor checked beyond fitting
the format.  It shares the header, trees and block packing of :mod:`fastwig.bbi_layout` with the bigWig
writer of :mod:`fastwig.bbi_writer` (which re-exports :func:`write_bigbed`).

File layout written (offsets in the 64-byte header point at each part)::

    header (64) | totalSummary (40) | extension header (64) | autoSql (NUL-terminated)
    | chromosome B+ tree | record count (u64) + data blocks | R-tree of the data blocks | magic (4)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

from .bbi_layout import (
    BIGBED_MAGIC,
    _BlockPacker,
    _Body,
    _bpt,
    _chrom_keys,
    _chrom_list,
    _head_offsets,
    _Header,
    _pack_extension_header,
    _pack_total_summary,
    _rtree,
    _write_file,
)

__all__ = ["write_bigbed"]


def write_bigbed(
    path,
    chroms: Mapping[str, int] | Sequence[tuple[str, int]],
    records: Iterable[tuple[str, int, int, str]] = (),
    *,
    autosql: str | None = None,
    field_count: int | None = None,
    defined_field_count: int | None = None,
    byte_order: str = "<",
    version: int = 4,
    compress: bool = True,
    items_per_block: int = 256,
    chrom_block_size: int = 256,
    rtree_block_size: int = 256,
    total_summary: bool = True,
) -> str:
    """Write a bigBed file of ``(chrom, start, end, rest)`` records, in the order given.

    ``rest`` is the tab-separated rest of the BED line ("" for BED3).  Blocks hold at most
    ``items_per_block`` records of one chromosome; no zoom levels are written.  ``field_count``
    defaults to 3 plus the columns of the first record's rest, ``defined_field_count`` to
    ``min(field_count, 12)`` without autoSql and 3 with it.  The total summary is the coverage depth,
    as bedToBigBed writes it.  Records are not sorted or checked beyond fitting the format.
    """
    if byte_order not in ("<", ">"):
        raise ValueError("byte_order must be '<' or '>'")
    bo = byte_order
    chrom_list = _chrom_list(chroms)
    chrom_ids = {name: i for i, (name, _) in enumerate(chrom_list)}
    sizes = [int(size) for _, size in chrom_list]
    recs = []
    for c, s, e, r in records:
        if c not in chrom_ids:
            raise ValueError(f"record on unknown chromosome {c!r}")
        recs.append((chrom_ids[c], int(s), int(e), str(r)))
    if field_count is None:
        field_count = 3 + (len(recs[0][3].split("\t")) if recs and recs[0][3] else 0)
    if defined_field_count is None:
        defined_field_count = 3 if autosql else min(field_count, 12)

    summary_off, ext_off, pos = _head_offsets(0, total_summary, version >= 4)
    body = _Body(pos)
    asql_off = 0 if autosql is None else body.add(autosql.encode() + b"\0")
    ctree_off = body.add(_bpt(_chrom_keys(chrom_ids, sizes), chrom_block_size, body.pos, bo, False))
    groups = _blocks_of(recs, items_per_block)
    data_off = body.add(struct.pack(bo + "Q", len(recs)))
    pack = _BlockPacker(compress)
    leaf_items = []
    for group in groups:
        raw = b"".join(struct.pack(bo + "III", cid, s, e) + r.encode() + b"\0" for cid, s, e, r in group)
        payload = pack(raw)
        leaf_items.append((group[0][0], min(s for _, s, _, _ in group), group[0][0],
                           max(e for _, _, e, _ in group), body.pos, len(payload)))
        body.add(payload)
    index_off = body.add(_rtree(leaf_items, rtree_block_size, len(groups), items_per_block, body.pos,
                                body.pos, bo))
    body.add(struct.pack(bo + "I", BIGBED_MAGIC))

    head = [_Header(BIGBED_MAGIC, version, 0, ctree_off, data_off, index_off, field_count, defined_field_count,
                    asql_off, summary_off, pack.uncompress_buf_size(), ext_off).pack(bo)]
    if total_summary:
        head.append(_pack_total_summary(bo, *_depth_summary(recs)))
    if version >= 4:
        head.append(_pack_extension_header(bo))
    return _write_file(path, head, body)


def _blocks_of(recs: list[tuple], items_per_block: int) -> list[list[tuple]]:
    """Runs of records on one chromosome, cut every ``items_per_block`` records."""
    groups: list[list[tuple]] = []
    for rec in recs:
        if not groups or groups[-1][0][0] != rec[0] or len(groups[-1]) == items_per_block:
            groups.append([])
        groups[-1].append(rec)
    return groups


def _depth_summary(recs: list[tuple]) -> tuple[int, float, float, float, float]:
    """(bases covered, min depth, max depth, sum of depths, sum of squared depths) over ``recs``."""
    covered, lo, hi, total, squares = 0, 0.0, 0.0, 0.0, 0.0
    for cid in sorted({r[0] for r in recs}):
        events = sorted([(s, 1) for c, s, e, _ in recs if c == cid] + [(e, -1) for c, s, e, _ in recs if c == cid])
        depth, last = 0, None
        for at, step in events:
            if depth > 0 and at > last:
                n = at - last
                covered += n
                lo = depth if covered == n else min(lo, depth)
                hi = max(hi, depth)
                total += n * depth
                squares += n * depth * depth
            depth += step
            last = at
    return covered, float(lo), float(hi), float(total), float(squares)
