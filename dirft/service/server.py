"""The voting service: an authenticated HTTP shell in front of the driver's dispatcher.

DESIGN.md §4: "HTTP shell around the core for tasks on other hosts: requests become events,
actions become responses". This module knows nothing of voting. It runs an ``aiohttp.web``
server on its own asyncio loop in a daemon thread, accepts ``POST /v1/message``, and hands
each message that passed every check to ``dispatcher(message) -> dict``, called
synchronously in the loop thread (so the core is only ever entered from one thread).

Checks, in order (the first failing one answers, logs one WARNING line on logger
``dirft.service`` and counts in :attr:`VotingService.rejections`):

1. body larger than ``max_body_bytes`` (by Content-Length, or by actually reading at most
   ``max_body_bytes + 1`` bytes) -> 413;
2. ``X-Dirft-MAC`` missing or not the HMAC-SHA256 of the body under the job secret -> 401;
3. body not UTF-8 JSON object -> 400;
4. schema (:func:`dirft.service.messages.validate`) -> 400, 403 (other job) or 422;
5. sequence number not above the last accepted one of that (task, replica) -> 409;
6. the dispatcher raises :class:`~dirft.errors.ProtocolError` -> its status (4xx);
   a peer that vanishes mid-request (killed replica) -> one INFO line, nothing else;
   any other exception -> 500 with an ERROR log line and traceback; the service goes on.

A rejected message never reaches the dispatcher. Every response (200 or error) is compact
JSON and carries its own ``X-Dirft-MAC`` (HMAC of the response body), so replicas can
authenticate the driver's answers; errors are ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from aiohttp import ClientPayloadError, web

from dirft.errors import ProtocolError
from dirft.service import messages
from dirft.service.messages import MIN_SECRET_BYTES, ROUTE, check_secret  # noqa: F401 (API)

START_TIMEOUT_S = 10.0
"""Seconds :meth:`VotingService.start` waits for the server to listen."""

STOP_TIMEOUT_S = 10.0
"""Seconds :meth:`VotingService.stop` waits for the loop thread to end."""

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
    """Authenticating, validating HTTP front of the voting service (DESIGN.md §4).

    ``secret`` (bytes, >= 16) keys the HMAC; ``job_id`` (str) is the only job accepted;
    ``dispatcher(message: dict) -> dict`` receives validated messages in the loop thread
    and returns the response, or raises :class:`ProtocolError` to refuse with its status;
    ``host``/``port`` (0 = any free port) to listen on; ``max_body_bytes`` (bytes) caps a
    request body; ``logger`` defaults to ``logging.getLogger("dirft.service")``.
    Use :meth:`start`/:meth:`stop` or ``with VotingService(...) as service:``.
    """

    def __init__(self, secret: bytes, job_id: str,
                 dispatcher: Callable[[dict], dict], host: str = "127.0.0.1",
                 port: int = 0, max_body_bytes: int = 65536,
                 logger: logging.Logger | None = None) -> None:
        """Configure the service; nothing listens before :meth:`start`. Raises ValueError."""
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
        self._secret = check_secret(secret)
        self._job_id, self._dispatcher = job_id, dispatcher
        self._host, self._port, self._max_body = host, port, max_body_bytes
        self._log = logger or logging.getLogger("dirft.service")
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
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            host, port = runner.addresses[0][:2]
            self._url = f"http://{host}:{port}" if ":" not in host else \
                f"http://[{host}]:{port}"
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.Request) -> web.Response:
        """Answer one ``POST /v1/message``: check, dispatch, sign the response."""
        who = {"request": request, "task": None, "replica": None}  # peer looked up if logged
        try:
            message = await self._admit(request, who)
            answer = self._dispatcher(message)
            if not isinstance(answer, dict):
                raise TypeError(f"dispatcher returned {type(answer).__name__}, want dict")
            body = messages.encode(answer)
        except ProtocolError as err:
            return self._reject(who, err.status, str(err))
        except ConnectionResetError:  # a replica killed mid-request: nobody to answer
            self._log.info("connection from %s closed mid-request", _describe(who))
            return web.Response(status=400)
        except Exception as err:  # noqa: BLE001 - a dispatcher bug must not kill us
            return self._crash(who, err)
        with self._counts_lock:
            self._accepted += 1
        return self._respond(200, body)

    async def _admit(self, request: web.Request, who: dict) -> dict:
        """Run checks 1-5 of the module docstring; return the validated message."""
        body = await self._read_body(request)
        messages.check_mac(self._secret, body, request.headers.get(messages.MAC_HEADER))
        raw = messages.decode(body)
        who["task"], who["replica"] = raw.get("task"), raw.get("replica")
        message = messages.validate(raw, self._job_id)
        self._sequences.check_and_record(message["task"], message["replica"],
                                         message["seq"])
        return message

    async def _read_body(self, request: web.Request) -> bytes:
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
        self._log.warning("rejected %d from %s: %s", status, _describe(who), line)
        return self._refuse(status, line)

    def _crash(self, who: dict, err: BaseException) -> web.Response:
        """Log the dispatcher's (or our) unexpected exception; answer 500."""
        self._log.error("internal error answering %s: %s: %s", _describe(who),
                        type(err).__name__, _one_line(str(err)), exc_info=err)
        return self._refuse(500, f"internal error in the voting service: "
                                 f"{type(err).__name__}")

    def _refuse(self, status: int, line: str) -> web.Response:
        """Count a refusal by ``status`` and build its signed JSON error response."""
        with self._counts_lock:
            self._rejections[status] = self._rejections.get(status, 0) + 1
        return self._respond(status, messages.encode({"error": line}))

    def _respond(self, status: int, body: bytes) -> web.Response:
        """Build a JSON response whose ``X-Dirft-MAC`` header signs ``body``."""
        return web.Response(status=status, body=body, content_type="application/json",
                            headers={messages.MAC_HEADER: messages.mac(self._secret, body)})
