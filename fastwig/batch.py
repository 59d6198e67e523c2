"""Batched window reads over many tracks: :func:`read_windows`."""

from __future__ import annotations

import os
import warnings
from typing import Sequence, Union

import numpy as np

from ._kernels import expand

from . import backend
from .blocks import read_rows
from .config import resolve_threads
from .errors import FastwigError, RangeError
from .reader import BigWig

Track = Union[str, os.PathLike, BigWig]

STATS = {"mean": expand.STAT_MEAN, "sum": expand.STAT_SUM, "min": expand.STAT_MIN,
         "max": expand.STAT_MAX, "coverage": expand.STAT_COVERAGE}

_warned: set[tuple[str, str]] = set()


def read_windows(tracks: Sequence[Track], chroms: str | Sequence[str] | np.ndarray,
                 starts: Sequence[int] | np.ndarray, width: int, *, bin_size: int = 1, stat: str = "mean",
                 missing: float = 0.0, oob: float | None = None, covered_only: bool = False,
                 out: np.ndarray | None = None, threads: int | None = None, device: str = "cpu"):
    """Read a batch of equal-width windows from many bigWig tracks at once.

    Parameters
    ----------
    tracks : sequence of path or BigWig
        Paths are opened for the call (open :class:`BigWig` objects once and pass them to reuse
        their index and the block cache across calls).
    chroms : str or sequence of str
        One chromosome name for every window, or one per window.
    starts : int64 (n,)
        0-based window starts; a window may start before 0 or run past its chromosome's end.
    width : int
        Bases per window.
    bin_size : int
        Bases per output bin; must divide ``width``.  1 gives per-base values.
    stat : {"mean", "sum", "min", "max", "coverage"}
        Statistic of each bin (ignored when ``bin_size == 1``).
    missing : float
        Value of bases no record covers, and of every base of a chromosome a file lacks (that
        case warns once per file and chromosome).  Records whose value is NaN count as missing.
    oob : float, optional
        Value of bases outside the chromosome (before 0 or past its end); default ``missing``.
    covered_only : bool
        With bins: False (default) counts uncovered bases as ``missing`` in every statistic, so a
        "mean" bin is ``(sum of covered values + missing * uncovered) / bin_size``; True takes the
        statistic over covered bases only (a bin with none gets ``missing``).
    out : float32 (n, len(tracks), width // bin_size), optional
        Written in place and returned.
    threads : int, optional
        CPU threads; None uses the ``fastwig.config.settings.threads`` setting (default: every core).
    device : {"cpu", "cuda"}
        "cuda" runs the kernels on the GPU and returns a device array (``__cuda_array_interface__``).

    Returns
    -------
    numpy.ndarray
        float32 (n, len(tracks), width // bin_size).
    """
    if device != "cpu":
        from . import gpu  # deferred: CPU paths never touch CUDA
        return gpu.read_windows_gpu(tracks, chroms, starts, width, bin_size=bin_size, stat=stat,
                                    missing=missing, oob=oob, covered_only=covered_only, out=out,
                                    threads=threads, device=device)
    req = prepare(tracks, chroms, starts, width, bin_size, stat, out)
    bws, starts, chrom_ids, chrom_lens, nbins = req
    n, n_tracks = chrom_ids.shape
    missing = np.float32(missing)
    oob_value = missing if oob is None else np.float32(oob)
    threads = resolve_threads(threads)
    if out is None:
        out = np.empty((n, n_tracks, nbins), dtype=np.float32)
    if n == 0 or n_tracks == 0:
        return out
    if bin_size == 1:
        read_rows(bws, chrom_ids, chrom_lens, starts, width, out.reshape(n * n_tracks, width), missing,
                  oob_value, threads)
    else:
        scratch = np.empty((n * n_tracks, width), dtype=np.float32)
        read_rows(bws, chrom_ids, chrom_lens, starts, width, scratch, np.float32(np.nan),
                  np.float32(np.nan) if oob is None else oob_value, threads)
        backend.run_items(expand.reduce_batch_cpu, n * n_tracks * nbins, threads, scratch, np.int64(bin_size),
                          np.int64(STATS[stat]), bool(covered_only), missing,
                          out.reshape(n * n_tracks, nbins), min_chunk=256)
    return out


def prepare(tracks, chroms, starts, width, bin_size, stat, out):
    """Check and normalise a batch request (shared by the CPU and GPU paths).

    Returns
    -------
    bws : list of BigWig
    starts : int64 (n,)
    chrom_ids, chrom_lens : int64 (n, n_tracks); chromId -1 / length 0 where a file lacks the chromosome
    nbins : int
    """
    if isinstance(tracks, (str, os.PathLike, BigWig)):
        raise RangeError("tracks must be a sequence of paths or BigWig objects, not a single one")
    bws = [t if isinstance(t, BigWig) else BigWig(t) for t in tracks]
    try:
        width = int(width)
        bin_size = int(bin_size)
    except (TypeError, ValueError):
        raise RangeError(f"width and bin_size must be integers, got {width!r}, {bin_size!r}") from None
    if width <= 0 or bin_size <= 0 or width % bin_size:
        raise RangeError(f"width ({width}) must be positive and a multiple of bin_size ({bin_size})")
    if stat not in STATS:
        raise RangeError(f"stat must be one of {sorted(STATS)}, got {stat!r}")
    starts = np.asarray(starts)
    if starts.ndim != 1 or (starts.size and not np.issubdtype(starts.dtype, np.integer)):
        raise RangeError("starts must be a 1-D array of integers")
    starts = starts.astype(np.int64, copy=False)
    n = starts.size
    if isinstance(chroms, str):
        names, inverse = [chroms], np.zeros(n, dtype=np.int64)
    else:
        if np.shape(chroms) != (n,):
            raise RangeError(f"chroms must be one name or one per window ({n}), got shape {np.shape(chroms)}")
        seq = chroms.tolist() if isinstance(chroms, np.ndarray) else list(chroms)
        codes: dict[str, int] = {}
        inverse = np.array([codes.setdefault(c if isinstance(c, str) else str(c), len(codes)) for c in seq],
                           dtype=np.int64)
        names = list(codes)
    nbins = width // bin_size
    if out is not None and (out.shape != (n, len(bws), nbins) or out.dtype != np.float32
                            or not out.flags.c_contiguous):
        raise RangeError(f"out must be a C-contiguous float32 array of shape {(n, len(bws), nbins)}")
    chrom_ids = np.empty((n, len(bws)), dtype=np.int64)
    chrom_lens = np.empty((n, len(bws)), dtype=np.int64)
    for t, bw in enumerate(bws):
        bw._check_open()
        ids = np.array([bw._chrom_id.get(name, -1) for name in names], dtype=np.int64)
        lens = np.array([bw.chroms.get(name, 0) for name in names], dtype=np.int64)
        for name in (name for name, i in zip(names, ids) if i < 0):
            key = (bw.path, name)
            if key not in _warned:
                _warned.add(key)
                warnings.warn(f"{bw.path}: no chromosome {name!r}; its windows get the missing value",
                              stacklevel=3)
        chrom_ids[:, t] = ids[inverse]
        chrom_lens[:, t] = lens[inverse]
    return bws, starts, chrom_ids, chrom_lens, nbins


__all__ = ["read_windows", "FastwigError"]
