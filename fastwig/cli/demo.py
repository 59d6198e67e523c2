"""``fastwig demo``: train a small model on the demo data embedded in the package (see :mod:`fastwig.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

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
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per step (default 32)")
    p.add_argument("--out", default="fastwig-demo.png", help="figure to write (default ./fastwig-demo.png; "
                   ".svg or .pdf work too)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train (default: the GPU when there is one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-2, help="peak Adam learning rate (one-cycle schedule)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", default=None, help="also write the results as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="print nothing")


def run(args) -> int:
    from ..errors import FastwigError
    from ._common import UsageError

    missing = [m for m in ("torch", "matplotlib") if not _importable(m)]
    if missing:
        raise FastwigError(f"the demo needs {' and '.join(missing)}: pip install 'fastwig[demo]'")
    if args.steps <= 0 or args.batch_size <= 1:
        raise UsageError("--steps must be > 0 and --batch-size > 1")
    from ..demo import run_demo

    res = run_demo(steps=args.steps, batch_size=args.batch_size, out=args.out, device=args.device,
                   seed=args.seed, lr=args.lr, threads=args.threads, quiet=args.quiet)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
