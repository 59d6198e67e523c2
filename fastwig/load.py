"""Stored blocks, host side: where a batch's blocks lie, their bytes read into one packed buffer, and
the one rule that turns the kernels' status codes into an exception.

Shared by every executor (:mod:`fastwig.backend`): the CPU one reads into a reusable scratch buffer,
the CUDA one into page-locked memory that it then copies to the device in one transfer.  Data bytes
are read with ``pread`` through :data:`fastwig.io.fd_pool`, never through a memory map (a file that
shrinks under a map turns a read into SIGBUS), so a short read is an error naming the file.  Blocks
that lie close together in one file are read by one ``pread`` of their whole span (:func:`pack_spans`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ._kernels import inflate, pack, status
from .pool import run_items
from .errors import FormatError
from .io import fd_pool

MAX_DEFLATE_RATIO = 1032     # deflate's largest expansion: a 258-byte match per 2 bits
FILES_PER_READ = 32          # files whose descriptors one read stage holds at once (the pool keeps 64)
# Largest gap between two blocks that one read spans (the gap's bytes are read and ignored): a pread
# costs ~0.4 us plus ~0.15 ns a byte from the page cache, so two 5 KB blocks 4 KiB apart take as long
# read once, gap and all, as read twice.
READ_GAP_BYTES = 4096
# A span starts afresh at each multiple of this many bytes of its file: a long run of needed blocks
# (a dense batch) is still read by many threads, and a call per 256 KiB costs ~1% of its copy.
READ_SPAN_BYTES = 256 << 10


def align4(x: np.ndarray) -> np.ndarray:
    """Sizes rounded up to 4 bytes (blocks start 4-byte aligned: the kernels read uint32 fields)."""
    return (x + 3) & ~np.int64(3)


def exclusive_cumsum(sizes: np.ndarray) -> np.ndarray:
    """int64 start offsets of consecutive ranges of ``sizes`` bytes (0, s0, s0+s1, ...)."""
    out = np.zeros(sizes.size, dtype=np.int64)
    np.cumsum(sizes[:-1], out=out[1:])
    return out


@dataclass
class BlockLayout:
    """Where the needed blocks lie in their files, and where they go.  All arrays (m,), one per block.

    Attributes
    ----------
    track, leaf : int64, the block's track (sorted) and its leaf in that track's block index
    file_off, comp_size : int64, the block's bytes in its file
    out_cap : int64, bytes reserved for the loaded block: ``uncompressBufSize``, bounded by deflate's
        largest expansion (a hostile header must not size the buffer); a stored block's size
    mode : int64, ``kernels.inflate.MODE_SWAP`` (big-endian file) and ``MODE_RAW`` (stored
        uncompressed: copy, do not inflate) bits
    span : int64, the read that fetches the block (:func:`pack_spans`): blocks of one span are consecutive
    src_lo : int64, where the block's stored bytes go in the packed buffer (:func:`read_stored`)
    dst_lo : int64, 4-byte aligned offset of the loaded block in the arena
    """

    track: np.ndarray
    leaf: np.ndarray
    file_off: np.ndarray
    comp_size: np.ndarray
    out_cap: np.ndarray
    mode: np.ndarray
    span: np.ndarray
    src_lo: np.ndarray
    dst_lo: np.ndarray

    @property
    def m(self) -> int:
        return self.leaf.size

    @property
    def packed_bytes(self) -> int:
        """Bytes of the packed buffer of stored blocks (with the gaps inside spans)."""
        return int(self.src_lo[-1] + self.comp_size[-1]) if self.m else 0

    def spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reads: ``(first, file_off, length)``, int64 (spans,), each span's first block and its
        bytes in that block's file (they go to ``src_lo[first]`` in the packed buffer)."""
        first = np.flatnonzero(np.diff(self.span, prepend=-1))
        last = np.append(first[1:] - 1, self.m - 1)
        file_off = self.file_off[first]
        return first, file_off, self.file_off[last] + self.comp_size[last] - file_off

    def take(self, sel: slice) -> "BlockLayout":
        """The layout of blocks ``sel`` alone (spans, packed and arena offsets start afresh)."""
        track, file_off, comp_size = self.track[sel], self.file_off[sel], self.comp_size[sel]
        return BlockLayout(track, self.leaf[sel], file_off, comp_size, self.out_cap[sel], self.mode[sel],
                           *pack_spans(track, file_off, comp_size), exclusive_cumsum(align4(self.out_cap[sel])))

    @property
    def arena_bytes(self) -> int:
        """Bytes of the arena the blocks load into (with 8 bytes of slack for the wider views)."""
        return (int(self.dst_lo[-1] + self.out_cap[-1]) if self.m else 0) + 8


def block_layout(bws, track: np.ndarray, leaf: np.ndarray) -> BlockLayout:
    """:class:`BlockLayout` of blocks ``(track[i], leaf[i])``, ``track`` sorted."""
    m = leaf.size
    file_off = np.empty(m, np.int64)
    comp_size = np.empty(m, np.int64)
    out_cap = np.empty(m, np.int64)
    mode = np.zeros(m, np.int64)
    bounds = np.searchsorted(track, np.arange(len(bws) + 1))
    for t in np.unique(track):
        a, b = bounds[t], bounds[t + 1]
        bw = bws[t]
        file_off[a:b] = bw._index.offset[leaf[a:b]]
        comp_size[a:b] = bw._index.size[leaf[a:b]]
        ubs = bw.header.uncompressBufSize
        out_cap[a:b] = np.minimum(ubs, MAX_DEFLATE_RATIO * comp_size[a:b] + 64) if ubs > 0 else comp_size[a:b]
        mode[a:b] = (inflate.MODE_SWAP if bw.header.byte_order == ">" else 0) | (0 if ubs > 0 else inflate.MODE_RAW)
    return BlockLayout(track, leaf, file_off, comp_size, out_cap, mode, *pack_spans(track, file_off, comp_size),
                       exclusive_cumsum(align4(out_cap)))


def pack_spans(track: np.ndarray, file_off: np.ndarray, comp_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group blocks into reads and place their bytes in the packed buffer.

    A block joins the span of the block before it when both are of one track, it starts at most
    :data:`READ_GAP_BYTES` after that block's end (never before it: out of file order, or overlapping, it
    starts a new span) and no multiple of :data:`READ_SPAN_BYTES` lies between their starts.  Spans are
    packed one after another, each as it lies in its file, gaps included.

    Returns
    -------
    span : int64 (m,), each block's span, numbered from 0 in block order
    src_lo : int64 (m,), where each block's bytes go in the packed buffer
    """
    m = track.size
    if m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    end = file_off + comp_size
    step = file_off[1:] - end[:-1]
    new = np.ones(m, dtype=bool)
    window = file_off // READ_SPAN_BYTES
    new[1:] = (track[1:] != track[:-1]) | (step < 0) | (step > READ_GAP_BYTES) | (window[1:] != window[:-1])
    span = np.cumsum(new, dtype=np.int64) - 1
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, m - 1)
    packed_at = exclusive_cumsum(end[last] - file_off[first])
    return span, packed_at[span] + file_off - file_off[first][span]


def read_stored(bws, lay: BlockLayout, target: np.ndarray, base: int, threads: int) -> None:
    """Read every block's stored bytes into ``target[base + lay.src_lo[i]:]``, one ``pread`` a span.

    Raises
    ------
    FormatError
        A block could not be read whole (the file changed or is truncated), or the file was
        replaced since it was opened.
    """
    if lay.m == 0:
        return
    first, span_off, length = lay.spans()
    n = first.size
    got = np.zeros(n, dtype=np.int64)
    fds = np.empty(n, dtype=np.int64)
    dest = lay.src_lo[first] + base
    span_track = lay.track[first]
    bounds = np.searchsorted(span_track, np.arange(len(bws) + 1))
    tracks = np.unique(span_track)
    # one pooled read over the spans of up to FILES_PER_READ files (a wake-up of the pool per file
    # cost more than a small file's reads), holding only that many descriptors at once; a chunk of
    # the pool reads about 16 blocks, as many as when each block was its own read
    min_chunk = max(1, 16 * n // lay.m)
    for g in range(0, tracks.size, FILES_PER_READ):
        group = tracks[g:g + FILES_PER_READ]
        a, b = bounds[group[0]], bounds[group[-1] + 1]
        with contextlib.ExitStack() as leases:
            for t in group:     # a lease refuses a file replaced since it was opened
                fds[bounds[t]:bounds[t + 1]] = leases.enter_context(fd_pool.lease(bws[t].path, bws[t]._src.ident))
            run_items(pack.pread_ranges, b - a, threads, fds[a:b], span_off[a:b], length[a:b], target, dest[a:b],
                      got[a:b], min_chunk=min_chunk)
    # a span read short loses every block that does not end inside the bytes read
    short = np.flatnonzero(lay.file_off + lay.comp_size - span_off[lay.span] > got[lay.span])
    if short.size:
        i = int(short[0])
        raise FormatError(f"{bws[int(lay.track[i])].path}: data block at offset {int(lay.file_off[i])} "
                          f"({int(lay.comp_size[i])} bytes) could not be read: the file changed or is truncated")


def first_failure(loaded: np.ndarray, flags: np.ndarray) -> int:
    """The key of the batch's first failing block: ``i`` when block i failed to load, ``m + i`` when it
    loaded but failed its scan; the lowest key is the error raised (the CUDA scan kernel finds the
    same key with an atomic minimum).  -1 when every block is good."""
    m = loaded.size
    bad_load = np.flatnonzero(loaded < 0)
    if bad_load.size:
        return int(bad_load[0])
    bad_scan = np.flatnonzero(flags < 0)
    return m + int(bad_scan[0]) if bad_scan.size else -1


def raise_block_error(bws, lay: BlockLayout, key: int, code: int) -> None:
    """Raise the :class:`FormatError` of failure ``key`` (see :func:`first_failure`), status ``code``."""
    i = key if key < lay.m else key - lay.m
    raise FormatError(f"{bws[int(lay.track[i])].path}: data block at offset {int(lay.file_off[i])} "
                      f"({int(lay.comp_size[i])} bytes): {status.message(int(code))}")


def check_blocks(bws, lay: BlockLayout, loaded: np.ndarray, flags: np.ndarray) -> None:
    """Raise the error of the batch's first failing block, if any."""
    key = first_failure(loaded, flags)
    if key >= 0:
        raise_block_error(bws, lay, key, loaded[key] if key < lay.m else flags[key - lay.m])
