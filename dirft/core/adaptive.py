"""Adaptive DIRFT and node quarantine: the policies' parameters and their bookkeeping. Pure.

The rules themselves are applied by :class:`dirft.core.state.JobState`; this module holds
what they need to remember, so the state machine stays one readable file.

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

from collections import Counter, deque
from dataclasses import dataclass, field


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
    votes: Counter = field(default_factory=Counter)
    crashes: Counter = field(default_factory=Counter)
    quarantined: dict = field(default_factory=dict)  # node -> why, in order

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
        self.quarantined[node] = f"{book[node]} {what}"
        return self.quarantined[node]


@dataclass
class BatchPlan:
    """Nodes planned for the next queued tasks (a wave of R-replica tasks, or the tail):
    ``nodes`` {task: nodes}, the planned tasks ``started``, ``tail`` True for the tail;
    ``stale`` once a node was lost or quarantined after planning (the queue is planned
    again over the slots left)."""

    nodes: dict = field(default_factory=dict)
    started: set = field(default_factory=set)
    tail: bool = False
    stale: bool = False


class SlotBook:
    """Map slots as the core sees them: ``slots`` per node, replicas holding them, and the
    tasks not launched yet (``queue``, in index order).

    A replica holds a slot on its node from its launch until its process ends (or its
    pending launch is dropped). ``lost`` nodes have no slots.
    """

    def __init__(self, nodes, slots: int, tasks: int) -> None:
        self.slots = slots
        self.busy = {node: 0 for node in nodes}
        self.queue = deque(range(tasks))
        self.lost: set = set()

    def capacity(self, exclude=()) -> int:
        """Map slots on nodes neither lost nor in ``exclude``."""
        return self.slots * sum(1 for n in self.busy if n not in self.lost and n not in exclude)

    def pick(self, count: int, prefer, exclude, least: int | None = None,
             spread: bool = False) -> list | None:
        """Up to ``count`` distinct nodes with a free slot, ``prefer`` (an ordered list)
        first, then the least busy (ties by name); never ``exclude`` or lost nodes. None if
        fewer than ``least`` (default ``count``) such nodes. ``spread``: the least busy
        first, ``prefer`` only among equals (keeps free slots on many distinct nodes)."""
        def ok(n):
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

    def take(self, node: str) -> None:
        """A replica now holds a slot on ``node``."""
        self.busy[node] += 1

    def give(self, node: str) -> None:
        """A replica on ``node`` let its slot go."""
        self.busy[node] -= 1


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


def place_tail(tasks, widths, holders, nodes, slots: int) -> list[tuple[str, ...]]:
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


def place_wave(tasks, width: int, holders, nodes, slots: int) -> list[tuple[str, ...]]:
    """Nodes for a wave of ``tasks``: ``width`` distinct nodes each among ``nodes``, at
    most ``slots`` replicas per node, as many as possible on block holders
    (``holders[task]``): a maximum flow, found by augmenting paths (Ford–Fulkerson; a
    replica on a full holder moves to another of its holders to make room); replicas left
    over go to the nodes with the most room left. Placing a whole wave at once keeps the
    greedy choice of early tasks from taking the only holders of later ones.
    """
    room = {n: slots for n in nodes}
    on = {t: [] for t in tasks}
    users = {n: [] for n in nodes}
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


def _augment(task, holders, room, on, users) -> bool:
    """One more replica of ``task`` on a holder, along a shortest augmenting path."""
    parent = {("t", task): None}
    frontier = deque([("t", task)])
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


def _apply(node, parent, room, on, users) -> None:
    """Carry out an augmenting path ending on a node with room (see :func:`_augment`)."""
    room[node[1]] -= 1
    while True:
        x = parent[node][1]
        on[x].append(node[1])
        users[node[1]].append(x)
        back = parent[("t", x)]
        if back is None:
            return
        on[x].remove(back[1])
        users[back[1]].remove(x)
        node = back
