"""A BPNet-style model: base-resolution signal profiles from DNA sequence, trained with fastwig.

The model predicts, for every track, the *shape* of the signal over the central ``--target`` bases
(a multinomial over positions, BPNet's profile head) and its *total* (log counts, the count head).
Windows are drawn half on peaks, half on background, with reverse-complement and shift
augmentation; the held-out chromosome is scored tile by tile at the end.

Runs as is on the demo data embedded in fastwig:

    python examples/bpnet_profile.py --steps 200

and on your own files:

    python examples/bpnet_profile.py --tracks a.bw b.bw --fasta hg38.fa --peaks peaks.bed --held-out chr8
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

import fastwig
from fastwig.demo import demo_files


class ProfileNet(nn.Module):
    """Dilated residual convolutions; a profile head (per base) and a count head (per track)."""

    def __init__(self, n_tracks: int, channels: int = 32, layers: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv1d(4, channels, 21, padding=10)
        self.body = nn.ModuleList(nn.Conv1d(channels, channels, 3, padding=2 ** i, dilation=2 ** i)
                                  for i in range(1, layers + 1))
        self.profile = nn.Conv1d(channels, n_tracks, 25, padding=12)
        self.counts = nn.Linear(channels, n_tracks)

    def forward(self, x: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.stem(x))
        for conv in self.body:
            h = h + F.relu(conv(h))
        crop = (h.shape[-1] - target) // 2
        h = h[:, :, crop:crop + target]
        return self.profile(h), self.counts(h.mean(dim=-1))    # logits (n, tracks, target), log counts (n, tracks)


def loss_fn(logits: torch.Tensor, log_counts: torch.Tensor, y: torch.Tensor, count_weight: float = 1.0):
    """BPNet's loss: multinomial negative log-likelihood of the profile plus MSE of log(1 + total)."""
    total = y.sum(dim=-1)
    profile = -(y * F.log_softmax(logits, dim=-1)).sum(dim=-1) / y.shape[-1]
    counts = F.mse_loss(log_counts, torch.log1p(total))
    return profile.mean() + count_weight * counts


def main(argv: list[str] | None = None) -> dict:
    demo = demo_files()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", nargs="+", default=list(demo["tracks"].values()))
    p.add_argument("--fasta", default=demo["fasta"])
    p.add_argument("--peaks", default=demo["peaks"])
    p.add_argument("--held-out", default=demo["held_out"])
    p.add_argument("--window", type=int, default=1024)
    p.add_argument("--target", type=int, default=512)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    torch.manual_seed(0)

    peaks = fastwig.Regions.from_bed(args.peaks)
    train_peaks, _, test_peaks = peaks.split(test=[args.held_out])
    train = fastwig.WindowDataset(args.tracks, args.fasta, regions=train_peaks, window=args.window,
                                  target_window=args.target, sampling="balanced", positive_fraction=0.5,
                                  rc_prob=0.5, jitter=32, n_samples=args.steps * args.batch_size, seed=0)
    test = fastwig.WindowDataset(args.tracks, args.fasta, regions=test_peaks, window=args.window,
                                 target_window=args.target, sampling="ordered")
    model = ProfileNet(len(args.tracks)).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    losses, t0 = [], time.perf_counter()
    for step, batch in enumerate(train.batches(args.batch_size, device=args.device), 1):
        logits, log_counts = model(batch["sequence"], args.target)
        loss = loss_fn(logits, log_counts, batch["targets"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            print(f"step {step:>4}/{args.steps}  loss {loss.item():.4f}  "
                  f"{step * args.batch_size / (time.perf_counter() - t0):,.0f} windows/s", flush=True)
    model.eval()
    with torch.no_grad():
        held = [loss_fn(*model(b["sequence"], args.target), b["targets"]).item()
                for b in test.batches(64, device=args.device)]
    result = {"loss_first": losses[0], "loss_last": losses[-1], "held_out_loss": sum(held) / max(len(held), 1)}
    print(f"held-out {args.held_out}: loss {result['held_out_loss']:.4f} over {len(test)} tiles")
    return result


if __name__ == "__main__":
    main()
