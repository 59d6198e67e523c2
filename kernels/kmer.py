"""k-mer tokens of DNA windows (Genomic-ULMFiT style), with an optional reverse complement.

Input is a ``uint8`` array of ASCII codes, one row per window, shape ``(n, width)`` (what
:func:`kernels.onehot.gather_fasta_cpu` writes).  Token ``t`` of a window is the k-mer of bases
``t * stride .. t * stride + k - 1`` read as a base-4 number, first base most significant, with A=0
C=1 G=2 T=3 in either case (soft-masked bases are bases): ``"ACG"`` -> ``0*16 + 1*4 + 2 = 6``.  A k-mer
holding any other byte (``N``, IUPAC codes, the ``N`` padding past a chromosome end) is the token
``4**k``.  A window has ``(width - k) // stride + 1`` tokens (none when ``width < k``).

``rc[i] != 0`` tokenises the reverse complement of window ``i``: position ``q`` of that sequence is
the complement of byte ``width - 1 - q``, so its tokens are those of the reverse-complement string.

Largest k: 31.  Tokens go up to ``4**31 = 2**62``; a token under construction holds at most 60 bits
before its last shift, beside a sticky "not a base" bit 62, so int64 never overflows.

Two per-item steps: :func:`kmer_code` codes one base of the (reverse-complemented) window into a
scratch row laid out by stride lane, :func:`kmer_run` computes a run of tokens ``t0 <= t < t1`` from
it.  The CPU driver codes a window into a reused scratch row (it stays in L1) and gives it one run; the
GPU driver in :mod:`kernels.cuda` codes every window into a device scratch array, then cuts windows
into short runs so that every thread has work.  Tokens do not depend on where a run starts, so the
twins give identical output.

Measured (256 windows of 1 kb, one thread, bytes already gathered; tests/benchmarks/test_bench_genome.py):
k=3 stride 1 0.09 ms, k=5 stride 2 0.08 ms, k=31 stride 1 0.50 ms; the one-hot kernel 0.08 ms.
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin

MAX_K = 31


def n_tokens(width: int, k: int, stride: int) -> int:
    """Tokens of a window of ``width`` bases: ``(width - k) // stride + 1``, or 0 when ``width < k``."""
    return 0 if width < k else (width - k) // stride + 1


_STICKY = 1 << 62


@twin
def kmer_code(row, lanes, phase, m, lanes_len, stride, r):
    """Code of base ``q = phase + m * stride`` of the sequence to tokenise into its stride lane.

    Parameters
    ----------
    row : uint8 (width,)
        ASCII bytes of one window.
    lanes : uint8 (stride * lanes_len,)
        Codes 0..3 (A C G T), 4 (not a base), lane ``q % stride`` holding positions ``q`` in order:
        ``lanes[phase * lanes_len + m]``.  A k-mer pass then reads one lane contiguously.
    phase, m : int
        Lane and place in it (``q < width``).
    lanes_len : int
        ``ceil(width / stride)``.
    stride : int
    r : bool
        The sequence is the window's reverse complement: ``q`` is the complement of byte ``width - 1 - q``.
    """
    q = phase + m * stride
    low = (row[row.shape[0] - 1 - q] if r else row[q]) | 32      # ASCII lower case
    ok = (low == 97) | (low == 99) | (low == 103) | (low == 116)
    # arithmetic, not kernels.onehot.base_code's chain of tests: a c g t are 1100001 1100011 1100111
    # 1110100, and bits 0-1 of (low >> 1) ^ (low >> 2) are 0 1 2 3.  Branch-free, a loop the compiler
    # does not vectorise does not mispredict on random bases (coding lane by lane: 6.9 -> 2.5 ns a base)
    b = ((low >> 1) ^ (low >> 2)) & 3
    if r:
        b = 3 - b                      # complement: A<->T, C<->G
    lanes[phase * lanes_len + m] = b if ok else 4


@twin
def _shift_in(dst, t, b):
    """Shift base code ``b`` (4: not a base) into token ``dst[t]``, keeping the sticky bit 62."""
    a = dst[t]
    s = a & _STICKY
    # before the last shift a token holds at most 30 bases (60 bits): nothing reaches bit 62
    dst[t] = ((a ^ s) << 2) | (b & 3) | s | ((b & 4) << 60)


@twin
def kmer_run(lanes, dst, t0, t1, k, stride, lanes_len):
    """Tokens ``t0 <= t < t1`` of one window from its coded lanes (:func:`kmer_code`).

    ``k`` passes over the run, pass ``j`` shifting base ``t * stride + j`` into every token ``t``: that
    base sits at place ``t + j // stride`` of lane ``j % stride``, so a pass reads one lane in order
    and the CPU compiler vectorises it (gathering bytes ``stride`` apart measured 3.5x slower).  A
    sticky bit 62 marks a token that met a non-base; it becomes ``4**k`` at the end.

    Parameters
    ----------
    lanes : uint8 (stride * lanes_len,)
        The window's codes, laid out by :func:`kmer_code`.
    dst : int64 (tokens,)
        The window's tokens.
    t0, t1 : int
        Token range.
    k, stride, lanes_len : int
    """
    for t in range(t0, t1):
        dst[t] = 0
    for j in range(k):
        src = lanes[(j % stride) * lanes_len + j // stride:]
        for t in range(t0, t1):
            _shift_in(dst, t, np.int64(src[t]))
    special = 1 << (2 * k)
    for t in range(t0, t1):
        if dst[t] & _STICKY:
            dst[t] = special


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
    width = codes.shape[1]
    tokens = out.shape[1]
    if tokens == 0:
        return
    lanes_len = (width + stride - 1) // stride
    # one window's codes in base order, then by lane; reused for every window (they stay in L1)
    flat = np.empty(width, dtype=np.uint8)
    lanes = flat if stride == 1 else np.empty(stride * lanes_len, dtype=np.uint8)
    for i in range(i0, i1):
        _code_unit(codes[i], flat, rc[i] != 0)
        if stride > 1:
            _deal(flat, lanes, lanes_len, stride)
        kmer_run(lanes, out[i], 0, tokens, k, stride, lanes_len)


# Coding a window in base order, with the literal stride 1, lets the compiler see contiguous bytes and
# vectorise it (~20x faster than coding lane by lane with a runtime stride, measured); the lanes are
# then dealt out of it by a plain copy.  Both are functions of their own (compiled apart, not inlined):
# in one body with the other loops, LLVM stopped vectorising some of them (4x slower, measured).

@numba.njit(nogil=True, cache=True)
def _code_unit(row, lanes, r):
    """Codes of one window in base order (stride 1: a single lane)."""
    width = row.shape[0]
    if r:
        for m in range(width - 1, -1, -1):
            kmer_code(row, lanes, 0, m, width, 1, True)
    else:
        for m in range(width):
            kmer_code(row, lanes, 0, m, width, 1, False)


@numba.njit(nogil=True, cache=True)
def _deal(flat, lanes, lanes_len, stride):
    """Lane ``phase`` of ``lanes`` gets bases ``phase, phase + stride, ...`` of ``flat`` (what
    :func:`kmer_code` writes with that stride)."""
    # the usual strides as literals: the compiler then vectorises the strided reads (35 -> 11 us for
    # 256 windows of 1 kb at stride 2, measured)
    if stride == 2:
        _deal_by(flat, lanes, lanes_len, 2)
    elif stride == 3:
        _deal_by(flat, lanes, lanes_len, 3)
    elif stride == 4:
        _deal_by(flat, lanes, lanes_len, 4)
    else:
        _deal_by(flat, lanes, lanes_len, stride)


@numba.njit(inline="always", nogil=True, cache=True)
def _deal_by(flat, lanes, lanes_len, stride):
    width = flat.shape[0]
    for phase in range(stride):
        dst = lanes[phase * lanes_len:]
        for m in range((width - phase + stride - 1) // stride):
            dst[m] = flat[phase + m * stride]
