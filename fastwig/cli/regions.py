"""``fastwig regions``: region tables for training -- threshold tracks, tile a genome, split by chromosome.

Each action is one call of :class:`fastwig.Regions`' public API (``threshold``, ``tile``,
``exclude``, ``split``, ``where``); this module only reads the command line and writes BED.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ._common import UsageError, file_kind, note, open_bigwig, read_regions, write_bed

HELP = "make region tables: threshold tracks, tile a genome, split by chromosome (BED out)"
DESCRIPTION = """\
The recipe of a training set, one step per action:
  threshold  regions where any track's signal is above a value (runs merged across small gaps)
  tile       windows of a fixed width every STRIDE bases along each chromosome
  split      one table split by chromosome into train, validation and test tables
Every action can drop regions that overlap a blacklist (--exclude) and keep rows matching an SQL
condition (--where, e.g. "end - start >= 200").  Output is BED (0-based, half-open)."""
EXAMPLES = """
    fastwig regions threshold a.bw b.bw --above 5 --merge-gap 50 --min-length 100 --exclude blacklist.bed -o peaks.bed
    fastwig regions tile --sizes hg38.chrom.sizes --width 196608 --stride 65536 --exclude blacklist.bed -o tiles.bed
    fastwig regions tile --sizes signal.bw --width 1000 --chroms chr1 chr2 -o tiles.bed
    fastwig regions split peaks.bed --val chr8 --test chr9 -o peaks.bed   # peaks.{train,val,test}.bed
    """


def _common_options(p) -> None:
    p.add_argument("--exclude", metavar="BLACKLIST", default=None,
                   help="drop every region that overlaps an interval of this BED")
    p.add_argument("--where", metavar="SQL", default=None, help="keep rows for which this SQL condition holds")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    fmt = argparse.RawDescriptionHelpFormatter
    examples = {name: "examples:\n" + "\n".join(line for line in EXAMPLES.splitlines() if f"regions {name}" in line)
                for name in ("threshold", "tile", "split")}
    t = sub.add_parser("threshold", help="regions where any track is above a value", formatter_class=fmt,
                       epilog=examples["threshold"],
                       description="Bases where the signal of at least one track is strictly above --above (no "
                                   "data never is), merged across gaps of at most --merge-gap bases; regions "
                                   "shorter than --min-length are dropped.")
    t.add_argument("files", nargs="+", metavar="FILE", help="bigWig files")
    t.add_argument("--above", type=float, required=True, metavar="X", help="threshold (strictly above)")
    t.add_argument("--merge-gap", type=int, default=0, metavar="N", help="bridge gaps of up to N bases (default 0)")
    t.add_argument("--min-length", type=int, default=1, metavar="N", help="shortest region kept (default 1)")
    t.add_argument("--chroms", nargs="+", default=None, metavar="CHROM", help="only these chromosomes")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _common_options(t)
    t.add_argument("-o", "--output", required=True, metavar="OUT.bed", help="BED to write ('-': stdout)")

    g = sub.add_parser("tile", help="fixed-width windows along each chromosome", formatter_class=fmt,
                       epilog=examples["tile"],
                       description="Windows of --width bases starting every --stride bases along each chromosome "
                                   "(a last window that would pass the chromosome's end is dropped).")
    g.add_argument("--sizes", required=True, metavar="SIZES",
                   help="chromosome lengths: a chrom.sizes or .fai file, a FASTA with its .fai, or a bigWig")
    g.add_argument("--width", type=int, required=True, metavar="N", help="window width in bases")
    g.add_argument("--stride", type=int, default=None, metavar="N", help="step between starts (default: --width)")
    g.add_argument("--chroms", nargs="+", default=None, metavar="CHROM", help="only these chromosomes, in this order")
    _common_options(g)
    g.add_argument("-o", "--output", required=True, metavar="OUT.bed", help="BED to write ('-': stdout)")

    s = sub.add_parser("split", help="split a table by chromosome into train/val/test", formatter_class=fmt,
                       epilog=examples["split"],
                       description="Rows on the --val chromosomes go to the validation table, rows on the --test "
                                   "chromosomes to the test table, every other row to the training table.")
    s.add_argument("bed", metavar="REGIONS", help="BED file")
    s.add_argument("--val", nargs="*", default=[], metavar="CHROM", help="validation chromosomes")
    s.add_argument("--test", nargs="*", default=[], metavar="CHROM", help="test chromosomes")
    _common_options(s)
    s.add_argument("-o", "--output", required=True, metavar="OUT.bed",
                   help="writes OUT.train.bed, OUT.val.bed and OUT.test.bed")


def _sizes(path: str):
    """Chromosome lengths from a bigWig, a FASTA (through its .fai) or a sizes file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if file_kind(path) == "bigwig":
        with open_bigwig(path) as bw:
            return dict(bw.chroms)
    fai = path + ".fai"
    if os.path.exists(fai) and not path.endswith(".fai"):
        return fai
    with open(path, "rb") as fh:
        if fh.read(1) == b">":
            raise UsageError(f"--sizes {path}: a FASTA without a .fai index next to it (samtools faidx {path})")
    return path


def _filter(table, args):
    if args.exclude:
        table = table.exclude(read_regions(args.exclude))
    if args.where:
        table = table.where(args.where)
    return table


def _split_names(out: str) -> list[str]:
    p = Path(out)
    stem, suffix = (p.name[:-4], ".bed") if p.name.endswith(".bed") else (p.name, ".bed")
    return [str(p.with_name(f"{stem}.{part}{suffix}")) for part in ("train", "val", "test")]


def run(args) -> int:
    import fastwig

    if args.action == "threshold":
        if args.merge_gap < 0 or args.min_length < 1:
            raise UsageError("--merge-gap must be >= 0 and --min-length >= 1")
        tracks = [open_bigwig(f) for f in args.files]
        try:
            table = fastwig.Regions.threshold(tracks, args.above, merge_gap=args.merge_gap,
                                              min_length=args.min_length, chroms=args.chroms,
                                              progress=not args.quiet)
        finally:
            for t in tracks:
                t.close()
    elif args.action == "tile":
        if args.width < 1 or (args.stride is not None and args.stride < 1):
            raise UsageError("--width and --stride must be >= 1")
        table = fastwig.Regions.tile(_sizes(args.sizes), args.width, args.stride, chroms=args.chroms)
    else:
        if not args.val and not args.test:
            raise UsageError("name at least one --val or --test chromosome")
        table = _filter(read_regions(args.bed), args)
        parts = table.split(val=args.val, test=args.test)
        for name, part in zip(_split_names(args.output), parts):
            write_bed(part, name)
            note(f"wrote {name}: {len(part):,} regions, {part.total_bases:,} bases")
        return 0
    table = _filter(table, args)
    write_bed(table, args.output)
    if args.output != "-":
        note(f"wrote {args.output}: {len(table):,} regions, {table.total_bases:,} bases")
    return 0
