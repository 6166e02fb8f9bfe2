"""The map stage on Hadoop: the core's launches become streaming jobs ("waves").

The Hadoop runner's counterpart of :class:`~dirft.runners.cluster.LocalCluster` for the
voted schemes (dirft, frft, bft). It executes the core's actions and reports back what
Hadoop says (docs/hadoop.md, 'YARN'):

* ``LaunchReplica`` — the replicas the core launches when the job starts (R per task) go
  into **wave 0**, one streaming job. Replicas launched later (after a crash or a
  mismatch) are gathered for ``dirft.hadoop.wave.delay`` seconds and submitted together as
  a **follow-up wave**. A fault-free job has one wave.
* **Replicas per map task** (``dirft.hadoop.replicas.per.map``, k): each map task of a
  wave runs up to k replicas, each its own OS process, never two of one task, all planned
  on one host (:func:`~dirft.runners.locality.group_launches`); under ``auto`` k is
  chosen per host as the wave is submitted, from the containers the ResourceManager says
  each host has free (:mod:`dirft.runners.hadoop_slots`): a YARN container and a
  map-task JVM per replica would double the per-task cost Hadoop charges (measured on the single node: BENCHMARKS.md). One
  replica's end does not end the others (:mod:`dirft.runtime.container`): the replicas
  still running name it in their next heartbeat (``ended``), which is its exit
  (``ReplicaExited``) if it shares their map task; a replica whose work is over lingers
  until its neighbours have ended, so one is there to name an end, and the map task's
  watchdog ends a hung one (sooner, one the core holds dead: a neighbour's heartbeat
  answer names it, :meth:`~dirft.runners.hadoop_replicas.ReplicaBook.dispatch`); when
  none is left to tell, the attempt fails and Hadoop's
  FAILED line is the exit of every replica of it not yet over.
* a replica is **pending** until it registers: YARN may queue its container for a long
  time on a small cluster, and a pending replica reserves no work (its siblings take its
  share), so waiting for a container is never a fault. Its first ``register`` message is
  the core's ``ReplicaStarted`` (the container is running) and names the host and the
  Hadoop attempt id it runs as (kept for kills and the report).
* ``Task Id : attempt_…, Status : FAILED`` in the job's output is the replica's process
  exit (``ReplicaExited``), found by the attempt id it registered with (else by its map
  number: manifest files are padded so map *i* is file *i*). Replica jobs allow 2 attempts
  per map so that a failed replica's attempt is printed as FAILED (with 1, Hadoop reports
  it as TIPFAILED and prints nothing); a later attempt registers no replica and only
  re-emits what the driver says its lines emitted (the replica runtime's Hadoop entry mode,
  :func:`~dirft.runtime.streaming_task.re_emit`). The wave's end is the exit of every
  replica of it not yet over.
* ``KillReplica`` — ``hadoop job -fail-task`` of the attempt the replica registered as
  (a killed attempt would be re-run; a failed one counts), only when its map task is
  stuck. A dead replica (heartbeat timeout) alone in its map task, or whose neighbours
  there are all ended or dead too (a lost host), is failed at once. One with neighbours
  still there is not: the supervisor's watchdog SIGKILLs a silent replica and a
  lingering neighbour names its end (:mod:`dirft.runtime.container`), so the attempt
  ends well and keeps what it emitted; it is failed only if its end is still unknown
  and it still silent ``dirft.heartbeat.timeout`` later. One that is merely not
  needed any more is told to exit by its next message (it lingers under a supervisor) and
  failed only if, ``dirft.heartbeat.timeout`` later, its end is unknown, it has been
  silent that long (a hung one) and no other replica of its map task works or emits. A
  map task whose replicas all heard that their work is over (answered ``exit`` or
  ``emit``) ends by itself: they are failed only after ``OVER_TIMEOUTS`` heartbeat
  timeouts of silence (an attempt stuck on a lost host), not for ending before the
  wave's reduce did. A
  replica that never registered is not killed: when its container starts it is told to
  exit.
* **Emitting** (the runner's one-application mode, ``emit=True``): wave 0 carries the
  user's reducer. When a task is decided, the first of its wave-0 replicas that asks for
  work is answered ``emit`` with the decided outputs: it writes them, re-hashed, to stdout
  (Hadoop's shuffle) and counts ``dirft-emit/task-N`` = 1; its siblings just exit. An
  emitter is never failed by the deferred kill of replicas that are not needed any more.
  The runner checks those counters after the job
  (:meth:`~dirft.runners.hadoop_replicas.ReplicaBook.emitted_all`).
* ``FinishJob``/``AbortJob`` — the stage ends once every wave's job has ended; after an
  abort, or for follow-up waves after ``FinishJob``, waves still running ``grace``
  seconds later are killed with ``hadoop job -kill``. An emitting wave 0 runs its reduce
  to the end.

Heartbeat timeouts are checked by ticking the core's clock, as locally. What is known of
each replica (its wave and map task, start, attempt id, end, emission) is kept by the
voting service's dispatcher, :class:`~dirft.runners.hadoop_replicas.ReplicaBook`, which
this scheduler shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from dirft.runners.hadoop_launcher import HadoopJobFailed
from dirft.runners.locality import group_launches
from dirft.runners.shell import MapStageShell

OVER_TIMEOUTS = 3  # heartbeat timeouts of silence before a replica whose work is over is failed


@dataclass
class Wave:
    """One replica job: its number, the launches (``(task, replica, node)``) each of its
    map tasks runs (``groups[i]``: map task *i*, manifest files padded so Hadoop keeps that
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


@dataclass(frozen=True)
class WaveEvent:
    """A launcher notice about ``wave``, queued with :meth:`Driver.notify`."""

    wave: Wave
    event: tuple


class WaveScheduler(MapStageShell):
    """Runs the map stage of one job on Hadoop until every task is decided or it aborts.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``book``: the
    :class:`~dirft.runners.hadoop_replicas.ReplicaBook` the voting service's dispatcher
    keeps (its ``emit``: wave 0 carries the reduce, module doc); ``submit(number, groups,
    on_event)`` submits a wave (``groups[i]``: the ``(task, replica, node)`` map task *i*
    runs) and returns its :class:`~dirft.runners.hadoop_launcher.Running`;
    ``kill_task(attempt_id)`` and ``kill_job(wave)`` kill on the cluster; ``heard``: the
    voting service's listening clock (:class:`MapStageShell`); ``tick``, ``wave_delay``,
    ``grace`` in seconds; ``per_map``: replicas per map task (:func:`group_launches`), or
    a function of the wave's launches returning that argument
    (:class:`~dirft.runners.hadoop_slots.PerMapRule`, asked at each submission);
    ``on_finish``: called once when every task is decided (the runner notes the time);
    ``hosts``: the :class:`~dirft.runners.hadoop_nodes.HostLosses` of lost hosts (None:
    none are watched or emulated).
    """

    def __init__(self, driver, book, submit, kill_task, kill_job, heard, tick: float,
                 wave_delay: float, grace: float = 30.0, per_map=1,
                 on_finish=None, hosts=None) -> None:
        super().__init__(driver, tick, grace, heard)
        self.book, self.per_map, self.on_finish = book, per_map, on_finish
        self.hosts = hosts
        if hosts is not None:
            hosts.scheduler = self  # it asks which waves run (their ApplicationMasters)
        self.submit, self.kill_task, self.kill_job = submit, kill_task, kill_job
        self.wave_delay = wave_delay
        self.deferred: dict = {}  # (task, replica) -> when to fail it if still there
        self.waves: list[Wave] = []
        self.pending: list = []
        self.pending_since: float | None = None

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
        """A launcher notice about a wave (its job id, a failed attempt, its end), or a
        lost host (:class:`~dirft.runners.hadoop_nodes.NodeDown`)."""
        if isinstance(notice, WaveEvent):
            self._wave_event(notice.wave, notice.event)
        elif self.hosts is not None:
            self.hosts.lose(notice.host, notice.how)

    def stopped(self) -> None:
        """The job is decided or aborted: launches not yet submitted are dropped; once
        decided, :attr:`on_finish` is called (the runner notes when the map stage ended)."""
        self.pending.clear()
        if self.finished and not self.aborted and self.on_finish is not None:
            self.on_finish()

    def step(self, now: float) -> None:
        """Submit the gathered launches when due; fail replicas told to go still there;
        carry out planned host losses."""
        if self.hosts is not None and not (self.finished or self.aborted):
            self.hosts.step()
        self._maybe_submit(now)
        self._deferred_kills(now)

    def grace_over(self) -> None:
        """Kill the waves still running, sparing an emitting wave 0 unless the job aborted
        (its reduce runs to the end)."""
        self.kill_all("grace period over", emitting=bool(self.aborted))

    def _deferred_kills(self, now: float) -> None:
        """Fail each replica whose deadline passed, whose end is still unknown and whose
        map task is stuck (:meth:`_stuck`); forget those whose end is known."""
        for key, when in list(self.deferred.items()):
            if self.book.gone(*key):
                del self.deferred[key]
            elif self._stuck(*key, now, when):
                del self.deferred[key]
                self._fail(*key)

    def _stuck(self, task: int, replica: int, now: float, when: float) -> bool:
        """True if failing the attempt is the only way left (module doc): the replica is
        dead and no neighbour of its map task is left to name its end (:meth:`_namers`);
        or, past ``when``,
        it has been silent for the heartbeat timeout and is dead, or, told to go, neither
        it nor a neighbour of its map task works or emits."""
        dead = self.driver.replica_state(task, replica) == "dead"
        silence, timeout = self.book.silence(task, replica, now), self.driver.plan.heartbeat_timeout
        if self._over(task, replica) and silence <= OVER_TIMEOUTS * timeout:
            return False  # its map task ends by itself (:meth:`_over`)
        if dead and not self._namers(task, replica):
            return True
        if now < when or silence <= timeout:
            return False  # it talks: lingering, or back from a stall; not hung
        return dead or not (self.book.emitting(task, replica) or
                            self._busy_sharers(task, replica))

    def _over(self, task: int, replica: int) -> bool:
        """True if this replica and every other of its map task not known ended heard
        that their work is over (:meth:`ReplicaBook.released`): their supervisor lets
        them end together and the attempt succeeds by itself, while the wave's job runs
        on (its reduce). Such a replica goes silent because it ended, so it is failed
        only after :data:`OVER_TIMEOUTS` heartbeat timeouts of silence (an attempt stuck
        on a lost host): a fault-free job no longer starts a ``hadoop job -fail-task``
        JVM for every map task whose replicas ended before its reduce did."""
        return all(self.book.released(t, r)
                   for t, r in [(task, replica), *self.book.neighbours(task, replica)])

    def _namers(self, task: int, replica: int) -> list:
        """The other replicas of this replica's map task that may still name its end:
        neither ended nor held dead (a lost host silences them all at once)."""
        return [(t, r) for t, r in self.book.neighbours(task, replica)
                if self.driver.replica_state(t, r) != "dead"]

    def _busy_sharers(self, task: int, replica: int, emitting: bool = True) -> list:
        """The other replicas of this replica's map task that still work (live in the
        core) or, with ``emitting``, write the decided outputs; not those ended."""
        return [(t, r) for t, r in self.book.neighbours(task, replica)
                if self.driver.replica_live(t, r) or (emitting and self.book.emitting(t, r))]

    def _maybe_submit(self, now: float) -> None:
        """Submit the gathered launches: at once for wave 0, after ``wave_delay`` later."""
        if not self.pending or self.aborted or self.finished:
            return
        if self.waves and now - self.pending_since < self.wave_delay:
            return
        per_map = self.per_map(self.pending) if callable(self.per_map) else self.per_map
        wave = Wave(len(self.waves), group_launches(self.pending, per_map),
                    emits=self.book.emit and not self.waves)
        self.book.place(wave)
        self.waves.append(wave)
        self.pending = []
        wave.running = self.submit(wave.number, wave.groups,
                                   lambda running, ev, w=wave: self.driver.notify(
                                       WaveEvent(w, ev)))

    def _wave_event(self, wave: Wave, event: tuple) -> None:
        kind, data = event
        if kind == "failed":
            for key in self.book.replicas_of(wave, data.attempt_id):
                self.book.exited(*key, data.code if data.code is not None else 1)
        elif kind == "done":
            wave.result = data
            if data.returncode != 0 and not wave.killed and not (self.finished or self.aborted):
                self.kill_all("a wave failed")
                raise HadoopJobFailed(f"replica job wave {wave.number} failed (hadoop exit "
                                      f"{data.returncode}): {data.cause()}")
            for task, replica in wave.replicas:
                self.book.exited(task, replica, 0)

    def kill(self, task: int, replica: int) -> None:
        """``KillReplica``: see module doc (dead: now if alone in its map task, else only if
        still silent after a grace; not needed: after a grace, if hung)."""
        self.pending = [p for p in self.pending if p[:2] != (task, replica)]
        now, later = self.driver.now(), self.driver.now() + self.driver.plan.heartbeat_timeout
        if self.driver.replica_state(task, replica) == "dead":
            if self.hosts is not None and (task, replica) not in self.deferred:
                # silent or lost (once; it may talk again later): is its host still there?
                self.hosts.suspect(task, replica)
            alone = not self._namers(task, replica)
            self.deferred.setdefault((task, replica), now if alone else later)
            self._deferred_kills(now)
        else:
            self.deferred.setdefault((task, replica), later)

    def _fail(self, task: int, replica: int) -> None:
        attempt, gone = self.book.attempt(task, replica), self.book.gone(task, replica)
        located = self.book.located(task, replica)
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



def end_waves(scheduler: WaveScheduler, grace: float = 60.0) -> None:
    """Kill the waves still running and wait for their ``hadoop jar`` clients to end."""
    scheduler.kill_all()
    for wave in scheduler.waves:
        if wave.running is not None and wave.running.wait(grace) is None:
            wave.running.terminate()
