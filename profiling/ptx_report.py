"""Assemble fastwig's CUDA kernels for sm_90 (H100/H200) without a GPU: registers, stack, spills, occupancy.

Every kernel of ``fastwig.kernels.cuda`` is compiled to PTX by numba-cuda's NVVM for compute capability
9.0 and assembled by ``ptxas -arch=sm_90 -v``, whose report gives per thread the registers, the stack
frame (``cuda.local.array`` scratch lives there) and the bytes spilled to local memory.  From the
registers and the block size fastwig launches each kernel with follows the theoretical occupancy.

    python profiling/ptx_report.py            # a markdown table for profiling/RESULTS.md
    python profiling/ptx_report.py --json     # one JSON object (tests/test_ptxas.py reads it)
    python profiling/ptx_report.py --kernels inflate --ptx-dir /tmp/ptx   # keep the PTX too

Toolkit: ``pip install nvidia-cuda-nvcc-cu12`` (the ``test`` extra) ships ptxas, libnvvm and libdevice
in ``site-packages/nvidia/cuda_nvcc/{bin,nvvm/lib64,nvvm/libdevice}``; otherwise ``CUDA_HOME``,
``CUDA_PATH`` or ``/usr/local/cuda*``.  PTX from a newer NVVM carries a newer ``.version`` than an
older ptxas accepts, so ptxas comes from the toolkit of the libnvvm that numba-cuda loads (cuda-pathfinder
prefers the wheel), and the other toolkits found are tried after it.

numba-cuda asks the driver for the device's compute capability and NVRTC for the supported ones even
when it only writes PTX; :func:`offline_compiler` answers both by hand for the duration of a compile
(internal hooks of numba-cuda 0.2x-0.30: when they move, :class:`ToolkitMissing` says so).

Occupancy model: NVIDIA's ``cuda_occupancy.h`` (CUDA 13.0, ``cudaOccMaxActiveBlocksPerMultiprocessor``)
with the limits of compute capability 9.0: 65,536 registers per SM in 4 sub-partitions, allocated per
warp in units of 256; at most 255 registers per thread, 64 resident warps (2,048 threads) and 32
resident blocks per SM.  Sources: the CUDA C++ Programming Guide's "Technical Specifications per
Compute Capability" table and the Hopper Tuning Guide (docs.nvidia.com/cuda/hopper-tuning-guide, 1.4.1
"Streaming Multiprocessor"); ``cuda_occupancy.h`` returns 32 blocks, 4 sub-partitions and 256-register
units for major version 9.  The kernels use no shared memory, so with the default carveout preference
(numba sets none) the shared-memory limit never binds.  :func:`occupancy` gave the same blocks and
warps per SM as ``cudaOccMaxActiveBlocksPerMultiprocessor`` of CUDA 13.0's header, compiled once by
hand, on the twelve (registers, block size) pairs of tests/test_ptxas.py.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ARCH = "sm_90"
CC = (9, 0)

# compute capability 9.0 (see the module docstring for the sources)
SM90 = {
    "registers_per_sm": 65_536,
    "sub_partitions": 4,
    "register_unit": 256,           # registers are allocated per warp in units of 256
    "max_registers_per_thread": 255,
    "max_warps_per_sm": 64,         # 2,048 threads
    "max_blocks_per_sm": 32,
    "warp_size": 32,
}

#: every kernel builder of fastwig.kernels.cuda, in pipeline order, then the sequence kernels
KERNELS = ("inflate", "scan", "expand", "bins", "onehot", "integer", "kmer_code", "kmer_run")


class ToolkitMissing(RuntimeError):
    """No usable ptxas + libnvvm + libdevice (or numba-cuda's compiler hooks moved)."""


class PtxasFailed(RuntimeError):
    """ptxas rejected the PTX; the message holds its output."""


@dataclass(frozen=True)
class Toolkit:
    """One CUDA toolkit's assembler and NVVM: ``root`` holds ``bin/ptxas``."""
    root: str
    ptxas: str
    nvvm: str
    libdevice: str
    source: str       # "wheel", "CUDA_HOME", "/usr/local/cuda-13.0", ...

    def version(self) -> str:
        out = subprocess.run([self.ptxas, "--version"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"release (\S+), V(\S+)", out)
        return m.group(2) if m else "unknown"


@dataclass
class KernelReport:
    """ptxas's figures for one kernel's entry function and the occupancy they allow."""
    name: str
    registers: int
    stack_bytes: int
    spill_store_bytes: int
    spill_load_bytes: int
    threads_per_block: int
    blocks_per_sm: int
    warps_per_sm: int
    occupancy: float
    limited_by: str


# --- finding a toolkit ----------------------------------------------------------------------------

def _toolkit_at(root: Path, source: str) -> Toolkit | None:
    ptxas = root / "bin" / "ptxas"
    nvvm = sorted(glob.glob(str(root / "nvvm" / "lib*" / "libnvvm.so*"))
                  + glob.glob(str(root / "lib*" / "libnvvm.so*")))
    libdevice = sorted(glob.glob(str(root / "nvvm" / "libdevice" / "libdevice*.bc")))
    if ptxas.is_file() and os.access(ptxas, os.X_OK) and nvvm and libdevice:
        return Toolkit(str(root), str(ptxas), nvvm[0], libdevice[0], source)
    return None


def _wheel_root() -> Path | None:
    try:
        import nvidia
    except ImportError:
        return None
    for base in getattr(nvidia, "__path__", []):
        if (Path(base) / "cuda_nvcc").is_dir():
            return Path(base) / "cuda_nvcc"
    return None


def _loaded_nvvm() -> str | None:
    """Path of the libnvvm that numba-cuda (through cuda.bindings and cuda-pathfinder) loads, if it can tell."""
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        return load_nvidia_dynamic_lib("nvvm").abs_path
    except (ImportError, RuntimeError, OSError):  # older numba-cuda (its own search), or no libnvvm anywhere
        return None


def find_toolkits() -> list[Toolkit]:
    """Every toolkit found, the one whose libnvvm numba-cuda loads first, then wheel, CUDA_HOME, /usr/local."""
    candidates = []
    loaded = _loaded_nvvm()
    if loaded:
        for parent in list(Path(loaded).resolve().parents)[:4]:
            candidates.append((parent, "libnvvm in use"))
    wheel = _wheel_root()
    if wheel is not None:
        candidates.append((wheel, "nvidia-cuda-nvcc wheel"))
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            candidates.append((Path(os.environ[var]), var))
    candidates += [(Path(p), p) for p in sorted(glob.glob("/usr/local/cuda*"), reverse=True)]
    found, seen = [], set()
    for root, source in candidates:
        tk = _toolkit_at(root, source)
        if tk is not None and os.path.realpath(tk.ptxas) not in seen:
            seen.add(os.path.realpath(tk.ptxas))
            found.append(tk)
    if not found:
        raise ToolkitMissing("no CUDA toolkit with ptxas, libnvvm and libdevice found: `pip install "
                             "nvidia-cuda-nvcc-cu12` (the test extra) or set CUDA_HOME")
    return found


# --- PTX without a device -------------------------------------------------------------------------

@contextlib.contextmanager
def offline_compiler(toolkit: Toolkit):
    """numba-cuda's compiler, told that the device is a cc 9.0 one and where NVVM and libdevice are.

    Yields ``fastwig.kernels.cuda`` (its ``_cuda()`` bound to numba.cuda).  Restores the hooks on exit;
    the libnvvm numba-cuda loaded stays loaded for the life of the process.
    """
    from collections import namedtuple
    from types import SimpleNamespace

    from fastwig._kernels import cuda_module

    kc = cuda_module()
    kc._cuda()
    try:
        from numba.cuda import cuda_paths, dispatcher
        from numba.cuda.cudadrv import nvrtc
    except ImportError as exc:
        raise ToolkitMissing(f"numba-cuda internals moved ({exc})") from exc
    if not hasattr(dispatcher, "get_current_device") or not hasattr(nvrtc, "get_supported_ccs"):
        raise ToolkitMissing("numba-cuda internals moved (dispatcher.get_current_device, nvrtc.get_supported_ccs)")
    entry = namedtuple("entry", "by info")
    lib_dir = os.path.dirname(toolkit.nvvm)
    paths = {"nvrtc": entry("ptx_report", None), "nvvm": entry("ptx_report", toolkit.nvvm),
             "libdevice": entry("ptx_report", toolkit.libdevice), "cudalib_dir": entry("ptx_report", lib_dir),
             "static_cudalib_dir": entry("ptx_report", lib_dir),
             "include_dir": entry("ptx_report", os.path.join(toolkit.root, "include"))}
    saved = [(dispatcher, "get_current_device", dispatcher.get_current_device),
             (nvrtc, "get_supported_ccs", nvrtc.get_supported_ccs),
             (cuda_paths.get_cuda_paths, "_cached_result", getattr(cuda_paths.get_cuda_paths, "_cached_result", None))]
    dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=CC)
    nvrtc.get_supported_ccs = lambda: [(7, 5), (8, 0), (8, 6), (8, 9), CC]
    cuda_paths.get_cuda_paths._cached_result = paths
    try:
        yield kc
    finally:
        for obj, attr, value in saved:
            if value is None:
                with contextlib.suppress(AttributeError):
                    delattr(obj, attr)
            else:
                setattr(obj, attr, value)


def signatures(kc) -> dict[str, tuple]:
    """(builder, argument types, threads per block) of every kernel: the types the drivers launch with,
    and the block size fastwig's CUDA executor and dataset use (settings at call time)."""
    from numba import types

    from fastwig.backend.cuda import SERIAL_MAX_THREADS_PER_BLOCK
    from fastwig.config import settings

    a1 = {t: types.Array(t, 1, "C") for t in (types.uint8, types.uint32, types.int64, types.float32)}
    i64, u8, u32, f32 = a1[types.int64], a1[types.uint8], a1[types.uint32], a1[types.float32]
    u8_2d = types.Array(types.uint8, 2, "C")
    tpb = int(settings.gpu_threads_per_block)
    serial = min(tpb, SERIAL_MAX_THREADS_PER_BLOCK)     # inflate, expand and bins: blocks of at most a warp
    return {
        "inflate": (kc._build_inflate, (u8, i64, i64, u8, i64, i64, i64, i64, i64), serial),
        "scan": (kc._build_scan, (u8, u32, i64, i64, i64, i64, i64, i64), tpb),
        "expand": (kc._build_expand, (u8, u32, f32, i64, i64, i64, i64, i64, i64, i64, types.int64, i64,
                                      types.float32, types.float32, f32), serial),
        "bins": (kc._build_bins, (u8, u32, f32, i64, i64, i64, i64, i64, i64, i64, i64) + (types.int64,) * 5
                 + (types.boolean, types.float32, types.float32, types.boolean, f32, i64), serial),
        "onehot": (kc._build_onehot, (u8_2d, u8, types.Array(types.float32, 3, "C"), types.float32), tpb),
        "integer": (kc._build_integer, (u8_2d, u8, u8_2d), tpb),
        # _build_kmer makes two kernels: bases to 2-bit lanes, then token runs from the lanes
        "kmer_code": (lambda: kc._build_kmer()[0], (u8_2d, u8, u8_2d, types.int64, types.int64), tpb),
        "kmer_run": (lambda: kc._build_kmer()[1], (u8_2d, types.Array(types.int64, 2, "C"), types.int64, types.int64,
                                                   types.int64, types.int64), tpb),
    }


# --- ptxas and its report -------------------------------------------------------------------------

_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_FUNC = re.compile(r"Function properties for (\S+)")
_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_CUMULATIVE = re.compile(r"(\d+) bytes cumulative stack size")


def parse_ptxas(text: str) -> dict[str, dict]:
    """``ptxas -v`` output -> per function: entry (bool), registers (-1 for a callee: ptxas reports them
    per entry), stack_bytes, spill_store_bytes, spill_load_bytes.

    An entry's stack is the larger of its own frame and ptxas's "cumulative stack size" (which adds the
    frames of the functions it calls).
    """
    entries = set(_ENTRY.findall(text))
    out: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        m = _FUNC.search(line)
        if m:
            current = out.setdefault(m.group(1), {"entry": m.group(1) in entries, "registers": -1, "stack_bytes": 0,
                                                  "spill_store_bytes": 0, "spill_load_bytes": 0})
            continue
        if current is None:
            continue
        m = _PROPS.search(line)
        if m:
            current["stack_bytes"] = max(current["stack_bytes"], int(m.group(1)))
            current["spill_store_bytes"] += int(m.group(2))
            current["spill_load_bytes"] += int(m.group(3))
        m = _REGS.search(line)
        if m:
            current["registers"] = int(m.group(1))
            c = _CUMULATIVE.search(line)
            if c:
                current["stack_bytes"] = max(current["stack_bytes"], int(c.group(1)))
    return out


def assemble(ptx: str, ptxas: str, arch: str = ARCH, options: tuple[str, ...] = ()) -> str:
    """Run ``ptxas -arch=<arch> -v [options]`` on ``ptx``; return its report (stdout + stderr)."""
    with tempfile.TemporaryDirectory(prefix="fastwig_ptxas_") as tmp:
        src = os.path.join(tmp, "kernel.ptx")
        Path(src).write_text(ptx)
        proc = subprocess.run([ptxas, f"-arch={arch}", "-v", *options, src, "-o", os.path.join(tmp, "kernel.cubin")],
                              capture_output=True, text=True, check=False, timeout=300)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise PtxasFailed(f"{ptxas} -arch={arch} exited {proc.returncode}:\n{text[-4000:]}")
    return text


def occupancy(registers: int, threads_per_block: int, limits: dict = SM90) -> tuple[int, int, float, str]:
    """Theoretical occupancy of a kernel without shared memory, as ``cuda_occupancy.h`` computes it.

    Returns (resident blocks per SM, resident warps per SM, occupancy in [0, 1], the binding limits:
    "registers", "warps" or "blocks", joined by "+" where several bind at once).
    """
    ws = limits["warp_size"]
    warps_per_block = -(-threads_per_block // ws)
    unit = limits["register_unit"]
    per_warp = -(-registers * ws // unit) * unit
    subs = limits["sub_partitions"]
    if (registers > limits["max_registers_per_thread"]
            or per_warp * (-(-warps_per_block // subs) * subs) > limits["registers_per_sm"]):
        by_regs = 0             # the launch does not fit (the hardware checks a block against all sub-partitions)
    else:
        # registers are allocated in each of the SM's sub-partitions: whole warps per sub-partition
        per_sub = limits["registers_per_sm"] // subs
        by_regs = (per_sub // per_warp) * subs // warps_per_block if per_warp else 1 << 30
    limits_by = {"registers": by_regs, "warps": limits["max_warps_per_sm"] // warps_per_block,
                 "blocks": limits["max_blocks_per_sm"]}
    blocks = min(limits_by.values())
    binding = "+".join(k for k, v in limits_by.items() if v == blocks)
    warps = blocks * warps_per_block
    return blocks, warps, warps / limits["max_warps_per_sm"], binding


# --- the report -----------------------------------------------------------------------------------

def compile_all(names=KERNELS, toolkit: Toolkit | None = None) -> tuple[dict[str, tuple[str, int]], Toolkit]:
    """PTX of each kernel in ``names`` for sm_90 and the block size fastwig launches it with:
    ({name: (ptx, threads per block)}, the toolkit whose NVVM paths numba-cuda was given)."""
    toolkit = toolkit or find_toolkits()[0]
    out = {}
    with offline_compiler(toolkit) as kc:
        sigs = signatures(kc)
        for name in names:
            build, argtypes, tpb = sigs[name]
            try:
                ptx, _ = kc.cuda.compile_ptx(build().py_func, argtypes, device=False, cc=CC)
            except Exception as exc:
                if type(exc).__name__ in ("NvvmSupportError", "DynamicLibNotFoundError"):
                    raise ToolkitMissing(f"numba-cuda cannot load libnvvm ({exc}); set CUDA_HOME") from exc
                raise
            out[name] = (ptx, tpb)
    return out, toolkit


def report(names=KERNELS, ptx_dir: str | None = None) -> tuple[list[KernelReport], Toolkit]:
    """Compile and assemble every kernel in ``names`` (writing ``<ptx_dir>/<name>.ptx`` when given);
    raises PtxasFailed when ptxas rejects one."""
    toolkits = find_toolkits()
    if not os.environ.get("CUDA_HOME") and toolkits[0].source not in ("libnvvm in use", "nvidia-cuda-nvcc wheel"):
        os.environ["CUDA_HOME"] = toolkits[0].root      # where cuda-pathfinder looks for libnvvm after the wheels
    compiled, _ = compile_all(names, toolkits[0])
    if ptx_dir:
        os.makedirs(ptx_dir, exist_ok=True)
        for name, (ptx, _) in compiled.items():
            Path(ptx_dir, f"{name}.ptx").write_text(ptx)
    rows, used = [], None
    for name in names:
        ptx, tpb = compiled[name]
        text, errors = None, []
        # a ptxas older than the NVVM that wrote the PTX refuses its .version: try the next toolkit
        for tk in ([used] if used else toolkits):
            try:
                text = assemble(ptx, tk.ptxas)
                used = tk
                break
            except PtxasFailed as exc:
                errors.append(str(exc))
        if text is None:
            raise PtxasFailed(f"{name}: " + "\n".join(errors))
        funcs = parse_ptxas(text)
        entries = [f for f in funcs.values() if f["entry"]]
        if len(entries) != 1 or entries[0]["registers"] < 0:
            raise PtxasFailed(f"{name}: expected one entry function in ptxas's report:\n{text}")
        (fig,) = entries
        # the module holds this kernel alone: a spill in any function of it is the kernel's
        stores = sum(f["spill_store_bytes"] for f in funcs.values())
        loads = sum(f["spill_load_bytes"] for f in funcs.values())
        blocks, warps, occ, binding = occupancy(fig["registers"], tpb)
        rows.append(KernelReport(name, fig["registers"], fig["stack_bytes"], stores, loads, tpb, blocks, warps,
                                 occ, binding))
    return rows, used


def markdown(rows: list[KernelReport], toolkit: Toolkit) -> str:
    head = ("| kernel | registers | stack bytes | spill stores / loads (bytes) | threads/block | blocks/SM "
            "| warps/SM | occupancy | limited by |\n|---|---|---|---|---|---|---|---|---|")
    body = [f"| {r.name} | {r.registers} | {r.stack_bytes:,} | {r.spill_store_bytes} / {r.spill_load_bytes} "
            f"| {r.threads_per_block} | {r.blocks_per_sm} | {r.warps_per_sm} / 64 | {r.occupancy:.1%} "
            f"| {r.limited_by} |" for r in rows]
    foot = f"\n\nptxas {toolkit.version()} ({toolkit.source}: {toolkit.ptxas}), -arch={ARCH}"
    return "\n".join([head] + body) + foot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--ptx-dir", help="also write each kernel's PTX to DIR/<kernel>.ptx")
    args = parser.parse_args(argv)
    try:
        rows, tk = report(tuple(args.kernels), args.ptx_dir)
    except ToolkitMissing as exc:
        if args.json:
            print(json.dumps({"missing": str(exc)}))
            return 0
        print(f"ptx_report: {exc}", file=sys.stderr)
        return 2
    except PtxasFailed as exc:
        if args.json:
            print(json.dumps({"failed": str(exc)}))
            return 0
        print(f"ptx_report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"toolkit": {**asdict(tk), "version": tk.version()}, "arch": ARCH,
                          "kernels": [asdict(r) for r in rows]}))
    else:
        print(markdown(rows, tk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
