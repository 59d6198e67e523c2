"""Time one stage of a batch alone -- the fill (per-base paint or bins) or the plan -- on the warm
batch of a standard workload.

    python profiling/stage_times.py                             # fill, every workload, 1 thread, 100 rounds
    python profiling/stage_times.py --workloads sparse dense --threads 1 2 --rounds 200
    python profiling/stage_times.py --stage plan --workloads sparse --rounds 500

The batch is read twice through ``fastwig.read_windows`` (so its blocks sit in the decoded-block
cache) and the arguments of the fill stage are captured from the CPU executor.  Then only that stage
is timed, through the same thread pool a read uses: ``fill`` runs the fill's CPU driver
(:func:`kernels.expand.expand_batch_cpu` or :func:`kernels.bins.bin_batch_cpu`), ``plan`` runs
:func:`fastwig.blocks.plan_rows` twice a round, all tracks in one call and then track by track (its
fallback), alternating, so that the two are compared on the same machine state.  The rest of the
batch is left out, so a change to one stage shows without the noise of the others (``bench_peers.py``
times whole batches).  Prints the median, fastest and slowest round in milliseconds.
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


def time_plan(args, threads: int, rounds: int) -> dict[str, np.ndarray]:
    """Seconds of each round of ``plan_rows``: all tracks in one call, and track by track."""
    from fastwig import blocks
    from fastwig.cache import cache

    req = args[0]
    one_call = blocks._index_list
    times = {"one call": np.empty(rounds), "track by track": np.empty(rounds)}
    with cache.lock:
        try:
            for r in range(rounds + 1):
                for name, lister in (("one call", one_call), ("track by track", lambda bws: None)):
                    blocks._index_list = lister
                    t0 = time.perf_counter()
                    blocks.plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, threads=threads)
                    if r:       # round 0 compiles and builds the typed list
                        times[name][r - 1] = time.perf_counter() - t0
        finally:
            blocks._index_list = one_call
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=["fill", "plan"], default="fill")
    ap.add_argument("--workloads", nargs="+", default=["sparse", "dense", *wl.LONG],
                    choices=["sparse", "dense", *wl.LONG])
    ap.add_argument("--threads", nargs="+", type=int, default=[1])
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args(argv)
    work = wl.ensure_workload()
    sets = bp.window_sets(work.chrom_sizes)
    print(f"workload  threads  {args.stage} ms: median (fastest-slowest)")
    for name in args.workloads:
        captured, handles = capture_fill(work.paths, sets[f"{name}-warm"])
        for threads in args.threads:
            if args.stage == "fill":
                timed = {"": time_fill(captured, threads, args.rounds)}
            else:
                timed = time_plan(captured, threads, args.rounds)
            for label, t in timed.items():
                t = t * 1e3
                print(f"{name:9s} {threads:7d}  {np.median(t):.3f} ({t.min():.3f}-{t.max():.3f})  {label}")
        for h in handles:
            h.close()


if __name__ == "__main__":
    main()
