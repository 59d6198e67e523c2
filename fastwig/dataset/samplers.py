"""Window samplers: where each window of an epoch lies, before augmentation.

Samplers
--------
:class:`UniformSampler`
    Window centres uniform over the bases of a table of regions: a region is drawn in proportion to
    its length (a cumulative-length search), and every region with at least one base can be drawn.
:class:`OrderedSampler`
    The regions, or their tiles, in table order (evaluation).
:class:`BalancedSampler`
    Positives (centres uniform over the regions) and negatives (windows anywhere on the genome that
    overlap no region and no blacklist interval) at a set ratio, interleaved exactly.

Every draw is a pure function of ``(seed, epoch, index)`` (:mod:`fastwig.dataset.rng`).  This module
imports numpy only (torch lives in :mod:`fastwig.dataset.core`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import FastwigError, RangeError
from .rng import STREAM_POSITION, random_u64

__all__ = ["BalancedSampler", "IntervalPool", "OrderedSampler", "UniformSampler", "Windows", "negative_pool"]


@dataclass(frozen=True)
class Windows:
    """Where windows lie: one entry per sample index.

    Attributes
    ----------
    index : int64 (n,)
        Sample indices.
    assembly : int32 (n,)
        Index into the dataset's assemblies (0 with a single assembly).
    chrom : object (n,)
        Chromosome names.
    start : int64 (n,)
        0-based start of the sequence window (after jitter); it spans ``[start, start + window)``.
    rc : bool (n,)
        Reverse-complemented windows.
    """

    index: np.ndarray
    assembly: np.ndarray
    chrom: np.ndarray
    start: np.ndarray
    rc: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])


class IntervalPool:
    """Intervals of positions to draw uniformly from, each tagged with an (assembly, chromosome) code.

    Parameters
    ----------
    code : int array-like (n,)
        Index of each interval's (assembly, chromosome) in the caller's table.
    lo, hi : int array-like (n,)
        Half-open ``[lo, hi)``; empty intervals are kept (they are never drawn).
    """

    def __init__(self, code, lo, hi) -> None:
        self.code = np.asarray(code, dtype=np.int32).reshape(-1)
        self.lo = np.asarray(lo, dtype=np.int64).reshape(-1)
        length = np.maximum(np.asarray(hi, dtype=np.int64).reshape(-1) - self.lo, 0)
        self.length = length
        self.cum = np.cumsum(length)
        self.total = int(self.cum[-1]) if self.cum.size else 0

    def __len__(self) -> int:
        return int(self.lo.shape[0])

    def draw(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions uniform over all the bases of the pool.

        Parameters
        ----------
        words : uint64 (n,)
            Random words (:func:`random_u64`).

        Returns
        -------
        row : int64 (n,)
            Which interval (drawn in proportion to its length).
        code : int32 (n,)
        position : int64 (n,)
        """
        if self.total <= 0:
            raise FastwigError("cannot draw windows: the regions hold no bases")
        pos = (words % np.uint64(self.total)).astype(np.int64)
        row = np.searchsorted(self.cum, pos, side="right")
        offset = pos - (self.cum[row] - self.length[row])
        return row, self.code[row], self.lo[row] + offset


class _Sampler:
    """Base class: ``draw(index, epoch, attempt) -> (code, start)`` of the un-jittered windows."""

    n: int

    def __len__(self) -> int:
        return self.n

    def draw(self, index: np.ndarray, epoch: int, attempt: int = 0) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class UniformSampler(_Sampler):
    """Window centres uniform over the bases of the regions.

    Parameters
    ----------
    pool : IntervalPool
        The regions (``[start, end)`` as the positions a centre may take).
    window : int
        Window width; a window centred on base ``c`` starts at ``c - window // 2``.
    n : int
        Windows per epoch.
    seed : int
    """

    def __init__(self, pool: IntervalPool, window: int, n: int, seed: int) -> None:
        if pool.total <= 0:
            raise FastwigError("sampling='uniform' needs regions with at least one base")
        self.pool, self.window, self.n, self.seed = pool, int(window), int(n), int(seed)

    def draw(self, index, epoch, attempt=0):
        words = random_u64(self.seed, epoch, index, STREAM_POSITION, attempt)
        _, code, centre = self.pool.draw(words)
        return code, centre - self.window // 2


class OrderedSampler(_Sampler):
    """The regions, or their tiles, in table order.

    A region of length ``L`` gets ``k = max(1, ceil((L - target) / stride) + 1)`` windows whose
    target parts (``target`` bases, centred in the window) are ``stride`` apart; the group is centred
    on the region, so a region no longer than ``target`` gets one window centred on it, and a region
    of ``k * target`` bases tiled with ``stride = target`` gets targets that cover it exactly.

    Parameters
    ----------
    code, start, end : arrays (n,)
        Regions in order.
    window, target, stride : int
        Window width, target width and the step between tiles.
    n : int, optional
        Epoch length: default the number of tiles; a larger ``n`` cycles through them.
    keep : bool array, optional
        Tiles to keep (the dataset drops tiles with too many N bases).
    """

    def __init__(self, code, start, end, window: int, target: int, stride: int, n: int | None = None) -> None:
        code = np.asarray(code, dtype=np.int32)
        start = np.asarray(start, dtype=np.int64)
        length = np.asarray(end, dtype=np.int64) - start
        window, target, stride = int(window), int(target), int(stride)
        if stride <= 0:
            raise RangeError(f"stride must be > 0, got {stride}")
        k = np.maximum(1, -(-(length - target) // stride) + 1)
        span = (k - 1) * stride + target
        first_target = start + (length - span) // 2
        offset = (window - target) // 2
        rows = np.repeat(np.arange(code.shape[0]), k)
        within = np.arange(rows.shape[0]) - np.repeat(np.cumsum(k) - k, k)
        self.code = code[rows]
        self.start = first_target[rows] + within * stride - offset
        self.region = rows
        self.window = window
        self._n = n

    def keep(self, mask: np.ndarray) -> None:
        """Drop the tiles where ``mask`` is False."""
        self.code, self.start, self.region = self.code[mask], self.start[mask], self.region[mask]

    @property
    def n_tiles(self) -> int:
        return int(self.start.shape[0])

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.n_tiles if self._n is None else int(self._n)

    def draw(self, index, epoch, attempt=0):
        if self.n_tiles == 0:
            raise FastwigError("sampling='ordered': no windows (no regions, or every tile dropped)")
        i = np.asarray(index, dtype=np.int64) % self.n_tiles
        return self.code[i], self.start[i]


class BalancedSampler(_Sampler):
    """Positives and negatives at a set ratio.

    Index ``i`` is a positive when ``floor((i + 1) * p) > floor(i * p)`` (``p`` the positive
    fraction), so every run of consecutive indices holds positives in the ratio ``p`` up to one
    window; positive centres are uniform over the bases of the regions, negative windows uniform over
    the start positions whose window (jitter included) overlaps no region and no blacklist interval.

    Parameters
    ----------
    positives : IntervalPool
        Centres of positive windows (the regions).
    negatives : IntervalPool
        Centres of negative windows (see :func:`negative_pool`).
    window : int
    n : int
    seed : int
    positive_fraction : float
        ``p``, in ``[0, 1]``.
    """

    def __init__(self, positives: IntervalPool, negatives: IntervalPool, window: int, n: int, seed: int,
                 positive_fraction: float = 0.5) -> None:
        p = float(positive_fraction)
        if not 0.0 <= p <= 1.0:
            raise RangeError(f"positive_fraction must lie in [0, 1], got {p}")
        if p > 0 and positives.total <= 0:
            raise FastwigError("sampling='balanced': the regions hold no bases")
        if p < 1 and negatives.total <= 0:
            raise FastwigError("sampling='balanced': no room for negatives outside the regions and blacklist")
        self.positives, self.negatives = positives, negatives
        self.window, self.n, self.seed, self.p = int(window), int(n), int(seed), p

    def is_positive(self, index) -> np.ndarray:
        """bool (n,): which indices are positives."""
        i = np.asarray(index, dtype=np.int64).astype(np.float64)
        return np.floor((i + 1) * self.p) > np.floor(i * self.p)

    def draw(self, index, epoch, attempt=0):
        index = np.asarray(index, dtype=np.int64)
        pos = self.is_positive(index)
        words = random_u64(self.seed, epoch, index, STREAM_POSITION, attempt)
        code = np.empty(index.shape[0], dtype=np.int32)
        centre = np.empty(index.shape[0], dtype=np.int64)
        if pos.any():
            _, code[pos], centre[pos] = self.positives.draw(words[pos])
        if (~pos).any():
            _, code[~pos], centre[~pos] = self.negatives.draw(words[~pos])
        return code, centre - self.window // 2


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals as sorted, disjoint, non-touching intervals."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate(([True], starts[1:] > reach[:-1]))
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [starts.size - 1]))
    return starts[first], reach[last]


def negative_pool(domain_code, domain_lo, domain_hi, forbid: Mapping[int, tuple[np.ndarray, np.ndarray]],
                  window: int, jitter: int) -> IntervalPool:
    """Centres of windows that lie inside a domain and overlap no forbidden interval.

    Parameters
    ----------
    domain_code, domain_lo, domain_hi : arrays (m,)
        Where negatives may lie (whole chromosomes, by default): the window ``[s - jitter, s + window
        + jitter)`` of a start ``s`` must fit inside one domain interval ``[lo, hi)``.
    forbid : dict code -> (starts, ends)
        Intervals (regions and blacklist) no negative window may touch.
    window, jitter : int

    Returns
    -------
    IntervalPool
        In centre coordinates (start + ``window // 2``).
    """
    codes, los, his = [], [], []
    half = window // 2
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    unions = {}
    for code, lo, hi in zip(np.asarray(domain_code).tolist(), np.asarray(domain_lo).tolist(),
                            np.asarray(domain_hi).tolist()):
        lo_all, hi_all = lo + jitter, hi - window - jitter + 1   # allowed starts [lo_all, hi_all)
        if hi_all <= lo_all:
            continue
        if code not in unions:
            fs, fe = forbid.get(code, empty)
            # a start s is forbidden iff [s - j, s + w + j) overlaps [a, b): s in [a - w - j + 1, b + j)
            unions[code] = _union(np.asarray(fs, np.int64) - window - jitter + 1,
                                  np.asarray(fe, np.int64) + jitter)
        us, ue = unions[code]
        gaps_lo = np.clip(np.concatenate(([lo_all], ue)), lo_all, hi_all)
        gaps_hi = np.clip(np.concatenate((us, [hi_all])), lo_all, hi_all)
        ok = gaps_hi > gaps_lo
        codes.append(np.full(int(ok.sum()), code, dtype=np.int32))
        los.append(gaps_lo[ok] + half)
        his.append(gaps_hi[ok] + half)
    if not codes:
        return IntervalPool([], [], [])
    return IntervalPool(np.concatenate(codes), np.concatenate(los), np.concatenate(his))
