"""The local runner's fork server: replicas undumpable from their first instruction (issue 22).

A replica that starts with ``execve`` is dumpable until it locks itself, and any process of
the same user may open its ``/proc/<pid>/mem`` in that window; the kernel checks access at
``open``, so the descriptor keeps reading after the lock. So the local runner starts one fork
server per job (``python -m dirft.task --fork-server FD --spec JOB.json``), before any
mapper of the job runs. The server makes itself undumpable and a child subreaper
(:mod:`dirft.runtime.reaper`) before it reads a single request, imports the replica
runtime once, then forks (never execs) one process per replica it is asked for: each
replica inherits the server's undumpable memory from its first instruction, draws its key
only then, and hands it to the driver over its handshake socket
(:func:`dirft.service.keys.offer_key`). A replica's mappers are exec'd from it and start
dumpable, as they should: they hold no key, no key socket (closed) and no key bytes (exec
replaces the memory).

The messages between the driver (:class:`dirft.runners.forkserver.ForkServer`) and this
server are :mod:`dirft.contract.forks`'s.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import traceback

from dirft.contract.forks import MAX_MESSAGE, send
from dirft.runtime import reaper
from dirft.runtime.reaper import become_subreaper, end_descendants


class _Server:
    """The fork server's state: its control socket and the replicas it started."""

    def __init__(self, control: socket.socket, spec, run_replica) -> None:
        self.control, self.spec, self.run_replica = control, spec, run_replica
        self.replicas: dict[int, tuple[list, int]] = {}  # pid -> (tag, count pipe)
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        self.wake_w = wake_w
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)

    def serve(self) -> None:
        """Answer requests and reap replicas until the driver shuts its end."""
        while True:
            ready, _, _ = select.select([self.control, self.wake_r], [], [])
            if self.wake_r in ready:
                _drain(self.wake_r)
                self.reap(block=False)
            if self.control in ready and not self.request():
                break
        for pid in list(self.replicas):
            _kill_group(pid)
        self.reap(block=True)
        send(self.control, {"swept": end_descendants()})

    def request(self) -> bool:
        """Carry out one request; False when the driver has shut its end."""
        data, fds, _flags, _addr = socket.recv_fds(self.control, MAX_MESSAGE, 2)
        if not data:
            return False
        message = json.loads(data)
        tag = [message["task"], message["replica"], message["node"]]
        key_fd, log_fd = fds
        count_r, count_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._child(tag, key_fd, log_fd, count_w)
        for fd in (key_fd, log_fd, count_w):
            os.close(fd)
        self.replicas[pid] = (tag, count_r)
        send(self.control, {"started": tag, "pid": pid})
        return True

    def _child(self, tag: list, key_fd: int, log_fd: int, count_w: int) -> None:
        """In the forked replica: a session of its own, its log as stdout and stderr, no
        descriptor but its key socket; run the replica, end its descendants, exit."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            become_subreaper()
            null = os.open(os.devnull, os.O_RDONLY)
            for target, fd in ((0, null), (1, log_fd), (2, log_fd)):
                os.dup2(fd, target)
            _close_all_but({0, 1, 2, key_fd, count_w})
            reaper.report_to(count_w)
            code = self.run_replica(self.spec, tag[0], tag[1], tag[2], key_fd)
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else 1
        except BaseException:  # an unexpected error: its traceback goes to the replica's log
            traceback.print_exc()
        finally:
            try:
                end_descendants()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def reap(self, block: bool) -> None:
        """Reap ended replicas (all of them when ``block``), kill the descendants their
        death orphaned, and tell the driver."""
        while self.replicas:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            if pid == 0:
                return
            if pid not in self.replicas:
                continue  # an orphan killed by a sweep, reaped here
            tag, count_r = self.replicas.pop(pid)
            killed = _read_count(count_r) + end_descendants(keep=set(self.replicas))
            send(self.control, {"exited": tag, "pid": pid,
                                 "code": os.waitstatus_to_exitcode(status), "killed": killed})


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _read_count(fd: int) -> int:
    """The last running kill count a replica wrote on its pipe (0 if none)."""
    data = b""
    os.set_blocking(fd, False)  # all of it is there once the replica is reaped
    try:
        while chunk := os.read(fd, 4096):
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    lines = data.split()
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def _close_all_but(keep: set) -> None:
    """Close every open descriptor of this process but those in ``keep``."""
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in keep:
            try:
                os.close(int(name))
            except OSError:  # the directory's own descriptor, closed already
                pass


def _kill_group(pid: int) -> None:
    """SIGKILL replica ``pid``'s process group, and the replica itself (forked a moment
    ago, it may not lead its own session yet)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main(argv: list | None = None) -> int:
    """``python -m dirft.task --fork-server FD --spec JOB.json``: the local runner's fork
    server, which forks each replica and runs :func:`dirft.runtime.replica.run_forked` in
    it. The Hadoop runner's entry modes are :func:`dirft.runtime.streaming_task.main`'s
    (:mod:`dirft.task` picks one of the two). Returns the process exit status.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m dirft.task")
    parser.add_argument("--fork-server", type=int, required=True, metavar="FD")
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)
    return serve(args.fork_server, args.spec)


def serve(control_fd: int, spec_path: str) -> int:
    """The fork server's main (``python -m dirft.task --fork-server FD --spec JOB.json``):
    lock this process, say ready on socket ``control_fd``, serve until the driver shuts its
    end; return 0. A lock that fails is told to the driver (``locked`` false), which
    records it in the report."""
    from dirft.contract.spec import JobSpec
    from dirft.errors import TaskError
    from dirft.runtime.replica import run_forked
    from dirft.service.keys import lock_process

    control = socket.socket(fileno=control_fd)
    try:
        lock_process()
        locked = os.path.exists("/proc/self/status")
    except TaskError as err:
        print(f"dirft: fork server: {err}", file=sys.stderr)
        locked = False
    subreaper = become_subreaper()
    server = _Server(control, JobSpec.load(spec_path), run_forked)
    send(control, {"ready": os.getpid(), "locked": locked, "subreaper": subreaper})
    server.serve()
    return 0
