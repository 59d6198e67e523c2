"""The ``fastwig`` command: one small module per subcommand, each a thin layer over the public API.

Each subcommand module has ``HELP`` (one line), ``DESCRIPTION``, ``EXAMPLES`` (shown by ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``.  :func:`main` parses, runs, and turns errors into
one line on stderr: exit status 0 when all went well, 1 for an error while running (an unreadable or
malformed file, a chromosome a file lacks, ...), 2 for a command line that cannot be run as written.
Set ``FASTWIG_DEBUG=1`` to see the traceback of an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap

from ._common import UsageError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# name -> module (imported when the parser is built: argument definitions only, no heavy imports)
SUBCOMMANDS = ("info", "values", "stats", "regions", "convert", "plot", "bench", "demo")


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so :func:`main` returns a status."""

    def error(self, message: str):
        raise UsageError(f"{message}\n(see '{self.prog} --help')")


def _epilog(examples: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ")


def build_parser() -> argparse.ArgumentParser:
    """The ``fastwig`` argument parser with every subcommand."""
    from .. import __version__

    parser = _Parser(prog="fastwig", formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="bigWig windows and DNA sequence for deep learning: inspect, extract, summarise "
                                 "and benchmark bigWig files, make region tables, train the demo model.",
                     epilog=_epilog("""
                         fastwig demo                                  # train a small model on embedded data
                         fastwig info signal.bw --json
                         fastwig values signal.bw chr1:1,000,001-1,000,100
                         fastwig stats a.bw b.bw --bed peaks.bed -o peaks.tsv
                         fastwig COMMAND --help                        # options and examples of each command
                         """))
    parser.add_argument("--version", action="version", version=f"fastwig {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        mod = _module(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, epilog=_epilog(mod.EXAMPLES),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _prog=f"fastwig {name}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``fastwig`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 an error while running, 2 a bad command line.
    """
    from ..errors import FastwigError

    parser = build_parser()
    prog = "fastwig"
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:   # --help and --version exit 0 through argparse
            return int(exc.code or 0)
        if getattr(args, "_run", None) is None:
            parser.print_help()
            return 0
        prog = args._prog
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (FastwigError, OSError, ValueError, LookupError) as exc:
        if isinstance(exc, BrokenPipeError):   # `fastwig values ... | head`: the reader left, not an error
            _silence_stdout()
            return 0
        if os.environ.get("FASTWIG_DEBUG"):
            raise
        print(f"{prog}: error: {_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip() or type(exc).__name__
    return text


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at devnull so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
