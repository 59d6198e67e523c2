"""Concurrency: threads sharing one BigWig, DataLoader-like worker processes (fork and spawn) with
pickled readers, and forks taken after -- or during -- threaded reads in the parent.

Every answer is compared, bit for bit, with the answer of one thread reading alone.  Every wait has a
timeout (threads are daemons, pools are terminated), so a deadlock fails the test instead of
blocking CI.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import random
import threading
import time

import numpy as np
import pytest
from support import real_bigwigs

import fastwig
from fastwig.cache import cache

TIMEOUT = 120.0       # seconds any one wait may take before the test fails
WIDTH = 700


# ---- files and read tasks ----------------------------------------------------------------------

def write_track(path: str, seed: int = 0) -> str:
    """Three chromosomes, ~1,000 compressed blocks of 64 records, zoom levels."""
    from fastwig.writer import BedGraph, write_bigwig

    rng = np.random.default_rng(seed)
    chroms = [("chr1", 400_000), ("chr2", 250_000), ("chrX", 100_000)]
    secs = []
    for name, size in chroms:
        lens = rng.integers(3, 40, size // 30)
        starts = np.cumsum(lens + rng.integers(0, 15, lens.size)) - lens
        keep = starts + lens <= size
        secs.append(BedGraph(name, starts[keep], starts[keep] + lens[keep],
                             np.round(rng.gamma(1.5, 3.0, keep.sum()), 3).astype(np.float32)))
    write_bigwig(path, chroms, secs, items_per_block=64)
    return path


def make_tasks(bw, seed: int, n: int = 40) -> list[tuple]:
    rng = np.random.default_rng(seed)
    names = list(bw.chroms)
    tasks = []
    for i in range(n):
        c = names[int(rng.integers(0, len(names)))]
        size = bw.chroms[c]
        s = int(rng.integers(0, size - 1))
        e = int(min(size, s + rng.integers(1, 30_000)))
        kind = ("values", "intervals", "stats", "windows", "binned")[i % 5]
        if kind in ("windows", "binned"):
            k = int(rng.integers(1, 64))
            wc = np.array([names[j] for j in rng.integers(0, len(names), k)])
            ws = np.array([int(rng.integers(-100, bw.chroms[x])) for x in wc], np.int64)
            tasks.append((kind, wc, ws, int(rng.integers(1, 3))))
        else:
            tasks.append((kind, c, s, e))
    return tasks


def run_task(bw, task):
    kind = task[0]
    if kind == "values":
        return bw.values(*task[1:])
    if kind == "intervals":
        return np.concatenate([a.astype(np.float64) for a in bw.intervals(*task[1:])])
    if kind == "stats":
        return np.concatenate([bw.stats(*task[1:], stat="mean", bins=3, exact=True), bw.stats(*task[1:], stat="max")])
    _, wc, ws, threads = task
    if kind == "windows":
        return fastwig.read_windows([bw], wc, ws, WIDTH, missing=np.nan, threads=threads)
    return fastwig.read_windows([bw], wc, ws, WIDTH, bin_size=100, stat="mean", threads=threads)


def run_all(bw, tasks) -> list:
    return [run_task(bw, t) for t in tasks]


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a.view(np.uint8), b.view(np.uint8)))


def check_all(got: list, ref: list, what: str) -> None:
    bad = [i for i, (g, r) in enumerate(zip(got, ref)) if not same(g, r)]
    assert len(got) == len(ref) and not bad, f"{what}: {len(bad)} of {len(ref)} reads differ (first {bad[:5]})"


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    return write_track(str(tmp_path_factory.mktemp("conc") / "track.bw"))


def tracks_to_test(track):
    out = [track]
    real = [p for p in real_bigwigs() if p.name == "ENCFF826FLP.bw"]
    return out + [str(p) for p in real]


@pytest.fixture
def cache_bytes():
    old = fastwig.settings.cache_bytes
    yield lambda n: (setattr(fastwig.settings, "cache_bytes", n), cache.clear())
    fastwig.settings.cache_bytes = old
    cache.clear()


def reference(path, tasks):
    """Answers of one thread, alone, from a fresh object and an empty cache."""
    cache.clear()
    with fastwig.open(path) as bw:
        return run_all(bw, tasks)


# ---- threads -----------------------------------------------------------------------------------

def run_threads(target, n: int) -> list:
    """Run ``target(k)`` in n daemon threads started together; results or exceptions, by k."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def body(k):
        try:
            barrier.wait(timeout=TIMEOUT)
            out[k] = target(k)
        except BaseException as exc:  # noqa: BLE001
            out[k] = exc

    threads = [threading.Thread(target=body, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [k for k, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"threads {hung} still running after {TIMEOUT:.0f} s (deadlock?)"
    errors = [r for r in out if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return out


@pytest.mark.parametrize("cache_size", [256 << 20, 64 << 10, 0], ids=["cache", "small-cache", "no-cache"])
def test_threads_share_one_bigwig(track, cache_size, cache_bytes):
    """8 threads, one BigWig object, the same reads in different orders, with a cache that holds
    everything, one that evicts all the time, and none."""
    for path in tracks_to_test(track):
        tasks = make_tasks(fastwig.open(path), seed=1)
        ref = reference(path, tasks)
        cache_bytes(cache_size)
        bw = fastwig.open(path)

        def reader(k, bw=bw, tasks=tasks):
            order = list(range(len(tasks)))
            random.Random(k).shuffle(order)
            got = [None] * len(tasks)
            for _ in range(2):
                for i in order:
                    got[i] = run_task(bw, tasks[i])
            return got

        for k, got in enumerate(run_threads(reader, 8)):
            check_all(got, ref, f"{os.path.basename(path)}, thread {k}, cache {cache_size}")
        bw.close()


def test_threads_each_with_its_own_objects(track, cache_bytes):
    """Threads opening, reading and closing their own objects of the same file while others read."""
    tasks = make_tasks(fastwig.open(track), seed=2, n=20)
    ref = reference(track, tasks)
    cache_bytes(1 << 20)

    def reader(k):
        out = []
        for _ in range(3):
            with fastwig.open(track) as bw:
                out = run_all(bw, tasks)
        return out

    for k, got in enumerate(run_threads(reader, 6)):
        check_all(got, ref, f"thread {k}")


def test_close_while_another_thread_reads_the_same_file(track, tmp_path, cache_bytes):
    """Closing one object releases the pooled descriptor of its path; another thread reading the same
    file through another object must not lose it mid-read (nor read another file through its number)."""
    other = write_track(str(tmp_path / "other.bw"), seed=9)
    cache_bytes(0)                                   # every read goes to the file
    bw = fastwig.open(track)
    tasks = [t for t in make_tasks(bw, seed=8, n=20) if t[0] in ("values", "windows")]
    ref = reference(track, tasks)
    cache_bytes(0)
    stop = threading.Event()

    def closer(_):
        while not stop.is_set():
            fastwig.open(track).close()
            with fastwig.open(other) as o:
                o.values("chr1", 0, 1000)

    def reader(_):
        try:
            for _ in range(15):
                check_all(run_all(bw, tasks), ref, "reads while other objects of the file close")
        finally:
            stop.set()

    run_threads(lambda k: reader(k) if k == 0 else closer(k), 2)


# ---- worker processes --------------------------------------------------------------------------

def _worker(bw, tasks):
    """Runs in a worker process; ``bw`` arrived pickled (fork or spawn) and reopened there."""
    assert isinstance(bw, fastwig.BigWig)
    return os.getpid(), run_all(bw, tasks)


class TrackDataset:
    """What a DataLoader dataset holds: open readers, pickled into each worker."""

    def __init__(self, paths, tasks):
        self.bws = [fastwig.open(p) for p in paths]
        self.tasks = tasks

    def __len__(self):
        return len(self.tasks)

    def __getitem__(self, i):
        return np.concatenate([np.asarray(run_task(bw, self.tasks[i])).ravel() for bw in self.bws])


_DATASET = None


def _init_worker(dataset):
    global _DATASET
    _DATASET = dataset


def _get_item(i):
    return os.getpid(), _DATASET[i]


# a spawned or forkserver worker starts a fresh interpreter that loads numba and every kernel (~30 s)
SLOW_START = pytest.mark.slow


@pytest.mark.parametrize("method", ["fork", pytest.param("spawn", marks=SLOW_START),
                                    pytest.param("forkserver", marks=SLOW_START)])
def test_worker_processes_with_pickled_readers(track, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    ctx = mp.get_context(method)
    bw = fastwig.open(track)
    tasks = make_tasks(bw, seed=3, n=25)
    ref = reference(track, tasks)
    fastwig.read_windows([bw], "chr1", [0, 5000], WIDTH, threads=2)    # parent has a thread pool
    pool = ctx.Pool(2)
    try:
        # readers passed as arguments (pickled for every method)
        jobs = [pool.apply_async(_worker, (bw, tasks)) for _ in range(4)]
        results = [j.get(timeout=TIMEOUT) for j in jobs]
    finally:
        pool.terminate()
        pool.join()
    assert {pid for pid, _ in results} - {os.getpid()}, "the reads did not run in worker processes"
    for pid, got in results:
        check_all(got, ref, f"{method} worker {pid}")

    # a DataLoader-like dataset: handed to each worker once (initializer), items read there
    ds = TrackDataset([track, track], tasks)
    expect = [TrackDataset([track, track], tasks)[i] for i in range(len(tasks))]
    pool = ctx.Pool(2, initializer=_init_worker, initargs=(ds,))
    try:
        items = pool.map_async(_get_item, range(len(tasks)), chunksize=3).get(timeout=TIMEOUT)
    finally:
        pool.terminate()
        pool.join()
    check_all([x for _, x in items], expect, f"{method} dataset items")


def _child_reads(path, tasks, q):
    try:
        bw = fastwig.open(path)
        q.put(("ok", run_all(bw, tasks)))
    except BaseException as exc:  # noqa: BLE001
        q.put(("error", repr(exc)))


def _child_reads_inherited(bw, tasks, q):
    try:
        q.put(("ok", run_all(bw, tasks)))
    except BaseException as exc:  # noqa: BLE001
        q.put(("error", repr(exc)))


def _fork_and_check(target, args, ref, what, timeout=TIMEOUT):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q), daemon=True)
    p.start()
    try:
        status, got = q.get(timeout=timeout)
    except queue.Empty:
        p.kill()
        p.join(5)
        pytest.fail(f"{what}: the forked child gave no answer in {timeout:.0f} s (hung)")
    p.join(TIMEOUT)
    if p.is_alive():
        p.kill()
        pytest.fail(f"{what}: the forked child did not exit")
    assert status == "ok", f"{what}: {got}"
    check_all(got, ref, what)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")
def test_fork_after_threaded_reads(track):
    """The parent reads with threads=2 (its pool exists), then forks: the child reads with threads=2
    through the object it inherited and through a new one (the pool must be made afresh there)."""
    tasks = [t[:3] + (2,) if t[0] in ("windows", "binned") else t for t in make_tasks(fastwig.open(track), 4, 25)]
    ref = reference(track, tasks)
    bw = fastwig.open(track)
    check_all(run_all(bw, tasks), ref, "parent, threads=2")
    _fork_and_check(_child_reads_inherited, (bw, tasks), ref, "fork after threaded reads, inherited object")
    _fork_and_check(_child_reads, (track, tasks), ref, "fork after threaded reads, new object")


FORK_LOCK_BUG = (
    "fork() while another thread holds fastwig.cache.cache.lock (any read in progress) or numba's "
    "global compiler lock (a first call compiling or loading a kernel): the child inherits the lock held "
    "by a thread that does not exist there and its first read hangs for ever.  Proposed fix: "
    "os.register_at_fork(before=acquire, after_in_parent=release, after_in_child=release) over "
    "[cache.lock, backend._pool_lock, numba's global_compiler_lock._lock], in that order (the order a "
    "read takes them), e.g. in fastwig/blocks.py")


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")
def test_fork_while_other_threads_read(track):
    """Fork while another thread is inside a read (holding fastwig's lock): the child must not inherit
    a lock that nobody will ever release.  First deterministically (a thread holds the cache lock for
    half a second around the fork), then with two threads reading in a loop."""
    tasks = [t[:3] + (2,) if t[0] in ("windows", "binned") else t for t in make_tasks(fastwig.open(track), 5, 15)]
    ref = reference(track, tasks)
    bw = fastwig.open(track)
    held = threading.Event()

    def hold():
        with cache.lock:
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(TIMEOUT)
    _fork_and_check(_child_reads_inherited, (bw, tasks), ref, "fork while a thread holds the cache lock",
                    timeout=15.0)
    holder.join(TIMEOUT)

    stop = threading.Event()

    def busy():
        while not stop.is_set():
            run_all(bw, tasks)

    readers = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        time.sleep(0.2)
        for k in range(4):
            _fork_and_check(_child_reads_inherited, (bw, tasks), ref, f"fork {k} during threaded reads",
                            timeout=15.0)
    finally:
        stop.set()
        for t in readers:
            t.join(TIMEOUT)


def test_pickle_round_trip(track):
    bw = fastwig.open(track)
    tasks = make_tasks(bw, seed=6, n=10)
    copy = pickle.loads(pickle.dumps(bw))
    assert copy is not bw and copy.path == bw.path and copy.chroms == bw.chroms
    check_all(run_all(copy, tasks), run_all(bw, tasks), "unpickled copy")
    bw.close()
    check_all(run_all(pickle.loads(pickle.dumps(copy)), tasks), run_all(copy, tasks), "copy of a copy")


# ---- torch DataLoader (optional) ----------------------------------------------------------------

class _TorchDataset:
    def __init__(self, path, tasks):
        self.bw = fastwig.open(path)
        self.tasks = tasks

    def __len__(self):
        return len(self.tasks)

    def __getitem__(self, i):
        return np.asarray(run_task(self.bw, self.tasks[i]), dtype=np.float32).ravel()[:256]


@pytest.mark.parametrize("method", ["fork", pytest.param("spawn", marks=SLOW_START)])
def test_torch_dataloader_workers(track, method):
    torch = pytest.importorskip("torch")
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    tasks = [t for t in make_tasks(fastwig.open(track), 7, 30)]
    ds = _TorchDataset(track, tasks)
    expect = [torch.as_tensor(ds[i]) for i in range(len(ds))]
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=method,
                                         timeout=TIMEOUT)
    got = list(loader)
    assert len(got) == len(expect)
    for i, (g, e) in enumerate(zip(got, expect)):
        assert torch.equal(g, e) or (g.shape == e.shape and bool(torch.all((g == e) | (g.isnan() & e.isnan())))), i
