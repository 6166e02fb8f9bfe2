"""Scratch left by drivers that died (SIGKILL, power loss): found and removed by the next run.

The local runner names its scratch directory ``.dirft-job_local<pid>_0001-<random>`` (in
``dirft.local.dir`` or beside the output) and its staging directory
``.<output>.job_local<pid>_0001.staging`` beside the output, where ``<pid>`` is the driver's
process id. A later run looking at the same directory removes every such entry whose driver
process no longer exists, after SIGKILLing the process groups of replicas still running from
it (a hung replica never ends by itself). A live pid keeps its entries, even if the pid was
reused by another program: removing too little is safe, too much is not.
"""

from __future__ import annotations

import os
import re
import shutil
import signal

_ENTRY = re.compile(r"\.(?:dirft-job_local(\d+)_\d+-.+|.+\.job_local(\d+)_\d+\.staging)")


def _alive(pid: int) -> bool:
    """True if process ``pid`` exists (even as another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(path: str) -> list[int]:
    """Pids of live ``dirft.task`` processes whose command line names ``path``."""
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dirft.task" in cmd and path in cmd:
            found.append(int(name))
    return found


def _kill(pid: int) -> None:
    """SIGKILL ``pid``'s process group (a local replica leads its own), else ``pid``."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


def remove_stale(directory: str) -> list[str]:
    """Remove the scratch and staging entries of dead drivers in ``directory``.

    Kills (SIGKILL, whole process group) replicas still running from such scratch first.
    Returns the paths removed. Never raises for a missing directory or an entry that
    vanished meanwhile (another run cleaning up too).
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        match = _ENTRY.fullmatch(name)
        if match is None or _alive(int(match.group(1) or match.group(2))):
            continue
        path = os.path.join(directory, name)
        for pid in orphans(path):
            _kill(pid)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
