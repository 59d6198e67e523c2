"""Malformed input: every failure is a FastwigError naming the file, never a crash or a foreign error."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import fastwig
from support import SHARED_REASON, real_bigwigs

FILES = {p.name: p for p in real_bigwigs()}


def small_real(name="test.bw"):
    if name not in FILES:
        pytest.skip(SHARED_REASON)
    return FILES[name]


def read_everything(path):
    """Open and read every chromosome through each public path; returns True if it all worked."""
    with fastwig.open(path) as bw:
        for chrom, size in bw.chroms.items():
            bw.values(chrom, 0, min(size, 2_000_000))
            bw.intervals(chrom)
            bw.stats(chrom, 0, size, exact=True)
            bw.stats(chrom, 0, size)
            fastwig.read_windows([bw], chrom, np.array([0, max(0, size - 500)]), 1000)
    return True


def expect_clean_failure(path):
    try:
        read_everything(path)
    except fastwig.FastwigError as exc:
        assert str(path) in str(exc), f"message does not name the file: {exc}"


def test_empty_file(tmp_path):
    p = tmp_path / "empty.bw"
    p.write_bytes(b"")
    with pytest.raises(fastwig.FormatError, match="too small"):
        fastwig.open(p)


def test_text_file(tmp_path):
    p = tmp_path / "notes.bw"
    p.write_text("track type=bedGraph\nchr1\t0\t100\t1.0\n" * 10)
    with pytest.raises(fastwig.FormatError, match="not a bigWig"):
        fastwig.open(p)


def test_missing_file(tmp_path):
    with pytest.raises(fastwig.FastwigError, match="cannot open"):
        fastwig.open(tmp_path / "nope.bw")


def test_every_truncation(tmp_path):
    src = small_real().read_bytes()
    lengths = sorted(set(list(range(0, 200)) + list(range(200, len(src), 97)) + [len(src) - 1]))
    for n in lengths:
        p = tmp_path / f"cut{n}.bw"
        p.write_bytes(src[:n])
        expect_clean_failure(p)


def test_flipped_bytes(tmp_path):
    src = bytearray(small_real().read_bytes())
    rng = np.random.default_rng(7)
    for k in range(150):
        data = bytearray(src)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[pos] ^= 1 << int(rng.integers(0, 8))
        p = tmp_path / f"flip{k}.bw"
        p.write_bytes(bytes(data))
        expect_clean_failure(p)


def _leaf_items(raw: bytes):
    """(position of the first R-tree leaf item, count) in a little-endian single-level R-tree file."""
    index_offset = struct.unpack_from("<Q", raw, 24)[0]
    node = index_offset + 48
    is_leaf, _, count = struct.unpack_from("<BBH", raw, node)
    assert is_leaf
    return node + 4, count


def test_offsets_outside_file(tmp_path):
    raw = bytearray(small_real().read_bytes())
    item, _ = _leaf_items(raw)
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, item + 16, len(raw) + 1000)   # dataOffset past the end
    p = tmp_path / "offset.bw"
    p.write_bytes(bytes(bad))
    with pytest.raises(fastwig.FormatError, match="outside the file"):
        fastwig.open(p)
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, item + 24, 1 << 62)            # dataSize absurd
    p.write_bytes(bytes(bad))
    with pytest.raises(fastwig.FormatError):
        fastwig.open(p)


def test_block_inflates_past_uncompress_buf_size(tmp_path):
    raw = bytearray(small_real().read_bytes())
    struct.pack_into("<I", raw, 52, 64)                        # uncompressBufSize far too small
    p = tmp_path / "bomb.bw"
    p.write_bytes(bytes(raw))
    with fastwig.open(p) as bw:
        chrom = next(iter(bw.chroms))
        with pytest.raises(fastwig.FormatError, match="uncompressBufSize"):
            bw.values(chrom, 0, bw.chroms[chrom])


def test_zip_bomb_block(tmp_path):
    """A block replaced by a stream that inflates to 64 MiB of zeros is refused, not expanded."""
    raw = bytearray(small_real().read_bytes())
    item, _ = _leaf_items(raw)
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    offset = len(raw)
    raw += bomb
    struct.pack_into("<QQ", raw, item + 16, offset, len(bomb))
    p = tmp_path / "zipbomb.bw"
    p.write_bytes(bytes(raw))
    with fastwig.open(p) as bw:
        chrom = next(iter(bw.chroms))
        with pytest.raises(fastwig.FormatError, match=str(p.name)):
            bw.values(chrom, 0, bw.chroms[chrom])


def test_bigbed_magic(tmp_path):
    raw = bytearray(small_real().read_bytes())
    struct.pack_into("<I", raw, 0, 0x8789F2EB)
    p = tmp_path / "renamed.bw"
    p.write_bytes(bytes(raw))
    with pytest.raises(fastwig.FormatError, match="bigBed"):
        fastwig.BigWig(p)           # fastwig.open(p) opens it as a BigBed


def test_bad_arguments():
    bw = fastwig.open(small_real())
    chrom = next(iter(bw.chroms))
    with pytest.raises(KeyError):
        bw.values("no-such-chrom", 0, 10)
    with pytest.raises(fastwig.ChromNotFound):
        bw.values("no-such-chrom", 0, 10)
    with pytest.raises(ValueError):
        bw.values(chrom, 10, 5)
    with pytest.raises(fastwig.RangeError):
        bw.values(chrom, 0, bw.chroms[chrom] + 1)
    with pytest.raises(fastwig.RangeError):
        bw.stats(chrom, 0, 10, stat="median")
    with pytest.raises(fastwig.RangeError):
        fastwig.read_windows([bw], chrom, [0], 1000, bin_size=3)
    with pytest.raises(fastwig.RangeError):
        fastwig.read_windows([bw], [chrom, chrom], [0], 100)
    bw.close()
    with pytest.raises(fastwig.FastwigError, match="closed"):
        bw.values(chrom, 0, 10)


# ---- libBigWig's file with chromosomes and no data (fullIndexOffset = 0) --------------------------
def _pybigwig_empty(path, chroms):
    pyBigWig = pytest.importorskip("pyBigWig")
    out = pyBigWig.open(str(path), "w")
    out.addHeader(list(chroms))
    out.close()                                   # no records: libBigWig writes fullIndexOffset = 0


def test_libbigwig_empty_file_reads_as_chromosomes_without_data(tmp_path):
    """pyBigWig's own test doWriteEmpty: chromosomes listed, no intervals, NaN values and stats."""
    p = tmp_path / "empty.bw"
    chroms = [("chr1", 1_000_000), ("chr2", 1_500)]
    _pybigwig_empty(p, chroms)
    assert struct.unpack_from("<Q", p.read_bytes(), 24)[0] == 0      # the header's fullIndexOffset
    with fastwig.open(p) as bw:
        assert bw.chroms == dict(chroms)
        assert bw.header.fullIndexOffset == 0
        assert bw.summary.bases_covered == 0 and np.isnan(bw.summary.min) and np.isnan(bw.summary.max)
        for chrom, size in chroms:
            assert np.isnan(bw.values(chrom, 0, size)).all()
            s, e, v = bw.intervals(chrom)
            assert s.size == e.size == v.size == 0
            for stat in ("mean", "min", "max", "sum", "coverage", "std"):
                for exact in (False, True):
                    got = bw.stats(chrom, 0, size, stat=stat, bins=3, exact=exact)
                    assert got.shape == (3,) and np.isnan(got).all(), (chrom, stat, exact, got)
        rows = fastwig.read_windows([bw, bw], ["chr1", "chr2"], [10, 1_000], 400, missing=-2.0)
        assert rows.shape == (2, 2, 400) and (rows == -2.0).all()
        binned = fastwig.read_windows([bw], "chr1", [0, 5_000], 400, bin_size=100, stat="max", missing=-3.0)
        assert binned.shape == (2, 1, 4) and (binned == -3.0).all()


def test_zero_chrom_tree_offset_stays_an_error(tmp_path):
    """Only fullIndexOffset = 0 means "no data"; a zero offset of the chromosome tree is corruption."""
    p = tmp_path / "empty.bw"
    _pybigwig_empty(p, [("chr1", 1_000)])
    raw = bytearray(p.read_bytes())
    struct.pack_into("<Q", raw, 8, 0)                                 # chromTreeOffset
    p.write_bytes(bytes(raw))
    with pytest.raises(fastwig.FormatError, match="chromTreeOffset"):
        fastwig.open(p)


def test_directory_is_named_as_such(tmp_path):
    with pytest.raises(fastwig.FastwigError, match="is a directory"):
        fastwig.open(tmp_path)


def test_window_wider_than_any_chromosome_says_how_large_the_output_would_be():
    with fastwig.open(small_real()) as bw:
        chrom = next(iter(bw.chroms))
        with pytest.raises(fastwig.RangeError, match=r"GiB") as info:
            fastwig.read_windows([bw], chrom, [0, 5], 10**12)
        assert "(2, 1, 1000000000000)" in str(info.value)


def test_bytes_chromosome_names_are_decoded():
    with fastwig.open(small_real()) as bw:
        chrom = next(iter(bw.chroms))
        ref = fastwig.read_windows([bw], chrom, [0, 50], 100)
        for names in (chrom.encode(), [chrom.encode()] * 2, np.array([chrom.encode()] * 2)):
            assert np.array_equal(fastwig.read_windows([bw], names, [0, 50], 100), ref)


def test_zero_index_offset_with_data_blocks_stays_an_error(tmp_path):
    """fullIndexOffset = 0 means "no data" only where the data section counts no blocks."""
    raw = bytearray(small_real().read_bytes())
    struct.pack_into("<Q", raw, 24, 0)
    path = tmp_path / "noindex.bw"
    path.write_bytes(bytes(raw))
    with pytest.raises(fastwig.FormatError, match="fullIndexOffset"):
        fastwig.open(path)
