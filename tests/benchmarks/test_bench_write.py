"""Writing a bigWig from numpy arrays: fastwig.BigWigWriter against pybigtools and pyBigWig (issue 11).

    pytest tests/benchmarks/test_bench_write.py --benchmark-enable     # (or -m bench, --benchmark-only)

The track is the standard workload's first track (profiling/workload.py: coverage-like bedGraph records
over a 300 Mb genome of 10 chromosomes, about 6 million records), held as numpy arrays, as a model's
predictions would be.  Each peer writes the same records with its defaults (zoom levels, zlib level 6):

- ``fastwig``: ``BigWigWriter.add_intervals`` per chromosome, compression on every core;
- ``pybigtools``: ``open(path, "w").write(chroms, iterator of (chrom, start, end, value))`` -- the tuples
  made from the arrays are part of what a user pays, so they are timed;
- ``pyBigWig``: ``addHeader`` then ``addEntries`` per chromosome from Python lists.

Every written file is read back once (not timed) and checked against the records.  Performance is
measured here, never asserted; ``FASTWIG_BENCH_WRITE_SCALE`` (default 1.0) shrinks the genome.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

import fastwig

pytestmark = pytest.mark.bench

SCALE = float(os.environ.get("FASTWIG_BENCH_WRITE_SCALE", "1.0"))
ROUNDS = int(os.environ.get("FASTWIG_BENCH_ROUNDS", "3"))


@pytest.fixture(scope="module")
def track():
    import workload
    params = dict(workload.PARAMS, genome_size=int(workload.PARAMS["genome_size"] * SCALE))
    sizes = workload.chrom_sizes(params["genome_size"], params["n_chroms"])
    records = {name: workload.track_intervals(0, ci, size, params) for ci, (name, size) in enumerate(sizes.items())}
    return sizes, records


def _fastwig(path, sizes, records):
    with fastwig.BigWigWriter(path, sizes) as w:
        for chrom, (s, e, v) in records.items():
            w.add_intervals(chrom, s, e, v)


def _pybigtools(path, sizes, records):
    pybigtools = pytest.importorskip("pybigtools")
    rows = ((chrom, a, b, c) for chrom, (s, e, v) in records.items()
            for a, b, c in zip(s.tolist(), e.tolist(), v.tolist()))
    pybigtools.open(str(path), "w").write(sizes, rows)


def _pybigwig(path, sizes, records):
    pyBigWig = pytest.importorskip("pyBigWig")
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()), maxZooms=10)
    for chrom, (s, e, v) in records.items():
        bw.addEntries(list(itertools.repeat(chrom, s.size)), s.tolist(), ends=e.tolist(), values=v.tolist())
    bw.close()


PEERS = {"fastwig": _fastwig, "pybigtools": _pybigtools, "pyBigWig": _pybigwig}


@pytest.mark.parametrize("peer", list(PEERS))
def test_write_coverage_track(benchmark, tmp_path, track, peer):
    sizes, records = track
    n = sum(r[0].size for r in records.values())
    benchmark.group = f"write {n / 1e6:.1f}M records, {sum(sizes.values()) / 1e6:.0f} Mb"
    benchmark.extra_info.update(records=n, threads=fastwig.config.resolve_threads(None))
    path = tmp_path / f"{peer}.bw"
    benchmark.pedantic(PEERS[peer], args=(path, sizes, records), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    benchmark.extra_info["bytes"] = path.stat().st_size
    with fastwig.open(path) as bw:
        for chrom, (s, e, v) in itertools.islice(records.items(), 2):
            got_s, got_e, got_v = bw.intervals(chrom)
            assert np.array_equal(got_s, s) and np.array_equal(got_e, e) and np.array_equal(got_v, v)
