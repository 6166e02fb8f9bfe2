"""The map stage on Hadoop: the core's launches become streaming jobs ("waves").

The Hadoop runner's counterpart of :class:`~dirft.runners.cluster.LocalCluster` for the
voted schemes (dirft, frft, bft). It executes the core's actions and reports back what
Hadoop says:

* ``LaunchReplica`` — the replicas the core launches when the job starts (R per task) go
  into **wave 0**, one streaming job with one map task per replica. Replicas launched
  later (after a crash or a mismatch) are gathered for ``dirft.hadoop.wave.delay`` seconds
  and submitted together as a **follow-up wave**. A fault-free job has one wave.
* once Hadoop names a wave's job, the core hears ``ReplicaStarted`` for every replica of
  the wave (on its planned host): YARN starts their containers as it can, and siblings
  known to be running keep fault-free DIRFT in lockstep phases (a replica that never gets
  a container is found by the core's ``dirft.startup.timeout``). A replica that registers
  before that notice is started by its ``register`` message, which names the host it
  really runs on (kept for the report);
* ``Task Id : attempt_…, Status : FAILED`` in the job's output, or the wave's end for a
  replica not yet over, is its process exit (``ReplicaExited``);
* ``KillReplica`` — ``hadoop job -kill-task`` of the replica's attempt (best effort; a
  live replica also learns from its next heartbeat reply that it must exit);
* ``FinishJob``/``AbortJob`` — the stage ends once every wave's job has ended; waves still
  running ``grace`` seconds later are killed with ``hadoop job -kill``.

Heartbeat timeouts are checked by ticking the core's clock, as locally.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dirft.core import events as E
from dirft.runners.hadoop_launcher import HadoopJobFailed
from dirft.runners.shell import MapStageShell


@dataclass
class Wave:
    """One replica job: its number, its manifest's ``(task, replica)`` pairs in line
    order (map task *i* runs line *i*), the :class:`Running` submission."""

    number: int
    launches: list
    running: object = None
    killed: bool = False
    result: object = None

    @property
    def replicas(self) -> list:
        """``(task, replica)`` of each map task, in line order."""
        return [(t, r) for t, r, _ in self.launches]


@dataclass(frozen=True)
class WaveEvent:
    """A launcher notice about ``wave``, queued with :meth:`Driver.notify`."""

    wave: Wave
    event: tuple


@dataclass
class _Registry:
    """Which replicas were launched, started and exited (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    launched: set = field(default_factory=set)
    started: set = field(default_factory=set)
    exited: set = field(default_factory=set)
    hosts: dict = field(default_factory=dict)


class WaveScheduler(MapStageShell):
    """Runs the map stage of one job on Hadoop until every task is decided or it aborts.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``submit(number, launches,
    on_event)`` submits a wave (a list of ``(task, replica, node)``) and returns its
    :class:`~dirft.runners.hadoop_launcher.Running`; ``kill_task(wave, index)`` and
    ``kill_job(wave)`` kill on the cluster; ``tick``, ``wave_delay``, ``grace`` in seconds.
    """

    def __init__(self, driver, submit, kill_task, kill_job, tick: float,
                 wave_delay: float, grace: float = 30.0) -> None:
        super().__init__(driver, tick, grace)
        self.submit, self.kill_task, self.kill_job = submit, kill_task, kill_job
        self.wave_delay = wave_delay
        self.waves: list[Wave] = []
        self.where: dict = {}  # (task, replica) -> (wave, map index)
        self.pending: list = []
        self.pending_since: float | None = None
        self.registry = _Registry()

    # -- the voting service's side --------------------------------------------------
    def dispatch(self, message: dict) -> dict:
        """The voting service's dispatcher: a first ``register`` of a launched replica
        tells the core that Hadoop started it, on the host it reports."""
        if message["kind"] == "register":
            self._started(message["task"], message["replica"], message["host"])
        return self.driver.dispatch(message)

    def _started(self, task: int, replica: int, host: str, registered: bool = True) -> None:
        key = (task, replica)
        with self.registry.lock:
            first = key in self.registry.launched and key not in self.registry.started
            if first:
                self.registry.started.add(key)
            if registered:
                self.registry.hosts.setdefault(key, host)
        if first:
            self.driver.handle(E.ReplicaStarted(self.driver.now(), task, replica, host))

    # -- the shell's hooks (see MapStageShell) ---------------------------------------
    def idle(self) -> bool:
        """True when every wave's job has ended."""
        return all(w.running is None or w.running.done for w in self.waves)

    def launch(self, task: int, replica: int, node: str) -> None:
        """Gather the replica for the next wave (:meth:`step` submits it)."""
        if not self.pending:
            self.pending_since = self.driver.now()
        self.pending.append((task, replica, node))

    def observe(self, notice: WaveEvent) -> None:
        """A launcher notice about a wave: its job id, a failed attempt, its end."""
        self._wave_event(notice.wave, notice.event)

    def stopped(self) -> None:
        """The job is decided or aborted: launches not yet submitted are dropped."""
        self.pending.clear()

    def step(self, now: float) -> None:
        """Submit the gathered launches when due."""
        self._maybe_submit(now)

    def _maybe_submit(self, now: float) -> None:
        """Submit the gathered launches: at once for wave 0, after ``wave_delay`` later."""
        if not self.pending or self.aborted or self.finished:
            return
        if self.waves and now - self.pending_since < self.wave_delay:
            return
        wave = Wave(len(self.waves), list(self.pending))
        with self.registry.lock:
            self.registry.launched.update(wave.replicas)
        for index, key in enumerate(wave.replicas):
            self.where[key] = (wave, index)
        self.waves.append(wave)
        launches, self.pending = self.pending, []
        wave.running = self.submit(wave.number, launches,
                                   lambda running, ev, w=wave: self.driver.notify(
                                       WaveEvent(w, ev)))

    def _wave_event(self, wave: Wave, event: tuple) -> None:
        kind, data = event
        if kind == "job":
            for task, replica, node in wave.launches:
                self._started(task, replica, node, registered=False)
        elif kind == "failed":
            index = _map_index(data.attempt_id)
            if index is not None and index < len(wave.replicas):
                self._exited(*wave.replicas[index], data.code if data.code is not None else 1)
        elif kind == "done":
            wave.result = data
            if data.returncode != 0 and not wave.killed and not (self.finished or self.aborted):
                self.kill_all("a wave failed")
                raise HadoopJobFailed(f"replica job wave {wave.number} failed (hadoop exit "
                                      f"{data.returncode}): {data.cause()}")
            for task, replica in wave.replicas:
                self._exited(task, replica, 0)

    def _exited(self, task: int, replica: int, code: int) -> None:
        with self.registry.lock:
            if (task, replica) in self.registry.exited:
                return
            self.registry.exited.add((task, replica))
        self.driver.handle(E.ReplicaExited(self.driver.now(), task, replica, code))

    def kill(self, task: int, replica: int) -> None:
        """Drop the replica from the gathered launches, or kill its map attempt."""
        self.pending = [p for p in self.pending if p[:2] != (task, replica)]
        located = self.where.get((task, replica))
        if located is not None and not located[0].killed:
            self.kill_task(*located)

    def kill_all(self, why: str = "") -> None:
        """Kill every wave whose job is still running (once each); ``why`` is for logs."""
        for wave in self.waves:
            if wave.running is not None and not wave.running.done and not wave.killed:
                wave.killed = True
                self.kill_job(wave)

    def hosts(self) -> dict:
        """``{(task, replica): host}`` each replica registered from."""
        with self.registry.lock:
            return dict(self.registry.hosts)


def _map_index(attempt_id: str) -> int | None:
    """Map task number of ``attempt_…_m_000003_0`` (3); None for a reduce attempt."""
    parts = attempt_id.split("_")
    return int(parts[-2]) if len(parts) >= 3 and parts[-3] == "m" else None
