"""Progress bars for long jobs (thresholding a genome, stats over a BED, bench, the demo), drawn by tqdm.

:class:`Progress` keeps the small interface the rest of fastwig calls (``update``, ``close``, a
context manager) and decides once whether to draw: only when enabled and the stream is a terminal,
so logs, pipes and test runs stay clean.  tqdm is imported when a bar is created, not with fastwig.
"""

from __future__ import annotations

import sys
from typing import IO, Any

# "100.0%" rather than tqdm's "100%": one decimal shows movement on genome-sized totals
_FORMAT = "{desc}{percentage:5.1f}% |{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an open terminal (False for files, pipes, closed streams)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed stream
        return False


class Progress:
    """A one-line progress bar on ``file`` (tqdm underneath).

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
    width : int, optional
        Characters of the bar itself (default: tqdm's, from the terminal width).

    Examples
    --------
    >>> with Progress(100, "reading", enabled=False) as bar:
    ...     for _ in range(10):
    ...         bar.update(10)
    >>> bar.n
    100
    """

    def __init__(self, total: int, desc: str = "", unit: str = "", enabled: bool = True,
                 file: IO[str] | None = None, min_interval: float = 0.1, width: int | None = None) -> None:
        self.total = max(int(total), 0)
        self.file = sys.stderr if file is None else file
        self.enabled = bool(enabled) and is_terminal(self.file)
        self.n = 0
        self._bar = None
        if self.enabled:
            from tqdm import tqdm

            fmt = _FORMAT if width is None else _FORMAT.replace("{bar}", f"{{bar:{int(width)}}}")
            self._bar = tqdm(total=self.total, desc=f"{desc}: " if desc else "", unit=unit or "it", unit_scale=True,
                             file=self.file, mininterval=float(min_interval), bar_format=fmt, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        """Add ``n`` units of finished work (redraws if due)."""
        self.n += int(n)
        if self._bar is not None:
            self._bar.update(int(n))

    def set_postfix(self, text: str) -> None:
        """Text after the bar (a loss, a rate): shown on the next redraw."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
