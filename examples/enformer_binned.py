"""An Enformer-style model: long sequence windows -> many tracks in 128 bp bins, trained with fastwig.

fastwig reduces the signal to bins inside the reader (never through a per-base array), so a window
of Enformer's 196,608 bp costs memory for its 896 bins per track.  The defaults here are scaled
down (32,768 bp windows, 128 bins over the central 16,384 bp) so that a CPU runs a few steps in
seconds; Enformer's own numbers are ``--window 196608 --target 114688``.  The loss is Poisson, as
Enformer's.

    python examples/enformer_binned.py --steps 50
    python examples/enformer_binned.py --tracks *.bw --fasta hg38.fa --window 196608 --target 114688
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

import fastwig
from fastwig.demo import demo_files

BIN = 128


class BinnedNet(nn.Module):
    """Convolutions and max-pooling from 1 bp to 128 bp, a transformer layer across bins, a softplus head."""

    def __init__(self, n_tracks: int, channels: int = 48) -> None:
        super().__init__()
        layers, c_in = [], 4
        for _ in range(7):                      # 2**7 = 128 bp per position after the tower
            layers += [nn.Conv1d(c_in, channels, 5, padding=2), nn.GELU(), nn.MaxPool1d(2)]
            c_in = channels
        self.tower = nn.Sequential(*layers)
        self.mix = nn.TransformerEncoderLayer(channels, nhead=4, dim_feedforward=2 * channels, batch_first=True)
        self.head = nn.Conv1d(channels, n_tracks, 1)

    def forward(self, x: torch.Tensor, target_bins: int) -> torch.Tensor:
        h = self.tower(x)                                   # (n, channels, window / 128)
        h = self.mix(h.transpose(1, 2)).transpose(1, 2)
        crop = (h.shape[-1] - target_bins) // 2
        return F.softplus(self.head(h[:, :, crop:crop + target_bins]))


def main(argv: list[str] | None = None) -> dict:
    demo = demo_files()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", nargs="+", default=list(demo["tracks"].values()))
    p.add_argument("--fasta", default=demo["fasta"])
    p.add_argument("--window", type=int, default=32_768)
    p.add_argument("--target", type=int, default=16_384)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    torch.manual_seed(0)

    ds = fastwig.WindowDataset(args.tracks, args.fasta, window=args.window, target_window=args.target,
                               bin_size=BIN, stat="mean", rc_prob=0.5, jitter=BIN, sampling="uniform",
                               n_samples=args.steps * args.batch_size, seed=0)
    model = BinnedNet(len(args.tracks)).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    losses, t0 = [], time.perf_counter()
    for step, batch in enumerate(ds.batches(args.batch_size, device=args.device), 1):
        y = batch["targets"]                                # (n, tracks, target / 128), mean signal per bin
        pred = model(batch["sequence"], y.shape[-1])
        loss = F.poisson_nll_loss(pred, y, log_input=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            print(f"step {step:>4}/{args.steps}  poisson loss {loss.item():.4f}  targets {tuple(y.shape)}  "
                  f"{step * args.batch_size / (time.perf_counter() - t0):,.1f} windows/s", flush=True)
    return {"loss_first": losses[0], "loss_last": losses[-1], "target_shape": tuple(y.shape)}


if __name__ == "__main__":
    main()
