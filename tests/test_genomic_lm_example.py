"""examples/genomic_lm.py runs on the embedded demo data for a few steps, and its batches are the genome's k-mers."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastwig

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "genomic_lm.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("genomic_lm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_runs_a_few_steps(example, capsys):
    res = example.main(["--lm-steps", "3", "--cls-steps", "3", "--batch-size", "4", "--width", "60", "--k", "4",
                        "--stride", "2"])
    assert len(res["lm_losses"]) == 3 and len(res["cls_losses"]) == 3
    assert all(math.isfinite(x) for x in res["lm_losses"] + res["cls_losses"])
    # an untrained model over 4**4 + 1 tokens starts near log(vocabulary)
    assert res["vocab"] == 257 and abs(res["lm_losses"][0] - math.log(257)) < 1.0
    assert res["classes"] == ["ap1", "ets"] and res["valid"] > 0
    peaks = fastwig.Regions.from_bed(example.demo_paths()["peaks"])
    assert res["train"] + res["valid"] == len(peaks)
    assert "accuracy on chr4" in capsys.readouterr().out


def test_batches_and_regions_are_the_genome_kmers(example):
    paths = example.demo_paths()
    with fastwig.Genome(paths["fasta"]) as g:
        ds = example.pretraining_dataset(paths["fasta"], {"chr1": g.chroms["chr1"]}, 50, 3, 1, seed=5)
        batch = next(ds.batches(8))
        assert batch["sequence"].dtype == torch.int64 and batch["sequence"].shape == (8, 48)
        for i in range(8):
            start, rc = int(batch["start"][i]), bool(batch["rc"][i])
            assert batch["chrom"][i] == "chr1"
            want = g.kmers("chr1", start, start + 50, 3, 1, rc=rc)
            assert np.array_equal(batch["sequence"][i].numpy(), want)
        assert next(example.pretraining_batches(ds, 4)).shape == (4, 48)
        peaks = fastwig.Regions.from_bed(paths["peaks"])[:20]
        ds = example.RegionClassification(g, peaks, 50, 3, 2)
        for i in range(len(peaks)):
            chrom, start, end = str(peaks.chrom[i]), int(peaks.start[i]), int(peaks.end[i])
            lo = (start + end) // 2 - 25
            assert np.array_equal(ds.tokens[i, 0].numpy(), g.kmers(chrom, lo, lo + 50, 3, 2))
            assert np.array_equal(ds.tokens[i, 1].numpy(), g.kmers(chrom, lo, lo + 50, 3, 2, rc=True))
            name = str(peaks.column("name")[i])
            assert ds.classes[int(ds.labels[i])] == name.split("_")[0]
