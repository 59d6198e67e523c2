"""The R-tree (cirTree) index of data blocks, read once, at open, into compact flat arrays.

A leaf item names one data block and the genomic range it covers, from (startChromIx, startBase)
to (endChromIx, endBase).  :class:`BlockIndex` keeps, per block, uint32 start and end bases, the
block's file offset (uint32 when the file is under 4 GiB, else uint64) and size (uint32), and the
chromosome as a run of rows (one entry per chromosome, not per block): 16 bytes per block, 20 in
a file over 4 GiB, 4 more where a block ends before an earlier-starting one on its chromosome (the
running maximum of ends is then stored too).  Blocks whose range crosses chromosomes (no data
block of any writer we know; zoom levels of some) are kept apart in int64 linear coordinates
``chromIx * 2**32 + base``.  The arrays are allocated once and never written after open, so
forked workers share their pages.  ``kernels/plan.py`` searches them; ``kernels/rtree.py`` builds them.
"""

from __future__ import annotations

import os

import numpy as np

from ._kernels import plan, rtree as _rt
from . import indexcache, spec
from .config import settings
from .errors import FormatError
from .io import FileSource

CHROM_SHIFT = 32
U32_MAX = np.uint64(0xFFFFFFFF)


class BlockIndex:
    """Every data block of one R-tree; rows sorted by (chromosome, start, offset), crossing blocks last.

    Attributes
    ----------
    chrom_id, chrom_ptr : numpy.ndarray
        int64 (r,) and (r + 1,): rows ``chrom_ptr[i]:chrom_ptr[i+1]`` are the single-chromosome
        blocks of chromosome ``chrom_id[i]``.
    start, end : numpy.ndarray
        uint32 (n_main,), base range of each single-chromosome block.
    cm : numpy.ndarray
        uint32 (n_main,), running maximum of ``end`` within each chromosome (``end`` itself where
        ends never decrease).
    span_ls, span_le, span_cm : numpy.ndarray
        int64 (n - n_main,), linear start, end and running maximum of end of blocks crossing
        chromosomes (rows ``n_main`` on).
    offset, size : numpy.ndarray
        uint32 or uint64 (n,), where each block's bytes lie in the file.
    file_order : bool
        Offsets do not decrease with the row, so blocks found for a window are already in the
        order in which later ones win.
    """

    def __init__(self, chrom_id, chrom_ptr, start, end, cm, span_ls, span_le, span_cm, offset, size,
                 file_order: bool):
        self.chrom_id, self.chrom_ptr = chrom_id, chrom_ptr
        self.start, self.end, self.cm = start, end, cm
        self.span_ls, self.span_le, self.span_cm = span_ls, span_le, span_cm
        self.offset, self.size = offset, size
        self.file_order = bool(file_order)
        self.arrays = (chrom_id, chrom_ptr, start, end, cm, span_ls, span_le, span_cm, offset)
        for a in (*self.arrays, size):
            a.flags.writeable = False

    def __len__(self) -> int:
        return self.offset.size

    @property
    def nbytes(self) -> int:
        """Bytes of the index's arrays, each buffer counted once (``cm`` may be ``end``)."""
        seen = {}
        for a in (*self.arrays, self.size):
            base = a
            while isinstance(base.base, np.ndarray):
                base = base.base
            seen[id(base)] = base.nbytes
        return sum(seen.values())

    @property
    def lstart(self) -> np.ndarray:
        """int64 (n,), linear start ``chromIx << 32 | base`` of each row (computed, not stored)."""
        chrom = np.repeat(self.chrom_id, np.diff(self.chrom_ptr))
        return np.concatenate(((chrom << CHROM_SHIFT) | self.start, self.span_ls))

    @property
    def lend(self) -> np.ndarray:
        """int64 (n,), linear end of each row (computed, not stored)."""
        chrom = np.repeat(self.chrom_id, np.diff(self.chrom_ptr))
        return np.concatenate(((chrom << CHROM_SHIFT) | self.end, self.span_le))

    def overlapping(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blocks overlapping each query range ``[lo[i], hi[i])`` (linear coordinates, one chromosome each).

        Returns
        -------
        ptr : numpy.ndarray
            int64 (m + 1,), CSR pointers: query i owns ``blocks[ptr[i]:ptr[i+1]]``.
        blocks : numpy.ndarray
            int64, block numbers (rows of this index), in file order within each query.
        """
        return plan.overlap_csr(self.arrays, self.file_order, np.asarray(lo, np.int64), np.asarray(hi, np.int64))

    @classmethod
    def from_items(cls, sc, sb, ec, eb, off, size, *, path: str = "", what: str = "R-tree",
                   file_size: int | None = None) -> "BlockIndex":
        """The index of leaf items given as arrays (start chromIx, start base, end chromIx, end base:
        uint32; data offset and size: uint64), in stored order.  Items naming a block outside
        ``[spec.HEADER_SIZE, file_size)``, an empty block or an inverted range raise FormatError."""
        sc, sb, ec, eb = (np.ascontiguousarray(a, np.uint32) for a in (sc, sb, ec, eb))
        off, size = (np.ascontiguousarray(a, np.uint64) for a in (off, size))
        file_size = np.iinfo(np.int64).max if file_size is None else int(file_size)
        bad, n_span, in_order, runs, max_off, max_size = _rt.survey(sc, sb, ec, eb, off, size, spec.HEADER_SIZE,
                                                                   file_size)
        if bad >= 0:
            raise FormatError(f"{path}: {what} leaf {bad} names a block at offset {int(off[bad])} "
                              f"of {int(size[bad])} bytes, or an inverted range, outside the file "
                              f"({file_size} bytes)")
        n = sc.size
        if in_order:
            order = np.arange(n, dtype=np.int64)
        else:
            single = np.flatnonzero(sc == ec)
            crossing = np.flatnonzero(sc != ec)
            order = np.concatenate((single[np.lexsort((off[single], sb[single], sc[single]))],
                                    crossing[np.lexsort((off[crossing], sb[crossing], sc[crossing]))]))
            head = sc[order[: single.size]]
            runs = int(np.count_nonzero(head[1:] != head[:-1])) + (1 if single.size else 0)
        n_main = n - n_span
        chrom_id = np.empty(runs, np.int64)
        chrom_ptr = np.empty(runs + 1, np.int64)
        start, end, cm = np.empty(n_main, np.uint32), np.empty(n_main, np.uint32), np.empty(n_main, np.uint32)
        span_ls, span_le, span_cm = np.empty(n_span, np.int64), np.empty(n_span, np.int64), np.empty(n_span, np.int64)
        offset = np.empty(n, np.uint32 if max_off <= U32_MAX else np.uint64)
        sizes = np.empty(n, np.uint32 if max_size <= U32_MAX else np.uint64)
        cm_differs, file_order = _rt.compact(sc, sb, ec, eb, off, size, order, n_main, chrom_id, chrom_ptr,
                                             start, end, cm, span_ls, span_le, span_cm, offset, sizes)
        return cls(chrom_id, chrom_ptr, start, end, cm if cm_differs else end, span_ls, span_le, span_cm,
                   offset, sizes, file_order)


def read_rtree(src: FileSource, offset: int, bo: str, what: str = "R-tree") -> BlockIndex:
    """Read every leaf of the R-tree at ``offset`` into a :class:`BlockIndex`; with
    ``settings.index_cache_dir`` set, from (or into) that directory's entry (:mod:`fastwig.indexcache`)."""
    folder = settings.index_cache_dir
    entry = indexcache.entry_path(os.fspath(folder), src.path, src.ident, offset) if folder else None
    if entry is not None:
        found = indexcache.load(entry)
        if found is not None:
            arrays, file_order = found
            if arrays["cm"].size == 0:
                arrays["cm"] = arrays["end"]
            return BlockIndex(**arrays, file_order=file_order)
    index = _parse_rtree(src, offset, bo, what)
    if entry is not None:
        arrays = {name: getattr(index, name) for name in indexcache.NAMES}
        if index.cm is index.end:
            arrays["cm"] = index.cm[:0]
        indexcache.store(entry, arrays, index.file_order)
    return index


def _parse_rtree(src: FileSource, offset: int, bo: str, what: str) -> BlockIndex:
    hdr = src.struct(offset, spec.rtree_header_dtype(bo), f"{what} header")[0]
    if int(hdr["magic"]) != spec.RTREE_MAGIC:
        raise FormatError(f"{src.path}: bad {what} magic at offset {offset}")
    root = offset + spec.RTREE_HEADER_SIZE
    big = bo == ">"
    # One read of the bytes a tree of itemCount items occupies when its nodes are written level by
    # level after the header, as every writer does; a node found elsewhere sends the walk back to
    # reading node by node.
    span = min(_tree_bytes(int(hdr["itemCount"]), int(hdr["blockSize"])), max(0, src.size - root))
    buf = src.view(root, span, f"{what} nodes")
    status, where, leaf_at, leaf_count = _rt.walk(buf, root, root, big, spec.MAX_TREE_DEPTH)
    if status == _rt.OK:
        n = int(leaf_count.sum())
        fast = _from_sorted_leaves(buf, leaf_at, leaf_count, big, n, src.size)
        if fast is not None:
            return fast
        sc, sb, ec, eb = (np.empty(n, np.uint32) for _ in range(4))
        off, size = np.empty(n, np.uint64), np.empty(n, np.uint64)
        _rt.decode_leaves(buf, leaf_at, leaf_count, big, sc, sb, ec, eb, off, size)
    elif status == _rt.NEEDS_MORE:
        leaves = tree_leaves(src, root, bo, spec.rtree_leaf_dtype(bo), spec.rtree_child_dtype(bo), "dataOffset", what)
        items = np.concatenate(leaves) if leaves else np.zeros(0, spec.rtree_leaf_dtype(bo))
        sc, sb, ec, eb = (items[f] for f in ("startChromIx", "startBase", "endChromIx", "endBase"))
        off, size = items["dataOffset"], items["dataSize"]
    else:
        raise FormatError(f"{src.path}: {what} node at offset {where} is reached twice (a cycle), lies too "
                          "deep or names a child outside the file")
    return BlockIndex.from_items(sc, sb, ec, eb, off, size, path=src.path, what=what, file_size=src.size)


def _from_sorted_leaves(buf, leaf_at, leaf_count, big, n, file_size) -> BlockIndex | None:
    """The index straight from the leaf bytes, when the items are sorted, valid and on one chromosome
    each (every writer's data index); None otherwise."""
    if (leaf_at & 3).any():
        return None
    start, end, size = np.empty(n, np.uint32), np.empty(n, np.uint32), np.empty(n, np.uint32)
    offset = np.empty(n, np.uint32 if file_size <= 1 << 32 else np.uint64)
    words = buf[: buf.size & ~3].view(np.uint32)
    ok, chrom_id, chrom_ptr, cm, file_order = _rt.decode_sorted(words, leaf_at, leaf_count, big, spec.HEADER_SIZE,
                                                              file_size, start, end, offset, size)
    if not ok:
        return None
    none = np.zeros(0, np.int64)
    return BlockIndex(chrom_id, chrom_ptr, start, end, cm if cm.size else end, none, none, none, offset, size,
                      file_order)


def _index_from_leaves(src: FileSource, items: np.ndarray, what: str) -> BlockIndex:
    """The index of leaf items given as a structured array (``spec.rtree_leaf_dtype``)."""
    return BlockIndex.from_items(items["startChromIx"], items["startBase"], items["endChromIx"], items["endBase"],
                                 items["dataOffset"], items["dataSize"], path=src.path, what=what,
                                 file_size=src.size)


def _tree_bytes(item_count: int, block_size: int) -> int:
    """Bytes of a cirTree of ``item_count`` leaf items with nodes of up to ``block_size`` items,
    every node padded to full size (UCSC pads; other writers' trees are smaller)."""
    block_size = max(1, min(block_size, 1 << 16))
    item_count = max(0, min(item_count, 1 << 40))
    leaves = max(1, -(-item_count // block_size))
    total = leaves * (spec.NODE_HEADER_SIZE + block_size * spec.RTREE_LEAF_ITEM_SIZE)
    nodes = leaves
    fanout = max(2, block_size)     # a hostile blockSize of 1 would never reach the root
    while nodes > 1:
        nodes = -(-nodes // fanout)
        total += nodes * (spec.NODE_HEADER_SIZE + block_size * spec.RTREE_CHILD_ITEM_SIZE)
    return total


def tree_leaves(src: FileSource, root: int, bo: str, leaf_dtype: np.dtype, child_dtype: np.dtype,
                child_field: str, what: str) -> list[np.ndarray]:
    """Leaf items of a B+ tree or R-tree whose root node is at ``root``, in stored order.

    Both trees share the node layout (isLeaf, reserved, count, then items).  A node reached twice
    (a cycle) or deeper than ``spec.MAX_TREE_DEPTH`` raises FormatError, so hostile files end.
    """
    node_dtype = spec.node_header_dtype(bo)
    leaves: list[np.ndarray] = []
    seen: set[int] = set()
    stack = [(root, 0)]
    while stack:
        node_offset, depth = stack.pop()
        if node_offset in seen or depth > spec.MAX_TREE_DEPTH:
            raise FormatError(f"{src.path}: {what} node at offset {node_offset} is reached twice "
                              "(a cycle) or lies too deep")
        seen.add(node_offset)
        node = src.struct(node_offset, node_dtype, f"{what} node")[0]
        count = int(node["count"])
        items_at = node_offset + spec.NODE_HEADER_SIZE
        if node["isLeaf"]:
            leaves.append(src.struct(items_at, leaf_dtype, f"{what} leaf", count=count))
        else:
            children = src.struct(items_at, child_dtype, f"{what} node", count=count)
            # pushed in reverse so that leaves come out in stored order
            stack.extend((int(c), depth + 1) for c in children[child_field][::-1])
    return leaves
