"""The standard benchmark workload of DESIGN.md (section Performance): files and window sets.

Importable from tests and scripts (``from profiling.workload import ...`` from the repository root, or
with ``profiling/`` on ``sys.path``); it imports nothing from fastwig, so it also serves the peers.

Files
-----
8 bigWig tracks of coverage-like signal over a 300 Mb genome: chr1..chr10, the sizes of human
GRCh38 chr1..chr10 scaled down to sum to exactly 300,000,000 bp (chr1 41.3 Mb ... chr10 22.2 Mb).
Each track is piecewise constant (bedGraph records): a run is Geometric(1/40) bases long (support 1, 2,
...; mean 40 bp); 20% of runs are preceded by a gap that no record covers (Geometric(1/50), mean 50 bp), so
the mean period is 50 bp and a track has about 6.0 million records; values are float32, Gamma(1.5,
scale 4 x a per-track factor) rounded to 1/32, with 5% of runs exactly 0.0. Everything is drawn from
``numpy.random.default_rng([seed, track, chrom])``: the files are the same whatever the number of jobs.

Writer: pybigtools 0.3 (bigtools), chosen because it writes the UCSC layout: every data block a
bedGraph section of at most 1,024 items (``itemsPerSlot`` = 1024 in the R-tree header), R-tree
``blockSize`` 256, zlib-compressed blocks, zoom levels. pyBigWig (libBigWig) cannot: it fills each
block's 32 KiB uncompressed buffer byte by byte, which gives 2,728 bedGraph items per block (R-tree
blockSize 64, itemsPerSlot 1), and its Python API exposes no setting for either. bigtools' own quirks
(chromosome tree written after the data; chromosome ids in name order chr1, chr10, chr2, ... while
the data runs in input order) are real-writer quirks a reader must handle anyway. Run
``python profiling/workload.py`` to build the files and print their block layout.

Files go to ``$FASTWIG_BENCH_DATA`` or ``~/.cache/fastwig-bench``, in a subfolder named by a hash of
the parameters, with ``manifest.json`` (parameters, files, sizes, block layout). They are generated
only when the manifest is missing or does not match.

Window sets
-----------
Arrays: ``chroms`` (numpy array of str), ``starts`` (int64), ``width`` (int), in a :class:`Windows`.

- :func:`sparse_batches`: the genome cut into 100 kb stretches (whole stretches only), shuffled with
  the seed, and handed out disjointly: batch k gets stretches [k*batch, (k+1)*batch) of the shuffled
  list, one window at a random offset inside each. So no two windows of a batch share a stretch, and
  successive batches read parts of the genome no earlier batch read (a cold batch). The 300 Mb genome
  holds 2,995 stretches: 11 batches of 256.
- :func:`dense_batches` / :func:`dense_batch`: 2,048 windows (sorted) inside one 15 Mb stretch;
  successive dense batches use disjoint 15 Mb stretches (15 fit in this genome).
- :func:`long_batches`: the Basenji/Enformer cases, read as bins: ``enformer`` = 16 windows of
  196,608 bp in 128 bp bins, ``borzoi`` = 4 windows of 524,288 bp in 32 bp bins; each window in its own
  stretch of twice its width, disjoint across batches.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import struct
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PARAMS",
    "Windows",
    "Workload",
    "block_layout",
    "cache_dir",
    "chrom_sizes",
    "dense_batch",
    "dense_batches",
    "ensure_workload",
    "long_batches",
    "sparse_batches",
    "track_intervals",
]

# GRCh38 chr1..chr10, scaled so that they sum to 300 Mb.
_HUMAN = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636,
          138394717, 133797422]

PARAMS = {
    "format_version": 1,          # bump when the generator changes in a way the parameters do not show
    "n_tracks": 8,
    "genome_size": 300_000_000,
    "n_chroms": 10,
    "mean_run": 40,               # bases per record: Geometric(1 / mean_run), support 1, 2, ...
    "gap_prob": 0.2,              # share of records preceded by an uncovered gap
    "mean_gap": 50,               # gap length mean
    "zero_prob": 0.05,            # share of records whose value is exactly 0.0
    "value_shape": 1.5,           # Gamma shape; scale 4 x track factor; rounded to 1/32
    "value_scale": 4.0,
    "seed": 20240521,
    "writer": "pybigtools",
}

STRETCH = 100_000
DENSE_SPAN = 15_000_000


def chrom_sizes(genome_size: int = PARAMS["genome_size"], n_chroms: int = PARAMS["n_chroms"]) -> dict:
    """chr1..chrN, human proportions, summing exactly to genome_size (multiples of 1,000 bp except the last)."""
    human = np.array((_HUMAN * ((n_chroms + 9) // 10))[:n_chroms], dtype=np.float64)
    sizes = np.floor(human / human.sum() * genome_size / 1000).astype(np.int64) * 1000
    sizes[-1] += genome_size - sizes.sum()
    return {f"chr{i + 1}": int(s) for i, s in enumerate(sizes)}


def cache_dir() -> Path:
    return Path(os.environ.get("FASTWIG_BENCH_DATA") or Path.home() / ".cache" / "fastwig-bench")


def _params_key(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def track_intervals(track: int, chrom_index: int, size: int, params: dict = PARAMS):
    """The records of one track on one chromosome: (starts int64, ends int64, values float32), sorted,
    non-overlapping, inside [0, size). Deterministic in (seed, track, chrom_index)."""
    rng = np.random.default_rng([params["seed"], track, chrom_index])
    period = params["mean_run"] + params["gap_prob"] * params["mean_gap"]
    n = int(size / period * 1.02) + 1000
    lens = rng.geometric(1.0 / params["mean_run"], n).astype(np.int64)
    gaps = np.where(rng.random(n) < params["gap_prob"], rng.geometric(1.0 / params["mean_gap"], n), 0)
    ends = np.cumsum(gaps + lens)
    starts = ends - lens
    keep = ends <= size
    starts, ends = starts[keep], ends[keep]
    factor = 0.5 + track / max(1, params["n_tracks"] - 1)       # tracks differ in depth
    values = rng.gamma(params["value_shape"], params["value_scale"] * factor, len(starts))
    values = np.round(values * 32) / 32
    values[rng.random(len(starts)) < params["zero_prob"]] = 0.0
    return starts, ends, values.astype(np.float32)


def _write_track(path: str, track: int, params: dict) -> dict:
    import pybigtools

    sizes = chrom_sizes(params["genome_size"], params["n_chroms"])
    counts = []

    def records():
        for ci, (name, size) in enumerate(sizes.items()):
            s, e, v = track_intervals(track, ci, size, params)
            counts.append(len(s))
            yield from zip(itertools.repeat(name), s.tolist(), e.tolist(), v.tolist())

    tmp = path[:-3] + ".tmp.bw"
    t0 = time.perf_counter()
    writer = pybigtools.open(tmp, "w")
    writer.write(sizes, records())
    os.replace(tmp, path)
    return {"path": path, "records": int(sum(counts)), "seconds": round(time.perf_counter() - t0, 2)}


@dataclass
class Workload:
    paths: list
    chrom_sizes: dict
    manifest: dict
    directory: Path


def ensure_workload(directory: str | os.PathLike | None = None, *, params: dict | None = None,
                    jobs: int | None = None, force: bool = False, layout: bool = True,
                    verbose: bool = False) -> Workload:
    """The standard workload's files, generated only if the manifest is missing or differs.

    Generation runs ``jobs`` tracks at a time (default: 2, or the CPU count if smaller).
    """
    params = dict(PARAMS if params is None else params)
    base = Path(directory) if directory is not None else cache_dir()
    folder = base / f"workload-{_params_key(params)}"
    manifest_path = folder / "manifest.json"
    paths = [str(folder / f"track{t}.bw") for t in range(params["n_tracks"])]
    sizes = chrom_sizes(params["genome_size"], params["n_chroms"])

    def valid():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("params") != params:
            return None
        for f in manifest.get("files", []):
            if not os.path.exists(f["path"]) or os.path.getsize(f["path"]) != f["bytes"]:
                return None
        return manifest if len(manifest.get("files", [])) == len(paths) else None

    manifest = None if force else valid()
    if manifest is not None:
        return Workload(paths, sizes, manifest, folder)

    folder.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                    # another process may be generating
        manifest = None if force else valid()
        if manifest is not None:
            return Workload(paths, sizes, manifest, folder)
        t0 = time.perf_counter()
        jobs = jobs or min(2, os.cpu_count() or 1)
        if verbose:
            print(f"generating {len(paths)} tracks in {folder} ({jobs} jobs)...", file=sys.stderr)
        if jobs == 1:
            results = [_write_track(p, t, params) for t, p in enumerate(paths)]
        else:
            with ProcessPoolExecutor(jobs) as pool:
                results = list(pool.map(_write_track, paths, range(len(paths)), [params] * len(paths)))
        import pybigtools
        files = []
        for r in results:
            entry = {"path": r["path"], "bytes": os.path.getsize(r["path"]), "records": r["records"],
                     "write_seconds": r["seconds"]}
            if layout:
                entry["layout"] = block_layout(r["path"])
            files.append(entry)
        manifest = {
            "params": params,
            "chrom_sizes": sizes,
            "files": files,
            "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "generation_seconds": round(time.perf_counter() - t0, 1),
            "writer_version": f"pybigtools {getattr(pybigtools, '__version__', '?')}",
            "numpy": np.__version__,
        }
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, manifest_path)
        if verbose:
            print(f"done in {manifest['generation_seconds']} s", file=sys.stderr)
    return Workload(paths, sizes, manifest, folder)


def block_layout(path: str) -> dict:
    """The data-block layout of a (little-endian) bigWig, read independently of any reader under test:
    R-tree blockSize and itemsPerSlot, number of blocks, items per block, compressed/inflated bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (magic, version, n_zooms, chrom_tree, full_data, full_index, _fc, _dfc, _as, _ts,
     buf_size, _ext) = struct.unpack_from("<IHHQQQHHQQIQ", data, 0)
    if magic != 0x888FFC26:
        raise ValueError(f"{path}: not a little-endian bigWig")
    (_m, block_size, _n_items, *_r, items_per_slot, _pad) = struct.unpack_from("<IIQIIIIQII", data, full_index)
    leaves = []
    stack = [full_index + 48]
    while stack:
        node = stack.pop()
        is_leaf, _res, count = struct.unpack_from("<BBH", data, node)
        if is_leaf:
            arr = np.frombuffer(data, dtype=[("sc", "<u4"), ("s", "<u4"), ("ec", "<u4"), ("e", "<u4"),
                                             ("off", "<u8"), ("size", "<u8")], count=count, offset=node + 4)
            leaves.append(arr)
        else:
            arr = np.frombuffer(data, dtype="<u8", count=count * 3, offset=node + 4).reshape(count, 3)
            stack.extend(arr[::-1, 2].tolist())
    leaves = np.concatenate(leaves)
    items, inflated, kinds = [], [], set()
    for off, size in zip(leaves["off"].tolist(), leaves["size"].tolist()):
        raw = data[off:off + size]
        block = zlib.decompress(raw) if buf_size else raw
        inflated.append(len(block))
        kinds.add(block[20])
        items.append(struct.unpack_from("<H", block, 22)[0])
    items = np.array(items)
    return {
        "file_bytes": len(data), "version": version, "zoom_levels": n_zooms,
        "uncompress_buf_size": buf_size, "rtree_block_size": block_size, "items_per_slot": items_per_slot,
        "chrom_tree_after_data": chrom_tree > full_data,
        "section_types": sorted({1: "bedGraph", 2: "varStep", 3: "fixedStep"}.get(k, str(k)) for k in kinds),
        "blocks": len(leaves), "records": int(items.sum()),
        "items_per_block": {"min": int(items.min()), "median": float(np.median(items)), "max": int(items.max())},
        "compressed_bytes_per_block": round(float(leaves["size"].mean()), 1),
        "inflated_bytes_per_block": round(float(np.mean(inflated)), 1),
        "bases_per_block": round(float((leaves["e"].astype(np.int64) - leaves["s"]).mean()), 1),
    }


# ---------------------------------------------------------------------------------------------------
# window sets


@dataclass
class Windows:
    chroms: np.ndarray      # str, one per window
    starts: np.ndarray      # int64
    width: int
    bin_size: int = 1       # > 1: the batch is read reduced to bins of this many bases (mean)

    def __len__(self):
        return len(self.starts)

    @property
    def nbins(self):
        return self.width // self.bin_size

    @property
    def n_values(self):
        return len(self.starts) * self.width


def _stretches(sizes: dict, length: int):
    names, starts = [], []
    for name, size in sizes.items():
        k = size // length
        names.extend([name] * k)
        starts.extend(range(0, k * length, length))
    return np.array(names), np.array(starts, dtype=np.int64)


def sparse_batches(chrom_sizes: dict, n_batches: int, batch: int = 256, width: int = 1000, seed: int = 0,
                   stretch: int = STRETCH) -> list:
    """``n_batches`` batches of ``batch`` windows, each window in its own ``stretch``-bp stretch of the
    genome, no stretch used twice across all the batches (cold batches read parts never read before).
    Raises ValueError when the genome has fewer than n_batches * batch stretches."""
    names, starts = _stretches(chrom_sizes, stretch)
    need = n_batches * batch
    if need > len(starts):
        raise ValueError(f"{n_batches} batches of {batch} need {need} stretches of {stretch} bp; "
                         f"the genome has {len(starts)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(starts))[:need]
    offsets = rng.integers(0, stretch - width + 1, need)
    out = []
    for k in range(n_batches):
        idx = order[k * batch:(k + 1) * batch]
        out.append(Windows(names[idx], starts[idx] + offsets[k * batch:(k + 1) * batch], width))
    return out


#: the long binned workloads of DESIGN.md: (windows per batch, width, bin size)
LONG = {"enformer": (16, 196_608, 128), "borzoi": (4, 524_288, 32)}


def long_batches(chrom_sizes: dict, kind: str, n_batches: int, seed: int = 0) -> list:
    """``n_batches`` batches of the long workload ``kind`` (a key of :data:`LONG`): each window at a
    random offset in its own stretch of twice its width, no stretch used twice (cold batches)."""
    batch, width, bin_size = LONG[kind]
    out = sparse_batches(chrom_sizes, n_batches, batch=batch, width=width, seed=seed, stretch=2 * width)
    for w in out:
        w.bin_size = bin_size
    return out


def max_sparse_batches(chrom_sizes: dict, batch: int = 256, stretch: int = STRETCH) -> int:
    return len(_stretches(chrom_sizes, stretch)[1]) // batch


def dense_batches(chrom_sizes: dict, n_batches: int, n: int = 2048, width: int = 1000, seed: int = 0,
                  span: int = DENSE_SPAN) -> list:
    """``n_batches`` batches of ``n`` sorted windows, each batch inside its own ``span``-bp stretch;
    the stretches are disjoint (shuffled with the seed)."""
    names, starts = _stretches(chrom_sizes, span)
    if n_batches > len(starts):
        raise ValueError(f"{n_batches} dense batches need {n_batches} stretches of {span} bp; "
                         f"the genome has {len(starts)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(starts))[:n_batches]
    out = []
    for i in order:
        s = np.sort(rng.integers(0, span - width + 1, n)) + starts[i]
        out.append(Windows(np.full(n, names[i]), s.astype(np.int64), width))
    return out


def dense_batch(chrom_sizes: dict, n: int = 2048, width: int = 1000, seed: int = 0,
                span: int = DENSE_SPAN) -> Windows:
    """One dense batch: ``n`` sorted windows inside one ``span``-bp stretch."""
    return dense_batches(chrom_sizes, 1, n, width, seed, span)[0]


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Build the standard benchmark workload and print its layout.")
    ap.add_argument("--dir", default=None, help="cache folder (default $FASTWIG_BENCH_DATA or ~/.cache/fastwig-bench)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    w = ensure_workload(args.dir, jobs=args.jobs, force=args.force, verbose=True)
    m = w.manifest
    print(f"folder: {w.directory}")
    print(f"chrom sizes: {w.chrom_sizes}")
    print(f"generated {m['generated']} in {m['generation_seconds']} s with {m['writer_version']}")
    for f in m["files"]:
        lay = f.get("layout", {})
        print(f"{os.path.basename(f['path'])}: {f['bytes'] / 2**20:.1f} MiB, {f['records']} records, "
              f"{lay.get('blocks')} blocks, items/block {lay.get('items_per_block')}, "
              f"{lay.get('compressed_bytes_per_block')} B compressed / {lay.get('inflated_bytes_per_block')} B "
              f"inflated per block, {lay.get('bases_per_block')} bp per block")
    lay = m["files"][0].get("layout", {})
    print("layout:", {k: v for k, v in lay.items() if k not in ("items_per_block",)})


if __name__ == "__main__":
    main()
