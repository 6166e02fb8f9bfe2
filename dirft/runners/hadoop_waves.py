"""The map stage on Hadoop: the core's launches become streaming jobs ("waves").

The Hadoop runner's counterpart of :class:`~dirft.runners.cluster.LocalCluster` for the
voted schemes (dirft, frft, bft). It executes the core's actions and reports back what
Hadoop says (docs/hadoop.md, 'YARN'):

* ``LaunchReplica`` — the replicas the core launches when the job starts (R per task) go
  into **wave 0**, one streaming job. Replicas launched later (after a crash or a
  mismatch) are gathered for ``dirft.hadoop.wave.delay`` seconds and submitted together as
  a **follow-up wave**. A fault-free job has one wave.
* **Replicas per map task** (``dirft.hadoop.replicas.per.map``, k): each map task of a
  wave runs up to k replicas, each its own OS process, never two of one task
  (:func:`group_launches`): a YARN container and a map-task JVM per replica would double
  the per-task cost Hadoop charges (measured on the single node: BENCHMARKS.md). One
  replica's end does not end the others (:mod:`dirft.runtime.container`): the replicas
  still running name it in their next heartbeat (``ended``), which is its exit
  (``ReplicaExited``) if it shares their map task; when none is left to tell, the attempt
  fails and Hadoop's FAILED line is the exit of every replica of it not yet over.
* a replica is **pending** until it registers: YARN may queue its container for a long
  time on a small cluster, and a pending replica reserves no work (its siblings take its
  share), so waiting for a container is never a fault. Its first ``register`` message is
  the core's ``ReplicaStarted`` (the container is running) and names the host and the
  Hadoop attempt id it runs as (kept for kills and the report).
* ``Task Id : attempt_…, Status : FAILED`` in the job's output is the replica's process
  exit (``ReplicaExited``), found by the attempt id it registered with (else by its map
  number: manifest lines are padded so map *i* is line *i*). Replica jobs allow 2 attempts
  per map so that a failed replica's attempt is printed as FAILED (with 1, Hadoop reports
  it as TIPFAILED and prints nothing); the second attempt ends at once without
  registering (the replica runtime's Hadoop entry mode). The wave's end is the exit of every
  replica of it not yet over.
* ``KillReplica`` — ``hadoop job -fail-task`` of the attempt the replica registered as
  (a killed attempt would be re-run; a failed one counts). A dead replica (heartbeat
  timeout) is failed at once, or, if another replica of its map task still works, once
  none does (failing the attempt would end it too); one that is merely not needed any
  more is told to exit by its next message and failed only if it has not gone after
  ``dirft.heartbeat.timeout`` (a hung one) and no other replica of its map task works or
  emits. A replica that never registered is not killed: when its container starts
  it is told to exit.
* **Emitting** (the runner's one-application mode, ``emit=True``): wave 0 carries the
  user's reducer. When a task is decided, the first of its wave-0 replicas that asks for
  work is answered ``emit`` with the decided outputs: it writes them, re-hashed, to stdout
  (Hadoop's shuffle) and counts ``dirft-emit/task-N`` = 1; its siblings just exit. An
  emitter is never failed by the deferred kill of replicas that are not needed any more.
  The runner checks those counters after the job (:meth:`emitted_all`).
* ``FinishJob``/``AbortJob`` — the stage ends once every wave's job has ended; after an
  abort, or for follow-up waves after ``FinishJob``, waves still running ``grace``
  seconds later are killed with ``hadoop job -kill``. An emitting wave 0 runs its reduce
  to the end.

Heartbeat timeouts are checked by ticking the core's clock, as locally.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dirft.contract.hadoop import EMIT_GROUP, emit_counter, map_index
from dirft.contract.spec import output_path
from dirft.core import events as E
from dirft.runners.hadoop_launcher import HadoopJobFailed
from dirft.runners.shell import MapStageShell


@dataclass
class Wave:
    """One replica job: its number, the launches (``(task, replica, node)``) each of its
    map tasks runs (``groups[i]``: map task *i*, manifest lines padded so Hadoop keeps that
    order), the :class:`Running` submission, and whether it carries the reduce
    (``emits``)."""

    number: int
    groups: list
    running: object = None
    killed: bool = False
    result: object = None
    emits: bool = False

    @property
    def ended(self) -> bool:
        """True once its ``hadoop jar`` client has ended (or it was never submitted)."""
        return self.running is None or self.running.done

    @property
    def launches(self) -> list:
        """Every ``(task, replica, node)`` of the wave, in manifest order."""
        return [launch for group in self.groups for launch in group]

    @property
    def replicas(self) -> list:
        """``(task, replica)`` of every replica of the wave, in manifest order."""
        return [(t, r) for t, r, _ in self.launches]


def group_launches(launches: list, per_map: int) -> list[list]:
    """``launches`` (``(task, replica, node)``) in groups of at most ``per_map``, one group
    per map task, never two replicas of one task in a group: a failed map attempt then
    costs each task at most one replica, as DIRFT places a task's replicas apart (paper,
    Sec. III). Greedy in (replica, task) order: a launch joins the emptiest group with room
    and none of its task (the lowest such), else opens a group; ceil(n / per_map) groups
    when the tasks allow. Returns the non-empty groups, fullest first (stable)."""
    groups: list = [[] for _ in range(max(1, -(-len(launches) // per_map)))]
    for launch in sorted(launches, key=lambda x: (x[1], x[0])):
        fits = [g for g in groups if len(g) < per_map and all(x[0] != launch[0] for x in g)]
        if not fits:
            groups.append([])
            fits = [groups[-1]]
        min(fits, key=len).append(launch)
    return sorted((g for g in groups if g), key=len, reverse=True)


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
    attempts: dict = field(default_factory=dict)  # (task, replica) -> Hadoop attempt id
    emitters: dict = field(default_factory=dict)  # task -> replica answered "emit"


class WaveScheduler(MapStageShell):
    """Runs the map stage of one job on Hadoop until every task is decided or it aborts.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``submit(number, groups,
    on_event)`` submits a wave (``groups[i]``: the ``(task, replica, node)`` map task *i*
    runs) and returns its :class:`~dirft.runners.hadoop_launcher.Running`;
    ``kill_task(attempt_id)`` and ``kill_job(wave)`` kill on the cluster; ``tick``, ``wave_delay``, ``grace`` in seconds;
    ``emit``: wave 0 carries the reduce and one replica per task emits (module doc);
    ``output_dir``: the HDFS folder of the replicas' committed outputs; ``per_map``:
    replicas per map task (:func:`group_launches`).
    """

    def __init__(self, driver, submit, kill_task, kill_job, tick: float,
                 wave_delay: float, grace: float = 30.0, emit: bool = False,
                 output_dir: str = "", per_map: int = 1) -> None:
        super().__init__(driver, tick, grace)
        self.per_map = per_map
        self.submit, self.kill_task, self.kill_job = submit, kill_task, kill_job
        self.wave_delay, self.emit, self.output_dir = wave_delay, emit, output_dir
        self.on_finish = None  # called once when every task is decided
        self.deferred: dict = {}  # (task, replica) -> when to fail it if still there
        self.waves: list[Wave] = []
        self.where: dict = {}  # (task, replica) -> (wave, map index)
        self.pending: list = []
        self.pending_since: float | None = None
        self.registry = _Registry()

    # -- the voting service's side --------------------------------------------------
    def dispatch(self, message: dict) -> dict:
        """The voting service's dispatcher: a first ``register`` of a launched replica
        tells the core that Hadoop started it, on the host and as the attempt it reports;
        an ``exit`` answer may become ``emit`` (module doc)."""
        task, replica = message["task"], message["replica"]
        if message["kind"] == "register":
            self._started(task, replica, message["host"], message.get("attempt", ""))
        for t, r, status in message.get("ended", ()):
            if self._sharing(task, replica, t, r):
                self._exited(t, r, status)
        reply = self.driver.dispatch(message)
        if self.emit and message["kind"] == "request" and reply.get("action") == "exit":
            return self._maybe_emit(task, replica) or reply
        return reply

    def _started(self, task: int, replica: int, host: str, attempt: str) -> None:
        key = (task, replica)
        with self.registry.lock:
            first = key in self.registry.launched and key not in self.registry.started
            if first:
                self.registry.started.add(key)
                self.registry.hosts[key] = host
                if attempt:
                    self.registry.attempts[key] = attempt
        if first:
            self.driver.handle(E.ReplicaStarted(self.driver.now(), task, replica, host))

    def _sharing(self, task: int, replica: int, other_task: int, other: int) -> bool:
        """True if the two replicas run in one map task of one wave (so the first may tell
        of the second's end); a replica never speaks of others."""
        here, there = self.where.get((task, replica)), self.where.get((other_task, other))
        return (here is not None and there is not None and (task, replica) != (other_task, other)
                and here[0] is there[0] and here[1] == there[1])

    def _maybe_emit(self, task: int, replica: int) -> dict | None:
        """``emit`` with the task's decided outputs if this replica should write them: its
        task is decided, it is a live replica of wave 0 told to exit, and no sibling was
        chosen before. None otherwise."""
        located = self.where.get((task, replica))
        winners = self.driver.commits.get(task)
        if located is None or not located[0].emits or winners is None:
            return None
        # "stopping": the core cancels a task's live replicas when it decides it, the
        # replica whose own report decided it included; it is asking, so it is alive
        if self.driver.replica_state(task, replica) not in ("exiting", "stopping"):
            return None
        with self.registry.lock:
            if task in self.registry.emitters:
                return None
            self.registry.emitters[task] = replica
        return {"action": "emit", "outputs": [
            [output_path(self.output_dir, task, w.subsplit, w.replica), w.signature]
            for w in winners]}

    def emitted_all(self, counters: dict) -> bool:
        """True if wave 0's job counters show every task's outputs emitted exactly once by
        a successful attempt (``counters``: ``{group: {name: amount}}``)."""
        got, tasks = counters.get(EMIT_GROUP, {}), len(self.driver.plan.tasks)
        return len(got) == tasks and all(got.get(emit_counter(t)) == 1 for t in range(tasks))

    # -- the shell's hooks (see MapStageShell) ---------------------------------------
    def idle(self) -> bool:
        """True when every wave's job has ended."""
        return all(w.ended for w in self.waves)

    def launch(self, task: int, replica: int, node: str) -> None:
        """Gather the replica for the next wave (:meth:`step` submits it)."""
        if not self.pending:
            self.pending_since = self.driver.now()
        self.pending.append((task, replica, node))

    def observe(self, notice: WaveEvent) -> None:
        """A launcher notice about a wave: its job id, a failed attempt, its end."""
        self._wave_event(notice.wave, notice.event)

    def stopped(self) -> None:
        """The job is decided or aborted: launches not yet submitted are dropped; once
        decided, :attr:`on_finish` is called (the runner notes when the map stage ended)."""
        self.pending.clear()
        if self.finished and not self.aborted and self.on_finish is not None:
            self.on_finish()

    def step(self, now: float) -> None:
        """Submit the gathered launches when due; fail replicas told to go still there."""
        self._maybe_submit(now)
        self._deferred_kills(now)

    def grace_over(self) -> None:
        """Kill the waves still running, sparing an emitting wave 0 unless the job aborted
        (its reduce runs to the end)."""
        self.kill_all("grace period over", emitting=bool(self.aborted))

    def _deferred_kills(self, now: float) -> None:
        """Fail the replicas told to go that are still there after their deadline, and
        the dead ones, once no other replica in their map attempt still works (or, for
        one told to go, emits): failing the attempt ends them all."""
        for key, when in list(self.deferred.items()):
            with self.registry.lock:
                gone = key in self.registry.exited
            dead = self.driver.replica_state(*key) == "dead"
            if gone or (now >= when and not self._busy_sharers(*key, emitting=not dead)):
                del self.deferred[key]
                if not gone and (dead or not self._emitting(*key)):
                    self._fail(*key)

    def _busy_sharers(self, task: int, replica: int, emitting: bool = True) -> list:
        """The other replicas of this replica's map task that still work (live in the
        core) or, with ``emitting``, write the decided outputs; not those ended."""
        wave, index = self.where.get((task, replica), (None, None))
        if wave is None:
            return []
        with self.registry.lock:
            others = [(t, r) for t, r, _ in wave.groups[index]
                      if (t, r) != (task, replica) and (t, r) not in self.registry.exited]
        return [(t, r) for t, r in others
                if self.driver.replica_live(t, r) or (emitting and self._emitting(t, r))]

    def _emitting(self, task: int, replica: int) -> bool:
        """True if ``replica`` was answered ``emit``: it is writing the decided outputs
        into the shuffle (without heartbeats), not hung; failing it would lose them.
        Hadoop's own ``mapreduce.task.timeout`` still ends one that stops writing."""
        with self.registry.lock:
            return self.registry.emitters.get(task) == replica

    def _maybe_submit(self, now: float) -> None:
        """Submit the gathered launches: at once for wave 0, after ``wave_delay`` later."""
        if not self.pending or self.aborted or self.finished:
            return
        if self.waves and now - self.pending_since < self.wave_delay:
            return
        wave = Wave(len(self.waves), group_launches(self.pending, self.per_map),
                    emits=self.emit and not self.waves)
        with self.registry.lock:
            self.registry.launched.update(wave.replicas)
        for index, group in enumerate(wave.groups):
            for task, replica, _ in group:
                self.where[(task, replica)] = (wave, index)
        self.waves.append(wave)
        self.pending = []
        wave.running = self.submit(wave.number, wave.groups,
                                   lambda running, ev, w=wave: self.driver.notify(
                                       WaveEvent(w, ev)))

    def _wave_event(self, wave: Wave, event: tuple) -> None:
        kind, data = event
        if kind == "failed":
            for key in self._replicas_of(wave, data.attempt_id):
                self._exited(*key, data.code if data.code is not None else 1)
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

    def _replicas_of(self, wave: Wave, attempt: str) -> list:
        """``(task, replica)`` of every replica that ran in ``attempt`` of ``wave``: the
        map task of a replica that registered with that attempt id, else map task ``i``'s
        group (padded manifests keep Hadoop's map order the manifest's)."""
        with self.registry.lock:
            keys = [k for k, a in self.registry.attempts.items() if a == attempt]
        located = [self.where[k] for k in keys if self.where.get(k, (None,))[0] is wave]
        index = located[0][1] if located else map_index(attempt)
        if index is None or index >= len(wave.groups):
            return []
        return [(t, r) for t, r, _ in wave.groups[index]]

    def kill(self, task: int, replica: int) -> None:
        """``KillReplica``: see module doc (dead: now, or once no other replica of its map
        task works; not needed: after a grace)."""
        self.pending = [p for p in self.pending if p[:2] != (task, replica)]
        if self.driver.replica_state(task, replica) == "dead":
            self.deferred[(task, replica)] = self.driver.now()  # once its map task is free
            self._deferred_kills(self.driver.now())
        else:
            self.deferred.setdefault((task, replica), self.driver.now() +
                                     self.driver.plan.heartbeat_timeout)

    def _fail(self, task: int, replica: int) -> None:
        with self.registry.lock:
            attempt = self.registry.attempts.get((task, replica))
            gone = (task, replica) in self.registry.exited
        located = self.where.get((task, replica))
        if attempt and not gone and located is not None and not located[0].killed:
            self.kill_task(attempt)

    def kill_all(self, why: str = "", emitting: bool = True) -> None:
        """Kill every wave whose job may still run on the cluster (once each): its client
        runs, or it ended without success (a killed ``hadoop jar`` client leaves its
        application running). ``emitting=False`` spares an emitting wave 0; ``why`` is
        for logs."""
        for wave in self.waves:
            if wave.running is None or wave.killed or (wave.emits and not emitting):
                continue
            result = wave.running.result if wave.running.done else None
            if result is None or result.returncode != 0:
                wave.killed = True
                self.kill_job(wave)

    def hosts(self) -> dict:
        """``{(task, replica): host}`` each replica registered from."""
        with self.registry.lock:
            return dict(self.registry.hosts)

