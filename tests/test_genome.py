"""Genome: sequence, one-hot, integer and k-mer encodings; the one-hot kernel against a numpy reference."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwig.errors import ChromNotFound, FastwigError, RangeError
from fastwig.genome import Genome
from fastwig.kernels import onehot as K

VOLVOX = Path(__file__).resolve().parents[2] / "shared" / "data" / "volvox"
VOLVOX_FA = VOLVOX / "volvox.fa"
needs_volvox = pytest.mark.skipif(not VOLVOX_FA.exists(), reason=f"volvox test data not found at {VOLVOX}")

# records of the generated FASTA: soft-masking, N runs, IUPAC codes, lengths that are and are not
# multiples of the line width, a 1-base record
RECORDS = {
    "chr1": "ACGTacgtNNNNacgtRYKMSWBDHVNacgtACGTTTTTGGGGCCCCAAAAnnnnACGTAC" * 3 + "ACG",
    "chr2": "gattaca" * 20,
    "chrM": "A",
    "chr_long_name": "TTGCA" * 13,
}


def write_fasta(path: Path, records: dict[str, str], width: int = 11, newline: str = "\n") -> Path:
    with open(path, "w", newline="") as fh:
        for name, seq in records.items():
            fh.write(f">{name} some description{newline}")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + newline)
    return path


def expected_sequence(seq: str, start: int, end: int) -> str:
    return "".join(seq[p] if 0 <= p < len(seq) else "N" for p in range(start, end))


def onehot_reference(seq: str | bytes, n_value: float = 0.0) -> np.ndarray:
    """Plain-numpy one-hot: float32 (4, L), rows A, C, G, T."""
    if isinstance(seq, str):
        seq = seq.encode("latin-1")
    table = np.full((256, 4), n_value, dtype=np.float32)
    for row, letters in enumerate((b"Aa", b"Cc", b"Gg", b"Tt")):
        for c in letters:
            table[c] = 0.0
            table[c, row] = 1.0
    return np.ascontiguousarray(table[np.frombuffer(seq, dtype=np.uint8)].T)


def integer_reference(seq: str) -> np.ndarray:
    lut = {"A": 0, "C": 1, "G": 2, "T": 3}
    return np.array([lut.get(c.upper(), 4) for c in seq], dtype=np.uint8)


def kmer_reference(seq: str, k: int, stride: int) -> np.ndarray:
    lut = {"A": 0, "C": 1, "G": 2, "T": 3}
    out = []
    for s in range(0, len(seq) - k + 1, stride):
        kmer = seq[s:s + k].upper()
        if all(c in lut for c in kmer):
            token = 0
            for c in kmer:
                token = token * 4 + lut[c]
            out.append(token)
        else:
            out.append(4 ** k)
    return np.array(out, dtype=np.int64)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.fixture(scope="module")
def fasta(tmp_path_factory) -> Path:
    return write_fasta(tmp_path_factory.mktemp("fa") / "small.fa", RECORDS)


@pytest.fixture(scope="module", params=[True, False], ids=["mmap", "pyfaidx"])
def genome(request, fasta) -> Genome:
    g = Genome(fasta, mmap=request.param)
    yield g
    g.close()


# --- the kernel ---------------------------------------------------------------------------------

ALL_BYTES = np.arange(256, dtype=np.uint8)


@pytest.mark.parametrize("n_value", [0.0, 0.25])
def test_onehot_kernel_all_bytes_bit_for_bit(n_value):
    codes = np.stack([ALL_BYTES, ALL_BYTES[::-1]])
    out = np.full((2, 4, 256), np.nan, dtype=np.float32)
    K.onehot_batch_cpu(codes, np.zeros(2, np.uint8), out, np.float32(n_value), 0, 2)
    for i in range(2):
        assert same_bits(out[i], onehot_reference(codes[i].tobytes(), n_value))


def test_onehot_kernel_reverse_complement_is_flip_of_both_axes():
    rng = np.random.default_rng(0)
    codes = rng.choice(np.frombuffer(b"ACGTacgtNRYn", np.uint8), size=(5, 37)).astype(np.uint8)
    fwd = np.empty((5, 4, 37), np.float32)
    rev = np.empty((5, 4, 37), np.float32)
    K.onehot_batch_cpu(codes, np.zeros(5, np.uint8), fwd, np.float32(0.25), 0, 5)
    K.onehot_batch_cpu(codes, np.ones(5, np.uint8), rev, np.float32(0.25), 0, 5)
    assert same_bits(rev, np.ascontiguousarray(fwd[:, ::-1, ::-1]))
    ints = np.empty((5, 37), np.uint8)
    ints_rc = np.empty((5, 37), np.uint8)
    K.integer_batch_cpu(codes, np.zeros(5, np.uint8), ints, 0, 5)
    K.integer_batch_cpu(codes, np.ones(5, np.uint8), ints_rc, 0, 5)
    expected = np.where(ints == 4, 4, 3 - ints)[:, ::-1]
    np.testing.assert_array_equal(ints_rc, expected)


def test_onehot_kernel_item_range_writes_only_its_windows():
    codes = np.frombuffer(b"ACGTN" * 8, np.uint8).reshape(4, 10).copy()
    out = np.full((4, 4, 10), -1.0, dtype=np.float32)
    K.onehot_batch_cpu(codes, np.zeros(4, np.uint8), out, np.float32(0.0), 1, 3)
    assert np.all(out[0] == -1.0) and np.all(out[3] == -1.0)
    assert same_bits(out[1], onehot_reference(codes[1].tobytes()))


# --- sequence -------------------------------------------------------------------------------------

def test_chroms_in_fasta_order(genome):
    assert genome.chroms == {name: len(seq) for name, seq in RECORDS.items()}
    assert list(genome.chroms) == list(RECORDS)
    assert "chr1" in genome and "chrX" not in genome


def test_sequence_every_window_of_small_record(genome):
    seq = RECORDS["chr2"]
    for start in range(-3, len(seq) + 3, 5):
        for end in range(start, start + 30, 7):
            assert genome.sequence("chr2", start, end) == expected_sequence(seq, start, end)


def test_sequence_past_both_ends_and_empty(genome):
    assert genome.sequence("chrM", -2, 3) == "NNANN"
    assert genome.sequence("chr1", 500, 505) == "NNNNN"
    assert genome.sequence("chr1", -10, -5) == "NNNNN"
    assert genome.sequence("chr1", 7, 7) == ""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chrom=st.sampled_from(list(RECORDS)), start=st.integers(-50, 250), length=st.integers(0, 120))
def test_sequence_random_windows(fasta, chrom, start, length):
    g = _cached_genome(fasta)
    assert g.sequence(chrom, start, start + length) == expected_sequence(RECORDS[chrom], start, start + length)


_GENOMES: dict[Path, Genome] = {}


def _cached_genome(path: Path) -> Genome:
    if path not in _GENOMES:
        _GENOMES[path] = Genome(path)
    return _GENOMES[path]


def test_soft_masking_kept_in_sequence_and_encoded_as_bases(genome):
    assert genome.sequence("chr2", 0, 7) == "gattaca"
    np.testing.assert_array_equal(genome.onehot("chr2", 0, 7), onehot_reference("GATTACA"))
    np.testing.assert_array_equal(genome.integer("chr2", 0, 7), [2, 0, 3, 3, 0, 1, 0])


def test_crlf_fasta(tmp_path):
    path = write_fasta(tmp_path / "crlf.fa", RECORDS, width=7, newline="\r\n")
    for mmap in (True, False):
        with Genome(path, mmap=mmap) as g:
            for chrom, seq in RECORDS.items():
                assert g.sequence(chrom, -1, len(seq) + 1) == "N" + seq + "N"


# --- encodings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_value", [0.0, 0.25])
def test_onehot_matches_reference(genome, n_value):
    for chrom, seq in RECORDS.items():
        for start, end in [(0, len(seq)), (-5, 12), (len(seq) - 3, len(seq) + 4), (3, 3)]:
            got = genome.onehot(chrom, start, end, n_value=n_value)
            assert got.dtype == np.float32 and got.shape == (4, end - start)
            assert same_bits(got, onehot_reference(expected_sequence(seq, start, end), n_value))


def test_n_and_iupac_encode_as_no_base(genome):
    seq = genome.sequence("chr1", 8, 26)  # NNNNacgtRYKMSWBDHV
    assert seq == "NNNNacgtRYKMSWBDHV"
    oh = genome.onehot("chr1", 8, 26)
    not_base = np.array([c.upper() not in "ACGT" for c in seq])
    assert np.all(oh[:, not_base] == 0.0)
    assert np.all(oh[:, ~not_base].sum(axis=0) == 1.0)
    assert np.all(genome.onehot("chr1", 8, 26, n_value=0.25)[:, not_base] == 0.25)
    assert np.all(genome.integer("chr1", 8, 26)[not_base] == 4)


def test_integer_matches_reference(genome):
    for chrom, seq in RECORDS.items():
        got = genome.integer(chrom, -2, len(seq) + 2)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, integer_reference(expected_sequence(seq, -2, len(seq) + 2)))


@pytest.mark.parametrize("k,stride", [(1, 1), (3, 1), (3, 3), (5, 2), (6, 7)])
def test_kmers_match_reference(genome, k, stride):
    for chrom, seq in RECORDS.items():
        got = genome.kmers(chrom, -1, len(seq), k, stride)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, kmer_reference(expected_sequence(seq, -1, len(seq)), k, stride))


def test_kmers_token_ids(genome):
    # chr2 = gattaca...: GAT = 2*16 + 0*4 + 3
    assert genome.kmers("chr2", 0, 3, 3)[0] == 2 * 16 + 3
    assert genome.kmers("chrM", 0, 3, 3)[0] == 4 ** 3  # A then past the end (N)
    assert genome.kmers("chr2", 0, 2, 3).shape == (0,)
    with pytest.raises(RangeError):
        genome.kmers("chr2", 0, 10, 0)
    with pytest.raises(RangeError):
        genome.kmers("chr2", 0, 10, 32)
    with pytest.raises(RangeError):
        genome.kmers("chr2", 0, 10, 3, stride=0)


# --- batches --------------------------------------------------------------------------------------

def test_onehot_batch_equals_per_window(genome):
    rng = np.random.default_rng(1)
    names = list(RECORDS)
    chroms = rng.choice(names, size=40)
    starts = rng.integers(-30, 200, size=40)
    width = 25
    rc = rng.random(40) < 0.5
    for n_value in (0.0, 0.25):
        batch = genome.onehot_batch(chroms, starts, width, n_value=n_value)
        assert batch.shape == (40, 4, width) and batch.dtype == np.float32
        batch_rc = genome.onehot_batch(chroms, starts, width, n_value=n_value, rc=rc)
        for i in range(40):
            one = genome.onehot(chroms[i], starts[i], starts[i] + width, n_value=n_value)
            assert same_bits(batch[i], one)
            assert same_bits(batch_rc[i], np.ascontiguousarray(one[::-1, ::-1]) if rc[i] else one)
    ids = np.array([names.index(c) for c in chroms])
    assert same_bits(genome.onehot_batch(ids, starts, width), genome.onehot_batch(chroms, starts, width))
    out = np.empty((40, 4, width), np.float32)
    assert genome.onehot_batch(list(chroms), list(starts), width, out=out) is out
    np.testing.assert_array_equal(out, genome.onehot_batch(chroms, starts, width))
    ints = genome.integer_batch(chroms, starts, width)
    for i in range(0, 40, 7):
        np.testing.assert_array_equal(ints[i], genome.integer(chroms[i], starts[i], starts[i] + width))


def test_onehot_batch_single_chrom_name_and_empty(genome):
    batch = genome.onehot_batch("chr2", [0, 7], 7)
    assert same_bits(batch[0], batch[1])
    assert genome.onehot_batch([], [], 10).shape == (0, 4, 10)
    assert genome.onehot_batch(["chr1"], [0], 0).shape == (1, 4, 0)
    raw = genome.fetch_batch(["chrM", "chr2"], [-1, 0], 3)
    assert raw.tobytes() == b"NANgat"


def test_mmap_and_pyfaidx_paths_agree(fasta):
    rng = np.random.default_rng(2)
    chroms = rng.choice(list(RECORDS), size=60)
    starts = rng.integers(-40, 220, size=60)
    with Genome(fasta) as fast, Genome(fasta, mmap=False) as slow:
        assert fast._src is not None and slow._src is None
        np.testing.assert_array_equal(fast.fetch_batch(chroms, starts, 33), slow.fetch_batch(chroms, starts, 33))


# --- errors, pickling, import hygiene -----------------------------------------------------------

def test_errors_name_the_file(genome, fasta):
    with pytest.raises(ChromNotFound, match="chrX") as info:
        genome.sequence("chrX", 0, 10)
    assert str(fasta) in str(info.value)
    assert isinstance(info.value, KeyError) and isinstance(info.value, FastwigError)
    with pytest.raises(ChromNotFound):
        genome.onehot_batch(["chr1", "nope"], [0, 0], 5)
    with pytest.raises(ChromNotFound):
        genome.onehot_batch(np.array([0, 9]), [0, 0], 5)
    with pytest.raises(RangeError):
        genome.sequence("chr1", 10, 5)
    with pytest.raises(ValueError):
        genome.onehot_batch(["chr1"], [0, 1], 5)
    with pytest.raises(FastwigError, match="missing.fa"):
        Genome(fasta.parent / "missing.fa")


def test_pickle_reopens(fasta):
    g = Genome(fasta)
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.chroms == g.chroms and g2.sequence("chr2", 0, 20) == g.sequence("chr2", 0, 20)
    g.close()
    with pytest.raises(FastwigError, match="closed"):
        g.sequence("chr2", 0, 5)
    with pytest.raises(FastwigError, match="closed"):
        g.onehot_batch("chr2", [0], 5)


def test_import_does_not_load_pyfaidx():
    root = Path(__file__).resolve().parents[1]
    code = ("import sys, fastwig, fastwig.genome, fastwig.regions; "
            "assert 'pyfaidx' not in sys.modules, 'pyfaidx imported'")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)


# --- volvox, against pyfaidx ----------------------------------------------------------------------

@needs_volvox
def test_volvox_random_windows_vs_pyfaidx():
    import pyfaidx

    ref = pyfaidx.Fasta(str(VOLVOX_FA), as_raw=True, sequence_always_upper=False)
    rng = np.random.default_rng(3)
    with Genome(VOLVOX_FA) as g:
        assert g.chroms == {"ctgA": 50001, "ctgB": 6079}
        for _ in range(300):
            chrom = str(rng.choice(["ctgA", "ctgB"]))
            length = g.chroms[chrom]
            start = int(rng.integers(-200, length + 100))
            end = start + int(rng.integers(0, 1500))
            lo, hi = max(start, 0), min(end, length)
            body = ref[chrom][lo:hi] if hi > lo else ""
            expected = "N" * (lo - start) + body + "N" * (end - start - (lo - start) - len(body))
            assert g.sequence(chrom, start, end) == expected
        # ends, exactly
        assert g.sequence("ctgA", 49990, 50010) == ref["ctgA"][49990:50001] + "N" * 9
        assert g.sequence("ctgB", -4, 4) == "NNNN" + ref["ctgB"][0:4]
        # soft-masking: volvox is mostly lowercase; encoding ignores case
        s = g.sequence("ctgA", 0, 2000)
        assert any(c.islower() for c in s) and any(c.isupper() for c in s)
        assert same_bits(g.onehot("ctgA", 0, 2000), onehot_reference(s.upper()))
        starts = rng.integers(-500, 50500, size=64)
        batch = g.onehot_batch("ctgA", starts, 1000)
        for i in range(0, 64, 9):
            assert same_bits(batch[i], onehot_reference(g.sequence("ctgA", starts[i], starts[i] + 1000)))
