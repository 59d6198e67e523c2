"""Files that change under an open reader: truncated, overwritten in place, replaced by rename.

Every public call on a reader opened before the change must give the answer a reader opened before the
change gives (from memory or the block cache) or raise a FastwigError naming the file -- never die of a
signal (SIGBUS through a memory map), never hang.  The damaged reads run in a child process
(``python -X faulthandler this_file --child ...``), so a signal shows up as a failed test with the
child's traceback instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODES = ("truncate-1/8", "truncate-1/2", "truncate-7/8", "overwrite", "rename")


# ---- the child: runs every call before and after damaging a copy of one file --------------------
def _calls(bw, chrom: str, lo: int, hi: int, fastwig):
    """(name, thunk) of every public read over the data of ``chrom`` (``[lo, hi)`` holds records)."""
    size = bw.chroms[chrom]
    hi_v = min(hi, lo + (1 << 20))
    width = min(1024, size)
    starts = np.unique(np.linspace(lo, max(lo, min(hi, size) - width), 16).astype(np.int64))
    return [
        ("header", lambda: (dict(bw.chroms), [int(z) for z in bw.zooms], bw.header.fullIndexOffset)),
        ("summary", lambda: tuple(vars(bw.summary).values())),
        ("values", lambda: bw.values(chrom, lo, hi_v)),
        ("intervals", lambda: bw.intervals(chrom)),
        ("stats-exact", lambda: bw.stats(chrom, 0, size, stat="mean", bins=16, exact=True)),
        ("stats-zoom-max", lambda: bw.stats(chrom, 0, size, stat="max", bins=16)),
        ("stats-zoom-std", lambda: bw.stats(chrom, lo, max(hi, lo + 1), stat="std", bins=8)),
        ("read_windows", lambda: fastwig.read_windows([bw], chrom, starts, width)),
        ("read_windows-binned", lambda: fastwig.read_windows([bw], chrom, starts, width - width % 8,
                                                            bin_size=8, stat="max")),
    ]


def _dataset_calls(bw, chrom: str, lo: int, fastwig):
    """WindowDataset over ``bw`` (no genome): a few windows over the data, read one by one."""
    import torch  # noqa: F401 - the dataset layer needs it; the child skips these calls without it

    size = bw.chroms[chrom]
    window = min(1000, size)
    ds = fastwig.WindowDataset([bw], window=window, sampling="ordered", bin_size=4 if window % 4 == 0 else 1)
    first = min(lo // window, len(ds) - 1)
    idx = [i for i in range(first, first + 4) if i < len(ds)]
    return ds, [(f"dataset[{i}]", (lambda i=i: ds[i]["targets"].numpy())) for i in idx]


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


def _damage(path: Path, mode: str, other: Path) -> None:
    size = path.stat().st_size
    if mode.startswith("truncate"):
        num, den = (int(x) for x in mode.split("-")[1].split("/"))
        os.truncate(path, size * num // den)
    elif mode == "overwrite":
        rng = np.random.default_rng(size)
        with open(path, "r+b") as fh:       # in place: the same inode, the same size
            fh.seek(64)
            fh.write(rng.integers(0, 256, max(size - 64, 0), dtype=np.uint8).tobytes())
    else:  # rename: another bigWig takes the path
        tmp = path.with_suffix(".new")
        shutil.copyfile(other, tmp)
        os.replace(tmp, path)


def child(src: str, other: str, workdir: str) -> dict:
    import fastwig

    report = {"checked": 0, "same": 0, "errors": 0, "wrong": [], "foreign": []}
    for mode in MODES:
        path = Path(workdir) / f"{mode.replace('/', '_')}.bw"
        shutil.copyfile(src, path)
        ref = fastwig.open(path)
        subject = fastwig.open(path)
        chrom = max(ref.chroms, key=lambda c: ref.intervals(c)[0].size)
        s, e, _ = ref.intervals(chrom)
        lo, hi = (int(s.min()), int(e.max())) if s.size else (0, ref.chroms[chrom])
        expected = {name: fn() for name, fn in _calls(ref, chrom, lo, hi, fastwig)}
        try:
            ds_ref, ds_calls = _dataset_calls(ref, chrom, lo, fastwig)
            expected.update({name: fn() for name, fn in ds_calls})
            ds_subject, ds_calls = _dataset_calls(subject, chrom, lo, fastwig)
            ds_calls[0][1]()                  # the dataset has opened its files before the change
        except ImportError:
            ds_calls = []
        subject.values(chrom, lo, min(hi, lo + 100))      # part of the file cached, part not
        _damage(path, mode, Path(other))
        print(f"PROGRESS {mode} damaged", flush=True)
        for name, fn in _calls(subject, chrom, lo, hi, fastwig) + ds_calls:
            print(f"PROGRESS {mode} {name}", flush=True)
            report["checked"] += 1
            try:
                got = fn()
            except fastwig.FastwigError as exc:
                report["errors"] += 1
                if str(path) not in str(exc):
                    report["foreign"].append(f"{mode} {name}: message does not name the file: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - the point: anything else is a failure to report
                report["foreign"].append(f"{mode} {name}: {type(exc).__name__}: {exc}")
                continue
            if _same(got, expected[name]):
                report["same"] += 1
            else:
                report["wrong"].append(f"{mode} {name}")
        ref.close()
        subject.close()
    return report


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    print("RESULT " + json.dumps(child(*sys.argv[2:5])), flush=True)
    sys.exit(0)


# ---- tests -------------------------------------------------------------------------------------
import pytest  # noqa: E402

from support import SHARED_REASON, real_bigwigs  # noqa: E402

FILES = {str(p.relative_to(p.parents[1])): p for p in real_bigwigs()}
# UCSC (compressed and not), bigtools, libBigWig (a large one and a small one)
CHOSEN = ["bbi-js/volvox.bw", "bbi-js/uncompressed.bw", "bigtools/valid.bigWig", "bbi-js/pvalues.bw",
          "deepTools/galaxy__bamCoverage_result4.bw"]


def _run_child(src: Path, other: Path, workdir: Path, timeout: float = 300.0) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")]))
    env.setdefault("FASTWIG_THREADS", "2")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", __file__, "--child", str(src), str(other), str(workdir)],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROGRESS ")][-1:]
    assert proc.returncode == 0 and lines, (
        f"child died (exit {proc.returncode}) at {last}:\n{proc.stdout[-2000:]}\n{proc.stderr[-6000:]}")
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("name", CHOSEN)
def test_real_file_changed_under_open_reader(name, tmp_path):
    if name not in FILES:
        pytest.skip(SHARED_REASON)
    other = FILES["bbi-js/volvox.bw" if name != "bbi-js/volvox.bw" else "bigtools/valid.bigWig"]
    r = _run_child(FILES[name], other, tmp_path)
    assert not r["foreign"], r["foreign"]
    assert not r["wrong"], f"answers that are neither the old answer nor a FastwigError: {r['wrong']}"
    assert r["checked"] == r["same"] + r["errors"] and r["checked"] >= len(MODES) * 9, r
    assert r["errors"] > 0, "no damage was ever noticed: the test did not damage what it read"


def test_generated_uncompressed_file_changed_under_open_reader(tmp_path):
    """Runs without shared/: a file fastwig writes itself, uncompressed, with zoom levels."""
    from fastwig.writer import BedGraph, write_bigwig

    def write(p, scale):
        s = np.arange(0, 400_000, 50, dtype=np.int64)
        v = (scale * np.sin(s / 1000.0)).astype(np.float32)
        write_bigwig(p, [("chr1", 400_100), ("chr2", 1000)], [BedGraph("chr1", s, s + 40, v)],
                     items_per_block=128, compress=False)

    src, other = tmp_path / "src.bw", tmp_path / "other.bw"
    write(src, 1.0)
    write(other, 2.0)
    work = tmp_path / "work"
    work.mkdir()
    r = _run_child(src, other, work)
    assert not r["foreign"], r["foreign"]
    assert not r["wrong"], r["wrong"]
    assert r["checked"] == r["same"] + r["errors"] and r["errors"] > 0, r
