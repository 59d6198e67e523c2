"""Region tables from bigBed files: the columns of ``Regions.from_bigbed`` (and of ``from_bed`` given a
bigBed), typed by the file's autoSql (:meth:`fastwig.BigBed.table`)."""

from __future__ import annotations

import os

from ..bigbed import BigBed, is_bigbed
from ..errors import FastwigError
from .columns import categorical
from .io import Columns

__all__ = ["is_bigbed_file", "read_bigbed"]


def is_bigbed_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a bigBed file (by its magic number, whatever its name)."""
    try:
        with open(os.fspath(path), "rb") as fh:
            return is_bigbed(fh.read(4))
    except (OSError, TypeError):
        return False     # the BED reader names the problem


def read_bigbed(path: str | os.PathLike) -> Columns | None:
    """The columns of a bigBed file, None when it has no records.

    Columns are ``chrom, start, end`` and then the autoSql fields by name (``name, score, strand,
    signalValue, ...`` for bigNarrowPeak), numbers as int64 or float64; ``colN`` (N the 1-based column
    number) is an alias of each, as in a text BED table.  Rows come chromosome by chromosome in the
    file's chromosome order, each in file order.

    Raises
    ------
    FastwigError
        The file cannot be read or is not a valid bigBed (the message names it).
    """
    with BigBed(path) as bb:
        cols, aliases = bb.table()
    start, end = cols.pop("start"), cols.pop("end")
    if start.size == 0:
        return None
    names, codes = categorical(cols.pop("chrom").tolist(), start.size, trusted=True)
    bad = (end < start).nonzero()[0]
    if bad.size:
        raise FastwigError(f"{os.fspath(path)}: record {int(bad[0])} ends before it starts")
    return names, codes, start, end, cols, aliases
