"""The flagship case of issue 9, end to end: many genome-scale tracks, and the Enformer dataset.

A. Many tracks.  One bigWig whose R-tree indexes ``--blocks`` data blocks (one short bedGraph record
   per block, written by :class:`fastwig.BigWigWriter` with ``items_per_slot=1``, no zoom levels;
   records spread over the 24 GRCh38 chromosomes, 3.1 Gb), copied to ``--tracks`` distinct files
   (real copies: distinct inodes, so nothing is shared between tracks by the page cache or the block
   cache).  In a fresh Python process (so that the memory figures are the reader's alone): the kernels
   are loaded on the uncopied file, then every copy is opened (time per file: median, min, max; the
   files are in the page cache), the index is measured (``BigWig.index_nbytes`` summed: the block
   index arrays, every per-file table a read needs; the block cache's table is owned by the cache and
   sized by the blocks it holds, reported apart), and two batches are read over all tracks ``--rounds``
   times cold (windows never read before) and then warm (the last batch again):

   - binned: 8 windows of 196,608 bp in 128 bp bins (the Enformer input width);
   - per base: 32 windows of 1,000 bp, each placed over a record (random windows of a sparse file
     would mostly read nothing).

   Peak RSS is VmHWM after ``/proc/self/clear_refs`` = 5 (reset after the opens, and again before each
   batch kind), checked against the bound of the issue: index + cache (``settings.cache_bytes``)
   + 2 x output + 256 MiB.

B. The Enformer dataset.  64 tracks (the standard workload's 8 tracks of ``profiling/workload.py``,
   8 real copies of each) and a random-sequence FASTA of the workload's chromosomes ->
   ``WindowDataset(tracks, fasta, window=196_608, target_window=114_688, bin_size=128)`` ->
   ``ds.loader(batch_size, num_workers)``; each of ``--epochs`` epochs starts fresh workers, skips
   ``--warmup`` batches (worker start, file opens) and times the next ``--batches``.

Files go to ``$FASTWIG_BENCH_DATA`` or ``~/.cache/fastwig-bench`` and are reused when present.
Run from the repository root::

    python profiling/flagship.py                 # the full measurement (A then B)
    python profiling/flagship.py --small         # a quick smoke run: 50 tracks of 5,000 blocks, 16 dataset tracks
    python profiling/flagship.py --part A --tracks 1000 --blocks 100000 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "profiling"))

from workload import cache_dir, ensure_workload

GRCH38 = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636,
          138394717, 133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345,
          83257441, 80373285, 58617616, 64444167, 46709983, 50818468, 156040895, 57227415]
CHROMS = {(f"chr{i + 1}" if i < 22 else ("chrX", "chrY")[i - 22]): s for i, s in enumerate(GRCH38)}
MIB = 1 << 20
ENFORMER = {"window": 196_608, "target_window": 114_688, "bin_size": 128}


def spread(values) -> dict:
    v = [float(x) for x in values]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt(s: dict, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    return (f"{s['median'] * scale:,.{digits}f}{unit} (min {s['min'] * scale:,.{digits}f}, "
            f"max {s['max'] * scale:,.{digits}f}, n={s['n']})")


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# --- A: the files -----------------------------------------------------------------------------

def sparse_records(n_blocks: int, seed: int = 7):
    """Per chromosome (name, starts int64, ends int64, values float32): at least ``n_blocks`` records,
    one in each of ``n_blocks`` equal stretches of the genome, 50 to 2,000 bp long."""
    rng = np.random.default_rng(seed)
    total = sum(CHROMS.values())
    out = []
    for name, size in CHROMS.items():
        k = -(-n_blocks * size // total)
        step = size // k
        starts = np.arange(k, dtype=np.int64) * step + rng.integers(0, step - 2000, k)
        ends = starts + rng.integers(50, 2000, k)
        out.append((name, starts, ends, rng.gamma(1.5, 4.0, k).astype(np.float32)))
    return out


def ensure_many(n_tracks: int, n_blocks: int) -> tuple[Path, list[str]]:
    """The base file and its ``n_tracks`` copies (made only when missing or of another size)."""
    import fastwig

    folder = cache_dir() / f"many-{n_blocks}blocks"
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "base.bw"
    if not (base.exists() and (folder / "records.npz").exists()):
        t0 = time.perf_counter()
        recs = sparse_records(n_blocks)
        tmp = folder / "base.tmp.bw"
        with fastwig.BigWigWriter(tmp, CHROMS, items_per_slot=1, zoom_levels=0, compress_level=1) as w:
            for name, starts, ends, values in recs:
                w.add_intervals(name, starts, ends, values)
        np.savez(folder / "records.npz", chrom=np.concatenate([np.full(len(r[1]), r[0]) for r in recs]),
                 start=np.concatenate([r[1] for r in recs]), end=np.concatenate([r[2] for r in recs]))
        os.replace(tmp, base)
        for old in folder.glob("track*.bw"):     # copies of an earlier base file
            old.unlink()
        print(f"wrote {base} ({base.stat().st_size / MIB:.1f} MiB) in {time.perf_counter() - t0:.1f} s")
    size = base.stat().st_size
    paths = [folder / f"track{k:04d}.bw" for k in range(n_tracks)]     # the names child_many rebuilds
    todo = [p for p in paths if not (p.exists() and p.stat().st_size == size)]
    if todo:
        t0 = time.perf_counter()
        for p in todo:
            shutil.copyfile(base, p)
        print(f"copied {len(todo)} files ({len(todo) * size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.1f} s")
    return base, [str(p) for p in paths]


def evict(path: str) -> bool:
    """Ask the kernel to drop the file's pages from the page cache (it may keep some)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


# --- A: the measurement, in a fresh process -----------------------------------------------------

def child_many(base: str, paths: list[str], rounds: int, seed: int, prime: bool = False) -> dict:
    """Open ``paths`` and read batches over all of them (see the module docstring); ``prime``: only
    load (and, when the numba cache lacks them, compile) the kernels and return."""
    import fastwig
    from fastwig.cache import cache

    folder = Path(base).parent
    recs = np.load(folder / "records.npz")
    rng = np.random.default_rng(seed)
    kinds = {"binned": {"n": 8, "width": ENFORMER["window"], "bin_size": ENFORMER["bin_size"]},
             "per_base": {"n": 32, "width": 1000, "bin_size": 1}}

    sizes = np.array([CHROMS[c] for c in recs["chrom"]])

    def windows(kind, over_records=False):
        k = kinds[kind]
        if k["bin_size"] > 1 and not over_records:    # anywhere: a long window holds a few records
            pick = rng.integers(0, len(sizes), k["n"])
            starts = rng.integers(0, sizes[pick] - k["width"])
        else:                                   # over a record, so that the window reads a block
            pick = rng.integers(0, len(sizes), k["n"])
            starts = recs["start"][pick] - rng.integers(0, k["width"] - 1, k["n"])
        return recs["chrom"][pick], np.asarray(starts, dtype=np.int64)

    # load the compiled kernels (and touch the cache ring) on the base file, with windows that read
    # blocks (a window that reads none skips the decoding kernels): not part of any figure
    t0 = time.perf_counter()
    first = fastwig.open(base)
    first_open = time.perf_counter() - t0
    for kind, k in kinds.items():
        c, s = windows(kind, over_records=True)
        fastwig.read_windows([first], c, s, k["width"], bin_size=k["bin_size"])
    blocks = len(first._index)
    first.close()
    if prime:
        return {"blocks_per_file": blocks}
    rss_before = status_kib("VmRSS")

    opened, open_s = [], []
    t_all = time.perf_counter()
    for p in paths:
        t0 = time.perf_counter()
        opened.append(fastwig.open(p))
        open_s.append(time.perf_counter() - t0)
    t_all = time.perf_counter() - t_all
    index = sum(bw.index_nbytes for bw in opened)
    rss_open = status_kib("VmRSS")
    res = {"tracks": len(paths), "blocks_per_file": blocks, "first_open_s": first_open, "open_s": spread(open_s),
           "open_all_s": t_all, "index_bytes": index, "index_bytes_per_block": index / (blocks * len(paths)),
           "rss_before_open": rss_before, "rss_after_open": rss_open,
           "rss_per_file": (rss_open - rss_before) / len(paths), "cache_bytes": fastwig.settings.cache_bytes,
           "threads": fastwig.config.resolve_threads(None), "peak_reset": reset_peak(), "batches": {}}

    for kind, k in kinds.items():
        # one untimed batch first: its first call over many tracks loads compiled code that the
        # one-file warm-up did not need (seconds, once per process)
        c, s = windows(kind)
        t0 = time.perf_counter()
        out = fastwig.read_windows(opened, c, s, k["width"], bin_size=k["bin_size"])
        first_batch, out = time.perf_counter() - t0, None
        reset_peak()
        cold, warm = [], []
        for _ in range(rounds):
            c, s = windows(kind)
            out = None
            t0 = time.perf_counter()
            out = fastwig.read_windows(opened, c, s, k["width"], bin_size=k["bin_size"])
            cold.append(time.perf_counter() - t0)
        for _ in range(rounds):
            t0 = time.perf_counter()
            out = fastwig.read_windows(opened, c, s, k["width"], bin_size=k["bin_size"])
            warm.append(time.perf_counter() - t0)
        peak = status_kib("VmHWM")
        bound = index + fastwig.settings.cache_bytes + 2 * out.nbytes + 256 * MIB
        res["batches"][kind] = {
            **k, "shape": list(out.shape), "output_bytes": out.nbytes, "cold_s": spread(cold), "warm_s": spread(warm),
            "first_batch_s": first_batch, "covered_fraction": float(np.mean(out != 0)), "peak_rss": peak, "bound": bound,
            "bound_holds": peak <= bound, "peak_over_open": peak - rss_open,
            "cache_table_bytes": sum(a.nbytes for a in cache.table)}
    return res


def report_many(r: dict) -> None:
    n = r["tracks"]
    print(f"\nA. {n} tracks, {r['blocks_per_file']:,} blocks each ({r['threads']} threads)")
    print(f"  first open in the process (loads compiled code): {r['first_open_s'] * 1e3:.1f} ms")
    pages = "dropped from the page cache first" if r.get("evicted") else "in the page cache"
    print(f"  open per file ({pages}): {fmt(r['open_s'], 1e3, ' ms')}; all {n}: {r['open_all_s']:.2f} s")
    print(f"  index: {r['index_bytes'] / MIB:.1f} MiB = {r['index_bytes_per_block']:.2f} B per block "
          f"(BigWig.index_nbytes summed)")
    print(f"  RSS before opens {r['rss_before_open'] / MIB:.0f} MiB, after {r['rss_after_open'] / MIB:.0f} MiB "
          f"({r['rss_per_file'] / 1024:.1f} KiB per open file, Python objects included)")
    for kind, b in r["batches"].items():
        tw = b["n"] * n
        print(f"  {kind}: {b['n']} windows x {b['width']:,} bp, bin {b['bin_size']} -> {tuple(b['shape'])} "
              f"({b['output_bytes'] / MIB:.0f} MiB, {b['covered_fraction']:.1%} non-zero)")
        print(f"    first batch (untimed in the figures below): {b['first_batch_s']:.3f} s")
        for temp in ("cold", "warm"):
            s = b[f"{temp}_s"]
            print(f"    {temp}: {fmt(s, 1, ' s', 3)} per batch; windows/s {b['n'] / s['median']:,.1f}, "
                  f"track-windows/s {tw / s['median']:,.0f} (best {tw / s['min']:,.0f})")
        verdict = "holds" if b["bound_holds"] else "DOES NOT hold"
        print(f"    peak RSS {b['peak_rss'] / MIB:.0f} MiB ({b['peak_over_open'] / MIB:+.0f} MiB over after-open); "
              f"bound index + cache + 2 x output + 256 MiB = {b['bound'] / MIB:.0f} MiB: {verdict}; "
              f"cache table {b['cache_table_bytes'] / MIB:.1f} MiB")


# --- B: the Enformer dataset ----------------------------------------------------------------------

def ensure_fasta(chrom_sizes: dict) -> str:
    """A random ACGT FASTA of these chromosomes (60 bases a line) with its .fai; the same folder name
    as the dataset benchmark's genome, so either reuses the other's."""
    key = hashlib.sha1(json.dumps(chrom_sizes, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"genome-{key}" / "genome.fa"
    if path.exists() and Path(f"{path}.fai").exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0, rng, letters, fai = time.perf_counter(), np.random.default_rng(11), np.frombuffer(b"ACGT", np.uint8), []
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for name, size in chrom_sizes.items():
            fh.write(f">{name}\n".encode())
            fai.append(f"{name}\t{size}\t{fh.tell()}\t60\t61\n")
            for lo in range(0, size, 6_000_000):
                seq = letters[rng.integers(0, 4, min(6_000_000, size - lo), dtype=np.uint8)]
                lines = [seq[i:i + 60].tobytes() for i in range(0, len(seq), 60)]
                fh.write(b"\n".join(lines) + b"\n")
    os.replace(tmp, path)
    Path(f"{path}.fai").write_text("".join(fai))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    return str(path)


def ensure_track_copies(paths: list[str], copies: int) -> list[str]:
    """``copies`` real copies of each workload track, track after track (copy c of track t at c*len+t)."""
    folder = Path(paths[0]).parent.parent / f"{Path(paths[0]).parent.name}-copies"
    folder.mkdir(exist_ok=True)
    out = []
    for c in range(copies):
        for p in paths:
            dst = folder / f"{Path(p).stem}_copy{c}.bw"
            if not (dst.exists() and dst.stat().st_size == Path(p).stat().st_size):
                shutil.copyfile(p, dst)
            out.append(str(dst))
    return out


def measure_dataset(n_tracks: int, batch_size: int, workers: int, warmup: int, batches: int, rounds: int) -> dict:
    import fastwig

    wl = ensure_workload()
    fasta = ensure_fasta(wl.chrom_sizes)
    tracks = ensure_track_copies(wl.paths, -(-n_tracks // len(wl.paths)))[:n_tracks]
    per_epoch = warmup + batches
    ds = fastwig.WindowDataset(tracks, fasta, **ENFORMER, n_samples=batch_size * per_epoch, seed=1)
    rates, waits, whole, shapes = [], [], [], {}
    for epoch in range(rounds):
        ds.set_epoch(epoch)
        loader = ds.loader(batch_size, num_workers=workers)
        t0 = time.perf_counter()
        arrivals = []
        for batch in loader:
            arrivals.append(time.perf_counter())
            shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
        if len(arrivals) != per_epoch:
            raise RuntimeError(f"expected {per_epoch} batches, got {len(arrivals)}")
        timed = arrivals[warmup - 1:] if warmup else [t0] + arrivals
        rates.append(batches / (timed[-1] - timed[0]))
        waits.append(arrivals[warmup - 1] - t0 if warmup else 0.0)
        whole.append(per_epoch * batch_size / (arrivals[-1] - t0))
    return {"tracks": n_tracks, "batch_size": batch_size, "workers": workers, "warmup_batches": warmup,
            "timed_batches": batches, "batches_per_s": spread(rates),
            "windows_per_s": spread([r * batch_size for r in rates]), "warmup_s": spread(waits),
            "epoch_windows_per_s": spread(whole), "shapes": shapes,
            "dataset": repr(ds)}


def report_dataset(r: dict) -> None:
    print(f"\nB. {r['dataset']}")
    print(f"  loader: batch_size={r['batch_size']}, num_workers={r['workers']}; {r['timed_batches']} batches timed "
          f"after {r['warmup_batches']} warm-up batches, per epoch")
    print(f"  batches/s {fmt(r['batches_per_s'], 1, '', 3)}; windows/s {fmt(r['windows_per_s'], 1, '', 2)}; "
          f"track-windows/s {r['windows_per_s']['median'] * r['tracks']:,.0f}")
    print(f"  warm-up (worker start, opens, first batches): {fmt(r['warmup_s'], 1, ' s')}; whole epochs, warm-up "
          f"included: windows/s {fmt(r['epoch_windows_per_s'], 1, '', 2)}")
    print("  shapes: " + ", ".join(f"{k} {tuple(v)}" for k, v in r["shapes"].items()))


# --- driver ------------------------------------------------------------------------------------

def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a quick run: 50 tracks of 5,000 blocks; 16 dataset "
                    "tracks, batch 4, 2 rounds")
    ap.add_argument("--part", choices=("A", "B", "all"), default="all")
    ap.add_argument("--tracks", type=int, default=None, help="A: copies of the genome-scale file (1000)")
    ap.add_argument("--blocks", type=int, default=None, help="A: data blocks of the file (50000)")
    ap.add_argument("--rounds", type=int, default=None, help="A: batches of each kind, cold and warm (10)")
    ap.add_argument("--epochs", type=int, default=None, help="B: epochs, each with fresh workers (3)")
    ap.add_argument("--cold-open", action="store_true",
                    help="A: drop the copies from the page cache (posix_fadvise) before they are opened")
    ap.add_argument("--dataset-tracks", type=int, default=None, help="B: tracks (64)")
    ap.add_argument("--batch-size", type=int, default=None, help="B: windows per batch (8)")
    ap.add_argument("--workers", type=int, default=2, help="B: DataLoader workers")
    ap.add_argument("--batches", type=int, default=None, help="B: timed batches per epoch (10)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="B: batches per epoch left out of the timing (default 2 per worker)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    small = args.small
    def pick(value, full, quick):
        return value if value is not None else (quick if small else full)

    if args.child:                              # A's measurement, in its own process
        spec = json.loads(args.child)
        paths = [str(Path(spec["base"]).parent / f"track{k:04d}.bw") for k in range(spec["tracks"])]
        print("RESULT " + json.dumps(child_many(spec["base"], paths, spec["rounds"], spec["seed"], spec["prime"])))
        return {}

    import fastwig
    result = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "load_average": os.getloadavg(), "python": sys.version.split()[0],
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(["python"] + sys.argv),
              "fastwig": fastwig.__version__}
    print(f"{result['date']}  {result['machine']}  load {os.getloadavg()[0]:.1f}\n$ {result['command']}")
    if args.part in ("A", "all"):
        base, paths = ensure_many(pick(args.tracks, 1000, 50), pick(args.blocks, 50_000, 5_000))
        spec = {"base": str(base), "tracks": len(paths), "rounds": pick(args.rounds, 10, 2), "seed": args.seed}
        # a first process compiles what the numba cache lacks (compiling holds hundreds of MiB that
        # the reader does not), the second measures
        for prime in (True, False):
            if args.cold_open and not prime:
                result["evicted"] = sum(evict(p) for p in paths)
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps({**spec, "prime": prime})],
                                  capture_output=True, text=True, check=False)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"the measuring process failed (exit {proc.returncode})")
        result["many_tracks"] = json.loads(lines[-1][len("RESULT "):])
        result["many_tracks"]["evicted"] = result.get("evicted", 0)
        report_many(result["many_tracks"])
    if args.part in ("B", "all"):
        result["dataset"] = measure_dataset(pick(args.dataset_tracks, 64, 16), pick(args.batch_size, 8, 4),
                                            args.workers, pick(args.warmup, 2 * max(1, args.workers), 2 * max(1, args.workers)),
                                            pick(args.batches, 12, 4),
                                            pick(args.epochs, 3, 2))
        report_dataset(result["dataset"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
