"""DNA sequence from a FASTA file, as text, one-hot, integer codes or k-mer tokens.

:class:`Genome` is the only place fastwig uses pyfaidx (imported when a ``Genome`` is opened, never by
``import fastwig``).  pyfaidx opens the FASTA and builds or checks its ``.fai`` index.  For an
uncompressed FASTA, windows are then read through that index by
:func:`kernels.onehot.gather_fasta_cpu`: one positional read (``pread``) per window of the file range
that holds its bases, line ends decoded in compiled code (no GIL, no Python object per window), chunks
of windows on fastwig's thread pool.  The descriptor is leased from :data:`fastwig.io.fd_pool`, which
checks first that the file is still the one indexed at open.  No memory map: a FASTA truncated or
rewritten while a ``Genome`` is open raises :class:`~fastwig.errors.FormatError` naming the file, where a
map would kill the process with SIGBUS.  A BGZF-compressed FASTA falls back to pyfaidx fetches.  Either
way the bytes of a batch go through one encoder kernel (:mod:`kernels.onehot` for one-hot and integer
codes, :mod:`kernels.kmer` for k-mer tokens), whose GPU twins the dataset uses on ``device="cuda"``.

Conventions (all methods): coordinates are 0-based, half-open; positions before 0 or at/after the
end of the chromosome read as ``N``; soft-masked (lowercase) bases are kept as stored by
:meth:`Genome.sequence` and encode as the bases they are; ``N`` and every other non-ACGT byte
(IUPAC ambiguity codes, ``U``, ``-``) encode as "not a base".
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ._kernels import onehot as _k
from .backend import run_items
from .chromalias import resolve as resolve_alias
from .config import resolve_threads
from .errors import ChromNotFound, FastwigError, FormatError, RangeError
from .io import FileSource, fd_pool
from .kernels import kmer as _kk

__all__ = ["Genome"]

_GZIP_MAGIC = b"\x1f\x8b"
# fewest bases worth a thread-pool chunk
_MIN_CHUNK_BASES = 1 << 18
# The gather counts each window's pread as this many bases more when it sizes chunks: a pread of a 1 kb
# window at a random place of a FASTA in the page cache costs ~0.8 us, as long as copying ~5 kb (~0.15 ns
# a byte), so a batch of 256 windows of 1 kb is worth 4 chunks where the encoders make one (onehot_batch
# of 256 x 1 kb at 2 threads: 0.31 -> 0.25 ms median on the 2-core development machine).
_READ_COST_BASES = 4096


class Genome:
    """A FASTA file with random access by window.

    Parameters
    ----------
    path : str or os.PathLike
        FASTA file, plain or BGZF-compressed (``.gz``/``.bgz``; needs biopython, as pyfaidx does).  Its
        ``.fai`` index is used, or built next to it when missing or older than the FASTA.
    mmap : bool, default True
        Take the fast path for an uncompressed FASTA: positional reads (``pread``) of each window's bytes
        through the ``.fai`` index, in compiled code on fastwig's thread pool.  ``False`` fetches every
        window through pyfaidx (the path compressed files always take).  Both give the same bytes.  The
        name is historical: no memory map is made any more (a map turns a file truncated under it into
        SIGBUS; a positional read comes back short and raises :class:`~fastwig.errors.FormatError`).
    aliases : bool, dict, str or None
        How a name the FASTA lacks is looked up (:mod:`fastwig.chromalias`: ``chr1`` finds ``1``,
        ``chrM`` finds ``MT``); None (default) follows ``fastwig.settings.chrom_aliases``, False
        takes exact names only, a dict or ``chromAlias.txt`` path adds aliases.

    Attributes
    ----------
    path : str
        The FASTA file.
    chroms : dict[str, int]
        Sequence name -> length, in FASTA order.

    Raises
    ------
    FastwigError
        The file is missing or pyfaidx cannot index it; the message names the file.  Reads raise
        :class:`~fastwig.errors.FormatError` (a ``FastwigError``) naming the file when it was truncated,
        rewritten or replaced after it was opened.

    Examples
    --------
    >>> g = Genome("volvox.fa")                               # doctest: +SKIP
    >>> g.sequence("ctgA", 0, 10)                             # doctest: +SKIP
    'cattgttgcg'
    >>> g.onehot_batch(["ctgA", "ctgB"], [0, 100], 1000).shape  # doctest: +SKIP
    (2, 4, 1000)
    """

    def __init__(self, path: str | os.PathLike, *, mmap: bool = True,
                 aliases: bool | dict | str | os.PathLike | None = None) -> None:
        self.path = os.fspath(path)
        self.chrom_aliases = aliases
        self._use_mmap = bool(mmap)     # the fast path was asked for (the keyword's historical name)
        self._fa = self._open_pyfaidx()
        index = self._fa.faidx.index
        self._names: list[str] = list(index)
        self._ids = {name: i for i, name in enumerate(self._names)}
        self.chroms: dict[str, int] = {name: int(index[name].rlen) for name in self._names}
        self._length = np.array([self.chroms[n] for n in self._names], dtype=np.int64)
        self._src: FileSource | None = None     # set: windows are read by gather_fasta_cpu
        self._closed = False
        if self._use_mmap and not getattr(self._fa.faidx, "_bgzf", False) and not self._is_gzip():
            try:
                self._index_file(index)
            except BaseException:
                self._fa.close()
                raise

    # --- opening ----------------------------------------------------------------------------------

    def _open_pyfaidx(self):
        import pyfaidx

        try:
            fa = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=False)
        except (OSError, ImportError, ValueError, pyfaidx.FastaNotFoundError, pyfaidx.FastaIndexingError) as exc:
            raise FastwigError(f"{self.path}: cannot open FASTA: {exc}") from exc
        # pyfaidx seeks and reads one file handle: a forked process must not share its offset
        self._fa_pid = os.getpid()
        return fa

    def _is_gzip(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC

    def _index_file(self, index) -> None:
        """The ``.fai`` columns the gather reads by, checked against the file's size."""
        src = FileSource(self.path)
        recs = [index[n] for n in self._names]
        offset = np.array([r.offset for r in recs], dtype=np.int64)
        lenc = np.array([r.lenc for r in recs], dtype=np.int64)
        lenb = np.array([r.lenb for r in recs], dtype=np.int64)
        length = self._length
        nonempty = length > 0
        if np.any(nonempty & ((lenc <= 0) | (lenb < lenc))):
            src.close()
            raise FastwigError(f"{self.path}: .fai index has invalid line lengths")
        last = length - 1
        last_byte = offset + (last // np.maximum(lenc, 1)) * lenb + last % np.maximum(lenc, 1)
        if np.any(nonempty & ((offset < 0) | (last_byte >= src.size))):
            src.close()
            raise FastwigError(f"{self.path}: .fai index points past the end of the file (stale index?)")
        src.detach()        # reads lease a descriptor from fd_pool: a forked child opens its own
        self._src = src
        self._offset = offset
        # lenc = 0 only for empty records, which the gather never reads; 1 keeps its division defined
        self._lenc = np.maximum(lenc, 1)
        self._lenb = np.maximum(lenb, 1)

    def close(self) -> None:
        """Release the file (the pooled descriptor and pyfaidx's handle); later reads raise FastwigError."""
        self._closed = True
        if self._src is not None:
            self._src.close()
            fd_pool.forget(self.path)       # closed once no read holds it (another reader reopens it)
        self._fa.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        # reopen in the receiving process (DataLoader workers under spawn): handles do not pickle
        return (_reopen, (self.path, self._use_mmap, self.chrom_aliases))

    def __repr__(self) -> str:
        return f"Genome({self.path!r}, {len(self.chroms)} sequences, {int(self._length.sum())} bp)"

    def __contains__(self, chrom: object) -> bool:
        return chrom in self._ids

    # --- lookups ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise FastwigError(f"{self.path}: the Genome is closed")

    def _chrom_id(self, chrom: str) -> int:
        try:
            return self._ids[chrom]
        except (KeyError, TypeError):
            name = resolve_alias(chrom, self._ids, self.path, self.chrom_aliases)   # chr1 <-> 1, chrM <-> MT
            if name is None:
                raise ChromNotFound(f"{self.path}: no sequence named {chrom!r}") from None
            return self._ids[name]

    def chrom_ids(self, chroms: str | Sequence[str] | np.ndarray, n: int | None = None) -> np.ndarray:
        """Indices (in :attr:`chroms` order) of chromosome names.

        Parameters
        ----------
        chroms : str, sequence of str, or integer array
            Names, one per window; a single name applies to all ``n`` windows; integers are taken as
            indices already (checked against the number of sequences).
        n : int, optional
            Number of windows, when ``chroms`` is a single name.

        Returns
        -------
        numpy.ndarray
            int64 (n,).

        Raises
        ------
        ChromNotFound
            A name the FASTA does not have, or an index out of range.
        """
        if isinstance(chroms, str):
            return np.full(1 if n is None else n, self._chrom_id(chroms), dtype=np.int64)
        arr = np.asarray(chroms)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        if arr.dtype.kind in "iu":
            ids = arr.astype(np.int64)
            bad = (ids < 0) | (ids >= len(self._names))
            if np.any(bad):
                raise ChromNotFound(f"{self.path}: no sequence with index {int(ids[bad][0])}")
            return ids
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        uniq, inverse = np.unique(arr.astype(object), return_inverse=True)
        mapped = np.array([self._chrom_id(u) for u in uniq], dtype=np.int64)
        return mapped[inverse.reshape(-1)]

    @staticmethod
    def _check_range(start: int, end: int) -> tuple[int, int]:
        start, end = int(start), int(end)
        if end < start:
            raise RangeError(f"end ({end}) is before start ({start})")
        return start, end

    # --- raw bytes --------------------------------------------------------------------------------

    def fetch_batch(self, chroms, starts, width: int, out: np.ndarray | None = None,
                    threads: int | None = None) -> np.ndarray:
        """The bytes of many windows of one width, as stored (case kept), ``N`` past the ends.

        Parameters
        ----------
        chroms : str, sequence of str, or integer array (n,)
            Chromosome of each window (a single name: all windows); see :meth:`chrom_ids`.
        starts : int array-like (n,)
            0-based starts; may be negative or run past the chromosome end.
        width : int
            Window length.
        out : numpy.ndarray, optional
            uint8 (n, width), C-contiguous, to write into.
        threads : int, optional
            CPU threads (default: ``fastwig.settings.threads``).

        Returns
        -------
        numpy.ndarray
            uint8 (n, width) ASCII codes.
        """
        self._check_open()
        starts = np.ascontiguousarray(np.asarray(starts, dtype=np.int64).reshape(-1))
        n = starts.shape[0]
        width = int(width)
        if width < 0:
            raise RangeError(f"width must be >= 0, got {width}")
        ids = self.chrom_ids(chroms, n)
        if ids.shape[0] != n:
            raise RangeError(f"{ids.shape[0]} chromosomes given for {n} starts")
        if out is None:
            out = np.empty((n, width), dtype=np.uint8)
        elif out.shape != (n, width) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise RangeError(f"out must be C-contiguous uint8 {(n, width)}, got {out.dtype} {out.shape}")
        if n == 0 or width == 0:
            return out
        if self._src is not None:
            self._gather(ids, starts, out, resolve_threads(threads))
        else:
            for i in range(n):
                out[i] = self._fetch_pyfaidx(int(ids[i]), int(starts[i]), int(starts[i]) + width)
        return out

    def _gather(self, ids: np.ndarray, starts: np.ndarray, out: np.ndarray, threads: int) -> None:
        """Windows ``(ids[i], starts[i])`` into ``out`` by positional reads (fast path).

        Raises
        ------
        FormatError
            The file changed since it was opened (the lease checks its size and time first), or a
            window's bytes could not be read whole (it shrank during the read).
        """
        n, width = out.shape
        status = np.zeros(n, dtype=np.int64)
        args = (self._offset, self._lenc, self._lenb, self._length, ids, starts, out, status)
        with self._src.descriptor() as fd:
            run_items(_k.gather_fasta_cpu, n, threads, fd, *args, min_chunk=_min_chunk(width + _READ_COST_BASES))
        bad = np.flatnonzero(status)
        if bad.size:
            i = int(bad[0])
            cid = int(ids[i])
            lo, hi = _k.fasta_bases(int(starts[i]), width, int(self._length[cid]))
            at = int(self._offset[cid]) + _k.fasta_byte(lo, int(self._lenc[cid]), int(self._lenb[cid]))
            what = ("the file changed or is truncated (open it again)" if status[i] == _k.ERR_FASTA_SHORT
                    else "the read failed (I/O error)")
            raise FormatError(f"{self.path}: bases {self._names[cid]}:{lo}-{hi} at file offset {at} could not be "
                              f"read: {what}")

    def _fetch_pyfaidx(self, cid: int, start: int, end: int) -> np.ndarray:
        """Bytes of ``[start, end)`` of sequence ``cid`` through pyfaidx, N-padded (slow path)."""
        out = np.full(end - start, _k.N_BYTE, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, int(self._length[cid]))
        if hi > lo:
            if self._fa_pid != os.getpid():
                self._fa = self._open_pyfaidx()
            # pyfaidx slices with Python semantics (negative = from the end): pass clipped bounds only
            text = self._fa[self._names[cid]][lo:hi]
            out[lo - start:hi - start] = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8)
        return out

    def _raw(self, chrom: str, start: int, end: int) -> np.ndarray:
        self._check_open()
        start, end = self._check_range(start, end)
        cid = self._chrom_id(chrom)
        if self._src is None:
            return self._fetch_pyfaidx(cid, start, end)
        out = np.empty((1, end - start), dtype=np.uint8)
        if end > start:
            self._gather(np.array([cid], dtype=np.int64), np.array([start], dtype=np.int64), out, 1)
        return out[0]

    # --- single windows ---------------------------------------------------------------------------

    def sequence(self, chrom: str, start: int, end: int) -> str:
        """The sequence of ``[start, end)`` as stored (soft-masked bases stay lowercase).

        Parameters
        ----------
        chrom : str
        start, end : int
            0-based, half-open; positions outside ``[0, length)`` read as ``"N"``.

        Returns
        -------
        str
            ``end - start`` characters.

        Raises
        ------
        ChromNotFound
            Unknown sequence name (also a ``KeyError``).
        RangeError
            ``end < start`` (also a ``ValueError``).
        """
        return self._raw(chrom, start, end).tobytes().decode("ascii", errors="replace")

    def onehot(self, chrom: str, start: int, end: int, n_value: float = 0.0, rc: bool = False) -> np.ndarray:
        """One-hot encoding of ``[start, end)``.

        Parameters
        ----------
        chrom : str
        start, end : int
            0-based, half-open; positions outside the sequence are ``N``.
        n_value : float, default 0.0
            Value of all four rows at a non-ACGT base (0.25: uniform).
        rc : bool, default False
            Reverse complement (equals flipping both axes of the forward encoding).

        Returns
        -------
        numpy.ndarray
            float32 (4, end - start), rows A, C, G, T.
        """
        raw = self._raw(chrom, start, end)[None, :]
        return self._encode_onehot(raw, np.full(1, rc, dtype=np.uint8), n_value, None)[0]

    def integer(self, chrom: str, start: int, end: int, rc: bool = False) -> np.ndarray:
        """Integer codes of ``[start, end)``: A=0, C=1, G=2, T=3, anything else (N, IUPAC) 4.

        Returns
        -------
        numpy.ndarray
            uint8 (end - start,).
        """
        raw = self._raw(chrom, start, end)[None, :]
        out = np.empty(raw.shape, dtype=np.uint8)
        _k.integer_batch_cpu(raw, np.full(1, rc, dtype=np.uint8), out, 0, 1)
        return out[0]

    def kmers(self, chrom: str, start: int, end: int, k: int, stride: int = 1, rc: bool = False) -> np.ndarray:
        """k-mer tokens of ``[start, end)`` as Genomic-ULMFiT tokenises: ``k`` bases every ``stride`` bases.

        The k-mer starting at ``start + t * stride`` (for every ``t`` with the k-mer inside the window)
        becomes the base-4 number of its bases, first base most significant: with A=0 C=1 G=2 T=3,
        ``"ACG"`` -> ``0*16 + 1*4 + 2 = 6``.  Tokens ``0 .. 4**k - 1`` are the k-mers over ACGT; a
        k-mer holding any other base (N, IUPAC, past the chromosome end) is the special token
        ``4**k``, so the vocabulary has ``4**k + 1`` entries.  Case is ignored (soft-masked bases are
        bases).

        Parameters
        ----------
        chrom : str
        start, end : int
            0-based, half-open.
        k : int
            k-mer length, 1 to 31 (``4**31`` is the largest special token int64 holds).
        stride : int, default 1
            Step between k-mer starts (``stride = k``: non-overlapping).
        rc : bool, default False
            Tokens of the reverse complement of the window.

        Returns
        -------
        numpy.ndarray
            int64 (max(0, (end - start - k) // stride + 1),).
        """
        k, stride = _check_kmer(k, stride)
        raw = self._raw(chrom, start, end)[None, :]
        return self._encode_kmers(raw, np.full(1, rc, dtype=np.uint8), k, stride, None)[0]

    # --- batches ----------------------------------------------------------------------------------

    def onehot_batch(self, chroms, starts, width: int, n_value: float = 0.0,
                     out: np.ndarray | None = None, rc=None, threads: int | None = None) -> np.ndarray:
        """One-hot encoding of many windows of one width: one gather and one kernel call.

        Parameters
        ----------
        chroms : str, sequence of str, or integer array (n,)
            Chromosome of each window (a single name: all windows); see :meth:`chrom_ids`.
        starts : int array-like (n,)
            0-based starts; windows may run past either chromosome end (those bases are ``N``).
        width : int
            Window length.
        n_value : float, default 0.0
            Value of all four rows at a non-ACGT base.
        out : numpy.ndarray, optional
            float32 (n, 4, width), C-contiguous, to write into.
        rc : bool array-like (n,), optional
            Windows to reverse-complement.
        threads : int, optional
            CPU threads (default: ``fastwig.settings.threads``).

        Returns
        -------
        numpy.ndarray
            float32 (n, 4, width), rows A, C, G, T; row ``i`` equals
            ``onehot(chroms[i], starts[i], starts[i] + width)``.
        """
        threads = resolve_threads(threads)
        raw = self.fetch_batch(chroms, starts, width, threads=threads)
        return self._encode_onehot(raw, _rc_flags(rc, raw.shape[0]), n_value, out, threads)

    def integer_batch(self, chroms, starts, width: int, rc=None, threads: int | None = None) -> np.ndarray:
        """Integer codes (A=0 C=1 G=2 T=3 other=4) of many windows; uint8 (n, width).  See :meth:`onehot_batch`."""
        threads = resolve_threads(threads)
        raw = self.fetch_batch(chroms, starts, width, threads=threads)
        out = np.empty(raw.shape, dtype=np.uint8)
        run_items(_k.integer_batch_cpu, raw.shape[0], threads, raw, _rc_flags(rc, raw.shape[0]), out,
                  min_chunk=_min_chunk(raw.shape[1]))
        return out

    def kmers_batch(self, chroms, starts, width: int, k: int, stride: int = 1, rc=None,
                    out: np.ndarray | None = None, threads: int | None = None) -> np.ndarray:
        """k-mer tokens of many windows of one width: one gather and one kernel call.

        Parameters
        ----------
        chroms : str, sequence of str, or integer array (n,)
            Chromosome of each window (a single name: all windows); see :meth:`chrom_ids`.
        starts : int array-like (n,)
            0-based starts; windows may run past either chromosome end (those bases are ``N``).
        width : int
            Window length.
        k : int
            k-mer length, 1 to 31.
        stride : int, default 1
            Step between k-mer starts.
        rc : bool array-like (n,), optional
            Windows to tokenise reverse-complemented.
        out : numpy.ndarray, optional
            int64 (n, tokens), C-contiguous, to write into.
        threads : int, optional
            CPU threads (default: ``fastwig.settings.threads``).

        Returns
        -------
        numpy.ndarray
            int64 (n, tokens) with ``tokens = max(0, (width - k) // stride + 1)``; row ``i`` equals
            ``kmers(chroms[i], starts[i], starts[i] + width, k, stride, rc=rc[i])``.  Tokens
            ``0 .. 4**k - 1`` are k-mers over ACGT, ``4**k`` a k-mer with N/IUPAC or past an end.
        """
        k, stride = _check_kmer(k, stride)
        threads = resolve_threads(threads)
        raw = self.fetch_batch(chroms, starts, width, threads=threads)
        return self._encode_kmers(raw, _rc_flags(rc, raw.shape[0]), k, stride, out, threads)

    @staticmethod
    def _encode_kmers(raw: np.ndarray, rc: np.ndarray, k: int, stride: int, out: np.ndarray | None,
                      threads: int = 1) -> np.ndarray:
        n, width = raw.shape
        shape = (n, _kk.n_tokens(width, k, stride))
        if out is None:
            out = np.empty(shape, dtype=np.int64)
        elif out.shape != shape or out.dtype != np.int64 or not out.flags.c_contiguous:
            raise RangeError(f"out must be C-contiguous int64 {shape}, got {out.dtype} {out.shape}")
        run_items(_kk.kmer_batch_cpu, n, threads, raw, rc, out, k, stride, min_chunk=_min_chunk(width))
        return out

    @staticmethod
    def _encode_onehot(raw: np.ndarray, rc: np.ndarray, n_value: float, out: np.ndarray | None,
                       threads: int = 1) -> np.ndarray:
        n, width = raw.shape
        if out is None:
            out = np.empty((n, 4, width), dtype=np.float32)
        elif out.shape != (n, 4, width) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise RangeError(f"out must be C-contiguous float32 {(n, 4, width)}, got {out.dtype} {out.shape}")
        run_items(_k.onehot_batch_cpu, n, threads, raw, rc, out, np.float32(n_value), min_chunk=_min_chunk(width))
        return out


def _min_chunk(width: int) -> int:
    return max(1, _MIN_CHUNK_BASES // max(int(width), 1))


def _check_kmer(k, stride) -> tuple[int, int]:
    k, stride = int(k), int(stride)
    if not 1 <= k <= _kk.MAX_K:
        raise RangeError(f"k must be in 1..{_kk.MAX_K}, got {k}")
    if stride < 1:
        raise RangeError(f"stride must be >= 1, got {stride}")
    return k, stride


def _rc_flags(rc, n: int) -> np.ndarray:
    """uint8 (n,) reverse-complement flags from None, a bool or a bool array-like."""
    if rc is None:
        return np.zeros(n, dtype=np.uint8)
    flags = np.asarray(rc)
    if flags.ndim == 0:
        return np.full(n, bool(flags), dtype=np.uint8)
    flags = np.ascontiguousarray(flags.reshape(-1), dtype=np.uint8)
    if flags.shape[0] != n:
        raise RangeError(f"rc has {flags.shape[0]} entries for {n} windows")
    return flags


def _reopen(path: str, mmap: bool, aliases=None) -> Genome:
    return Genome(path, mmap=mmap, aliases=aliases)

