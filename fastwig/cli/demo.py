"""``fastwig demo``: train a small model on the demo data embedded in the package (see :mod:`fastwig.demo`)."""

from __future__ import annotations

from .. import demo as _demo
from ._common import UsageError

HELP = "train a small CNN on the demo data embedded in the package (needs torch and matplotlib)"
DESCRIPTION = """\
Train a small convolutional network (DNA sequence -> 3 signal tracks in 32 bp bins) on the synthetic
assembly embedded in fastwig, reading every batch with fastwig.WindowDataset; evaluate it on a
held-out chromosome and draw predicted against observed signal.  Needs the demo extra:
pip install 'fastwig[demo]' (torch and matplotlib)."""
EXAMPLES = """
    fastwig demo
    fastwig demo --steps 1000 --batch-size 64 --device cuda --out demo.png
    fastwig demo --steps 50 --quiet --json results.json
    """


def add_arguments(p) -> None:
    _demo.add_arguments(p)


def run(args) -> int:
    _demo.require_extras()
    if args.steps <= 0 or args.batch_size <= 1:
        raise UsageError("--steps must be > 0 and --batch-size > 1")
    return _demo.main_args(args)
