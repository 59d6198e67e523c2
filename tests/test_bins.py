"""Bins straight from records (kernels/bins.py) against a float64 per-base reference.

The reference paints every base in plain Python (the record stored last wins, NaN where no record
covers a base, ``oob`` outside the chromosome) and reduces bins with numpy in float64; the kernel never
builds a per-base row.  Results must equal the reference to float32 rounding, on every statistic,
``covered_only`` both ways, NaN and set ``oob``, windows over chromosome ends, missing chromosomes,
overlapping records (the painted slow path) and windows split into several items.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastwig
from edgecases import EDGE_CASES, OVERLAPPING, dense_expected, make_edge_files
from fastwig._kernels import bins as kbins
from support import BIGWIG_DIR, SHARED_REASON, bits_equal, real_bigwigs, reference_bins

STATS = ("mean", "sum", "min", "max", "coverage")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_edge_files(tmp_path_factory.mktemp("bins"))


def painted_row(records, chrom: str, start: int, width: int, chrom_len: int, oob) -> np.ndarray:
    """Per-base values of one window as a loader sees them: NaN uncovered, ``oob`` outside the chromosome."""
    lo, hi = max(start, 0), min(start + width, chrom_len)
    row = np.full(width, np.nan, np.float32)
    if hi > lo:
        row[lo - start:hi - start] = dense_expected(records, chrom, lo, hi)
    if oob is not None:
        row[: max(0, min(width, -start))] = oob
        row[max(0, chrom_len - start):] = oob
    return row


def assert_close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Equal to float32 rounding: the same NaNs, values within 2 ulp (sums in another order)."""
    assert np.array_equal(np.isnan(got), np.isnan(ref)), what
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=2.5e-7, atol=1e-30, err_msg=what)


def windows_over(size: int, width: int, rng, n: int = 12) -> np.ndarray:
    """Window starts: inside, across the start (negative) and across the end of a chromosome."""
    inside = rng.integers(0, max(1, size - width + 1), n - 4)
    return np.concatenate([inside, [-width // 3, 0, size - width // 2, size - width + 7]]).astype(np.int64)


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_every_stat(files, case):
    path, records = files[case]
    bw = fastwig.open(path)
    rng = np.random.default_rng(len(case))
    chrom, size = max(bw.chroms.items(), key=lambda kv: sum(1 for r in records if r[0] == kv[0]))
    size = min(size, 1 << 20) if case != "coords_ge_2_31" else size
    width, bin_size = 240, 8
    if case == "coords_ge_2_31":
        starts = np.array([2**31 - 100, 2**32 - 200, 2**32 - 1 - 120, 5], dtype=np.int64)
    else:
        starts = windows_over(size, width, rng)
    true_size = bw.chroms[chrom]
    for oob in (None, -1.5, np.nan):
        rows = [painted_row(records, chrom, int(s), width, true_size, None if oob is None else np.float32(oob))
                for s in starts]
        for stat in STATS:
            for covered_only in (False, True):
                got = fastwig.read_windows([bw], chrom, starts, width, bin_size=bin_size, stat=stat,
                                           covered_only=covered_only, missing=0.25, oob=oob)
                for i, row in enumerate(rows):
                    assert_close(got[i, 0], reference_bins(row, bin_size, stat, covered_only, 0.25),
                                 f"{case} {stat} covered_only={covered_only} oob={oob} start={starts[i]}")


@pytest.mark.parametrize("bin_size,width", [(1000, 140_000), (3000, 192_000), (70_000, 210_000), (128, 196_608)])
def test_items_split_long_windows(files, bin_size, width):
    """Windows longer than kernels.bins.ITEM_BASES are split into parts of whole bins; bin sizes that
    do not divide a part, and bins longer than a part, still give the reference."""
    assert kbins.parts_per_row(width // bin_size, bin_size) > 1 or bin_size > kbins.ITEM_BASES
    path, records = files["mixed_sections"]
    bw = fastwig.open(path)
    chrom, size = next(iter(bw.chroms.items()))
    starts = np.array([-width // 4, 0, 3_000, size - width // 2], dtype=np.int64)
    for stat in ("mean", "max", "coverage"):
        got = fastwig.read_windows([bw], chrom, starts, width, bin_size=bin_size, stat=stat, missing=0.0)
        for i, s in enumerate(starts):
            ref = reference_bins(painted_row(records, chrom, int(s), width, size, None), bin_size, stat, False, 0.0)
            assert_close(got[i, 0], ref, f"{stat} bin {bin_size} start {s}")


@pytest.mark.parametrize("case", sorted(OVERLAPPING))
def test_overlaps_take_the_painted_path(files, case):
    """Where records overlap the item is painted (last wins); the kernel reports it did so."""
    path, records = files[case]
    bw = fastwig.open(path)
    chrom = records[0][0]
    req_starts = np.array([records[0][1], records[len(records) // 2][1]], dtype=np.int64)
    got = fastwig.read_windows([bw], chrom, req_starts, 64, bin_size=4, stat="mean", missing=0.0)
    for i, s in enumerate(req_starts):
        ref = reference_bins(painted_row(records, chrom, int(s), 64, bw.chroms[chrom], None), 4, "mean", False, 0.0)
        assert_close(got[i, 0], ref, f"{case} at {s}")
    # the driver reports which path served each item: overlapping records must have been painted
    from fastwig.backend.cpu import CpuExecutor
    from fastwig.cache import cache
    from fastwig.request import make_request

    req = make_request([bw], chrom, req_starts, 64, bin_size=4)
    ex = CpuExecutor(1)
    with cache.lock:
        cache._ensure()
        plan = ex.plan(req)
        blocks = ex.load(req, plan)
        painted = ex.fill(req, plan, blocks, np.empty(req.shape, np.float32))
    assert painted.any()


def test_missing_chromosome_and_threads_agree(files):
    a, _ = files["bedgraph"]
    b, _ = files["multi_chrom"]
    bwa, bwb = fastwig.open(a), fastwig.open(b)
    chrom = next(iter(bwa.chroms))
    starts = np.arange(0, 4000, 97, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        one = fastwig.read_windows([bwa, bwb], chrom, starts, 320, bin_size=32, missing=-2.0, threads=1)
        two = fastwig.read_windows([bwa, bwb], chrom, starts, 320, bin_size=32, missing=-2.0, threads=2)
    assert bits_equal(one, two)
    if chrom not in bwb.chroms:
        assert np.all(one[:, 1] == -2.0)


@pytest.mark.skipif(not BIGWIG_DIR.is_dir(), reason=SHARED_REASON)
@pytest.mark.parametrize("path", real_bigwigs()[:12], ids=lambda p: p.name)
def test_real_files_against_per_base(path):
    """On real files: binned reads equal the float64 reduction of fastwig's own per-base read (itself
    checked against pyBigWig in test_reader_real)."""
    bw = fastwig.open(path)
    chrom, size = max(bw.chroms.items(), key=lambda kv: kv[1])
    width = min(32_768, max(64, size // 64 * 64))
    bin_size = 64 if width >= 64 else 1
    rng = np.random.default_rng(7)
    starts = np.concatenate([rng.integers(0, max(1, size - width), 6), [size - width // 2]]).astype(np.int64)
    per_base = fastwig.read_windows([bw], chrom, starts, width, missing=np.nan)
    for stat in STATS:
        got = fastwig.read_windows([bw], chrom, starts, width, bin_size=bin_size, stat=stat, missing=0.0)
        for i in range(starts.size):
            assert_close(got[i, 0], reference_bins(per_base[i, 0], bin_size, stat, False, 0.0), f"{path.name} {stat}")


@pytest.mark.parametrize("cache_bytes", [128 << 20, 2048, 0])
def test_chunked_loads_and_a_ring_too_small(files, monkeypatch, cache_bytes):
    """Blocks loaded a few at a time (tiny LOAD_CHUNK_BYTES), into a ring that holds the batch, one that
    overflows part way (the rest goes to a private arena) and no ring at all: the same bits as one load."""
    from fastwig.backend import cpu
    from fastwig.cache import cache

    path, _ = files["deep_rtree"]
    bw = fastwig.open(path)
    chrom = next(iter(bw.chroms))
    starts = np.arange(-50, 2500, 61, dtype=np.int64)
    want = fastwig.read_windows([bw], chrom, starts, 256, bin_size=4)
    want_bases = fastwig.read_windows([bw], chrom, starts, 256)
    monkeypatch.setattr(cpu, "LOAD_CHUNK_BYTES", 2048)
    monkeypatch.setattr(fastwig.settings, "cache_bytes", cache_bytes)
    reserved = []
    real_reserve = cache.reserve
    monkeypatch.setattr(cache, "reserve", lambda *a: reserved.append(real_reserve(*a)) or reserved[-1])
    cache.clear()
    try:
        for _ in range(2):       # cold, then from whatever the ring kept
            assert bits_equal(fastwig.read_windows([bw], chrom, starts, 256, bin_size=4), want)
            assert bits_equal(fastwig.read_windows([bw], chrom, starts, 256), want_bases)
    finally:
        cache.clear()
    if cache_bytes == 2048:      # the ring took the first chunks and refused a later one
        assert any(r >= 0 for r in reserved) and any(r < 0 for r in reserved), reserved
