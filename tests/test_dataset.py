"""WindowDataset and the samplers: sampling weights and reach, determinism, augmentation consistency,
targets against read_windows, sequence against pyfaidx, workers (fork and spawn), sharding, labels,
transforms, dtypes and layouts, several assemblies.

The core runs on tiny files generated here with fastwig.writer; the volvox tests use the shared data
and skip when it is absent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, DistributedSampler, default_collate

import fastwig
from fastwig import samplers as S
from fastwig.errors import ChromNotFound, RangeError
from fastwig.regions import Regions
from fastwig.writer import bigwig_from_arrays

VOLVOX = Path(__file__).resolve().parents[2] / "shared" / "data" / "volvox"
needs_volvox = pytest.mark.skipif(not (VOLVOX / "volvox.fa").exists(),
                                  reason=f"volvox test data not found at {VOLVOX}")

CHROMS = {"chr1": 20_000, "chr2": 12_000, "chr3": 3_000}


# --- tiny generated data -------------------------------------------------------------------------

def _random_sequence(rng, n: int) -> bytes:
    seq = bytearray(np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)].tobytes())
    for s in rng.integers(0, max(n - 300, 1), size=max(1, n // 4000)):  # soft-masked stretches
        seq[int(s):int(s) + 200] = seq[int(s):int(s) + 200].lower()
    return bytes(seq)


def make_tiny(folder: Path, seed: int = 1, chroms: dict[str, int] | None = None, prefix: str = "") -> dict:
    """A FASTA with soft-masking and an N run, four bigWigs (two of them a strand pair) and BED files."""
    chroms = dict(CHROMS if chroms is None else chroms)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seqs = {c: bytearray(_random_sequence(rng, n)) for c, n in chroms.items()}
    first = next(iter(chroms))
    seqs[first][5_000:7_000] = b"N" * 2_000           # an assembly gap
    fa = folder / f"{prefix}tiny.fa"
    with open(fa, "wb") as fh:
        for c, s in seqs.items():
            fh.write(f">{c}\n".encode())
            fh.writelines(bytes(s[i:i + 70]) + b"\n" for i in range(0, len(s), 70))
    tracks = []
    for t in range(4):
        names, starts, ends, values = [], [], [], []
        for c, n in chroms.items():
            # piecewise-constant records of 1-12 bases, a gap before some, distinct values
            pos = 0
            while pos < n:
                pos += int(rng.integers(0, 6)) if rng.random() < 0.3 else 0
                ln = int(rng.integers(1, 13))
                if pos + ln > n:
                    break
                names.append(c)
                starts.append(pos)
                ends.append(pos + ln)
                values.append(float(np.round(rng.gamma(2.0, 3.0 + t), 3)))
                pos += ln
        path = folder / f"{prefix}track{t}.bw"
        bigwig_from_arrays(path, chroms, names, starts, ends, values, zoom_levels=0)
        tracks.append(str(path))
    # regions of very different lengths (for the weight test), and label sets
    regions = Regions([first] * 5 + ["chr2"] * 2 if "chr2" in chroms else [first] * 7,
                      [100, 1_000, 8_000, 15_000, 19_000, 500, 6_000],
                      [150, 1_400, 9_600, 18_000, 19_100, 700, 11_000])
    peaks = folder / f"{prefix}peaks.bed"
    with open(peaks, "w") as fh:
        for c, s, e in zip(regions.chrom, regions.start, regions.end):
            fh.write(f"{c}\t{s}\t{e}\n")
    return {"fasta": str(fa), "tracks": tracks, "regions": regions, "peaks": str(peaks), "chroms": chroms,
            "seqs": {c: bytes(s) for c, s in seqs.items()}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("tiny"))


def onehot_from_text(text: bytes) -> np.ndarray:
    """A reference one-hot (4, L) from raw bases, independent of fastwig."""
    arr = np.frombuffer(text.upper(), dtype=np.uint8)
    out = np.zeros((4, arr.size), dtype=np.float32)
    for row, base in enumerate(b"ACGT"):
        out[row, arr == base] = 1.0
    return out


def pyfaidx_onehot(fa, chrom: str, start: int, width: int, rc: bool) -> np.ndarray:
    """One-hot of [start, start + width) through pyfaidx, N past either end; reverse complement
    by flipping both axes."""
    length = len(fa[chrom])
    lo, hi = max(start, 0), min(start + width, length)
    text = bytearray(b"N" * width)
    if hi > lo:
        text[lo - start:hi - start] = str(fa[chrom][lo:hi]).encode()
    oh = onehot_from_text(bytes(text))
    return oh[::-1, ::-1].copy() if rc else oh


def expected_targets(ds, tracks, chrom, start, rc) -> np.ndarray:
    """Targets of one window straight from read_windows: centred, binned, reversed and strand-swapped."""
    t = fastwig.read_windows(tracks, [chrom], np.array([start + ds.target_offset]), ds.target_window,
                             bin_size=ds.bin_size, stat=ds.stat, missing=ds.missing)[0]
    if rc:
        perm = list(range(len(tracks)))
        for i, j in ds.strand_pairs:
            perm[i], perm[j] = perm[j], perm[i]
        t = t[perm, ::-1]
    return np.ascontiguousarray(t)


def bits_equal(a, b) -> bool:
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    b = np.ascontiguousarray(np.asarray(b, dtype=np.float32))
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def assert_batches_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, va in a.items():
        vb = b[k]
        if isinstance(va, torch.Tensor):
            assert va.dtype == vb.dtype and va.shape == vb.shape, k
            assert torch.equal(va, vb), k
        elif isinstance(va, (list, tuple)):
            assert list(va) == list(vb), k
        else:
            assert va == vb, k


# --- the counter-based random numbers ------------------------------------------------------------

def test_random_streams_are_pure_functions_of_the_counter():
    idx = np.arange(1000)
    a = S.random_u64(3, 1, idx, S.STREAM_POSITION)
    assert np.array_equal(a, S.random_u64(3, 1, idx, S.STREAM_POSITION))
    assert np.array_equal(a[::-1], S.random_u64(3, 1, idx[::-1], S.STREAM_POSITION))  # order-free
    for other in (S.random_u64(4, 1, idx, 1), S.random_u64(3, 2, idx, 1), S.random_u64(3, 1, idx, 2),
                  S.random_u64(3, 1, idx, 1, attempt=1)):
        assert np.mean(a == other) < 0.01
    u = S.random_uniform(0, 0, np.arange(200_000), S.STREAM_RC)
    assert 0 <= u.min() and u.max() < 1
    hist = np.bincount((u * 20).astype(int), minlength=20)
    chi2 = float(((hist - 10_000) ** 2 / 10_000).sum())
    assert chi2 < 45.3  # df 19, p = 0.001
    r = S.random_integers(0, 0, np.arange(50_000), 1, 7)
    assert set(np.unique(r).tolist()) == set(range(7))


# --- sampling ------------------------------------------------------------------------------------

def test_uniform_sampling_weights_follow_region_length(tiny):
    regions = tiny["regions"]
    ds = fastwig.WindowDataset(tiny["tracks"][:1], regions=regions, window=100, n_samples=30_000, seed=5)
    w = ds.windows(np.arange(len(ds)))
    centre = w.start + ds.window // 2
    counts = np.zeros(len(regions))
    for k, (c, s, e) in enumerate(zip(regions.chrom, regions.start, regions.end)):
        counts[k] = np.sum((w.chrom == c) & (centre >= s) & (centre < e))
    assert counts.sum() == len(ds)  # every centre lies in a region
    expected = len(ds) * regions.lengths / regions.total_bases
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 22.46, (counts, expected)  # df 6, p = 0.001
    # centres are uniform inside a region too: the long region's halves get equal shares
    k = int(np.argmax(regions.lengths))
    s, e = int(regions.start[k]), int(regions.end[k])
    inside = centre[(w.chrom == regions.chrom[k]) & (centre >= s) & (centre < e)]
    left = np.sum(inside < (s + e) // 2)
    assert abs(left - inside.size / 2) < 4 * np.sqrt(inside.size / 4)


def test_uniform_sampling_reaches_every_region(tiny):
    rng = np.random.default_rng(0)
    starts = np.sort(rng.choice(1_900, size=300, replace=False)) * 10  # disjoint: lengths < 10
    regions = Regions("chr1", starts, starts + rng.integers(1, 8, size=300))
    ds = fastwig.WindowDataset(tiny["tracks"][:1], regions=regions, window=50, n_samples=40_000)
    w = ds.windows(np.arange(len(ds)))
    centre = w.start + 25
    hit = np.zeros(len(regions), dtype=bool)
    row = np.searchsorted(regions.start, centre, side="right") - 1
    inside = (row >= 0) & (centre < regions.end[np.maximum(row, 0)])
    hit[row[inside]] = True
    assert inside.all() and hit.all()


def test_default_length_and_regions(tiny):
    ds = fastwig.WindowDataset(tiny["tracks"][:1], regions=tiny["regions"], window=100)
    assert len(ds) == max(len(tiny["regions"]), tiny["regions"].total_bases // 100)
    whole = fastwig.WindowDataset(tiny["tracks"][:1], tiny["fasta"], window=100)
    assert whole.regions.total_bases == sum(CHROMS.values())


def test_windows_are_deterministic_per_seed_epoch_and_index(tiny):
    kw = {"regions": tiny["regions"], "window": 200, "jitter": 30, "rc_prob": 0.5, "n_samples": 500, "seed": 11}
    a = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw)
    b = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw)
    idx = np.arange(500)
    wa, wb = a.windows(idx), b.windows(idx)
    assert np.array_equal(wa.start, wb.start) and np.array_equal(wa.rc, wb.rc) and list(wa.chrom) == list(wb.chrom)
    # any subset, in any order, gives the same windows
    sub = np.array([499, 3, 250, 3])
    ws = a.windows(sub)
    assert np.array_equal(ws.start, wa.start[sub]) and np.array_equal(ws.rc, wa.rc[sub])
    assert_batches_equal(a[7], b[7])
    # another epoch, another seed: other windows
    w1 = a.windows(idx, epoch=1)
    assert np.mean(w1.start == wa.start) < 0.05
    c = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **{**kw, "seed": 12})
    assert np.mean(c.windows(idx).start == wa.start) < 0.05
    a.set_epoch(1)
    assert a[5]["start"] == int(w1.start[5])
    assert np.array_equal(a.windows(idx).start, w1.start)


def test_ordered_tiles_regions_in_order(tiny):
    regions = Regions(["chr1", "chr1", "chr2"], [0, 10_000, 100], [2_048, 10_100, 612])
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=regions, window=1024, target_window=512,
                               bin_size=32, sampling="ordered")
    w = ds.windows(np.arange(len(ds)))
    # region 1: 2048 bases = 4 target tiles that abut; region 2 (100 bp) one centred tile; region 3 (512) one
    assert len(ds) == 6
    tstart = w.start + ds.target_offset
    assert list(tstart[:4]) == [0, 512, 1024, 1536]
    assert tstart[4] + 256 == 10_050
    assert (tstart[5], w.chrom[5]) == (100, "chr2")
    assert not w.rc.any()
    # targets of abutting tiles concatenate into the region's signal
    tg = torch.cat([ds[i]["targets"] for i in range(4)], dim=-1).numpy()
    ref = fastwig.read_windows(ds._tracks(0), "chr1", np.array([0]), 2048, bin_size=32)[0]
    assert bits_equal(tg, ref)
    # n_samples larger than the tiles: cycles
    cyc = fastwig.WindowDataset(tiny["tracks"], regions=regions, window=1024, target_window=512, bin_size=32,
                                sampling="ordered", n_samples=9)
    assert np.array_equal(cyc.windows(np.arange(6, 9)).start, w.start[:3])


def test_balanced_sampling_ratio_and_negatives(tiny):
    regions = tiny["regions"]
    black = Regions("chr2", [2_000], [4_000])
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=regions, window=200, jitter=20,
                               sampling="balanced", positive_fraction=0.25, blacklist=black, n_samples=4_000)
    idx = np.arange(len(ds))
    w = ds.windows(idx)
    pos = ds.sampler.is_positive(idx)
    assert pos.sum() == 1_000
    assert all(abs(pos[k:k + 64].sum() - 16) <= 1 for k in range(0, 4_000 - 64, 64))
    end = w.start + 200
    forbidden = Regions.concat([Regions(regions.chrom, regions.start, regions.end), black])
    for k in np.flatnonzero(~pos):  # negatives: inside the chromosome, touching no region or blacklist
        c = w.chrom[k]
        assert 0 <= w.start[k] and end[k] <= CHROMS[c]
        sel = forbidden.chrom == c
        assert not np.any((forbidden.start[sel] < end[k]) & (forbidden.end[sel] > w.start[k]))
    centre = w.start + 100
    for k in np.flatnonzero(pos)[:300]:  # positives: the centre (before jitter) lies in a region
        sel = regions.chrom == w.chrom[k]
        assert np.any((regions.start[sel] - 20 <= centre[k]) & (centre[k] < regions.end[sel] + 20))
    # negatives stay on the chromosomes of the regions by default
    only1 = regions[regions.chrom == "chr1"]
    ds1 = fastwig.WindowDataset(tiny["tracks"], regions=only1, window=200, sampling="balanced", n_samples=400)
    assert set(ds1.windows(np.arange(400)).chrom) == {"chr1"}


def test_max_n_fraction_redraws_windows_deterministically(tiny):
    # a region over the N run of chr1 (5,000-7,000): most windows drawn there are mostly N
    regions = Regions("chr1", [4_500], [7_500])
    kw = {"regions": regions, "window": 400, "n_samples": 300, "max_n_fraction": 0.1}
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw)
    w = ds.windows(np.arange(300))
    seq = tiny["seqs"]["chr1"]
    nfrac = np.array([seq[s:s + 400].upper().count(b"N") / 400 for s in w.start])
    assert (nfrac <= 0.1).all()
    again = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw).windows(np.arange(300))
    assert np.array_equal(w.start, again.start)
    loose = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **{**kw, "max_n_fraction": 1.0})
    assert (np.array([seq[s:s + 400].count(b"N") for s in loose.windows(np.arange(300)).start]) > 40).any()
    # ordered: tiles with too many N are dropped when the dataset is built
    tiles = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=Regions("chr1", [0], [10_000]),
                                  window=500, sampling="ordered", max_n_fraction=0.5)
    assert len(tiles) == 16  # 20 tiles less the 4 inside the gap


# --- what a window holds -------------------------------------------------------------------------

@pytest.mark.parametrize("rc_prob", [0.0, 0.5, 1.0])
def test_targets_and_sequence_match_read_windows_genome_and_pyfaidx(tiny, rc_prob):
    import pyfaidx

    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=tiny["regions"], window=300,
                               target_window=200, bin_size=10, jitter=40, rc_prob=rc_prob,
                               strand_pairs=[(0, 1)], n_samples=60, seed=3)
    g = fastwig.Genome(tiny["fasta"])
    fa = pyfaidx.Fasta(tiny["fasta"], sequence_always_upper=False)
    seen_rc = set()
    for i in range(len(ds)):
        item = ds[i]
        c, s, rc = item["chrom"], item["start"], item["rc"]
        seen_rc.add(rc)
        assert item["sequence"].shape == (4, 300) and item["targets"].shape == (4, 20)
        assert bits_equal(item["sequence"], g.onehot(c, s, s + 300, rc=rc))
        assert bits_equal(item["sequence"], pyfaidx_onehot(fa, c, s, 300, rc))
        assert bits_equal(item["targets"], expected_targets(ds, tiny["tracks"], c, s, rc))
    assert seen_rc == ({False} if rc_prob == 0 else {True} if rc_prob == 1 else {False, True})


def test_reverse_complement_flips_sequence_and_targets_of_the_same_window(tiny):
    kw = {"regions": tiny["regions"], "window": 256, "target_window": 128, "bin_size": 4, "jitter": 25,
          "n_samples": 40, "strand_pairs": [(0, 1), (2, 3)]}
    fwd = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], rc_prob=0.0, **kw)
    rev = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], rc_prob=1.0, **kw)
    for i in range(len(fwd)):
        a, b = fwd[i], rev[i]
        assert (a["chrom"], a["start"]) == (b["chrom"], b["start"])  # jitter does not depend on rc
        assert not a["rc"] and b["rc"]
        assert torch.equal(b["sequence"], a["sequence"].flip(0).flip(1))
        assert torch.equal(b["targets"], a["targets"][[1, 0, 3, 2]].flip(-1))
    # without strand pairs only the length axis is reversed
    plain = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], rc_prob=1.0, **{**kw, "strand_pairs": None})
    assert torch.equal(plain[0]["targets"], fwd[0]["targets"].flip(-1))


def test_jitter_moves_window_and_targets_together(tiny):
    kw = {"regions": tiny["regions"], "window": 200, "n_samples": 200, "seed": 2}
    still = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw)
    moved = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], jitter=50, **kw)
    idx = np.arange(200)
    shift = moved.windows(idx).start - still.windows(idx).start
    assert shift.min() >= -50 and shift.max() <= 50 and len(np.unique(shift)) > 60
    for i in range(0, 200, 20):
        it = moved[i]
        assert bits_equal(it["targets"], expected_targets(moved, tiny["tracks"], it["chrom"], it["start"], False))


def test_windows_past_chromosome_ends_read_missing_and_n(tiny):
    # chr3 is 3,000 bp: windows around its ends run off both sides
    regions = Regions("chr3", [0, 2_990], [10, 3_000])
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=regions, window=400, n_samples=20,
                               missing=-1.0)
    g = fastwig.Genome(tiny["fasta"])
    for i in range(20):
        it = ds[i]
        s = it["start"]
        assert s < 0 or s + 400 > 3_000
        assert bits_equal(it["sequence"], g.onehot("chr3", s, s + 400))
        t = it["targets"].numpy()
        out = np.flatnonzero((np.arange(s, s + 400) < 0) | (np.arange(s, s + 400) >= 3_000))
        assert (t[:, out] == -1.0).all()
        assert (it["sequence"][:, out] == 0).all()


def test_labels_say_whether_the_window_overlaps_each_set(tiny):
    a = Regions("chr1", [1_000, 12_000], [1_010, 12_500])
    b = Regions(["chr2"], [0], [6_000])
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=Regions(["chr1", "chr2"], [0, 0],
                               [20_000, 12_000]), window=500, labels={"a": a, "b": b, "peaks": tiny["peaks"]},
                               n_samples=400)
    assert ds.label_names == ["a", "b", "peaks"]
    peaks = Regions.from_bed(tiny["peaks"])
    batch = next(ds.batches(400))
    lab = batch["labels"].numpy()
    assert lab.shape == (400, 3) and set(np.unique(lab)) <= {0.0, 1.0}
    for k in range(400):
        c, s = batch["chrom"][k], int(batch["start"][k])
        for j, table in enumerate((a, b, peaks)):
            sel = table.chrom == c
            hit = np.any((table.start[sel] < s + 500) & (table.end[sel] > s))
            assert lab[k, j] == float(hit)
    assert lab[:, 0].sum() > 0 and lab[:, 1].sum() > 0
    assert ds[3]["labels"].shape == (3,)


def test_transforms_scale_dtype_and_layout(tiny):
    kw = {"regions": tiny["regions"], "window": 200, "bin_size": 20, "n_samples": 32, "seed": 4}
    base = next(fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **kw).batches(32))
    raw = base["targets"]
    log = next(fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], transform="log1p", **kw).batches(32))
    assert torch.allclose(log["targets"], torch.log1p(raw))
    ash = next(fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], transform="arcsinh", **kw).batches(32))
    assert torch.allclose(ash["targets"], torch.asinh(raw))
    fn = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], transform=torch.sqrt, scale=[1, 2, 3, 0.5], **kw)
    got = next(fn.batches(32))["targets"]
    assert torch.allclose(got, torch.sqrt(raw) * torch.tensor([1, 2, 3, 0.5]).reshape(1, 4, 1))
    assert torch.allclose(fn[0]["targets"], got[0])
    one = next(fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], scale=2.0, **kw).batches(32))
    assert torch.equal(one["targets"], raw * 2)
    for name, dt in (("bfloat16", torch.bfloat16), ("float16", torch.float16), (torch.float16, torch.float16)):
        b = next(fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], dtype=name, **kw).batches(32))
        assert b["sequence"].dtype == dt and b["targets"].dtype == dt
        assert torch.equal(b["sequence"].float(), base["sequence"])
        assert torch.equal(b["targets"], raw.to(dt))
    nlc = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], layout="NLC", **kw)
    b = next(nlc.batches(32))
    assert b["sequence"].shape == (32, 200, 4) and b["targets"].shape == (32, 10, 4)
    assert torch.equal(b["sequence"], base["sequence"].transpose(1, 2))
    assert torch.equal(b["targets"], raw.transpose(1, 2))
    assert nlc[0]["sequence"].shape == (200, 4)
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], dtype="int8", **kw)
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], layout="LNC", **kw)
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], transform="sqrt", **kw)


def test_stat_and_covered_only_pass_through(tiny):
    kw = {"regions": tiny["regions"], "window": 200, "bin_size": 25, "n_samples": 8}
    for stat in ("max", "sum", "coverage"):
        ds = fastwig.WindowDataset(tiny["tracks"], stat=stat, covered_only=True, missing=0.5, **kw)
        w = ds.windows(np.arange(8))
        ref = fastwig.read_windows(tiny["tracks"], w.chrom, w.start, 200, bin_size=25, stat=stat,
                                   covered_only=True, missing=0.5)
        assert bits_equal(next(ds.batches(8))["targets"], ref)


def test_sequence_only_and_tracks_only(tiny):
    seq_only = fastwig.WindowDataset([], tiny["fasta"], regions=tiny["regions"], window=100, n_samples=4)
    assert "targets" not in seq_only[0] and seq_only[0]["sequence"].shape == (4, 100)
    tr_only = fastwig.WindowDataset(tiny["tracks"], regions=tiny["regions"], window=100, n_samples=4)
    assert "sequence" not in tr_only[0] and tr_only[0]["targets"].shape == (4, 100)


def test_errors(tiny):
    with pytest.raises(ChromNotFound):
        fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=Regions("chrX", [0], [10]))
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], window=100, target_window=55, bin_size=10)
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], strand_pairs=[(0, 9)])
    with pytest.raises(RangeError):
        fastwig.WindowDataset(tiny["tracks"], sampling="random")
    ds = fastwig.WindowDataset(tiny["tracks"], regions=tiny["regions"], window=100, n_samples=5)
    with pytest.raises(IndexError):
        ds[5]
    assert ds[-1]["index"] == 4


# --- the fast path, workers, sharding ------------------------------------------------------------

def _dataset(tiny, **kw):
    base = {"regions": tiny["regions"], "window": 256, "target_window": 128, "bin_size": 8, "jitter": 16,
            "rc_prob": 0.5, "strand_pairs": [(0, 1)], "transform": "log1p", "labels": [tiny["peaks"]],
            "n_samples": 100, "seed": 9}
    base.update(kw)
    return fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], **base)


def test_batches_equal_collated_items(tiny):
    ds = _dataset(tiny)
    batches = list(ds.batches(32, epoch=2))
    assert [len(b["chrom"]) for b in batches] == [32, 32, 32, 4]
    ds.set_epoch(2)
    for k, b in enumerate(batches):
        items = [ds[i] for i in range(32 * k, min(32 * (k + 1), 100))]
        assert_batches_equal(b, default_collate(items))
    assert len(list(ds.batches(32, drop_last=True))) == 3


def test_batches_shard_disjoint_and_cover_the_epoch(tiny):
    ds = _dataset(tiny, n_samples=1000)
    for world in (1, 2, 3, 4):
        shards = [torch.cat([b["index"] for b in ds.batches(64, rank=r, world_size=world)]).tolist()
                  for r in range(world)]
        flat = [i for shard in shards for i in shard]
        assert sorted(flat) == list(range(1000)) and len(set(flat)) == 1000
        dropped = [list(S.shard_batches(1000, 64, rank=r, world_size=world, drop_last=True)) for r in range(world)]
        assert len({len(d) for d in dropped}) == 1  # every rank the same number of whole batches
    # workers inside a rank: disjoint, and the loader yields them in order
    for world, workers in ((1, 3), (2, 2)):
        for r in range(world):
            parts = [S.shard_batches(1000, 64, rank=r, world_size=world, worker=k, num_workers=workers)
                     for k in range(workers)]
            got = sorted(x for p in parts for x in p)
            assert got == S.shard_batches(1000, 64, rank=r, world_size=world)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), batch=st.integers(1, 40), world=st.integers(1, 5), workers=st.integers(1, 4),
       drop_last=st.booleans())
def test_shard_batches_property(n, batch, world, workers, drop_last):
    shards = [S.shard_batches(n, batch, rank=r, world_size=world, worker=k, num_workers=workers,
                              drop_last=drop_last) for r in range(world) for k in range(workers)]
    idx = [i for shard in shards for lo, hi in shard for i in range(lo, hi)]
    assert len(idx) == len(set(idx))                                  # disjoint
    if drop_last:
        per_rank = [sum(len(S.shard_batches(n, batch, rank=r, world_size=world, worker=k, num_workers=workers,
                                            drop_last=True)) for k in range(workers)) for r in range(world)]
        assert len(set(per_rank)) == 1 and all(hi - lo == batch for sh in shards for lo, hi in sh)
        assert len(idx) == (n // batch) // world * world * batch
    else:
        assert sorted(idx) == list(range(n))                          # together: the epoch


@settings(max_examples=60, deadline=None)
@given(data=st.data(), window=st.integers(1, 50), jitter=st.integers(0, 5))
def test_negative_pool_property(data, window, jitter):
    size = data.draw(st.integers(window + 2 * jitter, 400))
    starts = np.array(data.draw(st.lists(st.integers(0, size - 1), max_size=6)), dtype=np.int64)
    ends = starts + np.array(data.draw(st.lists(st.integers(1, 60), min_size=starts.size, max_size=starts.size)),
                             dtype=np.int64)
    pool = S.negative_pool([0], [0], [size], {0: (starts, ends)}, window, jitter)
    allowed = [p - window // 2 for lo, ln in zip(pool.lo.tolist(), pool.length.tolist()) for p in range(lo, lo + ln)]
    for s in range(-10, size + 10):                                   # brute force: every start, allowed or not
        fits = s - jitter >= 0 and s + window + jitter <= size
        clear = not np.any((starts < s + window + jitter) & (ends > s - jitter))
        assert (s in allowed) == (fits and clear)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_give_identical_batches(tiny, context):
    import multiprocessing as mp

    if context not in mp.get_all_start_methods():
        pytest.skip(f"start method {context} not available here")
    ds = _dataset(tiny, n_samples=48)
    serial = list(DataLoader(ds, batch_size=16, num_workers=0))
    parallel = list(DataLoader(ds, batch_size=16, num_workers=2, multiprocessing_context=context))
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel):
        assert_batches_equal(a, b)
    if context == "fork":
        # the fast path through a DataLoader (workers share out whole batches): the same batches, in order
        fast = list(ds.loader(16, num_workers=2, multiprocessing_context=context))
        assert len(fast) == 3
        for a, b in zip(serial, fast):
            assert_batches_equal(a, b)


def test_distributed_sampler_shards(tiny):
    ds = _dataset(tiny, n_samples=40)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=1)
        sampler.set_epoch(0)
        for b in DataLoader(ds, batch_size=8, sampler=sampler):
            seen += b["index"].tolist()
            w = ds.windows(b["index"].numpy())
            assert np.array_equal(b["start"].numpy(), w.start)
    assert sorted(seen) == list(range(40))


def test_pickle_reopens_files(tiny):
    ds = _dataset(tiny)
    before = ds[3]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._opened_pid is None
    assert_batches_equal(default_collate([before]), default_collate([clone[3]]))


def test_open_objects_are_accepted_and_remembered_by_path(tiny):
    bws = [fastwig.open(p) for p in tiny["tracks"]]
    g = fastwig.Genome(tiny["fasta"])
    a = fastwig.WindowDataset(bws, g, regions=tiny["regions"], window=100, n_samples=6)
    b = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=tiny["regions"], window=100, n_samples=6)
    assert_batches_equal(next(a.batches(6)), next(b.batches(6)))
    assert all(isinstance(p, str) for p in a._track_specs[0])


# --- several assemblies --------------------------------------------------------------------------

def test_several_assemblies_read_their_own_files(tiny, tmp_path):
    other = make_tiny(tmp_path / "b", seed=7, chroms={"scaf1": 9_000, "scaf2": 4_000}, prefix="b_")
    regions = Regions(["chr1", "scaf1", "chr2", "scaf2"], [0, 0, 0, 0], [20_000, 9_000, 12_000, 4_000],
                      assembly=["hg", "mm", "hg", "mm"])
    ds = fastwig.WindowDataset({"hg": tiny["tracks"], "mm": other["tracks"]},
                               {"hg": tiny["fasta"], "mm": other["fasta"]}, regions=regions, window=200,
                               bin_size=10, rc_prob=0.5, n_samples=64)
    batch = next(ds.batches(64))
    assert set(batch["assembly"]) == {"hg", "mm"}
    genomes = {"hg": fastwig.Genome(tiny["fasta"]), "mm": fastwig.Genome(other["fasta"])}
    tracks = {"hg": tiny["tracks"], "mm": other["tracks"]}
    for k in range(64):
        asm, c, s, rc = batch["assembly"][k], batch["chrom"][k], int(batch["start"][k]), bool(batch["rc"][k])
        assert c.startswith("chr") == (asm == "hg")
        assert bits_equal(batch["sequence"][k], genomes[asm].onehot(c, s, s + 200, rc=rc))
        assert bits_equal(batch["targets"][k], expected_targets(ds, tracks[asm], c, s, rc))
    assert_batches_equal(batch, default_collate([ds[i] for i in range(64)]))
    with pytest.raises(RangeError):
        fastwig.WindowDataset({"hg": tiny["tracks"]}, regions=regions)  # no tracks for "mm"
    # label sets: with an assembly column they apply to that assembly, without one to every assembly
    labels = {"hg_chr1": Regions("chr1", [0], [20_000], assembly="hg"),
              "scaf2_any": Regions("scaf2", [0], [4_000])}
    black = Regions(["scaf1", "chr2"], [0, 0], [9_000, 12_000])  # no assembly column: applies to both
    lab = fastwig.WindowDataset({"hg": tiny["tracks"], "mm": other["tracks"]}, regions=regions, window=200,
                                labels=labels, blacklist=black, n_samples=64)
    assert set(lab.regions.chrom) == {"chr1", "scaf2"}
    b = next(lab.batches(64))
    want = np.array([[c == "chr1", c == "scaf2"] for c in b["chrom"]], dtype=np.float32)
    assert np.array_equal(b["labels"].numpy(), want) and want[:, 0].any() and want[:, 1].any()


# --- real files ----------------------------------------------------------------------------------

@needs_volvox
def test_volvox_targets_against_pybigwig_and_sequence_against_pyfaidx():
    pyBigWig = pytest.importorskip("pyBigWig")
    import pyfaidx

    tracks = [str(VOLVOX / n) for n in ("volvox_sine.bw", "volvox_microarray.bw", "volvox-sorted.bam.coverage.bw")]
    ds = fastwig.WindowDataset(tracks, str(VOLVOX / "volvox.fa"), regions=str(VOLVOX / "volvox-remark.bed"),
                               window=500, jitter=100, rc_prob=0.5, n_samples=64, seed=1,
                               labels={"segments": str(VOLVOX / "volvox_segment.bed")})
    fa = pyfaidx.Fasta(str(VOLVOX / "volvox.fa"), sequence_always_upper=False)
    bws = [pyBigWig.open(p) for p in tracks]
    batch = next(ds.batches(64))
    assert_batches_equal(batch, default_collate([ds[i] for i in range(64)]))
    for k in range(64):
        c, s, rc = batch["chrom"][k], int(batch["start"][k]), bool(batch["rc"][k])
        assert bits_equal(batch["sequence"][k], pyfaidx_onehot(fa, c, s, 500, rc))
        for t, bw in enumerate(bws):
            lo, hi = max(s, 0), min(s + 500, bw.chroms(c))
            ref = np.zeros(500, dtype=np.float32)
            ref[lo - s:hi - s] = np.nan_to_num(np.asarray(bw.values(c, lo, hi), dtype=np.float32), nan=0.0)
            assert bits_equal(batch["targets"][k, t], ref[::-1] if rc else ref)
    assert batch["labels"].sum() == 64  # the segments tile ctgA


@needs_volvox
def test_volvox_binned_targets_against_read_windows():
    tracks = [str(VOLVOX / "volvox_microarray.bw"), str(VOLVOX / "volvox-sorted.bam.coverage.bw")]
    ds = fastwig.WindowDataset(tracks, str(VOLVOX / "volvox.fa"), regions=Regions("ctgA", [0], [50_001]),
                               window=2_000, target_window=1_000, bin_size=50, sampling="ordered")
    assert len(ds) == 51
    tg = torch.cat([b["targets"] for b in ds.batches(16)], dim=0)      # (51, 2, 20)
    flat = tg.permute(1, 0, 2).reshape(2, -1).numpy()
    first = int(ds.windows([0]).start[0]) + ds.target_offset
    ref = fastwig.read_windows(tracks, "ctgA", np.array([first]), 51_000, bin_size=50)[0]
    assert bits_equal(flat, ref)


# --- GPU -----------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA build of torch and a GPU")
def test_cuda_batches_equal_cpu_batches(tiny):
    ds = _dataset(tiny)
    for a, b in zip(ds.batches(32), ds.batches(32, device="cuda")):
        assert b["sequence"].is_cuda and b["targets"].is_cuda
        assert torch.equal(a["sequence"], b["sequence"].cpu())
        assert torch.allclose(a["targets"], b["targets"].cpu(), rtol=1e-6, atol=1e-6)


# --- the constructor: keyword-only groups, old spellings ----------------------------------------

def test_old_positional_parameters_still_work_with_a_deprecation_warning(tiny):
    new = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], tiny["regions"], 200, target_window=100, bin_size=10,
                                n_samples=16, seed=2)
    with pytest.warns(DeprecationWarning, match="target_window, bin_size"):
        old = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], tiny["regions"], 200, 100, 10, n_samples=16, seed=2)
    assert_batches_equal(next(new.batches(16)), next(old.batches(16)))
    with pytest.raises(TypeError, match="multiple values"), pytest.warns(DeprecationWarning):
        fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], tiny["regions"], 200, 100, target_window=100)
    with pytest.raises(TypeError, match="at most"):
        fastwig.WindowDataset(tiny["tracks"], *([None] * 20))
    assert new.window == 200 and new.target_window == 100


def test_grouped_options_equal_flat_keywords(tiny):
    from fastwig.dataset import Augmentation, Sampling, Targets

    flat = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=tiny["regions"], window=200,
                                 target_window=100, bin_size=10, transform="log1p", jitter=20, rc_prob=0.5,
                                 strand_pairs=[(0, 1)], sampling="balanced", n_samples=32, seed=7)
    grouped = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=tiny["regions"], window=200,
                                    targets=Targets(window=100, bin_size=10, transform="log1p"),
                                    augment=Augmentation(jitter=20, rc_prob=0.5, strand_pairs=[(0, 1)]),
                                    sampling=Sampling("balanced", n_samples=32, seed=7))
    assert (grouped.target_window, grouped.bin_size, grouped.jitter, grouped.sampling) == (100, 10, 20, "balanced")
    assert_batches_equal(next(flat.batches(32)), next(grouped.batches(32)))
    with pytest.raises(RangeError, match="jitter"):
        fastwig.WindowDataset(tiny["tracks"], regions=tiny["regions"], augment=Augmentation(rc_prob=0.5), jitter=3)
    with pytest.raises(RangeError):
        Augmentation(rc_prob=2.0)
    with pytest.raises(RangeError):
        Targets(stat="median")


def test_samplers_module_keeps_its_names_and_stays_torch_free():
    import subprocess
    import sys

    import fastwig.dataset.samplers as inner

    assert S.UniformSampler is inner.UniformSampler and S.shard_batches is not None
    assert all(hasattr(S, name) for name in S.__all__)
    code = ("import sys, fastwig.samplers, fastwig.dataset.rng; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "from fastwig.dataset import WindowDataset, BatchIterable; import fastwig; "
            "assert fastwig.WindowDataset is WindowDataset")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_gpu_sequence_path_finds_its_probe_and_kernel():
    """The CUDA one-hot path's two dependencies resolve (they moved once; the device test needs a GPU).
    Run in a fresh interpreter: resolving them must not import numba.cuda."""
    import subprocess
    import sys

    code = ("import sys; from fastwig.dataset.reading import cuda_onehot; probe, kernel = cuda_onehot(); "
            "assert callable(probe) and callable(kernel); assert 'numba.cuda' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
