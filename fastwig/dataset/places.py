"""Where things lie: one integer code per (assembly, chromosome), and overlap of windows with tables.

Samplers, labels and blacklists speak of chromosomes by a dense code (an ``int64`` index into the
tables of :class:`ChromCodes`), so that a whole batch is looked up with numpy and no per-window dict;
overlaps are answered by fastwig's one interval-overlap index
(:class:`fastwig.regions.overlap.OverlapIndex`), keyed by these codes.
A table with an ``assembly`` column applies to its rows' assemblies; one without, to the single
assembly -- or, for labels and blacklists, to every assembly that has the chromosome.

This module imports numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..chromalias import resolve as resolve_alias
from ..errors import RangeError
from ..regions import Regions
from ..regions.overlap import OverlapIndex

__all__ = ["ChromCodes", "LabelSets", "as_regions"]


def as_regions(obj: Any, what: str) -> Regions:
    """A Regions table from a table or a BED path."""
    if isinstance(obj, Regions):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return Regions.from_bed(obj)
    raise RangeError(f"{what} must be a Regions table or a BED path, got {type(obj).__name__}")


class ChromCodes:
    """The dataset's (assembly, chromosome) codes.

    Parameters
    ----------
    assemblies : list
        Assembly names (``[None]`` for one assembly).
    chrom_sizes : list of dict str -> int
        Chromosome sizes of each assembly; every chromosome gets a code.

    Attributes
    ----------
    asm : int32 (codes,)
        Assembly index of each code.
    chrom : object (codes,)
        Chromosome name of each code.
    size : int64 (codes,)
        Chromosome length (-1 for a chromosome only a table names).
    """

    def __init__(self, assemblies: list, chrom_sizes: list[dict[str, int]]) -> None:
        self.assemblies = assemblies
        self._asm_index = {(str(k) if k is not None else None): i for i, k in enumerate(assemblies)}
        self._codes: dict[tuple[int, str], int] = {}
        self._absent: set[tuple[int, str]] = set()      # names looked up in vain, aliases included
        self._asm: list[int] = []
        self._chrom: list[str] = []
        self._size: list[int] = []
        for a, sizes in enumerate(chrom_sizes):
            for c, n in sizes.items():
                self.add(a, c, n)
        self._freeze()

    def add(self, asm: int, chrom: str, size: int) -> int:
        """The code of (assembly, chromosome), added (with ``size``) if new."""
        key = (asm, chrom)
        code = self._codes.get(key)
        if code is None:
            self._absent.clear()
            code = self._codes[key] = len(self._chrom)
            self._asm.append(asm)
            self._chrom.append(chrom)
            self._size.append(int(size))
        return code

    def add_table(self, table: Regions) -> None:
        """Give every chromosome of a table a code (size -1 where no file knows it); a name the files
        spell otherwise (``chr1`` for ``1``, :mod:`fastwig.chromalias`) shares that name's code."""
        for a, c in zip(self.asm_of(table).tolist(), table.chrom.tolist()):
            if self._lookup(int(a), str(c)) < 0:
                self.add(int(a), str(c), -1)
        self._freeze()

    def _lookup(self, asm: int, chrom: str) -> int:
        """Code of (assembly, chromosome), -1 when unknown; a name the files spell otherwise (``chr1``
        for ``1``, :mod:`fastwig.chromalias`) gets that name's code, remembered."""
        code = self._codes.get((asm, chrom))
        if code is not None:
            return code
        if (asm, chrom) in self._absent:
            return -1
        known = {ch: k for (a, ch), k in self._codes.items() if a == asm and self._size[k] >= 0}
        alias = resolve_alias(chrom, known, f"the dataset's chromosomes (assembly {self.assemblies[asm]})")
        if alias is None:
            self._absent.add((asm, chrom))
            return -1
        self._codes[(asm, chrom)] = code = known[alias]
        return code

    def _freeze(self) -> None:
        self.asm = np.array(self._asm, dtype=np.int32)
        self.chrom = np.array(self._chrom, dtype=object)
        self.size = np.array(self._size, dtype=np.int64)

    def code(self, asm: int, chrom: str) -> int:
        """Code of (assembly index, chromosome), -1 when unknown."""
        return self._lookup(asm, chrom)

    def of_windows(self, asm: np.ndarray, chrom: np.ndarray) -> np.ndarray:
        """int64 (n,): codes of windows given by assembly index and chromosome name."""
        return np.array([self._lookup(int(a), str(c)) for a, c in zip(asm.tolist(), chrom.tolist())],
                        dtype=np.int64)

    def asm_of(self, table: Regions) -> np.ndarray:
        """Assembly index of every row of a table (0 when it has no assembly column)."""
        if "assembly" not in table.columns or self.assemblies == [None]:
            return np.zeros(len(table), dtype=np.int32)
        lut = self._asm_index
        try:
            return np.array([lut[str(a)] for a in table.column("assembly").tolist()], dtype=np.int32)
        except KeyError as exc:
            raise RangeError(f"unknown assembly {exc.args[0]!r} (known: {self.assemblies})") from None

    def keys_of(self, table: Regions) -> np.ndarray:
        """int64 (rows,): code of each row of a table; -1 where the dataset has none.

        Rows go to their ``assembly`` column's assembly; a table without one, to the single assembly
        (see :meth:`intervals_of` for tables that apply to every assembly)."""
        chroms = table.chrom.tolist()
        if "assembly" in table.columns and self.assemblies != [None]:
            asm = self.asm_of(table).tolist()
            return np.array([self._lookup(a, c) for a, c in zip(asm, chroms)], dtype=np.int64)
        if len(self.assemblies) == 1:
            return np.array([self._lookup(0, c) for c in chroms], dtype=np.int64)
        raise RangeError("with several assemblies, this table needs an 'assembly' column")

    def intervals_of(self, table: Regions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes, starts and ends of a label or blacklist table: rows with an ``assembly`` column
        apply to that assembly, rows without one to every assembly that has their chromosome."""
        if "assembly" in table.columns or len(self.assemblies) == 1:
            return self.keys_of(table), table.start, table.end
        chroms = table.chrom.tolist()
        keys = np.concatenate([np.array([self._lookup(a, c) for c in chroms], dtype=np.int64)
                               for a in range(len(self.assemblies))])
        k = len(self.assemblies)
        return keys, np.tile(table.start, k), np.tile(table.end, k)

    def overlaps(self, table: Regions, other: Regions) -> np.ndarray:
        """bool (rows,): which rows of ``table`` overlap an interval of ``other``."""
        return OverlapIndex(*self.intervals_of(other)).query(self.keys_of(table), table.start, table.end)


class LabelSets:
    """Label sets: ``labels[k]`` is 1 when a window overlaps an interval of set ``k``.

    Parameters
    ----------
    labels : Regions, BED path, a list of them, or a dict name -> one of them, or None
    codes : ChromCodes
    """

    def __init__(self, labels: Any, codes: ChromCodes) -> None:
        self.names: list[str] = []
        self._index: list[OverlapIndex] = []
        if labels is None:
            return
        if isinstance(labels, Mapping):
            items = list(labels.items())
        elif isinstance(labels, (list, tuple)):
            items = [(f"label{k}", v) for k, v in enumerate(labels)]
        else:
            items = [("label0", labels)]
        for name, table in items:
            self.names.append(str(name))
            self._index.append(OverlapIndex(*codes.intervals_of(as_regions(table, "a label set"))))

    def __len__(self) -> int:
        return len(self._index)

    def query(self, keys: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
        """bool (n, sets): which windows ``[start, start + width)`` overlap each set."""
        return np.stack([ix.query(keys, starts, starts + width) for ix in self._index], axis=1)
