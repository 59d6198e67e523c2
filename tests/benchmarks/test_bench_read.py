"""Batched window reads on the standard workload: fastwig and its peers in one run (DESIGN.md, Performance).

    pytest tests/benchmarks --benchmark-enable            # (or -m bench, or --benchmark-only)

Groups sparse-cold, sparse-warm, dense-cold, dense-warm, and the long binned workloads enformer-cold/-warm
(16 windows of 196,608 bp in 128 bp bins) and borzoi-cold/-warm (4 windows of 524,288 bp in 32 bp bins,
figwig sitting out: it reads per base only); in each, pyBigWig (per-window ``values`` loop),
pybigtools (per-window ``values`` loop), figwig (``read_bigwig`` over every track, 1 and 2 threads) and
fastwig (``read_windows``, 1 and 2 threads).
8 tracks, 1,000 bp windows; sparse: 256 windows each in its own 100 kb stretch; dense: 2,048 windows
inside one 15 Mb stretch.

- cold: ``benchmark.pedantic`` with a setup that hands out the next batch of genome parts never read
  before, and a target that opens fresh reader objects, reads, closes (rounds = 10, one per batch);
- warm: readers opened once and the batch read once untimed, then the same batch every round.

Each benchmark stores track_windows_per_s and values_per_s (from the mean round) in extra_info; a table
with ratios is printed at the end of the run. Performance is measured here, never asserted; the only
assertions are that every peer gives pyBigWig's values (NaN -> 0) bit for bit.
Peer definitions and window sets come from profiling/bench_peers.py, shared with the script.
"""

from __future__ import annotations

import os

import bench_peers as bp
import numpy as np
import pytest

pytestmark = pytest.mark.bench

COLD_ROUNDS = min(int(os.environ.get("FASTWIG_BENCH_ROUNDS", "10")), bp.COLD_ROUNDS_MAX)
WARM_ROUNDS = int(os.environ.get("FASTWIG_BENCH_ROUNDS", "10"))

PEERS = [("pyBigWig", 1), ("pybigtools", 1), ("figwig", 1), ("figwig", 2), ("fastwig", 1), ("fastwig", 2)]
GROUPS = ["sparse-cold", "sparse-warm", "dense-cold", "dense-warm", "enformer-cold", "enformer-warm",
          "borzoi-cold", "borzoi-warm"]

_warmed: dict = {}


def _make_peer(name, threads):
    if name == "pyBigWig":
        pytest.importorskip("pyBigWig")
        return bp.PyBigWigPeer()
    if name == "pybigtools":
        pytest.importorskip("pybigtools")
        return bp.PybigtoolsPeer()
    if name == "figwig":
        pytest.importorskip("figwig")
        return bp.FigwigPeer(threads)
    fn, reason = bp.import_fastwig()
    assert fn is not None, reason      # fastwig itself missing is a failure here, never a skip
    return bp.FastwigPeer(threads)


@pytest.fixture
def peer(request, bench_workload, bench_sets):
    name, threads = request.param
    p = _make_peer(name, threads)
    if p.label not in _warmed:          # JIT compile on windows no timed batch touches
        w = bench_sets["warmup"]
        p.read_cold(bench_workload.paths, w, bp.new_out(w, len(bench_workload.paths)))
        _warmed[p.label] = True
    return p


@pytest.fixture(scope="module")
def expected(bench_workload, bench_sets):
    """pyBigWig's values (NaN -> 0) for the warm sparse batch and the first 256 dense-warm windows."""
    pytest.importorskip("pyBigWig")
    d = bench_sets["dense-warm"]
    dense = bp.wl.Windows(d.chroms[:256], d.starts[:256], d.width)
    sets = {"sparse": bench_sets["sparse-warm"], "dense": dense}
    return {k: (w, bp.reference(bench_workload.paths, w)) for k, w in sets.items()}


@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("peer", [p for p in PEERS if p[0] != "pyBigWig"], indirect=True,
                         ids=[f"{n}-t{t}" for n, t in PEERS if n != "pyBigWig"])
def test_same_values_as_pybigwig(peer, kind, expected, bench_workload):
    windows, want = expected[kind]
    assert np.isfinite(want).all()
    bp.check(peer, bench_workload.paths, windows, want)


def _report(benchmark, bench_record, group, peer, windows, n_tracks):
    stats = getattr(benchmark, "stats", None)
    mean = getattr(getattr(stats, "stats", None), "mean", None)
    info = {"peer": peer.name, "threads": peer.threads, "windows": len(windows), "tracks": n_tracks,
            "width": windows.width}
    if mean:
        tw = len(windows) * n_tracks / mean
        info.update(track_windows_per_s=round(tw), values_per_s=round(tw * windows.width))
        bench_record(group=group, peer=peer.name, threads=peer.threads, track_windows_per_s=tw,
                     values_per_s=tw * windows.width)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("kind", list(bp.wl.LONG))
@pytest.mark.parametrize("peer", [p for p in PEERS if p[0] not in ("pyBigWig", "figwig")], indirect=True,
                         ids=[f"{n}-t{t}" for n, t in PEERS if n not in ("pyBigWig", "figwig")])
def test_same_bins_as_pybigwig(peer, kind, bench_workload, bench_sets):
    """The long workloads' bins (mean over covered bases) equal pyBigWig's exact stats to float32 rounding."""
    pytest.importorskip("pyBigWig")
    w = bench_sets[f"{kind}-warm"]
    w = bp.wl.Windows(w.chroms[:2], w.starts[:2], w.width, w.bin_size)
    want = bp.reference(bench_workload.paths, w)
    assert (want > 0).mean() > 0.5          # the check compares real signal, not empty bins
    bp.check(peer, bench_workload.paths, w, want)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("peer", PEERS, indirect=True, ids=[f"{n}-t{t}" for n, t in PEERS])
def test_read(benchmark, bench_record, bench_workload, bench_sets, group, peer):
    paths = bench_workload.paths
    benchmark.group = group
    kind = group.split("-")[0]
    if kind in bp.wl.LONG:
        if not peer.binned:
            pytest.skip(f"{peer.name} reads per base only")
        if peer.label not in _warmed.setdefault(kind, set()):   # compile the binned kernels outside timing
            w = bench_sets[f"{kind}-warmup"]
            peer.read_cold(paths, w, bp.new_out(w, len(paths)))
            _warmed[kind].add(peer.label)
    if group.endswith("cold"):
        batches = iter(bench_sets[group][:COLD_ROUNDS])

        def setup():
            w = next(batches)
            return (paths, w, bp.new_out(w, len(paths))), {}

        benchmark.pedantic(peer.read_cold, setup=setup, rounds=COLD_ROUNDS, iterations=1, warmup_rounds=0)
        windows = bench_sets[group][0]
    else:
        windows = bench_sets[group]
        out = bp.new_out(windows, len(paths))
        handles = peer.open(paths)
        try:
            peer.read(handles, windows, out)                 # epoch 1, untimed
            benchmark.pedantic(peer.read, args=(handles, windows, out), rounds=WARM_ROUNDS, iterations=1,
                               warmup_rounds=0)
        finally:
            peer.close(handles)
    _report(benchmark, bench_record, group, peer, windows, len(paths))
