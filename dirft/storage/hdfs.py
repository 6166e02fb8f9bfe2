"""HDFS through WebHDFS, behind the :class:`~dirft.storage.base.Storage` interface.

Built on HdfsCLI (the ``hdfs`` package): :class:`WebHdfsClient` adds the one operation
dirft needs that HdfsCLI does not wrap, ``GETFILEBLOCKLOCATIONS`` (WebHDFS, Hadoop 3.2+),
to learn a file's real block boundaries and the DataNodes holding each copy; on an older
NameNode dirft falls back to the block size of ``GETFILESTATUS`` with unknown hosts.

Reads are range reads (``OPEN`` with ``offset``/``length``); the NameNode redirects each to
a DataNode holding the block, the one closest to the reader (``NamenodeWebHdfsMethods``
sorts the copies by network distance), and :attr:`HdfsStorage.last_datanode` records which
one served it. Writes go to a temporary path by the two-step ``CREATE`` (307 redirect,
then ``PUT`` of the bytes, streamed) and are committed by ``RENAME``.

A DataNode that refuses, times out or breaks off is replaced as Hadoop's own client
replaces it (:mod:`dirft.storage.datanodes`): the NameNode is asked again with it in
``excludedatanodes``, a read resumes at the byte it had reached, a write is sent again
whole (while it is short enough to be kept, :data:`~dirft.storage.datanodes.REPLAY_BYTES`),
and after ``dirft.webhdfs.datanode.attempts`` DataNodes the operation fails with
:class:`~dirft.errors.DataNodeUnavailable`.

WebHDFS errors arrive as ``{"RemoteException": {"exception", "javaClassName",
"message"}}``; :func:`storage_error` turns them into one-line dirft errors:
``FileNotFoundException`` becomes :class:`~dirft.errors.InputError`, everything else
:class:`~dirft.errors.StorageError`, naming the operation, the path and what to do.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse

import requests
import urllib3
from hdfs.client import InsecureClient, _Request
from hdfs.util import HdfsError

from dirft.config.values import default_value
from dirft.core.planner import Block
from dirft.errors import DirftError, InputError, StorageError
from dirft.storage.datanodes import DataNodeTries, Replay
from dirft.storage.base import Storage, cut_blocks, removing_on_error

READ_AHEAD = 1 << 20  # bytes asked beyond a range's end (to finish its last line)
UPLOAD_QUEUE = 16     # chunks buffered between a writer and its upload thread
PERMANENT = frozenset({"FileNotFoundException", "AccessControlException", "SecurityException",
                       "FileAlreadyExistsException", "IllegalArgumentException"})
"""RemoteExceptions another DataNode would answer alike: not worth another attempt."""


class WebHdfsClient(InsecureClient):
    """HdfsCLI's client for clusters without Kerberos, plus ``GETFILEBLOCKLOCATIONS``.

    HdfsCLI's metaclass turns the ``_Request`` attribute below into a method sending
    ``op=GETFILEBLOCKLOCATIONS`` (the name without underscores, upper-cased).
    """

    _get_file_block_locations = _Request("GET")

    def block_locations(self, hdfs_path: str, offset: int = 0,
                        length: int | None = None) -> list[dict]:
        """``BlockLocation`` dicts (``offset``, ``length``, ``hosts``, ``names``, …) of
        ``hdfs_path`` between ``offset`` and ``offset + length`` bytes (whole file: None).
        Raises :class:`hdfs.util.HdfsError` (e.g. on a NameNode older than Hadoop 3.2)."""
        res = self._get_file_block_locations(hdfs_path, offset=offset, length=length)
        return res.json()["BlockLocations"]["BlockLocation"]


def hdfs_path(path: str) -> str:
    """``path`` without an ``hdfs://host:port`` or ``webhdfs://…`` prefix: ``hdfs:///a`` → ``/a``."""
    parsed = urlparse(path)
    return parsed.path if parsed.scheme in ("hdfs", "webhdfs", "swebhdfs") else path


def storage_error(err: Exception, what: str, path: str, url: str = "") -> DirftError:
    """Turn an HdfsCLI or ``requests`` exception into a one-line dirft error.

    ``what`` is the operation in words (``"read"``, ``"rename to /b"``). Returns (does not
    raise) :class:`InputError` for a missing file, :class:`StorageError` otherwise.
    """
    if isinstance(err, requests.RequestException):
        return StorageError(f"cannot {what} {path}: WebHDFS at {url or '?'} unreachable "
                            f"({type(err).__name__}); check dirft.webhdfs.url and the NameNode")
    exception = getattr(err, "exception", None) or "error"
    message = " ".join(str(getattr(err, "message", err)).split())[:300]
    if exception == "FileNotFoundException":
        return InputError(f"cannot {what} {path}: no such file on HDFS ({message})")
    if exception in ("AccessControlException", "SecurityException"):
        return StorageError(f"cannot {what} {path}: permission denied on HDFS ({message}); "
                            f"check dirft.webhdfs.user and the path's permissions")
    return StorageError(f"cannot {what} {path}: WebHDFS {exception}: {message}")


def remote_error(res: requests.Response) -> HdfsError:
    """An :class:`HdfsError` from a non-2xx WebHDFS response (its RemoteException JSON)."""
    try:
        remote = res.json()["RemoteException"]
        return HdfsError(str(remote.get("message", "")), exception=remote.get("exception"))
    except (ValueError, KeyError, TypeError):
        return HdfsError(f"HTTP {res.status_code}: {res.text[:200]}", exception=None)


def failed_url(err: OSError) -> str:
    """The URL a ``requests`` error happened at (after redirects: the DataNode's)."""
    request = getattr(err, "request", None)
    return getattr(request, "url", None) or ""


class HdfsStorage(Storage):
    """HDFS at WebHDFS ``url`` (``http://namenode:9870``) as ``user`` (None: the login).

    ``timeout``: seconds per HTTP request; ``attempts``: DataNodes one read or write tries
    (``dirft.webhdfs.datanode.attempts``). Paths may carry an ``hdfs://`` prefix; relative
    paths are relative to the user's HDFS home directory.
    """

    kind = "webhdfs"
    where = " on HDFS"

    def __init__(self, url: str, user: str | None = None,
                 timeout: float = default_value("dirft.webhdfs.timeout"),
                 attempts: int = default_value("dirft.webhdfs.datanode.attempts")) -> None:
        self.url, self.user, self.timeout, self.attempts = url, user or None, timeout, attempts
        self._namenodes = {urlparse(u.strip()).netloc for u in url.split(";")}
        session = requests.Session()
        session.trust_env = False  # the cluster's own network: no proxies, no .netrc
        self.client = WebHdfsClient(url, user=self.user, timeout=timeout, session=session)
        self.last_datanode: str | None = None

    def describe(self) -> dict:
        """What a task needs to open the same storage (goes into the job spec)."""
        return {"kind": self.kind, "url": self.url, "user": self.user,
                "timeout": self.timeout, "attempts": self.attempts}

    @contextmanager
    def _errors(self, what: str, path: str):
        """Translate HdfsCLI/requests errors raised in the body into dirft errors."""
        try:
            yield
        except (HdfsError, requests.RequestException) as err:
            raise storage_error(err, what, path, self.url) from None

    def absolute(self, path: str) -> str:
        """The absolute HDFS path (HdfsCLI resolves relative ones against the home dir)."""
        with self._errors("resolve", path):
            return self.client.resolve(hdfs_path(path))

    def status(self, path: str) -> dict | None:
        """The ``FileStatus`` of ``path``, None if it does not exist."""
        with self._errors("stat", path):
            return self.client.status(hdfs_path(path), strict=False)

    # -- reading ------------------------------------------------------------------
    def open_range(self, path: str, start: int, length: int) -> "_RangeReader":
        """A reader from byte ``start`` of ``path``; see :class:`_RangeReader`."""
        status = self.status(path)
        if status is None or status["type"] != "FILE":
            raise InputError(f"cannot read {path}: no such file on HDFS")
        return _RangeReader(self, hdfs_path(path), start, length, status["length"])

    def read_bytes(self, path: str) -> bytes:
        """The whole file ``path`` (for small files: manifests, records)."""
        with self.open_range(path, 0, 0) as f:
            return b"".join(iter(lambda: f.read(READ_AHEAD), b""))

    def _open(self, path: str, offset: int, length: int,
              tries: DataNodeTries) -> requests.Response:
        """OPEN ``length`` bytes of ``path`` from byte ``offset`` (HdfsCLI follows the
        NameNode's redirect), on another DataNode while one fails (``tries``)."""
        while True:
            try:
                res = self.client._open(path, strict=False, offset=offset, length=length,
                                        **tries.params())
            except requests.RequestException as err:
                self._failed(tries, failed_url(err), err)
                continue
            if res.ok:
                self.last_datanode = urlparse(res.url).hostname
                return res
            self._failed(tries, res.url, remote_error(res))

    def _failed(self, tries: DataNodeTries, url: str, err: Exception) -> None:
        """One attempt of ``tries`` failed at ``url`` with ``err``: return if another
        DataNode may be tried; raise the NameNode's or a permanent error as a dirft error,
        :class:`~dirft.errors.DataNodeUnavailable` when no DataNode is left."""
        at_datanode = bool(url) and urlparse(url).netloc not in self._namenodes
        exception = getattr(err, "exception", None)
        if at_datanode and exception not in PERMANENT:
            tries.failed(url, err)
        elif tries.failures and exception == "IOException":
            raise tries.give_up(f"the NameNode named no other: {err}")
        else:
            raise storage_error(err, tries.what, tries.path, self.url)

    # -- writing ------------------------------------------------------------------
    @contextmanager
    def commit(self, final_path: str):
        """Stream the bytes written to a temp path (two-step CREATE), then RENAME them
        into place (replacing an older ``final_path``). On error the temp file is deleted."""
        final = hdfs_path(final_path)
        tmp = f"{final}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with removing_on_error(lambda: self._quiet_delete(tmp)):
            upload = _Upload(lambda data: self._create(tmp, data))
            try:
                yield upload
            finally:
                upload.close()
            self._replace(tmp, final)

    def _create(self, path: str, data) -> None:
        """Two-step CREATE of ``path`` with the chunks of ``data``, on another DataNode
        while one refuses or breaks off and the body can be sent again whole."""
        tries, body = DataNodeTries("create", path, self.attempts), Replay(data)
        while True:
            location = self._create_location(path, tries)
            try:
                put = self.client._request("PUT", location, data=body.chunks())
            except requests.RequestException as err:
                self._failed(tries, location, self._unsent(body, tries, location, err))
                continue
            if put.ok:
                return
            self._failed(tries, location, self._unsent(body, tries, location, remote_error(put)))

    def _create_location(self, path: str, tries: DataNodeTries) -> str:
        """The DataNode URL the NameNode names for a CREATE of ``path`` (307 Location)."""
        try:
            res = self.client._create(path, strict=False, overwrite=True, **tries.params())
        except requests.RequestException as err:
            raise storage_error(err, "create", path, self.url) from None
        if not res.ok:
            self._failed(tries, "", remote_error(res))  # the NameNode's own answer: raises
        return res.headers["location"]

    @staticmethod
    def _unsent(body: Replay, tries: DataNodeTries, location: str, err: Exception) -> Exception:
        """``err`` if ``body`` can be sent again; else raise a StorageError (not an
        environment fault: the write's owner fails, as with a lost DataNode in Hadoop)."""
        if body.replayable:
            return err
        host = urlparse(location).hostname
        raise StorageError(f"cannot create {tries.path}: DataNode {host} broke "
                           f"off the write after {body.sent} bytes, more than can be sent "
                           f"again ({err}); nothing was committed") from None

    def _replace(self, tmp: str, final: str) -> None:
        with self._errors(f"rename {tmp} to", final):
            if self.client._rename(tmp, destination=final).json()["boolean"]:
                return
            self.client.delete(final)
            if not self.client._rename(tmp, destination=final).json()["boolean"]:
                raise HdfsError(f"RENAME {tmp} -> {final} returned false", exception="IOException")

    def _quiet_delete(self, path: str) -> None:
        try:
            self.client.delete(path)
        except (HdfsError, requests.RequestException):
            pass

    # -- the name space -------------------------------------------------------------
    def size(self, path: str) -> int | None:
        """Length in bytes of file ``path``; None if it does not exist."""
        status = self.status(path)
        if status is not None and status["type"] != "FILE":
            raise StorageError(f"{path} is a directory on HDFS, not a file")
        return None if status is None else status["length"]

    def exists(self, path: str) -> bool:
        """True if ``path`` exists on HDFS."""
        return self.status(path) is not None

    def is_dir(self, path: str) -> bool:
        """True if ``path`` is an HDFS directory."""
        status = self.status(path)
        return status is not None and status["type"] == "DIRECTORY"

    def list_dir(self, path: str) -> list[tuple[str, int, bool]]:
        """LISTSTATUS of directory ``path``, by name."""
        with self._errors("list", path):
            res = self.client._list_status(hdfs_path(path))
            entries = res.json()["FileStatuses"]["FileStatus"]
        return sorted((e["pathSuffix"], e["length"], e["type"] == "DIRECTORY")
                      for e in entries if e["pathSuffix"])

    def makedirs(self, path: str) -> None:
        """MKDIRS ``path`` (and parents)."""
        with self._errors("create directory", path):
            self.client.makedirs(hdfs_path(path))

    def rename(self, src: str, dst: str) -> None:
        """RENAME ``src`` to ``dst``; raises StorageError if ``dst`` exists or it fails."""
        if self.exists(dst):
            raise StorageError(f"cannot rename {src} to {dst}: the destination exists on HDFS")
        with self._errors(f"rename to {dst}", src):
            if not self.client._rename(hdfs_path(src), destination=hdfs_path(dst)).json()["boolean"]:
                raise HdfsError("RENAME returned false (missing source or parent of the "
                                "destination)", exception="IOException")

    def delete(self, path: str, recursive: bool = False) -> bool:
        """DELETE ``path``; False if it did not exist."""
        with self._errors("delete", path):
            return self.client.delete(hdfs_path(path), recursive=recursive)

    # -- planning -------------------------------------------------------------------
    def blocks(self, path: str, size: int, block_size: int) -> tuple[Block, ...]:
        """Real block boundaries and hosts (GETFILEBLOCKLOCATIONS), else the file's own
        block size from GETFILESTATUS (``block_size`` if even that is missing), no hosts."""
        if size == 0:
            return ()
        try:
            located = self.client.block_locations(hdfs_path(path), 0, size)
        except (HdfsError, requests.RequestException, KeyError, ValueError):
            status = self.status(path) or {}
            return cut_blocks(path, size, status.get("blockSize") or block_size)
        return tuple(Block(path, b["offset"], b["length"], tuple(b.get("hosts", ())))
                     for b in sorted(located, key=lambda b: b["offset"]))


class _RangeReader:
    """A read-only file on ``path`` from ``start``, fetched by OPEN with offset/length.

    The first request asks for the range's ``hint`` bytes plus :data:`READ_AHEAD`; later
    requests continue where the previous one ended, until ``size`` (the file's length).
    ``seek`` to another offset drops the current response.
    """

    def __init__(self, storage: HdfsStorage, path: str, start: int, hint: int,
                 size: int) -> None:
        self.storage, self.path, self.size = storage, path, size
        self.pos, self.end_hint = start, start + hint + READ_AHEAD
        self.tries = DataNodeTries(f"read from byte {start} of", path, storage.attempts)
        self._res: requests.Response | None = None
        self._left = 0  # bytes still due from the current response

    def seek(self, pos: int) -> int:
        """Move to absolute byte ``pos``; returns it."""
        if pos != self.pos:
            self._drop()
            self.pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all the rest for -1); b"" at the end of the file."""
        if n < 0:
            return b"".join(iter(lambda: self.read(READ_AHEAD), b""))
        if n == 0:
            return b""
        while self.pos < self.size:
            if self._res is None:
                self._request(n)
            try:
                data = self._res.raw.read(min(n, self._left))
            except (urllib3.exceptions.HTTPError, OSError) as err:
                self._broken(err)
                continue
            if data:
                self.pos += len(data)
                self._left -= len(data)
                return data
            if self._left:
                self._broken(EOFError(f"the answer ended early at byte {self.pos}"))
            self._drop()
        return b""

    def _broken(self, err: BaseException) -> None:
        """The DataNode serving the current response broke off: note it in ``tries``
        (raises once none is left) and drop it; the next read asks for another copy."""
        url = self._res.url
        self._drop()
        self.tries.failed(url, err)

    def _request(self, n: int) -> None:
        want = min(self.size - self.pos, max(n, self.end_hint - self.pos))
        self._res = self.storage._open(self.path, self.pos, want, self.tries)
        self._left = want

    def _drop(self) -> None:
        if self._res is not None:
            self._res.close()
        self._res, self._left = None, 0

    def close(self) -> None:
        """Release the HTTP connection."""
        self._drop()

    def __enter__(self) -> "_RangeReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Upload:
    """A writer whose bytes a background thread streams to ``put(chunks)``.

    Bounded (:data:`UPLOAD_QUEUE` chunks), so a fast writer waits for the network instead
    of filling memory. :meth:`close` waits for the upload and re-raises its error.
    """

    def __init__(self, put) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=UPLOAD_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(put,), daemon=True)
        self._closed = self._ended = False
        self._thread.start()

    def _chunks(self):
        for chunk in iter(self._queue.get, None):
            yield chunk
        self._ended = True

    def _run(self, put) -> None:
        try:
            put(self._chunks())
        except BaseException as err:  # noqa: BLE001 - handed to the writer's thread
            self._error = err
            while not self._ended and self._queue.get() is not None:
                pass  # keep the writer from blocking until it closes

    def write(self, data: bytes) -> int:
        """Queue ``data`` for upload; raises the upload's error if it already failed."""
        if self._error is not None:
            raise self._error
        if data:
            self._queue.put(bytes(data))
        return len(data)

    def close(self) -> None:
        """End the upload and wait for it; raises its error. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
