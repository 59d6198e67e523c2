"""The interval-overlap index: which query intervals share a base with an interval of a table.

One index for every overlap question in fastwig (``Regions.overlaps``/``exclude``, the dataset's
labels and blacklists).  Intervals are keyed by an integer code -- a chromosome, or an (assembly,
chromosome) pair -- rather than by name, so that callers with their own numbering (the dataset's codes
over several assemblies) and ``Regions`` (its categorical chromosome codes) share it.

How it answers: intervals are sorted by ``key * 2**35 + start``; a running maximum of
``key * 2**35 + end`` over that order is the furthest any interval starting at or before a point
reaches (an earlier key never reaches into a later one: 2**35 exceeds every clipped coordinate).  A
query ``[s, e)`` overlaps something iff the last interval starting before ``e`` (one ``searchsorted``)
has a reach past ``s``.  Coordinates are clipped to +-2**33, keys must be below 2**27.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..chromalias import resolve as resolve_alias

__all__ = ["OverlapIndex"]

_SHIFT = np.int64(1) << np.int64(35)
_LIMIT = np.int64(1) << np.int64(33)
MAX_KEY = 1 << 27


def _sort_keys(keys: np.ndarray, coords: np.ndarray) -> np.ndarray:
    return np.asarray(keys, dtype=np.int64) * _SHIFT + np.clip(np.asarray(coords, dtype=np.int64), -_LIMIT, _LIMIT)


class OverlapIndex:
    """Intervals keyed by an integer code, for vectorised overlap queries.

    Parameters
    ----------
    keys : int array-like (n,)
        Code of each interval; a negative code drops the interval (a chromosome nobody asks about).
    starts, ends : int array-like (n,)
        0-based, half-open bounds.

    Examples
    --------
    >>> ix = OverlapIndex([0, 0, 1], [10, 50, 0], [20, 60, 5])
    >>> ix.query([0, 0, 1, 2], [15, 20, 5, 0], [16, 50, 9, 100]).tolist()
    [True, False, False, False]
    """

    def __init__(self, keys: Any, starts: Any, ends: Any) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        ends = np.asarray(ends, dtype=np.int64).reshape(-1)
        if not keys.shape == starts.shape == ends.shape:
            raise ValueError(f"keys, starts and ends differ in length: {keys.size}, {starts.size}, {ends.size}")
        if keys.size and int(keys.max()) >= MAX_KEY:
            raise ValueError(f"interval keys must be below {MAX_KEY}")
        ok = keys >= 0
        keys, starts, ends = keys[ok], starts[ok], ends[ok]
        s = _sort_keys(keys, starts)
        order = np.argsort(s, kind="stable")
        self._s = s[order]
        self._reach = np.maximum.accumulate(_sort_keys(keys, ends)[order]) if order.size else np.zeros(0, np.int64)

    @classmethod
    def from_regions(cls, table, chrom_names: Any) -> OverlapIndex:
        """The intervals of a :class:`~fastwig.regions.Regions`, keyed by the index of their chromosome
        in ``chrom_names`` (rows on a chromosome not listed are dropped).

        Parameters
        ----------
        table : Regions
        chrom_names : sequence of str
            The querying side's chromosome names: query with codes into this list.
        """
        lut = {str(name): i for i, name in enumerate(chrom_names)}
        remap = np.array([lut.get(str(name), -1) if str(name) in lut else
                          lut.get(resolve_alias(str(name), lut, "regions") or "", -1)   # chr1 <-> 1
                          for name in table.chrom_names], dtype=np.int64)
        keys = remap[table.chrom_codes] if len(table) else np.zeros(0, dtype=np.int64)
        return cls(keys, table.start, table.end)

    def __len__(self) -> int:
        return int(self._s.shape[0])

    def query(self, keys: Any, starts: Any, ends: Any) -> np.ndarray:
        """Whether each query interval ``[starts[i], ends[i])`` with code ``keys[i]`` shares a base with
        an interval of the index.

        Parameters
        ----------
        keys, starts, ends : int array-like (n,)

        Returns
        -------
        numpy.ndarray
            bool (n,).  A query with a code the index lacks (or a negative one) overlaps nothing.
        """
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        hit = np.zeros(keys.shape[0], dtype=bool)
        if self._s.size == 0 or keys.size == 0:
            return hit
        qs = _sort_keys(keys, starts)
        qe = _sort_keys(keys, ends)
        # intervals that start before the query ends; one of them overlaps iff it reaches past its start
        idx = np.searchsorted(self._s, qe, side="left")
        has = idx > 0
        hit[has] = self._reach[idx[has] - 1] > qs[has]
        return hit
