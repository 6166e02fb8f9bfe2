"""A tiny event pump for core tests: drives JobState with replicas that behave as told.

Each replica follows a :class:`Behaviour`; the pump picks the next thing that happens
(a replica starts, finishes a phase, crashes, polls, exits) with a seeded ``random.Random``
so hypothesis can explore interleavings. Honest replicas report the true signature of a
sub-split; liars report a wrong one. No I/O, no clock: ``now`` advances by one per step.
"""

import contextlib
import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.jobplan import JobPlan, TaskPlan
from dirft.core.planner import InputSplit, SubSplit
from dirft.core.state import JobState


def true_signature(task: int, subsplit: int) -> str:
    """The SHA-256 an honest replica reports for (task, sub-split)."""
    return hashlib.sha256(f"good {task} {subsplit}".encode()).hexdigest()


def lie(task: int, subsplit: int, replica: int, collude: bool) -> str:
    """A wrong signature: shared by all liars when ``collude``, else per replica."""
    who = "all" if collude else replica
    return hashlib.sha256(f"bad {task} {subsplit} {who}".encode()).hexdigest()


@dataclass
class Behaviour:
    """How one replica misbehaves: crash at the end of phase ``crash_at``; lie in ``lie_at``."""

    crash_at: int | None = None
    lie_at: frozenset = frozenset()
    collude: bool = False


def make_plan(scheme, tasks: int = 2, split_bytes: int = 1000, nodes: int = 6,
              timeout: float = 5.0) -> JobPlan:
    """A plan with ``tasks`` splits of one file, replicas on distinct nodes."""
    names = tuple(f"node{i}" for i in range(nodes))
    plans = []
    for t in range(tasks):
        split = InputSplit(t, "/in.txt", t * split_bytes, split_bytes, names[:3])
        k, base = scheme.subsplits, split_bytes // scheme.subsplits
        subs = tuple(SubSplit(i, split.start + i * base,
                              base if i < k - 1 else split_bytes - base * (k - 1))
                     for i in range(k))
        nodes_t = tuple(names[(t + i) % nodes] for i in range(scheme.initial_replicas))
        plans.append(TaskPlan(t, split, subs, nodes_t))
    return JobPlan(tuple(plans), names, scheme, timeout, seed=1)


@dataclass
class Pump:
    """Runs one job to its end. ``actions`` records every action the core returned."""

    plan: JobPlan
    behaviours: dict
    rng: object
    state: JobState = None
    now: float = 0.0
    actions: list = field(default_factory=list)
    pending: list = field(default_factory=list)     # (task, replica) to start
    working: dict = field(default_factory=dict)     # (task, replica) -> (subsplit, phase)
    waiting: dict = field(default_factory=dict)     # (task, replica) -> version seen
    exiting: set = field(default_factory=set)
    alive: set = field(default_factory=set)         # processes running
    version: int = 0
    start_first: bool = False                        # every replica starts before any work
    lose: tuple | None = None                        # (step, node): lose that node then
    lost_at: int = 0                                 # index in ``actions`` when it happened

    def __post_init__(self):
        self.state = JobState(self.plan, validate=True)

    def feed(self, *events) -> list:
        out = self.state.handle(*events)
        self.actions.extend(out)
        for act in out:
            self._apply(act)
        return out

    def _apply(self, act) -> None:
        key = (act.task, act.replica) if hasattr(act, "replica") else None
        if isinstance(act, A.LaunchReplica):
            self.pending.append(key)
        elif isinstance(act, A.AssignSubsplit):
            self.working[key] = (act.subsplit, act.phase)
        elif isinstance(act, A.WaitForWork):
            self.waiting[key] = self.version
        elif isinstance(act, A.ExitReplica):
            self.exiting.add(key)
        elif isinstance(act, A.KillReplica):
            self._vanish(key)
            if key in self.alive:
                self.exiting.add(("killed",) + key)

    def _vanish(self, key) -> None:
        for bag in (self.working, self.waiting):
            bag.pop(key, None)
        if key in self.pending:
            self.pending.remove(key)

    def run(self, max_steps: int = 5000) -> str:
        """Pump until FinishJob ("finished"), AbortJob ("aborted") or no step ("stuck")."""
        self.feed(E.JobStarted(self.now))
        for _ in range(max_steps):
            if self.state.aborted:
                return "aborted"
            steps = self._steps()
            if not steps:
                return "finished" if self.state.finished else "stuck"
            self.now += 1
            if self.lose and self.now >= self.lose[0] and not self.lost_at:
                self._lose_node(self.lose[1])
                continue
            self.rng.choice(steps)()
        return "looping"

    def _steps(self) -> list:
        steps = [lambda k=k: self._start(k) for k in self.pending]
        if steps and self.start_first:
            return steps
        steps += [lambda k=k: self._finish_phase(k) for k in self.working]
        steps += [lambda k=k: self._poll(k) for k, v in self.waiting.items() if v < self.version]
        steps += [lambda k=k: self._exit(k) for k in self.exiting]
        return steps

    def _lose_node(self, node: str) -> None:
        """Kill every process on ``node`` (the runner's part), then tell the core."""
        self.lost_at = len(self.actions) or 1
        for (t, r) in list(self.alive):
            if self.state.tasks[t].replicas[r].node == node:
                self._gone((t, r))
        for key in list(self.pending):
            if self.state.tasks[key[0]].replicas[key[1]].node == node:
                self.pending.remove(key)
        self.version += 1
        self.feed(E.NodeLost(self.now, node))

    def _start(self, key) -> None:
        self.pending.remove(key)
        t, r = key
        self.version += 1
        self.alive.add(key)
        self.feed(E.ReplicaStarted(self.now, t, r, self.state.tasks[t].replicas[r].node))
        self.feed(E.ReplicaRegistered(self.now, t, r, "host"), E.WorkRequested(self.now, t, r))

    def _finish_phase(self, key) -> None:
        (t, r), (s, phase) = key, self.working.pop(key)
        self.version += 1
        b = self.behaviours.get(key, Behaviour())
        if b.crash_at == phase:
            self._gone(key)
            self.feed(E.ReplicaExited(self.now, t, r, 1))
            return
        sig = lie(t, s, r, b.collude) if phase in b.lie_at else true_signature(t, s)
        self.feed(E.SignatureReported(self.now, t, r, s, sig), E.WorkRequested(self.now, t, r))

    def _poll(self, key) -> None:
        self.waiting.pop(key)
        self.feed(E.WorkRequested(self.now, *key))

    def _exit(self, key) -> None:
        killed = key[0] == "killed"
        rkey = key[1:] if killed else key
        self._gone(rkey)
        self.version += 1
        self.feed(E.ReplicaExited(self.now, *rkey, -9 if killed else 0))

    def _gone(self, key) -> None:
        self.alive.discard(key)
        self.exiting.discard(key)
        self.exiting.discard(("killed",) + key)
        self._vanish(key)

    def commits(self) -> dict:
        """Task -> tuple of winning signatures, from the CommitTaskOutput actions."""
        return {a.task: tuple(w.signature for w in a.winners)
                for a in self.actions if isinstance(a, A.CommitTaskOutput)}



@contextlib.contextmanager
def validating(*modules: str) -> Iterator[None]:
    """Within the block, every :class:`JobState` that ``modules`` (dotted names, e.g.
    ``"dirft.sim.engine"``) build checks its invariants after each ``handle`` (a shell
    builds it with production's default, validation off)."""
    with pytest.MonkeyPatch.context() as patch:
        for module in modules:
            patch.setattr(f"{module}.JobState", functools.partial(JobState, validate=True))
        yield
