"""Chromosome names that differ between files (fastwig/chromalias.py): a UCSC-named bigWig (chr1, chr2,
chrM) read through Ensembl names (1, 2, MT), an Ensembl FASTA read through UCSC names, the dataset over
both, user alias tables, aliases off, exact names first, one notice per file and mapping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from support import SHARED_REASON, bits_equal

import fastwig
from fastwig import Regions
from fastwig.chromalias import ChromAliasWarning, aliases_of, builtin_aliases, load_table
from fastwig.config import Settings
from fastwig.errors import ChromNotFound, FastwigError

SIZES = {"chr1": 50_000, "chr2": 30_000, "chrM": 16_569}
ENSEMBL = {"chr1": "1", "chr2": "2", "chrM": "MT"}


def _write_bigwig(path, sizes: dict[str, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    with fastwig.BigWigWriter(path, sizes, zoom_levels=2) as w:
        for name, size in sizes.items():
            starts = np.unique(rng.integers(0, size - 10, 400))
            ends = np.minimum(np.append(starts[1:], size), starts + rng.integers(1, 200, starts.size))
            w.add_intervals(name, starts, ends, rng.normal(size=starts.size).astype(np.float32))


def _write_fasta(path, seqs: dict[str, str]) -> None:
    with open(path, "w") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))


@pytest.fixture
def files(tmp_path):
    """UCSC-named tracks; the same sequence as an Ensembl-named and a UCSC-named FASTA."""
    rng = np.random.default_rng(3)
    tracks = [tmp_path / f"t{k}.bw" for k in range(2)]
    for k, p in enumerate(tracks):
        _write_bigwig(p, SIZES, seed=k)
    seqs = {name: "".join(rng.choice(list("ACGTN"), size, p=[0.24, 0.24, 0.24, 0.24, 0.04])) for name, size in
            SIZES.items()}
    ens, ucsc = tmp_path / "ensembl.fa", tmp_path / "ucsc.fa"
    _write_fasta(ens, {ENSEMBL[n]: s for n, s in seqs.items()})
    _write_fasta(ucsc, seqs)
    return {"tracks": [str(p) for p in tracks], "ensembl": str(ens), "ucsc": str(ucsc), "dir": tmp_path}


@pytest.fixture
def aliases_setting(monkeypatch):
    """Set fastwig.settings.chrom_aliases for one test."""
    def set_(value):
        monkeypatch.setattr(fastwig.settings, "chrom_aliases", value)
    return set_


def _windows(n=64, width=1_000, seed=0):
    rng = np.random.default_rng(seed)
    ucsc = rng.choice(list(SIZES), n)
    starts = np.array([rng.integers(-100, SIZES[c] - width + 100) for c in ucsc], dtype=np.int64)
    return ucsc, np.array([ENSEMBL[c] for c in ucsc]), starts, width


def test_builtin_aliases():
    assert builtin_aliases("chr1") == ("1",) and builtin_aliases("1") == ("chr1",)
    assert builtin_aliases("chrX") == ("X",) and builtin_aliases("Y") == ("chrY",)
    assert builtin_aliases("chrM") == ("MT", "M") and builtin_aliases("MT") == ("chrM",)
    assert builtin_aliases("M") == ("chrM",)
    assert aliases_of("chr1", False) == ()
    assert aliases_of("chr1", {"chr1": ["NC_000001.11"]}) == ("NC_000001.11", "1")


def test_read_windows_ensembl_names_equal_ucsc_names(files):
    ucsc, ens, starts, width = _windows()
    for kw in ({}, {"bin_size": 50, "stat": "max"}, {"bin_size": 100, "stat": "mean", "oob": -1.0}):
        want = fastwig.read_windows(files["tracks"], ucsc, starts, width, missing=np.nan, **kw)
        with pytest.warns(ChromAliasWarning) if not kw else warnings.catch_warnings():
            got = fastwig.read_windows(files["tracks"], ens, starts, width, missing=np.nan, **kw)
        assert bits_equal(got, want), kw
    assert np.isfinite(want).any()


def test_bigwig_methods_take_aliases(files):
    with fastwig.open(files["tracks"][0]) as bw:
        with pytest.warns(ChromAliasWarning, match=r"'1'.*'chr1'"):
            got = bw.values("1", 100, 20_000)
        assert bits_equal(got, bw.values("chr1", 100, 20_000)) and np.isfinite(got).any()
        assert bits_equal(bw.values("MT"), bw.values("chrM"))
        assert bits_equal(bw.values("M", 5, 60), bw.values("chrM", 5, 60))
        for a, b in zip(bw.intervals("2", 0, 9_000), bw.intervals("chr2", 0, 9_000)):
            assert np.array_equal(a, b)
        assert bits_equal(bw.stats("1", 0, 40_000, bins=7), bw.stats("chr1", 0, 40_000, bins=7))
        with pytest.raises(ChromNotFound):
            bw.values("3")


def test_genome_takes_aliases(files):
    g = fastwig.Genome(files["ensembl"])
    u = fastwig.Genome(files["ucsc"])
    with pytest.warns(ChromAliasWarning, match="chrM"):
        assert g.sequence("chrM", 10, 200) == u.sequence("chrM", 10, 200)
    ucsc, _, starts, width = _windows()
    assert np.array_equal(g.onehot_batch(ucsc, starts, width), u.onehot_batch(ucsc, starts, width))
    with pytest.raises(ChromNotFound):
        fastwig.Genome(files["ensembl"], aliases=False).sequence("chr1", 0, 10)


def _batches(ds, n=3):
    out = []
    for b in ds.batches(16):
        out.append(b)
        if len(out) == n:
            return out
    return out


def test_dataset_ensembl_genome_ucsc_tracks_equals_matching_names(files):
    labels = Regions(["chr1", "chr2", "chrM"], [1_000, 5_000, 100], [20_000, 6_000, 3_000])
    kw = {"window": 512, "bin_size": 32, "n_samples": 48, "seed": 4, "rc_prob": 0.5, "jitter": 20, "labels": labels}
    ens = fastwig.WindowDataset(files["tracks"], files["ensembl"], **kw)
    ucsc = fastwig.WindowDataset(files["tracks"], files["ucsc"], **kw)
    labelled = 0
    for a, b in zip(_batches(ens), _batches(ucsc)):
        assert [ENSEMBL[c] for c in b["chrom"]] == list(a["chrom"])
        for key in ("sequence", "targets", "labels", "start", "rc"):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key].numpy(), b[key].numpy()), key
        assert a["targets"].abs().sum() > 0
        labelled += int(a["labels"].sum())
    assert labelled > 0
    # regions named like the tracks, over the Ensembl genome: the same windows as regions named like it
    reg_u = Regions(["chr1", "chrM"], [0, 0], [40_000, 16_569])
    reg_e = Regions(["1", "MT"], [0, 0], [40_000, 16_569])
    kw = {"window": 256, "n_samples": 32, "seed": 1}
    a = fastwig.WindowDataset(files["tracks"], files["ensembl"], regions=reg_u, **kw)
    b = fastwig.WindowDataset(files["tracks"], files["ensembl"], regions=reg_e, **kw)
    for x, y in zip(_batches(a), _batches(b)):
        assert list(x["chrom"]) == list(y["chrom"]) and np.array_equal(x["targets"].numpy(), y["targets"].numpy())


def test_dataset_without_genome_counts_a_chromosome_once(files, tmp_path):
    ens_track = tmp_path / "ens.bw"
    _write_bigwig(ens_track, {ENSEMBL[n]: s for n, s in SIZES.items()}, seed=0)
    ds = fastwig.WindowDataset([files["tracks"][0]], inputs=[str(ens_track)], window=256, n_samples=16)
    assert sorted(set(ds.regions.chrom)) == sorted(SIZES)
    b = next(iter(ds.batches(16)))
    # the input track holds the same records as the target track under Ensembl names
    assert np.array_equal(b["inputs"].numpy()[:, 0], b["targets"].numpy()[:, 0])


def test_regions_overlap_across_names():
    peaks = Regions(["1", "MT", "2"], [100, 10, 0], [200, 20, 5])
    other = Regions(["chr1", "chrM"], [150, 30], [160, 40])
    with pytest.warns(ChromAliasWarning):
        assert list(peaks.overlaps(other)) == [True, False, False]


def test_user_dict_alias(files, aliases_setting):
    ucsc, _, starts, width = _windows()
    refseq = {"chr1": "NC_000001.11", "chr2": "NC_000002.12", "chrM": "NC_012920.1"}
    with fastwig.open(files["tracks"][0]) as bw:
        with pytest.raises(ChromNotFound):
            bw.values("NC_000001.11", 0, 10)
        aliases_setting({k: [v] for k, v in refseq.items()})
        assert bits_equal(bw.values("NC_000001.11", 0, 5_000), bw.values("chr1", 0, 5_000))
        assert bits_equal(bw.values("1", 0, 5_000), bw.values("chr1", 0, 5_000))    # the usual ones stay
    want = fastwig.read_windows(files["tracks"], ucsc, starts, width)
    got = fastwig.read_windows(files["tracks"], [refseq[c] for c in ucsc], starts, width)
    assert bits_equal(got, want)


def test_chromalias_txt(files, aliases_setting, tmp_path):
    table = tmp_path / "hg38.chromAlias.txt"
    table.write_text("# ucsc\tassembly\tgenbank\tncbi\trefseq\n"
                     "chr1\t1\tCM000663.2\t1\tNC_000001.11\n"
                     "chr2\t2\tCM000664.2\t\tNC_000002.12\n"
                     "chrM\tMT\tJ01415.2\tMT\tNC_012920.1\n")
    assert load_table(table)["CM000664.2"] == ("chr2", "2", "NC_000002.12")
    aliases_setting(str(table))
    with fastwig.open(files["tracks"][1]) as bw:
        assert bits_equal(bw.values("CM000664.2"), bw.values("chr2"))
        assert bits_equal(bw.values("J01415.2"), bw.values("chrM"))
    g = fastwig.Genome(files["ensembl"])
    assert g.sequence("NC_000001.11", 0, 300) == g.sequence("1", 0, 300)
    aliases_setting(str(tmp_path / "absent.txt"))
    with pytest.raises(FastwigError, match="absent.txt"):
        g.sequence("chr1", 0, 10)


def test_aliases_off_gives_missing_values_and_the_warning(files, aliases_setting):
    _, ens, starts, width = _windows()
    aliases_setting(False)
    with pytest.warns(UserWarning, match="no chromosome '1'; its windows get the missing value"):
        got = fastwig.read_windows(files["tracks"], ens, starts, width, missing=-7.0)
    assert np.all(got == np.float32(-7.0))
    with fastwig.open(files["tracks"][0]) as bw, pytest.raises(ChromNotFound):
        bw.values("1", 0, 10)
    with pytest.raises(ChromNotFound):
        fastwig.Genome(files["ensembl"]).sequence("chr1", 0, 10)
    # one object off while the setting is on
    aliases_setting(True)
    bw = fastwig.open(files["tracks"][0])
    bw.chrom_aliases = False
    with pytest.raises(ChromNotFound):
        bw.values("1", 0, 10)
    import pickle
    assert pickle.loads(pickle.dumps(bw)).chrom_aliases is False


def test_environment_variable(monkeypatch):
    for value, want in (("0", False), ("off", False), ("1", True), ("", True),
                        ("/x/chromAlias.txt", "/x/chromAlias.txt")):
        monkeypatch.setenv("FASTWIG_CHROM_ALIASES", value)
        assert Settings().chrom_aliases == want


def test_exact_names_win(tmp_path):
    both = tmp_path / "both.bw"
    _write_bigwig(both, {"chr1": 20_000, "1": 20_000}, seed=9)
    with fastwig.open(both) as bw, warnings.catch_warnings():
        warnings.simplefilter("error", ChromAliasWarning)
        a, b = bw.values("1"), bw.values("chr1")
        assert not bits_equal(a, b)
        s, e, v = bw.intervals("1")
        assert bits_equal(a[s[0]:e[0]], np.full(e[0] - s[0], v[0], np.float32))
        got = fastwig.read_windows([bw], ["1", "chr1"], [0, 0], 20_000, missing=np.nan)
        assert bits_equal(got[0, 0], a) and bits_equal(got[1, 0], b)


def test_one_notice_per_file_and_mapping(files):
    _, ens, starts, width = _windows()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            fastwig.read_windows(files["tracks"], ens, starts, width)
        with fastwig.open(files["tracks"][0]) as bw:
            bw.values("1", 0, 10)
            bw.values("1", 0, 10)
    notes = sorted(str(w.message) for w in seen if issubclass(w.category, ChromAliasWarning))
    # 2 files x 3 mappings (1 -> chr1, 2 -> chr2, MT -> chrM), each once
    assert len(notes) == 6 and len(set(notes)) == 6
    assert not [w for w in seen if "missing value" in str(w.message)]


def test_keywords_turn_aliases_off_per_call_and_per_file(files):
    _, ens, starts, width = _windows()
    with pytest.warns(UserWarning, match="its windows get the missing value"):
        got = fastwig.read_windows(files["tracks"], ens, starts, width, missing=-3.0, aliases=False)
    assert np.all(got == np.float32(-3.0))
    want = fastwig.read_windows(files["tracks"], [{v: k for k, v in ENSEMBL.items()}[e] for e in ens], starts, width)
    assert bits_equal(fastwig.read_windows(files["tracks"], ens, starts, width, aliases=True), want)
    with fastwig.open(files["tracks"][0], aliases=False) as bw, pytest.raises(ChromNotFound):
        bw.values("1", 0, 10)
    with fastwig.open(files["tracks"][0], aliases={"chr2": ["two"]}) as bw:
        assert bits_equal(bw.values("two"), bw.values("chr2"))


def test_bigbed_entries_take_aliases(tmp_path):
    from fastwig.bbi_writer import write_bigbed

    recs = [("chr1", 10, 50, "a\t5"), ("chr1", 100, 300, "b\t7"), ("chrM", 0, 20, "c\t1")]
    path = write_bigbed(tmp_path / "peaks.bb", {"chr1": 1_000, "chrM": 100}, recs)
    with fastwig.open(path) as bb:
        assert isinstance(bb, fastwig.BigBed)
        got = bb.entries("1", 0, 200)
        assert list(got[0]) == [10, 100] and list(got[2]) == ["a\t5", "b\t7"]
        for a, b in zip(got, bb.entries("chr1", 0, 200)):
            assert list(a) == list(b)
        assert len(bb.entries("MT")[0]) == 1


def _real_ucsc_bigwigs() -> list:
    from support import real_bigwigs

    out = []
    for p in real_bigwigs():
        if p.stat().st_size > 4 << 20:
            continue
        try:
            with fastwig.open(p) as bw:
                if isinstance(bw, fastwig.BigWig) and all(n.startswith("chr") and len(n) > 3 for n in bw.chroms):
                    out.append(p)
        except FastwigError:
            continue
    return out[:12]


_NO_SHARED = [pytest.param(None, marks=pytest.mark.skip(reason=SHARED_REASON))]


@pytest.mark.parametrize("path", _real_ucsc_bigwigs() or _NO_SHARED, ids=lambda p: getattr(p, "name", "none"))
def test_real_ucsc_bigwigs_read_through_ensembl_names(path):
    pyBigWig = pytest.importorskip("pyBigWig")
    rng = np.random.default_rng(7)
    with fastwig.open(path) as bw, warnings.catch_warnings():
        warnings.simplefilter("ignore", ChromAliasWarning)
        width = min(200, max(bw.chroms.values()))
        ucsc = rng.choice([n for n in bw.chroms if bw.chroms[n] >= width], 40)
        starts = np.array([rng.integers(0, bw.chroms[c] - width + 1) for c in ucsc], dtype=np.int64)
        ens = [builtin_aliases(c)[0] for c in ucsc]
        want = fastwig.read_windows([bw], ucsc, starts, width, missing=np.nan)
        assert bits_equal(fastwig.read_windows([bw], ens, starts, width, missing=np.nan), want)
        assert bits_equal(bw.values(ens[0], int(starts[0]), int(starts[0]) + width), want[0, 0])
    oracle = pyBigWig.open(str(path))
    ref = np.stack([np.asarray(oracle.values(str(c), int(s), int(s) + width, numpy=True), np.float32)
                    for c, s in zip(ucsc, starts)])
    np.testing.assert_array_equal(want[:, 0], ref)
