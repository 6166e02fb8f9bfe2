"""The local file system behind the :class:`~dirft.storage.base.Storage` interface.

Kept thin so the local runner's hot path stays what it was: ``open`` for reading, a temp
file beside the final name and ``os.replace`` to commit.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import BinaryIO

from dirft.core.planner import Block
from dirft.errors import InputError, StorageError
from dirft.storage.base import Storage, cut_blocks


class LocalStorage(Storage):
    """Plain local files. Paths are made absolute; blocks have no hosts."""

    kind = "local"

    def open_range(self, path: str, start: int, length: int) -> BinaryIO:
        """``open(path, "rb")`` seeked to ``start``. Raises InputError if missing."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise InputError(f"input file {path} does not exist (any more)") from None
        except OSError as err:
            raise StorageError(f"cannot open {path} for reading: {err.strerror}") from None
        f.seek(start)
        return f

    def read_bytes(self, path: str) -> bytes:
        """The whole file ``path``. Raises InputError if missing, StorageError otherwise."""
        with self.open_range(path, 0, 0) as f:
            return f.read()

    @contextmanager
    def commit(self, final_path: str):
        """Write to ``final_path.tmp-<pid>``, then ``os.replace`` it into place."""
        os.makedirs(os.path.dirname(final_path) or ".", exist_ok=True)
        tmp = f"{final_path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as out:
                yield out
            os.replace(tmp, final_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def size(self, path: str) -> int | None:
        """``os.path.getsize``; None if ``path`` does not exist."""
        try:
            return os.path.getsize(path) if not os.path.isdir(path) else None
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        """``os.path.exists``."""
        return os.path.exists(path)

    def is_dir(self, path: str) -> bool:
        """``os.path.isdir``."""
        return os.path.isdir(path)

    def list_dir(self, path: str) -> list[tuple[str, int, bool]]:
        """Entries of directory ``path`` by name. Raises InputError if it is missing."""
        try:
            names = sorted(os.listdir(path))
        except FileNotFoundError:
            raise InputError(f"directory {path} does not exist") from None
        full = [(n, os.path.join(path, n)) for n in names]
        return [(n, 0 if os.path.isdir(p) else os.path.getsize(p), os.path.isdir(p))
                for n, p in full]

    def makedirs(self, path: str) -> None:
        """``os.makedirs(path, exist_ok=True)``."""
        os.makedirs(path, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        """``os.rename``, refusing an existing ``dst``. Raises StorageError."""
        if os.path.lexists(dst):
            raise StorageError(f"cannot rename {src} to {dst}: the destination exists")
        try:
            os.rename(src, dst)
        except OSError as err:
            raise StorageError(f"cannot rename {src} to {dst}: {err.strerror}") from None

    def delete(self, path: str, recursive: bool = False) -> bool:
        """Remove a file, or a directory (its tree with ``recursive``)."""
        if not os.path.lexists(path):
            return False
        if os.path.isdir(path):
            shutil.rmtree(path) if recursive else os.rmdir(path)
        else:
            os.unlink(path)
        return True

    def blocks(self, path: str, size: int, block_size: int) -> tuple[Block, ...]:
        """``path`` cut into ``block_size`` blocks with no hosts."""
        return cut_blocks(path, size, block_size)

    def absolute(self, path: str) -> str:
        """``os.path.abspath``."""
        return os.path.abspath(path)


#: The one instance the runtime uses by default.
LOCAL = LocalStorage()
