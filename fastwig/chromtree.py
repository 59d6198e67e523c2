"""The chromosome B+ tree: chromosome names, ids and sizes.

Keys may be stored in any order (some writers do not sort them), so the whole tree is read into a
dict once; nothing searches the tree on disk.
"""

from __future__ import annotations

import numpy as np

from . import spec
from .errors import FormatError
from .io import FileSource
from .rtree import tree_leaves


def read_chrom_tree(src: FileSource, offset: int, bo: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read every leaf of the chromosome tree at ``offset``.

    Returns
    -------
    names : list of str
        Chromosome names in the order the leaves store them.
    ids : numpy.ndarray
        int64 (n,), the chromId of each name (what data sections and R-tree items refer to).
    sizes : numpy.ndarray
        int64 (n,), chromosome lengths.
    """
    hdr = src.struct(offset, spec.chrom_tree_header_dtype(bo), "chromosome tree header")[0]
    if int(hdr["magic"]) != spec.CHROM_TREE_MAGIC:
        raise FormatError(f"{src.path}: bad chromosome tree magic at offset {offset}")
    key_size, val_size = int(hdr["keySize"]), int(hdr["valSize"])
    if key_size == 0 or key_size > 4096 or val_size != 8:
        raise FormatError(f"{src.path}: chromosome tree with keySize={key_size}, valSize={val_size}")
    leaf_dtype = np.dtype([("key", f"S{key_size}"), ("chromId", bo + "u4"), ("chromSize", bo + "u4")])
    child_dtype = np.dtype([("key", f"S{key_size}"), ("childOffset", bo + "u8")])

    leaves = tree_leaves(src, offset + spec.CHROM_TREE_HEADER_SIZE, bo, leaf_dtype, child_dtype, "childOffset",
                         "chromosome tree")
    names = [_decode_key(k, src.path) for items in leaves for k in items["key"]]
    ids = [items["chromId"].astype(np.int64) for items in leaves]
    sizes = [items["chromSize"].astype(np.int64) for items in leaves]
    id_arr = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    size_arr = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    if len(set(names)) != len(names):
        raise FormatError(f"{src.path}: chromosome tree repeats a name")
    return names, id_arr, size_arr


def _decode_key(key: bytes, path: str) -> str:
    try:
        return key.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: chromosome name {bytes(key)!r} is not ASCII (corrupt chromosome tree)") from None
