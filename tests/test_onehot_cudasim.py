"""The GPU one-hot twin under the CUDA simulator against the CPU twin, bit for bit.

NUMBA_ENABLE_CUDASIM must be set before numba is imported, so the comparison runs in a subprocess.
Launch sizes are tiny (2 threads per block, 2 blocks) so that every thread runs many grid-stride
iterations and items land in both blocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    try:
        from fastwig.kernels import onehot as K, cuda as KC
    except ImportError:
        from kernels import onehot as K, cuda as KC

    def check(codes, rc, n_value):
        n, width = codes.shape
        cpu = np.full((n, 4, width), np.nan, np.float32)
        gpu = np.full((n, 4, width), np.nan, np.float32)
        K.onehot_batch_cpu(codes, rc, cpu, np.float32(n_value), 0, n)
        KC.onehot_batch_gpu(codes, rc, gpu, n_value, threads_per_block=2, blocks=2)
        assert np.array_equal(cpu.view(np.uint32), gpu.view(np.uint32)), (codes, rc, n_value)
        icpu = np.full((n, width), 255, np.uint8)
        igpu = np.full((n, width), 255, np.uint8)
        K.integer_batch_cpu(codes, rc, icpu, 0, n)
        KC.integer_batch_gpu(codes, rc, igpu, threads_per_block=2, blocks=2)
        assert np.array_equal(icpu, igpu)

    every_byte = np.arange(256, dtype=np.uint8).reshape(4, 64)
    rng = np.random.default_rng(0)
    mixed = rng.choice(np.frombuffer(b"ACGTacgtNnRYKM-", np.uint8), size=(3, 7)).astype(np.uint8)
    cases = [
        (every_byte, np.array([0, 1, 0, 1], np.uint8)),
        (mixed, np.array([1, 0, 1], np.uint8)),
        (mixed[:1, :1].copy(), np.zeros(1, np.uint8)),
        (np.zeros((0, 5), np.uint8), np.zeros(0, np.uint8)),
    ]
    for codes, rc in cases:
        for n_value in (0.0, 0.25):
            check(codes, rc, n_value)
    print("ok")
    """
)


@pytest.mark.gpu
def test_onehot_gpu_twin_matches_cpu_twin_under_cudasim():
    pytest.importorskip("numba.cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
