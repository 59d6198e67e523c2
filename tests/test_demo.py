"""``fastwig demo``: runs on the embedded data, the loss falls, the PNG is valid; the PNG encoder."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "fastwig" / "data"


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB, non-interlaced PNG whose rows use filter 0 (what write_png writes)."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind, body = blob[pos + 4:pos + 8], blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kind == b"IEND" and header is not None
    w, h, depth, color = header[:4]
    assert (depth, color) == (8, 2)
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_write_png_round_trip(tmp_path):
    from fastwig.demo import write_png

    img = (np.arange(7 * 5 * 3) % 256).astype(np.uint8).reshape(7, 5, 3)
    write_png(tmp_path / "a.png", img)
    assert np.array_equal(read_png(tmp_path / "a.png"), img)
    with pytest.raises(ValueError):
        write_png(tmp_path / "b.png", np.zeros((3, 3)))


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


def test_demo_runs_trains_and_writes_a_png(tmp_path):
    pytest.importorskip("torch")
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
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 3   # something was drawn


def test_cli_version_and_help():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    v = subprocess.run([sys.executable, "-m", "fastwig", "--version"], check=False, env=env, capture_output=True,
                       text=True, timeout=120)
    assert v.returncode == 0 and v.stdout.startswith("fastwig ")
    h = subprocess.run([sys.executable, "-m", "fastwig", "demo", "--help"], check=False, env=env, capture_output=True,
                       text=True, timeout=120)
    assert h.returncode == 0 and "--steps" in h.stdout and "--out" in h.stdout
