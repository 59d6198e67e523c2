"""The parts that bigWig and bigBed files share, as the conformance writers write them.

The 64-byte header, the totalSummary and extension header after it, the chromosome B+ tree, the
R-tree ("cirTree") over blocks, and the zlib blocks themselves: :mod:`fastwig.bbi_writer` (bigWig)
and :mod:`fastwig.bigbed_writer` (bigBed) build their files from these.  Trees of any depth and B+
tree leaves with unsorted keys are allowed, because the writers exist to produce the variants that
real writers never do.  Plain Python over ``zlib`` and ``struct``; nothing from the reader is
imported, so a reader bug cannot hide behind a writer that shares its constants.

Head of a file (offsets in the header point at each part)::

    header (64) | zoom headers (24 each) | totalSummary (40) | extension header (64)
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

BIGWIG_MAGIC = 0x888FFC26
BIGBED_MAGIC = 0x8789F2EB
BPT_MAGIC = 0x78CA8C91
CIRTREE_MAGIC = 0x2468ACE0

_U32_MAX = 2**32 - 1
_HEADER_SIZE = 64
_ZOOM_HEADER_SIZE = 24
_TOTAL_SUMMARY_SIZE = 40
_EXTENSION_SIZE = 64
_DEFAULT_BUF_SIZE = 32768  # uncompressBufSize of a compressed file that holds no block at all


class _Header(NamedTuple):
    """The 64-byte common header, fields in file order."""

    magic: int
    version: int
    zoom_levels: int
    chrom_tree_offset: int
    full_data_offset: int
    full_index_offset: int
    field_count: int
    defined_field_count: int
    auto_sql_offset: int
    total_summary_offset: int
    uncompress_buf_size: int
    extension_offset: int

    def pack(self, bo: str) -> bytes:
        return struct.pack(bo + "IHHQQQHHQQIQ", *self)


def _head_offsets(n_zooms: int, total_summary: bool, extension_header: bool) -> tuple[int, int, int]:
    """``(totalSummary offset, extension offset, end of the head)``; an absent part's offset is 0."""
    pos = _HEADER_SIZE + _ZOOM_HEADER_SIZE * n_zooms
    summary_off = pos if total_summary else 0
    pos += _TOTAL_SUMMARY_SIZE if total_summary else 0
    ext_off = pos if extension_header else 0
    pos += _EXTENSION_SIZE if extension_header else 0
    return summary_off, ext_off, pos


def _pack_total_summary(bo: str, covered: int, lo: float, hi: float, total: float, squares: float) -> bytes:
    return struct.pack(bo + "Qdddd", covered, lo, hi, total, squares)


def _pack_extension_header(bo: str) -> bytes:
    """An extension header without extra indexes."""
    return struct.pack(bo + "HHQ", _EXTENSION_SIZE, 0, 0).ljust(_EXTENSION_SIZE, b"\0")


def _chrom_list(chroms: Mapping[str, int] | Sequence[tuple[str, int]]) -> list[tuple]:
    return list(chroms.items()) if isinstance(chroms, Mapping) else [tuple(c) for c in chroms]


def _chrom_keys(chrom_ids: Mapping[str, int], sizes: Sequence[int]) -> list[tuple[bytes, int, int]]:
    """The ``(key, id, size)`` items of the chromosome B+ tree."""
    return [(name.encode(), cid, sizes[cid]) for name, cid in chrom_ids.items()]


class _Body:
    """The file after its head, as a list of byte strings; ``pos`` is the file offset of the next one."""

    def __init__(self, pos: int):
        self.parts: list[bytes] = []
        self.pos = pos

    def add(self, part: bytes) -> int:
        """Append `part`; return its file offset."""
        offset = self.pos
        self.parts.append(part)
        self.pos += len(part)
        return offset


class _BlockPacker:
    """Compresses blocks (or not) and remembers the largest inflated one, for ``uncompressBufSize``."""

    def __init__(self, compress: bool, level: int = -1):
        self.compress = compress
        self.level = level
        self.max_raw = 0

    def __call__(self, raw: bytes) -> bytes:
        self.max_raw = max(self.max_raw, len(raw))
        return zlib.compress(raw, self.level) if self.compress else raw

    def uncompress_buf_size(self) -> int:
        return (self.max_raw or _DEFAULT_BUF_SIZE) if self.compress else 0


def _write_file(path, head: Sequence[bytes], body: _Body) -> str:
    path = os.fspath(path)
    with open(path, "wb") as f:
        f.write(b"".join(head))
        f.write(b"".join(body.parts))
    return path


def _bpt(chroms: list[tuple[bytes, int, int]], block_size: int, base: int, bo: str,
         reverse_leaves: bool) -> bytes:
    """Chromosome B+ tree (header + nodes, root first) for ``(key, id, size)`` items, at file offset ``base``."""
    key_size = max((len(k) for k, _, _ in chroms), default=1) or 1
    items = sorted(chroms)
    slot = key_size + 8  # a leaf's id + size and a node's child offset both take 8 bytes
    node_size = 4 + block_size * slot
    # levels[0] is the leaf level; each node is a list of items (leaves) or child indices.
    leaves = [items[i:i + block_size] for i in range(0, len(items), block_size)] or [[]]
    if reverse_leaves:
        leaves = [leaf[::-1] for leaf in leaves]
    levels = [leaves]
    min_key = [min((k for k, _, _ in leaf), default=b"") for leaf in leaves]
    keys = [min_key]
    while len(levels[-1]) > 1:
        n = len(levels[-1])
        levels.append([list(range(i, min(i + block_size, n))) for i in range(0, n, block_size)])
        keys.append([min(keys[-1][c] for c in node) for node in levels[-1]])
    levels.reverse()
    keys.reverse()
    offsets = []
    pos = base + 32
    for lev in levels:
        offsets.append([pos + i * node_size for i in range(len(lev))])
        pos += len(lev) * node_size
    parts = [struct.pack(bo + "IIIIQQ", BPT_MAGIC, block_size, key_size, 8, len(items), 0)]
    for depth, lev in enumerate(levels):
        is_leaf = depth == len(levels) - 1
        for node in lev:
            body = [struct.pack(bo + "BBH", int(is_leaf), 0, len(node))]
            for item in node:
                if is_leaf:
                    key, cid, size = item
                    body.append(key.ljust(key_size, b"\0") + struct.pack(bo + "II", cid, size))
                else:
                    body.append(keys[depth + 1][item].ljust(key_size, b"\0")
                                + struct.pack(bo + "Q", offsets[depth + 1][item]))
            body.append(b"\0" * ((block_size - len(node)) * slot))
            parts.append(b"".join(body))
    return b"".join(parts)


def _rtree(leaf_items: list[tuple], block_size: int, item_count: int, items_per_slot: int,
           end_file_offset: int, base: int, bo: str) -> bytes:
    """cirTree index (header + nodes, root first) over ``(c0, s0, c1, e1, offset, size)`` leaf items."""
    leaf_size, node_size = 4 + block_size * 32, 4 + block_size * 24

    def bounds(items):
        lo = min((it[0], it[1]) for it in items)
        hi = max((it[2], it[3]) for it in items)
        return lo + hi

    leaves = [leaf_items[i:i + block_size] for i in range(0, len(leaf_items), block_size)] or [[]]
    levels = [leaves]
    boxes = [[bounds(leaf) if leaf else (0, 0, 0, 0) for leaf in leaves]]
    while len(levels[-1]) > 1:
        n = len(levels[-1])
        levels.append([list(range(i, min(i + block_size, n))) for i in range(0, n, block_size)])
        boxes.append([bounds([boxes[-1][c] for c in node]) for node in levels[-1]])
    levels.reverse()
    boxes.reverse()
    offsets = []
    pos = base + 48
    for depth, lev in enumerate(levels):
        size = leaf_size if depth == len(levels) - 1 else node_size
        offsets.append([pos + i * size for i in range(len(lev))])
        pos += len(lev) * size
    root = boxes[0][0]
    parts = [struct.pack(bo + "IIQIIIIQII", CIRTREE_MAGIC, block_size, item_count, *root,
                         end_file_offset, items_per_slot, 0)]
    for depth, lev in enumerate(levels):
        is_leaf = depth == len(levels) - 1
        for node in lev:
            body = [struct.pack(bo + "BBH", int(is_leaf), 0, len(node))]
            if is_leaf:
                body += [struct.pack(bo + "IIIIQQ", *it) for it in node]
                body.append(b"\0" * ((block_size - len(node)) * 32))
            else:
                body += [struct.pack(bo + "IIIIQ", *boxes[depth + 1][c], offsets[depth + 1][c])
                         for c in node]
                body.append(b"\0" * ((block_size - len(node)) * 24))
            parts.append(b"".join(body))
    return b"".join(parts)
