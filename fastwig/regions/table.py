"""The region table: intervals with any extra columns (:class:`Regions`).

A :class:`Regions` holds its columns as numpy arrays: chromosome names as categorical codes
(``int32``) plus a names array, ``start``/``end`` as ``int64`` (0-based, half-open), and every other
column as a 1-D array (``int64``, ``float64``, ``bool`` or ``object`` holding ``str``).  Tables are
immutable: every operation returns a new table.

The ways to build a table (``from_bed``, ``tile``, ``threshold``, ...) are in :mod:`.build`; the
work behind some methods lives in the package's other rooms: SQL filters in :mod:`.sql`, overlaps in
:mod:`.overlap`.

An ``assembly`` column is an ordinary extra column; :class:`fastwig.WindowDataset` uses it, when
present, to choose the genome and the tracks of each region, so one table can span several assemblies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..errors import RangeError
from .build import Constructors
from .columns import CORE as _CORE
from .columns import categorical, extra_column, int64_column, readonly
from .overlap import OverlapIndex
from .sql import where_rows

__all__ = ["Regions"]

_COLN = re.compile(r"col([0-9]+)$")


class Regions(Constructors):
    """A table of genomic intervals with any extra columns.

    Parameters
    ----------
    chrom : str or array-like of str (n,)
        Chromosome of each interval (a single name applies to every row).
    start, end : int array-like (n,)
        0-based, half-open; ``end >= start``.
    **extra : array-like (n,) or scalar
        More columns by name (a scalar is repeated on every row).

    Attributes
    ----------
    chrom : numpy.ndarray
        object (n,) of str.
    start, end : numpy.ndarray
        int64 (n,), read-only.
    columns : list[str]
        ``["chrom", "start", "end", *extra]``.

    Notes
    -----
    Indexing: ``regions[i]`` (an int) is row ``i`` as a dict; ``regions["score"]`` is a column;
    a slice, a boolean mask (n,) or an integer array gives a new :class:`Regions`.  Iterating yields
    rows as dicts (``row["chrom"]``, ``row["start"]``, ``row["end"]``, extra columns by name), with
    Python scalar values.

    An ``assembly`` column is an ordinary column: the dataset uses it to pick each region's genome
    and tracks.

    Examples
    --------
    >>> r = Regions(chrom=["chr1", "chr2"], start=[0, 100], end=[500, 150], score=[900, 10])
    >>> len(r), r.total_bases
    (2, 550)
    >>> r.where("score > 500")[0]
    {'chrom': 'chr1', 'start': 0, 'end': 500, 'score': 900}
    """

    def __init__(self, chrom: Any, start: Any, end: Any, **extra: Any) -> None:
        start_arr = int64_column(start, "start")
        end_arr = int64_column(end, "end")
        if start_arr.shape != end_arr.shape:
            raise RangeError(f"start has {start_arr.shape[0]} values, end {end_arr.shape[0]}")
        n = start_arr.shape[0]
        names, codes = categorical(chrom, n)
        if codes.shape[0] != n:
            raise RangeError(f"chrom has {codes.shape[0]} values for {n} intervals")
        bad = np.flatnonzero(end_arr < start_arr)
        if bad.size:
            i = int(bad[0])
            raise RangeError(f"row {i}: end ({end_arr[i]}) is before start ({start_arr[i]})")
        cols = {}
        for name, values in extra.items():
            cols[name] = extra_column(values, n, name)
        self._init(names, codes, start_arr, end_arr, cols)
        self._compact()

    def _init(self, names: np.ndarray, codes: np.ndarray, start: np.ndarray, end: np.ndarray,
              extra: dict[str, np.ndarray]) -> None:
        self._names = readonly(names)
        self._codes = readonly(codes)
        self._start = readonly(start)
        self._end = readonly(end)
        self._extra = {k: readonly(v) for k, v in extra.items()}
        self._aliases: dict[str, str] = {}

    @classmethod
    def _make(cls, names, codes, start, end, extra, aliases=None) -> Regions:
        self = cls.__new__(cls)
        self._init(names, codes, start, end, extra)
        if aliases:
            self._aliases = dict(aliases)
        return self

    # --- columns and rows -------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._start.shape[0])

    @property
    def columns(self) -> list[str]:
        """Column names: ``chrom``, ``start``, ``end``, then the extra columns."""
        return list(_CORE) + list(self._extra)

    @property
    def chrom(self) -> np.ndarray:
        """object (n,): chromosome name of each row."""
        return self._names[self._codes] if self._names.size else np.zeros(len(self), dtype=object)

    @property
    def start(self) -> np.ndarray:
        """int64 (n,): 0-based starts (read-only)."""
        return self._start

    @property
    def end(self) -> np.ndarray:
        """int64 (n,): half-open ends (read-only)."""
        return self._end

    @property
    def lengths(self) -> np.ndarray:
        """int64 (n,): ``end - start``."""
        return self._end - self._start

    @property
    def total_bases(self) -> int:
        """Sum of the region lengths (bases covered by several regions count once per region)."""
        return int(np.sum(self._end - self._start))

    @property
    def chrom_names(self) -> np.ndarray:
        """object (k,): the distinct chromosome names, in order of first appearance."""
        return self._names

    @property
    def chrom_codes(self) -> np.ndarray:
        """int32 (n,): index of each row's chromosome in :attr:`chrom_names`."""
        return self._codes

    def column(self, name: str) -> np.ndarray:
        """A column by name (``colN`` also finds a named BED column ``N``)."""
        if name == "chrom":
            return self.chrom
        if name == "start":
            return self._start
        if name == "end":
            return self._end
        if name in self._extra:
            return self._extra[name]
        alias = self._aliases.get(name)
        if alias is not None and alias in self._extra:
            return self._extra[alias]
        m = _COLN.match(name)
        if m and 1 <= int(m.group(1)) <= 3:
            return self.column(_CORE[int(m.group(1)) - 1])
        raise KeyError(name)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Columns by name (``chrom`` as an object array of str)."""
        out = {"chrom": self.chrom, "start": self._start, "end": self._end}
        out.update(self._extra)
        return out

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.column(key)
        if isinstance(key, (int, np.integer)):
            n = len(self)
            i = int(key)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"row {key} out of range for {n} regions")
            row = {"chrom": str(self._names[self._codes[i]]), "start": int(self._start[i]),
                   "end": int(self._end[i])}
            for name, col in self._extra.items():
                v = col[i]
                row[name] = v.item() if isinstance(v, np.generic) else v
            return row
        if isinstance(key, slice):
            idx = key
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} regions")
            elif idx.dtype.kind not in "iu":
                if idx.size == 0:
                    idx = idx.astype(np.int64)
                else:
                    raise IndexError(f"cannot index Regions with {idx.dtype} array")
        return self._take(idx)

    def _take(self, idx: Any) -> Regions:
        extra = {k: v[idx] for k, v in self._extra.items()}
        return Regions._make(self._names, self._codes[idx], self._start[idx], self._end[idx],
                             extra, self._aliases)._compact()

    def _compact(self) -> Regions:
        """Drop chromosome names that no row uses any more."""
        k = self._names.shape[0]
        used = np.bincount(self._codes, minlength=k) > 0 if self._codes.size else np.zeros(k, dtype=bool)
        if used.all():
            return self
        remap = np.cumsum(used, dtype=np.int32) - 1
        self._names = readonly(self._names[used])
        self._codes = readonly(remap[self._codes].astype(np.int32))
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.columns
        lists = [self.chrom.tolist(), self._start.tolist(), self._end.tolist()]
        lists += [c.tolist() for c in self._extra.values()]
        for values in zip(*lists):
            yield dict(zip(names, values))

    def __repr__(self) -> str:
        head = ", ".join(f"{r['chrom']}:{r['start']}-{r['end']}" for r in (self[i] for i in range(min(3, len(self)))))
        more = ", ..." if len(self) > 3 else ""
        return f"Regions({len(self)} rows, columns={self.columns}: [{head}{more}])"

    def sort(self) -> Regions:
        """Rows ordered by chromosome name, start, end."""
        rank = np.argsort(np.argsort(self._names.astype(str), kind="stable"), kind="stable")
        order = np.lexsort((self._end, self._start, rank[self._codes] if len(self) else self._codes))
        return self._take(order)

    # --- queries ----------------------------------------------------------------------------------

    def where(self, sql: str) -> Regions:
        """Rows for which an SQL ``WHERE`` clause holds, evaluated by sqlite3.

        The table is loaded into an in-memory SQLite database with one column per table column
        (``chrom`` TEXT, ``start``/``end`` INTEGER, extras INTEGER/REAL/TEXT by dtype; NaN becomes
        NULL), so any SQLite expression over them works as written, e.g.
        ``"score > 500 AND chrom != 'chrM'"``, ``"end - start >= 200"``, ``"name LIKE 'EDEN%'"``.
        A column name that is not a plain identifier can be double-quoted; ``colN`` aliases of named
        BED columns work too.  Row order is kept.

        Parameters
        ----------
        sql : str
            The clause, without the ``WHERE`` keyword.

        Returns
        -------
        Regions

        Raises
        ------
        RangeError
            SQLite rejects the clause (the message quotes SQLite's).
        """
        return self._take(where_rows(len(self), self.columns + list(self._aliases), self.column, sql))

    def overlaps(self, other: Regions | str | os.PathLike) -> np.ndarray:
        """Which rows overlap at least one interval of ``other`` (same chromosome, sharing a base).

        Parameters
        ----------
        other : Regions or BED path

        Returns
        -------
        numpy.ndarray
            bool (n,).
        """
        other = other if isinstance(other, Regions) else Regions.from_bed(other)
        if len(self) == 0:
            return np.zeros(0, dtype=bool)
        return OverlapIndex.from_regions(other, self._names).query(self._codes, self._start, self._end)

    def exclude(self, blacklist: Regions | str | os.PathLike) -> Regions:
        """Drop every region that overlaps any blacklist interval (regions are dropped, not trimmed).

        Parameters
        ----------
        blacklist : Regions or BED path

        Returns
        -------
        Regions
        """
        return self._take(~self.overlaps(blacklist))

    def split(self, val: str | Iterable[str] = (), test: str | Iterable[str] = ()
              ) -> tuple[Regions, Regions, Regions]:
        """Split by chromosome into ``(train, val, test)``.

        Parameters
        ----------
        val, test : str or iterable of str
            Chromosomes of the validation and test sets; every other chromosome is training.  A
            chromosome may not be in both.

        Returns
        -------
        tuple of Regions
            ``(train, val, test)``, each keeping the row order.
        """
        val_set = {val} if isinstance(val, str) else {str(c) for c in val}
        test_set = {test} if isinstance(test, str) else {str(c) for c in test}
        both = val_set & test_set
        if both:
            raise RangeError(f"chromosomes in both val and test: {sorted(both)}")
        names = self._names.astype(str) if self._names.size else np.zeros(0, dtype=str)
        in_val = np.isin(names, list(val_set))[self._codes] if len(self) else np.zeros(0, dtype=bool)
        in_test = np.isin(names, list(test_set))[self._codes] if len(self) else np.zeros(0, dtype=bool)
        return self._take(~(in_val | in_test)), self._take(in_val), self._take(in_test)
