"""autoSql, the table declaration a bigBed file carries: column names, types and comments.

A declaration reads::

    table bed6plus "a comment"
    (
    string chrom;      "Reference sequence chromosome or scaffold"
    uint   chromStart; "Start position in chromosome"
    char[1] strand;    "+ or - or . for unknown"
    int[blockCount] chromStarts; "Start positions relative to chromStart"
    enum(a, b) kind;   "one of a few words"
    )

Only what a reader needs is parsed: each column's name, its type as written (``char[1]``,
``int[blockCount]``, ``enum(a, b)`` kept whole) and its comment.  A file without autoSql gets the
standard BED names for its first ``definedFieldCount`` columns and ``field<N>`` strings after them,
as UCSC's own tools name them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from .errors import FormatError


class Field(NamedTuple):
    """One column of a bigBed: its name, its autoSql type as written, and its comment."""

    name: str
    type: str
    comment: str = ""

    @property
    def dtype(self) -> np.dtype:
        """What a typed table holds for this column: int64 for integer scalars, float64 for real
        scalars, object (str) for everything else (strings, chars, arrays, enums, sets)."""
        return column_dtype(self.type)


_INTEGER = {"int", "uint", "short", "ushort", "byte", "ubyte", "bigint"}
_REAL = {"float", "double"}

# type (optionally [size] or (values)), name, optional index words, ';', optional "comment"
_COLUMN = re.compile(r'\s*([A-Za-z_]\w*\s*(?:\[[^\]]*\]|\([^)]*\))?)\s+([A-Za-z_]\w*)[^;"]*;\s*'
                     r'(?:"((?:[^"\\]|\\.)*)")?')

BED_NAMES = ("chrom", "chromStart", "chromEnd", "name", "score", "strand", "thickStart", "thickEnd",
             "itemRgb", "blockCount", "blockSizes", "chromStarts")
BED_TYPES = ("string", "uint", "uint", "string", "uint", "char[1]", "uint", "uint", "uint", "int",
             "int[blockCount]", "int[blockCount]")


def column_dtype(sql_type: str) -> np.dtype:
    """numpy dtype of a typed column of autoSql type ``sql_type`` (see :attr:`Field.dtype`)."""
    base = sql_type.strip()
    if base in _INTEGER:
        return np.dtype(np.int64)
    if base in _REAL:
        return np.dtype(np.float64)
    return np.dtype(object)


def parse_autosql(text: str, path: str = "") -> list[Field]:
    """The columns declared by the autoSql ``text``, in order.

    Raises
    ------
    FormatError
        No parenthesised column list, or a column that does not parse (``path`` names the file).
    """
    open_at, close_at = text.find("("), text.rfind(")")
    # the table's own comment may hold parentheses: the column list opens at the first '(' on a line
    # of its own or after the comment's closing quote
    head = re.match(r'\s*(?:table|simple|object)\s+\w+\s*(?:"(?:[^"\\]|\\.)*")?\s*\(', text)
    if head:
        open_at = head.end() - 1
    if open_at < 0 or close_at <= open_at:
        raise FormatError(f"{path}: autoSql has no column list: {text[:80]!r}")
    body = text[open_at + 1:close_at]
    fields, at = [], 0
    while body[at:].strip():
        m = _COLUMN.match(body, at)
        if m is None:
            raise FormatError(f"{path}: autoSql column does not parse: {body[at:at + 80].strip()!r}")
        sql_type = re.sub(r"\s+", "", m.group(1)) if "[" in m.group(1) else m.group(1).strip()
        fields.append(Field(m.group(2), sql_type, (m.group(3) or "").replace('\\"', '"')))
        at = m.end()
    return fields


def default_fields(field_count: int, defined_field_count: int) -> list[Field]:
    """Columns of a bigBed without autoSql: BED names for the defined ones, ``field<N>`` after."""
    fields = []
    for i in range(field_count):
        if i < min(defined_field_count, len(BED_NAMES)):
            fields.append(Field(BED_NAMES[i], BED_TYPES[i]))
        else:
            fields.append(Field(f"field{i + 1}", "lstring"))
    return fields
