"""``fastwig plot``: tracks and peaks over a region, drawn with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

import numpy as np

from ._common import UsageError, note, open_bigwig, parse_region, read_regions, track_names

HELP = "draw tracks (and peaks from a BED/bigBed) over a region as a PNG/SVG/PDF (needs matplotlib)"
DESCRIPTION = """\
One panel per bigWig over REGION, and a panel of the --bed intervals that overlap it.  REGION is
1-based inclusive (chr1:1,001-2,000) unless --zero-based.  Regions wider than --points bases are
summarised in --points bins (--stat, default max, so narrow peaks stay visible).  The format
follows the output's extension (.png, .svg, .pdf).  Needs matplotlib: pip install 'fastwig[plot]'."""
EXAMPLES = """
    fastwig plot signal.bw chr1:1,000,001-1,020,000
    fastwig plot a.bw b.bw chr2:5,000,001-5,100,000 --bed peaks.bed -o locus.png
    fastwig plot signal.bw chrX:1-200000 --stat mean --points 500 -o chrX.svg
    """


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="bigWig files, one panel each")
    p.add_argument("region", metavar="REGION", help="CHROM:START-END (1-based inclusive unless --zero-based)")
    p.add_argument("--zero-based", action="store_true", help="REGION is 0-based half-open")
    p.add_argument("--bed", action="append", default=[], metavar="PEAKS",
                   help="BED (or bigBed) intervals to draw under the tracks; repeat for several")
    p.add_argument("-o", "--output", default=None, metavar="OUT.png",
                   help="image to write (default CHROM_START-END.png)")
    p.add_argument("--points", type=int, default=2000, metavar="N", help="most bins drawn per track (default 2000)")
    p.add_argument("--stat", choices=("max", "mean", "min"), default="max", help="statistic of a bin (default max)")
    p.add_argument("--title", default=None, help="figure title (default: the region)")
    p.add_argument("--size", nargs=2, type=float, default=None, metavar=("W", "H"), help="figure size in inches")
    p.add_argument("--dpi", type=int, default=150)


def _signal(bw, chrom: str, start: int, end: int, points: int, stat: str):
    """Bin edges (int64, bins + 1) and values (float64, bins) of one track over the region."""
    n = end - start
    if n <= points:
        return np.arange(start, end + 1, dtype=np.int64), bw.values(chrom, start, end).astype(np.float64)
    edges = start + (np.arange(points + 1, dtype=np.int64) * n) // points
    return edges, bw.stats(chrom, start, end, stat=stat, bins=points, exact=True)


def draw(files: list[str], chrom: str, start: int, end: int, beds: list[str], out: str, *, points: int = 2000,
         stat: str = "max", title: str | None = None, size=None, dpi: int = 150) -> None:
    """Write the figure of ``files`` (and ``beds``) over ``chrom:[start, end)`` to ``out``."""
    import matplotlib

    matplotlib.use("Agg")   # files only: no display needed, none opened
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    names = track_names(files)
    tracks = []
    for path in files:
        with open_bigwig(path) as bw:
            tracks.append(_signal(bw, chrom, start, end, points, stat))
    tables = [read_regions(b) for b in beds]
    n_panels = len(files) + (1 if tables else 0)
    heights = [2.0] * len(files) + ([0.5 + 0.35 * len(tables)] if tables else [])
    fig, axes = plt.subplots(n_panels, 1, sharex=True, squeeze=False,
                             figsize=size or (10, sum(heights) + 1.0),
                             gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, (edges, vals)) in enumerate(zip(names, tracks)):
        ax = axes[i]
        color = colors[i % len(colors)]
        y = np.nan_to_num(vals, nan=0.0)
        ax.stairs(y, edges, fill=True, color=color, alpha=0.8, label=name)
        if np.isnan(vals).all():
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="grey")
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.spines[["top", "right"]].set_visible(False)
        ax.margins(x=0)
        ax.set_ylim(bottom=0 if np.nanmin(y, initial=0) >= 0 else None)
    if tables:
        ax = axes[-1]
        for row, (bed, table) in enumerate(zip(beds, tables)):
            hit = (table.chrom == chrom) & (table.start < end) & (table.end > start) if len(table) else []
            sub = table[np.asarray(hit, dtype=bool)] if len(table) else table
            for s, e in zip(sub.start.tolist(), sub.end.tolist()):
                ax.add_patch(plt.Rectangle((max(s, start), row + 0.15), min(e, end) - max(s, start), 0.7,
                                           color="black", alpha=0.7, linewidth=0))
        ax.set_ylim(0, len(tables))
        ax.set_yticks(np.arange(len(tables)) + 0.5, [track_names([b])[0] for b in beds])
        ax.invert_yaxis()
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.tick_params(axis="y", length=0)
    axes[-1].set_xlim(start, end)
    axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x):,}"))
    axes[-1].set_xlabel(f"{chrom} position (bp, 0-based)")
    binned = end - start > points
    fig.suptitle(title or f"{chrom}:{start + 1:,}-{end:,} ({end - start:,} bp"
                 + (f", {stat} of {points} bins)" if binned else ")"))
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def run(args) -> int:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        from ..errors import FastwigError

        raise FastwigError("fastwig plot needs matplotlib: pip install 'fastwig[plot]'")
    if args.points < 1:
        raise UsageError("--points must be >= 1")
    chrom, start, end = parse_region(args.region, args.zero_based)
    if end is None:
        with open_bigwig(args.files[0]) as bw:
            if chrom not in bw.chroms:
                from ..errors import ChromNotFound

                raise ChromNotFound(f"{bw.path}: no chromosome {chrom!r} in this file")
            end = bw.chroms[chrom]
    out = args.output or f"{chrom}_{start + 1}-{end}.png"
    draw(args.files, chrom, start, end, args.bed, out, points=args.points, stat=args.stat, title=args.title,
         size=args.size, dpi=args.dpi)
    note(f"wrote {out}")
    return 0
