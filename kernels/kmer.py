"""k-mer tokens of DNA windows (Genomic-ULMFiT style), with an optional reverse complement.

Input is a ``uint8`` array of ASCII codes, one row per window, shape ``(n, width)`` (what
:func:`kernels.onehot.gather_fasta_cpu` writes).  Token ``t`` of a window is the k-mer of bases
``t * stride .. t * stride + k - 1`` read as a base-4 number, first base most significant, with A=0
C=1 G=2 T=3 in either case (soft-masked bases are bases): ``"ACG"`` -> ``0*16 + 1*4 + 2 = 6``.  A k-mer
holding any other byte (``N``, IUPAC codes, the ``N`` padding past a chromosome end) is the token
``4**k``.  A window has ``(width - k) // stride + 1`` tokens (none when ``width < k``).

``rc[i] != 0`` tokenises the reverse complement of window ``i``: position ``q`` of that sequence is
the complement of byte ``width - 1 - q``, so its tokens are those of the reverse-complement string.

Largest k: 31.  Tokens go up to ``4**31 = 2**62``; the rolling value is masked to its last ``k - 1``
bases before the shift, so no intermediate leaves 62 bits and int64 never overflows.

The per-item algorithm is a run of tokens ``t0 <= t < t1`` of one window (:func:`kmer_run`).  The CPU
driver gives each window one run; the GPU driver in :mod:`kernels.cuda` cuts windows into short runs so
that every thread has work.  Tokens do not depend on where a run starts, so the twins give identical
output.
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin
from .onehot import base_code

MAX_K = 31


def n_tokens(width: int, k: int, stride: int) -> int:
    """Tokens of a window of ``width`` bases: ``(width - k) // stride + 1``, or 0 when ``width < k``."""
    return 0 if width < k else (width - k) // stride + 1


@twin
def base_bits(c):
    """2-bit code of one ASCII byte (A=0 C=1 G=2 T=3, either case), plus 4 when it is not a base.

    Arithmetic rather than :func:`kernels.onehot.base_code`'s chain of tests, for the serial rolling
    loop, where random bases made those branches mispredict (2.3x slower, measured); the vectorised
    passes turn base_code's tests into selects on bytes, faster there (0.43 vs 0.65 ms, measured).
    """
    low = np.int64(c) | 32           # int64 from here on (the simulator would keep uint8)
    ok = (low == 97) | (low == 99) | (low == 103) | (low == 116)
    # a c g t are 1100001 1100011 1100111 1110100: bits 0 and 1 of (low >> 1) ^ (low >> 2) give 0 1 2 3
    return (((low >> 1) ^ (low >> 2)) & 3) | (0 if ok else 4)


_STICKY = 1 << 62


@twin
def _shift_in(dst, t, b):
    """Shift base code ``b`` (bit 4: not a base) into token ``dst[t]``, keeping the sticky bit 62."""
    a = dst[t]
    s = a & _STICKY
    # before the last shift a token holds at most 30 bases (60 bits): nothing reaches bit 62
    dst[t] = ((a ^ s) << 2) | (b & 3) | s | ((b & 4) << 60)


@twin
def kmer_run(codes, out, i, t0, t1, k, stride, r):
    """Tokens ``t0 <= t < t1`` of window ``i`` into ``out[i, t0:t1]``.

    Two strategies, the same tokens.  Few bases per token (``k <= 4 * stride``, the Genomic-ULMFiT
    settings): ``k`` passes over the run, each shifting one base into every token, which the CPU
    compiler vectorises -- a sticky bit 62 marks a token that met a non-base.  Otherwise one walk over
    the bases with a rolling value, ``k``-independent.  With 256 windows of 1 kb, k=3 stride 1 on one
    thread: passes 0.43 ms, rolling 0.90 ms; k=12: passes 1.9 ms, rolling 0.90 ms.

    Parameters
    ----------
    codes : uint8 (n, width)
        ASCII bytes.
    out : int64 (n, tokens)
        Output tokens.
    i : int
        Window.
    t0, t1 : int
        Token range (``0 <= t0 < t1 <= tokens``).
    k, stride : int
        k-mer length (1..31) and step between k-mer starts (>= 1).
    r : bool
        Tokenise the reverse complement of the window.
    """
    if k <= 4 * stride:
        _passes(codes[i], out[i], t0, t1, k, stride, r)
    else:
        _rolling(codes[i], out[i], t0, t1, k, stride, r)


@twin
def _passes(row, dst, t0, t1, k, stride, r):
    """:func:`kmer_run` in ``k`` passes over the run (vectorised on the CPU); ``row``/``dst``: one window."""
    last = row.shape[0] - 1
    for t in range(t0, t1):
        dst[t] = 0
    for j in range(k):
        if r:
            for t in range(t0, t1):
                _shift_in(dst, t, base_code(row[last - t * stride - j]) ^ 3)
        else:
            for t in range(t0, t1):
                _shift_in(dst, t, base_code(row[t * stride + j]))
    special = 1 << (2 * k)
    for t in range(t0, t1):
        if dst[t] & _STICKY:
            dst[t] = special


@twin
def _rolling(row, dst, t0, t1, k, stride, r):
    """:func:`kmer_run` in one walk over the bases with a rolling value; ``row``/``dst``: one window."""
    last = row.shape[0] - 1
    special = 1 << (2 * k)
    flip = 3 if r else 0              # complement: 0<->3, 1<->2; the not-a-base bit 4 stays
    keep = (1 << (2 * (k - 1))) - 1   # the last k - 1 bases of the rolling value
    v = 0
    bad = -1 - k                      # position of the last non-base seen
    q = t0 * stride
    emit = q + k - 1                  # last base of token t
    end = (t1 - 1) * stride + k
    t = t0
    while q < end:
        b = base_bits(row[last - q] if r else row[q]) ^ flip
        v = ((v & keep) << 2) | (b & 3)
        bad = q if b & 4 else bad
        if q == emit:
            dst[t] = v if bad <= q - k else special
            t += 1
            emit += stride
        q += 1


@numba.njit(nogil=True, cache=True)
def kmer_batch_cpu(codes, rc, out, k, stride, i0, i1):
    """Tokens of windows ``i0 <= i < i1`` (CPU driver; no GIL, call chunks from threads).

    Parameters
    ----------
    codes : uint8 (n, width)
    rc : uint8 (n,)
        Non-zero: tokenise that window's reverse complement.
    out : int64 (n, tokens)
        ``tokens = n_tokens(width, k, stride)``.
    k, stride : int
    i0, i1 : int
        Window range this call tokenises.
    """
    tokens = out.shape[1]
    if tokens == 0:
        return
    for i in range(i0, i1):
        kmer_run(codes, out, i, 0, tokens, k, stride, rc[i] != 0)
