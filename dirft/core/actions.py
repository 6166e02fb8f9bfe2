"""Actions: what the core tells the shells to do, in the imperative.

The shells carry them out and report back with events. Actions addressed to one replica
(:class:`AssignSubsplit`, :class:`WaitForWork`, :class:`ExitReplica`,
:class:`RejectMessage`) are answers to that replica's request; the others go to the runner.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LaunchReplica:
    """Start replica ``replica`` of map task ``task`` on ``node`` (a map slot there)."""

    task: int
    replica: int
    node: str


@dataclass(frozen=True)
class AssignSubsplit:
    """Tell the replica to process ``subsplit``: this is its ``phase``-th (1-based) phase."""

    task: int
    replica: int
    subsplit: int
    phase: int


@dataclass(frozen=True)
class WaitForWork:
    """Tell the replica nothing is free now: ask again later (in-flight work may fail)."""

    task: int
    replica: int


@dataclass(frozen=True)
class ExitReplica:
    """Tell the replica its task needs nothing more from it: exit cleanly."""

    task: int
    replica: int


@dataclass(frozen=True)
class KillReplica:
    """Kill the replica's process (or drop its pending launch); ``reason`` for the log."""

    task: int
    replica: int
    reason: str


@dataclass(frozen=True)
class RejectMessage:
    """The replica's message contradicts the core's state: answer ``status`` (4xx)."""

    task: int
    replica: int
    status: int
    reason: str


@dataclass(frozen=True)
class Winner:
    """The committed copy chosen for one sub-split: ``replica``'s output, ``signature``."""

    subsplit: int
    replica: int
    signature: str


@dataclass(frozen=True)
class CommitTaskOutput:
    """Task ``task`` is decided: its output is, per sub-split in order, the winner's copy."""

    task: int
    winners: tuple[Winner, ...]


@dataclass(frozen=True)
class AbortJob:
    """The job is beyond its tolerance: commit nothing and stop; ``message`` says why."""

    task: int
    subsplit: int
    message: str


@dataclass(frozen=True)
class FinishJob:
    """Every map task is decided: stop the replicas and run the reduce stage."""


Action = (LaunchReplica | AssignSubsplit | WaitForWork | ExitReplica | KillReplica
          | RejectMessage | CommitTaskOutput | AbortJob | FinishJob)

REPLY_ACTIONS = (AssignSubsplit, WaitForWork, ExitReplica, RejectMessage)
#: The core's decisions, logged in order by every shell (the driver's ``decisions``, the
#: simulator's) so a real run and a simulated one can be compared decision by decision.
DECISIONS = (LaunchReplica, AssignSubsplit, CommitTaskOutput, AbortJob)
