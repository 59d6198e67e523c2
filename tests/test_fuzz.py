"""Fuzz: mutated real and generated bigWig files.  Every read returns the right answer or raises a
``FastwigError`` that names the file; never a crash, a hang or a foreign exception.

How it runs
-----------
The cases come from hypothesis (``derandomize=True``: the same cases every run) and from
deterministic enumerations (truncation at every structure boundary, tree cycles).  pytest itself
never opens a mutated file: each case goes to a *worker* subprocess (``python -X faulthandler
tests/test_fuzz.py --worker``) that keeps running case after case, and a crash or a hang of the
worker fails the case that caused it, with the faulthandler traceback and a copy of the file.  The
worker runs with ``NUMBA_BOUNDSCHECK=1`` (its own numba cache folder), so a kernel index that was not
checked against the data raises IndexError there -- a foreign exception, hence a failure -- instead of
silently reading outside a buffer (``FASTWIG_FUZZ_BOUNDSCHECK=0`` tests the production build).

Per case the worker opens the file and runs every public read: ``values``, ``intervals``,
``stats(exact=True)``, ``stats(exact=False)`` (zoom levels) and ``read_windows`` (per base, with
``missing=0`` and ``missing=NaN``, binned, and together with the unmutated file as a second track),
each on its own, with the block cache and thread count of the case.

What a read may return
----------------------
Each mutation is classed by what fastwig reads of the bytes it changed (``layout()`` maps every
structure of the unmutated file):

- *inert*: bytes fastwig never uses for these reads (trailing magic, totalSummary, reserved fields,
  padding, R-tree bounding boxes of non-leaf nodes, keys of non-leaf chromosome-tree nodes, ...) and
  every truncation (the bytes that remain keep their meaning), a last section's item count grown past
  the block, a block replaced by one that inflates past uncompressBufSize.  A read that succeeds must
  give the answer of the unmutated file, bit for bit.
- *zoom*: zoom headers, zoom data and zoom R-trees.  As inert for every read but ``stats(exact=False)``.
- *meaning*: anything else.  A read that succeeds must give the answer of pyBigWig on the same mutated
  file, wherever pyBigWig reads it without an error (each read_windows window against pyBigWig's
  values of that window alone).  pyBigWig runs in a second worker subprocess (it crashes or hangs on
  some corrupt files; that only loses the comparison).
- Files built for a purpose (NaN/inf values, inverted and unsorted records) are checked against
  their records and against pyBigWig.

A ``FastwigError`` is always allowed, but its message must name the mutated file.  The run ends with
a count of the cases tried, of each result and each error kind (the terminal summary, also with
``-q``; the junit XML gets them as suite properties).

Budget: the default run (about 7,000 cases) takes about a minute on 2 cores.  ``FASTWIG_FUZZ_EXAMPLES=N``
sets the bit flipper's example count to N and scales the other fuzzers alike (``tox -e fuzz`` sets
20000: about 130,000 cases, 10 to 20 minutes), and turns the sampled enumerations (truncation points,
tree cycles) into complete ones.
``FASTWIG_FUZZ_STRICT=1`` fails the cases of KNOWN_BUGS too.  The fuzzers and the guard test are
marked ``slow`` (``pytest -m "not slow"`` leaves them out of a developer's inner loop; CI runs them);
the reproducers of bugs found here are not.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import pickle
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

WIDTH = 1000            # read_windows width
BIN = 100               # read_windows bin_size of the binned read
QUERY_SPAN = 20_000     # bases per query range

# ------------------------------------------------------------------------------------------------
# Worker protocol: 8-byte length + pickle, over the worker's stdin/stdout.
# ------------------------------------------------------------------------------------------------


def _send(f, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def _recv(f):
    head = f.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(f.read(n))


# ------------------------------------------------------------------------------------------------
# Worker side (runs in the subprocess)
# ------------------------------------------------------------------------------------------------


def _window_starts(size: int, s: int, e: int) -> np.ndarray:
    return np.array([s, (s + e) // 2, -WIDTH // 2, size - WIDTH // 2], dtype=np.int64)


def run_case(path: str, plan: dict, cache_bytes: int | None = None, threads: int = 1,
             pristine: str | None = None) -> dict:
    """Every public read of ``path`` along ``plan``; ``{op: ("ok", value) | (kind, class, text)}``.

    kind is ``"fastwig"`` for a FastwigError and ``"foreign"`` for any other exception.
    """
    import fastwig
    from fastwig.cache import cache

    if cache_bytes is not None and fastwig.settings.cache_bytes != cache_bytes:
        fastwig.settings.cache_bytes = cache_bytes
        cache.clear()
    res: dict = {}

    def attempt(name, fn):
        try:
            res[name] = ("ok", fn())
        except fastwig.FastwigError as exc:
            res[name] = ("fastwig", type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001
            res[name] = ("foreign", type(exc).__name__, traceback.format_exc(limit=12))

    opened = []
    attempt("open", lambda: opened.append(fastwig.open(path)) or True)
    if not opened:
        return res
    bw = opened[0]
    attempt("chroms", lambda: list(bw.chroms.items()))

    def query(q, chrom, size, s, e):
        starts = _window_starts(size, s, e)
        names = [chrom] * starts.size
        attempt(f"values{q}", lambda: bw.values(chrom, s, e))
        attempt(f"intervals{q}", lambda: bw.intervals(chrom, s, e))
        attempt(f"stats_exact{q}", lambda: np.concatenate([
            bw.stats(chrom, s, e, stat="mean", bins=4, exact=True),
            bw.stats(chrom, s, e, stat="max", exact=True)]))
        attempt(f"stats_zoom{q}", lambda: np.concatenate([
            bw.stats(chrom, 0, size, stat="mean", bins=4),
            bw.stats(chrom, s, e, stat="max", bins=2)]))
        attempt(f"win_nan{q}", lambda: fastwig.read_windows(
            [bw], names, starts, WIDTH, missing=np.nan, oob=-7.0, threads=threads)[:, 0])
        attempt(f"win_zero{q}", lambda: fastwig.read_windows(
            [bw], names, starts, WIDTH, missing=0.0, oob=-7.0, threads=threads)[:, 0])
        attempt(f"binned{q}", lambda: fastwig.read_windows(
            [bw], names, starts, WIDTH, bin_size=BIN, stat="max", covered_only=True, missing=-1.0,
            threads=threads)[:, 0])
        if pristine is not None and q == 0:
            attempt("multi", lambda: fastwig.read_windows(
                [pristine, bw], names, starts, WIDTH, missing=np.nan, oob=-7.0, threads=threads))

    for q, (chrom, size, s, e) in enumerate(plan["queries"]):
        query(q, chrom, size, s, e)
    bw.close()
    return res


def make_plan(path: str, seed: int) -> dict:
    """Query ranges of an unmutated file: where its data lies, on up to two chromosomes."""
    import fastwig
    from fastwig.rtree import CHROM_SHIFT

    rng = np.random.default_rng(seed)
    with fastwig.open(path) as bw:
        by_id = {cid: name for name, cid in bw._chrom_id.items()}
        ix = bw._index
        with_data = [int(c) for c in np.unique(ix.lstart >> CHROM_SHIFT) if int(c) in by_id]
        chosen = sorted(set(with_data[:1] + with_data[-1:])) or [next(iter(bw._chrom_id.values()))]
        queries = []
        for cid in chosen:
            name = by_id[cid]
            size = bw.chroms[name]
            mine = np.flatnonzero((ix.lstart >> CHROM_SHIFT) == cid)
            picks = [int(mine[0]), int(rng.choice(mine))] if mine.size else [None]
            for k in dict.fromkeys(picks):
                lo = int(ix.lstart[k] & 0xFFFFFFFF) if k is not None else 0
                s = max(0, min(lo - 50, size - 1))
                queries.append((name, size, s, min(size, s + QUERY_SPAN)))
    return {"queries": queries}


def oracle_case(path: str, plan: dict) -> dict:
    """pyBigWig's answers for the queries of ``plan`` (runs in the oracle worker)."""
    import pyBigWig

    res: dict = {}
    try:
        pb = pyBigWig.open(path)
    except Exception as exc:  # noqa: BLE001
        return {"open": ("err", repr(exc))}
    if pb is None:
        return {"open": ("err", "None")}
    try:
        chroms = pb.chroms()
        res["chroms"] = ("ok", list(chroms.items()))
        for q, (chrom, size, s, e) in enumerate(plan["queries"]):
            if chroms.get(chrom) != size:
                continue
            try:
                res[f"values{q}"] = ("ok", np.asarray(pb.values(chrom, s, e, numpy=True), dtype=np.float32))
            except Exception as exc:  # noqa: BLE001
                res[f"values{q}"] = ("err", repr(exc))
            try:
                iv = pb.intervals(chrom, s, e) or ()
                # pyBigWig returns coordinates >= 2**31 as negative ints: take them back to uint32
                res[f"intervals{q}"] = ("ok", (np.array([r[0] for r in iv], np.int64) & 0xFFFFFFFF,
                                               np.array([r[1] for r in iv], np.int64) & 0xFFFFFFFF,
                                               np.array([r[2] for r in iv], np.float32)))
            except Exception as exc:  # noqa: BLE001
                res[f"intervals{q}"] = ("err", repr(exc))
            # each read_windows window on its own (what the index says about a window alone may differ
            # from what it says about [s, e) when a record runs past its block's bounds)
            try:
                size_now = chroms[chrom]
                parts = []
                for ws in _window_starts(size, s, e).tolist():
                    a, b = max(0, ws), min(size_now, ws + WIDTH)
                    parts.append((ws, a, b, np.asarray(pb.values(chrom, a, b, numpy=True), np.float32)
                                  if b > a else np.zeros(0, np.float32)))
                res[f"windows{q}"] = ("ok", parts)
            except Exception as exc:  # noqa: BLE001
                res[f"windows{q}"] = ("err", repr(exc))
    finally:
        pb.close()
    return res


def _selftest(what: str):
    """Prove the guards work: a segfault, a hang, and numba's bounds checking in this process."""
    if what == "segfault":
        faulthandler._sigsegv()
    if what == "hang":
        time.sleep(3600)
    if what == "boundscheck":
        import numba

        @numba.njit
        def past_the_end(a):
            return a[a.size + 3]

        try:
            past_the_end(np.zeros(4, np.uint8))
        except IndexError:
            return True
        return False
    return None


def _worker_main(role: str) -> None:
    faulthandler.enable()
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    # the protocol owns the real stdout; anything else printed goes to stderr
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    import warnings
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(REPO))
    if role == "worker":
        import fastwig  # noqa: F401 - import (and compile) before saying ready
        warm = _warmup_file()
        run_case(warm, make_plan(warm, 0), threads=2, pristine=warm)
    else:
        import pyBigWig  # noqa: F401
    _send(proto, ("ready", os.getpid()))
    while True:
        msg = _recv(inp)
        if msg is None:
            return
        op, kw = msg
        if op == "case":
            out = run_case(**kw)
        elif op == "plan":
            out = make_plan(**kw)
        elif op == "oracle":
            out = oracle_case(**kw)
        elif op == "selftest":
            out = _selftest(**kw)
        else:
            out = None
        _send(proto, ("result", out))


def _warmup_file() -> str:
    from fastwig.writer import BedGraph, write_bigwig
    path = os.path.join(tempfile.mkdtemp(prefix="fastwig-fuzz-warm"), "warm.bw")
    s = np.arange(0, 5000, 10)
    write_bigwig(path, [("chr1", 6000)], [BedGraph("chr1", s, s + 5, np.ones(s.size, np.float32))],
                 items_per_block=50, zoom_levels=(20,))
    return path


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] in ("--worker", "--oracle"):
    _worker_main(sys.argv[1][2:])
    sys.exit(0)

# ------------------------------------------------------------------------------------------------
# Parent side
# ------------------------------------------------------------------------------------------------

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import real_bigwigs

import fastwig

EXAMPLES = int(os.environ.get("FASTWIG_FUZZ_EXAMPLES", "0") or 0)
BIT_FLIPS = 2000                                # the bit flipper's default example count
SCALE = EXAMPLES / BIT_FLIPS if EXAMPLES else 1.0
LONG = EXAMPLES > 0
CASE_TIMEOUT = float(os.environ.get("FASTWIG_FUZZ_TIMEOUT", "60"))
ORACLE_TIMEOUT = 2.0
STRICT = os.environ.get("FASTWIG_FUZZ_STRICT", "") not in ("", "0")
BOUNDSCHECK = os.environ.get("FASTWIG_FUZZ_BOUNDSCHECK", "1") not in ("0", "", "no", "false")


# Bugs found by this suite in code it may not change (fastwig/blocks.py, kernels/): cases carrying the
# tag are counted, not failed, until the fix lands; each has a strict xfail reproducer below
# (test_known_bug_*), which starts to XPASS -- and so fails -- once it is fixed: then delete both.
KNOWN_BUGS = {
    "early-exit-unsorted": (
        "unsorted-compressed",
        ("early exit stops inflating a compressed block at the first record that starts past the window, "
         "assuming the records of a section are sorted (the format requires it; no real writer breaks it): "
         "in a block whose records are not sorted, a later record that covers the window is not read, "
         "where pyBigWig reads it -- a different answer, without an error")),
}


def n_examples(default: int) -> int:
    return max(1, int(default * SCALE))


class WorkerDied(Exception):
    pass


class Worker:
    """A long-lived subprocess serving cases; restarted after a crash or a hang."""

    def __init__(self, role: str, env: dict, logdir: Path):
        self.role, self.env, self.logdir = role, env, logdir
        self.proc = None
        self.starts = 0

    def _start(self) -> None:
        self.starts += 1
        self.log = self.logdir / f"{self.role}-{self.starts}.stderr"
        self._log_f = open(self.log, "wb")  # noqa: SIM115 - the worker's stderr, kept open for its life
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", str(Path(__file__).resolve()), f"--{self.role}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log_f, env=self.env, cwd=str(REPO))
        self._read(600.0)  # "ready" (the first start compiles the kernels)

    def _read(self, timeout: float):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        need = 8
        body = None
        while True:
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    raise TimeoutError
                chunk = os.read(fd, max(need - len(buf), 1 << 16))
                if not chunk:
                    raise WorkerDied(self._death())
                buf += chunk
            if body is None:
                need = 8 + struct.unpack("<Q", buf[:8])[0]
                body = True
                continue
            return pickle.loads(buf[8:need])[1]

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._log_f.flush()
        tail = self.log.read_bytes()[-6000:].decode("utf-8", "replace")
        self.proc = None
        return f"{self.role} process died (exit code {code}); stderr tail:\n{tail}"

    def request(self, op: str, timeout: float = CASE_TIMEOUT, **kw):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            _send(self.proc.stdin, (op, kw))
            return self._read(timeout)
        except BrokenPipeError:
            raise WorkerDied(self._death()) from None
        except TimeoutError:
            # dump every thread's Python stack (faulthandler on SIGUSR1), then kill
            try:
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1.0)
                self.proc.kill()
            except OSError:
                pass
            raise WorkerDied(f"{self.role} hung for more than {timeout:.0f} s; "
                             + self._death()) from None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


# ---- the structure of a bigWig file --------------------------------------------------------------

INERT, ZOOM, MEANING = 0, 1, 2
CLASS_NAMES = {INERT: "inert", ZOOM: "zoom", MEANING: "meaning"}


@dataclass
class Node:
    tree: str          # "chrom", "rtree", "zoom<i>"
    offset: int
    is_leaf: bool
    count: int
    item_size: int
    parent: int | None
    children: list = field(default_factory=list)    # (position of the child pointer, child offset)


@dataclass
class Block:
    tree: str
    offset: int
    size: int
    item: int          # position of the R-tree leaf item naming it


@dataclass
class Layout:
    size: int
    bo: str
    ubs: int
    regions: list = field(default_factory=list)     # (kind, lo, hi, class)
    pointers: list = field(default_factory=list)    # (name, position, struct code)
    nodes: list = field(default_factory=list)
    blocks: list = field(default_factory=list)

    def region(self, kind, lo, hi, cls):
        if hi > lo:
            self.regions.append((kind, lo, min(hi, self.size), cls))

    def classify(self, lo: int, hi: int | None = None) -> int:
        """The class of a change to bytes [lo, hi): the most meaningful region it touches."""
        hi = lo + 1 if hi is None else hi
        cls = INERT
        for _, a, b, c in self.regions:
            if a < hi and lo < b:
                cls = max(cls, c)
        return cls

    def boundaries(self) -> list[int]:
        cuts = {0, 1, 4, 63, 64, self.size - 4, self.size - 1}
        for _, a, b, _ in self.regions:
            cuts.update((a, a + 1, b - 1, b))
        return sorted(c for c in cuts if 0 <= c < self.size)


def layout(raw: bytes) -> Layout:
    """Map every structure of an (unmutated) bigWig file; see the module docstring for the classes."""
    magic = struct.unpack_from("<I", raw, 0)[0]
    bo = "<" if magic == 0x888FFC26 else ">"
    (_, _, nzoom, ctree, data_off, index_off, _, _, _, summary, ubs, ext) = struct.unpack_from(
        bo + "IHHQQQHHQQIQ", raw, 0)
    lay = Layout(len(raw), bo, ubs)
    def u(fmt, pos):
        return struct.unpack_from(bo + fmt, raw, pos)

    # common header: field by field
    for lo, hi, cls in ((0, 6, MEANING), (6, 8, ZOOM), (8, 16, MEANING), (16, 24, INERT), (24, 32, MEANING),
                        (32, 52, INERT), (52, 56, MEANING), (56, 64, INERT)):
        lay.region("header", lo, hi, cls)
    for name, pos in (("chromTreeOffset", 8), ("fullDataOffset", 16), ("fullIndexOffset", 24),
                      ("autoSqlOffset", 36), ("totalSummaryOffset", 44), ("extensionOffset", 56)):
        lay.pointers.append((f"header.{name}", pos, "Q"))
    lay.pointers.append(("header.uncompressBufSize", 52, "I"))
    zooms = []
    for i in range(nzoom):
        pos = 64 + 24 * i
        red, _, zdata, zindex = u("IIQQ", pos)
        lay.region("zoom_header", pos, pos + 24, ZOOM)
        lay.pointers += [(f"zoom{i}.dataOffset", pos + 8, "Q"), (f"zoom{i}.indexOffset", pos + 16, "Q")]
        if red and zindex:
            zooms.append((i, zdata, zindex))
    if summary:
        lay.region("summary", summary, summary + 40, INERT)
    if ext:
        lay.region("extension", ext, ext + max(8, u("H", ext)[0]), INERT)
    # chromosome B+ tree
    _, _, key_size, _, _, _ = u("IIIIQQ", ctree)
    lay.region("chrom_tree_header", ctree, ctree + 4, MEANING)
    lay.region("chrom_tree_header", ctree + 4, ctree + 8, INERT)        # blockSize
    lay.region("chrom_tree_header", ctree + 8, ctree + 16, MEANING)     # keySize, valSize
    lay.region("chrom_tree_header", ctree + 16, ctree + 32, INERT)      # itemCount, reserved
    _walk(raw, lay, "chrom", ctree + 32, key_size)
    # data count, R-tree and blocks
    lay.region("data_count", data_off, data_off + 8, INERT)
    _rtree(raw, lay, "rtree", index_off, "data_block", MEANING)
    for i, zdata, zindex in zooms:
        lay.region("zoom_count", zdata, zdata + 4, ZOOM)
        _rtree(raw, lay, f"zoom{i}", zindex, "zoom_block", ZOOM)
    if u("I", len(raw) - 4)[0] == 0x888FFC26:
        lay.region("trailing_magic", len(raw) - 4, len(raw), INERT)
    return lay


def _rtree(raw, lay, tree, offset, block_kind, cls):
    lay.region(f"{tree}_header", offset, offset + 4, cls)
    lay.region(f"{tree}_header", offset + 4, offset + 48, INERT)
    _walk(raw, lay, tree, offset + 48, None, block_kind, cls)


def _walk(raw, lay, tree, root, key_size, block_kind=None, cls=MEANING, parent=None, depth=0, seen=None):
    """Record a tree's nodes (chromosome tree when key_size is given, else an R-tree)."""
    seen = set() if seen is None else seen
    if root in seen or depth > 64:
        return
    seen.add(root)
    bo = lay.bo
    is_leaf, _, count = struct.unpack_from(bo + "BBH", raw, root)
    if key_size is not None:
        item_size = key_size + 8
    else:
        item_size = 32 if is_leaf else 24
    node = Node(tree, root, bool(is_leaf), count, item_size, parent)
    lay.nodes.append(node)
    lay.region(f"{tree}_node", root, root + 1, cls)              # isLeaf
    lay.region(f"{tree}_node", root + 1, root + 2, INERT)        # reserved
    lay.region(f"{tree}_node", root + 2, root + 4, cls)          # count
    for k in range(count):
        item = root + 4 + k * item_size
        if key_size is not None:
            if is_leaf:
                lay.region("chrom_leaf", item, item + item_size, cls)
            else:
                lay.region("chrom_child_key", item, item + key_size, INERT)
                lay.region("chrom_child", item + key_size, item + item_size, cls)
                child = struct.unpack_from(bo + "Q", raw, item + key_size)[0]
                node.children.append((item + key_size, child))
                lay.pointers.append((f"{tree}.child", item + key_size, "Q"))
                _walk(raw, lay, tree, child, key_size, None, cls, root, depth + 1, seen)
        elif is_leaf:
            lay.region(f"{tree}_leaf", item, item + 32, cls)
            off, size = struct.unpack_from(bo + "QQ", raw, item + 16)
            lay.blocks.append(Block(tree, off, size, item))
            lay.region(block_kind, off, off + size, cls)
            lay.pointers += [(f"{tree}.leaf.dataOffset", item + 16, "Q"), (f"{tree}.leaf.dataSize", item + 24, "Q")]
        else:
            lay.region(f"{tree}_child_bounds", item, item + 16, INERT)  # fastwig reads every leaf
            lay.region(f"{tree}_child", item + 16, item + 24, cls)
            child = struct.unpack_from(bo + "Q", raw, item + 16)[0]
            node.children.append((item + 16, child))
            lay.pointers.append((f"{tree}.child", item + 16, "Q"))
            _walk(raw, lay, tree, child, None, block_kind, cls, root, depth + 1, seen)


# ---- mutations -------------------------------------------------------------------------------


def put(raw: bytearray, pos: int, code: str, value: int, bo: str) -> None:
    bits = struct.calcsize(code) * 8
    struct.pack_into(bo + code, raw, pos, value % (1 << bits))


def block_payload(raw: bytes, lay: Layout, blk: Block) -> bytes:
    data = bytes(raw[blk.offset:blk.offset + blk.size])
    return zlib.decompress(data) if lay.ubs else data


def rewrite_block(raw: bytes, lay: Layout, blk: Block, payload: bytes, compressed: bool | None = None) -> bytearray:
    """Replace the bytes of ``blk`` by ``payload`` (compressed when the file is), in place when it fits,
    else appended to the file, and point the block's R-tree leaf item at them."""
    out = bytearray(raw)
    data = zlib.compress(payload, 6) if (lay.ubs if compressed is None else compressed) else payload
    if len(data) <= blk.size:
        out[blk.offset:blk.offset + len(data)] = data
        at = blk.offset
    else:
        at = len(out)
        out += data
    put(out, blk.item + 16, "Q", at, lay.bo)
    put(out, blk.item + 24, "Q", len(data), lay.bo)
    return out


def sections(payload: bytes, bo: str) -> list[tuple[int, int, int, int]]:
    """(position, type, itemCount, record size) of each section of an inflated data block."""
    out = []
    p = 0
    while len(payload) - p >= 24:
        kind, _, count = struct.unpack_from(bo + "BBH", payload, p + 20)
        size = {1: 12, 2: 8, 3: 4}.get(kind)
        if size is None:
            break
        out.append((p, kind, count, size))
        p += 24 + count * size
    return out


# ---- comparisons -----------------------------------------------------------------------------


def same_f32(a, b) -> bool:
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def same(op: str, a, b) -> bool:
    if op.startswith("intervals"):
        return (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and same_f32(a[2], b[2]))
    if op.startswith("stats"):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    if op == "chroms":
        return a == b
    if op == "open":
        return True
    return same_f32(a, b)


def windows_from_values(vals, size, s, e, fill_nan=None, oob=-7.0):
    """Expected read_windows rows (missing=NaN, oob) from the per-base values of [s, e)."""
    starts = _window_starts(size, s, e)
    rows = np.full((starts.size, WIDTH), oob, np.float32)
    for i, ws in enumerate(starts.tolist()):
        a, b = max(0, ws), min(size, ws + WIDTH)
        if b <= a:
            continue
        if a >= s and b <= e:
            v = vals[a - s:b - s]
        else:
            v = None
        if v is None:
            return None
        rows[i, a - ws:b - ws] = v if fill_nan is None else np.where(np.isnan(v), fill_nan, v)
    return rows


def expected_from_values(op: str, vals, size, s, e):
    """What a windows/binned op must return, given the true values of [s, e) (None: not derivable)."""
    if op.startswith("win_zero"):
        return windows_from_values(vals, size, s, e, fill_nan=0.0)
    if op.startswith("win_nan"):
        return windows_from_values(vals, size, s, e)
    if op.startswith("binned"):
        rows = windows_from_values(vals, size, s, e, oob=np.nan)
        if rows is None:
            return None
        b = rows.reshape(rows.shape[0], -1, BIN)
        covered = ~np.isnan(b)
        # not np.nanmax: fmax lets a signalling NaN through (IEEE 754-2008 maxNum)
        m = np.where(covered, b, -np.inf).max(axis=2)
        return np.where(covered.any(axis=2), m, np.float32(-1.0)).astype(np.float32)
    return None


def expected_from_windows(op: str, parts):
    """What a windows/binned op must return, from pyBigWig's values of each window's in-chromosome part."""
    rows = np.full((len(parts), WIDTH), np.nan if op.startswith("binned") else -7.0, np.float32)
    for i, (ws, a, b, v) in enumerate(parts):
        if b > a:
            rows[i, a - ws:b - ws] = np.where(np.isnan(v), 0.0, v) if op.startswith("win_zero") else v
    if op.startswith("win"):
        return rows
    blocks = rows.reshape(rows.shape[0], -1, BIN)
    covered = ~np.isnan(blocks)
    m = np.where(covered, blocks, -np.inf).max(axis=2)
    return np.where(covered.any(axis=2), m, np.float32(-1.0)).astype(np.float32)


def error_kind(cls: str, msg: str, path: str) -> str:
    text = msg.replace(path, "<file>")
    text = re.sub(r"/\S+\.bw", "<file>", text)
    text = re.sub(r"\(.*?\)", "", text)
    text = re.sub(r"0x[0-9a-f]+|-?\d+", "N", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\s+", " ", text).strip(" :")
    text = text.removeprefix("<file>").strip(" :")
    return f"{cls}: {text[:90]}"


@dataclass
class Case:
    """One mutated file and what its reads may return."""

    seed: str                      # name of the file it came from
    what: str                      # the mutation
    data: bytes
    plan: dict
    base: dict | None = None       # the unmutated file's answers (op -> result)
    pristine: str | None = None    # the unmutated file (read beside the mutated one)
    cls: int = MEANING
    cache_bytes: int | None = None
    threads: int = 1
    expect: dict | None = None     # op -> value a successful read must return (before any oracle)
    tags: frozenset = frozenset()  # what the mutation did, for KNOWN_BUGS

    def __str__(self):
        return (f"{self.seed}: {self.what} [{CLASS_NAMES[self.cls]}, cache_bytes={self.cache_bytes}, "
                f"threads={self.threads}]")


class Harness:
    """Seeds, their query plans and unmutated answers, the two workers, and the run's counts."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.casedir = workdir / "cases"
        self.casedir.mkdir()
        self.keepdir = workdir / "failures"
        self.keepdir.mkdir()
        self.logdir = workdir / "logs"
        self.logdir.mkdir()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
        env.setdefault("FASTWIG_THREADS", "1")
        if BOUNDSCHECK:
            env["NUMBA_BOUNDSCHECK"] = "1"
            env["NUMBA_CACHE_DIR"] = str(_numba_cache_dir())
        self.worker = Worker("worker", env, self.logdir)
        self.oracle = Worker("oracle", dict(env), self.logdir) if _has_pybigwig() else None
        self.counts: Counter = Counter()
        self.seconds: Counter = Counter()
        self.seeds: dict[str, tuple[str, bytes, Layout, dict, dict]] = {}
        self.n = 0
        self.t0 = time.monotonic()

    # seeds -------------------------------------------------------------------------------------
    def add_seed(self, name: str, path: str) -> None:
        t = time.monotonic()
        raw = Path(path).read_bytes()
        lay = layout(raw)
        plan = self.worker.request("plan", path=path, seed=len(self.seeds))
        base = self.worker.request("case", path=path, plan=plan, pristine=path)
        bad = {k: v for k, v in base.items() if v[0] != "ok"}
        assert not bad, f"unmutated seed {name} does not read cleanly: {bad}"
        self.seeds[name] = (path, raw, lay, plan, base)
        self.seconds["seeds"] += time.monotonic() - t

    def case(self, seed: str, what: str, data: bytes, cls: int = MEANING, **kw) -> Case:
        """A case made from seed file ``seed``."""
        path, _, _, plan, base = self.seeds[seed]
        return Case(seed, what, bytes(data), plan, base, path, cls, **kw)

    # one case ----------------------------------------------------------------------------------
    def check(self, case: Case) -> None:
        self.n += 1
        target = str(self.casedir / f"case{self.n}.bw")
        Path(target).write_bytes(case.data)
        self.counts["cases"] += 1
        self.counts[f"class {CLASS_NAMES[case.cls]}"] += 1
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
        self.counts[f"cases from {test}"] += 1
        try:
            try:
                t = time.monotonic()
                got = self.worker.request("case", path=target, plan=case.plan, cache_bytes=case.cache_bytes,
                                          threads=case.threads, pristine=case.pristine)
                self.seconds["fastwig"] += time.monotonic() - t
            except WorkerDied as exc:
                self.counts["CRASH/HANG"] += 1
                keep = self.keepdir / f"case{self.n}.bw"
                shutil.copy(target, keep)
                pytest.fail(f"{case}\n(file kept at {keep})\n{exc}")
            self._judge(case, target, got)
        finally:
            os.unlink(target)

    def _oracle(self, target, plan):
        if self.oracle is None:
            return {}
        try:
            t = time.monotonic()
            return self.oracle.request("oracle", timeout=ORACLE_TIMEOUT, path=target, plan=plan)
        except WorkerDied as exc:
            self.counts["pyBigWig " + ("hung" if "hung" in str(exc)[:60] else "crashed") + " (oracle lost)"] += 1
            return {}
        finally:
            self.seconds["oracle"] += time.monotonic() - t

    def _judge(self, case: Case, target: str, got: dict) -> None:
        plan, base = case.plan, case.base or {}
        problems = []
        foreign: Counter = Counter()
        oracle = None
        n_ok = 0
        # the mutated file's chromosome sizes (a mutation may change them: windows past the end are oob)
        sizes_now = dict(got["chroms"][1]) if got.get("chroms", ("",))[0] == "ok" else {}
        for op, r in got.items():
            if r[0] == "foreign":
                foreign[r[1]] += 1
                problems.append(f"{op}: foreign exception {r[1]}:\n{r[2]}")
                continue
            if r[0] == "fastwig":
                self.counts[error_kind(r[1], r[2], target)] += 1
                if op == "multi" and case.pristine in r[2] and target not in r[2]:
                    problems.append(f"{op}: error names the unmutated track, not {target}: {r[2]}")
                elif target not in r[2]:
                    problems.append(f"{op}: {r[1]} does not name the file: {r[2]}")
                continue
            n_ok += 1
            value = r[1]
            if op == "open":
                continue
            if case.expect is not None and op in case.expect:
                exp = case.expect[op]
                if exp is not None and not same(op, value, exp):
                    problems.append(_diff(op, value, exp, "expected"))
                self.counts["reads checked against expected"] += 1
                continue
            q = _query_of(op)
            zoom_op = op.startswith("stats_zoom")
            pristine_ok = op in base and base[op][0] == "ok"
            if case.cls == INERT or (case.cls == ZOOM and not zoom_op):
                if pristine_ok:
                    if not same(op, value, base[op][1]):
                        problems.append(_diff(op, value, base[op][1], "unmutated file"))
                    self.counts["reads checked against unmutated file"] += 1
                continue
            if op == "multi":
                if "win_nan0" in base and not same_f32(value[:, 0], base["win_nan0"][1]):
                    problems.append(_diff(op, value[:, 0], base["win_nan0"][1], "unmutated track"))
                if "win_nan0" in got and got["win_nan0"][0] == "ok" and not same_f32(value[:, 1], got["win_nan0"][1]):
                    problems.append(_diff(op, value[:, 1], got["win_nan0"][1], "same file's read_windows"))
                continue
            if zoom_op or op == "chroms":
                self.counts["reads unchecked (no oracle)"] += 1
                continue
            chrom, _, s, e = plan["queries"][q]
            size = sizes_now.get(chrom)
            if size is None:
                self.counts["reads unchecked (no oracle)"] += 1
                continue
            if oracle is None:
                oracle = self._oracle(target, plan)
            ref = None
            if op.startswith(("values", "intervals")):
                o = oracle.get(op)
                ref = o[1] if o and o[0] == "ok" else None
            elif op.startswith("stats_exact"):
                o = oracle.get(f"intervals{q}")
                if o and o[0] == "ok":
                    ref = _stats_from_intervals(o[1], s, e)
            else:
                o = oracle.get(f"windows{q}")
                if o and o[0] == "ok":
                    ref = expected_from_windows(op, o[1])
            if ref is None:
                self.counts["reads unchecked (pyBigWig failed)"] += 1
                continue
            self.counts["reads checked against pyBigWig"] += 1
            if not same(op, value, ref):
                problems.append(_diff(op, value, ref, "pyBigWig"))
        self.counts["reads ok"] += n_ok
        self.counts["cases with every read ok" if n_ok == len(got) else
                    "cases with no read ok" if n_ok == 0 else "cases with some reads failing"] += 1
        known = [bug for bug, (tag, _) in KNOWN_BUGS.items() if tag in case.tags]
        if problems and known and not STRICT:
            what = f"foreign {', '.join(foreign)}" if foreign else "wrong answer"
            self.counts[f"KNOWN BUG {known[0]} ({what}; not failed, FASTWIG_FUZZ_STRICT=1 fails it)"] += 1
            return
        for name, n in foreign.items():
            self.counts[f"FOREIGN {name}"] += n
        if problems:
            self.counts["WRONG"] += 1
            keep = self.keepdir / f"case{self.n}.bw"
            shutil.copy(target, keep)
            pytest.fail(f"{case}\n(file kept at {keep})\n" + "\n".join(problems[:6]))

    def close(self) -> None:
        self.t_end = time.monotonic()
        self.worker.close()
        if self.oracle is not None:
            self.oracle.close()

    def summary_lines(self) -> list[str]:
        c = self.counts
        head = (f"{c['cases']} cases in {getattr(self, 't_end', time.monotonic()) - self.t0:.0f} s "
                 f"({'boundscheck' if BOUNDSCHECK else 'production'} kernels, "
                 f"{self.worker.starts} worker start(s), fastwig {self.seconds['fastwig']:.0f} s, "
                 f"pyBigWig {self.seconds['oracle']:.0f} s, seed setup {self.seconds['seeds']:.0f} s); "
                 f"crashes/hangs {c['CRASH/HANG']}, foreign exceptions "
                 f"{sum(v for k, v in c.items() if k.startswith('FOREIGN'))}, wrong answers {c['WRONG']}")
        lines = [head]
        for key in sorted(k for k in c if not k.startswith(("FormatError", "FastwigError", "ChromNotFound",
                                                             "RangeError"))):
            if key != "cases":
                lines.append(f"  {c[key]:>8}  {key}")
        lines.append("  error kinds (FastwigError subclass: message with the file and numbers taken out):")
        errs = sorted(((v, k) for k, v in c.items() if k.startswith(("FormatError", "FastwigError",
                                                                     "ChromNotFound", "RangeError"))),
                      reverse=True)
        for v, k in errs:
            lines.append(f"  {v:>8}  {k}")
        return lines


def _query_of(op: str) -> int:
    m = re.search(r"(\d+)$", op)
    return int(m.group(1)) if m else 0


def _stats_from_intervals(iv, s, e):
    from fastwig import stats as fst
    starts, ends, vals = iv
    if starts.size and np.any(ends < starts):
        return None
    return np.concatenate([fst.exact_stats(starts, ends, vals, s, e, 4, "mean"),
                           fst.exact_stats(starts, ends, vals, s, e, 1, "max")])


def _diff(op, got, exp, what) -> str:
    try:
        g = np.asarray(got if not op.startswith("intervals") else got[0])
        x = np.asarray(exp if not op.startswith("intervals") else exp[0])
        if g.shape == x.shape and g.dtype.kind == "f":
            bad = np.flatnonzero(~((g == x) | (np.isnan(g) & np.isnan(x))).ravel())
            return (f"{op}: differs from {what} at {bad.size} places, first {bad[:5].tolist()}: "
                    f"got {g.ravel()[bad[:5]].tolist()} expected {x.ravel()[bad[:5]].tolist()}")
        return f"{op}: differs from {what}: got {g.shape} {g.ravel()[:8].tolist()} expected {x.shape} {x.ravel()[:8].tolist()}"
    except Exception:  # noqa: BLE001
        return f"{op}: differs from {what}: got {got!r:.300} expected {exp!r:.300}"


def _has_pybigwig() -> bool:
    import importlib.util
    return importlib.util.find_spec("pyBigWig") is not None


def _numba_cache_dir() -> Path:
    """numba's cache of the bounds-checked kernels: apart from the production ones (numba's cache
    index does not record the flag)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        base = Path(os.environ["NUMBA_CACHE_DIR"]) / "fastwig-fuzz-boundscheck"
    else:
        base = REPO / ".pytest_cache" / "fastwig-fuzz-numba"
    base.mkdir(parents=True, exist_ok=True)
    return base


# ------------------------------------------------------------------------------------------------
# Fixtures, summary
# ------------------------------------------------------------------------------------------------

class _SummaryPlugin:
    def __init__(self, harness: Harness):
        self.harness = harness

    def pytest_terminal_summary(self, terminalreporter):
        if not self.harness.counts:
            return
        terminalreporter.write_sep("=", "fastwig fuzz summary")
        for line in self.harness.summary_lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory, pytestconfig, record_testsuite_property):
    from edgecases import make_edge_files

    h = Harness(tmp_path_factory.mktemp("fuzz"))
    pytestconfig.pluginmanager.register(_SummaryPlugin(h), f"fastwig-fuzz-summary-{id(h)}")
    try:
        for p in real_bigwigs():
            h.add_seed("real/" + p.parent.name + "/" + p.name, str(p))
        for name, (path, _) in sorted(make_edge_files(tmp_path_factory.mktemp("fuzz-edge")).items()):
            if name != "max_items_per_block":       # 65535-record block: slow to mutate, nothing new
                h.add_seed("edge/" + name, path)
        yield h
    finally:
        h.close()
        for key, value in h.counts.items():
            record_testsuite_property(f"fuzz: {key}", value)
        capman = pytestconfig.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            with capman.global_and_fixture_disabled():
                sys.stderr.write("\n" + "\n".join(h.summary_lines()[:1]) + "\n")


HYP = {"derandomize": True, "database": None, "deadline": None, "print_blob": True,
       "suppress_health_check": list(HealthCheck)}


def seed_names(h: Harness, compressed: bool | None = None) -> list[str]:
    names = sorted(h.seeds)
    if compressed is not None:
        names = [n for n in names if (h.seeds[n][2].ubs > 0) == compressed and h.seeds[n][2].blocks]
    return names


def run_options(data) -> dict:
    return {"cache_bytes": data.draw(st.sampled_from([None, 0, 64 << 10]), label="cache_bytes"),
            "threads": data.draw(st.sampled_from([1, 2]), label="threads")}


def sampled(items: list, k: int, seed: int) -> list:
    """All of ``items`` in a long run, else ``k`` of them (always the first and last)."""
    if LONG or len(items) <= k:
        return items
    rng = np.random.default_rng(seed)
    pick = set(rng.choice(len(items), size=k - 2, replace=False).tolist()) | {0, len(items) - 1}
    return [items[i] for i in sorted(pick)]


# ------------------------------------------------------------------------------------------------
# The fuzzers
# ------------------------------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=n_examples(BIT_FLIPS), **HYP)
@given(data=st.data())
def test_bit_flips(fuzz, data):
    """1 to 4 flipped bits, anywhere in the file or inside one chosen structure."""
    name = data.draw(st.sampled_from(seed_names(fuzz)), label="seed")
    _, raw, lay, _, _ = fuzz.seeds[name]
    kinds = sorted({r[0] for r in lay.regions}) + ["anywhere"]
    mutated = bytearray(raw)
    cls = INERT
    what = []
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        kind = data.draw(st.sampled_from(kinds), label="structure")
        spans = [(a, b) for k, a, b, _ in lay.regions if k == kind] or [(0, lay.size)]
        a, b = data.draw(st.sampled_from(spans), label="span")
        pos = data.draw(st.integers(a, b - 1), label="byte")
        bit = data.draw(st.integers(0, 7), label="bit")
        mutated[pos] ^= 1 << bit
        cls = max(cls, lay.classify(pos))
        what.append(f"flip bit {bit} of byte {pos} ({kind})")
    fuzz.check(fuzz.case(name, ", ".join(what), mutated, cls, **run_options(data)))


@pytest.mark.slow
def test_truncation_at_every_boundary(fuzz):
    """Cut at the first, second, last and one-past-last byte of every structure (sampled in CI)."""
    for i, name in enumerate(seed_names(fuzz)):
        _, raw, lay, _, _ = fuzz.seeds[name]
        for n in sampled(lay.boundaries(), 24, i):
            fuzz.check(fuzz.case(name, f"truncated to {n} bytes", raw[:n], INERT))


@pytest.mark.slow
@settings(max_examples=n_examples(200), **HYP)
@given(data=st.data())
def test_truncation_anywhere(fuzz, data):
    name = data.draw(st.sampled_from(seed_names(fuzz)), label="seed")
    raw = fuzz.seeds[name][1]
    n = data.draw(st.integers(0, len(raw) - 1), label="length")
    fuzz.check(fuzz.case(name, f"truncated to {n} bytes", raw[:n], INERT, **run_options(data)))


@pytest.mark.slow
@settings(max_examples=n_examples(600), **HYP)
@given(data=st.data())
def test_offsets_and_sizes_outside_the_file(fuzz, data):
    """Every offset or size field of the file set past its end, to 0, near 2**32 or 2**64."""
    name = data.draw(st.sampled_from(seed_names(fuzz)), label="seed")
    _, raw, lay, _, _ = fuzz.seeds[name]
    field_name, pos, code = data.draw(st.sampled_from(lay.pointers), label="field")
    n = lay.size
    value = data.draw(st.sampled_from([
        0, 1, 63, n - 1, n, n + 1, n + 4096, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 64,
        2**63 - 1, 2**63, 2**64 - 1, 2**64 - n]), label="value")
    mutated = bytearray(raw)
    put(mutated, pos, code, value, lay.bo)
    cls = lay.classify(pos, pos + struct.calcsize(code))
    fuzz.check(fuzz.case(name, f"{field_name} at {pos} := {value % (1 << (8 * struct.calcsize(code)))}",
                         mutated, cls, **run_options(data)))


def tree_cycle_mutations(lay: Layout):
    """(description, [(position, code, value)]) making tree nodes point at themselves, their root or
    parent, another node of the same tree, or a node of the other tree."""
    roots = {}
    for node in lay.nodes:
        roots.setdefault(node.tree, node.offset)
    other = {t: [n.offset for n in lay.nodes if n.tree != t] for t in roots}
    for node in lay.nodes:
        targets = {"itself": node.offset, "its root": roots[node.tree]}
        if node.parent is not None:
            targets["its parent"] = node.parent
        same_tree = [n.offset for n in lay.nodes if n.tree == node.tree and n.offset != node.offset]
        if same_tree:
            targets["another node"] = same_tree[-1]
        if other[node.tree]:
            targets["a node of another tree"] = other[node.tree][0]
        if node.is_leaf:
            # made an internal node whose first child pointer is set
            ptr = node.offset + 4 + (node.item_size - 8 if node.tree == "chrom" else 16)
            for label, target in targets.items():
                yield (f"{node.tree} leaf at {node.offset} made internal, child -> {label}",
                       [(node.offset, "B", 0), (ptr, "Q", target)])
        else:
            for k, (ptr, _) in enumerate(node.children[:1] + node.children[-1:]):
                for label, target in targets.items():
                    yield (f"{node.tree} node at {node.offset}, child pointer {ptr} -> {label}",
                           [(ptr, "Q", target)])


@pytest.mark.slow
def test_tree_cycles(fuzz):
    for i, name in enumerate(seed_names(fuzz)):
        _, raw, lay, _, _ = fuzz.seeds[name]
        for what, patches in sampled(list(tree_cycle_mutations(lay)), 12, i):
            mutated = bytearray(raw)
            cls = INERT
            for pos, code, value in patches:
                put(mutated, pos, code, value, lay.bo)
                cls = max(cls, lay.classify(pos, pos + struct.calcsize(code)))
            fuzz.check(fuzz.case(name, what, mutated, cls))


@pytest.mark.slow
@settings(max_examples=n_examples(400), **HYP)
@given(data=st.data())
def test_item_counts_larger_than_the_node_or_block(fuzz, data):
    """Node item counts, section item counts and zoom record counts set too large (or to 0)."""
    name = data.draw(st.sampled_from(seed_names(fuzz)), label="seed")
    _, raw, lay, _, _ = fuzz.seeds[name]
    target = data.draw(st.sampled_from(["node", "section"] if lay.blocks else ["node"]), label="target")
    if target == "node":
        node = data.draw(st.sampled_from(lay.nodes), label="node")
        value = data.draw(st.sampled_from([node.count + 1, node.count + 2, 2 * node.count + 1, 0xFFFF, 0]),
                          label="count")
        mutated = bytearray(raw)
        put(mutated, node.offset + 2, "H", value, lay.bo)
        what = f"{node.tree} node at {node.offset}: count {node.count} -> {value}"
        cls = lay.classify(node.offset + 2, node.offset + 4)
    else:
        blk = data.draw(st.sampled_from(lay.blocks), label="block")
        payload = bytearray(block_payload(raw, lay, blk))
        secs = sections(payload, lay.bo) if blk.tree == "rtree" else []
        if not secs:   # a zoom block: no item count inside; grow its size field instead
            mutated = bytearray(raw)
            put(mutated, blk.item + 24, "Q", blk.size + data.draw(st.integers(1, 64)), lay.bo)
            what = f"{blk.tree} block at {blk.offset}: dataSize {blk.size} -> larger"
            cls = lay.classify(blk.item + 24)
        else:
            p, kind, count, _ = data.draw(st.sampled_from(secs), label="section")
            value = data.draw(st.sampled_from([count + 1, count + 7, 0xFFFF, 0]), label="count")
            struct.pack_into(lay.bo + "H", payload, p + 22, value)
            mutated = rewrite_block(raw, lay, blk, bytes(payload))
            what = f"data block at {blk.offset}: section {p} (type {kind}) itemCount {count} -> {value}"
            # more records than the block holds, in its last section: the records there keep their
            # meaning, so a read must raise or give the unmutated answer (a read that stops before
            # the block's end cannot tell; pyBigWig reads past the data here, so it is no oracle)
            cls = INERT if value > count and p == secs[-1][0] else MEANING
    fuzz.check(fuzz.case(name, what, mutated, cls, **run_options(data)))


@pytest.mark.slow
@settings(max_examples=n_examples(150), **HYP)
@given(data=st.data())
def test_block_inflates_past_uncompress_buf_size(fuzz, data):
    """A data block whose stream inflates past the header's uncompressBufSize: the block's own bytes
    plus garbage, 64 MiB of zeros (a zip bomb, also as a zoom block), or a header size just below the
    largest block."""
    name = data.draw(st.sampled_from(seed_names(fuzz, compressed=True)), label="seed")
    _, raw, lay, _, _ = fuzz.seeds[name]
    blocks = [b for b in lay.blocks if b.tree == "rtree"]
    zoom_blocks = [b for b in lay.blocks if b.tree != "rtree"]
    mode = data.draw(st.sampled_from(["grown", "zeros", "bomb", "header"] + (["zoom bomb"] if zoom_blocks else [])),
                     label="mode")
    if mode == "zoom bomb":
        blocks = zoom_blocks
    if mode == "header":
        biggest = max(len(block_payload(raw, lay, b)) for b in blocks)
        value = data.draw(st.sampled_from([biggest - 1, biggest // 2, 24, 1]), label="uncompressBufSize")
        mutated = bytearray(raw)
        put(mutated, 52, "I", value, lay.bo)
        what = f"uncompressBufSize {lay.ubs} -> {value} (largest block inflates to {biggest})"
    else:
        blk = data.draw(st.sampled_from(blocks), label="block")
        payload = block_payload(raw, lay, blk)
        extra = max(1, lay.ubs - len(payload) + data.draw(st.integers(1, 4096), label="excess"))
        if mode == "grown":
            payload = payload + bytes(np.random.default_rng(extra).integers(0, 256, extra, dtype=np.uint8))
        elif mode == "zeros":
            payload = payload + bytes(extra)
        else:
            payload = None                    # 64 MiB of zeros, compressed once
        mutated = (rewrite_block(raw, lay, blk, _zip_bomb(), compressed=False) if payload is None
                   else rewrite_block(raw, lay, blk, payload))
        payload = payload if payload is not None else bytes(0)
        size = len(payload) if payload else 64 << 20
        what = f"{blk.tree} block at {blk.offset} inflates to {size} bytes ({mode}; uncompressBufSize {lay.ubs})"
    # the bytes a read may see are those of the unmutated file, or none: an error
    fuzz.check(fuzz.case(name, what, mutated, INERT, **run_options(data)))


@functools.lru_cache(maxsize=1)
def _zip_bomb() -> bytes:
    return zlib.compress(bytes(64 << 20), 9)


# ---- files built for a purpose: NaN/inf values, inverted and unsorted records -------------------

SPECIAL_F32 = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA12345, 0xFFFFFFFF,    # NaNs (quiet, signalling)
               0x7F800000, 0xFF800000,                                        # +inf, -inf
               0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000000, 0x00000000]    # max, -max, denormal, -0, 0


def _special_values(data, n: int) -> np.ndarray:
    bits = data.draw(st.lists(st.one_of(st.sampled_from(SPECIAL_F32), st.integers(0, 2**32 - 1)),
                              min_size=n, max_size=n), label="value bits")
    return np.array(bits, dtype=np.uint32).view(np.float32)


def _records_plan(chrom: str, size: int, records) -> dict:
    lo = min((s for c, s, e, _ in records if c == chrom), default=0)
    s = max(0, min(lo - 50, size - 1))
    return {"queries": [(chrom, size, s, min(size, s + QUERY_SPAN)), (chrom, size, 0, size)]}


def _records_expect(plan: dict, records) -> dict:
    """What every per-base read must return, from the records (last in file order wins)."""
    from edgecases import dense_expected

    from fastwig import stats as fst

    exp = {}
    for q, (chrom, size, s, e) in enumerate(plan["queries"]):
        vals = dense_expected(records, chrom, s, e)
        exp[f"values{q}"] = vals
        sel = [(a, b, v) for c, a, b, v in records if c == chrom and a < e and b > s]
        iv = (np.array([r[0] for r in sel], np.int64), np.array([r[1] for r in sel], np.int64),
              np.array([r[2] for r in sel], np.float32))
        exp[f"intervals{q}"] = iv
        exp[f"stats_exact{q}"] = np.concatenate([fst.exact_stats(*iv, s, e, 4, "mean"),
                                                 fst.exact_stats(*iv, s, e, 1, "max")])
        for op in ("win_nan", "win_zero", "binned"):
            exp[f"{op}{q}"] = expected_from_values(f"{op}{q}", vals, size, s, e)
    return exp


def _purpose_case(fuzz, what, chroms, sections_, records, *, expect=True, **write_kw):
    from fastwig.writer import write_bigwig

    path = str(fuzz.workdir / "purpose.bw")
    write_bigwig(path, chroms, sections_, **write_kw)
    raw = Path(path).read_bytes()
    chrom, size = chroms[0]
    plan = _records_plan(chrom, size, records)
    return raw, plan, (_records_expect(plan, records) if expect else None)


@pytest.mark.slow
@settings(max_examples=n_examples(250), **HYP)
@given(data=st.data())
def test_nan_and_inf_values(fuzz, data):
    """Records holding NaN (quiet, signalling, negative), +-inf, +-max, denormals and -0, in all three
    section types, either byte order, compressed or not: values and intervals keep them, read_windows
    treats NaN as missing, stats follow IEEE arithmetic (checked against the records and pyBigWig)."""
    from fastwig.writer import BedGraph, FixedStep, VarStep

    n = data.draw(st.integers(1, 60), label="records")
    size = 5000
    kind = data.draw(st.sampled_from(["bedGraph", "varStep", "fixedStep"]), label="section type")
    vals = _special_values(data, n)
    starts = np.sort(np.array(data.draw(st.lists(st.integers(0, size - 30), min_size=n, max_size=n,
                                                  unique=True), label="starts"), np.int64))
    if kind == "bedGraph":
        ends = np.minimum(np.append(starts[1:], size), starts + data.draw(st.integers(1, 40), label="len"))
        sec = BedGraph("chr1", starts, ends, vals)
        records = [("chr1", int(a), int(b), v) for a, b, v in zip(starts, ends, vals)]
    elif kind == "varStep":
        span = data.draw(st.integers(1, 20), label="span")
        sec = VarStep("chr1", starts, span, vals)
        records = [("chr1", int(a), int(a) + span, v) for a, v in zip(starts, vals)]
    else:
        step, span = data.draw(st.integers(1, 60), label="step"), data.draw(st.integers(1, 60), label="span")
        sec = FixedStep("chr1", 7, step, span, vals)
        records = [("chr1", 7 + i * step, 7 + i * step + span, v) for i, v in enumerate(vals)]
    kw = {"compress": data.draw(st.booleans(), label="compress"),
          "byte_order": data.draw(st.sampled_from(["<", ">"]), label="byte order"),
          "items_per_block": data.draw(st.sampled_from([1, 4, 64]), label="items per block"),
          "zoom_levels": (50,)}
    raw, plan, expect = _purpose_case(fuzz, "special values", [("chr1", max(size, records[-1][2]))],
                                      [sec], records, **kw)
    what = f"{kind} records with special float32 values {vals.view(np.uint32)[:8].tolist()}..., {kw}"
    fuzz.check(Case("generated", what, raw, plan, cls=MEANING, expect=expect, **run_options(data)))


@pytest.mark.slow
@settings(max_examples=n_examples(250), **HYP)
@given(data=st.data())
def test_inverted_and_negative_intervals(fuzz, data):
    """bedGraph records patched to end before they start, or to start at or past 2**31 (negative as
    int32): a read needing them raises FormatError; any answer must be pyBigWig's."""
    from fastwig.writer import BedGraph

    n = data.draw(st.integers(2, 80), label="records")
    starts = np.arange(n, dtype=np.int64) * 20 + 5
    ends = starts + 10
    vals = np.arange(n, dtype=np.float32)
    compress = data.draw(st.booleans(), label="compress")
    per = data.draw(st.sampled_from([4, 16, 1024]), label="items per block")
    raw, plan, _ = _purpose_case(
        fuzz, "inverted", [("chr1", int(ends[-1]) + 100)], [BedGraph("chr1", starts, ends, vals)],
        [], expect=False, compress=compress, items_per_block=per)
    lay = layout(raw)
    blocks = [b for b in lay.blocks if b.tree == "rtree"]     # block j holds records j*per ...
    payloads = {}
    what = []
    for _ in range(data.draw(st.integers(1, 3), label="patched records")):
        i = data.draw(st.integers(0, n - 1), label="record")
        j = i // per
        payload = payloads.setdefault(j, bytearray(block_payload(raw, lay, blocks[j])))
        mode = data.draw(st.sampled_from(["end<start", "end=0", "start>=2**31", "both>=2**31 inverted"]),
                         label="patch")
        s, e = int(starts[i]), int(ends[i])
        if mode == "end<start":
            ns, ne = s, s - data.draw(st.integers(1, s), label="by")
        elif mode == "end=0":
            ns, ne = s, 0
        elif mode == "start>=2**31":
            ns, ne = s | 0x80000000, e
        else:
            ns, ne = 0xFFFFFFF0, 0x80000000
        struct.pack_into("<II", payload, 24 + (i % per) * 12, ns, ne)
        what.append(f"record {i} [{s}, {e}) -> [{ns}, {ne}) ({mode})")
    mutated = bytes(raw)
    for j, payload in payloads.items():
        mutated = rewrite_block(mutated, lay, blocks[j], bytes(payload))
    fuzz.check(Case("generated", "; ".join(what) + f" (compress={compress}, {per} per block)", bytes(mutated),
                    plan, cls=MEANING, **run_options(data)))


@pytest.mark.slow
@settings(max_examples=n_examples(150), **HYP)
@given(data=st.data())
def test_unsorted_and_overlapping_records(fuzz, data):
    """bedGraph records in any order, overlapping, in one compressed block or several: every read
    gives the answer of the records with the later one winning (as pyBigWig).  Real writers never
    produce this; the early exit of the compressed path must not assume sorted records silently."""
    from fastwig.writer import BedGraph

    n = data.draw(st.integers(2, 60), label="records")
    starts = np.array(data.draw(st.lists(st.integers(0, 4000), min_size=n, max_size=n), label="starts"), np.int64)
    ends = starts + np.array(data.draw(st.lists(st.integers(0, 300), min_size=n, max_size=n), label="lengths"))
    vals = np.arange(1, n + 1, dtype=np.float32)
    records = [("chr1", int(a), int(b), v) for a, b, v in zip(starts, ends, vals)]
    kw = {"compress": data.draw(st.booleans(), label="compress"),
          "items_per_block": data.draw(st.sampled_from([3, 16, 1024]), label="items per block"),
          "zoom_levels": 0}
    raw, plan, expect = _purpose_case(fuzz, "unsorted", [("chr1", 5000)], [BedGraph("chr1", starts, ends, vals)],
                                      records, **kw)
    tags = frozenset({"unsorted-compressed"}) if kw["compress"] else frozenset()
    fuzz.check(Case("generated", f"unsorted/overlapping records {list(zip(starts.tolist(), ends.tolist()))[:10]}..., {kw}",
                    raw, plan, cls=MEANING, expect=expect, tags=tags, **run_options(data)))


# ---- the guards themselves ----------------------------------------------------------------------

@pytest.mark.slow
def test_guards_catch_crash_hang_and_bad_index(fuzz):
    """The worker reports a segfault (with its faulthandler traceback) and a hang as failures, and its
    kernels check bounds: what makes a clean fuzz run mean something."""
    w = fuzz.worker
    with pytest.raises(WorkerDied, match="Segmentation fault|died"):
        w.request("selftest", what="segfault")
    with pytest.raises(WorkerDied, match="hung"):
        w.request("selftest", timeout=2.0, what="hang")
    assert w.request("selftest", what="boundscheck") is BOUNDSCHECK


# ---- known bugs (see KNOWN_BUGS): strict xfail reproducers -------------------------------------

def test_found_early_exit_short_section(tmp_path):
    """Found by this fuzzer (fixed): a compressed block whose section claims one record more than it
    holds raised only with early exit off; a block inflated to its end is complete, so it must raise
    on every read."""
    from fastwig.writer import BedGraph, write_bigwig

    path = str(tmp_path / "itemcount.bw")
    s = np.arange(17, dtype=np.int64) * 10
    write_bigwig(path, [("chr1", 1000)], [BedGraph("chr1", s, s + 5, np.ones(17, np.float32))], zoom_levels=0)
    raw = Path(path).read_bytes()
    lay = layout(raw)
    payload = bytearray(block_payload(raw, lay, lay.blocks[0]))
    struct.pack_into("<H", payload, 22, 18)          # itemCount 17 -> 18
    Path(path).write_bytes(rewrite_block(raw, lay, lay.blocks[0], bytes(payload)))
    with pytest.raises(fastwig.FormatError, match="item count"):
        fastwig.open(path).values("chr1", 0, 1000)


def test_found_huge_uncompress_buf_size(tmp_path):
    """Found by this fuzzer (fixed): uncompressBufSize = 2**32 - 1 in the header sized the inflate
    buffers (MemoryError).  The buffers are bounded by what a block can inflate to (1032 times its
    compressed size), so the file reads as if the header were right."""
    from fastwig.writer import BedGraph, write_bigwig

    path = str(tmp_path / "huge_ubs.bw")
    s = np.arange(0, 100_000, 10)
    write_bigwig(path, [("chr1", 100_010)], [BedGraph("chr1", s, s + 5, np.ones(s.size, np.float32))],
                 items_per_block=64, zoom_levels=0)
    raw = bytearray(Path(path).read_bytes())
    struct.pack_into("<I", raw, 52, 2**32 - 1)
    Path(path).write_bytes(bytes(raw))
    got = fastwig.read_windows([fastwig.open(path)], "chr1", [0, 50_000], 1000)
    want = np.zeros((2, 1, 1000), np.float32)
    want[:, :, np.arange(1000) % 10 < 5] = 1.0       # records [10k, 10k + 5) of value 1, missing=0 elsewhere
    assert np.array_equal(got, want)


def test_found_rtree_block_size_one_hang(tmp_path):
    """Found by this fuzzer (fixed): an R-tree header with blockSize = 1 over several items made the
    estimate of the tree's size loop forever at open.  Run in a child with a deadline: a hang fails."""
    from fastwig.writer import BedGraph, write_bigwig

    path = tmp_path / "rtree_bs1.bw"
    s = np.arange(0, 10_000, 10)
    write_bigwig(str(path), [("chr1", 10_010)], [BedGraph("chr1", s, s + 5, np.ones(s.size, np.float32))],
                 items_per_block=16, zoom_levels=0)
    raw = bytearray(path.read_bytes())
    index_offset = struct.unpack_from("<Q", raw, 24)[0]             # fullIndexOffset
    assert struct.unpack_from("<I", raw, index_offset)[0] == 0x2468ACE0
    struct.pack_into("<I", raw, index_offset + 4, 1)                # blockSize := 1
    path.write_bytes(bytes(raw))
    code = ("import sys, fastwig\n"
            "try:\n"
            "    print(float(fastwig.open(sys.argv[1]).values('chr1', 0, 10)[0]))\n"
            "except fastwig.FastwigError as e:\n"
            "    assert sys.argv[1] in str(e), e\n"
            "    print('FastwigError')\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("opening a file whose R-tree blockSize is 1 hangs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() in ("1.0", "FastwigError")


@pytest.mark.xfail(strict=True, reason=KNOWN_BUGS["early-exit-unsorted"][1])
def test_known_bug_early_exit_unsorted_records(tmp_path):
    """A compressed block with 60 records from 1000 on, then [0, 1): the window [0, 1000) must see
    the last record (pyBigWig does); early exit stops inflating at the first ones."""
    from fastwig.writer import BedGraph, write_bigwig

    path = str(tmp_path / "unsorted.bw")
    starts = np.append(np.arange(1000, 1060), 0)
    write_bigwig(path, [("chr1", 5000)], [BedGraph("chr1", starts, starts + 1, np.arange(61, dtype=np.float32))],
                 zoom_levels=0)
    got = fastwig.read_windows([fastwig.open(path)], "chr1", [0], 1000, missing=np.nan)
    assert got[0, 0, 0] == 60.0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", *sys.argv[1:]]))
