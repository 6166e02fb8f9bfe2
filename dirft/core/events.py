"""Events: what happened, in the past tense, as the shells report it to the core.

Every event carries ``now``, the shell's clock in seconds (any monotonic origin); the core
never reads a clock of its own. Events about one replica name its ``task`` (map task index,
>= 0) and ``replica`` (replica id within the task, >= 0, issued by the core).
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JobStarted:
    """The driver is ready: the core answers with the first replicas to launch."""

    now: float


@dataclass(frozen=True)
class ReplicaStarted:
    """The runner started the replica's process on ``node`` (heartbeat clock starts)."""

    now: float
    task: int
    replica: int
    node: str


@dataclass(frozen=True)
class ReplicaRegistered:
    """The replica's process said hello from ``host`` (its first message)."""

    now: float
    task: int
    replica: int
    host: str


@dataclass(frozen=True)
class HeartbeatReceived:
    """The replica is alive; ``progress`` (0..1) is its progress through its current phase."""

    now: float
    task: int
    replica: int
    progress: float = 0.0


@dataclass(frozen=True)
class SignatureReported:
    """The replica committed its output of ``subsplit`` and reports its SHA-256 (hex).

    ``output_bytes`` is the size of that committed output, for the report only.
    """

    now: float
    task: int
    replica: int
    subsplit: int
    signature: str
    output_bytes: int = 0


@dataclass(frozen=True)
class WorkRequested:
    """The replica asks for its next sub-split (after registering or reporting)."""

    now: float
    task: int
    replica: int


@dataclass(frozen=True)
class ReplicaGaveUp:
    """The replica's user program failed; ``reason`` is one line from its stderr."""

    now: float
    task: int
    replica: int
    reason: str


@dataclass(frozen=True)
class ReplicaExited:
    """The replica's process ended with ``returncode`` (negative: killed by that signal)."""

    now: float
    task: int
    replica: int
    returncode: int


@dataclass(frozen=True)
class NodeLost:
    """The runner lost ``node``: its replicas are gone and its block copies unreadable."""

    now: float
    node: str


@dataclass(frozen=True)
class ReplicaLost:
    """The runner lost the replica through no fault of its own (on YARN: its replica job's
    ApplicationMaster went with a lost node, and every container of that application
    attempt with it): its in-flight work is revoked, the votes it reported stay, and it is
    replaced within the task's host retries (:mod:`dirft.core.hosts`), not counted as a
    crash. ``reason``: one line for the task's story."""

    now: float
    task: int
    replica: int
    reason: str


@dataclass(frozen=True)
class ClockTicked:
    """Time passed: the core checks heartbeat timeouts against ``now``.

    ``heard``: the latest time (same clock, seconds) at which the voting service was known
    to be reading the replicas' messages, or None for ``now``. A replica's silence counts
    only up to it: a driver whose process was starved of CPU (a loaded node) finds its
    messages unread on waking, and must not declare their senders dead for its own stall.
    """

    now: float
    heard: float | None = None


class ReplicaEvent(Protocol):
    """Any event about one replica (every event but JobStarted, NodeLost, ClockTicked)."""

    @property
    def task(self) -> int: ...

    @property
    def replica(self) -> int: ...


Event = (JobStarted | ReplicaStarted | ReplicaRegistered | HeartbeatReceived
         | SignatureReported | WorkRequested | ReplicaGaveUp | ReplicaExited | NodeLost
         | ReplicaLost | ClockTicked)
