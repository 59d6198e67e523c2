"""``fastwig convert``: a bedGraph file to bigWig (the job of UCSC's bedGraphToBigWig)."""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ._common import note

HELP = "write a bedGraph file as bigWig (UCSC's bedGraphToBigWig)"
DESCRIPTION = """\
Write the records of a bedGraph file (chrom, start, end, value; 0-based half-open; gzip accepted;
track, browser and # lines skipped) as a bigWig with zoom levels and a total summary, for
CHROM_SIZES (two columns: name, length; a UCSC chrom.sizes file).  Records must be sorted by start
within each chromosome (sort -k1,1 -k2,2n does it); an out-of-order record is an error naming it.
A NaN value leaves a gap.  Compression runs on every core (ISA-L when installed, else zlib)."""
EXAMPLES = """
    fastwig convert coverage.bedGraph hg38.chrom.sizes coverage.bw
    fastwig convert predictions.bedGraph.gz sizes.txt predictions.bw --zoom-levels 6
    """


def add_arguments(p) -> None:
    p.add_argument("bedgraph", metavar="IN.bedGraph", help="bedGraph file (4 columns; gzip accepted)")
    p.add_argument("chrom_sizes", metavar="CHROM_SIZES", help="chromosome sizes: name and length per line")
    p.add_argument("output", metavar="OUT.bw", help="bigWig file to write")
    p.add_argument("--zoom-levels", type=int, default=10, metavar="N", help="zoom levels to write (default 10)")
    p.add_argument("--items-per-slot", type=int, default=1024, metavar="N",
                   help="records per data block (default 1024, as UCSC)")
    p.add_argument("--block-size", type=int, default=256, metavar="N", help="R-tree node size (default 256)")


def run(args) -> int:
    from ..regions.io import read_bed, read_chrom_sizes
    from ..writer import BigWigWriter

    sizes = read_chrom_sizes(args.chrom_sizes)
    cols = read_bed(args.bedgraph)
    if cols is None:
        names, starts, ends, values = np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64), None
    else:
        chrom_names, codes, starts, ends, extra, _ = cols
        names = np.asarray(chrom_names, dtype=object)[codes]
        values = next(iter(extra.values()), None)
        if values is None or not np.issubdtype(np.asarray(values).dtype, np.number):
            raise FormatError(f"{args.bedgraph}: a bedGraph needs a numeric 4th column (the value)")
    missing = sorted({str(n) for n in np.unique(names)} - set(sizes)) if names.size else []
    if missing:
        raise FormatError(f"{args.bedgraph}: chromosome {missing[0]!r} is not in {args.chrom_sizes}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    with BigWigWriter(args.output, sizes, zoom_levels=args.zoom_levels, items_per_slot=args.items_per_slot,
                      block_size=args.block_size) as w:
        if names.size:
            w.add_intervals(names, starts, ends, np.asarray(values, dtype=np.float64))
    note(f"wrote {names.size:,} records on {len(set(names.tolist())):,} chromosomes to {args.output}")
    return 0
