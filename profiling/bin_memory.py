"""Peak memory of a binned batch: how much a long-window read raises the process's peak RSS.

    python profiling/bin_memory.py                    # 64 Enformer windows x the 8 workload tracks
    python profiling/bin_memory.py --windows 64 --kind borzoi --threads 2

Each measurement runs in a fresh process (``--child``): it imports fastwig, opens the tracks and notes
its resident set; then it resets the kernel's peak-RSS mark (``/proc/self/clear_refs``, value 5), reads
one cold batch and reports the peak (``VmHWM``) over the RSS after opening, beside the batch's output
size.  The numba kernels are compiled (or loaded from numba's cache) by a first, untimed process, so
the figure is the read's own memory: the decoded-block cache ring (``settings.cache_bytes``), the load
stage's scratch and the output -- there is no per-base scratch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload as wl  # noqa: E402


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def child(args) -> dict:
    import fastwig

    work = wl.ensure_workload(args.data)
    _, width, bin_size = wl.LONG[args.kind]
    rng = np.random.default_rng(args.seed)
    names, starts = wl._stretches(work.chrom_sizes, 2 * width)
    idx = rng.choice(len(starts), args.windows, replace=False)
    chroms, starts = names[idx], starts[idx] + rng.integers(0, width, args.windows)
    tracks = [fastwig.open(p) for p in work.paths]
    if args.after_warmup:
        # one small read first: the kernels are loaded and the cache ring touched before the mark
        fastwig.read_windows(tracks, chroms[:1], starts[:1] + width, 1024, bin_size=bin_size, threads=args.threads)
    rss_open = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    out = fastwig.read_windows(tracks, chroms, starts, width, bin_size=bin_size, threads=args.threads)
    peak = _status_kib("VmHWM")
    return {"kind": args.kind, "windows": args.windows, "tracks": len(tracks), "threads": args.threads,
            "rss_after_open_mib": rss_open / 1024, "peak_mib": peak / 1024,
            "peak_over_open_mib": (peak - rss_open) / 1024, "output_mib": out.nbytes / 2**20,
            "cache_mib": fastwig.settings.cache_bytes / 2**20}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", default="enformer", choices=list(wl.LONG))
    ap.add_argument("--windows", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes measured")
    ap.add_argument("--data", default=None)
    ap.add_argument("--after-warmup", action="store_true",
                    help="mark the RSS after a one-window read (kernels loaded, cache ring touched), not after open")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    cmd = [sys.executable, __file__, "--child", "--kind", args.kind, "--windows", str(args.windows),
           "--threads", str(args.threads)] + (["--data", args.data] if args.data else []) \
        + (["--after-warmup"] if args.after_warmup else [])
    subprocess.run(cmd + ["--seed", "999"], check=True, capture_output=True)     # compile / fill numba's cache
    rows = []
    for r in range(args.rounds):
        res = subprocess.run(cmd + ["--seed", str(args.seed + r)], check=True, capture_output=True, text=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    peaks = [r["peak_over_open_mib"] for r in rows]
    r0 = rows[0]
    print(f"{args.kind}: {args.windows} windows x {r0['tracks']} tracks, {args.threads} threads, cache "
          f"{r0['cache_mib']:.0f} MiB, output {r0['output_mib']:.1f} MiB; RSS after "
          f"{'a one-window read' if args.after_warmup else 'open'} "
          f"{r0['rss_after_open_mib']:.0f} MiB; peak over it: median {np.median(peaks):.0f} MiB "
          f"(min {min(peaks):.0f}, max {max(peaks):.0f}) over {len(rows)} fresh processes")
    return rows


if __name__ == "__main__":
    main()
