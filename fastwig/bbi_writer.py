"""A small bigWig writer of every variant of the BBI format, for conformance tests.

(Not the public writer, :class:`fastwig.BigWigWriter` in :mod:`fastwig.writer`: this one favours
reach over speed.)  It writes what the bigWig format (Kent et al. 2010, the BBI layout) allows, including the variants that
real writers never produce: big-endian files, versions 1 to 4, chromosome B+ trees and R-trees of any
depth, fixedStep sections with ``step != span``, unsorted B+ tree keys, the chromosome tree after the
data, overlapping records, coordinates up to ``2**32 - 1`` and files without any data.  It is plain
Python over numpy, ``zlib`` and ``struct``; of fastwig it imports only its siblings: the header, trees
and block packing that bigWig and bigBed share (:mod:`fastwig.bbi_layout`) and the bigBed writer
(:mod:`fastwig.bigbed_writer`), whose :func:`write_bigbed` is re-exported here.

File layout written (offsets in the 64-byte header point at each part)::

    header (64) | zoom headers (24 each) | totalSummary (40) | extension header (64)
    | chromosome B+ tree | data count (u64) + data blocks | R-tree ("cirTree") of the data blocks
    | per zoom level: record count (u32) + zoom blocks, R-tree of the zoom blocks | magic (4)

With ``chrom_tree_after_data=True`` the B+ tree moves between the data blocks and their R-tree, where
the bigtools writer puts it.  Every data block holds exactly one section; a section longer than
``items_per_block`` records is split into several.  Tree nodes are padded to ``blockSize`` slots, as
UCSC does.

Zoom records follow UCSC's summarising scheme, over the records taken in (chromosome id, start) order:
on each chromosome a bin of ``reduction`` bases opens at the first record not covered by the previous
bin (or, when a record runs past a bin's end, right at that end) and is cut at the chromosome end; a
bin summarises only covered bases (``validCount``, min, max, sum and sum of squares of the values over
those bases).  Bins are therefore not aligned to multiples of ``reduction``.  Overlapping records are
not merged first, so their zoom records are as rough as UCSC's would be.  Each zoom level starts with its record count (u32); its blocks hold
``items_per_block`` zoom records each and may span chromosomes, as in UCSC files, and its R-tree's
itemCount is the number of zoom records (itemsPerSlot = ``items_per_block``), again as UCSC writes it.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .bbi_layout import (
    _U32_MAX,
    BIGBED_MAGIC,
    BIGWIG_MAGIC,
    BPT_MAGIC,
    CIRTREE_MAGIC,
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
from .bigbed_writer import write_bigbed

__all__ = [
    "BIGBED_MAGIC",
    "BIGWIG_MAGIC",
    "BPT_MAGIC",
    "CIRTREE_MAGIC",
    "BedGraph",
    "FixedStep",
    "VarStep",
    "bigwig_from_arrays",
    "write_bigbed",
    "write_bigwig",
]

_BEDGRAPH, _VARSTEP, _FIXEDSTEP = 1, 2, 3


class BedGraph(NamedTuple):
    """A bedGraph section: records ``[starts[i], ends[i])`` with ``values[i]``."""

    chrom: str
    starts: Sequence[int]
    ends: Sequence[int]
    values: Sequence[float]


class VarStep(NamedTuple):
    """A varStep section: records ``[starts[i], starts[i] + span)`` with ``values[i]``."""

    chrom: str
    starts: Sequence[int]
    span: int
    values: Sequence[float]


class FixedStep(NamedTuple):
    """A fixedStep section: record ``i`` is ``[start + i*step, start + i*step + span)`` with ``values[i]``."""

    chrom: str
    start: int
    step: int
    span: int
    values: Sequence[float]


_KINDS = {"bedGraph": BedGraph, "varStep": VarStep, "fixedStep": FixedStep}


class _Section(NamedTuple):
    """A checked section (or a block of one): every record's coordinates as arrays, whatever its kind."""

    cid: int
    kind: int
    starts: np.ndarray  # int64, one per record
    ends: np.ndarray  # int64
    values: np.ndarray  # float32
    step: int
    span: int


def write_bigwig(
    path,
    chroms: Mapping[str, int] | Sequence[tuple[str, int]],
    sections: Iterable = (),
    *,
    byte_order: str = "<",
    version: int = 4,
    compress: bool = True,
    compress_level: int = 6,
    items_per_block: int = 1024,
    chrom_block_size: int = 256,
    rtree_block_size: int = 256,
    zoom_levels: int | Sequence[int] = 4,
    chrom_tree_after_data: bool = False,
    shuffle_chrom_keys: bool = False,
    extension_header: bool | None = None,
    total_summary: bool | None = None,
    data_count: bool = True,
    trailing_magic: bool = True,
    uncompress_buf_size: int | None = None,
) -> str:
    """Write a bigWig file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; overwritten.
    chroms : dict of str to int, or list of (str, int)
        Chromosome names and sizes.  Chromosome ids follow this order (they need not follow name
        order); the B+ tree stores the names sorted, as the format requires for lookups.
    sections : iterable
        Sections in file order: :class:`BedGraph`, :class:`VarStep` or :class:`FixedStep` tuples,
        dicts with a ``"type"`` key (``"bedGraph"``, ``"varStep"``, ``"fixedStep"``) and the same
        field names, or plain tuples whose first item is that type name.  Records are written as given:
        overlaps, unsorted records and records past the chromosome end are not refused.  Coordinates
        must fit unsigned 32 bits and ``end >= start``.  Empty sections are skipped.
    byte_order : {"<", ">"}
        Byte order of every multi-byte field in the file, data and zoom records included.
    version : int
        Header version, 1 to 4.  It also sets the defaults of `extension_header` (version 4) and
        `total_summary` (version 3 and up).  UCSC's own version-1 file (bigBedExample.bb) is
        uncompressed and lacks the trailing magic: pass ``compress=False, trailing_magic=False`` to
        mimic it.
    compress : bool
        zlib-compress every block; when False the header's ``uncompressBufSize`` is 0.
    compress_level : int
        zlib level, 0 to 9.  Level 0 still writes zlib streams, made of stored (uncompressed) deflate
        blocks; level 1 is several times faster than the default 6 on large files.
    items_per_block : int
        Records per data block (1 to 65535), and zoom records per zoom block.
    chrom_block_size, rtree_block_size : int
        ``blockSize`` of the chromosome B+ tree and of the R-trees; small values make deep trees.
        The B+ tree needs at least 2 unless there is a single chromosome (UCSC writes 1 then).
    zoom_levels : int or sequence of int
        The reductions (bases per zoom bin) to write, or a number of levels to choose: 10 times the
        mean record span, then x4 per level, stopping after the first that reaches the largest
        chromosome.  0 (or ``()``) writes no zoom level.  A file without records gets none.
    chrom_tree_after_data : bool
        Put the B+ tree between the data blocks and their R-tree (bigtools' layout).
    shuffle_chrom_keys : bool
        Store the keys of every B+ tree leaf in reverse name order, so that readers must not
        binary-search a leaf (internal nodes still hold the smallest key of each child).
    extension_header : bool, optional
        Write the 64-byte extension header (no extra indexes).  Default: ``version >= 4``.
    total_summary : bool, optional
        Write totalSummary (bases covered, min, max, sum, sum of squares over all records); when
        False its header offset is 0.  Default: ``version >= 3``.
    data_count : bool
        Write the number of data blocks before the data; when False that u64 field holds 0.
    trailing_magic : bool
        End the file with the magic number.
    uncompress_buf_size : int, optional
        Override the header's ``uncompressBufSize`` (e.g. too small, for a corrupt-file test).
        Default: the largest inflated block of the file when compressed, else 0.

    Returns
    -------
    str
        `path`, as a string.

    Notes
    -----
    A chromosome with no record is still listed in the B+ tree.  A file without sections has a data
    count of 0, an R-tree whose root is an empty leaf, and a totalSummary of zeros.  Zoom records
    for records far longer than a reduction cost one record per bin: use large reductions (or none)
    for such data.
    """
    _check_options(byte_order, version, items_per_block, compress_level, chrom_block_size, rtree_block_size)
    bo = byte_order
    extension_header = version >= 4 if extension_header is None else extension_header
    total_summary = version >= 3 if total_summary is None else total_summary
    chrom_ids, sizes = _chromosomes(chroms, chrom_block_size)
    blocks = _blocks(sections, chrom_ids, items_per_block)
    records = _Records.of(blocks)
    reductions = _reductions(zoom_levels, records, sizes) if blocks else []

    summary_off, ext_off, pos = _head_offsets(len(reductions), total_summary, extension_header)
    body = _Body(pos)
    pack = _BlockPacker(compress, compress_level)
    keys = _chrom_keys(chrom_ids, sizes)
    ctree_off = 0
    if not chrom_tree_after_data:
        ctree_off = _add_chrom_tree(body, keys, chrom_block_size, shuffle_chrom_keys, bo)
    data_off, leaf_items = _add_data(body, blocks, pack, data_count, bo)
    data_end = body.pos
    if chrom_tree_after_data:
        ctree_off = _add_chrom_tree(body, keys, chrom_block_size, shuffle_chrom_keys, bo)
    index_off = body.add(_rtree(leaf_items, rtree_block_size, len(blocks), 1, data_end, body.pos, bo))
    zoom_headers = [_add_zoom_level(body, records, sizes, red, pack, items_per_block, rtree_block_size, bo)
                    for red in reductions]
    if trailing_magic:
        body.add(struct.pack(bo + "I", BIGWIG_MAGIC))

    # the head goes last: it holds the offsets of the body and the largest inflated block
    if uncompress_buf_size is None:
        uncompress_buf_size = pack.uncompress_buf_size()
    head = [_Header(BIGWIG_MAGIC, version, len(reductions), ctree_off, data_off, index_off, 0, 0, 0, summary_off,
                    uncompress_buf_size, ext_off).pack(bo), *zoom_headers]
    if total_summary:
        head.append(_pack_total_summary(bo, *_total_summary(records)))
    if extension_header:
        head.append(_pack_extension_header(bo))
    return _write_file(path, head, body)


def bigwig_from_arrays(path, chroms, chrom_names_per_record, starts, ends, values, **kw) -> str:
    """Write bedGraph records held in parallel arrays.

    Records are cut into one section per run of equal chromosome names, and `write_bigwig` cuts those
    into blocks of ``items_per_block``; the records are not sorted or checked.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    chroms : dict of str to int, or list of (str, int)
        Chromosome names and sizes, as for `write_bigwig`.
    chrom_names_per_record : array_like of str
        Chromosome of every record.
    starts, ends : array_like of int
        0-based half-open coordinates of every record.
    values : array_like of float
        Value of every record (stored as float32).
    **kw
        Passed on to `write_bigwig`.

    Returns
    -------
    str
        `path`, as a string.
    """
    names = np.asarray(chrom_names_per_record)
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    values = np.asarray(values, np.float32)
    if not names.size == starts.size == ends.size == values.size:
        raise ValueError("chrom_names_per_record, starts, ends and values differ in length")
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1 if names.size else np.zeros(0, np.int64)
    bounds = [0, *cuts.tolist(), names.size] if names.size else []
    sections = [BedGraph(str(names[a]), starts[a:b], ends[a:b], values[a:b])
                for a, b in itertools.pairwise(bounds)]
    return write_bigwig(path, chroms, sections, **kw)


# The stages of write_bigwig, in the order it runs them.

def _check_options(byte_order: str, version: int, items_per_block: int, compress_level: int,
                   chrom_block_size: int, rtree_block_size: int) -> None:
    if byte_order not in ("<", ">"):
        raise ValueError("byte_order must be '<' or '>'")
    if not 1 <= version <= 65535:
        raise ValueError("version must fit u16 (1 to 4 are defined)")
    if not 1 <= items_per_block <= 65535:
        raise ValueError("items_per_block must lie in [1, 65535] (the section item count is u16)")
    if not 0 <= compress_level <= 9:
        raise ValueError("compress_level must lie in [0, 9]")
    if chrom_block_size < 1 or rtree_block_size < 2:
        raise ValueError("chrom_block_size must be >= 1 and rtree_block_size >= 2")


def _chromosomes(chroms, chrom_block_size: int) -> tuple[dict[str, int], list[int]]:
    """Chromosome ids (in the order given) and sizes, checked."""
    chrom_list = _chrom_list(chroms)
    chrom_ids: dict[str, int] = {}
    for name, size in chrom_list:
        if name in chrom_ids:
            raise ValueError(f"chromosome {name!r} listed twice")
        if not 0 <= int(size) <= _U32_MAX:
            raise ValueError(f"chromosome {name!r}: size must lie in [0, 2**32 - 1]")
        if not name or "\0" in name:
            raise ValueError("chromosome names must be non-empty and hold no NUL")
        chrom_ids[name] = len(chrom_ids)
    sizes = [int(s) for _, s in chrom_list]
    if chrom_block_size < 2 and len(sizes) > 1:
        raise ValueError("chrom_block_size 1 holds a single chromosome (a tree node needs 2 children)")
    return chrom_ids, sizes


def _blocks(sections: Iterable, chrom_ids: dict[str, int], items_per_block: int) -> list[_Section]:
    """The data blocks, in file order: every section checked and cut into ``items_per_block`` records."""
    return [b for sec in sections for b in _split(_normalise(sec, chrom_ids), items_per_block) if b.values.size]


class _Records(NamedTuple):
    """Every record of the file, in file order, as parallel arrays (what zoom levels and totalSummary read)."""

    cids: np.ndarray  # int64
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    values: np.ndarray  # float32

    @classmethod
    def of(cls, blocks: list[_Section]) -> _Records:
        if not blocks:
            no_coords = np.zeros(0, np.int64)
            return cls(no_coords, no_coords, no_coords, np.zeros(0, np.float32))
        return cls(np.concatenate([np.full(b.values.size, b.cid, np.int64) for b in blocks]),
                   np.concatenate([b.starts for b in blocks]),
                   np.concatenate([b.ends for b in blocks]),
                   np.concatenate([b.values for b in blocks]))


def _reductions(zoom_levels: int | Sequence[int], records: _Records, sizes: list[int]) -> list[int]:
    """The zoom reductions of a file with records: chosen (`zoom_levels` an int) or checked."""
    if isinstance(zoom_levels, (int, np.integer)):
        reductions = _auto_reductions(int(zoom_levels), records.starts, records.ends, sizes)
    else:
        reductions = [int(r) for r in zoom_levels]
        if any(not 1 <= r <= _U32_MAX for r in reductions):
            raise ValueError("zoom reductions must lie in [1, 2**32 - 1]")
    if len(reductions) > 65535:
        raise ValueError("at most 65535 zoom levels")
    return reductions


def _add_chrom_tree(body: _Body, keys: list[tuple[bytes, int, int]], block_size: int, shuffle_keys: bool,
                    bo: str) -> int:
    return body.add(_bpt(keys, block_size, body.pos, bo, shuffle_keys))


def _add_data(body: _Body, blocks: list[_Section], pack: _BlockPacker, data_count: bool,
              bo: str) -> tuple[int, list[tuple]]:
    """Append the data count and the data blocks; return their offset and the R-tree's leaf items."""
    data_off = body.add(struct.pack(bo + "Q", len(blocks) if data_count else 0))
    leaf_items = []
    for b in blocks:
        payload = pack(_encode_section(b, bo))
        offset = body.add(payload)
        leaf_items.append((b.cid, int(b.starts.min()), b.cid, int(b.ends.max()), offset, len(payload)))
    return data_off, leaf_items


def _add_zoom_level(body: _Body, records: _Records, sizes: list[int], reduction: int, pack: _BlockPacker,
                    items_per_block: int, rtree_block_size: int, bo: str) -> bytes:
    """Append one zoom level (record count, zoom blocks, their R-tree); return its zoom header."""
    zrec = _ucsc_summaries(*records, sizes, reduction)
    data_off = body.add(struct.pack(bo + "I", zrec.size))
    items = []
    for lo in range(0, zrec.size, items_per_block):
        chunk = zrec[lo:lo + items_per_block]
        payload = pack(chunk.astype(zrec.dtype.newbyteorder(bo)).tobytes())
        lo_key = min(zip(chunk["cid"].tolist(), chunk["s"].tolist()))
        hi_key = max(zip(chunk["cid"].tolist(), chunk["e"].tolist()))
        offset = body.add(payload)
        items.append((*lo_key, *hi_key, offset, len(payload)))
    index_off = body.add(_rtree(items, rtree_block_size, zrec.size, items_per_block, body.pos, body.pos, bo))
    return struct.pack(bo + "IIQQ", reduction, 0, data_off, index_off)


def _total_summary(records: _Records) -> tuple[int, float, float, float, float]:
    """(bases covered, min, max, sum, sum of squares) over the records, overlaps counted twice."""
    covered = records.ends - records.starts
    live = covered > 0
    v = records.values[live].astype(np.float64)
    w = covered[live].astype(np.float64)
    return (int(covered.sum()), float(v.min()) if v.size else 0.0, float(v.max()) if v.size else 0.0,
            float((v * w).sum()), float((v * v * w).sum()))


# Sections: from the caller's forms to checked arrays, and into data blocks.

def _as_section(sec) -> BedGraph | VarStep | FixedStep:
    if isinstance(sec, (BedGraph, VarStep, FixedStep)):
        return sec
    if isinstance(sec, Mapping):
        fields = dict(sec)
        kind = fields.pop("type", None)
        if kind not in _KINDS:
            raise ValueError(f"section dict needs 'type' in {sorted(_KINDS)}, got {kind!r}")
        return _KINDS[kind](**fields)
    if isinstance(sec, tuple) and sec and sec[0] in _KINDS:
        return _KINDS[sec[0]](*sec[1:])
    raise TypeError(
        "a section is a BedGraph/VarStep/FixedStep, a dict with a 'type' key, "
        f"or a tuple whose first item is the type name; got {type(sec).__name__}"
    )


def _coords(a, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64).ravel()
    if a.size and (a.min() < 0 or a.max() > _U32_MAX):
        raise ValueError(f"{what} must lie in [0, 2**32 - 1]")
    return a


def _normalise(sec, chrom_ids: dict[str, int]) -> _Section:
    sec = _as_section(sec)
    chrom = sec.chrom
    if chrom not in chrom_ids:
        raise ValueError(f"section on unknown chromosome {chrom!r}")
    cid = chrom_ids[chrom]
    values = np.asarray(sec.values, dtype=np.float32).ravel()
    n = values.size
    if isinstance(sec, BedGraph):
        kind, step, span = _BEDGRAPH, 0, 0
        starts, ends = _coords(sec.starts, "starts"), _coords(sec.ends, "ends")
    elif isinstance(sec, VarStep):
        kind, step, span = _VARSTEP, 0, int(sec.span)
        starts = _coords(sec.starts, "starts")
        ends = _coords(starts + span, "starts + span")
    else:
        kind, step, span = _FIXEDSTEP, int(sec.step), int(sec.span)
        if step < 0 or step > _U32_MAX:
            raise ValueError("fixedStep step must lie in [0, 2**32 - 1]")
        starts = _coords(int(sec.start) + step * np.arange(n, dtype=np.int64), "fixedStep starts")
        ends = _coords(starts + span, "fixedStep ends")
    if span < 0 or span > _U32_MAX:
        raise ValueError("span must lie in [0, 2**32 - 1]")
    if not (starts.size == ends.size == n):
        raise ValueError(f"section on {chrom!r}: starts, ends and values differ in length")
    if np.any(ends < starts):
        raise ValueError(f"section on {chrom!r}: a record ends before it starts")
    return _Section(cid, kind, starts, ends, values, step, span)


def _split(sec: _Section, size: int) -> Iterable[_Section]:
    for lo in range(0, sec.values.size, size):
        hi = lo + size
        yield sec._replace(starts=sec.starts[lo:hi], ends=sec.ends[lo:hi], values=sec.values[lo:hi])


def _encode_section(sec: _Section, bo: str) -> bytes:
    n = sec.values.size
    head = struct.pack(
        bo + "IIIIIBBH", sec.cid, int(sec.starts.min()), int(sec.ends.max()), sec.step, sec.span,
        sec.kind, 0, n,
    )
    if sec.kind == _BEDGRAPH:
        rec = np.empty(n, dtype=[("s", bo + "u4"), ("e", bo + "u4"), ("v", bo + "f4")])
        rec["s"], rec["e"], rec["v"] = sec.starts, sec.ends, sec.values
    elif sec.kind == _VARSTEP:
        rec = np.empty(n, dtype=[("s", bo + "u4"), ("v", bo + "f4")])
        rec["s"], rec["v"] = sec.starts, sec.values
    else:
        rec = sec.values.astype(bo + "f4")
    return head + rec.tobytes()


# Zoom records.

def _ucsc_summaries(cids, starts, ends, values, sizes, reduction: int) -> np.ndarray:
    """Zoom records of one reduction level (UCSC's scheme), over the records sorted by chromosome id and
    start, so that sections written out of order still give a well-formed zoom level."""
    out: list[tuple] = []
    cur = None  # [cid, start, end, count, min, max, sum, sumsq]

    def open_bin(cid, start):
        end = min(start + reduction, sizes[cid], _U32_MAX)
        if end <= start:  # a record past the chromosome end: keep bins of full width there
            end = min(start + reduction, _U32_MAX)
        return [cid, start, end, 0, np.inf, -np.inf, 0.0, 0.0]

    def add(b, s, e, v):
        ov = min(e, b[2]) - max(s, b[1])
        if ov > 0:
            b[3] += ov
            b[4] = min(b[4], v)
            b[5] = max(b[5], v)
            b[6] += v * ov
            b[7] += v * v * ov

    order = np.lexsort((starts, cids))  # stable: file order among records with equal (chrom, start)
    cids, starts, ends, values = cids[order], starts[order], ends[order], values[order]
    for cid, s, e, v in zip(cids.tolist(), starts.tolist(), ends.tolist(), values.tolist()):
        if e <= s:
            continue
        if cur is None or cur[0] != cid or s >= cur[2]:
            if cur is not None and cur[3]:
                out.append(tuple(cur))
            cur = open_bin(cid, s)
        while e > cur[2] and cur[2] < _U32_MAX:
            add(cur, s, e, v)
            if cur[3]:
                out.append(tuple(cur))
            cur = open_bin(cid, cur[2])
        add(cur, s, e, v)
    if cur is not None and cur[3]:
        out.append(tuple(cur))
    rec = np.zeros(len(out), dtype=[("cid", "u4"), ("s", "u4"), ("e", "u4"), ("n", "u4"),
                                    ("min", "f4"), ("max", "f4"), ("sum", "f4"), ("ssq", "f4")])
    if out:
        rec[:] = out
    return rec


def _auto_reductions(n_levels: int, starts, ends, sizes) -> list[int]:
    """``n_levels`` reductions, x4 apart, from 10 times the mean record span, stopping at the first
    one that reaches the largest chromosome (further levels would each hold one record per
    chromosome, so UCSC stops there too)."""
    if n_levels <= 0:
        return []
    spans = ends - starts
    mean_span = float(spans.mean()) if spans.size else 1.0
    red = max(1, round(10 * mean_span))
    biggest = max(sizes, default=1)
    out = []
    while len(out) < n_levels and red <= _U32_MAX:
        out.append(red)
        if red >= biggest:
            break
        red *= 4
    return out
