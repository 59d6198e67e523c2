"""``fastwig bench``: windows per second on the user's own files -- fastwig beside pyBigWig and pybigtools.

The workload is a training-like one: batches of random windows (a random chromosome, weighted by
length, and a random start), every window read from every file.  *Cold* reads each batch once with
freshly opened readers, on windows never read before (the operating system's page cache may still
hold the files: this measures decoding, not the disk; on a small file, later batches of the cold
pass find blocks that earlier ones decoded, as in a real epoch); *warm* reads the same batches again
with the same readers, as a second epoch does.  Peers read window by window (their API has no batch call),
each within a time budget so a slow one does not hold the run up; their rate is over the windows
they read.  The numbers are one run on a machine that may be busy: repeat it to see the spread.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ._common import UsageError, note, open_bigwig

HELP = "windows/s of fastwig on your files, cold and warm, beside pyBigWig and pybigtools"
DESCRIPTION = """\
Time batches of random windows read from every FILE: fastwig's read_windows (one call per batch,
--threads threads), and pyBigWig and pybigtools window by window when they are installed.  Cold:
fresh readers, windows never read before.  Warm: the same batches again (a second epoch).
Reported: windows/s (a window read from every file) and values/s."""
EXAMPLES = """
    fastwig bench a.bw b.bw c.bw
    fastwig bench signal.bw --width 196608 --bin-size 128 --batch 16 --batches 5     # Enformer-like
    fastwig bench *.bw --threads 1 --peers none --json bench.json
    """
PEERS = ("pyBigWig", "pybigtools")


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="bigWig files")
    p.add_argument("--width", type=int, default=1000, metavar="BP", help="window width (default 1000)")
    p.add_argument("--batch", type=int, default=256, metavar="N", help="windows per batch (default 256)")
    p.add_argument("--batches", type=int, default=10, metavar="N", help="batches per pass (default 10)")
    p.add_argument("--bin-size", type=int, default=1, metavar="BP", help="bin the windows (mean; default 1: bases)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="fastwig threads (default: every core)")
    p.add_argument("--peers", nargs="*", default=list(PEERS), metavar="NAME",
                   help="peers to time when installed: pyBigWig pybigtools (default both; 'none' for none)")
    p.add_argument("--peer-seconds", type=float, default=10.0, metavar="S",
                   help="time budget of each peer per pass (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write the results here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def make_batches(chroms: dict[str, int], width: int, batch: int, batches: int, seed: int):
    """``batches`` lists of ``(chrom names (batch,), starts int64 (batch,))`` of random whole windows."""
    names = [c for c, n in chroms.items() if n >= width]
    if not names:
        raise UsageError(f"no chromosome common to all files is at least {width:,} bp long")
    room = np.array([chroms[c] - width + 1 for c in names], dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        which = rng.choice(len(names), size=batch, p=room / room.sum())
        starts = (rng.random(batch) * room[which]).astype(np.int64)
        out.append((np.array(names, dtype=object)[which], starts))
    return out


def _time_fastwig(paths, batches, width, bin_size, threads, bar) -> dict[str, float]:
    import fastwig

    # numba's kernels load (or compile, on a machine's first run) outside the timing
    warm_up = [fastwig.open(p) for p in paths]
    fastwig.read_windows(warm_up, batches[0][0][:1], batches[0][1][:1], width, bin_size=bin_size, threads=threads)
    for t in warm_up:
        t.close()
    t0 = time.perf_counter()
    tracks = [fastwig.open(p) for p in paths]
    t_open = time.perf_counter() - t0
    out = {"open_s": t_open}
    try:
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            for chroms, starts in batches:
                fastwig.read_windows(tracks, chroms, starts, width, bin_size=bin_size, threads=threads)
                bar.update(1)
            out[label] = time.perf_counter() - t0
    finally:
        for t in tracks:
            t.close()
    return out


def _peer_reader(name: str, bin_size: int, width: int):
    """(open, read one window, close) of a peer, or None when it is not installed."""
    bins = width // bin_size
    if name == "pyBigWig":
        try:
            import pyBigWig
        except ImportError:
            return None
        if bin_size == 1:
            def read(bw, c, s):
                return bw.values(c, s, s + width, numpy=True)
        else:
            def read(bw, c, s):
                return bw.stats(c, s, s + width, type="mean", nBins=bins, exact=True)
        return pyBigWig.open, read, lambda bw: bw.close()
    if name == "pybigtools":
        try:
            import pybigtools
        except ImportError:
            return None
        if bin_size == 1:
            def read(bw, c, s):
                return bw.values(c, s, s + width)
        else:
            def read(bw, c, s):
                return bw.values(c, s, s + width, bins=bins, summary="mean", exact=True)
        return pybigtools.open, read, lambda bw: bw.close()
    raise UsageError(f"unknown peer {name!r}: expected one of {', '.join(PEERS)} or none")


def _time_peer(reader, paths, batches, budget: float, bar) -> dict[str, Any]:
    open_, read, close = reader
    handles = [open_(p) for p in paths]
    out: dict[str, Any] = {}
    try:
        for label in ("cold", "warm"):
            done, n_batches, t0 = 0, 0, time.perf_counter()
            for chroms, starts in batches:
                for c, s in zip(chroms.tolist(), starts.tolist()):
                    for h in handles:
                        read(h, c, s)
                done += len(starts)
                n_batches += 1
                bar.update(1)
                if time.perf_counter() - t0 > budget:
                    break
            out[label] = time.perf_counter() - t0
            bar.update(len(batches) - n_batches)
            out[label + "_windows"] = done
    finally:
        for h in handles:
            close(h)
    return out


def run(args) -> int:
    from ..progress import Progress

    if min(args.width, args.batch, args.batches, args.bin_size) < 1:
        raise UsageError("--width, --batch, --batches and --bin-size must be >= 1")
    if args.width % args.bin_size:
        raise UsageError(f"--bin-size {args.bin_size} must divide --width {args.width}")
    peers = [] if args.peers in ([], ["none"]) else args.peers
    readers = {name: _peer_reader(name, args.bin_size, args.width) for name in peers}
    chroms: dict[str, int] | None = None
    for path in args.files:
        with open_bigwig(path) as bw:
            mine = dict(bw.chroms)
        chroms = mine if chroms is None else {c: min(n, mine[c]) for c, n in chroms.items() if c in mine}
    batches = make_batches(chroms or {}, args.width, args.batch, args.batches, args.seed)
    n_win = args.batch * args.batches
    rows = []
    total = 2 * args.batches * (1 + sum(r is not None for r in readers.values()))
    with Progress(total, "bench", unit="batches", enabled=not args.quiet) as bar:
        f = _time_fastwig(args.files, batches, args.width, args.bin_size, args.threads, bar)
        rows.append({"tool": "fastwig", "cold_windows_per_s": n_win / f["cold"], "warm_windows_per_s": n_win / f["warm"],
                     "open_s": f["open_s"]})
        for name, reader in readers.items():
            if reader is None:
                rows.append({"tool": name, "skipped": "not installed"})
                continue
            r = _time_peer(reader, args.files, batches, args.peer_seconds, bar)
            rows.append({"tool": name, "cold_windows_per_s": r["cold_windows"] / r["cold"],
                         "warm_windows_per_s": r["warm_windows"] / r["warm"], "windows": r["cold_windows"]})
    from ..config import resolve_threads

    info = {"files": list(args.files), "width": args.width, "bin_size": args.bin_size, "batch": args.batch,
            "batches": args.batches, "threads": resolve_threads(args.threads), "results": rows}
    values_per_window = len(args.files) * (args.width // args.bin_size)
    print(f"{len(args.files)} file(s), {args.batches} batches x {args.batch} windows of {args.width:,} bp"
          + (f" in {args.bin_size} bp bins" if args.bin_size > 1 else "")
          + f"; fastwig threads {info['threads']}")
    print(f"{'tool':<12}{'cold windows/s':>16}{'warm windows/s':>16}{'warm values/s':>16}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['tool']:<12}{'(' + r['skipped'] + ')':>16}")
            continue
        print(f"{r['tool']:<12}{r['cold_windows_per_s']:>16,.0f}{r['warm_windows_per_s']:>16,.0f}"
              f"{r['warm_windows_per_s'] * values_per_window:>16,.3g}")
    base = rows[0]
    for r in rows[1:]:
        if "skipped" not in r:
            print(f"fastwig / {r['tool']}: cold {base['cold_windows_per_s'] / r['cold_windows_per_s']:.1f}x, "
                  f"warm {base['warm_windows_per_s'] / r['warm_windows_per_s']:.1f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(info, fh, indent=2)
        note(f"wrote {args.json}")
    return 0
