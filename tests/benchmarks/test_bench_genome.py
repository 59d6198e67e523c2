"""Sequence encoders on batches of 256 windows of 1 kb: k-mer tokens against one-hot (issue 13).

    pytest tests/benchmarks/test_bench_genome.py --benchmark-enable     # (or -m bench, --benchmark-only)

A random-sequence FASTA of 64 Mb (8 records, 80 bases a line, soft-masked and N stretches; generated on
first use into $FASTWIG_BENCH_DATA or ~/.cache/fastwig-bench, ~2 s) and batches of 256 windows of
1,000 bp at uniform random places.  Each group times the same windows through
``Genome.onehot_batch`` (float32 (256, 4, 1000)) and ``Genome.kmers_batch`` (int64 (256, tokens)):

- ``genome-k3s1`` / ``genome-k5s2``: the whole call, FASTA gather included (what the dataset pays);
- ``encode-k3s1`` / ``encode-k5s2``: the encoder kernels alone on bytes already gathered.

Each round draws a fresh batch of windows (``pedantic`` setup, not timed).  Threads: 2.  Performance is
measured here, never asserted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fastwig.kernels import kmer as KK
from fastwig.kernels import onehot as K

from fastwig.genome import Genome

pytestmark = pytest.mark.bench

BATCH = 256
WIDTH = 1000
THREADS = 2
ROUNDS = int(os.environ.get("FASTWIG_BENCH_ROUNDS", "20"))
RECORDS = 8
RECORD_BASES = 8_000_000
LINE = 80     # divides RECORD_BASES
SETTINGS = {"k3s1": (3, 1), "k5s2": (5, 2)}


def _write_fasta(path: Path, seed: int = 0) -> None:
    """Random ACGT with soft-masked and N stretches, and its .fai (written here: pyfaidx indexes slowly)."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGTacgtN", dtype=np.uint8)
    fai = []
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for r in range(RECORDS):
            name = f"chr{r + 1}"
            fh.write(f">{name}\n".encode())
            offset = fh.tell()
            seq = letters[rng.integers(0, 4, size=RECORD_BASES, dtype=np.uint8)]
            for a in rng.integers(0, RECORD_BASES, size=2000):      # soft-masked repeats, ~5% of bases
                seq[a:a + 200] |= 32
            for a in rng.integers(0, RECORD_BASES, size=50):        # N stretches
                seq[a:a + 500] = ord("N")
            lines = seq.reshape(-1, LINE)
            fh.write(np.hstack([lines, np.full((lines.shape[0], 1), 10, np.uint8)]).tobytes())
            fai.append(f"{name}\t{RECORD_BASES}\t{offset}\t{LINE}\t{LINE + 1}\n")
    os.replace(tmp, path)
    Path(str(path) + ".fai").write_text("".join(fai))


@pytest.fixture(scope="module")
def genome():
    folder = Path(os.environ.get("FASTWIG_BENCH_DATA", Path.home() / ".cache" / "fastwig-bench"))
    path = folder / f"kmer-genome-{RECORDS}x{RECORD_BASES}" / "genome.fa"
    if not (path.exists() and Path(str(path) + ".fai").exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_fasta(path)
    with Genome(path) as g:
        yield g


def _batches(genome, seed: int):
    """setup for ``pedantic``: a fresh batch of windows per round."""
    rng = np.random.default_rng(seed)
    names = list(genome.chroms)

    def setup():
        chroms = np.array([names[i] for i in rng.integers(0, len(names), size=BATCH)])
        starts = rng.integers(0, RECORD_BASES - WIDTH, size=BATCH)
        rc = rng.integers(0, 2, size=BATCH).astype(bool)
        return (chroms, starts, rc), {}
    return setup


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("encoder", ["onehot", "kmers"])
def test_genome_batch(benchmark, genome, setting, encoder):
    k, stride = SETTINGS[setting]
    benchmark.group = f"genome-{setting}"
    if encoder == "onehot":
        def run(chroms, starts, rc):
            return genome.onehot_batch(chroms, starts, WIDTH, rc=rc, threads=THREADS)
    else:
        def run(chroms, starts, rc):
            return genome.kmers_batch(chroms, starts, WIDTH, k, stride, rc=rc, threads=THREADS)
    out = benchmark.pedantic(run, setup=_batches(genome, 7), rounds=ROUNDS, warmup_rounds=2)
    assert out.shape[0] == BATCH
    benchmark.extra_info["windows_per_s"] = BATCH / benchmark.stats.stats.median


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("encoder", ["onehot", "kmers"])
def test_encode_only(benchmark, genome, setting, encoder):
    k, stride = SETTINGS[setting]
    benchmark.group = f"encode-{setting}"
    from fastwig.backend import run_items
    from fastwig.genome import _min_chunk  # the chunking Genome's batch calls use

    chroms, starts, rc = _batches(genome, 11)()[0]
    raw = genome.fetch_batch(chroms, starts, WIDTH)
    flags = rc.astype(np.uint8)
    if encoder == "onehot":
        out = np.empty((BATCH, 4, WIDTH), np.float32)
        args = (K.onehot_batch_cpu, BATCH, THREADS, raw, flags, out, np.float32(0.0))
    else:
        out = np.empty((BATCH, KK.n_tokens(WIDTH, k, stride)), np.int64)
        args = (KK.kmer_batch_cpu, BATCH, THREADS, raw, flags, out, k, stride)
    benchmark.pedantic(run_items, args=args, kwargs={"min_chunk": _min_chunk(WIDTH)}, rounds=ROUNDS * 5, warmup_rounds=2)
    benchmark.extra_info["windows_per_s"] = BATCH / benchmark.stats.stats.median
