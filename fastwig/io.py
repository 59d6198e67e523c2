"""Byte sources: a whole file mapped read-only into memory.

A mapped file holds no file descriptor once the mapping exists, so thousands of open ``BigWig``
objects cost no descriptors; the kernels read compressed blocks straight out of the mapping, with no
system call per block.  Every read is bounds-checked here, against the size of the file, so that
offsets taken from a corrupt file raise :class:`~fastwig.errors.FormatError` instead of faulting.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from .errors import FastwigError, FormatError


class FileSource:
    """A read-only memory map of one file, as a ``uint8`` array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Attributes
    ----------
    path : str
    size : int
        File size in bytes.
    buf : numpy.ndarray
        uint8 (size,), a view of the mapping (empty for an empty file).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise FastwigError(f"{self.path}: cannot open: {exc.strerror}") from exc
        try:
            self.size = os.fstat(fd).st_size
            if self.size == 0:
                self._map = None
                self.buf = np.zeros(0, dtype=np.uint8)
            else:
                self._map = mmap.mmap(fd, self.size, access=mmap.ACCESS_READ)
                self.buf = np.frombuffer(self._map, dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise FastwigError(f"{self.path}: cannot map: {exc}") from exc
        finally:
            os.close(fd)

    def view(self, offset: int, length: int, what: str) -> np.ndarray:
        """``length`` bytes at ``offset`` as a uint8 view; FormatError naming ``what`` if out of the file."""
        offset = int(offset)
        length = int(length)
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FormatError(
                f"{self.path}: {what} at offset {offset} ({length} bytes) lies outside the file "
                f"({self.size} bytes): truncated or corrupt")
        return self.buf[offset:offset + length]

    def struct(self, offset: int, dtype: np.dtype, what: str, count: int = 1) -> np.ndarray:
        """``count`` records of ``dtype`` at ``offset`` (a structured array, bounds-checked)."""
        raw = self.view(offset, dtype.itemsize * count, what)
        return np.frombuffer(raw, dtype=dtype, count=count)

    def close(self) -> None:
        """Drop the mapping (it is unmapped once no array views it any more)."""
        self.buf = np.zeros(0, dtype=np.uint8)
        self._map = None
