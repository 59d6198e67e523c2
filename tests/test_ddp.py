"""DDP sharding under torchrun: 2 CPU processes (gloo) read disjoint shards that together make the epoch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# torchrun failures that mean "cannot start here", not "fastwig is wrong"
_CANNOT_START = ("rendezvous", "EADDRINUSE", "Address already in use", "Cannot assign requested address",
                 "Name or service not known", "socket", "gloo", "DistNetworkError")


@pytest.mark.slow
def test_ddp_ranks_read_disjoint_shards_that_cover_the_epoch(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    if str(HERE) not in sys.path:  # (any pytest import mode)
        sys.path.insert(0, str(HERE))
    from test_dataset import make_tiny

    data = make_tiny(tmp_path / "data")
    out = tmp_path / "shards.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", FASTWIG_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(HERE / "ddp_shards.py"), str(out), data["fasta"], data["peaks"], *data["tracks"]]
    try:
        proc = subprocess.run(cmd, check=False, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:  # a hang is a failure, never a skip
        log = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
        pytest.fail(f"torchrun did not finish within 600 s (a hang?):\n{log[-3000:]}")
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or not out.exists():
        if any(s in log for s in _CANNOT_START) and "fastwig" not in log.split("Traceback")[-1]:
            pytest.skip(f"torchrun could not start 2 processes here: {log[-400:]}")
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{log[-3000:]}")
    ranks = json.loads(out.read_text())
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    n = 203
    for epoch in ("epoch0", "epoch1"):
        a, b = (r[epoch]["index"] for r in ranks)
        assert not set(a) & set(b)                       # disjoint
        assert sorted(a + b) == list(range(n))           # together: the epoch
        assert abs(len(a) - len(b)) <= 16                # at most one batch apart
        assert all(r[epoch]["inputs_ok"] for r in ranks)  # inputs equal read_windows on every rank
    # batches alternate between ranks: rank 0 has batches 0, 2, 4, ..., rank 1 batches 1, 3, ...
    assert ranks[0]["epoch0"]["index"][:16] == list(range(16))
    assert ranks[1]["epoch0"]["index"][:16] == list(range(16, 32))
    # another epoch reads other windows
    w0 = ranks[0]["epoch0"]["windows"] + ranks[1]["epoch0"]["windows"]
    w1 = ranks[0]["epoch1"]["windows"] + ranks[1]["epoch1"]["windows"]
    assert len(set(w0) & set(w1)) < n // 10
    # every rank computes the same windows for the whole epoch
    assert ranks[0]["epoch_digest"] == ranks[1]["epoch_digest"]
    # drop_last: whole batches, the same number on each rank
    assert ranks[0]["drop_last_batches"] == ranks[1]["drop_last_batches"] == (n // 16) // 2
    # the map-style path with DistributedSampler: covers the epoch (it pads to equal lengths)
    a, b = ranks[0]["sampler_index"], ranks[1]["sampler_index"]
    assert len(a) == len(b) == 102 and set(a) | set(b) == set(range(n))
