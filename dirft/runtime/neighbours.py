"""The replica's side of its map task's supervisor (:mod:`dirft.runtime.container`).

A replica run by a supervisor gets a Unix socket of its own (``$DIRFT_ENDED_FD``). The
supervisor writes lines ``task replica status`` (a neighbour ended) and ``go`` (its
lingering may end); the replica writes ``beat`` (a heartbeat went out), ``idle`` (its work
is over), ``task replica`` (an end its heartbeat delivered to the driver) and ``end task
replica`` (the driver holds that neighbour dead: end it). The rules are the container
module's.
"""

from __future__ import annotations

import os
import select
import threading

from dirft.service.messages import MAX_ENDED

ENDED_FD = "DIRFT_ENDED_FD"
GO, BEAT, IDLE, END = b"go", b"beat", b"idle", b"end"  # the words besides ends and acks


class EndedNeighbours:
    """The replica's side of its supervisor's socket (module doc).

    ``fd``: the socket (``$DIRFT_ENDED_FD``). :meth:`poll` returns the ``[task, replica,
    status]`` read so far and not yet sent (at most ``MAX_ENDED``); :meth:`sent` drops those
    a heartbeat delivered and acknowledges them to the supervisor; :meth:`beat` says a
    heartbeat goes out; :meth:`linger` waits, idle, until the supervisor says ``go``.
    Never blocks but in :meth:`linger`.
    """

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd, self.buffer, self.pending = fd, b"", []
        self.lock = threading.Lock()  # the heartbeat thread and the main thread
        self.released = threading.Event()
        self.lingering = False

    @classmethod
    def from_env(cls, env=os.environ):
        """The notices of this process's supervisor, or None without one."""
        fd = env.get(ENDED_FD)
        return cls(int(fd)) if fd and fd.isdigit() else None

    def poll(self) -> list:
        """Unsent ``[task, replica, status]`` entries, oldest first, at most
        :data:`~dirft.service.messages.MAX_ENDED` (what one heartbeat may carry). A ``go``
        read, or the supervisor's end of the socket closed, releases :meth:`linger`."""
        with self.lock:
            self._read()
            *lines, self.buffer = self.buffer.split(b"\n")
            for word in filter(None, (line.strip() for line in lines)):
                if word == GO:
                    self.released.set()
                else:
                    self.pending.append([int(x) for x in word.split()])
            return self.pending[:MAX_ENDED]

    def _read(self) -> None:
        try:
            while chunk := os.read(self.fd, 4096):
                self.buffer += chunk
            self.released.set()  # end of file: the supervisor is gone
        except BlockingIOError:  # nothing more to read now
            pass
        except OSError:  # the socket is gone
            self.released.set()

    def sent(self, entries: list) -> None:
        """``entries`` (a :meth:`poll` result) reached the driver."""
        with self.lock:
            del self.pending[:len(entries)]
        self._say(b"".join(f"{t} {r}\n".encode() for t, r, _ in entries))

    def beat(self) -> None:
        """A heartbeat goes out to the driver: tell the supervisor's watchdog."""
        self._say(BEAT + b"\n")

    def ask_end(self, entries: list) -> None:
        """The driver holds ``entries`` (``[task, replica]`` of this map task) dead: ask
        the supervisor to end them."""
        self._say(b"".join(f"end {int(t)} {int(r)}\n".encode() for t, r in entries))

    def linger(self, wait: float) -> None:
        """This replica's work is over: say ``idle``, then read notices (for the heartbeats
        to name) until :meth:`poll` is released, looking at least every ``wait`` s."""
        self.lingering = True
        self._say(IDLE + b"\n")
        while not self.released.is_set():
            select.select([self.fd], [], [], wait)
            self.poll()

    def _say(self, data: bytes) -> None:
        with self.lock:
            try:
                os.write(self.fd, data)
            except OSError:  # the supervisor is gone: so is this process, soon
                pass
