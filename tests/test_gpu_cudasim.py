"""``read_windows(..., device="cuda")`` against the CPU path, bit for bit, on generated and real files.

Every comparison runs one batch on both paths with tiny launches (the ``read_twins`` fixture of
conftest.py) and compares the float32 results bit for bit.  Where these tests run -- the CUDA
simulator or a real device -- is in gpu_support.py; the kernels' own twins are in test_gpu_kernels.py.

One test here runs where neither is: there ``device="cuda"`` raises :class:`fastwig.CudaUnavailable`
and the CPU path keeps working.  (That ``import fastwig`` and CPU reads never import ``numba.cuda``
is test_layers.py's.)
"""

from __future__ import annotations

import numpy as np
import pytest
from edgecases import EDGE_CASES, edge_specs
from gpu_support import assert_same_bits, gpu_drivers, simulator_requested
from support import BIGWIG_DIR, SHARED_REASON

import fastwig
from fastwig.writer import BedGraph, write_bigwig

STATS = ("mean", "sum", "min", "max", "coverage")
# 65,535 records in one block: too slow for the simulator, which runs every thread in Python
EDGE_NAMES = [name for name in EDGE_CASES if name != "max_items_per_block"]


# --- no CUDA at all ---------------------------------------------------------------------------------


def test_cuda_device_without_cuda_raises_cuda_unavailable(tmp_path):
    """No GPU and no simulator: device="cuda" raises fastwig.CudaUnavailable (a FastwigError naming the
    way out), not a numba error, and the CPU path keeps working afterwards."""
    if simulator_requested():
        pytest.skip("this process runs the CUDA simulator; the plain `pytest` run checks the no-CUDA case")
    if gpu_drivers()[0] is not None:
        pytest.skip("a CUDA device is usable here")
    path = tmp_path / "h.bw"
    write_bigwig(path, [("chr1", 1000)], [BedGraph("chr1", [0, 100], [50, 300], np.float32([1, 2]))])
    cpu = fastwig.read_windows([path], "chr1", [0, 900], 200)
    with pytest.raises(fastwig.CudaUnavailable) as info:
        fastwig.read_windows([path], "chr1", [0, 900], 200, device="cuda")
    assert isinstance(info.value, fastwig.FastwigError)
    assert "device='cpu'" in str(info.value) and "CUDA is not usable" in str(info.value)
    assert_same_bits(fastwig.read_windows([path], "chr1", [0, 900], 200), cpu, "CPU read after the failure")


# --- generated files: what no real writer produces ---------------------------------------------------


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory):
    """``{name: (open BigWig, chromosomes with data in file order)}`` for every generated edge case."""
    tmp = tmp_path_factory.mktemp("gpu_edge")
    out = {}
    for name, (chroms, sections, kw) in edge_specs().items():
        if name not in EDGE_NAMES:
            continue
        path = tmp / f"{name}.bw"
        write_bigwig(path, chroms, sections, **kw)
        names = [c for c, _ in chroms]
        out[name] = (fastwig.open(path), sorted({s.chrom for s in sections}, key=names.index) or [names[0]])
    yield out
    for bw, _ in out.values():
        bw.close()


@pytest.mark.gpu
@pytest.mark.parametrize("name", EDGE_NAMES)
def test_gpu_matches_cpu_on_generated_file(read_twins, edge_files, name):
    """Big-endian, uncompressed, stored zlib blocks, the three section types, overlaps, coordinates
    >= 2**31, an empty file...: windows before, inside and at the end of each chromosome with data."""
    bw, chroms = edge_files[name]
    for chrom in chroms[:3]:
        size = bw.chroms[chrom]
        starts = [-25, size // 3, max(0, size - 40)]
        if name == "coords_ge_2_31" and chrom == "huge":
            starts = [2**31 - 40, 3_000_000_000 - 10, size - 30]
        read_twins(f"{name}:{chrom}", [bw], chrom, starts, 64)


@pytest.mark.gpu
def test_gpu_matches_cpu_on_all_generated_files_in_one_batch(read_twins, edge_files):
    """Mixed byte orders, compressed and raw blocks, files lacking chr1 or chr2, missing and oob values."""
    every = [bw for bw, _ in edge_files.values()]
    read_twins("all files, chr1", every, "chr1", [-30, 0, 700, 1990, 2700], 48)
    read_twins("all files, chr2 and chr1", every, np.array(["chr2", "chr1", "chr2"]), [10, 400, 2980], 40,
               missing=-2.0, oob=9.5)


def _trio(edge_files):
    return [edge_files[n][0] for n in ("mixed_sections", "big_endian", "overlapping", "fixedstep_overlapping")]


@pytest.mark.gpu
@pytest.mark.parametrize("covered_only", [False, True])
@pytest.mark.parametrize("stat", STATS)
def test_gpu_matches_cpu_on_bins_of_generated_files(read_twins, edge_files, stat, covered_only):
    read_twins(f"bins {stat}", _trio(edge_files), "chr1", [-16, 0, 96, 3990], 64, bin_size=8, stat=stat,
               covered_only=covered_only, missing=0.5)


@pytest.mark.gpu
def test_gpu_matches_cpu_on_bins_past_the_end_and_nan_missing(read_twins, edge_files):
    read_twins("bins oob", _trio(edge_files), "chr1", [-16, 3980], 64, bin_size=16, stat="mean", oob=-7.0)
    read_twins("bins nan missing", _trio(edge_files), "chr1", [-16, 3980], 64, bin_size=32, stat="max",
               missing=np.nan)


@pytest.mark.gpu
@pytest.mark.parametrize("early_exit", [True, False])
def test_gpu_matches_cpu_with_and_without_early_exit(read_twins, edge_files, monkeypatch, early_exit):
    monkeypatch.setattr(fastwig.settings, "early_exit", early_exit)
    read_twins(f"early_exit={early_exit}", _trio(edge_files), "chr1", [0, 100, 3000], 64)


# --- real files --------------------------------------------------------------------------------------


# (id, files under shared/data/bigwig, chroms, starts, width, read_windows keywords)
REAL_CASES = [
    ("volvox", ["bbi-js/volvox.bw"], "ctgA", [-30, 24_000, 49_990], 100, {}),            # bedGraph, 3 KB blocks
    ("volvox + uncompressed", ["bbi-js/volvox.bw", "bbi-js/uncompressed.bw"], "ctgA", [-30, 0, 49_950], 100, {}),
    ("varStep past both ends", ["bbi-js/variable_step.bw"], "chr1", [-10, 0, 40], 32, {}),
    ("fixedStep", ["bbi-js/fixedStep.bw"], "chr1", [11_400, 500_000, 999_990], 100, {}),  # 2-3 KB blocks
    ("igv fixedStep", ["igv.js/fixedStep.bw"], "chr1", [9_990, 10_050, 10_110], 40, {}),
    ("bigtools layout", ["igv.js/bigtools.bigWig"], "chr1", [69_580, 259_400], 64, {}),
    ("overlap types", ["megadepth/bw.all_overlap_types.test_input.bw"], "chr1",
     [121_478_680, 121_480_000, 121_483_200], 80, {}),
    ("pyBigWig test.bw", ["pyBigWig/test.bw"], "1", [-5, 0, 100, 195_471_950], 64, {}),
    ("bins volvox + fixedStep", ["bbi-js/volvox.bw", "bbi-js/fixedStep.bw"], ["ctgA", "chr1"],
     [49_900, 999_900], 200, {"bin_size": 25}),
]
# small blocks only: the simulator inflates every batch afresh
THREE = ["igv.js/fixedStep.bw", "deepTools/test_data__testA.bw", "bbi-js/variable_step.bw"]
for _stat in STATS:
    REAL_CASES += [
        (f"bins {_stat}", THREE, ["chr1", "3R", "chr1"], [-50, 10_000, 100], 200,
         {"bin_size": 25, "stat": _stat}),
        (f"bins {_stat} covered_only", THREE, ["chr1", "3R", "chr1"], [9_990, 10_100, 0], 40,
         {"bin_size": 8, "stat": _stat, "covered_only": True, "missing": -3.0}),
    ]

needs_shared = pytest.mark.skipif(not BIGWIG_DIR.is_dir(), reason=SHARED_REASON)


@pytest.mark.gpu
@needs_shared
@pytest.mark.parametrize("label, files, chroms, starts, width, kw", REAL_CASES, ids=[c[0] for c in REAL_CASES])
def test_gpu_matches_cpu_on_real_file(read_twins, label, files, chroms, starts, width, kw):
    """bedGraph, varStep, fixedStep and uncompressed files written by real tools; windows past both
    chromosome ends; each bin statistic."""
    tracks = [fastwig.open(BIGWIG_DIR / f) for f in files]
    read_twins(label, tracks, chroms if isinstance(chroms, str) else np.array(chroms), starts, width, **kw)


@pytest.mark.gpu
@needs_shared
def test_gpu_matches_cpu_where_one_track_lacks_the_chromosome(read_twins):
    """testA has 3R only; windows past the end of 3R (200 bp); three chromosomes in one batch."""
    dt = BIGWIG_DIR / "deepTools"
    a = fastwig.open(dt / "test_data__testA.bw")
    b = fastwig.open(dt / "test_data__testA_offset1.bw")
    heat = fastwig.open(dt / "test_heatmapper__test.bw")
    other = [c for c in b.chroms if c not in a.chroms]
    assert other, "testA_offset1.bw was expected to have a chromosome testA.bw lacks"
    read_twins("missing chrom", [a, b], np.array(["3R", other[0], "3R"]), [-8, 0, 150], 64, missing=-1.0)
    read_twins("three chroms", [heat, a, b], np.array(list(heat.chroms)[:3]), [0, 100, 350], 64)


# --- errors and arguments ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corrupt_files(tmp_path_factory):
    """A good compressed file, its uncompressed twin, and copies with one byte of one block changed.

    Blocks hold 32 records (320 bp): the windows of the tests read blocks 0, 1 and 9.
    """
    tmp = tmp_path_factory.mktemp("gpu_corrupt")
    rng = np.random.default_rng(7)
    s = np.arange(0, 3000, 10)
    recs = [BedGraph("chr1", s, s + 5, rng.normal(size=s.size).astype(np.float32))]
    good, raw = tmp / "good.bw", tmp / "raw.bw"
    write_bigwig(good, [("chr1", 3000)], recs, items_per_block=32)
    write_bigwig(raw, [("chr1", 3000)], recs, items_per_block=32, compress=False)

    def corrupt(src, name, block, at, value):
        with fastwig.open(src) as bw:
            off = int(bw._index.offset[block])
        data = bytearray(src.read_bytes())
        data[off + at] = value
        (tmp / name).write_bytes(bytes(data))
        return tmp / name

    return {
        "good": good,
        "zlib header": corrupt(good, "hdr.bw", 1, 0, 0x79),            # CM != 8
        "section type": corrupt(raw, "type.bw", 0, 20, 9),              # scan fails (raw block)
        "item count": corrupt(raw, "count.bw", 9, 23, 0x7F),            # count larger than the block
        "scan in first block": corrupt(raw, "two.bw", 0, 20, 7),
    }


def _errors(*args, **kw):
    """``(exception name, message)`` of ``read_windows(*args, **kw)`` on the CPU and on the GPU (None: no error)."""
    out = []
    for device in ("cpu", "cuda"):
        try:
            fastwig.read_windows(*args, device=device, **kw)
            out.append(None)
        except fastwig.FastwigError as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["zlib header", "section type", "item count"])
def test_gpu_raises_the_cpu_format_error_for_a_corrupt_block(gpu, tiny_launches, corrupt_files, case):
    errs = _errors([corrupt_files[case]], "chr1", [0, 500, 2900], 100)      # paths: fresh objects each time
    assert errs[0] is not None and errs[0][0] == "FormatError", errs
    assert errs[1] == errs[0]


@pytest.mark.gpu
def test_gpu_reports_the_first_failing_block_as_the_cpu_does(gpu, tiny_launches, corrupt_files):
    """Inflate failures come before scan failures on the CPU; the GPU reports the same one."""
    errs = _errors([corrupt_files["scan in first block"], corrupt_files["zlib header"]], "chr1", [0, 500, 2900], 100)
    assert errs[0] is not None and errs[0][0] == "FormatError", errs
    assert errs[1] == errs[0]


@pytest.mark.gpu
@pytest.mark.parametrize("kwargs", [{"width": 0}, {"width": 10, "bin_size": 3}, {"width": 10, "stat": "median"},
                                    {"width": 10, "starts": [[1]]}, {"width": 10, "chroms": ["chr1"] * 5}],
                         ids=["width 0", "bin_size not dividing", "unknown stat", "2-D starts", "chroms length"])
def test_gpu_raises_the_cpu_range_error_for_bad_arguments(gpu, corrupt_files, kwargs):
    kw = {"tracks": [fastwig.open(corrupt_files["good"])], "chroms": "chr1", "starts": [0, 1], **kwargs}
    got = _errors(**kw)
    assert got[0] is not None and got[0][0] == "RangeError", got
    assert got[1] is not None and got[1][0] == "RangeError", got


@pytest.mark.gpu
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:"])
def test_bad_device_strings_raise_range_error(gpu, corrupt_files, device):
    with pytest.raises(fastwig.RangeError):
        fastwig.read_windows([fastwig.open(corrupt_files["good"])], "chr1", [0], 10, device=device)


@pytest.mark.gpu
def test_out_device_array_is_filled_in_place(gpu, tiny_launches, corrupt_files):
    bw = fastwig.open(corrupt_files["good"])
    cpu = fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, stat="sum")
    out = gpu.device_empty((2, 2, 5), np.float32)
    ret = fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, stat="sum", out=out, device="cuda")
    assert ret is out
    assert_same_bits(out.copy_to_host(), cpu, "out=")


@pytest.mark.gpu
@pytest.mark.parametrize("which", ["host array", "wrong shape", "wrong dtype"])
def test_out_that_does_not_fit_is_refused(gpu, corrupt_files, which):
    bad = {"host array": lambda: np.zeros((2, 2, 5), np.float32),
           "wrong shape": lambda: gpu.device_empty((2, 2, 4), np.float32),
           "wrong dtype": lambda: gpu.device_empty((2, 2, 5), np.float64)}[which]()
    bw = fastwig.open(corrupt_files["good"])
    with pytest.raises(fastwig.RangeError):
        fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, out=bad, device="cuda")


@pytest.mark.gpu
def test_explicit_device_index_empty_batches_and_windows_without_blocks(read_twins, corrupt_files):
    bw = fastwig.open(corrupt_files["good"])
    x = fastwig.read_windows([bw], "chr1", [0, 2990], 20, device="cuda:0")
    assert_same_bits(x.copy_to_host(), fastwig.read_windows([bw], "chr1", [0, 2990], 20), "cuda:0")
    assert tuple(fastwig.read_windows([bw], "chr1", np.zeros(0, np.int64), 10, device="cuda").shape) == (0, 1, 10)
    assert tuple(fastwig.read_windows([], "chr1", [0, 5], 10, device="cuda").shape) == (2, 0, 10)
    read_twins("no blocks", [bw], "chr1", [-500, 5000], 64)


@pytest.mark.gpu
def test_results_go_into_torch_without_a_copy(gpu, corrupt_files):
    """Real device only: a result is a torch tensor's memory as is, and ``out=`` takes a torch tensor."""
    if gpu.is_simulator():
        pytest.skip("the simulator's arrays live in host memory; zero-copy needs a real device")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch is a CPU build here")
    bw = fastwig.open(corrupt_files["good"])
    x = fastwig.read_windows([bw], "chr1", [0, 100], 50, device="cuda")
    t = torch.as_tensor(x, device="cuda")
    assert t.data_ptr() == x.__cuda_array_interface__["data"][0]
    into = torch.empty((2, 1, 50), dtype=torch.float32, device="cuda")
    assert fastwig.read_windows([bw], "chr1", [0, 100], 50, out=into, device="cuda") is into
    assert_same_bits(into.cpu().numpy(), x.copy_to_host(), "out= torch tensor")
