"""An on-disk cache of parsed block indexes, used only when the user names a directory for it.

Opening a file parses its R-tree (about 1 ms per 100,000 blocks) into arrays the process holds
privately (16 bytes per block).  Every spawned DataLoader worker opens every track again: with
thousands of genome-scale tracks, that is seconds of parsing and gigabytes of identical arrays per
worker.  With ``fastwig.settings.index_cache_dir`` set (environment ``FASTWIG_INDEX_CACHE``), the
first process that opens a file writes its parsed index to that directory as one flat file; every
later open, in any process, maps that file read-only instead of parsing, and all processes share
its pages through the page cache.  Without the setting nothing is written anywhere.

An entry is named by a hash of the bigWig's absolute path, device, inode, size and modification
time, the tree's offset and this module's format version: a file rewritten or replaced gets a new
entry (old entries are left for the user to delete).  Entries are written to a temporary file and
renamed into place, never rewritten in place, so a map of an entry never sees it truncated.  An
entry that does not parse or does not match the arrays' rules is ignored (and written again).

Layout: ``MAGIC``, a uint64 header length, a JSON header (``file_order`` and, per array, its name,
dtype, length and byte offset), then the arrays, each at a 64-byte aligned offset.  ``cm`` is stored
empty where it is the same array as ``end``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import warnings

import numpy as np

MAGIC = b"FWIDX002"
ALIGN = 64
NAMES = ("chrom_id", "chrom_ptr", "start", "end", "cm", "span_ls", "span_le", "span_cm", "offset", "size")
DTYPES = {"chrom_id": ("<i8",), "chrom_ptr": ("<i8",), "start": ("<u4",), "end": ("<u4",), "cm": ("<u4",),
          "span_ls": ("<i8",), "span_le": ("<i8",), "span_cm": ("<i8",), "offset": ("<u4", "<u8"),
          "size": ("<u4", "<u8")}
_warned: set[str] = set()


def entry_path(folder: str, path: str, ident: tuple, tree_offset: int) -> str:
    """The entry of the tree at ``tree_offset`` of file ``path`` whose identity is ``ident``
    (device, inode, size, mtime in ns)."""
    key = json.dumps([MAGIC.decode(), os.path.abspath(path), *map(int, ident), int(tree_offset)])
    return os.path.join(folder, hashlib.sha1(key.encode()).hexdigest() + ".fwidx")


def load(entry: str) -> tuple[dict[str, np.ndarray], bool] | None:
    """(arrays by name, file_order) of an entry, mapped read-only; None if it is absent or invalid."""
    try:
        raw = np.memmap(entry, dtype=np.uint8, mode="r")
    except (OSError, ValueError):
        return None
    try:
        if raw.size < 16 or bytes(raw[:8]) != MAGIC:
            return None
        (hlen,) = struct.unpack("<Q", bytes(raw[8:16]))
        if hlen > raw.size - 16:
            return None
        header = json.loads(bytes(raw[16:16 + hlen]).decode())
        arrays = {}
        for name, dtype, count, at in header["arrays"]:
            if name not in DTYPES or dtype not in DTYPES[name] or count < 0 or at % ALIGN:
                return None
            width = np.dtype(dtype).itemsize
            if at < 16 + hlen or at + count * width > raw.size:
                return None
            arrays[name] = np.frombuffer(raw, dtype=np.dtype(dtype), count=count, offset=at)
        return (arrays, bool(header["file_order"])) if _consistent(arrays) else None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _consistent(a: dict[str, np.ndarray]) -> bool:
    """The rules the planner relies on to stay inside the arrays."""
    if set(a) != set(NAMES):
        return False
    n_main, n_span = a["start"].size, a["span_ls"].size
    ptr = a["chrom_ptr"]
    return (a["end"].size == n_main and a["cm"].size in (0, n_main) and a["span_le"].size == a["span_cm"].size == n_span
            and a["offset"].size == a["size"].size == n_main + n_span and ptr.size == a["chrom_id"].size + 1
            and ptr[0] == 0 and ptr[-1] == n_main and bool(np.all(np.diff(ptr) >= 0)))


def store(entry: str, arrays: dict[str, np.ndarray], file_order: bool) -> None:
    """Write an entry (to a temporary file in its folder, renamed into place).  A folder that cannot
    be written to is reported once, as a warning, and the open goes on without the cache."""
    folder = os.path.dirname(entry)
    specs, at = [], 0
    for name in NAMES:
        a = np.ascontiguousarray(arrays[name]).astype(np.dtype(arrays[name].dtype).newbyteorder("<"), copy=False)
        arrays[name] = a
        specs.append([name, a.dtype.str, int(a.size), at])
        at += -(-a.nbytes // ALIGN) * ALIGN
    # the header's length depends on the offsets: reserve room, then shift the offsets past it
    header = json.dumps({"file_order": bool(file_order), "arrays": specs})
    base = -(-(16 + len(header) + 256) // ALIGN) * ALIGN
    for s in specs:
        s[3] += base
    header = json.dumps({"file_order": bool(file_order), "arrays": specs}).encode()
    assert 16 + len(header) <= base
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".fwidx")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + struct.pack("<Q", len(header)) + header)
                for (name, _, _, offset) in specs:
                    f.write(b"\0" * (offset - f.tell()))
                    f.write(arrays[name].tobytes())
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        if folder not in _warned:
            _warned.add(folder)
            warnings.warn(f"fastwig: the index cache {folder!r} cannot be written ({exc}); indexes are parsed "
                          "at every open", RuntimeWarning, stacklevel=4)
