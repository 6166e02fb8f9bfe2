"""Several replicas in one map task of a replica job, each its own OS process.

With ``dirft.hadoop.replicas.per.map`` = k, a map task of a replica job gets k manifest
lines, replicas of k different tasks of the dirft job
(:func:`dirft.runners.locality.group_launches`). Its streaming mapper
(``python -m dirft.task --manifest-stdin``) then runs :func:`supervise`: it starts one
replica process per line and watches them; Hadoop sees one attempt. Rules:

* each replica is a process forked from the supervisor, which runs what ``python -m
  dirft.task --manifest-stdin`` given its one line runs (the supervisor has imported the
  runtime already: a fresh interpreter per replica cost about 0.3 CPU-s of imports, two
  per map task, on nodes whose cores the map tasks share), or (``command``) that program
  itself with its line on stdin; either way in its own process group (its ``kill`` and
  ``hang`` faults strike it and its mapper only), stdin ``/dev/null`` when forked, and
  with SIGKILL as its parent-death signal (Linux ``prctl``): no replica outlives the
  attempt Hadoop ends;
* a replica's stdout (the records it emits into the shuffle when answered ``emit``) goes
  to a file in the task's working directory; once every replica has ended, the files of
  those that ended with status 0 are copied to stdout whole, one after the other, so
  records never interleave (a replica that fails while emitting has not counted its
  ``dirft-emit`` counter, so the runner sees that task's output missing);
* a replica's end never ends the others: a crash costs its own task one replica, as with
  one replica per map task. When a replica ends, each replica still running is told, on
  a Unix socket of its own (``$DIRFT_ENDED_FD``, lines ``task replica status``), names it
  in its next heartbeat (``ended``, :class:`~dirft.runtime.neighbours.EndedNeighbours`)
  and, once the driver has answered that heartbeat, acknowledges it (``task replica``):
  the driver has found the end by exit, promptly, while the attempt runs on;
* **finished replicas linger**: a replica whose work is over (answered ``exit``, or done
  emitting) says ``idle`` and keeps its process, still heartbeating, until the supervisor
  answers ``go``: once every other replica of the map task has ended or is idle too. So
  while any replica of the attempt lives, one is there to acknowledge an end, and a
  neighbour's crash or hang never fails the attempt (nor discards what it emitted);
* **watchdog** (:class:`Watchdog`): a replica says ``beat`` once registered with the
  voting service and at every heartbeat it sends; one silent for longer than
  ``dirft.heartbeat.timeout`` + 2 ``dirft.heartbeat.interval`` (until its first word:
  ``dirft.startup.timeout`` + 2 intervals, as the driver's clock) is SIGKILLed with its
  process group (a hung replica, stopped by its ``hang`` fault included). By then it has
  missed its heartbeats to the driver too, which holds it dead; its end is then told to
  the others like any end;
* **ends asked by the driver**: a heartbeat's answer may name (``end``) replicas of this
  map task that the driver holds dead (a hung one found by ``dirft.stall.timeout`` once
  its task was decided, :mod:`dirft.core.stall`); the replica passes them on (``end task
  replica``) and the supervisor SIGKILLs their process groups at once, without waiting for
  the watchdog's limit; their ends are then told like any end;
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
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from dirft.config.values import read_value
from dirft.contract.manifest import ReplicaLine, to_line
from dirft.runtime.neighbours import BEAT, END, ENDED_FD, GO, IDLE
from dirft.runtime.reaper import end_descendants
from dirft.units import CHUNK

_PR_SET_PDEATHSIG = 1
_CHECK_EVERY = 1.0  # seconds: the watchdog looks at least this often


@dataclass
class Forked:
    """A replica process forked by the supervisor: its pid and, once reaped, its exit
    status (what :class:`subprocess.Popen` gives of an executed one)."""

    pid: int
    returncode: int | None = None


@dataclass
class Child:
    """One replica process of the map task: its manifest line, process, stdout file, the
    supervisor's end of its socket of notices, and what the supervisor heard on it
    (``heard``: clock reading of its last word, or of its start; ``spoke``: it said
    anything; ``idle``: its work is over, it lingers; ``acks``: ``(task, replica)`` of the
    ends it acknowledged; ``ends``: ``(task, replica)`` the driver asked it to have ended)."""

    line: ReplicaLine
    proc: object  # a subprocess.Popen, or a Forked
    sink: object
    notices: socket.socket
    heard: float = 0.0
    spoke: bool = False
    idle: bool = False
    released: bool = False
    killed: bool = False
    acks: set = field(default_factory=set)
    ends: set = field(default_factory=set)
    buffer: bytes = b""

    @property
    def name(self) -> str:
        """``task T replica R`` (pid P)."""
        return f"task {self.line.task} replica {self.line.replica} (pid {self.proc.pid})"

    def hear(self, now: float) -> bool:
        """Read what the replica wrote so far (never blocks): ``beat``, ``idle``,
        acknowledgements ``task replica`` and ``end task replica``, each a line; ``now``:
        the clock's reading.
        Returns False once its end of the socket is closed (nothing more will come)."""
        open_ = True
        try:
            while chunk := self.notices.recv(65536):
                self.buffer += chunk
            open_ = False
        except OSError:  # nothing more to read now (non-blocking), or the socket is gone
            pass
        *lines, self.buffer = self.buffer.split(b"\n")
        for word in filter(None, (line.strip() for line in lines)):
            self.heard, self.spoke = now, True
            if word == IDLE:
                self.idle = True
            elif word != BEAT:
                fields = word.split()
                if len(fields) == 2:
                    self.acks.add((int(fields[0]), int(fields[1])))
                elif len(fields) == 3 and fields[0] == END:
                    self.ends.add((int(fields[1]), int(fields[2])))
        return open_


@dataclass(frozen=True)
class Watchdog:
    """When the supervisor SIGKILLs a silent replica: ``limit`` seconds after its last
    word, or ``startup`` seconds after its start while it has said nothing; ``clock``:
    seconds, monotonic (tests inject one)."""

    limit: float
    startup: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of_job(cls, jobconf: dict, interval: float) -> "Watchdog":
        """The limits of a job: ``dirft.heartbeat.timeout`` and ``dirft.startup.timeout``
        (from ``jobconf``), each + 2 heartbeat ``interval`` s (module doc)."""
        return cls(read_value(jobconf, "dirft.heartbeat.timeout") + 2 * interval,
                   read_value(jobconf, "dirft.startup.timeout") + 2 * interval)

    def deadline(self, child: Child) -> float:
        """The clock reading after which ``child`` is silent too long."""
        return child.heard + (self.limit if child.spoke else self.startup)


def supervise(lines: list, command: list | None = None, out=None,
              watchdog: Watchdog | None = None, run=None) -> int:
    """Run one replica process per :class:`ReplicaLine` of ``lines`` and apply the module's
    rules; return the exit status. Each process is forked and calls ``run(line)`` (returns
    its exit status), or, with ``run`` None, executes ``command`` with its line on stdin.
    ``out``: where emitted records go (binary; default stdout); ``watchdog``: None kills
    no silent replica. Raises OSError if a process cannot start (the attempt fails: exit 1
    in :mod:`dirft.runtime.streaming_task`)."""
    out = out or sys.stdout.buffer
    clock = watchdog.clock if watchdog is not None else time.monotonic
    children: list = []
    signal.signal(signal.SIGTERM, lambda *_: (_end(children), os._exit(143)))
    for line in lines:
        children.append(_fork(line, run, children, clock()) if run is not None
                        else _start(line, command, clock()))
    failures = _watch(children, watchdog, clock)
    acknowledged = set().union(*(child.acks for child in children))
    code = next((c for key, c in failures if key not in acknowledged), 0)
    for child in children:
        child.notices.close()
        if child.proc.returncode == 0:
            child.sink.seek(0)
            shutil.copyfileobj(child.sink, out, CHUNK)
        child.sink.close()
    out.flush()
    return code


def _start(line: ReplicaLine, command: list, now: float) -> Child:
    sink = tempfile.TemporaryFile(prefix="dirft-replica-", dir=".")
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=sink,
                                process_group=0, preexec_fn=_die_with_parent,
                                pass_fds=(theirs.fileno(),),
                                env={**os.environ, ENDED_FD: str(theirs.fileno())})
    finally:
        theirs.close()
    ours.setblocking(False)
    child = Child(line, proc, sink, ours, heard=now)
    try:
        proc.stdin.write((to_line(line) + "\n").encode())
        proc.stdin.close()
    except BrokenPipeError:  # it ended before reading its line: _watch reports its status
        pass
    return child


def _fork(line: ReplicaLine, run, earlier: list, now: float) -> Child:
    """Fork a replica that calls ``run(line)`` (module doc); ``earlier``: the children
    started before, whose supervisor-side files the new process closes."""
    sink = tempfile.TemporaryFile(prefix="dirft-replica-", dir=".")
    ours, theirs = socket.socketpair()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered here may be written twice
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the replica: never returns
        _forked_replica(line, run, sink, theirs.fileno(),
                        [ours] + [f for c in earlier for f in (c.sink, c.notices)], parent)
    _own_group(pid)  # here too: a kill of its group right after the fork must find it
    theirs.close()
    ours.setblocking(False)
    return Child(line, Forked(pid), sink, ours, heard=now)


def _own_group(pid: int) -> None:
    """Make ``pid`` (a forked replica) lead its own process group, as both the supervisor
    and the replica do right after the fork (whichever runs first, no ``killpg`` of it
    can come before); a replica already gone or grouped is left as it is."""
    try:
        os.setpgid(pid, pid)
    except OSError:  # it ended already, or is its group's leader already
        pass


def _forked_replica(line: ReplicaLine, run, sink, notices: int, close: list,
                    parent: int) -> None:
    """In a forked replica: SIGTERM's default action (not the supervisor's handler), its
    own process group, the parent-death signal (and an end at once if the supervisor
    ``parent`` died before it was set), the supervisor's files ``close`` closed, stdin
    from ``/dev/null``, stdout to the file ``sink``, ``$DIRFT_ENDED_FD`` = ``notices``;
    run, then end the process with ``run``'s status (1 if it raised: the traceback goes to
    stderr)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _own_group(0)
        _die_with_parent()
        if os.getppid() != parent:
            os._exit(1)  # the supervisor is gone: so is the attempt
        for f in close:
            f.close()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(sink.fileno(), 1)
        os.close(null)
        sink.close()
        os.environ[ENDED_FD] = str(notices)
        code = run(line)
        code = code if isinstance(code, int) else 1
    except BaseException:  # noqa: BLE001 - the replica's end, never the supervisor's code
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the supervisor dies (Linux; no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(children: list, watchdog: Watchdog | None, clock) -> list:
    """Listen to the replicas and reap them as they end (each end told to those still
    running), kill the silent ones, let the idle ones go (module doc); return
    ``((task, replica), exit status)`` of each that failed (128 + N for signal N)."""
    running, failed = list(children), []
    with selectors.DefaultSelector() as selector:
        for child in children:
            selector.register(child.notices, selectors.EVENT_READ, child)
            selector.register(os.pidfd_open(child.proc.pid), selectors.EVENT_READ, child)
        while running:
            for key, _ in selector.select(_timeout(running, watchdog, clock())):
                child = key.data
                if key.fileobj is child.notices:
                    if not child.hear(clock()):
                        selector.unregister(child.notices)
                    continue
                selector.unregister(key.fileobj)
                os.close(key.fd)
                running.remove(child)
                failed += _reap(child, running, clock())
            _kill_silent(running, watchdog, clock())
            _kill_asked(running, children)
            _release(running)
    return failed


def _timeout(running: list, watchdog: Watchdog | None, now: float) -> float | None:
    """Seconds until the watchdog must look again (None without one)."""
    if watchdog is None:
        return None
    deadlines = [watchdog.deadline(c) - now for c in running if not c.killed]
    return max(0.0, min(deadlines + [_CHECK_EVERY]))


def _reap(child: Child, running: list, now: float) -> list:
    """Collect the ended ``child``'s status and its last words, tell ``running`` of its
    end; return ``[((task, replica), status)]`` if it failed, else []."""
    _, status = os.waitpid(child.proc.pid, 0)
    child.hear(now)
    child.proc.returncode = code = os.waitstatus_to_exitcode(status)
    told = [o for o in running if _say(o, f"{child.line.task} {child.line.replica} {code}")]
    if code == 0:
        return []
    how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    whom = ", ".join(o.name for o in told) or "nobody"
    print(f"dirft: {child.name} ended ({how}); told {whom} (if no replica "
          f"acknowledges it, this map attempt fails, so Hadoop reports it)",
          file=sys.stderr, flush=True)
    return [((child.line.task, child.line.replica), code if code > 0 else 128 - code)]


def _kill_silent(running: list, watchdog: Watchdog | None, now: float) -> None:
    """SIGKILL the process group of each replica silent past its deadline (once)."""
    for child in running:
        if watchdog is None or child.killed or now <= watchdog.deadline(child):
            continue
        _kill(child, f"{child.name} said nothing for {now - child.heard:.1f} s (limit "
              f"{watchdog.limit if child.spoke else watchdog.startup:.1f} s: the heartbeat "
              f"or startup timeout + 2 heartbeats)")


def _kill_asked(running: list, children: list) -> None:
    """SIGKILL the process group of each running replica that the driver asked, through a
    neighbour's heartbeat, to have ended (once)."""
    asked = set().union(*(child.ends for child in children))
    for child in running:
        if child.killed or (child.line.task, child.line.replica) not in asked:
            continue
        _kill(child, f"the driver holds {child.name} dead")


def _kill(child: Child, why: str) -> None:
    """SIGKILL ``child``'s process group (the replica and its mapper), saying ``why``."""
    child.killed = True
    print(f"dirft: {why}; killing it and its mapper", file=sys.stderr, flush=True)
    try:
        os.killpg(child.proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended meanwhile: its pidfd says so
        pass


def _release(running: list) -> None:
    """Tell the idle replicas they may go once every replica still running is idle."""
    if running and all(child.idle for child in running):
        for child in running:
            if not child.released:
                child.released = _say(child, GO.decode())


def _say(other: Child, line: str) -> bool:
    """Send ``line`` to ``other``; False if it is gone."""
    try:
        other.notices.sendall(f"{line}\n".encode())
        return True
    except OSError:  # it ended (its socket is closed) and is about to be reaped
        return False


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
