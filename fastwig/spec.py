"""Magic numbers, fixed sizes and record dtypes of the BBI (bigWig) format.

Names follow the format description in Kent et al. (2010), "BigWig and BigBed: enabling browsing of
large distributed datasets", Bioinformatics 26(17), supplementary tables.  Every dtype is built for a
byte order: ``"<"`` (little-endian, what every current writer produces) or ``">"`` (big-endian).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

BIGWIG_MAGIC = 0x888FFC26
BIGBED_MAGIC = 0x8789F2EB
CHROM_TREE_MAGIC = 0x78CA8C91
RTREE_MAGIC = 0x2468ACE0

HEADER_SIZE = 64
ZOOM_HEADER_SIZE = 24
TOTAL_SUMMARY_SIZE = 40
CHROM_TREE_HEADER_SIZE = 32
RTREE_HEADER_SIZE = 48
NODE_HEADER_SIZE = 4          # isLeaf u8, reserved u8, count u16
RTREE_LEAF_ITEM_SIZE = 32
RTREE_CHILD_ITEM_SIZE = 24
ZOOM_RECORD_SIZE = 32

MAX_TREE_DEPTH = 64           # deeper trees are rejected (a cycle, or garbage)


@lru_cache(maxsize=None)
def header_dtype(bo: str) -> np.dtype:
    """The 64-byte common header."""
    return np.dtype([
        ("magic", bo + "u4"), ("version", bo + "u2"), ("zoomLevels", bo + "u2"),
        ("chromTreeOffset", bo + "u8"), ("fullDataOffset", bo + "u8"), ("fullIndexOffset", bo + "u8"),
        ("fieldCount", bo + "u2"), ("definedFieldCount", bo + "u2"), ("autoSqlOffset", bo + "u8"),
        ("totalSummaryOffset", bo + "u8"), ("uncompressBufSize", bo + "u4"), ("extensionOffset", bo + "u8"),
    ])


@lru_cache(maxsize=None)
def zoom_header_dtype(bo: str) -> np.dtype:
    """One zoom-level header (24 bytes), following the common header."""
    return np.dtype([("reductionLevel", bo + "u4"), ("reserved", bo + "u4"),
                     ("dataOffset", bo + "u8"), ("indexOffset", bo + "u8")])


@lru_cache(maxsize=None)
def total_summary_dtype(bo: str) -> np.dtype:
    """The total summary (40 bytes), version 2 and later."""
    return np.dtype([("basesCovered", bo + "u8"), ("minVal", bo + "f8"), ("maxVal", bo + "f8"),
                     ("sumData", bo + "f8"), ("sumSquares", bo + "f8")])


@lru_cache(maxsize=None)
def extension_header_dtype(bo: str) -> np.dtype:
    """The start of the extension header (version 4)."""
    return np.dtype([("extensionSize", bo + "u2"), ("extraIndexCount", bo + "u2"),
                     ("extraIndexListOffset", bo + "u8")])


@lru_cache(maxsize=None)
def chrom_tree_header_dtype(bo: str) -> np.dtype:
    """The chromosome B+ tree header (32 bytes)."""
    return np.dtype([("magic", bo + "u4"), ("blockSize", bo + "u4"), ("keySize", bo + "u4"),
                     ("valSize", bo + "u4"), ("itemCount", bo + "u8"), ("reserved", bo + "u8")])


@lru_cache(maxsize=None)
def rtree_header_dtype(bo: str) -> np.dtype:
    """The R-tree (cirTree) header (48 bytes)."""
    return np.dtype([("magic", bo + "u4"), ("blockSize", bo + "u4"), ("itemCount", bo + "u8"),
                     ("startChromIx", bo + "u4"), ("startBase", bo + "u4"), ("endChromIx", bo + "u4"),
                     ("endBase", bo + "u4"), ("endFileOffset", bo + "u8"), ("itemsPerSlot", bo + "u4"),
                     ("reserved", bo + "u4")])


@lru_cache(maxsize=None)
def node_header_dtype(bo: str) -> np.dtype:
    """The header of a B+ tree or R-tree node."""
    return np.dtype([("isLeaf", "u1"), ("reserved", "u1"), ("count", bo + "u2")])


@lru_cache(maxsize=None)
def rtree_leaf_dtype(bo: str) -> np.dtype:
    """An R-tree leaf item: one data block and its bounding range."""
    return np.dtype([("startChromIx", bo + "u4"), ("startBase", bo + "u4"), ("endChromIx", bo + "u4"),
                     ("endBase", bo + "u4"), ("dataOffset", bo + "u8"), ("dataSize", bo + "u8")])


@lru_cache(maxsize=None)
def rtree_child_dtype(bo: str) -> np.dtype:
    """An R-tree non-leaf item: a child node and its bounding range."""
    return np.dtype([("startChromIx", bo + "u4"), ("startBase", bo + "u4"), ("endChromIx", bo + "u4"),
                     ("endBase", bo + "u4"), ("dataOffset", bo + "u8")])


@lru_cache(maxsize=None)
def zoom_record_dtype(bo: str) -> np.dtype:
    """A zoom-level summary record (32 bytes)."""
    return np.dtype([("chromId", bo + "u4"), ("chromStart", bo + "u4"), ("chromEnd", bo + "u4"),
                     ("validCount", bo + "u4"), ("minVal", bo + "f4"), ("maxVal", bo + "f4"),
                     ("sumData", bo + "f4"), ("sumSquares", bo + "f4")])
