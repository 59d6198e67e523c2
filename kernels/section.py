"""bigWig data sections: the 24-byte section header and the three record layouts.

A data block holds one (rarely several) sections::

    chromId u32 | chromStart u32 | chromEnd u32 | itemStep u32 | itemSpan u32 | type u8 | reserved u8 | itemCount u16

followed by ``itemCount`` records: bedGraph (type 1) ``start u32, end u32, value f32``; varStep (type 2)
``start u32, value f32``; fixedStep (type 3) ``value f32``, record ``i`` covering
``[chromStart + i*itemStep, chromStart + i*itemStep + itemSpan)``.  All fields are in the file's byte order.
"""

from __future__ import annotations

import numpy as np

from ._twin import twin

SECTION_HEADER_SIZE = 24
BEDGRAPH = 1
VARSTEP = 2
FIXEDSTEP = 3
# bytes per record, indexed by section type (0 is unused)
RECORD_SIZE = (0, 12, 8, 4)

# Early exit checks the partly inflated output at most once per this many output bytes (256 measured
# 5% faster than 1024 on the sparse workload: less overshoot past the last needed record; 128 no better).
STOP_CHECK_BYTES = 256


@twin
def rd_u32(buf, i, swap):
    """Unsigned 32-bit field at byte ``i`` of a uint8 array, in the file's byte order.

    Bytes are widened to int64 before shifting: the CUDA simulator runs this source on NumPy
    scalars, where ``uint8 << 24`` would stay uint8 (NumPy 2) and lose the high bytes.
    """
    if swap:
        return ((np.int64(buf[i]) << 24) | (np.int64(buf[i + 1]) << 16) | (np.int64(buf[i + 2]) << 8)
                | np.int64(buf[i + 3]))
    return (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8) | (np.int64(buf[i + 2]) << 16)
            | (np.int64(buf[i + 3]) << 24))


@twin
def rd_u16(buf, i, swap):
    """Unsigned 16-bit field at byte ``i`` of a uint8 array, in the file's byte order (int64)."""
    if swap:
        return (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])
    return np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8)


@twin
def section_should_stop(buf, lo, n, stop_coord, swap):
    """Whether the first ``n`` inflated bytes at ``buf[lo:]`` already hold every record a read needs.

    True once a complete record of the block's first section starts at or after ``stop_coord``
    (records within a section are sorted by start, as the format requires), or once the section's
    ``stop_coord < 0`` never stops early; a complete section is left to finish inflating (the rest is
    the stream trailer or, rarely, another section).
    """
    if stop_coord < 0 or n < SECTION_HEADER_SIZE:
        return False
    kind = buf[lo + 20]
    count = rd_u16(buf, lo + 22, swap)
    if kind == 1:
        size = 12
    elif kind == 2:
        size = 8
    elif kind == 3:
        size = 4
    else:
        return False  # let the decoder report the bad type on the full block
    have = (n - SECTION_HEADER_SIZE) // size
    if have == 0 or have >= count:
        return False
    last = lo + SECTION_HEADER_SIZE + (have - 1) * size
    if kind == 3:
        start = rd_u32(buf, lo + 4, swap) + (have - 1) * rd_u32(buf, lo + 12, swap)
    else:
        start = rd_u32(buf, last, swap)
    return start >= stop_coord
