"""Time the fill stage alone (per-base paint or bins) on the warm batch of a standard workload.

    python profiling/fill_stage.py                              # every workload, 1 thread, 100 rounds
    python profiling/fill_stage.py --workloads sparse dense --threads 1 2 --rounds 200

The batch is read twice through ``fastwig.read_windows`` (so its blocks sit in the decoded-block
cache), the arguments of the fill stage are captured from the CPU executor, and then only the fill's
CPU driver (:func:`kernels.expand.expand_batch_cpu` or :func:`kernels.bins.bin_batch_cpu`) is timed,
through the same thread pool a read uses.  Plan, load and the per-call host work are left out, so a
change to a fill kernel shows without the noise of the rest of the batch (``bench_peers.py`` times
whole batches).  Prints the median, fastest and slowest round in milliseconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers as bp
import workload as wl


def capture_fill(paths, windows):
    """``(request, plan, blocks, out)`` of the fill stage of a warm read of ``windows``."""
    import fastwig
    from fastwig.backend import cpu

    captured = {}
    original = cpu.CpuExecutor.fill

    def spy(self, req, plan, blocks, out):
        captured["args"] = (req, plan, blocks, out)
        return original(self, req, plan, blocks, out)

    handles = [fastwig.open(p) for p in paths]
    out = bp.new_out(windows, len(paths))
    cpu.CpuExecutor.fill = spy
    try:
        for _ in range(2):      # the second read is served from the block cache
            bp.FastwigPeer(1).read(handles, windows, out)
    finally:
        cpu.CpuExecutor.fill = original
    return captured["args"], handles


def time_fill(args, threads: int, rounds: int) -> np.ndarray:
    """Seconds of each round of the fill stage with ``threads`` threads."""
    from fastwig.backend.cpu import CpuExecutor

    req, plan, blocks, out = args
    executor = CpuExecutor(threads)
    executor.fill(req, plan, blocks, out)       # compile, and fault the pages in
    times = np.empty(rounds)
    for r in range(rounds):
        t0 = time.perf_counter()
        executor.fill(req, plan, blocks, out)
        times[r] = time.perf_counter() - t0
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", nargs="+", default=["sparse", "dense", *wl.LONG],
                    choices=["sparse", "dense", *wl.LONG])
    ap.add_argument("--threads", nargs="+", type=int, default=[1])
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args(argv)
    work = wl.ensure_workload()
    sets = bp.window_sets(work.chrom_sizes)
    print("workload  threads  fill ms: median (fastest-slowest)")
    for name in args.workloads:
        captured, handles = capture_fill(work.paths, sets[f"{name}-warm"])
        for threads in args.threads:
            t = time_fill(captured, threads, args.rounds) * 1e3
            print(f"{name:9s} {threads:7d}  {np.median(t):.3f} ({t.min():.3f}-{t.max():.3f})")
        for h in handles:
            h.close()


if __name__ == "__main__":
    main()
