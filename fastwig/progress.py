"""A minimal progress bar on stderr (no tqdm dependency).

The bar draws only when enabled and its stream is a terminal, so logs, pipes and test runs stay
clean; it redraws at most every ``min_interval`` seconds.
"""

from __future__ import annotations

import sys
import time
from typing import IO


def _si(x: float) -> str:
    for unit in ("", "k", "M", "G", "T"):
        if abs(x) < 1000:
            return f"{x:.0f}{unit}" if unit == "" else f"{x:.1f}{unit}"
        x /= 1000.0
    return f"{x:.1f}P"


class Progress:
    """A one-line progress bar.

    Parameters
    ----------
    total : int
        Units of work in all.
    desc : str
        Label in front of the bar.
    unit : str
        Name of a unit, shown with the rate.
    enabled : bool, default True
        ``False`` never draws; ``True`` draws only when ``file`` is a terminal.
    file : text stream, default ``sys.stderr``
    min_interval : float
        Seconds between redraws.

    Examples
    --------
    >>> with Progress(100, "reading", enabled=False) as bar:
    ...     for _ in range(10):
    ...         bar.update(10)
    """

    def __init__(self, total: int, desc: str = "", unit: str = "", enabled: bool = True,
                 file: IO[str] | None = None, min_interval: float = 0.1, width: int = 30) -> None:
        self.total = max(int(total), 0)
        self.desc = desc
        self.unit = unit
        self.file = sys.stderr if file is None else file
        isatty = getattr(self.file, "isatty", None)
        try:
            tty = bool(isatty()) if isatty is not None else False
        except (ValueError, OSError):  # closed stream
            tty = False
        self.enabled = bool(enabled) and tty
        self.min_interval = float(min_interval)
        self.width = int(width)
        self.n = 0
        self._t0 = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        """Add ``n`` units of finished work (redraws if due)."""
        self.n += int(n)
        if self.enabled:
            now = time.perf_counter()
            if now - self._last >= self.min_interval or self.n >= self.total:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._t0, 1e-9)
        frac = min(self.n / self.total, 1.0) if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.n / elapsed
        unit = f" {self.unit}" if self.unit else ""
        line = (f"\r{self.desc + ': ' if self.desc else ''}{frac * 100:5.1f}% |{bar}| "
                f"{_si(self.n)}/{_si(self.total)}{unit} [{elapsed:.1f}s, {_si(rate)}{unit}/s]")
        self.file.write(line)
        self.file.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw(time.perf_counter())
            self.file.write("\n")
            self.file.flush()
            self.enabled = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
