"""Where the kernels come from: ``fastwig.kernels`` once installed (the wheel maps the top-level
``kernels/`` folder there), the top-level ``kernels`` package in a source checkout."""

try:
    from .kernels import decode, expand, inflate, onehot, pack, plan, section, stats, status
except ModuleNotFoundError:  # running from a source tree that is not installed
    from kernels import decode, expand, inflate, onehot, pack, plan, section, stats, status



def cuda_module():
    """The GPU drivers (``kernels.cuda``), imported on demand: importing fastwig never imports them."""
    try:
        from .kernels import cuda
    except ModuleNotFoundError:
        from kernels import cuda
    return cuda


__all__ = ["decode", "expand", "inflate", "onehot", "pack", "plan", "section", "stats", "status", "cuda_module"]
