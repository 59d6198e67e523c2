"""Regions from signal: the runs of bases where any track exceeds a threshold.

The one room of the regions package that reads signal: it opens bigWig paths with :func:`fastwig.open`
(imported when called, so the table and its readers never load the reader stack) and reads each
chromosome in chunks with the tracks' ``values``, so memory stays bounded by ``chunk`` bases.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ChromNotFound, RangeError
from .io import read_chrom_sizes

__all__ = ["threshold_columns"]


def threshold_columns(tracks: Any, above: float, merge_gap: int = 0, min_length: int = 1,
                      chroms: Sequence[str] | None = None, chunk: int = 1_000_000,
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The intervals of ``Regions.threshold`` (see there for the parameters) as table columns.

    Returns
    -------
    tuple or None
        ``(names, codes, start, end)``: chromosome names (object), int32 codes, int64 bounds, sorted by
        chromosome (in ``names`` order) then start; None when no base passes.
    """
    from ..progress import Progress

    merge_gap, min_length, chunk = int(merge_gap), int(min_length), int(chunk)
    if merge_gap < 0 or chunk <= 0:
        raise RangeError(f"merge_gap must be >= 0 and chunk > 0, got {merge_gap}, {chunk}")
    track_list = list(tracks) if isinstance(tracks, (list, tuple)) else [tracks]
    opened, owned = [], []
    try:
        for t in track_list:
            if isinstance(t, (str, os.PathLike)):
                import fastwig

                t = fastwig.open(t)
                owned.append(t)
            opened.append(t)
        sizes = [read_chrom_sizes(t) for t in opened]
        order: dict[str, int] = {}
        for s in sizes:
            for name, length in s.items():
                order[name] = max(order.get(name, 0), length)
        if chroms is not None:
            missing = [c for c in chroms if c not in order]
            if missing:
                raise ChromNotFound(f"no track has chromosome {missing[0]!r}")
            order = {c: order[c] for c in chroms}
        total = sum(s[c] for s in sizes for c in order if c in s)
        out_start, out_end, out_code = [], [], []
        with Progress(total, "threshold", unit="bp", enabled=progress) as bar:
            for code, (chrom, length) in enumerate(order.items()):
                s_m, e_m = _chrom_runs(opened, sizes, chrom, length, above, merge_gap, chunk, bar)
                keep = (e_m - s_m) >= min_length
                out_start.append(s_m[keep])
                out_end.append(e_m[keep])
                out_code.append(np.full(int(keep.sum()), code, dtype=np.int32))
    finally:
        for t in owned:
            close = getattr(t, "close", None)
            if close is not None:
                close()
    if not out_start:
        return None
    return (np.array(list(order), dtype=object), np.concatenate(out_code), np.concatenate(out_start),
            np.concatenate(out_end))


def _chrom_runs(tracks: list, sizes: list[dict[str, int]], chrom: str, length: int, above: float,
                merge_gap: int, chunk: int, bar) -> tuple[np.ndarray, np.ndarray]:
    """Merged runs of one chromosome where any track is above the threshold (int64 starts, ends)."""
    run_s, run_e = [], []
    for lo in range(0, length, chunk):
        hi = min(lo + chunk, length)
        mask = np.zeros(hi - lo, dtype=bool)
        for t, s in zip(tracks, sizes):
            tl = s.get(chrom)
            if tl is None or tl <= lo:
                continue
            th = min(hi, tl)
            vals = np.asarray(t.values(chrom, lo, th))
            with np.errstate(invalid="ignore"):
                mask[: th - lo] |= vals > above
            bar.update(th - lo)
        s_, e_ = _runs(mask)
        run_s.append(s_ + lo)
        run_e.append(e_ + lo)
    if not run_s:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return _merge_sorted(np.concatenate(run_s), np.concatenate(run_e), merge_gap)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (half-open) of the runs of True in a bool array."""
    if mask.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)


def _merge_sorted(starts: np.ndarray, ends: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted, disjoint intervals whose gap (next start - previous end) is at most ``gap``."""
    if starts.size == 0:
        return starts, ends
    breaks = np.flatnonzero(starts[1:] - ends[:-1] > gap)
    first = np.concatenate(([0], breaks + 1))
    last = np.concatenate((breaks, [starts.size - 1]))
    return starts[first], ends[last]
