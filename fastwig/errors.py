"""Exceptions.  Everything fastwig raises derives from :class:`FastwigError`."""

from __future__ import annotations


class FastwigError(Exception):
    """Base class of every error fastwig raises."""


class FormatError(FastwigError):
    """A file is not a valid bigWig, or is truncated or corrupt; the message names the file."""


class ChromNotFound(FastwigError, KeyError):
    """A chromosome name a file does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class RangeError(FastwigError, ValueError):
    """A coordinate range or argument outside what the call accepts."""


class CudaUnavailable(FastwigError):
    """A CUDA path was asked for on a machine where numba.cuda finds no usable device."""
