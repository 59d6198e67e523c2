"""The dataset's parameters, grouped the way a user thinks of them (numpy only, no torch).

:class:`WindowDataset <fastwig.dataset.core.WindowDataset>` takes every parameter as a flat keyword
(``bin_size=25, jitter=50``) or, for a group, as one frozen object (``targets=Targets(bin_size=25)``,
``augment=Augmentation(jitter=50)``); the two spellings give the same dataset.  A group object and a flat
keyword of the same group that is not at its default is an error (which one would win is not obvious).

Groups
------
:class:`Targets`
    What the targets are: the tracks' signal over the centre of the window, binned and transformed.
:class:`Inputs`
    Tracks fed to the model beside the sequence, over the whole window.
:class:`Augmentation`
    Jitter, reverse complement and the strand pairs a reverse complement swaps.
:class:`Sampling`
    Where windows are drawn, how many, from which seed, and which are refused.
:class:`SequenceEncoding`
    How the DNA is served: one-hot, integer codes or k-mer tokens.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..errors import RangeError
from ..request import STATS as _BIN_STATS

__all__ = ["Augmentation", "Inputs", "Sampling", "SequenceEncoding", "Targets"]

TRANSFORMS = ("log1p", "arcsinh")
SAMPLING_MODES = ("uniform", "ordered", "balanced")
ENCODINGS = ("onehot", "integer", "kmer")
STATS = tuple(_BIN_STATS)      # the binned statistics of read_windows (one table: fastwig.request.STATS)
MAX_KMER = 31  # 4**31, the special token, is the largest power of four int64 holds


def _check_transform(value: Any, what: str) -> None:
    if value is not None and not callable(value) and value not in TRANSFORMS:
        raise RangeError(f"{what} must be 'log1p', 'arcsinh' or a callable, got {value!r}")


def _pairs(value: Any) -> tuple[tuple[Any, Any], ...]:
    out = []
    for pair in value or ():
        pair = tuple(pair)
        if len(pair) != 2:
            raise RangeError(f"a strand pair needs two members, got {pair!r}")
        out.append(pair)
    return tuple(out)


@dataclass(frozen=True)
class Targets:
    """The targets: the tracks' signal over the centre of the window.

    Parameters
    ----------
    window : int, optional
        Width of the targets, centred in the sequence window (flat keyword ``target_window``).
        Default: the sequence window.  A multiple of `bin_size`.
    bin_size : int, default 1
        Bases per target bin.
    stat : {"mean", "sum", "min", "max", "coverage"}, default "mean"
        Statistic of each bin (:func:`fastwig.read_windows`).
    covered_only : bool, default False
        Binned statistics over covered bases only (see :func:`fastwig.read_windows`).
    oob : float, optional
        Value of bases past a chromosome end (default: the dataset's `missing`).
    transform : {"log1p", "arcsinh"} or callable, optional
        Applied to the float32 targets ``(n, tracks, bins)``; a callable must pickle for spawn workers.
    scale : float or sequence of float, optional
        Multiplies the targets after `transform`: one factor, or one per track.
    """

    window: int | None = None
    bin_size: int = 1
    stat: str = "mean"
    covered_only: bool = False
    oob: float | None = None
    transform: str | Callable | None = None
    scale: float | Sequence[float] | None = None

    def __post_init__(self) -> None:
        if int(self.bin_size) <= 0 or (self.window is not None and int(self.window) <= 0):
            raise RangeError("window, target_window and bin_size must be positive")
        if self.stat not in STATS:
            raise RangeError(f"stat must be one of {STATS}, got {self.stat!r}")
        _check_transform(self.transform, "transform")


@dataclass(frozen=True)
class Inputs:
    """Tracks fed to the model beside the sequence (``batch["inputs"]``), over the whole sequence window.

    Parameters
    ----------
    tracks : list, dict, or dict assembly -> one of those, optional
        A list of bigWig paths/objects (one channel each; an item that is itself a list of tracks is one
        channel, their mean), or a dict name -> path (one channel) or
        name -> list of paths (one channel: the mean of those tracks, base by base -- a cell-type
        average).  With several assemblies, a dict keyed by every assembly gives each its own
        (same channels).  Flat keyword ``inputs``.
    bin_size : int, default 1
        Bases per input bin; divides the window (flat keyword ``input_bin_size``).
    stat : str, default "mean"
        Statistic of each input bin (flat keyword ``input_stat``).
    transform : {"log1p", "arcsinh"} or callable, optional
        Applied to the float32 inputs ``(n, channels, bins)`` after averaging (``input_transform``).
    strand_pairs : sequence of (int or name, int or name), optional
        Input channels swapped in reverse-complemented windows (``input_strand_pairs``).
    """

    tracks: Any = None
    bin_size: int = 1
    stat: str = "mean"
    transform: str | Callable | None = None
    strand_pairs: Sequence[tuple[Any, Any]] | None = None

    def __post_init__(self) -> None:
        if int(self.bin_size) <= 0:
            raise RangeError(f"input_bin_size must be positive, got {self.bin_size}")
        if self.stat not in STATS:
            raise RangeError(f"input_stat must be one of {STATS}, got {self.stat!r}")
        _check_transform(self.transform, "input_transform")
        object.__setattr__(self, "strand_pairs", _pairs(self.strand_pairs))


@dataclass(frozen=True)
class Augmentation:
    """Random moves of each window, drawn from the dataset's seed (the same on every worker and rank).

    Parameters
    ----------
    jitter : int, default 0
        Shift every window by a uniform random offset in ``[-jitter, jitter]`` after it is drawn.
    rc_prob : float, default 0.0
        Probability that a window is reverse-complemented: sequence flipped on both axes, targets and
        inputs reversed along their length, the tracks of each strand pair swapped.
    strand_pairs : sequence of (int, int), optional
        Plus/minus-strand target track pairs, swapped in reverse-complemented windows.
    """

    jitter: int = 0
    rc_prob: float = 0.0
    strand_pairs: Sequence[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if int(self.jitter) < 0:
            raise RangeError(f"jitter must be >= 0, got {self.jitter}")
        if not 0.0 <= float(self.rc_prob) <= 1.0:
            raise RangeError(f"rc_prob must lie in [0, 1], got {self.rc_prob}")
        object.__setattr__(self, "strand_pairs", tuple(tuple(int(x) for x in p) for p in _pairs(self.strand_pairs)))


@dataclass(frozen=True)
class Sampling:
    """Where windows are drawn (see :class:`WindowDataset <fastwig.dataset.core.WindowDataset>`).

    Parameters
    ----------
    mode : {"uniform", "ordered", "balanced"}, default "uniform"
        Flat keyword ``sampling``.
    n_samples : int, optional
        Windows per epoch.
    seed : int, default 0
    positive_fraction : float, default 0.5
        Share of positives with ``mode="balanced"``.
    negative_regions : Regions or BED path, optional
        Where balanced negatives may lie.
    blacklist : Regions or BED path, optional
        Regions overlapping it are dropped; balanced negatives avoid it.
    stride : int, optional
        Step between tiles with ``mode="ordered"``.
    max_n_fraction : float, default 1.0
        Windows with a larger share of non-ACGT bases are drawn again (ordered tiles: dropped).
    max_attempts : int, default 32
        Redraws of a window with too many N bases.
    """

    mode: str = "uniform"
    n_samples: int | None = None
    seed: int = 0
    positive_fraction: float = 0.5
    negative_regions: Any = None
    blacklist: Any = None
    stride: int | None = None
    max_n_fraction: float = 1.0
    max_attempts: int = 32

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise RangeError(f"sampling must be one of {SAMPLING_MODES}, got {self.mode!r}")
        if self.n_samples is not None and int(self.n_samples) < 0:
            raise RangeError(f"n_samples must be >= 0, got {self.n_samples}")


@dataclass(frozen=True)
class SequenceEncoding:
    """How ``batch["sequence"]`` serves the DNA.

    Parameters
    ----------
    kind : {"onehot", "integer", "kmer"}, default "onehot"
        ``"onehot"``: float ``(4, window)`` rows A, C, G, T; ``"integer"``: int64 ``(window,)`` codes
        A=0 C=1 G=2 T=3, other 4; ``"kmer"``: int64 ``((window - k) // stride + 1,)`` tokens
        ``0 .. 4**k - 1``, ``4**k`` for a k-mer holding N/IUPAC or past a chromosome end (flat
        keyword ``encoding``).
    kmer_size : int, default 3
    kmer_stride : int, default 1
    n_value : float, default 0.0
        One-hot value of all four rows at an N (0.25: uniform).
    """

    kind: str = "onehot"
    kmer_size: int = 3
    kmer_stride: int = 1
    n_value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ENCODINGS:
            raise RangeError(f"encoding must be one of {ENCODINGS}, got {self.kind!r}")
        if not 1 <= int(self.kmer_size) <= MAX_KMER:
            raise RangeError(f"kmer_size must lie in [1, {MAX_KMER}], got {self.kmer_size}")
        if int(self.kmer_stride) <= 0:
            raise RangeError(f"kmer_stride must be positive, got {self.kmer_stride}")

    @property
    def vocab_size(self) -> int:
        """Number of token ids: 4 for one-hot rows, 5 integer codes, ``4**k + 1`` k-mer tokens."""
        return {"onehot": 4, "integer": 5}.get(self.kind, 4 ** int(self.kmer_size) + 1)

    def tokens(self, window: int) -> int:
        """Length of the sequence axis for a window of ``window`` bases."""
        if self.kind != "kmer":
            return int(window)
        return max(0, (int(window) - int(self.kmer_size)) // int(self.kmer_stride) + 1)


# flat keyword -> field of its group
FLAT = {
    Targets: {"target_window": "window", "bin_size": "bin_size", "stat": "stat", "covered_only": "covered_only",
              "oob": "oob", "transform": "transform", "scale": "scale"},
    Inputs: {"inputs": "tracks", "input_bin_size": "bin_size", "input_stat": "stat",
             "input_transform": "transform", "input_strand_pairs": "strand_pairs"},
    Augmentation: {"jitter": "jitter", "rc_prob": "rc_prob", "strand_pairs": "strand_pairs"},
    Sampling: {"sampling": "mode", "n_samples": "n_samples", "seed": "seed", "positive_fraction": "positive_fraction",
               "negative_regions": "negative_regions", "blacklist": "blacklist", "stride": "stride",
               "max_n_fraction": "max_n_fraction", "max_attempts": "max_attempts"},
    SequenceEncoding: {"encoding": "kind", "kmer_size": "kmer_size", "kmer_stride": "kmer_stride",
                       "n_value": "n_value"},
}


def _is_default(value: Any, default: Any) -> bool:
    return value is default or (isinstance(value, (bool, int, float, str)) and type(value) is type(default)
                                and value == default)


def gather(cls: type, group: Any, flat: dict[str, Any], carrier: str | None = None) -> Any:
    """One group from its object (``group``, or None) and its flat keywords (name -> value).

    ``carrier`` names the flat keyword that may hold the group object itself (``sampling=Sampling(...)``).
    """
    names = FLAT[cls]
    if group is None:
        return cls(**{field: flat[key] for key, field in names.items()})
    if not isinstance(group, cls):
        raise RangeError(f"expected a {cls.__name__}, got {type(group).__name__}")
    defaults = {f.name: f.default for f in fields(cls)}
    clash = [key for key, field in names.items() if key != carrier and key in flat and not _is_default(flat[key], defaults[field])]
    if clash:
        raise RangeError(f"{', '.join(clash)} given both as keywords and in a {cls.__name__}; give them once")
    return group


def legacy_positional(n_positional: int, names: Sequence[str]) -> Callable:
    """Let ``__init__`` take its old positional parameters past the first ``n_positional``, with a warning.

    The wrapped ``__init__`` makes them keyword-only; callers that still pass them by position get a
    ``DeprecationWarning`` and the same result.
    """
    def decorate(init: Callable) -> Callable:
        @functools.wraps(init)
        def wrapper(self, *args: Any, **kw: Any) -> None:
            if len(args) > n_positional:
                extra = args[n_positional:]
                if len(extra) > len(names):
                    raise TypeError(f"{type(self).__name__}() takes at most {n_positional + len(names)} "
                                    f"positional arguments ({n_positional + len(extra)} given)")
                taken = names[:len(extra)]
                warnings.warn(f"{type(self).__name__}: pass {', '.join(taken)} by keyword (positional use "
                              "past the first four parameters is deprecated)", DeprecationWarning, stacklevel=2)
                for name, value in zip(taken, extra):
                    if name in kw:
                        raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
                    kw[name] = value
                args = args[:n_positional]
            init(self, *args, **kw)
        return wrapper
    return decorate
