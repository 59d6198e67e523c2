"""Run by tests/test_ddp.py under torchrun (2 processes, gloo, CPU): which windows each rank reads.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_shards.py OUT.json FASTA BED TRACK...

Every rank builds the same WindowDataset and reads its shard of epoch 0 and epoch 1 through
``ds.batches`` (rank and world size taken from torch.distributed), a drop_last run, and the map-style
path through a DistributedSampler; the ranks' results are gathered and rank 0 writes them as JSON.
Each rank also checks its batches' averaged input channel against read_windows of the same windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import fastwig

N, BATCH = 203, 16


def main() -> None:
    out, fasta, bed, *tracks = sys.argv[1:]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    ds = fastwig.WindowDataset(tracks, fasta, regions=bed, window=256, target_window=128, bin_size=8,
                               jitter=16, rc_prob=0.5, n_samples=N, seed=3, inputs={"avg": tracks[:2]})
    mine: dict = {"rank": rank, "world": world}
    for epoch in (0, 1):
        idx, wins, sums, inputs_ok = [], [], 0.0, True
        for b in ds.batches(BATCH, epoch=epoch):
            members = np.stack([fastwig.read_windows([t], b["chrom"], b["start"].numpy(), 256)[:, 0]
                                for t in tracks[:2]])
            ref = np.mean(members, axis=0)
            rc = b["rc"].numpy()
            ref[rc] = ref[rc, ::-1]
            inputs_ok &= bool(np.array_equal(b["inputs"][:, 0].numpy(), ref))
            idx += b["index"].tolist()
            wins += [f"{c}:{s}:{int(r)}" for c, s, r in zip(b["chrom"], b["start"].tolist(), b["rc"].tolist())]
            sums += float(b["targets"].double().sum())
        mine[f"epoch{epoch}"] = {"index": idx, "windows": wins, "target_sum": sums, "inputs_ok": inputs_ok}
    mine["drop_last_batches"] = sum(1 for _ in ds.batches(BATCH, drop_last=True))
    sampler = DistributedSampler(ds, shuffle=True, seed=0, drop_last=False)
    sampler.set_epoch(0)
    mine["sampler_index"] = [i for b in DataLoader(ds, batch_size=BATCH, sampler=sampler) for i in b["index"].tolist()]
    # every rank agrees on where every window of the epoch lies
    w = ds.windows(np.arange(N), epoch=0)
    mine["epoch_digest"] = hashlib.sha1(np.ascontiguousarray(w.start).tobytes() + w.rc.tobytes()).hexdigest()
    gathered = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        with open(out, "w") as fh:
            json.dump(gathered, fh)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
