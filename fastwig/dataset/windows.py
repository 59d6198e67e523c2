"""Window placement: a sampler's draw, then jitter and reverse complement, then redraws of N-rich windows.

The window of index ``i`` depends only on the sampler, the seed, the epoch and ``i``: jitter and the
reverse-complement flag come from their own streams of the counter RNG (:mod:`.rng`), so a window's
jitter does not depend on whether it is reverse-complemented, and every worker and DDP rank computes
the same window for the same index.

This module imports numpy only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from . import rng
from .options import Augmentation
from .places import ChromCodes
from .samplers import OrderedSampler, Windows, _Sampler

__all__ = ["Placement"]

# bytes that are bases (the N test of max_n_fraction)
_NOT_BASE = np.ones(256, dtype=bool)
_NOT_BASE[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = False
_ORDERED_CHUNK = 8192  # tiles N-tested per genome read when an ordered dataset is built


class Placement:
    """Where the windows of some indices lie.

    Parameters
    ----------
    sampler : UniformSampler, OrderedSampler or BalancedSampler
    codes : ChromCodes
    window : int
    augment : Augmentation
    seed : int
    max_n_fraction : float
        Windows with a larger share of non-ACGT bases are drawn again (ordered tiles: dropped).
    max_attempts : int
    fetch : callable, optional
        ``fetch(asm, chroms, starts, width) -> uint8 (n, width)`` raw bases (the genome); without it
        no window is N-tested.
    """

    def __init__(self, sampler: _Sampler, codes: ChromCodes, window: int, augment: Augmentation, seed: int,
                 max_n_fraction: float, max_attempts: int,
                 fetch: Callable[[int, np.ndarray, np.ndarray, int], np.ndarray] | None) -> None:
        self.sampler = sampler
        self.codes = codes
        self.window = int(window)
        self.jitter = int(augment.jitter)
        self.rc_prob = float(augment.rc_prob)
        self.seed = int(seed)
        self.max_n_fraction = float(max_n_fraction)
        self.max_attempts = int(max_attempts)
        self.fetch = fetch
        self._warned_n = False
        self.n_test = self.max_n_fraction < 1.0 and fetch is not None
        if self.n_test and isinstance(sampler, OrderedSampler):
            self._drop_n_tiles()

    def __len__(self) -> int:
        return len(self.sampler)

    def windows(self, index: Sequence[int] | np.ndarray, epoch: int) -> Windows:
        """The windows of ``index`` in ``epoch`` (after jitter, reverse complement and N redraws)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"index out of range for a dataset of {n} windows")
        code, start = self.sampler.draw(index, epoch, 0)
        start, rc = self.augment(index, epoch, 0, start)
        code = np.asarray(code, dtype=np.int64)
        if self.n_test and not isinstance(self.sampler, OrderedSampler) and index.size:
            self._redraw(index, epoch, code, start, rc)
        return Windows(index, self.codes.asm[code], self.codes.chrom[code], start, rc)

    def augment(self, index: np.ndarray, epoch: int, attempt: int, start: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Jittered starts (int64 (n,)) and reverse-complement flags (bool (n,))."""
        start = np.array(start, dtype=np.int64)
        if self.jitter:
            start += rng.random_integers(self.seed, epoch, index, rng.STREAM_JITTER, 2 * self.jitter + 1,
                                         attempt) - self.jitter
        if self.rc_prob > 0:
            rc = rng.random_uniform(self.seed, epoch, index, rng.STREAM_RC, attempt) < self.rc_prob
        else:
            rc = np.zeros(index.shape[0], dtype=bool)
        return start, rc

    def _redraw(self, index, epoch, code, start, rc) -> None:
        """Draw again, in place, the windows with too many N bases (attempt 1, 2, ...)."""
        bad = self.too_many_n(code, start)
        attempt = 0
        while bad.any() and attempt < self.max_attempts:
            attempt += 1
            sub = np.flatnonzero(bad)
            c2, s2 = self.sampler.draw(index[sub], epoch, attempt)
            s2, r2 = self.augment(index[sub], epoch, attempt, s2)
            code[sub], start[sub], rc[sub] = c2, s2, r2
            bad[sub] = self.too_many_n(code[sub], start[sub])
        if bad.any() and not self._warned_n:
            self._warned_n = True
            warnings.warn(f"{int(bad.sum())} window(s) still hold more than max_n_fraction="
                          f"{self.max_n_fraction} N bases after {self.max_attempts} draws; kept", stacklevel=4)

    def too_many_n(self, code: np.ndarray, start: np.ndarray) -> np.ndarray:
        """bool (n,): windows whose share of non-ACGT bases exceeds ``max_n_fraction``."""
        asm = self.codes.asm[code]
        frac = np.empty(code.shape[0], dtype=np.float64)
        for a in np.unique(asm):
            sel = asm == a
            raw = self.fetch(int(a), self.codes.chrom[code[sel]], start[sel], self.window)
            frac[sel] = _NOT_BASE[raw].mean(axis=1)
        return frac > self.max_n_fraction

    def _drop_n_tiles(self) -> None:
        smp = self.sampler
        keep = np.ones(smp.n_tiles, dtype=bool)
        for lo in range(0, smp.n_tiles, _ORDERED_CHUNK):
            hi = min(lo + _ORDERED_CHUNK, smp.n_tiles)
            keep[lo:hi] = ~self.too_many_n(smp.code[lo:hi].astype(np.int64), smp.start[lo:hi])
        smp.keep(keep)
