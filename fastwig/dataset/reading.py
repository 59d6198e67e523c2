"""One batch of windows -> tensors: sequence, targets, inputs and labels, on the CPU or the GPU.

Per assembly, a batch costs one sequence read (:meth:`fastwig.Genome.onehot_batch`,
``integer_batch`` or ``kmers_batch``) and one :func:`fastwig.read_windows` call per distinct track
geometry: targets and inputs share one call when they cover the same bases at the same resolution
(``target_window == window``, ``bin_size == input_bin_size``, the same statistic), else take two.  The
member tracks of averaged input channels are read in that same call and reduced to channels on the
batch array (:func:`average_channels`), never window by window.

On ``device="cuda"`` the tracks are read by the GPU reader into device tensors and the one-hot
sequence is encoded by the GPU kernel (``kernels.cuda.onehot_batch_gpu``); when numba's CUDA kernels
cannot run the batch is read on the CPU and copied, with one warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..batch import read_windows
from ..errors import CudaUnavailable, RangeError
from .options import Augmentation, Inputs, SequenceEncoding, Targets
from .places import ChromCodes, LabelSets
from .samplers import Windows
from .sources import Sources

__all__ = ["DTYPES", "BatchReader", "average_channels"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          torch.float32: torch.float32, torch.bfloat16: torch.bfloat16, torch.float16: torch.float16}
_TRANSFORMS = {"log1p": torch.log1p, "arcsinh": torch.asinh}


def _permutation(pairs, n: int, names: list[str], what: str) -> list[int]:
    """The channel order of a reverse-complemented window: each strand pair swapped."""
    perm = list(range(n))
    for pair in pairs:
        i, j = (names.index(x) if isinstance(x, str) and x in names else x for x in pair)
        if not (isinstance(i, (int, np.integer)) and isinstance(j, (int, np.integer))
                and 0 <= i < n and 0 <= j < n) or i == j:
            raise RangeError(f"strand pair {pair!r} does not name two distinct {what} of {n}")
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def average_channels(raw: torch.Tensor, offsets: np.ndarray) -> torch.Tensor:
    """Channels from member tracks: channel ``c`` is the mean of members ``offsets[c]:offsets[c + 1]``.

    Members are added in order and the sum divided by their count, float32 throughout -- the same
    operations, in the same order, as ``numpy.mean`` of the members' reads over the member axis.

    Parameters
    ----------
    raw : float32 tensor (n, members, length)
    offsets : int64 (channels + 1,)

    Returns
    -------
    float32 tensor (n, channels, length)
        ``raw`` itself when every channel has one member.
    """
    counts = np.diff(offsets)
    if (counts == 1).all():
        return raw
    out = torch.empty((raw.shape[0], counts.size, raw.shape[2]), dtype=raw.dtype, device=raw.device)
    for c, (lo, hi) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist())):
        acc = out[:, c]
        acc.copy_(raw[:, lo])
        for m in range(lo + 1, hi):  # a loop over members, each step a whole-batch add
            acc += raw[:, m]
        if hi - lo > 1:
            acc /= hi - lo
    return out


def cuda_onehot():
    """The CUDA probe (``fastwig.backend.device.probe``: None, or why CUDA is unusable) and the GPU one-hot
    driver (``kernels.cuda.onehot_batch_gpu``); resolving them touches no CUDA."""
    from .._kernels import cuda_module
    from ..backend.device import probe

    return probe, cuda_module().onehot_batch_gpu


class BatchReader:
    """Reads the tensors of a batch of windows.

    Parameters
    ----------
    sources : Sources
    codes : ChromCodes
    labels : LabelSets
    window : int
        Width of the sequence window.
    targets, inputs, augment, encoding
        The option groups.
    missing : float
    dtype : torch.dtype
        Dtype of float outputs (sequence one-hot, targets, inputs, labels).
    layout : {"NCL", "NLC"}
    """

    def __init__(self, sources: Sources, codes: ChromCodes, labels: LabelSets, window: int, targets: Targets,
                 inputs: Inputs, augment: Augmentation, encoding: SequenceEncoding, missing: float,
                 dtype: torch.dtype, layout: str) -> None:
        self.sources, self.codes, self.labels = sources, codes, labels
        self.window = int(window)
        self.target_window = self.window if targets.window is None else int(targets.window)
        self.bin_size = int(targets.bin_size)
        if self.target_window % self.bin_size:
            raise RangeError(f"target_window ({self.target_window}) must be a multiple of bin_size ({self.bin_size})")
        self.n_bins = self.target_window // self.bin_size
        self.target_offset = (self.window - self.target_window) // 2
        self.input_bin_size = int(inputs.bin_size)
        if sources.n_inputs and self.window % self.input_bin_size:
            raise RangeError(f"window ({self.window}) must be a multiple of input_bin_size ({self.input_bin_size})")
        self.t, self.i, self.enc = targets, inputs, encoding
        self.missing = float(missing)
        self.dtype, self.layout = dtype, layout
        perm = _permutation(augment.strand_pairs, sources.n_tracks, sources.track_names, "tracks")
        self._perm = torch.tensor(perm, dtype=torch.long) if perm != list(range(sources.n_tracks)) else None
        iperm = _permutation(inputs.strand_pairs, sources.n_inputs, sources.input_names, "input channels")
        self._iperm = torch.tensor(iperm, dtype=torch.long) if iperm != list(range(sources.n_inputs)) else None
        self._scale = self._scale_tensor(targets.scale, sources.n_tracks)
        # one read_windows call for targets and inputs when they cover the same bases alike
        self.shared_read = (self.target_window == self.window and self.bin_size == self.input_bin_size
                            and targets.stat == inputs.stat)
        self.gpu_off = False

    @staticmethod
    def _scale_tensor(scale: Any, n_tracks: int) -> torch.Tensor | None:
        if scale is None:
            return None
        s = np.asarray(scale, dtype=np.float32).reshape(-1)
        if s.size == 1:
            s = np.repeat(s, n_tracks)
        if s.size != n_tracks:
            raise RangeError(f"scale has {s.size} values for {n_tracks} tracks")
        return torch.from_numpy(s.copy()).reshape(1, -1, 1)

    # --- one batch -------------------------------------------------------------------------------

    def read(self, w: Windows, device: torch.device, threads: int | None) -> dict[str, Any]:
        """The batch of windows ``w`` (see :meth:`WindowDataset.read <fastwig.dataset.core.WindowDataset.read>`)."""
        groups = [(0, None)] if len(self.sources.keys) == 1 else \
            [(int(a), np.flatnonzero(w.assembly == a)) for a in np.unique(w.assembly)]
        rc = np.ascontiguousarray(w.rc, dtype=bool)
        rc_rows = torch.from_numpy(np.flatnonzero(rc)).to(device) if rc.any() else None
        out: dict[str, Any] = {}
        if self.sources.has_sequence:
            out["sequence"] = self._sequence(w, groups, rc, device, threads)
        targets, inputs = self._tracks(w, groups, device, threads)
        if targets is not None:
            out["targets"] = self._finish(self._flip(targets, rc_rows, self._perm), self.t.transform, self._scale)
        if inputs is not None:
            out["inputs"] = self._finish(self._flip(inputs, rc_rows, self._iperm), self.i.transform, None)
        if len(self.labels):
            keys = self.codes.of_windows(w.assembly, w.chrom)
            lab = self.labels.query(keys, w.start, self.window)
            out["labels"] = torch.from_numpy(lab).to(device=device, dtype=self.dtype)
        out["chrom"] = [str(c) for c in w.chrom.tolist()]
        out["start"] = torch.from_numpy(np.array(w.start, dtype=np.int64)).to(device)
        out["rc"] = torch.from_numpy(rc.copy()).to(device)
        out["index"] = torch.from_numpy(np.array(w.index, dtype=np.int64)).to(device)
        if len(self.sources.keys) > 1:
            out["assembly"] = [str(self.sources.keys[a]) for a in w.assembly.tolist()]
        return out

    @staticmethod
    def _flip(t: torch.Tensor, rc_rows: torch.Tensor | None, perm: torch.Tensor | None) -> torch.Tensor:
        """Reverse the length axis of reverse-complemented rows and swap their strand pairs, in place."""
        if rc_rows is not None:
            part = t[rc_rows]
            if perm is not None:
                part = part[:, perm.to(t.device)]
            t[rc_rows] = part.flip(-1)
        return t

    def _finish(self, t: torch.Tensor, transform: Any, scale: torch.Tensor | None) -> torch.Tensor:
        if transform is not None:
            t = (_TRANSFORMS[transform] if isinstance(transform, str) else transform)(t)
        if scale is not None:
            t = t * scale.to(t.device)
        return self._cast(t)

    def _cast(self, t: torch.Tensor) -> torch.Tensor:
        if t.dtype != self.dtype:
            t = t.to(self.dtype)
        if self.layout == "NLC":
            t = t.transpose(1, 2)
        return t.contiguous()

    # --- sequence --------------------------------------------------------------------------------

    def _sequence(self, w: Windows, groups, rc: np.ndarray, device: torch.device, threads) -> torch.Tensor:
        if self.enc.kind != "onehot":
            return self._tokens(w, groups, rc, threads).to(device)
        if device.type == "cuda" and not self.gpu_off:
            try:
                return self._cast(self._onehot_cuda(w, groups, rc, device, threads))
            except (ImportError, CudaUnavailable) as exc:
                self._no_gpu_kernels(exc)
        seq = np.empty((len(w), 4, self.window), dtype=np.float32)
        n_value = float(self.enc.n_value)
        for a, idx in groups:
            g = self.sources.genome(a)
            if idx is None:
                g.onehot_batch(w.chrom, w.start, self.window, n_value=n_value, out=seq, rc=rc, threads=threads)
            else:
                seq[idx] = g.onehot_batch(w.chrom[idx], w.start[idx], self.window, n_value=n_value, rc=rc[idx],
                                          threads=threads)
        return self._cast(torch.from_numpy(seq).to(device))

    def _tokens(self, w: Windows, groups, rc: np.ndarray, threads) -> torch.Tensor:
        """int64 (n, tokens): integer codes or k-mer tokens (computed on the CPU)."""
        kind, k, stride = self.enc.kind, int(self.enc.kmer_size), int(self.enc.kmer_stride)
        out = np.empty((len(w), self.enc.tokens(self.window)), dtype=np.int64)
        for a, idx in groups:
            g = self.sources.genome(a)
            sel = slice(None) if idx is None else idx
            if kind == "integer":
                out[sel] = g.integer_batch(w.chrom[sel], w.start[sel], self.window, rc=rc[sel], threads=threads)
            else:
                out[sel] = g.kmers_batch(w.chrom[sel], w.start[sel], self.window, k, stride, rc=rc[sel],
                                         threads=threads)
        return torch.from_numpy(out)

    def _no_gpu_kernels(self, exc: Exception) -> None:
        """torch sees a GPU but numba's CUDA kernels cannot run: read on the CPU and copy, say so once."""
        self.gpu_off = True
        warnings.warn(f"fastwig's CUDA kernels are unavailable ({exc}); batches are read on the CPU and "
                      "copied to the GPU (pip install 'fastwig[cuda]' for the GPU reader)", stacklevel=5)

    def _onehot_cuda(self, w: Windows, groups, rc: np.ndarray, device: torch.device, threads) -> torch.Tensor:
        from ..config import settings

        probe, onehot_batch_gpu = cuda_onehot()
        raw = np.empty((len(w), self.window), dtype=np.uint8)
        for a, idx in groups:
            g = self.sources.genome(a)
            if idx is None:
                g.fetch_batch(w.chrom, w.start, self.window, out=raw, threads=threads)
            else:
                raw[idx] = g.fetch_batch(w.chrom[idx], w.start[idx], self.window, threads=threads)
        reason = probe()
        if reason is not None:
            raise CudaUnavailable(reason)
        codes = torch.from_numpy(raw).to(device)
        flags = torch.from_numpy(rc.astype(np.uint8)).to(device)
        seq = torch.empty((len(w), 4, self.window), dtype=torch.float32, device=device)
        if len(w):
            with torch.cuda.device(device):
                onehot_batch_gpu(codes, flags, seq, np.float32(self.enc.n_value), settings.gpu_threads_per_block,
                                 settings.gpu_max_blocks)
        return seq

    # --- tracks ----------------------------------------------------------------------------------

    def _tracks(self, w: Windows, groups, device: torch.device, threads
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Targets (n, tracks, bins) and input channels (n, channels, window // input_bin_size), float32."""
        n_t, n_i = self.sources.n_tracks, self.sources.n_inputs
        if not n_t and not n_i:
            return None, None
        kw = {"missing": self.missing, "oob": self.t.oob, "covered_only": self.t.covered_only}
        t_starts = w.start + self.target_offset
        t_geom = (self.target_window, self.bin_size, self.t.stat)
        i_geom = (self.window, self.input_bin_size, self.i.stat)
        if n_t and n_i and self.shared_read:
            both = self._read(w, groups, lambda a: self.sources.tracks(a) + self.sources.inputs(a),
                              t_starts, t_geom, device, threads, kw)
            targets, members = both[:, :n_t], both[:, n_t:]
        else:
            targets = self._read(w, groups, self.sources.tracks, t_starts, t_geom, device, threads, kw) \
                if n_t else None
            members = self._read(w, groups, self.sources.inputs, w.start, i_geom, device, threads, kw) \
                if n_i else None
        if members is not None:
            members = self._average(members, w, groups)
        return targets, members

    def _average(self, members: torch.Tensor, w: Windows, groups) -> torch.Tensor:
        """Input channels from member reads, per assembly (assemblies may average different numbers)."""
        offsets = self.sources.input_offsets
        if len(groups) == 1:
            a = groups[0][0]
            return average_channels(members[:, :int(offsets[a][-1])], offsets[a])
        out = torch.empty((len(w), self.sources.n_inputs, members.shape[2]), dtype=members.dtype,
                          device=members.device)
        for a, idx in groups:
            rows = torch.from_numpy(idx).to(members.device)
            out[rows] = average_channels(members[rows][:, :int(offsets[a][-1])], offsets[a])
        return out

    def _read(self, w: Windows, groups, tracks_of, starts: np.ndarray, geom, device: torch.device, threads,
              kw: dict) -> torch.Tensor:
        """float32 (n, rows, bins): one read_windows call per assembly.

        With several assemblies whose track lists differ in length (averaged inputs), the short ones are
        read into the first columns of the widest array."""
        width, bin_size, stat = geom
        n, bins = len(w), width // bin_size
        rows = max(len(tracks_of(a)) for a, _ in groups) if len(w) else len(tracks_of(0))
        if device.type == "cuda" and not self.gpu_off:
            try:
                out = torch.zeros((n, rows, bins), dtype=torch.float32, device=device)
                for a, idx in groups:
                    tracks = tracks_of(a)
                    sel = slice(None) if idx is None else idx
                    part = torch.empty((len(w.start[sel]), len(tracks), bins), dtype=torch.float32, device=device)
                    read_windows(tracks, w.chrom[sel], starts[sel], width, bin_size=bin_size, stat=stat, out=part,
                                 device=str(device), threads=threads, **kw)
                    if idx is None and len(tracks) == rows:
                        out = part
                    else:
                        out[torch.from_numpy(np.arange(n)[sel]).to(device), :len(tracks)] = part
                return out
            except (ImportError, CudaUnavailable) as exc:
                self._no_gpu_kernels(exc)
        out_np = np.zeros((n, rows, bins), dtype=np.float32) if len(groups) > 1 else \
            np.empty((n, rows, bins), dtype=np.float32)
        for a, idx in groups:
            tracks = tracks_of(a)
            if idx is None:
                read_windows(tracks, w.chrom, starts, width, bin_size=bin_size, stat=stat, out=out_np,
                             threads=threads, **kw)
            else:
                out_np[idx, :len(tracks)] = read_windows(tracks, w.chrom[idx], starts[idx], width, bin_size=bin_size,
                                                         stat=stat, threads=threads, **kw)
        t = torch.from_numpy(out_np)
        return t.to(device) if device.type != "cpu" else t
