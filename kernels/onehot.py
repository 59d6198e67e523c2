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
:func:`gather_fasta_cpu` (CPU only: the FASTA lives in host memory) copies the raw bytes of windows
out of an uncompressed FASTA through its ``.fai`` index.
"""

from __future__ import annotations

import numba

from ._twin import twin

N_CODE = 4
# ASCII 'N': what positions past either end of a chromosome read as
N_BYTE = 78


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
def gather_fasta_cpu(buf, rec_offset, rec_linebases, rec_linebytes, rec_length, rec_id, starts, out, i0, i1):
    """Copy the FASTA bytes of windows ``i0 <= i < i1`` into ``out`` (CPU only).

    Window ``i`` covers ``[starts[i], starts[i] + width)`` of record ``rec_id[i]``; positions before 0
    or at/after the record's length read as ``N``.  The record's bases sit in ``buf`` as the ``.fai``
    index says: base ``p`` at byte ``offset + (p // linebases) * linebytes + p % linebases``.

    Parameters
    ----------
    buf : uint8 (file size,)
        The whole FASTA file (a memory map).
    rec_offset, rec_linebases, rec_linebytes, rec_length : int64 (records,)
        ``.fai`` columns 3, 4, 5 and 2.
    rec_id : int64 (n,)
        Record index of each window (validated by the caller).
    starts : int64 (n,)
        0-based window starts.
    out : uint8 (n, width)
        Output bytes as stored (case kept).
    i0, i1 : int
        Window range this call copies.
    """
    width = out.shape[1]
    for i in range(i0, i1):
        r = rec_id[i]
        s = starts[i]
        e = s + width
        length = rec_length[r]
        lo = min(max(s, 0), e)
        hi = max(min(e, length), lo)
        # row and line views with 0-based loops: the copy loops then vectorise (~5x faster)
        row = out[i]
        for j in range(0, lo - s):
            row[j] = N_BYTE
        off = rec_offset[r]
        lb = rec_linebases[r]
        lbytes = rec_linebytes[r]
        p = lo
        while p < hi:
            line = p // lb
            col = p - line * lb
            n = min(lb - col, hi - p)
            src = buf[off + line * lbytes + col:]
            dst = row[p - s:]
            for t in range(n):
                dst[t] = src[t]
            p += n
        for j in range(hi - s, width):
            row[j] = N_BYTE
