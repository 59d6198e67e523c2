"""zlib inflate (RFC 1950 wrapper around RFC 1951 deflate), one stream per item.

The per-item algorithm :func:`inflate_item` is a :func:`~kernels._twin.twin`: the same Python source is
compiled as an inlined ``numba.njit`` function for the CPU drivers (:func:`load_batch_cpu`, and
:func:`kernels.decode.load_scan_cpu`, which the CPU executor runs) and as a
``numba.cuda.jit(device=True)`` function for the GPU kernel in ``kernels/cuda.py``.  It decodes stored,
fixed-Huffman and dynamic-Huffman blocks with table-driven Huffman decoding and a 63-bit bit buffer,
checks every index that comes from stream data, and always terminates; corrupt input yields a negative
status code from :mod:`kernels.status`.

Huffman tables live in the caller's int32 scratch ``work`` (:data:`INFLATE_WORK_SIZE` entries), built
by :mod:`kernels.huffman`, whose docstring describes their entries.

The decoder is one loop over states (block header, code lengths, table builds, Huffman data, trailer)
so that each helper twin has a single call site: numba inlines a twin at every call site and the
compile time grows with each copy.  Inside the Huffman-data state a second loop decodes without
bounds checks while at least 16 input bytes and 258 output bytes remain (zlib's ``inflate_fast``
idea).  Errors found in the checked path return through the top of the loop, so that a stream that
ran out of input reports ``ERR_INPUT_END`` whatever the garbage after its end decoded to.

Scalar typing: every array element is read through ``np.int64(...)`` and all arithmetic stays in int64
with the bit buffer kept below bit 63.  That keeps the njit build, the CUDA build and the CUDA
simulator (which runs this source on NumPy scalars) bit-identical: NumPy would otherwise compute
``uint8 << 24`` in uint8, and numba mixes uint64 with int64 into float64.  Every index is cast with
``IX`` (``np.uint64``): numba adds negative-index wraparound code to signed indices only, and that
code cost about a third of the throughput.
"""

from __future__ import annotations

import numba
import numpy as np

from ._twin import twin
from .huffman import (  # noqa: F401 (W_SORTED: the scratch layout, re-exported)
    W_SORTED,
    DIST_ENOUGH,
    DIST_ROOT,
    F_EOB,
    F_LEN,
    F_LIT,
    F_SUB,
    INFLATE_WORK_SIZE,
    KIND_DIST,
    KIND_LIT,
    KIND_PRE,
    LIT_ENOUGH,
    LIT_ROOT,
    PRE_ENOUGH,
    PRE_ROOT,
    W_DIST,
    W_LENS,
    W_LIT,
    W_PLENS,
    W_PRE,
    _build_table,
    _clen_order,
)
from .section import STOP_CHECK_BYTES, section_should_stop
from .status import (
    EARLY_STOP,
    ERR_ADLER,
    ERR_BLOCK_TYPE,
    ERR_DISTANCE,
    ERR_HUFFMAN,
    ERR_INPUT_END,
    ERR_OUTPUT_FULL,
    ERR_STORED_LEN,
    ERR_ZLIB_HEADER,
)

M63 = 0x7FFFFFFFFFFFFFFF
# Array indices go through IX: numba adds negative-index wraparound code to signed indices only.
IX = np.uint64
ADLER_MOD = 65521
ADLER_CHUNK = 4096
NO_CHECK = 1 << 62

# decoder states
S_DATA = 0      # Huffman-coded symbols
S_BLOCK = 1     # block header (a stored block is copied right there)
S_PLENS = 2     # dynamic header: code-length code lengths
S_BUILD = 3     # build the table `job`
S_CLENS = 4     # dynamic header: literal/length and distance code lengths
S_TRAILER = 5   # Adler-32 trailer
S_FAIL = 6      # corrupt stream: return `err` (or ERR_INPUT_END when input ran out first)


@twin
def _refill(src, p, src_hi, buf, nb):
    """Top up the bit buffer to 55-62 bits; returns ``(buf, nb, p)``.

    Reads 8 bytes at once while they lie inside the stream (bits above ``nb`` then hold later stream
    bits, which later refills OR in again unchanged); near the end, byte by byte, past the end with
    zero bytes that the callers detect as consumed input (``(p - src_hi) * 8 > nb``).
    """
    if p + 8 <= src_hi:
        w = (np.int64(src[IX(p)]) | (np.int64(src[IX(p + 1)]) << 8) | (np.int64(src[IX(p + 2)]) << 16)
             | (np.int64(src[IX(p + 3)]) << 24) | (np.int64(src[IX(p + 4)]) << 32)
             | (np.int64(src[IX(p + 5)]) << 40) | (np.int64(src[IX(p + 6)]) << 48)
             | (np.int64(src[IX(p + 7)]) << 56))
        buf |= (w << nb) & M63
        k = (62 - nb) >> 3
        return buf, nb + (k << 3), p + k
    while nb <= 54:
        if p < src_hi:
            buf |= np.int64(src[IX(p)]) << nb
        p += 1
        nb += 8
    return buf, nb, p


@twin
def _adler32(buf, lo, hi):
    """Adler-32 (RFC 1950) of ``buf[lo:hi]`` (uint8), as an int64."""
    a = 1
    b = 0
    i = lo
    while i < hi:
        m = min(hi - i, ADLER_CHUNK)
        s1 = 0
        s2 = 0
        for k in range(m):
            x = np.int64(buf[IX(i + k)])
            s1 += x
            s2 += (m - k) * x
        b = (b + m * a + s2) % ADLER_MOD
        a = (a + s1) % ADLER_MOD
        i += m
    return (b << 16) | a


@twin
def inflate_item(src, src_lo, src_hi, dst, dst_lo, dst_hi, stop_coord, swap, work):
    """Inflate the zlib stream ``src[src_lo:src_hi]`` into ``dst[dst_lo:dst_hi]``.

    Parameters
    ----------
    src : numpy.ndarray of uint8
        Packed compressed bytes; only ``src[src_lo:src_hi]`` is read.
    src_lo, src_hi : int
        The stream's byte range in ``src``.
    dst : numpy.ndarray of uint8
        Output buffer; only ``dst[dst_lo:dst_hi]`` is written.
    dst_lo, dst_hi : int
        The output range; inflating past ``dst_hi`` is an error.
    stop_coord : int
        Early exit: when >= 0, each time the output crosses another multiple of ``STOP_CHECK_BYTES``
        (checked before the next symbol is written), ``section_should_stop`` looks at the output so
        far, and when it says so the function returns at once, without the Adler-32 check, with
        ``EARLY_STOP`` OR-ed into the count.  When < 0 the whole stream is inflated.
    swap : bool or uint8
        The data section's byte order is big-endian (passed on to ``section_should_stop``).
    work : numpy.ndarray of int32
        Scratch of at least ``INFLATE_WORK_SIZE`` entries owned by this item.

    Returns
    -------
    int
        Bytes written (>= 0; with the ``EARLY_STOP`` bit set when inflation stopped early), or a
        negative status code: ``ERR_ZLIB_HEADER``, ``ERR_BLOCK_TYPE``,
        ``ERR_STORED_LEN``, ``ERR_HUFFMAN``, ``ERR_DISTANCE``, ``ERR_INPUT_END``, ``ERR_OUTPUT_FULL``,
        ``ERR_ADLER``.  Whenever the whole stream was inflated the Adler-32 trailer is verified.
    """
    if src_hi - src_lo < 2:
        return ERR_INPUT_END
    cmf = np.int64(src[IX(src_lo)])
    flg = np.int64(src[IX(src_lo + 1)])
    if (cmf & 15) != 8 or (cmf >> 4) > 7 or ((cmf << 8) | flg) % 31 != 0 or (flg & 32) != 0:
        return ERR_ZLIB_HEADER

    p = src_lo + 2
    buf = 0
    nb = 0
    o = dst_lo
    if stop_coord >= 0:
        next_check = dst_lo + STOP_CHECK_BYTES
    else:
        next_check = NO_CHECK
    state = S_BLOCK
    err = 0
    final = 0
    fixed_built = False
    job = KIND_PRE
    i = 0
    hclen = 0
    total = 0
    lit_n = 0
    dist_lens = 0
    dist_n = 0
    # One loop, one call site per helper (see the module docstring).  Errors set state S_FAIL and come
    # back here, so that an error caused by reading past the end of the input is ERR_INPUT_END.
    while True:
        buf, nb, p = _refill(src, p, src_hi, buf, nb)
        if (p - src_hi) * 8 > nb:
            return ERR_INPUT_END
        if state == S_FAIL:
            return err
        if o >= next_check:
            if section_should_stop(dst, dst_lo, o - dst_lo, stop_coord, swap):
                return (o - dst_lo) | EARLY_STOP
            next_check = dst_lo + ((o - dst_lo) // STOP_CHECK_BYTES + 1) * STOP_CHECK_BYTES

        if state == S_DATA:
            # Fast loop while 16 input bytes and 258 output bytes remain, up to the next early-exit
            # check: the checked path's decoding without the checks it does not need (zlib's
            # ``inflate_fast`` idea).  The outer refill above left >= 55 bits and the loop keeps
            # nb >= 15 at its top, so each symbol's table entry is looked up *before* the refill: the
            # refill only adds bits above nb, and the lookup does not wait for its input load.
            fast_o = min(next_check, dst_hi - 258)
            fast_p = src_hi - 16
            if o < fast_o and p <= fast_p:
                while o < fast_o and p <= fast_p:
                    e = np.int64(work[IX(W_LIT + (buf & 1023))])
                    # _refill's first branch, written out (this loop is the hot spot); p + 8 <= src_hi
                    w = (np.int64(src[IX(p)]) | (np.int64(src[IX(p + 1)]) << 8)
                         | (np.int64(src[IX(p + 2)]) << 16) | (np.int64(src[IX(p + 3)]) << 24)
                         | (np.int64(src[IX(p + 4)]) << 32) | (np.int64(src[IX(p + 5)]) << 40)
                         | (np.int64(src[IX(p + 6)]) << 48) | (np.int64(src[IX(p + 7)]) << 56))
                    buf |= (w << nb) & M63
                    k = (62 - nb) >> 3
                    p += k
                    nb += k << 3
                    if e & F_SUB:
                        e = np.int64(work[IX(W_LIT + (e >> 16) + ((buf >> LIT_ROOT) & ((1 << (e & 255)) - 1)))])
                    n = e & 255
                    buf >>= n
                    nb -= n
                    if e & F_LIT:
                        dst[IX(o)] = e >> 16
                        o += 1
                    elif e & F_LEN:
                        # >= 40 bits left, enough for length extra + distance code + extra (33 bits)
                        ex = (e >> 8) & 15
                        length = (e >> 16) + (buf & ((1 << ex) - 1))
                        buf >>= ex
                        nb -= ex
                        d = np.int64(work[IX(W_DIST + (buf & 255))])
                        if d & F_SUB:
                            d = np.int64(work[IX(W_DIST + (d >> 16) + ((buf >> DIST_ROOT) & ((1 << (d & 255)) - 1)))])
                        n = d & 255
                        buf >>= n
                        nb -= n
                        if (d & F_LEN) == 0:
                            return ERR_DISTANCE  # (no input past the end is ever read in this loop)
                        ex = (d >> 8) & 15
                        dist = (d >> 16) + (buf & ((1 << ex) - 1))
                        buf >>= ex
                        nb -= ex
                        if dist > o - dst_lo:
                            return ERR_DISTANCE
                        # refill again for the next lookup (p <= src_hi - 9 here)
                        w = (np.int64(src[IX(p)]) | (np.int64(src[IX(p + 1)]) << 8)
                             | (np.int64(src[IX(p + 2)]) << 16) | (np.int64(src[IX(p + 3)]) << 24)
                             | (np.int64(src[IX(p + 4)]) << 32) | (np.int64(src[IX(p + 5)]) << 40)
                             | (np.int64(src[IX(p + 6)]) << 48) | (np.int64(src[IX(p + 7)]) << 56))
                        buf |= (w << nb) & M63
                        k = (62 - nb) >> 3
                        p += k
                        nb += k << 3
                        # every match is >= 3 bytes
                        dst[IX(o)] = dst[IX(o - dist)]
                        dst[IX(o + 1)] = dst[IX(o + 1 - dist)]
                        dst[IX(o + 2)] = dst[IX(o + 2 - dist)]
                        for k in range(o + 3, o + length):
                            dst[IX(k)] = dst[IX(k - dist)]
                        o += length
                    elif e & F_EOB:
                        if final:
                            state = S_TRAILER
                        else:
                            state = S_BLOCK
                        break
                    elif n == 0:
                        return ERR_HUFFMAN
                    else:
                        return ERR_DISTANCE
            else:
                # One symbol with every check; after a refill the buffer holds >= 55 bits, enough for
                # the longest length/distance pair (15 + 5 + 15 + 13 = 48 bits).
                e = np.int64(work[IX(W_LIT + (buf & 1023))])
                if e & F_SUB:
                    e = np.int64(work[IX(W_LIT + (e >> 16) + ((buf >> LIT_ROOT) & ((1 << (e & 255)) - 1)))])
                n = e & 255
                buf >>= n
                nb -= n
                if e & F_LIT:
                    if o < dst_hi:
                        dst[IX(o)] = e >> 16
                        o += 1
                    else:
                        err = ERR_OUTPUT_FULL
                        state = S_FAIL
                elif e & F_LEN:
                    ex = (e >> 8) & 15
                    length = (e >> 16) + (buf & ((1 << ex) - 1))
                    buf >>= ex
                    nb -= ex
                    d = np.int64(work[IX(W_DIST + (buf & 255))])
                    if d & F_SUB:
                        d = np.int64(work[IX(W_DIST + (d >> 16) + ((buf >> DIST_ROOT) & ((1 << (d & 255)) - 1)))])
                    n = d & 255
                    buf >>= n
                    nb -= n
                    ex = (d >> 8) & 15
                    dist = (d >> 16) + (buf & ((1 << ex) - 1))
                    buf >>= ex
                    nb -= ex
                    if (d & F_LEN) == 0 or dist > o - dst_lo:
                        err = ERR_DISTANCE
                        state = S_FAIL
                    elif o + length > dst_hi:
                        err = ERR_OUTPUT_FULL
                        state = S_FAIL
                    else:
                        for k in range(o, o + length):
                            dst[IX(k)] = dst[IX(k - dist)]
                        o += length
                elif e & F_EOB:
                    if final:
                        state = S_TRAILER
                    else:
                        state = S_BLOCK
                else:
                    err = ERR_HUFFMAN if n == 0 else ERR_DISTANCE
                    state = S_FAIL
        elif state == S_BLOCK:
            final = buf & 1
            btype = (buf >> 1) & 3
            buf >>= 3
            nb -= 3
            if btype == 0:
                # stored: skip to a byte boundary, then copy LEN bytes straight from src
                nb -= nb & 7
                q = p - (nb >> 3)
                buf = 0
                nb = 0
                if q + 4 > src_hi:
                    return ERR_INPUT_END
                ln = np.int64(src[IX(q)]) | (np.int64(src[IX(q + 1)]) << 8)
                nln = np.int64(src[IX(q + 2)]) | (np.int64(src[IX(q + 3)]) << 8)
                q += 4
                p = q
                if ln != (nln ^ 0xFFFF):
                    err = ERR_STORED_LEN
                    state = S_FAIL
                elif q + ln > src_hi:
                    return ERR_INPUT_END
                elif o + ln > dst_hi:
                    err = ERR_OUTPUT_FULL
                    state = S_FAIL
                else:
                    for k in range(ln):
                        dst[IX(o + k)] = src[IX(q + k)]
                    o += ln
                    p = q + ln
                    if final:
                        state = S_TRAILER
            elif btype == 1:
                lit_n = 288
                dist_lens = W_LENS + 288
                dist_n = 32
                if fixed_built:
                    state = S_DATA
                else:
                    for k in range(288):
                        if k < 144:
                            work[IX(W_LENS + k)] = 8
                        elif k < 256:
                            work[IX(W_LENS + k)] = 9
                        elif k < 280:
                            work[IX(W_LENS + k)] = 7
                        else:
                            work[IX(W_LENS + k)] = 8
                    for k in range(32):
                        work[IX(W_LENS + 288 + k)] = 5
                    fixed_built = True
                    job = KIND_LIT
                    state = S_BUILD
            elif btype == 2:
                fixed_built = False
                lit_n = (buf & 31) + 257
                dist_n = ((buf >> 5) & 31) + 1
                hclen = ((buf >> 10) & 15) + 4
                buf >>= 14
                nb -= 14
                dist_lens = W_LENS + lit_n
                total = lit_n + dist_n
                for k in range(19):
                    work[IX(W_PLENS + k)] = 0
                i = 0
                if lit_n > 286 or dist_n > 30:
                    err = ERR_HUFFMAN
                    state = S_FAIL
                else:
                    state = S_PLENS
            else:
                err = ERR_BLOCK_TYPE
                state = S_FAIL

        elif state == S_PLENS:
            while i < hclen and nb >= 3:
                work[IX(W_PLENS + _clen_order(i))] = buf & 7
                buf >>= 3
                nb -= 3
                i += 1
            if i == hclen:
                job = KIND_PRE
                state = S_BUILD

        elif state == S_BUILD:
            if job == KIND_PRE:
                t_lens, t_n, t_tab, t_size, t_root = W_PLENS, 19, W_PRE, PRE_ENOUGH, PRE_ROOT
            elif job == KIND_LIT:
                t_lens, t_n, t_tab, t_size, t_root = W_LENS, lit_n, W_LIT, LIT_ENOUGH, LIT_ROOT
            else:
                t_lens, t_n, t_tab, t_size, t_root = dist_lens, dist_n, W_DIST, DIST_ENOUGH, DIST_ROOT
            if _build_table(work, t_lens, t_n, t_tab, t_size, t_root, job) != 0:
                err = ERR_HUFFMAN
                state = S_FAIL
            elif job == KIND_PRE:
                i = 0
                state = S_CLENS
            elif job == KIND_LIT:
                job = KIND_DIST
            else:
                state = S_DATA

        elif state == S_CLENS:
            # code lengths, each at most 7 + 7 bits; the code-length code is complete (every entry set)
            while state == S_CLENS and i < total and nb >= 14:
                e = np.int64(work[IX(W_PRE + (buf & 127))])
                n = e & 255
                buf >>= n
                nb -= n
                sym = e >> 16
                if sym < 16:
                    work[IX(W_LENS + i)] = sym
                    i += 1
                    continue
                if sym == 16:
                    val = np.int64(work[IX(W_LENS + max(i - 1, 0))])
                    rep = 3 + (buf & 3)
                    buf >>= 2
                    nb -= 2
                elif sym == 17:
                    val = 0
                    rep = 3 + (buf & 7)
                    buf >>= 3
                    nb -= 3
                else:
                    val = 0
                    rep = 11 + (buf & 127)
                    buf >>= 7
                    nb -= 7
                if (sym == 16 and i == 0) or i + rep > total:
                    err = ERR_HUFFMAN
                    state = S_FAIL
                else:
                    for k in range(rep):
                        work[IX(W_LENS + i + k)] = val
                    i += rep
            if state == S_CLENS and i == total:
                if work[IX(W_LENS + 256)] == 0:
                    err = ERR_HUFFMAN
                    state = S_FAIL
                else:
                    job = KIND_LIT
                    state = S_BUILD

        else:
            # zlib trailer: Adler-32 of the output, big-endian, at the next byte boundary
            nb -= nb & 7
            q = p - (nb >> 3)
            if q + 4 > src_hi:
                return ERR_INPUT_END
            want = ((np.int64(src[IX(q)]) << 24) | (np.int64(src[IX(q + 1)]) << 16)
                    | (np.int64(src[IX(q + 2)]) << 8) | np.int64(src[IX(q + 3)]))
            if _adler32(dst, dst_lo, o) != want:
                return ERR_ADLER
            return o - dst_lo


# per-block mode bits of :func:`load_block` (and of the GPU drivers)
MODE_SWAP = 1       # the file is big-endian
MODE_RAW = 2        # the block is stored uncompressed (uncompressBufSize 0): copy it, do not inflate


@twin
def load_block(src, src_off, src_end, dst, dst_off, dst_end, stop, mode, work):
    """One stored block into ``dst[dst_off:dst_end]``: inflated, or copied when ``mode & MODE_RAW``.

    Ranges outside the arrays are clipped to them (a clipped stream then reports ``ERR_INPUT_END`` or
    ``ERR_OUTPUT_FULL``).  Returns what :func:`inflate_item` returns: the bytes written (with
    ``status.EARLY_STOP`` set when inflation stopped early) or a negative status code.
    """
    s_lo = src_off if src_off > 0 else 0
    s_hi = src_end if src_end < src.shape[0] else src.shape[0]
    if s_hi < s_lo:
        s_hi = s_lo
    d_lo = dst_off if dst_off > 0 else 0
    d_hi = dst_end if dst_end < dst.shape[0] else dst.shape[0]
    if d_hi < d_lo:
        d_hi = d_lo
    if mode & MODE_RAW:
        n = s_hi - s_lo
        if n > d_hi - d_lo:
            return ERR_OUTPUT_FULL
        for k in range(n):
            dst[IX(d_lo + k)] = src[IX(s_lo + k)]
        return n
    return inflate_item(src, s_lo, s_hi, dst, d_lo, d_hi, stop, (mode & MODE_SWAP) != 0, work)


@numba.njit(nogil=True, cache=True)
def load_batch_cpu(src, src_off, src_end, dst, dst_off, dst_end, stop, mode, result, i0, i1):
    """CPU driver of :func:`load_block` over items ``i0 .. i1-1``: the CPU twin of the GPU inflate kernel.

    Parameters
    ----------
    src : uint8 (S,), packed stored blocks; ``src_off``, ``src_end`` : int64 (m,), each block's bytes
    dst : uint8 (D,), output; ``dst_off``, ``dst_end`` : int64 (m,), each block's output range
    stop : int64 (m,), early-exit coordinate (< 0: the whole stream)
    mode : int64 (m,), :data:`MODE_SWAP` and :data:`MODE_RAW` bits
    result : int64 (m,), out: bytes written (``status.EARLY_STOP`` set when cut short) or a negative
        status code; ranges outside the arrays are clipped (a clipped stream then reports
        ``ERR_INPUT_END`` or ``ERR_OUTPUT_FULL``)
    """
    work = np.empty(INFLATE_WORK_SIZE, dtype=np.int32)
    for i in range(i0, i1):
        result[i] = load_block(src, src_off[i], src_end[i], dst, dst_off[i], dst_end[i], stop[i], mode[i], work)
