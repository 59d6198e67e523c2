"""The public :class:`BigWig` reader: header, chromosomes, values, intervals and statistics."""

from __future__ import annotations

import numpy as np

from . import spec, stats as _stats
from ._kernels import decode
from .backend.cpu import CpuExecutor, fetch_blocks
from .bbifile import BbiFile
from .cache import UNTIL_COMPLETE, cache
from .config import resolve_threads
from .errors import FormatError, RangeError
from .header import Summary
from .request import BatchRequest
from .rtree import CHROM_SHIFT, read_rtree

VALUES_CHUNK = 1 << 20      # bases per window when values() splits a long range


class BigWig(BbiFile):
    """A bigWig file opened for reading (``fastwig.open(path)``): per-base values, records and summary
    statistics.  What opening reads, the attributes (``path``, ``header``, ``chroms``, ``zooms``) and the
    open/close/pickle contract are :class:`~fastwig.bbifile.BbiFile`'s."""

    def _compute_summary(self) -> Summary:
        """Bases covered, min, max, sum and sum of squares over every record (files of version 1)."""
        covered, lo, hi, total, squares = 0, np.inf, -np.inf, 0.0, 0.0
        for chrom in self.chroms:
            s, e, v = self.intervals(chrom)
            if s.size:
                w = (e - s).astype(np.float64)
                covered += int(w.sum())
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                total += float((w * v).sum())
                squares += float((w * v.astype(np.float64) ** 2).sum())
        return Summary(covered, lo if covered else np.nan, hi if covered else np.nan, total, squares)

    # -- reads ---------------------------------------------------------------------------------
    def values(self, chrom: str, start: int = 0, end: int | None = None, *,
               out: np.ndarray | None = None) -> np.ndarray:
        """Per-base values of ``chrom:[start, end)``.

        Returns
        -------
        numpy.ndarray
            float32 (end - start,); NaN where no record covers a base.  Where records overlap, the
            one stored later in the file wins.  Written into ``out`` when given.
        """
        cid, start, end = self._resolve(chrom, start, end)
        n = end - start
        if out is None:
            out = np.empty(n, dtype=np.float32)
        elif out.shape != (n,) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise RangeError(f"{self.path}: out must be a C-contiguous float32 array of shape ({n},)")
        if n == 0:
            return out
        size = self.chroms[self._chrom_name(chrom)]
        width = min(n, VALUES_CHUNK)
        n_win = -(-n // width)
        starts = start + width * np.arange(n_win, dtype=np.int64)
        ids = np.full((n_win, 1), cid, dtype=np.int64)
        lens = np.full((n_win, 1), size, dtype=np.int64)
        req = BatchRequest((self,), starts, ids, lens, width, 1, "mean", np.float32(np.nan), None, False)
        if n_win * width == n:
            CpuExecutor(resolve_threads(None)).run(req, out.reshape(n_win, 1, width))
        else:
            rows = np.empty((n_win, 1, width), dtype=np.float32)
            CpuExecutor(resolve_threads(None)).run(req, rows)
            out[:] = rows.ravel()[:n]
        return out

    def intervals(self, chrom: str, start: int = 0, end: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Records overlapping ``chrom:[start, end)``, as stored, in file order.

        Returns
        -------
        starts, ends : numpy.ndarray
            int64 (k,)
        values : numpy.ndarray
            float32 (k,)
        """
        cid, start, end = self._resolve(chrom, start, end)
        lo = np.array([(cid << CHROM_SHIFT) + start], dtype=np.int64)
        hi = np.array([(cid << CHROM_SHIFT) + max(end, start + 1)], dtype=np.int64)
        _, leaves = self._index.overlapping(lo, hi)
        if leaves.size == 0 or end == start:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        uniq = np.unique(leaves)
        threads = resolve_threads(None)
        with cache.lock:
            cache._ensure()
            pos, length, flags, until = cache.lookup(self._cache_state, uniq)
            hit = (pos >= 0) & (until == UNTIL_COMPLETE) & (cache.capacity > 0)
            bs = fetch_blocks([self], np.zeros(uniq.size, np.int64), uniq,
                                      np.full(uniq.size, -1, np.int64), np.where(hit, pos, -1),
                                      np.where(hit, length, 0), np.where(hit, flags, 0),
                                      threads)
            buf, u32, f32 = bs.views()
            cap = int(((bs.length - 24) // 4).clip(0).sum()) + 1
            s = np.empty(cap, np.int64)
            e = np.empty(cap, np.int64)
            v = np.empty(cap, np.float32)
            at = 0
            where = {int(x): i for i, x in enumerate(uniq)}
            for leaf in leaves:
                i = where[int(leaf)]
                at = decode.block_records(buf, u32, f32, bs.lo[i], bs.length[i], cid, start, end, s, e, v, at)
        return s[:at].copy(), e[:at].copy(), v[:at].copy()

    def entries(self, *args, **kwargs):
        """A bigBed call: on a bigWig it raises FormatError (use :meth:`intervals`)."""
        raise FormatError(f"{self.path}: is a bigWig file: it has no entries() (that is a bigBed call); "
                          "use intervals() or values()")

    def stats(self, chrom: str, start: int = 0, end: int | None = None, *, stat: str = "mean",
              bins: int = 1, exact: bool = False) -> np.ndarray:
        """Summary statistic of ``chrom:[start, end)`` in ``bins`` equal bins.

        Parameters
        ----------
        stat : {"mean", "min", "max", "sum", "coverage", "std"}
            ``coverage`` is the fraction of bases with data; ``std`` the sample standard deviation.
        bins : int
        exact : bool
            False (default) answers from the zoom level UCSC would use (the coarsest whose reduction
            is at most half the bin width), as pyBigWig does; True, or a file without a suitable
            zoom level, uses the base data.

        Returns
        -------
        numpy.ndarray
            float64 (bins,), NaN for a bin without data.
        """
        cid, start, end = self._resolve(chrom, start, end)
        stat, bins = _stats._check_stat(stat), _stats._check_bins(bins)
        if end <= start:
            raise RangeError(f"{self.path}: stats needs a non-empty range, got {chrom}:{start}-{end}")
        if not exact and self.zooms:
            level = _stats.choose_zoom([z.reduction for z in self.zooms], (end - start) / bins)
            if level >= 0:
                z = self._zoom_records(level, cid, start, end)
                return _stats.zoom_stats(z["chromStart"], z["chromEnd"], z["validCount"], z["minVal"],
                                         z["maxVal"], z["sumData"], z["sumSquares"], start, end, bins, stat)
        s, e, v = self.intervals(chrom, start, end)
        return _stats.exact_stats(s, e, v, start, end, bins, stat)

    def _zoom_records(self, level: int, cid: int, start: int, end: int) -> np.ndarray:
        """Zoom records of ``level`` on chromId ``cid`` overlapping ``[start, end)`` (structured array)."""
        zoom = self.zooms[level]
        index = self._zoom_index.get(level)
        bo = self.header.byte_order
        if index is None:
            with self._src.reading_ahead():
                index = read_rtree(self._src, zoom.index_offset, bo, what=f"zoom level {zoom.reduction} index")
            self._zoom_index[level] = index
        lo = np.array([(cid << CHROM_SHIFT) + start], dtype=np.int64)
        hi = np.array([(cid << CHROM_SHIFT) + end], dtype=np.int64)
        _, leaves = index.overlapping(lo, hi)
        dtype = spec.zoom_record_dtype(bo)
        parts = []
        for leaf in leaves:
            raw = self._src.view(index.offset[leaf], index.size[leaf], "zoom block")
            data = self._inflate_block(raw.tobytes(), int(index.offset[leaf]), "zoom block") if self.header.uncompressBufSize else raw
            recs = np.frombuffer(data, dtype=dtype, count=len(data) // dtype.itemsize)
            parts.append(recs[(recs["chromId"] == cid) & (recs["chromStart"] < end) & (recs["chromEnd"] > start)])
        if not parts:
            return np.zeros(0, dtype=dtype)
        return np.concatenate(parts)
