"""Columns of a region table: user input coerced to the arrays a :class:`~fastwig.regions.Regions` holds,
and the columns of the constructors that build tables from rows and from tiling.

Chromosomes are categorical (names in first-appearance order plus ``int32`` codes), coordinates
``int64``, every other column a 1-D ``int64``/``float64``/``bool`` array or an ``object`` array of str.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import RangeError

#: BED's names of columns 1 to 12.
BED_COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "thickStart", "thickEnd",
               "itemRgb", "blockCount", "blockSizes", "blockStarts")
CORE = BED_COLUMNS[:3]


def readonly(a: np.ndarray) -> np.ndarray:
    """``a``, marked read-only (tables are immutable)."""
    a.flags.writeable = False
    return a


def int64_column(values: Any, what: str) -> np.ndarray:
    """A coordinate column as int64 (n,); floats must be whole, strings must parse as integers."""
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


def extra_column(values: Any, n: int, name: str) -> np.ndarray:
    """An extra column as a 1-D array of length ``n`` (a scalar is broadcast; text becomes object)."""
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


def categorical(chrom: Any, n: int | None, trusted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Names (object, first-appearance order) and int32 codes of a chromosome column.

    ``chrom`` may be one name (repeated ``n`` times) or a sequence; ``trusted``: a list of str.
    """
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


def record_columns(rows: list, columns: Sequence[str] | None) -> dict[str, list]:
    """Columns (name -> list) of rows given as mappings or as sequences named by ``columns``
    (default: BED's names, then ``colN``); a value a row lacks is ``None``."""
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
    for key in CORE:
        cols.setdefault(key, [])
    return cols


def tile_columns(sizes: dict[str, int], width: int, stride: int) -> tuple[np.ndarray, ...]:
    """``(names, codes, start, end)`` of tiles of ``width`` every ``stride`` bases from 0, whole tiles only."""
    names = np.array(list(sizes), dtype=object)
    starts, codes = [], []
    for code, length in enumerate(sizes.values()):
        s = np.arange(0, max(length - width + 1, 0), stride, dtype=np.int64)
        starts.append(s)
        codes.append(np.full(s.shape[0], code, dtype=np.int32))
    start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    return names, code, start, start + width
