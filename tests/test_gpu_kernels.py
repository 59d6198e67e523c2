"""The GPU twins of the pipeline kernels against their CPU twins and a plain-Python reference.

scan, expand and bins run on one shared edge table of data sections, inflate's raw mode on a few
byte ranges (inflate's streams: tests/test_inflate_cudasim.py); every float32 result is compared bit
for bit.  Where these tests run (the simulator or a real device) is in gpu_support.py.

The simulator runs kernels as Python, so it cannot see typing or lowering errors: the last test here
compiles every pipeline kernel to PTX with NVVM in a process *without* the simulator (the plain
``pytest`` run), when a CUDA toolkit is installed -- no GPU or driver needed.
"""

from __future__ import annotations

import glob
import os
import re
from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import pytest
from fastwig.kernels import bins, decode, expand
from fastwig.kernels import status as kstatus
from gpu_support import BLOCKS, TPB, assert_same_bits
from gpu_support import cuda_compiler as gpu_cuda_compiler

pytestmark = pytest.mark.gpu

STATS = ("mean", "sum", "min", "max", "coverage")     # kernels.bins STAT_* codes 0..4


def test_inflate_raw_mode_copies_and_refuses_what_does_not_fit(gpu):
    """The GPU driver's own mode for blocks of uncompressed files (MODE_RAW): copy, refuse what does not fit."""
    src = np.arange(64, dtype=np.uint8)
    res = np.zeros(3, np.int64)
    dst = np.zeros(64, np.uint8)
    gpu.inflate_batch_gpu(src, np.array([3, 10, 50], np.int64), np.array([9, 40, 50], np.int64), dst,
                          np.array([0, 32, 60], np.int64), np.array([8, 40, 64], np.int64),
                          np.full(3, -1, np.int64), np.full(3, gpu.MODE_RAW, np.int64), res, TPB, BLOCKS)
    assert res.tolist() == [6, kstatus.ERR_OUTPUT_FULL, 0]
    assert bytes(dst[:6]) == bytes(src[3:9]) and not dst[6:].any()


@pytest.fixture(scope="module")
def sections():
    """The edge table of inflated blocks packed into one arena (4-byte aligned), and the CPU twin's scan of
    it (``scan_loaded_cpu``, as the CPU executor runs it: a possibly cut block carries the EARLY_STOP flag)."""
    rows = _section_table()
    blen = np.array([len(r[1]) for r in rows], np.int64)
    lo = np.concatenate(([0], np.cumsum((blen + 3) & ~3)[:-1])).astype(np.int64)
    arena = np.zeros(int(lo[-1] + blen[-1] + 8) & ~3, np.uint8)
    for r, a in zip(rows, lo):
        arena[a:a + len(r[1])] = np.frombuffer(r[1], np.uint8)
    swap = np.array([r[2] for r in rows], np.uint8)
    part = np.array([r[3] for r in rows], np.uint8)
    scanned = arena.copy()
    flags, length = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    loaded = blen + part.astype(np.int64) * kstatus.EARLY_STOP
    decode.scan_loaded_cpu(scanned, scanned.view(np.uint32), lo, loaded, swap.astype(np.int64), flags, length, 0,
                           len(rows))
    return SimpleNamespace(labels=[r[0] for r in rows], arena=arena, lo=lo, blen=blen, swap=swap, part=part,
                           scanned=scanned, flags=flags, length=length)


def test_scan_twins_agree_on_flags_and_canonical_bytes(gpu, sections):
    s = sections
    k = len(s.labels)
    f_gpu, length = np.zeros(k, np.int64), np.zeros(k, np.int64)
    err = np.array([gpu.NO_ERROR], np.int64)
    mode = s.swap.astype(np.int64) * gpu.MODE_SWAP
    # the GPU scan learns that a block may be cut from the inflate result's EARLY_STOP flag
    flagged = s.blen + s.part.astype(np.int64) * kstatus.EARLY_STOP
    d_arena = gpu.to_device(s.arena.copy())       # the uint8 and uint32 views must share device memory
    gpu.scan_batch_gpu(d_arena, d_arena.view(np.uint32), s.lo, flagged, mode, f_gpu, length, err, TPB, BLOCKS)
    assert np.array_equal(s.flags, f_gpu), [(lab, a, b) for lab, a, b in zip(s.labels, s.flags, f_gpu) if a != b]
    assert np.array_equal(s.scanned, d_arena.copy_to_host())
    bad = np.flatnonzero(s.flags < 0)
    assert bad.size >= 4, "the edge table lost its malformed rows"
    assert int(err[0]) == k + bad[0]              # the first failing block, offset past the inflate codes
    assert np.array_equal(length, s.length)
    assert np.array_equal(length, np.where(s.flags < 0, 0, s.blen))


def test_scan_gpu_passes_a_failed_inflate_through_as_the_first_error(gpu, sections):
    s = sections
    k = len(s.labels)
    n = s.blen + s.part.astype(np.int64) * kstatus.EARLY_STOP
    n[3] = -4
    flags, length = np.zeros(k, np.int64), np.zeros(k, np.int64)
    err = np.array([gpu.NO_ERROR], np.int64)
    d_arena = gpu.to_device(s.arena.copy())
    gpu.scan_batch_gpu(d_arena, d_arena.view(np.uint32), s.lo, n, s.swap.astype(np.int64) * gpu.MODE_SWAP,
                       flags, length, err, TPB, BLOCKS)
    assert flags[3] == -4 and length[3] == 0 and int(err[0]) == 3


@pytest.fixture(scope="module")
def items(sections):
    """A batch over the scanned edge table: 6 windows (before, across and past chromosome ends) x 3
    tracks, each item with a random list of the good blocks; some items have no chromosome (-1)."""
    s = sections
    good = np.flatnonzero(s.flags >= 0)
    windows = np.array([-20, 0, 7, 95, 180, 390], np.int64)
    n, n_tracks, width = windows.size, 3, 48
    rng = np.random.default_rng(3)
    lists, chrom, chrom_len = [], [], []
    for item in range(n * n_tracks):
        lists.append(np.sort(good[rng.random(good.size) < 0.4]))     # file order = arena order here
        chrom.append(-1 if item % 7 == 5 else item % 2)
        chrom_len.append([400, 150, 10_000][item % 3])
    a = s.scanned
    blocks = (a, a.view(np.uint32), a.view(np.float32), s.lo,       # read only: host copies are fine
              np.where(s.flags >= 0, s.blen, 0), np.where(s.flags >= 0, s.flags, 0),
              np.concatenate(([0], np.cumsum([x.size for x in lists]))).astype(np.int64),
              np.concatenate(lists).astype(np.int64))
    return SimpleNamespace(blocks=blocks, chrom=np.array(chrom, np.int64), windows=windows, n=n,
                           n_tracks=n_tracks, width=width, chrom_len=np.array(chrom_len, np.int64))


def _reference_rows(items, missing, oob):
    a, _, _, lo, blk_len, _, bptr, blist = items.blocks
    ref = _expand_reference(a, lo, blk_len, bptr, blist, items.chrom, items.windows, items.width, items.chrom_len,
                            np.float32(missing), np.float32(oob))
    return ref.reshape(items.n * items.n_tracks, items.width)


@pytest.mark.parametrize("missing, oob", [(0.0, 0.0), (np.nan, -1.0), (2.5, np.nan)])
def test_expand_twins_match_the_reference(gpu, items, missing, oob):
    t = items
    rows = t.n * t.n_tracks
    e_cpu = np.full(rows * t.width, 123.0, np.float32)
    expand.expand_batch_cpu(*t.blocks, t.chrom, t.windows, np.int64(t.width), t.chrom_len, np.float32(missing),
                            np.float32(oob), e_cpu, 0, rows)
    e_gpu = np.full(rows * t.width, 123.0, np.float32)
    gpu.expand_batch_gpu(*t.blocks, t.chrom, t.windows, t.width, t.chrom_len, missing, oob, e_gpu, TPB, BLOCKS)
    assert_same_bits(e_gpu, e_cpu, "GPU vs CPU")
    assert_same_bits(e_cpu, _reference_rows(t, missing, oob).ravel(), "CPU vs reference")


@pytest.mark.parametrize("oob", [np.nan, -1.0], ids=["oob uncovered", "oob covered"])
@pytest.mark.parametrize("per_row", [1, 3])
@pytest.mark.parametrize("stat", range(len(STATS)), ids=STATS)
@pytest.mark.parametrize("bin_size", [1, 4, 6, 48])
def test_bins_twins_match_the_reference(gpu, items, bin_size, stat, per_row, oob):
    """Bins straight from records, fast path and painted path (overlapping rows of the edge table),
    each row in one item or split into parts; both conventions for uncovered bases, three fill values.
    The reference: per-base rows (last record wins), then float64 statistics per bin."""
    t = items
    rows, nbins = t.n * t.n_tracks, t.width // bin_size
    oob_covers = not np.isnan(oob)
    paths = set()
    for covered_only in (False, True):
        for missing in (0.0, np.nan, -1.25):
            label = f"covered_only={covered_only} missing={missing}"
            args = (t.chrom, t.windows, t.chrom_len, np.int64(t.n_tracks), np.int64(bin_size), np.int64(per_row),
                    np.int64(nbins), np.int64(stat), covered_only, np.float32(missing), np.float32(oob), oob_covers)
            b_cpu = np.full(rows * nbins, 9.0, np.float32)
            p_cpu = np.full(rows * per_row, -1, np.int64)
            bins.bin_batch_cpu(*t.blocks, *args, b_cpu, p_cpu, 0, rows * per_row)
            b_gpu = np.full(rows * nbins, 9.0, np.float32)
            p_gpu = np.full(rows * per_row, -1, np.int64)
            gpu.bin_batch_gpu(*t.blocks, *args, b_gpu, p_gpu, TPB, BLOCKS)
            assert_same_bits(b_gpu, b_cpu, f"GPU vs CPU, {label}")
            assert np.array_equal(p_gpu, p_cpu), label
            paths |= set(p_cpu.tolist())
            base = _reference_rows(t, np.nan, oob)        # NaN: uncovered (no record, a NaN record, oob unset)
            want = _bins_reference(base, bin_size, stat, covered_only, np.float32(missing))
            assert_same_bits(b_cpu, want.ravel(), f"CPU vs reference, {label}")
    assert paths == {bins.FAST, bins.PAINTED}, "the batch no longer reaches both paths"


# --- compiled for a real device, without one ------------------------------------------------------


def _find_nvvm():
    """(libnvvm, libdevice) of a CUDA toolkit on this machine, or None."""
    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")] + sorted(
        glob.glob("/usr/local/cuda*"), reverse=True)
    for root in filter(None, roots):
        nvvm = sorted(glob.glob(os.path.join(root, "lib*", "libnvvm.so*")) +
                      glob.glob(os.path.join(root, "nvvm", "lib*", "libnvvm.so*")))
        libdevice = glob.glob(os.path.join(root, "nvvm", "libdevice", "libdevice*.bc"))
        if nvvm and libdevice:
            return nvvm[0], libdevice[0]
    return None


@pytest.fixture
def cuda_compiler(monkeypatch):
    """numba-cuda's compiler in this process (not the simulator), told that the device is a cc 9.0 one."""
    return gpu_cuda_compiler(monkeypatch, (9, 0), "the CUDA simulator compiles nothing; the plain `pytest` run "
                             "(no NUMBA_ENABLE_CUDASIM) compiles the kernels")


def test_gpu_kernels_compile_to_ptx_without_a_device(cuda_compiler, monkeypatch):
    """Every pipeline kernel compiles to PTX for sm_90 with NVVM; the inflate kernel's Huffman scratch
    stays in one ~10 KB local array per thread (no runaway spills)."""
    found = _find_nvvm()
    if found is None:
        pytest.skip("no CUDA toolkit (libnvvm + libdevice) found; set CUDA_HOME")
    nvvm, libdevice = found
    kc = cuda_compiler
    c = kc._cuda()
    try:
        from numba import types
        from numba.cuda import cuda_paths
        from numba.cuda.cudadrv import nvrtc
    except ImportError as exc:
        pytest.skip(f"numba-cuda internals moved ({exc})")
    # NVRTC is asked for the supported compute capabilities, and the toolkit's paths, even for PTX only
    monkeypatch.setattr(nvrtc, "get_supported_ccs", lambda: ((7, 5), (8, 0), (8, 6), (9, 0)))
    entry = namedtuple("entry", "by info")
    lib_dir = os.path.dirname(nvvm)
    monkeypatch.setattr(cuda_paths.get_cuda_paths, "_cached_result", {
        "nvrtc": entry("test", None), "nvvm": entry("test", nvvm), "libdevice": entry("test", libdevice),
        "cudalib_dir": entry("test", lib_dir), "static_cudalib_dir": entry("test", lib_dir),
        "include_dir": entry("test", os.path.join(os.path.dirname(lib_dir), "include"))}, raising=False)
    a = {t: types.Array(t, 1, "C") for t in (types.uint8, types.uint32, types.int64, types.float32)}
    i64, u8, u32, f32 = a[types.int64], a[types.uint8], a[types.uint32], a[types.float32]
    sigs = {
        "inflate": (kc._build_inflate, (u8, i64, i64, u8, i64, i64, i64, i64, i64)),
        "scan": (kc._build_scan, (u8, u32, i64, i64, i64, i64, i64, i64)),
        "expand": (kc._build_expand, (u8, u32, f32, i64, i64, i64, i64, i64, i64, i64, types.int64, i64,
                                      types.float32, types.float32, f32)),
        "bins": (kc._build_bins, (u8, u32, f32, i64, i64, i64, i64, i64, i64, i64, i64) + (types.int64,) * 5
                 + (types.boolean, types.float32, types.float32, types.boolean, f32, i64)),
        # k-mer tokens: two kernels (code into lanes, then token runs); 2-D arrays of one window per row
        "kmer_code": (lambda: kc._build_kmer()[0], (types.Array(types.uint8, 2, "C"), u8,
                                                    types.Array(types.uint8, 2, "C"), types.int64, types.int64)),
        "kmer_run": (lambda: kc._build_kmer()[1], (types.Array(types.uint8, 2, "C"), types.Array(types.int64, 2, "C"))
                     + (types.int64,) * 4),
    }
    local_bytes = {}
    for name, (build, sig) in sigs.items():
        ptx, _ = c.compile_ptx(build().py_func, sig, device=False, cc=(9, 0))
        assert ".entry" in ptx, name
        depot = re.findall(r"__local_depot\d+\[(\d+)\]", ptx)
        local_bytes[name] = max(map(int, depot)) if depot else 0
    assert local_bytes["inflate"] < 16384, local_bytes


# --- plain-Python references ----------------------------------------------------------------------


def _section_table():
    """(label, inflated block bytes in file order, big-endian, may_be_partial) rows for scan/expand."""
    import struct

    rng = np.random.default_rng(5)

    def sec(bo, chrom, start, end, step, span, kind, recs):
        head = struct.pack(bo + "IIIIIBBH", chrom, start, end, step, span, kind, 0, len(recs))
        if kind == 1:
            body = b"".join(struct.pack(bo + "IIf", s, e, v) for s, e, v in recs)
        elif kind == 2:
            body = b"".join(struct.pack(bo + "If", s, v) for s, v in recs)
        else:
            body = b"".join(struct.pack(bo + "f", v) for v in recs)
        return head + body

    vals = rng.normal(size=40).astype(np.float32).tolist()
    rows = []
    for bo, big in (("<", False), (">", True)):
        bed = sec(bo, 0, 10, 400, 0, 0, 1, [(10 + 9 * i, 15 + 9 * i, vals[i]) for i in range(40)])
        bed_overlap = sec(bo, 0, 0, 100, 0, 0, 1, [(0, 50, 1.0), (20, 30, 2.0), (25, 90, vals[0]), (5, 6, 3.0)])
        var = sec(bo, 0, 3, 300, 0, 6, 2, [(3 + 7 * i, vals[i]) for i in range(40)])
        fixed = sec(bo, 0, 100, 500, 10, 4, 3, vals[:30])
        fixed_ov = sec(bo, 0, 0, 200, 3, 8, 3, vals[:25])
        two_chroms = sec(bo, 0, 0, 50, 0, 0, 1, [(0, 5, 1.0)]) + sec(bo, 1, 0, 50, 0, 0, 1, [(2, 9, 2.0)])
        rows += [(f"bedGraph {bo}", bed, big, False), (f"overlapping {bo}", bed_overlap, big, False),
                 (f"varStep {bo}", var, big, False), (f"fixedStep {bo}", fixed, big, False),
                 (f"fixedStep step<span {bo}", fixed_ov, big, False), (f"two chroms {bo}", two_chroms, big, False),
                 (f"mixed {bo}", sec(bo, 0, 10, 60, 0, 0, 1, [(10 + 9 * i, 15 + 9 * i, vals[i]) for i in range(5)])
                  + var + fixed, big, False),
                 (f"cut bedGraph {bo}", bed[: 24 + 12 * 7 + 5], big, True),
                 (f"cut header {bo}", bed + bed_overlap[:10], big, True)]
    rows += [("cut not allowed", rows[0][1][:100], False, False),
             ("bad type", sec("<", 0, 0, 9, 0, 0, 7, []), False, False),
             ("end before start", sec("<", 0, 0, 9, 0, 0, 1, [(5, 3, 1.0)]), False, False),
             ("count too large", rows[0][1][:24 + 12 * 3], False, False),
             ("empty", b"", False, False)]
    return rows




def _expand_reference(arena, lo, length, bptr, blist, chrom, starts, width, chrom_len, missing, oob):
    """Plain-Python expansion of canonical blocks: per item, its blocks in list order, their sections
    on the item's chromosome and their records in stored order paint the window (the last one wins; NaN
    values and uncovered bases get ``missing``); bases outside ``[0, chrom_len)`` get ``oob``."""
    import struct

    n = starts.size
    n_tracks = chrom.size // n
    out = np.empty(chrom.size * width, np.float32)
    for item in range(chrom.size):
        w, t = item % n, item // n
        ws = int(starts[w])
        row = np.full(width, missing, np.float32)
        for k in range(bptr[item], bptr[item + 1]):
            b = blist[k]
            p, end = int(lo[b]), int(lo[b] + length[b])
            while end - p >= 24 and chrom[item] >= 0:
                cid, start, _, step, span, kind, _, count = struct.unpack_from("<IIIIIBBH", arena, p)
                size = {1: 12, 2: 8, 3: 4}.get(kind)
                if size is None:
                    break
                count = min(count, (end - p - 24) // size)
                if cid == chrom[item]:
                    for i in range(count):
                        r = p + 24 + i * size
                        if kind == 1:
                            s, e, v = struct.unpack_from("<IIf", arena, r)
                        elif kind == 2:
                            s, v = struct.unpack_from("<If", arena, r)
                            e = s + span
                        else:
                            (v,) = struct.unpack_from("<f", arena, r)
                            s = start + i * step
                            e = s + span
                        a, z = max(s, ws) - ws, min(e, ws + width) - ws
                        if a < z:
                            row[a:z] = missing if np.isnan(v) else np.float32(v)
                p += 24 + count * size
        x = np.arange(ws, ws + width)
        row[(x < 0) | (x >= chrom_len[item])] = oob
        out[(w * n_tracks + t) * width:(w * n_tracks + t + 1) * width] = row
    return out


def _bins_reference(src, bin_size, stat, covered_only, missing):
    """Plain-Python statistics of each bin of per-base rows (NaN: uncovered), as ``kernels.bins.bin_value``
    documents them: float64 running sums, uncovered bases counted as ``missing`` unless ``covered_only``,
    min/max by ``<``/``>`` comparisons (so a NaN fill value never becomes the minimum or maximum)."""
    rows, width = src.shape
    out = np.empty((rows, width // bin_size), np.float32)
    fill = float(missing)
    for r in range(rows):
        for b in range(width // bin_size):
            vals = [float(v) for v in src[r, b * bin_size:(b + 1) * bin_size] if not np.isnan(v)]
            if stat == 4:
                out[r, b] = len(vals) / bin_size
                continue
            n, total, lo, hi = len(vals), 0.0, float("inf"), float("-inf")
            for v in vals:
                total += v
                lo = min(lo, v)
                hi = max(hi, v)
            if n < bin_size and not covered_only:
                total += fill * (bin_size - n)
                lo = min(lo, fill)
                hi = max(hi, fill)
                n = bin_size
            out[r, b] = missing if n == 0 else [total / n, total, lo, hi][stat]
    return out
