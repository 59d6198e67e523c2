"""Peers (pyBigWig, pybigtools, figwig) and fastwig on the standard workloads: track-windows/s, values/s.

    python profiling/bench_peers.py                       # every peer found, threads 1 and 2, 10 rounds
    python profiling/bench_peers.py --peers figwig fastwig --threads 1 2 --rounds 10 --json out.json

Workloads (profiling/workload.py; DESIGN.md, section Performance): 8 tracks, 1,000 bp windows,
sparse = batches of 256 windows each in its own 100 kb stretch, dense = 2,048 sorted windows inside
one 15 Mb stretch; enformer = 16 windows of 196,608 bp read as 128 bp bins, borzoi = 4 windows of
524,288 bp read as 32 bp bins (each window in its own stretch of twice its width; the mean over covered
bases, 0 for an empty bin: pyBigWig ``stats(exact=True)``, pybigtools ``values(bins=, exact=True)``,
fastwig ``read_windows(bin_size=, covered_only=True)``; figwig reads per base only and sits those out).

- cold: every round opens fresh reader objects inside the timed call and reads a batch of genome parts
  that no earlier round of this peer read (sparse: disjoint 100 kb stretches; dense: disjoint 15 Mb
  stretches). Every peer reads the same sequence of batches. The files themselves sit in the OS page
  cache (they fit in memory and are not dropped): cold means no reader-level state or cache helps.
- warm: readers opened once, the same batch read once untimed, then read again every round (epoch 2).

Every peer fills an (n, tracks, width) float32 array with missing = 0. Before timing, each peer's JIT
(figwig, fastwig) is compiled on windows that no timed batch touches, and each peer's values are checked
against pyBigWig's (NaN -> 0) on the warm sparse batch, bit for bit.

This module is also imported by tests/benchmarks/test_bench_read.py for the peer definitions and the
window sets, so that the pytest-benchmark suite and this script time the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload as wl

COLD_ROUNDS_MAX = 10        # sparse: 11 disjoint batches of 256 exist; batch 10 is the warm batch
WARM_INDEX = 10             # the batch read warm and used for the correctness check
WARMUP_DENSE_INDEX = 14     # a 15 Mb stretch no timed batch touches, for JIT warm-up


# ---------------------------------------------------------------------------------------------------
# peers: open(paths) -> handles; read(handles, windows, out) fills out (n, tracks, width) float32,
# missing = 0; close(handles).


class Peer:
    name = "?"
    threads = 1
    binned = True       # reads the long workloads (bins)

    @property
    def label(self):
        return f"{self.name}-t{self.threads}"

    def open(self, paths):
        raise NotImplementedError

    def close(self, handles):
        for h in handles:
            close = getattr(h, "close", None)
            if close is not None:
                close()
            elif hasattr(h, "__exit__"):
                h.__exit__(None, None, None)

    def read(self, handles, windows, out):
        raise NotImplementedError

    def read_cold(self, paths, windows, out):
        handles = self.open(paths)
        try:
            return self.read(handles, windows, out)
        finally:
            self.close(handles)


class PyBigWigPeer(Peer):
    """Loop over windows, then tracks: ``bw.values(chrom, s, e, numpy=True)``; NaN -> 0 at the end."""
    name = "pyBigWig"

    def open(self, paths):
        import pyBigWig
        return [pyBigWig.open(p) for p in paths]

    def read(self, handles, windows, out):
        width, nbins = windows.width, windows.nbins
        for i, (c, s) in enumerate(zip(windows.chroms.tolist(), windows.starts.tolist())):
            row = out[i]
            for t, bw in enumerate(handles):
                if windows.bin_size == 1:
                    row[t] = bw.values(c, s, s + width, numpy=True)
                else:
                    row[t] = [np.nan if v is None else v for v in
                              bw.stats(c, s, s + width, type="mean", nBins=nbins, exact=True)]
        np.nan_to_num(out, copy=False, nan=0.0)
        return out


class PybigtoolsPeer(Peer):
    """Loop over windows, then tracks: ``bw.values(chrom, s, e, fillna=0)`` (float64, cast on store;
    ``arr=`` takes only float64, so it cannot write into the float32 batch)."""
    name = "pybigtools"

    def open(self, paths):
        import pybigtools
        return [pybigtools.open(p) for p in paths]

    def read(self, handles, windows, out):
        width, nbins = windows.width, windows.nbins
        for i, (c, s) in enumerate(zip(windows.chroms.tolist(), windows.starts.tolist())):
            row = out[i]
            for t, bw in enumerate(handles):
                if windows.bin_size == 1:
                    row[t] = bw.values(c, s, s + width, fillna=0)
                else:
                    row[t] = bw.values(c, s, s + width, bins=nbins, summary="mean", exact=True, fillna=0)
        return out


class FigwigPeer(Peer):
    """``figwig.read_bigwig(readers, chroms, starts, width, out=out, n_jobs=threads, missing=0.0)``:
    one batched call over every track (BigWigReader objects; the index is read on the first read and
    kept, so cold opens fresh readers)."""
    name = "figwig"

    def __init__(self, threads):
        self.threads = threads

    def open(self, paths):
        import figwig
        return [figwig.BigWigReader(p) for p in paths]

    binned = False      # figwig reads per base only

    def read(self, handles, windows, out):
        import figwig
        return figwig.read_bigwig(handles, windows.chroms, windows.starts, windows.width, out=out,
                                  n_jobs=self.threads, missing=0.0)


def import_fastwig():
    """(read_windows, None) or (None, reason)."""
    try:
        import fastwig
    except ImportError:
        root = str(Path(__file__).resolve().parent.parent)
        if root not in sys.path:
            sys.path.append(root)
        try:
            import fastwig
        except ImportError as e:
            return None, f"fastwig is not importable: {e}"
    fn = getattr(fastwig, "read_windows", None)
    if fn is None:
        return None, "fastwig.read_windows does not exist yet"
    return fn, None


class FastwigPeer(Peer):
    """``fastwig.read_windows(bigwigs, chroms, starts, width, threads=threads, out=out)`` over
    ``fastwig.open(path)`` objects (fresh ones per cold round, closed after)."""
    name = "fastwig"

    def __init__(self, threads):
        self.threads = threads

    def open(self, paths):
        import fastwig
        return [fastwig.open(p) for p in paths]


    def read(self, handles, windows, out):
        import fastwig
        # binned: the mean over covered bases, 0 for a bin without any (as the peers compute it)
        return fastwig.read_windows(handles, windows.chroms, windows.starts, windows.width,
                                    bin_size=windows.bin_size, stat="mean", covered_only=windows.bin_size > 1,
                                    threads=self.threads, out=out)


def make_peers(names=("pyBigWig", "pybigtools", "figwig", "fastwig"), threads=(1, 2)):
    """The peers to run; threaded ones once per thread count. Missing packages are left out, with a note."""
    peers, notes = [], []
    for name in names:
        if name == "pyBigWig":
            peers.append(PyBigWigPeer())
        elif name == "pybigtools":
            peers.append(PybigtoolsPeer())
        elif name == "figwig":
            peers.extend(FigwigPeer(t) for t in threads)
        elif name == "fastwig":
            fn, reason = import_fastwig()
            if fn is None:
                notes.append(reason)
            else:
                peers.extend(FastwigPeer(t) for t in threads)
        else:
            raise ValueError(f"unknown peer {name}")
    return peers, notes


# ---------------------------------------------------------------------------------------------------
# window sets


def window_sets(chrom_sizes, seed=0):
    """Every window set the benchmarks use, the same for every peer:
    sparse-cold (10 batches), sparse-warm (1), dense-cold (10), dense-warm (1), warmup (JIT)."""
    sparse = wl.sparse_batches(chrom_sizes, COLD_ROUNDS_MAX + 1, seed=seed)
    dense = wl.dense_batches(chrom_sizes, WARMUP_DENSE_INDEX + 1, seed=seed)
    w = dense[WARMUP_DENSE_INDEX]
    warmup = wl.Windows(w.chroms[::32].copy(), w.starts[::32].copy(), w.width)
    sets = {
        "sparse-cold": sparse[:COLD_ROUNDS_MAX], "sparse-warm": sparse[WARM_INDEX],
        "dense-cold": dense[:COLD_ROUNDS_MAX], "dense-warm": dense[WARM_INDEX], "warmup": warmup,
    }
    for kind in wl.LONG:
        batches = wl.long_batches(chrom_sizes, kind, COLD_ROUNDS_MAX + 2, seed=seed)
        sets[f"{kind}-cold"], sets[f"{kind}-warm"] = batches[:COLD_ROUNDS_MAX], batches[WARM_INDEX]
        # one window of the spare last batch compiles the binned kernels outside timing
        spare = batches[COLD_ROUNDS_MAX + 1]
        sets[f"{kind}-warmup"] = wl.Windows(spare.chroms[:1], spare.starts[:1], spare.width, spare.bin_size)
    return sets


def new_out(windows, n_tracks):
    return np.zeros((len(windows), n_tracks, windows.nbins), dtype=np.float32)


def reference(paths, windows):
    """pyBigWig's values, NaN -> 0: the oracle every peer must match bit for bit."""
    return PyBigWigPeer().read_cold(paths, windows, new_out(windows, len(paths)))


def check(peer, paths, windows, expected):
    """Raise AssertionError when peer's values differ from expected (float32 bits)."""
    got = peer.read_cold(paths, windows, np.full_like(expected, -1.0))
    if windows.bin_size > 1:
        # bins: means computed in float64 by every peer, stored in float32: equal to rounding
        same = np.isclose(got, expected, rtol=1e-6, atol=0)
    else:
        same = got.view(np.uint32) == expected.view(np.uint32)
    if not same.all():
        i, t, j = np.argwhere(~same)[0]
        raise AssertionError(f"{peer.label} differs from pyBigWig at {int((~same).sum())} values; first: "
                             f"window {windows.chroms[i]}:{windows.starts[i]}+{j} track {t}: "
                             f"{got[i, t, j]!r} vs {expected[i, t, j]!r}")


# ---------------------------------------------------------------------------------------------------
# the script


def time_cold(peer, paths, batches, rounds):
    """(wall seconds per round, process CPU seconds per round)."""
    times, cpu = [], []
    for w in batches[:rounds]:
        out = new_out(w, len(paths))
        c0, t0 = time.process_time(), time.perf_counter()
        peer.read_cold(paths, w, out)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def time_warm(peer, paths, windows, rounds):
    handles = peer.open(paths)
    try:
        out = new_out(windows, len(paths))
        peer.read(handles, windows, out)          # epoch 1, untimed
        times, cpu = [], []
        for _ in range(rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            peer.read(handles, windows, out)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    finally:
        peer.close(handles)
    return times, cpu


def loadavg():
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def wait_quiet(limit_s, threshold):
    """Wait up to limit_s seconds for the 1-minute load average to fall below threshold."""
    t0 = time.time()
    while loadavg() >= threshold and time.time() - t0 < limit_s:
        time.sleep(5)
    return time.time() - t0


def machine():
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "?"
    return f"{model}, {os.cpu_count()} cores"


def versions():
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("numba", "pyBigWig", "pybigtools", "figwig", "isal", "fastwig"):
        with contextlib.suppress(Exception):
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", nargs="+", default=["pyBigWig", "pybigtools", "figwig", "fastwig"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=10, help=f"rounds per measurement (cold: at most {COLD_ROUNDS_MAX})")
    ap.add_argument("--workloads", nargs="+", default=["sparse", "dense", "enformer", "borzoi"],
                    choices=["sparse", "dense", "enformer", "borzoi"])
    ap.add_argument("--modes", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    ap.add_argument("--no-check", action="store_true", help="skip the check against pyBigWig")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before timing, wait up to S seconds for the 1-min load average to drop below --quiet-load")
    ap.add_argument("--quiet-load", type=float, default=0.5)
    ap.add_argument("--data", default=None, help="workload folder (default $FASTWIG_BENCH_DATA or ~/.cache/fastwig-bench)")
    args = ap.parse_args(argv)

    work = wl.ensure_workload(args.data, verbose=True)
    paths = work.paths
    sets = window_sets(work.chrom_sizes)
    peers, notes = make_peers(args.peers, args.threads)
    for n in notes:
        print(f"note: {n}")
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M')}; {versions()}")
    print(f"command: python {' '.join([sys.argv[0]] + sys.argv[1:])}")
    print(f"data: {work.directory} ({len(paths)} tracks, {len(work.chrom_sizes)} chroms, "
          f"{sum(work.chrom_sizes.values()) / 1e6:.0f} Mb)")

    long_kinds = [k for k in args.workloads if k in wl.LONG]
    for peer in peers:                            # JIT compile and first-touch outside timing
        peer.read_cold(paths, sets["warmup"], new_out(sets["warmup"], len(paths)))
        for kind in long_kinds:
            if peer.binned:
                w = sets[f"{kind}-warmup"]
                peer.read_cold(paths, w, new_out(w, len(paths)))
    if not args.no_check:
        for group in ["sparse-warm"] + [f"{k}-warm" for k in long_kinds]:
            w = sets[group]
            if w.bin_size > 1:      # pyBigWig's exact stats over the first two windows (it is slow)
                w = wl.Windows(w.chroms[:2], w.starts[:2], w.width, w.bin_size)
            expected = reference(paths, w)
            ok = [p for p in peers if p.binned or w.bin_size == 1]
            for peer in ok:
                check(peer, paths, w, expected)
            print(f"check: {', '.join(p.label for p in ok)} == pyBigWig (NaN -> 0) on {group}"
                  + (" (first 2 windows, float32 rounding)" if w.bin_size > 1 else " (bit for bit)"))

    if args.wait_quiet:
        waited = wait_quiet(args.wait_quiet, args.quiet_load)
        print(f"waited {waited:.0f} s for load < {args.quiet_load}")
    print(f"load average (1 min) at start: {loadavg():.2f}")
    rows = []
    header = (f"{'workload':<16}{'peer':<12}{'threads':>7}{'rounds':>7}{'s/batch':>10}{'median tw/s':>13}"
              f"{'min tw/s':>11}{'max tw/s':>11}{'values/s':>11}{'cpu/wall':>10}")
    print("\n" + header)
    print("-" * len(header))
    for workload in args.workloads:
        for mode in args.modes:
            group = f"{workload}-{mode}"
            for peer in peers:
                if workload in wl.LONG and not peer.binned:
                    continue
                if mode == "cold":
                    times, cpu = time_cold(peer, paths, sets[group], min(args.rounds, COLD_ROUNDS_MAX))
                    w = sets[group][0]
                else:
                    w = sets[group]
                    times, cpu = time_warm(peer, paths, w, args.rounds)
                mean = float(np.mean(times))
                cpu_ratio = float(np.sum(cpu) / np.sum(times))
                tw = len(w) * len(paths) / mean
                row = {"group": group, "peer": peer.name, "threads": peer.threads, "rounds": len(times),
                       "mean_s": mean, "median_s": float(np.median(times)), "min_s": float(np.min(times)),
                       "windows": len(w), "tracks": len(paths), "width": w.width, "bin_size": w.bin_size,
                       "max_s": float(np.max(times)),
                       "track_windows_per_s": tw, "values_per_s": tw * w.width, "cpu_per_wall": cpu_ratio,
                       "track_windows_per_cpu_s": tw / cpu_ratio,
                       "best_track_windows_per_s": len(w) * len(paths) / min(times), "load": loadavg()}
                rows.append(row)
                n_tw = len(w) * len(paths)
                row["median_track_windows_per_s"] = n_tw / float(np.median(times))
                print(f"{group:<16}{peer.name:<12}{peer.threads:>7}{len(times):>7}{mean:>10.4f}"
                      f"{n_tw / np.median(times):>13,.0f}{n_tw / max(times):>11,.0f}{n_tw / min(times):>11,.0f}"
                      f"{n_tw * w.width / np.median(times):>11.3g}{cpu_ratio:>10.2f}", flush=True)
            print()
    print(f"load average (1 min) at end: {loadavg():.2f}  (track-windows/s of the median, slowest and fastest "
          f"round; values/s: bases covered per second at the median; cpu/wall: process CPU seconds per wall "
          f"second, about 1.0 for a 1-thread peer on an idle machine, lower when other processes take the cores)")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
                                               "versions": versions(), "command": " ".join(sys.argv),
                                               "data": str(work.directory), "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
