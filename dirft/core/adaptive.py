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
* *Wide tail.* Once every task still queued fits in the cluster at once with R replicas, each
  is started with R·m replicas and R·m units (every sub-split cut into m pieces,
  m ≤ ``widen_max``, m·R·queued ≤ map slots): the same work and tolerance, spread over the
  slots the last wave would leave idle.
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

    ``widen_max``: most pieces per sub-split for tail tasks (1 disables the wide tail);
    ``eager_above``: fault share (0..1) of decided tasks above which new tasks start in
    full-replication shape (> 1: never); ``min_sample``: decided tasks needed first.
    """

    widen_max: int = 4
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

    def pick(self, count: int, prefer, exclude, least: int | None = None) -> list | None:
        """Up to ``count`` distinct nodes with a free slot, ``prefer`` (an ordered list)
        first, then the least busy (ties by name); never ``exclude`` or lost nodes. None if
        fewer than ``least`` (default ``count``) such nodes."""
        def ok(n):
            return n not in exclude and n not in self.lost and self.busy[n] < self.slots
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


def widen_factor(policy: Adaptive, queued: int, replicas: int, capacity: int,
                 usable_nodes: int) -> int:
    """Pieces per sub-split for the next task: m > 1 once ``queued`` tasks × ``replicas``
    fit in ``capacity`` slots, so that m·replicas·queued ≤ capacity; at most
    ``policy.widen_max`` and ``usable_nodes // replicas`` (replicas on distinct nodes)."""
    if queued * replicas > capacity:
        return 1
    m = min(policy.widen_max, capacity // (queued * replicas), usable_nodes // replicas)
    return max(m, 1)


def fault_share(tasks) -> tuple[int, float]:
    """``(decided, share)``: decided tasks among ``tasks`` and the share of them that saw a
    crash or a signature mismatch (0..1; 0 when none is decided)."""
    decided = [t for t in tasks if t.decided]
    hit = sum(1 for t in decided if t.mismatches or sum(t.failures.values()))
    return len(decided), (hit / len(decided) if decided else 0.0)
