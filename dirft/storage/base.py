"""The storage interface the task runtime and the runners share: local files or HDFS.

docs/design.md, 'Replica task runtime': it reads a byte range of its input, writes its partial
output to a temporary path and commits it by a rename, and never knows whether it talks to
the local file system (:class:`~dirft.storage.local.LocalStorage`) or to HDFS through
WebHDFS (:class:`~dirft.storage.hdfs.HdfsStorage`). Paths are strings: local paths, or
absolute HDFS paths (``/user/me/in.txt``) for HDFS.

Every failure is a one-line :class:`~dirft.errors.StorageError` (or an
:class:`~dirft.errors.InputError` for a missing input) naming the path and the operation.
"""

from __future__ import annotations

import fnmatch
import posixpath
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from dirft.core.planner import Block, InputFile
from dirft.errors import InputError


class Storage(ABC):
    """A file system holding job input, partial outputs and the final output directory."""

    #: Short name for messages and the job spec (``local``, ``webhdfs``).
    kind = "storage"
    #: Where the paths live, for messages: ``""`` (local) or ``" on HDFS"``.
    where = ""

    # -- reading ------------------------------------------------------------------
    @abstractmethod
    def open_range(self, path: str, start: int, length: int) -> BinaryIO:
        """Open ``path`` for reading from byte ``start``.

        The result supports ``read(n)`` and ``seek(start)`` and may be read past
        ``start + length`` up to the end of the file (a record reader finishes the line
        that straddles the range's end); ``length`` (bytes) is a hint of how much will be
        read. Use it in a ``with`` block. Raises :class:`InputError` if ``path`` is missing.
        """

    @abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """Return the whole (small) file ``path``. Raises StorageError/InputError."""

    # -- writing ------------------------------------------------------------------
    @abstractmethod
    def commit(self, final_path: str):
        """Context manager yielding a binary writer; on a clean exit the bytes written
        appear at ``final_path`` at once (temp file then rename), on an exception nothing
        does and the temp file is removed. Raises StorageError."""

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically (through :meth:`commit`)."""
        with self.commit(path) as out:
            out.write(data)

    # -- the name space -------------------------------------------------------------
    @abstractmethod
    def size(self, path: str) -> int | None:
        """Size in bytes of the file ``path``; None if it does not exist.
        Raises StorageError if ``path`` is a directory or cannot be read."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """True if a file or directory ``path`` exists."""

    @abstractmethod
    def is_dir(self, path: str) -> bool:
        """True if ``path`` is an existing directory."""

    @abstractmethod
    def list_dir(self, path: str) -> list[tuple[str, int, bool]]:
        """``(name, size in bytes, is_dir)`` of each entry of directory ``path``, by name.
        Raises InputError if ``path`` does not exist."""

    @abstractmethod
    def makedirs(self, path: str) -> None:
        """Create directory ``path`` and its parents (no error if it exists)."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, which must not exist. Raises StorageError."""

    @abstractmethod
    def delete(self, path: str, recursive: bool = False) -> bool:
        """Delete ``path``; return False if it did not exist. Raises StorageError."""

    # -- planning -------------------------------------------------------------------
    @abstractmethod
    def blocks(self, path: str, size: int, block_size: int) -> tuple[Block, ...]:
        """The blocks of file ``path`` (``size`` bytes) with the hosts holding a copy.

        ``block_size`` (bytes) is used where the storage has no blocks of its own.
        """

    def absolute(self, path: str) -> str:
        """``path`` in the storage's absolute form (default: unchanged)."""
        return path

    def resolve_inputs(self, patterns: list) -> list[InputFile]:
        """Expand ``-input`` paths as Hadoop's FileInputFormat lists them (every runner).

        A directory contributes its files (not recursively), skipping names that start
        with ``_`` or ``.`` (``FileInputFormat``'s hidden-file filter); a glob (``*``,
        ``?``, ``[...]``) may stand in any path component, as in ``FileSystem.globStatus``,
        and never matches a hidden name. Files come in the order given, each directory's
        entries by name. Raises :class:`InputError` naming a path that does not exist or
        a pattern that matches nothing.
        """
        if not patterns:
            raise InputError("no -input given; name at least one input file or directory")
        files: list[InputFile] = []
        for pattern in patterns:
            files.extend(self._expand(self.absolute(pattern)))
        return files

    def _expand(self, pattern: str) -> list[InputFile]:
        """The files one absolute ``-input`` path or glob names (see resolve_inputs)."""
        if _has_glob(pattern):
            matches = self._glob(pattern)
        else:
            matches = [pattern] if self.exists(pattern) else []
        if not matches:
            raise InputError(f"input path does not exist: {pattern}")
        return [f for m in matches for f in self._listing(m)]

    def _glob(self, pattern: str) -> list[str]:
        """Existing paths matching the absolute ``pattern``, component by component."""
        found = ["/"]
        for part in (p for p in pattern.split("/") if p):
            if not _has_glob(part):
                found = [posixpath.join(d, part) for d in found]
                continue
            found = [posixpath.join(d, name) for d in found if self.is_dir(d)
                     for name, _, _ in self.list_dir(d)
                     if not name.startswith(_HIDDEN) and fnmatch.fnmatchcase(name, part)]
        return [path for path in found if self.exists(path)]

    def _listing(self, path: str) -> list[InputFile]:
        """``path`` itself if it is a file, else its visible files (not recursively)."""
        if not self.is_dir(path):
            return [InputFile(path, self.size(path) or 0)]
        return [InputFile(posixpath.join(path, n), size) for n, size, is_dir
                in self.list_dir(path) if not is_dir and not n.startswith(_HIDDEN)]


_HIDDEN = ("_", ".")  # FileInputFormat's hiddenFileFilter: such names are never input


def _has_glob(text: str) -> bool:
    """True if ``text`` holds a glob character (``*``, ``?``, ``[``), as globStatus sees it."""
    return any(c in text for c in "*?[")


def cut_blocks(path: str, size: int, block_size: int,
               hosts: tuple[str, ...] = ()) -> tuple[Block, ...]:
    """``path`` cut into ``block_size``-byte blocks (the last shorter), all on ``hosts``.

    A zero-length file has no blocks, as in HDFS. Raises ValueError for block_size < 1.
    """
    if block_size < 1:
        raise ValueError(f"cut_blocks: block size {block_size} < 1")
    return tuple(Block(path, off, min(block_size, size - off), tuple(hosts))
                 for off in range(0, size, block_size))


@contextmanager
def removing_on_error(cleanup) -> Iterator[None]:
    """Run ``cleanup()`` if the ``with`` body raises, then re-raise."""
    try:
        yield
    except BaseException:
        cleanup()
        raise
