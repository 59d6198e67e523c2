"""Byte sources: a whole file mapped read-only into memory, and a pool of descriptors for data reads.

Metadata (header, trees, zoom blocks) is read through a read-only memory map that holds no file
descriptor once it exists (Python's ``mmap.mmap`` keeps a duplicate of the descriptor for the life of
the map before Python 3.13's ``trackfd=False``, so on POSIX the map is made with the C library's
``mmap`` through ctypes, and unmapped once no array views it): thousands of open ``BigWig`` objects
cost no descriptors.  Every such read is bounds-checked here, against the size of the file, so that
offsets taken from a corrupt file raise :class:`~fastwig.errors.FormatError` instead of faulting.

Data blocks are read with ``pread`` through :data:`fd_pool`, a small LRU of descriptors opened on
demand: on the sparse workload a first touch of a mapped page cost about 25 us per 4 KiB fault on the
benchmark machine, several times a positional read of the same bytes (``profiling/RESULTS.md``).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import weakref
from collections import OrderedDict

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
    ident : tuple
        (device, inode) of the file mapped, so that data reads by path can tell a replaced file.
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
            st = os.fstat(fd)
            self.size = st.st_size
            self.ident = (st.st_dev, st.st_ino)
            fd_pool.note(self.path, self.ident)
            if self.size == 0:
                self._map = None
                self.buf = np.zeros(0, dtype=np.uint8)
            else:
                self._map, self.buf = _map_read_only(fd, self.size)
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


def _libc_mmap():
    """The C library's mmap/munmap through ctypes, or None where there is none (Windows)."""
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        map_fn, unmap_fn = libc.mmap, libc.munmap
    except (OSError, AttributeError):
        return None
    map_fn.restype = ctypes.c_void_p
    map_fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    unmap_fn.restype = ctypes.c_int
    unmap_fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    return map_fn, unmap_fn


_LIBC_MMAP = _libc_mmap()
_MAP_FAILED = ctypes.c_void_p(-1).value


class _Mapping:
    """Owner of a mapping made through ctypes; arrays made from it keep it (and the mapping) alive."""

    def __init__(self, addr: int, size: int):
        self.__array_interface__ = {"data": (addr, True), "shape": (size,), "typestr": "|u1", "version": 3}


def _map_read_only(fd: int, size: int):
    """(owner, read-only uint8 array) of a shared mapping of ``size`` bytes of ``fd`` that keeps no
    descriptor: the caller may close ``fd`` at once.  The mapping lives while any view of the array does."""
    if _LIBC_MMAP is not None:
        map_fn, unmap_fn = _LIBC_MMAP
        addr = map_fn(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        owner = _Mapping(addr, size)
        weakref.finalize(owner, unmap_fn, addr, size)
        return owner, np.asarray(owner)      # read-only (PROT_READ): its base is the owner
    kw = {"trackfd": False} if sys.version_info >= (3, 13) else {}
    owner = mmap.mmap(fd, size, access=mmap.ACCESS_READ, **kw)
    return owner, np.frombuffer(owner, dtype=np.uint8)


class FdPool:
    """Descriptors of recently read files, at most ``limit`` open at once (least recently used closed).

    Descriptors are opened lazily, per process (a forked child opens its own), and only positional
    reads use them, so one descriptor serves every thread.  A descriptor is opened by path, so each is
    checked against the identity (device, inode) of the file its readers mapped: a file replaced at the
    same path (a track regenerated in place) is not read through the old file's descriptor, nor is an
    old object's index applied to the new file's bytes.
    """

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._fds: OrderedDict[str, tuple[int, tuple]] = OrderedDict()
        self._idents: dict[str, tuple] = {}     # path -> identity of the file last opened there
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def note(self, path: str, ident: tuple) -> None:
        """A FileSource mapped ``path`` as file ``ident``: later reads by path without an identity mean it."""
        with self._lock:
            self._idents[path] = ident

    def get(self, path: str, ident: tuple | None = None) -> int:
        """An open read-only descriptor of ``path``, of the file ``ident`` (default: the one last mapped
        there); valid until ``limit`` other files are asked for.  FormatError if the file at ``path``
        is no longer that file."""
        with self._lock:
            if self._pid != os.getpid():
                self._fds = OrderedDict()
                self._pid = os.getpid()
            ident = ident if ident is not None else self._idents.get(path)
            entry = self._fds.get(path)
            if entry is not None:
                if ident is None or entry[1] == ident:
                    self._fds.move_to_end(path)
                    return entry[0]
                del self._fds[path]
                os.close(entry[0])
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise FastwigError(f"{path}: cannot open: {exc.strerror}") from exc
            st = os.fstat(fd)
            found = (st.st_dev, st.st_ino)
            if ident is not None and found != ident:
                os.close(fd)
                raise FormatError(f"{path}: the file was replaced on disk after it was opened (open it again)")
            self._fds[path] = (fd, found)
            while len(self._fds) > self.limit:
                _, (old, _) = self._fds.popitem(last=False)
                os.close(old)
            return fd

    def forget(self, path: str) -> None:
        """Close ``path``'s descriptor if one is open."""
        with self._lock:
            entry = self._fds.pop(path, None) if self._pid == os.getpid() else None
            if entry is not None:
                os.close(entry[0])


fd_pool = FdPool()
