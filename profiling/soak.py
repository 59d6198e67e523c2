"""Soak run: thousands of read_windows batches, reporting memory at intervals, to show that the
process's memory stays flat under the block cache's byte budget.

Workload: the standard one (profiling/workload.py: 8 tracks over a 300 Mb genome, sparse batches of
256 windows of 1,000 bp, each window in its own 100 kb stretch).  Batch k is drawn with seed k, so the
run keeps reading parts of the genome it has not read recently: the decoded-block cache fills, wraps
and evicts all the time.  Every ``--every`` batches it records, from /proc/self/status:

- RssAnon: private memory (heap, numpy arrays, the cache ring as it gets touched) -- what must stay flat;
- RssFile: pages of the memory-mapped bigWig files (page cache, shared and reclaimable; bounded by the
  files' size, 8 x ~40 MiB here);
- VmRSS (their sum) and VmHWM (peak VmRSS), and the cache's used bytes.

Run from the repository root::

    python profiling/soak.py [--batches 10000] [--every 250] [--cache-mib 256] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "profiling"))

from workload import ensure_workload, sparse_batches

import fastwig
from fastwig.cache import cache


def status() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        import resource
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10_000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--cache-mib", type=float, default=None, help="cache budget (default: the setting's default)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    if args.cache_mib is not None:
        fastwig.settings.cache_bytes = int(args.cache_mib * 2**20)
    w = ensure_workload(verbose=True)
    bws = [fastwig.open(p) for p in w.paths]
    result = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(["python"] + sys.argv),
              "cache_bytes": fastwig.settings.cache_bytes, "threads": args.threads, "tracks": len(bws),
              "batch": 256, "width": 1000, "samples": []}
    print(f"{len(bws)} tracks, cache budget {fastwig.settings.cache_bytes / 2**20:.0f} MiB, "
          f"threads {args.threads or fastwig.config.resolve_threads(None)}, {args.batches} batches", flush=True)
    out = None
    t0 = time.perf_counter()
    checksum = 0.0
    for k in range(args.batches):
        b = sparse_batches(w.chrom_sizes, 1, seed=k)[0]
        out = fastwig.read_windows(bws, b.chroms, b.starts, b.width, threads=args.threads, out=out)
        checksum += float(out[0, 0, 0])
        if (k + 1) % args.every == 0 or k == 0:
            s = status()
            s.update(batch=k + 1, seconds=time.perf_counter() - t0, cache_used=cache.used_bytes)
            result["samples"].append(s)
            print(f"batch {k + 1:>6}  {s['seconds']:7.1f} s  RssAnon {s.get('RssAnon', 0) / 2**20:7.1f} MiB  "
                  f"RssFile {s.get('RssFile', 0) / 2**20:7.1f} MiB  VmRSS {s.get('VmRSS', 0) / 2**20:7.1f} MiB  "
                  f"VmHWM {s.get('VmHWM', 0) / 2**20:7.1f} MiB  cache used {s['cache_used'] / 2**20:6.1f} MiB",
                  flush=True)
    elapsed = time.perf_counter() - t0
    samples = result["samples"]
    tail = [s for s in samples if s["batch"] >= args.batches // 5]
    anon = np.array([s.get("RssAnon", 0) for s in tail], dtype=np.float64)
    result.update(seconds=elapsed, batches_per_second=args.batches / elapsed, checksum=checksum,
                  rss_anon_after_20pct_mib=[float(anon.min() / 2**20), float(anon.max() / 2**20)] if anon.size else None,
                  peak_vmhwm_mib=max(s.get("VmHWM", 0) for s in samples) / 2**20)
    print(f"{args.batches} batches in {elapsed:.0f} s ({args.batches / elapsed:.1f} batches/s); RssAnon after the "
          f"first 20% of the run between {result['rss_anon_after_20pct_mib']} MiB; peak VmHWM "
          f"{result['peak_vmhwm_mib']:.0f} MiB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
