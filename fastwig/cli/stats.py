"""``fastwig stats``: signal over each region of a BED file, with the columns of UCSC's bigWigAverageOverBed.

For each region (a BED12 row: the sum of its blocks, its exons) and each track:

- ``size``: bases in the region (``end - start``, or the sum of the block sizes);
- ``covered``: bases of it that some record of the bigWig covers;
- ``sum``: the sum of the values over the covered bases;
- ``mean0``: ``sum / size`` (bases without data count as 0);
- ``mean``: ``sum / covered``, and 0 when nothing is covered (UCSC's convention).

Numbers print as C's ``%g``, as UCSC does.  Differences from bigWigAverageOverBed: a BED without a
name column gets ``chrom:start-end`` (0-based) as the name; names need not be unique; where records
overlap, the one stored last in the file wins (fastwig's rule; UCSC counts such bases once per
record on small BEDs); with several tracks a first column ``track`` says which.
"""

from __future__ import annotations

import numpy as np

from ._common import UsageError, note, open_bigwig, output, read_regions, track_names

HELP = "signal over each region of a BED (UCSC bigWigAverageOverBed's columns)"
DESCRIPTION = """\
One row per region and track with the columns of UCSC's bigWigAverageOverBed:
  name     the BED name (chrom:start-end when the BED has none)
  size     bases in the region (BED12: the sum of its blocks)
  covered  bases with data
  sum      sum of the values over covered bases
  mean0    sum / size (bases without data count as 0)
  mean     sum / covered (0 when nothing is covered)
With several files, a first column 'track' names the file.  --stat STAT writes a matrix instead:
one row per region, one column per file.  Numbers print as %g, as UCSC's do."""
EXAMPLES = """
    fastwig stats signal.bw --bed peaks.bed                   # like: bigWigAverageOverBed signal.bw peaks.bed out.tab
    fastwig stats a.bw b.bw c.bw --bed peaks.bed -o peaks.tsv
    fastwig stats signal.bw --bed genes.bed12 --min-max --no-header
    fastwig stats *.bw --bed peaks.bed --stat mean0 -o matrix.tsv    # regions x tracks
    """
# a chromosome with at least this many pieces is read in one span rather than piece by piece
SPAN_READ = 256
COLUMNS = ["name", "size", "covered", "sum", "mean0", "mean"]


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="bigWig files")
    p.add_argument("--bed", required=True, metavar="REGIONS", help="BED file (BED3+, BED12 blocks honoured; .gz ok)")
    p.add_argument("-o", "--output", default=None, metavar="OUT.tsv", help="write here instead of stdout")
    p.add_argument("--min-max", action="store_true", help="two more columns: min and max over covered bases "
                   "(0 0 when nothing is covered, as UCSC's -minMax)")
    p.add_argument("--stat", choices=("size", "covered", "sum", "mean0", "mean", "min", "max"), default=None,
                   help="instead of UCSC's rows, a matrix: one row per region, one column per track holding this "
                        "statistic")
    p.add_argument("--no-header", action="store_true", help="omit the header line (UCSC writes none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def pieces(regions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The intervals summed for each region: its blocks (BED12) or itself.

    Returns
    -------
    chrom : object (k,)
    start, end : int64 (k,)
    owner : int64 (k,)
        Row of ``regions`` each piece belongs to.
    """
    n = len(regions)
    chrom = regions.chrom
    start, end = regions.start, regions.end
    cols = set(regions.columns)
    # BED12's name is blockStarts; UCSC's autoSql for bigBed 12 (Regions.from_bigbed) calls it chromStarts
    starts_col = next((c for c in ("blockStarts", "chromStarts") if c in cols), None)
    if starts_col is None or not {"blockCount", "blockSizes"} <= cols or n == 0:
        return chrom, start, end, np.arange(n, dtype=np.int64)
    sizes = [_int_list(x) for x in regions.column("blockSizes").tolist()]
    offsets = [_int_list(x) for x in regions.column(starts_col).tolist()]
    counts = np.array([min(len(a), len(b)) for a, b in zip(sizes, offsets)], dtype=np.int64)
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    off = np.array([v for a, b, c in zip(offsets, sizes, counts) for v in a[:c]], dtype=np.int64)
    size = np.array([v for a, b, c in zip(offsets, sizes, counts) for v in b[:c]], dtype=np.int64)
    s = start[owner] + off
    return chrom[owner], s, s + size, owner


def _int_list(text) -> list[int]:
    if isinstance(text, (int, np.integer)):
        return [int(text)]
    return [int(x) for x in str(text).split(",") if x.strip()]


def _sums_sorted(s, e, v, a, b, want_minmax):
    """Covered bases, sum (and min, max) of pieces ``[a, b)`` over records sorted and disjoint."""
    i0 = np.searchsorted(e, a, side="right")           # first record ending after a
    i1 = np.searchsorted(s, b, side="left")            # first record starting at or after b
    counts = np.maximum(i1 - i0, 0)
    owner = np.repeat(np.arange(a.size), counts)
    first = np.repeat(i0 - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) if owner.size else owner
    idx = np.arange(owner.size) + first
    w = (np.minimum(e[idx], b[owner]) - np.maximum(s[idx], a[owner])).astype(np.float64)
    covered = np.bincount(owner, weights=w, minlength=a.size).astype(np.int64)
    total = np.bincount(owner, weights=w * v[idx].astype(np.float64), minlength=a.size)
    lo = hi = None
    if want_minmax:
        lo = np.full(a.size, np.inf)
        hi = np.full(a.size, -np.inf)
        np.minimum.at(lo, owner, v[idx].astype(np.float64))
        np.maximum.at(hi, owner, v[idx].astype(np.float64))
    return covered, total, lo, hi


def _no_sums(k: int):
    """Accumulators of ``k`` pieces before any base is counted: covered 0, sum 0, min +inf, max -inf."""
    return np.zeros(k, np.int64), np.zeros(k), np.full(k, np.inf), np.full(k, -np.inf)


def _sums_piece_by_piece(bw, chrom, a, b, want_minmax, intervals=True):
    """Covered bases, sum (and min, max) of pieces ``[a, b)``, one piece at a time: with ``intervals``
    from the piece's records where they are disjoint, else from its per-base values (records that
    overlap: the last stored wins)."""
    covered, total, lo, hi = _no_sums(a.size)
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        if y <= x:
            continue
        if intervals:
            s, e, v = bw.intervals(chrom, x, y)
            if _disjoint(s, e):
                c, t, l_, h_ = _sums_sorted(s, e, v, np.array([x]), np.array([y]), want_minmax)
                covered[i], total[i] = c[0], t[0]
                if want_minmax:
                    lo[i], hi[i] = l_[0], h_[0]
                continue
        vals = bw.values(chrom, x, y).astype(np.float64)
        ok = vals[~np.isnan(vals)]
        covered[i], total[i] = ok.size, ok.sum()
        if ok.size:
            lo[i], hi[i] = ok.min(), ok.max()
    return covered, total, (lo if want_minmax else None), (hi if want_minmax else None)


def _disjoint(s, e) -> bool:
    return bool(np.all(s[1:] >= e[:-1])) if s.size > 1 else True


def piece_sums(bw, chrom: str, a: np.ndarray, b: np.ndarray, want_minmax: bool = False):
    """Covered bases and sum of values of the pieces ``[a, b)`` of one chromosome of an open bigWig.

    Parameters
    ----------
    bw : fastwig.BigWig
    chrom : str
        A chromosome of ``bw``.
    a, b : int64 (k,)
        Piece starts and ends, already clipped to the chromosome.
    want_minmax : bool

    Returns
    -------
    covered : int64 (k,)
    total : float64 (k,)
    lo, hi : float64 (k,) or None
        Min and max over covered bases (+inf / -inf where nothing is covered).
    """
    if a.size >= SPAN_READ:
        span_lo, span_hi = int(a.min()), int(b.max())
        s, e, v = bw.intervals(chrom, span_lo, max(span_hi, span_lo))
        if _disjoint(s, e):
            return _sums_sorted(s, e, v, a, b, want_minmax)
        return _sums_piece_by_piece(bw, chrom, a, b, want_minmax, intervals=False)
    return _sums_piece_by_piece(bw, chrom, a, b, want_minmax)


def average_over_bed(bw, regions, want_minmax: bool = False, progress=None) -> dict[str, np.ndarray]:
    """bigWigAverageOverBed's numbers for every row of ``regions`` over one open bigWig.

    Parameters
    ----------
    bw : fastwig.BigWig
    regions : fastwig.Regions
        BED12 rows (``blockCount``, ``blockSizes``, ``blockStarts`` -- or bigBed's ``chromStarts`` --
        columns) are summed over their blocks.
    want_minmax : bool
        Also ``min`` and ``max`` over covered bases (0 where nothing is covered).
    progress : fastwig.progress.Progress, optional
        Advanced by one per piece.

    Returns
    -------
    dict
        ``size``, ``covered`` int64 (n,); ``sum``, ``mean0``, ``mean`` float64 (n,); with
        ``want_minmax`` also ``min``, ``max`` float64 (n,).
    """
    n = len(regions)
    chrom, start, end, owner = pieces(regions)
    size = np.bincount(owner, weights=(end - start).astype(np.float64), minlength=n).astype(np.int64)
    covered, total, lo, hi = _no_sums(owner.size)
    chrom_str = chrom.astype(str) if chrom.size else np.zeros(0, dtype=str)
    for name in dict.fromkeys(chrom_str.tolist()):
        sel = np.flatnonzero(chrom_str == name)
        if name in bw.chroms:        # a chromosome the file lacks: nothing covered, as UCSC
            length = bw.chroms[name]
            a = np.clip(start[sel], 0, length)
            b = np.clip(end[sel], 0, length)
            c, t, l_, h_ = piece_sums(bw, name, a, np.maximum(a, b), want_minmax)
            covered[sel], total[sel] = c, t
            if want_minmax:
                lo[sel], hi[sel] = l_, h_
        if progress is not None:
            progress.update(sel.size)
    cov = np.bincount(owner, weights=covered, minlength=n).astype(np.int64)
    tot = np.bincount(owner, weights=total, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"size": size, "covered": cov, "sum": tot, "mean0": tot / size,
               "mean": np.where(cov > 0, tot / np.maximum(cov, 1), 0.0)}
    if want_minmax:
        mn, mx = np.full(n, np.inf), np.full(n, -np.inf)
        np.minimum.at(mn, owner, lo)
        np.maximum.at(mx, owner, hi)
        out["min"] = np.where(cov > 0, mn, 0.0)
        out["max"] = np.where(cov > 0, mx, 0.0)
    return out


def region_names(regions) -> list[str]:
    """The BED name column, or ``chrom:start-end`` (0-based) for a row without one."""
    given = regions.column("name").tolist() if "name" in regions.columns else [None] * len(regions)
    return [str(n) if n not in (None, "") else f"{c}:{s}-{e}"
            for n, c, s, e in zip(given, regions.chrom.tolist(), regions.start.tolist(), regions.end.tolist())]


def _g(x: float) -> str:
    return "nan" if np.isnan(x) else f"{x:g}"


def run(args) -> int:
    from ..progress import Progress

    regions = read_regions(args.bed)
    if len(regions) == 0:
        raise UsageError(f"{args.bed}: no regions")
    names = region_names(regions)
    labels = track_names(args.files)
    minmax = args.min_max or args.stat in ("min", "max")
    results = []
    with Progress(len(pieces(regions)[3]) * len(args.files), "stats", unit="regions", enabled=not args.quiet) as bar:
        for path in args.files:
            bw = open_bigwig(path)
            try:
                results.append(average_over_bed(bw, regions, minmax, bar))
            finally:
                bw.close()
    with output(args.output) as fh:
        if args.stat:       # a matrix: one row per region, one column per track
            if not args.no_header:
                fh.write("\t".join(["name", *labels]) + "\n")
            text = [[_cell(r[args.stat][i]) for r in results] for i in range(len(names))]
            for name, row in zip(names, text):
                fh.write(name + "\t" + "\t".join(row) + "\n")
        else:               # bigWigAverageOverBed's rows, track by track
            several = len(args.files) > 1
            cols = COLUMNS + (["min", "max"] if args.min_max else [])
            if not args.no_header:
                fh.write("\t".join((["track"] if several else []) + cols) + "\n")
            for label, r in zip(labels, results):
                lead = f"{label}\t" if several else ""
                for i, name in enumerate(names):
                    fh.write(lead + name + "\t" + "\t".join(_cell(r[c][i]) for c in cols[1:]) + "\n")
    if args.output:
        note(f"wrote {args.output}: {len(regions)} regions x {len(args.files)} tracks")
    return 0


def _cell(x) -> str:
    return str(int(x)) if isinstance(x, (int, np.integer)) else _g(float(x))
