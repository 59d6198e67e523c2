"""Every CUDA kernel of fastwig assembled for sm_90 (H100/H200) by ptxas, without a GPU.

``profiling/ptx_report.py`` compiles each kernel of ``fastwig.kernels.cuda`` to PTX with numba-cuda's
NVVM for compute capability 9.0 and runs ``ptxas -arch=sm_90 -v`` on it.  Here every kernel must
assemble with no bytes spilled to local memory, and the inflate kernel's Huffman scratch (a
``cuda.local.array`` in its stack frame) must stay under 16 KiB per thread.  The report runs once, in a
fresh interpreter, so numba-cuda's compiler hooks and the libnvvm it loads never touch this process.

It runs in the plain ``pytest`` run: the CUDA simulator compiles nothing, and without a toolkit
(``pip install nvidia-cuda-nvcc-cu12``, the test extra, or ``CUDA_HOME``) the assembly tests skip.  The
occupancy arithmetic and the parser of ptxas's report are checked everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpu_support import simulator_requested
from support import require_numba_cuda_package

PROFILING = Path(__file__).resolve().parents[1] / "profiling"
if str(PROFILING) not in sys.path:
    sys.path.insert(0, str(PROFILING))

import ptx_report  # profiling/ is not a package: found through sys.path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """One ``python profiling/ptx_report.py --json --ptx-dir DIR`` run: its JSON and the PTX directory."""
    if simulator_requested():
        pytest.skip("the CUDA simulator compiles nothing; the plain `pytest` run (no NUMBA_ENABLE_CUDASIM) "
                    "assembles the kernels")
    require_numba_cuda_package()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    ptx_dir = tmp_path_factory.mktemp("ptx")
    proc = subprocess.run([sys.executable, str(PROFILING / "ptx_report.py"), "--json", "--ptx-dir", str(ptx_dir)],
                          capture_output=True, text=True, check=False, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if "missing" in data:
        pytest.skip(data["missing"])
    assert "failed" not in data, data["failed"]
    return {**data, "ptx_dir": ptx_dir}


@pytest.fixture(scope="module")
def assembled(report) -> dict[str, dict]:
    """ptx_report's figures per kernel name."""
    return {k["name"]: k for k in report["kernels"]}


def test_the_report_covers_every_kernel_builder():
    """A kernel added to kernels/cuda.py without a signature in ptx_report would go unassembled."""
    from fastwig._kernels import cuda_module

    builders = {n[len("_build_"):] for n in dir(cuda_module()) if n.startswith("_build_")}
    # a builder of several kernels (kmer: code, run) has one report entry each, named builder_part
    assert builders == {name.split("_")[0] for name in ptx_report.KERNELS}


def test_ptxas_assembles_every_kernel(assembled):
    assert list(assembled) == list(ptx_report.KERNELS)


@pytest.mark.parametrize("name", ptx_report.KERNELS)
def test_no_spills_and_registers_in_range(assembled, name):
    k = assembled[name]
    assert (k["spill_store_bytes"], k["spill_load_bytes"]) == (0, 0), k
    assert 0 < k["registers"] <= ptx_report.SM90["max_registers_per_thread"], k
    assert k["blocks_per_sm"] > 0, k                  # the launch fits on an SM at fastwig's block size


def test_local_scratch_lives_in_the_stack_frame_and_inflate_stays_under_16_kib(assembled):
    from fastwig.kernels import bins, inflate

    work = inflate.INFLATE_WORK_SIZE * 4               # int32 Huffman tables and code-length scratch
    assert work <= assembled["inflate"]["stack_bytes"] < 16 * 1024, assembled["inflate"]
    assert bins.CHUNK * 4 <= assembled["bins"]["stack_bytes"], assembled["bins"]    # float32 paint scratch


def test_the_spill_check_sees_spills_when_ptxas_is_short_of_registers(report):
    """The same inflate PTX under a 32-register cap: ptxas must spill, and the parser must see it."""
    text = ptx_report.assemble((report["ptx_dir"] / "inflate.ptx").read_text(), report["toolkit"]["ptxas"],
                               options=("-maxrregcount=32",))
    (entry,) = [f for f in ptx_report.parse_ptxas(text).values() if f["entry"]]
    assert entry["registers"] <= 32 and entry["spill_store_bytes"] > 0 and entry["spill_load_bytes"] > 0, entry


# (registers per thread, threads per block) -> (blocks per SM, warps per SM, binding limits), as
# cudaOccMaxActiveBlocksPerMultiprocessor of CUDA 13.0's cuda_occupancy.h gives them for cc 9.0
OCCUPANCY_CASES = [
    ((128, 32), (16, 16, "registers")),         # 4,096 registers per warp: 4 warps per sub-partition
    ((48, 128), (10, 40, "registers")),         # 1,536 per warp: 10 per sub-partition, 40 / 4 warps per block
    ((63, 32), (32, 32, "registers+blocks")),   # 2,016 rounds up to 2,048: 8 per sub-partition = the block cap
    ((98, 32), (16, 16, "registers")),          # 3,136 rounds up to 3,328: 4 per sub-partition
    ((32, 128), (16, 64, "registers+warps")),
    ((26, 128), (16, 64, "registers+warps")),
    ((72, 128), (7, 28, "registers")),          # 2,304 per warp: 7 per sub-partition
    ((255, 32), (8, 8, "registers")),
    ((255, 1024), (0, 0, "registers")),         # 32 warps x 8,192 registers do not fit an SM
    ((16, 32), (32, 32, "blocks")),
    ((40, 32), (32, 32, "blocks")),
    ((64, 256), (4, 32, "registers")),
]


@pytest.mark.parametrize("case, expected", OCCUPANCY_CASES)
def test_occupancy_follows_nvidias_calculator(case, expected):
    blocks, warps, occ, binding = ptx_report.occupancy(*case)
    assert (blocks, warps, binding) == expected
    assert occ == warps / 64


def test_parse_ptxas_reads_entries_callees_and_cumulative_stacks():
    text = """ptxas info    : 96 bytes gmem
ptxas info    : Function properties for helper
    48 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
ptxas info    : Compiling entry function '_Z6kernelA' for 'sm_90'
ptxas info    : Function properties for _Z6kernelA
    10160 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 128 registers, used 0 barriers, 10160 bytes cumulative stack size
ptxas info    : Compile time = 1370.963 ms
ptxas info    : Compiling entry function '_Z6kernelB' for 'sm_90'
ptxas info    : Function properties for _Z6kernelB
    16 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 48 registers, used 1 barriers, 64 bytes cumulative stack size
ptxas info    : Compiling entry function '_Z6kernelC' for 'sm_90'
ptxas info    : Function properties for _Z6kernelC
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 26 registers, used 0 barriers
"""
    got = ptx_report.parse_ptxas(text)
    assert got == {
        "helper": {"entry": False, "registers": -1, "stack_bytes": 48, "spill_store_bytes": 8, "spill_load_bytes": 8},
        "_Z6kernelA": {"entry": True, "registers": 128, "stack_bytes": 10160, "spill_store_bytes": 0,
                       "spill_load_bytes": 0},
        "_Z6kernelB": {"entry": True, "registers": 48, "stack_bytes": 64, "spill_store_bytes": 4,
                       "spill_load_bytes": 12},
        "_Z6kernelC": {"entry": True, "registers": 26, "stack_bytes": 0, "spill_store_bytes": 0,
                       "spill_load_bytes": 0},
    }
