"""A batch request: what :func:`fastwig.read_windows` was asked for, checked once and frozen.

Every backend takes a :class:`BatchRequest` and nothing else from the caller, so argument checks,
chromosome lookup and the "file lacks this chromosome" warning live here, once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._kernels import bins
from .errors import RangeError

#: The statistics of binned reads, by name: the one table of their names and kernel codes.
STATS: dict[str, int] = {"mean": bins.STAT_MEAN, "sum": bins.STAT_SUM, "min": bins.STAT_MIN,
                         "max": bins.STAT_MAX, "coverage": bins.STAT_COVERAGE}

_warned: set[tuple[str, str]] = set()
MAX_WIDTH = 2**32 - 1       # bigWig coordinates are 32-bit: no chromosome is longer


@dataclass(frozen=True)
class BatchRequest:
    """A checked batch of equal-width windows over many tracks.

    Attributes
    ----------
    tracks : tuple of BigWig
    starts : int64 (n,), window starts (read-only)
    chrom_ids : int64 (n, n_tracks), each track's chromId of each window (-1: not in that file)
    chrom_lens : int64 (n, n_tracks), the chromosome's length in that file (0 where absent)
    width, bin_size : int
    stat : str, a key of :data:`STATS`
    missing : numpy.float32
    oob : numpy.float32 or None, None: bases outside a chromosome are missing
    covered_only : bool
    """

    tracks: tuple
    starts: np.ndarray
    chrom_ids: np.ndarray
    chrom_lens: np.ndarray
    width: int
    bin_size: int
    stat: str
    missing: np.float32
    oob: np.float32 | None
    covered_only: bool

    @property
    def n(self) -> int:
        return self.starts.size

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def nbins(self) -> int:
        return self.width // self.bin_size

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the result: (n, n_tracks, width // bin_size)."""
        return (self.n, self.n_tracks, self.nbins)

    @property
    def stat_code(self) -> int:
        return STATS[self.stat]

    @property
    def oob_value(self) -> np.float32:
        """The value painted on bases outside a chromosome (``missing`` when ``oob`` is unset)."""
        return self.missing if self.oob is None else self.oob

    @property
    def oob_covers(self) -> bool:
        """Binned reads: bases outside a chromosome count as covered bases of value ``oob``."""
        return self.oob is not None and bool(self.oob == self.oob)

    @property
    def item_chroms(self) -> np.ndarray:
        """int64 (n_tracks * n,), chromIds by plan item (track-major: ``track * n + window``)."""
        return self.chrom_ids.T.ravel()

    @property
    def item_chrom_lens(self) -> np.ndarray:
        """int64 (n_tracks * n,), chromosome lengths by plan item."""
        return self.chrom_lens.T.ravel()


def make_request(tracks: Sequence, chroms, starts, width, *, bin_size=1, stat: str = "mean",
                 missing: float = 0.0, oob: float | None = None, covered_only: bool = False,
                 aliases=None) -> BatchRequest:
    """Check a batch request and freeze it (see :func:`fastwig.read_windows` for the arguments;
    ``tracks`` are open :class:`~fastwig.BigWig` objects here).

    Raises
    ------
    RangeError
        A malformed argument.
    """
    bws = tuple(tracks)
    try:
        width = int(width)
        bin_size = int(bin_size)
    except (TypeError, ValueError):
        raise RangeError(f"width and bin_size must be integers, got {width!r}, {bin_size!r}") from None
    if width <= 0 or bin_size <= 0 or width % bin_size:
        raise RangeError(f"width ({width}) must be positive and a multiple of bin_size ({bin_size})")
    if width > MAX_WIDTH:
        n_win = int(np.size(starts))
        gib = n_win * len(bws) * (width // bin_size) * 4 / 2**30
        raise RangeError(f"width {width} is wider than any bigWig chromosome can be (2**32 - 1 bases): the output "
                         f"would be float32 ({n_win}, {len(bws)}, {width // bin_size}), {gib:,.1f} GiB")
    if stat not in STATS:
        raise RangeError(f"stat must be one of {sorted(STATS)}, got {stat!r}")
    starts = np.asarray(starts)
    if starts.ndim != 1 or (starts.size and not np.issubdtype(starts.dtype, np.integer)):
        raise RangeError("starts must be a 1-D array of integers")
    starts = np.array(starts, dtype=np.int64)   # a private copy: the request is immutable
    starts.flags.writeable = False
    n = starts.size
    names, inverse = _factorise(chroms, n)
    chrom_ids = np.empty((n, len(bws)), dtype=np.int64)
    chrom_lens = np.empty((n, len(bws)), dtype=np.int64)
    key = tuple(names)
    for t, bw in enumerate(bws):
        bw._check_open()
        ids, lens, exact = bw._chrom_ids(key, aliases)
        if not exact:
            _warn_absent(bw, names, ids)
        chrom_ids[:, t] = ids[inverse]
        chrom_lens[:, t] = lens[inverse]
    for a in (chrom_ids, chrom_lens):
        a.flags.writeable = False
    return BatchRequest(bws, starts, chrom_ids, chrom_lens, width, bin_size, stat, np.float32(missing),
                        None if oob is None else np.float32(oob), bool(covered_only))


def _warn_absent(bw, names: list[str], ids: np.ndarray) -> None:
    """Warn, once per file and name, of the chromosomes ``bw`` lacks (``ids`` -1)."""
    for name in (name for name, i in zip(names, ids) if i < 0):
        key = (bw.path, name)
        if key not in _warned:
            _warned.add(key)
            warnings.warn(f"{bw.path}: no chromosome {name!r}; its windows get the missing value", stacklevel=5)


def _factorise(chroms, n: int) -> tuple[list[str], np.ndarray]:
    """Distinct chromosome names and, per window, the index of its name (``bytes`` names are decoded)."""
    if isinstance(chroms, bytes):
        chroms = chroms.decode("ascii", "replace")
    if isinstance(chroms, str):
        return [chroms], np.zeros(n, dtype=np.int64)
    if np.shape(chroms) != (n,):
        raise RangeError(f"chroms must be one name or one per window ({n}), got shape {np.shape(chroms)}")
    if isinstance(chroms, np.ndarray) and chroms.dtype.kind in "US":
        # numpy's sort-based unique beats a dict over the names by 2x on a batch of a few hundred
        uniq, inverse = np.unique(chroms, return_inverse=True)
        names = uniq.tolist()
        if chroms.dtype.kind == "S":
            names = [c.decode("ascii", "replace") for c in names]
        return names, inverse.reshape(n).astype(np.int64, copy=False)
    seq = chroms.tolist() if isinstance(chroms, np.ndarray) else list(chroms)
    codes: dict[str, int] = {}
    inverse = np.array([codes.setdefault(c if isinstance(c, str) else c.decode("ascii", "replace")
                                         if isinstance(c, bytes) else str(c), len(codes)) for c in seq],
                       dtype=np.int64)
    return list(codes), inverse
