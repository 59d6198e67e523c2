"""Genome's fast path -- one positional read per window through the ``.fai`` index -- against pyfaidx
(``mmap=False``) and a plain-Python reference; a FASTA that shrinks under an open Genome; close, fork
and pickle.

The reference parses the FASTA text itself (no index, no pyfaidx).  Generated FASTAs cover what the
line arithmetic can get wrong: 1-base lines, odd widths, CRLF line ends, a different width per record,
records that do and do not fill their last line, a 1-base and an empty record, a file without a final
line end.  Chunking is forced down to a window or two, so the thread pool splits even small batches.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fastwig.kernels import onehot as K
from support import VOLVOX_DIR
from test_genome import expected_sequence, integer_reference, kmer_reference, onehot_reference, same_bits

import fastwig.genome as genome_module
from fastwig.errors import ChromNotFound, FastwigError
from fastwig.genome import Genome

VOLVOX_FA = VOLVOX_DIR / "volvox.fa"
needs_volvox = pytest.mark.skipif(not VOLVOX_FA.exists(),
                                  reason=f"volvox FASTA not found at {VOLVOX_FA} (../shared is absent)")


def _random_seq(rng, n: int) -> str:
    """ACGT with lowercase stretches, N runs and a few IUPAC codes."""
    seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)].copy()
    if n == 0:
        return ""
    for a in rng.integers(0, n, size=max(1, n // 300)):
        seq[a:a + int(rng.integers(1, 90))] |= 32          # soft-masked
    for a in rng.integers(0, n, size=max(1, n // 700)):
        seq[a:a + int(rng.integers(1, 40))] = ord("N")
    for a in rng.integers(0, n, size=max(1, n // 500)):
        seq[a] = ord("R")
    return seq.tobytes().decode()


def _records(seed: int, lengths: list[int]) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {f"seq{i}": _random_seq(rng, n) for i, n in enumerate(lengths)}


# name -> (records, line width per record, line end, final line end)
CASES = {
    "w60": (_records(1, [3001, 120, 59, 61, 1]), [60] * 5, "\n", True),
    "w1": (_records(2, [37, 5]), [1, 1], "\n", True),
    "w7-crlf": (_records(3, [300, 14, 8]), [7] * 3, "\r\n", True),
    "w61-crlf-empty": (_records(4, [250, 0, 122, 3]), [61] * 4, "\r\n", True),
    "mixed-widths": (_records(5, [1000, 999, 333]), [60, 100, 13], "\n", True),
    "no-final-newline": (_records(6, [130, 71]), [50, 50], "\n", False),
}


def write_case(path: Path, name: str) -> Path:
    records, widths, newline, final = CASES[name]
    parts = []
    for (chrom, seq), width in zip(records.items(), widths):
        parts.append(f">{chrom} description{newline}")
        parts.extend(seq[i:i + width] + newline for i in range(0, len(seq), width))
    text = "".join(parts)
    if not final:
        text = text[:-len(newline)]
    path.write_bytes(text.encode())
    return path


def read_fasta_plain(path: Path) -> dict[str, str]:
    """The records of a FASTA, parsed from its text: the reference every path is compared with."""
    records: dict[str, list[str]] = {}
    current = None
    for line in path.read_bytes().decode().splitlines():
        if line.startswith(">"):
            current = records.setdefault(line[1:].split()[0], [])
        elif current is not None:
            current.append(line.strip())
    return {name: "".join(lines) for name, lines in records.items()}


def _revcomp(seq: str) -> str:
    table = str.maketrans("ACGTacgt", "TGCAtgca")
    return "".join(c.translate(table) if c in "ACGTacgt" else "N" for c in reversed(seq))


def _windows(records: dict[str, str], width: int, rng, extra: int = 40):
    """Windows over every record: both ends crossed, negative starts, wholly outside, random."""
    chroms, starts = [], []
    for chrom, seq in records.items():
        n = len(seq)
        fixed = [-width - 3, -width, -width + 1, -1, 0, 1, n - width - 1, n - width, n - width + 1, n - 1, n, n + 5]
        rand = rng.integers(-width - 5, n + 5, size=extra)
        for s in [*fixed, *rand]:
            chroms.append(chrom)
            starts.append(int(s))
    return np.array(chroms), np.array(starts, dtype=np.int64)


@pytest.fixture
def tiny_chunks(monkeypatch):
    """A chunk of the thread pool per window or two: small batches split across threads too."""
    monkeypatch.setattr(genome_module, "_MIN_CHUNK_BASES", 1)


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    path = write_case(tmp_path_factory.mktemp("fa") / f"{request.param}.fa", request.param)
    fast, slow = Genome(path), Genome(path, mmap=False)
    yield path, read_fasta_plain(path), fast, slow
    fast.close()
    slow.close()


# --- bytes ------------------------------------------------------------------------------------------

def test_reference_parses_what_was_written(case):
    path, records, fast, slow = case
    assert records == CASES[path.stem][0]
    assert fast._src is not None and slow._src is None          # the fast path, and pyfaidx
    assert fast.chroms == slow.chroms == {k: len(v) for k, v in records.items()}


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("width", [1, 2, 7, 60, 61, 250])
def test_fetch_batch_matches_reference_and_pyfaidx(case, tiny_chunks, width, threads):
    _, records, fast, slow = case
    chroms, starts = _windows(records, width, np.random.default_rng(width))
    got = fast.fetch_batch(chroms, starts, width, threads=threads)
    expected = np.array([list(expected_sequence(records[c], s, s + width).encode()) for c, s in zip(chroms, starts)],
                        dtype=np.uint8).reshape(len(starts), width)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(slow.fetch_batch(chroms, starts, width), expected)


def test_sequence_matches_reference_and_pyfaidx(case):
    _, records, fast, slow = case
    rng = np.random.default_rng(7)
    for chrom, seq in records.items():
        n = len(seq)
        for start, end in [(-5, n + 5), (0, n), (n - 1, n + 1), (-3, 0), (n, n + 3), (2, 2),
                           *[tuple(sorted(rng.integers(-20, n + 20, size=2))) for _ in range(20)]]:
            want = expected_sequence(seq, int(start), int(end))
            assert fast.sequence(chrom, start, end) == want
            assert slow.sequence(chrom, start, end) == want


# --- encodings over the gather -----------------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2])
def test_encodings_match_reference_and_pyfaidx(case, tiny_chunks, threads):
    _, records, fast, slow = case
    width = 45
    rng = np.random.default_rng(11)
    chroms, starts = _windows(records, width, rng, extra=10)
    rc = rng.random(len(starts)) < 0.5
    texts = [expected_sequence(records[c], s, s + width) for c, s in zip(chroms, starts)]
    onehot = fast.onehot_batch(chroms, starts, width, n_value=0.25, rc=rc, threads=threads)
    ints = fast.integer_batch(chroms, starts, width, rc=rc, threads=threads)
    kmers = fast.kmers_batch(chroms, starts, width, 5, 3, rc=rc, threads=threads)
    for i, text in enumerate(texts):
        seen = _revcomp(text) if rc[i] else text
        assert same_bits(onehot[i], onehot_reference(seen, 0.25))
        np.testing.assert_array_equal(ints[i], integer_reference(seen))
        np.testing.assert_array_equal(kmers[i], kmer_reference(seen, 5, 3))
    assert same_bits(onehot, slow.onehot_batch(chroms, starts, width, n_value=0.25, rc=rc))
    np.testing.assert_array_equal(ints, slow.integer_batch(chroms, starts, width, rc=rc))
    np.testing.assert_array_equal(kmers, slow.kmers_batch(chroms, starts, width, 5, 3, rc=rc))
    chrom = next(c for c, s in records.items() if len(s) > 3)
    assert same_bits(fast.onehot(chrom, -4, 30), onehot_reference(expected_sequence(records[chrom], -4, 30)))
    np.testing.assert_array_equal(fast.kmers(chrom, -4, 30, 3, rc=True),
                                  kmer_reference(_revcomp(expected_sequence(records[chrom], -4, 30)), 3, 1))


def test_absent_chromosome_raises_on_both_paths(case):
    _, _, fast, slow = case
    for g in (fast, slow):
        with pytest.raises(ChromNotFound, match="chrNope"):
            g.onehot_batch(["chrNope"], [0], 10)


# --- the real FASTA ----------------------------------------------------------------------------------

@needs_volvox
@pytest.mark.parametrize("width", [1, 59, 60, 61, 101, 1000, 7000])
def test_volvox_matches_reference_and_pyfaidx(tiny_chunks, width):
    records = read_fasta_plain(VOLVOX_FA)
    rng = np.random.default_rng(width)
    chroms, starts = _windows(records, width, rng, extra=30)
    expected = np.array([list(expected_sequence(records[c], s, s + width).encode()) for c, s in zip(chroms, starts)],
                        dtype=np.uint8).reshape(len(starts), width)
    rc = rng.random(len(starts)) < 0.5
    with Genome(VOLVOX_FA) as fast, Genome(VOLVOX_FA, mmap=False) as slow:
        assert fast._src is not None
        np.testing.assert_array_equal(fast.fetch_batch(chroms, starts, width, threads=2), expected)
        np.testing.assert_array_equal(slow.fetch_batch(chroms, starts, width), expected)
        onehot = fast.onehot_batch(chroms, starts, width, rc=rc, threads=2)
        assert same_bits(onehot, slow.onehot_batch(chroms, starts, width, rc=rc))
        np.testing.assert_array_equal(fast.kmers_batch(chroms, starts, width, 3, rc=rc, threads=2),
                                      slow.kmers_batch(chroms, starts, width, 3, rc=rc))
        for i in range(0, len(starts), 17):
            text = expected.tobytes()[i * width:(i + 1) * width].decode()
            assert fast.sequence(chroms[i], starts[i], starts[i] + width) == text
            assert same_bits(onehot[i], onehot_reference(_revcomp(text) if rc[i] else text))


# --- the kernel's status ------------------------------------------------------------------------------

def test_gather_kernel_short_and_failed_reads_come_back_as_status(tmp_path):
    path = tmp_path / "short.fa"
    path.write_bytes(b">a\nACGTACGTAC\nGTAC\n")            # 14 bases from byte 3, 10 a line
    offset, lenc, lenb = np.array([3]), np.array([10]), np.array([11])
    starts = np.array([0, 8, 12], dtype=np.int64)
    out = np.zeros((3, 4), np.uint8)
    status = np.zeros(3, np.int64)
    length = np.array([40])                                 # the index says 40 bases: the file is shorter
    fd = os.open(path, os.O_RDONLY)
    try:
        K.gather_fasta_cpu(fd, offset, lenc, lenb, length, np.zeros(3, np.int64), starts, out, status, 0, 3)
    finally:
        os.close(fd)
    assert out[0].tobytes() == b"ACGT" and out[1].tobytes() == b"ACGT" and status[:2].tolist() == [0, 0]
    assert status[2] == K.ERR_FASTA_SHORT and out[2].tobytes() == b"NNNN"
    fd = os.open(tmp_path, os.O_RDONLY)                     # a directory: pread fails (EISDIR)
    try:
        status[:] = 0
        K.gather_fasta_cpu(fd, offset, lenc, lenb, length, np.zeros(3, np.int64), starts, out, status, 0, 1)
    finally:
        os.close(fd)
    assert status[0] == K.ERR_FASTA_READ and out[0].tobytes() == b"NNNN"


# --- a FASTA that shrinks under an open Genome -------------------------------------------------------

_CHILD = textwrap.dedent("""
    import os, shutil, sys
    import numpy as np
    from fastwig.errors import FastwigError
    from fastwig.genome import Genome
    from fastwig.io import identity

    src, work = sys.argv[1], sys.argv[2]
    for mode in ("truncate", "rewrite-shorter", "shrink-during-read"):
        path = os.path.join(work, mode + ".fa")
        shutil.copyfile(src, path)
        g = Genome(path)
        name = max(g.chroms, key=g.chroms.get)
        end = g.chroms[name]
        g.onehot_batch([name, name], [0, end - 500], 1000)          # read before the change
        size = os.path.getsize(path)
        if mode == "rewrite-shorter":
            with open(path, "r+b") as fh:
                head = fh.read(size // 3)
                fh.seek(0)
                fh.write(head)
                fh.truncate()
        else:
            os.truncate(path, size // 3)
        if mode == "shrink-during-read":
            # as if the file shrank after the descriptor's check: the kernel's short read must raise
            g._src.ident = identity(os.stat(path))
        for what, call in (("onehot_batch", lambda: g.onehot_batch(name, [end - 2000, 10], 1500, threads=2)),
                           ("sequence", lambda: g.sequence(name, end - 100, end + 10))):
            try:
                call()
            except FastwigError as exc:
                assert path in str(exc), str(exc)
                if mode == "shrink-during-read":
                    assert "truncated" in str(exc), str(exc)
                print("RAISED", mode, what, type(exc).__name__, exc, flush=True)
            else:
                print("NO-ERROR", mode, what, flush=True)
        g.close()
    print("CHILD-DONE", flush=True)
""")


def test_truncated_fasta_raises_naming_the_file_never_a_signal(tmp_path):
    src = write_case(tmp_path / "big.fa", "w60")
    with open(src, "ab") as fh:                              # a record long enough to span many pages
        fh.write(b">long\n" + b"".join(b"ACGTacgtNN" * 6 + b"\n" for _ in range(5000)))
    # the child imports the fastwig this process imported
    root = str(Path(genome_module.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", _CHILD, str(src), str(tmp_path)],
                          check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, report                      # a SIGBUS shows here as -7
    assert "CHILD-DONE" in proc.stdout and "NO-ERROR" not in proc.stdout, report
    for mode in ("truncate", "rewrite-shorter", "shrink-during-read"):
        for what in ("onehot_batch", "sequence"):
            assert f"RAISED {mode} {what} FormatError" in proc.stdout, report


# --- close, fork, pickle -------------------------------------------------------------------------------

def _open_descriptors_of(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for entry in fd_dir.iterdir():
        try:
            count += os.readlink(entry) == str(path)
        except OSError:
            pass
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to count descriptors")
def test_close_releases_descriptors_and_reads_after_close_raise(tmp_path):
    path = write_case(tmp_path / "c.fa", "w60").resolve()
    g = Genome(path)
    assert g.sequence("seq1", 0, 10) == read_fasta_plain(path)["seq1"][:10]
    g.onehot_batch("seq0", [0, 100, 2000], 500, threads=2)
    assert _open_descriptors_of(path) >= 1
    g.close()
    assert _open_descriptors_of(path) == 0
    calls = [lambda: g.sequence("seq0", 0, 5), lambda: g.onehot("seq0", 0, 5), lambda: g.kmers("seq0", 0, 9, 3),
             lambda: g.fetch_batch("seq0", [0], 5), lambda: g.onehot_batch("seq0", [0], 5),
             lambda: g.integer_batch("seq0", [0], 5), lambda: g.kmers_batch("seq0", [0], 9, 3)]
    for call in calls:
        with pytest.raises(FastwigError, match="closed"):
            call()
    g.close()                                               # twice: no error


def test_close_leaves_another_genome_of_the_same_file_working(tmp_path):
    path = write_case(tmp_path / "two.fa", "w60")
    a, b = Genome(path), Genome(path)
    a.sequence("seq0", 0, 10)
    b.sequence("seq0", 0, 10)
    a.close()
    assert b.sequence("seq0", 5, 25) == read_fasta_plain(path)["seq0"][5:25]
    b.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_reads_its_own_windows(tmp_path, tiny_chunks):
    path = write_case(tmp_path / "fork.fa", "mixed-widths")
    records = read_fasta_plain(path)
    g = Genome(path)
    g.onehot_batch("seq0", [0, 300], 200, threads=2)        # the pool holds a descriptor, threads exist
    width = 77
    chroms, starts = _windows(records, width, np.random.default_rng(5), extra=60)
    expected = np.array([list(expected_sequence(records[c], s, s + width).encode()) for c, s in zip(chroms, starts)],
                        dtype=np.uint8).reshape(len(starts), width)
    pid = os.fork()
    if pid == 0:                                            # the child: never returns into pytest
        ok = 0
        try:
            for _ in range(20):
                ok += np.array_equal(g.fetch_batch(chroms, starts, width, threads=2), expected)
        finally:
            os._exit(0 if ok == 20 else 1)
    for _ in range(20):
        np.testing.assert_array_equal(g.fetch_batch(chroms[::-1], starts[::-1], width, threads=2), expected[::-1])
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    g.close()


def test_pickle_reopens_on_the_same_path(tmp_path):
    path = write_case(tmp_path / "p.fa", "w7-crlf")
    for mmap in (True, False):
        with Genome(path, mmap=mmap) as g:
            again = pickle.loads(pickle.dumps(g))
            assert (again._src is not None) == mmap
            np.testing.assert_array_equal(again.fetch_batch("seq0", [-3, 50, 295], 20),
                                          g.fetch_batch("seq0", [-3, 50, 295], 20))
            again.close()

