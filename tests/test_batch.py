"""read_windows: binning, fill values, missing chromosomes, out=, threads; on generated files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastwig
from support import bits_equal, reference_bins
from edgecases import make_edge_files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_edge_files(tmp_path_factory.mktemp("batch"))


@pytest.mark.parametrize("stat", ["mean", "sum", "min", "max", "coverage"])
@pytest.mark.parametrize("covered_only", [False, True])
def test_bins(files, stat, covered_only):
    path, _ = files["mixed_sections"]
    bw = fastwig.open(path)
    chrom, size = next(iter(bw.chroms.items()))
    rng = np.random.default_rng(5)
    starts = rng.integers(0, max(1, size - 640), 30).astype(np.int64)
    got = fastwig.read_windows([bw], chrom, starts, 640, bin_size=32, stat=stat, covered_only=covered_only,
                               missing=0.25)
    assert got.shape == (30, 1, 20)
    for i, s in enumerate(starts):
        ref = reference_bins(bw.values(chrom, int(s), int(s) + 640), 32, stat, covered_only, 0.25)
        np.testing.assert_allclose(got[i, 0], ref, rtol=1e-6, err_msg=f"{stat} at {s}")


def test_missing_chromosome_warns_once_and_fills(files):
    a, _ = files["bedgraph"]
    b, _ = files["multi_chrom"]
    bwa, bwb = fastwig.open(a), fastwig.open(b)
    only_b = next(c for c in bwb.chroms if c not in bwa.chroms)
    with pytest.warns(UserWarning, match="no chromosome"):
        got = fastwig.read_windows([bwa, bwb], only_b, np.array([0, 10]), 64, missing=7.0)
    assert (got[:, 0] == 7.0).all()
    assert bits_equal(got[0, 1], np.nan_to_num(bwb.values(only_b, 0, 64), nan=7.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastwig.read_windows([bwa, bwb], only_b, np.array([5]), 64)  # second time: silent


def test_out_and_threads(files):
    path, _ = files["deep_rtree"]
    bw = fastwig.open(path)
    chrom, size = next(iter(bw.chroms.items()))
    starts = np.arange(-50, size, 37, dtype=np.int64)
    out = np.full((starts.size, 2, 100), 99.0, dtype=np.float32)
    ret = fastwig.read_windows([bw, path], chrom, starts, 100, out=out, threads=1)
    assert ret is out
    for threads in (2, 3, 8):
        assert bits_equal(fastwig.read_windows([bw, path], chrom, starts, 100, threads=threads), out)


def test_per_window_chroms_and_empty_batch(files):
    path, _ = files["multi_chrom"]
    bw = fastwig.open(path)
    names = list(bw.chroms)
    chroms = np.array([names[i % len(names)] for i in range(12)])
    starts = np.arange(12, dtype=np.int64) * 3
    got = fastwig.read_windows([bw], chroms, starts, 20, missing=np.nan)
    for i in range(12):
        e = min(bw.chroms[chroms[i]], int(starts[i]) + 20)
        assert bits_equal(got[i, 0, :e - starts[i]], bw.values(chroms[i], int(starts[i]), e))
    empty = fastwig.read_windows([bw], names[0], np.zeros(0, np.int64), 20)
    assert empty.shape == (0, 1, 20)
