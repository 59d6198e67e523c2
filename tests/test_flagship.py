"""The flagship case of issue 9 in small (``profiling/flagship.py`` measures it at full size).

- Many tracks: 50 distinct files (copies of 5 generated bigWigs of 5,000 one-record blocks each,
  interleaved) read in one :func:`fastwig.read_windows` call, per base and in Enformer bins, equal the
  reads of each file alone bit for bit, and pyBigWig's values (per base exactly; bins to float32
  rounding of a float64 mean), with the default block cache and with one too small for the batch.
- The Enformer dataset: ``WindowDataset(window=196_608, target_window=114_688, bin_size=128)`` over
  generated tracks and a generated genome, through a DataLoader with 2 workers, gives targets of shape
  ``(n, tracks, 896)`` equal to ``read_windows`` of the centred target crop, and the one-hot of the
  genome's bases as sequence.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import fastwig

pyBigWig = pytest.importorskip("pyBigWig")

CHROMS = {"chr1": 21_000_000, "chr2": 9_000_000}
BLOCKS = 5_000
SOURCES = 5
COPIES = 50
WINDOW, TARGET, BIN = 196_608, 114_688, 128


def sparse_bigwig(path, seed: int, n_blocks: int = BLOCKS) -> list:
    """One record of 50-2,000 bp in each of ``n_blocks`` equal stretches; one record per data block.
    Returns the records as (chrom, starts, ends, values)."""
    rng = np.random.default_rng(seed)
    total = sum(CHROMS.values())
    recs = []
    with fastwig.BigWigWriter(path, CHROMS, items_per_slot=1, zoom_levels=0, compress_level=1) as w:
        for name, size in CHROMS.items():
            k = n_blocks * size // total
            step = size // k
            starts = np.arange(k, dtype=np.int64) * step + rng.integers(0, step - 2000, k)
            ends = starts + rng.integers(50, 2000, k)
            values = rng.gamma(1.5, 4.0, k).astype(np.float32)
            w.add_intervals(name, starts, ends, values)
            recs.append((name, starts, ends, values))
    return recs


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    bases, records = [], []
    for k in range(SOURCES):
        p = folder / f"base{k}.bw"
        records.append(sparse_bigwig(p, seed=100 + k))
        bases.append(str(p))
    copies = []
    for i in range(COPIES):           # real copies: distinct inodes, distinct cache keys
        dst = folder / f"track{i:03d}.bw"
        shutil.copyfile(bases[i % SOURCES], dst)
        copies.append(str(dst))
    return bases, records, copies


def oracle(path: str, chroms, starts, width: int) -> np.ndarray:
    """pyBigWig's per-base values of each window (bases no record covers, or off the chromosome: 0)."""
    out = np.zeros((len(starts), width), dtype=np.float32)
    with pyBigWig.open(path) as bw:
        for i, (c, s) in enumerate(zip(chroms, starts)):
            lo, hi = max(0, int(s)), min(CHROMS[c], int(s) + width)
            if hi > lo:
                out[i, lo - s:hi - s] = np.nan_to_num(np.asarray(bw.values(c, lo, hi), dtype=np.float32))
    return out


def windows(records, n: int, width: int, seed: int):
    """``n`` windows of ``width`` that each overlap a record of the first source."""
    rng = np.random.default_rng(seed)
    chroms, starts = [], []
    for _ in range(n):
        name, s, _e, _v = records[0][rng.integers(len(records[0]))]
        j = rng.integers(len(s))
        chroms.append(name)
        starts.append(int(s[j]) - int(rng.integers(0, width - 1)))
    return np.array(chroms), np.array(starts, dtype=np.int64)


def test_sparse_files_have_one_block_per_record(many):
    bases, records, _ = many
    for path, recs in zip(bases, records):
        bw = fastwig.open(path)
        assert len(bw._index) == sum(len(r[1]) for r in recs) >= BLOCKS - len(CHROMS)
        assert bw.index_nbytes <= 24 * len(bw._index)


@pytest.mark.parametrize("cache_bytes", [None, 4 << 10], ids=["default-cache", "cache-too-small"])
@pytest.mark.parametrize("width,bin_size,n", [(1000, 1, 16), (WINDOW, BIN, 4)], ids=["per-base", "enformer-bins"])
def test_one_call_over_many_files_equals_each_file_alone(many, monkeypatch, cache_bytes, width, bin_size, n):
    bases, records, copies = many
    if cache_bytes is not None:
        monkeypatch.setattr(fastwig.settings, "cache_bytes", cache_bytes)
    chroms, starts = windows(records, n, width, seed=width + bin_size)
    batch = fastwig.read_windows([fastwig.open(p) for p in copies], chroms, starts, width, bin_size=bin_size)
    assert batch.shape == (n, COPIES, width // bin_size) and batch.dtype == np.float32
    assert np.count_nonzero(batch[:, 0]) > 0, "the windows read no record: the test would prove nothing"
    for t, path in enumerate(copies):
        alone = fastwig.read_windows([path], chroms, starts, width, bin_size=bin_size)
        assert np.array_equal(batch[:, t], alone[:, 0]), f"track {t} differs from its own read"
    for k, base in enumerate(bases):
        ref = oracle(base, chroms, starts, width).astype(np.float64)
        ref = ref.reshape(n, width // bin_size, bin_size).mean(axis=2)
        for t in range(k, COPIES, SOURCES):
            np.testing.assert_allclose(batch[:, t], ref, rtol=2e-7, atol=0, err_msg=f"track {t} (source {k})")
            if bin_size == 1:
                assert np.array_equal(batch[:, t], ref.astype(np.float32))


# --- the Enformer dataset -------------------------------------------------------------------------

GENOME = {"chr1": 1_300_000, "chr2": 700_000}


@pytest.fixture(scope="module")
def enformer_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enformer")
    rng = np.random.default_rng(5)
    seqs = {name: rng.choice(np.frombuffer(b"ACGTN", np.uint8), size, p=[0.24, 0.24, 0.24, 0.24, 0.04])
            for name, size in GENOME.items()}
    fasta = folder / "genome.fa"
    with open(fasta, "wb") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name}\n".encode())
            fh.write(b"\n".join(seq[i:i + 70].tobytes() for i in range(0, seq.size, 70)) + b"\n")
    tracks = []
    for k in range(3):
        path = folder / f"track{k}.bw"
        with fastwig.BigWigWriter(path, GENOME, items_per_slot=256) as w:
            for name, size in GENOME.items():
                lens = rng.integers(1, 300, size // 100)
                starts = np.cumsum(lens + rng.integers(0, 120, lens.size)) - lens
                keep = starts + lens <= size
                w.add_intervals(name, starts[keep], starts[keep] + lens[keep],
                                rng.gamma(1.0, 3.0, keep.sum()).astype(np.float32))
        tracks.append(str(path))
    return tracks, str(fasta), seqs


def onehot(seqs, chrom: str, start: int, width: int) -> np.ndarray:
    """(4, width) float32: rows A C G T; N and bases off the chromosome all zero."""
    out = np.zeros((4, width), dtype=np.float32)
    lo, hi = max(0, start), min(GENOME[chrom], start + width)
    part = seqs[chrom][lo:hi]
    for row, letter in enumerate(b"ACGT"):
        out[row, lo - start:hi - start] = part == letter
    return out


def test_enformer_dataset_through_a_dataloader_with_two_workers(enformer_files):
    tracks, fasta, seqs = enformer_files
    ds = fastwig.WindowDataset(tracks, fasta, window=WINDOW, target_window=TARGET, bin_size=BIN, n_samples=8, seed=3)
    assert ds.n_bins == TARGET // BIN == 896
    loader = ds.loader(batch_size=4, num_workers=2, multiprocessing_context="fork")
    batches = list(loader)
    assert sum(len(b["index"]) for b in batches) == 8
    seen = set()
    offset = (WINDOW - TARGET) // 2
    for b in batches:
        n = len(b["index"])
        assert tuple(b["sequence"].shape) == (n, 4, WINDOW)
        assert tuple(b["targets"].shape) == (n, len(tracks), 896)
        where = ds.windows(b["index"].numpy())       # the main process places the same windows
        assert list(where.chrom) == list(b["chrom"]) and np.array_equal(where.start, b["start"].numpy())
        starts = b["start"].numpy().astype(np.int64)
        want = fastwig.read_windows(tracks, list(b["chrom"]), starts + offset, TARGET, bin_size=BIN)
        assert np.array_equal(b["targets"].numpy(), want)
        assert np.count_nonzero(want) > 0
        for i, (c, s) in enumerate(zip(b["chrom"], starts)):
            assert np.array_equal(b["sequence"][i].numpy(), onehot(seqs, c, int(s), WINDOW))
            per_base = oracle_values(tracks, c, int(s) + offset, TARGET)
            np.testing.assert_allclose(b["targets"][i].numpy(), per_base.reshape(len(tracks), 896, BIN).mean(axis=2),
                                       rtol=2e-7, atol=1e-12)
        seen.update(b["index"].tolist())
    assert seen == set(range(8))


def oracle_values(tracks, chrom: str, start: int, width: int) -> np.ndarray:
    """(tracks, width) float64 per-base values from pyBigWig, 0 where no record covers or off the chromosome."""
    out = np.zeros((len(tracks), width))
    lo, hi = max(0, start), min(GENOME[chrom], start + width)
    for t, path in enumerate(tracks):
        with pyBigWig.open(path) as bw:
            out[t, lo - start:hi - start] = np.nan_to_num(np.asarray(bw.values(chrom, lo, hi), dtype=np.float64))
    return out
