"""The block cache's table stays within its share of ``cache_bytes`` on files of tiny blocks."""

from __future__ import annotations

import numpy as np

import fastwig
from fastwig.bbi_writer import BedGraph, write_bigwig
from fastwig.cache import SLOT_BYTES, TABLE_SHARE, cache
from support import bits_equal


def test_table_is_bounded_and_reads_stay_right(tmp_path, monkeypatch):
    """3,000 one-record blocks read through a 64 KiB ring: the ring could hold most of them (36 bytes
    each), but their table entries would take ~7x the ring; it keeps at most max_entries, forgetting the
    oldest, and every read stays right."""
    n = 3000
    starts = np.arange(n, dtype=np.int64) * 10
    values = np.arange(n, dtype=np.float32) / 7
    path = str(tmp_path / "tiny_blocks.bw")
    write_bigwig(path, {"chr1": int(starts[-1]) + 100}, [BedGraph("chr1", starts, starts + 5, values)],
                 items_per_block=1)
    monkeypatch.setattr(fastwig.settings, "cache_bytes", 64 << 10)
    cache.clear()
    try:
        bw = fastwig.open(path)
        wins = np.arange(0, n * 10 - 200, 200, dtype=np.int64)
        want = np.full((wins.size, 1, 200), 0.0, np.float32)
        for i, s in enumerate(wins):
            for k in range(s // 10, (s + 200) // 10):
                want[i, 0, k * 10 - s:k * 10 - s + 5] = values[k]
        seen = []
        for _ in range(2):
            for k in range(0, wins.size, 10):      # batches of 200 blocks (7 KiB): each fits the ring
                got = fastwig.read_windows([bw], "chr1", wins[k:k + 10], 200)
                assert bits_equal(got, want[k:k + 10])
                seen.append(cache.entries)
                assert 0 < cache.entries <= cache.max_entries
                assert cache.table[0].size * SLOT_BYTES <= max(cache.capacity // TABLE_SHARE, 1024 * SLOT_BYTES)
        assert max(seen) > cache.max_entries // 2     # the cap was reached, not just approached by chance
    finally:
        cache.clear()


def test_small_rings_serve_what_a_cacheless_read_gives(tmp_path, monkeypatch):
    """Random batches (per base and binned, narrow windows that stop inside blocks and wide ones that
    read blocks whole, the same blocks again as longer prefixes) through rings small enough to wrap
    every few batches: every read equals a read with the cache off, so the ring's log never leaves a
    block the ring has overwritten in the table."""
    rng = np.random.default_rng(31)
    n = 40_000
    starts = np.sort(rng.choice(4_000_000, n, replace=False)).astype(np.int64)
    ends = np.minimum(starts + rng.integers(1, 60, n), np.append(starts[1:], 4_000_100))
    values = rng.normal(size=n).astype(np.float32)
    path = str(tmp_path / "many_blocks.bw")
    write_bigwig(path, {"chr1": 4_000_100}, [BedGraph("chr1", starts, ends, values)], items_per_block=128)
    bw = fastwig.open(path)
    batches = []
    for _ in range(60):
        width, bin_size = [(1000, 1), (20_000, 1), (65_536, 256), (3_000, 100)][int(rng.integers(4))]
        batches.append((rng.integers(-500, 4_000_000 - width // 2, int(rng.integers(1, 24))), width, bin_size))
    try:
        monkeypatch.setattr(fastwig.settings, "cache_bytes", 0)
        cache.clear()
        want = [fastwig.read_windows([bw], "chr1", s, w, bin_size=b) for s, w, b in batches]
        for ring in (48 << 10, 256 << 10, 1 << 20):
            monkeypatch.setattr(fastwig.settings, "cache_bytes", ring)
            cache.clear()
            for k, (s, w, b) in enumerate(batches):
                got = fastwig.read_windows([bw], "chr1", s, w, bin_size=b, threads=1 + k % 2)
                assert bits_equal(got, want[k]), (ring, k)
            assert cache._ordered          # the pipeline's pattern: reservations used the log
    finally:
        cache.clear()
