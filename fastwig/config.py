"""Process-wide settings, read at call time (so tests can change them between calls).

Each setting has an environment variable that gives its initial value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value in (None, "") else value.lower() not in ("0", "false", "no", "off")


def _env_aliases(name: str) -> bool | str:
    value = os.environ.get(name)
    if value in (None, "") or value.lower() in ("1", "true", "yes", "on"):
        return True
    return False if value.lower() in ("0", "false", "no", "off") else value


@dataclass
class Settings:
    """fastwig settings.

    Attributes
    ----------
    threads : int
        Worker threads of the CPU kernels when a call passes ``threads=None``; 0 means every core
        (``FASTWIG_THREADS``).
    cache_bytes : int
        Byte budget of the decoded-block cache shared by all open files; 0 disables it
        (``FASTWIG_CACHE_BYTES``, default 128 MiB; the ring is resident once used, so lower it when
        many DataLoader worker processes each read).
    early_exit : bool
        Stop inflating a block once its records pass the last window that needs it
        (``FASTWIG_EARLY_EXIT``).
    index_cache_dir : str or None
        A directory where parsed block indexes are kept, so that later opens (spawned DataLoader
        workers) map them instead of parsing, and share their memory (``FASTWIG_INDEX_CACHE``;
        default None: nothing is written; see :mod:`fastwig.indexcache`).
    gpu_threads_per_block, gpu_max_blocks : int
        Launch sizes of the CUDA kernels (``FASTWIG_GPU_TPB``, ``FASTWIG_GPU_MAX_BLOCKS``); tests
        shrink them so that tiny inputs span several blocks and grid-stride iterations.
    chrom_aliases : bool, dict or str
        How a chromosome name a file lacks is looked up (:mod:`fastwig.chromalias`): True (default)
        tries the usual UCSC <-> Ensembl spellings (``chr1`` <-> ``1``, ``chrM`` <-> ``MT``); a dict
        name -> list of names, or the path of a UCSC ``chromAlias.txt``, adds those aliases; False
        turns aliases off (``FASTWIG_CHROM_ALIASES``: 0/1 or a path).
    """

    threads: int = field(default_factory=lambda: _env_int("FASTWIG_THREADS", 0))
    cache_bytes: int = field(default_factory=lambda: _env_int("FASTWIG_CACHE_BYTES", 128 << 20))
    early_exit: bool = field(default_factory=lambda: _env_bool("FASTWIG_EARLY_EXIT", True))
    index_cache_dir: str | None = field(default_factory=lambda: os.environ.get("FASTWIG_INDEX_CACHE") or None)
    gpu_threads_per_block: int = field(default_factory=lambda: _env_int("FASTWIG_GPU_TPB", 128))
    gpu_max_blocks: int = field(default_factory=lambda: _env_int("FASTWIG_GPU_MAX_BLOCKS", 4096))
    chrom_aliases: bool | dict | str = field(default_factory=lambda: _env_aliases("FASTWIG_CHROM_ALIASES"))


settings = Settings()


def resolve_threads(threads: int | None) -> int:
    """Number of CPU threads a call uses: ``threads``, else the setting, else every core."""
    if threads is None:
        threads = settings.threads
    if threads is None or threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(threads))
