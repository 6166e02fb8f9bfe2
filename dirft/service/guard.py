"""Connection guard and log limits of the voting service (issue 12).

aiohttp's server has a keep-alive timeout but no deadline for a request's headers, no cap on
connections, and asyncio logs one traceback per failed ``accept`` at the file-descriptor
limit. This module adds, around aiohttp's protocol factory:

* a cap of ``max_connections`` open connections: a new one beyond it evicts the connection
  idle the longest (no request in progress), or is closed at once if every one is busy;
* a deadline: a connection must deliver a request's headers within ``timeout`` seconds of
  connecting or of its previous answer, else it is cut (slow headers, idle keep-alives);
  the body's deadline is the server's own ``asyncio.timeout`` around reading it;
* :class:`LogLimiter`: at most ``burst`` lines per ``window`` seconds per kind of line, the
  rest counted and summed up in one line when the window ends;
* :func:`quiet_exception_handler`: the loop's exception handler through the limiter (one
  line, no traceback, for ``accept`` failures at the fd limit and peers that vanish).

No I/O besides closing transports; the clock is ``loop.time``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, Callable


class LogLimiter:
    """Rate-limits log lines per ``kind``: ``burst`` per ``window`` seconds, then a summary.

    ``log(kind, level, fmt, *args)`` logs on ``logger`` unless the kind's budget for the
    current window is spent; the first line of a later window first reports how many were
    suppressed. ``clock`` returns seconds (monotonic). :attr:`suppressed` totals them.
    """

    def __init__(self, logger: logging.Logger, clock: Callable[[], float],
                 burst: int = 20, window: float = 10.0) -> None:
        """Raises ValueError for a burst below 1 or a window not above 0."""
        if burst < 1 or window <= 0:
            raise ValueError(f"need burst >= 1 and window > 0, got {burst}, {window}")
        self._log, self._clock, self._burst, self._window = logger, clock, burst, window
        self._windows: dict[str, list] = {}  # kind -> [window start, lines, suppressed]
        self.suppressed = 0

    def log(self, kind: str, level: int, fmt: str, *args: Any) -> None:
        """Log ``fmt % args`` at ``level`` if ``kind`` still has budget; else count it."""
        now = self._clock()
        slot = self._windows.setdefault(kind, [now, 0, 0])
        if now - slot[0] >= self._window:
            if slot[2]:
                self._log.warning("%d more %s line(s) suppressed in %.0f s", slot[2], kind,
                                  now - slot[0])
            slot[:] = [now, 0, 0]
        if slot[1] < self._burst:
            slot[1] += 1
            self._log.log(level, fmt, *args)
        else:
            slot[2] += 1
            self.suppressed += 1


class _Conn:
    """One guarded connection: its transport, whether a request is in progress, its timer."""

    __slots__ = ("transport", "busy", "timer")

    def __init__(self, transport) -> None:
        self.transport, self.busy, self.timer = transport, False, None


class _Guarded(asyncio.Protocol):
    """Delegates to aiohttp's protocol ``inner`` (which has ``__slots__``, so it cannot be
    patched), telling ``guard`` when a connection is made and lost."""

    def __init__(self, inner: asyncio.Protocol, guard: "ConnectionGuard") -> None:
        self._inner, self._guard, self._transport = inner, guard, None

    def connection_made(self, transport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)  # set up first: an abort then ends it cleanly
        self._guard._admit(transport)

    def connection_lost(self, exc) -> None:
        self._guard._forget(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ConnectionGuard:
    """Wraps aiohttp's protocol factory ``factory`` with a connection cap and a deadline.

    ``max_connections`` (>= 1) connections at most; ``timeout`` seconds (> 0) to deliver
    a request's headers; ``limiter`` logs cuts. Call :meth:`request_started` and
    :meth:`request_done` with the request's transport around each request. ``cut`` counts
    connections closed by the guard, by reason (``"cap"``, ``"evicted"``, ``"timeout"``).
    """

    def __init__(self, factory: Callable[[], asyncio.Protocol], max_connections: int,
                 timeout: float, limiter: LogLimiter) -> None:
        """Raises ValueError for a cap below 1 or a timeout not above 0."""
        if max_connections < 1 or timeout <= 0:
            raise ValueError(f"need max_connections >= 1 and timeout > 0, got "
                             f"{max_connections}, {timeout}")
        self._factory, self._cap, self._timeout = factory, max_connections, timeout
        self._limiter = limiter
        self._conns: OrderedDict[Any, _Conn] = OrderedDict()  # oldest idle first
        self.cut = {"cap": 0, "evicted": 0, "timeout": 0}

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._conns)

    def __call__(self) -> asyncio.Protocol:
        """A new aiohttp protocol whose connection events pass through the guard."""
        return _Guarded(self._factory(), self)

    def _admit(self, transport) -> None:
        if len(self._conns) >= self._cap and not self._evict_idle():
            self._cut(transport, "cap", "every one of %d connections is busy", self._cap)
            return
        conn = self._conns[transport] = _Conn(transport)
        self._arm(conn)

    def _forget(self, transport) -> None:
        conn = self._conns.pop(transport, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()

    def _evict_idle(self) -> bool:
        for conn in self._conns.values():
            if not conn.busy:
                self._drop(conn, "evicted", "idle the longest, to admit a new connection")
                return True
        return False

    def _arm(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        conn.timer = loop.call_later(self._timeout, self._expire, conn)

    def _expire(self, conn: _Conn) -> None:
        if not conn.busy and self._conns.get(conn.transport) is conn:
            self._drop(conn, "timeout", "no request headers within %.0f s", self._timeout)

    def _drop(self, conn: _Conn, reason: str, why: str, *args: Any) -> None:
        self._conns.pop(conn.transport, None)
        if conn.timer is not None:
            conn.timer.cancel()
        self._cut(conn.transport, reason, why, *args)

    def _cut(self, transport, reason: str, why: str, *args: Any) -> None:
        self.cut[reason] += 1
        peer = transport.get_extra_info("peername") or ("?",)
        self._limiter.log(f"connection-{reason}", logging.INFO,
                          "cut connection from %s: " + why, peer[0], *args)
        transport.abort()

    def request_started(self, transport) -> None:
        """A request's headers arrived on ``transport``: no deadline while it is handled."""
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy = True
            if conn.timer is not None:
                conn.timer.cancel()

    def request_done(self, transport) -> None:
        """The answer is on its way: the connection is idle again, its deadline re-armed,
        and it becomes the newest idle one (evicted last)."""
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy = False
            self._conns.move_to_end(transport)
            self._arm(conn)


def quiet_exception_handler(limiter: LogLimiter):
    """A loop exception handler: one rate-limited line per error, no traceback."""
    def handle(_loop, context: dict) -> None:
        err = context.get("exception")
        what = f"{type(err).__name__}: {err}" if err is not None else ""
        limiter.log("loop-error", logging.WARNING, "voting service: %s %s",
                    context.get("message", "error"), what)
    return handle
