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

Protocol over a ``SOCK_SEQPACKET`` pair, one JSON object per message:

* server to driver, once: ``{"ready": pid, "locked": bool, "subreaper": bool}``;
* driver to server: ``{"task", "replica", "node"}`` with two descriptors (``SCM_RIGHTS``):
  the replica's end of its handshake socket and its log file; answered
  ``{"started": [task, replica, node], "pid": pid}``;
* server to driver, as each replica is reaped: ``{"exited": [task, replica, node], "pid",
  "code", "killed"}``: its exit status (negative: killed by that signal, as
  :attr:`subprocess.Popen.returncode`) and how many processes its mappers left behind were
  killed (by the replica, :mod:`dirft.runtime.reaper`, as each mapper exited and when its
  attempt ended, and by the server for those its death orphaned);
* when the driver shuts its end: the server SIGKILLs every replica's process group, reaps
  them (``exited`` messages), kills every process left under it, sends
  ``{"swept": n}`` and exits.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from queue import Empty, Queue

from dirft.errors import EnvironmentFault
from dirft.runtime import reaper
from dirft.runtime.reaper import become_subreaper, end_descendants

_MAX_MESSAGE = 4096


def _send(sock: socket.socket, message: dict, fds=()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


# ------------------------------------------------------------------ the server side

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
        _send(self.control, {"swept": end_descendants()})

    def request(self) -> bool:
        """Carry out one request; False when the driver has shut its end."""
        data, fds, _flags, _addr = socket.recv_fds(self.control, _MAX_MESSAGE, 2)
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
        _send(self.control, {"started": tag, "pid": pid})
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
            _send(self.control, {"exited": tag, "pid": pid,
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
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
    _send(control, {"ready": os.getpid(), "locked": locked, "subreaper": subreaper})
    server.serve()
    return 0


# ------------------------------------------------------------------ the driver side

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
            data = self.control.recv(_MAX_MESSAGE)
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
            _send(self.control, {"task": task, "replica": replica, "node": node},
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
                data = self.control.recv(_MAX_MESSAGE)
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
