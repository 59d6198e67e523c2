"""Batched window reads on the GPU: what ``fastwig.read_windows(..., device="cuda")`` runs.

The host plans the batch exactly as the CPU path does (:func:`fastwig.batch.prepare`,
:func:`fastwig.blocks.plan_rows`), then hands the device everything it needs in one copy:

1. **Gather** (host, vectorised): one page-locked buffer holds an int64 section (per-block source and
   output ranges, early-exit coordinates and mode bits; the items' block lists; chromosome ids and
   lengths; window starts; the error slot) followed by the compressed bytes of every block the batch
   needs, copied out of the files' memory maps by the njit gather :func:`kernels.pack.copy_ranges`.
2. **One host-to-device copy** of that buffer, asynchronous on the batch's stream.
3. **Kernels** (``kernels/cuda.py``), each the GPU build of the same per-item function as its CPU
   twin: inflate (one thread per zlib stream, Huffman tables in ``cuda.local.array``; blocks of
   uncompressed files are copied), scan (one thread per block: check sections, canonical byte
   order), expand (one thread per (window, track) item, straight into the output, or into a per-base
   scratch that the reduce kernel (one thread per bin) turns into bins).
   Launch sizes come from ``settings.gpu_threads_per_block`` / ``gpu_max_blocks`` at call time
   (inflate and expand use blocks of at most one warp, :data:`SERIAL_MAX_THREADS_PER_BLOCK`).
4. **One synchronisation** at the end of the batch: an 8-byte copy of the error slot, which the scan
   kernel lowers atomically to the first failing block.  Only when it names one are the statuses
   fetched, to raise the same :class:`~fastwig.errors.FormatError` as the CPU path.

No block cache on the device in this first version: every batch inflates all the blocks it needs
(early exit still stops each stream once it passes the last window needing it).  Host and device
scratch buffers are kept between calls and grow to the largest batch seen (:func:`release_buffers`
frees them); the output is a fresh device array per call (or the caller's ``out``).

Importing this module touches nothing CUDA: ``numba.cuda`` is imported and the driver initialised on
the first call, through :func:`kernels.cuda.probe`.  Every ``numba.cuda`` use lives in
``kernels/cuda.py``.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from . import backend
from ._kernels import pack
from .batch import STATS, prepare
from .blocks import _align4, _exclusive_cumsum, _raise_on_error, block_layout, plan_rows
from .cache import cache
from .config import resolve_threads, settings
from .errors import CudaUnavailable, RangeError

_lock = threading.Lock()             # the scratch buffers below serve one batch at a time
_pinned: dict[str, np.ndarray] = {}
_device: dict[tuple[int, str], object] = {}
_streams: dict[int, object] = {}
_probed: list = []                   # [reason or None] once probed

_DEVICE_RE = re.compile(r"^cuda(?::(\d+))?$")

# The inflate and expand kernels give each thread a long serial job (a whole zlib stream, a whole
# window) and a batch has only thousands of them: blocks of at most one warp spread those threads over
# every SM instead of packing them into a few (2,048 streams in 128-thread blocks would use 16 SMs of an
# H100's 132).  Not yet measured on a device: see profiling/bench_gpu.py.
SERIAL_MAX_THREADS_PER_BLOCK = 32


def _kc():
    """``kernels.cuda``, once CUDA is known to be usable; raises CudaUnavailable otherwise."""
    from ._kernels import cuda_module
    kc = cuda_module()

    if not _probed:
        _probed.append(kc.probe())
    if _probed[0] is not None:
        raise CudaUnavailable(f"device='cuda' was asked for, but CUDA is not usable here: {_probed[0]}. "
                              "Use device='cpu' (the njit twins give identical results).")
    return kc


def _parse_device(device) -> int | None:
    m = _DEVICE_RE.match(str(device))
    if m is None:
        raise RangeError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return None if m.group(1) is None else int(m.group(1))


def is_available() -> bool:
    """Whether ``device="cuda"`` can run here (imports numba.cuda and initialises the driver)."""
    try:
        _kc()
    except CudaUnavailable:
        return False
    return True


def release_buffers() -> None:
    """Free the host (page-locked) and device scratch buffers kept between batches."""
    with _lock:
        _pinned.clear()
        _device.clear()


def _host_buffer(kc, name: str, nbytes: int) -> np.ndarray:
    buf = _pinned.get(name)
    if buf is None or buf.size < nbytes:
        buf = kc.pinned_empty(max(int(nbytes * 1.25), 1 << 16))
        _pinned[name] = buf
    return buf


def _device_buffer(kc, dev_id: int, name: str, nbytes: int):
    key = (dev_id, name)
    buf = _device.get(key)
    if buf is None or buf.shape[0] < nbytes:
        _device.pop(key, None)
        buf = kc.device_empty(max(int(nbytes * 1.25), 1 << 16), np.uint8)
        _device[key] = buf
    return buf


class _Clock:
    """Per-stage times of one batch, only when the caller asked for them.

    Host stages are timed with ``perf_counter``.  Device stages are timed with CUDA events recorded on
    the batch's stream (no synchronisation until the end); under the simulator, whose events carry no
    time, the clock synchronises after each stage instead.
    """

    def __init__(self, kc, stream, out: dict | None):
        self.kc, self.stream, self.out = kc, stream, out
        self.events = out is not None and not kc.is_simulator()
        self.marks: list = []
        self.t = time.perf_counter()

    def host(self, name: str) -> None:
        if self.out is not None:
            now = time.perf_counter()
            self.out[name] = now - self.t
            self.t = now

    def device(self, name: str) -> None:
        """End of device stage ``name`` (its start: the previous mark)."""
        if self.out is None:
            return
        if self.events:
            ev = self.kc.new_event()
            self.kc.record(ev, self.stream)
            self.marks.append((name, ev))
        else:
            self.kc.synchronize(self.stream)
            self.host(name)

    def start_device(self) -> None:
        if self.out is not None and self.events:
            ev = self.kc.new_event()
            self.kc.record(ev, self.stream)
            self.marks.append((None, ev))

    def finish(self) -> None:
        """After the final synchronisation: turn the events into seconds."""
        if self.out is None:
            return
        for (_, a), (name, b) in zip(self.marks, self.marks[1:]):
            self.out[name] = self.kc.elapsed_ms(a, b) / 1e3


def read_windows_gpu(tracks, chroms, starts, width, *, bin_size: int = 1, stat: str = "mean",
                     missing: float = 0.0, oob: float | None = None, covered_only: bool = False, out=None,
                     device: str = "cuda", threads: int | None = None, stage_times: dict | None = None):
    """Read a batch of windows from many bigWig tracks on the GPU (``read_windows(..., device="cuda")``).

    Same arguments, checks and values as :func:`fastwig.read_windows` on the CPU, bit for bit.

    Parameters
    ----------
    tracks, chroms, starts, width, bin_size, stat, missing, oob, covered_only
        As :func:`fastwig.read_windows`.
    out : device array, optional
        float32 (n, len(tracks), width // bin_size), C-contiguous, on the GPU: a numba device array
        or anything with ``__cuda_array_interface__`` (a torch CUDA tensor).  Written in place and
        returned as given.
    device : str
        ``"cuda"`` (the current device) or ``"cuda:N"``.
    threads : int, optional
        Host threads gathering the compressed bytes (default: the ``threads`` setting).
    stage_times : dict, optional
        Profiling: filled with the seconds each stage took (host: ``prepare``, ``plan``, ``gather``;
        device: ``h2d``, ``inflate``, ``scan``, ``expand``, ``reduce``; ``sync``, ``total``) and the
        batch's ``blocks``, ``compressed_bytes`` and ``inflated_bytes``.  Costs an extra copy of the
        inflate statuses; leave it None in production.

    Returns
    -------
    device array
        ``out``, or a new numba device array, float32 (n, len(tracks), width // bin_size) on the GPU:
        ``torch.as_tensor(x, device="cuda")`` shares its memory.  The kernels have finished when this
        returns.

    Raises
    ------
    CudaUnavailable
        numba.cuda finds no usable device (or numba-cuda is not installed).
    RangeError, FormatError, ChromNotFound
        As the CPU path.
    """
    index = _parse_device(device)
    kc = _kc()
    t0 = time.perf_counter()
    with _lock, kc.select_device(index):
        return _read(kc, tracks, chroms, starts, width, bin_size, stat, missing, oob, covered_only, out,
                     threads, stage_times, t0)


def _check_out(kc, out, shape):
    dev = kc.as_device_array(out)
    if dev is None:
        raise RangeError("with device='cuda', out must be a CUDA device array (numba device array or an "
                         f"object with __cuda_array_interface__, e.g. a torch CUDA tensor), got {type(out)}")
    if tuple(dev.shape) != shape or np.dtype(dev.dtype) != np.float32 or not dev.is_c_contiguous():
        raise RangeError(f"out must be a C-contiguous float32 array of shape {shape}")
    return dev


def _read(kc, tracks, chroms, starts, width, bin_size, stat, missing, oob, covered_only, out, threads,
          stage_times, t0):
    dev_id = kc.current_device_id()
    stream = _streams.get(dev_id)
    if stream is None:
        stream = _streams[dev_id] = kc.new_stream()
    clock = _Clock(kc, stream, stage_times)
    clock.t = t0

    bws, starts, chrom_ids, chrom_lens, nbins = prepare(tracks, chroms, starts, width, bin_size, stat, None)
    width = int(width)
    bin_size = int(bin_size)
    n, n_tracks = chrom_ids.shape
    shape = (n, n_tracks, nbins)
    result_obj = out
    out_dev = kc.device_empty(shape, np.float32) if out is None else _check_out(kc, out, shape)
    if result_obj is None:
        result_obj = out_dev
    missing = np.float32(missing)
    if n == 0 or n_tracks == 0:
        return result_obj
    threads = resolve_threads(threads)
    clock.host("prepare")

    # --- plan: the blocks of every (window, track) item (track-major items, as the CPU path) --------
    with cache.lock:  # plan_track borrows each file's scratch marks
        plan = plan_rows(bws, chrom_ids, starts, width, use_cache=False)
    m = plan.leaf.size
    rows = n * n_tracks
    lay = block_layout(bws, plan.track, plan.leaf)
    file_off, comp_size, out_cap = lay.file_off, lay.comp_size, lay.out_cap
    mode = lay.swap.astype(np.int64) * kc.MODE_SWAP + (~lay.compressed).astype(np.int64) * kc.MODE_RAW
    bounds = np.searchsorted(plan.track, np.arange(n_tracks + 1))
    src_lo = _exclusive_cumsum(comp_size)
    dst_lo = _exclusive_cumsum(_align4(out_cap))
    comp_total = int(comp_size.sum())
    arena_bytes = ((int(dst_lo[-1] + out_cap[-1]) if m else 0) + 8) & ~7
    clock.host("plan")

    # --- gather: int64 section + compressed bytes in one page-locked buffer ----------------------
    blist = plan.blist
    sections = (("err", 1), ("src_off", m), ("src_end", m), ("dst_off", m), ("dst_end", m), ("stop", m),
                ("mode", m), ("bptr", rows + 1), ("blist", blist.size), ("chrom", rows),
                ("chrom_len", rows), ("starts", n))
    at, layout = 0, {}
    for name, count in sections:
        layout[name] = (at, count)
        at += count
    meta_bytes = at * 8
    total = meta_bytes + comp_total
    host = _host_buffer(kc, "batch", total)
    meta = host[:meta_bytes].view(np.int64)

    def put(name, values):
        lo, count = layout[name]
        meta[lo:lo + count] = values

    put("err", kc.NO_ERROR)
    put("src_off", src_lo)
    put("src_end", src_lo + comp_size)
    put("dst_off", dst_lo)
    put("dst_end", dst_lo + out_cap)
    put("stop", plan.stop)
    put("mode", mode)
    put("bptr", plan.bptr)
    put("blist", blist)
    put("chrom", chrom_ids.T.ravel())
    put("chrom_len", chrom_lens.T.ravel())
    put("starts", starts)
    dest = meta_bytes + src_lo
    for t in range(n_tracks):
        a, b = bounds[t], bounds[t + 1]
        if a < b:
            backend.run_items(pack.copy_ranges, b - a, threads, bws[t]._src.buf, file_off[a:b], comp_size[a:b],
                              host, dest[a:b], min_chunk=16)
    clock.host("gather")

    # --- device: one copy in, four kernels, one 8-byte copy out ----------------------------------
    clock.start_device()
    src_dev = _device_buffer(kc, dev_id, "src", total)
    kc.copy_to_device(src_dev[:total], host[:total], stream)
    clock.device("h2d")

    def dev_meta(name):
        lo, count = layout[name]
        return kc.device_view(src_dev, lo * 8, count, np.int64)

    comp_dev = kc.device_view(src_dev, meta_bytes, comp_total, np.uint8)
    arena_dev = _device_buffer(kc, dev_id, "arena", arena_bytes)
    buf = kc.device_view(arena_dev, 0, arena_bytes, np.uint8)
    u32 = kc.device_view(arena_dev, 0, arena_bytes // 4, np.uint32)
    f32 = kc.device_view(arena_dev, 0, arena_bytes // 4, np.float32)
    blk_dev = _device_buffer(kc, dev_id, "blocks", 24 * m + 8)
    result = kc.device_view(blk_dev, 0, m, np.int64)
    flags = kc.device_view(blk_dev, 8 * m, m, np.int64)
    length = kc.device_view(blk_dev, 16 * m, m, np.int64)
    err = dev_meta("err")
    dst_off = dev_meta("dst_off")
    mode_dev = dev_meta("mode")
    tpb, max_blocks = int(settings.gpu_threads_per_block), int(settings.gpu_max_blocks)
    serial_tpb = min(tpb, SERIAL_MAX_THREADS_PER_BLOCK)

    kc.inflate_batch_gpu(comp_dev, dev_meta("src_off"), dev_meta("src_end"), buf, dst_off, dev_meta("dst_end"),
                         dev_meta("stop"), mode_dev, result, serial_tpb, max_blocks, stream)
    clock.device("inflate")
    kc.scan_batch_gpu(buf, u32, dst_off, result, mode_dev, flags, length, err, tpb, max_blocks, stream)
    clock.device("scan")

    binned = bin_size > 1
    if binned:
        scratch_dev = _device_buffer(kc, dev_id, "scratch", rows * width * 4)
        target = kc.device_view(scratch_dev, 0, rows * width, np.float32)
        fill = np.float32(np.nan)
        oob_value = fill if oob is None else np.float32(oob)
    else:
        target = kc.reshape(out_dev, rows * width)
        fill = missing
        oob_value = missing if oob is None else np.float32(oob)
    kc.expand_batch_gpu(buf, u32, f32, dst_off, length, flags, dev_meta("bptr"), dev_meta("blist"),
                        dev_meta("chrom"), dev_meta("starts"), width, dev_meta("chrom_len"), fill, oob_value,
                        target, serial_tpb, max_blocks, stream)
    clock.device("expand")
    if binned:
        kc.reduce_batch_gpu(kc.reshape(target, rows, width), bin_size, STATS[stat], covered_only, missing,
                            kc.reshape(out_dev, rows, nbins), tpb, max_blocks, stream)
        clock.device("reduce")

    t_wait = time.perf_counter()
    err_host = _host_buffer(kc, "err", 8)[:8].view(np.int64)
    kc.copy_to_host(err, err_host[:1], stream)
    kc.synchronize(stream)
    key = int(err_host[0])
    if stage_times is not None:
        stage_times["sync"] = time.perf_counter() - t_wait
        clock.finish()
        stage_times["blocks"] = m
        stage_times["compressed_bytes"] = comp_total
        res = kc.copy_to_host(result) if m else np.zeros(0, np.int64)
        stage_times["inflated_bytes"] = int(res[res > 0].sum())
        stage_times["total"] = time.perf_counter() - t0
    if key != kc.NO_ERROR:
        if key < m:
            i, code = key, int(kc.copy_to_host(result)[key])
        else:
            i, code = key - m, int(kc.copy_to_host(flags)[key - m])
        _raise_on_error(bws, plan.track[i:i + 1], file_off[i:i + 1], comp_size[i:i + 1], np.array([code]))
    return result_obj


__all__ = ["is_available", "read_windows_gpu", "release_buffers"]
