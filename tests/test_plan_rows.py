"""``fastwig.blocks.plan_rows`` -- every track of a batch planned in one compiled call over a typed list
of the tracks' indexes -- against the plan of each track on its own (``kernels.plan.plan_track``).

The batched planner concatenates the tracks' plans itself, in chunks of tracks on the pool, and keeps
the typed list of the last set of tracks; where the indexes do not share one numba type (read-only
arrays beside writable ones) it plans track by track.  Every way must give the same plan.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastwig
from fastwig import blocks
from fastwig._kernels import plan
from fastwig.cache import cache
from fastwig.request import make_request
from fastwig.writer import BedGraph, FixedStep, write_bigwig

CHROMS = [("chrA", 200_000), ("chrB", 120_000), ("chrC", 5_000)]


def _write(path, rng, k):
    secs = []
    for chrom, size in CHROMS[: 2 + k % 2]:          # every other file lacks chrC
        n = int(rng.integers(50, 900))
        starts = np.sort(rng.choice(size - 400, n, replace=False))
        ends = starts + rng.integers(1, 300, n)
        secs.append(BedGraph(chrom, starts, np.minimum(ends, size), rng.normal(size=n).astype(np.float32)))
    if k % 3 == 0:
        secs.append(FixedStep("chrB", start=1000, step=25, span=25, values=rng.normal(size=300).astype(np.float32)))
    write_bigwig(path, CHROMS, secs, items_per_block=int(rng.integers(4, 64)), zoom_levels=0)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    rng = np.random.default_rng(21)
    tmp = tmp_path_factory.mktemp("plan_rows")
    bws = []
    for k in range(40):
        path = tmp / f"t{k}.bw"
        _write(path, rng, k)
        bws.append(fastwig.open(path))
    yield bws
    for bw in bws:
        bw.close()


def _per_item(p, n):
    """Each item's blocks as (track, leaf, stop, cache position), in the plan's order."""
    return [[(int(p.track[b]), int(p.leaf[b]), int(p.stop[b]), int(p.lo[b])) for b in p.blist[p.bptr[i]:p.bptr[i + 1]]]
            for i in range(p.bptr.size - 1)]


def _reference(req):
    """The plan of each track on its own, laid out as plan_rows lays it out (items track-major)."""
    keys, vals = cache.table
    cids = np.ascontiguousarray(req.chrom_ids.T)
    items = []
    for t, bw in enumerate(req.tracks):
        ix = bw._index
        ptr, blist, uniq, stop, lo, _, _ = plan.plan_track(ix.arrays, ix.file_order, cids[t], req.starts, req.width,
                                                           True, keys, vals, bw._cache_state.uid)
        for w in range(req.starts.size):
            items.append([(t, int(uniq[b]), int(stop[b]), int(lo[b])) for b in blist[ptr[w]:ptr[w + 1]]])
    return items


def _request(rng, bws, n=60, width=2_000):
    names = np.array([c for c, _ in CHROMS])[rng.integers(0, 3, n)]
    starts = rng.integers(-500, 200_000, n).astype(np.int64)
    return make_request(bws, names, starts, width)


@pytest.mark.parametrize("n_tracks", [1, 8, 40])
@pytest.mark.parametrize("threads", [1, 2])
def test_plan_rows_equals_each_track_planned_alone(tracks, n_tracks, threads):
    rng = np.random.default_rng([n_tracks, threads])
    req = _request(rng, tracks[:n_tracks])
    with cache.lock:
        got = blocks.plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, threads=threads)
        assert _per_item(got, req.starts.size) == _reference(req)
        assert got.bptr[-1] == got.blist.size and got.track.size == got.leaf.size == got.flags.size
        assert (np.diff(got.track) >= 0).all()       # fetch_blocks needs the blocks sorted by track


def test_the_typed_list_is_kept_for_the_same_tracks_and_rebuilt_for_others(tracks):
    first = blocks._index_list(tracks[:8])
    assert first is not None and len(first) == 8
    assert blocks._index_list(tracks[:8]) is first
    other = blocks._index_list(tracks[1:9])
    assert other is not first and len(other) == 8
    assert blocks._index_list(tracks[:8]) is not first        # only the last set is kept


def test_indexes_of_two_numba_types_are_planned_track_by_track(tracks, monkeypatch):
    """An index of strided arrays beside contiguous ones: not one numba type, so no typed list (numba's
    would take the strided arrays and read them as contiguous: the plan would differ), and the planner
    falls back to one call per track, with the same plan."""
    rng = np.random.default_rng(5)
    req = _request(rng, tracks[:20])
    ix = tracks[3]._index
    strided = []
    for a in ix.arrays:
        b = np.empty(2 * a.size, a.dtype)[::2]
        b[:] = a
        strided.append(b)
    monkeypatch.setattr(ix, "arrays", tuple(strided))
    assert blocks._index_list(tracks[:20]) is None
    with cache.lock:
        for threads in (1, 2):
            got = blocks.plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, threads=threads)
            assert _per_item(got, req.starts.size) == _reference(req)


def test_reads_agree_whichever_way_the_plan_was_made(tracks, monkeypatch):
    rng = np.random.default_rng(9)
    chroms = np.array([c for c, _ in CHROMS[:2]])[rng.integers(0, 2, 30)]
    starts = rng.integers(0, 100_000, 30)
    want = fastwig.read_windows(tracks, chroms, starts, 1500, threads=2)
    monkeypatch.setattr(blocks, "_index_list", lambda bws: None)
    assert np.array_equal(fastwig.read_windows(tracks, chroms, starts, 1500, threads=2), want, equal_nan=True)
