"""Per-replica HMAC keys: a replica speaks only for itself (docs/design.md, 'Voting service').

Every message names its sender in the :data:`IDENTITY_HEADER` (``<task>/<replica>``) and is
MAC'd under *that replica's* key, so the service "never takes a replica identity on trust":
a replica (or the user's mapper under it) holding its own key cannot vote, fail, heartbeat
or burn sequence numbers as a sibling. Keys reach the driver in one of three ways:

* **handshake** (local runner): the replica process locks itself (:func:`lock_process`:
  not dumpable, so no other process of the user can ptrace it or open its ``/proc/<pid>/mem``,
  ``environ`` or ``fd``; and not traced right now), draws a fresh key and sends it over a
  Unix socket inherited from the driver (:func:`offer_key`). The driver accepts it only
  with the kernel's ``SCM_CREDENTIALS`` naming the pid it started (:func:`accept_key`),
  so a process that duplicated the socket cannot substitute its own key. The key is never
  in a file, an argument or an environment variable; the mapper, started after, never
  has it.
* **enrollment** (Hadoop runner, no socket to inherit): the ``register`` message carries a
  fresh key and is MAC'd under the job's enrollment secret (a file in ``-files``); the
  first registration of an identity wins and binds it to the attempt id and host it
  claims; a second one is refused (409) and recorded as a conflict, which aborts the job.
* **derived** (tests, benchmarks): ``replica_key(master, task, replica)``.

Pure functions and a thread-safe table; no aiohttp, so a replica can import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import struct
import threading

from dirft.errors import ProtocolError, TaskError
from dirft.service import messages

IDENTITY_HEADER = "X-Dirft-Replica"
"""HTTP header naming the sender, ``<task>/<replica>``; its key checks the MAC."""

KEY_BYTES = 32
"""Length of a replica key, in bytes (HMAC-SHA256's block-size-safe 256 bits)."""

_IDENTITY = re.compile(r"(\d{1,18})/(\d{1,18})")
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def replica_key(master: bytes, task: int, replica: int) -> bytes:
    """The key of (``task``, ``replica``) derived from ``master`` (bytes, >= 16): 32 bytes,
    HMAC-SHA256 of ``b"dirft replica key <task>/<replica>"``. Raises ValueError."""
    label = f"dirft replica key {task}/{replica}".encode()
    return bytes.fromhex(messages.mac(messages.check_secret(master), label))


def sender(task: int, replica: int) -> str:
    """The :data:`IDENTITY_HEADER` value of (``task``, ``replica``)."""
    return f"{task}/{replica}"


def identity(value: str | None) -> tuple[int, int]:
    """Parse an :data:`IDENTITY_HEADER` value into ``(task, replica)``.

    Raises :class:`ProtocolError` 401 when it is missing or not ``<digits>/<digits>``.
    """
    match = _IDENTITY.fullmatch(value or "")
    if match is None:
        raise ProtocolError(f"missing or malformed {IDENTITY_HEADER} header (want "
                            "<task>/<replica>)", 401)
    return int(match.group(1)), int(match.group(2))


class Keyring:
    """The keys one voting service accepts, per (task, replica); thread-safe.

    ``master`` (bytes or None): keys not installed are :func:`replica_key` of it (tests,
    benchmarks); ``enrollment`` (bytes or None): the secret a ``register`` carrying a
    ``key`` is MAC'd with on Hadoop. :attr:`holders` maps an identity to the
    ``(attempt, host)`` its registration claimed; :attr:`conflicts` lists one line per
    refused second registration (someone else holds the enrollment secret).
    ``verify(attempt, peer)``, if given, is asked before a ``register`` under the
    enrollment secret binds a key: it raises :class:`ProtocolError` to refuse the claimed
    attempt id coming from address ``peer`` (the Hadoop runner's
    :class:`~dirft.runners.hadoop_attempts.AttemptCheck`).
    """

    def __init__(self, master: bytes | None = None,
                 enrollment: bytes | None = None, verify=None) -> None:
        """Raises ValueError if a given secret is shorter than 16 bytes."""
        self._master = None if master is None else messages.check_secret(master)
        self.enrollment = None if enrollment is None else messages.check_secret(enrollment)
        self.verify = verify
        self._keys: dict[tuple[int, int], bytes] = {}
        self.holders: dict[tuple[int, int], tuple[str, str]] = {}
        self.conflicts: list[str] = []
        self._lock = threading.Lock()

    def key(self, task: int, replica: int) -> bytes | None:
        """The key of (``task``, ``replica``), or None if nobody may speak for it yet."""
        with self._lock:
            key = self._keys.get((task, replica))
        if key is None and self._master is not None:
            return replica_key(self._master, task, replica)
        return key

    def install(self, task: int, replica: int, key: bytes) -> None:
        """Bind ``key`` (bytes, >= 16) to (``task``, ``replica``), once (offering the same
        key again, as a retried ``register`` does, changes nothing).

        Raises :class:`ProtocolError` 409 if the identity already has another key (recorded
        in :attr:`conflicts`), ValueError for a short key.
        """
        messages.check_secret(key)
        with self._lock:
            if self._keys.setdefault((task, replica), key) != key:
                line = (f"task {task} replica {replica}: a second key was offered for an "
                        f"identity that already has one")
                self.conflicts.append(line)
                raise ProtocolError(line, 409)

    def record(self, task: int, replica: int, attempt: str, host: str) -> None:
        """Record the attempt id and host (str) a registration of the identity claimed.

        A second, different claim is a conflict (appended to :attr:`conflicts`) and raises
        :class:`ProtocolError` 409.
        """
        with self._lock:
            old = self.holders.setdefault((task, replica), (attempt, host))
            if old != (attempt, host):
                line = (f"task {task} replica {replica} registered as attempt "
                        f"{attempt or '?'} on {host} after attempt {old[0] or '?'} on "
                        f"{old[1]}")
                self.conflicts.append(line)
                raise ProtocolError(line, 409)


# ------------------------------------------------------------------ local handshake

def lock_process() -> None:
    """Make this process undumpable and check nobody traces it (Linux; no-op elsewhere).

    Undumpable (``prctl(PR_SET_DUMPABLE, 0)``): no process of the same user can ptrace it
    or read its ``/proc/<pid>/mem``, ``environ``, ``fd``. Raises :class:`TaskError` if the
    prctl fails or ``/proc/self/status`` shows a tracer (someone attached before the lock).
    """
    if not os.path.exists("/proc/self/status"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise TaskError(f"prctl(PR_SET_DUMPABLE, 0) failed: "
                        f"{os.strerror(ctypes.get_errno())}")
    with open("/proc/self/status", encoding="ascii", errors="replace") as f:
        tracer = next((line.split()[1] for line in f if line.startswith("TracerPid:")), "0")
    if tracer != "0":
        raise TaskError(f"process {tracer} traces this replica; refusing to make a key")


@contextlib.contextmanager
def undumpable():
    """Context manager: this process (the driver, which holds every key) is undumpable
    while inside, as :func:`lock_process` makes a replica; restored on exit. No-op where
    ``prctl`` is missing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        yield
        return
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        yield
    finally:
        if before > 0:
            libc.prctl(_PR_SET_DUMPABLE, before, 0, 0, 0)


def offer_key(fd: int, timeout: float = 30.0) -> bytes:
    """Replica side of the handshake over inherited socket ``fd``; return the new key.

    Locks the process (:func:`lock_process`), draws :data:`KEY_BYTES` random bytes, sends
    them and waits ``timeout`` seconds for the driver's ``ok``; closes ``fd`` in any case.
    Raises :class:`TaskError` if the lock fails or the driver does not acknowledge.
    """
    with socket.socket(fileno=fd) as sock:
        lock_process()
        key = os.urandom(KEY_BYTES)
        sock.settimeout(timeout)
        try:
            sock.sendall(key)
            answer = sock.recv(16)
        except OSError as err:
            raise TaskError(f"key handshake with the driver failed: {err}") from None
    if answer != b"ok":
        raise TaskError(f"the driver did not accept this replica's key (answer "
                        f"{answer[:16]!r})")
    return key


def handshake_pair() -> tuple[socket.socket, socket.socket]:
    """A ``(driver_end, replica_end)`` SEQPACKET socket pair; the driver's end passes
    credentials, the replica's end is inheritable (for ``pass_fds``)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    theirs.set_inheritable(True)
    return ours, theirs


def accept_key(sock: socket.socket, pid: int, timeout: float, install) -> bytes:
    """Driver side: receive the key process ``pid`` offers on ``sock``, ``install(key)``
    it, then acknowledge (so the replica speaks only once its key is known); return it.

    Only a message whose kernel-stamped ``SCM_CREDENTIALS`` name ``pid`` counts; the socket
    is closed on return. Raises :class:`ProtocolError` 401 naming what was seen (timeout,
    end of stream, another pid, a key of the wrong length), or what ``install`` raised.
    """
    with sock:
        sock.settimeout(timeout)
        try:
            key, ancillary, _flags, _addr = sock.recvmsg(
                KEY_BYTES + 1, socket.CMSG_SPACE(_CREDS.size))
        except OSError as err:
            raise ProtocolError(f"no key from process {pid}: {err}", 401) from None
        sent_by = [_CREDS.unpack(data[:_CREDS.size])[0] for level, kind, data in ancillary
                   if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)]
        if sent_by != [pid] or len(key) != KEY_BYTES:
            raise ProtocolError(f"key handshake of process {pid}: got {len(key)} bytes "
                                f"from pid {sent_by or '?'}", 401)
        install(key)
        try:
            sock.sendall(b"ok")
        except OSError as err:
            raise ProtocolError(f"process {pid} left during its key handshake: {err}",
                                401) from None
    return key
