"""SQL filters of region tables, evaluated by sqlite3 (``Regions.where``)."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import FastwigError, RangeError

__all__ = ["where_rows"]

_ROW_ID = "_fastwig_row_"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def where_rows(n: int, names: Sequence[str], column: Callable[[str], np.ndarray], sql: str) -> np.ndarray:
    """Rows (sorted int64 indices) of a table of ``n`` rows for which the ``WHERE`` clause ``sql`` holds.

    Parameters
    ----------
    n : int
        Rows of the table.
    names : sequence of str
        Every name a clause may use (columns and aliases); only those the clause mentions are loaded
        (SQLite identifiers ignore case).
    column : callable
        ``column(name)`` -> 1-D array (n,).
    sql : str
        The clause, without the ``WHERE`` keyword.

    Raises
    ------
    RangeError
        SQLite rejects the clause (the message quotes SQLite's).
    """
    lowered = sql.lower()
    used = [name for name in dict.fromkeys(names) if name.lower() in lowered]
    con = sqlite3.connect(":memory:")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        decl = [f"{_ident(_ROW_ID)} INTEGER"]
        data = [range(n)]
        for name in used:
            col = column(name)
            kind = col.dtype.kind
            sqltype = "INTEGER" if kind in "iub" else "REAL" if kind == "f" else "TEXT"
            decl.append(f"{_ident(name)} {sqltype}")
            data.append(col.tolist())
        con.execute(f"CREATE TABLE regions ({', '.join(decl)})")
        marks = ", ".join("?" * len(decl))
        try:
            con.executemany(f"INSERT INTO regions VALUES ({marks})", zip(*data))
        except (sqlite3.Error, OverflowError) as exc:
            raise FastwigError(f"cannot load the table into sqlite: {exc}") from exc
        try:
            cur = con.execute(f"SELECT {_ident(_ROW_ID)} FROM regions WHERE (\n{sql}\n)")
            rows = np.fromiter((r[0] for r in cur), dtype=np.int64)
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise RangeError(f"bad WHERE clause {sql!r}: {exc}") from None
    finally:
        con.close()
        if gc_was_enabled:
            gc.enable()
    return np.unique(rows)
