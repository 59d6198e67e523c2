"""The R-tree (cirTree) index of data blocks, read once into flat sorted arrays.

A leaf item names one data block and the genomic range it covers, from (startChromIx, startBase) to
(endChromIx, endBase).  Ranges are kept as *linear* coordinates ``chromIx * 2**32 + base`` (int64),
so a block spanning several chromosomes needs no special case and a window query is two
``searchsorted`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import spec
from .errors import FormatError
from .io import FileSource

CHROM_SHIFT = 32


@dataclass
class BlockIndex:
    """Every data block of one R-tree, sorted by linear start (ties in file order).

    Attributes
    ----------
    lstart, lend : numpy.ndarray
        int64 (n,), linear start and end of each block's range (``chromIx << 32 | base``).
    offset, size : numpy.ndarray
        int64 (n,), where the block's bytes lie in the file.
    lend_cummax : numpy.ndarray
        int64 (n,), running maximum of ``lend`` (blocks may overlap: the query uses this).
    file_order : bool
        True when sorting by start kept the blocks in file order, so blocks found for a window are
        already in the order in which later ones win.
    single_chrom : numpy.ndarray
        bool (n,), the block's range lies on one chromosome (early exit needs that).
    """

    lstart: np.ndarray
    lend: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    lend_cummax: np.ndarray
    file_order: bool
    single_chrom: np.ndarray

    @property
    def table(self) -> np.ndarray:
        """int64 (5, n): rows lstart, lend, lend_cummax, offset, single_chrom (what the planner reads)."""
        return self._table

    def __len__(self) -> int:
        return self.lstart.size

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.lstart, self.lend, self.offset, self.size, self.lend_cummax))

    def overlapping(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blocks overlapping each query range ``[lo[i], hi[i])`` (linear coordinates).

        Returns
        -------
        ptr : numpy.ndarray
            int64 (m + 1,), CSR pointers: query i owns ``blocks[ptr[i]:ptr[i+1]]``.
        blocks : numpy.ndarray
            int64, block numbers (rows of this index), in file order within each query.
        """
        first = np.searchsorted(self.lend_cummax, lo, side="right")
        last = np.searchsorted(self.lstart, hi, side="left")
        counts = np.maximum(last - first, 0)
        ptr = np.zeros(lo.size + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        total = int(ptr[-1])
        if total == 0:
            return ptr, np.zeros(0, np.int64)
        query = np.repeat(np.arange(lo.size), counts)
        blocks = np.arange(total, dtype=np.int64) - np.repeat(ptr[:-1] - first, counts)
        keep = (self.lend[blocks] > lo[query]) & (self.lstart[blocks] < hi[query])
        if not keep.all():
            query, blocks = query[keep], blocks[keep]
            ptr = np.zeros(lo.size + 1, dtype=np.int64)
            np.cumsum(np.bincount(query, minlength=lo.size), out=ptr[1:])
        if not self.file_order:
            order = np.lexsort((self.offset[blocks], query))
            blocks = blocks[order]
        return ptr, blocks


def read_rtree(src: FileSource, offset: int, bo: str, what: str = "R-tree") -> BlockIndex:
    """Read every leaf of the R-tree at ``offset`` into a :class:`BlockIndex`."""
    hdr = src.struct(offset, spec.rtree_header_dtype(bo), f"{what} header")[0]
    if int(hdr["magic"]) != spec.RTREE_MAGIC:
        raise FormatError(f"{src.path}: bad {what} magic at offset {offset}")
    leaf_dtype = spec.rtree_leaf_dtype(bo)
    leaves = tree_leaves(src, offset + spec.RTREE_HEADER_SIZE, bo, leaf_dtype, spec.rtree_child_dtype(bo),
                         "dataOffset", what)
    # joined as bytes: concatenating structured arrays promotes their fields, several times slower
    items = np.concatenate([leaf.view(np.uint8) for leaf in leaves]).view(leaf_dtype) if leaves \
        else np.zeros(0, leaf_dtype)
    return _index_from_leaves(src, items, what)


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


def _index_from_leaves(src: FileSource, items: np.ndarray, what: str) -> BlockIndex:
    shift = np.int64(CHROM_SHIFT)
    lstart = (items["startChromIx"].astype(np.int64) << shift) | items["startBase"].astype(np.int64)
    lend = (items["endChromIx"].astype(np.int64) << shift) | items["endBase"].astype(np.int64)
    offset = items["dataOffset"].astype(np.int64)
    size = items["dataSize"].astype(np.int64)
    # in uint64, so that no sum overflows (an int64 offset + size of 2**63 - 1 wraps negative)
    raw_offset = items["dataOffset"].astype(np.uint64)
    raw_size = items["dataSize"].astype(np.uint64)
    file_size = np.uint64(src.size)
    bad = (lend < lstart) | (raw_offset < spec.HEADER_SIZE) | (raw_size == 0) | (raw_offset > file_size) \
        | (raw_size > file_size - np.minimum(raw_offset, file_size))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{src.path}: {what} leaf {i} names a block at offset {int(items['dataOffset'][i])} "
                          f"of {int(items['dataSize'][i])} bytes, or an inverted range, outside the file "
                          f"({src.size} bytes)")
    order = np.lexsort((offset, lstart))
    table = np.empty((5, order.size), dtype=np.int64)
    table[0], table[1], table[3] = lstart[order], lend[order], offset[order]
    if order.size:
        np.maximum.accumulate(table[1], out=table[2])
    table[4] = (table[0] >> CHROM_SHIFT) == (table[1] >> CHROM_SHIFT)
    file_order = bool(np.all(np.diff(table[3]) >= 0))
    index = BlockIndex(table[0], table[1], table[3], size[order], table[2], file_order, table[4])
    index._table = table
    return index
