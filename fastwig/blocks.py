"""Which data blocks a batch needs, and their canonical inflated bytes (from the cache or the file).

The batch pipeline, host side:

1. :func:`plan_rows` finds, for each (window, track) row, the blocks that overlap the window, in
   file order (CSR arrays), and the unique blocks of the batch with the furthest coordinate any
   window needs from each (for early exit).
2. :func:`fetch_blocks` looks the blocks up in the cache, gathers the compressed bytes of the misses
   out of the files' memory maps into one packed buffer, inflates and scans them (kernels), and
   appends them to the cache ring.
3. :func:`read_rows` runs the expansion kernel over the rows.

Every step works on flat numpy arrays; nothing creates a Python object per block or per window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._kernels import decode, expand, inflate, pack, plan, status

from . import backend
from .cache import UNTIL_COMPLETE, cache
from .config import resolve_threads, settings
from .errors import FormatError
from .io import fd_pool


@dataclass
class BlockSet:
    """Canonical blocks in one arena: block i is ``arena[lo[i]:lo[i]+length[i]]`` with scan ``flags[i]``."""

    arena: np.ndarray
    lo: np.ndarray
    length: np.ndarray
    flags: np.ndarray

    def views(self):
        """The arena as uint8, uint32 and float32 (the kernels read fields through the wider views)."""
        a = self.arena[: self.arena.size & ~3]
        return a, a.view(np.uint32), a.view(np.float32)


@dataclass
class RowPlan:
    """Blocks of a batch of (window, track) items.

    Items are numbered track-major, ``item = track * n + window``; item i fills output row
    ``window * n_tracks + track`` of the (n, n_tracks, width) result.

    Attributes
    ----------
    bptr, blist : int64 CSR over items: item i reads needed blocks ``blist[bptr[i]:bptr[i+1]]``
        (positions in the arrays below), in file order
    track, leaf, stop : int64 (m,), the batch's unique needed blocks: track number, leaf in that
        track's block index, and the coordinate before which the items need its records (-1: all)
    lo, length, flags : int64 (m,), cache position of each block (-1: not cached), length, flags
    """

    bptr: np.ndarray
    blist: np.ndarray
    track: np.ndarray
    leaf: np.ndarray
    stop: np.ndarray
    lo: np.ndarray
    length: np.ndarray
    flags: np.ndarray


def plan_rows(bws, chrom_ids: np.ndarray, starts: np.ndarray, width: int, use_cache: bool = True,
              threads: int = 1) -> RowPlan:
    """Find the blocks of every (window, track) item, and which of them the cache holds.

    Parameters
    ----------
    bws : sequence of BigWig
    chrom_ids : int64 (n, n_tracks), each track's chromId of each window (-1: not in that file)
    starts : int64 (n,), window starts
    width : int
    use_cache : bool
        Look blocks up in the cache (the caller holds ``cache.lock``); False reports every block
        as a miss.
    threads : int
        Tracks are planned in parallel when > 1 (each track's planner uses its own scratch, so a
        track list that names one file twice is planned serially).
    """
    n, n_tracks = chrom_ids.shape
    early = bool(settings.early_exit)
    cids_by_track = np.ascontiguousarray(chrom_ids.T)
    results: list = [None] * n_tracks

    def plan_tracks(t0: int, t1: int) -> None:
        for t in range(t0, t1):
            ix, st = bws[t]._index, bws[t]._cache_state
            results[t] = plan.plan_track(ix.table, ix.file_order, cids_by_track[t], starts, width, early, st.table)

    distinct = len({id(bw) for bw in bws}) == n_tracks
    backend.run_items(plan_tracks, n_tracks, threads if distinct else 1)
    parts = []
    base_items = 0
    base_uniq = 0
    for t, (ptr, blist, uniq, stop, lo, length, flags) in enumerate(results):
        if not use_cache:
            lo[:] = -1
        parts.append((ptr[1:] + base_items, blist + base_uniq, np.full(uniq.size, t, np.int64), uniq, stop,
                      lo, length, flags))
        base_items += int(ptr[-1])
        base_uniq += uniq.size

    def cat(k: int) -> np.ndarray:
        return np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64)

    bptr = np.concatenate(([0], cat(0))).astype(np.int64)
    return RowPlan(bptr, cat(1), cat(2), cat(3), cat(4), cat(5), cat(6), cat(7))


MAX_DEFLATE_RATIO = 1032     # deflate's largest expansion: a 258-byte match per 2 bits

_scratch: dict[str, np.ndarray] = {}


def _scratch_buf(name: str, nbytes: int) -> np.ndarray:
    """A reusable uint8 buffer of at least ``nbytes`` (callers hold the cache lock)."""
    buf = _scratch.get(name)
    if buf is None or buf.size < nbytes:
        # grow by half again, so that batches of slowly growing size do not each pay for fresh pages
        buf = np.empty(max(nbytes + nbytes // 2, 1 << 20), dtype=np.uint8)
        _scratch[name] = buf
    return buf


def _align4(x: np.ndarray) -> np.ndarray:
    return (x + 3) & ~np.int64(3)


def _exclusive_cumsum(sizes: np.ndarray) -> np.ndarray:
    """int64 start offsets of consecutive ranges of ``sizes`` bytes (0, s0, s0+s1, ...)."""
    out = np.zeros(sizes.size, dtype=np.int64)
    np.cumsum(sizes[:-1], out=out[1:])
    return out


def fetch_blocks(bws, track: np.ndarray, leaf: np.ndarray, stop: np.ndarray, lo: np.ndarray,
                 length: np.ndarray, flags: np.ndarray, threads: int) -> BlockSet:
    """Canonical inflated bytes of the blocks ``(track[i], leaf[i])``, each complete up to ``stop[i]``.

    ``track`` must be sorted (``plan_rows`` emits blocks track by track).  ``lo``, ``length`` and
    ``flags`` hold the cache hits found by the plan (``lo`` -1 for a miss) and are completed in
    place.  The caller holds ``cache.lock`` until it has finished reading the returned arena.
    """
    cache._ensure()
    miss = np.flatnonzero(lo < 0)
    if miss.size == 0:
        return BlockSet(cache.buf, lo, length, flags)

    out_lo, out_len, out_flags, scratch = _inflate_misses(bws, track[miss], leaf[miss], stop[miss], threads)
    new_len = _align4(out_len)
    total = int(new_len.sum())
    hit_idx = np.flatnonzero(lo >= 0)
    at = cache.reserve(total, lo[hit_idx], lo[hit_idx] + length[hit_idx]) if cache.capacity else -1
    if at >= 0:
        arena = cache.buf
        dst = at + _exclusive_cumsum(new_len)
        backend.run_items(pack.copy_ranges, miss.size, threads, scratch, out_lo, out_len, arena, dst,
                          min_chunk=16)
        until = np.where((out_flags & decode.COMPLETE) != 0, UNTIL_COMPLETE, stop[miss])
        mt, ml = track[miss], leaf[miss]
        for t in np.unique(mt):
            sel = mt == t
            cache.register(bws[t]._cache_state, ml[sel], dst[sel], out_len[sel], out_flags[sel], until[sel])
    else:
        # the batch does not fit in the ring: work in a private arena holding hits and misses
        hit_len = _align4(length[hit_idx])
        arena = np.empty(total + int(hit_len.sum()) + 4, dtype=np.uint8)
        hit_dst = total + _exclusive_cumsum(hit_len)
        backend.run_items(pack.copy_ranges, hit_idx.size, threads, cache.buf, lo[hit_idx], length[hit_idx],
                          arena, hit_dst, min_chunk=16)
        lo[hit_idx] = hit_dst
        dst = _exclusive_cumsum(new_len)
        backend.run_items(pack.copy_ranges, miss.size, threads, scratch, out_lo, out_len, arena, dst,
                          min_chunk=16)
    lo[miss] = dst
    length[miss] = out_len
    flags[miss] = out_flags
    return BlockSet(arena, lo, length, flags)


@dataclass
class BlockLayout:
    """Where the needed blocks lie in their files and how much room each inflates into.

    Attributes (all (m,), one per needed block)
    ----------
    file_off, comp_size : int64, the block's bytes in its file
    out_cap : int64, bytes reserved for the inflated block: ``uncompressBufSize``, bounded by
        deflate's largest expansion (a hostile header must not size the buffer); a stored block's size
    compressed : bool, the file compresses its blocks (``uncompressBufSize > 0``)
    swap : uint8, the file is big-endian
    """

    file_off: np.ndarray
    comp_size: np.ndarray
    out_cap: np.ndarray
    compressed: np.ndarray
    swap: np.ndarray


def block_layout(bws, track: np.ndarray, leaf: np.ndarray) -> BlockLayout:
    """:class:`BlockLayout` of blocks ``(track[i], leaf[i])``, ``track`` sorted (shared by CPU and GPU paths)."""
    m = leaf.size
    lay = BlockLayout(np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64),
                      np.zeros(m, bool), np.zeros(m, np.uint8))
    bounds = np.searchsorted(track, np.arange(len(bws) + 1))
    for t in np.unique(track):
        a, b = bounds[t], bounds[t + 1]
        bw = bws[t]
        lay.file_off[a:b] = bw._index.offset[leaf[a:b]]
        lay.comp_size[a:b] = bw._index.size[leaf[a:b]]
        ubs = bw.header.uncompressBufSize
        lay.compressed[a:b] = ubs > 0
        lay.out_cap[a:b] = (np.minimum(ubs, MAX_DEFLATE_RATIO * lay.comp_size[a:b] + 64) if ubs > 0
                            else lay.comp_size[a:b])
        lay.swap[a:b] = bw.header.byte_order == ">"
    return lay


def _inflate_misses(bws, track, leaf, stop, threads):
    """Read, inflate and scan blocks; returns (lo, length, flags, scratch) of canonical blocks."""
    m = leaf.size
    lay = block_layout(bws, track, leaf)
    file_off, comp_size, out_cap, compressed, swap = lay.file_off, lay.comp_size, lay.out_cap, lay.compressed, lay.swap
    bounds = np.searchsorted(track, np.arange(len(bws) + 1))
    tracks = np.unique(track)
    out_lo = _exclusive_cumsum(_align4(out_cap))
    out = _scratch_buf("out", int(out_lo[-1] + out_cap[-1]) + 8 if m else 8)
    # compressed bytes: into the packed buffer; stored (uncompressed) blocks: straight to the output
    packed_lo = _exclusive_cumsum(comp_size)
    packed = _scratch_buf("packed", int(comp_size.sum()) + 8)
    dest = np.where(compressed, packed_lo, out_lo)
    got = np.zeros(m, dtype=np.int64)
    for t in tracks:
        a, b = bounds[t], bounds[t + 1]
        target = packed if compressed[a] else out
        fd = fd_pool.get(bws[t].path, bws[t]._src.ident)   # refuses a file replaced since it was opened
        backend.run_items(pack.pread_ranges, b - a, threads, fd, file_off[a:b], comp_size[a:b], target, dest[a:b],
                          got[a:b], min_chunk=16)
    short = np.flatnonzero(got != comp_size)
    if short.size:
        i = int(short[0])
        raise FormatError(f"{bws[int(track[i])].path}: data block at offset {int(file_off[i])} "
                          f"({int(comp_size[i])} bytes) could not be read: the file changed or is truncated")
    n_out = np.where(compressed, 0, comp_size)
    cut = np.zeros(m, dtype=np.uint8)   # inflation stopped early: the last section may be cut
    z = np.flatnonzero(compressed)
    if z.size:
        result = np.zeros(z.size, dtype=np.int64)
        for flag in (0, 1):  # the inflate driver takes one byte order per call
            sel = z[swap[z] == flag]
            if sel.size == 0:
                continue
            res = np.zeros(sel.size, dtype=np.int64)
            backend.run_items(_inflate_driver, sel.size, threads, packed, packed_lo[sel],
                              packed_lo[sel] + comp_size[sel], out, out_lo[sel], out_lo[sel] + out_cap[sel],
                              stop[sel], bool(flag), res)
            result[np.searchsorted(z, sel)] = res
        _raise_on_error(bws, track[z], file_off[z], comp_size[z], result)
        cut[z] = result >= status.EARLY_STOP
        n_out[z] = result & (status.EARLY_STOP - 1)
    u32 = out[: out.size & ~3].view(np.uint32)
    scan = np.zeros(m, dtype=np.int64)
    backend.run_items(decode.scan_batch_cpu, m, threads, out, u32, out_lo, n_out, swap, cut, scan, min_chunk=8)
    _raise_on_error(bws, track, file_off, comp_size, scan)
    return out_lo, n_out, scan, out


def _inflate_driver(src, src_lo, src_hi, dst, dst_lo, dst_hi, stop, swap, result, i0, i1):
    work = np.empty(inflate.INFLATE_WORK_SIZE, dtype=np.int32)
    inflate.inflate_batch_cpu(src, src_lo, src_hi, dst, dst_lo, dst_hi, stop, swap, work, i0, i1, result)


def _raise_on_error(bws, track, file_off, comp_size, result) -> None:
    bad = np.flatnonzero(result < 0)
    if bad.size:
        i = int(bad[0])
        raise FormatError(f"{bws[int(track[i])].path}: data block at offset {int(file_off[i])} "
                          f"({int(comp_size[i])} bytes): {status.message(int(result[i]))}")


def read_rows(bws, chrom_ids: np.ndarray, chrom_lens: np.ndarray, starts: np.ndarray, width: int,
              out: np.ndarray, missing: float, oob: float, threads: int | None) -> None:
    """Fill ``out`` (float32, (n * n_tracks, width)) with each (window, track) row's per-base values.

    Parameters
    ----------
    chrom_ids, chrom_lens : int64 (n, n_tracks)
    starts : int64 (n,)
    out : float32 (n * n_tracks, width), C-contiguous, written in place
    """
    threads = resolve_threads(threads)
    n, n_tracks = chrom_ids.shape
    with cache.lock:
        cache._ensure()
        plan = plan_rows(bws, chrom_ids, starts, width, use_cache=cache.capacity > 0, threads=threads)
        blocks = fetch_blocks(bws, plan.track, plan.leaf, plan.stop, plan.lo, plan.length, plan.flags, threads)
        buf, u32, f32 = blocks.views()
        backend.run_items(expand.expand_batch_cpu, n * n_tracks, threads, buf, u32, f32, blocks.lo,
                          blocks.length, blocks.flags, plan.bptr, plan.blist, chrom_ids.T.ravel(), starts,
                          np.int64(width), chrom_lens.T.ravel(), np.float32(missing), np.float32(oob), out.reshape(-1),
                          min_chunk=8)


def _fork_locks() -> list:
    """Locks a read holds, in the order it takes them: held across ``fork()`` so that a child forked
    while another thread reads (or compiles) does not inherit one locked by a thread it lacks."""
    from numba.core.compiler_lock import global_compiler_lock
    return [cache.lock, backend._pool_lock, global_compiler_lock._lock]


def _before_fork() -> None:
    for lock in _fork_locks():
        lock.acquire()


def _after_fork() -> None:
    for lock in reversed(_fork_locks()):
        lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
