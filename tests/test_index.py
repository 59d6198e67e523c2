"""The block index (fastwig/rtree.py, kernels/rtree.py, kernels/plan.py) and the cache's table
(fastwig/cache.py, kernels/cachemap.py), against obvious references.

The reference of "which blocks overlap a window" is a brute-force scan of the R-tree's leaf items
in linear coordinates (``chromIx * 2**32 + base``), in file order.  R-trees are generated here
(sorted, overlapping, unsorted, crossing chromosomes, coordinates near 2**32, big-endian, nodes
stored out of order, cycles) and read from the real files of ../shared when present.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

import fastwig
from fastwig import spec
from fastwig._kernels import plan
from fastwig.cache import MIN_SLOTS, BlockCache, FileCacheState
from fastwig.config import settings
from fastwig.errors import FormatError
from fastwig.io import FileSource
from fastwig.rtree import read_rtree, tree_leaves

from support import SHARED_REASON, file_id, real_bigbeds, real_bigwigs

TOP = 1 << 32
DATA_AT = 4096          # generated block offsets start here (past the header the index checks for)


# ---- generated R-trees ----------------------------------------------------------------------

def rtree_bytes(items, base: int, block_size: int = 4, bo: str = "<", shuffle: np.random.Generator | None = None,
                cycle: bool = False) -> bytes:
    """A two-level cirTree (header, root, leaves) over leaf ``items`` (sc, sb, ec, eb, offset, size) at
    file offset ``base``.  ``shuffle`` stores the leaf nodes in a random order (the root still lists
    them in item order); ``cycle`` makes the root's last child the root itself."""
    groups = [items[i:i + block_size] for i in range(0, len(items), block_size)] or [[]]
    order = np.arange(len(groups)) if shuffle is None else shuffle.permutation(len(groups))
    leaf_size = 4 + block_size * 32
    root_at = base + 48
    first_leaf = root_at + 4 + len(groups) * 24
    where = {int(g): first_leaf + slot * leaf_size for slot, g in enumerate(order)}
    out = [struct.pack(bo + "IIQIIIIQII", spec.RTREE_MAGIC, block_size, len(items), 0, 0, 0, 0, 0, 1, 0)]
    root = [struct.pack(bo + "BBH", 0, 0, len(groups))]
    for g, grp in enumerate(groups):
        child = root_at if (cycle and g == len(groups) - 1) else where[g]
        root.append(struct.pack(bo + "IIIIQ", 0, 0, 0, 0, child))
    out.append(b"".join(root))
    for g in order:
        grp = groups[int(g)]
        body = [struct.pack(bo + "BBH", 1, 0, len(grp))] + [struct.pack(bo + "IIIIQQ", *map(int, it)) for it in grp]
        body.append(b"\0" * ((block_size - len(grp)) * 32))
        out.append(b"".join(body))
    return b"".join(out)


def write_tree(path: Path, items, **kw) -> tuple[str, int]:
    """A file holding ``items``' R-tree after a data region that every block lies in."""
    data_end = max([int(it[4]) + int(it[5]) for it in items] + [DATA_AT])
    tree = rtree_bytes(items, data_end, **kw)
    path.write_bytes(b"\0" * data_end + tree)
    return str(path), data_end


def gen_items(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """(n, 6) uint64 leaf items of one kind of R-tree; offsets distinct and increasing in stored order."""
    n_chroms = 3
    c = np.sort(rng.integers(0, n_chroms, n))
    if kind == "near_top":
        s = rng.integers(TOP - 5000, TOP - 2, n)
    else:
        s = rng.integers(0, 20_000, n)
    if kind in ("sorted", "near_top"):
        order = np.lexsort((s, c))
        c, s = c[order], s[order]
    length = rng.integers(0, 3000, n)
    e = np.minimum(s + length, TOP - 1)
    ec = c.copy()
    if kind == "sorted":
        e = np.maximum.accumulate(e)        # ends never decrease either (the usual writer's tree)
        e = np.where(np.r_[c[1:] != c[:-1], True], e, np.minimum(e, np.r_[s[1:], 0] + 10_000))
        e = np.maximum(e, s)
    if kind == "unsorted":
        p = rng.permutation(n)
        c, s, e, ec = c[p], s[p], e[p], ec[p]
    if kind == "crossing":
        cross = rng.random(n) < 0.3
        ec = np.where(cross, np.minimum(c + rng.integers(1, 3, n), n_chroms + 1), c)
        e = np.where(cross, rng.integers(0, 20_000, n), e)
    off = DATA_AT + np.cumsum(rng.integers(1, 50, n))
    size = rng.integers(1, 40, n)
    if kind == "unsorted":
        off = rng.permutation(off)          # file order differs from coordinate order too
    return np.stack([c, s, ec, e, off, size], axis=1).astype(np.uint64)


def brute_overlap(items: np.ndarray, c: int, s: int, e: int) -> list[int]:
    """Offsets of the blocks overlapping [s, e) on chromosome c, in file order (by offset)."""
    lstart = (items[:, 0].astype(np.int64) << 32) + items[:, 1].astype(np.int64)
    lend = (items[:, 2].astype(np.int64) << 32) + items[:, 3].astype(np.int64)
    if s >= TOP or e <= s:          # a window lies inside its chromosome's coordinates [0, 2**32)
        return []
    lo, hi = (c << 32) + s, (c << 32) + min(e, TOP)
    hit = (lstart < hi) & (lend > lo)
    return sorted(items[hit, 4].astype(np.int64).tolist())


KINDS = ["sorted", "overlapping", "unsorted", "crossing", "near_top"]


def queries(rng: np.random.Generator, kind: str, k: int = 200) -> list[tuple[int, int, int]]:
    out = []
    for _ in range(k):
        c = int(rng.integers(-0, 5))
        if kind == "near_top":
            s = int(rng.integers(TOP - 6000, TOP - 1))
        else:
            s = int(rng.integers(0, 25_000))
        out.append((c, s, s + int(rng.integers(1, 4000))))
    return out + [(0, 0, TOP + 5), (1, 0, 1), (2, TOP - 1, TOP + 100)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 7, 300])
def test_overlapping_matches_brute_force(tmp_path, kind, n):
    rng = np.random.default_rng([n, KINDS.index(kind)])
    items = gen_items(rng, n, kind)
    path, at = write_tree(tmp_path / "t.bin", items, block_size=5)
    index = read_rtree(FileSource(path), at, "<")
    assert len(index) == n
    assert np.array_equal(np.sort(index.offset.astype(np.int64)), np.sort(items[:, 4].astype(np.int64)))
    qs = queries(rng, kind)
    lo = np.array([(c << 32) + s for c, s, e in qs], np.int64)
    hi = np.array([(c << 32) + e for c, s, e in qs], np.int64)
    ptr, blocks = index.overlapping(lo, hi)
    for i, (c, s, e) in enumerate(qs):
        got = index.offset[blocks[ptr[i]:ptr[i + 1]]].astype(np.int64).tolist()
        assert got == brute_overlap(items, c, s, e), (c, s, e)


@pytest.mark.parametrize("kind", KINDS)
def test_linear_coordinates_round_trip(tmp_path, kind):
    """lstart/lend (computed on demand) and offset/size name the same blocks as the items."""
    rng = np.random.default_rng(7)
    items = gen_items(rng, 500, kind)
    path, at = write_tree(tmp_path / "t.bin", items, block_size=16)
    index = read_rtree(FileSource(path), at, "<")
    got = np.stack([index.lstart, index.lend, index.offset.astype(np.int64), index.size.astype(np.int64)], axis=1)
    ref = np.stack([(items[:, 0].astype(np.int64) << 32) + items[:, 1].astype(np.int64),
                    (items[:, 2].astype(np.int64) << 32) + items[:, 3].astype(np.int64),
                    items[:, 4].astype(np.int64), items[:, 5].astype(np.int64)], axis=1)
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, ref.tolist()))
    # rows: one-chromosome blocks sorted by (linear start, offset), then the crossing ones
    main = len(index.start)
    assert np.all(np.diff(got[:main, 0]) >= 0)
    assert index.file_order == bool(np.all(np.diff(got[:, 2]) >= 0))


@pytest.mark.parametrize("bo", ["<", ">"])
@pytest.mark.parametrize("layout", ["contiguous", "shuffled"])
def test_byte_orders_and_node_layouts_agree(tmp_path, bo, layout):
    """Big-endian trees, and leaf nodes stored in another order than the root lists them, read the same."""
    rng = np.random.default_rng(3)
    items = gen_items(rng, 200, "overlapping")
    ref_path, ref_at = write_tree(tmp_path / "ref.bin", items, block_size=8)
    ref = read_rtree(FileSource(ref_path), ref_at, "<")
    path, at = write_tree(tmp_path / "t.bin", items, block_size=8, bo=bo,
                          shuffle=np.random.default_rng(1) if layout == "shuffled" else None)
    index = read_rtree(FileSource(path), at, bo)
    for a, b in zip((*ref.arrays, ref.size), (*index.arrays, index.size)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_nodes_outside_the_first_read_are_followed(tmp_path):
    """A leaf node stored far from the others (past the bytes the tree's size suggests) is read too."""
    rng = np.random.default_rng(4)
    items = gen_items(rng, 40, "sorted")
    data_end = max(int(it[4]) + int(it[5]) for it in items)
    tree = bytearray(rtree_bytes(items, data_end, block_size=8))
    # move the last leaf node 1 MiB further and point the root at it
    leaf_size = 4 + 8 * 32
    n_groups = 5
    last = len(tree) - leaf_size
    moved = bytes(tree[last:])
    del tree[last:]
    far = data_end + len(tree) + (1 << 20)
    struct.pack_into("<Q", tree, 48 + 4 + (n_groups - 1) * 24 + 16, far)
    path = tmp_path / "far.bin"
    path.write_bytes(b"\0" * data_end + bytes(tree) + b"\0" * (far - data_end - len(tree)) + moved)
    index = read_rtree(FileSource(str(path)), data_end, "<")
    assert sorted(index.offset.tolist()) == sorted(items[:, 4].tolist())


def test_cycles_and_bad_items_raise(tmp_path):
    rng = np.random.default_rng(5)
    items = gen_items(rng, 30, "sorted")
    path, at = write_tree(tmp_path / "cycle.bin", items, block_size=4, cycle=True)
    with pytest.raises(FormatError, match="twice"):
        read_rtree(FileSource(path), at, "<")
    for column, value, what in [(3, 0, "inverted"), (4, 10, "before the header"), (5, 0, "empty"),
                                (5, 1 << 40, "past the end")]:
        bad = items.copy()
        bad[7, column] = value
        if what == "inverted":
            bad[7, 1] = 100
        path, at = write_tree(tmp_path / f"{column}.bin", bad if what != "past the end" else items, block_size=4)
        if what == "past the end":         # patched in the file, which the writer would otherwise grow
            raw = bytearray(Path(path).read_bytes())
            leaf = at + 48 + 4 + 8 * 24 + (7 // 4) * (4 + 4 * 32)      # 8 leaf nodes of 4 items
            struct.pack_into("<Q", raw, leaf + 4 + (7 % 4) * 32 + 24, 1 << 40)
            Path(path).write_bytes(bytes(raw))
        with pytest.raises(FormatError, match="leaf"):
            read_rtree(FileSource(path), at, "<")


# ---- the planner ---------------------------------------------------------------------------

def plan_reference(items, cids, starts, width, early_exit):
    """Per window the needed blocks' offsets in file order, and per block offset its stop."""
    windows, stops = [], {}
    for c, st in zip(cids.tolist(), starts.tolist()):
        if c < 0:
            windows.append([])
            continue
        s, e = max(st, 0), max(st + width, 0)
        offs = brute_overlap(items, c, s, e)
        windows.append(offs)
        for o in offs:
            row = int(np.flatnonzero(items[:, 4] == o)[0])
            single = items[row, 0] == items[row, 2]
            # early exit within one chromosome, where a record may start at or past the window's end
            stop = st + width if (early_exit and single and st + width < int(items[row, 3])) else -1
            old = stops.get(o, stop)
            stops[o] = -1 if (old < 0 or stop < 0) else max(old, stop)
    return windows, stops


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("early_exit", [True, False])
def test_plan_track_matches_reference(tmp_path, kind, early_exit):
    rng = np.random.default_rng([11, KINDS.index(kind)])
    items = gen_items(rng, 400, kind)
    path, at = write_tree(tmp_path / "t.bin", items, block_size=7)
    index = read_rtree(FileSource(path), at, "<")
    n, width = 120, int(rng.integers(1, 3000))
    cids = rng.integers(-1, 4, n).astype(np.int64)
    lo = (TOP - 6000) if kind == "near_top" else -500
    starts = rng.integers(lo, lo + 25_000, n).astype(np.int64)
    starts[:10] = starts[10:20]               # windows that share blocks
    cache = BlockCache()
    keys, vals = cache.table
    ptr, blist, uniq, stop, cpos, clen, cflags = plan.plan_track(index.arrays, index.file_order, cids, starts, width,
                                                                 early_exit, keys, vals, 1)
    windows, stops = plan_reference(items, cids, starts, width, early_exit)
    assert uniq.size == len(set(uniq.tolist())) == len(stops)
    offs = index.offset.astype(np.int64)
    for w in range(n):
        assert offs[uniq[blist[ptr[w]:ptr[w + 1]]]].tolist() == windows[w]
    assert {int(offs[u]): int(s) for u, s in zip(uniq, stop)} == stops
    assert (cpos == -1).all()


def test_plan_reads_cache_entries_only_when_complete_enough(tmp_path):
    """A cached block is a hit when its ``until`` reaches what the windows need, else a miss."""
    rng = np.random.default_rng(12)
    items = gen_items(rng, 100, "sorted")
    path, at = write_tree(tmp_path / "t.bin", items, block_size=7)
    index = read_rtree(FileSource(path), at, "<")
    cids = np.zeros(30, np.int64)
    starts = np.sort(rng.integers(0, 20_000, 30)).astype(np.int64)
    width = 500
    cache = BlockCache()
    state = FileCacheState(len(index))
    empty = plan.plan_track(index.arrays, index.file_order, cids, starts, width, True, *cache.table, state.uid)
    uniq, stop = empty[2], empty[3]
    assert uniq.size > 4
    until = np.where(np.arange(uniq.size) % 2 == 0, stop, stop - 1)    # odd ones: one base short
    until[0] = np.iinfo(np.int64).max
    cache.register(state, uniq, 1000 + 64 * np.arange(uniq.size), 10 + np.arange(uniq.size),
                   np.full(uniq.size, 3), until)
    other = FileCacheState(len(index))                                # another file: same leaves, no hits
    got = plan.plan_track(index.arrays, index.file_order, cids, starts, width, True, *cache.table, state.uid)
    miss = plan.plan_track(index.arrays, index.file_order, cids, starts, width, True, *cache.table, other.uid)
    assert np.array_equal(got[2], uniq)
    hit = until >= np.where(stop >= 0, stop, np.iinfo(np.int64).max)     # stop -1: the whole block
    assert np.array_equal(got[4], np.where(hit, 1000 + 64 * np.arange(uniq.size), -1))
    assert np.array_equal(got[5][hit], 10 + np.arange(uniq.size)[hit]) and (got[6][hit] == 3).all()
    assert (miss[4] == -1).all()


# ---- the cache's table -----------------------------------------------------------------------

def test_cache_table_against_a_dict():
    """Inserts, replacements, evictions by ring range and growth agree with a dict of entries."""
    rng = np.random.default_rng(13)
    cache = BlockCache()
    cache.capacity = 1 << 30    # the table's cap (a share of the ring's bytes) must not bind here
    states = [FileCacheState(10_000) for _ in range(4)]
    ref: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    peak = 0
    for step in range(300):
        st = states[int(rng.integers(len(states)))]
        k = int(rng.integers(1, 60))
        leaves = rng.choice(10_000, k, replace=False).astype(np.int64)
        pos = rng.integers(0, 1 << 20, k)
        length = rng.integers(1, 5000, k)
        flags, until = rng.integers(0, 8, k), rng.integers(0, 1 << 40, k)
        cache.register(st, leaves, pos, length, flags, until)
        for j, leaf in enumerate(leaves.tolist()):
            ref[(st.uid, leaf)] = (int(pos[j]), int(length[j]), int(flags[j]), int(until[j]))
        peak = max(peak, len(ref))
        if step % 7 == 0:
            a = int(rng.integers(0, 1 << 20))
            b = a + int(rng.integers(1, 1 << 17))
            removed = cache.evict(a, b)
            gone = [key for key, v in ref.items() if v[0] < b and v[0] + v[1] > a]
            assert removed == len(gone)
            for key in gone:
                del ref[key]
        assert cache.entries == len(ref)
    assert cache.used_bytes == sum(v[1] for v in ref.values())
    for st in states:
        leaves = np.arange(10_000, dtype=np.int64)
        pos, length, flags, until = cache.lookup(st, leaves)
        want = np.array([ref.get((st.uid, leaf), (-1, 0, 0, 0)) for leaf in range(10_000)]).T
        assert np.array_equal(np.stack([pos, length, flags, until]), want)
    # sized by the entries it held (at most half full, grown to 4 to 8 slots per entry), not by the files
    assert cache.table[0].size <= max(MIN_SLOTS, 8 * peak)
    assert peak > MIN_SLOTS // 2                    # it did grow


def test_reserve_evicts_what_it_overwrites():
    settings_before = settings.cache_bytes
    cache = BlockCache()
    try:
        settings.cache_bytes = 1 << 16
        st = FileCacheState(100)
        at = cache.reserve(4000, np.zeros(0, np.int64), np.zeros(0, np.int64))
        cache.register(st, np.array([1, 2]), np.array([at, at + 2000]), np.array([2000, 2000]), np.zeros(2),
                       np.zeros(2))
        at2 = cache.reserve(60_000, np.zeros(0, np.int64), np.zeros(0, np.int64))
        assert at2 == 4000 and cache.entries == 2
        at3 = cache.reserve(3000, np.zeros(0, np.int64), np.zeros(0, np.int64))   # wraps: overwrites block 1 and 2
        assert at3 == 0 and cache.entries == 0
        assert (cache.lookup(st, np.array([1, 2]))[0] == -1).all()
    finally:
        settings.cache_bytes = settings_before


# ---- real and generated bigWig files -----------------------------------------------------------

def reference_items(src: FileSource, offset: int, bo: str) -> np.ndarray:
    """Leaf items of an R-tree parsed node by node with structured arrays (the old, plain reader)."""
    leaves = tree_leaves(src, offset + spec.RTREE_HEADER_SIZE, bo, spec.rtree_leaf_dtype(bo),
                         spec.rtree_child_dtype(bo), "dataOffset", "R-tree")
    if not leaves:
        return np.zeros((0, 6), np.uint64)
    it = np.concatenate([leaf.view(np.uint8) for leaf in leaves]).view(spec.rtree_leaf_dtype(bo))
    return np.stack([it[f].astype(np.uint64) for f in it.dtype.names], axis=1)


REAL = real_bigwigs() + real_bigbeds()


@pytest.mark.skipif(not REAL, reason=SHARED_REASON)
@pytest.mark.parametrize("path", REAL, ids=file_id)
def test_real_indexes_match_brute_force(path):
    """Data and zoom-level indexes of every real file answer window queries as a brute-force scan."""
    rng = np.random.default_rng(21)
    with fastwig.open(path) as bw:
        bo = bw.header.byte_order
        trees = [(bw.header.fullIndexOffset, bw._index)]
        trees += [(z.index_offset, read_rtree(bw._src, z.index_offset, bo)) for z in getattr(bw, "zooms", [])]
        sizes = list(bw.chroms.values())
        for offset, index in trees:
            if offset == 0:
                continue
            items = reference_items(bw._src, offset, bo)
            assert len(index) == len(items)
            qs = []
            for c in range(len(sizes)):
                for _ in range(6):
                    s = int(rng.integers(0, max(1, sizes[c])))
                    qs.append((c, s, s + int(rng.integers(1, 200_000))))
                qs.append((c, 0, sizes[c]))
            lo = np.array([(c << 32) + s for c, s, e in qs], np.int64)
            hi = np.array([(c << 32) + e for c, s, e in qs], np.int64)
            ptr, blocks = index.overlapping(lo, hi)
            for i, (c, s, e) in enumerate(qs):
                assert index.offset[blocks[ptr[i]:ptr[i + 1]]].astype(np.int64).tolist() == brute_overlap(items, c, s, e)


def test_index_bytes_per_block_on_a_genome_scale_file(tmp_path):
    """Every per-file table the reads need fits in 24 bytes per data block (measured from nbytes)."""
    from fastwig.writer import BedGraph, write_bigwig

    chroms = [(f"chr{i}", 50_000_000 + i) for i in range(1, 6)]
    secs = []
    for name, size in chroms:
        k = 8000
        s = np.arange(k, dtype=np.int64) * (size // k)
        secs.append(BedGraph(name, s, s + 20, np.ones(k, np.float32)))
    path = tmp_path / "many_blocks.bw"
    write_bigwig(path, chroms, secs, items_per_block=1, zoom_levels=0, compress_level=1)
    with fastwig.open(path) as bw:
        n = len(bw._index)
        assert n == 40_000
        assert bw.index_nbytes == bw._index.nbytes
        assert bw.index_nbytes / n <= 24
        # the cache state adds nothing per block of the file: its table is sized by the cache
        assert not [v for v in vars(bw._cache_state).values() if isinstance(v, np.ndarray)]
        # and the arrays are written once, at open
        assert not any(a.flags.writeable for a in bw._index.arrays)
        size = bw.chroms["chr3"]
        step = size // 8000
        starts = np.arange(0, 40_000_000, 999_983, dtype=np.int64)
        got = fastwig.read_windows([bw], "chr3", starts, 1000, missing=np.nan)[:, 0]
        pos = starts[:, None] + np.arange(1000)
        want = np.where(pos % step < 20, 1.0, np.nan).astype(np.float32)
        assert np.array_equal(got, want, equal_nan=True)


# ---- the index cache the user switches on --------------------------------------------------------

@pytest.fixture
def small_bigwig(tmp_path):
    from fastwig.writer import BedGraph, write_bigwig

    s = np.arange(0, 500_000, 100, dtype=np.int64)
    path = tmp_path / "small.bw"
    write_bigwig(path, [("chr1", 600_000), ("chr2", 1000)], [BedGraph("chr1", s, s + 50, (s % 7).astype(np.float32))],
                 items_per_block=16, zoom_levels=1)
    return path


@pytest.fixture
def index_cache(tmp_path, monkeypatch):
    folder = tmp_path / "index-cache"
    monkeypatch.setattr(settings, "index_cache_dir", str(folder))
    return folder


def test_index_cache_is_off_unless_named(monkeypatch):
    from fastwig.config import Settings

    monkeypatch.delenv("FASTWIG_INDEX_CACHE", raising=False)
    assert Settings().index_cache_dir is None
    monkeypatch.setenv("FASTWIG_INDEX_CACHE", "/some/where")
    assert Settings().index_cache_dir == "/some/where"


def test_index_cache_serves_the_same_index_mapped(small_bigwig, index_cache):
    first = fastwig.open(small_bigwig)
    entries = sorted(index_cache.glob("*.fwidx"))
    assert len(entries) == 1
    second = fastwig.open(small_bigwig)
    assert isinstance(second._index.start.base, np.memmap)          # mapped, not parsed
    for a, b in zip((*first._index.arrays, first._index.size), (*second._index.arrays, second._index.size)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert second._index.file_order == first._index.file_order
    starts = np.arange(-500, 499_000, 9_973)
    assert np.array_equal(fastwig.read_windows([first], "chr1", starts, 777),
                          fastwig.read_windows([second], "chr1", starts, 777), equal_nan=True)
    assert np.array_equal(first.stats("chr1", 0, 400_000, bins=8), second.stats("chr1", 0, 400_000, bins=8),
                          equal_nan=True)
    assert len(list(index_cache.glob("*.fwidx"))) >= 2          # the zoom level's index is kept too


def test_index_cache_misses_a_changed_file_and_ignores_a_corrupt_entry(small_bigwig, index_cache):
    fastwig.open(small_bigwig)
    (entry,) = index_cache.glob("*.fwidx")
    # a rewritten file (new mtime) gets a new entry
    st = small_bigwig.stat()
    os.utime(small_bigwig, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fastwig.open(small_bigwig)
    assert len(list(index_cache.glob("*.fwidx"))) == 2
    # a damaged entry is parsed again and replaced
    for new in index_cache.glob("*.fwidx"):
        raw = bytearray(new.read_bytes())
        raw[100:140] = b"x" * 40
        new.write_bytes(bytes(raw))
    bw = fastwig.open(small_bigwig)
    assert not isinstance(bw._index.start.base, np.memmap)
    again = fastwig.open(small_bigwig)
    assert isinstance(again._index.start.base, np.memmap)
    assert np.array_equal(again._index.offset, bw._index.offset)


def test_index_cache_in_a_folder_that_cannot_be_written_warns_once(small_bigwig, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(settings, "index_cache_dir", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot be written"):
        bw = fastwig.open(small_bigwig)
    assert len(bw._index) > 0


def test_block_size_of_one_reads_and_ends(tmp_path):
    """A header blockSize of 1 (one item per node) used to loop forever while sizing the first read."""
    rng = np.random.default_rng(6)
    items = gen_items(rng, 50, "sorted")
    path, at = write_tree(tmp_path / "one.bin", items, block_size=1)
    index = read_rtree(FileSource(path), at, "<")
    assert sorted(index.offset.tolist()) == sorted(items[:, 4].tolist())


def test_reserve_forgets_exactly_what_it_overwrites_from_the_log():
    """The pipeline's pattern (reserve, then register blocks in order inside the reservation), with
    wraps and re-cached blocks: after every reservation no entry overlaps it, every older entry that
    lies elsewhere (and not in the tail a wrap abandons) is still there, and the log-driven eviction
    agrees with a pass over the table (a second cache that scans)."""
    settings_before = settings.cache_bytes
    rng = np.random.default_rng(29)
    try:
        settings.cache_bytes = 1 << 18
        fast, slow = BlockCache(), BlockCache()
        fast._ensure()
        slow._ensure()
        slow._ordered = False                      # reservations scan the whole table
        st = FileCacheState(5_000)
        ref: dict[int, tuple[int, int]] = {}       # leaf -> (pos, length)
        wraps = 0
        for step in range(400):
            nbytes = int(rng.integers(4, 40_000)) & ~3
            head = fast.head
            at = fast.reserve(nbytes, np.zeros(0, np.int64), np.zeros(0, np.int64))
            assert at == slow.reserve(nbytes, np.zeros(0, np.int64), np.zeros(0, np.int64))
            if at < head:
                wraps += 1
                ref = {k: v for k, v in ref.items() if v[0] < head}            # the abandoned tail
            ref = {k: v for k, v in ref.items() if not (v[0] < at + nbytes and v[0] + v[1] > at)}
            for c in (fast, slow):
                pos, length, _, _ = c.lookup(st, np.arange(5_000, dtype=np.int64))
                live = pos >= 0
                assert not ((pos[live] < at + nbytes) & (pos[live] + length[live] > at)).any()
            pos, length, _, _ = fast.lookup(st, np.arange(5_000, dtype=np.int64))
            assert {int(k): (int(pos[k]), int(length[k])) for k in np.flatnonzero(pos >= 0)} == ref
            # blocks in order inside the reservation, some of them cached before (re-registered)
            k = int(rng.integers(1, 12))
            cuts = np.sort(rng.choice(np.arange(4, max(nbytes, 8), 4), size=min(k, max(nbytes // 4 - 1, 1)),
                                      replace=False))
            starts = np.concatenate(([0], cuts))[:-1] + at
            lengths = np.diff(np.concatenate(([0], cuts))) if cuts.size else np.array([nbytes])
            starts, lengths = starts[: lengths.size], lengths[: starts.size]
            leaves = rng.choice(5_000, starts.size, replace=False).astype(np.int64)
            for c in (fast, slow):
                c.register(st, leaves, starts, lengths, np.zeros(starts.size), np.zeros(starts.size))
            for leaf, p, n in zip(leaves.tolist(), starts.tolist(), lengths.tolist()):
                ref[leaf] = (p, n)
            assert fast._ordered
            assert fast.entries == len(ref)
        assert wraps > 10
    finally:
        settings.cache_bytes = settings_before


def test_log_of_registrations_stays_sized_by_the_live_blocks():
    """Files of tiny blocks: the table's cap forgets blocks the ring still holds; their records leave
    the log when it fills, so it stays within a few times the most blocks the table may hold."""
    settings_before = settings.cache_bytes
    try:
        settings.cache_bytes = 1 << 20
        cache = BlockCache()
        cache._ensure()
        st = FileCacheState(1 << 30)
        leaf = 0
        for _ in range(300):
            at = cache.reserve(4096, np.zeros(0, np.int64), np.zeros(0, np.int64))
            pos = at + 16 * np.arange(256)
            cache.register(st, np.arange(leaf, leaf + 256), pos, np.full(256, 16), np.zeros(256), np.zeros(256))
            leaf += 256
            assert cache.entries <= cache.max_entries
        assert cache._ordered
        assert cache._log_key.size <= 4 * (cache.max_entries + 256)
        pos, _, _, _ = cache.lookup(st, np.arange(leaf - 256, leaf))
        assert (pos >= 0).all()                     # the newest blocks are cached
    finally:
        settings.cache_bytes = settings_before
