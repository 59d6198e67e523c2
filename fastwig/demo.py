"""``fastwig demo``: train a small convolutional network on the demo data embedded in the package.

The data (``fastwig/data/``, made by ``scripts/make_demo_data.py``) is a synthetic 1.15 Mb assembly of
four chromosomes with three bigWig tracks whose signal depends on sequence motifs, and a BED of peaks.
The demo

1. builds a :class:`fastwig.WindowDataset` over the peaks of chr1-chr3 (balanced positives and
   negatives, reverse-complement and jitter augmentation, log1p targets in 32 bp bins),
2. trains a small CNN (sequence -> 3 tracks) for ``--steps`` steps, reading every batch with
   :meth:`WindowDataset.batches` in a background thread, with a progress bar, windows/s and a falling
   loss,
3. predicts the held-out chromosome chr4 tile by tile (``sampling="ordered"``) and reports the
   Pearson correlation of predicted and observed signal per track,
4. draws predicted against observed signal on a stretch of chr4 with matplotlib.

Run it as ``fastwig demo`` or ``python -m fastwig demo`` (``--help`` for options); it needs the
``demo`` extra (torch and matplotlib).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["data_dir", "demo_files", "run_demo", "write_plot"]

WINDOW = 1024
TARGET = 512
BIN = 32


def data_dir() -> Path:
    """The folder of the embedded demo data."""
    return Path(__file__).resolve().parent / "data"


def demo_files() -> dict[str, Any]:
    """Paths of the embedded demo data, for examples and tests.

    Returns
    -------
    dict
        ``tracks`` (name -> bigWig path, str), ``fasta`` (str), ``peaks`` (BED path, str),
        ``held_out`` (the chromosome kept out of training), ``chroms`` (name -> length).

    Examples
    --------
    >>> files = demo_files()
    >>> sorted(files["tracks"])
    ['access', 'ap1', 'ets']
    """
    data = data_dir()
    meta = json.loads((data / "demo.json").read_text())
    return {"tracks": {n: str(data / f) for n, f in meta["tracks"].items()}, "fasta": str(data / meta["fasta"]),
            "peaks": str(data / meta["peaks"]), "held_out": meta["held_out"], "chroms": dict(meta["chroms"])}


def _open_genome(path: Path):
    """The demo FASTA; copied to a temporary folder when its index cannot be used where it lies
    (a read-only install whose .fai looks older than the FASTA)."""
    from .errors import FastwigError
    from .genome import Genome

    try:
        return Genome(path)
    except FastwigError:
        tmp = Path(tempfile.mkdtemp(prefix="fastwig-demo-"))
        shutil.copy(path, tmp / path.name)
        return Genome(tmp / path.name)


# --- the model ------------------------------------------------------------------------------------

def _model_class():
    import torch.nn.functional as F
    from torch import nn

    class DemoCNN(nn.Module):
        """Sequence (4, 1024) -> signal (tracks, 16 bins of 32 bp over the central 512 bp)."""

        def __init__(self, n_tracks: int, channels: int = 32) -> None:
            super().__init__()
            c = channels
            # motif detectors at every base, max-pooled to 8 bp before anything else runs at full length
            self.body = nn.Sequential(
                nn.Conv1d(4, c, 15, padding=7), nn.MaxPool1d(8), nn.BatchNorm1d(c), nn.GELU(),   # 8 bp
                nn.Conv1d(c, c, 9, padding=4), nn.BatchNorm1d(c), nn.GELU(), nn.MaxPool1d(2),   # 16 bp
                nn.Conv1d(c, c, 5, padding=2), nn.BatchNorm1d(c), nn.GELU(), nn.MaxPool1d(2),   # 32 bp bins
                nn.Conv1d(c, c, 5, padding=4, dilation=2), nn.BatchNorm1d(c), nn.GELU(),
            )
            self.head = nn.Conv1d(c, n_tracks, 1)
            self.crop = (WINDOW // BIN - TARGET // BIN) // 2

        def forward(self, x):
            h = self.body(x)
            h = h[:, :, self.crop:h.shape[-1] - self.crop]
            return F.softplus(self.head(h))

    return DemoCNN


def __getattr__(name: str):
    if name == "DemoCNN":
        return _model_class()
    raise AttributeError(name)


# --- batches in a background thread ---------------------------------------------------------------

def _prefetch(it: Iterator, depth: int = 3) -> Iterator:
    """Run an iterator in a thread (fastwig's readers release the GIL), ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="fastwig-prefetch")
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Bar:
    """Progress of the training loop: a tqdm bar on a terminal, a line every 10% of the steps always."""

    def __init__(self, total: int, stream=None, quiet: bool = False) -> None:
        from .progress import Progress

        self.total = total
        self.stream = sys.stdout if stream is None else stream
        self.quiet = quiet
        self.bar = Progress(total, "train", unit="steps", enabled=not quiet, file=self.stream)

    def update(self, step: int, loss: float, wps: float, force_line: bool = False) -> None:
        if self.quiet:
            return
        self.bar.set_postfix(f"loss {loss:.4f}, {wps:,.0f} windows/s")
        self.bar.update(1)
        if force_line:
            line = f"step {step:>5}/{self.total}  loss {loss:.4f}  {wps:>8,.0f} windows/s"
            if self.bar.enabled:
                from tqdm import tqdm

                tqdm.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def close(self) -> None:
        self.bar.close()


# --- the run --------------------------------------------------------------------------------------

def run_demo(steps: int = 300, batch_size: int = 32, out: str | os.PathLike = "fastwig-demo.png",
             device: str = "auto", seed: int = 0, lr: float = 2e-2, threads: int | None = None,
             quiet: bool = False, stream=None) -> dict[str, Any]:
    """Train the demo model and write its plot; the numbers it printed come back as a dict.

    Parameters
    ----------
    steps : int
        Training steps.
    batch_size : int
        Windows per step.
    out : path
        Figure of predicted vs observed signal on the held-out chromosome (PNG; .svg or .pdf by extension).
    device : {"auto", "cpu", "cuda"}
        ``"auto"``: the GPU when torch sees one.
    seed : int
        Seeds the model and the windows.
    lr : float
        Adam learning rate.
    threads : int, optional
        torch CPU threads (default: torch's choice).
    quiet : bool
        Print nothing.
    stream : text stream, default ``sys.stdout``

    Returns
    -------
    dict
        ``loss_first``, ``loss_last`` (mean training loss of the first and last tenth of the steps),
        ``losses`` (per step), ``heldout_r`` (track -> Pearson r), ``heldout_mse``, ``windows_per_s``
        (training), ``read_windows_per_s`` (data loading alone), ``figure`` (also as ``png``), ``seconds`` (the whole run),
        ``kernel_seconds`` (loading or, on a first run, compiling the reader's kernels), ``device``.
    """
    t_start = time.perf_counter()
    import torch

    import fastwig

    from .regions import Regions

    stream = sys.stdout if stream is None else stream

    def say(msg: str = "") -> None:
        if not quiet:
            print(msg, file=stream, flush=True)

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # one core reads batches (a background thread); the others train.  Oversubscribing the cores
    # stalls torch's OpenMP barriers far more than the reads cost.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(int(threads) if threads else max(1, cores - 1))
    torch.manual_seed(seed)
    steps, batch_size = int(steps), int(batch_size)
    if steps <= 0 or batch_size <= 1:
        raise ValueError("steps must be > 0 and batch_size > 1")

    data = data_dir()
    meta = json.loads((data / "demo.json").read_text())
    names = list(meta["tracks"])
    tracks = [str(data / meta["tracks"][n]) for n in names]
    genome = _open_genome(data / meta["fasta"])
    held_out = meta["held_out"]
    peaks = Regions.from_bed(data / meta["peaks"])
    train_peaks, _, _ = peaks.split(test=[held_out])
    say(f"fastwig {fastwig.__version__} demo on {device}: synthetic assembly of "
        f"{len(genome.chroms)} chromosomes ({sum(genome.chroms.values()) / 1e6:.2f} Mb), tracks "
        f"{', '.join(names)}; {len(train_peaks)} training peaks, {held_out} held out")

    common = {"window": WINDOW, "target_window": TARGET, "bin_size": BIN, "transform": "log1p"}
    train = fastwig.WindowDataset(tracks, genome, regions=train_peaks, sampling="balanced",
                                  positive_fraction=0.5, rc_prob=0.5, jitter=64, max_n_fraction=0.1,
                                  n_samples=steps * batch_size, seed=seed, threads=1, **common)
    evalset = fastwig.WindowDataset(tracks, genome, regions=Regions(held_out, [0], [genome.chroms[held_out]]),
                                    sampling="ordered", threads=1, **common)

    t0 = time.perf_counter()
    train.read(train.windows([0, 1]))    # the reader's numba kernels: compiled on the first run, then cached
    evalset.read(evalset.windows([0]))
    t_kernels = time.perf_counter() - t0
    if t_kernels > 2:
        say(f"kernels compiled in {t_kernels:.1f}s (first run only: numba caches them)")

    Model = _model_class()
    model = Model(len(tracks)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    say(f"model: {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{steps} steps x {batch_size} windows of {WINDOW} bp -> {len(tracks)} tracks x {TARGET // BIN} bins")

    losses: list[float] = []
    bar = _Bar(steps, stream, quiet)
    every = max(1, steps // 10)
    read_time = 0.0
    t_train = time.perf_counter()

    def timed(it):
        nonlocal read_time
        while True:
            t0 = time.perf_counter()
            try:
                b = next(it)
            except StopIteration:
                return
            read_time += time.perf_counter() - t0
            yield b

    model.train()
    seen = 0
    for step, batch in enumerate(_prefetch(timed(train.batches(batch_size, device=device))), 1):
        x = batch["sequence"]
        y = batch["targets"]
        pred = model(x)
        loss = torch.nn.functional.mse_loss(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        seen += x.shape[0]
        wps = seen / max(time.perf_counter() - t_train, 1e-9)
        recent = float(np.mean(losses[-every:]))
        bar.update(step, recent, wps, force_line=(step % every == 0 or step == steps))
    bar.close()
    train_s = time.perf_counter() - t_train
    k = max(1, steps // 10)
    loss_first, loss_last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    say(f"trained {steps} steps in {train_s:.1f}s: {seen / train_s:,.0f} windows/s "
        f"(reading alone: {seen / max(read_time, 1e-9):,.0f} windows/s, in a background thread)")
    say(f"loss: {loss_first:.4f} -> {loss_last:.4f} (mean of the first and last {k} steps)")

    # held-out chromosome, tile by tile
    model.eval()
    preds, obs, starts = [], [], []
    with torch.no_grad():
        for batch in evalset.batches(256, device=device):
            preds.append(model(batch["sequence"]).float().cpu().numpy())
            obs.append(batch["targets"].float().cpu().numpy())
            starts.append(batch["start"].cpu().numpy())
    pred = np.concatenate(preds)       # (tiles, tracks, bins), log1p scale
    ob = np.concatenate(obs)
    tile_start = np.concatenate(starts) + evalset.target_offset
    pred_track = pred.transpose(1, 0, 2).reshape(len(tracks), -1)
    obs_track = ob.transpose(1, 0, 2).reshape(len(tracks), -1)
    r = {n: _pearson(pred_track[i], obs_track[i]) for i, n in enumerate(names)}
    mse = float(np.mean((pred_track - obs_track) ** 2))
    say(f"held-out {held_out} ({len(tile_start)} tiles of {TARGET} bp): MSE {mse:.4f}; Pearson r "
        + ", ".join(f"{n} {v:.3f}" for n, v in r.items()))

    # the plot: the 16 kb stretch of the held-out chromosome with the most peak signal
    span = 16_000 // BIN
    x0 = int(tile_start[0])
    obs_raw, pred_raw = np.expm1(obs_track), np.expm1(pred_track)
    busy = np.convolve(obs_track[:2].sum(axis=0), np.ones(span), mode="valid")
    lo = int(np.argmax(busy)) if busy.size else 0
    hi = min(lo + span, obs_raw.shape[1])
    out = Path(out)
    title = f"fastwig demo: held-out {held_out}:{x0 + lo * BIN:,}-{x0 + hi * BIN:,}, {steps} steps"
    write_plot(out, title, names, obs_raw[:, lo:hi], pred_raw[:, lo:hi], r, start=x0 + lo * BIN, chrom=held_out)
    seconds = time.perf_counter() - t_start
    say(f"wrote {out} ({out.stat().st_size:,} bytes): predicted (lines) vs observed (grey) signal")
    say(f"done in {seconds:.1f}s")
    return {"loss_first": loss_first, "loss_last": loss_last, "losses": losses, "heldout_r": r,
            "heldout_mse": mse, "windows_per_s": seen / train_s, "read_windows_per_s": seen / max(read_time, 1e-9),
            "figure": str(out), "png": str(out), "seconds": seconds, "kernel_seconds": t_kernels,
            "device": str(device), "steps": steps,
            "batch_size": batch_size}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


# --- the figure -----------------------------------------------------------------------------------

def write_plot(path: str | os.PathLike, title: str, names: list[str], observed: np.ndarray,
               predicted: np.ndarray, r: dict[str, float], *, start: int = 0, bin_size: int = BIN,
               chrom: str = "") -> None:
    """One panel per track: observed signal as grey bars, the prediction as a coloured line.

    Parameters
    ----------
    path : path
        Image to write; the format follows the extension (.png, .svg, .pdf).
    title : str
    names : list of str
        Track names (one panel each).
    observed, predicted : float (tracks, bins)
        Signal per bin, in the tracks' units.
    r : dict
        Track name -> Pearson r of the held-out chromosome, shown in each panel.
    start : int
        0-based position of the first bin (the x axis is in bases).
    bin_size : int
        Bases per bin.
    chrom : str
        Chromosome, for the x axis label.
    """
    import matplotlib

    matplotlib.use("Agg")   # writes a file; needs no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    observed, predicted = np.asarray(observed), np.asarray(predicted)
    n_tracks, n_bins = observed.shape
    edges = start + bin_size * np.arange(n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, axes = plt.subplots(n_tracks, 1, sharex=True, squeeze=False, figsize=(10, 1.9 * n_tracks + 1.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for t, ax in enumerate(axes[:, 0]):
        ax.stairs(observed[t], edges, fill=True, color="0.75", label="observed")
        ax.plot(centres, predicted[t], color=colors[t % len(colors)], linewidth=1.5, label="predicted")
        ax.set_ylabel(f"{names[t]}\n(signal)")
        ax.set_title(f"Pearson r on the held-out chromosome: {r.get(names[t], float('nan')):.2f}", loc="right",
                     fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_ylim(bottom=0)
        ax.margins(x=0)
        if t == 0:
            ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncol=2, fontsize=9)
    last = axes[-1, 0]
    last.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x):,}"))
    last.set_xlabel(f"{chrom} position (bp)".strip() + f", {bin_size} bp bins")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- command line (``fastwig demo``, in fastwig.cli.demo, adds its help and checks on top of these) ----

def add_arguments(parser) -> None:
    """The demo's options, on an argparse (sub)parser."""
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per step (default 32)")
    parser.add_argument("--out", default="fastwig-demo.png", help="figure to write (default ./fastwig-demo.png; "
                        ".svg or .pdf work too)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to train (default: the GPU when there is one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-2, help="peak Adam learning rate (one-cycle schedule)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def require_extras() -> None:
    """Raise :class:`fastwig.errors.FastwigError` naming the ``demo`` extra when torch or matplotlib
    cannot be imported."""
    import importlib.util

    from .errors import FastwigError

    missing = [m for m in ("torch", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise FastwigError(f"the demo needs {' and '.join(missing)}: pip install 'fastwig[demo]'")


def main_args(args) -> int:
    """Run the demo for parsed arguments (see :func:`add_arguments`); the exit status (0).

    Raises :class:`fastwig.errors.FastwigError` when torch or matplotlib is missing; writes the
    results as JSON to ``args.json`` when it is set.
    """
    require_extras()
    res = run_demo(steps=args.steps, batch_size=args.batch_size, out=args.out, device=args.device,
                   seed=args.seed, lr=args.lr, threads=args.threads, quiet=args.quiet)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0
