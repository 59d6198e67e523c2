"""fastwig: bigWig signal windows and DNA sequence for deep learning, on the CPU or the GPU.

``import fastwig`` imports numpy and numba only: torch and pyfaidx load with the names that need
them, and CUDA is probed only when a CUDA path is asked for.
"""

from __future__ import annotations

from .batch import read_windows
from .config import settings
from .errors import ChromNotFound, CudaUnavailable, FastwigError, FormatError, RangeError
from .header import Header, Summary, ZoomLevel
from .bigbed import BigBed
from .files import open
from .reader import BigWig

__version__ = "0.1.0"

_LAZY = {
    "Genome": ("genome", "Genome"),
    "Regions": ("regions", "Regions"),
    "WindowDataset": ("dataset", "WindowDataset"),
    "BigWigWriter": ("writer", "BigWigWriter"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module 'fastwig' has no attribute {name!r}")


__all__ = ["BigWig", "BigBed", "BigWigWriter", "open", "read_windows", "settings", "FastwigError", "FormatError",
           "ChromNotFound", "RangeError", "CudaUnavailable", "Header", "Summary", "ZoomLevel", "Genome", "Regions",
           "WindowDataset", "__version__"]
