"""zlib inflate (RFC 1950 wrapper around RFC 1951 deflate), one stream per item.

The per-item algorithm :func:`inflate_item` is a :func:`~kernels._twin.twin`: the same Python source is
compiled as an inlined ``numba.njit`` function for the CPU driver :func:`inflate_batch_cpu` and as a
``numba.cuda.jit(device=True)`` function for the GPU kernel in ``kernels/cuda.py``.  It decodes stored,
fixed-Huffman and dynamic-Huffman blocks with table-driven Huffman decoding and a 63-bit bit buffer,
checks every index that comes from stream data, and always terminates; corrupt input yields a negative
status code from :mod:`kernels.status`.

Huffman tables live in the caller's int32 scratch ``work`` (:data:`INFLATE_WORK_SIZE` entries).  A table is
a primary table indexed by the next ``root`` input bits (10 for literal/length, 8 for distance, 7 for the
code-length code) followed by second-level subtables for longer codes, built from the canonical code
lengths as RFC 1951 section 3.2.2 describes.  Each int32 entry packs::

    bits 0-7   code length to consume (a subtable pointer: the subtable's index width)
    bits 8-11  number of extra bits after the code (length and distance symbols)
    bit 12     F_LIT  literal byte (or code-length symbol)
    bit 13     F_LEN  length symbol (in the distance table: a distance symbol)
    bit 14     F_EOB  end of block
    bit 15     F_SUB  pointer to a subtable
    bits 16-30 value: literal byte, base length, base distance, or subtable offset

An entry with none of the flags is not a symbol: 0 marks an unused slot of an incomplete code, 1 << 16
a symbol the format reserves (literal/length 286-287, distance 30-31).

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

# entry flags (see the module docstring)
F_LIT = 1 << 12
F_LEN = 1 << 13
F_EOB = 1 << 14
F_SUB = 1 << 15

LIT_ROOT = 10
DIST_ROOT = 8
PRE_ROOT = 7
# Worst-case table sizes (primary + subtables) for any complete code, from zlib's `enough` utility:
# enough 288 10 15, enough 32 8 15, enough 19 7 7.
LIT_ENOUGH = 1334
DIST_ENOUGH = 402
PRE_ENOUGH = 128

# layout of the int32 scratch
W_LIT = 0
W_DIST = W_LIT + LIT_ENOUGH
W_PRE = W_DIST + DIST_ENOUGH
W_LENS = W_PRE + PRE_ENOUGH          # code lengths: 288 literal/length + 32 distance
W_PLENS = W_LENS + 320               # 19 code-length code lengths
W_CNT = W_PLENS + 20                 # 16 counts per length
W_OFFS = W_CNT + 16                  # 16 next canonical codes, per length
W_SOFF = W_OFFS + 16                 # 16 offsets per length in W_SORTED (counting sort)
W_SORTED = W_SOFF + 16               # codes longer than the table root, sorted by length
INFLATE_WORK_SIZE = W_SORTED + 288   # int32 entries of scratch one inflate needs

KIND_PRE = 0
KIND_LIT = 1
KIND_DIST = 2

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
def _clen_order(i):
    """Code-length symbol stored ``i``-th in a dynamic block header (RFC 1951 3.2.7)."""
    if i < 3:
        return 16 + i
    if i == 3:
        return 0
    if i & 1:
        return 7 - ((i - 5) >> 1)
    return 8 + ((i - 4) >> 1)


@twin
def _reverse(x, n):
    """The low ``n`` bits (1 <= n <= 16) of ``x`` in reverse order (deflate sends Huffman codes MSB
    first)."""
    x = ((x & 0x5555) << 1) | ((x >> 1) & 0x5555)
    x = ((x & 0x3333) << 2) | ((x >> 2) & 0x3333)
    x = ((x & 0x0F0F) << 4) | ((x >> 4) & 0x0F0F)
    x = ((x & 0x00FF) << 8) | ((x >> 8) & 0x00FF)
    return x >> (16 - n)


@twin
def _sym_entry(kind, s, length):
    """Table entry (int64) for symbol ``s`` of a code of type ``kind`` with code length ``length``."""
    if kind == KIND_PRE:
        return (s << 16) | F_LIT | length
    if kind == KIND_LIT:
        if s < 256:
            return (s << 16) | F_LIT | length
        if s == 256:
            return F_EOB | length
        if s < 285:
            c = s - 257
            if c < 8:
                base = 3 + c
                ex = 0
            else:
                ex = (c >> 2) - 1
                base = ((4 + (c & 3)) << ex) + 3
            return (base << 16) | (ex << 8) | F_LEN | length
        if s == 285:
            return (258 << 16) | F_LEN | length
        return (1 << 16) | length
    if s < 30:
        if s < 4:
            base = s + 1
            ex = 0
        else:
            ex = (s >> 1) - 1
            base = ((2 + (s & 1)) << ex) + 1
        return (base << 16) | (ex << 8) | F_LEN | length
    return (1 << 16) | length


@twin
def _build_table(work, lens, n, tab, tab_size, root, kind):
    """Build the decoding table of a canonical Huffman code.

    Parameters
    ----------
    work : numpy.ndarray of int32
        The item's scratch; the code lengths are ``work[lens:lens + n]`` (each 0-15), the table is
        written at ``work[tab:tab + tab_size]``.
    lens, n, tab, tab_size, root, kind : int
        Offsets and sizes in ``work``, the primary table's index width in bits, and the code type
        (``KIND_PRE``, ``KIND_LIT`` or ``KIND_DIST``).

    Returns
    -------
    int
        0, or ``ERR_HUFFMAN`` for an over-subscribed code, an incomplete one (allowed, as in zlib, only
        for a literal/length or distance code with at most one 1-bit code), or a table overflow.
    """
    for i in range(16):
        work[IX(W_CNT + i)] = 0
    for s in range(n):
        ln = np.int64(work[IX(lens + s)])
        work[IX(W_CNT + ln)] += 1
    left = 1
    maxlen = 0
    for ln in range(1, 16):
        c = np.int64(work[IX(W_CNT + ln)])
        left = (left << 1) - c
        if left < 0:
            return ERR_HUFFMAN
        if c > 0:
            maxlen = ln
    if left > 0 and (kind == KIND_PRE or maxlen > 1):
        return ERR_HUFFMAN
    for i in range(1 << root):
        work[IX(tab + i)] = 0

    # RFC 1951 3.2.2: the first code of each length (W_OFFS), and where the codes longer than `root`
    # go in W_SORTED, sorted by length (W_SOFF)
    code = 0
    acc = 0
    prev = 0
    for ln in range(1, 16):
        code = (code + prev) << 1
        work[IX(W_OFFS + ln)] = code
        prev = np.int64(work[IX(W_CNT + ln)])
        work[IX(W_SOFF + ln)] = acc
        if ln > root:
            acc += prev
    # One pass over the symbols, then one over the codes longer than `root` (rare) in canonical order
    # (one loop: one call site per helper).  A code of at most `root` bits goes into the primary table,
    # in symbol order (the canonical order within a length), at one slot only: the code reversed, as
    # the stream sends it.  A longer code is only collected in W_SORTED; in the second pass its first
    # `root` bits index the primary table, which points to a subtable for the rest.
    cur_len = root + 1
    lcode = 0
    prefix = -1
    sub_off = 0
    sub_bits = 0
    free = 1 << root
    for t in range(n + 1 + acc):
        if t < n:
            s = t
            ln = np.int64(work[IX(lens + s)])
            if ln == 0:
                continue
            code = np.int64(work[IX(W_OFFS + ln)])
            work[IX(W_OFFS + ln)] = code + 1
            if ln > root:
                k = np.int64(work[IX(W_SOFF + ln)])
                work[IX(W_SORTED + k)] = s
                work[IX(W_SOFF + ln)] = k + 1
                continue
        elif t == n:
            # Replicate each entry to every slot whose low bits are its code, by doubling: slots
            # [2^b, 2^(b+1)) take the entry of the slot 2^b below when that entry's code has at most
            # b bits, unless a code of b+1 bits sits there already (a prefix code has no other
            # collisions), for b = 1 .. root-1.  Slots of no code stay 0 (incomplete code, or a
            # subtable pointer written below).
            for b in range(1, root):
                h = 1 << b
                for j in range(h):
                    x = np.int64(work[IX(tab + j)])
                    y = np.int64(work[IX(tab + h + j)])
                    # branch-free (LLVM vectorizes a conditional store as slow masked stores)
                    m = -np.int64((y == 0) & ((x & 255) <= b))
                    work[IX(tab + h + j)] = y | (x & m)
            # W_OFFS now holds the first code of each length plus the length's count
            lcode = np.int64(work[IX(W_OFFS + cur_len)]) - np.int64(work[IX(W_CNT + cur_len)])
            continue
        else:
            s = np.int64(work[IX(W_SORTED + t - n - 1)])
            ln = np.int64(work[IX(lens + s)])
            while cur_len < ln:
                lcode <<= 1
                cur_len += 1
            code = lcode
            lcode += 1
        entry = _sym_entry(kind, s, ln)
        # the code reversed: its stream bits index the table
        rc = _reverse(code, ln)
        if ln <= root:
            work[IX(tab + rc)] = entry
        else:
            pre = code >> (ln - root)
            if pre != prefix:
                # size the subtable to hold every remaining code that shares this prefix (zlib's rule;
                # W_CNT still counts the codes not placed yet, this one included)
                sub_bits = ln - root
                room = 1 << sub_bits
                while sub_bits + root < maxlen:
                    room -= np.int64(work[IX(W_CNT + sub_bits + root)])
                    if room <= 0:
                        break
                    sub_bits += 1
                    room <<= 1
                sub_off = free
                free += 1 << sub_bits
                if free > tab_size:
                    return ERR_HUFFMAN
                work[IX(tab + (rc & ((1 << root) - 1)))] = (sub_off << 16) | F_SUB | sub_bits
                prefix = pre
            for j in range(rc >> root, 1 << sub_bits, 1 << (ln - root)):
                work[IX(tab + sub_off + j)] = entry
            work[IX(W_CNT + ln)] -= 1
    return 0


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
    """CPU driver of :func:`load_block` over items ``i0 .. i1-1`` (per-item int64 arrays); writes ``result``."""
    work = np.empty(INFLATE_WORK_SIZE, dtype=np.int32)
    for i in range(i0, i1):
        result[i] = load_block(src, src_off[i], src_end[i], dst, dst_off[i], dst_end[i], stop[i], mode[i], work)


@numba.njit(nogil=True, cache=True)
def inflate_batch_cpu(src, src_off, src_end, dst, dst_off, dst_end, stop, swap, work, i0, i1, status):
    """Inflate items ``i0..i1-1`` serially (the caller runs chunks of items on a thread pool).

    Parameters
    ----------
    src : numpy.ndarray of uint8
        Packed compressed streams.
    src_off, src_end : numpy.ndarray of int64
        Per item, the stream's byte range in ``src``.
    dst : numpy.ndarray of uint8
        Output buffer.
    dst_off, dst_end : numpy.ndarray of int64
        Per item, the output range in ``dst``.
    stop : numpy.ndarray of int64
        Per item, the early-exit coordinate (< 0: inflate the whole stream).
    swap : bool or uint8
        The data sections are big-endian.
    work : numpy.ndarray of int32
        Scratch of at least ``INFLATE_WORK_SIZE`` entries, owned by this call.
    i0, i1 : int
        The items to process.
    status : numpy.ndarray of int64
        Out: per item, the bytes written or a negative status code.  Ranges outside the arrays are
        clipped to them (a clipped stream then reports ``ERR_INPUT_END`` or ``ERR_OUTPUT_FULL``).
    """
    mode = MODE_SWAP if swap else 0
    for i in range(i0, i1):
        status[i] = load_block(src, src_off[i], src_end[i], dst, dst_off[i], dst_end[i], stop[i], mode, work)
