"""The replica's side of the voting service: signed, sequenced, retried calls.

docs/design.md, 'Voting service': messages carry an HMAC-SHA256 under this replica's own key
(:mod:`dirft.service.keys`; the sender is named in ``X-Dirft-Replica``) and carry a
sequence number against replay. With an ``enrollment`` secret (Hadoop) the ``register``
message offers the key and is MAC'd under that secret instead, as is a ``reemit`` (whose
key only signs its answer). One :class:`VotingClient` per replica process; its
heartbeat thread and its main thread share it, so :meth:`VotingClient.call` holds a lock
from numbering a message until its answer is in: sequence numbers reach the service in
increasing order and no call sees another's answer.

Failures: a 4xx answer is the service refusing us and is never retried
(:class:`~dirft.errors.ProtocolError`, a :class:`~dirft.errors.RemoteFault`, with the
server's one-line error and ``status``). A connection error, timeout or 5xx is retried up
to ``retries`` times with a short exponential backoff, each retry under a *new* sequence
number (the service refuses a reused one). A response whose ``X-Dirft-MAC`` does not sign
its body is a :class:`~dirft.errors.RemoteFault` and is not retried: someone between us
and the driver is tampering. Because a timed-out message may have been processed, the
driver must tolerate seeing the same logical request twice under two seq numbers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from dirft.errors import ProtocolError, RemoteFault
from dirft.service import keys as K
from dirft.service import messages
from dirft.service.messages import ROUTE, check_secret  # not .server: tasks need no aiohttp

BACKOFF_FIRST_S = 0.05
"""Seconds slept before the first retry; doubles each retry."""

BACKOFF_MAX_S = 1.0
"""Longest single backoff sleep, in seconds."""


class _Transient(RemoteFault):
    """A failure worth retrying: connection error, timeout, 5xx (internal to this module)."""


class VotingClient:
    """Synchronous client of :class:`~dirft.service.server.VotingService` for one replica.

    ``url`` is the service's base URL (as :meth:`VotingService.start` returns it),
    ``key`` this replica's HMAC key (bytes, >= 16), ``job_id``/``task``/``replica`` this
    replica's identity as the driver issued it, ``timeout`` seconds per HTTP attempt,
    ``retries`` extra attempts after a transient failure, ``enrollment`` the job's
    enrollment secret (bytes, Hadoop) under which ``register`` offers ``key``. Uses one keep-alive
    ``requests.Session`` that ignores proxy environment variables and ``.netrc``, and one
    request prepared up front (each call copies it with its own body and MAC);
    :meth:`close` it, or use ``with VotingClient(...) as client``.
    """

    def __init__(self, url: str, key: bytes, job_id: str, task: int, replica: int,
                 timeout: float = 10.0, retries: int = 3,
                 enrollment: bytes | None = None) -> None:
        """Prepare the client; no connection is made yet. Raises ValueError on bad args."""
        if retries < 0 or timeout <= 0:
            raise ValueError(f"need retries >= 0 and timeout > 0, got {retries}, {timeout}")
        self._endpoint = url.rstrip("/") + ROUTE
        self._secret = check_secret(key)
        self._enrollment = None if enrollment is None else check_secret(enrollment)
        self._job_id, self._task, self._replica = job_id, task, replica
        self._timeout, self._retries = timeout, retries
        self._session = requests.Session()
        # The driver is on the cluster's own network: ignore *_PROXY variables and
        # .netrc, which would also cost ~30% of each call to re-read the environment.
        self._session.trust_env = False
        # Every call is a POST to the same URL with the same session headers: prepare it
        # once and per call only copy it and set the body and its MAC. Preparing (URL
        # parsing, header and cookie merging) was a quarter of the client's CPU per call.
        self._template = self._session.prepare_request(requests.Request(
            "POST", self._endpoint, headers={"Content-Type": "application/json",
                                             K.IDENTITY_HEADER: K.sender(task, replica)}))
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def seq(self) -> int:
        """The last sequence number used (0 before the first call)."""
        return self._seq

    def call(self, kind: str, **fields: Any) -> dict:
        """Send a ``kind`` message with ``fields``; return the driver's decoded answer.

        Thread-safe and serialised. Raises :class:`ProtocolError` (status 4xx, the
        server's error line; also raised locally, before sending, for a message the
        schema refuses), or :class:`RemoteFault` for an unauthenticated or undecodable
        answer or after ``retries`` retries of connection errors, timeouts and 5xx.
        """
        with self._lock:
            failure: RemoteFault | None = None
            for attempt in range(self._retries + 1):
                if attempt:
                    time.sleep(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 1)))
                try:
                    return self._attempt(kind, fields)
                except _Transient as err:
                    failure = err
            raise RemoteFault(f"voting service at {self._endpoint} failed "
                              f"{self._retries + 1} times for {kind} of task "
                              f"{self._task} replica {self._replica}; last: {failure}")

    def _attempt(self, kind: str, fields: dict) -> dict:
        """Number, sign and POST one message; return the checked answer (lock held)."""
        clash = set(fields) & set(messages.COMMON_FIELDS)
        if clash:
            raise TypeError(f"call() fields may not set {sorted(clash)}: the client does")
        self._seq += 1
        signer = self._secret
        if kind in ("register", "reemit") and self._enrollment is not None:
            fields, signer = {**fields, "key": self._secret.hex()}, self._enrollment
        message = {**fields, "job": self._job_id, "task": self._task,
                   "replica": self._replica, "seq": self._seq, "kind": kind}
        messages.validate(message, self._job_id)
        body = messages.encode(message)
        request = self._template.copy()
        request.prepare_body(body, None)
        request.headers[messages.MAC_HEADER] = messages.mac(signer, body)
        try:
            response = self._session.send(request, timeout=self._timeout)
        except requests.RequestException as err:
            raise _Transient(f"{type(err).__name__}: {err}") from err
        return self._answer(kind, response)

    def _answer(self, kind: str, response: requests.Response) -> dict:
        """Turn an HTTP response into the answer dict or the right exception."""
        status = response.status_code
        if status >= 500:
            raise _Transient(f"HTTP {status}: {self._error_line(response)}")
        if 400 <= status <= 499:
            raise ProtocolError(f"voting service refused {kind} seq {self._seq} of task "
                                f"{self._task} replica {self._replica}: HTTP {status}: "
                                f"{self._error_line(response)}", status)
        if status != 200:
            raise RemoteFault(f"voting service answered HTTP {status} to {kind}")
        self._authenticate(response)
        try:
            return messages.decode(response.content)
        except ProtocolError as err:
            raise RemoteFault(f"voting service answer to {kind} is not a JSON object: "
                              f"{err}") from None

    def _authenticate(self, response: requests.Response) -> None:
        """Raise RemoteFault unless the response's ``X-Dirft-MAC`` signs its body."""
        try:
            messages.check_mac(self._secret, response.content,
                               response.headers.get(messages.MAC_HEADER))
        except ProtocolError as err:
            raise RemoteFault(f"unauthenticated answer from {self._endpoint} "
                              f"(HTTP {response.status_code}): {err}") from None

    def _error_line(self, response: requests.Response) -> str:
        """Return the server's ``error`` line if the body is a signed error, else a snippet."""
        try:
            self._authenticate(response)
            line = messages.decode(response.content).get("error")
        except RemoteFault:
            line = None
        if isinstance(line, str):
            return line
        snippet = " ".join(response.text[:200].split())
        return f"(unsigned answer) {snippet}" if snippet else "(unsigned, empty answer)"

    def close(self) -> None:
        """Close the keep-alive connections. Idempotent."""
        self._session.close()

    def __enter__(self) -> "VotingClient":
        """Return the client itself."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the client."""
        self.close()
