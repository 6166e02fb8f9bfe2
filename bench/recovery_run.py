"""The moving parts of :mod:`bench.hadoop_recovery`: one timed command, a lost worker, scratch.

* :func:`run_command` runs a job's command line, timed (wall seconds of the whole command),
  with an optional ``strike`` running beside it (the lost-worker case's :class:`NodeKiller`);
* :class:`NodeKiller` kills a worker of the mini cluster some seconds into a job (``hmc
  kill-node wK``: SIGKILL of its DataNode, NodeManager and containers), then starts it
  again; with ``dry_run`` it only logs the two commands (and nothing fires);
* :class:`Scratch` holds the HDFS outputs and the local marker folders of one benchmark
  run (the plain job's fault wrapper writes its markers there: every node of both clusters
  shares this machine's file system) and removes them.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import requests


@dataclass
class Done:
    """A finished command: exit status, wall seconds, its stderr (text), and the epoch
    milliseconds at which a node was killed during it (0 if none was)."""

    returncode: int
    seconds: float
    stderr: str
    killed_at_ms: int = 0


def run_command(argv: list, strike=None) -> Done:
    """Run ``argv`` (stdin closed, stdout dropped, stderr kept); return :class:`Done`.

    ``strike``: a callable run in a thread while the command runs, returning a
    :class:`Strike` whose ``cancel()`` is called when the command ends and whose
    ``killed_at_ms`` is copied into the result.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    pending = strike() if strike else None
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    killed = pending.finish() if pending else 0
    return Done(proc.returncode, seconds, err.decode(errors="replace"), killed)


class Strike:
    """A node kill scheduled ``after`` seconds from now, the restart ``restart`` seconds
    after the kill (:class:`NodeKiller`); ``finish()`` cancels a kill not yet made, waits
    for the restart of one made, and returns the kill's epoch milliseconds (0: none).
    ``ready()``, if given, is asked every half second from then on and the kill waits until
    it says True (e.g. :func:`runs_task_container`: the node is running a task)."""

    def __init__(self, killer: "NodeKiller", node: str, after: float, restart: float,
                 ready=None) -> None:
        self.killer, self.node, self.after, self.restart = killer, node, after, restart
        self.ready = ready
        self.cancelled, self.killed_at_ms = threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.cancelled.wait(self.after):  # the job ended before the planned moment
            return
        while self.ready is not None and not self.ready():
            if self.cancelled.wait(0.5):
                return
        self.killed_at_ms = self.killer.kill(self.node)
        self.cancelled.wait(self.restart)
        self.killer.start(self.node)

    def finish(self) -> int:
        """Cancel or complete (module doc); the kill's epoch milliseconds or 0."""
        if not self.killed_at_ms:
            self.cancelled.set()
        self.thread.join()
        return self.killed_at_ms


class NodeKiller:
    """Runs ``kill_cmd``/``start_cmd`` (``{node}`` replaced) through ``runner`` (default
    :func:`subprocess.run`); with ``dry_run`` only logs them, so no node is lost."""

    def __init__(self, kill_cmd: str, start_cmd: str, dry_run: bool, log,
                 runner=subprocess.run) -> None:
        self.kill_cmd, self.start_cmd, self.dry_run = kill_cmd, start_cmd, dry_run
        self.log, self.runner = log, runner

    def strike(self, node: str, after: float, restart: float, ready=None) -> Strike:
        """Schedule the loss of ``node`` (see :class:`Strike`)."""
        return Strike(self, node, after, restart, ready)

    def _do(self, template: str, node: str) -> bool:
        argv = shlex.split(template.format(node=node))
        if self.dry_run:
            self.log(f"    dry run, not run: {shlex.join(argv)}")
            return False
        done = self.runner(argv, capture_output=True)
        self.log(f"    {shlex.join(argv)}: exit {done.returncode}")
        return done.returncode == 0

    def kill(self, node: str) -> int:
        """Kill ``node``; return the epoch milliseconds of the kill, or 0 if it was not
        made (dry run, or the command failed)."""
        when = int(time.time() * 1000)
        return when if self._do(self.kill_cmd, node) else 0

    def start(self, node: str) -> bool:
        """Start ``node`` again; True if the command succeeded."""
        return self._do(self.start_cmd, node)


class Scratch:
    """HDFS outputs under ``base`` and local marker folders of one benchmark run."""

    def __init__(self, storage, base: str) -> None:
        self.storage, self.base = storage, base
        self.local = tempfile.mkdtemp(prefix="dirft-bench-markers-")
        os.chmod(self.local, 0o755)
        storage.makedirs(base)
        self.count = 0

    def output(self, name: str) -> str:
        """The HDFS output path of one run."""
        return posixpath.join(self.base, name)

    def markers(self) -> str:
        """A new local folder, writable by the containers' user, for one run's markers."""
        self.count += 1
        path = os.path.join(self.local, f"run-{self.count}")
        os.mkdir(path)
        os.chmod(path, 0o777)
        return path

    @staticmethod
    def read_markers(path: str) -> list[dict]:
        """The markers the fault wrapper wrote in ``path`` (one dict each)."""
        found = []
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), encoding="utf-8") as f:
                found.append(json.loads(f.read()))
        return found

    def report(self, out: str) -> dict | None:
        """dirft's ``_dirft_report.json`` of the output ``out``, or None if there is none."""
        path = posixpath.join(out, "_dirft_report.json")
        return json.loads(self.storage.read_bytes(path)) if self.storage.exists(path) else None

    def output_bytes(self, out: str) -> bytes:
        """The ``part-*`` files of ``out``, concatenated in name order."""
        names = [n for n, _, is_dir in self.storage.list_dir(out)
                 if not is_dir and n.startswith("part-")]
        return b"".join(self.storage.read_bytes(posixpath.join(out, n)) for n in names)

    def drop(self, out: str) -> None:
        """Remove one run's output (if it exists)."""
        self.storage.delete(out, recursive=True)

    def close(self) -> None:
        """Remove every output and marker of this benchmark run."""
        self.storage.delete(self.base, recursive=True)
        shutil.rmtree(self.local, ignore_errors=True)


def runs_task_container(node: str, port: int = 8042, timeout: float = 5.0,
                        apps=None) -> bool:
    """True if the NodeManager of ``node`` lists a RUNNING container that is not an
    ApplicationMaster's (YARN numbers an attempt's AM container ``…_000001``): a task runs
    there (``GET http://node:port/ws/v1/node/containers``, YARN's ``NMWebServices``); False
    if it does not answer. ``apps``, if given, is called for the application ids
    (``application_C_N``) whose containers count: on a cluster others share, a task of
    another application must not trigger the kill."""
    try:
        answer = requests.get(f"http://{node}:{port}/ws/v1/node/containers", timeout=timeout,
                              headers={"Accept": "application/json"})
        listed = (answer.json().get("containers") or {}).get("container") or []
    except (requests.RequestException, ValueError, AttributeError):
        return False
    tasks = [str(c.get("id", "")) for c in listed if c.get("state") == "RUNNING"
             and not str(c.get("id", "")).endswith("_000001")]
    if apps is None or not tasks:
        return bool(tasks)
    ours = apps()
    return any(application_of(container) in ours for container in tasks)


def application_of(container: str) -> str:
    """The application id of a YARN container id: ``container_C_N_01_000004`` and
    ``container_e17_C_N_01_000004`` (with an RM epoch) -> ``application_C_N``."""
    parts = [p for p in container.split("_")[1:] if not p.startswith("e")]
    return f"application_{parts[0]}_{parts[1]}" if len(parts) >= 2 else ""


def applications_named(rm: str, part: str, timeout: float = 5.0) -> set:
    """Ids of the ResourceManager's RUNNING applications whose name contains ``part``
    (``GET {rm}/ws/v1/cluster/apps?states=RUNNING``); empty if it does not answer."""
    try:
        answer = requests.get(f"{rm}/ws/v1/cluster/apps?states=RUNNING", timeout=timeout,
                              headers={"Accept": "application/json"})
        apps = (answer.json().get("apps") or {}).get("app") or []
    except (requests.RequestException, ValueError, AttributeError):
        return set()
    return {a["id"] for a in apps if part in str(a.get("name", ""))}
