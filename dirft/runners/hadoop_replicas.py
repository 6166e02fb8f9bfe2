"""What the Hadoop runner knows of each replica it launched, and the voting service's side.

Two threads meet here: the voting service's, which hands each replica message to
:meth:`ReplicaBook.dispatch`, and the runner's map-stage loop
(:class:`~dirft.runners.hadoop_waves.WaveScheduler`), which submits waves, fails attempts
and reads Hadoop's notices. Both keep and read, under the book's one lock, where each
replica runs (its wave and map task), whether its container started (its first
``register``, with the host and the Hadoop attempt id it runs as), when it last spoke,
whether it ended, and which replica of a decided task was answered ``emit``. The rules are the waves' (module doc
of :mod:`dirft.runners.hadoop_waves`). Hadoop voids a map attempt's output and counters
when it re-runs its map task (a lost node, a failed attempt); the re-run attempt asks,
with a ``reemit`` message naming its manifest lines and its attempt, what those lines
were answered to ``emit``, and the book answers from its own memory
(:meth:`ReplicaBook.reemit`): nothing read from HDFS decides what is re-emitted.
"""

from __future__ import annotations

import threading

from dirft.contract.hadoop import EMIT_GROUP, emit_counter, map_index, parse_attempt
from dirft.contract.spec import output_path
from dirft.core import events as E
from dirft.errors import ProtocolError
from dirft.runners.locality import group_host


class ReplicaBook:
    """The launched replicas of one job on Hadoop and the voting service's dispatcher.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``emit``: wave 0 carries the
    reduce and one replica per decided task writes its outputs into the shuffle;
    ``output_dir``: the HDFS folder of the replicas' committed outputs (where an emitter
    reads them). A wave (``number``, ``groups[i]``: the ``(task, replica, node)``
    of map task *i*, ``emits``) is known by identity once :meth:`place` saw it.
    """

    def __init__(self, driver, emit: bool = False, output_dir: str = "") -> None:
        self.driver, self.emit, self.output_dir = driver, emit, output_dir
        self._lock = threading.Lock()
        self._where: dict = {}     # (task, replica) -> (wave, map index)
        self._started: set = set()
        self._exited: set = set()
        self._hosts: dict = {}     # (task, replica) -> host it registered from
        self._attempts: dict = {}  # (task, replica) -> Hadoop attempt id
        self._emitters: dict = {}  # task -> replica answered "emit"
        self._heard: dict = {}     # (task, replica) -> driver clock at its last message
        self._released: set = set()  # answered exit or emit: its work is over

    # -- the voting service's side --------------------------------------------------
    def dispatch(self, message: dict) -> dict:
        """The voting service's dispatcher: a first ``register`` of a launched replica
        tells the core that Hadoop started it, on the host and as the attempt it reports;
        ``ended`` entries about replicas of the sender's map task are their exits; an
        ``exit`` answer may become ``emit``; a heartbeat's answer names in ``end`` the
        replicas of the sender's map task the core holds dead; a ``reemit`` is answered
        here (:meth:`reemit`). Returns the reply (a dict); raises ProtocolError."""
        if message["kind"] == "reemit":
            return self.reemit(message)
        task, replica = message["task"], message["replica"]
        with self._lock:
            self._heard[(task, replica)] = self.driver.now()
        if message["kind"] == "register":
            self._start(task, replica, message["host"], message.get("attempt", ""))
        for t, r, status in message.get("ended", ()):
            if self._sharing((task, replica), (t, r)):
                self.exited(t, r, status)
        reply = self.driver.dispatch(message)
        if self.emit and message["kind"] == "request" and reply.get("action") == "exit":
            reply = self._maybe_emit(task, replica) or reply
        if reply.get("action") in ("exit", "emit"):
            with self._lock:
                self._released.add((task, replica))
        dead = self._dead_neighbours(task, replica) if message["kind"] == "heartbeat" else []
        return {**reply, "end": dead} if dead else reply

    def _dead_neighbours(self, task: int, replica: int) -> list:
        """``[task, replica]`` of the replicas of this replica's map task that the core holds
        dead and whose end is not known: the heartbeat's answer asks the map task's
        supervisor to end them (:mod:`dirft.runtime.container`), so a hung one found by the
        stall rule does not hold its map task up to the watchdog's limit."""
        return [[t, r] for t, r in self.neighbours(task, replica)
                if self.driver.replica_state(t, r) == "dead"]

    def _start(self, task: int, replica: int, host: str, attempt: str) -> None:
        key = (task, replica)
        with self._lock:
            first = key in self._where and key not in self._started
            if first:
                self._started.add(key)
                self._hosts[key] = host
                if attempt:
                    self._attempts[key] = attempt
        if first:
            self.driver.handle(E.ReplicaStarted(self.driver.now(), task, replica, host))

    def _sharing(self, key: tuple, other: tuple) -> bool:
        """True if the two replicas run in one map task of one wave (so the first may tell
        of the second's end); a replica never speaks of others."""
        with self._lock:
            here, there = self._where.get(key), self._where.get(other)
        return (here is not None and there is not None and key != other
                and here[0] is there[0] and here[1] == there[1])

    def _maybe_emit(self, task: int, replica: int) -> dict | None:
        """``emit`` with the task's decided outputs if this replica should write them: its
        task is decided, it is a live replica of wave 0 told to exit, and no sibling was
        chosen before. None otherwise."""
        located = self.located(task, replica)
        winners = self.driver.commits.get(task)
        if located is None or not located[0].emits or winners is None:
            return None
        # "stopping": the core cancels a task's live replicas when it decides it, the
        # replica whose own report decided it included; it is asking, so it is alive
        if self.driver.replica_state(task, replica) not in ("exiting", "stopping"):
            return None
        with self._lock:
            if task in self._emitters:
                return None
            self._emitters[task] = replica
        return {"action": "emit", "outputs": self._outputs(task)}

    def _outputs(self, task: int) -> list:
        """``[[path, SHA-256 hex], ...]`` of ``task``'s decided outputs, in sub-split order."""
        return [[output_path(self.output_dir, task, w.subsplit, w.replica), w.signature]
                for w in self.driver.commits[task]]

    def reemit(self, message: dict) -> dict:
        """Answer a re-run map attempt's ``reemit`` (``lines``: its manifest lines'
        ``(task, replica)``, the sender among them; ``attempt``: its Hadoop attempt id, a
        later attempt of the map task that holds those lines): ``{"action": "reemit",
        "emits": [[task, [[path, SHA-256 hex], ...]], ...]}``, every task whose emitter was
        one of the lines, with its decided outputs, from this book and the core's decided
        winners. Raises ProtocolError 403 for lines no one map task of a wave holds, or an
        attempt that is not a re-run of that map task (a peer's mistake, never a crash)."""
        lines, sender = list(message["lines"]), (message["task"], message["replica"])
        with self._lock:
            places = [self._where.get(line) for line in lines]
            emitters = dict(self._emitters)
        if sender not in lines or not self._one_map_task(places):
            raise ProtocolError(f"task {sender[0]} replica {sender[1]}: reemit for lines "
                                f"{lines} that no one map task was given; refused", 403)
        parsed = parse_attempt(message["attempt"])
        if (parsed is None or not parsed.is_map or parsed.number == 0
                or parsed.task != places[0][1]):
            raise ProtocolError(f"task {sender[0]} replica {sender[1]}: reemit from attempt "
                                f"{message['attempt']!r}, not a re-run of map task "
                                f"{places[0][1]}; refused", 403)
        return {"action": "reemit", "emits": [[task, self._outputs(task)]
                                              for task, replica in lines
                                              if emitters.get(task) == replica
                                              and task in self.driver.commits]}

    def _one_map_task(self, places: list) -> bool:
        """True if every ``(wave, map index)`` of ``places`` is known and the same."""
        first = places[0]
        return first is not None and all(
            p is not None and p[0] is first[0] and p[1] == first[1] for p in places)

    # -- the runner's side ------------------------------------------------------------
    def place(self, wave) -> None:
        """Note where each replica of ``wave`` runs (before it is submitted)."""
        with self._lock:
            for index, group in enumerate(wave.groups):
                for task, replica, _ in group:
                    self._where[(task, replica)] = (wave, index)

    def exited(self, task: int, replica: int, code: int) -> None:
        """The replica's process ended with ``code``: tell the core, the first time only."""
        with self._lock:
            if (task, replica) in self._exited:
                return
            self._exited.add((task, replica))
        self.driver.handle(E.ReplicaExited(self.driver.now(), task, replica, code))

    def gone(self, task: int, replica: int) -> bool:
        """True once the replica's end is known."""
        with self._lock:
            return (task, replica) in self._exited

    def silence(self, task: int, replica: int, now: float) -> float:
        """Seconds from the replica's last message to ``now`` (driver clock); infinite if
        it never sent one. A replica lingering under its supervisor still heartbeats."""
        with self._lock:
            return now - self._heard.get((task, replica), float("-inf"))

    def located(self, task: int, replica: int) -> tuple | None:
        """``(wave, map index)`` the replica runs in, or None if no wave holds it yet."""
        with self._lock:
            return self._where.get((task, replica))

    def attempt(self, task: int, replica: int) -> str | None:
        """The Hadoop attempt id the replica registered as (None before it did)."""
        with self._lock:
            return self._attempts.get((task, replica))

    def emitting(self, task: int, replica: int) -> bool:
        """True if ``replica`` was answered ``emit``: it is writing the decided outputs
        into the shuffle (without heartbeats), not hung; failing it would lose them.
        Hadoop's own ``mapreduce.task.timeout`` still ends one that stops writing."""
        with self._lock:
            return self._emitters.get(task) == replica

    def released(self, task: int, replica: int) -> bool:
        """True once the replica was answered ``exit`` or ``emit`` (to a request or a
        heartbeat): it heard that its work is over, so it ends by itself (under a map
        task's supervisor, with its neighbours: :mod:`dirft.runtime.container`)."""
        with self._lock:
            return (task, replica) in self._released

    def neighbours(self, task: int, replica: int) -> list:
        """``(task, replica)`` of the other replicas of this replica's map task (same wave)
        whose end is not known yet; [] if no wave holds it."""
        with self._lock:
            located = self._where.get((task, replica))
            if located is None:
                return []
            wave, index = located
            return [(t, r) for t, r, _ in wave.groups[index]
                    if (t, r) != (task, replica) and (t, r) not in self._exited]

    def replicas_of(self, wave, attempt: str) -> list:
        """``(task, replica)`` of every replica that ran in ``attempt`` of ``wave``: the
        map task of a replica that registered with that attempt id, else map task ``i``'s
        group (padded manifest files keep Hadoop's map order theirs)."""
        with self._lock:
            located = [self._where[k] for k, a in self._attempts.items()
                       if a == attempt and self._where.get(k, (None,))[0] is wave]
        index = located[0][1] if located else map_index(attempt)
        if index is None or index >= len(wave.groups):
            return []
        return [(t, r) for t, r, _ in wave.groups[index]]

    def emitted_all(self, counters: dict) -> bool:
        """True if wave 0's job counters show every task's outputs emitted exactly once by
        a successful attempt (``counters``: ``{group: {name: amount}}``)."""
        got, tasks = counters.get(EMIT_GROUP, {}), len(self.driver.plan.tasks)
        return len(got) == tasks and all(got.get(emit_counter(t)) == 1 for t in range(tasks))

    def planned(self) -> dict:
        """``{(task, replica): planned host}`` of every replica a wave holds: the host its
        map task asked for (:func:`~dirft.runners.locality.group_host`; "" for none)."""
        with self._lock:
            return {key: group_host(wave.groups[index])
                    for key, (wave, index) in self._where.items()}

    def hosts(self) -> dict:
        """``{(task, replica): host}`` each replica registered from."""
        with self._lock:
            return dict(self._hosts)
