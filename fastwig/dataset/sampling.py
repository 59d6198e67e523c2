"""Sampler factories: a table of regions and the sampling options -> a sampler of windows.

The samplers themselves (:mod:`fastwig.dataset.samplers`) know nothing of regions tables or
assemblies: they draw ``(code, start)`` from flat arrays.  This room turns the user's tables into
those arrays: the regions' codes, the balanced negatives' domain (the regions' whole chromosomes,
or ``negative_regions``) and the intervals negatives must avoid (regions and blacklist).

This module imports numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ChromNotFound
from ..regions import Regions
from . import samplers as S
from .options import Sampling
from .places import ChromCodes, as_regions

__all__ = ["coded_regions", "default_regions", "make_sampler"]


def default_regions(keys: list, chrom_sizes: list[dict[str, int]]) -> Regions:
    """Every whole chromosome of every assembly (with an ``assembly`` column for several)."""
    rows = [(str(k) if k is not None else None, c, n) for k, sizes in zip(keys, chrom_sizes) for c, n in sizes.items()]
    extra = {"assembly": [r[0] for r in rows]} if keys != [None] else {}
    return Regions([r[1] for r in rows], [0] * len(rows), [r[2] for r in rows], **extra)


def coded_regions(regions: Regions | None, keys: list, chrom_sizes: list[dict[str, int]],
                  blacklist: Regions | None, has_sequence: bool) -> tuple[Regions, ChromCodes, np.ndarray]:
    """The regions windows are drawn from, the dataset's chromosome codes, and each region's code.

    Parameters
    ----------
    regions : Regions, optional
        Default: every whole chromosome (:func:`default_regions`).
    keys : list
        Assembly names.
    chrom_sizes : list of dict
        Chromosome sizes per assembly.
    blacklist : Regions, optional
        Regions overlapping it are dropped.
    has_sequence : bool
        With a genome, a region on a chromosome the genome lacks is an error.

    Returns
    -------
    regions : Regions
    codes : ChromCodes
    reg_code : int32 (rows,)
    """
    codes = ChromCodes(keys, chrom_sizes)
    if regions is None:
        regions = default_regions(keys, chrom_sizes)
    codes.add_table(regions)
    if blacklist is not None:
        regions = regions[~codes.overlaps(regions, blacklist)]
    reg_code = codes.keys_of(regions).astype(np.int32)
    if has_sequence and len(regions):
        unknown = codes.size[reg_code] < 0
        if unknown.any():
            k = int(np.flatnonzero(unknown)[0])
            raise ChromNotFound(f"region {regions.chrom[k]}:{regions.start[k]}-{regions.end[k]}: "
                                f"the genome has no sequence {regions.chrom[k]!r}")
    return regions, codes, reg_code


def make_sampler(opts: Sampling, regions: Regions, reg_code: np.ndarray, codes: ChromCodes, window: int,
                 target_window: int, jitter: int, blacklist: Regions | None) -> S._Sampler:
    """The sampler of ``opts.mode`` over ``regions``.

    Parameters
    ----------
    opts : Sampling
    regions : Regions
        After the blacklist.
    reg_code : int32 (rows,)
        Code of each region (:class:`ChromCodes`).
    codes : ChromCodes
    window, target_window, jitter : int
    blacklist : Regions, optional

    Returns
    -------
    UniformSampler, OrderedSampler or BalancedSampler
    """
    starts, ends = regions.start, regions.end
    default_n = max(len(regions), regions.total_bases // window) if len(regions) else 0
    if opts.mode == "uniform":
        n = default_n if opts.n_samples is None else int(opts.n_samples)
        return S.UniformSampler(S.IntervalPool(reg_code, starts, ends), window, n, int(opts.seed))
    if opts.mode == "ordered":
        stride = target_window if opts.stride is None else int(opts.stride)
        return S.OrderedSampler(reg_code, starts, ends, window, target_window, stride,
                                None if opts.n_samples is None else int(opts.n_samples))
    negatives = S.negative_pool(*_negative_domain(opts, reg_code, codes),
                                _forbidden(reg_code, regions, codes, blacklist), window, jitter)
    p = float(opts.positive_fraction)
    n = opts.n_samples if opts.n_samples is not None else (math.ceil(default_n / p) if p > 0 else default_n)
    return S.BalancedSampler(S.IntervalPool(reg_code, starts, ends), negatives, window, int(n), int(opts.seed), p)


def _forbidden(reg_code: np.ndarray, regions: Regions, codes: ChromCodes,
               blacklist: Regions | None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """code -> (starts, ends) of the intervals a negative window may not touch: regions and blacklist."""
    forbid: dict[int, tuple[list, list]] = {}
    parts = [(reg_code, regions.start, regions.end)]
    if blacklist is not None:
        parts.append(codes.intervals_of(blacklist))
    for table_codes, t_start, t_end in parts:
        for c in np.unique(table_codes):
            if c < 0:
                continue
            sel = table_codes == c
            fs, fe = forbid.setdefault(int(c), ([], []))
            fs.append(t_start[sel])
            fe.append(t_end[sel])
    return {c: (np.concatenate(s), np.concatenate(e)) for c, (s, e) in forbid.items()}


def _negative_domain(opts: Sampling, reg_code: np.ndarray, codes: ChromCodes):
    """Where negatives may lie: the whole chromosomes that hold a region, or ``negative_regions``."""
    if opts.negative_regions is None:
        used = np.unique(reg_code)
        sizes = codes.size[used]
        ok = sizes > 0
        return used[ok], np.zeros(int(ok.sum()), np.int64), sizes[ok]
    table = as_regions(opts.negative_regions, "negative_regions")
    dom = codes.keys_of(table)
    ok = dom >= 0
    return dom[ok], table.start[ok], table.end[ok]
