"""Chromosome names that differ between files: ``chr1`` in a UCSC bigWig, ``1`` in an Ensembl FASTA.

Every place that looks a chromosome up in a file (bigWig and bigBed methods, :func:`fastwig.read_windows`,
:class:`~fastwig.Genome`, the dataset's and the regions' name matching) tries the exact name first; only a
name the file lacks goes through :func:`resolve`, which tries its aliases in order:

1. a user's alias table (``fastwig.settings.chrom_aliases`` set to a dict name -> list of names, or to
   the path of a UCSC ``chromAlias.txt``: tab-separated, every name of a row an alias of the others,
   lines starting with ``#`` skipped);
2. the usual UCSC <-> Ensembl/NCBI spellings: ``chrN`` <-> ``N``, ``chrX`` <-> ``X``, ``chrY`` <-> ``Y``,
   ``chrM`` <-> ``MT`` <-> ``M``.

The first alias the file has wins, and a :class:`ChromAliasWarning` names the mapping once per file and
mapping.  ``fastwig.settings.chrom_aliases = False`` (or ``FASTWIG_CHROM_ALIASES=0``) turns aliases off:
a name the file lacks is then absent, as it was before aliases existed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Container, Mapping

from .config import settings
from .errors import FastwigError

__all__ = ["ChromAliasWarning", "aliases_of", "load_table", "resolve"]

_noticed: set[tuple[str, str, str]] = set()
_tables: dict[tuple[str, float], dict[str, tuple[str, ...]]] = {}


class ChromAliasWarning(UserWarning):
    """A chromosome was found in a file under another name (``chr1`` for ``1``)."""


def builtin_aliases(name: str) -> tuple[str, ...]:
    """The usual other spellings of ``name``, UCSC <-> Ensembl/NCBI, most likely first.

    >>> builtin_aliases("chr1"), builtin_aliases("MT"), builtin_aliases("chrM")
    (('1',), ('chrM',), ('MT', 'M'))
    """
    if name.startswith("chr") and len(name) > 3:
        rest = name[3:]
        return ("MT", "M") if rest in ("M", "MT") else (rest,)
    if name in ("MT", "M"):
        return ("chrM",)
    return ("chr" + name,) if name else ()


def load_table(source: Mapping[str, object] | str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """An alias table: every name -> the names it is an alias of (itself excluded).

    Parameters
    ----------
    source : dict or path
        A dict name -> list of aliases (a single str is one alias), or a UCSC ``chromAlias.txt``
        (tab-separated rows of names of one sequence; ``#`` lines skipped; empty fields ignored).
        Aliases are symmetric within a row, not carried across rows.

    Raises
    ------
    FastwigError
        The file cannot be read; the message names it.
    """
    if isinstance(source, Mapping):
        rows = [[str(k), *([v] if isinstance(v, str) else [str(a) for a in v])] for k, v in source.items()]
    else:
        path = os.fspath(source)
        try:
            key = (path, os.stat(path).st_mtime)
            if key in _tables:
                return _tables[key]
            with open(path, encoding="utf-8") as fh:
                rows = [line.rstrip("\r\n").split("\t") for line in fh
                        if line.strip() and not line.startswith("#")]
        except (OSError, UnicodeDecodeError) as exc:
            raise FastwigError(f"{path}: cannot read the chromosome alias table: {exc}") from exc
    table: dict[str, list[str]] = {}
    for row in rows:
        names = [n.strip() for n in row if n.strip()]
        for n in names:
            seen = table.setdefault(n, [])
            seen.extend(m for m in names if m != n and m not in seen)
    out = {k: tuple(v) for k, v in table.items()}
    if not isinstance(source, Mapping):
        _tables[key] = out
    return out


def aliases_of(name: str, aliases: bool | Mapping | str | os.PathLike | None = None) -> tuple[str, ...]:
    """Names to try, in order, for a chromosome a file lacks (the user's table first, then the usual).

    ``aliases`` None follows ``fastwig.settings.chrom_aliases``; False gives none; True the usual ones
    only; a dict or a path adds that table."""
    if aliases is None:
        aliases = settings.chrom_aliases
    if aliases is False or not isinstance(name, str):
        return ()
    user = () if aliases is True else load_table(aliases).get(name, ())
    return tuple(dict.fromkeys((*user, *builtin_aliases(name))))


def resolve(name: str, names: Container[str], where: str,
            aliases: bool | Mapping | str | os.PathLike | None = None) -> str | None:
    """The name under which ``names`` (a file's chromosomes) holds ``name``, or None.

    Parameters
    ----------
    name : str
        The requested chromosome.
    names : container of str
        The file's chromosome names (a dict or set: membership is all that is asked).
    where : str
        The file, for the notice.
    aliases : bool, dict, path or None
        None: ``fastwig.settings.chrom_aliases``.

    Notes
    -----
    Callers test ``name in names`` first and call this only for absent names, so that exact names
    cost nothing more than they did.
    """
    try:
        if name in names:
            return name
    except TypeError:       # an unhashable request: not a name of any file
        return None
    for alias in aliases_of(name, aliases):
        if alias in names:
            key = (str(where), name, alias)
            if key not in _noticed:
                _noticed.add(key)
                warnings.warn(f"{where}: no chromosome {name!r}; reading its alias {alias!r}",
                              ChromAliasWarning, stacklevel=3)
            return alias
    return None
