"""The R-tree (cirTree) of data blocks, from the bytes of its nodes to the compact index arrays.

Host-only (no GPU twin): this runs once per file, at open.  Parsing node by node in Python cost
about 3 ms per 100,000 blocks (one small read and one structured array per node); here the whole
tree is one byte buffer, walked and decoded by compiled loops.

The compact index (``fastwig.rtree.BlockIndex`` holds it) keeps blocks whose range lies on one
chromosome -- every data block of every writer we know -- as uint32 start and end bases grouped by
chromosome (a table of chromosome runs instead of a chromIx per block); the rare block whose range
crosses chromosomes (zoom levels of some writers) is kept apart with int64 linear coordinates
``chromIx * 2**32 + base``.
"""

from __future__ import annotations

import numba
import numpy as np

OK = 0
NEEDS_MORE = 1          # a node lies outside the buffer: the caller reads the tree node by node
CYCLE = 2               # a node is reached twice, or the tree is deeper than allowed
BAD_NODE = 3            # a node's items run past the end of the buffer

NODE_HEADER = 4
LEAF_ITEM = 32
CHILD_ITEM = 24


@numba.njit(inline="always")
def _u16(b, i, big):
    if big:
        return (np.int64(b[i]) << 8) | np.int64(b[i + 1])
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8)


@numba.njit(inline="always")
def _u32(b, i, big):
    if big:
        return (np.int64(b[i]) << 24) | (np.int64(b[i + 1]) << 16) | (np.int64(b[i + 2]) << 8) | np.int64(b[i + 3])
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16) | (np.int64(b[i + 3]) << 24)


@numba.njit(inline="always")
def _u64(b, i, big):
    hi = _u32(b, i, big)
    lo = _u32(b, i + 4, big)
    if not big:
        hi, lo = lo, hi
    return (np.uint64(hi) << np.uint64(32)) | np.uint64(lo)


@numba.njit(nogil=True, cache=True)
def walk(buf, base, root, big, max_depth):
    """Leaf nodes of the tree whose root node starts at file offset ``root``, in stored order.

    Parameters
    ----------
    buf : uint8 (B,), the file's bytes from offset ``base``
    base, root : int, file offsets
    big : bool, big-endian
    max_depth : int, deeper nodes count as a cycle

    Returns
    -------
    status : int, ``OK``, ``NEEDS_MORE`` (a node outside ``buf``), ``CYCLE`` or ``BAD_NODE``
    where : int, the file offset of the node the status is about
    leaf_at : int64 (k,), buffer positions of the leaf nodes' first items
    leaf_count : int64 (k,), items of each leaf node
    """
    size = buf.size
    cap = 64
    leaf_at = np.empty(cap, np.int64)
    leaf_count = np.empty(cap, np.int64)
    seen = np.empty(cap, np.int64)
    n_leaf = 0
    n_seen = 0
    # a tree holds at most size / NODE_HEADER distinct nodes: more visits means a node came twice
    max_visits = size // NODE_HEADER + 1
    stack_at = np.empty(64, np.int64)
    stack_depth = np.empty(64, np.int64)
    stack_at[0] = root
    stack_depth[0] = 0
    top = 1
    while top > 0:
        top -= 1
        node = stack_at[top]
        depth = stack_depth[top]
        if depth > max_depth or n_seen >= max_visits:
            return CYCLE, node, leaf_at[:0], leaf_count[:0]
        p = node - base
        if p < 0 or p + NODE_HEADER > size:
            return NEEDS_MORE, node, leaf_at[:0], leaf_count[:0]
        if n_seen == seen.size:
            seen = np.concatenate((seen, np.empty(seen.size, np.int64)))
        seen[n_seen] = node
        n_seen += 1
        is_leaf = buf[p] != 0
        count = _u16(buf, p + 2, big)
        items = p + NODE_HEADER
        if is_leaf:
            if items + count * LEAF_ITEM > size:
                return NEEDS_MORE, node, leaf_at[:0], leaf_count[:0]
            if n_leaf == leaf_at.size:
                leaf_at = np.concatenate((leaf_at, np.empty(leaf_at.size, np.int64)))
                leaf_count = np.concatenate((leaf_count, np.empty(leaf_count.size, np.int64)))
            leaf_at[n_leaf] = items
            leaf_count[n_leaf] = count
            n_leaf += 1
        else:
            if items + count * CHILD_ITEM > size:
                return NEEDS_MORE, node, leaf_at[:0], leaf_count[:0]
            while top + count > stack_at.size:
                stack_at = np.concatenate((stack_at, np.empty(stack_at.size, np.int64)))
                stack_depth = np.concatenate((stack_depth, np.empty(stack_depth.size, np.int64)))
            # pushed in reverse so that leaves come out in stored order
            for j in range(count - 1, -1, -1):
                child = _u64(buf, items + j * CHILD_ITEM + 16, big)
                if child >= np.uint64(1) << np.uint64(62):
                    return BAD_NODE, node, leaf_at[:0], leaf_count[:0]
                stack_at[top] = np.int64(child)
                stack_depth[top] = depth + 1
                top += 1
    s = np.sort(seen[:n_seen])
    for i in range(1, n_seen):
        if s[i] == s[i - 1]:
            return CYCLE, s[i], leaf_at[:0], leaf_count[:0]
    return OK, 0, leaf_at[:n_leaf], leaf_count[:n_leaf]


@numba.njit(nogil=True, cache=True)
def decode_leaves(buf, leaf_at, leaf_count, big, sc, sb, ec, eb, off, size):
    """Decode the leaf items at ``leaf_at``/``leaf_count`` into uint32 ``sc, sb, ec, eb`` (start and
    end chromIx and base) and uint64 ``off, size`` (the data block), in stored order."""
    k = 0
    for j in range(leaf_at.size):
        p = leaf_at[j]
        for _ in range(leaf_count[j]):
            sc[k] = _u32(buf, p, big)
            sb[k] = _u32(buf, p + 4, big)
            ec[k] = _u32(buf, p + 8, big)
            eb[k] = _u32(buf, p + 12, big)
            off[k] = _u64(buf, p + 16, big)
            size[k] = _u64(buf, p + 24, big)
            p += LEAF_ITEM
            k += 1


@numba.njit(inline="always")
def _word(w, i, big):
    x = w[i]
    if big:
        x = ((x >> 24) & 0xFF) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | ((x << 24) & 0xFF000000)
    return np.uint32(x)


@numba.njit(inline="always")
def _word64(w, i, big):
    a = np.uint64(_word(w, i, big))
    b = np.uint64(_word(w, i + 1, big))
    if big:
        return (a << np.uint64(32)) | b
    return (b << np.uint64(32)) | a


@numba.njit(nogil=True, cache=True)
def decode_sorted(words, leaf_at, leaf_count, big, min_offset, file_size, start, end, offset, size):
    """The common case in one pass: leaf items straight into the compact arrays, when every item is
    valid, lies on one chromosome, and items come sorted by (chromIx, start, offset) with sizes under
    4 GiB.

    Parameters
    ----------
    words : uint32 (B // 4,), the tree's bytes seen as words (every ``leaf_at`` a multiple of 4)
    start, end, size : uint32 (n,), ``offset`` uint32 or uint64 (n,): filled

    Returns
    -------
    ok : bool, False when the items are not of that kind (the caller takes the general path)
    chrom_id, chrom_ptr : int64 (r,) and (r + 1,), the chromosome runs
    cm : uint32, running maximum of ``end`` per chromosome, or empty where it equals ``end``
    file_order : bool
    """
    fs = np.uint64(file_size)
    lowest = np.uint64(min_offset)
    size_limit = np.uint64(0xFFFFFFFF)
    # the hot loop keeps to scalars and flags (no branch out of it): about 4 ns per item
    bad = False
    unsorted = False
    cm_differs = False
    file_order = True
    runs = 0
    prev_c = np.uint32(0)
    prev_s = np.uint32(0)
    prev_o = np.uint64(0)
    run_max = np.uint32(0)
    k = 0
    for j in range(leaf_at.size):
        q = leaf_at[j] >> 2
        for _ in range(leaf_count[j]):
            c = _word(words, q, big)
            sb = _word(words, q + 1, big)
            eb = _word(words, q + 3, big)
            o = _word64(words, q + 4, big)
            z = _word64(words, q + 6, big)
            bad |= ((_word(words, q + 2, big) != c) | (eb < sb) | (o < lowest) | (z == 0) | (o > fs)
                    | (z > fs - o) | (z > size_limit))
            q += 8
            new_run = (k == 0) | (c != prev_c)
            if new_run:
                runs += 1
                run_max = eb
            unsorted |= (k > 0) & ((c < prev_c) | ((c == prev_c) & ((sb < prev_s) | ((sb == prev_s) & (o < prev_o)))))
            file_order &= (k == 0) | (o >= prev_o)
            cm_differs |= eb < run_max
            run_max = max(run_max, eb)
            start[k] = sb
            end[k] = eb
            offset[k] = o
            size[k] = z
            prev_c, prev_s, prev_o = c, sb, o
            k += 1
    chrom_id = np.empty(runs, np.int64)
    chrom_ptr = np.empty(runs + 1, np.int64)
    cm = np.empty(0, np.uint32)
    if bad or unsorted:
        return False, chrom_id, chrom_ptr, cm, file_order
    r = -1
    k = 0
    for j in range(leaf_at.size):
        q = leaf_at[j] >> 2
        for _ in range(leaf_count[j]):
            c = _word(words, q, big)
            if r < 0 or c != chrom_id[r]:
                r += 1
                chrom_id[r] = c
                chrom_ptr[r] = k
            q += 8
            k += 1
    chrom_ptr[runs] = k
    if cm_differs:
        cm = np.empty(k, np.uint32)
        for rr in range(runs):
            m = np.uint32(0)
            for i in range(chrom_ptr[rr], chrom_ptr[rr + 1]):
                m = max(m, end[i])
                cm[i] = m
    return True, chrom_id, chrom_ptr, cm, file_order


@numba.njit(nogil=True, cache=True)
def survey(sc, sb, ec, eb, off, size, min_offset, file_size):
    """Check the items and say what shape the index takes.

    Returns
    -------
    bad : int, first item whose range is inverted or whose block lies outside ``[min_offset, file_size)``
        or is empty (-1: none)
    n_span : int, items whose range crosses chromosomes
    in_order : bool, no item crosses chromosomes and items are sorted by (chromIx, start base, offset):
        the stored order is the index order
    runs : int, chromosome runs in the stored order
    max_off, max_size : int, largest block offset and size (to pick the narrowest dtype)
    """
    n = sc.size
    bad = -1
    n_span = 0
    in_order = True
    runs = 0
    max_off = np.uint64(0)
    max_size = np.uint64(0)
    fs = np.uint64(file_size)
    for i in range(n):
        o = off[i]
        z = size[i]
        inverted = ec[i] < sc[i] or (ec[i] == sc[i] and eb[i] < sb[i])
        # in uint64 so that no sum overflows: offset + size compared as size > file_size - offset
        if inverted or o < np.uint64(min_offset) or z == 0 or o > fs or z > fs - o:
            if bad < 0:
                bad = i
        if ec[i] != sc[i]:
            n_span += 1
            in_order = False
        if o > max_off:
            max_off = o
        if z > max_size:
            max_size = z
        if i == 0 or sc[i] != sc[i - 1]:
            runs += 1
        if i > 0 and in_order:
            if sc[i] < sc[i - 1] or (sc[i] == sc[i - 1] and (sb[i] < sb[i - 1] or (sb[i] == sb[i - 1] and o < off[i - 1]))):
                in_order = False
    return bad, n_span, in_order, runs, max_off, max_size


@numba.njit(nogil=True, cache=True)
def compact(sc, sb, ec, eb, off, size, order, n_main, chrom_id, chrom_ptr, start, end, cm,
            span_ls, span_le, span_cm, off_out, size_out):
    """Fill the compact index from items taken in ``order`` (single-chromosome items first, sorted
    by (chromIx, start, offset); then the others, sorted by (linear start, offset)).

    ``chrom_id``/``chrom_ptr`` receive the chromosome runs of the first ``n_main`` items (run r is
    chromosome ``chrom_id[r]``, items ``chrom_ptr[r]:chrom_ptr[r+1]``); ``cm`` the running maximum
    of ``end`` within each run; ``span_*`` the int64 linear start, end and running maximum of end of
    the others.  Returns (cm_differs, file_order): whether ``cm`` differs from ``end`` anywhere, and
    whether offsets do not decrease in index order (blocks found for a window are then in file order).
    """
    n = order.size
    r = -1
    run_max = np.int64(0)
    cm_differs = False
    file_order = True
    for i in range(n):
        k = order[i]
        off_out[i] = off[k]
        size_out[i] = size[k]
        if i > 0 and off[k] < off[order[i - 1]]:
            file_order = False
        if i < n_main:
            if r < 0 or chrom_id[r] != sc[k]:
                r += 1
                chrom_id[r] = sc[k]
                chrom_ptr[r] = i
                run_max = -1
            start[i] = sb[k]
            end[i] = eb[k]
            e = np.int64(eb[k])
            if e > run_max:
                run_max = e
            elif e < run_max:
                cm_differs = True
            cm[i] = run_max
        else:
            j = i - n_main
            span_ls[j] = (np.int64(sc[k]) << 32) | np.int64(sb[k])
            span_le[j] = (np.int64(ec[k]) << 32) | np.int64(eb[k])
            prev = span_cm[j - 1] if j > 0 else np.int64(-1)
            span_cm[j] = span_le[j] if span_le[j] > prev else prev
    chrom_ptr[r + 1] = n_main
    return cm_differs, file_order
