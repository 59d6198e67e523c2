"""The CUDA executor: the stages of the CPU executor (plan, load, fill) on the GPU twins.

The host plans the batch exactly as the CPU executor does (:func:`fastwig.blocks.plan_rows`) and lays
out its blocks with the same :func:`fastwig.load.block_layout`, then hands the device everything it
needs in one copy:

1. **Gather** (host): one page-locked buffer holds an int64 section (per-block source and output
   ranges, early-exit coordinates and mode bits; the items' block lists; chromosome ids and lengths;
   window starts; the error slot) followed by the stored bytes of every block the batch needs, read
   with ``pread`` by :func:`fastwig.load.read_stored` (never through a memory map).
2. **One host-to-device copy** of that buffer, asynchronous on the batch's stream.
3. **Kernels** (``kernels/cuda.py``), each the GPU build of the same per-item function as its CPU
   twin: load (:func:`kernels.inflate.load_block`: one thread per zlib stream, Huffman tables in
   ``cuda.local.array``; blocks of uncompressed files are copied), scan
   (:func:`kernels.decode.scan_loaded`: one thread per block), then fill: expand (one thread per
   (window, track) row, straight into the output) or bins (:func:`kernels.bins.bin_item`: one thread
   per (row, part) item, reduced straight from records -- no per-base scratch on the device).
   Launch sizes come from ``settings.gpu_threads_per_block`` / ``gpu_max_blocks`` at call time
   (inflate and expand use blocks of at most one warp, :data:`SERIAL_MAX_THREADS_PER_BLOCK`).
4. **One synchronisation** at the end of the batch: an 8-byte copy of the error slot, which the scan
   kernel lowers atomically to the first failing block (keyed as :func:`fastwig.load.first_failure`).
   Only when it names one are the statuses fetched, to raise the same error as the CPU executor.

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
from dataclasses import dataclass

import numpy as np

from .._kernels import bins, status
from ..blocks import RowPlan, plan_rows
from ..cache import cache
from ..config import settings
from ..errors import CudaUnavailable, RangeError
from ..load import BlockLayout, block_layout, raise_block_error, read_stored
from ..request import BatchRequest
from . import device as rt

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
    from .._kernels import cuda_module
    kc = cuda_module()

    if not _probed:
        _probed.append(rt.probe())
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
        buf = rt.pinned_empty(max(int(nbytes * 1.25), 1 << 16))
        _pinned[name] = buf
    return buf


def _device_buffer(kc, dev_id: int, name: str, nbytes: int):
    key = (dev_id, name)
    buf = _device.get(key)
    if buf is None or buf.shape[0] < nbytes:
        _device.pop(key, None)
        buf = rt.device_empty(max(int(nbytes * 1.25), 1 << 16), np.uint8)
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
        self.events = out is not None and not rt.is_simulator()
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
            ev = rt.new_event()
            rt.record(ev, self.stream)
            self.marks.append((name, ev))
        else:
            rt.synchronize(self.stream)
            self.host(name)

    def start_device(self) -> None:
        if self.out is not None and self.events:
            ev = rt.new_event()
            rt.record(ev, self.stream)
            self.marks.append((None, ev))

    def finish(self) -> None:
        """After the final synchronisation: turn the events into seconds."""
        if self.out is None:
            return
        for (_, a), (name, b) in zip(self.marks, self.marks[1:]):
            self.out[name] = rt.elapsed_ms(a, b) / 1e3


class CudaExecutor:
    """Runs a :class:`~fastwig.request.BatchRequest` on a CUDA device (``"cuda"`` or ``"cuda:N"``)."""

    def __init__(self, device: str, threads: int, stage_times: dict | None = None):
        """``stage_times``, when given, is filled with the seconds each stage took (host: ``plan``,
        ``gather``; device: ``h2d``, ``inflate``, ``scan``, ``expand`` or ``bins``; ``sync``, ``total``)
        and the batch's ``blocks``, ``compressed_bytes`` and ``inflated_bytes`` (profiling: it costs a
        copy of the load statuses)."""
        self.index = _parse_device(device)
        self.device = device
        self.threads = threads
        self.stage_times = stage_times
        self.kc = _kc()

    def allocate(self, req: BatchRequest, out=None):
        """The result: ``out`` (a CUDA array of ``req.shape``, checked) or a new numba device array."""
        kc = self.kc
        with rt.select_device(self.index):
            if out is None:
                return rt.device_empty(req.shape, np.float32)
            _check_out(kc, out, req.shape)
            return out

    def run(self, req: BatchRequest, out):
        """All stages of one batch, into ``out`` (from :meth:`allocate`); returns ``out`` once the
        kernels have finished."""
        if req.n == 0 or req.n_tracks == 0:
            return out
        t0 = time.perf_counter()
        with _lock, rt.select_device(self.index):
            self._begin(t0)
            plan = self.plan(req)
            blocks = self.load(req, plan)
            self.fill(req, plan, blocks, rt.as_device_array(out))
            self.check(req, blocks)
        return out

    def _begin(self, t0: float) -> None:
        """The batch's stream (one per device, reused), clock and launch sizes."""
        self.dev_id = rt.current_device_id()
        stream = _streams.get(self.dev_id)
        if stream is None:
            stream = _streams[self.dev_id] = rt.new_stream()
        self.stream = stream
        self.clock = _Clock(self.kc, stream, self.stage_times)
        self.clock.t = self.t0 = t0
        tpb, max_blocks = int(settings.gpu_threads_per_block), int(settings.gpu_max_blocks)
        self.launch = (tpb, max_blocks)
        self.serial_launch = (min(tpb, SERIAL_MAX_THREADS_PER_BLOCK), max_blocks)

    def plan(self, req: BatchRequest) -> RowPlan:
        """The blocks of every item, as the CPU executor plans them (no device cache: every block loads)."""
        with cache.lock:
            plan = plan_rows(req.tracks, req.chrom_ids, req.starts, req.width, use_cache=False)
        self.clock.host("plan")
        return plan

    def load(self, req: BatchRequest, plan: RowPlan) -> DeviceBlocks:
        """Gather the int64 section and the stored bytes, copy them in, run the load and scan kernels."""
        kc = self.kc
        lay = block_layout(req.tracks, plan.track, plan.leaf)
        m = lay.m
        rows = req.n * req.n_tracks
        sections = (("err", 1), ("src_off", m), ("src_end", m), ("dst_off", m), ("dst_end", m), ("stop", m),
                    ("mode", m), ("bptr", rows + 1), ("blist", plan.blist.size), ("chrom", rows),
                    ("chrom_len", rows), ("starts", req.n))
        at, layout = 0, {}
        for name, count in sections:
            layout[name] = (at, count)
            at += count
        meta_bytes = at * 8
        total = meta_bytes + lay.packed_bytes
        host = _host_buffer(kc, "batch", total)
        meta = host[:meta_bytes].view(np.int64)
        values = {"err": kc.NO_ERROR, "src_off": lay.src_lo, "src_end": lay.src_lo + lay.comp_size,
                  "dst_off": lay.dst_lo, "dst_end": lay.dst_lo + lay.out_cap, "stop": plan.stop, "mode": lay.mode,
                  "bptr": plan.bptr, "blist": plan.blist, "chrom": req.item_chroms,
                  "chrom_len": req.item_chrom_lens, "starts": req.starts}
        for name, (lo, count) in layout.items():
            meta[lo:lo + count] = values[name]
        read_stored(req.tracks, lay, host, meta_bytes, self.threads)
        self.clock.host("gather")

        self.clock.start_device()
        src_dev = _device_buffer(kc, self.dev_id, "src", total)
        rt.copy_to_device(src_dev[:total], host[:total], self.stream)
        self.clock.device("h2d")
        sec = {name: rt.device_view(src_dev, lo * 8, count, np.int64) for name, (lo, count) in layout.items()}
        arena_bytes = (lay.arena_bytes + 7) & ~7
        arena_dev = _device_buffer(kc, self.dev_id, "arena", arena_bytes)
        blk_dev = _device_buffer(kc, self.dev_id, "blocks", 24 * m + 8)
        blocks = DeviceBlocks(lay, sec, rt.device_view(arena_dev, 0, arena_bytes, np.uint8),
                              rt.device_view(arena_dev, 0, arena_bytes // 4, np.uint32),
                              rt.device_view(arena_dev, 0, arena_bytes // 4, np.float32),
                              rt.device_view(blk_dev, 0, m, np.int64), rt.device_view(blk_dev, 8 * m, m, np.int64),
                              rt.device_view(blk_dev, 16 * m, m, np.int64))
        comp_dev = rt.device_view(src_dev, meta_bytes, lay.packed_bytes, np.uint8)
        kc.inflate_batch_gpu(comp_dev, sec["src_off"], sec["src_end"], blocks.buf, sec["dst_off"], sec["dst_end"],
                             sec["stop"], sec["mode"], blocks.loaded, *self.serial_launch, self.stream)
        self.clock.device("inflate")
        kc.scan_batch_gpu(blocks.buf, blocks.u32, sec["dst_off"], blocks.loaded, sec["mode"], blocks.flags,
                          blocks.length, sec["err"], *self.launch, self.stream)
        self.clock.device("scan")
        return blocks

    def fill(self, req: BatchRequest, plan: RowPlan, blocks: DeviceBlocks, out) -> None:
        """Per-base rows or bins of every item into the device array ``out``."""
        kc, sec = self.kc, blocks.sections
        rows = req.n * req.n_tracks
        common = (blocks.buf, blocks.u32, blocks.f32, sec["dst_off"], blocks.length, blocks.flags, sec["bptr"],
                  sec["blist"], sec["chrom"], sec["starts"])
        if req.bin_size == 1:
            kc.expand_batch_gpu(*common, req.width, sec["chrom_len"], req.missing, req.oob_value,
                                rt.reshape(out, rows * req.width), *self.serial_launch, self.stream)
            self.clock.device("expand")
            return
        per_row = bins.parts_per_row(req.nbins, req.bin_size, bins.ITEM_BASES_GPU)
        painted = _device_buffer(kc, self.dev_id, "painted", 8 * rows * per_row)
        kc.bin_batch_gpu(*common, sec["chrom_len"], req.n_tracks, req.bin_size, per_row, req.nbins, req.stat_code,
                         req.covered_only, req.missing, req.oob_value, req.oob_covers, rt.reshape(out, rows * req.nbins),
                         rt.device_view(painted, 0, rows * per_row, np.int64), *self.serial_launch, self.stream)
        self.clock.device("bins")

    def check(self, req: BatchRequest, blocks: DeviceBlocks) -> None:
        """One synchronisation: the error slot; raise the first failing block's error as the CPU does."""
        kc, lay, st = self.kc, blocks.layout, self.stage_times
        t_wait = time.perf_counter()
        err_host = _host_buffer(kc, "err", 8)[:8].view(np.int64)
        rt.copy_to_host(blocks.sections["err"], err_host[:1], self.stream)
        rt.synchronize(self.stream)
        key = int(err_host[0])
        if st is not None:
            st["sync"] = time.perf_counter() - t_wait
            self.clock.finish()
            st["blocks"] = lay.m
            st["compressed_bytes"] = int(lay.comp_size.sum())
            res = rt.copy_to_host(blocks.loaded) if lay.m else np.zeros(0, np.int64)
            st["inflated_bytes"] = int((res[res > 0] & (status.EARLY_STOP - 1)).sum())   # less the early-stop flag
            st["total"] = time.perf_counter() - self.t0
        if key != kc.NO_ERROR:
            code = rt.copy_to_host(blocks.loaded if key < lay.m else blocks.flags)[key % lay.m]
            raise_block_error(req.tracks, lay, key, int(code))


@dataclass
class DeviceBlocks:
    """A batch's blocks on the device after the load stage: the arena (uint8, uint32 and float32 views),
    per block the load status, scan flags and usable length (int64 (m,)), and the int64 sections
    copied in with them (block ranges, plan lists, chromosomes, starts, the error slot), by name."""

    layout: BlockLayout
    sections: dict
    buf: object
    u32: object
    f32: object
    loaded: object
    flags: object
    length: object


def _check_out(kc, out, shape):
    dev = rt.as_device_array(out)
    if dev is None:
        raise RangeError("with device='cuda', out must be a CUDA device array (numba device array or an "
                         f"object with __cuda_array_interface__, e.g. a torch CUDA tensor), got {type(out)}")
    if tuple(dev.shape) != shape or np.dtype(dev.dtype) != np.float32 or not dev.is_c_contiguous():
        raise RangeError(f"out must be a C-contiguous float32 array of shape {shape}")
    return dev


__all__ = ["CudaExecutor", "is_available", "release_buffers"]
