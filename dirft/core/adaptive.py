"""Adaptive DIRFT and node quarantine: the policies' parameters and their bookkeeping. Pure.

The rules themselves are applied by :class:`dirft.core.state.JobState`; this module holds
their parameters, the books they keep (:class:`SlotBook`, :class:`NodeRecord`, a field
each of the state) and the pure computations they use (placing a wave or the tail,
shaping a task's units).

**Adaptive DIRFT** (``dirft.adaptive``, default on; the paper's plain DIRFT when off) changes
three things, all decided by the core so every runner gets them:

* *Gang start.* When the plan knows the map slots per node (local runner, simulator), the
  core launches a task only when all of its replicas can start at once, each on a distinct
  node with a free slot (block holders first), instead of queueing every replica at job
  start. A task never runs some replicas now and the rest a wave later, which in the paper's
  silent-mode grid made 52 of 500 fault-free tasks run three phases on two replicas.
* *Planned waves.* The queue is placed a wave (map slots / R tasks) at a time, all of the
  wave's replicas at once by a maximum flow onto block holders (:func:`place_wave`), and a
  task starts when its planned nodes have free slots: placing tasks one by one as slots free
  let early tasks take the only holders of later ones (in the 500-split crash grid 344 of
  the second wave's 400 replicas read their block over the network). Wave tasks still queued
  once the running ones are past a quarter of their work join the tail instead.
* *Wide tail.* Once every task still queued fits in the cluster at once with R replicas, the
  slots are shared out among them: each starts with k ≥ R replicas over k pieces of its
  split (k ≤ R·``widen_max``, Σk ≤ map slots), placed up front on distinct nodes
  (:func:`place_tail`): the same work and tolerance (every piece gets its quorum of votes
  from distinct replicas, each replica works f_s + 1 phases), spread over the slots the
  last wave would leave idle.
* *Recovery interweaving.* A sub-split left with no vote and nobody working on it (its
  replica crashed) is cut into one piece per idle live replica of the task, when there are
  more of them than the quorum, so they share it instead of one doing all of it. A disputed
  sub-split (votes that disagree) is not cut: its votes are the evidence that names the
  replica in error (for quarantine) once one more whole vote arrives.
* *Eager switch.* Once ``min_sample`` tasks are decided and the share of them that saw a
  fault exceeds ``eager_above`` (the cost model's break-even, computed by the shell), tasks
  started from then on run in full-replication shape: R replicas over the whole split.

**Quarantine** (``dirft.quarantine.*``): a node on which ``lost_votes`` replicas lost a vote
(their signature differed from the decided one: a confirmed silent error) or ``crashes``
replicas crashed (exit or heartbeat timeout) gets no new replica for the rest of the job,
as long as at most ``max_share`` of the nodes are quarantined (field studies of silent data
corruption — Hochschild et al., "Cores that don't count", HotOS 2021; Dixit et al., "Silent
data corruptions at scale", 2021 — find it concentrated on a few repeat-offender machines;
an evenly spread fault rate must not empty the cluster).
"""

import itertools
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dirft.core.task_state import BUSY_STATES, ReplicaState, SubsplitState
from dirft.core.units import cut, piece_id, split_piece_id, whole_id

Holders = Mapping[int, Sequence[str]]
"""{task index: nodes holding a copy of its split's block}."""
_Vertex = tuple[str, Any]
"""A vertex of :func:`place_wave`'s flow graph: ``("t", task index)`` or ``("n", node)``."""


@dataclass(frozen=True)
class Adaptive:
    """Adaptive DIRFT's parameters (see module doc).

    ``widen_max``: a tail task gets at most R·widen_max replicas (1 disables the wide tail);
    ``eager_above``: fault share (0..1) of decided tasks above which new tasks start in
    full-replication shape (> 1: never); ``min_sample``: decided tasks needed first.
    """

    widen_max: int
    eager_above: float = 2.0
    min_sample: int = 20


@dataclass(frozen=True)
class Quarantine:
    """When a node gets no new replicas: after ``lost_votes`` lost votes or ``crashes``
    crashes of replicas on it (0: never for that cause), while at most ``max_share``
    (0..1) of the cluster's nodes are quarantined."""

    lost_votes: int = 1
    crashes: int = 3
    max_share: float = 0.1


@dataclass
class NodeRecord:
    """Offences per node and the quarantined nodes, under ``rule`` for ``nodes`` nodes."""

    rule: Quarantine
    nodes: int
    votes: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    quarantined: dict[str, str] = field(default_factory=dict)  # node -> why, in order

    def offence(self, node: str, kind: str) -> str | None:
        """Count one offence (``kind`` "vote" or "crash") of ``node``; return a one-line
        reason if the node is quarantined by it, else None."""
        book, limit = ((self.votes, self.rule.lost_votes) if kind == "vote"
                       else (self.crashes, self.rule.crashes))
        book[node] += 1
        cap = max(1, int(self.rule.max_share * self.nodes)) if self.rule.max_share > 0 else 0
        room = len(self.quarantined) < cap
        if node in self.quarantined or not limit or book[node] < limit or not room:
            return None
        what = "lost vote(s)" if kind == "vote" else "crashed replica(s)"
        why = self.quarantined[node] = f"{book[node]} {what}"
        return why


@dataclass
class BatchPlan:
    """Nodes planned for the next queued tasks (a wave of R-replica tasks, or the tail):
    ``nodes`` {task: nodes}, the planned tasks ``started``, ``tail`` True for the tail;
    ``stale`` once a node was lost or quarantined after planning (the queue is planned
    again over the slots left)."""

    nodes: dict[int, tuple[str, ...]] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    tail: bool = False
    stale: bool = False


class SlotBook:
    """Adaptive DIRFT's map slots as the core sees them: a field of
    :class:`dirft.core.state.JobState`, which applies the rules; this object only keeps
    the books.

    ``slots`` per node; ``busy`` {node: slots held}; ``holding`` {(task, replica id): node
    whose slot it holds}; ``queue``: the tasks not launched yet, in index order; ``lost``:
    nodes without slots; ``batch``: the :class:`BatchPlan` of the next queued tasks (None
    until the first is planned). A replica holds a slot on its node from its launch until
    its process ends (or its pending launch is dropped). Invariant (checked by
    :mod:`dirft.core.invariants`): on every node not lost, ``busy`` counts ``holding``.
    """

    def __init__(self, nodes: Iterable[str], slots: int, tasks: int) -> None:
        self.slots = slots
        self.busy = {node: 0 for node in nodes}
        self.holding: dict[tuple[int, int], str] = {}
        self.queue = deque(range(tasks))
        self.lost: set[str] = set()
        self.batch: BatchPlan | None = None

    def capacity(self, exclude: Collection[str] = ()) -> int:
        """Map slots on nodes neither lost nor in ``exclude``."""
        return self.slots * sum(1 for n in self.busy if n not in self.lost and n not in exclude)

    def pick(self, count: int, prefer: Iterable[str], exclude: Collection[str],
             least: int | None = None, spread: bool = False) -> list[str] | None:
        """Up to ``count`` distinct nodes with a free slot, ``prefer`` (an ordered list)
        first, then the least busy (ties by name); never ``exclude`` or lost nodes. None if
        fewer than ``least`` (default ``count``) such nodes. ``spread``: the least busy
        first, ``prefer`` only among equals (keeps free slots on many distinct nodes)."""
        def ok(n: str) -> bool:
            return n not in exclude and n not in self.lost and self.busy[n] < self.slots
        if spread:
            rank = {n: i for i, n in enumerate(dict.fromkeys(prefer))}
            chosen = sorted((n for n in self.busy if ok(n)),
                            key=lambda n: (self.busy[n], rank.get(n, len(rank)), n))[:count]
            return chosen if len(chosen) >= (count if least is None else least) else None
        chosen = [n for n in dict.fromkeys(prefer) if n in self.busy and ok(n)][:count]
        if len(chosen) < count:
            rest = sorted((self.busy[n], n) for n in self.busy if ok(n) and n not in chosen)
            chosen += [n for _, n in rest[:count - len(chosen)]]
        return chosen if len(chosen) >= (count if least is None else least) else None

    def take(self, task: int, rid: int, node: str) -> None:
        """Replica ``rid`` of ``task``, just launched, holds a slot on ``node``."""
        self.busy[node] += 1
        self.holding[(task, rid)] = node

    def release(self, task: int, rid: int) -> bool:
        """Replica ``rid`` of ``task`` lets its slot go; False if it held none (never
        launched under the book, released already, or its node was lost)."""
        node = self.holding.pop((task, rid), None)
        if node is None:
            return False
        self.busy[node] -= 1
        return True

    def lose(self, node: str) -> None:
        """``node`` is lost: its slots are gone with its processes (no exit will come), and
        the queued tasks are planned again over the slots left."""
        self.stale()
        self.lost.add(node)
        for key in [k for k, n in self.holding.items() if n == node]:
            del self.holding[key]

    def stale(self) -> None:
        """A node's slots left the cluster (lost or quarantined): plan the queue again."""
        if self.batch is not None:
            self.batch.stale = True

    def overrun(self, task: int) -> None:
        """``task``'s votes disagree, so it holds its slots for one more phase: the queued
        tail tasks are planned again without them (a wave task only; tail tasks' slots are
        left out already). Not after a crash: under crash faults at 100 % of the tasks
        (300 splits, seed 1) leaving out every hit task's slots made the tail so narrow
        that adaptive DIRFT took 1.03 x FRFT's time."""
        if self.batch is not None and self.batch.tail and task not in self.batch.started:
            self.batch.stale = True

    def spare(self, avoid: Collection[str]) -> list[str]:
        """Usable nodes (not lost, not in ``avoid``) with more free slots than the planned
        tasks still queued need there, least busy first."""
        planned = self.batch.nodes if self.batch is not None else {}
        want = Counter(n for i in itertools.takewhile(planned.__contains__, self.queue)
                       for n in planned[i])
        return sorted((n for n in self.busy if n not in avoid and n not in self.lost
                       and self.slots - self.busy[n] > want[n]),
                      key=lambda n: (self.busy[n], n))


def wave_done(replicas: Iterable[ReplicaState], phases: int) -> float:
    """Mean share (0..1) of their work done by ``replicas`` that hold their slots to work
    (:data:`~dirft.core.task_state.BUSY_STATES`): phases done plus the current phase's
    progress, over ``phases`` (f_s + 1); 0 if there are none."""
    done = [min(1.0, (rep.phase - (rep.state == "working") + rep.progress * (
                rep.state == "working")) / phases)
            for rep in replicas if rep.state in BUSY_STATES]
    return sum(done) / len(done) if done else 0.0


def shape_units(units: list[SubsplitState], width: int, subsplits: int,
                replicas: int) -> list[SubsplitState] | None:
    """The units of a task about to start with ``width`` replicas, or None to keep its
    planned sub-splits (``width`` R): ``width`` pieces of the split (a wide tail task), or
    the whole split (``width`` 0: full-replication shape). ``units``: its planned
    sub-splits; ``subsplits``: R, the scheme's sub-splits per split; ``replicas``: R."""
    start, length = units[0].start, sum(u.length for u in units)
    if width == 0:
        return [SubsplitState(whole_id(subsplits), length, start)]
    if width > replicas:
        return [SubsplitState(split_piece_id(subsplits, width, j), size, at)
                for j, (at, size) in enumerate(cut(start, length, width))]
    return None


def pieces_of(unit: SubsplitState, count: int, subsplits: int) -> list[SubsplitState]:
    """``count`` pieces of sub-split ``unit`` (its byte range, in order) for recovery
    interweaving; ``subsplits``: the scheme's sub-splits per split (R)."""
    return [SubsplitState(piece_id(subsplits, unit.index, count, j), size, at)
            for j, (at, size) in enumerate(cut(unit.start, unit.length, count))]


def tail_widths(queued: int, replicas: int, capacity: int, usable_nodes: int,
                widen_max: int, most: int) -> list[int] | None:
    """Replicas per task for the last ``queued`` tasks, or None while they do not all fit
    at once with ``replicas`` each in ``capacity`` slots (not the tail yet).

    The slots are shared out: each task gets ``capacity // queued`` or one more (the wider
    first), at least ``replicas``, at most ``replicas·widen_max``, ``usable_nodes``
    (replicas on distinct nodes) and ``most`` (pieces a split may be cut into). All R when
    ``widen_max`` is 1.
    """
    if not queued or queued * replicas > capacity:
        return None
    top = min(replicas * widen_max, usable_nodes, most)
    base, extra = divmod(capacity, queued)
    return [max(replicas, min(top, base + (1 if i < extra else 0))) for i in range(queued)]


def place_tail(tasks: Sequence[int], widths: Sequence[int], holders: Holders,
               nodes: Sequence[str], slots: int) -> list[tuple[str, ...]]:
    """Nodes for each tail task: ``widths[i]`` distinct nodes among ``nodes`` for task
    ``tasks[i]``, at most ``slots`` tail replicas per node.

    Greedy, the nodes with the most room left first, block holders (``holders[task]``)
    among equals: wider tasks come first (``tail_widths`` orders them so), which keeps
    every later task placeable whenever the widths fit in the slots (Gale–Ryser). Placed
    up front because the tail fills every slot: placing as slots free would leave the
    last tasks' free slots on too few distinct nodes.
    """
    room = {n: slots for n in nodes}
    out = []
    for task, width in zip(tasks, widths):
        mine = set(holders[task])
        chosen = sorted((n for n in room if room[n] > 0),
                        key=lambda n: (-room[n], n not in mine, n))[:width]
        for n in chosen:
            room[n] -= 1
        out.append(tuple(chosen))
    return out


def place_wave(tasks: Sequence[int], width: int, holders: Holders, nodes: Sequence[str],
               slots: int) -> list[tuple[str, ...]]:
    """Nodes for a wave of ``tasks``: ``width`` distinct nodes each among ``nodes``, at
    most ``slots`` replicas per node, as many as possible on block holders
    (``holders[task]``): a maximum flow, found by augmenting paths (Ford–Fulkerson; a
    replica on a full holder moves to another of its holders to make room); replicas left
    over go to the nodes with the most room left. Placing a whole wave at once keeps the
    greedy choice of early tasks from taking the only holders of later ones.
    """
    room = {n: slots for n in nodes}
    on: dict[int, list[str]] = {t: [] for t in tasks}
    users: dict[str, list[int]] = {n: [] for n in nodes}
    for task in tasks:
        for _ in range(width):
            if not _augment(task, holders, room, on, users):
                break
    for task in tasks:
        extra = sorted((n for n in room if room[n] > 0 and n not in on[task]),
                       key=lambda n: (-room[n], n))[:width - len(on[task])]
        for n in extra:
            room[n] -= 1
        on[task] += extra
    return [tuple(on[t]) for t in tasks]


def _augment(task: int, holders: Holders, room: dict[str, int], on: dict[int, list[str]],
             users: dict[str, list[int]]) -> bool:
    """One more replica of ``task`` on a holder, along a shortest augmenting path."""
    parent: dict[_Vertex, _Vertex | None] = {("t", task): None}
    frontier: deque[_Vertex] = deque([("t", task)])
    while frontier:
        kind, x = frontier.popleft()
        if kind == "n":
            for u in users[x]:
                if ("t", u) not in parent:
                    parent[("t", u)] = ("n", x)
                    frontier.append(("t", u))
            continue
        for n in holders[x]:
            if n in room and n not in on[x] and ("n", n) not in parent:
                parent[("n", n)] = ("t", x)
                if room[n] > 0:
                    _apply(("n", n), parent, room, on, users)
                    return True
                frontier.append(("n", n))
    return False


def _apply(node: _Vertex, parent: dict[_Vertex, _Vertex | None], room: dict[str, int],
           on: dict[int, list[str]], users: dict[str, list[int]]) -> None:
    """Carry out an augmenting path ending on a node with room (see :func:`_augment`)."""
    room[node[1]] -= 1
    while True:
        step = parent[node]
        assert step is not None  # a node's parent is the task that moves onto it
        x = step[1]
        on[x].append(node[1])
        users[node[1]].append(x)
        back = parent[("t", x)]
        if back is None:
            return
        on[x].remove(back[1])
        users[back[1]].remove(x)
        node = back
