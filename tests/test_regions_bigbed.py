"""Regions from bigBed files: the same table as from the same peaks written as text BED, columns typed
by the file's autoSql; ``from_bed`` and everything that reads BED take a bigBed too."""

from __future__ import annotations

import numpy as np
import pytest
from support import SHARED_REASON, real_bigbeds
from test_bigbed import NARROWPEAK_AS, narrowpeaks

import fastwig
from fastwig.bbi_writer import write_bigbed
from fastwig.regions import Regions

pybigtools = pytest.importorskip("pybigtools", reason="pybigtools (test extra) writes the bigBed files")


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    """The same bigNarrowPeak-like records as a bigBed (pybigtools' writer) and as text narrowPeak."""
    rng = np.random.default_rng(4)
    chroms = {"chr1": 1_000_000, "chr2": 600_000, "chrX": 300_000}
    recs = narrowpeaks(rng, chroms, 3000)
    d = tmp_path_factory.mktemp("peaks")
    pybigtools.open(str(d / "peaks.bb"), "w").write(chroms, iter(recs), autosql=NARROWPEAK_AS)
    (d / "peaks.narrowPeak").write_text("".join(f"{c}\t{s}\t{e}\t{r}\n" for c, s, e, r in recs))
    return d / "peaks.bb", d / "peaks.narrowPeak", recs


def test_bigbed_table_equals_text_bed(peaks):
    bb, text, _ = peaks
    a, b = Regions.from_bigbed(bb), Regions.from_bed(text)
    assert len(a) == len(b) == 3000
    assert a.chrom.tolist() == b.chrom.tolist()
    assert np.array_equal(a.start, b.start) and np.array_equal(a.end, b.end)
    for name in ("name", "score", "strand"):
        assert a[name].dtype == b[name].dtype and a[name].tolist() == b[name].tolist(), name
    # text BED calls columns 7-10 of narrowPeak col7..col10; the bigBed has their autoSql names and
    # answers to colN too
    for n, name in zip(range(7, 11), ("signalValue", "pValue", "qValue", "peak")):
        assert a[name].dtype == b[f"col{n}"].dtype, name
        np.testing.assert_array_equal(a[f"col{n}"], b[f"col{n}"])
        np.testing.assert_array_equal(a[name], b[f"col{n}"])
    assert a.columns == ["chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue",
                         "qValue", "peak"]


def test_from_bed_reads_a_bigbed_by_its_magic(peaks, tmp_path):
    bb = peaks[0]
    renamed = tmp_path / "peaks.bed"      # the name says BED; the bytes say bigBed
    renamed.write_bytes(bb.read_bytes())
    for path in (bb, renamed):
        got = Regions.from_bed(path)
        want = Regions.from_bigbed(bb)
        assert got.to_dict().keys() == want.to_dict().keys()
        assert all(np.array_equal(got[c], want[c]) for c in want.columns)


def test_overlaps_with_a_bigbed(peaks):
    bb, text, _ = peaks
    windows = Regions.tile({"chr1": 1_000_000, "chr2": 600_000}, 200)
    assert np.array_equal(windows.overlaps(bb), windows.overlaps(text))
    assert windows.overlaps(bb).any() and not windows.overlaps(bb).all()


def test_empty_and_bed3(tmp_path):
    empty = write_bigbed(tmp_path / "e.bb", {"c": 100}, [])
    assert len(Regions.from_bigbed(empty)) == 0
    bed3 = write_bigbed(tmp_path / "b3.bb", {"c": 100, "d": 50}, [("c", 1, 5, ""), ("d", 0, 50, "")])
    r = Regions.from_bigbed(bed3)
    assert r.columns == ["chrom", "start", "end"]
    assert r.chrom.tolist() == ["c", "d"] and r.start.tolist() == [1, 0] and r.end.tolist() == [5, 50]


def test_not_a_bigbed(tmp_path):
    p = tmp_path / "x.bb"
    p.write_bytes(b"\xeb\xf2\x89\x87" + b"\0" * 10)      # bigBed magic, then nothing
    with pytest.raises(fastwig.FormatError, match="x.bb"):
        Regions.from_bigbed(p)
    with pytest.raises(fastwig.FastwigError, match="nope.bb"):
        Regions.from_bigbed(tmp_path / "nope.bb")


@pytest.mark.skipif(not real_bigbeds(), reason=SHARED_REASON)
@pytest.mark.parametrize("path", real_bigbeds(), ids=lambda p: p.name)
def test_real_bigbeds(path):
    r = Regions.from_bigbed(path)
    with fastwig.open(path) as bb:
        n = sum(bb.entries(c)[0].size for c in bb.chroms)
        assert len(r) == n and len(r.columns) == len(bb.fields)


def test_dataset_labels_from_a_bigbed_equal_labels_from_text_bed(tmp_path):
    """WindowDataset(labels=...) given the same peaks as bigBed and as text BED: the same labels."""
    pytest.importorskip("torch")
    from test_dataset import make_tiny

    tiny = make_tiny(tmp_path)
    text = Regions.from_bed(tiny["peaks"])
    bb = write_bigbed(tmp_path / "peaks.bb", tiny["chroms"],
                      [(c, int(s), int(e), "") for c, s, e in zip(text.chrom, text.start, text.end)],
                      items_per_block=2)
    ds = fastwig.WindowDataset(tiny["tracks"], tiny["fasta"], regions=Regions.tile(tiny["chroms"], 20_000),
                               window=500, labels={"bigbed": str(bb), "text": tiny["peaks"]}, n_samples=300)
    lab = next(ds.batches(300))["labels"].numpy()
    assert lab.shape == (300, 2)
    assert 0 < lab[:, 0].sum() < 300
    assert np.array_equal(lab[:, 0], lab[:, 1])
