"""``fastwig.open``: a BBI file opened as the class its magic number names."""

from __future__ import annotations

import builtins
import os

from .bbifile import is_bigbed
from .bigbed import BigBed
from .reader import BigWig


def open(path: str | os.PathLike, *, aliases=None) -> BigWig | BigBed:  # noqa: A001 - the pyBigWig-style verb
    """Open a bigWig file for reading, see :class:`~fastwig.BigWig`; a bigBed (told by its magic
    number) opens as a :class:`~fastwig.BigBed`.  Anything else raises FormatError naming the file.
    ``aliases`` sets how names the file lacks are looked up (:mod:`fastwig.chromalias`; None follows
    ``fastwig.settings.chrom_aliases``, False takes exact names only)."""
    try:
        with builtins.open(os.fspath(path), "rb") as f:
            head = f.read(4)
    except (OSError, TypeError):
        head = b""      # BigWig(path) raises the error that names the problem
    return BigBed(path, aliases=aliases) if is_bigbed(head) else BigWig(path, aliases=aliases)
