"""Inflate throughput on real bigWig blocks: the njit kernel against zlib, ISA-L and libdeflate.

Usage::

    python profiling/bench_inflate.py [--repeat 15] [--threads 2] [--no-synthetic] [FILE.bw ...]

Default files: ``ENCFF826FLP.bw`` and ``cow.bw`` from ``../shared/data/bigwig/bbi-js`` (12 KiB blocks), plus
generated 64 KiB bedGraph blocks (zlib level 6).  For every file it reads all full-resolution data blocks
(R-tree leaves) and reports MB/s of inflated output, best of ``--repeat`` runs:

- single thread, CPU time of the calling thread (``time.thread_time``: robust on a shared machine):
  ``njit`` (``load_batch_cpu`` over the packed blocks, after a warm-up call), ``zlib``
  (``zlib.decompress`` per block), ``isal`` (``isal.isal_zlib.decompress``), ``libdeflate``
  (``deflate.zlib_decompress(block, uncompressBufSize)``); the Python inflaters twice, returning
  bytes only and copying each block into a packed output array as the production path needs;
- early exit: ``njit`` with each block's stop coordinate at its middle record, so inflation may stop
  about half way, against full inflation (MB/s counts the full block size: the data a read gets);
- ``--threads`` threads, wall time: chunks of blocks on a thread pool (the njit driver and these
  decompressors run without the GIL).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fastwig.kernels import inflate as K  # noqa: E402
from fastwig.kernels import status as S  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "bigwig" / "bbi-js"


def bigwig_blocks(path):
    """(uncompressBufSize, big-endian?, [compressed block bytes]) of a bigWig's full-resolution data
    blocks, in file order (the block index of ``fastwig.open``)."""
    import fastwig

    data = Path(path).read_bytes()
    with fastwig.open(path) as bw:
        order = np.argsort(bw._index.offset, kind="stable")
        spans = zip(bw._index.offset[order].tolist(), bw._index.size[order].tolist())
        return bw.header.uncompressBufSize, bw.header.byte_order == ">", [data[o:o + n] for o, n in spans]


def middle_start(block, big_endian):
    """Start of the middle record of an inflated block's first section (the early-exit target)."""
    bo = ">" if big_endian else "<"
    kind, count = block[20], struct.unpack_from(bo + "H", block, 22)[0]
    mid = count // 2
    if kind == 3:
        start, step = struct.unpack_from(bo + "II", block, 4)[0], struct.unpack_from(bo + "I", block, 12)[0]
        return start + mid * step
    size = 12 if kind == 1 else 8
    return struct.unpack_from(bo + "I", block, 24 + size * mid)[0]


def best_of(fn, repeat, clock=time.thread_time):
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


class Packed:
    """The blocks of one file packed as the production path packs them."""

    def __init__(self, streams, buf_size, big_endian):
        self.streams = streams
        self.m = len(streams)
        self.buf_size = buf_size
        self.mode = np.full(self.m, K.MODE_SWAP if big_endian else 0, np.int64)
        lens = np.array([len(s) for s in streams], np.int64)
        self.src = np.frombuffer(b"".join(streams), np.uint8)
        self.src_off = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
        self.src_end = self.src_off + lens
        self.dst_off = np.arange(self.m, dtype=np.int64) * buf_size
        self.dst_end = self.dst_off + buf_size
        self.dst = np.zeros(self.m * buf_size, np.uint8)
        self.status = np.zeros(self.m, np.int64)
        self.no_stop = np.full(self.m, -1, np.int64)
        self.refs = [zlib.decompress(s) for s in streams]
        self.out_bytes = sum(len(r) for r in self.refs)
        self.mid_stop = np.array([middle_start(r, big_endian) for r in self.refs], np.int64)

    def njit(self, stop=None, i0=0, i1=None):
        K.load_batch_cpu(self.src, self.src_off, self.src_end, self.dst, self.dst_off, self.dst_end,
                         self.no_stop if stop is None else stop, self.mode, self.status, i0,
                         self.m if i1 is None else i1)

    def python(self, fn, copy, i0=0, i1=None):
        dst, off = self.dst, self.dst_off
        for i in range(i0, self.m if i1 is None else i1):
            out = fn(self.streams[i])
            if copy:
                dst[off[i]:off[i] + len(out)] = np.frombuffer(out, np.uint8)


def threaded(p, run_chunk, threads, repeat):
    edges = np.linspace(0, p.m, 4 * threads + 1).astype(int)
    chunks = list(itertools.pairwise(edges))
    with ThreadPoolExecutor(threads) as pool:
        return best_of(lambda: list(pool.map(lambda c: run_chunk(*c), chunks)), repeat, time.perf_counter)


def machine():
    try:
        out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    except OSError:
        out = ""
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else (platform.processor() or "unknown")


def synthetic_blocks(n_blocks=60, records=5400, seed=0):
    """(uncompressBufSize, big-endian, streams): bedGraph sections of ``records`` coverage-like records
    (about 64 KiB inflated), zlib level 6 as the UCSC writers use."""
    rng = np.random.default_rng(seed)
    streams, size = [], 0
    pos = 0
    for _ in range(n_blocks):
        gaps = rng.geometric(0.3, records) - 1
        spans = rng.geometric(0.05, records)
        starts = pos + np.cumsum(gaps) + np.concatenate(([0], np.cumsum(spans)[:-1]))
        ends = starts + spans
        pos = int(ends[-1]) + 1
        recs = np.zeros(records, [("s", "<u4"), ("e", "<u4"), ("v", "<f4")])
        recs["s"], recs["e"] = starts, ends
        recs["v"] = rng.poisson(8, records).astype(np.float32) / 4
        sec = struct.pack("<IIIIIBBH", 0, int(starts[0]), int(ends[-1]), 0, 0, 1, 0, records) + recs.tobytes()
        size = max(size, len(sec))
        streams.append(zlib.compress(sec, 6))
    return size, False, streams


def bench_file(name, blocks, repeat, threads):
    """(description, MB of output, single-thread seconds, threaded seconds, fraction inflated when
    stopping at the middle record) for the blocks of one file."""
    import deflate
    from isal import isal_zlib

    buf_size, big_endian, streams = blocks
    p = Packed(streams, buf_size, big_endian)
    p.njit()
    assert p.status.tolist() == [len(r) for r in p.refs]
    assert all(bytes(p.dst[o:o + len(r)]) == r for o, r in zip(p.dst_off, p.refs))
    p.njit(p.mid_stop)
    stopped = int((p.status & (S.EARLY_STOP - 1)).sum()) / p.out_bytes   # counts without the early-stop flag
    desc = (f"{name}: {p.m} blocks, {p.src.size / 1e6:.2f} MB -> {p.out_bytes / 1e6:.2f} MB "
            f"(mean {p.out_bytes / p.m / 1024:.1f} KiB/block, ratio {p.out_bytes / p.src.size:.2f})")
    res = {"njit": best_of(p.njit, repeat),
           "njit, early exit at the middle record": best_of(lambda: p.njit(p.mid_stop), repeat)}
    deco = {"zlib": zlib.decompress, "isal": isal_zlib.decompress,
            "libdeflate": lambda s: deflate.zlib_decompress(s, buf_size)}
    for lib, fn in deco.items():
        res[lib] = best_of(lambda fn=fn: p.python(fn, False), repeat)
        res[f"{lib} + copy into packed output"] = best_of(lambda fn=fn: p.python(fn, True), repeat)
    thr = {"njit": threaded(p, lambda a, b: p.njit(None, a, b), threads, repeat)}
    for lib, fn in deco.items():
        thr[f"{lib} + copy into packed output"] = threaded(
            p, lambda a, b, fn=fn: p.python(fn, True, a, b), threads, repeat)
    return desc, p.out_bytes / 1e6, res, thr, stopped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-synthetic", action="store_true", help="skip the generated 64 KiB blocks")
    args = ap.parse_args(argv)
    files = args.files or [DEFAULT_DIR / "ENCFF826FLP.bw", DEFAULT_DIR / "cow.bw"]

    import deflate
    import isal

    t = time.perf_counter()
    w = np.frombuffer(zlib.compress(b"warm-up " * 100), np.uint8)
    z = np.zeros(1, np.int64)
    K.load_batch_cpu(w, z, np.array([w.size]), np.zeros(800, np.uint8), z, np.array([800]), np.array([-1]), z,
                     z.copy(), 0, 1)
    first_call = time.perf_counter() - t
    print(f"# inflate benchmark: {machine()}, Python {platform.python_version()}, "
          f"zlib {zlib.ZLIB_RUNTIME_VERSION}, isal {isal.__version__}, deflate {deflate.__version__}")
    print(f"# load_batch_cpu first call (compile or cache load): {first_call:.1f} s\n")

    sets = [(path.name, bigwig_blocks(path)) for path in files]
    if not args.no_synthetic:
        sets.append(("synthetic 64 KiB bedGraph blocks", synthetic_blocks()))
    for name, blocks in sets:
        desc, mb, res, thr, frac = bench_file(name, blocks, args.repeat, args.threads)
        print(f"## {desc}\n")
        print("| inflater | 1 thread MB/s | ms per file | x njit |")
        print("|---|---:|---:|---:|")
        for k, v in res.items():
            print(f"| {k} | {mb / v:.0f} | {v * 1e3:.2f} | {res['njit'] / v:.2f} |")
        print(f"\nearly exit inflated {frac:.0%} of the bytes; time saved: "
              f"{1 - res['njit, early exit at the middle record'] / res['njit']:.0%}\n")
        print(f"| inflater, {args.threads} threads (wall) | MB/s |")
        print("|---|---:|")
        for k, v in thr.items():
            print(f"| {k} | {mb / v:.0f} |")
        print()


if __name__ == "__main__":
    main()
