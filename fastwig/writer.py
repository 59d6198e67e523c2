"""The public bigWig writer, :class:`BigWigWriter`: records -> sections -> zoom levels -> file.

Records come in as numpy arrays (no Python object per record): ``add_intervals`` makes bedGraph
sections, ``add_values`` fixedStep sections (step = span: binned predictions).  Each full block of
``items_per_slot`` records is encoded at once and handed to a thread pool to deflate; both deflaters
release the GIL while they work, so compression runs on every core while the caller adds more records.

Deflate is the cost of writing, so which one is a measured choice.  On bedGraph blocks of the standard
workload (12,312 bytes raw; a busy 2-core machine, so absolute figures are low), per core: zlib level
6 8 MB/s to 42% of the raw size, zlib level 1 37 MB/s to 41%, ISA-L level 2 114 MB/s to 42%,
libdeflate level 6 45 MB/s to 40% (pybigtools' deflater; the ``deflate`` wheel holds the GIL).  ISA-L
(``isal``, a wheel) is used when installed, zlib otherwise; ``compressor=`` chooses.

The file is laid out as UCSC's bedGraphToBigWig lays it out (version 4, chromosome B+ tree before the
data, data R-tree with one block per leaf item, ``zoom_levels`` reserved zoom header slots), and the
zoom levels and total summary are made as it makes them (:mod:`kernels.zoom`): the first level's
reduction is the first of ``max(mean record span, 10) * 4**k`` whose summaries take at most half the
bytes of the compressed data; each further level merges the summaries of the one before into ones of
at most 4 times its reduction, until a level would not shrink (or ``zoom_levels`` are made).

:func:`write_bigwig` and friends, re-exported here, are the conformance writer of
:mod:`fastwig.bbi_writer` (every variant of the format, for tests).
"""

from __future__ import annotations

import functools
import itertools
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .bbi_writer import (
    BIGWIG_MAGIC,
    BPT_MAGIC,
    CIRTREE_MAGIC,
    BedGraph,
    FixedStep,
    VarStep,
    _bpt,
    _rtree,
    bigwig_from_arrays,
    write_bigwig,
)
from .config import resolve_threads
from .errors import ChromNotFound, FastwigError, RangeError
from .kernels import zoom as _zoom

__all__ = [
    "BIGWIG_MAGIC",
    "BPT_MAGIC",
    "CIRTREE_MAGIC",
    "BedGraph",
    "BigWigWriter",
    "FixedStep",
    "VarStep",
    "bigwig_from_arrays",
    "write_bigwig",
]

_U32_MAX = 2**32 - 1
_BEDGRAPH, _FIXEDSTEP = 1, 3
_ZOOM_INCREMENT = 4                 # UCSC's bbiResIncrement
_MIN_ZOOM = 10                      # smallest first reduction UCSC tries
_SUMMARY_BYTES = 32                 # one zoom record on disk
_BLOCKS_PER_TASK = 16               # data blocks deflated by one pool task
_RECORD = np.dtype([("s", "<u4"), ("e", "<u4"), ("v", "<f4")])
_ZOOM_RECORD = np.dtype([("cid", "<u4"), ("s", "<u4"), ("e", "<u4"), ("n", "<u4"), ("min", "<f4"),
                         ("max", "<f4"), ("sum", "<f4"), ("ssq", "<f4")])


class BigWigWriter:
    """Write a bigWig file from numpy arrays (a context manager: the file is complete on exit).

    Parameters
    ----------
    path : str or os.PathLike
        Output file, overwritten.  If the ``with`` block raises, the incomplete file is removed.
    chroms : dict of str to int, or sequence of (str, int)
        Chromosome names and sizes; chromosome ids follow this order.
    zoom_levels : int
        At most this many zoom levels (UCSC writes up to 10); 0 writes none.
    items_per_slot : int
        Records per data block, and zoom records per zoom block (UCSC's ``-itemsPerSlot``, 1 to 65535).
    block_size : int
        ``blockSize`` of the R-trees and (capped at the number of chromosomes) of the chromosome tree.
    compress_level : int
        zlib level, 0 to 9 (6 is zlib's default and UCSC's).
    compressor : {"auto", "isal", "zlib"}
        The deflate implementation: "auto" takes ISA-L (the ``isal`` package, the ``write`` extra) when
        it is installed, else the standard library's zlib.  Both write zlib streams every reader
        takes; ISA-L has levels 1 to 3 only, and ``compress_level`` 1-3, 4-6, 7-9 map to them (its
        level 2 packs bedGraph blocks as tightly as zlib's 6, several times faster; see the module
        docstring).
    threads : int, optional
        Compression threads (default: ``fastwig.settings.threads``, else every core).

    Notes
    -----
    Records of a chromosome must come in order: each starts at or after the end of the one before it
    on that chromosome (across calls too), and ends after it starts, within the chromosome.  The first
    record out of order raises :class:`~fastwig.RangeError` naming it.  Chromosomes may come in any
    order, and be interleaved.  NaN values leave gaps.  Values are stored as float32.

    Examples
    --------
    >>> with fastwig.BigWigWriter("pred.bw", {"chr1": 248_956_422}) as w:   # doctest: +SKIP
    ...     w.add_values("chr1", 0, predictions, span=128)
    """

    def __init__(self, path: str | os.PathLike, chroms: Mapping[str, int] | Sequence[tuple[str, int]], *,
                 zoom_levels: int = 10, items_per_slot: int = 1024, block_size: int = 256,
                 compress_level: int = 6, compressor: str = "auto", threads: int | None = None):
        self.path = os.fspath(path)
        pairs: list[tuple[str, int]] = list(chroms.items()) if isinstance(chroms, Mapping) else \
            [(name, size) for name, size in chroms]
        if not 1 <= items_per_slot <= 65535:
            raise RangeError(f"{self.path}: items_per_slot must lie in [1, 65535], got {items_per_slot}")
        if block_size < 2:
            raise RangeError(f"{self.path}: block_size must be at least 2, got {block_size}")
        if not 0 <= zoom_levels <= 65535 or not 0 <= compress_level <= 9:
            raise RangeError(f"{self.path}: zoom_levels must lie in [0, 65535] and compress_level in [0, 9]")
        self._ids: dict[str, int] = {}
        for name, size in pairs:
            if not isinstance(name, str) or not name or "\0" in name or name in self._ids:
                raise RangeError(f"{self.path}: chromosome name {name!r} is empty, not a string or repeated")
            if not 0 <= int(size) <= _U32_MAX:
                raise RangeError(f"{self.path}: chromosome {name!r} size {size} does not fit 32 bits")
            self._ids[name] = len(self._ids)
        self.chroms: dict[str, int] = {name: int(size) for name, size in pairs}
        self._sizes = np.array([int(s) for _, s in pairs], dtype=np.int64)
        self.zoom_levels, self.items_per_slot, self.block_size = zoom_levels, items_per_slot, block_size
        self.compress_level = compress_level
        self._deflate, self.compressor = _deflater(compress_level, compressor, self.path)
        self._last_end = np.zeros(len(pairs), dtype=np.int64)     # end of each chromosome's last record
        self._records: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # (cid, starts, ends, values)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # bedGraph not yet in a block
        self._pending_cid, self._pending_n = -1, 0
        self._blocks: list[tuple[int, int, int, Future, int]] = []  # (cid, start, end, task, index in it)
        self._batch: list[tuple[int, int, int, bytes]] = []         # blocks not yet handed to the pool
        self._max_raw = 0
        self.threads = resolve_threads(threads)
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fastwig-write")
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115 - written across calls, closed by close()
        except OSError as exc:
            self._pool.shutdown()
            raise FastwigError(f"{self.path}: cannot write: {exc.strerror}") from exc
        self._closed = False

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> BigWigWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def _abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.shutdown(cancel_futures=True)
            self._file.close()
            try:
                os.remove(self.path)
            except OSError:
                pass

    # -- records -------------------------------------------------------------------------------
    def add_intervals(self, chrom, starts, ends, values) -> None:
        """Add bedGraph records ``[starts[i], ends[i])`` with ``values[i]`` on ``chrom``.

        Parameters
        ----------
        chrom : str, or array_like of str, shape (n,)
            The chromosome of every record, or of each (a bedGraph table's column: each run of one
            name is added in turn, so "record i" in an error counts from the start of its run).
        starts, ends : array_like of int, shape (n,)
        values : array_like of float, shape (n,)
            Stored as float32; a NaN record is left out.
        """
        if not isinstance(chrom, str):
            names = np.asarray(chrom).ravel()
            starts, ends, values = (np.asarray(a).ravel() for a in (starts, ends, values))
            if names.size != starts.size:
                raise RangeError(f"{self.path}: {names.size} chromosome names for {starts.size} records")
            cuts = [0, *(np.flatnonzero(names[1:] != names[:-1]) + 1).tolist(), names.size]
            for a, b in itertools.pairwise(cuts):
                self.add_intervals(str(names[a]), starts[a:b], ends[a:b], values[a:b])
            return
        cid = self._chrom(chrom)
        starts = np.asarray(starts, dtype=np.int64).ravel()
        ends = np.asarray(ends, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float32).ravel()
        if not starts.size == ends.size == values.size:
            raise RangeError(f"{self.path}: {chrom}: starts, ends and values differ in length "
                             f"({starts.size}, {ends.size}, {values.size})")
        self._check_order(chrom, cid, starts, ends)
        keep = ~np.isnan(values)
        if not keep.all():
            starts, ends, values = starts[keep], ends[keep], values[keep]
        if starts.size:
            self._add_bedgraph(cid, starts, ends, values)

    def add_values(self, chrom: str, start: int, values, span: int = 1) -> None:
        """Add values of consecutive ``span``-base steps from ``start`` on ``chrom`` (fixedStep sections,
        step = span): value ``i`` covers ``[start + i*span, start + (i+1)*span)``, the last one cut at
        the chromosome's end.  NaN leaves a gap.

        Parameters
        ----------
        start : int
        values : array_like of float, shape (n,)
        span : int
        """
        cid = self._chrom(chrom)
        values = np.asarray(values, dtype=np.float32).ravel()
        start, span = int(start), int(span)
        if not 1 <= span <= _U32_MAX:
            raise RangeError(f"{self.path}: {chrom}: span must lie in [1, 2**32 - 1], got {span}")
        if values.size == 0:
            return
        size = self.chroms[chrom]
        room = -(-(size - start) // span) if 0 <= start < size else 0
        if values.size > room:
            raise RangeError(f"{self.path}: {chrom}: {values.size} values of {span} bases from {start} run past "
                             f"the chromosome's end ({size}): at most {room} fit")
        starts = start + span * np.arange(values.size, dtype=np.int64)
        ends = np.minimum(starts + span, size)
        self._check_order(chrom, cid, starts, ends)
        self._flush_pending()
        # runs of non-NaN values, each a fixedStep section; the last value when cut short is a bedGraph
        full = values.size if ends[-1] - starts[-1] == span else values.size - 1
        ok = ~np.isnan(values[:full])
        edges = np.flatnonzero(np.diff(np.concatenate([[False], ok, [False]]).astype(np.int8)))
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            for lo in range(a, b, self.items_per_slot):
                hi = min(b, lo + self.items_per_slot)
                head = struct.pack("<IIIIIBBH", cid, int(starts[lo]), int(ends[hi - 1]), span, span, _FIXEDSTEP,
                                   0, hi - lo)
                self._submit(cid, int(starts[lo]), int(ends[hi - 1]), head + values[lo:hi].astype("<f4").tobytes())
            self._records.append((cid, starts[a:b], ends[a:b], values[a:b]))
        if full < values.size and not np.isnan(values[-1]):
            self._add_bedgraph(cid, starts[-1:], ends[-1:], values[-1:])

    def _chrom(self, chrom: str) -> int:
        if self._closed:
            raise FastwigError(f"{self.path}: the writer is closed")
        try:
            return self._ids[chrom]
        except (KeyError, TypeError):
            raise ChromNotFound(f"{self.path}: chromosome {chrom!r} is not among the writer's chroms") from None

    def _check_order(self, chrom: str, cid: int, starts: np.ndarray, ends: np.ndarray) -> None:
        """Each record inside the chromosome, not empty, and starting at or after the previous end."""
        if starts.size == 0:
            return
        prev_end = np.empty_like(ends)
        prev_end[0] = self._last_end[cid]
        prev_end[1:] = ends[:-1]
        bad = (starts < prev_end) | (ends <= starts) | (ends > self.chroms[chrom])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            s, e = int(starts[i]), int(ends[i])
            if e <= s:
                why = "ends at or before its start"
            elif e > self.chroms[chrom]:
                why = f"runs past the chromosome's end ({self.chroms[chrom]})"
            else:
                why = (f"starts before the previous record on {chrom} ends ({int(prev_end[i])}): records of a "
                       "chromosome must be sorted and must not overlap")
            raise RangeError(f"{self.path}: {chrom} record {i} of this call ({s}-{e}) {why}")
        self._last_end[cid] = ends[-1]

    def _add_bedgraph(self, cid: int, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        if cid != self._pending_cid:
            self._flush_pending()
            self._pending_cid = cid
        self._records.append((cid, starts, ends, values))
        self._pending.append((starts, ends, values))
        self._pending_n += starts.size
        if self._pending_n >= self.items_per_slot:
            self._flush_pending(whole_blocks_only=True)

    def _flush_pending(self, whole_blocks_only: bool = False) -> None:
        """Encode the pending bedGraph records as blocks (all, or only the full ones) and submit them."""
        if not self._pending_n:
            return
        cid = self._pending_cid
        parts = self._pending
        starts, ends, values = (np.concatenate([p[j] for p in parts]) for j in range(3))
        n = starts.size
        cut = n - n % self.items_per_slot if whole_blocks_only else n
        rec = np.empty(cut, dtype=_RECORD)
        rec["s"], rec["e"], rec["v"] = starts[:cut], ends[:cut], values[:cut]
        raw = rec.tobytes()
        for lo in range(0, cut, self.items_per_slot):
            hi = min(cut, lo + self.items_per_slot)
            s, e = int(starts[lo]), int(ends[hi - 1])
            head = struct.pack("<IIIIIBBH", cid, s, e, 0, 0, _BEDGRAPH, 0, hi - lo)
            self._submit(cid, s, e, head + raw[lo * _RECORD.itemsize:hi * _RECORD.itemsize])
        self._pending = [(starts[cut:], ends[cut:], values[cut:])] if cut < n else []
        self._pending_n = n - cut

    def _submit(self, cid: int, start: int, end: int, raw: bytes) -> None:
        self._max_raw = max(self._max_raw, len(raw))
        self._batch.append((cid, start, end, raw))
        if len(self._batch) >= _BLOCKS_PER_TASK:
            self._dispatch()

    def _dispatch(self) -> None:
        """Hand the blocks gathered so far to the pool as one task (a future per block cost more than
        deflating a small one)."""
        if not self._batch:
            return
        task = self._pool.submit(_deflate_all, self._deflate, [raw for *_, raw in self._batch])
        self._blocks += [(cid, start, end, task, k) for k, (cid, start, end, _) in enumerate(self._batch)]
        self._batch = []

    # -- the file ------------------------------------------------------------------------------
    def close(self) -> None:
        """Write the index, zoom levels, summary and header, and close the file (idempotent)."""
        if self._closed:
            return
        try:
            self._flush_pending()
            self._dispatch()
            self._write()
        except BaseException:
            self._abort()
            raise
        self._closed = True
        self._pool.shutdown()
        self._file.close()
        self._records, self._blocks = [], []

    def _write(self) -> None:
        f = self._file
        n_chroms = len(self.chroms)
        summary_off = 64 + 24 * self.zoom_levels
        ctree_off = summary_off + 40
        keys = [(name.encode(), cid, int(self._sizes[cid])) for name, cid in self._ids.items()]
        f.seek(ctree_off)
        f.write(_bpt(keys, max(1, min(self.block_size, n_chroms)), ctree_off, "<", False))
        data_off = f.tell()
        f.write(struct.pack("<Q", len(self._blocks)))
        # while the pool still deflates: the records in order, and what each zoom scale would hold
        records = self._sorted_records()
        candidates = self._zoom_candidates(*records[:3])
        summary = _total_summary(*records[1:])
        leaves = []
        for cid, start, end, task, k in self._blocks:
            payload = task.result()[k]
            leaves.append((cid, start, cid, end, f.tell(), len(payload)))
            f.write(payload)
        index_off = f.tell()
        leaves.sort(key=lambda it: (it[0], it[1]))
        f.write(_rtree(leaves, self.block_size, len(leaves), 1, index_off, index_off, "<"))
        zooms = []
        for reduction, level in self._zoom_levels(records, *candidates, index_off - data_off):
            zooms.append((reduction, f.tell(), self._write_zoom(level)))
        f.write(struct.pack("<I", BIGWIG_MAGIC))
        f.seek(0)
        f.write(struct.pack("<IHHQQQHHQQIQ", BIGWIG_MAGIC, 4, len(zooms), ctree_off, data_off, index_off,
                            0, 0, 0, summary_off, max(self._max_raw, 1), 0))
        for reduction, zdata, zindex in zooms:
            f.write(struct.pack("<IIQQ", reduction, 0, zdata, zindex))
        f.seek(summary_off)
        f.write(struct.pack("<Qdddd", *summary))

    def _sorted_records(self) -> tuple[np.ndarray, ...]:
        """Every record, by (chromosome id, start): each chromosome's records are already in order."""
        if not self._records:
            z = np.zeros(0, np.int64)
            return z, z, z, np.zeros(0, np.float32)
        cids = np.concatenate([np.full(r[1].size, r[0], np.int64) for r in self._records])
        starts, ends, values = (np.concatenate([r[j] for r in self._records]) for j in (1, 2, 3))
        if cids.size > 1 and (np.diff(cids) < 0).any():
            order = np.argsort(cids, kind="stable")
            cids, starts, ends, values = cids[order], starts[order], ends[order], values[order]
        return cids, starts, ends, values

    def _zoom_candidates(self, cids, starts, ends) -> tuple[list[int], np.ndarray]:
        """The first-level reductions UCSC tries (from the mean record span, x4 apart) and how many
        summaries each would make."""
        if self.zoom_levels == 0 or cids.size == 0:
            return [], np.zeros(0, np.int64)
        res = max(int((ends - starts).sum() / cids.size), _MIN_ZOOM)
        scales: list[int] = []
        while len(scales) < 10:                 # UCSC tries 10 scales, and none past 1e9
            scales.append(res)
            if res > 1_000_000_000:
                break
            res *= _ZOOM_INCREMENT
        counts = np.zeros(len(scales), np.int64)
        _zoom.count_summaries(cids, starts, ends, np.array(scales, np.int64), counts)
        return scales, counts

    def _zoom_levels(self, records, scales, counts, data_bytes: int):
        """(reduction, zoom records) of each level, as bedGraphToBigWig chooses and makes them: the first
        scale whose summaries take at most half the compressed data's bytes (UCSC's estimate of
        their compressed size is half their raw size), then merges x4 while a level shrinks."""
        fits = [j for j in range(len(scales)) if counts[j] * _SUMMARY_BYTES // 2 <= data_bytes // 2]
        if not fits:
            return
        reduction, count = scales[fits[0]], int(counts[fits[0]])
        cids, starts, ends, values = records
        level = self._summarise(cids, starts, ends, values, reduction)
        yield reduction, level
        for _ in range(self.zoom_levels - 1):
            reduction *= _ZOOM_INCREMENT
            if reduction > _U32_MAX:
                break
            level = level.copy()
            n = _zoom.reduce_summaries(level["cid"], level["s"], level["e"], level["n"], level["min"],
                                       level["max"], level["sum"], level["ssq"], reduction)
            if n >= count:              # no smaller than the level before: UCSC stops here
                break
            level, count = level[:n], n
            yield reduction, level

    def _summarise(self, cids, starts, ends, values, reduction: int) -> np.ndarray:
        """The first zoom level: chromosomes are summarised in parallel on the pool (no summary spans
        two chromosomes, and the kernel releases the GIL)."""
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(cids)) + 1, [cids.size]])
        # a few chunks of whole chromosomes per thread (one task per scaffold would cost more than it)
        want = np.linspace(0, cids.size, 4 * self.threads + 1)
        cuts = np.unique(bounds[np.searchsorted(bounds, want)]).tolist()
        parts = self._pool.map(lambda ab: self._summarise_range(cids[ab[0]:ab[1]], starts[ab[0]:ab[1]],
                                                                ends[ab[0]:ab[1]], values[ab[0]:ab[1]], reduction),
                               itertools.pairwise(cuts))
        return np.concatenate(list(parts))

    def _summarise_range(self, cids, starts, ends, values, reduction: int) -> np.ndarray:
        room = cids.size + int(((ends - starts) // reduction).sum()) + 1
        cols = [np.empty(room, np.uint32) for _ in range(4)] + [np.empty(room, np.float32) for _ in range(4)]
        n = _zoom.summarise(cids, starts, ends, values, self._sizes, reduction, *cols)
        out = np.empty(n, _ZOOM_RECORD)
        for name, col in zip(_ZOOM_RECORD.names or (), cols):
            out[name] = col[:n]
        return out

    def _write_zoom(self, level: np.ndarray) -> int:
        """Write one zoom level (count, blocks, R-tree) at the file's position; returns the index offset."""
        f = self._file
        f.write(struct.pack("<I", level.size))
        chunks = [level[lo:lo + self.items_per_slot] for lo in range(0, level.size, self.items_per_slot)]
        raws = [c.tobytes() for c in chunks]
        self._max_raw = max([self._max_raw] + [len(r) for r in raws])
        leaves = []
        for chunk, payload in zip(chunks, self._pool.map(self._deflate, raws)):
            # sorted, and not overlapping within a chromosome: the last record ends last
            leaves.append((int(chunk["cid"][0]), int(chunk["s"][0]), int(chunk["cid"][-1]), int(chunk["e"][-1]),
                           f.tell(), len(payload)))
            f.write(payload)
        index_off = f.tell()
        f.write(_rtree(leaves, self.block_size, level.size, self.items_per_slot, index_off, index_off, "<"))
        return index_off


def _deflate_all(deflate, raws: list[bytes]) -> list[bytes]:
    return [deflate(raw) for raw in raws]


def _deflater(level: int, compressor: str, path: str):
    """(function: bytes -> zlib stream, the implementation's name) for ``level`` (zlib's scale)."""
    if compressor not in ("auto", "isal", "zlib"):
        raise RangeError(f"{path}: compressor must be 'auto', 'isal' or 'zlib', got {compressor!r}")
    if compressor != "zlib" and level > 0:
        try:
            from isal import isal_zlib
        except ImportError:
            if compressor == "isal":
                raise FastwigError(f"{path}: compressor='isal' needs the isal package "
                                   "(pip install fastwig[write])") from None
        else:
            return functools.partial(isal_zlib.compress, level=(level + 2) // 3), "isal"
    return functools.partial(zlib.compress, level=level), "zlib"


def _total_summary(starts, ends, values) -> tuple[int, float, float, float, float]:
    """(bases covered, min, max, sum, sum of squares) over every record, per base, in float64."""
    if starts.size == 0:
        return 0, 0.0, 0.0, 0.0, 0.0
    covered, lo, hi, total, squares = _zoom.totals(starts, ends, values)
    return int(covered), float(lo), float(hi), float(total), float(squares)
