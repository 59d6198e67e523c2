"""What a bigWig and a bigBed file share: the common header, zoom headers, total summary, the
chromosome B+ tree and the R-tree of data blocks, read once at open; open, close and pickling.

:class:`BbiFile` is the base of :class:`~fastwig.BigWig` and :class:`~fastwig.BigBed`, which add
what their records hold; :func:`open` picks the class by the file's magic number.
"""

from __future__ import annotations

import os
import zlib

import numpy as np

from . import spec
from .cache import FileCacheState, cache
from .chromalias import resolve as resolve_alias
from .chromtree import read_chrom_tree
from .errors import ChromNotFound, FastwigError, FormatError, RangeError
from .header import Header, Summary, ZoomLevel, read_extension, read_header, read_summary, read_zoom_levels
from .io import FileSource, fd_pool
from .rtree import BlockIndex, _index_from_leaves, read_rtree


class BbiFile:
    """A BBI file (bigWig or bigBed) opened for reading; subclasses set :attr:`MAGIC` and extend
    :meth:`_load`.

    The header, chromosome tree and R-tree index are read once, at open, into flat arrays; later reads
    use ``pread`` through a small shared pool of descriptors (``fastwig.io.fd_pool``), so an open object
    holds no descriptor, and a file that changes under it raises FormatError, never a fault.  Usable as
    a context manager and picklable (the pickle holds the path; the copy reopens the file).

    Attributes
    ----------
    path : str
    header : Header
        The common header's fields.
    chroms : dict[str, int]
        Chromosome name -> length, in the file's order.
    zooms : list[ZoomLevel]
        Zoom (reduction) levels, finest first as stored.
    """

    MAGIC = spec.BIGWIG_MAGIC
    #: How names this file lacks are looked up (:func:`fastwig.chromalias.resolve`); None follows
    #: ``fastwig.settings.chrom_aliases``; set it on one object to differ (False: exact names only).
    chrom_aliases = None

    def __init__(self, path: str | os.PathLike, *, aliases=None):
        self.path = os.fspath(path)
        if aliases is not None:     # else the class's None: follow fastwig.settings.chrom_aliases
            self.chrom_aliases = aliases
        self._ids_memo: tuple | None = None    # (names, ids, lengths) of the last _chrom_ids call
        self._src = FileSource(self.path)
        try:
            with self._src.reading_ahead():     # trees are parsed node by node: read them in chunks
                self._load()
            self._src.detach()                  # later reads lease a descriptor from the pool
        except FastwigError:
            self._src.close()
            raise
        except (ValueError, IndexError, OverflowError, TypeError) as exc:
            self._src.close()
            raise FormatError(f"{self.path}: corrupt {type(self).__name__} file ({exc})") from exc

    def _load(self) -> None:
        src = self._src
        self.header: Header = read_header(src, self.MAGIC)
        bo = self.header.byte_order
        self.zooms: list[ZoomLevel] = read_zoom_levels(src, self.header)
        self._summary: Summary | None = read_summary(src, self.header)
        self.extension = read_extension(src, self.header)
        names, ids, sizes = read_chrom_tree(src, self.header.chromTreeOffset, bo)
        if ids.size and (ids.max() >= 1 << 31):
            raise FormatError(f"{self.path}: chromosome id {int(ids.max())} out of range")
        self.chroms: dict[str, int] = {name: int(size) for name, size in zip(names, sizes)}
        self._chrom_id: dict[str, int] = {name: int(i) for name, i in zip(names, ids)}
        if self.header.fullIndexOffset == 0:   # libBigWig's file with chromosomes and no data
            self._index: BlockIndex = _index_from_leaves(src, np.zeros(0, spec.rtree_leaf_dtype(bo)), "R-tree")
        else:
            self._index = read_rtree(src, self.header.fullIndexOffset, bo)
        self._cache_state = FileCacheState(len(self._index))
        self._zoom_index: dict[int, BlockIndex] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the file's descriptor.  Reads after close raise FastwigError."""
        self._src.close()
        with cache.lock:            # data reads use pooled descriptors under this lock: none is in use
            fd_pool.forget(self.path)
        self._closed = True

    def __getstate__(self) -> dict:
        state = {"path": self.path}
        if "chrom_aliases" in self.__dict__:
            state["chrom_aliases"] = self.chrom_aliases
        return state

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["path"])
        if "chrom_aliases" in state:
            self.chrom_aliases = state["chrom_aliases"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {len(self.chroms)} chroms, {len(self._index)} blocks)"

    @property
    def index_nbytes(self) -> int:
        """Bytes of the block indexes this open file holds (the data index, and zoom-level indexes
        once read): every per-file table that reads need.  The block cache keeps its own table,
        sized by the blocks it holds, not by the open files."""
        return self._index.nbytes + sum(ix.nbytes for ix in self._zoom_index.values())

    @property
    def summary(self) -> Summary:
        """Total summary over all data (see the subclass for what it sums).

        Files of version 1 store none; it is then computed from the data once.
        """
        if self._summary is None:
            self._summary = self._compute_summary()
        return self._summary

    def _compute_summary(self) -> Summary:
        raise NotImplementedError

    def _inflate_block(self, raw: bytes, offset: int, what: str) -> bytes:
        """A block's zlib stream (``what``: "data block", "zoom block") inflated to at most
        ``uncompressBufSize`` bytes: a larger one, a zip bomb, raises instead of filling memory
        (``zlib.decompress``'s bufsize is no limit)."""
        limit = self.header.uncompressBufSize
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise FormatError(f"{self.path}: {what} at offset {offset}: {exc}") from exc
        if len(out) > limit:
            raise FormatError(f"{self.path}: {what} at offset {offset} inflates past the header's "
                              f"uncompressBufSize ({limit} bytes)")
        if not inflater.eof:
            raise FormatError(f"{self.path}: {what} at offset {offset}: compressed stream ends early "
                              "(truncated or corrupt)")
        return out

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise FastwigError(f"{self.path}: file is closed")

    def _chrom_name(self, chrom: str, aliases=None) -> str | None:
        """The file's name of ``chrom``: itself, else an alias (:mod:`fastwig.chromalias`; by ``aliases``,
        else :attr:`chrom_aliases`), else None."""
        try:
            if chrom in self._chrom_id:
                return chrom
        except TypeError:
            return None
        return resolve_alias(chrom, self._chrom_id, self.path, self.chrom_aliases if aliases is None else aliases)

    def _chrom_ids(self, names: tuple[str, ...], aliases=None) -> tuple[np.ndarray, np.ndarray, bool]:
        """int64 chromIds (-1: absent) and lengths (0: absent) of a batch's distinct chromosome ``names``,
        and whether every name is the file's own.

        When every name is the file's own, the answer is kept for the next call with the same names (an
        epoch asks for the same few names again and again); an answer through an alias is not kept,
        since the alias rules follow a setting that may change.
        """
        memo = self._ids_memo
        if memo is not None and memo[0] == names:
            return memo[1], memo[2], True
        found = [self._chrom_name(name, aliases) for name in names]
        ids = np.array([self._chrom_id.get(f, -1) for f in found], dtype=np.int64)
        lens = np.array([self.chroms.get(f, 0) for f in found], dtype=np.int64)
        exact = found == list(names)
        if exact:
            self._ids_memo = (names, ids, lens)
        return ids, lens, exact

    def _resolve(self, chrom: str, start: int, end: int | None) -> tuple[int, int, int]:
        """(chromId, start, end) of a checked query range; ``end`` None is the chromosome's end."""
        self._check_open()
        name = self._chrom_name(chrom)
        if name is None:
            raise ChromNotFound(f"{self.path}: no chromosome {chrom!r} in this file")
        cid = self._chrom_id[name]
        size = self.chroms[name]
        end = size if end is None else end
        try:
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            raise RangeError(f"{self.path}: start/end must be integers, got {start!r}, {end!r}") from None
        if not 0 <= start <= end <= size:
            raise RangeError(f"{self.path}: range {chrom}:{start}-{end} is outside [0, {size}] "
                             "or inverted")
        return cid, start, end


def is_bigbed(head: bytes) -> bool:
    """Whether a file's first bytes are a bigBed's magic number (either byte order)."""
    return len(head) >= 4 and spec.BIGBED_MAGIC in (int.from_bytes(head[:4], "little"),
                                                     int.from_bytes(head[:4], "big"))
