"""``fastwig values``: the signal of one region, per base or in bins, as TSV or a NumPy file."""

from __future__ import annotations

import numpy as np

from ..errors import ChromNotFound
from ._common import UsageError, fmt_float32, fmt_float64, note, open_bigwig, output, parse_region, track_names

HELP = "signal of a region, per base or in bins (TSV with a header, or .npy)"
DESCRIPTION = """\
Print the values of one region of one or more bigWig files.

REGION is CHROM:START-END in 1-based coordinates with both ends included, as genome browsers show
it (chr1:1,001-2,000 is 1,000 bases), or 0-based half-open with --zero-based (chr1:1000-2000, the
same bases), or a chromosome name alone for all of it.  The output's start and end columns are
always 0-based half-open (BED style).  Bases no record covers are nan (or --fill).  With
--bin-size, each row is a bin and holds --stat over the bin's covered bases (a last bin that
would pass END is cut short)."""
EXAMPLES = """
    fastwig values signal.bw chr1:1,000,001-1,000,100
    fastwig values signal.bw chr1:1000000-1000100 --zero-based      # the same 100 bases
    fastwig values a.bw b.bw chr2:1-1,000,000 --bin-size 1000 --stat max -o chr2.tsv
    fastwig values signal.bw chrX -o chrX.npy                         # float32 array of a chromosome
    """
STATS = ("mean", "min", "max", "sum", "coverage", "std")


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="bigWig files (one value column each)")
    p.add_argument("region", metavar="REGION", help="CHROM:START-END (1-based inclusive unless --zero-based), or CHROM")
    p.add_argument("--zero-based", action="store_true", help="REGION is 0-based half-open (BED style)")
    p.add_argument("--bin-size", type=int, default=1, metavar="N", help="bases per output row (default 1)")
    p.add_argument("--stat", choices=STATS, default="mean",
                   help="statistic of each bin over its covered bases (default mean; coverage: the fraction of "
                        "covered bases; std: sample standard deviation)")
    p.add_argument("--fill", type=float, default=None, metavar="X", help="value for bases/bins without data "
                   "(default nan)")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="OUT.tsv (default: TSV on stdout) or OUT.npy (float32 per base, float64 in bins; "
                        "shape (positions,) for one file, (files, positions) for several)")


def read_region(bw, chrom: str, start: int, end: int, bin_size: int, stat: str) -> np.ndarray:
    """Values of ``chrom:[start, end)`` of an open bigWig: float32 per base, float64 per bin.

    Parameters
    ----------
    bw : fastwig.BigWig
    chrom : str
    start, end : int
        0-based half-open.
    bin_size : int
        1 for per-base values; otherwise ``ceil((end - start) / bin_size)`` bins, the last one cut
        at ``end``.
    stat : str
        A :meth:`fastwig.BigWig.stats` statistic, over the base data (``exact=True``).

    Returns
    -------
    numpy.ndarray
        float32 (end - start,) or float64 (bins,); NaN where there is no data.
    """
    if bin_size == 1:
        return bw.values(chrom, start, end)
    n_full = (end - start) // bin_size
    parts = []
    if n_full:
        parts.append(bw.stats(chrom, start, start + n_full * bin_size, stat=stat, bins=n_full, exact=True))
    if start + n_full * bin_size < end:
        parts.append(bw.stats(chrom, start + n_full * bin_size, end, stat=stat, bins=1, exact=True))
    out = np.concatenate(parts)
    if stat == "coverage":   # fastwig.BigWig.stats gives NaN for a bin without data: its coverage is 0
        out[np.isnan(out)] = 0.0
    return out


def run(args) -> int:
    if args.bin_size < 1:
        raise UsageError(f"--bin-size must be >= 1, got {args.bin_size}")
    out = args.output
    if out not in (None, "-") and not out.endswith((".tsv", ".txt", ".npy")):
        raise UsageError(f"-o {out}: expected a .tsv or .npy file name")
    chrom, start, end = parse_region(args.region, args.zero_based)
    tracks = [open_bigwig(p) for p in args.files]
    try:
        if chrom not in tracks[0].chroms and ":" in chrom:
            raise UsageError(f"no chromosome {chrom!r} in {tracks[0].path}, and {args.region!r} is not "
                             "CHROM:START-END")
        if end is None:
            if chrom not in tracks[0].chroms:
                raise ChromNotFound(f"{tracks[0].path}: no chromosome {chrom!r} in this file")
            end = tracks[0].chroms[chrom]
        cols = [read_region(t, chrom, start, end, args.bin_size, args.stat) for t in tracks]
    finally:
        for t in tracks:
            t.close()
    data = np.stack(cols)
    if args.fill is not None:
        data[np.isnan(data)] = args.fill
    if out is not None and out.endswith(".npy"):
        np.save(out, data[0] if len(tracks) == 1 else data)
        note(f"wrote {out}: {data.dtype} {data[0].shape if len(tracks) == 1 else data.shape}")
        return 0
    bin_size = args.bin_size
    lo = start + bin_size * np.arange(data.shape[1], dtype=np.int64)
    hi = np.minimum(lo + bin_size, end)
    fmt = fmt_float32 if data.dtype == np.float32 else fmt_float64
    text_cols = [fmt(row) for row in data]
    with output(out) as fh:
        fh.write("\t".join(["chrom", "start", "end", *track_names(args.files)]) + "\n")
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist())):
            fh.write(f"{chrom}\t{a}\t{b}\t" + "\t".join(c[i] for c in text_cols) + "\n")
    return 0
