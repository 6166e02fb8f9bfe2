"""Per-task bookkeeping of the core: replicas, sub-splits, votes and the task's story.

These are plain records; every rule that changes them lives in :mod:`dirft.core.state`.
Replica states (a ``Literal`` type), their named subsets and the transitions allowed
between them are defined here, once.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from dirft.core.quorum import leading

#: Replica life cycle. pending: launch asked, waiting for a map slot; started: process
#: running, not yet registered; idle: registered, between phases; working: a sub-split in
#: flight; waiting: told to ask again later; exiting: told to exit; stopping: killed by us
#: because its work is no longer needed; exited: its process ended after that; dead:
#: crashed, timed out, lost or gave up — its in-flight vote is revoked.
ReplicaStatus = Literal["pending", "started", "idle", "working", "waiting", "exiting",
                        "stopping", "exited", "dead"]
#: Replicas that may still vote.
LIVE_STATES: frozenset[ReplicaStatus] = frozenset(
    {"pending", "started", "idle", "working", "waiting"})
#: Live replicas that will ask for work on their own soon: they reserve the units their
#: rotation reaches next (the lockstep of ``JobState._reserved``).
ACTIVE_STATES: frozenset[ReplicaStatus] = frozenset({"started", "idle", "working"})
#: Live replicas that hold their map slot to work: neither waiting nor told to leave.
BUSY_STATES: frozenset[ReplicaStatus] = frozenset({"pending", "started", "idle", "working"})
#: Live replicas not registered yet (a launch in the runner's queue, or starting).
STARTING_STATES: frozenset[ReplicaStatus] = frozenset({"pending", "started"})
#: Registered replicas between phases: they could take a piece of a unit now.
BETWEEN_PHASES: frozenset[ReplicaStatus] = frozenset({"idle", "waiting"})
#: Replicas the core told to end: their exit is expected, not a crash.
ENDING_STATES: frozenset[ReplicaStatus] = frozenset({"exiting", "stopping"})
#: The moves allowed from each state (``JobState._move`` refuses any other).
TRANSITIONS: dict[ReplicaStatus, frozenset[ReplicaStatus]] = {
    "pending": frozenset({"started", "stopping", "dead"}),
    "started": frozenset({"idle", "exiting", "stopping", "dead"}),
    "idle": frozenset({"working", "waiting", "exiting", "stopping", "dead"}),
    "working": frozenset({"idle", "stopping", "dead"}),
    "waiting": frozenset({"working", "waiting", "exiting", "stopping", "dead"}),
    "exiting": frozenset({"exited", "dead"}),
    "stopping": frozenset({"exited", "dead"}),
    "exited": frozenset(),
    "dead": frozenset(),
}


@dataclass
class ReplicaState:
    """One replica of a map task: ``rid`` (id within the task), ``node``, its state.

    ``processed`` holds the sub-splits it reported a signature for; ``current`` the
    sub-split in flight (or None); ``phase`` how many assignments it got (1-based phases);
    ``last_seen`` the ``now`` (seconds) of its latest sign of life; ``cause`` why it died;
    ``shared``: it started on a host that was not independent (a lost node, or one running
    a sibling) and was replaced, so it did no work; ``stalled_at``: the ``last_seen`` it had
    when a clock tick found it silent past the stall limit (:mod:`dirft.core.stall`).
    """

    rid: int
    node: str
    state: ReplicaStatus = "pending"
    processed: set[int] = field(default_factory=set)
    current: int | None = None
    phase: int = 0
    last_seen: float | None = None
    cause: str = ""
    assigned_at: float = 0.0
    progress: float = 0.0
    backup: bool = False
    shared: bool = False
    stalled_at: float | None = None

    @property
    def live(self) -> bool:
        """True while the replica may still produce votes."""
        return self.state in LIVE_STATES


@dataclass
class SubsplitState:
    """Votes on one work unit: ``votes`` maps replica id -> SHA-256 hex it reported.

    ``index`` is its unit id (:mod:`dirft.core.units`), ``start``/``length`` its byte range;
    ``in_flight`` holds the replicas working on it now; ``decided`` is the winning
    signature once ``quorum`` distinct replicas agree, then never changes.
    """

    index: int
    length: int
    start: int = 0
    votes: dict[int, str] = field(default_factory=dict)
    in_flight: set[int] = field(default_factory=set)
    decided: str | None = None
    retired: bool = False

    def leading(self) -> tuple[str | None, int]:
        """Return (signature, count) with the most votes (:func:`~dirft.core.quorum.leading`:
        ties to the smallest hex)."""
        return leading(self.votes.values())

    def needed(self, quorum: int) -> int:
        """Votes still needed in the best case: quorum minus the leading count."""
        return 0 if self.decided else quorum - self.leading()[1]

    @property
    def mismatched(self) -> bool:
        """True when the votes carry more than one distinct signature."""
        return len(set(self.votes.values())) > 1


@dataclass
class TaskState:
    """One map task: its replicas, work units, the counts for the report, and its story.

    ``units``: the units still in use, in byte order (their outputs, concatenated, are the
    task's output); ``order``: unit ids of the rotation (DIRFT's sub-splits, or the pieces
    of a wide task); ``pieces``: unit ids cut later for recovery; ``eager``: replicas work on
    a unit even when enough votes are in flight (full-replication shape). ``extra_launched`` counts replicas launched beyond the initial ones;
    ``relocated`` the replicas replaced because they started on a host that was not
    independent (:attr:`~dirft.core.jobplan.JobPlan.host_retries`); ``work_bytes`` the
    input bytes of every assignment handed out (for "extra work"); ``story`` is a list of
    one-line transitions, for error messages.
    """

    index: int
    replicas: dict[int, ReplicaState] = field(default_factory=dict)
    units: list[SubsplitState] = field(default_factory=list)
    decided: bool = False
    extra_launched: int = 0
    relocated: int = 0
    work_bytes: int = 0
    mismatches: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    story: list[str] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    pieces: list[int] = field(default_factory=list)
    eager: bool = False
    by_id: dict[int, SubsplitState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {u.index: u for u in self.units}
        self.order = self.order or [u.index for u in self.units]

    def unit(self, index: int) -> SubsplitState | None:
        """The unit with id ``index`` (retired ones too), or None."""
        return self.by_id.get(index)

    def set_units(self, units: list[SubsplitState], order: list[int] | None = None) -> None:
        """Replace every unit (before any replica of the task started); ``order`` (default:
        all of them) is the rotation."""
        self.units = list(units)
        self.by_id = {u.index: u for u in units}
        self.order = list(order) if order is not None else [u.index for u in units]

    def replace(self, old: SubsplitState, pieces: list[SubsplitState]) -> None:
        """Retire unit ``old`` in favour of ``pieces`` (its byte range, in order)."""
        at = next(i for i, u in enumerate(self.units) if u is old)
        self.units[at:at + 1] = pieces
        old.retired = True
        for p in pieces:
            self.by_id[p.index] = p
            self.pieces.append(p.index)

    def rotation(self, rid: int) -> list[int]:
        """Unit ids replica ``rid`` tries, in order: the rotation i, i+1, … of ``order``
        (DIRFT's), then recovery pieces from position ``rid`` on; retired units left out."""
        k, n = len(self.order), len(self.pieces)
        ids = [self.order[(rid + j) % k] for j in range(k)]
        ids += [self.pieces[(rid + j) % n] for j in range(n)]
        return [i for i in ids if not self.by_id[i].retired] if self.pieces else ids

    def position(self, rid: int, index: int) -> int:
        """Phase (0-based) in which replica ``rid``'s rotation reaches unit ``index`` of
        ``order``; a large number for a recovery piece (no replica plans to reach it)."""
        if index not in self.by_id or self.by_id[index].index not in self.order:
            return 1 << 30
        return (self.order.index(index) - rid) % len(self.order)

    def live_replicas(self) -> list[ReplicaState]:
        """Replicas that may still vote, in id order."""
        return [r for r in self.replicas.values() if r.live]

    @property
    def disputed(self) -> bool:
        """Undecided, and its votes disagreed (adaptive DIRFT's ``SlotBook.overrun``)."""
        return not self.decided and self.mismatches > 0

    @property
    def phases(self) -> int:
        """Phases run: the most assignments any replica of this task received."""
        return max((r.phase for r in self.replicas.values()), default=0)

    def tell(self, now: float, line: str, keep: int = 200) -> None:
        """Append one line to the story (at most ``keep`` lines are kept)."""
        self.story.append(f"t={now:.3f} {line}")
        del self.story[:-keep]
