"""Readers of region files: BED (plain, gzip or BGZF) and chromosome sizes.

Each reader returns the columns of a table -- ``(names, codes, start, end, extra, aliases)``, what
``Regions._make`` takes -- and :class:`~fastwig.regions.Regions` wraps them in a classmethod
(``Regions.from_bed``).  A new BED-like format (bigBed, narrowPeak variants, ...) adds its reader
here, or in a module of its own beside this one, and a ``Regions.from_<format>`` classmethod.

Errors name the file and, where there is one, the line.
"""

from __future__ import annotations

import gc
import gzip
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import FastwigError
from .columns import BED_COLUMNS, categorical

__all__ = ["BED_COLUMNS", "read_bed", "read_chrom_sizes"]

# BED lines that hold no interval: track and browser lines, # comments, blank lines
_NON_DATA = re.compile(r"#|track(?=[ \t\r]|$)|browser(?=[ \t\r]|$)|[ \t\r]*$")
_NON_DATA_LINES = re.compile(r"^(?:#|track(?=[ \t\r]|$)|browser(?=[ \t\r]|$))[^\n]*(?:\n|\Z)|^[ \t\r]*(?:\n|\Z)",
                             re.MULTILINE)

#: what a reader returns: chromosome names, int32 codes, int64 starts and ends, extra columns, aliases
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict, dict]


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


def read_bed(path: str | os.PathLike) -> Columns | None:
    """The columns of a BED file (the rules are in ``Regions.from_bed``'s docstring); None when it has no rows.

    Raises
    ------
    FastwigError
        Unreadable file, a row with fewer than 3 fields, a start/end that is not an integer, an end
        before its start (the message names the file and line).
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
            return None
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
        names, codes = categorical(list(fields[0]), len(start), trusted=True)
    finally:
        if gc_was_enabled:
            gc.enable()
    bad = np.flatnonzero(end < start)
    if bad.size:
        lineno, line = _data_lines(text)[int(bad[0])]
        raise FastwigError(f"{path}: line {lineno}: end is before start: {line!r}")
    return names, codes, start, end, extra, aliases


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
