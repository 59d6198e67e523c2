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
4. writes a PNG of predicted against observed signal on a stretch of chr4 (no plotting library needed:
   a small PNG encoder lives here).

Run it as ``fastwig demo`` or ``python -m fastwig demo`` (``--help`` for options).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["data_dir", "run_demo", "write_plot", "write_png"]

WINDOW = 1024
TARGET = 512
BIN = 32
COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def data_dir() -> Path:
    """The folder of the embedded demo data."""
    return Path(__file__).resolve().parent / "data"


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
    """Progress of the training loop: a redrawn bar on a terminal, a line every 10% otherwise."""

    def __init__(self, total: int, stream=None, quiet: bool = False) -> None:
        self.total = total
        self.stream = sys.stdout if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self.last_draw = 0.0

    def update(self, step: int, loss: float, wps: float, force_line: bool = False) -> None:
        if self.quiet:
            return
        frac = step / max(self.total, 1)
        now = time.perf_counter()
        if self.tty and now - self.last_draw > 0.1:
            self.last_draw = now
            filled = int(frac * 30)
            self.stream.write(f"\rtrain |{'#' * filled}{'-' * (30 - filled)}| {step}/{self.total} "
                              f"loss {loss:.4f}  {wps:,.0f} windows/s  {now - self.t0:.0f}s ")
            self.stream.flush()
        if force_line:
            if self.tty:
                self.stream.write("\r" + " " * 90 + "\r")
            self.stream.write(f"step {step:>5}/{self.total}  loss {loss:.4f}  {wps:>8,.0f} windows/s\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r" + " " * 90 + "\r")
            self.stream.flush()


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
        PNG of predicted vs observed signal on the held-out chromosome.
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
        (training), ``read_windows_per_s`` (data loading alone), ``png``, ``seconds`` (the whole run),
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
    write_plot(out, title, names, obs_raw[:, lo:hi], pred_raw[:, lo:hi], r)
    seconds = time.perf_counter() - t_start
    say(f"wrote {out} ({out.stat().st_size:,} bytes): predicted (lines) vs observed (grey) signal")
    say(f"done in {seconds:.1f}s")
    return {"loss_first": loss_first, "loss_last": loss_last, "losses": losses, "heldout_r": r,
            "heldout_mse": mse, "windows_per_s": seen / train_s, "read_windows_per_s": seen / max(read_time, 1e-9),
            "png": str(out), "seconds": seconds, "kernel_seconds": t_kernels, "device": str(device), "steps": steps,
            "batch_size": batch_size}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


# --- a PNG without a plotting library ---------------------------------------------------------------

def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an 8-bit RGB image (height, width, 3) as a PNG file (zlib + struct, no dependency)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) array, got {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


_FONT = {
    "A": "01110100011000111111100011000110001", "B": "11110100011000111110100011000111110",
    "C": "01110100011000010000100001000101110", "D": "11110100011000110001100011000111110",
    "E": "11111100001000011110100001000011111", "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111", "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110", "J": "00111000100001000010000101001001100",
    "K": "10001100101010011000101001001010001", "L": "10000100001000010000100001000011111",
    "M": "10001110111010110101100011000110001", "N": "10001100011100110101100111000110001",
    "O": "01110100011000110001100011000101110", "P": "11110100011000111110100001000010000",
    "Q": "01110100011000110001101011001001101", "R": "11110100011000111110101001001010001",
    "S": "01111100001000001110000010000111110", "T": "11111001000010000100001000010000100",
    "U": "10001100011000110001100011000101110", "V": "10001100011000110001100010101000100",
    "W": "10001100011000110101101011010101010", "X": "10001100010101000100010101000110001",
    "Y": "10001100010101000100001000010000100", "Z": "11111000010001000100010001000011111",
    "0": "01110100011001110101110011000101110", "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111", "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010", "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110", "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110", "9": "01110100011000101111000010001001100",
    " ": "0" * 35, ":": "00000011000110000000011000110000000", ".": "00000000000000000000000000110001100",
    ",": "00000000000000000000011000010001000", "-": "00000000000000011111000000000000000",
    "=": "00000000001111100000111110000000000", "(": "00010001000100001000010000010000010",
    ")": "01000001000001000010000100010001000", "/": "00001000100001000100010000100010000",
    "_": "00000000000000000000000000000011111", "+": "00000001000010011111001000010000000",
}


def _text(img: np.ndarray, x: int, y: int, s: str, color=(0, 0, 0), scale: int = 2) -> None:
    for ch in s.upper():
        glyph = _FONT.get(ch, _FONT[" "])
        bits = np.array([c == "1" for c in glyph], dtype=bool).reshape(7, 5)
        block = np.kron(bits, np.ones((scale, scale), dtype=bool))
        h, w = block.shape
        sub = img[y:y + h, x:x + w]
        sub[block[:sub.shape[0], :sub.shape[1]]] = color
        x += 6 * scale


def _line(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, color, width: int = 2) -> None:
    h, w, _ = img.shape
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        px = np.rint(np.linspace(x0, x1, n)).astype(int)
        py = np.rint(np.linspace(y0, y1, n)).astype(int)
        for d in range(width):
            ok = (px >= 0) & (px < w) & (py + d >= 0) & (py + d < h)
            img[py[ok] + d, px[ok]] = color


def write_plot(path: str | os.PathLike, title: str, names: list[str], observed: np.ndarray,
               predicted: np.ndarray, r: dict[str, float]) -> None:
    """One panel per track: observed signal as grey bars, prediction as a coloured line; a PNG."""
    n_tracks, n_bins = observed.shape
    W, left, right, panel_h, top, gap = 1000, 110, 20, 140, 50, 24
    H = top + n_tracks * (panel_h + gap) + 40
    img = np.full((H, W, 3), 255, dtype=np.uint8)
    _text(img, 10, 12, title, scale=2)
    pw = W - left - right
    for t in range(n_tracks):
        y0 = top + t * (panel_h + gap)
        ymax = float(max(observed[t].max(), predicted[t].max(), 1e-6)) * 1.05
        img[y0:y0 + panel_h, left] = (0, 0, 0)
        img[y0 + panel_h, left:left + pw] = (0, 0, 0)
        edges = left + np.rint(np.linspace(0, pw, n_bins + 1)).astype(int)
        for b in range(n_bins):
            hgt = round(float(observed[t, b]) / ymax * (panel_h - 2))
            if hgt > 0:
                img[y0 + panel_h - hgt:y0 + panel_h, edges[b] + 1:max(edges[b + 1], edges[b] + 2)] = (190, 190, 190)
        xs = (edges[:-1] + edges[1:]) / 2
        ys = y0 + panel_h - 1 - predicted[t] / ymax * (panel_h - 2)
        _line(img, xs, ys, COLORS[t % len(COLORS)], width=2)
        _text(img, 8, y0 + 4, names[t][:8], COLORS[t % len(COLORS)], scale=2)
        _text(img, 8, y0 + 26, f"R={r.get(names[t], 0):.2f}", scale=2)
        _text(img, 8, y0 + panel_h - 14, "0", scale=2)
        _text(img, 8, y0 + 48, f"{ymax:.0f}" if ymax >= 10 else f"{ymax:.1f}", (90, 90, 90), scale=2)
    ly = H - 30
    img[ly:ly + 14, left:left + 30] = (190, 190, 190)
    _text(img, left + 38, ly, "OBSERVED", scale=2)
    _line(img, np.array([left + 200, left + 230]), np.array([ly + 6, ly + 6]), COLORS[0])
    _text(img, left + 238, ly, "PREDICTED", scale=2)
    write_png(path, img)


# --- command line ---------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """The demo's options, on an argparse (sub)parser."""
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per step (default 32)")
    parser.add_argument("--out", default="fastwig-demo.png", help="PNG to write (default ./fastwig-demo.png)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to train (default: the GPU when there is one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-2, help="peak Adam learning rate (one-cycle schedule)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def main_args(args) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("fastwig demo needs PyTorch: pip install 'fastwig[torch]' (or pip install torch)", file=sys.stderr)
        return 2
    res = run_demo(steps=args.steps, batch_size=args.batch_size, out=args.out, device=args.device,
                   seed=args.seed, lr=args.lr, threads=args.threads, quiet=args.quiet)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0
