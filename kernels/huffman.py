"""Huffman decoding tables of inflate (RFC 1951 section 3.2.2), built in a caller-owned int32 scratch.

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

Twins (:func:`~kernels._twin.twin`) called from :func:`kernels.inflate.inflate_item`; array indices go
through ``IX`` (``np.uint64``), as there.
"""

from __future__ import annotations

import numpy as np

from ._twin import twin
from .status import ERR_HUFFMAN

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

# Array indices go through IX: numba adds negative-index wraparound code to signed indices only.
IX = np.uint64


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
