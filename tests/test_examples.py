"""The scripts in examples/ run on the demo data embedded in the package, a few steps each."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys

import pytest
from support import REPO

torch = pytest.importorskip("torch")
EXAMPLES = REPO / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bpnet_profile_example(capsys):
    res = load("bpnet_profile").main(["--steps", "3", "--batch-size", "8"])
    out = capsys.readouterr().out
    assert "step    3/3" in out and "held-out chr4" in out
    assert all(math.isfinite(v) for v in res.values())


def test_bpnet_loss_is_the_multinomial_nll_plus_count_mse():
    mod = load("bpnet_profile")
    y = torch.tensor([[[0.0, 2.0, 2.0]]])
    logits = torch.zeros(1, 1, 3)                      # uniform profile: NLL = 4 * log(3) / 3
    log_counts = torch.log1p(torch.tensor([[4.0]]))    # exact total: no count loss
    assert mod.loss_fn(logits, log_counts, y).item() == pytest.approx(4 * math.log(3) / 3, rel=1e-6)


def test_enformer_binned_example(capsys):
    res = load("enformer_binned").main(["--steps", "2", "--batch-size", "2", "--window", "8192",
                                        "--target", "4096"])
    assert res["target_shape"] == (2, 3, 4096 // 128)
    assert math.isfinite(res["loss_first"]) and math.isfinite(res["loss_last"])
    assert "poisson loss" in capsys.readouterr().out


def test_ddp_example_under_torchrun(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(EXAMPLES / "train_ddp.py"), "--epochs", "2", "--windows", "128", "--batch-size", "16"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    lines = re.findall(r"rank (\d)/2 epoch (\d): (\d+) windows, mean loss over all ranks ([0-9.]+)", proc.stdout)
    assert sorted((r, e) for r, e, _, _ in lines) == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    for epoch in "01":
        per_rank = [(int(n), loss) for _, e, n, loss in lines if e == epoch]
        assert sum(n for n, _ in per_rank) == 128          # the ranks share the epoch's windows
        assert per_rank[0][1] == per_rank[1][1]             # all-reduced: one loss
