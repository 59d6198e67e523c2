"""What opening a bigWig costs: time and memory of the header, chromosome tree and R-tree index.

Two kinds of files:

- small: every real bigWig of ``../shared/data/bigwig`` (when present) and the generated edge cases;
- a track of the standard benchmark workload (profiling/workload.py), when it has been generated;
- genome-scale: a file generated here with ``fastwig.writer`` whose R-tree indexes a human genome's
  worth of blocks (24 chromosomes, GRCh38 sizes, 3.1e9 bases; ``--blocks`` blocks of 2 records each,
  written with zlib level 1 and no zoom levels so that generation stays under a minute).

For each file: the time of ``fastwig.open`` (median, min and max of ``--repeat`` opens, the file in
the page cache; for the genome-scale file also a cold open after evicting its pages with
posix_fadvise), the bytes of the per-file tables the reads need (``BigWig.index_nbytes``: the block
index arrays; the block cache's table is sized by the cache, not per file), and the Python heap the
open allocates (tracemalloc: kept after the open, and peak during it).

Run from the repository root::

    python profiling/open_cost.py [--blocks 300000] [--repeat 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import fastwig

GRCH38 = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636,
          138394717, 133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345,
          83257441, 80373285, 58617616, 64444167, 46709983, 50818468, 156040895, 57227415]


def index_bytes(bw) -> int:
    """Bytes of the per-file tables one open BigWig holds for its reads (``BigWig.index_nbytes``:
    block index arrays; the block cache's table is shared and sized by the cache, not per file)."""
    return bw.index_nbytes


def genome_file(path: Path, n_blocks: int) -> dict:
    """A bigWig with ``n_blocks`` data blocks of 2 bedGraph records spread over 3.1e9 bases."""
    from fastwig.writer import BedGraph, write_bigwig

    chroms = [(f"chr{i + 1}" if i < 22 else ("chrX", "chrY")[i - 22], s) for i, s in enumerate(GRCH38)]
    total = sum(GRCH38)
    t0 = time.perf_counter()
    secs = []
    rng = np.random.default_rng(0)
    for name, size in chroms:
        k = max(1, round(n_blocks * size / total))
        step = size // (2 * k)
        starts = np.arange(2 * k, dtype=np.int64) * step
        secs.append(BedGraph(name, starts, starts + min(50, step), rng.random(2 * k).astype(np.float32)))
    write_bigwig(path, chroms, secs, items_per_block=2, zoom_levels=0, compress_level=1)
    return {"path": str(path), "bytes": path.stat().st_size, "write_seconds": time.perf_counter() - t0}


def evict(path: str) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)                                # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def measure(path: str, repeat: int, cold: bool = False) -> dict:
    fastwig.open(path).close()                      # warm the page cache and the imports
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        bw = fastwig.open(path)
        times.append(time.perf_counter() - t0)
        bw.close()
    gc.collect()
    tracemalloc.start()
    bw = fastwig.open(path)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = {"file": path, "bytes": os.path.getsize(path), "blocks": len(bw._index), "chroms": len(bw.chroms),
           "open_ms_median": 1e3 * statistics.median(times), "open_ms_min": 1e3 * min(times),
           "open_ms_max": 1e3 * max(times), "rounds": repeat,
           "index_bytes": index_bytes(bw), "index_bytes_per_block": index_bytes(bw) / max(1, len(bw._index)),
           "heap_kept_bytes": kept, "heap_peak_bytes": peak}
    bw.close()
    if cold and evict(path):
        t0 = time.perf_counter()
        bw = fastwig.open(path)
        out["open_ms_cold"] = 1e3 * (time.perf_counter() - t0)
        bw.close()
    return out


def small_files() -> list[str]:
    import tempfile

    from edgecases import make_edge_files
    from support import real_bigwigs

    files = [str(p) for p in real_bigwigs()]
    folder = tempfile.mkdtemp(prefix="fastwig-open-cost-")
    files += [p for p, _ in make_edge_files(folder).values()]
    return files


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", default="100000,300000,600000",
                    help="data blocks of the genome-scale files (comma-separated)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--dir", default=None, help="where to write the genome-scale file (default: a temp dir)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import tempfile
    folder = Path(args.dir or tempfile.mkdtemp(prefix="fastwig-genome-"))
    folder.mkdir(parents=True, exist_ok=True)
    result = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
              "python": sys.version.split()[0], "numpy": np.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(["python"] + sys.argv)}

    small = [measure(p, args.repeat) for p in small_files()]
    ms = np.array([r["open_ms_median"] for r in small])
    ib = np.array([r["index_bytes"] for r in small])
    kept = np.array([r["heap_kept_bytes"] for r in small])
    result["small"] = {"files": len(small), "open_ms_median": float(np.median(ms)), "open_ms_max": float(ms.max()),
                       "index_bytes_median": float(np.median(ib)), "index_bytes_max": int(ib.max()),
                       "heap_kept_bytes_median": float(np.median(kept)),
                       "largest": max(small, key=lambda r: r["blocks"])}
    print(f"small files ({len(small)}): open median {np.median(ms):.2f} ms (max {ms.max():.2f} ms), "
          f"index median {np.median(ib):.0f} B (max {ib.max()} B), heap kept median {np.median(kept) / 1024:.1f} KiB")
    big = result["small"]["largest"]
    print(f"  largest small file: {big['file']} ({big['blocks']} blocks): {big['open_ms_median']:.2f} ms, "
          f"index {big['index_bytes']} B")

    # the standard benchmark workload's tracks (300 Mb, UCSC layout), when they have been generated
    sys.path.insert(0, str(REPO / "profiling"))
    from workload import cache_dir
    tracks = sorted(cache_dir().glob("workload-*/track0.bw"))
    if tracks:
        w = measure(str(tracks[-1]), args.repeat, cold=True)
        result["workload_track"] = w
        print(f"standard workload track ({w['blocks']} blocks, {w['bytes'] / 2**20:.1f} MiB): open "
              f"{w['open_ms_median']:.2f} ms warm, {w.get('open_ms_cold', float('nan')):.2f} ms cold; index "
              f"{w['index_bytes'] / 1024:.0f} KiB ({w['index_bytes_per_block']:.0f} B/block)")

    result["genome"] = []
    for n_blocks in [int(x) for x in str(args.blocks).split(",") if x]:
        gen = genome_file(folder / f"genome_{n_blocks}.bw", n_blocks)
        g = measure(gen["path"], args.repeat, cold=True)
        g["write_seconds"] = gen["write_seconds"]
        result["genome"].append(g)
        print(f"genome-scale: {g['blocks']} blocks, {g['chroms']} chroms, {g['bytes'] / 2**20:.1f} MiB (written in "
              f"{gen['write_seconds']:.1f} s): open {g['open_ms_median']:.2f} ms warm (min {g['open_ms_min']:.2f}, max "
              f"{g['open_ms_max']:.2f}, {g['rounds']} rounds), "
              f"{g.get('open_ms_cold', float('nan')):.1f} ms cold; index {g['index_bytes'] / 2**20:.2f} MiB "
              f"({g['index_bytes_per_block']:.0f} B/block); heap kept {g['heap_kept_bytes'] / 2**20:.2f} MiB, "
              f"peak {g['heap_peak_bytes'] / 2**20:.2f} MiB during the open")
        os.unlink(gen["path"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
