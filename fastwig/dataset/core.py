"""The torch face of the dataset: :class:`WindowDataset` and :class:`BatchIterable`.

Two ways to read:

- map-style: ``ds[i]`` (a dict of tensors) for a ``torch.utils.data.DataLoader`` with any sampler
  (``DistributedSampler`` included) and any number of workers, under fork or spawn;
- the fast path: ``ds.batches(batch_size, ...)`` (or ``ds.loader(...)``, a DataLoader over it) reads
  each batch with one :func:`fastwig.read_windows` call per assembly and kind and one sequence read,
  sharded by DDP rank and DataLoader worker.

Both give the same tensors for the same index: ``ds[i]`` is the batch of the single index ``i``.  The
work is done in the other rooms of the package: :mod:`.sources` (files), :mod:`.places` (codes and
labels), :mod:`.sampling` and :mod:`.windows` (where windows lie), :mod:`.reading` (tensors).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data

from ..errors import RangeError
from ..regions import Regions
from .options import Augmentation, Inputs, Sampling, SequenceEncoding, Targets, gather, legacy_positional
from .places import LabelSets, as_regions
from .reading import DTYPES, BatchReader
from .samplers import Windows
from .sampling import coded_regions, make_sampler
from .shards import shard_batches
from .sources import Sources, assembly_keys
from .windows import Placement

__all__ = ["BatchIterable", "WindowDataset"]

# parameters that were positional before they became keyword-only (still accepted, with a warning)
_WAS_POSITIONAL = ("target_window", "bin_size", "stat", "missing", "transform", "scale", "dtype", "layout",
                   "jitter", "rc_prob", "strand_pairs", "labels", "sampling", "n_samples", "seed", "max_n_fraction")


class WindowDataset(torch.utils.data.Dataset):
    """Windows of DNA sequence with the signal of many bigWig tracks under them, for PyTorch.

    Every parameter past `window` is keyword-only.  Parameters come in groups (targets, inputs,
    augmentation, sampling, sequence encoding); each group can be given as flat keywords, or as one
    frozen object of :mod:`fastwig.dataset.options` (``targets=Targets(bin_size=25)``), not both.

    Parameters
    ----------
    tracks : sequence of (path or BigWig), or dict assembly -> sequence, default ()
        Target bigWig tracks, in output order (``targets[k]`` is track ``k``).  Open files are remembered
        by path and opened lazily once per process (DataLoader workers, fork or spawn).  A dict gives
        each assembly its own tracks (same number for every assembly).  Empty: no ``targets``.
    genome : path or Genome, or dict assembly -> (path or Genome), optional
        FASTA of the assembly.  Without one, ``sequence`` is left out.
    regions : Regions or BED path, optional
        Where windows are drawn.  Default: every whole chromosome of the genome (or, without a genome,
        of the tracks).  An ``assembly`` column picks each region's genome and tracks.
    window : int, default 1000
        Width of the sequence window.
    missing : float, default 0.0
        Value of bases no record covers (and of chromosomes a track lacks), in targets and inputs.
    dtype : {"float32", "bfloat16", "float16"} or torch.dtype, default "float32"
        Dtype of the one-hot ``sequence``, ``targets``, ``inputs`` and ``labels``.
    layout : {"NCL", "NLC"}, default "NCL"
        ``"NCL"``: sequence ``(4, window)``, targets ``(tracks, bins)``, inputs ``(channels, bins)``
        (PyTorch Conv1d); ``"NLC"``: the last two axes swapped.
    labels : Regions, BED path, a list of them, or a dict name -> one of them, optional
        Label sets: ``labels[k]`` is 1 when the window ``[start, start + window)`` overlaps an interval
        of set ``k``.  With several assemblies, a set with an ``assembly`` column applies to those
        assemblies, one without to every assembly.
    threads : int, optional
        CPU threads per read (default ``fastwig.settings.threads``; in a DataLoader worker, the cores
        divided among the workers).

    Targets (or ``targets=Targets(...)``, :class:`~fastwig.dataset.options.Targets`)
        ``target_window`` (default `window`; centred, starting ``(window - target_window) // 2`` bases
        after the window; a multiple of `bin_size`), ``bin_size`` (1), ``stat`` ("mean"),
        ``covered_only`` (False), ``oob`` (value past a chromosome end; default `missing`),
        ``transform`` ("log1p", "arcsinh" or a callable on the float32 batch ``(n, tracks, bins)``),
        ``scale`` (one factor or one per track, after `transform`).
    Inputs (or ``inputs=Inputs(...)``, :class:`~fastwig.dataset.options.Inputs`)
        ``inputs``: a list of bigWig paths/objects (a list inside it: one averaged channel), a dict
        name -> path, or name -> list of paths (one channel, the base-by-base mean of those tracks);
        with several assemblies, a dict keyed by every assembly.  ``batch["inputs"]`` is ``(channels, window // input_bin_size)`` over the whole
        sequence window, moved with it (jitter; reversed with reverse complement; channel pairs of
        ``input_strand_pairs`` -- indices or names -- swapped).  ``input_bin_size`` (1), ``input_stat``
        ("mean"), ``input_transform`` (as `transform`).  Inputs share `missing`, ``oob`` and
        ``covered_only`` with the targets.
    Augmentation (or ``augment=Augmentation(...)``, :class:`~fastwig.dataset.options.Augmentation`)
        ``jitter`` (0: shift each window by a uniform offset in ``[-jitter, jitter]``), ``rc_prob``
        (0.0: probability of a reverse complement -- sequence flipped on both axes, targets and inputs
        reversed along their length), ``strand_pairs`` (target track pairs swapped in a reverse
        complement).
    Sampling (or ``sampling=Sampling(...)``, :class:`~fastwig.dataset.options.Sampling`)
        ``sampling``: "uniform" (centres uniform over the bases of the regions), "ordered" (the regions
        in order, cut into tiles ``stride`` apart -- default `target_window` -- for evaluation) or
        "balanced" (positives and negatives -- windows that touch no region and no blacklist interval,
        on the regions' chromosomes or in ``negative_regions`` -- interleaved exactly in the ratio
        ``positive_fraction``).  ``n_samples`` (windows per epoch; default: uniform
        ``max(len(regions), total_bases // window)``, balanced that over `positive_fraction`, ordered
        the number of tiles), ``seed`` (0: the window of index ``i`` depends only on the regions,
        `window`, `seed`, the epoch and ``i``), ``blacklist`` (regions overlapping it are dropped),
        ``max_n_fraction`` (1.0: windows with more non-ACGT bases are drawn again, up to
        ``max_attempts`` times, 32; ordered tiles are dropped; needs a genome).
    Sequence encoding (or ``encoding=SequenceEncoding(...)``)
        ``encoding``: "onehot" (float ``(4, window)``, rows A C G T; ``n_value`` at N, default 0.0),
        "integer" (int64 ``(window,)``: A=0 C=1 G=2 T=3, other 4) or "kmer" (int64 ``(tokens,)`` with
        ``tokens = (window - kmer_size) // kmer_stride + 1``; tokens ``0 .. 4**k - 1``, ``4**k`` for a
        k-mer with N/IUPAC or past an end); ``kmer_size`` (3), ``kmer_stride`` (1).  See
        :attr:`vocab_size`.

    Attributes
    ----------
    regions : Regions
        The regions windows are drawn from (after the blacklist).
    assemblies : list
        Assembly names (``[None]`` for a single assembly).
    track_names, input_names, label_names : list of str
    epoch : int
    vocab_size : int

    Notes
    -----
    ``ds[i]`` is a dict: ``sequence``, ``targets`` (when there are tracks), ``inputs`` (when there are
    inputs), ``labels`` (when there are label sets), ``chrom`` (str), ``start`` (int, 0-based start of
    the sequence window after jitter), ``rc`` (bool), ``index`` (int) and, with several assemblies,
    ``assembly`` (str).  PyTorch's default collate turns a list of them into the dict that
    :meth:`batches` yields.

    Several assemblies: give `regions` an ``assembly`` column and `tracks`/`genome` as dicts keyed by
    its values (a plain list or path is shared by every assembly).  Each batch reads each assembly's
    windows from its own files and puts them back in index order.

    Examples
    --------
    >>> ds = WindowDataset(["a.bw", "b.bw"], "hg38.fa", "peaks.bed", 1000, bin_size=25,
    ...                    transform="log1p", rc_prob=0.5, jitter=50, inputs={"atac": "atac.bw"})  # doctest: +SKIP
    >>> ds[0]["targets"].shape, ds[0]["inputs"].shape                                          # doctest: +SKIP
    (torch.Size([2, 40]), torch.Size([1, 1000]))
    """

    @legacy_positional(4, _WAS_POSITIONAL)
    def __init__(self, tracks: Sequence[Any] | Mapping[Any, Sequence[Any]] = (), genome: Any = None,
                 regions: Regions | str | os.PathLike | None = None, window: int = 1000, *,
                 target_window: int | None = None, bin_size: int = 1, stat: str = "mean", missing: float = 0.0,
                 transform: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
                 scale: float | Sequence[float] | None = None, dtype: Any = "float32", layout: str = "NCL",
                 jitter: int = 0, rc_prob: float = 0.0, strand_pairs: Sequence[tuple[int, int]] | None = None,
                 labels: Any = None, sampling: str | Sampling = "uniform", n_samples: int | None = None,
                 seed: int = 0, max_n_fraction: float = 1.0, blacklist: Regions | str | os.PathLike | None = None,
                 positive_fraction: float = 0.5, negative_regions: Regions | str | os.PathLike | None = None,
                 stride: int | None = None, covered_only: bool = False, oob: float | None = None,
                 n_value: float = 0.0, threads: int | None = None, max_attempts: int = 32,
                 inputs: Any = None, input_bin_size: int = 1, input_stat: str = "mean",
                 input_transform: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
                 input_strand_pairs: Sequence[tuple[Any, Any]] | None = None,
                 encoding: str | SequenceEncoding = "onehot", kmer_size: int = 3, kmer_stride: int = 1,
                 targets: Targets | None = None, augment: Augmentation | None = None) -> None:
        flat = dict(locals())
        self.target_options = t = gather(Targets, targets, flat)
        self.input_options = i = gather(Inputs, inputs if isinstance(inputs, Inputs) else None, flat, "inputs")
        self.augmentation = aug = gather(Augmentation, augment, flat)
        self.sampling_options = smp = gather(Sampling, sampling if isinstance(sampling, Sampling) else None, flat,
                                             "sampling")
        self.encoding_options = enc = gather(SequenceEncoding,
                                             encoding if isinstance(encoding, SequenceEncoding) else None, flat,
                                             "encoding")
        self.window = int(window)
        if self.window <= 0:
            raise RangeError("window, target_window and bin_size must be positive")
        if layout not in ("NCL", "NLC"):
            raise RangeError(f"layout must be 'NCL' or 'NLC', got {layout!r}")
        try:
            self.dtype = DTYPES[dtype]
        except (KeyError, TypeError):
            raise RangeError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}") from None
        self.layout, self.missing, self.threads, self.epoch = layout, float(missing), threads, 0
        # flat attributes of the groups (read by users and tests)
        self.stat, self.oob, self.covered_only, self.transform = t.stat, t.oob, t.covered_only, t.transform
        self.jitter, self.rc_prob, self.strand_pairs = int(aug.jitter), float(aug.rc_prob), list(aug.strand_pairs)
        self.sampling, self.seed = smp.mode, int(smp.seed)
        self.max_n_fraction, self.max_attempts = float(smp.max_n_fraction), int(smp.max_attempts)
        self.n_value, self.encoding = float(enc.n_value), enc.kind

        if regions is not None:
            regions = as_regions(regions, "regions")
        self.assemblies: list = assembly_keys(tracks, genome, i.tracks, regions)
        self._sources = src = Sources(self.assemblies, tracks, genome, i.tracks)
        self.n_tracks, self.n_inputs, self.has_sequence = src.n_tracks, src.n_inputs, src.has_sequence
        self.track_names, self.input_names = src.track_names, src.input_names
        if self.n_tracks == 0 and not self.has_sequence and self.n_inputs == 0:
            raise RangeError("a dataset needs tracks, inputs or a genome")
        if enc.kind != "onehot" and not self.has_sequence:
            raise RangeError(f"encoding={enc.kind!r} needs a genome")
        chrom_sizes = [src.chrom_sizes(a) for a in range(len(self.assemblies))]
        self.target_window = self.window if t.window is None else int(t.window)
        self.bin_size, self.input_bin_size = int(t.bin_size), int(i.bin_size)

        # --- regions, codes, labels, sampler -----------------------------------------------------
        blacklist = None if smp.blacklist is None else as_regions(smp.blacklist, "blacklist")
        self.regions, codes, reg_code = coded_regions(regions, self.assemblies, chrom_sizes, blacklist,
                                                      self.has_sequence)
        labels = LabelSets(labels, codes)
        self.label_names = labels.names
        self._reader = BatchReader(src, codes, labels, self.window, t, i, aug, enc, self.missing, self.dtype, layout)
        self.n_bins, self.target_offset = self._reader.n_bins, self._reader.target_offset
        self.stride = (self.target_window if smp.stride is None else int(smp.stride)) \
            if smp.mode == "ordered" else None
        sampler = make_sampler(smp, self.regions, reg_code, codes, self.window, self.target_window, self.jitter,
                               blacklist)
        fetch = self._fetch if self.has_sequence else None
        self._placement = Placement(sampler, codes, self.window, aug, self.seed, self.max_n_fraction,
                                    self.max_attempts, fetch)

    # --- sources, opened once per process --------------------------------------------------------

    @property
    def sampler(self):
        """The sampler (:mod:`fastwig.dataset.samplers`) that places the windows before augmentation."""
        return self._placement.sampler

    @property
    def vocab_size(self) -> int:
        """Number of sequence token ids: 4 (one-hot rows), 5 (integer codes) or ``4**kmer_size + 1``."""
        return self.encoding_options.vocab_size

    @property
    def _track_specs(self) -> list[list[Any]]:
        return self._sources.track_specs

    @property
    def _opened_pid(self) -> int | None:
        return self._sources.opened_pid

    def _tracks(self, asm: int) -> list:
        return self._sources.tracks(asm)

    def _genome(self, asm: int) -> Any:
        return self._sources.genome(asm)

    def _fetch(self, asm: int, chroms: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
        return self._sources.genome(asm).fetch_batch(chroms, starts, width, threads=self._threads())

    def _threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        info = torch.utils.data.get_worker_info()
        if info is None:
            return None
        from ..config import resolve_threads

        return max(1, resolve_threads(None) // max(1, info.num_workers))

    # --- the windows -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._placement)

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
        return self._placement.windows(index, self.epoch if epoch is None else int(epoch))

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
                item[key] = value[0] if key in ("sequence", "targets", "inputs", "labels") else value[0].item()
            else:
                item[key] = value[0]
        return item

    def read(self, windows: Windows, device: str | torch.device = "cpu") -> dict[str, Any]:
        """The batch of some windows (see :meth:`windows`): one read per assembly and kind.

        Parameters
        ----------
        windows : Windows
        device : str or torch.device, default "cpu"
            ``"cuda"``: tracks read by the GPU reader when there is one (else read on the CPU and
            copied), one-hot sequence encoded by the GPU kernel, augmentation on the device.

        Returns
        -------
        dict
            ``sequence`` (n, 4, window) one-hot, or int64 (n, tokens); ``targets`` (n, tracks, bins);
            ``inputs`` (n, channels, window // input_bin_size); ``labels`` (n, label sets);
            ``chrom`` (list of str), ``start``, ``index`` (int64), ``rc`` (bool); in NLC layout the
            last two axes of the float arrays are swapped.
        """
        return self._reader.read(windows, torch.device(device), self._threads())

    # --- the fast path ---------------------------------------------------------------------------

    def batches(self, batch_size: int, *, epoch: int | None = None, device: str | torch.device = "cpu",
                rank: int | None = None, world_size: int | None = None,
                drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """Batches of an epoch, each read in one call per assembly and kind (the fast path).

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
        for lo, hi in shard_batches(len(self), batch_size, rank=rank, world_size=world_size, worker=worker,
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
        extra = f", inputs={self.n_inputs}" if self.n_inputs else ""
        return (f"WindowDataset({len(self)} windows, sampling={self.sampling!r}, window={self.window}, "
                f"target_window={self.target_window}, bin_size={self.bin_size}, tracks={self.n_tracks}{extra}, "
                f"sequence={self.has_sequence and self.encoding}{asm})")


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
        return len(shard_batches(len(self.dataset), self.batch_size, rank=self.rank,
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
