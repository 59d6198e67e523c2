"""Byte sources: positional reads of a file opened once, through a small pool of descriptors.

Every read of file bytes after open is a ``pread`` (no memory map): a file that shrinks, is
overwritten or is replaced under an open reader can make a map fault with SIGBUS and kill the
process, where a positional read returns fewer bytes, which becomes a :class:`FormatError` naming
the file.  Pread is also the faster path for what fastwig reads: on the sparse workload a first touch of
a mapped page cost about 25 us per 4 KiB fault on the benchmark machine, several times a positional
read of the same bytes (``profiling/RESULTS.md``).

:class:`FileSource` reads the metadata (header, trees, zoom blocks), bounds-checked against the size
of the file at open, so offsets taken from a corrupt file raise :class:`FormatError`.  At open it
reads ahead in chunks of :data:`READAHEAD` bytes (the trees are parsed node by node) and forgets the
chunk afterwards, so an open reader holds no file bytes and no descriptor of its own.

:data:`fd_pool` holds a few descriptors (LRU, :class:`FdPool`), shared by every reader.  A descriptor is
checked against the identity the reader took at open (device, inode, size, modification time): bytes
of a file that was replaced, truncated or rewritten since are never read as if they were the file
the reader indexed.  A file replaced by rename keeps answering from its old descriptor while the pool
holds it (those are the old file's bytes) and raises once it was closed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import weakref
from collections import OrderedDict

import numpy as np

from .errors import FastwigError, FormatError

READAHEAD = 1 << 16        # bytes read at once while a file is opened (a tree node is ~8 KiB)


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """(device, inode, size, mtime in ns) of a stat result: what must not change under an open reader."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FileSource:
    """One file, read with ``pread``: through the descriptor opened with it until :meth:`detach` (the
    end of a reader's open), then through a descriptor leased from :data:`fd_pool`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Attributes
    ----------
    path : str
    size : int
        File size in bytes, at open.
    ident : tuple
        :func:`identity` of the file at open; reads refuse a file that no longer matches it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._ahead: tuple[int, bytes] | None = None
        self._reading_ahead = False
        self._fd = None
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise FastwigError(f"{self.path}: cannot open: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise FastwigError(f"{self.path}: cannot open: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise FastwigError(f"{self.path}: cannot open: it is {kind}, not a bigWig file")
        self.size = st.st_size
        self.ident = identity(st)
        fd_pool.note(self.path, self.ident)
        # reads go through this descriptor until detach() (the end of open): no pool traffic per
        # tree node, and thousands of open readers hold none
        self._own = weakref.finalize(self, os.close, fd)
        self._fd = fd

    def detach(self) -> None:
        """Close the descriptor opened with the object; later reads lease one from :data:`fd_pool`."""
        self._fd = None
        self._own()

    @contextlib.contextmanager
    def reading_ahead(self):
        """Within this block reads fetch :data:`READAHEAD` bytes at a time and serve later reads
        inside that chunk from memory (for parsing trees node by node); the chunk is dropped after."""
        self._reading_ahead = True
        try:
            yield self
        finally:
            self._reading_ahead = False
            self._ahead = None

    def view(self, offset: int, length: int, what: str) -> np.ndarray:
        """``length`` bytes at ``offset`` as a read-only uint8 array (a copy of the file's bytes).

        Raises
        ------
        FormatError
            The range lies outside the file as it was at open (naming ``what``), or the file changed
            since open (truncated, rewritten or replaced).
        """
        offset = int(offset)
        length = int(length)
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FormatError(
                f"{self.path}: {what} at offset {offset} ({length} bytes) lies outside the file "
                f"({self.size} bytes): truncated or corrupt")
        ahead = self._ahead
        if ahead is not None and ahead[0] <= offset and offset + length <= ahead[0] + len(ahead[1]):
            at = offset - ahead[0]
            return np.frombuffer(ahead[1], dtype=np.uint8, count=length, offset=at)
        want = max(length, min(READAHEAD, self.size - offset)) if self._reading_ahead else length
        fd = self._fd
        if fd is not None:
            try:
                data = os.pread(fd, want, offset)
            except OSError as exc:
                raise FastwigError(f"{self.path}: read of {what} at offset {offset} failed: {exc.strerror}") from exc
        else:
            data = fd_pool.pread(self.path, self.ident, want, offset)
        if len(data) < length:
            raise FormatError(f"{self.path}: {what} at offset {offset} ({length} bytes) could not be read: "
                              "the file changed or is truncated")
        if self._reading_ahead:
            self._ahead = (offset, data)
        return np.frombuffer(data, dtype=np.uint8, count=length)

    def struct(self, offset: int, dtype: np.dtype, what: str, count: int = 1) -> np.ndarray:
        """``count`` records of ``dtype`` at ``offset`` (a structured array, bounds-checked)."""
        raw = self.view(offset, dtype.itemsize * count, what)
        return np.frombuffer(raw, dtype=dtype, count=count)

    def descriptor(self):
        """A leased descriptor of this file, for bulk positional reads (``pread``):
        ``with src.descriptor() as fd: ...``.  FormatError if the file changed since open."""
        if self._fd is not None:
            return contextlib.nullcontext(self._fd)
        return fd_pool.lease(self.path, self.ident)

    def close(self) -> None:
        """Drop the descriptor and the read-ahead chunk."""
        self.detach()
        self._ahead = None


class _Entry:
    """A pooled descriptor: the file identity it was checked against, and how many reads use it."""

    __slots__ = ("fd", "ident", "leases", "retired")

    def __init__(self, fd: int, ident: tuple):
        self.fd, self.ident, self.leases, self.retired = fd, ident, 0, False


class FdPool:
    """Descriptors of recently read files, at most ``limit`` not in use at once (least recently used closed).

    Descriptors are per process (a forked child opens its own) and only positional reads use them, so
    one descriptor serves every thread.  A read holds a *lease* on its descriptor (:meth:`lease`), so
    that no other thread closes it mid-read when the pool evicts; a descriptor evicted while leased is
    closed when its last lease ends.  Each lease checks the file against the identity its reader took
    at open (:func:`identity`): a file replaced at the same path, truncated or rewritten since raises
    :class:`FormatError` instead of handing back bytes the reader's index does not describe.
    """

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._fds: OrderedDict[str, _Entry] = OrderedDict()
        self._idents: dict[str, tuple] = {}     # path -> identity of the file last opened there
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _fork_check(self) -> None:
        if self._pid != os.getpid():
            self._fds = OrderedDict()
            self._pid = os.getpid()

    def note(self, path: str, ident: tuple) -> None:
        """A reader opened ``path`` as file ``ident``: later reads by path without an identity mean it."""
        with self._lock:
            self._idents[path] = ident

    def _retire(self, entry: _Entry | None) -> None:
        if entry is None:
            return
        entry.retired = True
        if entry.leases == 0:
            os.close(entry.fd)

    def _evict(self) -> None:
        idle = [p for p, e in self._fds.items() if e.leases == 0]
        for path in idle[:max(len(self._fds) - self.limit, 0)]:
            self._retire(self._fds.pop(path))

    def _acquire(self, path: str, ident: tuple | None) -> _Entry:
        """The checked entry of ``path`` with one more lease (caller holds the lock)."""
        self._fork_check()
        ident = ident if ident is not None else self._idents.get(path)
        entry = self._fds.get(path)
        if entry is not None and ident is not None and entry.ident[:2] != ident[:2]:
            self._retire(self._fds.pop(path))        # another file at this path: open the path again
            entry = None
        if entry is None:
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise FastwigError(f"{path}: cannot open: {exc.strerror}") from exc
            entry = _Entry(fd, identity(os.fstat(fd)))
            self._fds[path] = entry
            if ident is not None and entry.ident[:2] != ident[:2]:
                raise FormatError(f"{path}: the file was replaced on disk after it was opened (open it again)")
        else:
            self._fds.move_to_end(path)
        if ident is not None and identity(os.fstat(entry.fd)) != ident:
            raise FormatError(f"{path}: the file changed on disk after it was opened (truncated or rewritten; "
                              "open it again)")
        entry.leases += 1
        self._evict()
        return entry

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.leases -= 1
            if entry.leases == 0:
                if entry.retired:
                    os.close(entry.fd)
                else:
                    self._evict()

    @contextlib.contextmanager
    def lease(self, path: str, ident: tuple | None = None):
        """``with fd_pool.lease(path, ident) as fd:`` -- a descriptor of ``path`` that stays open for the
        block; ``ident`` (default: the file last opened there) is checked first.

        Raises
        ------
        FormatError
            The file at ``path`` is no longer ``ident`` (replaced, truncated or rewritten).
        FastwigError
            It cannot be opened.
        """
        with self._lock:
            entry = self._acquire(path, ident)
        try:
            yield entry.fd
        finally:
            self._release(entry)

    def pread(self, path: str, ident: tuple | None, length: int, offset: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` of ``path`` (fewer at the end of the file)."""
        with self.lease(path, ident) as fd:
            try:
                return os.pread(fd, length, offset)
            except OSError as exc:
                raise FastwigError(f"{path}: read of {length} bytes at offset {offset} failed: "
                                   f"{exc.strerror}") from exc

    def get(self, path: str, ident: tuple | None = None) -> int:
        """An open descriptor of ``path`` without a lease: valid until ``limit`` other files are asked for
        (use :meth:`lease` where another thread may open files meanwhile).  Checked as :meth:`lease`."""
        with self._lock:
            entry = self._acquire(path, ident)
            entry.leases -= 1
            return entry.fd

    def forget(self, path: str) -> None:
        """Close ``path``'s descriptor (once no read uses it)."""
        with self._lock:
            if self._pid == os.getpid():
                self._retire(self._fds.pop(path, None))


fd_pool = FdPool()

if hasattr(os, "register_at_fork"):
    # a child forked while another thread held the pool's lock would wait on it forever
    os.register_at_fork(before=fd_pool._lock.acquire, after_in_parent=fd_pool._lock.release,
                        after_in_child=fd_pool._lock.release)
