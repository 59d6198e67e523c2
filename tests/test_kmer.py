"""k-mer tokens (``Genome.kmers_batch``, ``Genome.kmers``, :mod:`kernels.kmer`) against a plain-Python reference.

The reference below reads the sequence as a string and tokenises it the obvious way; the kernel
computes tokens with a rolling value, in runs.  Cases: k from 1 to 31, every stride 1..k, windows
over both chromosome ends, N runs, IUPAC codes, soft-masked runs, reverse complement (also against
``Genome.kmers`` of a FASTA holding the reverse-complement records), generated and real sequence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastwig.kernels import kmer as KK
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import VOLVOX_DIR

from fastwig.errors import RangeError
from fastwig.genome import Genome

VOLVOX_FA = VOLVOX_DIR / "volvox.fa"

_CODE = {"A": 0, "C": 1, "G": 2, "T": 3}
_COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "a": "t", "c": "g", "g": "c", "t": "a"}


def reference_tokens(seq: str, k: int, stride: int) -> list[int]:
    """Tokens of ``seq``: k-mer at ``t * stride`` as a base-4 number, first base most significant;
    ``4**k`` for a k-mer with anything but ACGT (either case)."""
    out = []
    for s in range(0, len(seq) - k + 1, stride):
        kmer = seq[s:s + k].upper()
        if all(c in _CODE for c in kmer):
            value = 0
            for c in kmer:
                value = value * 4 + _CODE[c]
            out.append(value)
        else:
            out.append(4 ** k)
    return out


def revcomp(seq: str) -> str:
    """Reverse complement; anything but ACGT/acgt becomes N (it is "not a base" either way)."""
    return "".join(_COMP.get(c, "N") for c in reversed(seq))


def window_text(seq: str, start: int, width: int) -> str:
    return "".join(seq[p] if 0 <= p < len(seq) else "N" for p in range(start, start + width))


def _random_record(rng: np.random.Generator, length: int) -> str:
    seq = list(rng.choice(list("ACGT"), size=length))
    for _ in range(4):  # soft-masked runs
        a = int(rng.integers(0, length))
        for p in range(a, min(length, a + int(rng.integers(1, 60)))):
            seq[p] = seq[p].lower()
    for _ in range(3):  # N runs, lower and upper case
        a, run = int(rng.integers(0, length)), int(rng.integers(1, 12))
        seq[a:a + run] = ["N" if run % 2 else "n"] * len(seq[a:a + run])
    for p in rng.integers(0, length, size=5):  # IUPAC codes
        seq[int(p)] = str(rng.choice(list("RYKMSWBDHVn")))
    return "".join(seq)


RNG = np.random.default_rng(13)
RECORDS = {
    "chr1": _random_record(RNG, 700),
    "chr2": "ACGTacgtNNNNacgtRYKMSWBDHVNacgtACGTTTTTGGGGCCCCAAAAnnnnACGTAC" * 3 + "ACG",
    "chr3": "T" * 40 + "a" * 40,
    "chrM": "G",
}


def write_fasta(path: Path, records: dict[str, str], width: int = 13) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
    return path


@pytest.fixture(scope="module")
def genomes(tmp_path_factory):
    """The generated FASTA and one holding the reverse complement of each record."""
    tmp = tmp_path_factory.mktemp("kmer")
    fwd = Genome(write_fasta(tmp / "fwd.fa", RECORDS))
    rev = Genome(write_fasta(tmp / "rev.fa", {n: revcomp(s) for n, s in RECORDS.items()}))
    yield fwd, rev
    fwd.close()
    rev.close()


def _windows(width: int) -> tuple[list[str], np.ndarray]:
    """Windows over every record: across the start, inside, across the end, wholly outside."""
    chroms, starts = [], []
    for name, seq in RECORDS.items():
        n = len(seq)
        for s in (-width + 1, -3, 0, n // 3, n - width, n - width + 2, n - 1, n + 5):
            chroms.append(name)
            starts.append(s)
    return chroms, np.array(starts, dtype=np.int64)


@pytest.mark.parametrize("k", range(1, KK.MAX_K + 1))
def test_kmers_batch_matches_reference_every_stride(genomes, k):
    fwd, _ = genomes
    width = 2 * k + 23
    chroms, starts = _windows(width)
    rc = (np.arange(starts.size) % 3 == 1)
    for stride in range(1, k + 1):
        got = fwd.kmers_batch(chroms, starts, width, k, stride, rc=rc)
        assert got.dtype == np.int64 and got.shape == (starts.size, (width - k) // stride + 1)
        for i, (c, s) in enumerate(zip(chroms, starts)):
            text = window_text(RECORDS[c], int(s), width)
            want = reference_tokens(revcomp(text) if rc[i] else text, k, stride)
            assert got[i].tolist() == want, (k, stride, c, int(s), bool(rc[i]))


@pytest.mark.parametrize("k,stride", [(1, 1), (3, 1), (4, 2), (5, 2), (6, 6), (7, 9), (31, 1), (31, 30)])
def test_kmers_batch_rows_equal_kmers_and_reverse_complement_equals_kmers_of_rc_record(genomes, k, stride):
    fwd, rev = genomes
    width = 45
    chroms, starts = _windows(width)
    for flip in (False, True):
        got = fwd.kmers_batch(chroms, starts, width, k, stride, rc=np.full(starts.size, flip))
        for i, (c, s) in enumerate(zip(chroms, starts)):
            s = int(s)
            assert np.array_equal(got[i], fwd.kmers(c, s, s + width, k, stride, rc=flip))
            if flip:
                # [s, s + w) reverse-complemented is [n - s - w, n - s) of the reverse-complement record
                n = len(RECORDS[c])
                assert np.array_equal(got[i], rev.kmers(c, n - s - width, n - s, k, stride)), (c, s)


def test_token_values_and_vocabulary(genomes):
    fwd, _ = genomes
    # chr3 is 40 T then 40 a: lower case reads as its base
    assert fwd.kmers("chr3", 0, 3, 3)[0] == 63
    assert fwd.kmers("chr3", 40, 43, 3)[0] == 0
    assert fwd.kmers("chr3", 38, 41, 3)[0] == 3 * 16 + 3 * 4 + 0
    assert fwd.kmers("chr3", 38, 41, 3, rc=True)[0] == 3 * 16 + 0 * 4 + 0   # rc of "TTa" is "tAA"
    # past the end and N both give 4**k; the largest k keeps every token in int64
    assert fwd.kmers("chrM", 0, 2, 2)[0] == 16
    assert fwd.kmers("chr3", 0, 31, 31)[0] == 4 ** 31 - 1
    assert fwd.kmers("chr3", 50, 81, 31)[0] == 4 ** 31
    assert fwd.kmers_batch("chr3", [0, 1], 31, 31).tolist() == [[4 ** 31 - 1], [4 ** 31 - 1]]


def test_shapes_errors_out_and_threads(genomes):
    fwd, _ = genomes
    assert fwd.kmers_batch("chr1", [0, 5], 2, 3).shape == (2, 0)
    assert fwd.kmers_batch("chr1", [], 100, 3).shape == (0, 98)
    assert fwd.kmers_batch(np.array([0, 1]), [0, 5], 10, 3, stride=4).shape == (2, 2)
    for k, stride in ((0, 1), (32, 1), (3, 0)):
        with pytest.raises(RangeError):
            fwd.kmers_batch("chr1", [0], 10, k, stride)
    with pytest.raises(RangeError):
        fwd.kmers_batch("chr1", [0, 1], 10, 3, rc=[True])
    out = np.full((3, 8), -1, dtype=np.int64)
    res = fwd.kmers_batch("chr1", [0, 10, 600], 10, 3, out=out)
    assert res is out and np.array_equal(out, fwd.kmers_batch("chr1", [0, 10, 600], 10, 3))
    with pytest.raises(RangeError):
        fwd.kmers_batch("chr1", [0, 10, 600], 10, 3, out=np.empty((3, 8), dtype=np.int32))
    starts = np.arange(-50, 650, 3)
    one = fwd.kmers_batch("chr1", starts, 64, 5, 2, rc=starts % 2 == 0, threads=1)
    assert np.array_equal(one, fwd.kmers_batch("chr1", starts, 64, 5, 2, rc=starts % 2 == 0, threads=4))


def test_driver_writes_only_its_windows_and_runs_of_any_length_agree():
    """The CPU driver's item range, and the per-item functions used as the GPU driver uses them: every
    window coded into its own lanes, tokens computed in runs of any length."""
    rng = np.random.default_rng(1)
    codes = rng.choice(np.frombuffer(b"ACGTacgtNRn", np.uint8), size=(5, 57)).astype(np.uint8)
    rc = np.array([0, 1, 0, 1, 1], np.uint8)
    for k, stride in ((1, 1), (3, 1), (5, 2), (8, 3), (4, 7), (31, 1)):
        tokens = KK.n_tokens(57, k, stride)
        whole = np.full((5, tokens), -1, np.int64)
        KK.kmer_batch_cpu(codes, rc, whole, k, stride, 1, 3)
        assert (whole[[0, 3, 4]] == -1).all() and (whole[1:3] >= 0).all()
        KK.kmer_batch_cpu(codes, rc, whole, k, stride, 0, 5)
        lanes_len = -(-57 // stride)
        lanes = np.full((5, stride * lanes_len), 255, np.uint8)
        for i in range(5):
            for phase in range(stride):
                for m in range(lanes_len):
                    if phase + m * stride < 57:
                        KK.kmer_code(codes[i], lanes[i], phase, m, lanes_len, stride, rc[i] != 0)
        for run in (1, 2, 5, tokens):
            cut = np.full_like(whole, -1)
            for i in range(5):
                for t0 in range(0, tokens, run):
                    KK.kmer_run(lanes[i], cut[i], t0, min(t0 + run, tokens), k, stride, lanes_len)
            assert np.array_equal(cut, whole), (k, stride, run)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=st.text(alphabet="ACGTacgtNnRY-", min_size=0, max_size=90), k=st.integers(1, 31),
       stride=st.integers(1, 33), rc=st.booleans())
def test_kernel_matches_reference_on_random_sequence(seq, k, stride, rc):
    codes = np.frombuffer(seq.encode(), dtype=np.uint8).reshape(1, -1).copy()
    out = np.empty((1, KK.n_tokens(len(seq), k, stride)), dtype=np.int64)
    KK.kmer_batch_cpu(codes, np.array([rc], np.uint8), out, k, stride, 0, 1)
    assert out[0].tolist() == reference_tokens(revcomp(seq) if rc else seq, k, stride)


@pytest.mark.skipif(not VOLVOX_FA.exists(), reason=f"volvox test data not found at {VOLVOX_DIR}")
@pytest.mark.parametrize("k,stride", [(1, 1), (3, 1), (5, 2), (6, 3), (12, 12), (31, 7)])
def test_volvox_random_windows_vs_pyfaidx_reference(k, stride):
    """Real sequence: the reference reads the text through pyfaidx, not through fastwig's gather."""
    import pyfaidx

    fa = pyfaidx.Fasta(str(VOLVOX_FA), as_raw=True, sequence_always_upper=False)
    rng = np.random.default_rng(k * 100 + stride)
    width = 300
    with Genome(VOLVOX_FA) as g:
        names = list(g.chroms)
        chroms = [names[i] for i in rng.integers(0, len(names), size=40)]
        starts = np.array([rng.integers(-width, g.chroms[c] + 10) for c in chroms], dtype=np.int64)
        starts[:2] = [-5, g.chroms[chroms[1]] - width + 7]
        rc = rng.integers(0, 2, size=starts.size).astype(bool)
        got = g.kmers_batch(chroms, starts, width, k, stride, rc=rc)
    for i, (c, s) in enumerate(zip(chroms, starts)):
        s = int(s)
        lo, hi = max(s, 0), min(s + width, len(fa[c]))
        text = "N" * (lo - s) + (fa[c][lo:hi] if hi > lo else "") + "N" * (s + width - max(hi, lo))
        assert len(text) == width
        assert got[i].tolist() == reference_tokens(revcomp(text) if rc[i] else text, k, stride), (c, s)
    fa.close()
