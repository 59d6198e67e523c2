"""The GPU inflate twin under the CUDA simulator against the CPU twin, bit for bit.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported, so the comparison runs in a subprocess
(collected by the plain test command as well as by the ``cudasim`` tox env).  The rows are the small
version of ``test_inflate.edge_table`` plus early-exit rows in both byte orders and corrupt streams;
the launch is tiny (2 threads per block, 2 blocks), so items land in both blocks and every thread runs
many grid-stride iterations.

A second check types and lowers the real ``numba.cuda`` kernel to LLVM IR (no GPU and no NVVM
needed): the simulator runs the Python source and would not notice code that numba.cuda cannot compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import require_numba_cuda_package

ROOT = Path(__file__).resolve().parents[1]

SIM_SCRIPT = textwrap.dedent(
    """
    import json, sys, zlib
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    try:
        from fastwig.kernels import inflate as K, cuda as KC, status as KS
    except ImportError:
        from kernels import inflate as K, cuda as KC, status as KS
    import test_inflate as T

    assert KC.is_simulator()
    rows = [(label, stream, cap, -1, 0) for label, stream, cap in T.edge_table(small=True)]
    starts = np.arange(250, dtype=np.int64) * 40 + 7
    for swap in (0, 1):
        full = T.bedgraph_section(starts, starts + 20, big_endian=bool(swap))
        for stop in (0, 3000, 9000, 10 ** 6):
            rows.append((f"section swap {swap} stop {stop}", T.compress(full, 6), len(full), stop, swap))
    rng = np.random.default_rng(5)
    good = T.compress(b"".join(T.bedgraph_section([i], [i + 1]) for i in range(40)), 9)
    for k in range(12):
        b = bytearray(good)
        b[rng.integers(2, len(b))] ^= int(rng.integers(1, 256))
        rows.append((f"flip {k}", bytes(b), 1200, -1, 0))

    m = len(rows)
    src_len = np.array([len(r[1]) for r in rows], np.int64)
    src_off = np.concatenate(([0], np.cumsum(src_len)[:-1])).astype(np.int64)
    src = np.frombuffer(b"".join(r[1] for r in rows) + b"\\0", np.uint8).copy()
    cap = np.array([r[2] for r in rows], np.int64)
    dst_off = np.concatenate(([5], 5 + np.cumsum(cap + 5)[:-1])).astype(np.int64)
    size = int(dst_off[-1] + cap[-1] + 5)
    stop = np.array([r[3] for r in rows], np.int64)
    swap = np.array([r[4] for r in rows], np.int64)

    res_cpu = np.zeros(m, np.int64)
    dst_cpu = np.full(size, 0xAB, np.uint8)
    work = np.empty(K.INFLATE_WORK_SIZE, np.int32)
    for flag in (0, 1):
        sel = np.flatnonzero(swap == flag)
        r = np.zeros(sel.size, np.int64)
        K.inflate_batch_cpu(src, src_off[sel], src_off[sel] + src_len[sel], dst_cpu, dst_off[sel],
                            dst_off[sel] + cap[sel], stop[sel], bool(flag), work, 0, sel.size, r)
        res_cpu[sel] = r
    res_gpu = np.zeros(m, np.int64)
    dst_gpu = np.full(size, 0xAB, np.uint8)
    KC.inflate_batch_gpu(src, src_off, src_off + src_len, dst_gpu, dst_off, dst_off + cap, stop,
                         swap * KC.MODE_SWAP, res_gpu, 2, 2)
    bad = [(r[0], int(a), int(b)) for r, a, b in zip(rows, res_cpu, res_gpu) if a != b]
    assert not bad, bad
    assert np.array_equal(dst_cpu, dst_gpu)
    for (label, stream, c, st, _), n in zip(rows, res_cpu):
        if st < 0:
            ref = T.zlib_ref(stream, c)
            assert (n < 0) if ref is None else (n == len(ref)), (label, n)
    print(json.dumps({"rows": m, "errors": int((res_cpu < 0).sum()),
                      "stopped": int((res_cpu >= KS.EARLY_STOP).sum())}))
    """
)

LOWER_SCRIPT = textwrap.dedent(
    """
    import json, types as pytypes
    try:
        from numba import types
        import numba.cuda.compiler as compiler
        import numba.cuda.dispatcher as dispatcher
        compile_cuda = compiler.compile_cuda
        dispatcher.get_current_device   # device functions ask it for the compute capability
    except (ImportError, AttributeError) as exc:
        print(json.dumps({"skip": f"numba-cuda internals moved: {exc!r}"}))
        raise SystemExit(0)
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(8, 0))
    try:
        from fastwig.kernels import cuda as KC
    except ImportError:
        from kernels import cuda as KC
    kernel = KC._build_inflate()
    a8, a64 = types.Array(types.uint8, 1, "C"), types.Array(types.int64, 1, "C")
    cres = compile_cuda(kernel.py_func, types.void, (a8, a64, a64, a8, a64, a64, a64, a64, a64), cc=(8, 0))
    ir = cres.library.get_llvm_str()
    print(json.dumps({"ir_chars": len(ir), "float_ops": sum(ir.count(op) for op in ("sitofp", "uitofp", "fcmp"))}))
    """
)


def _run(script, *args, sim):
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    proc = subprocess.run([sys.executable, "-c", script, *args], check=False, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.gpu
def test_inflate_gpu_twin_matches_cpu_twin_under_cudasim():
    pytest.importorskip("numba.cuda")
    res = _run(SIM_SCRIPT, str(ROOT / "tests"), sim=True)
    assert res["rows"] >= 80 and res["errors"] >= 15 and res["stopped"] >= 4, res


@pytest.mark.gpu
def test_inflate_kernel_types_and_lowers_for_cuda():
    """numba.cuda (not the simulator) compiles the inflate kernel down to LLVM IR, with no float math."""
    require_numba_cuda_package()
    res = _run(LOWER_SCRIPT, sim=False)
    if "skip" in res:
        pytest.skip(res["skip"])
    assert res["ir_chars"] > 10_000 and res["float_ops"] == 0, res
