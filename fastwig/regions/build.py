"""The ways to build a region table: the constructors of :class:`~fastwig.regions.Regions`.

:class:`Constructors` holds them as classmethods, and ``Regions`` inherits them; each gathers columns
(from a dict, rows, a file reader of :mod:`.io`, tiling, or :mod:`.threshold`) and hands them to
``Regions._make``.  A new format's ``Regions.from_<format>`` goes here, beside ``from_bed``, its reader
in :mod:`.io` or a module next to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ChromNotFound, RangeError
from .bigbed import is_bigbed_file, read_bigbed
from .columns import record_columns, tile_columns
from .io import read_bed, read_chrom_sizes
from .threshold import threshold_columns

if TYPE_CHECKING:
    from .table import Regions

__all__ = ["Constructors"]


class Constructors:
    """Classmethods that build a :class:`~fastwig.regions.Regions` (inherited by it)."""

    @classmethod
    def from_dict(cls, columns: Mapping[str, Any]) -> Regions:
        """A table from a dict of columns (``chrom``, ``start``, ``end`` and any others)."""
        cols = dict(columns)
        try:
            chrom, start, end = cols.pop("chrom"), cols.pop("start"), cols.pop("end")
        except KeyError as exc:
            raise RangeError(f"missing column {exc.args[0]!r}") from None
        return cls(chrom, start, end, **cols)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Sequence[Any]],
                     columns: Sequence[str] | None = None) -> Regions:
        """A table from rows: mappings (keys are column names), or sequences named by ``columns``.

        Parameters
        ----------
        records : iterable of mappings or of sequences
            Rows.  Mappings may have different keys: a key missing from a row gives ``None`` there.
        columns : sequence of str, optional
            Column names of sequence rows (default: ``chrom, start, end`` then BED's names).
        """
        return cls.from_dict(record_columns(list(records), columns))

    @classmethod
    def from_bed(cls, path: str | os.PathLike) -> Regions:
        """Read a BED file (BED3 and wider), plain or gzip/BGZF-compressed.

        ``track`` and ``browser`` lines, ``#`` comments and blank lines are skipped.  Fields are
        tab-separated (any whitespace when the file has no tab).  Columns 1-6 are named ``chrom,
        start, end, name, score, strand``.  Columns 7-12 take BED12's names (``thickStart, thickEnd,
        itemRgb, blockCount, blockSizes, blockStarts``) when the file has at least 12 columns and
        ``thickStart``, ``thickEnd`` and ``blockCount`` are integers; otherwise (BED6+ files such
        as narrowPeak) they are ``col7, col8, ...``.  Every column after those is ``colN``, ``N`` its
        1-based column number; ``colN`` also works as an alias of a named column.  A column whose
        values all parse as integers is int64; as numbers (``.`` or empty meaning missing -> NaN),
        float64; otherwise str.  Rows with fewer fields than the widest row get ``""`` there.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Regions

        Raises
        ------
        FastwigError
            Unreadable file, a row with fewer than 3 fields, or a start/end that is not an integer
            (the message names the file and line).

        A bigBed file (told by its magic number, whatever its name) is read by :meth:`from_bigbed`.
        """
        cols = read_bigbed(path) if is_bigbed_file(path) else read_bed(path)
        return cls([], [], []) if cols is None else cls._make(*cols)

    @classmethod
    def from_bigbed(cls, path: str | os.PathLike) -> Regions:
        """Read a bigBed file: columns ``chrom, start, end``, then the fields its autoSql declares, by
        name (``name, score, strand, signalValue, pValue, qValue, peak`` for bigNarrowPeak), integers
        as int64 and reals as float64 (an integer column with ``.`` or empty values becomes float64
        with NaN there), other types as str; ``colN`` is an alias of column ``N`` (1-based) as in
        :meth:`from_bed`.  Rows come chromosome by chromosome in the file's order.

        Raises
        ------
        FastwigError
            Unreadable file, or not a valid bigBed (FormatError; the message names the file).
        """
        cols = read_bigbed(path)
        return cls([], [], []) if cols is None else cls._make(*cols)

    @classmethod
    def tile(cls, chrom_sizes: Any, width: int, stride: int | None = None,
             chroms: Sequence[str] | None = None) -> Regions:
        """Windows of ``width`` every ``stride`` bases along each chromosome.

        Tiles start at 0, ``stride``, ``2 * stride``, ... ; a last tile that would run past the
        chromosome end is dropped (so every tile is exactly ``width`` long, and a chromosome shorter
        than ``width`` gets none).

        Parameters
        ----------
        chrom_sizes : dict, path to a chrom.sizes (or .fai) file, or object with ``.chroms``
        width : int
            Tile length (> 0).
        stride : int, optional
            Step between tile starts (> 0); default ``width`` (adjacent tiles).
        chroms : sequence of str, optional
            Only these chromosomes, in this order.

        Returns
        -------
        Regions
        """
        width = int(width)
        stride = width if stride is None else int(stride)
        if width <= 0 or stride <= 0:
            raise RangeError(f"width and stride must be > 0, got {width}, {stride}")
        sizes = read_chrom_sizes(chrom_sizes)
        if chroms is not None:
            missing = [c for c in chroms if c not in sizes]
            if missing:
                raise ChromNotFound(f"chrom sizes have no {missing[0]!r}")
            sizes = {c: sizes[c] for c in chroms}
        return cls._make(*tile_columns(sizes, width, stride), {})._compact()

    @classmethod
    def threshold(cls, tracks: Any, above: float, merge_gap: int = 0, min_length: int = 1,
                  chroms: Sequence[str] | None = None, chunk: int = 1_000_000,
                  progress: bool = True) -> Regions:
        """Regions where the signal exceeds ``above`` in any track.

        A base is selected when its value is strictly greater than ``above`` in at least one track
        (NaN, "no data", never is).  Runs of selected bases separated by gaps of at most
        ``merge_gap`` unselected bases are merged into one region; regions shorter than
        ``min_length`` are then dropped.

        Parameters
        ----------
        tracks : path, track object, or a list of them
            bigWig paths (opened with :func:`fastwig.open`) or objects with ``.chroms`` (name ->
            length) and ``.values(chrom, start, end)`` (float array, NaN for no data).
        above : float
            Threshold (strict).
        merge_gap : int, default 0
            Largest gap (in bases) bridged when merging; 0 merges only adjacent runs.
        min_length : int, default 1
            Shortest region kept.
        chroms : sequence of str, optional
            Only these chromosomes (default: every chromosome of any track, in the first track's
            order, then the others').
        chunk : int, default 1_000_000
            Bases read per call, bounding memory.
        progress : bool, default True
            Show a progress bar on stderr (only when it is a terminal).

        Returns
        -------
        Regions
            Sorted by chromosome, then start; columns ``chrom, start, end``.
        """
        cols = threshold_columns(tracks, above, merge_gap, min_length, chroms, chunk, progress)
        return cls([], [], []) if cols is None else cls._make(*cols, {})._compact()

    @classmethod
    def concat(cls, tables: Sequence[Regions]) -> Regions:
        """Rows of several tables, in order; they must have the same columns."""
        tables = list(tables)
        if not tables:
            return cls([], [], [])
        cols = tables[0].columns
        for t in tables[1:]:
            if t.columns != cols:
                raise RangeError(f"cannot concatenate tables with columns {cols} and {t.columns}")
        names: dict[str, int] = {}
        codes = []
        for t in tables:
            remap = np.array([names.setdefault(str(n), len(names)) for n in t._names], dtype=np.int32)
            codes.append(remap[t._codes] if t._names.size else np.zeros(0, dtype=np.int32))
        extra = {c: np.concatenate([t._extra[c] for t in tables]) for c in cols[3:]}
        return cls._make(np.array(list(names), dtype=object), np.concatenate(codes),
                         np.concatenate([t._start for t in tables]),
                         np.concatenate([t._end for t in tables]), extra, tables[0]._aliases)
