"""GPU benchmark: fastwig ``read_windows(..., device="cuda")`` beside fastwig on every CPU core and figwig on
every CPU core, on the standard workload, in one run.

    python profiling/bench_gpu.py                          # a real NVIDIA GPU; 10 rounds
    python profiling/bench_gpu.py --rounds 5 --json gpu.json
    NUMBA_ENABLE_CUDASIM=1 python profiling/bench_gpu.py --tiny   # smoke run under the CUDA simulator

Workload (profiling/workload.py; DESIGN.md, section Performance): 8 tracks of coverage-like bedGraph over
a 300 Mb genome (UCSC layout, 1,024 records per block), 1,000 bp windows, missing = 0:

- ``sparse-256``: batches of 256 windows, each in its own 100 kb stretch (the training case);
- ``sparse-2048``: one batch of 2,048 such windows;
- ``dense-2048``: batches of 2,048 sorted windows inside one 15 Mb stretch;
- ``enformer``: batches of 16 windows of 196,608 bp reduced to 128 bp bins (mean over covered bases);
- ``borzoi``: batches of 4 windows of 524,288 bp reduced to 32 bp bins.

Modes: *cold* opens fresh reader objects inside the timed call and reads genome parts no earlier round
read (sparse-256 and dense-2048: a new batch each round; sparse-2048: its one batch); *warm* keeps the
readers and reads the same batch every round (fastwig's CPU path then serves blocks from its block
cache; the GPU path has no device cache yet, so it inflates every block every time).  The files sit in
the OS page cache.  The GPU result stays on the device (a training step consumes it there): its time
includes planning, the gather into pinned memory, the one host-to-device copy, the kernels and the
final synchronisation; the CPU peers' times do not include a copy to the GPU.

Reported per (workload, mode, peer): seconds per batch, windows/s and track-windows/s (windows x
tracks), values/s; for the GPU also compressed MB/s into the device and inflated GB/s, and a second,
profiled pass that times each stage (host: plan, gather; device, by CUDA events: h2d, inflate, scan,
expand or bins; then the wait for the end).  Before timing, every peer is compiled on windows no timed
batch touches, and the GPU's values are checked against fastwig's CPU path bit for bit.

``--tiny`` builds a 2 Mb, 2-track workload in a temporary folder and reads a few windows with tiny
launches: it shows the script works (under the simulator, times mean nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers as bp  # noqa: E402
import workload as wl  # noqa: E402

STAGES = ("plan", "gather", "h2d", "inflate", "scan", "expand", "bins", "sync")
TARGET_WINDOWS_PER_S = 20_000      # issue 3: batch 256 x 1,000 bp x 8 tracks on an H100/H200
TARGET_VS_CPU = 5.0


class GpuPeer(bp.Peer):
    """``fastwig.read_windows(bigwigs, chroms, starts, width, device="cuda", out=dev)`` over
    ``fastwig.open(path)`` objects; ``dev`` is a device array allocated once per batch shape."""

    name = "fastwig-gpu"

    def __init__(self):
        self.threads = 0
        self._out = {}

    @property
    def label(self):
        return self.name

    def open(self, paths):
        import fastwig
        return [fastwig.open(p) for p in paths]

    def close(self, handles):
        for h in handles:
            h.close()

    def device_out(self, shape):
        from fastwig.backend import device
        if shape not in self._out:
            self._out[shape] = device.device_empty(shape, np.float32)
        return self._out[shape]

    def read(self, handles, windows, out=None, stage_times=None):
        from fastwig.backend.cuda import CudaExecutor
        from fastwig.request import make_request
        shape = (len(windows), len(handles), windows.nbins)
        ex = CudaExecutor("cuda", 1, stage_times)
        req = make_request(handles, windows.chroms, windows.starts, windows.width, bin_size=windows.bin_size,
                           stat="mean", covered_only=windows.bin_size > 1)
        return ex.run(req, ex.allocate(req, self.device_out(shape)))


def gpu_info():
    from fastwig.backend import device
    if device.is_simulator():
        return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): times are not GPU times"
    c = device._cuda()
    dev = c.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    try:
        _free, total = c.current_context().get_memory_info()
        mem = f", {total / 2**30:.0f} GiB"
    except Exception:
        mem = ""
    return f"{name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]}{mem})"


def window_sets(sizes, tiny: bool, rounds: int):
    """{group: (list of batches for cold rounds, batch for warm rounds)} and a warm-up batch."""
    if tiny:
        sparse = wl.sparse_batches(sizes, rounds + 1, batch=4, width=1000, stretch=100_000)
        sparse_big = wl.sparse_batches(sizes, 1, batch=8, width=1000, stretch=100_000, seed=1)
        dense = wl.dense_batches(sizes, rounds + 1, n=8, width=1000, span=200_000)
        warm = wl.Windows(sparse[-1].chroms[:2].copy(), sparse[-1].starts[:2].copy(), 1000)
        longs = {}
        for kind, width, bin_size in (("enformer", 24_576, 128), ("borzoi", 65_536, 32)):  # shorter windows
            b = wl.sparse_batches(sizes, rounds + 1, batch=2, width=width, stretch=2 * width)
            for w in b:
                w.bin_size = bin_size
            longs[kind] = (b[:rounds], b[-1])
        return {"sparse-256": (sparse[:rounds], sparse[-1]), "sparse-2048": (sparse_big, sparse_big[0]),
                "dense-2048": (dense[:rounds], dense[-1]), **longs}, warm
    sets = bp.window_sets(sizes)
    big = wl.sparse_batches(sizes, 1, batch=2048, seed=1)
    return {"sparse-256": (sets["sparse-cold"], sets["sparse-warm"]),
            "sparse-2048": (big, big[0]),
            "dense-2048": (sets["dense-cold"], sets["dense-warm"]),
            "enformer": (sets["enformer-cold"], sets["enformer-warm"]),
            "borzoi": (sets["borzoi-cold"], sets["borzoi-warm"])}, sets["warmup"]


def time_peer(peer, paths, batches, warm_batch, mode, rounds):
    if mode == "cold":
        times = []
        for k in range(rounds):
            w = batches[k % len(batches)]
            out = bp.new_out(w, len(paths))
            t0 = time.perf_counter()
            peer.read_cold(paths, w, out)
            times.append(time.perf_counter() - t0)
        return times, batches[0]
    return bp.time_warm(peer, paths, warm_batch, rounds), warm_batch


def profile_gpu(peer, paths, batches, rounds):
    """Mean stage times (s) and byte counts of profiled GPU reads (fresh readers, as cold)."""
    acc: dict = {}
    for k in range(rounds):
        w = batches[k % len(batches)]
        handles = peer.open(paths)
        st: dict = {}
        peer.read(handles, w, stage_times=st)
        peer.close(handles)
        for key, v in st.items():
            acc.setdefault(key, []).append(v)
    return {key: float(np.mean(v)) for key, v in acc.items()}


def check_gpu(paths, windows):
    """GPU values == fastwig CPU values, bit for bit."""
    import fastwig
    kw = dict(bin_size=windows.bin_size, covered_only=windows.bin_size > 1)
    cpu = fastwig.read_windows(paths, windows.chroms, windows.starts, windows.width, **kw)
    dev = fastwig.read_windows(paths, windows.chroms, windows.starts, windows.width, device="cuda", **kw)
    got = dev.copy_to_host()
    same = got.view(np.uint32) == cpu.view(np.uint32)
    if not same.all():
        i, t, j = np.argwhere(~same)[0]
        raise AssertionError(f"GPU differs from CPU at {int((~same).sum())} values; first: window "
                             f"{windows.chroms[i]}:{windows.starts[i]}+{j} track {t}: {got[i, t, j]!r} vs "
                             f"{cpu[i, t, j]!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="timed rounds per measurement")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads of the CPU peers (0: every core)")
    ap.add_argument("--peers", nargs="*", default=["fastwig", "figwig"], choices=["fastwig", "figwig"],
                    help="CPU peers run beside the GPU")
    groups = ["sparse-256", "sparse-2048", "dense-2048", "enformer", "borzoi"]
    ap.add_argument("--groups", nargs="+", default=groups, choices=groups)
    ap.add_argument("--modes", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    ap.add_argument("--tiny", action="store_true", help="a 2 Mb, 2-track workload and a few windows (simulator)")
    ap.add_argument("--no-check", action="store_true", help="skip the GPU == CPU check")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--data", default=None, help="workload folder (default $FASTWIG_BENCH_DATA or ~/.cache/fastwig-bench)")
    args = ap.parse_args(argv)

    import fastwig
    from fastwig.backend import cuda as fastwig_cuda
    from fastwig.config import resolve_threads
    if not fastwig_cuda.is_available():
        fastwig_cuda._kc()                # raises CudaUnavailable with the reason
    threads = resolve_threads(args.threads)
    tmp = None
    if args.tiny:
        tmp = tempfile.TemporaryDirectory()
        params = dict(wl.PARAMS, genome_size=2_000_000, n_chroms=2, n_tracks=2)
        work = wl.ensure_workload(tmp.name, params=params, jobs=1)
        args.rounds = min(args.rounds, 2)
        fastwig.settings.gpu_threads_per_block = 2
        fastwig.settings.gpu_max_blocks = 2
    else:
        work = wl.ensure_workload(args.data, verbose=True)
    paths = work.paths
    sets, warmup = window_sets(work.chrom_sizes, args.tiny, args.rounds)

    gpu = GpuPeer()
    peers = [gpu]
    if "fastwig" in args.peers:
        peers.append(bp.FastwigPeer(threads))
    if "figwig" in args.peers:
        try:
            import figwig  # noqa: F401
            peers.append(bp.FigwigPeer(threads))
        except ImportError:
            print("note: figwig is not installed; left out")

    print(f"machine: {bp.machine()}; GPU: {gpu_info()}; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"versions: {bp.versions()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"data: {work.directory} ({len(paths)} tracks, {len(work.chrom_sizes)} chroms, "
          f"{sum(work.chrom_sizes.values()) / 1e6:.0f} Mb); CPU peers on {threads} threads; "
          f"GPU launch {fastwig.settings.gpu_threads_per_block} threads/block, at most "
          f"{fastwig.settings.gpu_max_blocks} blocks")

    if args.tiny:
        print("tiny: the groups keep their names but hold 4 (sparse-256), 8 (sparse-2048) and 8 (dense-2048) "
              "windows; launches of 2 threads x 2 blocks")
    t0 = time.perf_counter()
    for peer in peers:                      # JIT (CPU and CUDA kernels) and first touch, untimed
        peer.read_cold(paths, warmup, bp.new_out(warmup, len(paths)))
        for group in args.groups:           # the binned kernels too, on one window of a warm batch
            w = sets[group][1]
            if w.bin_size > 1 and peer.binned:
                one = wl.Windows(w.chroms[:1], w.starts[:1], w.width, w.bin_size)
                peer.read_cold(paths, one, bp.new_out(one, len(paths)))
    print(f"warm-up (compilation): {time.perf_counter() - t0:.1f} s")
    if not args.no_check:
        for group in args.groups:
            check_gpu(paths, sets[group][1])
        print(f"check: fastwig-gpu == fastwig CPU, bit for bit, on {', '.join(args.groups)}")

    rows = []
    header = (f"{'workload':<18}{'peer':<14}{'thr':>4}{'s/batch':>10}{'windows/s':>12}{'track-win/s':>13}"
              f"{'values/s':>10}{'comp MB/s':>11}{'infl GB/s':>10}")
    print("\n" + header)
    print("-" * len(header))
    profiles = {}
    for group in args.groups:
        batches, warm_batch = sets[group]
        prof = profile_gpu(gpu, paths, batches, min(args.rounds, len(batches)))
        profiles[group] = prof
        for mode in args.modes:
            label = f"{group}-{mode}"
            base = {}
            for peer in peers:
                if warm_batch.bin_size > 1 and not peer.binned:
                    continue
                times, w = time_peer(peer, paths, batches, warm_batch, mode, args.rounds)
                mean = float(np.mean(times))
                n_win = len(w)
                row = {"group": label, "peer": peer.name, "threads": peer.threads, "rounds": len(times),
                       "mean_s": mean, "median_s": float(np.median(times)), "min_s": float(np.min(times)),
                       "windows": n_win, "tracks": len(paths), "width": w.width,
                       "windows_per_s": n_win / mean, "track_windows_per_s": n_win * len(paths) / mean,
                       "values_per_s": n_win * len(paths) * w.width / mean}
                extra = ""
                if peer is gpu:
                    row["compressed_MB_per_s"] = prof.get("compressed_bytes", 0) / mean / 1e6
                    row["inflated_GB_per_s"] = prof.get("inflated_bytes", 0) / mean / 1e9
                    extra = f"{row['compressed_MB_per_s']:>11.1f}{row['inflated_GB_per_s']:>10.2f}"
                base[peer.name] = mean
                rows.append(row)
                print(f"{label:<18}{peer.name:<14}{peer.threads:>4}{mean:>10.4f}{row['windows_per_s']:>12,.0f}"
                      f"{row['track_windows_per_s']:>13,.0f}{row['values_per_s']:>10.3g}{extra}", flush=True)
            for row in rows:
                if row["group"] == label and row["peer"] == gpu.name:
                    row["speedup_vs"] = {k: v / row["mean_s"] for k, v in base.items() if k != gpu.name}
                    print(f"{'':<18}fastwig-gpu speed-up: "
                          + ", ".join(f"{v:.3g}x {k}" for k, v in row["speedup_vs"].items()))
            print()

    print("GPU stages (profiled pass, fresh readers; seconds per batch; device stages timed with CUDA events)")
    head = f"{'workload':<14}{'blocks':>7}{'comp MB':>9}{'infl MB':>9}" + "".join(f"{s:>9}" for s in STAGES) \
        + f"{'total':>9}{'infl GB/s':>10}"
    print(head)
    print("-" * len(head))
    for group, prof in profiles.items():
        infl = prof.get("inflate", float("nan"))
        rate = prof.get("inflated_bytes", 0) / infl / 1e9 if infl and infl > 0 else float("nan")
        print(f"{group:<14}{prof.get('blocks', 0):>7.0f}{prof.get('compressed_bytes', 0) / 1e6:>9.2f}"
              f"{prof.get('inflated_bytes', 0) / 1e6:>9.2f}"
              + "".join(f"{prof.get(s, float('nan')):>9.5f}" for s in STAGES)
              + f"{prof.get('total', float('nan')):>9.5f}{rate:>10.2f}")
        prof["inflate_GB_per_s_kernel"] = rate

    sparse = [r for r in rows if r["group"] == "sparse-256-cold" and r["peer"] == gpu.name]
    if sparse and not args.tiny:
        r = sparse[0]
        cpu = r.get("speedup_vs", {}).get("fastwig")
        print(f"\ntarget (batch 256 x 1,000 bp x {len(paths)} tracks): >= {TARGET_WINDOWS_PER_S:,} windows/s and "
              f">= {TARGET_VS_CPU:.0f}x fastwig CPU: measured {r['windows_per_s']:,.0f} windows/s"
              + (f", {cpu:.2f}x fastwig CPU" if cpu else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": bp.machine(), "gpu": gpu_info(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "versions": bp.versions(), "command": " ".join(sys.argv), "data": str(work.directory),
            "cpu_threads": threads, "tiny": args.tiny, "rows": rows, "gpu_stages": profiles}, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return rows


if __name__ == "__main__":
    main()
