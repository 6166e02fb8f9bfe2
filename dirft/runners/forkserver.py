"""The driver's side of the local runner's fork server (issue 22).

:class:`ForkServer` starts the server (:mod:`dirft.runtime.forkserver`: it forks every
replica of the job from an undumpable process, so no replica was ever dumpable) before any
replica, asks it for replicas and hears of their ends, over the protocol of
:mod:`dirft.contract.forks`; :func:`security_facts` says what the kernel lets a hostile
mapper do here, for the report's ``security`` section.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from queue import Empty, Queue

from dirft.contract.forks import MAX_MESSAGE, send
from dirft.errors import EnvironmentFault


class ForkServer:
    """The driver's handle on a fork server for the job spec at ``spec_path``.

    ``on_exit(task, replica, node, code)`` is called from a reader thread as each replica
    is reaped; ``on_lost()`` if the server ends without being asked to. :attr:`killed`
    counts the processes killed when attempts ended (the report's
    ``security.processes_killed``); :attr:`locked`/:attr:`subreaper` say whether the
    server's protections took. ``timeout``: seconds to wait for the server's answers.
    Raises :class:`EnvironmentFault` if the server does not start.
    """

    def __init__(self, spec_path: str, on_exit, on_lost=lambda: None,
                 python: str = sys.executable, timeout: float = 60.0,
                 stderr=None) -> None:
        self.on_exit, self.on_lost, self.timeout = on_exit, on_lost, timeout
        self.killed, self.closing = 0, False
        self._started: dict[tuple, Queue] = {}
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.proc = _start_server(python, theirs.fileno(), spec_path, stderr)
        self.control = ours
        ready = self._ready()
        self.pid, self.locked, self.subreaper = ready["ready"], ready["locked"], ready["subreaper"]
        self._reader = threading.Thread(target=self._read, name="dirft-forkserver",
                                        daemon=True)
        self._reader.start()

    def _ready(self) -> dict:
        self.control.settimeout(self.timeout)
        try:
            data = self.control.recv(MAX_MESSAGE)
        except OSError as err:
            data = str(err).encode()
        self.control.settimeout(None)
        if not data.startswith(b"{"):
            self.proc.kill()
            self.proc.wait()
            raise EnvironmentFault(f"the replicas' fork server did not start "
                                   f"({data.decode(errors='replace') or 'it exited'}); "
                                   f"check that {sys.executable} runs dirft")
        return json.loads(data)

    def spawn(self, task: int, replica: int, node: str, key_fd: int, log_fd: int) -> int:
        """Fork replica (``task``, ``replica``) on ``node`` with its handshake socket
        ``key_fd`` and log ``log_fd`` (both duplicated into it); return its pid. Raises
        :class:`EnvironmentFault` if the server is gone."""
        tag = (task, replica, node)
        answer: Queue = Queue(maxsize=1)
        with self._lock:
            self._started[tag] = answer
        try:
            send(self.control, {"task": task, "replica": replica, "node": node},
                  (key_fd, log_fd))
            pid = answer.get(timeout=self.timeout)
        except (OSError, Empty):
            pid = None
        if pid is None:
            raise EnvironmentFault(f"task {task} replica {replica}: the replicas' fork "
                                   f"server (pid {self.pid}) is gone; nothing was "
                                   f"committed, rerun the job")
        return pid

    def _read(self) -> None:
        """Dispatch the server's messages until it closes its end."""
        while True:
            try:
                data = self.control.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if "started" in message:
                with self._lock:
                    self._started.pop(tuple(message["started"])).put(message["pid"])
            elif "exited" in message:
                self.killed += message["killed"]
                self.on_exit(*message["exited"], message["code"])
            elif "swept" in message:
                self.killed += message["swept"]
        with self._lock:
            for answer in self._started.values():
                answer.put(None)
        if not self.closing:
            self.on_lost()

    def close(self) -> None:
        """Ask the server to kill what is left and exit; wait for it (killing it if it
        does not end within the timeout)."""
        self.closing = True
        try:
            self.control.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._reader.join(self.timeout)
        try:
            self.proc.wait(self.timeout)
        except subprocess.TimeoutExpired:  # a hung server
            self.proc.kill()
            self.proc.wait()
        self.control.close()


def _start_server(python: str, fd: int, spec_path: str, stderr):
    """Start ``python -m dirft.task --fork-server FD --spec PATH`` in a session of its own;
    raise :class:`EnvironmentFault` if it cannot start."""
    try:
        return subprocess.Popen([python, "-m", "dirft.task", "--fork-server", str(fd),
                                 "--spec", spec_path], pass_fds=(fd,),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr, start_new_session=True)
    except OSError as err:
        raise EnvironmentFault(f"cannot start the replicas' fork server with {python}: "
                               f"{err.strerror}") from None


def security_facts() -> dict:
    """What the kernel lets a hostile mapper do here (for the report's ``security``):
    ``yama_ptrace_scope`` (int, or None without Yama: classic same-user ptrace, which the
    undumpable replicas withstand), ``unprivileged_userns`` (bool; a mapper's own user
    namespace gives it no capability over replicas outside it) and ``cap_sys_ptrace``
    (bool: this process, hence the mappers, may read any process's memory: the keys then
    do not hold)."""
    return {"yama_ptrace_scope": _read_int("/proc/sys/kernel/yama/ptrace_scope"),
            "unprivileged_userns": (_read_int("/proc/sys/user/max_user_namespaces") or 0) > 0
            and _read_int("/proc/sys/kernel/unprivileged_userns_clone") != 0,
            "cap_sys_ptrace": _has_cap_sys_ptrace()}


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _has_cap_sys_ptrace() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            eff = next(line.split()[1] for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return False
    return bool(int(eff, 16) >> 19 & 1)  # CAP_SYS_PTRACE is capability 19
