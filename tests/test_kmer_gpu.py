"""The GPU twin of the k-mer tokeniser against its CPU twin (one-hot and integer: test_onehot_cudasim.py).

Every output is compared bit for bit with the CPU twin, which tests/test_kmer.py checks against a
plain-Python reference.  Where these tests run (the simulator or a real device) is in
gpu_support.py: ``NUMBA_ENABLE_CUDASIM=1 FASTWIG_GPU_TPB=2 FASTWIG_GPU_MAX_BLOCKS=2 python -m pytest -m gpu``.
Launches are tiny (2 threads per block, 2 blocks), so items land in both blocks and every thread runs
several grid-stride iterations.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastwig.kernels import kmer as KK
from gpu_support import BLOCKS, TPB

pytestmark = pytest.mark.gpu

_LETTERS = np.frombuffer(b"ACGTacgtNnRYKM-", np.uint8)


def _kmer_twins(gpu, codes, rc, k, stride, run):
    n, width = codes.shape
    tokens = KK.n_tokens(width, k, stride)
    cpu = np.full((n, tokens), -1, np.int64)
    dev = np.full((n, tokens), -1, np.int64)
    KK.kmer_batch_cpu(codes, rc, cpu, k, stride, 0, n)
    gpu.kmer_batch_gpu(codes, rc, dev, k, stride, threads_per_block=TPB, blocks=BLOCKS, tokens_per_item=run)
    return cpu, dev


# k from 1 to the largest, strides below, at and above k, runs of 1 token (k reads each), a few, and longer
# than a window: the simulator runs threads in Python, so the table stays small
KMER_TABLE = [(1, 1, 1), (1, 1, 3), (2, 1, 2), (3, 1, 1), (3, 1, 8), (3, 2, 4), (4, 2, 2), (5, 2, 1),
              (5, 2, 8), (5, 5, 3), (6, 3, 2), (7, 1, 64), (8, 8, 1), (9, 4, 2), (12, 7, 3), (16, 1, 5),
              (20, 3, 2), (31, 1, 4), (31, 2, 1), (31, 31, 2), (4, 9, 2)]


@pytest.mark.parametrize("k,stride,run", KMER_TABLE)
def test_kmer_gpu_twin_matches_cpu_twin(gpu, k, stride, run):
    rng = np.random.default_rng(k * 1000 + stride * 10 + run)
    codes = rng.choice(_LETTERS[:10], size=(4, 45), p=[0.2] * 4 + [0.03] * 4 + [0.04, 0.04]).astype(np.uint8)
    codes[1, 10:20] = ord("N")          # an N run
    codes[2] = np.frombuffer(b"acgt" * 11 + b"a", np.uint8)   # all soft-masked
    rc = np.array([0, 1, 1, 0], np.uint8)
    cpu, dev = _kmer_twins(gpu, codes, rc, k, stride, run)
    assert (cpu >= 0).all() and (cpu <= 4 ** k).all()
    assert np.array_equal(dev, cpu), (k, stride, run)


def test_kmer_gpu_twin_on_every_byte_and_empty_shapes(gpu):
    codes = np.arange(256, dtype=np.uint8).reshape(4, 64)
    cpu, dev = _kmer_twins(gpu, codes, np.array([1, 0, 1, 0], np.uint8), 1, 1, 3)
    assert np.array_equal(dev, cpu)
    assert (cpu != 4).sum() == 8        # A C G T in either case
    for shape, k in (((0, 9), 3), ((3, 2), 3)):
        cpu, dev = _kmer_twins(gpu, np.zeros(shape, np.uint8), np.zeros(shape[0], np.uint8), k, 1, 2)
        assert cpu.shape == dev.shape == (shape[0], max(0, shape[1] - k + 1))
