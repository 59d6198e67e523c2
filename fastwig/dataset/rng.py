"""A stateless counter-based random number generator: every draw a pure function of its counter.

Every random choice of the dataset (where a window lies, its jitter, whether it is reverse-complemented,
which class a balanced index holds) is a hash of ``(seed, epoch, index, stream, attempt)``: a SplitMix64
finaliser over the counter replaces a stateful generator, so any process (a DataLoader worker, a DDP
rank) computes the window of any index without shared state, in any order, vectorised over a batch.
numpy's ``Generator`` streams cannot do this: they must be advanced in order.

This module imports numpy only.
"""

from __future__ import annotations

import numpy as np

from ..errors import RangeError

__all__ = ["STREAM_CLASS", "STREAM_JITTER", "STREAM_POSITION", "STREAM_RC", "random_integers", "random_u64",
           "random_uniform"]

# independent random streams of one index
STREAM_POSITION = 1
STREAM_JITTER = 2
STREAM_RC = 3
STREAM_CLASS = 4

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_K_EPOCH = np.uint64(0xD1B54A32D192ED03)
_K_STREAM = np.uint64(0x8CB92BA72F3D8DD7)
_K_ATTEMPT = np.uint64(0xAEF17502108EF2D9)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (a bijection of uint64 with full avalanche)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _u64(value: int) -> np.uint64:
    return np.uint64(int(value) & 0xFFFFFFFFFFFFFFFF)


def random_u64(seed: int, epoch: int, index, stream: int, attempt: int = 0) -> np.ndarray:
    """Random 64-bit words, a pure function of ``(seed, epoch, index, stream, attempt)``.

    Parameters
    ----------
    seed, epoch : int
    index : int array-like (n,)
        Sample indices (the counter).
    stream : int
        Which independent stream (position, jitter, reverse complement, ...).
    attempt : int, default 0
        Redraw number (windows rejected for too many N bases are drawn again with ``attempt + 1``).

    Returns
    -------
    numpy.ndarray
        uint64 (n,).
    """
    idx = np.asarray(index, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _mix(_mix(_u64(seed) + _GOLDEN) ^ (_u64(epoch) * _K_EPOCH))
        key = _mix(key ^ (_u64(stream) * _K_STREAM) ^ (_u64(attempt) * _K_ATTEMPT))
        return _mix(key ^ _mix(idx * _GOLDEN + _GOLDEN))


def random_uniform(seed: int, epoch: int, index, stream: int, attempt: int = 0) -> np.ndarray:
    """Uniform float64 in ``[0, 1)`` (53 random bits); see :func:`random_u64`."""
    return (random_u64(seed, epoch, index, stream, attempt) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def random_integers(seed: int, epoch: int, index, stream: int, high, attempt: int = 0) -> np.ndarray:
    """Uniform int64 in ``[0, high)`` (``high`` a positive scalar or one per index, below 2**62).

    The modulo bias is below ``high / 2**64`` (about 1e-10 for a 3 Gb genome)."""
    high = np.asarray(high, dtype=np.int64)
    if np.any(high <= 0):
        raise RangeError("random_integers: high must be positive")
    return (random_u64(seed, epoch, index, stream, attempt) % high.astype(np.uint64)).astype(np.int64)
