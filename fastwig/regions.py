"""Region tables: intervals with any extra columns, read from BED, filtered with SQL, tiled, derived
from signal, split by chromosome.

A :class:`Regions` holds its columns as numpy arrays: chromosome names as categorical codes
(``int32``) plus a names array, ``start``/``end`` as ``int64`` (0-based, half-open), and every other
column as a 1-D array (``int64``, ``float64``, ``bool`` or ``object`` holding ``str``).  Tables are
immutable: every operation returns a new table.

An ``assembly`` column is an ordinary extra column; :class:`fastwig.WindowDataset` uses it, when
present, to choose the genome and the tracks of each region, so one table can span several assemblies.
"""

from __future__ import annotations

import gc
import gzip
import os
import re
import sqlite3
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .errors import ChromNotFound, FastwigError, RangeError

__all__ = ["Regions", "BED_COLUMNS", "read_chrom_sizes"]

#: BED's names of columns 1 to 12.
BED_COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "thickStart", "thickEnd",
               "itemRgb", "blockCount", "blockSizes", "blockStarts")
_CORE = ("chrom", "start", "end")
_ROW_ID = "_fastwig_row_"
# overlap search key: chrom code * _SHIFT + coordinate, coordinates clipped to +-_COORD_LIMIT
_SHIFT = np.int64(1) << np.int64(35)
_COORD_LIMIT = np.int64(1) << np.int64(33)
_COLN = re.compile(r"col([0-9]+)$")
# BED lines that hold no interval: track and browser lines, # comments, blank lines
_NON_DATA = re.compile(r"#|track(?=[ \t\r]|$)|browser(?=[ \t\r]|$)|[ \t\r]*$")
_NON_DATA_LINES = re.compile(r"^(?:#|track(?=[ \t\r]|$)|browser(?=[ \t\r]|$))[^\n]*(?:\n|\Z)|^[ \t\r]*(?:\n|\Z)",
                             re.MULTILINE)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _int64(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise RangeError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "iub":
        return np.array(arr, dtype=np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise RangeError(f"{what} holds non-integer values")
        return arr.astype(np.int64)
    try:
        return np.array(arr.astype(str).astype(np.int64), dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        raise RangeError(f"{what} holds values that are not integers") from None


def _column(values: Any, n: int, name: str) -> np.ndarray:
    """An extra column as a 1-D array of length ``n`` (a scalar is broadcast)."""
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        values = [values] * n
    arr = np.array(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise RangeError(f"column {name!r} has shape {arr.shape}; the table has {n} rows")
    if arr.dtype.kind == "U":
        arr = arr.astype(object)
    elif arr.dtype.kind == "S":
        arr = np.array([v.decode() for v in arr.tolist()], dtype=object)
    elif arr.dtype.kind not in "iufbO":
        arr = arr.astype(object)
    return arr


def _categorical(chrom: Any, n: int | None, trusted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Names (first-appearance order) and int32 codes of a chromosome column (``trusted``: a list of str)."""
    if isinstance(chrom, str):
        return np.array([chrom], dtype=object), np.zeros(0 if n is None else n, dtype=np.int32)
    if isinstance(chrom, list) and (trusted or all(type(c) is str for c in chrom)):
        values = chrom
    else:
        arr = np.asarray(chrom)
        values = (arr.astype(str) if arr.dtype.kind != "U" else arr).reshape(-1).tolist()
    # a dict numbers names in order of first appearance (far faster than sorting strings)
    ids: dict[str, int] = {}
    codes = np.fromiter((ids.setdefault(c, len(ids)) for c in values), dtype=np.int32, count=len(values))
    return np.array(list(ids), dtype=object).reshape(-1), codes


def read_chrom_sizes(source: Any) -> dict[str, int]:
    """Chromosome lengths from a dict, an object with ``.chroms`` (Genome, BigWig) or a file.

    Parameters
    ----------
    source : dict, object with ``.chroms``, str or os.PathLike
        A file is whitespace-separated ``name length`` lines (a UCSC ``chrom.sizes`` file or a
        ``.fai`` index); blank lines and ``#`` lines are skipped.

    Returns
    -------
    dict[str, int]
        Name -> length, in the source's order.
    """
    if isinstance(source, Mapping):
        return {str(k): int(v) for k, v in source.items()}
    chroms = getattr(source, "chroms", None)
    if chroms is not None:
        if callable(chroms):  # pyBigWig's chroms()
            chroms = chroms()
        return {str(k): int(v) for k, v in dict(chroms).items()}
    path = os.fspath(source)
    sizes: dict[str, int] = {}
    try:
        with open(path, "rt") as fh:
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                try:
                    sizes[fields[0]] = int(fields[1])
                except (IndexError, ValueError):
                    raise FastwigError(
                        f"{path}: line {lineno}: expected 'name length', got {line.rstrip()!r}") from None
    except OSError as exc:
        raise FastwigError(f"{path}: cannot read chromosome sizes: {exc.strerror}") from exc
    return sizes


def _parse_text_column(values: Sequence[str]) -> np.ndarray:
    """A BED column as int64 if every value parses, else float64 if every value but ``.``/empty
    parses (those become NaN), else str."""
    if len(values) == 0:
        return np.zeros(0, dtype=object)
    # numpy parses a list of str with int()/float() semantics, without a Python loop
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        pass
    if "." not in values and "" not in values:
        return np.array(values, dtype=object)
    cleaned = ["nan" if v == "." or v == "" else v for v in values]
    if any(v != "nan" for v in cleaned):
        try:
            return np.array(cleaned, dtype=np.float64)
        except ValueError:
            pass
    return np.array(values, dtype=object)


def _is_int_column(values: Sequence[str]) -> bool:
    try:
        np.array(values, dtype=np.int64)
        return True
    except (ValueError, OverflowError):
        return False


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Regions:
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
        start_arr = _int64(start, "start")
        end_arr = _int64(end, "end")
        if start_arr.shape != end_arr.shape:
            raise RangeError(f"start has {start_arr.shape[0]} values, end {end_arr.shape[0]}")
        n = start_arr.shape[0]
        names, codes = _categorical(chrom, n)
        if codes.shape[0] != n:
            raise RangeError(f"chrom has {codes.shape[0]} values for {n} intervals")
        bad = np.flatnonzero(end_arr < start_arr)
        if bad.size:
            i = int(bad[0])
            raise RangeError(f"row {i}: end ({end_arr[i]}) is before start ({start_arr[i]})")
        cols = {}
        for name, values in extra.items():
            cols[name] = _column(values, n, name)
        self._init(names, codes, start_arr, end_arr, cols)
        self._compact()

    def _init(self, names: np.ndarray, codes: np.ndarray, start: np.ndarray, end: np.ndarray,
              extra: dict[str, np.ndarray]) -> None:
        self._names = _readonly(names)
        self._codes = _readonly(codes)
        self._start = _readonly(start)
        self._end = _readonly(end)
        self._extra = {k: _readonly(v) for k, v in extra.items()}
        self._aliases: dict[str, str] = {}

    @classmethod
    def _make(cls, names, codes, start, end, extra, aliases=None) -> "Regions":
        self = cls.__new__(cls)
        self._init(names, codes, start, end, extra)
        if aliases:
            self._aliases = dict(aliases)
        return self

    # --- construction -----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, columns: Mapping[str, Any]) -> "Regions":
        """A table from a dict of columns (``chrom``, ``start``, ``end`` and any others)."""
        cols = dict(columns)
        try:
            chrom, start, end = cols.pop("chrom"), cols.pop("start"), cols.pop("end")
        except KeyError as exc:
            raise RangeError(f"missing column {exc.args[0]!r}") from None
        return cls(chrom, start, end, **cols)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Sequence[Any]],
                     columns: Sequence[str] | None = None) -> "Regions":
        """A table from rows: mappings (keys are column names), or sequences named by ``columns``.

        Parameters
        ----------
        records : iterable of mappings or of sequences
            Rows.  Mappings may have different keys: a key missing from a row gives ``None`` there.
        columns : sequence of str, optional
            Column names of sequence rows (default: ``chrom, start, end`` then BED's names).
        """
        rows = list(records)
        if rows and isinstance(rows[0], Mapping):
            keys: dict[str, None] = {}
            for row in rows:
                for key in row:
                    keys.setdefault(key, None)
            cols = {key: [row.get(key) for row in rows] for key in keys}
        else:
            width = max((len(r) for r in rows), default=3)
            names = list(columns) if columns is not None else list(BED_COLUMNS[:width]) + [
                f"col{i + 1}" for i in range(len(BED_COLUMNS), width)]
            cols = {name: [r[i] if i < len(r) else None for r in rows] for i, name in enumerate(names)}
        for key in _CORE:
            cols.setdefault(key, [])
        return cls.from_dict(cols)

    @classmethod
    def from_bed(cls, path: str | os.PathLike) -> "Regions":
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
        """
        path = os.fspath(path)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise FastwigError(f"{path}: cannot read BED file: {exc.strerror}") from exc
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)  # BGZF is multi-member gzip
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise FastwigError(f"{path}: corrupt gzip data: {exc}") from exc
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FastwigError(f"{path}: not a text BED file ({exc})") from exc
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of new lists would trigger the cyclic collector again and again
        try:
            fields = _split_bed(text)
            if fields is None:
                return cls([], [], [])
            if len(fields) < 3:
                sep = "\t" if "\t" in text else None
                lineno, line = next((n, ln) for n, ln in _data_lines(text) if len(ln.rstrip().split(sep)) < 3)
                raise FastwigError(f"{path}: line {lineno}: a BED line needs at least 3 fields, got {line!r}")
            start = _parse_coord(fields[1], "start", path, text)
            end = _parse_coord(fields[2], "end", path, text)
            width = len(fields)
            bed12 = width >= 12 and all(_is_int_column(fields[i]) for i in (6, 7, 9))
            named = 12 if bed12 else 6
            extra: dict[str, np.ndarray] = {}
            aliases: dict[str, str] = {}
            for i in range(3, width):
                name = BED_COLUMNS[i] if i < named else f"col{i + 1}"
                if i < named:
                    aliases[f"col{i + 1}"] = name
                extra[name] = _parse_text_column(fields[i])
            names, codes = _categorical(list(fields[0]), len(start), trusted=True)
        finally:
            if gc_was_enabled:
                gc.enable()
        bad = np.flatnonzero(end < start)
        if bad.size:
            lineno, line = _data_lines(text)[int(bad[0])]
            raise FastwigError(f"{path}: line {lineno}: end is before start: {line!r}")
        return cls._make(names, codes, start, end, extra, aliases)

    @classmethod
    def tile(cls, chrom_sizes: Any, width: int, stride: int | None = None,
             chroms: Sequence[str] | None = None) -> "Regions":
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
        names = np.array(list(sizes), dtype=object)
        starts, codes = [], []
        for code, length in enumerate(sizes.values()):
            s = np.arange(0, max(length - width + 1, 0), stride, dtype=np.int64)
            starts.append(s)
            codes.append(np.full(s.shape[0], code, dtype=np.int32))
        start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
        return cls._make(names, code, start, start + width, {})._compact()

    @classmethod
    def threshold(cls, tracks: Any, above: float, merge_gap: int = 0, min_length: int = 1,
                  chroms: Sequence[str] | None = None, chunk: int = 1_000_000,
                  progress: bool = True) -> "Regions":
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
        from .progress import Progress

        merge_gap, min_length, chunk = int(merge_gap), int(min_length), int(chunk)
        if merge_gap < 0 or chunk <= 0:
            raise RangeError(f"merge_gap must be >= 0 and chunk > 0, got {merge_gap}, {chunk}")
        track_list = list(tracks) if isinstance(tracks, (list, tuple)) else [tracks]
        opened, owned = [], []
        try:
            for t in track_list:
                if isinstance(t, (str, os.PathLike)):
                    import fastwig

                    t = fastwig.open(t)
                    owned.append(t)
                opened.append(t)
            sizes = [read_chrom_sizes(t) for t in opened]
            order: dict[str, int] = {}
            for s in sizes:
                for name, length in s.items():
                    order[name] = max(order.get(name, 0), length)
            if chroms is not None:
                missing = [c for c in chroms if c not in order]
                if missing:
                    raise ChromNotFound(f"no track has chromosome {missing[0]!r}")
                order = {c: order[c] for c in chroms}
            total = sum(s[c] for s in sizes for c in order if c in s)
            names = np.array(list(order), dtype=object)
            out_start, out_end, out_code = [], [], []
            with Progress(total, "threshold", unit="bp", enabled=progress) as bar:
                for code, (chrom, length) in enumerate(order.items()):
                    run_s, run_e = [], []
                    for lo in range(0, length, chunk):
                        hi = min(lo + chunk, length)
                        mask = np.zeros(hi - lo, dtype=bool)
                        for t, s in zip(opened, sizes):
                            tl = s.get(chrom)
                            if tl is None or tl <= lo:
                                continue
                            th = min(hi, tl)
                            vals = np.asarray(t.values(chrom, lo, th))
                            with np.errstate(invalid="ignore"):
                                mask[: th - lo] |= vals > above
                            bar.update(th - lo)
                        s_, e_ = _runs(mask)
                        run_s.append(s_ + lo)
                        run_e.append(e_ + lo)
                    if not run_s:
                        continue
                    s_all, e_all = np.concatenate(run_s), np.concatenate(run_e)
                    s_m, e_m = _merge_sorted(s_all, e_all, merge_gap)
                    keep = (e_m - s_m) >= min_length
                    out_start.append(s_m[keep])
                    out_end.append(e_m[keep])
                    out_code.append(np.full(int(keep.sum()), code, dtype=np.int32))
        finally:
            for t in owned:
                close = getattr(t, "close", None)
                if close is not None:
                    close()
        if not out_start:
            return cls([], [], [])
        return cls._make(names, np.concatenate(out_code), np.concatenate(out_start),
                         np.concatenate(out_end), {})._compact()

    @classmethod
    def concat(cls, tables: Sequence["Regions"]) -> "Regions":
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

    def _take(self, idx: Any) -> "Regions":
        extra = {k: v[idx] for k, v in self._extra.items()}
        return Regions._make(self._names, self._codes[idx], self._start[idx], self._end[idx],
                             extra, self._aliases)._compact()

    def _compact(self) -> "Regions":
        """Drop chromosome names that no row uses any more."""
        k = self._names.shape[0]
        used = np.bincount(self._codes, minlength=k) > 0 if self._codes.size else np.zeros(k, dtype=bool)
        if used.all():
            return self
        remap = np.cumsum(used, dtype=np.int32) - 1
        self._names = _readonly(self._names[used])
        self._codes = _readonly(remap[self._codes].astype(np.int32))
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

    def sort(self) -> "Regions":
        """Rows ordered by chromosome name, start, end."""
        rank = np.argsort(np.argsort(self._names.astype(str), kind="stable"), kind="stable")
        order = np.lexsort((self._end, self._start, rank[self._codes] if len(self) else self._codes))
        return self._take(order)

    # --- queries ----------------------------------------------------------------------------------

    def where(self, sql: str) -> "Regions":
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
        # only the columns the clause can name are loaded (SQLite identifiers ignore case)
        lowered = sql.lower()
        names = [n for n in self.columns if n.lower() in lowered]
        names += [a for a in self._aliases if a.lower() in lowered and a not in names]
        con = sqlite3.connect(":memory:")
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            decl = [f"{_sql_ident(_ROW_ID)} INTEGER"]
            data = [range(len(self))]
            for name in names:
                col = self.column(name)
                kind = col.dtype.kind
                sqltype = "INTEGER" if kind in "iub" else "REAL" if kind == "f" else "TEXT"
                decl.append(f"{_sql_ident(name)} {sqltype}")
                data.append(col.tolist())
            con.execute(f"CREATE TABLE regions ({', '.join(decl)})")
            marks = ", ".join("?" * len(decl))
            try:
                con.executemany(f"INSERT INTO regions VALUES ({marks})", zip(*data))
            except (sqlite3.Error, OverflowError) as exc:
                raise FastwigError(f"cannot load the table into sqlite: {exc}") from exc
            try:
                cur = con.execute(f"SELECT {_sql_ident(_ROW_ID)} FROM regions WHERE (\n{sql}\n)")
                rows = np.fromiter((r[0] for r in cur), dtype=np.int64)
            except (sqlite3.Error, sqlite3.Warning) as exc:
                raise RangeError(f"bad WHERE clause {sql!r}: {exc}") from None
        finally:
            con.close()
            if gc_was_enabled:
                gc.enable()
        return self._take(np.unique(rows))

    def overlaps(self, other: "Regions | str | os.PathLike") -> np.ndarray:
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
        hit = np.zeros(len(self), dtype=bool)
        if len(self) == 0 or len(other) == 0:
            return hit
        lut = {str(name): i for i, name in enumerate(self._names)}
        remap = np.array([lut.get(str(name), -1) for name in other._names], dtype=np.int64)
        ocode = remap[other._codes]
        keep = ocode >= 0
        if not keep.any():
            return hit
        ocode = ocode[keep]
        ostart = np.clip(other._start[keep], -_COORD_LIMIT, _COORD_LIMIT)
        oend = np.clip(other._end[keep], -_COORD_LIMIT, _COORD_LIMIT)
        key_s = ocode * _SHIFT + ostart
        order = np.argsort(key_s, kind="stable")
        key_s = key_s[order]
        # running max of ends over intervals sorted by (chrom, start): the furthest any interval
        # starting at or before this one reaches; earlier chromosomes never reach into later ones
        reach = np.maximum.accumulate((ocode * _SHIFT + oend)[order])
        code = self._codes.astype(np.int64) * _SHIFT
        qs = code + np.clip(self._start, -_COORD_LIMIT, _COORD_LIMIT)
        qe = code + np.clip(self._end, -_COORD_LIMIT, _COORD_LIMIT)
        # intervals that start before this row ends; one of them overlaps iff it reaches past our start
        idx = np.searchsorted(key_s, qe, side="left")
        has = idx > 0
        hit[has] = reach[idx[has] - 1] > qs[has]
        return hit

    def exclude(self, blacklist: "Regions | str | os.PathLike") -> "Regions":
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
              ) -> tuple["Regions", "Regions", "Regions"]:
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


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) of every data line: the slow path, for error messages."""
    return [(i + 1, ln) for i, ln in enumerate(text.split("\n")) if not _NON_DATA.match(ln)]


def _split_bed(text: str) -> list[Sequence[str]] | None:
    """The fields of a BED text, column by column (rows padded with "" to the widest); None if empty.

    Fast path: when every line has the same number of tab-separated fields (counted on the bytes
    with numpy), the whole text is split at once and columns are slices of one flat list.
    """
    body = _NON_DATA_LINES.sub("", text)
    if "\r" in body:
        body = body.replace("\r\n", "\n")
    body = body.rstrip()
    if not body:
        return None
    if "\t" in body:
        raw = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
        newlines = np.flatnonzero(raw == 10)
        tabs = np.flatnonzero(raw == 9)
        per_line = np.diff(np.searchsorted(tabs, np.append(newlines, raw.size)), prepend=0)
        if per_line.min() == per_line.max():
            ncol = int(per_line[0]) + 1
            flat = body.replace("\n", "\t").split("\t")
            return [flat[k::ncol] for k in range(ncol)]
        sep = "\t"
    else:
        sep = None
    # trailing whitespace dropped: an empty last field reads as "" either way (rows are padded)
    rows = [ln.rstrip().split(sep) for ln in body.split("\n")]
    width = max(len(r) for r in rows)
    if min(len(r) for r in rows) < 3:
        return [[]]  # the caller reports the short line
    rows = [r + [""] * (width - len(r)) if len(r) < width else r for r in rows]
    return [list(col) for col in zip(*rows)]


def _parse_coord(values: Sequence[str], what: str, path: str, text: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        lines = _data_lines(text)
        for j, v in enumerate(values):
            try:
                int(v)
            except ValueError:
                lineno, _ = lines[j]
                raise FastwigError(f"{path}: line {lineno}: {what} {v!r} is not an integer") from None
        raise FastwigError(f"{path}: {what} values out of the int64 range") from None


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (half-open) of the runs of True in a bool array."""
    if mask.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)


def _merge_sorted(starts: np.ndarray, ends: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted, disjoint intervals whose gap (next start - previous end) is at most ``gap``."""
    if starts.size == 0:
        return starts, ends
    breaks = np.flatnonzero(starts[1:] - ends[:-1] > gap)
    first = np.concatenate(([0], breaks + 1))
    last = np.concatenate((breaks, [starts.size - 1]))
    return starts[first], ends[last]
