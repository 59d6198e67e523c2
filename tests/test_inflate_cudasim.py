"""The GPU inflate twin against the CPU twin and zlib, bit for bit (where it runs: gpu_support.py).

The rows are the small version of ``test_inflate.edge_table`` plus early-exit rows in both byte orders
and corrupt streams, inflated in one launch of 2 threads per block and 2 blocks, so items land in both
blocks and every thread runs many grid-stride iterations.

A second check types and lowers the real ``numba.cuda`` kernel to LLVM IR (no GPU and no NVVM needed)
in the plain ``pytest`` run: the simulator runs the Python source and would not notice code that
numba.cuda cannot compile.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from fastwig.kernels import inflate as K
from fastwig.kernels import status as S
from gpu_support import BLOCKS, TPB, cuda_compiler
from test_inflate import bedgraph_section, compress, edge_table, zlib_ref

pytestmark = pytest.mark.gpu


def _rows():
    """(label, zlib stream, output capacity, early-stop position or -1, big-endian) rows."""
    rows = [(label, stream, cap, -1, 0) for label, stream, cap in edge_table(small=True)]
    starts = np.arange(250, dtype=np.int64) * 40 + 7
    for swap in (0, 1):
        full = bedgraph_section(starts, starts + 20, big_endian=bool(swap))
        for stop in (0, 3000, 9000, 10 ** 6):
            rows.append((f"section swap {swap} stop {stop}", compress(full, 6), len(full), stop, swap))
    rng = np.random.default_rng(5)
    good = compress(b"".join(bedgraph_section([i], [i + 1]) for i in range(40)), 9)
    for k in range(12):
        b = bytearray(good)
        b[rng.integers(2, len(b))] ^= int(rng.integers(1, 256))
        rows.append((f"flip {k}", bytes(b), 1200, -1, 0))
    return rows


@pytest.fixture(scope="module")
def inflated():
    """Every row inflated by the CPU twin, packed with 5-byte gaps of 0xAB between outputs."""
    rows = _rows()
    src_len = np.array([len(r[1]) for r in rows], np.int64)
    src_off = np.concatenate(([0], np.cumsum(src_len)[:-1])).astype(np.int64)
    src = np.frombuffer(b"".join(r[1] for r in rows) + b"\0", np.uint8).copy()
    cap = np.array([r[2] for r in rows], np.int64)
    dst_off = np.concatenate(([5], 5 + np.cumsum(cap + 5)[:-1])).astype(np.int64)
    size = int(dst_off[-1] + cap[-1] + 5)
    stop = np.array([r[3] for r in rows], np.int64)
    swap = np.array([r[4] for r in rows], np.int64)
    res = np.zeros(len(rows), np.int64)
    dst = np.full(size, 0xAB, np.uint8)
    mode = np.where(swap != 0, K.MODE_SWAP, 0).astype(np.int64)
    K.load_batch_cpu(src, src_off, src_off + src_len, dst, dst_off, dst_off + cap, stop, mode, res, 0, len(rows))
    return SimpleNamespace(rows=rows, src=src, src_off=src_off, src_end=src_off + src_len, cap=cap,
                           dst_off=dst_off, size=size, stop=stop, swap=swap, res=res, dst=dst)


def test_the_rows_cover_errors_and_early_stops(inflated):
    res = inflated.res
    assert len(inflated.rows) >= 80 and (res < 0).sum() >= 15 and (res >= S.EARLY_STOP).sum() >= 4


def test_cpu_twin_matches_zlib(inflated):
    for (label, stream, cap, stop, _), n, lo in zip(inflated.rows, inflated.res, inflated.dst_off):
        if stop < 0:
            ref = zlib_ref(stream, cap)
            if ref is None:
                assert n < 0, label
            else:
                assert n == len(ref) and bytes(inflated.dst[lo:lo + n]) == ref, label


def test_gpu_twin_matches_cpu_twin(gpu, inflated):
    """Same status (length, error code, early-stop flag) per row, same bytes everywhere, gaps untouched."""
    d = inflated
    res = np.zeros(len(d.rows), np.int64)
    dst = np.full(d.size, 0xAB, np.uint8)
    gpu.inflate_batch_gpu(d.src, d.src_off, d.src_end, dst, d.dst_off, d.dst_off + d.cap, d.stop,
                          d.swap * gpu.MODE_SWAP, res, TPB, BLOCKS)
    bad = [(r[0], int(a), int(b)) for r, a, b in zip(d.rows, d.res, res) if a != b]
    assert not bad, bad
    assert np.array_equal(d.dst, dst)


def test_inflate_kernel_types_and_lowers_for_cuda(monkeypatch):
    """numba.cuda (not the simulator) compiles the inflate kernel down to LLVM IR, with no float math.

    Device functions ask the driver for the compute capability; the answer is given by hand (an
    internal hook: if it moves in a later numba-cuda, the test skips).
    """
    kc = cuda_compiler(monkeypatch, (8, 0), "the CUDA simulator compiles nothing; the plain `pytest` run "
                       "(no NUMBA_ENABLE_CUDASIM) lowers the kernel")
    try:
        from numba import types
        from numba.cuda.compiler import compile_cuda
    except ImportError as exc:
        pytest.skip(f"numba-cuda internals moved: {exc!r}")
    kernel = kc._build_inflate()
    a8, a64 = types.Array(types.uint8, 1, "C"), types.Array(types.int64, 1, "C")
    cres = compile_cuda(kernel.py_func, types.void, (a8, a64, a64, a8, a64, a64, a64, a64, a64), cc=(8, 0))
    ir = cres.library.get_llvm_str()
    assert len(ir) > 10_000
    assert sum(ir.count(op) for op in ("sitofp", "uitofp", "fcmp")) == 0
