"""Host-side planning of a batch, compiled: which blocks each window needs, and which are cached.

CPU only (no GPU twin): this runs once per track and batch, on the host, before any kernel.
"""

from __future__ import annotations

import numba
import numpy as np

INT64_MAX = np.iinfo(np.int64).max


@numba.njit(nogil=True, cache=True)
def plan_track(index, file_order, cids, starts, width, early_exit, state):
    """Blocks of one track for every window, deduplicated, with their cache entries.

    Parameters
    ----------
    index : int64 (5, L), the track's block index rows lstart, lend, lend_cummax, offset,
        single_chrom (``fastwig.rtree.BlockIndex.table``)
    file_order : bool
    cids : int64 (n,), the track's chromId per window (-1: absent); starts : int64 (n,); width : int
    early_exit : bool, record for each block the furthest window end that needs it
    state : int64 (5, L), the track's cache state rows pos, length, flags, until and a scratch row
        that is all -1 on entry and on return (``fastwig.cache.FileCacheState.table``)

    Returns
    -------
    ptr : int64 (n+1,), window w reads ``uniq[blist[ptr[w]:ptr[w+1]]]``, in file order
    blist : int64, positions in ``uniq``
    uniq, stop : int64 (m,), needed blocks and the coordinate before which records are needed (-1: all)
    lo, length, flags : int64 (m,), cache position (-1: miss), length and scan flags of each
    """
    lstart, lend, cummax, offset, single_chrom = index[0], index[1], index[2], index[3], index[4]
    c_pos, c_len, c_flags, c_until, mark = state[0], state[1], state[2], state[3], state[4]
    n = cids.size
    ptr = np.zeros(n + 1, dtype=np.int64)
    first = np.zeros(n, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    for w in range(n):
        c = cids[w]
        cnt = 0
        if c >= 0:
            s = starts[w] if starts[w] > 0 else 0
            e = starts[w] + width if starts[w] + width > 0 else 0
            q_lo = (c << 32) + s
            q_hi = (c << 32) + e
            a = np.searchsorted(cummax, q_lo, side="right")
            b = np.searchsorted(lstart, q_hi, side="left")
            first[w] = a
            last[w] = b
            for k in range(a, b):
                if lend[k] > q_lo:
                    cnt += 1
        ptr[w + 1] = ptr[w] + cnt
    total = ptr[n]
    blist = np.empty(total, dtype=np.int64)
    uniq = np.empty(total, dtype=np.int64)
    stop = np.empty(total, dtype=np.int64)
    nu = 0
    j = 0
    for w in range(n):
        if last[w] <= first[w]:
            continue
        c = cids[w]
        s = starts[w] if starts[w] > 0 else 0
        e = starts[w] + width
        q_lo = (c << 32) + s
        for k in range(first[w], last[w]):
            if lend[k] <= q_lo:
                continue
            u = mark[k]
            if u < 0:
                u = nu
                mark[k] = u
                uniq[u] = k
                stop[u] = e if (early_exit and single_chrom[k] != 0) else -1
                nu += 1
            elif stop[u] >= 0 and stop[u] < e:
                stop[u] = e
            blist[j] = u
            j += 1
        if not file_order:
            # later blocks in the file win: order this window's few blocks by file offset
            for x in range(ptr[w] + 1, ptr[w + 1]):
                v = blist[x]
                y = x - 1
                while y >= ptr[w] and offset[uniq[blist[y]]] > offset[uniq[v]]:
                    blist[y + 1] = blist[y]
                    y -= 1
                blist[y + 1] = v
    lo = np.full(nu, -1, dtype=np.int64)
    length = np.zeros(nu, dtype=np.int64)
    flags = np.zeros(nu, dtype=np.int64)
    for i in range(nu):
        k = uniq[i]
        mark[k] = -1
        need = stop[i] if stop[i] >= 0 else INT64_MAX
        if c_pos[k] >= 0 and c_until[k] >= need:
            lo[i] = c_pos[k]
            length[i] = c_len[k]
            flags[i] = c_flags[k]
    return ptr, blist, uniq[:nu].copy(), stop[:nu].copy(), lo, length, flags
