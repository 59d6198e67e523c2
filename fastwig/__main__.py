"""The ``fastwig`` command (``python -m fastwig`` or the ``fastwig`` console script).

    fastwig demo [--steps N] [--out fastwig-demo.png] ...   train a small CNN on the embedded demo data
    fastwig info FILE.bw                                     a bigWig's chromosomes, zoom levels and summary
    fastwig --version
"""

from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import fastwig

    for path in args.files:
        with fastwig.open(path) as bw:
            h = bw.header
            s = bw.summary
            print(f"{path}: bigWig v{h.version}, {len(bw.chroms)} chromosomes, {len(bw.zooms)} zoom levels")
            print(f"  bases covered {s.bases_covered:,}, min {s.min:g}, max {s.max:g}, "
                  f"mean {s.sum / max(s.bases_covered, 1):g}")
            for name, length in list(bw.chroms.items())[:20]:
                print(f"  {name}\t{length}")
            if len(bw.chroms) > 20:
                print(f"  ... {len(bw.chroms) - 20} more")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastwig`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    import fastwig

    parser = argparse.ArgumentParser(prog="fastwig", description="bigWig windows and DNA sequence for deep learning")
    parser.add_argument("--version", action="version", version=f"fastwig {fastwig.__version__}")
    sub = parser.add_subparsers(dest="command")
    p_demo = sub.add_parser("demo", help="train a small CNN on the demo data embedded in the package",
                            description="Train a small convolutional network on the synthetic demo assembly "
                                        "embedded in fastwig, evaluate it on a held-out chromosome and plot "
                                        "predicted vs observed signal.")
    from . import demo as _demo_args_only

    _demo_args_only.add_arguments(p_demo)
    p_info = sub.add_parser("info", help="describe bigWig files")
    p_info.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo_args_only.main_args(args)
    if args.command == "info":
        return _info(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
