"""Votes on the output of one reduce partition: the reduce side's quorum rule.

Under silent-error tolerance f_s >= 1 the reduce stage runs each partition's reducer as
replicas and votes on the SHA-256 of their outputs, as BFT MapReduce does for its reducers
(Costa et al. 2011, "Byzantine Fault-Tolerant MapReduce": f + 1 reduce replicas, outputs
compared by digest, more replicas only on a mismatch). The rule, pure (no I/O, no clock):

* start ``quorum`` = f_s + 1 replicas;
* a replica's vote is the SHA-256 hex of its normalized output, or *void* when its input
  stream did not match the partition's digest (a flipped shuffle stream) or it failed;
* the partition is decided once ``quorum`` votes agree; the winner is the lowest replica
  id with that digest;
* otherwise one more replica per vote still missing, up to ``max_runs`` = 2 f_s + 1 runs in
  all (the most a quorum of f_s + 1 can need with f_s faulty runs); past that the job
  aborts with a one-line message naming the partition and every vote seen.

Each replica re-reads the partition from its file and re-sorts it, so no two votes share a
sort or a reducer process; the partition file itself is covered by its digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dirft.core.quorum import first_voter, leading


@dataclass(frozen=True)
class RunReplicas:
    """Run reduce replicas ``ids`` of the partition (ids are 0-based, never reused)."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class CommitPartition:
    """Commit the output of replica ``replica``, whose ``digest`` won the vote."""

    replica: int
    digest: str


@dataclass(frozen=True)
class AbortPartition:
    """No quorum is possible any more: abort the job with ``message`` (one line)."""

    message: str


@dataclass
class PartitionVote:
    """The votes on reduce partition ``partition`` (quorum and run bound as in the module doc).

    ``votes`` maps replica id -> digest hex, or None for a void vote; ``why`` keeps the
    reason of each void vote for the abort message.
    """

    partition: int
    quorum: int
    max_runs: int
    votes: dict[int, str | None] = field(default_factory=dict)
    why: dict[int, str] = field(default_factory=dict)
    started: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.quorum <= self.max_runs:
            raise ValueError(f"partition {self.partition}: quorum {self.quorum} and "
                             f"max_runs {self.max_runs} need 1 <= quorum <= max_runs")

    def start(self) -> RunReplicas:
        """The first replicas to run: ``quorum`` of them."""
        return self._run(self.quorum)

    def record(self, replica: int, digest: str | None, why: str = "") -> None:
        """Take the vote of ``replica``: its output digest, or None (void) and ``why``.

        Raises ValueError for a replica never started or one that already voted (a bug of
        the shell, not a fault).
        """
        if not 0 <= replica < self.started or replica in self.votes:
            raise ValueError(f"partition {self.partition}: replica {replica} was not started "
                             f"or already voted")
        self.votes[replica] = digest
        if digest is None:
            self.why[replica] = why or "void"

    def next(self) -> RunReplicas | CommitPartition | AbortPartition | None:
        """What to do now: None while started replicas have not all voted."""
        if len(self.votes) < self.started:
            return None
        digest, count = self.leading()
        if digest is not None and count >= self.quorum:
            return CommitPartition(first_voter(self.votes, digest), digest)
        missing = self.quorum - count
        if self.started + missing > self.max_runs:
            return AbortPartition(self._abort_message(missing))
        return self._run(missing)

    def leading(self) -> tuple[str | None, int]:
        """(digest, votes) of the most voted digest, void votes left out
        (:func:`~dirft.core.quorum.leading`: ties to the smallest hex); (None, 0)."""
        return leading(d for d in self.votes.values() if d is not None)

    @property
    def mismatched(self) -> bool:
        """True when the votes carry two digests or a void vote (a fault was seen)."""
        return len(set(self.votes.values())) > 1 or None in self.votes.values()

    def _run(self, count: int) -> RunReplicas:
        ids = tuple(range(self.started, self.started + count))
        self.started += count
        return RunReplicas(ids)

    def _abort_message(self, missing: int) -> str:
        seen = ", ".join(f"r{r}: {d[:12]}…" if d else f"r{r}: void ({self.why[r]})"
                         for r, d in sorted(self.votes.items()))
        return (f"reduce partition {self.partition}: no quorum of {self.quorum} matching "
                f"output digests after {self.started} of at most {self.max_runs} reducer "
                f"runs ({missing} more needed); seen {{{seen}}}. Nothing was committed; "
                f"check the reducer is deterministic, the nodes' memory and disks, or raise "
                f"mapred.map.tasks.fault.tolerance")
