"""fastwig.load: stored blocks read in spans (one pread over blocks that lie close together in a file)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from edgecases import make_edge_files
from support import bits_equal

import fastwig
from fastwig import load
from fastwig.cache import cache
from fastwig.load import BlockLayout, align4, block_layout, exclusive_cumsum, pack_spans, read_stored

GAP = 100
BASE = 24           # read_stored writes after this many bytes of the target
FILE_BYTES = 1 << 20


@pytest.fixture
def gap(monkeypatch):
    monkeypatch.setattr(load, "READ_GAP_BYTES", GAP)
    monkeypatch.setattr(load, "READ_SPAN_BYTES", FILE_BYTES)
    return GAP


@pytest.fixture(scope="module")
def raw_files(tmp_path_factory):
    """Two files of random bytes (FILE_BYTES each) and their contents."""
    d = tmp_path_factory.mktemp("load")
    rng = np.random.default_rng(11)
    out = []
    for t in range(2):
        data = rng.integers(0, 256, FILE_BYTES, dtype=np.uint8)
        path = d / f"raw{t}.bin"
        path.write_bytes(data.tobytes())
        out.append((path, data))
    return out


def _tracks(paths):
    """What read_stored needs of a reader: its path, and no identity to check (never opened by a reader)."""
    return [SimpleNamespace(path=str(p), _src=SimpleNamespace(ident=None)) for p in paths]


def _layout(track, off, size) -> BlockLayout:
    track, off, size = (np.asarray(a, np.int64) for a in (track, off, size))
    zero = np.zeros(track.size, np.int64)
    return BlockLayout(track, zero, off, size, size, zero, *pack_spans(track, off, size),
                       exclusive_cumsum(align4(size)))


def _reference(track, off, size, gap, span_bytes):
    """``(span, src_lo, packed_bytes)`` by a plain loop over the blocks."""
    span, src_lo, packed, start = [], [], 0, 0
    for i in range(len(off)):
        prev_end = off[i - 1] + size[i - 1] if i else 0
        join = (i > 0 and track[i] == track[i - 1] and 0 <= off[i] - prev_end <= gap
                and off[i] // span_bytes == off[i - 1] // span_bytes)
        if i and not join:
            packed += prev_end - start
        if not join:
            start = off[i]
        span.append(span[-1] + (not join) if i else 0)
        src_lo.append(packed + off[i] - start)
    end = packed + (off[-1] + size[-1] - start if len(off) else 0)
    return np.array(span, np.int64), np.array(src_lo, np.int64), end


def _read(tracks, lay, threads=1):
    """read_stored into a target with guard bytes before and after the packed buffer."""
    target = np.full(BASE + lay.packed_bytes + 64, 0xAB, np.uint8)
    read_stored(tracks, lay, target, BASE, threads)
    assert (target[:BASE] == 0xAB).all() and (target[BASE + lay.packed_bytes:] == 0xAB).all()
    return target[BASE:]


def _check_bytes(lay, packed, datas):
    for i in range(lay.m):
        want = datas[lay.track[i]][lay.file_off[i]:lay.file_off[i] + lay.comp_size[i]]
        assert bits_equal(packed[lay.src_lo[i]:lay.src_lo[i] + lay.comp_size[i]], want), f"block {i}"


# (track, offset, size), and the span each block must fall in with READ_GAP_BYTES = GAP
BLOCKS = [
    (0, 1000, 300, 0),
    (0, 1300, 200, 0),      # adjacent
    (0, 1550, 100, 0),      # a small gap (50)
    (0, 1750, 50, 0),       # a gap of exactly GAP
    (0, 1901, 60, 1),       # a gap of GAP + 1
    (0, 5000, 100, 2),      # a large gap
    (0, 4000, 100, 3),      # backwards
    (0, 4000, 100, 4),      # the same block again
    (0, 4050, 100, 5),      # starts inside the block before
    (0, 4150, 10, 5),       # adjacent
    (1, 4160, 10, 6),       # adjacent in offsets, but another file
    (1, 0, 16, 7),
    (1, 16, 16, 7),
    (1, FILE_BYTES - 1536, 1536, 8),    # ends at the end of the file
]


def test_spans(raw_files, gap):
    track, off, size, want_span = (np.array(c, np.int64) for c in zip(*BLOCKS))
    lay = _layout(track, off, size)
    assert lay.span.tolist() == want_span.tolist()
    span, src_lo, packed_bytes = _reference(track, off, size, gap, FILE_BYTES)
    assert span.tolist() == want_span.tolist()     # the table below, and the plain loop, agree
    assert lay.src_lo.tolist() == src_lo.tolist()
    # spans: [1000, 1800) [1901, 1961) [5000, 5100) [4000, 4100) [4000, 4100) [4050, 4160) | [4160, 4170) [0, 32)
    # [end - 1536, end)
    assert lay.packed_bytes == packed_bytes == 800 + 60 + 100 + 100 + 100 + 110 + 10 + 32 + 1536
    assert lay.src_lo[:5].tolist() == [0, 300, 550, 750, 800]
    first, span_off, length = lay.spans()
    assert first.tolist() == [0, 4, 5, 6, 7, 8, 10, 11, 13]
    assert span_off.tolist() == [1000, 1901, 5000, 4000, 4000, 4050, 4160, 0, FILE_BYTES - 1536]
    assert length.tolist() == [800, 60, 100, 100, 100, 110, 10, 32, 1536]
    packed = _read(_tracks(p for p, _ in raw_files), lay)
    datas = [d for _, d in raw_files]
    _check_bytes(lay, packed, datas)
    for k in range(first.size):     # the gaps are read too: each span as it lies in its file
        lo = lay.src_lo[first[k]]
        assert bits_equal(packed[lo:lo + length[k]], datas[lay.track[first[k]]][span_off[k]:span_off[k] + length[k]])


def test_span_bytes(raw_files, gap, monkeypatch):
    """A run of adjacent blocks is cut where a multiple of READ_SPAN_BYTES falls before a block's start."""
    monkeypatch.setattr(load, "READ_SPAN_BYTES", 1000)
    off = np.arange(500, 4000, 300)          # 500, 800 | 1100, 1400, 1700 | 2000, 2300, 2600, 2900 | ...
    lay = _layout(np.zeros(off.size), off, np.full(off.size, 300))
    assert lay.span.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    assert lay.packed_bytes == 300 * off.size
    _check_bytes(lay, _read(_tracks([raw_files[0][0]]), lay), [raw_files[0][1]])


def test_take(raw_files, gap):
    track, off, size, _ = (np.array(c, np.int64) for c in zip(*BLOCKS))
    lay = _layout(track, off, size)
    tracks, datas = _tracks(p for p, _ in raw_files), [d for _, d in raw_files]
    for a, b in [(0, 14), (1, 4), (3, 12), (9, 11), (13, 14), (5, 5)]:
        part = lay.take(slice(a, b))
        want = _layout(track[a:b], off[a:b], size[a:b])
        for name in ("track", "file_off", "comp_size", "span", "src_lo", "dst_lo"):
            assert getattr(part, name).tolist() == getattr(want, name).tolist(), (a, b, name)
        assert part.packed_bytes == want.packed_bytes
        _check_bytes(part, _read(tracks, part), datas)


@pytest.mark.parametrize("gap_bytes, span_bytes", [(-1, FILE_BYTES), (0, FILE_BYTES), (64, FILE_BYTES),
                                                    (4096, FILE_BYTES), (4096, 1000), (64, 1 << 16)])
def test_random_layouts(raw_files, monkeypatch, gap_bytes, span_bytes):
    """Blocks mostly in file order, some out of it and repeated, over two files; read on 3 threads."""
    monkeypatch.setattr(load, "READ_GAP_BYTES", gap_bytes)
    monkeypatch.setattr(load, "READ_SPAN_BYTES", span_bytes)
    rng = np.random.default_rng(gap_bytes + 2)
    tracks, datas = _tracks(p for p, _ in raw_files), [d for _, d in raw_files]
    for _ in range(5):
        n = [int(rng.integers(0, 300)) for _ in range(2)]
        track = np.repeat(np.arange(2), n)
        size = rng.integers(1, 200, track.size)
        off = np.cumsum(size + rng.choice([0, 0, 0, 10, 63, 64, 65, 500, 5000], track.size)) - size
        for t in range(2):
            m = track == t
            off[m] -= off[m][0] if m.any() else 0
            swap = rng.random(m.sum()) < 0.1                    # out of order, and repeated
            off[np.flatnonzero(m)[swap]] = rng.choice(off[m], swap.sum())
        off = np.minimum(off, datas[0].size - size)
        lay = _layout(track, off, size)
        span, src_lo, packed_bytes = _reference(track, off, size, gap_bytes, span_bytes)
        assert lay.span.tolist() == span.tolist() and lay.src_lo.tolist() == src_lo.tolist()
        assert lay.packed_bytes == packed_bytes
        _check_bytes(lay, _read(tracks, lay, threads=3), datas)


@pytest.mark.parametrize("cut, bad", [
    (2100, 2),      # inside the last block
    (1700, 1),      # inside the second block: it and the third are lost, the first was read whole
    (2050, 2),      # inside the gap before the third block
    (1500, 1),      # at the end of the first block
    (900, 0),       # before the span
])
def test_short_span(raw_files, tmp_path, gap, cut, bad):
    path = tmp_path / "cut.bin"
    path.write_bytes(raw_files[0][1][:cut].tobytes())
    lay = _layout([0, 0, 0], [1000, 1000 + 500, 1500 + 500 + 90], [500, 500, 500])
    assert lay.span.tolist() == [0, 0, 0]
    off, size = int(lay.file_off[bad]), int(lay.comp_size[bad])
    with pytest.raises(fastwig.FormatError, match=rf"cut\.bin: data block at offset {off} \({size} bytes\) "
                                                  "could not be read"):
        read_stored(_tracks([path]), lay, np.zeros(BASE + lay.packed_bytes, np.uint8), BASE, 1)
    path.write_bytes(raw_files[0][1][:2590].tobytes())         # the span's last byte: all read
    _check_bytes(lay, _read(_tracks([path]), lay), [raw_files[0][1]])


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory):
    return make_edge_files(tmp_path_factory.mktemp("load_edge"))


def test_block_layout(edge_files):
    """Real blocks: every leaf in file order, then a shuffled sample with repeats, of two files."""
    bws = [fastwig.open(edge_files[name][0]) for name in ("deep_rtree", "big_endian_uncompressed")]
    datas = [np.fromfile(bw.path, np.uint8) for bw in bws]
    rng = np.random.default_rng(3)
    for sample in (False, True):
        leaves = [np.arange(bw._index.offset.size) for bw in bws]
        if sample:
            leaves = [rng.choice(lv, lv.size) for lv in leaves]
        track = np.repeat(np.arange(2), [lv.size for lv in leaves])
        lay = block_layout(bws, track, np.concatenate(leaves))
        span, src_lo, packed_bytes = _reference(track, lay.file_off, lay.comp_size, load.READ_GAP_BYTES,
                                                load.READ_SPAN_BYTES)
        assert lay.span.tolist() == span.tolist() and lay.src_lo.tolist() == src_lo.tolist()
        assert lay.packed_bytes == packed_bytes
        if not sample:      # written one after another: one read a file
            assert lay.spans()[0].size == 2
        _check_bytes(lay, _read(bws, lay, threads=2), datas)


@pytest.mark.parametrize("gap_bytes", [-1, 0, 1 << 20])
def test_read_windows_any_gap(edge_files, monkeypatch, gap_bytes):
    """Results do not depend on how the blocks are grouped into reads."""
    names = ("deep_rtree", "single_record_blocks", "uncompressed", "sections_out_of_order")
    bws = [fastwig.open(edge_files[name][0]) for name in names]
    starts = np.arange(-30, 7300, 97, dtype=np.int64)
    cache.clear()
    want = fastwig.read_windows(bws, "chr1", starts, 200, threads=2)
    monkeypatch.setattr(load, "READ_GAP_BYTES", gap_bytes)
    cache.clear()
    assert bits_equal(fastwig.read_windows(bws, "chr1", starts, 200, threads=2), want)


@pytest.mark.gpu
def test_gpu_reads_spans_with_gaps(read_twins, edge_files, monkeypatch):
    """The CUDA executor copies the packed buffer, gaps and all, and finds each block at its src_lo."""
    from fastwig.backend import cuda as cuda_backend

    gaps = []

    def spy(bws, lay, *args):
        gaps.append(lay.packed_bytes - int(lay.comp_size.sum()))
        return read_stored(bws, lay, *args)

    monkeypatch.setattr(cuda_backend, "read_stored", spy)
    monkeypatch.setattr(load, "READ_GAP_BYTES", 1 << 20)
    bws = [fastwig.open(edge_files[name][0]) for name in ("deep_rtree", "uncompressed")]
    read_twins("spans with gaps", bws, "chr1", np.arange(0, 7300, 700), 40)
    assert gaps and gaps[0] > 0
