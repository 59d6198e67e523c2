"""The CPU executor: a batch's stages on the njit twins, chunks of items on the thread pool.

Stages (the CUDA executor has the same ones, in :mod:`fastwig.backend.cuda`):

1. **plan** -- the blocks of every (window, track) item, and which of them the decoded-block cache
   holds (:func:`fastwig.blocks.plan_rows`);
2. **load** -- the stored bytes of the blocks the cache lacks, read with ``pread`` into one packed
   buffer (:func:`fastwig.load.read_stored`), loaded (inflated, or copied when stored raw) and
   scanned into canonical layout by the twins, each block scanned right after its load
   (:func:`kernels.decode.load_scan_cpu`), then appended to the cache ring;
3. **fill** -- per-base rows painted by :func:`kernels.expand.expand_item`, or bins reduced straight
   from records by :func:`kernels.bins.bin_item`.

The cache lock is held from plan to fill: the plan's cache positions stay valid while the fill reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels import bins, decode, expand, pack
from ..blocks import RowPlan, plan_rows
from ..cache import UNTIL_COMPLETE, cache
from ..load import align4, block_layout, check_blocks, exclusive_cumsum, read_stored
from ..request import BatchRequest
from ..pool import run_items

_scratch: dict[str, np.ndarray] = {}     # reusable buffers of the load stage (under the cache lock)


def _scratch_buf(name: str, nbytes: int) -> np.ndarray:
    """A reusable uint8 buffer of at least ``nbytes``."""
    buf = _scratch.get(name)
    if buf is None or buf.size < nbytes:
        # grow by half again, so that batches of slowly growing size do not each pay for fresh pages
        buf = np.empty(max(nbytes + nbytes // 2, 1 << 20), dtype=np.uint8)
        _scratch[name] = buf
    return buf


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


class CpuExecutor:
    """Runs a :class:`~fastwig.request.BatchRequest` on the CPU twins with ``threads`` threads."""

    device = "cpu"

    def __init__(self, threads: int):
        self.threads = threads

    def allocate(self, req: BatchRequest, out=None) -> np.ndarray:
        """The result array: ``out`` (checked) or a new float32 array of ``req.shape``."""
        if out is None:
            return np.empty(req.shape, dtype=np.float32)
        if not isinstance(out, np.ndarray) or out.shape != req.shape or out.dtype != np.float32 \
                or not out.flags.c_contiguous:
            from ..errors import RangeError
            raise RangeError(f"out must be a C-contiguous float32 array of shape {req.shape}")
        return out

    def run(self, req: BatchRequest, out: np.ndarray) -> np.ndarray:
        """All stages of one batch, into ``out`` (from :meth:`allocate`)."""
        if req.n == 0 or req.n_tracks == 0:
            return out
        with cache.lock:
            cache._ensure()
            plan = self.plan(req)
            blocks = self.load(req, plan)
            self.fill(req, plan, blocks, out)
        return out

    def plan(self, req: BatchRequest) -> RowPlan:
        return plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, use_cache=cache.capacity > 0,
                         threads=self.threads)

    def load(self, req: BatchRequest, plan: RowPlan) -> BlockSet:
        """Canonical bytes of every block of the plan: cache hits as they are, misses loaded and cached."""
        return fetch_blocks(req.tracks, plan.track, plan.leaf, plan.stop, plan.lo, plan.length, plan.flags,
                            self.threads)

    def fill(self, req: BatchRequest, plan: RowPlan, blocks: BlockSet, out: np.ndarray) -> np.ndarray | None:
        """Per-base rows or bins of every item into ``out``.  Binned: returns, per (row, part) item,
        whether it took the painted slow path (:data:`kernels.bins.PAINTED`)."""
        buf, u32, f32 = blocks.views()
        rows = req.n * req.n_tracks
        if req.bin_size == 1:
            run_items(expand.expand_batch_cpu, rows, self.threads, buf, u32, f32, blocks.lo, blocks.length,
                      blocks.flags, plan.bptr, plan.blist, req.item_chroms, req.starts, np.int64(req.width),
                      req.item_chrom_lens, req.missing, req.oob_value, out.reshape(-1), min_chunk=8)
            return None
        per_row = bins.parts_per_row(req.nbins, req.bin_size)
        painted = np.zeros(rows * per_row, dtype=np.int64)
        run_items(bins.bin_batch_cpu, rows * per_row, self.threads, buf, u32, f32, blocks.lo, blocks.length,
                  blocks.flags, plan.bptr, plan.blist, req.item_chroms, req.starts, req.item_chrom_lens,
                  np.int64(req.n_tracks), np.int64(req.bin_size), np.int64(per_row), np.int64(req.nbins),
                  np.int64(req.stat_code), req.covered_only, req.missing, req.oob_value, req.oob_covers,
                  out.reshape(-1), painted, min_chunk=4)
        return painted


# Blocks are loaded this many bytes of inflate room at a time, so that the load stage's scratch stays
# bounded whatever the batch (a 64-window Enformer batch over 8 tracks asks for ~80 MB of room).
LOAD_CHUNK_BYTES = 16 << 20


def fetch_blocks(bws, track: np.ndarray, leaf: np.ndarray, stop: np.ndarray, lo: np.ndarray, length: np.ndarray,
                 flags: np.ndarray, threads: int) -> BlockSet:
    """Canonical bytes of blocks ``(track[i], leaf[i])``, each complete up to ``stop[i]`` (-1: whole).

    ``track`` must be sorted.  ``lo``, ``length`` and ``flags`` hold the cache hits (``lo`` -1 for a
    miss) and are completed in place.  The caller holds ``cache.lock`` until it has read the arena.
    Misses are loaded in chunks of :data:`LOAD_CHUNK_BYTES` and appended to the cache ring; when the
    ring cannot hold the batch, the rest goes to a private arena with copies of the ring's blocks.
    """
    cache._ensure()
    miss = np.flatnonzero(lo < 0)
    if miss.size == 0:
        return BlockSet(cache.buf, lo, length, flags)
    lay_all = block_layout(bws, track[miss], leaf[miss])
    hit_idx = np.flatnonzero(lo >= 0)
    keep_lo, keep_hi = [lo[hit_idx]], [lo[hit_idx] + length[hit_idx]]
    private = np.zeros(lo.size, dtype=bool)
    pieces = []
    chunk = lay_all.dst_lo // LOAD_CHUNK_BYTES          # the chunk each block's room starts in
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(chunk)) + 1, [miss.size]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        sel = miss[a:b]
        lay = lay_all.take(slice(a, b))
        scratch, out_len, out_flags = _load(bws, lay, stop[sel], threads)
        new_len = align4(out_len)
        total = int(new_len.sum())
        at = -1
        if cache.capacity and not pieces:
            at = cache.reserve(total, np.concatenate(keep_lo), np.concatenate(keep_hi))
        if at >= 0:
            dst = at + exclusive_cumsum(new_len)
            run_items(pack.copy_ranges, sel.size, threads, scratch, lay.dst_lo, out_len, cache.buf, dst, min_chunk=16)
            until = np.where((out_flags & decode.COMPLETE) != 0, UNTIL_COMPLETE, stop[sel])
            for t in np.unique(lay.track):
                m = lay.track == t
                cache.register(bws[t]._cache_state, lay.leaf[m], dst[m], out_len[m], out_flags[m], until[m])
            keep_lo.append(dst)
            keep_hi.append(dst + out_len)
        else:
            # the ring cannot hold the batch: this chunk (and every later one) stays outside it
            dst = exclusive_cumsum(new_len)
            piece = np.empty(total, dtype=np.uint8)
            run_items(pack.copy_ranges, sel.size, threads, scratch, lay.dst_lo, out_len, piece, dst, min_chunk=16)
            pieces.append((sel, piece))
            private[sel] = True
        lo[sel] = dst
        length[sel] = out_len
        flags[sel] = out_flags
    if not pieces:
        return BlockSet(cache.buf, lo, length, flags)
    # one private arena: copies of the blocks in the ring, then the pieces that did not fit
    ring = np.flatnonzero(~private)
    ring_len = align4(length[ring])
    base = int(ring_len.sum())
    arena = np.empty(base + sum(p.size for _, p in pieces) + 4, dtype=np.uint8)
    dst = exclusive_cumsum(ring_len)
    run_items(pack.copy_ranges, ring.size, threads, cache.buf, lo[ring], length[ring], arena, dst, min_chunk=16)
    lo[ring] = dst
    for sel, piece in pieces:
        arena[base:base + piece.size] = piece
        lo[sel] += base
        base += piece.size
    return BlockSet(arena, lo, length, flags)


def _load(bws, lay, stop: np.ndarray, threads: int):
    """Read, load (inflate or copy) and scan the blocks of ``lay`` into the reusable scratch.

    Returns ``(scratch, length, flags)``: block i lies at ``scratch[lay.dst_lo[i]:][:length[i]]``.
    """
    packed = _scratch_buf("packed", lay.packed_bytes + 8)
    read_stored(bws, lay, packed, 0, threads)
    scratch = _scratch_buf("out", lay.arena_bytes)
    loaded = np.empty(lay.m, dtype=np.int64)
    out_flags = np.empty(lay.m, dtype=np.int64)
    out_len = np.empty(lay.m, dtype=np.int64)
    u32 = scratch[: scratch.size & ~3].view(np.uint32)
    run_items(decode.load_scan_cpu, lay.m, threads, packed, lay.src_lo, lay.src_lo + lay.comp_size, scratch, u32,
              lay.dst_lo, lay.dst_lo + lay.out_cap, stop, lay.mode, loaded, out_flags, out_len)
    check_blocks(bws, lay, loaded, out_flags)
    return scratch, out_len, out_flags
