"""What every subcommand shares: region strings, opening tracks by their magic number, output files.

Subcommands raise :class:`UsageError` for a bad command line (exit status 2) and let fastwig's own
exceptions, ``OSError`` and ``ValueError`` through (exit status 1); :func:`fastwig.cli.main` turns
both into one line on stderr.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

_MAGIC_BIGWIG = 0x888FFC26
_MAGIC_BIGBED = 0x8789F2EB
_NUMBER = r"[0-9][0-9,_]*"
_RANGE = re.compile(rf"^(?P<chrom>.+):(?P<start>{_NUMBER})-(?P<end>{_NUMBER})$")


class UsageError(Exception):
    """A command line that cannot be run as written (exit status 2)."""


def parse_region(text: str, zero_based: bool = False) -> tuple[str, int, int | None]:
    """A region string as ``(chrom, start, end)``, 0-based and half-open.

    Parameters
    ----------
    text : str
        ``chr1:1,000-2,000`` (1-based, both ends included, as genome browsers show it), the same
        in 0-based half-open coordinates when ``zero_based`` (``chr1:999-2000``), or a chromosome
        name alone (the whole chromosome: ``end`` is None).  Commas and underscores in numbers are
        ignored.
    zero_based : bool

    Returns
    -------
    tuple
        ``(chrom, start, end)``; ``end`` None for a whole chromosome.
    """
    text = text.strip()
    m = _RANGE.match(text)
    if m is None:
        if not text:
            raise UsageError("empty region: expected CHROM:START-END, e.g. chr1:1,000-2,000, or CHROM")
        return text, 0, None
    start = int(m["start"].replace(",", "").replace("_", ""))
    end = int(m["end"].replace(",", "").replace("_", ""))
    if not zero_based:
        if start < 1:
            raise UsageError(f"region {text!r}: 1-based coordinates start at 1 (use --zero-based for 0-based)")
        start -= 1
    if end <= start:
        raise UsageError(f"region {text!r} is empty or inverted")
    return m["chrom"], start, end


def file_kind(path: str | os.PathLike) -> str:
    """``"bigwig"``, ``"bigbed"`` or ``"other"``, from the first four bytes (either byte order)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except IsADirectoryError:
        return "other"
    if len(head) < 4:
        return "other"
    magic = {struct.unpack("<I", head)[0], struct.unpack(">I", head)[0]}
    if _MAGIC_BIGWIG in magic:
        return "bigwig"
    if _MAGIC_BIGBED in magic:
        return "bigbed"
    return "other"


def open_bigwig(path: str):
    """Open a bigWig, or say clearly what the file is instead."""
    import fastwig

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    kind = file_kind(path)
    if kind == "bigbed":
        raise fastwig.FormatError(f"{path}: this is a bigBed file; this command reads bigWig signal")
    return fastwig.open(path)


def open_bigbed(path: str):
    """Open a bigBed with ``fastwig.BigBed`` (when this fastwig has it)."""
    import fastwig

    cls = getattr(fastwig, "BigBed", None)
    if cls is None:
        raise fastwig.FastwigError(f"{path}: this version of fastwig cannot read bigBed files")
    return cls(path)


def read_regions(path: str):
    """Regions from a BED file or a bigBed (``Regions.from_bed`` tells them by their magic number)."""
    import fastwig

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    return fastwig.Regions.from_bed(path)


def track_names(paths: list[str]) -> list[str]:
    """Short, distinct column names for tracks: file names without extension, or paths when two clash."""
    stems = [Path(p).name.rsplit(".", 1)[0] if "." in Path(p).name else Path(p).name for p in paths]
    return stems if len(set(stems)) == len(stems) else list(paths)


@contextmanager
def output(path: str | None) -> Iterator[IO[str]]:
    """A text stream: the file ``path``, or stdout for None or ``-``."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
    else:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            yield fh


def fmt_float32(values: np.ndarray) -> list[str]:
    """Shortest text that reads back as the same float32 (``nan`` for NaN)."""
    return [str(x) for x in np.asarray(values, dtype=np.float32)]


def fmt_float64(values: np.ndarray) -> list[str]:
    """Shortest text that reads back as the same float64 (``nan`` for NaN)."""
    return [repr(x) for x in np.asarray(values, dtype=np.float64).tolist()]


def write_bed(regions, path: str | None) -> int:
    """Write a Regions table as BED (its columns in order, tab-separated); returns rows written."""
    cols = [regions.column(c) if c not in ("chrom", "start", "end") else getattr(regions, c)
            for c in regions.columns]
    lists = [c.tolist() for c in cols]
    with output(path) as fh:
        for row in zip(*lists):
            fh.write("\t".join("." if v is None else str(v) for v in row) + "\n")
    return len(regions)


def note(msg: str) -> None:
    """A line for the user on stderr (stdout carries data)."""
    print(msg, file=sys.stderr, flush=True)
