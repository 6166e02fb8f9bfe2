"""Reduce-side integrity under silent-error tolerance: replicated reducers, voted digests.

What is protected where (f_s >= 1; with f_s = 0 the stage runs each reducer once, as
Hadoop does):

* **map output at rest** — every committed map output is re-hashed while the partitioner
  reads it and must match the SHA-256 its quorum decided (:func:`verified_chunks`);
* **shuffle stream** — the partitioner hashes each partition's bytes as it writes them; each
  reduce replica feeds the partition file to its own sort through this process, hashing
  what sort receives; a replica whose stream does not match casts a void vote;
* **sort and reducer** — each partition is sorted and reduced by f_s + 1 independent
  replicas (their own sort and reducer processes); the SHA-256 of each replica's
  normalized output is its vote, and :class:`dirft.core.reduce_vote.PartitionVote` decides:
  f_s + 1 matching digests commit, a mismatch or a void vote runs one more replica, up to
  2 f_s + 1 runs, then the job aborts naming the partition and every vote. The winning
  replica's file is the one committed, by rename, so the committed bytes are the voted ones.

Not covered: the driver process itself (it decides, as the voting service does on the map
side), and the part files after their rename (as on the map side, storage is trusted once a
rename has committed). The Hadoop runner's commit job runs Hadoop's own reducers, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from dirft.core.reduce_vote import AbortPartition, CommitPartition, PartitionVote, RunReplicas
from dirft.errors import JobAborted
from dirft.shuffle.partition import remove_files
from fault_injector.reduce import plan_reduce_faults


@dataclass
class VoteOutcome:
    """One partition's voted reduce: the winner's (records, bytes, scanner) and the vote."""

    records: int
    size: int
    scanner: object
    vote: PartitionVote
    void: dict = field(default_factory=dict)


def replica_dest(final_temp: str, replica: int) -> str:
    """The temporary output path of reduce replica ``replica`` of the part ``final_temp``."""
    return f"{final_temp}.r{replica}"


def reduce_voted(partition: int, digest: str, quorum: int, max_runs: int,
                 run_replica: Callable[[int, str], tuple], final_temp: str) -> VoteOutcome:
    """Run replicas of one partition's reduce until ``quorum`` output digests agree.

    ``digest``: SHA-256 hex the partition's bytes had when written; ``run_replica(r,
    dest)`` runs replica ``r`` writing to ``dest`` and returns (records, bytes, scanner,
    hex of the bytes its sort received, hex of its output) — the reduce stage's
    ``_reduce_partition``. The winning file is renamed to ``final_temp``; the others are
    removed. Returns a :class:`VoteOutcome`. Raises :class:`JobAborted` with the vote's
    one-line message when no quorum is possible (nothing is left at ``final_temp``), and
    lets a failing reducer's TaskError through (a deterministic failure, not a vote).
    """
    vote, results = PartitionVote(partition, quorum, max_runs), {}
    step = vote.start()
    try:
        while isinstance(step, RunReplicas):
            for r in step.ids:
                results[r] = run_replica(r, replica_dest(final_temp, r))
                _record(vote, r, results[r], digest)
            step = vote.next()
        if isinstance(step, AbortPartition):
            raise JobAborted(step.message)
        assert isinstance(step, CommitPartition), step
        os.replace(replica_dest(final_temp, step.replica), final_temp)
        records, size, scanner = results[step.replica][:3]
        return VoteOutcome(records, size, scanner, vote, dict(vote.why))
    finally:
        remove_files(replica_dest(final_temp, r) for r in range(vote.started))


def _record(vote: PartitionVote, replica: int, result: tuple, digest: str) -> None:
    fed, output = result[3], result[4]
    if fed != digest:
        vote.record(replica, None, f"its shuffle stream hashed {fed[:12]}…, the partition "
                                   f"was written as {digest[:12]}…")
    else:
        vote.record(replica, output)


@dataclass(frozen=True)
class ReduceIntegrity:
    """How the reduce stage protects itself: ``silent`` = f_s silent errors tolerated per
    partition, injected ``faults`` ``{(partition, replica): ReduceFault}``
    (:func:`fault_injector.reduce.plan_reduce_faults`), and ``check``: with f_s = 0, still
    run the one replica through the vote, so its shuffle stream is checked (the
    digests-only candidate of ``bench/reduce_integrity.py``)."""

    silent: int = 0
    faults: dict = field(default_factory=dict)
    check: bool = False

    @property
    def active(self) -> bool:
        """True when partitions are reduced through the vote: f_s >= 1, ``check``, or
        faults planned (then even f_s = 0 checks the shuffle stream of its one run)."""
        return self.silent >= 1 or self.check or bool(self.faults)

    @property
    def votes(self) -> tuple[int, int]:
        """(quorum, max runs) of reduce replicas: (f_s + 1, 2 f_s + 1); with f_s = 0 and
        ``check``, (1, 2): a run whose shuffle stream fails its digest is re-executed once."""
        return self.silent + 1, 2 * self.silent + 1 + (self.silent == 0 and self.check)


def reduce_integrity(conf, num_reduces: int) -> ReduceIntegrity:
    """The reduce stage's protection from the jobconf: f_s from the fault keys unless
    ``dirft.reduce.integrity`` is off, and the injected reduce faults (seeded by
    ``dirft.fault.seed``) when ``mapred.map.tasks.fault.inject`` is on."""
    silent = conf.silent_faults if conf.get("dirft.reduce.integrity") == "auto" else 0
    faults = {}
    if conf.get("mapred.map.tasks.fault.inject"):
        faults = plan_reduce_faults(num_reduces, silent + 1, conf.get("dirft.fault.reduce.mode"),
                                    conf.get("dirft.fault.reduce.percent"),
                                    conf.get("dirft.fault.seed"),
                                    conf.get("dirft.fault.replicas.per.task"))
    return ReduceIntegrity(silent, faults)


def integrity_summary(result) -> dict:
    """The report's ``reduce_integrity`` entry from a :class:`ReduceResult` (None: no reduce):
    reducer runs per partition, partitions whose votes disagreed, void votes and why."""
    if result is None or not result.reduce_runs:
        return {"voted": False}
    return {"voted": True, "reducer_runs": list(result.reduce_runs),
            "mismatched_partitions": list(result.mismatched),
            "void_votes": {str(p): {str(r): why for r, why in v.items()}
                           for p, v in sorted(result.void_votes.items())}}
