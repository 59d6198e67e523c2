"""The GPU path (``read_windows(..., device="cuda")`` and the kernels' GPU twins) against the CPU path.

Every check compares float32 results bit for bit (``a.view(np.uint32) == b.view(np.uint32)``).

Where the checks run: ``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported, so each check
runs in a subprocess started with the right environment; this file's ``_child_*`` functions are what
the subprocesses run.  The device is chosen once per session:

- ``NUMBA_ENABLE_CUDASIM=1`` in the environment (the ``cudasim`` tox env): the simulator;
- otherwise, a real CUDA device when a probe finds one (the ``gpu`` tox env): the same checks on it;
- otherwise the simulator.

``FASTWIG_GPU_TEST_MODE=sim`` or ``=real`` forces the choice.  Launch sizes are shrunk (2 threads per
block, at most 2 blocks) so that tiny inputs still span several blocks and grid-stride iterations; the
simulator runs kernels as Python threads, so inputs stay tiny (a few windows, small files).

Also here, without the simulator: ``import fastwig`` and CPU reads never import ``numba.cuda``, and
``device="cuda"`` on a machine without CUDA raises :class:`fastwig.CudaUnavailable`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from support import require_numba_cuda_package

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED = Path(os.environ.get("FASTWIG_SHARED", ROOT.parent / "shared"))
BIGWIG_DIR = SHARED / "data" / "bigwig"

pytestmark = pytest.mark.gpu


# ---------------------------------------------------------------------------------------------------
# subprocess plumbing


def _env(sim: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), str(TESTS), env.get("PYTHONPATH", "")] if p)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return env


def _start_child(func: str, *args, sim: bool) -> subprocess.Popen:
    """Start ``test_gpu_cudasim.<func>(*args)`` in a fresh interpreter (see :func:`_child_result`)."""
    code = (f"import sys, json; import test_gpu_cudasim as m; "
            f"print('@@' + json.dumps(m.{func}(*{args!r})))")
    return subprocess.Popen([sys.executable, "-c", code], env=_env(sim), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _child_result(func: str, proc: subprocess.Popen, timeout: int = 300) -> dict:
    """The JSON a child started by :func:`_start_child` prints last; fails with its output otherwise."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("@@")]
    assert proc.returncode == 0 and lines, f"child {func} failed:\n{stdout[-4000:]}\n{stderr[-8000:]}"
    return json.loads(lines[-1][2:])


def _run_child(func: str, *args, sim: bool, timeout: int = 300) -> dict:
    """Run ``test_gpu_cudasim.<func>(*args)`` in a fresh interpreter; return the JSON it prints last."""
    return _child_result(func, _start_child(func, *args, sim=sim), timeout)


@pytest.fixture(scope="module")
def ptx_job():
    """The PTX compilation check, started early: it runs on another core while the simulator works."""
    found = _find_nvvm()
    if found is None or not _has_numba_cuda():
        yield None
        return
    proc = _start_child("_child_ptx", *found, sim=False)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def _has_numba_cuda() -> bool:
    try:
        return importlib.util.find_spec("numba.cuda") is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="module")
def no_sim_probe(ptx_job):
    """What a process without the simulator sees: import hygiene and whether CUDA is usable."""
    return _run_child("_child_hygiene", str(BIGWIG_DIR), sim=False, timeout=180)


@pytest.fixture(scope="module")
def sim(no_sim_probe) -> bool:
    """True: run the GPU checks under the simulator; False: on the real device."""
    mode = os.environ.get("FASTWIG_GPU_TEST_MODE", "auto")
    if mode in ("sim", "real"):
        return mode == "sim"
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0"):
        return True
    return not no_sim_probe["cuda_usable"]


@pytest.fixture(scope="module")
def numba_cuda():
    pytest.importorskip("numba.cuda")


# ---------------------------------------------------------------------------------------------------
# tests


def test_import_and_cpu_reads_do_not_touch_cuda(no_sim_probe):
    """``import fastwig`` and CPU reads import no numba.cuda (a process that initialised CUDA cannot
    fork DataLoader workers safely), and the GPU module is not even imported."""
    assert no_sim_probe["after_import"] == [], no_sim_probe
    assert no_sim_probe["after_cpu_read"] == [], no_sim_probe


def test_cuda_device_without_cuda_raises_cuda_unavailable(no_sim_probe):
    """No GPU and no simulator: device="cuda" raises fastwig.CudaUnavailable, not a numba error."""
    if no_sim_probe["cuda_usable"]:
        pytest.skip("a CUDA device is usable here")
    assert no_sim_probe["error_type"] == "CudaUnavailable", no_sim_probe
    assert no_sim_probe["is_fastwig_error"]
    assert "device='cpu'" in no_sim_probe["error"] and "CUDA is not usable" in no_sim_probe["error"]
    # the CPU path still works in that process after the failed CUDA request
    assert no_sim_probe["cpu_after_failure"]


def test_gpu_twins_of_each_kernel_match_cpu_twins(numba_cuda, sim):
    """scan, expand and reduce (inflate: tests/test_inflate_cudasim.py): reference vs CPU twin vs GPU twin
    on one shared edge table of data sections, bit for bit."""
    res = _run_child("_child_kernels", sim=sim)
    assert res["scan_blocks"] >= 10 and res["expand_items"] >= 10 and res["reduce_cases"] >= 100, res


def test_read_windows_gpu_matches_cpu_on_generated_files(numba_cuda, sim):
    """Every generated edge-case file (big-endian, uncompressed, stored zlib blocks, the three section
    types, overlaps, coordinates >= 2**31, an empty file...), alone and all together in one batch."""
    with tempfile.TemporaryDirectory() as tmp:
        res = _run_child("_child_reads_generated", tmp, sim=sim)
    assert res["checks"] >= 40, res


@pytest.mark.skipif(not BIGWIG_DIR.is_dir(), reason=f"real test files not found at {BIGWIG_DIR}")
def test_read_windows_gpu_matches_cpu_on_real_files(numba_cuda, sim):
    """bedGraph, varStep, fixedStep and uncompressed files written by real tools; windows past both
    chromosome ends; a chromosome missing from one track; each bin statistic."""
    res = _run_child("_child_reads_real", str(BIGWIG_DIR), sim=sim)
    assert res["checks"] >= 20, res


def test_read_windows_gpu_errors_and_arguments(numba_cuda, sim):
    """Corrupt blocks raise the CPU path's FormatError (same message); bad arguments its RangeError;
    ``out=`` device arrays are filled in place; results are device arrays."""
    with tempfile.TemporaryDirectory() as tmp:
        res = _run_child("_child_errors", tmp, sim=sim)
    assert res["ok"], res


def _find_nvvm():
    """(libnvvm, libdevice) of a CUDA toolkit on this machine, or None."""
    import glob

    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")] + sorted(
        glob.glob("/usr/local/cuda*"), reverse=True)
    for root in filter(None, roots):
        nvvm = sorted(glob.glob(os.path.join(root, "lib*", "libnvvm.so*")) +
                      glob.glob(os.path.join(root, "nvvm", "lib*", "libnvvm.so*")))
        libdevice = glob.glob(os.path.join(root, "nvvm", "libdevice", "libdevice*.bc"))
        if nvvm and libdevice:
            return nvvm[0], libdevice[0]
    return None


def test_gpu_kernels_compile_to_ptx_without_a_device(numba_cuda, ptx_job):
    """The simulator runs the kernels as Python, so it cannot see CUDA typing or lowering errors: compile
    every pipeline kernel to PTX for sm_90 with NVVM (no driver, no GPU needed) when a toolkit is here."""
    require_numba_cuda_package()
    if ptx_job is None:
        pytest.skip("no CUDA toolkit (libnvvm + libdevice) found; set CUDA_HOME")
    res = _child_result("_child_ptx", ptx_job)
    if "skip" in res:
        pytest.skip(res["skip"])
    assert set(res["kernels"]) == {"inflate", "scan", "expand", "reduce"}, res
    # the Huffman scratch stays in one ~10 KB local array per thread (no runaway spills)
    assert res["kernels"]["inflate"]["local_bytes"] < 16384, res


# ---------------------------------------------------------------------------------------------------
# what the subprocesses run


def _child_ptx(nvvm, libdevice):
    """Compile the four pipeline kernels to PTX (cc 9.0) without a driver.

    numba-cuda asks the driver for the device's compute capability and NVRTC for the supported ones even
    when only PTX is wanted; both questions are answered here by hand (internal hooks: if they move in a
    later numba-cuda, the test skips instead of failing).
    """
    import re
    from collections import namedtuple

    kc = _kernel_module("cuda")
    try:
        c = kc._cuda()
        from numba import types
        from numba.cuda import cuda_paths, dispatcher
        from numba.cuda.cudadrv import nvrtc

        class _Device:
            compute_capability = (9, 0)

        dispatcher.get_current_device = lambda: _Device()
        nvrtc.get_supported_ccs = lambda: ((7, 5), (8, 0), (8, 6), (9, 0))
        entry = namedtuple("entry", "by info")
        lib_dir = os.path.dirname(nvvm)
        cuda_paths.get_cuda_paths._cached_result = {
            "nvrtc": entry("test", None), "nvvm": entry("test", nvvm), "libdevice": entry("test", libdevice),
            "cudalib_dir": entry("test", lib_dir), "static_cudalib_dir": entry("test", lib_dir),
            "include_dir": entry("test", os.path.join(os.path.dirname(lib_dir), "include"))}
    except (ImportError, AttributeError) as exc:
        return {"skip": f"numba-cuda internals moved ({exc})"}
    a = {t: types.Array(t, 1, "C") for t in (types.uint8, types.uint32, types.int64, types.float32)}
    f2 = types.Array(types.float32, 2, "C")
    i64, u8, u32, f32 = a[types.int64], a[types.uint8], a[types.uint32], a[types.float32]
    sigs = {
        "inflate": (kc._build_inflate, (u8, i64, i64, u8, i64, i64, i64, i64, i64)),
        "scan": (kc._build_scan, (u8, u32, i64, i64, i64, i64, i64, i64)),
        "expand": (kc._build_expand, (u8, u32, f32, i64, i64, i64, i64, i64, i64, i64, types.int64, i64,
                                      types.float32, types.float32, f32)),
        "reduce": (kc._build_reduce, (f2, types.int64, types.int64, types.boolean, types.float32, f2)),
    }
    out = {}
    for name, (build, sig) in sigs.items():
        ptx, _ = c.compile_ptx(build().py_func, sig, device=False, cc=(9, 0))
        depot = re.findall(r"__local_depot\d+\[(\d+)\]", ptx)
        out[name] = {"ptx_chars": len(ptx), "local_bytes": max(map(int, depot)) if depot else 0}
    return {"kernels": out}



def _kernel_module(name: str):
    """``fastwig.kernels.<name>`` when installed, else the source tree's ``kernels.<name>``."""
    import importlib

    try:
        return importlib.import_module(f"fastwig.kernels.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"kernels.{name}")


def _cuda_modules():
    return sorted(m for m in sys.modules if m in ("numba.cuda", "fastwig.gpu")
                  or m.startswith(("numba.cuda.", "numba_cuda.numba.cuda.cudadrv")))


def _child_hygiene(bigwig_dir):
    """Import fastwig, read on the CPU, then ask for CUDA (no simulator in this process)."""
    import warnings

    import fastwig
    from fastwig.writer import BedGraph, write_bigwig

    report = {"after_import": _cuda_modules()}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "h.bw")
        write_bigwig(path, [("chr1", 1000)], [BedGraph("chr1", [0, 100], [50, 300], np.float32([1, 2]))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu = fastwig.read_windows([path], "chr1", [0, 900], 200)
            fastwig.read_windows([path], "chr1", [0, 900], 200, bin_size=10, stat="max")
            with fastwig.open(path) as bw:
                bw.values("chr1", 0, 500)
                bw.stats("chr1", 0, 1000, exact=True)
        report["after_cpu_read"] = _cuda_modules()
        try:
            got = fastwig.read_windows([path], "chr1", [0, 900], 200, device="cuda")
            report["cuda_usable"] = True
            report["gpu_equal"] = bool(np.array_equal(got.copy_to_host().view(np.uint32), cpu.view(np.uint32)))
        except Exception as exc:
            report["cuda_usable"] = False
            report["error_type"] = type(exc).__name__
            report["is_fastwig_error"] = isinstance(exc, fastwig.FastwigError)
            report["error"] = str(exc)
            again = fastwig.read_windows([path], "chr1", [0, 900], 200)
            report["cpu_after_failure"] = bool(np.array_equal(again, cpu))
    return report


def _setup_child():
    """Tiny launches; returns (fastwig, same) after importing under the chosen device."""
    import warnings

    import fastwig

    warnings.simplefilter("ignore")          # "no chromosome ..." warnings are expected here
    fastwig.settings.gpu_threads_per_block = 2
    fastwig.settings.gpu_max_blocks = 2
    return fastwig


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


class _Checker:
    """Runs one read on both paths and compares the results bit for bit."""

    def __init__(self, fastwig):
        self.fw = fastwig
        self.checks = 0

    def __call__(self, label, tracks, chroms, starts, width, **kw):
        cpu = self.fw.read_windows(tracks, chroms, np.asarray(starts, np.int64), width, **kw)
        dev = self.fw.read_windows(tracks, chroms, np.asarray(starts, np.int64), width, device="cuda", **kw)
        assert hasattr(dev, "copy_to_host") and tuple(dev.shape) == cpu.shape, (label, type(dev))
        got = dev.copy_to_host()
        assert got.dtype == np.float32 and got.shape == cpu.shape
        same = _bits(got) == _bits(cpu)
        if not same.all():
            i, t, j = np.argwhere(~same)[0]
            raise AssertionError(f"{label} {kw}: GPU differs from CPU at {int((~same).sum())} values; first "
                                 f"window {i} track {t} position {j}: {got[i, t, j]!r} vs {cpu[i, t, j]!r}")
        self.checks += 1


STAT_NAMES = ("mean", "sum", "min", "max", "coverage")


def _child_reads_generated(tmp):
    fastwig = _setup_child()
    from edgecases import edge_specs

    from fastwig.writer import write_bigwig

    check = _Checker(fastwig)
    bws = {}
    for name, (chroms, sections, kw) in edge_specs().items():
        if name == "max_items_per_block":    # 65,535 records in one block: too slow for the simulator
            continue
        path = os.path.join(tmp, f"{name}.bw")
        write_bigwig(path, chroms, sections, **kw)
        bw = fastwig.open(path)
        bws[name] = bw
        with_data = sorted({s.chrom for s in sections}, key=[c for c, _ in chroms].index)
        for chrom in (with_data or [chroms[0][0]])[:3]:
            size = bw.chroms[chrom]
            starts = [-25, size // 3, max(0, size - 40)]
            if name == "coords_ge_2_31" and chrom == "huge":
                starts = [2**31 - 40, 3_000_000_000 - 10, size - 30]
            check(f"{name}:{chrom}", [bw], chrom, starts, 64)
    # one batch over every file: mixed byte orders, compressed and raw blocks, files lacking chr1
    every = list(bws.values())
    check("all files, chr1", every, "chr1", [-30, 0, 700, 1990, 2700], 48)
    check("all files, chr2 and chr1", every, np.array(["chr2", "chr1", "chr2"]), [10, 400, 2980], 40,
          missing=-2.0, oob=9.5)
    # bins, every statistic, both conventions for uncovered bases
    trio = [bws["mixed_sections"], bws["big_endian"], bws["overlapping"], bws["fixedstep_overlapping"]]
    for stat in STAT_NAMES:
        for covered_only in (False, True):
            check(f"bins {stat} {covered_only}", trio, "chr1", [-16, 0, 96, 3990], 64, bin_size=8, stat=stat,
                  covered_only=covered_only, missing=0.5)
    check("bins oob", trio, "chr1", [-16, 3980], 64, bin_size=16, stat="mean", oob=-7.0)
    check("bins nan missing", trio, "chr1", [-16, 3980], 64, bin_size=32, stat="max", missing=np.nan)
    check("no early exit", trio, "chr1", [0, 100, 3000], 64)
    fastwig.settings.early_exit = False
    check("no early exit", trio, "chr1", [0, 100, 3000], 64)
    fastwig.settings.early_exit = True
    return {"checks": check.checks}


def _child_reads_real(bigwig_dir):
    fastwig = _setup_child()
    d = Path(bigwig_dir)
    check = _Checker(fastwig)
    volvox = fastwig.open(d / "bbi-js" / "volvox.bw")               # bedGraph, 3 KB blocks
    raw = fastwig.open(d / "bbi-js" / "uncompressed.bw")            # same data, uncompressBufSize 0
    check("volvox", [volvox], "ctgA", [-30, 24_000, 49_990], 100)
    check("volvox + uncompressed", [volvox, raw], "ctgA", [-30, 0, 49_950], 100)
    check("varStep past both ends", [fastwig.open(d / "bbi-js" / "variable_step.bw")], "chr1", [-10, 0, 40], 32)
    fixed = fastwig.open(d / "bbi-js" / "fixedStep.bw")             # fixedStep, 2-3 KB blocks
    check("fixedStep", [fixed], "chr1", [11_400, 500_000, 999_990], 100)
    igv_fixed = fastwig.open(d / "igv.js" / "fixedStep.bw")
    check("igv fixedStep", [igv_fixed], "chr1", [9_990, 10_050, 10_110], 40)
    check("bigtools layout", [fastwig.open(d / "igv.js" / "bigtools.bigWig")], "chr1", [69_580, 259_400], 64)
    check("overlap types", [fastwig.open(d / "megadepth" / "bw.all_overlap_types.test_input.bw")], "chr1",
          [121_478_680, 121_480_000, 121_483_200], 80)
    check("pyBigWig test.bw", [fastwig.open(d / "pyBigWig" / "test.bw")], "1", [-5, 0, 100, 195_471_950], 64)
    # a chromosome missing from one track (testA has 3R only), windows past the end of 3R (200 bp)
    dt = d / "deepTools"
    a = fastwig.open(dt / "test_data__testA.bw")
    b = fastwig.open(dt / "test_data__testA_offset1.bw")
    heat = fastwig.open(dt / "test_heatmapper__test.bw")
    other = [c for c in b.chroms if c not in a.chroms]
    assert other, "testA_offset1.bw was expected to have a chromosome testA.bw lacks"
    check("missing chrom", [a, b], np.array(["3R", other[0], "3R"]), [-8, 0, 150], 64, missing=-1.0)
    check("three chroms", [heat, a, b], np.array(list(heat.chroms)[:3]), [0, 100, 350], 64)
    var = fastwig.open(d / "bbi-js" / "variable_step.bw")
    check("bins volvox", [volvox, fixed], np.array(["ctgA", "chr1"]), [49_900, 999_900], 200, bin_size=25)
    for stat in STAT_NAMES:          # small blocks only: the simulator inflates every batch afresh
        check(f"bins {stat}", [igv_fixed, a, var], np.array(["chr1", "3R", "chr1"]), [-50, 10_000, 100], 200,
              bin_size=25, stat=stat)
        check(f"bins {stat} covered_only", [igv_fixed, a, var], np.array(["chr1", "3R", "chr1"]),
              [9_990, 10_100, 0], 40, bin_size=8, stat=stat, covered_only=True, missing=-3.0)
    return {"checks": check.checks}


def _child_errors(tmp):
    fastwig = _setup_child()
    from fastwig.writer import BedGraph, write_bigwig

    kc = _kernel_module("cuda")

    rng = np.random.default_rng(7)
    s = np.arange(0, 3000, 10)
    recs = [BedGraph("chr1", s, s + 5, rng.normal(size=s.size).astype(np.float32))]
    good = os.path.join(tmp, "good.bw")
    write_bigwig(good, [("chr1", 3000)], recs, items_per_block=32)
    raw = os.path.join(tmp, "raw.bw")
    write_bigwig(raw, [("chr1", 3000)], recs, items_per_block=32, compress=False)

    def corrupt(src, name, block, at, value):
        """Copy of ``src`` with byte ``at`` of data block ``block`` set to ``value``."""
        with fastwig.open(src) as bw:
            off = int(bw._index.offset[block])
        data = bytearray(Path(src).read_bytes())
        data[off + at] = value
        path = os.path.join(tmp, name)
        Path(path).write_bytes(bytes(data))
        return path

    cases = {
        # blocks of 32 records, 320 bp: the windows below read blocks 0, 1 and 9
        "zlib header": corrupt(good, "hdr.bw", 1, 0, 0x79),            # CM != 8
        "section type": corrupt(raw, "type.bw", 0, 20, 9),              # scan fails (raw block)
        "item count": corrupt(raw, "count.bw", 9, 23, 0x7F),            # count larger than the block
    }
    messages = {}
    for label, path in cases.items():
        errs = []
        for device in ("cpu", "cuda"):
            bw = fastwig.open(path)                 # fresh object: nothing cached
            try:
                fastwig.read_windows([bw], "chr1", [0, 500, 2900], 100, device=device)
                errs.append(None)
            except fastwig.FastwigError as exc:
                errs.append((type(exc).__name__, str(exc)))
        assert errs[0] is not None and errs[0] == errs[1], (label, errs)
        assert errs[0][0] == "FormatError", errs
        messages[label] = errs[1][1]
    # the first failing block wins, as on the CPU: inflate failures before scan failures
    both = corrupt(raw, "two.bw", 0, 20, 7)        # a scan failure in the first track's first block
    errs = []
    for device in ("cpu", "cuda"):
        try:
            fastwig.read_windows([fastwig.open(both), fastwig.open(cases["zlib header"])], "chr1",
                                 [0, 500, 2900], 100, device=device)
        except fastwig.FormatError as exc:
            errs.append(str(exc))
    assert len(errs) == 2 and errs[0] == errs[1], errs

    # arguments: the CPU path's errors
    bw = fastwig.open(good)
    for kwargs in (dict(width=0), dict(width=10, bin_size=3), dict(width=10, stat="median"),
                   dict(width=10, starts=[[1]]), dict(width=10, chroms=["chr1"] * 5)):
        kw = dict(dict(tracks=[bw], chroms="chr1", starts=[0, 1]), **kwargs)
        got = []
        for device in ("cpu", "cuda"):
            try:
                fastwig.read_windows(**kw, device=device)
                got.append(None)
            except fastwig.FastwigError as exc:
                got.append(type(exc).__name__)
        assert got[0] == got[1] == "RangeError", (kwargs, got)
    for bad in ("gpu", "cuda:x", "cuda:"):
        try:
            fastwig.read_windows([bw], "chr1", [0], 10, device=bad)
            raise AssertionError(f"device={bad!r} accepted")
        except fastwig.RangeError:
            pass
    # out=: a device array is filled in place and returned; host arrays and wrong shapes are refused
    cpu = fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, stat="sum")
    out = kc.device_empty((2, 2, 5), np.float32)
    ret = fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, stat="sum", out=out, device="cuda")
    assert ret is out and np.array_equal(_bits(out.copy_to_host()), _bits(cpu))
    for bad_out in (np.zeros((2, 2, 5), np.float32), kc.device_empty((2, 2, 4), np.float32),
                    kc.device_empty((2, 2, 5), np.float64)):
        try:
            fastwig.read_windows([bw, bw], "chr1", [0, 2990], 20, bin_size=4, out=bad_out, device="cuda")
            raise AssertionError("bad out accepted")
        except fastwig.RangeError:
            pass
    # an explicit device index
    x = fastwig.read_windows([bw], "chr1", [0, 2990], 20, device="cuda:0")
    assert np.array_equal(_bits(x.copy_to_host()), _bits(fastwig.read_windows([bw], "chr1", [0, 2990], 20)))
    # empty batches
    e = fastwig.read_windows([bw], "chr1", np.zeros(0, np.int64), 10, device="cuda")
    assert tuple(e.shape) == (0, 1, 10)
    e = fastwig.read_windows([], "chr1", [0, 5], 10, device="cuda")
    assert tuple(e.shape) == (2, 0, 10)
    # a window no block overlaps, and a chromosome only the other track has: no block at all
    check = _Checker(fastwig)
    check("no blocks", [bw], "chr1", [-500, 5000], 64)
    # zero-copy into torch on a real device
    if not kc.is_simulator():
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and torch.cuda.is_available():
            x = fastwig.read_windows([bw], "chr1", [0, 100], 50, device="cuda")
            t = torch.as_tensor(x, device="cuda")
            assert t.data_ptr() == x.__cuda_array_interface__["data"][0]
            into = torch.empty((2, 1, 50), dtype=torch.float32, device="cuda")
            assert fastwig.read_windows([bw], "chr1", [0, 100], 50, out=into, device="cuda") is into
            assert np.array_equal(into.cpu().numpy(), x.copy_to_host())
    return {"ok": True, "messages": messages}


# --- per-kernel twins on one edge table -----------------------------------------------------------


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


def _err_output_full() -> int:
    return _kernel_module("status").ERR_OUTPUT_FULL


def _child_kernels():
    kc = _kernel_module("cuda")
    decode = _kernel_module("decode")
    expand = _kernel_module("expand")
    kstatus = _kernel_module("status")

    tpb, nb = 2, 2
    out = {}

    # -- inflate: zlib vs CPU twin vs GPU twin is tests/test_inflate_cudasim.py's; here the GPU driver's
    # own mode for blocks of uncompressed files (MODE_RAW: copy, refuse what does not fit)
    src = np.arange(64, dtype=np.uint8)
    raw_res = np.zeros(3, np.int64)
    raw_dst = np.zeros(64, np.uint8)
    kc.inflate_batch_gpu(src, np.array([3, 10, 50], np.int64), np.array([9, 40, 50], np.int64), raw_dst,
                         np.array([0, 32, 60], np.int64), np.array([8, 40, 64], np.int64),
                         np.full(3, -1, np.int64), np.full(3, kc.MODE_RAW, np.int64), raw_res, tpb, nb)
    assert raw_res.tolist() == [6, _err_output_full(), 0] and bytes(raw_dst[:6]) == bytes(src[3:9])
    assert not raw_dst[6:].any()

    # -- scan: CPU twin vs GPU twin, flags and the canonical bytes --------------------------------
    srows = _section_table()
    k = len(srows)
    blen = np.array([len(r[1]) for r in srows], np.int64)
    lo = np.concatenate(([0], np.cumsum((blen + 3) & ~3)[:-1])).astype(np.int64)
    arena = np.zeros(int(lo[-1] + blen[-1] + 8) & ~3, np.uint8)
    for r, a in zip(srows, lo):
        arena[a:a + len(r[1])] = np.frombuffer(r[1], np.uint8)
    sw = np.array([r[2] for r in srows], np.uint8)
    part = np.array([r[3] for r in srows], np.uint8)
    a_cpu, a_gpu = arena.copy(), arena.copy()
    f_cpu = np.zeros(k, np.int64)
    decode.scan_batch_cpu(a_cpu, a_cpu.view(np.uint32), lo, blen, sw, part, f_cpu, 0, k)
    f_gpu = np.zeros(k, np.int64)
    length = np.zeros(k, np.int64)
    err = np.array([kc.NO_ERROR], np.int64)
    mode = sw.astype(np.int64) * kc.MODE_SWAP
    # the GPU scan learns that a block may be cut from the inflate result's EARLY_STOP flag
    flagged = blen + part.astype(np.int64) * kstatus.EARLY_STOP
    d_arena = kc.to_device(a_gpu)       # the uint8 and uint32 views must share device memory
    kc.scan_batch_gpu(d_arena, d_arena.view(np.uint32), lo, flagged, mode, f_gpu, length, err, tpb, nb)
    a_gpu = d_arena.copy_to_host()
    assert np.array_equal(f_cpu, f_gpu), list(zip([r[0] for r in srows], f_cpu, f_gpu))
    assert np.array_equal(a_cpu, a_gpu)
    bad = np.flatnonzero(f_cpu < 0)
    assert bad.size >= 4 and int(err[0]) == k + bad[0], (bad, err)
    assert np.array_equal(length, np.where(f_cpu < 0, 0, blen))
    # a failed inflate (negative length) passes through and is the first error
    err2 = np.array([kc.NO_ERROR], np.int64)
    n2 = flagged.copy()
    n2[3] = -4
    f2, l2 = np.zeros(k, np.int64), np.zeros(k, np.int64)
    d_arena = kc.to_device(arena)
    kc.scan_batch_gpu(d_arena, d_arena.view(np.uint32), lo, n2, mode, f2, l2, err2, tpb, nb)
    assert f2[3] == -4 and l2[3] == 0 and int(err2[0]) == 3
    out["scan_blocks"] = k

    # -- expand: CPU twin vs GPU twin over the scanned blocks -------------------------------------
    good = np.flatnonzero(f_cpu >= 0)
    blk_len = np.where(f_cpu >= 0, blen, 0)
    blk_flags = np.where(f_cpu >= 0, f_cpu, 0)
    windows = np.array([-20, 0, 7, 95, 180, 390], np.int64)
    n, n_tracks, width = windows.size, 3, 48
    rng = np.random.default_rng(3)
    lists, chrom, chrom_len = [], [], []
    for item in range(n * n_tracks):
        pick = good[rng.random(good.size) < 0.4]
        lists.append(np.sort(pick))                     # file order = arena order here
        chrom.append(-1 if item % 7 == 5 else item % 2)
        chrom_len.append([400, 150, 10_000][item % 3])
    bptr = np.concatenate(([0], np.cumsum([x.size for x in lists]))).astype(np.int64)
    blist = np.concatenate(lists).astype(np.int64)
    chrom = np.array(chrom, np.int64)
    chrom_len = np.array(chrom_len, np.int64)
    u32, f32 = a_cpu.view(np.uint32), a_cpu.view(np.float32)      # read only: host copies are fine
    for missing, oob in ((0.0, 0.0), (np.nan, -1.0), (2.5, np.nan)):
        e_cpu = np.full(n * n_tracks * width, 123.0, np.float32)
        expand.expand_batch_cpu(a_cpu, u32, f32, lo, blk_len, blk_flags, bptr, blist, chrom, windows,
                                np.int64(width), chrom_len, np.float32(missing), np.float32(oob), e_cpu, 0, n * n_tracks)
        e_gpu = np.full(n * n_tracks * width, 123.0, np.float32)
        kc.expand_batch_gpu(a_cpu, u32, f32, lo, blk_len, blk_flags, bptr, blist, chrom, windows, width,
                            chrom_len, missing, oob, e_gpu, tpb, nb)
        assert np.array_equal(_bits(e_cpu), _bits(e_gpu)), (missing, oob)
        ref = _expand_reference(a_cpu, lo, blk_len, bptr, blist, chrom, windows, width, chrom_len,
                                np.float32(missing), np.float32(oob))
        assert np.array_equal(_bits(e_cpu), _bits(ref)), (missing, oob)
    out["expand_items"] = n * n_tracks

    # -- reduce: Python reference vs CPU twin vs GPU twin ----------------------------------------
    base = rng.normal(size=(5, 24)).astype(np.float32)
    base[0, :] = np.nan
    base[1, ::3] = np.nan
    base[2, :12] = np.nan
    base[3, 5] = np.float32(3e38)
    base[4, 7] = np.float32(-np.inf)
    cases = 0
    for bin_size in (1, 4, 6, 24):
        for stat in range(5):
            for covered_only in (False, True):
                for missing in (0.0, np.nan, -1.25):
                    nbins = 24 // bin_size
                    r_cpu = np.full((5, nbins), 9.0, np.float32)
                    expand.reduce_batch_cpu(base, np.int64(bin_size), np.int64(stat), covered_only,
                                            np.float32(missing), r_cpu, 0, 5 * nbins)
                    r_gpu = np.full((5, nbins), 9.0, np.float32)
                    kc.reduce_batch_gpu(base, bin_size, stat, covered_only, missing, r_gpu, tpb, nb)
                    assert np.array_equal(_bits(r_cpu), _bits(r_gpu)), (bin_size, stat, covered_only, missing)
                    ref = _reduce_reference(base, bin_size, stat, covered_only, np.float32(missing))
                    assert np.array_equal(_bits(r_cpu), _bits(ref)), (bin_size, stat, covered_only, missing)
                    cases += 1
    out["reduce_cases"] = cases
    return out


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
                            row[a:z] = missing if v != v else np.float32(v)
                p += 24 + count * size
        x = np.arange(ws, ws + width)
        row[(x < 0) | (x >= chrom_len[item])] = oob
        out[(w * n_tracks + t) * width:(w * n_tracks + t + 1) * width] = row
    return out


def _reduce_reference(src, bin_size, stat, covered_only, missing):
    """Plain-Python statistics of each bin, as ``reduce_item`` documents them: float64 running sums,
    uncovered bases counted as ``missing`` unless ``covered_only``, min/max by ``<``/``>`` comparisons
    (so a NaN fill value never becomes the minimum or maximum)."""
    rows, width = src.shape
    out = np.empty((rows, width // bin_size), np.float32)
    fill = float(missing)
    for r in range(rows):
        for b in range(width // bin_size):
            vals = [float(v) for v in src[r, b * bin_size:(b + 1) * bin_size] if v == v]
            if stat == 4:
                out[r, b] = len(vals) / bin_size
                continue
            n, total, lo, hi = len(vals), 0.0, float("inf"), float("-inf")
            for v in vals:
                total += v
                lo = v if v < lo else lo
                hi = v if v > hi else hi
            if n < bin_size and not covered_only:
                total += fill * (bin_size - n)
                lo = fill if fill < lo else lo
                hi = fill if fill > hi else hi
                n = bin_size
            out[r, b] = missing if n == 0 else [total / n, total, lo, hi][stat]
    return out
