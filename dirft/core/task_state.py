"""Per-task bookkeeping of the core: replicas, sub-splits, votes and the task's story.

These are plain records; every rule that changes them lives in :mod:`dirft.core.state`.
Replica states and the transitions allowed between them are listed here, in one table.
"""

from collections import Counter
from dataclasses import dataclass, field

# Replica life cycle. pending: launch asked, waiting for a map slot; started: process
# running, not yet registered; idle: registered, between phases; working: a sub-split in
# flight; waiting: told to ask again later; exiting: told to exit; stopping: killed by us
# because its work is no longer needed; exited: its process ended after that; dead: crashed,
# timed out, lost or gave up — its in-flight vote is revoked.
REPLICA_STATES = ("pending", "started", "idle", "working", "waiting", "exiting",
                  "stopping", "exited", "dead")
LIVE_STATES = frozenset({"pending", "started", "idle", "working", "waiting"})
TRANSITIONS = {
    "pending": {"started", "stopping", "dead"},
    "started": {"idle", "exiting", "stopping", "dead"},
    "idle": {"working", "waiting", "exiting", "stopping", "dead"},
    "working": {"idle", "stopping", "dead"},
    "waiting": {"working", "waiting", "exiting", "stopping", "dead"},
    "exiting": {"exited", "dead"},
    "stopping": {"exited", "dead"},
    "exited": set(),
    "dead": set(),
}


@dataclass
class ReplicaState:
    """One replica of a map task: ``rid`` (id within the task), ``node``, its state.

    ``processed`` holds the sub-splits it reported a signature for; ``current`` the
    sub-split in flight (or None); ``phase`` how many assignments it got (1-based phases);
    ``last_seen`` the ``now`` (seconds) of its latest sign of life; ``cause`` why it died.
    """

    rid: int
    node: str
    state: str = "pending"
    processed: set = field(default_factory=set)
    current: int | None = None
    phase: int = 0
    last_seen: float | None = None
    cause: str = ""
    assigned_at: float = 0.0
    progress: float = 0.0
    backup: bool = False

    @property
    def live(self) -> bool:
        """True while the replica may still produce votes."""
        return self.state in LIVE_STATES


@dataclass
class SubsplitState:
    """Votes on one work unit: ``votes`` maps replica id -> SHA-256 hex it reported.

    ``in_flight`` holds the replicas working on it now; ``decided`` is the winning
    signature once ``quorum`` distinct replicas agree, then never changes.
    """

    index: int
    length: int
    votes: dict = field(default_factory=dict)
    in_flight: set = field(default_factory=set)
    decided: str | None = None

    def leading(self) -> tuple[str | None, int]:
        """Return (signature, count) with the most votes; ties broken by smallest hex."""
        if not self.votes:
            return None, 0
        counts = Counter(self.votes.values())
        return max(sorted(counts.items()), key=lambda kv: kv[1])

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

    ``extra_launched`` counts replicas launched beyond the initial ones; ``work_bytes`` the
    input bytes of every assignment handed out (for "extra work"); ``story`` is a list of
    one-line transitions, for error messages.
    """

    index: int
    replicas: dict = field(default_factory=dict)
    units: list = field(default_factory=list)
    decided: bool = False
    extra_launched: int = 0
    work_bytes: int = 0
    mismatches: int = 0
    failures: Counter = field(default_factory=Counter)
    story: list = field(default_factory=list)

    def live_replicas(self) -> list:
        """Replicas that may still vote, in id order."""
        return [r for r in self.replicas.values() if r.live]

    @property
    def phases(self) -> int:
        """Phases run: the most assignments any replica of this task received."""
        return max((r.phase for r in self.replicas.values()), default=0)

    def tell(self, now: float, line: str, keep: int = 200) -> None:
        """Append one line to the story (at most ``keep`` lines are kept)."""
        self.story.append(f"t={now:.3f} {line}")
        del self.story[:-keep]
