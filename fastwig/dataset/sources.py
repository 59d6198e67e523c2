"""The files a dataset reads, per assembly: target tracks, input tracks and the genome.

Files are remembered by path and opened lazily, once per process: a dataset pickles as paths, so
DataLoader workers (fork or spawn) and DDP ranks each open their own handles.  An open
:class:`fastwig.BigWig` or :class:`fastwig.Genome` given by the user is remembered by its path; any other
object is kept (and pickled) as it is.

Input channels: each channel is the mean of one or more member tracks.  The members of every channel
are flattened into one list per assembly (``input_members``), read in one :func:`fastwig.read_windows`
call, and reduced to channels with ``input_offsets`` (channel ``c`` is members
``offsets[c]:offsets[c + 1]``).

This module imports numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..chromalias import resolve as resolve_alias
from ..errors import RangeError
from ..regions import Regions

__all__ = ["Sources", "path_of"]


def path_of(obj: Any) -> Any:
    """What a track or genome is remembered by: its path when it has one (reopened per process)."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    path = getattr(obj, "path", None)
    if isinstance(path, str) and type(obj).__name__ in ("BigWig", "Genome"):
        return path
    return obj  # a user object: kept (and pickled) as it is


def _is_one_track(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike)) or type(obj).__name__ == "BigWig"


def _stem(obj: Any, k: int, prefix: str) -> str:
    return os.path.basename(obj).rsplit(".", 1)[0] if isinstance(obj, str) else f"{prefix}{k}"


def _channels(spec: Any) -> list[tuple[str, list[Any]]]:
    """Input channels of one assembly: [(name, [member, ...]), ...]."""
    if spec is None:
        return []
    if _is_one_track(spec):
        spec = [spec]
    if isinstance(spec, Mapping):
        out = []
        for name, members in spec.items():
            members = [members] if _is_one_track(members) else list(members)
            if not members:
                raise RangeError(f"input channel {name!r} has no tracks")
            out.append((str(name), [path_of(m) for m in members]))
        return out
    out = []
    for k, item in enumerate(spec):
        if _is_one_track(item):
            p = path_of(item)
            out.append((_stem(p, k, "input"), [p]))
        else:  # a list of tracks: one averaged channel
            members = [path_of(m) for m in item]
            if not members:
                raise RangeError(f"input channel {k} has no tracks")
            out.append((f"input{k}", members))
    return out


def assembly_keys(tracks: Any, genome: Any, inputs: Any, regions: Regions | None) -> list:
    """Assembly names from the regions' ``assembly`` column and the per-assembly dicts (``[None]``: one)."""
    asm_col = regions is not None and "assembly" in regions.columns
    if isinstance(tracks, Mapping) or isinstance(genome, Mapping):
        keys: list = list(tracks) if isinstance(tracks, Mapping) else list(genome)
        if not asm_col:
            raise RangeError("tracks or genome given per assembly: regions need an 'assembly' column")
    elif asm_col:
        keys = list(dict.fromkeys(str(a) for a in regions.column("assembly")))
    else:
        keys = [None]
    if asm_col:
        wanted = list(dict.fromkeys(str(a) for a in regions.column("assembly")))
        missing = [a for a in wanted if a not in [str(k) for k in keys]]
        if missing:
            raise RangeError(f"regions name assemblies with no tracks/genome: {missing}")
    return keys


class Sources:
    """Target tracks, input tracks and genome of every assembly, opened once per process.

    Parameters
    ----------
    keys : list
        Assembly names (``[None]``: one assembly); see :func:`assembly_keys`.
    tracks : sequence, or dict assembly -> sequence
    genome : path or Genome, or dict assembly -> path or Genome, or None
    inputs : see :class:`fastwig.dataset.Inputs`

    Attributes
    ----------
    track_specs : list of list
        Per assembly, the target tracks (paths, or user objects).
    genome_specs : list
        Per assembly, the genome (path, user object, or None).
    input_names : list of str
        Input channel names.
    input_members : list of list
        Per assembly, the member tracks of every input channel, channel after channel.
    input_offsets : list of int64 (channels + 1,)
        Per assembly, where each channel's members start in ``input_members``.
    """

    def __init__(self, keys: list, tracks: Any, genome: Any, inputs: Any) -> None:
        self.keys = keys
        self.track_specs: list[list[Any]] = []
        self.genome_specs: list[Any] = []
        self.input_members: list[list[Any]] = []
        self.input_offsets: list[np.ndarray] = []
        names: list[list[str]] = []
        per_asm_inputs = (isinstance(inputs, Mapping) and keys != [None] and len(inputs) > 0
                          and {str(k) for k in inputs} <= {str(k) for k in keys})
        for key in keys:
            t = tracks[key] if isinstance(tracks, Mapping) else tracks
            if _is_one_track(t):
                t = [t]
            self.track_specs.append([path_of(x) for x in (t or [])])
            g = genome.get(key) if isinstance(genome, Mapping) else genome
            self.genome_specs.append(None if g is None else path_of(g))
            spec = inputs
            if per_asm_inputs:
                spec = {str(k): v for k, v in inputs.items()}.get(str(key))
                if spec is None:
                    raise RangeError(f"inputs given per assembly, but none for {key!r}")
            chans = _channels(spec)
            names.append([c for c, _ in chans])
            self.input_members.append([m for _, members in chans for m in members])
            self.input_offsets.append(np.cumsum([0] + [len(m) for _, m in chans]).astype(np.int64))
        counts = {len(t) for t in self.track_specs}
        if len(counts) != 1:
            raise RangeError(f"every assembly needs the same number of tracks, got {sorted(counts)}")
        self.n_tracks = counts.pop()
        named = isinstance(inputs, Mapping) and any(isinstance(v, Mapping) for v in inputs.values()) \
            if per_asm_inputs else isinstance(inputs, Mapping)
        # channels named by the user must match by name; channels of lists (named after files) by count
        if any(len(n) != len(names[0]) or (named and n != names[0]) for n in names):
            raise RangeError(f"every assembly needs the same input channels, got {names}")
        self.input_names = names[0]
        self.n_inputs = len(self.input_names)
        self.has_sequence = all(g is not None for g in self.genome_specs)
        if any(g is not None for g in self.genome_specs) and not self.has_sequence:
            raise RangeError("a genome is given for some assemblies but not for all")
        self.track_names = [_stem(p, k, "track") for k, p in enumerate(self.track_specs[0])]
        self.opened_pid: int | None = None
        self._tracks: list[list[Any]] = []
        self._inputs: list[list[Any]] = []
        self._genomes: list[Any] = []

    @property
    def averaged(self) -> bool:
        """Whether some input channel averages several tracks."""
        return any(np.any(np.diff(o) != 1) for o in self.input_offsets)

    # --- opened once per process -----------------------------------------------------------------

    def _ensure_open(self) -> None:
        pid = os.getpid()
        if self.opened_pid == pid:
            return
        from ..files import open as open_bigwig

        def opened(specs: list) -> list:
            return [open_bigwig(p) if isinstance(p, str) else p for p in specs]

        self._tracks = [opened(s) for s in self.track_specs]
        self._inputs = [opened(s) for s in self.input_members]
        genomes = []
        for g in self.genome_specs:
            if isinstance(g, str):
                from ..genome import Genome

                g = Genome(g)
            genomes.append(g)
        self._genomes = genomes
        self.opened_pid = pid

    def tracks(self, asm: int) -> list:
        """Open target tracks of assembly ``asm``."""
        self._ensure_open()
        return self._tracks[asm]

    def inputs(self, asm: int) -> list:
        """Open input member tracks of assembly ``asm`` (see ``input_offsets``)."""
        self._ensure_open()
        return self._inputs[asm]

    def genome(self, asm: int) -> Any:
        """Open genome of assembly ``asm`` (None without one)."""
        self._ensure_open()
        return self._genomes[asm]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["opened_pid"] = None
        state["_tracks"], state["_inputs"], state["_genomes"] = [], [], []
        return state

    def chrom_sizes(self, asm: int) -> dict[str, int]:
        """Chromosome sizes of an assembly: the genome's, else the largest any track gives."""
        if self.has_sequence:
            return dict(self.genome(asm).chroms)
        sizes: dict[str, int] = {}
        for bw in self.tracks(asm) + self.inputs(asm):
            for name, length in bw.chroms.items():
                if name not in sizes:   # one chromosome named chr1 in one file and 1 in another counts once
                    alias = resolve_alias(name, sizes, "the dataset's chromosomes")
                    name = alias if alias is not None and alias not in bw.chroms else name
                sizes[name] = max(sizes.get(name, 0), int(length))
        return sizes

