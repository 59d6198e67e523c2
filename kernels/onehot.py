"""DNA sequence encoders: one-hot and integer codes, with an optional reverse complement.

Input is a ``uint8`` array of ASCII codes, one row per window, shape ``(n, width)``.  Bases are
case-insensitive (soft-masked lowercase bases are bases): ``A``/``a`` -> 0, ``C``/``c`` -> 1,
``G``/``g`` -> 2, ``T``/``t`` -> 3; every other byte (``N``, the other IUPAC codes, ``U``, ``-``,
anything unknown) -> 4, "not a base".

- one-hot: ``float32 (n, 4, width)``, rows A, C, G, T; a base sets its row to 1 and the others to 0;
  code 4 sets all four rows to ``n_value`` (0.0, or 0.25 for a uniform prior).
- integer: ``uint8 (n, width)``, the codes 0..4 above.
- ``rc[i] != 0`` writes window ``i`` reverse-complemented: base ``j`` lands at ``width - 1 - j`` with
  code ``3 - b`` (A<->T, C<->G; code 4 stays 4).  For one-hot this equals flipping both axes of the
  forward encoding.

The per-item algorithm is one base (window ``i``, position ``j``); items write disjoint outputs, so
the CPU driver here and the GPU driver in :mod:`kernels.cuda` give identical bits.
:func:`gather_fasta_cpu` (CPU only: it reads the file) copies the raw bytes of windows out of an
uncompressed FASTA through its ``.fai`` index, with one positional read (``pread``) per window into a
scratch buffer -- never through a memory map, which a file truncated under an open ``Genome`` turns into
SIGBUS; a short read comes back as a status (:data:`ERR_FASTA_SHORT`) that the host raises.  It calls the
C library through ctypes (:mod:`kernels.pack`), so it is compiled at first use, not cached.
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin
from .pack import _pread

N_CODE = 4
# ASCII 'N': what positions past either end of a chromosome read as
N_BYTE = 78
# gather_fasta_cpu's status of a window (0: read whole): the file ended inside the window's bytes (it
# shrank after its index was checked), or the read failed (an I/O error)
ERR_FASTA_SHORT = -30
ERR_FASTA_READ = -31


@twin
def base_code(c):
    """Code of one ASCII byte: A=0, C=1, G=2, T=3 in either case, anything else 4."""
    low = c | 32  # ASCII lowercase; only 'A'/'a' map to 'a' etc.
    if low == 97:
        return 0
    if low == 99:
        return 1
    if low == 103:
        return 2
    if low == 116:
        return 3
    return 4


@twin
def onehot_base(codes, out, i, j, r, n_value):
    """One-hot encode base ``j`` of window ``i``.

    Parameters
    ----------
    codes : uint8 (n, width)
        ASCII bytes.
    out : float32 (n, 4, width)
        Output: column ``j`` of window ``i``, or column ``width - 1 - j`` when ``r``.
    i, j : int
        Window and position.
    r : bool
        Reverse-complement window ``i`` (the caller reads its flag once per window).
    n_value : float32
        Value of all four rows for a byte that is not A/C/G/T.
    """
    b = base_code(codes[i, j])
    jj = j
    if r:
        jj = codes.shape[1] - 1 - j
        if b < 4:
            b = 3 - b
    # selects, not stores under branches: the CPU loop stays branch-free
    nv = n_value if b == 4 else 0.0
    for c in range(4):
        out[i, c, jj] = 1.0 if b == c else nv


@twin
def integer_base(codes, out, i, j, r):
    """Integer code (0..4) of base ``j`` of window ``i`` into ``out`` (uint8 (n, width)); see :func:`onehot_base`."""
    b = base_code(codes[i, j])
    jj = j
    if r:
        jj = codes.shape[1] - 1 - j
        if b < 4:
            b = 3 - b
    out[i, jj] = b


# The CPU drivers walk a reverse-complemented window from its last base to its first, so that the
# writes go forward: measured ~10x faster than descending writes (same bits: items are disjoint).

@numba.njit(nogil=True, cache=True)
def onehot_batch_cpu(codes, rc, out, n_value, i0, i1):
    """One-hot encode windows ``i0 <= i < i1`` (CPU driver; no GIL, call chunks from threads).

    Parameters
    ----------
    codes : uint8 (n, width)
    rc : uint8 (n,)
        Non-zero: reverse-complement that window.
    out : float32 (n, 4, width)
    n_value : float32
    i0, i1 : int
        Window range this call encodes.
    """
    width = codes.shape[1]
    for i in range(i0, i1):
        if rc[i] != 0:
            for j in range(width - 1, -1, -1):
                onehot_base(codes, out, i, j, True, n_value)
        else:
            for j in range(width):
                onehot_base(codes, out, i, j, False, n_value)


@numba.njit(nogil=True, cache=True)
def integer_batch_cpu(codes, rc, out, i0, i1):
    """Integer-encode windows ``i0 <= i < i1`` into ``out`` (uint8 (n, width)); CPU driver."""
    width = codes.shape[1]
    for i in range(i0, i1):
        if rc[i] != 0:
            for j in range(width - 1, -1, -1):
                integer_base(codes, out, i, j, True)
        else:
            for j in range(width):
                integer_base(codes, out, i, j, False)


@numba.njit(nogil=True, cache=True)
def fasta_bases(start, width, length):
    """``(lo, hi)``: the bases ``[lo, hi)`` of window ``[start, start + width)`` inside ``[0, length)``
    (``lo == hi`` when none; the window's other positions read as ``N``)."""
    lo = min(max(start, 0), start + width)
    hi = max(min(start + width, length), lo)
    return lo, hi


@numba.njit(nogil=True, cache=True)
def fasta_byte(p, linebases, linebytes):
    """Byte of base ``p`` counted from the record's first base (``.fai`` line arithmetic)."""
    line = p // linebases
    return line * linebytes + (p - line * linebases)


@numba.njit(nogil=True, cache=True)
def pread_whole(fd, addr, length, at):
    """Read ``length`` bytes at file offset ``at`` into memory at ``addr``: 0, or :data:`ERR_FASTA_SHORT`
    when the file ends first, :data:`ERR_FASTA_READ` when a read fails."""
    got = 0
    while got < length:
        k = _pread(fd, addr + got, length - got, at + got)
        if k < 0:
            return ERR_FASTA_READ
        if k == 0:
            return ERR_FASTA_SHORT
        got += k
    return 0


@numba.njit(nogil=True, cache=True)
def gather_fasta_cpu(fd, rec_offset, rec_linebases, rec_linebytes, rec_length, rec_id, starts, out, status, i0, i1):
    """Copy the FASTA bytes of windows ``i0 <= i < i1`` into ``out`` (CPU only).

    Window ``i`` covers ``[starts[i], starts[i] + width)`` of record ``rec_id[i]``; positions before 0
    or at/after the record's length read as ``N``.  The record's bases sit in the file as the ``.fai``
    index says: base ``p`` at byte ``offset + (p // linebases) * linebytes + p % linebases``.  The bytes
    of a window's bases, line ends included, are one range of the file: one ``pread`` brings it into a
    scratch buffer (one per call, sized for the call's longest range), and the line arithmetic copies
    the bases out of it.

    Parameters
    ----------
    fd : int
        A descriptor of the FASTA (positional reads only: threads may share it).
    rec_offset, rec_linebases, rec_linebytes, rec_length : int64 (records,)
        ``.fai`` columns 3, 4, 5 and 2 (line columns >= 1).
    rec_id : int64 (n,)
        Record index of each window (validated by the caller).
    starts : int64 (n,)
        0-based window starts.
    out : uint8 (n, width)
        Output bytes as stored (case kept).
    status : int64 (n,)
        Set to :data:`ERR_FASTA_SHORT` or :data:`ERR_FASTA_READ` for a window whose bytes could not be
        read whole (that row is then all ``N``); left as it is otherwise.
    i0, i1 : int
        Window range this call copies.
    """
    width = out.shape[1]
    most = 0
    for i in range(i0, i1):
        r = rec_id[i]
        lo, hi = fasta_bases(starts[i], width, rec_length[r])
        if hi > lo:
            lb, lbytes = rec_linebases[r], rec_linebytes[r]
            most = max(most, fasta_byte(hi - 1, lb, lbytes) - fasta_byte(lo, lb, lbytes) + 1)
    scratch = np.empty(most, dtype=np.uint8)
    addr = scratch.ctypes.data
    for i in range(i0, i1):
        r = rec_id[i]
        s = starts[i]
        lb = rec_linebases[r]
        lbytes = rec_linebytes[r]
        lo, hi = fasta_bases(s, width, rec_length[r])
        # row and line views with 0-based loops: the copy loops then vectorise (~5x faster)
        row = out[i]
        for j in range(0, lo - s):
            row[j] = N_BYTE
        if hi > lo:
            first = fasta_byte(lo, lb, lbytes)
            code = pread_whole(fd, addr, fasta_byte(hi - 1, lb, lbytes) - first + 1, rec_offset[r] + first)
            if code != 0:
                status[i] = code
                hi = lo                     # the window reads as N; the host raises
            p = lo
            while p < hi:
                line = p // lb
                col = p - line * lb
                n = min(lb - col, hi - p)
                src = scratch[line * lbytes + col - first:]
                dst = row[p - s:]
                for t in range(n):
                    dst[t] = src[t]
                p += n
        for j in range(hi - s, width):
            row[j] = N_BYTE
