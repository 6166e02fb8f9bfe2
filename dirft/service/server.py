"""The voting service: an authenticated HTTP shell in front of the driver's dispatcher.

docs/design.md, 'Voting service': the core's HTTP front for other hosts; requests become events,
actions become responses. This module knows nothing of voting. It runs an ``aiohttp.web``
server on its own asyncio loop in a daemon thread, accepts ``POST /v1/message``, and hands
each message that passed every check to ``dispatcher(message) -> dict``, called
synchronously in the loop thread (so the core is only ever entered from one thread).

Checks, in order (the first failing one answers, logs one WARNING line on logger
``dirft.service`` and counts in :attr:`VotingService.rejections`):

1. body larger than ``max_body_bytes`` (by Content-Length, or by actually reading at most
   ``max_body_bytes + 1`` bytes) -> 413;
2. ``X-Dirft-Replica`` (``<task>/<replica>``) missing, or ``X-Dirft-MAC`` missing or not
   the HMAC-SHA256 of the body under *that replica's* key (:mod:`dirft.service.keys`; on
   Hadoop a ``register`` may instead be MAC'd under the enrollment secret and carry the
   replica's new key) -> 401;
3. body not UTF-8 JSON object -> 400;
4. schema (:func:`dirft.service.messages.validate`) -> 400, 403 (other job) or 422;
   ``task``/``replica`` of the body not those of the header -> 401;
5. a second key or a second (attempt, host) for one identity -> 409, recorded in the
   keyring's ``conflicts``; a ``reemit`` (a re-run Hadoop map attempt asking what its lines
   emitted) not MAC'd under the enrollment secret -> 401; its attempt is checked as a
   ``register``'s is, its ``key`` signs only its answer and is never bound;
6. sequence number not above the last accepted one of that (task, replica) -> 409 (not for
   a ``reemit``: a read-only question from a process that has no key of the identity);
7. the dispatcher raises :class:`~dirft.errors.ProtocolError` -> its status (4xx);
   a peer that vanishes mid-request (killed replica) -> one INFO line, nothing else;
   any other exception -> 500 with an ERROR log line and traceback; the service goes on.

Around all this (:mod:`dirft.service.guard`): a connection must send a request's headers
within ``timeout`` seconds (of connecting, or of its previous answer) and its body within
``timeout`` more (else 408), at most ``max_connections`` are open (the one idle the longest
is evicted for a new one), and log lines are rate-limited per kind; asyncio's own errors
(``accept`` at the file-descriptor limit) are one rate-limited line, no traceback.

A rejected message never reaches the dispatcher. Every response is compact JSON; an
answer to an authenticated request (200 or error) carries its own ``X-Dirft-MAC`` under
the sender's key, so replicas can authenticate the driver's answers; a refusal before
authentication (413, 401) is unsigned, so nobody gets a MAC oracle. Errors are
``{"error": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import resource
import threading
import time
from typing import Any, Callable

from aiohttp import ClientPayloadError, web

from dirft.config.values import default_value
from dirft.errors import ProtocolError
from dirft.service import keys as K
from dirft.service import messages
from dirft.service.guard import ConnectionGuard, LogLimiter, quiet_exception_handler
from dirft.service.messages import ROUTE

START_TIMEOUT_S = 10.0
"""Seconds :meth:`VotingService.start` waits for the server to listen."""

STOP_TIMEOUT_S = 10.0
"""Seconds :meth:`VotingService.stop` waits for the loop thread to end."""

LISTEN_PROBE_S = 0.2
"""Seconds between two readings of the clock by the loop (:meth:`VotingService.heard_until`)."""

LISTEN_TURNS = 3
""":meth:`VotingService.heard_until` is the reading this many probes before the latest: a
message already in a socket at that time has been read, parsed and dispatched since (each
of those steps takes the loop one more turn)."""

def default_max_connections() -> int:
    """Half the soft open-files limit (the driver needs descriptors for its replicas too),
    between 16 and 4096."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    soft = 8192 if soft == resource.RLIM_INFINITY else soft
    return max(16, min(4096, soft // 2))


def _one_line(text: str, limit: int = 300) -> str:
    """Return ``text`` on one line, cut to ``limit`` chars, for logs and error bodies."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _describe(who: dict) -> str:
    """Return ``"<peer> task=<t> replica=<r>"`` for a log line; ``?`` where unknown.

    ``who`` holds the aiohttp ``request`` (its peer address is looked up only here, when
    something is logged) and the ``task`` and ``replica`` fields as received.

    Only ints are shown: a malformed id (any JSON value) never reaches the log.
    """
    ids = [f"{key}={who[key] if type(who[key]) is int else '?'}"
           for key in ("task", "replica")]
    return " ".join([str(who["request"].remote or "?"), *ids])


class VotingService:
    """Authenticating, validating HTTP front of the voting service (docs/design.md).

    ``keys``: the :class:`~dirft.service.keys.Keyring` of per-replica keys (bytes, >= 16:
    a master secret the keys derive from, for tests and benchmarks); ``job_id`` (str) is the
    only job accepted;
    ``dispatcher(message: dict) -> dict`` receives validated messages in the loop thread
    and returns the response, or raises :class:`ProtocolError` to refuse with its status;
    ``host``/``port`` (0 = any free port) to listen on; ``max_body_bytes`` (bytes) caps a
    request body (defaults: ``dirft.service.bind.*`` and ``dirft.service.max.body.bytes`` of
    :mod:`dirft.options`); ``logger`` defaults to ``logging.getLogger("dirft.service")``;
    ``timeout`` (seconds) bounds the wait for a request's headers (from connecting or from
    the previous answer) and for its body (:mod:`dirft.service.guard`; a slow body is a
    408); ``max_connections`` caps open connections (default
    :func:`default_max_connections`); ``clock``: seconds, monotonic, the driver's own (read
    by :meth:`heard_until`). Log lines are rate-limited per kind (20 per 10 s).
    Use :meth:`start`/:meth:`stop` or ``with VotingService(...) as service:``.
    """

    def __init__(self, keys: "K.Keyring | bytes", job_id: str,
                 dispatcher: Callable[[dict], dict],
                 host: str = default_value("dirft.service.bind.host"),
                 port: int = default_value("dirft.service.bind.port"),
                 max_body_bytes: int = default_value("dirft.service.max.body.bytes"),
                 logger: logging.Logger | None = None, timeout: float = 30.0,
                 max_connections: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Configure the service; nothing listens before :meth:`start`. Raises ValueError."""
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
        self.keys = keys if isinstance(keys, K.Keyring) else K.Keyring(master=keys)
        self._job_id, self._dispatcher = job_id, dispatcher
        self._host, self._port, self._max_body = host, port, max_body_bytes
        self._log = logger or logging.getLogger("dirft.service")
        self._timeout = timeout
        self._max_connections = max_connections or default_max_connections()
        self.limiter = LogLimiter(self._log, time.monotonic)
        self.guard: ConnectionGuard | None = None
        self._sequences = messages.SequenceTracker()
        self._counts_lock = threading.Lock()
        self._rejections: dict[int, int] = {}
        self._accepted = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._url: str | None = None
        self._clock = clock
        self._turns: collections.deque = collections.deque(maxlen=LISTEN_TURNS + 1)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start listening; return the base URL, e.g. ``http://127.0.0.1:40123``.

        Returns only once the socket listens (real port if 0 was asked). Raises
        ``RuntimeError`` if already started, or ``OSError`` (e.g. address in use) if the
        server could not bind.
        """
        if self._thread is not None:
            raise RuntimeError("VotingService.start() called twice")
        self._thread = threading.Thread(target=self._run, name="dirft-voting-service",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"voting service did not start within {START_TIMEOUT_S} s")
        if self._startup_error is not None:
            self._thread.join(STOP_TIMEOUT_S)
            raise self._startup_error
        return self._url

    def stop(self) -> None:
        """Stop the server, close its connections and join its thread. Idempotent.

        Called from the dispatcher (the loop thread) it only asks the loop to stop.
        """
        loop, event, thread = self._loop, self._stop_event, self._thread
        if thread is None or not thread.is_alive():
            return
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        if threading.current_thread() is not thread:  # the dispatcher may call stop()
            thread.join(STOP_TIMEOUT_S)

    def __enter__(self) -> "VotingService":
        """Start the service; return it (its URL is :attr:`url`)."""
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Stop the service."""
        self.stop()

    @property
    def url(self) -> str | None:
        """Base URL the service listens on, ``None`` before :meth:`start`."""
        return self._url

    def heard_until(self) -> float | None:
        """A ``clock`` reading (seconds) by which every message that had reached the
        service's socket has been dispatched: the loop reads the clock every
        :data:`LISTEN_PROBE_S`, and this is the reading :data:`LISTEN_TURNS` probes before
        the latest (the oldest kept until that many were taken). None before :meth:`start`.
        A driver process starved of CPU, or a loop held in its dispatcher, leaves it behind:
        the core counts a replica's silence only up to it
        (:class:`~dirft.core.events.ClockTicked`), so the driver's own stall is never taken
        for its replicas' deaths."""
        turns = self._turns
        return turns[0] if turns else None

    @property
    def rejections(self) -> dict[int, int]:
        """A copy of the count of refused requests by HTTP status (4xx and 500)."""
        with self._counts_lock:
            return dict(self._rejections)

    @property
    def accepted(self) -> int:
        """Number of messages the dispatcher answered with 200."""
        with self._counts_lock:
            return self._accepted

    # ------------------------------------------------------------------ loop thread

    def _run(self) -> None:
        """Thread body: run the server's loop until :meth:`stop`; report startup errors."""
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # noqa: BLE001 - handed to start(), never lost
            if self._ready.is_set():
                self._log.error("voting service loop ended with %r", err, exc_info=err)
            else:
                self._startup_error = err
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        """Bind, signal readiness, wait for the stop event, then clean up."""
        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=self._max_body + 1)
        app.router.add_post(ROUTE, self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        self._loop.set_exception_handler(quiet_exception_handler(self.limiter))
        self.guard = ConnectionGuard(runner.server, self._max_connections, self._timeout,
                                     self.limiter)
        server = None
        try:
            server = await self._loop.create_server(self.guard, self._host, self._port,
                                                    reuse_address=True)
            host, port = server.sockets[0].getsockname()[:2]
            self._url = f"http://{host}:{port}" if ":" not in host else \
                f"http://[{host}]:{port}"
            self._turns.append(self._clock())
            listen = asyncio.create_task(self._listen())
            self._ready.set()
            await self._stop_event.wait()
            listen.cancel()
        finally:
            if server is not None:
                server.close()
            await runner.cleanup()

    async def _listen(self) -> None:
        """Read the clock for :meth:`heard_until` at a turn of the loop every
        :data:`LISTEN_PROBE_S` seconds, until cancelled."""
        while True:
            self._turns.append(self._clock())
            await asyncio.sleep(LISTEN_PROBE_S)

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.Response:
        """Answer one ``POST /v1/message``: check, dispatch, sign the response."""
        who = {"request": request, "task": None, "replica": None,  # peer looked up if logged
               "key": None}  # the sender's key once authenticated: signs the answer
        self.guard.request_started(request.transport)
        try:
            return await self._answer(request, who)
        finally:
            self.guard.request_done(request.transport)

    async def _answer(self, request: web.Request, who: dict) -> web.Response:
        """Check, dispatch and sign the answer of one request."""
        try:
            message = await self._admit(request, who)
            answer = self._dispatcher(message)
            if not isinstance(answer, dict):
                raise TypeError(f"dispatcher returned {type(answer).__name__}, want dict")
            body = messages.encode(answer)
        except ProtocolError as err:
            return self._reject(who, err.status, str(err))
        except ConnectionResetError:  # a replica killed mid-request: nobody to answer
            self.limiter.log("closed-mid-request", logging.INFO,
                             "connection from %s closed mid-request", _describe(who))
            return web.Response(status=400)
        except Exception as err:  # noqa: BLE001 - a dispatcher bug must not kill us
            return self._crash(who, err)
        with self._counts_lock:
            self._accepted += 1
        return self._respond(200, body, who["key"])

    async def _admit(self, request: web.Request, who: dict) -> dict:
        """Run checks 1-6 of the module docstring; return the validated message."""
        body = await self._read_body(request)
        task, replica = K.identity(request.headers.get(K.IDENTITY_HEADER))
        who["task"], who["replica"] = task, replica
        enrolling = self._authenticate(body, request.headers.get(messages.MAC_HEADER),
                                       task, replica, who)
        message = messages.validate(messages.decode(body), self._job_id)
        if (message["task"], message["replica"]) != (task, replica):
            raise ProtocolError(f"body speaks for task {message['task']} replica "
                                f"{message['replica']}, {K.IDENTITY_HEADER} for {task}/"
                                f"{replica}", 401)
        if enrolling:
            await self._verify_claim(message, request.remote)
            self._enroll(message, who)
        elif message["kind"] == "reemit":
            raise ProtocolError("a reemit must be MAC'd under the enrollment secret", 401)
        elif message["kind"] == "register" and message["key"] is not None:
            raise ProtocolError("a key may only be offered under the enrollment secret",
                                422)
        if message["kind"] != "reemit":  # a read-only question: replaying it gains nothing
            self._sequences.check_and_record(task, replica, message["seq"])
        if message["kind"] == "register":
            self.keys.record(task, replica, message["attempt"], message["host"])
        return message

    def _authenticate(self, body: bytes, mac_hex: str | None, task: int, replica: int,
                      who: dict) -> bool:
        """Check the MAC under the replica's key (then ``who["key"]`` is set) or else the
        enrollment secret; return True for the latter. Raises ProtocolError 401."""
        key = self.keys.key(task, replica)
        try:
            if key is None:
                raise ProtocolError(f"no key for task {task} replica {replica}", 401)
            messages.check_mac(key, body, mac_hex)
            who["key"] = key
            return False
        except ProtocolError:
            if self.keys.enrollment is None:
                raise
            messages.check_mac(self.keys.enrollment, body, mac_hex)
            return True

    async def _verify_claim(self, message: dict, peer: str | None) -> None:
        """Ask the keyring's ``verify`` (in a worker thread: it may call the cluster) about
        the attempt a ``register`` under the enrollment secret claims; it raises
        ProtocolError (403) to refuse, before any key is bound."""
        if self.keys.verify is not None and message["kind"] in ("register", "reemit"):
            await asyncio.to_thread(self.keys.verify, message["attempt"], peer)

    def _enroll(self, message: dict, who: dict) -> None:
        """Install the key a ``register`` under the enrollment secret offers; a ``reemit``'s
        key only signs its answer (the identity keeps the key its replica enrolled)."""
        if message["kind"] == "reemit":
            who["key"] = bytes.fromhex(message["key"])
            return
        if message["kind"] != "register" or message["key"] is None:
            raise ProtocolError("only a register offering a key may use the enrollment "
                                "secret", 401)
        key = bytes.fromhex(message["key"])
        self.keys.install(message["task"], message["replica"], key)
        who["key"] = key

    async def _read_body(self, request: web.Request) -> bytes:
        """Return the body within ``timeout`` seconds; raise ProtocolError 408 if it is
        slower, 413 beyond the cap, 400 if cut short."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read_body_now(request)
        except TimeoutError:
            raise ProtocolError(f"body not received within {self._timeout:.0f} s",
                                408) from None

    async def _read_body_now(self, request: web.Request) -> bytes:
        """Return the body; raise ProtocolError 413 beyond the cap, 400 if cut short.

        A declared ``Content-Length`` within the cap is read in one go (the common case,
        one await instead of a loop); a chunked body is read by pieces, at most
        ``max_body_bytes + 1`` bytes in all.
        """
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            raise ProtocolError(f"body of {declared} bytes (Content-Length) exceeds "
                                f"{self._max_body} bytes", 413)
        if declared is not None:  # the parser delivers exactly that many bytes: one read
            try:
                return await request.content.readexactly(declared)
            except (ClientPayloadError, asyncio.IncompleteReadError) as err:
                raise ProtocolError(f"incomplete or malformed body: {err}", 400) from None
        chunks, size = [], 0
        while size <= self._max_body:
            try:
                chunk = await request.content.read(self._max_body + 1 - size)
            except ClientPayloadError as err:
                raise ProtocolError(f"incomplete or malformed body: {err}", 400) from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > self._max_body:
            raise ProtocolError(f"body exceeds {self._max_body} bytes", 413)
        return b"".join(chunks)

    def _reject(self, who: dict, status: int, reason: str) -> web.Response:
        """Log one WARNING line, count, and answer ``status`` with ``{"error": reason}``."""
        if not 400 <= status <= 499:
            return self._crash(who, ValueError(f"dispatcher raised ProtocolError with "
                                               f"status {status}: {reason}"))
        line = _one_line(reason)
        self.limiter.log(f"rejected-{status}", logging.WARNING, "rejected %d from %s: %s",
                         status, _describe(who), line)
        response = self._refuse(status, line, who["key"])
        if status in (408, 413):  # the rest of the body is not worth waiting for
            response.force_close()
        return response

    def _crash(self, who: dict, err: BaseException) -> web.Response:
        """Log the dispatcher's (or our) unexpected exception; answer 500."""
        self._log.error("internal error answering %s: %s: %s", _describe(who),
                        type(err).__name__, _one_line(str(err)), exc_info=err)
        return self._refuse(500, f"internal error in the voting service: "
                                 f"{type(err).__name__}", who["key"])

    def _refuse(self, status: int, line: str, key: bytes | None) -> web.Response:
        """Count a refusal by ``status`` and build its JSON error response (signed under
        ``key`` when the sender was authenticated)."""
        with self._counts_lock:
            self._rejections[status] = self._rejections.get(status, 0) + 1
        return self._respond(status, messages.encode({"error": line}), key)

    def _respond(self, status: int, body: bytes, key: bytes | None) -> web.Response:
        """Build a JSON response; its ``X-Dirft-MAC`` header signs ``body`` under ``key``
        (none when ``key`` is None: nothing authenticated the request)."""
        headers = {} if key is None else {messages.MAC_HEADER: messages.mac(key, body)}
        return web.Response(status=status, body=body, content_type="application/json",
                            headers=headers)
