"""The dataset layer on the standard workload (DESIGN.md, Performance; issue 4, Performance).

    pytest tests/benchmarks/test_bench_dataset.py --benchmark-enable     # (or -m bench, --benchmark-only)

8 tracks of the standard 300 Mb workload plus a random-sequence FASTA of the same genome (generated on
first use next to the workload, ~300 MB, cached), 1,000 bp windows drawn uniformly over the genome by
``WindowDataset`` (so a batch's windows share no block: the training case), batches of 256 windows
with sequence (one-hot) and the 8 tracks.

Groups
------
``dataset-epoch`` -- windows/s of a training epoch (``ROUNDS`` rounds, each a new epoch of
``BATCHES`` batches, so every round reads windows no earlier round read):

- ``fastwig-batches``: ``ds.batches(256)`` in the main process (the fast path, 2 reader threads);
- ``fastwig-loader-w2``: the same batches through ``ds.loader(256, num_workers=2)``;
- ``pyBigWig+pyfaidx-w2``: the same windows through a map-style Dataset that calls pyBigWig's
  ``values`` per window and track and pyfaidx per window, one-hot in numpy, in a DataLoader with 2
  workers (persistent, started before timing) -- what training scripts do today.

``dataset-encoding`` -- sequence-only epochs (no tracks) served as one-hot or as k-mer tokens (k=3
stride 1; k=5 stride 2) over the 64 Mb FASTA of test_bench_genome.py (issue 13).

``dataset-overhead-*`` -- the cost of the dataset layer (sampling, reads, tensors) over the bare reads
of the same kind of batch, ``read_windows`` alone (no genome) or ``read_windows`` +
``Genome.onehot_batch``, cold (fresh windows each round) and warm (the same batch again).  The two are
timed back to back in each round; the ratio is printed and stored in ``extra_info`` (the issue's
budget is 20%).  Performance is measured here, never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.bench

BATCH = 256
WIDTH = 1000
BATCHES = int(os.environ.get("FASTWIG_BENCH_DATASET_BATCHES", "4"))
ROUNDS = int(os.environ.get("FASTWIG_BENCH_ROUNDS", "5"))
THREADS = 2

# --- data ----------------------------------------------------------------------------------------

def write_random_fasta(path: Path, chrom_sizes: dict, seed: int = 0, line: int = 60) -> None:
    """Random ACGT FASTA with a .fai written alongside (pyfaidx would take minutes to index 300 Mb)."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    fai = []
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for name, size in chrom_sizes.items():
            fh.write(f">{name}\n".encode())
            offset = fh.tell()
            full, rest = divmod(int(size), line)
            for lo in range(0, full, 200_000):       # 12 Mb of bases per chunk
                n = min(200_000, full - lo)
                buf = np.empty((n, line + 1), dtype=np.uint8)
                buf[:, :line] = letters[rng.integers(0, 4, size=(n, line), dtype=np.uint8)]
                buf[:, line] = 10
                fh.write(buf.tobytes())
            if rest:
                fh.write(letters[rng.integers(0, 4, size=rest, dtype=np.uint8)].tobytes() + b"\n")
            fai.append(f"{name}\t{size}\t{offset}\t{line}\t{line + 1}\n")
    os.replace(tmp, path)
    Path(str(path) + ".fai").write_text("".join(fai))


@pytest.fixture(scope="session")
def bench_fasta(bench_workload):
    key = hashlib.sha1(json.dumps(bench_workload.chrom_sizes, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(bench_workload.directory).parent / f"genome-{key}"
    path = folder / "genome.fa"
    if not (path.exists() and Path(str(path) + ".fai").exists()):
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_random_fasta(path, bench_workload.chrom_sizes)
        print(f"\nwrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f}s")
    return str(path)


def make_dataset(bench_workload, fasta, **kw):
    import fastwig

    n = BATCH * BATCHES
    return fastwig.WindowDataset(bench_workload.paths, fasta, window=WIDTH, n_samples=n, seed=1,
                                 threads=THREADS, **kw)


# --- the peer: pyBigWig + pyfaidx per window in DataLoader workers -------------------------------

class PeerDataset(torch.utils.data.Dataset):
    """Window ``i`` of given arrays: 8 tracks through pyBigWig, sequence through pyfaidx, one-hot."""

    def __init__(self, tracks, fasta, chroms, starts, width):
        self.tracks, self.fasta = list(tracks), fasta
        self.chroms, self.starts, self.width = list(chroms), np.asarray(starts), int(width)
        self._h = None
        table = np.zeros((256, 4), dtype=np.float32)
        for row, letters in enumerate((b"Aa", b"Cc", b"Gg", b"Tt")):
            for c in letters:
                table[c, row] = 1.0
        self.table = table

    def __len__(self):
        return len(self.starts)

    def _open(self):
        if self._h is None or self._h[0] != os.getpid():
            import pyBigWig
            import pyfaidx

            self._h = (os.getpid(), [pyBigWig.open(p) for p in self.tracks], pyfaidx.Fasta(self.fasta, as_raw=True))
        return self._h

    def __getitem__(self, i):
        _, bws, fa = self._open()
        c, s = self.chroms[i], int(self.starts[i])
        e = s + self.width
        t = np.empty((len(bws), self.width), dtype=np.float32)
        for k, bw in enumerate(bws):
            t[k] = bw.values(c, s, e, numpy=True)
        np.nan_to_num(t, copy=False, nan=0.0)
        seq = fa[c][s:e].encode()
        oh = self.table[np.frombuffer(seq, dtype=np.uint8)].T
        return {"sequence": torch.from_numpy(np.ascontiguousarray(oh)), "targets": torch.from_numpy(t)}


class RoundBatches(torch.utils.data.Sampler):
    """Batches of consecutive indices of one round (set ``round`` between iterations)."""

    def __init__(self, per_round, batch):
        self.per_round, self.batch, self.round = per_round, batch, 0

    def __len__(self):
        return (self.per_round + self.batch - 1) // self.batch

    def __iter__(self):
        lo = self.round * self.per_round
        for b in range(lo, lo + self.per_round, self.batch):
            yield list(range(b, min(b + self.batch, lo + self.per_round)))


def _record(benchmark, bench_record, group, peer, threads, n_windows, n_tracks):
    mean = getattr(getattr(getattr(benchmark, "stats", None), "stats", None), "mean", None)
    info = {"peer": peer, "threads": threads, "windows": n_windows, "tracks": n_tracks, "width": WIDTH}
    if mean:
        wps = n_windows / mean
        info.update(windows_per_s=round(wps), track_windows_per_s=round(wps * n_tracks))
        bench_record(group=group, peer=peer, threads=threads, track_windows_per_s=wps * n_tracks,
                     values_per_s=wps * n_tracks * WIDTH)
    benchmark.extra_info.update(info)
    return mean


# --- dataset-epoch -------------------------------------------------------------------------------

@pytest.mark.parametrize("peer", ["fastwig-batches", "fastwig-loader-w2", "pyBigWig+pyfaidx-w2"])
def test_epoch(benchmark, bench_record, bench_workload, bench_fasta, peer):
    benchmark.group = "dataset-epoch"
    ds = make_dataset(bench_workload, bench_fasta)
    n_tracks, per_round = len(bench_workload.paths), len(ds)
    epochs = iter(range(1, ROUNDS + 1))
    next(ds.batches(BATCH, epoch=1000))                   # JIT and files warm, on windows never timed
    if peer == "fastwig-batches":
        def run():
            e = next(epochs)
            for b in ds.batches(BATCH, epoch=e):
                assert b["targets"].shape == (BATCH, n_tracks, WIDTH)
        benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
        threads = THREADS
    elif peer == "fastwig-loader-w2":
        it = ds.loader(BATCH, num_workers=2, persistent_workers=False, multiprocessing_context="fork")
        it.dataset.set_epoch(1000)
        sum(1 for _ in it)                                 # workers start, compile, warm up: untimed

        def run():
            it.dataset.set_epoch(next(epochs))
            for b in it:
                assert b["targets"].shape == (BATCH, n_tracks, WIDTH)
        benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
        threads = 2
    else:
        pytest.importorskip("pyBigWig")
        pytest.importorskip("pyfaidx")
        wins = [ds.windows(np.arange(per_round), epoch=e) for e in range(ROUNDS + 1)]
        chroms = np.concatenate([w.chrom for w in wins])
        starts = np.concatenate([w.start for w in wins])
        # fastwig windows may run past a chromosome end; pyBigWig cannot read those: clip them inside
        sizes = bench_workload.chrom_sizes
        starts = np.minimum(np.maximum(starts, 0), np.array([sizes[c] for c in chroms]) - WIDTH)
        sampler = RoundBatches(per_round, BATCH)
        loader = torch.utils.data.DataLoader(PeerDataset(bench_workload.paths, bench_fasta, chroms, starts, WIDTH),
                                             batch_sampler=sampler, num_workers=2, persistent_workers=True,
                                             multiprocessing_context="fork")
        sum(1 for _ in loader)                             # round 0: workers start and open files, untimed
        rounds = iter(range(1, ROUNDS + 1))

        def run():
            sampler.round = next(rounds)
            for b in loader:
                assert b["targets"].shape[1:] == (n_tracks, WIDTH)
        benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
        threads = 2
    _record(benchmark, bench_record, "dataset-epoch", peer, threads, per_round, n_tracks)


# --- dataset-overhead ----------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["cold", "warm"])
@pytest.mark.parametrize("sequence", [False, True], ids=["tracks", "tracks+sequence"])
def test_overhead(benchmark, bench_record, bench_workload, bench_fasta, sequence, state):
    """``ds.read(ds.windows(...))`` (timed by pytest-benchmark) against the bare reads of the same kind
    of batch, timed in the setup of each round right before it, so both see the same machine state.

    cold: every round reads windows of a fresh epoch (the bare reads another fresh epoch); warm: one
    batch, read once untimed, then again by both paths every round."""
    import fastwig

    group = f"dataset-overhead-{'seq' if sequence else 'tracks'}-{state}"
    benchmark.group = group
    ds = make_dataset(bench_workload, bench_fasta if sequence else None)
    bws = ds._tracks(0)
    genome = ds._genome(0) if sequence else None
    idx = np.arange(BATCH)

    def bare(w):
        out = fastwig.read_windows(bws, w.chrom, w.start, WIDTH, threads=THREADS)
        if sequence:
            genome.onehot_batch(w.chrom, w.start, WIDTH, threads=THREADS)
        return out

    def epochs(r):  # (bare's epoch, the dataset's epoch) of round r
        return (7, 7) if state == "warm" else (1000 + 2 * r, 1001 + 2 * r)

    ds.read(ds.windows(idx, epoch=999))                   # JIT and files warm
    bare(ds.windows(idx, epoch=998))
    if state == "warm":
        ds.read(ds.windows(idx, epoch=7))
    bare_times: list[float] = []
    rounds = iter(range(ROUNDS))
    current = {}

    def setup():
        r = next(rounds)
        e_bare, e_ds = epochs(r)
        w = ds.windows(idx, epoch=e_bare)
        t0 = time.perf_counter()
        bare(w)
        bare_times.append(time.perf_counter() - t0)
        current["epoch"] = e_ds
        return (), {}

    def run():  # what ds.batches does per batch: sampling, reads, tensors
        return ds.read(ds.windows(idx, epoch=current["epoch"]))

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    mean = _record(benchmark, bench_record, group, "dataset", THREADS, BATCH, len(bws))
    bare_mean = float(np.mean(bare_times))
    bench_record(group=group, peer="bare reads", threads=THREADS, track_windows_per_s=BATCH * len(bws) / bare_mean,
                 values_per_s=BATCH * len(bws) * WIDTH / bare_mean)
    if mean:
        ratio = mean / bare_mean
        benchmark.extra_info.update(bare_reads_mean_s=bare_mean, dataset_over_bare=round(ratio, 3))
        print(f"\n{group}: the dataset layer costs {100 * (ratio - 1):+.1f}% over the bare reads "
              f"({mean * 1e3:.1f} ms vs {bare_mean * 1e3:.1f} ms per batch of {BATCH}, {len(bws)} tracks"
              f"{' + sequence' if sequence else ''})")


# --- dataset-encoding ----------------------------------------------------------------------------

ENCODINGS = {"onehot": {}, "kmer-k3s1": {"encoding": "kmer", "kmer_size": 3, "kmer_stride": 1},
             "kmer-k5s2": {"encoding": "kmer", "kmer_size": 5, "kmer_stride": 2}}


@pytest.fixture(scope="module")
def token_genome():
    """The 64 Mb soft-masked FASTA of test_bench_genome.py (generated there on first use, ~2 s)."""
    import test_bench_genome as tbg

    folder = Path(os.environ.get("FASTWIG_BENCH_DATA", Path.home() / ".cache" / "fastwig-bench"))
    path = folder / f"kmer-genome-{tbg.RECORDS}x{tbg.RECORD_BASES}" / "genome.fa"
    if not (path.exists() and Path(str(path) + ".fai").exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        tbg._write_fasta(path)
    return str(path)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_encoding(benchmark, bench_record, token_genome, encoding):
    """Sequence-only epochs (the language-model case, issue 13): ``ds.batches(256)`` of 1 kb windows with
    reverse complement, one-hot against k-mer tokens; every round a fresh epoch."""
    import fastwig

    benchmark.group = "dataset-encoding"
    ds = fastwig.WindowDataset(genome=token_genome, window=WIDTH, rc_prob=0.5, n_samples=BATCH * BATCHES, seed=1,
                               threads=THREADS, **ENCODINGS[encoding])
    epochs = iter(range(1, ROUNDS + 1))
    next(ds.batches(BATCH, epoch=1000))                   # JIT and file warm, on windows never timed

    def run():
        for b in ds.batches(BATCH, epoch=next(epochs)):
            assert b["sequence"].shape[0] == BATCH
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _record(benchmark, bench_record, "dataset-encoding", encoding, THREADS, len(ds), 1)
