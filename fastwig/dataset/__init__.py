"""PyTorch datasets of bigWig windows and their DNA sequence: :class:`WindowDataset`.

The only fastwig package that imports torch, and only when :class:`WindowDataset` or
:class:`BatchIterable` is touched: the numpy-only rooms (:mod:`.rng`, :mod:`.samplers`,
:mod:`.shards`) import without it.

Rooms
-----
:mod:`.core`
    The thin torch ``Dataset`` (:class:`WindowDataset`) and :class:`BatchIterable`.
:mod:`.options`
    The constructor's parameters grouped as a user thinks of them: :class:`Targets`,
    :class:`Inputs`, :class:`Augmentation`, :class:`Sampling`, :class:`SequenceEncoding`.
:mod:`.sources`
    Tracks, inputs and genome per assembly, opened once per process; pickling by path.
:mod:`.places`
    The (assembly, chromosome) codes of regions, labels and blacklists; label overlap.
:mod:`.sampling`
    Sampler factories: regions and options -> a sampler.
:mod:`.windows`
    Window placement: sampler draws, jitter, reverse complement, redraws of N-rich windows.
:mod:`.reading`
    One batch of windows -> tensors: sequence, targets, inputs, labels.
:mod:`.rng`, :mod:`.samplers`, :mod:`.shards`
    Counter-based random numbers, samplers, DDP/worker sharding (numpy only).
"""

from __future__ import annotations

__all__ = ["Augmentation", "BatchIterable", "Inputs", "Sampling", "SequenceEncoding", "Targets", "WindowDataset"]

_LAZY = {"WindowDataset": "core", "BatchIterable": "core", "Augmentation": "options", "Inputs": "options",
         "Sampling": "options", "SequenceEncoding": "options", "Targets": "options"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
