"""GPU drivers of the kernel twins: every ``numba.cuda`` use in fastwig lives in this module.

Nothing here touches CUDA at import: ``numba.cuda`` is imported, and each kernel compiled, the first
time its driver is called (:func:`_kernel`).  A kernel loops over its items with a grid stride, so any
launch size covers any input; launch sizes are arguments (tests shrink them to force many blocks and
several grid-stride iterations on tiny inputs).  Arrays may be host arrays (numba copies them) or
device arrays (anything with ``__cuda_array_interface__``, e.g. torch CUDA tensors).
"""

from __future__ import annotations

import numpy as np

from . import _twin

_KERNELS: dict[str, object] = {}
# numba.cuda, bound on first use.  Kernels must see it as a module global (not a closure variable):
# the CUDA simulator swaps a kernel's global ``cuda`` for its fake module.
cuda = None


def _cuda():
    global cuda
    if cuda is None:
        from numba import cuda as _numba_cuda

        cuda = _numba_cuda
    return cuda


def _kernel(name: str, build):
    """The compiled kernel ``name``, built by ``build()`` on first use."""
    k = _KERNELS.get(name)
    if k is None:
        k = _KERNELS[name] = build()
    return k


# --- one-hot / integer sequence encoding (kernels/onehot.py) ------------------------------------

def _build_onehot():
    _cuda()
    from . import onehot

    item = _twin.gpu(onehot.onehot_base)

    @cuda.jit
    def onehot_kernel(codes, rc, out, n_value):
        width = codes.shape[1]
        total = codes.shape[0] * width
        k = cuda.grid(1)
        step = cuda.gridsize(1)
        while k < total:
            i = k // width
            item(codes, out, i, k - i * width, rc[i] != 0, n_value)
            k += step

    return onehot_kernel


def _build_integer():
    _cuda()
    from . import onehot

    item = _twin.gpu(onehot.integer_base)

    @cuda.jit
    def integer_kernel(codes, rc, out):
        width = codes.shape[1]
        total = codes.shape[0] * width
        k = cuda.grid(1)
        step = cuda.gridsize(1)
        while k < total:
            i = k // width
            item(codes, out, i, k - i * width, rc[i] != 0)
            k += step

    return integer_kernel


def onehot_batch_gpu(codes, rc, out, n_value, threads_per_block: int, blocks: int, stream=0) -> None:
    """One-hot encode a batch on the GPU; GPU twin of :func:`kernels.onehot.onehot_batch_cpu`.

    Parameters
    ----------
    codes : uint8 (n, width), host or device
        ASCII bytes.
    rc : uint8 (n,), host or device
        Non-zero: that window reverse-complemented.
    out : float32 (n, 4, width), device (or host: numba copies it back)
        Output.
    n_value : float
        Value of the four rows for a non-ACGT byte (cast to float32).
    threads_per_block, blocks : int
        Launch size; the grid-stride loop covers all ``n * width`` bases whatever it is.
    stream : numba CUDA stream or 0
    """
    if codes.shape[0] == 0 or codes.shape[1] == 0:
        return
    k = _kernel("onehot", _build_onehot)
    k[int(blocks), int(threads_per_block), stream](codes, rc, out, np.float32(n_value))


def integer_batch_gpu(codes, rc, out, threads_per_block: int, blocks: int, stream=0) -> None:
    """Integer-encode a batch (``out``: uint8 (n, width)); GPU twin of :func:`kernels.onehot.integer_batch_cpu`."""
    if codes.shape[0] == 0 or codes.shape[1] == 0:
        return
    k = _kernel("integer", _build_integer)
    k[int(blocks), int(threads_per_block), stream](codes, rc, out)


# --- launch sizing ------------------------------------------------------------------------------

def _grid(items: int, threads_per_block: int, blocks: int) -> tuple[int, int]:
    """Launch size for ``items`` grid-stride items: at most ``blocks`` blocks, none of them idle."""
    tpb = max(1, int(threads_per_block))
    return max(1, min(int(blocks), -(-int(items) // tpb))), tpb


# --- bigWig block pipeline: inflate -> scan -> expand -> reduce ----------------------------------
#
# One kernel per stage, each a grid-stride loop over the same items as the stage's CPU driver, calling
# the GPU build of the same per-item function.  Items of a stage write disjoint outputs, so the
# kernels need no synchronisation inside a stage; stages follow one another on one stream.

# per-block mode bits of the load and scan kernels (defined with the load item, kernels/inflate.py)
MODE_SWAP = 1       # the file is big-endian
MODE_RAW = 2        # the block is stored uncompressed (uncompressBufSize 0): copy it, do not inflate

NO_ERROR = (1 << 63) - 1     # initial value of the error slot (no failing block)


def _build_inflate():
    _cuda()
    from . import inflate

    item = _twin.gpu(inflate.load_block)
    work_size = inflate.INFLATE_WORK_SIZE

    @cuda.jit
    def inflate_kernel(src, src_off, src_end, dst, dst_off, dst_end, stop, mode, result):
        # Huffman tables and code-length scratch of this thread's stream (about 10 KB of local memory)
        work = cuda.local.array(work_size, np.int32)
        m = src_off.shape[0]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < m:
            result[i] = item(src, src_off[i], src_end[i], dst, dst_off[i], dst_end[i], stop[i], mode[i], work)
            i += step

    return inflate_kernel


def _build_scan():
    _cuda()
    from . import decode

    item = _twin.gpu(decode.scan_loaded)

    @cuda.jit
    def scan_kernel(buf, u32, lo, n, mode, flags, length, err):
        m = lo.shape[0]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < m:
            f, ln = item(buf, u32, lo[i], n[i], (mode[i] & MODE_SWAP) != 0)
            flags[i] = f
            length[i] = ln
            if f < 0:
                # the first failing block, keyed as fastwig.load.first_failure keys it
                cuda.atomic.min(err, 0, i if n[i] < 0 else m + i)
            i += step

    return scan_kernel


def _build_expand():
    _cuda()
    from . import expand

    item = _twin.gpu(expand.expand_item)

    @cuda.jit
    def expand_kernel(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, width,
                      chrom_len, missing, oob, out):
        n = starts.shape[0]
        n_tracks = out.shape[0] // (n * width)
        rows = chrom.shape[0]
        row = cuda.grid(1)
        step = cuda.gridsize(1)
        while row < rows:
            w = row // n_tracks
            i = (row % n_tracks) * n + w
            item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, i, row, chrom[i], starts[w], width,
                 chrom_len[i], missing, oob, out)
            row += step

    return expand_kernel


def _build_bins():
    _cuda()
    from . import bins

    item = _twin.gpu(bins.bin_item)
    chunk = bins.CHUNK

    @cuda.jit
    def bins_kernel(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len, n_tracks,
                    bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers, out, painted):
        # the slow path's paint scratch (1 KiB of local memory; unused while records do not overlap)
        scratch = cuda.local.array(chunk, np.float32)
        total = painted.shape[0]
        k = cuda.grid(1)
        step = cuda.gridsize(1)
        while k < total:
            painted[k] = item(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len,
                              n_tracks, bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers,
                              out, scratch, k)
            k += step

    return bins_kernel


def inflate_batch_gpu(src, src_off, src_end, dst, dst_off, dst_end, stop, mode, result,
                      threads_per_block: int, blocks: int, stream=0) -> None:
    """Inflate one zlib stream per item on the GPU; GPU twin of :func:`kernels.inflate.load_batch_cpu`.

    One thread per stream (grid stride), its Huffman tables in ``cuda.local.array`` scratch.

    Parameters
    ----------
    src : uint8 (S,), device (or host: numba copies it)
        Packed compressed streams.
    src_off, src_end : int64 (m,)
        Per item, the stream's byte range in ``src``.
    dst : uint8 (D,)
        Output buffer.
    dst_off, dst_end : int64 (m,)
        Per item, the output range in ``dst``.
    stop : int64 (m,)
        Per item, the early-exit coordinate (< 0: inflate the whole stream).
    mode : int64 (m,)
        Per item, ``MODE_SWAP`` (big-endian file, for the early-exit check) and ``MODE_RAW`` (copy the
        bytes as they are: a block of an uncompressed file) bits.
    result : int64 (m,)
        Out: per item, the bytes written or a negative status code (:mod:`kernels.status`).
    threads_per_block, blocks : int
        Launch size (at most ``blocks`` blocks; the grid-stride loop covers every item).
    stream : numba CUDA stream or 0
    """
    m = src_off.shape[0]
    if m == 0:
        return
    k = _kernel("inflate", _build_inflate)
    nb, tpb = _grid(m, threads_per_block, blocks)
    k[nb, tpb, stream](src, src_off, src_end, dst, dst_off, dst_end, stop, mode, result)


def scan_batch_gpu(buf, u32, lo, n, mode, flags, length, err, threads_per_block: int, blocks: int,
                   stream=0) -> None:
    """Check inflated blocks and make them canonical; GPU twin of :func:`kernels.decode.scan_loaded_cpu`.

    Parameters
    ----------
    buf, u32 : uint8 and uint32 views of the block arena
    lo : int64 (m,), 4-byte aligned offset of each block in the arena
    n : int64 (m,), inflated length of each block (with ``status.EARLY_STOP`` set when inflation
        stopped early), or the negative inflate status of a failed one
    mode : int64 (m,), ``MODE_SWAP`` bit per block
    flags : int64 (m,)
        Out: the ``scan_block`` flags (>= 0) or a negative status code (a failed inflate's, passed on).
    length : int64 (m,)
        Out: ``n``, or 0 for a failed block, so that the expansion reads nothing of it.
    err : int64 (1,)
        In/out: atomically lowered to the key of the first failing block, ``i`` for an inflate
        failure of block ``i`` and ``m + i`` for a scan failure (the order in which the CPU path
        raises); leave it at ``NO_ERROR`` beforehand.
    threads_per_block, blocks : int; stream : numba CUDA stream or 0
    """
    m = lo.shape[0]
    if m == 0:
        return
    k = _kernel("scan", _build_scan)
    nb, tpb = _grid(m, threads_per_block, blocks)
    k[nb, tpb, stream](buf, u32, lo, n, mode, flags, length, err)


def expand_batch_gpu(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, width,
                     chrom_len, missing, oob, out, threads_per_block: int, blocks: int, stream=0) -> None:
    """Paint every (window, track) item into its output row; GPU twin of
    :func:`kernels.expand.expand_batch_cpu` (same arguments, one thread per item).

    One thread per output row, as the CPU driver walks rows: row ``window * n_tracks + track`` of
    ``out`` (float32 (n * n_tracks * width,), flat) is filled by item ``track * n + window`` (items are
    track-major, ``n = starts.size``; ``chrom`` and ``chrom_len`` are per item).
    """
    items = chrom.shape[0]
    if items == 0 or starts.shape[0] == 0:
        return
    k = _kernel("expand", _build_expand)
    nb, tpb = _grid(items, threads_per_block, blocks)
    k[nb, tpb, stream](buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts,
                       np.int64(width), chrom_len, np.float32(missing), np.float32(oob), out)


def bin_batch_gpu(buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len, n_tracks,
                  bin_size, per_row, nbins, stat, covered_only, missing, oob, oob_covers, out, painted,
                  threads_per_block: int, blocks: int, stream=0) -> None:
    """Reduce every (row, part) item straight into bins; GPU twin of :func:`kernels.bins.bin_batch_cpu`
    (same arguments, one thread per item, ``painted`` (int64, one per item) sized to the items)."""
    items = painted.shape[0]
    if items == 0:
        return
    k = _kernel("bins", _build_bins)
    nb, tpb = _grid(items, threads_per_block, blocks)
    k[nb, tpb, stream](buf, u32, f32, blk_lo, blk_len, blk_flags, bptr, blist, chrom, starts, chrom_len,
                       np.int64(n_tracks), np.int64(bin_size), np.int64(per_row), np.int64(nbins), np.int64(stat),
                       bool(covered_only), np.float32(missing), np.float32(oob), bool(oob_covers), out, painted)


# --- k-mer tokens (kernels/kmer.py) --------------------------------------------------------------

def _build_kmer():
    _cuda()
    from . import kmer

    code = _twin.gpu(kmer.kmer_code)
    run_item = _twin.gpu(kmer.kmer_run)

    @cuda.jit
    def kmer_code_kernel(codes, rc, lanes, stride, lanes_len):
        width = codes.shape[1]
        per_window = stride * lanes_len
        total = codes.shape[0] * per_window
        g = cuda.grid(1)
        step = cuda.gridsize(1)
        while g < total:
            i = g // per_window
            phase = (g - i * per_window) // lanes_len
            m = g - i * per_window - phase * lanes_len
            if phase + m * stride < width:
                code(codes[i], lanes[i], phase, m, lanes_len, stride, rc[i] != 0)
            g += step

    @cuda.jit
    def kmer_run_kernel(lanes, out, k, stride, lanes_len, run):
        tokens = out.shape[1]
        runs = (tokens + run - 1) // run
        total = out.shape[0] * runs
        g = cuda.grid(1)
        step = cuda.gridsize(1)
        while g < total:
            i = g // runs
            t0 = (g - i * runs) * run
            run_item(lanes[i], out[i], t0, min(t0 + run, tokens), k, stride, lanes_len)
            g += step

    return kmer_code_kernel, kmer_run_kernel


def kmer_batch_gpu(codes, rc, out, k: int, stride: int, threads_per_block: int, blocks: int,
                   tokens_per_item: int = 8, stream=0) -> None:
    """k-mer tokens of a batch on the GPU; GPU twin of :func:`kernels.kmer.kmer_batch_cpu`.

    Two launches on ``stream``: every base coded into a device scratch array (uint8, ``n * stride *
    ceil(width / stride)`` bytes), then runs of tokens computed from it.

    Parameters
    ----------
    codes : uint8 (n, width), host or device
        ASCII bytes.
    rc : uint8 (n,), host or device
        Non-zero: tokenise that window's reverse complement.
    out : int64 (n, tokens), device (or host: numba copies it back)
        ``tokens = kernels.kmer.n_tokens(width, k, stride)``.
    k, stride : int
        k-mer length (1..31) and step.
    threads_per_block, blocks : int
        Launch size; the grid-stride loops cover every item whatever it is.
    tokens_per_item : int, default 8
        Tokens one thread computes.
    stream : numba CUDA stream or 0
    """
    if codes.shape[0] == 0 or out.shape[1] == 0:
        return
    code_kernel, run_kernel = _kernel("kmer", _build_kmer)
    c = _cuda()
    n, width = codes.shape
    lanes_len = -(-int(width) // int(stride))
    lanes = c.device_array((n, int(stride) * lanes_len), dtype=np.uint8, stream=stream)
    code_kernel[int(blocks), int(threads_per_block), stream](codes, rc, lanes, np.int64(stride),
                                                             np.int64(lanes_len))
    run_kernel[int(blocks), int(threads_per_block), stream](lanes, out, np.int64(k), np.int64(stride),
                                                            np.int64(lanes_len),
                                                            np.int64(max(1, int(tokens_per_item))))
