"""The inflate kernel (kernels/inflate.py) against Python's zlib, bit for bit.

One shared edge table (:func:`edge_table`, also used by ``test_inflate_cudasim.py``) covers every deflate
block type, all zlib levels and strategies, handcrafted streams zlib never writes (32 KiB distances, a
65535-byte stored block, one-code Huffman tables, reserved symbols) and corrupt streams.  Outputs are
packed with gaps of sentinel bytes, so a write outside an item's range shows up.  Reads outside the
stream are caught by running the per-item function as plain Python on arrays cut to the exact size
(:func:`pure_item`: what the CUDA simulator runs), where any stray index raises.

The CPU twin is exercised through ``load_batch_cpu`` only (the CPU twin of the GPU inflate kernel):
each direct entry point costs numba a separate (slow) compile of the whole inlined algorithm.
"""

from __future__ import annotations

import importlib
import struct
import types
import zlib

import numpy as np
import pytest
from fastwig.kernels import inflate as K
from fastwig.kernels import status as S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import BIGWIG_DIR, SHARED_REASON

SENTINEL = 0xAB
GAP = 7

# --- packing and running ---------------------------------------------------------------------------


def inflate_many(streams, caps, stops=None, swap=False, check_gaps=True):
    """Inflate ``streams`` (bytes) with one ``load_batch_cpu`` call.

    Returns ``(status int64 array, list of output bytes)``; an output is ``dst[lo:lo + status]`` (empty
    for an error).  The ``status.EARLY_STOP`` flag is taken off the returned counts.  Asserts that no byte outside the items' output ranges changed.
    """
    m = len(streams)
    src_len = np.array([len(s) for s in streams], np.int64)
    src_off = np.concatenate(([0], np.cumsum(src_len)[:-1])).astype(np.int64)
    src = np.frombuffer(b"".join(streams) + b"\0", np.uint8).copy()
    cap = np.asarray(caps, np.int64)
    dst_off = np.concatenate(([GAP], GAP + np.cumsum(cap + GAP)[:-1])).astype(np.int64)
    dst = np.full(int(dst_off[-1] + cap[-1] + GAP) if m else GAP, SENTINEL, np.uint8)
    stop = np.full(m, -1, np.int64) if stops is None else np.asarray(stops, np.int64)
    status = np.zeros(m, np.int64)
    mode = np.full(m, K.MODE_SWAP if swap else 0, np.int64)
    K.load_batch_cpu(src, src_off, src_off + src_len, dst, dst_off, dst_off + cap, stop, mode, status, 0, m)
    if check_gaps and m:
        inside = np.zeros(dst.size, bool)
        for lo, c in zip(dst_off, cap):
            inside[lo:lo + c] = True
        assert (dst[~inside] == SENTINEL).all(), "a write outside an item's output range"
    # an early exit is flagged in the result; the flag is set exactly when the output was cut short
    early = status >= S.EARLY_STOP
    status = np.where(early, status & (S.EARLY_STOP - 1), status)
    assert not (early & (stop < 0)).any(), "EARLY_STOP without a stop coordinate"
    outs = [bytes(dst[lo:lo + max(int(n), 0)]) for lo, n in zip(dst_off, status)]
    return status, outs


def inflate_one(stream, cap, stop=-1, swap=False):
    status, outs = inflate_many([stream], [cap], [stop], swap)
    return int(status[0]), outs[0]


_PURE = {}


def pure_item():
    """``inflate_item`` as plain Python, every twin it calls plain too (the CUDA simulator's semantics)."""
    if "item" in _PURE:
        return _PURE["item"]
    twin_mod = importlib.import_module(K.__name__.rsplit(".", 1)[0] + "._twin")

    def plain(cpu_twin):
        key = cpu_twin.__twin_key__
        if key not in _PURE:
            fn = twin_mod._PLAIN[key]
            g = dict(fn.__globals__)
            for name in fn.__code__.co_names:
                if getattr(g.get(name), "__twin_key__", None) is not None:
                    g[name] = plain(g[name])
            _PURE[key] = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
        return _PURE[key]

    _PURE["item"] = plain(K.inflate_item)
    return _PURE["item"]


def inflate_pure(stream, cap, stop=-1, swap=False):
    """Run the plain-Python item on arrays of exactly the stream's and the output's size."""
    src = np.frombuffer(stream, np.uint8).copy()
    dst = np.zeros(cap, np.uint8)
    work = np.zeros(K.INFLATE_WORK_SIZE, np.int32)
    n = int(pure_item()(src, 0, src.size, dst, 0, cap, stop, swap, work))
    if n >= S.EARLY_STOP:
        n &= S.EARLY_STOP - 1
    return n, bytes(dst[:max(n, 0)])


def zlib_ref(stream, cap):
    """zlib's verdict: the output, or None when zlib refuses the stream or it does not fit ``cap``."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(stream, cap + 1)
        if not d.eof or len(out) > cap:
            return None
    except zlib.error:
        return None
    return out


def compress(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=15):
    c = zlib.compressobj(level, zlib.DEFLATED, wbits, 9, strategy)
    return c.compress(data) + c.flush()


# --- handcrafted deflate streams -------------------------------------------------------------------


class Bits:
    """Deflate bit writer: fields LSB first, Huffman codes MSB first."""

    def __init__(self):
        self.bits = []

    def put(self, value, n):
        self.bits += [(value >> i) & 1 for i in range(n)]
        return self

    def code(self, code, n):
        self.bits += [(code >> i) & 1 for i in reversed(range(n))]
        return self

    def align(self):
        self.bits += [0] * (-len(self.bits) % 8)
        return self

    def raw(self, data):
        self.align()
        for b in data:
            self.put(b, 8)
        return self

    def tobytes(self):
        self.align()
        bits = np.array(self.bits, np.uint8).reshape(-1, 8)
        return bytes((bits << np.arange(8, dtype=np.uint8)).sum(axis=1).astype(np.uint8))


def fixed_sym(w, sym):
    if sym < 144:
        w.code(0x30 + sym, 8)
    elif sym < 256:
        w.code(0x190 + sym - 144, 9)
    elif sym < 280:
        w.code(sym - 256, 7)
    else:
        w.code(0xC0 + sym - 280, 8)


LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
            163, 195, 227, 258]
LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
             3073, 4097, 6145, 8193, 12289, 16385, 24577]
DIST_EXTRA = [0, 0, 0, 0] + [i // 2 for i in range(2, 28)]


def fixed_match(w, length, dist):
    c = max(i for i in range(29) if LEN_BASE[i] <= length)
    fixed_sym(w, 257 + c)
    w.put(length - LEN_BASE[c], LEN_EXTRA[c])
    d = max(i for i in range(30) if DIST_BASE[i] <= dist)
    w.code(d, 5)
    w.put(dist - DIST_BASE[d], DIST_EXTRA[d])


def zwrap(deflate_bytes, data):
    """A zlib stream around raw deflate bytes whose output is ``data``."""
    return b"\x78\x01" + deflate_bytes + struct.pack(">I", zlib.adler32(data))


def crafted():
    """(label, zlib stream, expected output or None for 'must fail', expected status or None)."""
    rng = np.random.default_rng(3)
    rows = []
    # a match 32768 bytes back (zlib itself never reaches further than 32506)
    r = rng.integers(0, 256, 32768, dtype=np.uint8).tobytes()
    w = Bits().put(0, 1).put(0, 2).raw(struct.pack("<HH", 32768, 32768 ^ 0xFFFF) + r)
    w.put(1, 1).put(1, 2)
    fixed_match(w, 258, 32768)
    fixed_match(w, 3, 32768)
    fixed_sym(w, 256)
    data = r + r[:258] + r[258:261]
    rows.append(("distance 32768", zwrap(w.tobytes(), data), data, None))
    # one stored block of 65535 bytes, then an empty final stored block
    big = rng.integers(0, 256, 65535, dtype=np.uint8).tobytes()
    w = Bits().put(0, 1).put(0, 2).raw(struct.pack("<HH", 65535, 0) + big)
    w.put(1, 1).put(0, 2).raw(struct.pack("<HH", 0, 0xFFFF))
    rows.append(("stored 65535 + empty stored", zwrap(w.tobytes(), big), big, None))
    # fixed block, run-length match (distance 1) of the maximum length
    w = Bits().put(1, 1).put(1, 2)
    fixed_sym(w, ord("z"))
    fixed_match(w, 258, 1)
    fixed_sym(w, 256)
    rows.append(("fixed distance 1 length 258", zwrap(w.tobytes(), b"z" * 259), b"z" * 259, None))
    # an empty fixed block, then a final fixed block with every literal value
    w = Bits().put(0, 1).put(1, 2)
    fixed_sym(w, 256)
    w.put(1, 1).put(1, 2)
    for b in range(256):
        fixed_sym(w, b)
    fixed_sym(w, 256)
    rows.append(("fixed every literal", zwrap(w.tobytes(), bytes(range(256))), bytes(range(256)), None))
    # dynamic block whose literal/length code has one 1-bit code (end of block) and no distance code:
    # incomplete codes that zlib accepts.  Code-length code: 18 -> '0', 0 -> '10', 1 -> '11'.
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(18 - 4, 4)
    order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1]
    clen = {18: 1, 0: 2, 1: 2}
    for s in order:
        w.put(clen.get(s, 0), 3)
    w.code(0, 1).put(138 - 11, 7)        # 138 zeros
    w.code(0, 1).put(118 - 11, 7)        # 118 zeros: symbols 0-255 have no code
    w.code(0b11, 2)                      # symbol 256: length 1
    w.code(0b10, 2)                      # the one distance length: 0
    w.code(0, 1)                         # end of block
    rows.append(("dynamic one-code tables", zwrap(w.tobytes(), b""), b"", None))
    # errors zlib also refuses
    w = Bits().put(1, 1).put(1, 2)
    fixed_sym(w, ord("a"))
    fixed_match(w, 3, 2)
    fixed_sym(w, 256)
    rows.append(("distance past the start", zwrap(w.tobytes(), b"aaaa"), None, S.ERR_DISTANCE))
    for sym in (286, 287):
        w = Bits().put(1, 1).put(1, 2)
        fixed_sym(w, ord("a"))
        fixed_sym(w, sym)
        rows.append((f"literal/length symbol {sym}", zwrap(w.tobytes(), b"a"), None, S.ERR_DISTANCE))
    for d in (30, 31):
        w = Bits().put(1, 1).put(1, 2)
        fixed_sym(w, ord("a"))
        fixed_sym(w, 257)
        w.code(d, 5)
        rows.append((f"distance symbol {d}", zwrap(w.tobytes(), b"a"), None, S.ERR_DISTANCE))
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(15, 4)
    for _ in range(19):
        w.put(1, 3)
    rows.append(("over-subscribed code-length code", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    # code-length code: 0 -> '0', 16 -> '1'; the first length is a repeat of nothing
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(0, 4).put(1, 3).put(0, 3).put(0, 3).put(1, 3)
    w.code(1, 1).put(0, 2)
    rows.append(("repeat with no previous length", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    # code-length code: 0 -> '0', 18 -> '1'; all 258 lengths zero: no end-of-block code
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(0, 4).put(0, 3).put(0, 3).put(1, 3).put(1, 3)
    w.code(1, 1).put(138 - 11, 7).code(1, 1).put(120 - 11, 7)
    rows.append(("no end-of-block code", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    # repeat running past the last length
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(0, 4).put(0, 3).put(0, 3).put(1, 3).put(1, 3)
    w.code(1, 1).put(138 - 11, 7).code(1, 1).put(138 - 11, 7)
    rows.append(("repeat past the end", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    w = Bits().put(1, 1).put(2, 2).put(31, 5).put(0, 5).put(0, 4)
    rows.append(("HLIT 288", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    w = Bits().put(1, 1).put(2, 2).put(0, 5).put(31, 5).put(0, 4)
    rows.append(("HDIST 32", zwrap(w.tobytes(), b""), None, S.ERR_HUFFMAN))
    rows.append(("block type 3", zwrap(Bits().put(1, 1).put(3, 2).tobytes() + b"\0" * 4, b""), None,
                 S.ERR_BLOCK_TYPE))
    rows.append(("stored LEN != ~NLEN", zwrap(Bits().put(1, 1).put(0, 2).raw(b"\x05\x00\x00\x00hello").tobytes(),
                                              b"hello"), None, S.ERR_STORED_LEN))
    return rows


def edge_table(small=False):
    """The shared edge table: (label, zlib stream, output capacity) rows.

    ``small`` keeps the rows cheap enough for the CUDA simulator (a few KB each).
    """
    rng = np.random.default_rng(7)
    n = 600 if small else 6000
    text = (b"fastwig reads bigWig blocks for deep learning; chr1\t1000\t1012\t0.5\n" * (n // 40 + 1))[:n]
    noise = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    reps = b"A" * (n * 3) + b"AC" * n
    counts = rng.choice(np.frombuffer(b"aaaaaaaabbbbccd\0", np.uint8), n).tobytes()
    section = bedgraph_section(np.arange(n // 12) * 25, np.arange(n // 12) * 25 + 10)
    rows = []
    for label, data in (("empty", b""), ("text", text), ("noise", noise), ("repetitive", reps),
                        ("skewed", counts), ("bedGraph", section)):
        levels = (0, 1, 6, 9) if small else range(10)
        for level in levels:
            rows.append((f"{label} level {level}", compress(data, level), len(data)))
        for name, strategy in (("huffman only", zlib.Z_HUFFMAN_ONLY), ("rle", zlib.Z_RLE),
                               ("fixed", zlib.Z_FIXED), ("filtered", zlib.Z_FILTERED)):
            rows.append((f"{label} {name}", compress(data, 6, strategy), len(data)))
    for b in (0, 0x41, 0xFF):
        for level in (0, 1, 9):
            rows.append((f"1 byte {b:#x} level {level}", compress(bytes([b]), level), 1))
        rows.append((f"1 byte {b:#x} fixed", compress(bytes([b]), 6, zlib.Z_FIXED), 1))
    rows.append(("window 2^9", compress(text, 9, wbits=9), len(text)))
    # several deflate blocks: full and sync flushes (a sync flush writes an empty stored block)
    c = zlib.compressobj(6)
    multi = (c.compress(text[: n // 3]) + c.flush(zlib.Z_FULL_FLUSH) + c.compress(noise[: n // 3])
             + c.flush(zlib.Z_SYNC_FLUSH) + c.compress(reps[: n // 3]) + c.flush())
    rows.append(("flushed blocks", multi, n))
    if not small:
        big = (text + noise + reps) * 4      # long enough for zlib to start new dynamic blocks
        rows.append(("many dynamic blocks", compress(big, 6), len(big)))
        rows.append(("many fixed blocks", compress(big, 6, zlib.Z_FIXED), len(big)))
    for label, stream, out, _ in crafted():
        if small and len(stream) > 4000:
            continue
        rows.append((f"crafted: {label}", stream, len(out) if out is not None else 64))
    # corrupt streams
    good = compress(text, 6)
    rows.append(("bad CM", bytes([0x77]) + good[1:], len(text)))
    rows.append(("bad FCHECK", bytes([0x78, 0x9D]) + good[2:], len(text)))
    rows.append(("CINFO 8", bytes([0x88, 0x1D]) + good[2:], len(text)))
    rows.append(("preset dictionary", bytes([0x78, 0xBB]) + good[2:], len(text)))
    rows.append(("truncated", good[: len(good) // 2], len(text)))
    rows.append(("no trailer", good[:-4], len(text)))
    rows.append(("bad Adler-32", good[:-1] + bytes([good[-1] ^ 1]), len(text)))
    rows.append(("output 1 byte short", good, len(text) - 1))
    rows.append(("output 0 bytes", good, 0))
    rows.append(("empty input", b"", 10))
    rows.append(("header only", good[:2], 10))
    return rows


def bedgraph_section(starts, ends, big_endian=False, chrom=0):
    """Bytes of one bedGraph data section (24-byte header + 12-byte records)."""
    bo = ">" if big_endian else "<"
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    head = struct.pack(bo + "IIIIIBBH", chrom, int(starts[0]) if starts.size else 0,
                       int(ends[-1]) if ends.size else 0, 0, 0, 1, 0, starts.size)
    recs = np.zeros(starts.size, [("s", bo + "u4"), ("e", bo + "u4"), ("v", bo + "f4")])
    recs["s"], recs["e"] = starts, ends
    recs["v"] = np.arange(starts.size, dtype=np.float32) * 0.25
    return head + recs.tobytes()


# --- the edge table against zlib -------------------------------------------------------------------


def test_edge_table_matches_zlib():
    rows = edge_table()
    status, outs = inflate_many([r[1] for r in rows], [r[2] for r in rows])
    for (label, stream, cap), n, out in zip(rows, status, outs):
        ref = zlib_ref(stream, cap)
        if ref is None:
            assert n < 0, (label, n)
        else:
            assert n == len(ref) and out == ref, (label, n, len(ref))
    assert (status >= 0).sum() >= 60


def test_edge_table_status_codes():
    rows = {r[0]: r for r in edge_table()}
    expect = {"bad CM": S.ERR_ZLIB_HEADER, "bad FCHECK": S.ERR_ZLIB_HEADER, "CINFO 8": S.ERR_ZLIB_HEADER,
              "preset dictionary": S.ERR_ZLIB_HEADER, "truncated": S.ERR_INPUT_END,
              "no trailer": S.ERR_INPUT_END, "bad Adler-32": S.ERR_ADLER,
              "output 1 byte short": S.ERR_OUTPUT_FULL, "output 0 bytes": S.ERR_OUTPUT_FULL,
              "empty input": S.ERR_INPUT_END, "header only": S.ERR_INPUT_END}
    labels = list(expect)
    status, _ = inflate_many([rows[k][1] for k in labels], [rows[k][2] for k in labels])
    assert dict(zip(labels, status.tolist())) == expect


def test_crafted_streams():
    rows = crafted()
    status, outs = inflate_many([r[1] for r in rows], [len(r[2]) if r[2] is not None else 64 for r in rows])
    for (label, stream, want, code), n, out in zip(rows, status, outs):
        ref = zlib_ref(stream, len(want) if want is not None else 64)
        assert (ref is None) == (want is None), (label, "zlib disagrees with the test's expectation")
        if want is None:
            assert n == code, (label, n, code)
        else:
            assert n == len(want) and out == want, (label, n)


def test_every_output_capacity_below_the_size_is_output_full():
    data = (b"0123456789abcdef" * 20) + bytes(range(40))
    for stream in (compress(data, 0), compress(data, 6), compress(data, 6, zlib.Z_FIXED)):
        caps = list(range(len(data)))
        status, _ = inflate_many([stream] * len(caps), caps)
        assert (status == S.ERR_OUTPUT_FULL).all(), status
        assert inflate_one(stream, len(data) + 5) == (len(data), data)


# --- truncation, byte flips, hostile bytes ---------------------------------------------------------


def _small_streams():
    text = b"chr1\t100\t200\t1.5\nchr1\t200\t300\t2.5\n" * 6
    return [compress(text, 0), compress(text, 6, zlib.Z_FIXED), compress(text, 9),
            compress(bedgraph_section(np.arange(20) * 7, np.arange(20) * 7 + 3), 6)]


def test_every_truncation_is_input_end():
    for stream in _small_streams():
        cut = [stream[:t] for t in range(len(stream))]
        status, _ = inflate_many(cut, [1000] * len(cut))
        assert (status == S.ERR_INPUT_END).all(), status.tolist()


def test_every_truncation_stays_inside_the_arrays():
    """Plain Python on exact-size arrays: a read past the stream or a write past dst raises."""
    for stream in _small_streams()[1:3]:
        for t in range(len(stream)):
            assert inflate_pure(stream[:t], 400)[0] == S.ERR_INPUT_END, t
        ref = zlib.decompress(stream)
        assert inflate_pure(stream, len(ref)) == (len(ref), ref)
        assert inflate_pure(stream, len(ref) - 1)[0] == S.ERR_OUTPUT_FULL


def test_random_byte_flips():
    rng = np.random.default_rng(12)
    base = edge_table(small=True)
    cases = []
    for _ in range(600):
        _, stream, cap = base[rng.integers(len(base))]
        if len(stream) < 3:
            continue
        b = bytearray(stream)
        for _ in range(rng.integers(1, 4)):
            b[rng.integers(len(b))] ^= int(rng.integers(1, 256))
        cases.append((bytes(b), cap))
    status, outs = inflate_many([c[0] for c in cases], [c[1] for c in cases])
    for (stream, cap), n, out in zip(cases, status, outs):
        ref = zlib_ref(stream, cap)
        if ref is None:
            assert n < 0
        else:
            assert n == len(ref) and out == ref
    assert (status < 0).sum() > len(cases) // 2
    # the same, on exact-size arrays, for a sample
    for stream, cap in cases[:40]:
        assert inflate_pure(stream, cap)[0] == inflate_one(stream, cap)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from([b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x78\x5e"]))
def test_hostile_bytes_after_a_valid_header(body, head):
    stream = head + body
    n, out = inflate_one(stream, 2000)
    ref = zlib_ref(stream, 2000)
    if ref is None:
        assert n < 0
    else:
        assert (n, out) == (len(ref), ref)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=5000),
                 st.lists(st.sampled_from([b"chr1\t", b"100\t", b"0.5\n", b"\0\0\0", b"\xff"]),
                          max_size=600).map(b"".join)),
       st.integers(0, 9),
       st.sampled_from([zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE, zlib.Z_FIXED]),
       st.integers(0, 3))
def test_random_data_random_level(data, level, strategy, slack):
    stream = compress(data, level, strategy)
    assert inflate_one(stream, len(data) + slack) == (len(data), data)


# --- real bigWig blocks ----------------------------------------------------------------------------


def bigwig_blocks(path):
    """(file bytes, [(offset, size)]) of the full-resolution data blocks, in file order (the block
    index of ``fastwig.open``; the R-tree reader is tested on its own elsewhere)."""
    import fastwig

    with fastwig.open(path) as bw:
        order = np.argsort(bw._index.offset, kind="stable")
        blocks = list(zip(bw._index.offset[order].tolist(), bw._index.size[order].tolist()))
    return path.read_bytes(), blocks


def _real_files():
    if not BIGWIG_DIR.is_dir():
        pytest.skip(SHARED_REASON)
    return [BIGWIG_DIR / "bbi-js" / "ENCFF826FLP.bw", BIGWIG_DIR / "bbi-js" / "cow.bw"]


def test_real_bigwig_blocks():
    for path in _real_files():
        data, blocks = bigwig_blocks(path)
        streams = [data[o:o + s] for o, s in blocks]
        refs = [zlib.decompress(s) for s in streams]
        status, outs = inflate_many(streams, [len(r) + 64 for r in refs])
        assert status.tolist() == [len(r) for r in refs], path
        assert outs == refs, path


def _record_starts(sec, swap):
    bo = ">" if swap else "<"
    kind, count = sec[20], struct.unpack_from(bo + "H", sec, 22)[0]
    size = {1: 12, 2: 8, 3: 4}[kind]
    if kind == 3:
        start, step = struct.unpack_from(bo + "I", sec, 4)[0], struct.unpack_from(bo + "I", sec, 12)[0]
        return np.arange(count, dtype=np.int64) * step + start, size
    return np.array([struct.unpack_from(bo + "I", sec, 24 + size * i)[0] for i in range(count)], np.int64), size


def check_early_exit(full, n, out, stop, swap):
    """Output is a prefix of ``full`` holding every record that starts before ``stop``."""
    assert 0 <= n <= len(full) and out == full[:n]
    if n < len(full):
        starts, size = _record_starts(full, swap)
        need = 24 + size * int((starts < stop).sum())
        assert n >= need, (n, need, stop)


def test_real_blocks_early_exit():
    for path in _real_files():
        data, blocks = bigwig_blocks(path)
        streams, stops, fulls = [], [], []
        for o, s in blocks[::7]:
            full = zlib.decompress(data[o:o + s])
            starts, _ = _record_starts(full, False)
            for q in (0.0, 0.3, 0.9):
                streams.append(data[o:o + s])
                stops.append(int(starts[int(q * (starts.size - 1))]))
                fulls.append(full)
        status, outs = inflate_many(streams, [len(f) for f in fulls], stops)
        for full, n, out, stop in zip(fulls, status, outs, stops):
            check_early_exit(full, int(n), out, stop, False)
        assert (status < np.array([len(f) for f in fulls])).mean() > 0.5   # most of them did stop early


# --- early exit on a synthetic section ------------------------------------------------------------


@pytest.mark.parametrize("swap", [False, True])
def test_early_exit_bedgraph_section(swap):
    k = 2000
    starts = np.arange(k, dtype=np.int64) * 50 + 1000
    full = bedgraph_section(starts, starts + 30, big_endian=swap)
    c = zlib.compressobj(6)
    flushed = c.compress(full[:9000]) + c.flush(zlib.Z_FULL_FLUSH) + c.compress(full[9000:]) + c.flush()
    stop_values = [-1, 0, 999, 1000, 1001, 1050, 26000, 50000, 99950, 99951, 10 ** 9]
    rows = []
    for stream in (compress(full, 6), compress(full, 1), compress(full, 0), compress(full, 6, zlib.Z_FIXED),
                   flushed):
        for stop in stop_values:
            rows.append((stream, stop))
    status, outs = inflate_many([r[0] for r in rows], [len(full)] * len(rows), [r[1] for r in rows], swap)
    for (stream, stop), n, out in zip(rows, status, outs):
        check_early_exit(full, int(n), out, stop, swap)
        if stop < 0 or stop > starts[-1]:
            assert n == len(full)
    early = {r[1]: int(n) for r, n in zip(rows[: len(stop_values)], status)}   # level 6
    assert early[1001] < 3 * K.STOP_CHECK_BYTES and early[50000] < len(full) * 0.6, early
    # the big-endian section read as little-endian gives other starts: never an error
    status2, _ = inflate_many([rows[0][0]], [len(full)], [50000], not swap)
    assert status2[0] > 0


def test_early_exit_skips_the_adler_check_only_when_it_stops():
    starts = np.arange(1500, dtype=np.int64) * 10
    full = bedgraph_section(starts, starts + 5)
    good = compress(full, 6)
    bad = good[:-1] + bytes([good[-1] ^ 0x40])
    n, out = inflate_one(bad, len(full), stop=100)
    assert 0 < n < len(full) and out == full[:n]
    assert inflate_one(bad, len(full), stop=10 ** 9)[0] == S.ERR_ADLER
    assert inflate_one(bad, len(full), stop=-1)[0] == S.ERR_ADLER


def test_early_exit_plain_python_matches():
    starts = np.arange(300, dtype=np.int64) * 10
    for swap in (False, True):
        full = bedgraph_section(starts, starts + 5, big_endian=swap)
        stream = compress(full, 6)
        for stop in (-1, 5, 1500, 4000):
            assert inflate_pure(stream, len(full), stop, swap) == inflate_one(stream, len(full), stop, swap)


def test_work_and_driver_contract():
    assert K.INFLATE_WORK_SIZE >= K.W_SORTED + 288
    # out-of-range item ranges are clipped, not followed
    stream = compress(b"hello hello hello", 6)
    src = np.frombuffer(stream, np.uint8).copy()
    dst = np.zeros(20, np.uint8)
    status = np.zeros(2, np.int64)
    K.load_batch_cpu(src, np.array([0, -5], np.int64), np.array([len(src) + 100, 3], np.int64), dst,
                     np.array([0, 18], np.int64), np.array([17, 40], np.int64), np.array([-1, -1], np.int64),
                     np.zeros(2, np.int64), status, 0, 2)
    assert status[0] == 17 and bytes(dst[:17]) == b"hello hello hello"
    assert status[1] < 0
