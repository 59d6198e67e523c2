"""PyTorch datasets of bigWig windows and their DNA sequence: :class:`WindowDataset`.

One of the three modules that import torch (with :mod:`fastwig.samplers` users and
:mod:`fastwig.demo`); ``import fastwig`` loads it only when ``fastwig.WindowDataset`` is touched.

Two ways to read:

- map-style: ``ds[i]`` (a dict of tensors) for a ``torch.utils.data.DataLoader`` with any sampler
  (``DistributedSampler`` included) and any number of workers, under fork or spawn;
- the fast path: ``ds.batches(batch_size, ...)`` (or ``ds.loader(...)``, a DataLoader over it) reads
  each batch with one :func:`fastwig.read_windows` call and one :meth:`fastwig.Genome.onehot_batch`
  call, sharded by DDP rank and DataLoader worker.

Both give the same tensors for the same index: ``ds[i]`` is the batch of the single index ``i``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data

from . import samplers as S
from .batch import read_windows
from .errors import ChromNotFound, CudaUnavailable, RangeError
from .regions import Regions
from .samplers import Windows

__all__ = ["BatchIterable", "WindowDataset"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
           torch.float32: torch.float32, torch.bfloat16: torch.bfloat16, torch.float16: torch.float16}
_TRANSFORMS = {"log1p": torch.log1p, "arcsinh": torch.asinh}
_SAMPLING = ("uniform", "ordered", "balanced")
# bytes that are bases (the N test of max_n_fraction)
_NOT_BASE = np.ones(256, dtype=bool)
_NOT_BASE[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = False
_ORDERED_CHUNK = 8192


def _path_of(obj: Any) -> Any:
    """What a track or genome is remembered by: its path when it has one (reopened per process)."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    path = getattr(obj, "path", None)
    if isinstance(path, str) and type(obj).__name__ in ("BigWig", "Genome"):
        return path
    return obj  # a user object: kept (and pickled) as it is


def _as_regions(obj: Any, what: str) -> Regions:
    if isinstance(obj, Regions):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return Regions.from_bed(obj)
    raise RangeError(f"{what} must be a Regions table or a BED path, got {type(obj).__name__}")


class _OverlapIndex:
    """Which query intervals overlap an interval of one table (same assembly and chromosome)."""

    _SHIFT = np.int64(1) << np.int64(35)
    _LIMIT = np.int64(1) << np.int64(33)

    def __init__(self, keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        # keys: int64 code per interval (-1: a chromosome the dataset never reads)
        ok = keys >= 0
        keys, starts, ends = keys[ok], starts[ok], ends[ok]
        s = keys * self._SHIFT + np.clip(starts, -self._LIMIT, self._LIMIT)
        order = np.argsort(s, kind="stable")
        self._s = s[order]
        self._reach = np.maximum.accumulate((keys * self._SHIFT + np.clip(ends, -self._LIMIT, self._LIMIT))[order]) \
            if order.size else np.zeros(0, dtype=np.int64)

    def query(self, keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        hit = np.zeros(keys.shape[0], dtype=bool)
        if self._s.size == 0 or keys.size == 0:
            return hit
        qs = keys * self._SHIFT + np.clip(starts, -self._LIMIT, self._LIMIT)
        qe = keys * self._SHIFT + np.clip(ends, -self._LIMIT, self._LIMIT)
        idx = np.searchsorted(self._s, qe, side="left")
        has = idx > 0
        hit[has] = self._reach[idx[has] - 1] > qs[has]
        return hit


class WindowDataset(torch.utils.data.Dataset):
    """Windows of DNA sequence with the signal of many bigWig tracks under them, for PyTorch.

    Parameters
    ----------
    tracks : sequence of (path or BigWig), or dict assembly -> sequence
        bigWig tracks, in output order (``targets[k]`` is track ``k``).  Open files are remembered by
        path and opened lazily once per process (DataLoader workers, fork or spawn).  A dict gives each
        assembly its own tracks (same number for every assembly); see Notes.  May be empty (sequence
        only; ``targets`` is then left out).
    genome : path or Genome, or dict assembly -> (path or Genome), optional
        FASTA of the assembly.  Without one, ``sequence`` is left out.
    regions : Regions or BED path, optional
        Where windows are drawn.  Default: every whole chromosome of the genome (or, without a genome,
        of the first track).  An ``assembly`` column picks each region's genome and tracks.
    window : int, default 1000
        Width of the sequence window.
    target_window : int, optional
        Width of the targets, centred in the window (they start ``(window - target_window) // 2``
        bases after the window; may exceed ``window``).  Default: ``window``.  A multiple of
        ``bin_size``.
    bin_size : int, default 1
        Bases per target bin.
    stat : {"mean", "sum", "min", "max", "coverage"}, default "mean"
        Statistic of each bin (:func:`fastwig.read_windows`).
    missing : float, default 0.0
        Value of bases no record covers (and of chromosomes a track lacks).
    transform : {"log1p", "arcsinh"} or callable, optional
        Applied to the binned targets.  A callable gets a float32 tensor ``(n, tracks, bins)`` (a batch;
        ``n = 1`` for ``ds[i]``) and returns one of the same shape; it must pickle for spawn workers.
    scale : float or sequence of float, optional
        Multiplies the targets after `transform`: one factor, or one per track.
    dtype : {"float32", "bfloat16", "float16"} or torch.dtype, default "float32"
        Dtype of ``sequence``, ``targets`` and ``labels``.
    layout : {"NCL", "NLC"}, default "NCL"
        ``"NCL"``: sequence ``(4, window)``, targets ``(tracks, bins)`` (PyTorch Conv1d);
        ``"NLC"``: sequence ``(window, 4)``, targets ``(bins, tracks)``.
    jitter : int, default 0
        Shift every window by a uniform random offset in ``[-jitter, jitter]`` after it is drawn.
    rc_prob : float, default 0.0
        Probability that a window is reverse-complemented: the one-hot sequence flipped on both axes
        (A<->T, C<->G, reversed), the targets reversed along their length, and the tracks of each
        pair in `strand_pairs` swapped.
    strand_pairs : sequence of (int, int), optional
        Plus/minus-strand track pairs, swapped in reverse-complemented windows.
    labels : Regions, BED path, a list of them, or a dict name -> one of them, optional
        Label sets: ``labels[k]`` is 1 when the window ``[start, start + window)`` overlaps an interval
        of set ``k``, else 0.  With several assemblies, a set with an ``assembly`` column applies to
        those assemblies, one without to every assembly.
    sampling : {"uniform", "ordered", "balanced"}, default "uniform"
        ``"uniform"``: window centres uniform over the bases of the regions (a region is drawn in
        proportion to its length; every region can be drawn).  ``"ordered"``: the regions in order,
        each cut into tiles (see `stride`) -- for evaluation.  ``"balanced"``: positives (centres
        uniform over the regions) and negatives (windows on the regions' chromosomes, or in
        `negative_regions`, that overlap no region and no `blacklist` interval, jitter included) in
        the ratio `positive_fraction`, interleaved exactly.
    n_samples : int, optional
        Windows per epoch.  Default: uniform, ``max(len(regions), total_bases // window)``; balanced,
        that divided by `positive_fraction`; ordered, the number of tiles (a larger value cycles).
    seed : int, default 0
        The window of index ``i`` depends only on the regions, `window`, `seed`, the epoch
        (:meth:`set_epoch`) and ``i`` (plus `jitter`, `rc_prob` and the N test, drawn the same way).
    max_n_fraction : float, default 1.0
        Windows whose sequence holds more than this fraction of non-ACGT bases (N, IUPAC codes, bases
        past a chromosome end) are drawn again, deterministically (up to `max_attempts` times; then
        the last draw is kept, with a warning).  With ``sampling="ordered"`` such tiles are dropped
        when the dataset is built.  Needs a genome.

    Other Parameters
    ----------------
    blacklist : Regions or BED path, optional
        Regions overlapping it are dropped; balanced negatives avoid it.
    positive_fraction : float, default 0.5
        Share of positives with ``sampling="balanced"``.
    negative_regions : Regions or BED path, optional
        Where balanced negatives may lie (each negative window inside one of these intervals).
        Default: the whole chromosomes that hold at least one region -- so a table split by
        chromosome (:meth:`Regions.split`) keeps its negatives on its own chromosomes.
    stride : int, optional
        Step between the tiles of a region with ``sampling="ordered"`` (default: `target_window`, so
        the targets of successive tiles abut).
    covered_only : bool, default False
        Binned "mean" (and other stats) over covered bases only, rather than counting uncovered bases
        as `missing` (see :func:`fastwig.read_windows`).
    oob : float, optional
        Value of target bases past a chromosome end (default `missing`).
    n_value : float, default 0.0
        One-hot value of all four rows at an N (0.25: uniform).
    threads : int, optional
        CPU threads per read (default ``fastwig.settings.threads``; in a DataLoader worker, the
        cores divided among the workers).
    max_attempts : int, default 32
        Redraws of a window with too many N bases.

    Attributes
    ----------
    regions : Regions
        The regions windows are drawn from (after `blacklist`).
    assemblies : list
        Assembly names (``[None]`` for a single assembly).
    track_names : list of str
    label_names : list of str
    epoch : int

    Notes
    -----
    ``ds[i]`` is a dict: ``sequence`` (4, window), ``targets`` (tracks, target_window // bin_size),
    ``labels`` (label sets,) when `labels` is given, ``chrom`` (str), ``start`` (int, 0-based start of
    the sequence window after jitter), ``rc`` (bool), ``index`` (int) and, with several assemblies,
    ``assembly`` (str).  PyTorch's default collate turns a list of them into the dict that
    :meth:`batches` yields (tensors stacked, ``chrom`` a list of str, ``start``/``index`` int64 and
    ``rc`` bool tensors).

    Reading: :meth:`batches` (the fast path) reads a batch with one :func:`fastwig.read_windows` call
    and one :meth:`fastwig.Genome.onehot_batch` call per assembly; inside DataLoader workers
    (:meth:`loader`) each worker reads whole batches.  The map-style path (``ds[i]`` in a DataLoader,
    with any sampler, ``DistributedSampler`` included) works under fork and spawn: the dataset pickles
    by path and each process opens the files once.  Ranks of a DDP job call ``batches`` (or build a
    ``loader``) with their rank and world size -- taken from ``torch.distributed`` by default -- and
    read disjoint shards that together make the epoch.

    Several assemblies: give `regions` an ``assembly`` column and `tracks`/`genome` as dicts keyed
    by its values (a plain list or path is shared by every assembly).  Each batch reads each
    assembly's windows from its own files and puts them back in index order.

    Examples
    --------
    >>> ds = WindowDataset(["a.bw", "b.bw"], "hg38.fa", regions="peaks.bed", window=1000,
    ...                    bin_size=25, transform="log1p", rc_prob=0.5, jitter=50)   # doctest: +SKIP
    >>> ds[0]["targets"].shape                                                      # doctest: +SKIP
    torch.Size([2, 40])
    >>> for batch in ds.batches(256, epoch=0):                                      # doctest: +SKIP
    ...     loss = model(batch["sequence"], batch["targets"])
    """

    def __init__(self, tracks: Sequence[Any] | Mapping[Any, Sequence[Any]], genome: Any = None,
                 regions: Regions | str | os.PathLike | None = None, window: int = 1000,
                 target_window: int | None = None, bin_size: int = 1, stat: str = "mean", missing: float = 0.0,
                 transform: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
                 scale: float | Sequence[float] | None = None, dtype: Any = "float32", layout: str = "NCL",
                 jitter: int = 0, rc_prob: float = 0.0, strand_pairs: Sequence[tuple[int, int]] | None = None,
                 labels: Any = None, sampling: str = "uniform", n_samples: int | None = None, seed: int = 0,
                 max_n_fraction: float = 1.0, *, blacklist: Regions | str | os.PathLike | None = None,
                 positive_fraction: float = 0.5, negative_regions: Regions | str | os.PathLike | None = None,
                 stride: int | None = None, covered_only: bool = False,
                 oob: float | None = None, n_value: float = 0.0, threads: int | None = None,
                 max_attempts: int = 32) -> None:
        self.window = int(window)
        self.target_window = self.window if target_window is None else int(target_window)
        self.bin_size = int(bin_size)
        if self.window <= 0 or self.target_window <= 0 or self.bin_size <= 0:
            raise RangeError("window, target_window and bin_size must be positive")
        if self.target_window % self.bin_size:
            raise RangeError(f"target_window ({self.target_window}) must be a multiple of bin_size ({self.bin_size})")
        self.n_bins = self.target_window // self.bin_size
        self.target_offset = (self.window - self.target_window) // 2
        self.stat, self.missing, self.oob = stat, float(missing), oob
        self.covered_only = bool(covered_only)
        self.n_value = float(n_value)
        self.jitter = int(jitter)
        self.rc_prob = float(rc_prob)
        self.seed = int(seed)
        self.max_n_fraction = float(max_n_fraction)
        self.max_attempts = int(max_attempts)
        self.threads = threads
        self.epoch = 0
        if self.jitter < 0:
            raise RangeError(f"jitter must be >= 0, got {jitter}")
        if not 0.0 <= self.rc_prob <= 1.0:
            raise RangeError(f"rc_prob must lie in [0, 1], got {rc_prob}")
        if sampling not in _SAMPLING:
            raise RangeError(f"sampling must be one of {_SAMPLING}, got {sampling!r}")
        self.sampling = sampling
        self.stride = None
        if n_samples is not None and int(n_samples) < 0:
            raise RangeError(f"n_samples must be >= 0, got {n_samples}")
        if layout not in ("NCL", "NLC"):
            raise RangeError(f"layout must be 'NCL' or 'NLC', got {layout!r}")
        self.layout = layout
        try:
            self.dtype = _DTYPES[dtype]
        except (KeyError, TypeError):
            raise RangeError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}") from None
        if transform is not None and not callable(transform) and transform not in _TRANSFORMS:
            raise RangeError(f"transform must be 'log1p', 'arcsinh' or a callable, got {transform!r}")
        self.transform = transform

        # --- assemblies, tracks, genomes ---------------------------------------------------------
        if regions is not None:
            regions = _as_regions(regions, "regions")
        asm_col = regions is not None and "assembly" in regions.columns
        multi = isinstance(tracks, Mapping) or isinstance(genome, Mapping)
        if multi:
            keys: list = list(tracks) if isinstance(tracks, Mapping) else list(genome)
            if regions is None or not asm_col:
                raise RangeError("tracks or genome given per assembly: regions need an 'assembly' column")
        elif asm_col:
            keys = list(dict.fromkeys(str(a) for a in regions.column("assembly")))
        else:
            keys = [None]
        if asm_col:
            wanted = list(dict.fromkeys(str(a) for a in regions.column("assembly")))
            missing_asm = [a for a in wanted if a not in [str(k) for k in keys]]
            if missing_asm:
                raise RangeError(f"regions name assemblies with no tracks/genome: {missing_asm}")
        self.assemblies: list = keys
        self._track_specs: list[list[Any]] = []
        self._genome_specs: list[Any] = []
        for key in keys:
            t = tracks[key] if isinstance(tracks, Mapping) else tracks
            if isinstance(t, (str, os.PathLike)) or type(t).__name__ == "BigWig":
                t = [t]
            self._track_specs.append([_path_of(x) for x in (t or [])])
            g = genome.get(key) if isinstance(genome, Mapping) else genome
            self._genome_specs.append(None if g is None else _path_of(g))
        n_tracks = {len(t) for t in self._track_specs}
        if len(n_tracks) != 1:
            raise RangeError(f"every assembly needs the same number of tracks, got {sorted(n_tracks)}")
        self.n_tracks = n_tracks.pop()
        self.has_sequence = all(g is not None for g in self._genome_specs)
        if any(g is not None for g in self._genome_specs) and not self.has_sequence:
            raise RangeError("a genome is given for some assemblies but not for all")
        self.track_names = [os.path.basename(str(p)).rsplit(".", 1)[0] if isinstance(p, str) else f"track{k}"
                            for k, p in enumerate(self._track_specs[0])]
        self._opened_pid: int | None = None
        self._opened_tracks: list[list[Any]] = []
        self._opened_genomes: list[Any] = []
        if self.n_tracks == 0 and not self.has_sequence:
            raise RangeError("a dataset needs tracks, a genome, or both")

        # per assembly: chromosome sizes (genome first, else the tracks)
        self._chrom_sizes: list[dict[str, int]] = []
        for a in range(len(keys)):
            if self.has_sequence:
                sizes = dict(self._genome(a).chroms)
            else:
                sizes = {}
                for bw in self._tracks(a):
                    for name, length in bw.chroms.items():
                        sizes[name] = max(sizes.get(name, 0), int(length))
            self._chrom_sizes.append(sizes)

        # --- strand pairs ------------------------------------------------------------------------
        perm = list(range(self.n_tracks))
        for pair in strand_pairs or ():
            i, j = (int(x) for x in pair)
            if not (0 <= i < self.n_tracks and 0 <= j < self.n_tracks) or i == j:
                raise RangeError(f"strand pair {pair!r} does not name two distinct tracks of {self.n_tracks}")
            perm[i], perm[j] = perm[j], perm[i]
        self.strand_pairs = [tuple(int(x) for x in p) for p in (strand_pairs or ())]
        self._perm = torch.tensor(perm, dtype=torch.long)
        self._swap = perm != list(range(self.n_tracks))

        # --- scale -------------------------------------------------------------------------------
        if scale is None:
            self._scale = None
        else:
            s = np.asarray(scale, dtype=np.float32).reshape(-1)
            if s.size == 1:
                s = np.repeat(s, self.n_tracks)
            if s.size != self.n_tracks:
                raise RangeError(f"scale has {s.size} values for {self.n_tracks} tracks")
            self._scale = torch.from_numpy(s.copy()).reshape(1, -1, 1)

        # --- regions and the (assembly, chromosome) codes ----------------------------------------
        if regions is None:
            rows = [(str(k) if k is not None else None, c, n) for k, sizes in zip(keys, self._chrom_sizes)
                    for c, n in sizes.items()]
            extra = {"assembly": [r[0] for r in rows]} if keys != [None] else {}
            regions = Regions([r[1] for r in rows], [0] * len(rows), [r[2] for r in rows], **extra)
        self._asm_index = {(str(k) if k is not None else None): i for i, k in enumerate(keys)}
        self._codes: dict[tuple[int, str], int] = {}
        self._code_asm: list[int] = []
        self._code_chrom: list[str] = []
        self._code_size: list[int] = []
        for a, sizes in enumerate(self._chrom_sizes):
            for c, n in sizes.items():
                self._add_code(a, c, n)
        for a, c in zip(self._asm_of(regions).tolist(), regions.chrom.tolist()):
            self._add_code(int(a), str(c), -1)
        if blacklist is not None:
            blacklist = _as_regions(blacklist, "blacklist")
            regions = regions[~self._overlaps_table(regions, blacklist)]
        self.regions = regions
        reg_code = self._keys_of(regions).astype(np.int32)
        if self.has_sequence and len(regions):
            unknown = np.array(self._code_size)[reg_code] < 0
            if unknown.any():
                i = int(np.flatnonzero(unknown)[0])
                raise ChromNotFound(f"region {regions.chrom[i]}:{regions.start[i]}-{regions.end[i]}: "
                                    f"the genome has no sequence {regions.chrom[i]!r}")
        self._code_chrom_arr = np.array(self._code_chrom, dtype=object)
        self._code_asm_arr = np.array(self._code_asm, dtype=np.int32)

        # --- labels ------------------------------------------------------------------------------
        self.label_names: list[str] = []
        self._labels: list[_OverlapIndex] = []
        if labels is not None:
            if isinstance(labels, Mapping):
                items = list(labels.items())
            elif isinstance(labels, (list, tuple)):
                items = [(f"label{k}", v) for k, v in enumerate(labels)]
            else:
                items = [("label0", labels)]
            for name, table in items:
                table = _as_regions(table, "a label set")
                self.label_names.append(str(name))
                self._labels.append(_OverlapIndex(*self._intervals_of(table)))

        # --- sampler -----------------------------------------------------------------------------
        starts, ends = regions.start, regions.end
        default_n = max(len(regions), regions.total_bases // self.window) if len(regions) else 0
        if sampling == "uniform":
            pool = S.IntervalPool(reg_code, starts, ends)
            self.sampler: S._Sampler = S.UniformSampler(pool, self.window,
                                                        default_n if n_samples is None else n_samples, self.seed)
        elif sampling == "ordered":
            self.stride = self.target_window if stride is None else int(stride)
            self.sampler = S.OrderedSampler(reg_code, starts, ends, self.window, self.target_window,
                                            self.stride, n_samples)
            if self.max_n_fraction < 1.0 and self.has_sequence:
                self._drop_n_tiles()
        else:
            pool = S.IntervalPool(reg_code, starts, ends)
            forbid: dict[int, tuple[list, list]] = {}
            parts = [(reg_code, regions.start, regions.end)]
            if blacklist is not None:
                parts.append(self._intervals_of(blacklist))
            for codes, t_start, t_end in parts:
                for c in np.unique(codes):
                    if c < 0:
                        continue
                    sel = codes == c
                    fs, fe = forbid.setdefault(int(c), ([], []))
                    fs.append(t_start[sel])
                    fe.append(t_end[sel])
            forbid_arr = {c: (np.concatenate(s), np.concatenate(e)) for c, (s, e) in forbid.items()}
            if negative_regions is None:
                used = np.unique(reg_code)
                sizes = np.array(self._code_size, dtype=np.int64)[used]
                dom_code, dom_lo, dom_hi = used[sizes > 0], np.zeros(int((sizes > 0).sum()), np.int64), sizes[sizes > 0]
            else:
                negative_regions = _as_regions(negative_regions, "negative_regions")
                dom_code = self._keys_of(negative_regions)
                ok = dom_code >= 0
                dom_code, dom_lo, dom_hi = dom_code[ok], negative_regions.start[ok], negative_regions.end[ok]
            negatives = S.negative_pool(dom_code, dom_lo, dom_hi, forbid_arr, self.window, self.jitter)
            p = float(positive_fraction)
            n = n_samples if n_samples is not None else (math.ceil(default_n / p) if p > 0 else default_n)
            self.sampler = S.BalancedSampler(pool, negatives, self.window, n, self.seed, p)
        self._warned_n = False
        self._gpu_off = False

    # --- codes and lookups -----------------------------------------------------------------------

    def _add_code(self, asm: int, chrom: str, size: int) -> int:
        key = (asm, chrom)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._code_chrom)
            self._code_asm.append(asm)
            self._code_chrom.append(chrom)
            self._code_size.append(int(size))
        return code

    def _asm_of(self, table: Regions) -> np.ndarray:
        """Assembly index of every row of a table (0 when it has no assembly column)."""
        if "assembly" not in table.columns or self.assemblies == [None]:
            return np.zeros(len(table), dtype=np.int32)
        lut = self._asm_index
        col = table.column("assembly")
        try:
            return np.array([lut[str(a)] for a in col.tolist()], dtype=np.int32)
        except KeyError as exc:
            raise RangeError(f"unknown assembly {exc.args[0]!r} (known: {self.assemblies})") from None

    def _keys_of(self, table: Regions) -> np.ndarray:
        """(assembly, chromosome) code of each row of a table; -1 where the dataset has none.

        Rows go to their ``assembly`` column's assembly; a table without one, to the single assembly
        (see :meth:`_intervals_of` for tables that apply to every assembly)."""
        chroms = table.chrom.tolist()
        if "assembly" in table.columns and self.assemblies != [None]:
            asm = self._asm_of(table).tolist()
            return np.array([self._codes.get((a, c), -1) for a, c in zip(asm, chroms)], dtype=np.int64)
        if len(self.assemblies) == 1:
            return np.array([self._codes.get((0, c), -1) for c in chroms], dtype=np.int64)
        raise RangeError("with several assemblies, this table needs an 'assembly' column")

    def _intervals_of(self, table: Regions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes, starts and ends of a label or blacklist table: rows with an ``assembly`` column
        apply to that assembly, rows without one to every assembly that has their chromosome."""
        if "assembly" in table.columns or len(self.assemblies) == 1:
            return self._keys_of(table), table.start, table.end
        chroms = table.chrom.tolist()
        keys = np.concatenate([np.array([self._codes.get((a, c), -1) for c in chroms], dtype=np.int64)
                               for a in range(len(self.assemblies))])
        k = len(self.assemblies)
        return keys, np.tile(table.start, k), np.tile(table.end, k)

    def _overlaps_table(self, table: Regions, other: Regions) -> np.ndarray:
        index = _OverlapIndex(*self._intervals_of(other))
        return index.query(self._keys_of(table), table.start, table.end)

    # --- files, opened once per process ----------------------------------------------------------

    def _ensure_open(self) -> None:
        pid = os.getpid()
        if self._opened_pid == pid:
            return
        import fastwig

        self._opened_tracks = [[fastwig.open(p) if isinstance(p, str) else p for p in specs]
                               for specs in self._track_specs]
        genomes = []
        for g in self._genome_specs:
            if isinstance(g, str):
                from .genome import Genome

                g = Genome(g)
            genomes.append(g)
        self._opened_genomes = genomes
        self._opened_pid = pid

    def _tracks(self, asm: int) -> list:
        self._ensure_open()
        return self._opened_tracks[asm]

    def _genome(self, asm: int):
        self._ensure_open()
        return self._opened_genomes[asm]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_opened_pid"] = None
        state["_opened_tracks"] = []
        state["_opened_genomes"] = []
        return state

    def _threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        info = torch.utils.data.get_worker_info()
        if info is None:
            return None
        from .config import resolve_threads

        return max(1, resolve_threads(None) // max(1, info.num_workers))

    # --- the windows -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Use the windows of ``epoch`` from now on (``ds[i]``; :meth:`batches` by default).

        Non-persistent DataLoader workers copy the dataset at each ``iter(loader)``, so calling this
        before each epoch reaches them; persistent workers keep the epoch they started with."""
        self.epoch = int(epoch)

    def windows(self, index: Sequence[int] | np.ndarray, epoch: int | None = None) -> Windows:
        """Where the windows of some indices lie (no file is read, except for the N test).

        Parameters
        ----------
        index : int array-like (n,)
            Indices in ``[0, len(self))``.
        epoch : int, optional
            Default: the current epoch (:meth:`set_epoch`).

        Returns
        -------
        Windows
            ``index``, ``assembly``, ``chrom``, ``start`` (after jitter) and ``rc`` of each window.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"index out of range for a dataset of {n} windows")
        code, start = self.sampler.draw(index, epoch, 0)
        start, rc = self._augment(index, epoch, 0, start)
        code = np.asarray(code, dtype=np.int64)
        if self.max_n_fraction < 1.0 and self.has_sequence and self.sampling != "ordered" and index.size:
            bad = self._too_many_n(code, start)
            attempt = 0
            while bad.any() and attempt < self.max_attempts:
                attempt += 1
                sub = np.flatnonzero(bad)
                c2, s2 = self.sampler.draw(index[sub], epoch, attempt)
                s2, r2 = self._augment(index[sub], epoch, attempt, s2)
                code[sub], start[sub], rc[sub] = c2, s2, r2
                bad[sub] = self._too_many_n(code[sub], start[sub])
            if bad.any() and not self._warned_n:
                self._warned_n = True
                warnings.warn(f"{int(bad.sum())} window(s) still hold more than max_n_fraction="
                              f"{self.max_n_fraction} N bases after {self.max_attempts} draws; kept",
                              stacklevel=2)
        return Windows(index, self._code_asm_arr[code], self._code_chrom_arr[code], start, rc)

    def _augment(self, index, epoch, attempt, start):
        start = np.array(start, dtype=np.int64)
        if self.jitter:
            start += S.random_integers(self.seed, epoch, index, S.STREAM_JITTER, 2 * self.jitter + 1,
                                       attempt) - self.jitter
        if self.rc_prob > 0:
            rc = S.random_uniform(self.seed, epoch, index, S.STREAM_RC, attempt) < self.rc_prob
        else:
            rc = np.zeros(index.shape[0], dtype=bool)
        return start, rc

    def _too_many_n(self, code: np.ndarray, start: np.ndarray) -> np.ndarray:
        asm = self._code_asm_arr[code]
        frac = np.empty(code.shape[0], dtype=np.float64)
        for a in np.unique(asm):
            sel = asm == a
            raw = self._genome(int(a)).fetch_batch(self._code_chrom_arr[code[sel]], start[sel], self.window,
                                                   threads=self._threads())
            frac[sel] = _NOT_BASE[raw].mean(axis=1)
        return frac > self.max_n_fraction

    def _drop_n_tiles(self) -> None:
        smp = self.sampler
        keep = np.ones(smp.n_tiles, dtype=bool)
        for lo in range(0, smp.n_tiles, _ORDERED_CHUNK):
            hi = min(lo + _ORDERED_CHUNK, smp.n_tiles)
            keep[lo:hi] = ~self._too_many_n(smp.code[lo:hi].astype(np.int64), smp.start[lo:hi])
        smp.keep(keep)

    # --- reading ---------------------------------------------------------------------------------

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} windows")
        batch = self.read(self.windows([i]))
        item: dict[str, Any] = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                item[key] = value[0] if key in ("sequence", "targets", "labels") else value[0].item()
            else:
                item[key] = value[0]
        return item

    def read(self, windows: Windows, device: str | torch.device = "cpu") -> dict[str, Any]:
        """The batch of some windows (see :meth:`windows`): one read per assembly and kind.

        Parameters
        ----------
        windows : Windows
        device : str or torch.device, default "cpu"
            ``"cuda"``: targets read by the GPU reader when there is one (else read on the CPU and
            copied), sequence one-hot encoded by the GPU kernel, augmentation on the device.

        Returns
        -------
        dict
            ``sequence`` (n, 4, window), ``targets`` (n, tracks, bins), ``labels`` (n, label sets),
            ``chrom`` (list of str), ``start``, ``index`` (int64), ``rc`` (bool); in NLC layout the
            last two axes of ``sequence`` and ``targets`` are swapped.
        """
        device = torch.device(device)
        w = windows
        threads = self._threads()
        groups = [(0, None)] if len(self.assemblies) == 1 else \
            [(int(a), np.flatnonzero(w.assembly == a)) for a in np.unique(w.assembly)]
        rc_np = np.ascontiguousarray(w.rc, dtype=bool)
        out: dict[str, Any] = {}
        if self.has_sequence:
            seq = self._read_sequence(w, groups, rc_np, device, threads)
            out["sequence"] = self._finish(seq, seq_axis=True)
        if self.n_tracks:
            tgt = self._read_targets(w, groups, device, threads)
            if rc_np.any():
                sel = torch.from_numpy(np.flatnonzero(rc_np)).to(device)
                part = tgt[sel]
                if self._swap:
                    part = part[:, self._perm.to(device)]
                tgt[sel] = part.flip(-1)
            if self.transform is not None:
                fn = _TRANSFORMS.get(self.transform) if isinstance(self.transform, str) else self.transform
                tgt = fn(tgt)
            if self._scale is not None:
                tgt = tgt * self._scale.to(tgt.device)
            out["targets"] = self._finish(tgt, seq_axis=False)
        if self._labels:
            keys = np.array([self._codes[(int(a), str(c))] for a, c in zip(w.assembly.tolist(), w.chrom.tolist())],
                            dtype=np.int64)
            lab = np.stack([ix.query(keys, w.start, w.start + self.window) for ix in self._labels], axis=1)
            out["labels"] = torch.from_numpy(lab).to(device=device, dtype=self.dtype)
        out["chrom"] = [str(c) for c in w.chrom.tolist()]
        out["start"] = torch.from_numpy(np.array(w.start, dtype=np.int64)).to(device)
        out["rc"] = torch.from_numpy(rc_np.copy()).to(device)
        out["index"] = torch.from_numpy(np.array(w.index, dtype=np.int64)).to(device)
        if len(self.assemblies) > 1:
            out["assembly"] = [str(self.assemblies[a]) for a in w.assembly.tolist()]
        return out

    def _finish(self, t: torch.Tensor, seq_axis: bool) -> torch.Tensor:
        if t.dtype != self.dtype:
            t = t.to(self.dtype)
        if self.layout == "NLC":
            t = t.transpose(1, 2).contiguous()
        return t

    def _read_sequence(self, w: Windows, groups, rc: np.ndarray, device: torch.device, threads) -> torch.Tensor:
        n = len(w)
        if device.type == "cuda" and not self._gpu_off:
            try:
                return self._read_sequence_cuda(w, groups, rc, device, threads)
            except (ImportError, CudaUnavailable) as exc:
                self._no_gpu_kernels(exc)
        seq = np.empty((n, 4, self.window), dtype=np.float32)
        for a, idx in groups:
            g = self._genome(a)
            if idx is None:
                g.onehot_batch(w.chrom, w.start, self.window, n_value=self.n_value, out=seq, rc=rc, threads=threads)
            else:
                seq[idx] = g.onehot_batch(w.chrom[idx], w.start[idx], self.window, n_value=self.n_value,
                                          rc=rc[idx], threads=threads)
        t = torch.from_numpy(seq)
        return t.to(device) if device.type != "cpu" else t

    def _no_gpu_kernels(self, exc: Exception) -> None:
        """torch sees a GPU but numba's CUDA kernels cannot run: read on the CPU and copy, say so once."""
        self._gpu_off = True
        warnings.warn(f"fastwig's CUDA kernels are unavailable ({exc}); batches are read on the CPU and "
                      "copied to the GPU (pip install 'fastwig[cuda]' for the GPU reader)", stacklevel=4)

    def _read_sequence_cuda(self, w, groups, rc, device, threads) -> torch.Tensor:
        from ._kernels import cuda_module
        kcuda = cuda_module()
        from .config import settings

        raw = np.empty((len(w), self.window), dtype=np.uint8)
        for a, idx in groups:
            g = self._genome(a)
            if idx is None:
                g.fetch_batch(w.chrom, w.start, self.window, out=raw, threads=threads)
            else:
                raw[idx] = g.fetch_batch(w.chrom[idx], w.start[idx], self.window, threads=threads)
        reason = kcuda.probe()
        if reason is not None:
            raise CudaUnavailable(reason)
        codes = torch.from_numpy(raw).to(device)
        flags = torch.from_numpy(rc.astype(np.uint8)).to(device)
        seq = torch.empty((len(w), 4, self.window), dtype=torch.float32, device=device)
        if len(w):
            with torch.cuda.device(device):
                kcuda.onehot_batch_gpu(codes, flags, seq, np.float32(self.n_value), settings.gpu_threads_per_block,
                                       settings.gpu_max_blocks)
        return seq

    def _read_targets(self, w: Windows, groups, device: torch.device, threads) -> torch.Tensor:
        n = len(w)
        starts = w.start + self.target_offset
        kw = {"bin_size": self.bin_size, "stat": self.stat, "missing": self.missing, "oob": self.oob,
              "covered_only": self.covered_only}
        if device.type == "cuda" and not self._gpu_off:
            try:
                tgt = torch.empty((n, self.n_tracks, self.n_bins), dtype=torch.float32, device=device)
                for a, idx in groups:
                    if idx is None:
                        read_windows(self._tracks(a), w.chrom, starts, self.target_window, out=tgt,
                                     device=str(device), threads=threads, **kw)
                    else:
                        part = torch.empty((idx.size, self.n_tracks, self.n_bins), dtype=torch.float32, device=device)
                        read_windows(self._tracks(a), w.chrom[idx], starts[idx], self.target_window, out=part,
                                     device=str(device), threads=threads, **kw)
                        tgt[torch.from_numpy(idx).to(device)] = part
                return tgt
            except (ImportError, CudaUnavailable) as exc:
                self._no_gpu_kernels(exc)
        tgt_np = np.empty((n, self.n_tracks, self.n_bins), dtype=np.float32)
        for a, idx in groups:
            if idx is None:
                read_windows(self._tracks(a), w.chrom, starts, self.target_window, out=tgt_np, threads=threads, **kw)
            else:
                tgt_np[idx] = read_windows(self._tracks(a), w.chrom[idx], starts[idx], self.target_window,
                                           threads=threads, **kw)
        t = torch.from_numpy(tgt_np)
        return t.to(device) if device.type != "cpu" else t

    # --- the fast path ---------------------------------------------------------------------------

    def batches(self, batch_size: int, *, epoch: int | None = None, device: str | torch.device = "cpu",
                rank: int | None = None, world_size: int | None = None,
                drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """Batches of an epoch, each read in one call per kind (the fast path).

        The epoch's indices are cut into batches of consecutive indices, dealt out to DDP ranks (batch
        ``k`` to rank ``k % world_size``) and, inside a DataLoader worker, to workers, so that the
        ranks' windows are disjoint and together make the epoch (:func:`fastwig.samplers.shard_batches`).
        Batch ``k`` holds exactly ``default_collate([ds[i] for i in range(k*b, (k+1)*b)])`` for the
        same epoch.

        Parameters
        ----------
        batch_size : int
        epoch : int, optional
            Default: the current epoch (:meth:`set_epoch`; 0 unless set).
        device : str or torch.device, default "cpu"
            Where the batch is built (see :meth:`read`).
        rank, world_size : int, optional
            DDP rank and world size; default: from ``torch.distributed`` when it is initialised, else
            0 and 1.
        drop_last : bool, default False
            Only whole batches, as many on every rank (what DDP needs to stay in step); otherwise the
            last batch may be short and ranks may differ by one batch.

        Yields
        ------
        dict
            As :meth:`read`.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        rank, world_size = _dist_rank(rank, world_size)
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for lo, hi in S.shard_batches(len(self), batch_size, rank=rank, world_size=world_size, worker=worker,
                                      num_workers=num_workers, drop_last=drop_last):
            yield self.read(self.windows(np.arange(lo, hi, dtype=np.int64), epoch), device)

    def loader(self, batch_size: int, *, num_workers: int = 0, epoch: int | None = None, rank: int | None = None,
               world_size: int | None = None, drop_last: bool = False, **loader_kw: Any
               ) -> torch.utils.data.DataLoader:
        """A DataLoader over :meth:`batches`: whole batches read in ``num_workers`` processes.

        Parameters
        ----------
        batch_size : int
        num_workers : int, default 0
        epoch, rank, world_size, drop_last
            As :meth:`batches`; call ``loader.dataset.set_epoch(e)`` between epochs.
        **loader_kw
            Passed to ``torch.utils.data.DataLoader`` (``multiprocessing_context``, ``pin_memory``,
            ``prefetch_factor``, ``persistent_workers``, ...).

        Returns
        -------
        torch.utils.data.DataLoader
            Yields the batches of this rank in order, on the CPU.
        """
        it = BatchIterable(self, batch_size, epoch=epoch, rank=rank, world_size=world_size, drop_last=drop_last)
        return torch.utils.data.DataLoader(it, batch_size=None, num_workers=num_workers, **loader_kw)

    def __repr__(self) -> str:
        asm = "" if self.assemblies == [None] else f", assemblies={self.assemblies}"
        return (f"WindowDataset({len(self)} windows, sampling={self.sampling!r}, window={self.window}, "
                f"target_window={self.target_window}, bin_size={self.bin_size}, tracks={self.n_tracks}, "
                f"sequence={self.has_sequence}{asm})")


class BatchIterable(torch.utils.data.IterableDataset):
    """:meth:`WindowDataset.batches` as an IterableDataset (for a DataLoader with ``batch_size=None``).

    Parameters
    ----------
    dataset : WindowDataset
    batch_size : int
    epoch, rank, world_size, drop_last
        As :meth:`WindowDataset.batches`.
    """

    def __init__(self, dataset: WindowDataset, batch_size: int, *, epoch: int | None = None,
                 rank: int | None = None, world_size: int | None = None, drop_last: bool = False) -> None:
        super().__init__()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.epoch = epoch
        self.rank, self.world_size = _dist_rank(rank, world_size)
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        """Read the windows of ``epoch`` at the next ``iter()``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(S.shard_batches(len(self.dataset), self.batch_size, rank=self.rank,
                                   world_size=self.world_size, drop_last=self.drop_last))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.dataset.batches(self.batch_size, epoch=self.epoch, rank=self.rank,
                                    world_size=self.world_size, drop_last=self.drop_last)


def _dist_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return int(rank), int(world_size)
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        r, ws = dist.get_rank(), dist.get_world_size()
    else:
        r, ws = 0, 1
    return (r if rank is None else int(rank)), (ws if world_size is None else int(world_size))
