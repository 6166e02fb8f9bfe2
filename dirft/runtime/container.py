"""Several replicas in one map task of a replica job, each its own OS process.

With ``dirft.hadoop.replicas.per.map`` = k, a map task of a replica job gets k manifest
lines, replicas of k different tasks of the dirft job
(:func:`dirft.runners.locality.group_launches`). Its streaming mapper
(``python -m dirft.task --manifest-stdin``) then runs :func:`supervise`: it starts one
replica process per line and watches them; Hadoop sees one attempt. Rules:

* each replica runs as ``python -m dirft.task --manifest-stdin`` with its one line on
  stdin, in its own process group (its ``kill`` and ``hang`` faults strike it and its
  mapper only) and with SIGKILL as its parent-death signal (Linux ``prctl``): no replica
  outlives the attempt Hadoop ends;
* a replica's stdout (the records it emits into the shuffle when answered ``emit``) goes
  to a file in the task's working directory; once every replica has ended, the files of
  those that ended with status 0 are copied to stdout whole, one after the other, so
  records never interleave (a replica that fails while emitting has not counted its
  ``dirft-emit`` counter, so the runner sees that task's output missing);
* a replica's end never ends the others: a crash costs its own task one replica, as with
  one replica per map task. When a replica ends, each replica still running is told, on
  a Unix socket of its own (``$DIRFT_ENDED_FD``, lines ``task replica status``), names it
  in its next heartbeat (``ended``, :class:`EndedNeighbours`) and, once the driver has
  answered that heartbeat, acknowledges it (``task replica``): the driver has found the
  end by exit, promptly, while the attempt runs on;
* a replica that ended with a non-zero status and that no replica acknowledged (none was
  running, or none got to its next heartbeat) fails the attempt with that status once all
  have ended: Hadoop prints it FAILED, so its end is still found by exit (what the
  attempt emitted is discarded; the runner then commits another way);
* SIGTERM (Hadoop ending the attempt) is passed on as SIGKILL to every replica;
* the supervisor is a child subreaper (:func:`dirft.runtime.streaming_task.main` makes
  it one): what a replica's mapper detaches (``setsid``, double fork) is reparented to it
  if the replica dies first, and killed when the attempt ends.

Exit status: 0, or that replica's status (128 + N for one killed by signal N, as a shell
reports it).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from dirft.contract.manifest import ReplicaLine, to_line
from dirft.runtime.reaper import end_descendants
from dirft.service.messages import MAX_ENDED
from dirft.units import CHUNK

_PR_SET_PDEATHSIG = 1
ENDED_FD = "DIRFT_ENDED_FD"


@dataclass
class Child:
    """One replica process of the map task: its manifest line, process, stdout file and
    the supervisor's end of its socket of notices."""

    line: ReplicaLine
    proc: subprocess.Popen
    sink: object
    notices: socket.socket

    @property
    def name(self) -> str:
        """``task T replica R`` (pid P)."""
        return f"task {self.line.task} replica {self.line.replica} (pid {self.proc.pid})"


def supervise(lines: list, command: list, out=None) -> int:
    """Run one replica process per :class:`ReplicaLine` of ``lines`` with ``command`` (its
    line on stdin) and apply the module's rules; return the exit status. ``out``: where
    emitted records go (binary; default stdout). Raises OSError if a process cannot start
    (the attempt fails: exit 1 in :mod:`dirft.runtime.streaming_task`)."""
    out = out or sys.stdout.buffer
    children: list = []
    signal.signal(signal.SIGTERM, lambda *_: (_end(children), os._exit(143)))
    for line in lines:
        children.append(_start(line, command))
    failures = _wait(children)
    acknowledged = set().union(*(_acks(child.notices) for child in children))
    code = next((c for key, c in failures if key not in acknowledged), 0)
    for child in children:
        if child.proc.returncode == 0:
            child.sink.seek(0)
            shutil.copyfileobj(child.sink, out, CHUNK)
        child.sink.close()
    out.flush()
    return code


def _start(line: ReplicaLine, command: list) -> Child:
    sink = tempfile.TemporaryFile(prefix="dirft-replica-", dir=".")
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=sink,
                                process_group=0, preexec_fn=_die_with_parent,
                                pass_fds=(theirs.fileno(),),
                                env={**os.environ, ENDED_FD: str(theirs.fileno())})
    finally:
        theirs.close()
    child = Child(line, proc, sink, ours)
    try:
        proc.stdin.write((to_line(line) + "\n").encode())
        proc.stdin.close()
    except BrokenPipeError:  # it ended before reading its line: _wait reports its status
        pass
    return child


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the supervisor dies (Linux; no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _wait(children: list) -> list:
    """Reap the replicas as they end, telling those still running (module doc); return
    ``((task, replica), exit status)`` of each that failed (128 + N for signal N)."""
    running = {c.proc.pid: c for c in children}
    failed = []
    while running:
        pid, status = os.wait()
        child = running.pop(pid, None)
        if child is None:
            continue
        child.proc.returncode = code = os.waitstatus_to_exitcode(status)
        told = [o for o in running.values() if _tell(o, child, code)]
        if code != 0:
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            whom = ", ".join(o.name for o in told) or "nobody"
            print(f"dirft: {child.name} ended ({how}); told {whom} (if no replica "
                  f"acknowledges it, this map attempt fails, so Hadoop reports it)",
                  file=sys.stderr, flush=True)
            failed.append(((child.line.task, child.line.replica),
                           code if code > 0 else 128 - code))
    return failed


def _tell(other: Child, child: Child, code: int) -> bool:
    """Send ``task replica status`` of ``child`` to ``other``; False if it is gone."""
    try:
        other.notices.sendall(f"{child.line.task} {child.line.replica} {code}\n".encode())
        return True
    except OSError:  # it ended (its socket is closed) and is about to be reaped
        return False


def _acks(notices: socket.socket) -> set:
    """``(task, replica)`` of every end the child acknowledged (all its writes are in the
    socket's buffer once it has ended); closes the socket."""
    notices.setblocking(False)
    data = b""
    try:
        while chunk := notices.recv(65536):
            data += chunk
    except OSError:  # nothing more
        pass
    notices.close()
    return {tuple(int(x) for x in ack.split()) for ack in data.split(b"\n") if ack.strip()}


class EndedNeighbours:
    """The replica's side of the notices (module doc): what it names in its heartbeats.

    ``fd``: its socket (``$DIRFT_ENDED_FD``). :meth:`poll` returns the ``[task, replica,
    status]`` read so far and not yet sent (at most ``MAX_ENDED``); :meth:`sent` drops those a
    heartbeat delivered and acknowledges them to the supervisor. Never blocks.
    """

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd, self.buffer, self.pending = fd, b"", []
        self.lock = threading.Lock()  # the heartbeat thread and the last flush

    @classmethod
    def from_env(cls, env=os.environ):
        """The notices of this process's supervisor, or None without one."""
        fd = env.get(ENDED_FD)
        return cls(int(fd)) if fd and fd.isdigit() else None

    def poll(self) -> list:
        """Unsent ``[task, replica, status]`` entries, oldest first, at most
        :data:`~dirft.service.messages.MAX_ENDED` (what one heartbeat may carry)."""
        with self.lock:
            try:
                while chunk := os.read(self.fd, 4096):
                    self.buffer += chunk
            except OSError:  # nothing more to read now (non-blocking)
                pass
            *lines, self.buffer = self.buffer.split(b"\n")
            self.pending += [[int(x) for x in line.split()] for line in lines if line.strip()]
            return self.pending[:MAX_ENDED]

    def sent(self, entries: list) -> None:
        """``entries`` (a :meth:`poll` result) reached the driver."""
        with self.lock:
            del self.pending[:len(entries)]
            try:
                os.write(self.fd, b"".join(f"{t} {r}\n".encode() for t, r, _ in entries))
            except OSError:  # the supervisor is gone: so is this process, soon
                pass


def _end(children: list) -> None:
    """SIGKILL each child's process group (the replica and its mapper), then every process
    left under this supervisor (a child subreaper: what the mappers detached was
    reparented here, :mod:`dirft.runtime.reaper`)."""
    for child in children:
        if child.proc.returncode is None:
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    end_descendants()
