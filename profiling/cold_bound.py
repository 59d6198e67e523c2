"""How far the inflater lets a cold batch go: the blocks of each cold batch inflated alone, by every inflater.

    python profiling/cold_bound.py                         # enformer, borzoi, sparse; 10 cold batches each
    python profiling/cold_bound.py --workloads enformer --rounds 10 --json out.json

A cold batch (``bench_peers.py``'s meaning: fresh readers, genome parts no earlier round read) must
inflate every data block its windows touch.  For each cold batch this script plans the batch as
``read_windows`` does, reads the blocks' stored bytes once, and then times, on one thread:

- ``njit``: fastwig's inflater (``kernels.inflate.load_batch_cpu``) over those blocks with the plan's
  early-exit coordinates, as a cold read runs it;
- ``isal``, ``libdeflate``, ``zlib``: each block inflated whole by that library (no copy into an
  arena, no early exit: the library's best case), where installed;
- the whole cold batch by pybigtools (the peer of the long workloads) and by fastwig at 1 thread.

It prints, per workload, medians over the batches and ``bound = pybigtools / fastest inflater``: the
ratio fastwig would reach over pybigtools at 1 thread if everything but inflating were free.  A
target ratio above the bound cannot be met on this machine by a faster bin stage, planner or reader.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers as bp
import workload as wl


def _inflaters():
    """name -> callable(block bytes, room) for the libraries present."""
    found = {"zlib": lambda b, room: zlib.decompress(b)}
    try:
        from isal import isal_zlib
        found["isal"] = lambda b, room: isal_zlib.decompress(b)
    except ImportError:
        pass
    try:
        import deflate
        found["libdeflate"] = lambda b, room: deflate.zlib_decompress(b, room)
    except ImportError:
        pass
    return found


def batch_blocks(paths, windows):
    """(packed stored bytes, layout, early-exit stops) of every block a cold read of ``windows`` inflates."""
    import fastwig
    from fastwig.blocks import plan_rows
    from fastwig.load import block_layout, read_stored
    from fastwig.request import make_request

    bws = [fastwig.open(p) for p in paths]
    req = make_request(bws, windows.chroms, windows.starts, windows.width, bin_size=windows.bin_size,
                       covered_only=windows.bin_size > 1)
    plan = plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, use_cache=False)
    lay = block_layout(req.tracks, plan.track, plan.leaf)
    packed = np.empty(lay.packed_bytes + 8, dtype=np.uint8)
    read_stored(req.tracks, lay, packed, 0, 1)
    for bw in bws:
        bw.close()
    return packed, lay, plan.stop


def time_inflaters(packed, lay, stop, repeat):
    """name -> (seconds, bytes out) of the fastest of ``repeat`` passes over the blocks (thread CPU time)."""
    from fastwig._kernels import inflate

    arena = np.empty(lay.arena_bytes, dtype=np.uint8)
    loaded = np.empty(lay.m, dtype=np.int64)
    res = {}
    best = np.inf
    for _ in range(repeat):
        t = time.thread_time()
        inflate.load_batch_cpu(packed, lay.src_lo, lay.src_lo + lay.comp_size, arena, lay.dst_lo,
                               lay.dst_lo + lay.out_cap, stop, lay.mode, loaded, 0, lay.m)
        best = min(best, time.thread_time() - t)
    if (loaded < 0).any():
        raise RuntimeError("a block failed to inflate")
    res["njit"] = (best, int((loaded & ((1 << 40) - 1)).sum()))
    blobs = [packed[a:a + n].tobytes() for a, n in zip(lay.src_lo.tolist(), lay.comp_size.tolist())]
    rooms = lay.out_cap.tolist()
    for name, fn in _inflaters().items():
        best = np.inf
        for _ in range(repeat):
            t = time.thread_time()
            total = 0
            for b, room in zip(blobs, rooms):
                total += len(fn(b, room))
            best = min(best, time.thread_time() - t)
        res[name] = (best, total)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", nargs="+", default=["enformer", "borzoi", "sparse"])
    ap.add_argument("--rounds", type=int, default=10, help="cold batches per workload (at most 10)")
    ap.add_argument("--repeat", type=int, default=5, help="passes per inflater per batch (fastest kept)")
    ap.add_argument("--json", help="write the per-batch figures here")
    args = ap.parse_args(argv)

    w = wl.ensure_workload(verbose=True)
    sets = bp.window_sets(w.chrom_sizes)
    fw, pbt = bp.FastwigPeer(1), bp.PybigtoolsPeer()
    report = {"machine": bp.machine(), "versions": bp.versions(), "workloads": {}}
    for kind in args.workloads:
        batches = sets[f"{kind}-cold"][: args.rounds]
        warm = sets["warmup"] if kind in ("sparse", "dense") else sets[f"{kind}-warmup"]
        fw.read_cold(w.paths, warm, bp.new_out(warm, len(w.paths)))     # compile outside timing
        rows = []
        for windows in batches:
            packed, lay, stop = batch_blocks(w.paths, windows)
            row = {"blocks": lay.m, "stored_bytes": lay.packed_bytes}
            for name, (sec, nbytes) in time_inflaters(packed, lay, stop, args.repeat).items():
                row[f"{name}_s"], row[f"{name}_bytes"] = sec, nbytes
            for peer in (pbt, fw):
                out = bp.new_out(windows, len(w.paths))
                t = time.perf_counter()
                peer.read_cold(w.paths, windows, out)
                row[f"{peer.name}_s"] = time.perf_counter() - t
            rows.append(row)
        report["workloads"][kind] = rows
        med = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
        libs = [k[:-2] for k in med if k.endswith("_s") and k[:-2] not in ("pybigtools", "fastwig")]
        fastest = min(libs, key=lambda k: med[f"{k}_s"])
        print(f"\n{kind}: {len(rows)} cold batches, medians per batch; {med['blocks']:.0f} blocks, "
              f"{med['stored_bytes'] / 1e6:.2f} MB stored")
        print(f"  pybigtools {med['pybigtools_s'] * 1e3:8.1f} ms   fastwig (1 thread) {med['fastwig_s'] * 1e3:8.1f} ms"
              f"   ratio {med['pybigtools_s'] / med['fastwig_s']:.2f}x")
        for k in libs:
            extra = " (early exit)" if k == "njit" else " (whole blocks)"
            print(f"  inflate {k:10s} {med[f'{k}_s'] * 1e3:8.1f} ms  {med[f'{k}_bytes'] / 1e6:6.2f} MB out"
                  f"  {med[f'{k}_bytes'] / med[f'{k}_s'] / 1e6:5.0f} MB/s{extra}")
        print(f"  bound: pybigtools / fastest inflater ({fastest}) = {med['pybigtools_s'] / med[f'{fastest}_s']:.2f}x;"
              f" 3x would leave {med['pybigtools_s'] / 3 * 1e3:.1f} ms for the whole batch")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
