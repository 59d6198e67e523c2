"""Test support shared by the test modules: where the real test files live, oracle helpers.

(A module of its own rather than conftest.py: tests/benchmarks has a conftest too, and two modules
named ``conftest`` cannot both be imported by name.)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FASTWIG_SHARED", REPO.parent / "shared"))
BIGWIG_DIR = SHARED / "data" / "bigwig"
VOLVOX_DIR = SHARED / "data" / "volvox"

SHARED_REASON = f"real test files not found at {BIGWIG_DIR} (set FASTWIG_SHARED to the shared/ folder)"


def real_bigwigs() -> list[Path]:
    """Every real bigWig file (not bigBed) under shared/data/bigwig, sorted."""
    if not BIGWIG_DIR.is_dir():
        return []
    return sorted(p for p in BIGWIG_DIR.rglob("*") if p.suffix in (".bw", ".bigWig") and "bigbed" not in p.parts)


def real_bigbeds() -> list[Path]:
    return sorted((BIGWIG_DIR / "bigbed").glob("*")) if BIGWIG_DIR.is_dir() else []


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """float32 arrays equal bit for bit (NaN included)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def file_id(p: Path) -> str:
    return str(p.relative_to(BIGWIG_DIR)) if BIGWIG_DIR in p.parents else p.name


def require_numba_cuda_package():
    """Skip unless NVIDIA's numba-cuda package (the ``cuda`` extra) provides ``numba.cuda``.

    numba's own deprecated CUDA target answers ``import numba.cuda`` too, but it lowers kernels
    differently; the compile checks are written for numba-cuda.
    """
    import importlib.metadata

    import pytest

    try:
        importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("numba-cuda (the 'cuda' extra) is not installed; numba's built-in CUDA target differs")


def reference_bins(per_base: np.ndarray, bin_size: int, stat: str, covered_only: bool, missing: float) -> np.ndarray:
    """Plain numpy reference of binned statistics: per-base rows (NaN: not covered) reduced in float64,
    uncovered bases counted as ``missing`` unless ``covered_only``, rounded to float32."""
    rows = per_base.reshape(-1, bin_size).astype(np.float64)
    covered = ~np.isnan(rows)
    if stat == "coverage":
        return (covered.sum(1) / bin_size).astype(np.float32)
    if not covered_only:
        rows = np.where(covered, rows, np.float64(np.float32(missing)))
        covered = np.ones_like(covered)
    out = np.full(rows.shape[0], np.float32(missing), dtype=np.float64)
    has = covered.any(1)
    masked = np.where(covered, rows, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fn = {"mean": np.nanmean, "sum": np.nansum, "min": np.nanmin, "max": np.nanmax}[stat]
        out[has] = fn(masked[has], axis=1)
    return out.astype(np.float32)
