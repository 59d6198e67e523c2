"""The kernels fastwig runs: always ``fastwig.kernels``, the ``kernels/`` folder that the wheel and an
editable install map there (pyproject's ``package-dir``).  There is no top-level ``kernels`` package:
one on a user's path must never be picked up instead (tests/test_layers.py keeps this)."""

from .kernels import bins, cachemap, decode, expand, inflate, kmer, onehot, pack, plan, rtree, section, stats, status


def cuda_module():
    """The GPU drivers (``kernels.cuda``), imported on demand: importing fastwig never imports them."""
    from .kernels import cuda

    return cuda


__all__ = ["bins", "cachemap", "decode", "expand", "inflate", "kmer", "onehot", "pack", "plan", "rtree", "section", "stats", "status", "cuda_module"]
