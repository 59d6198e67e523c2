"""``fastwig demo``: runs on the embedded data, the loss falls, the figure (matplotlib) is a valid PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "fastwig" / "data"


def read_png(path: Path) -> np.ndarray:
    """Decode a PNG (matplotlib's reader): float (h, w, channels) in [0, 1]."""
    image = pytest.importorskip("matplotlib.image")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)


def test_demo_module_has_no_hand_made_image_code():
    from fastwig import demo

    for name in ("write_png", "_FONT", "_text", "_line"):
        assert not hasattr(demo, name), name


def test_embedded_demo_data_is_small_and_complete():
    meta = json.loads((DATA / "demo.json").read_text())
    files = [meta["fasta"], meta["fasta"] + ".fai", meta["peaks"], *meta["tracks"].values()]
    assert all((DATA / f).is_file() for f in files)
    assert sum((DATA / f).stat().st_size for f in files) < 4_000_000
    import fastwig

    g = fastwig.Genome(DATA / meta["fasta"])
    assert g.chroms == meta["chroms"] and meta["held_out"] in g.chroms
    for f in meta["tracks"].values():
        with fastwig.open(DATA / f) as bw:
            assert bw.chroms == meta["chroms"]


@pytest.mark.slow
def test_demo_runs_trains_and_writes_a_png(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out, res = tmp_path / "plot.png", tmp_path / "res.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "fastwig", "demo", "--steps", "60", "--batch-size", "16",
                           "--out", str(out), "--json", str(res)], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "windows/s" in text and "loss" in text and "held-out" in text, text
    r = json.loads(res.read_text())
    assert r["loss_last"] < r["loss_first"], text
    assert len(r["losses"]) == 60 and all(np.isfinite(r["losses"]))
    assert set(r["heldout_r"]) == {"ap1", "ets", "access"}
    assert out.stat().st_size > 0
    img = read_png(out)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 50   # axes, text, bars and lines were drawn


def test_cli_version_and_help():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    v = subprocess.run([sys.executable, "-m", "fastwig", "--version"], check=False, env=env, capture_output=True,
                       text=True, timeout=120)
    assert v.returncode == 0 and v.stdout.startswith("fastwig ")
    h = subprocess.run([sys.executable, "-m", "fastwig", "demo", "--help"], check=False, env=env, capture_output=True,
                       text=True, timeout=120)
    assert h.returncode == 0 and "--steps" in h.stdout and "--out" in h.stdout


def test_demo_files_point_at_the_embedded_data():
    from fastwig.demo import demo_files

    files = demo_files()
    assert set(files["tracks"]) == {"ap1", "ets", "access"}
    for path in [*files["tracks"].values(), files["fasta"], files["peaks"]]:
        assert Path(path).is_file() and Path(path).parent == DATA.resolve()
    assert files["held_out"] in files["chroms"]


def test_write_plot_draws_axes_and_legend(tmp_path):
    pytest.importorskip("matplotlib")
    from fastwig.demo import write_plot

    obs = np.abs(np.sin(np.arange(2 * 50) / 5.0)).reshape(2, 50) * 10
    write_plot(tmp_path / "p.png", "title", ["a", "b"], obs, obs * 0.9, {"a": 0.5, "b": 0.25}, start=1000,
               chrom="chr4")
    img = read_png(tmp_path / "p.png")
    assert img.shape[0] > 200 and img.shape[1] > 500
    write_plot(tmp_path / "p.svg", "title", ["a", "b"], obs, obs * 0.9, {"a": 0.5, "b": 0.25}, start=1000,
               chrom="chr4")
    svg = (tmp_path / "p.svg").read_text()
    for text in ("observed", "predicted", "held-out chromosome: 0.50", "chr4 position (bp)", "1,"):
        assert text in svg, text
