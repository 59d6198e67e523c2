"""Window samplers, the counter-based random numbers and epoch sharding (moved to :mod:`fastwig.dataset`).

The code lives in :mod:`fastwig.dataset.rng`, :mod:`fastwig.dataset.samplers` and
:mod:`fastwig.dataset.shards`; this module keeps ``from fastwig import samplers`` and every public name
it had working.  Like them, it imports numpy only (no torch).
"""

from __future__ import annotations

from .dataset import samplers as _samplers
from .dataset.rng import (
    STREAM_CLASS,
    STREAM_JITTER,
    STREAM_POSITION,
    STREAM_RC,
    random_integers,
    random_u64,
    random_uniform,
)
from .dataset.samplers import BalancedSampler, IntervalPool, OrderedSampler, UniformSampler, Windows, negative_pool
from .dataset.shards import shard_batches

_Sampler = _samplers._Sampler  # the samplers' base class, for type hints

__all__ = [
    "STREAM_CLASS",
    "STREAM_JITTER",
    "STREAM_POSITION",
    "STREAM_RC",
    "BalancedSampler",
    "IntervalPool",
    "OrderedSampler",
    "UniformSampler",
    "Windows",
    "negative_pool",
    "random_integers",
    "random_u64",
    "random_uniform",
    "shard_batches",
]
