"""A slow, obvious reference of UCSC's zoom-level summary (kent ``bbiRead.c``), for tests.

Written from the algorithm's description, in plain Python over the zoom records of one chromosome in
file order: bins cut with integer arithmetic (``start + width * (i + 1) // bins``), records walked as
a list (skip those ending at or before the bin, stop at the first starting at or after its end), each
record weighted by the fraction of it inside the bin, the weighted base count ``C`` rounded up to
``n = ceil(C)`` and the sums scaled by ``n / C``, then mean = sum / n, coverage = n * bins / width and
std = sqrt((sumSq - sum**2 / n) / (n - 1)) (no division when n == 1; NaN for a negative variance).
"""

from __future__ import annotations

import math


def ucsc_zoom_summary(zs, ze, cnt, mn, mx, sm, sq, start: int, end: int, bins: int, stat: str) -> list[float]:
    """One float per bin (NaN without data) of ``stat`` over ``[start, end)`` from zoom records."""
    recs = [(int(zs[k]), int(ze[k]), int(cnt[k]), float(mn[k]), float(mx[k]), float(sm[k]), float(sq[k]))
            for k in range(len(zs)) if max(int(zs[k]), start) < min(int(ze[k]), end)]
    width = end - start
    out = [math.nan] * bins
    first = 0
    bin_start = start
    for i in range(bins):
        bin_end = start + width * (i + 1) // bins
        while first < len(recs) and recs[first][1] <= bin_start:
            first += 1
        if first < len(recs):
            count = total = squares = 0.0
            lo, hi = recs[first][3], recs[first][4]
            j = first
            while j < len(recs) and recs[j][0] < bin_end:
                s, e, c, rmin, rmax, rsum, rsq = recs[j]
                overlap = min(bin_end, e) - max(bin_start, s)
                if overlap > 0:
                    f = overlap / (e - s)
                    count += c * f
                    total += rsum * f
                    squares += rsq * f
                    hi = max(hi, rmax)
                    lo = min(lo, rmin)
                j += 1
            if count > 0:
                n = math.ceil(count)
                norm = n / count
                total *= norm
                squares *= norm
                if stat == "mean":
                    out[i] = total / n
                elif stat == "sum":
                    out[i] = total
                elif stat == "min":
                    out[i] = lo
                elif stat == "max":
                    out[i] = hi
                elif stat == "coverage":
                    out[i] = bins / width * n
                else:
                    var = squares - total * total / n
                    if n > 1:
                        var /= n - 1
                    out[i] = math.sqrt(var) if var >= 0 else math.nan
        bin_start = bin_end
    return out
