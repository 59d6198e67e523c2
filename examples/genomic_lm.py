"""A Genomic-ULMFiT-style run on fastwig's embedded demo assembly: pretrain a language model on k-mer
tokens of the genome, then fine-tune it to classify labelled regions.

    python examples/genomic_lm.py                       # demo data, CPU, 100 + 100 steps (~1 min)
    python examples/genomic_lm.py --lm-steps 5 --cls-steps 5 --batch-size 8   # a smoke run

1. Language-model pretraining batches (sequence only, no tracks): ``WindowDataset(encoding="kmer")``
   draws random windows of the training chromosomes, each on a random strand, and cuts them into k-mer
   tokens with one kernel call per batch (:meth:`fastwig.Genome.kmers_batch` does the same for windows
   of your own).  The model reads tokens ``0 .. n-2`` and predicts tokens ``1 .. n-1``.
2. A classification dataset over labelled regions: the demo's peaks (``demo_peaks.bed``; names start
   with the motif family, ``ap1_`` or ``ets_``), one window centred on each, tokenised on both strands
   once; training draws a strand at random (reverse complement as augmentation), the held-out
   chromosome (``chr4``) is the validation set.

The model is a small LSTM (ULMFiT uses AWD-LSTM); its encoder is shared by the two heads.  With
``k=3, stride=1`` (the paper's setting) the vocabulary has ``4**3 + 1 = 65`` tokens, the last one for
k-mers holding N or running past a chromosome end.
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files

import numpy as np
import torch
from torch import nn

import fastwig
from fastwig.regions import Regions


def demo_paths() -> dict:
    """The embedded demo assembly: FASTA, peaks BED, held-out chromosome."""
    data = files("fastwig.data")
    meta = json.loads((data / "demo.json").read_text())
    return {"fasta": str(data / meta["fasta"]), "peaks": str(data / meta["peaks"]), "held_out": meta["held_out"]}


def pretraining_dataset(fasta: str, chrom_sizes: dict[str, int], width: int, k: int, stride: int,
                        seed: int = 0) -> fastwig.WindowDataset:
    """Sequence-only windows of the given chromosomes as k-mer tokens, on a random strand half the time.

    ``batch["sequence"]`` is int64 ``(batch, (width - k) // stride + 1)``; ``ds.vocab_size`` is ``4**k + 1``.
    """
    regions = Regions(chrom=list(chrom_sizes), start=[0] * len(chrom_sizes), end=list(chrom_sizes.values()))
    return fastwig.WindowDataset(genome=fasta, regions=regions, window=width, encoding="kmer", kmer_size=k,
                                 kmer_stride=stride, rc_prob=0.5, seed=seed)


def pretraining_batches(ds: fastwig.WindowDataset, batch_size: int):
    """Endless token batches, a new epoch of windows each time the last one ends (``ds.batches``: one
    gather and one k-mer kernel call per batch)."""
    epoch = 0
    while True:
        for batch in ds.batches(batch_size, epoch=epoch, drop_last=True):
            yield batch["sequence"]
        epoch += 1


class RegionClassification(torch.utils.data.Dataset):
    """Windows centred on labelled regions, as k-mer tokens of both strands; ``ds[i]`` -> (tokens, label).

    Parameters
    ----------
    genome : fastwig.Genome
    regions : Regions
        With a ``name`` column whose text before the first ``_`` is the class.
    width, k, stride : int
        Window length and tokenisation.
    classes : list of str, optional
        Class names in label order (default: sorted names found).
    """

    def __init__(self, genome, regions: Regions, width: int, k: int, stride: int,
                 classes: list[str] | None = None, seed: int = 0) -> None:
        family = np.array([str(n).split("_")[0] for n in regions.column("name")])
        self.classes = sorted(set(family.tolist())) if classes is None else list(classes)
        self.labels = torch.from_numpy(np.searchsorted(self.classes, family).astype(np.int64))
        centre = (regions.start + regions.end) // 2
        starts = centre - width // 2
        both = [genome.kmers_batch(regions.chrom, starts, width, k, stride, rc=flip) for flip in (False, True)]
        self.tokens = torch.from_numpy(np.stack(both, axis=1))        # (n, 2 strands, tokens)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.tokens[i, int(self._rng.integers(0, 2))], self.labels[i]


class Encoder(nn.Module):
    def __init__(self, vocab: int, dim: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.embed(tokens))[0]                      # (batch, tokens, hidden)


def pretrain(encoder: Encoder, batches, vocab: int, steps: int, lr: float = 3e-3) -> list[float]:
    """Next-token prediction; returns the loss of each step."""
    head = nn.Linear(encoder.lstm.hidden_size, vocab)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    losses = []
    for _, tokens in zip(range(steps), batches):
        logits = head(encoder(tokens[:, :-1]))
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def finetune(encoder: Encoder, train: RegionClassification, valid: RegionClassification, steps: int,
             batch_size: int, lr: float = 1e-3) -> tuple[list[float], float]:
    """Train a classification head on the pretrained encoder; returns step losses and validation accuracy."""
    head = nn.Linear(encoder.lstm.hidden_size, len(train.classes))
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
    losses: list[float] = []
    while len(losses) < steps:
        for tokens, labels in loader:
            loss = nn.functional.cross_entropy(head(encoder(tokens).mean(dim=1)), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    with torch.no_grad():
        pred = head(encoder(valid.tokens[:, 0]).mean(dim=1)).argmax(dim=1)
    return losses, float((pred == valid.labels).float().mean()) if len(valid) else float("nan")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--width", type=int, default=200, help="window length in bases")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lm-steps", type=int, default=100)
    p.add_argument("--cls-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    paths = demo_paths()
    vocab = 4 ** args.k + 1
    with fastwig.Genome(paths["fasta"]) as genome:
        train_sizes = {c: n for c, n in genome.chroms.items() if c != paths["held_out"]}
        lm_data = pretraining_dataset(paths["fasta"], train_sizes, args.width, args.k, args.stride, seed=args.seed)
        assert lm_data.vocab_size == vocab
        encoder = Encoder(vocab)
        lm_losses = pretrain(encoder, pretraining_batches(lm_data, args.batch_size), vocab, args.lm_steps)
        peaks = Regions.from_bed(paths["peaks"])
        held = peaks.chrom == paths["held_out"]
        train = RegionClassification(genome, peaks[~held], args.width, args.k, args.stride, seed=args.seed)
        valid = RegionClassification(genome, peaks[held], args.width, args.k, args.stride, classes=train.classes)
    cls_losses, accuracy = finetune(encoder, train, valid, args.cls_steps, args.batch_size)
    print(f"language model: {args.lm_steps} steps, loss {lm_losses[0]:.3f} -> {lm_losses[-1]:.3f} "
          f"(vocabulary {vocab}, {args.k}-mers every {args.stride} bases)")
    print(f"classifier {train.classes}: {len(train)} training regions, {args.cls_steps} steps, loss "
          f"{cls_losses[0]:.3f} -> {cls_losses[-1]:.3f}; accuracy on {paths['held_out']} ({len(valid)} regions): "
          f"{accuracy:.3f}")
    return {"lm_losses": lm_losses, "cls_losses": cls_losses, "accuracy": accuracy, "classes": train.classes,
            "vocab": vocab, "train": len(train), "valid": len(valid)}


if __name__ == "__main__":
    main()
