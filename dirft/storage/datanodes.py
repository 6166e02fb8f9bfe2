"""Which DataNodes one WebHDFS read or write has tried, and the next try on another one.

WebHDFS's two-step operations (``OPEN``, ``CREATE``, ``APPEND``) first ask the NameNode,
which answers 307 naming one DataNode's web address (``http://w2:9864/...``). The NameNode
learns that a DataNode is dead only when its heartbeats have been missing for
``2 * dfs.namenode.heartbeat.recheck-interval + 10 * dfs.heartbeat.interval`` (10.5 min by
default); until then it keeps naming it. Hadoop's own clients then go to another DataNode:
``DFSInputStream`` reads the block's next copy (``dfs.client.max.block.acquire.failures``,
3), ``DataStreamer`` asks for the block again with the failed node excluded
(``dfs.client.block.write.retries``, 3), and ``WebHdfsFileSystem`` resends the NameNode
request with ``excludedatanodes``. dirft does the same with :class:`DataNodeTries`.

The parameter's form is the NameNode's (``NamenodeWebHdfsMethods.chooseDatanode``, which
honours it for ``CREATE``, ``OPEN``, ``APPEND`` and ``GETFILECHECKSUM``): entries separated
by commas, each an IP address (``DatanodeManager.getDatanodeByHost``) or ``IP:transfer
port``; an entry that names no registered DataNode is ignored. The redirect names a
DataNode by host name and *web* port, which matches nothing (Hadoop 3.3.6's
``WebHdfsFileSystem`` sends exactly that, ``w2:9864``, and excludes nothing: measured, see
``tests/fixtures/webhdfs/RECORDED.md``), so dirft sends the host's IP address. When every
DataNode holding the block (``OPEN``, ``APPEND``) or every live one (``CREATE``) is
excluded, the NameNode answers an ``IOException`` ("No active nodes contain this block",
"Failed to find datanode, suggest to check cluster health").
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlparse

from dirft.errors import DataNodeUnavailable

REPLAY_BYTES = 4 << 20
"""Bytes of a write kept in memory so that a DataNode that breaks it off can be replaced
by another one, which gets the whole body again; a longer write broken off fails."""


def exclusion(host: str) -> str:
    """The ``excludedatanodes`` entry naming DataNode ``host`` (a redirect's host name) to
    the NameNode: its IPv4 address as this machine resolves it (Hadoop's daemons run with
    ``java.net.preferIPv4Stack=true``); ``host`` itself if it does not resolve (the
    NameNode then ignores the entry)."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def cause(err: BaseException) -> str:
    """A short one-line cause of a failed request: ``"Connection refused"``, the HTTP
    answer's exception and message, or the error's type and text."""
    text = " ".join(str(err).split())
    errno_text = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", text)
    if errno_text:
        return errno_text.group(1).strip()
    if "timed out" in text.lower():
        return "no answer within dirft.webhdfs.timeout"
    exception = getattr(err, "exception", None)
    return f"{exception or type(err).__name__}: {text[:160]}"


class DataNodeTries:
    """The DataNodes one read or write has tried and why each failed, at most
    ``attempts`` of them (``dirft.webhdfs.datanode.attempts``).

    ``what`` and ``path`` name the operation in the give-up message (``"create"``,
    ``"/tmp/x.tmp-1"``). :meth:`params` is the next NameNode request's
    ``excludedatanodes``; :meth:`failed` records a DataNode that refused, timed out or
    broke off; :meth:`give_up` is the error once no DataNode is left.
    """

    def __init__(self, what: str, path: str, attempts: int) -> None:
        self.what, self.path, self.attempts = what, path, attempts
        self.failures: list[tuple[str, str, str]] = []  # (host, exclusion entry, cause)

    def params(self) -> dict:
        """``{"excludedatanodes": "ip1,ip2"}`` of the DataNodes that failed, else ``{}``."""
        entries = dict.fromkeys(entry for _, entry, _ in self.failures)
        return {"excludedatanodes": ",".join(entries)} if entries else {}

    def failed(self, url: str, err: BaseException) -> None:
        """Record that the DataNode of ``url`` failed with ``err``. Raises
        :class:`~dirft.errors.DataNodeUnavailable` when that was the last attempt."""
        host = urlparse(url).hostname or url
        self.failures.append((host, exclusion(host), cause(err)))
        if len(self.failures) >= self.attempts:
            raise self.give_up(f"{len(self.failures)} of {self.attempts} attempts failed, "
                               f"dirft.webhdfs.datanode.attempts")

    def give_up(self, why: str) -> DataNodeUnavailable:
        """The one-line error naming the path, ``why``, and each DataNode tried with its
        cause (returned, not raised)."""
        tried = "; ".join(f"{host} ({entry}): {why_}" for host, entry, why_ in self.failures)
        return DataNodeUnavailable(
            f"cannot {self.what} {self.path}: no DataNode could do it ({why}); DataNodes "
            f"tried: {tried or 'none'}; check the DataNodes (hdfs dfsadmin -report) or raise "
            f"dirft.webhdfs.datanode.attempts")


class Replay:
    """The body of one write, sendable again from its first byte while it is short.

    ``chunks`` (an iterable of bytes, read once) is kept as it is sent, up to ``limit``
    bytes (None: :data:`REPLAY_BYTES`); :attr:`replayable` turns False once more was sent.
    """

    def __init__(self, chunks, limit: int | None = None) -> None:
        self._source, self._kept = iter(chunks), []
        self.limit = REPLAY_BYTES if limit is None else limit
        self.sent, self.replayable = 0, True

    def chunks(self):
        """Yield the body from its first byte: the chunks kept, then the rest of the
        source. Raises :class:`RuntimeError` if it is no longer replayable."""
        if not self.replayable:
            raise RuntimeError("the body was longer than the replay limit")
        yield from list(self._kept)
        for chunk in self._source:
            self.sent += len(chunk)
            if self.sent <= self.limit:
                self._kept.append(chunk)
            else:
                self.replayable, self._kept = False, []
            yield chunk
