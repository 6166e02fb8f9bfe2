"""Every process a mapper starts ends with its attempt (issue 22): child subreapers.

A process that calls :func:`become_subreaper` (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``)
adopts every orphan among its descendants: a mapper's double-forked or ``setsid`` daemon,
whose parent exits, is reparented to the nearest subreaper above it instead of to init.
:func:`end_descendants` then SIGKILLs every child of this process except those it is told
to keep, reaps them, and repeats until none is left (a killed daemon's own children are
reparented here in turn). Replicas, the local runner's fork server
(:mod:`dirft.runtime.forkserver`) and the Hadoop container supervisor
(:mod:`dirft.runtime.container`) use both.

The children of a process are read from ``/proc/self/task/<tid>/children`` (any thread may
be the one an orphan is reparented to), else from every ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading

_PR_SET_CHILD_SUBREAPER = 36
_tracked: set[int] = set()  # children this process started on purpose (mapper, sort, ...)
_lock = threading.Lock()
killed = 0
"""Processes :func:`end_descendants` killed in this process so far."""
_report_fd = -1  # where the running total goes (report_to)
_subreaper = False  # become_subreaper succeeded in this process (or the one it forked from)


def report_to(fd: int) -> None:
    """Write :data:`killed`, as a decimal line, to descriptor ``fd`` each time it grows (a
    forked replica's parent reads the last line, even if the replica was killed)."""
    global _report_fd
    _report_fd = fd


def become_subreaper() -> bool:
    """Make this process a child subreaper; return True if the kernel agreed (Linux >= 3.4),
    False where ``prctl`` is missing or refuses (then orphans go to init as usual)."""
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


def children(pid: int | None = None) -> set[int]:
    """Pids of the live (or zombie) children of process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return set()
    found: set[int] = set()
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found.update(int(c) for c in f.read().split())
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
            return _children_from_stat(pid)
        except OSError:  # the thread ended meanwhile
            continue
    return found


def _children_from_stat(pid: int) -> set[int]:
    """Children of ``pid`` found by reading the parent pid of every process in /proc."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.add(int(name))
    return found


@contextlib.contextmanager
def tracked(pid: int):
    """Context manager: child ``pid`` (a program this process runs on purpose) is spared
    by :func:`end_left_behind` while inside."""
    with _lock:
        _tracked.add(pid)
    try:
        yield
    finally:
        with _lock:
            _tracked.discard(pid)


def end_left_behind() -> int:
    """Kill what a program left behind when it exited: every child of this process (its
    orphans were reparented here, if this process is a subreaper) but those
    :func:`tracked`; return how many were killed. A daemon that keeps a mapper's stdout or
    stderr open would otherwise hold its phase forever. Does nothing (returns 0) in a
    process that is not a subreaper: its other children are none of the program's (a test
    or a benchmark running a phase in its own process)."""
    if not _subreaper:
        return 0
    with _lock:
        keep = set(_tracked)
    return end_descendants(keep)


def end_descendants(keep=frozenset()) -> int:
    """SIGKILL and reap every child of this process whose pid is not in ``keep`` (and, as
    they are reparented here, their descendants), until none is left; return how many
    processes were killed (zombies already dead are reaped, not counted; the module's
    :data:`killed` adds them up)."""
    count = 0
    while True:
        victims = children() - set(keep)
        if not victims:
            _add(count)
            return count
        for pid in victims:
            count += _kill(pid)
        for pid in victims:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # reaped elsewhere (a thread's own wait)
                pass


def _kill(pid: int) -> int:
    """SIGKILL ``pid`` if it is not a zombie; return 1 if a live process was killed."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return 0
        os.kill(pid, signal.SIGKILL)
        return 1
    except (OSError, IndexError):
        return 0


def _add(count: int) -> None:
    global killed
    if count:
        killed += count
        if _report_fd >= 0:
            try:
                os.write(_report_fd, f"{killed}\n".encode())
            except OSError:  # the reader is gone
                pass
