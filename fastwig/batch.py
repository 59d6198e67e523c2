"""Batched window reads over many tracks: :func:`read_windows`.

One path for every device: the call becomes a :class:`~fastwig.request.BatchRequest`, the backend
picks an executor for the device, and the executor runs the batch's stages (plan, load, fill).
"""

from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from . import backend
from .errors import FastwigError, RangeError
from .reader import BigWig
from .request import STATS, make_request

Track = Union[str, os.PathLike, BigWig]

__all__ = ["read_windows", "FastwigError", "STATS"]


def read_windows(tracks: Sequence[Track], chroms: str | Sequence[str] | np.ndarray,
                 starts: Sequence[int] | np.ndarray, width: int, *, bin_size: int = 1, stat: str = "mean",
                 missing: float = 0.0, oob: float | None = None, covered_only: bool = False,
                 out: np.ndarray | None = None, threads: int | None = None, device: str = "cpu", aliases=None):
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
        Bases per output bin; must divide ``width``.  1 gives per-base values.  Bins are reduced
        straight from the records (no per-base row is built), in float64.
    stat : {"mean", "sum", "min", "max", "coverage"}
        Statistic of each bin (ignored when ``bin_size == 1``).
    missing : float
        Value of bases no record covers, and of every base of a chromosome a file lacks (that
        case warns once per file and chromosome).  Records whose value is NaN count as missing.
    oob : float, optional
        Value of bases outside the chromosome (before 0 or past its end); default ``missing``.
        With bins, a set ``oob`` counts those bases as covered bases of that value.
    covered_only : bool
        With bins: False (default) counts uncovered bases as ``missing`` in every statistic, so a
        "mean" bin is ``(sum of covered values + missing * uncovered) / bin_size``; True takes the
        statistic over covered bases only (a bin with none gets ``missing``).
    out : float32 (n, len(tracks), width // bin_size), optional
        Written in place and returned (on the GPU: a CUDA array, e.g. a torch CUDA tensor).
    threads : int, optional
        CPU threads; None uses the ``fastwig.config.settings.threads`` setting (default: every core).
    device : {"cpu", "cuda", "cuda:N"}
        "cuda" runs the kernels on the GPU and returns a device array (``__cuda_array_interface__``).
    aliases : bool, dict, str or None
        How a chromosome a file lacks is looked up under another name (``1`` finds ``chr1``, ``MT``
        finds ``chrM``; a dict or ``chromAlias.txt`` path adds aliases; False: exact names only, the
        file's windows then get ``missing``).  None (default): each track's own setting, else
        ``fastwig.settings.chrom_aliases`` (see :mod:`fastwig.chromalias`).

    Returns
    -------
    numpy.ndarray or device array
        float32 (n, len(tracks), width // bin_size).
    """
    ex = backend.executor(device, threads)
    req = make_request(open_tracks(tracks), chroms, starts, width, bin_size=bin_size, stat=stat, missing=missing, oob=oob,
                       covered_only=covered_only, aliases=aliases)
    return ex.run(req, ex.allocate(req, out))


def open_tracks(tracks: Sequence[Track]) -> list[BigWig]:
    """Tracks as open :class:`BigWig` objects (paths are opened)."""
    if isinstance(tracks, (str, os.PathLike, BigWig)):
        raise RangeError("tracks must be a sequence of paths or BigWig objects, not a single one")
    return [t if isinstance(t, BigWig) else BigWig(t) for t in tracks]
