"""Data-parallel training with ``torchrun``: every rank reads its own share of each epoch with fastwig.

``WindowDataset.loader`` takes the rank and world size from ``torch.distributed``: batch ``k`` of
an epoch goes to rank ``k % world_size``, so the ranks read disjoint windows that together make the
epoch, and ``drop_last=True`` gives every rank as many batches (DDP needs the ranks in step).
``set_epoch`` draws new windows each epoch, the same on every rank without any communication.

    torchrun --nproc_per_node=2 examples/train_ddp.py --epochs 2            # CPUs (gloo)
    torchrun --nproc_per_node=8 examples/train_ddp.py --tracks *.bw --fasta hg38.fa --peaks peaks.bed
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import fastwig
from fastwig.demo import demo_files


def main(argv: list[str] | None = None) -> None:
    demo = demo_files()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", nargs="+", default=list(demo["tracks"].values()))
    p.add_argument("--fasta", default=demo["fasta"])
    p.add_argument("--peaks", default=demo["peaks"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--windows", type=int, default=512, help="windows per epoch, all ranks together")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per rank")
    args = p.parse_args(argv)

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    torch.manual_seed(0)                        # the same initial weights on every rank

    ds = fastwig.WindowDataset(args.tracks, args.fasta, regions=args.peaks, window=1024, target_window=512,
                               bin_size=32, transform="log1p", sampling="balanced", rc_prob=0.5, jitter=64,
                               n_samples=args.windows, seed=0)
    model = nn.Sequential(nn.Conv1d(4, 32, 15, padding=7), nn.ReLU(), nn.MaxPool1d(32),
                          nn.Conv1d(32, len(args.tracks), 1), nn.Softplus()).to(device)
    model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loader = ds.loader(args.batch_size, num_workers=args.workers, drop_last=True, pin_memory=cuda)
    for epoch in range(args.epochs):
        ds.set_epoch(epoch)
        seen, total = 0, torch.zeros(2, device=device)
        for batch in loader:
            x, y = batch["sequence"].to(device), batch["targets"].to(device)
            loss = F.mse_loss(model(x)[:, :, 8:24], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += x.shape[0]
            total += torch.stack([loss.detach() * x.shape[0], torch.tensor(float(x.shape[0]), device=device)])
        dist.all_reduce(total)
        # one line per rank: its windows this epoch (disjoint from the other ranks')
        print(f"rank {rank}/{world} epoch {epoch}: {seen} windows, mean loss over all ranks "
              f"{(total[0] / total[1]).item():.4f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
