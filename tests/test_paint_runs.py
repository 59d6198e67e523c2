"""Per-base rows painted in whole runs (kernels/expand.py, ``PAINT_RUN``), against a plain reference.

Sections whose records average at least ``WIDE_MEAN`` bases are painted ``PAINT_RUN`` bases at a
time, past each record's end, and rely on the next record or the row's final fill to write over the
excess.  These files make every boundary of that path happen: runs shorter and longer than a run of
the painter, gaps of every size (none, short, longer than a run), NaN records, records that reach the
last ``PAINT_RUN`` bases of a window (where the exact loops take over), overlapping records (last
wins, where the painter must not overwrite earlier bases), varStep with irregular gaps, and sections
just above and below the ``WIDE_MEAN`` threshold.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgecases import dense_expected, section_records
from support import bits_equal

import fastwig
from fastwig._kernels import expand
from fastwig.writer import BedGraph, FixedStep, VarStep, write_bigwig

PAINT_RUN, WIDE_MEAN = expand.PAINT_RUN, expand.WIDE_MEAN

CHROM_SIZE = 400_000


def _runs(rng, n, start, mean_len, mean_gap, p_gap=0.3):
    """Sorted, non-overlapping bedGraph records: lengths and gaps geometric, some gaps zero."""
    lens = rng.geometric(1 / mean_len, n)
    gaps = np.where(rng.random(n) < p_gap, rng.geometric(1 / mean_gap, n), 0)
    starts = start + np.cumsum(gaps) + np.concatenate([[0], np.cumsum(lens)[:-1]])
    vals = rng.normal(size=n).astype(np.float32)
    vals[rng.random(n) < 0.05] = np.nan
    return starts, starts + lens, vals


def _sections(seed):
    rng = np.random.default_rng(seed)
    secs = []
    # chr1: mean run 40 (the benchmark's shape), runs above PAINT_RUN, gaps longer than a run
    s, e, v = _runs(rng, 3000, 0, 40, 60)
    secs.append(BedGraph("chr1", s, e, v))
    s, e, v = _runs(rng, 600, int(e[-1]) + 500, 2 * PAINT_RUN, 3 * PAINT_RUN, p_gap=0.5)
    secs.append(BedGraph("chr1", s, e, v))
    # chr2: records that overlap (straddling and nested; starts stay sorted, as the format requires),
    # long enough for the wide path: the record stored last wins
    s, e, v = _runs(rng, 1500, 0, 60, 30)
    secs.append(BedGraph("chr2", s, e + rng.integers(0, 300, s.size) * (rng.random(s.size) < 0.4), v))
    # chr3: varStep with irregular gaps and a long span; fixedStep after it; then short records
    starts = np.cumsum(rng.integers(20, 400, 800))
    secs.append(VarStep("chr3", starts=starts, span=90, values=rng.normal(size=starts.size).astype(np.float32)))
    base = int(starts[-1]) + 1000
    secs.append(FixedStep("chr3", start=base, step=50, span=70, values=rng.normal(size=500).astype(np.float32)))
    s, e, v = _runs(rng, 4000, base + 30_000, 3, 4)      # mean below WIDE_MEAN: exact loops
    secs.append(BedGraph("chr3", s, e, v))
    # chr4: sections on either side of the threshold, back to back
    at = 0
    for mean in (WIDE_MEAN - 2, WIDE_MEAN + 2, WIDE_MEAN, 1.5 * PAINT_RUN):
        s, e, v = _runs(rng, 700, at, mean, mean)
        secs.append(BedGraph("chr4", s, e, v))
        at = int(e[-1]) + int(rng.integers(0, 50))
    return secs


@pytest.fixture(scope="module", params=[0, 1], ids=["seed0", "seed1"])
def painted_file(request, tmp_path_factory):
    chroms = [(f"chr{i}", CHROM_SIZE) for i in range(1, 5)]
    secs = _sections(request.param)
    path = tmp_path_factory.mktemp("paint") / f"runs{request.param}.bw"
    # small blocks: windows cross block boundaries too
    write_bigwig(path, chroms, secs, items_per_block=256)
    return str(path), section_records(secs), dict(chroms)


def _windows(rng, records, chroms, n, width):
    names = list(chroms)
    edges = np.array([s for _, s, _, _ in records] + [e for _, _, e, _ in records])
    c = np.array([names[i] for i in rng.integers(0, len(names), n)])
    centres = np.where(rng.random(n) < 0.6, rng.choice(edges, n), rng.integers(0, CHROM_SIZE, n))
    starts = centres - rng.integers(0, width + PAINT_RUN, n)
    starts[:2] = [-PAINT_RUN // 2, CHROM_SIZE - width + PAINT_RUN // 3]    # past both ends
    return c, starts.astype(np.int64)


def _expected(records, chroms, c, s, width, missing, oob):
    ref = np.full(width, oob, np.float32)
    a, b = max(0, s), min(chroms[c], s + width)
    if b > a:
        d = dense_expected(records, c, a, b)
        ref[a - s:b - s] = np.where(np.isnan(d), missing, d)
    return ref


@pytest.mark.parametrize("width", [1, 37, PAINT_RUN - 1, PAINT_RUN, PAINT_RUN + 1, 2 * PAINT_RUN + 5, 1000, 4099])
def test_read_windows_equal_the_reference(painted_file, width):
    path, records, chroms = painted_file
    rng = np.random.default_rng(width)
    c, starts = _windows(rng, records, chroms, 120, width)
    with fastwig.open(path) as bw:
        for threads in (1, 2):
            got = fastwig.read_windows([bw], c, starts, width, missing=-1.0, oob=-3.0, threads=threads)
            for i in range(c.size):
                ref = _expected(records, chroms, c[i], int(starts[i]), width, -1.0, -3.0)
                assert bits_equal(got[i, 0], ref), (width, threads, c[i], starts[i])


def test_values_with_nan_missing_equal_the_reference(painted_file):
    """``values`` keeps NaN for uncovered bases: the painter's scratch past a record must never show."""
    path, records, chroms = painted_file
    rng = np.random.default_rng(5)
    with fastwig.open(path) as bw:
        for c in chroms:
            for _ in range(40):
                s = int(rng.integers(0, CHROM_SIZE - 3000))
                e = s + int(rng.integers(1, 3000))
                assert bits_equal(bw.values(c, s, e), dense_expected(records, c, s, e)), (c, s, e)


def test_rows_of_a_batch_do_not_write_into_each_other(painted_file):
    """Neighbouring rows of one output (window-major, several tracks) are painted by different items,
    on two threads: a run painted past a row's end would land in the next row."""
    path, records, chroms = painted_file
    width = 3 * PAINT_RUN
    starts = np.arange(0, 60_000, width - 7, dtype=np.int64)
    with fastwig.open(path) as bw:
        got = fastwig.read_windows([bw, bw, bw], "chr1", starts, width, missing=-1.0, threads=2)
    for i, s in enumerate(starts.tolist()):
        ref = _expected(records, chroms, "chr1", s, width, -1.0, -1.0)
        for t in range(3):
            assert bits_equal(got[i, t], ref), (s, t)


@pytest.mark.gpu
@pytest.mark.parametrize("width", [PAINT_RUN - 1, 2 * PAINT_RUN + 5])
def test_gpu_matches_cpu_on_painted_runs(read_twins, painted_file, width):
    path, records, chroms = painted_file
    rng = np.random.default_rng(3)
    c, starts = _windows(rng, records, chroms, 10, width)
    with fastwig.open(path) as bw:
        read_twins(f"painted runs {width}", [bw], c, starts, width, missing=-1.0, oob=-3.0)
