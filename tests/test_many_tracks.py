"""Thousands of tracks: 1,000 and 10,000 BigWig objects open at once under a 1,024 file-descriptor limit.

Each scenario runs in a child process (``python tests/test_many_tracks.py --child ...``) started with
``RLIMIT_NOFILE`` lowered to (1024, 1024), the default of most Linux machines, so that a reader that
kept one descriptor per open file would fail there, not in the test process.  The tracks are copies,
hard links and symbolic links of a few small generated files (distinct paths: distinct BigWig
objects, mappings and cache states).

The child reports, as JSON: descriptors in use before and after opening, open time, RSS growth per
open object (private memory, and mapped file pages: those are the page cache's, shared by every
mapping of the file; the kernel maps up to 64 KiB around each touched page), and the in-memory index
of one file (R-tree arrays + block-cache state arrays, counted
once per underlying buffer).  The test prints those figures (they go to profiling/RESULTS.md, section Hardening).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
N_SOURCES = 8          # distinct generated files behind the links
WIDTH = 500
FD_LIMIT = 1024


def write_sources(folder: Path) -> list[str]:
    """N_SOURCES small bigWigs with different data (2 chromosomes, ~40 blocks each)."""
    from fastwig.writer import BedGraph, write_bigwig

    paths = []
    for k in range(N_SOURCES):
        rng = np.random.default_rng(k)
        secs = []
        for chrom, size in (("chr1", 60_000), ("chr2", 30_000)):
            lens = rng.integers(5, 60, 2000)
            starts = np.cumsum(lens + rng.integers(0, 20, lens.size)) - lens
            keep = starts + lens < size
            secs.append(BedGraph(chrom, starts[keep], starts[keep] + lens[keep],
                                 rng.normal(k, 1, keep.sum()).astype(np.float32)))
        p = folder / f"src{k}.bw"
        write_bigwig(p, [("chr1", 60_000), ("chr2", 30_000)], secs, items_per_block=64)
        paths.append(str(p))
    return paths


def make_tracks(folder: Path, sources: list[str], n: int) -> list[tuple[str, int]]:
    """``n`` distinct paths: every 10th a copy, every 10th a symlink, the rest hard links."""
    import shutil

    out = []
    for i in range(n):
        k = i % len(sources)
        p = folder / f"t{i:05d}.bw"
        if not p.exists():
            if i % 10 == 0:
                shutil.copyfile(sources[k], p)
            elif i % 10 == 1:
                p.symlink_to(sources[k])
            else:
                os.link(sources[k], p)
        out.append((str(p), k))
    return out


# ---- child process ---------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def _rss_bytes() -> dict:
    """VmRSS, RssAnon (private memory) and RssFile (mapped file pages, shared with the page cache)."""
    out = {"VmRSS": -1, "RssAnon": -1, "RssFile": -1}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in out:
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def index_bytes(bw) -> int:
    """Bytes of the per-file tables one open BigWig holds for its reads (``BigWig.index_nbytes``:
    block index arrays; the block cache's table is shared and sized by the cache, not per file)."""
    return bw.index_nbytes


def child(n: int, folder: str, batch_tracks: int) -> dict:
    import resource

    import fastwig

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    sources = sorted(str(p) for p in Path(folder).glob("src*.bw"))
    tracks = make_tracks(Path(folder), sources, n)
    # the reference: one object per distinct source
    refs = [fastwig.open(p) for p in sources]
    fds0 = _open_fds()
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    bws = [fastwig.open(p) for p, _ in tracks]
    t_open = time.perf_counter() - t0
    rss1 = _rss_bytes()
    fds1 = _open_fds()
    out = {"n": n, "rlimit_nofile": [soft, hard], "fds_before": fds0, "fds_after_open": fds1,
           "open_seconds": t_open, "rss_per_object": (rss1["VmRSS"] - rss0["VmRSS"]) / n,
           "anon_per_object": (rss1["RssAnon"] - rss0["RssAnon"]) / n,
           "file_pages_per_object": (rss1["RssFile"] - rss0["RssFile"]) / n, "file_bytes": os.path.getsize(sources[0]),
           "index_bytes_per_file": index_bytes(bws[0]), "blocks_per_file": len(bws[0]._index)}

    rng = np.random.default_rng(n)
    n_win = 16
    chroms = np.where(rng.random(n_win) < 0.7, "chr1", "chr2")
    starts = np.array([rng.integers(-200, (60_000 if c == "chr1" else 30_000) - 100) for c in chroms], np.int64)
    expect = np.stack([fastwig.read_windows([r], chroms, starts, WIDTH, threads=1)[:, 0] for r in refs], axis=1)

    # one batch over `batch_tracks` tracks at once, against per-track reads and the references
    m = min(batch_tracks, n)
    t0 = time.perf_counter()
    got = fastwig.read_windows(bws[:m], chroms, starts, WIDTH)
    out["batch_tracks"] = m
    out["batch_seconds"] = time.perf_counter() - t0
    src_of = np.array([k for _, k in tracks[:m]])
    out["batch_equals_references"] = bool(np.array_equal(got.view(np.uint32), expect[:, src_of].view(np.uint32)))
    per_track_ok = True
    t0 = time.perf_counter()
    for t in range(m):
        one = fastwig.read_windows([bws[t]], chroms, starts, WIDTH, threads=1)[:, 0]
        per_track_ok &= bool(np.array_equal(one.view(np.uint32), got[:, t].view(np.uint32)))
    out["per_track_seconds"] = time.perf_counter() - t0
    out["batch_equals_per_track_reads"] = per_track_ok
    # values() on a sample of tracks (the reader path, not the batch path)
    vals_ok = True
    for t in range(0, m, max(1, m // 25)):
        c, s = chroms[0], int(starts[0])
        size = bws[t].chroms[c]
        a, b = max(0, s), min(size, s + WIDTH)
        v = np.nan_to_num(bws[t].values(c, a, b), nan=0.0)
        vals_ok &= bool(np.array_equal(v, got[0, t, a - s:b - s]))
    out["values_agree"] = vals_ok
    # every object still reads after the batch (a read of each of the n tracks)
    t0 = time.perf_counter()
    every = fastwig.read_windows(bws, chroms[:2], starts[:2], WIDTH)
    out["all_tracks_seconds"] = time.perf_counter() - t0
    src_all = np.array([k for _, k in tracks])
    out["all_tracks_equal_references"] = bool(np.array_equal(every.view(np.uint32),
                                                             expect[:2, src_all].view(np.uint32)))
    out["fds_after_reads"] = _open_fds()
    out["fd_pool_limit"] = fastwig.io.fd_pool.limit
    for bw in bws:
        bw.close()
    out["fds_after_close"] = _open_fds()
    return out


def _child_main(argv) -> None:
    n, folder, batch = int(argv[0]), argv[1], int(argv[2])
    sys.path.insert(0, str(REPO))
    print("RESULT " + json.dumps(child(n, folder, batch)))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    _child_main(sys.argv[2:])
    sys.exit(0)

# ---- tests -------------------------------------------------------------------------------------

import pytest


def _limit_fds():
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def run_child(n: int, folder: Path, batch: int, timeout: float = 240.0) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.setdefault("FASTWIG_THREADS", "2")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", __file__, "--child", str(n), str(folder), str(batch)],
                          capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=_limit_fds, check=False,
                          cwd=str(REPO))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"child with {n} tracks failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def track_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracks")
    write_sources(folder)
    return folder


def _report(r: dict) -> str:
    return (f"{r['n']} tracks under RLIMIT_NOFILE={r['rlimit_nofile']}: open {r['open_seconds']:.2f} s "
            f"({1e6 * r['open_seconds'] / r['n']:.0f} us each), RSS +{r['rss_per_object'] / 1024:.1f} KiB per object "
            f"(private {r['anon_per_object'] / 1024:.1f} KiB, mapped file pages {r['file_pages_per_object'] / 1024:.1f} KiB "
            f"of a {r['file_bytes'] / 1024:.0f} KiB file), "
            f"index {r['index_bytes_per_file']} B per file ({r['blocks_per_file']} blocks), fds {r['fds_before']} -> "
            f"{r['fds_after_open']} (opened) -> {r['fds_after_reads']} (read; pool of {r['fd_pool_limit']}) -> "
            f"{r['fds_after_close']} (closed); batch of 16 windows x "
            f"{r['batch_tracks']} tracks {r['batch_seconds']:.2f} s, per-track {r['per_track_seconds']:.2f} s, "
            f"2 windows x all {r['n']} tracks {r['all_tracks_seconds']:.2f} s")


@pytest.mark.parametrize("n", [1000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_many_open_tracks_under_fd_limit(track_dir, n, record_property, capsys):
    r = run_child(n, track_dir, batch=1000)
    assert r["rlimit_nofile"] == [FD_LIMIT, FD_LIMIT]
    # no descriptor per open file: the count stays where it was
    assert r["fds_after_open"] - r["fds_before"] < 16, r
    # data reads go through a bounded pool of descriptors (fastwig.io.fd_pool), whatever the track count
    assert r["fds_after_reads"] - r["fds_before"] <= r["fd_pool_limit"] + 4, r
    assert r["batch_equals_references"], "read_windows over 1,000 tracks differs from the source files"
    assert r["batch_equals_per_track_reads"], "read_windows over 1,000 tracks differs from per-track reads"
    assert r["values_agree"]
    assert r["all_tracks_equal_references"], f"read_windows over all {n} tracks differs from the source files"
    for key, value in r.items():
        record_property(key, value)
    with capsys.disabled():
        sys.stderr.write("\n" + _report(r) + "\n")


# ---- data reads by path: a file replaced on disk ------------------------------------------------

def _write_constant(path, value: float) -> None:
    from fastwig.writer import BedGraph, write_bigwig

    s = np.arange(0, 50_000, 10)
    write_bigwig(path, [("chr1", 50_010)], [BedGraph("chr1", s, s + 5, np.full(s.size, value, np.float32))],
                 items_per_block=64, zoom_levels=0, compress=False)     # same layout whatever the value


def test_replaced_file_is_read_by_a_new_object(tmp_path):
    """A track regenerated in place (os.replace) and opened again reads the new file, not the old one
    through a pooled descriptor of the old file."""
    import fastwig

    p = str(tmp_path / "track.bw")
    _write_constant(p, 1.0)
    old = fastwig.open(p)
    assert fastwig.read_windows([old], "chr1", [0], 10)[0, 0, 0] == 1.0       # descriptor now pooled
    _write_constant(p + ".new", 2.0)
    os.replace(p + ".new", p)
    new = fastwig.open(p)
    assert fastwig.read_windows([new], "chr1", [20_000], 10)[0, 0, 0] == 2.0


def test_object_opened_before_a_replacement_never_reads_the_new_bytes(tmp_path):
    import fastwig

    p = str(tmp_path / "track.bw")
    _write_constant(p, 1.0)
    old = fastwig.open(p)
    _write_constant(p + ".new", 2.0)
    os.replace(p + ".new", p)
    fastwig.open(p)                       # a new object of the new file
    try:
        got = fastwig.read_windows([old], "chr1", [30_000], 10)[0, 0, 0]
    except fastwig.FastwigError:
        return
    assert got == 1.0
