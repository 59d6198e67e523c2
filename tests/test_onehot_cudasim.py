"""The GPU one-hot and integer twins against the CPU twins, bit for bit (where it runs: gpu_support.py).

Launch sizes are tiny (2 threads per block, 2 blocks) so that every thread runs many grid-stride
iterations and items land in both blocks.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastwig.kernels import onehot as K
from gpu_support import BLOCKS, TPB, assert_same_bits

pytestmark = pytest.mark.gpu

_MIXED = np.random.default_rng(0).choice(np.frombuffer(b"ACGTacgtNnRYKM-", np.uint8), size=(3, 7)).astype(np.uint8)
CASES = {
    "every byte": (np.arange(256, dtype=np.uint8).reshape(4, 64), np.array([0, 1, 0, 1], np.uint8)),
    "mixed": (_MIXED, np.array([1, 0, 1], np.uint8)),
    "one base": (_MIXED[:1, :1].copy(), np.zeros(1, np.uint8)),
    "no windows": (np.zeros((0, 5), np.uint8), np.zeros(0, np.uint8)),
}


@pytest.mark.parametrize("n_value", [0.0, 0.25])
@pytest.mark.parametrize("case", list(CASES))
def test_onehot_gpu_twin_matches_cpu_twin(gpu, case, n_value):
    codes, rc = CASES[case]
    n, width = codes.shape
    cpu = np.full((n, 4, width), np.nan, np.float32)
    dev = np.full((n, 4, width), np.nan, np.float32)
    K.onehot_batch_cpu(codes, rc, cpu, np.float32(n_value), 0, n)
    gpu.onehot_batch_gpu(codes, rc, dev, n_value, threads_per_block=TPB, blocks=BLOCKS)
    assert_same_bits(dev, cpu, case)


@pytest.mark.parametrize("case", list(CASES))
def test_integer_gpu_twin_matches_cpu_twin(gpu, case):
    codes, rc = CASES[case]
    n, width = codes.shape
    cpu = np.full((n, width), 255, np.uint8)
    dev = np.full((n, width), 255, np.uint8)
    K.integer_batch_cpu(codes, rc, cpu, 0, n)
    gpu.integer_batch_gpu(codes, rc, dev, threads_per_block=TPB, blocks=BLOCKS)
    assert np.array_equal(cpu, dev), case
