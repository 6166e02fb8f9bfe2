"""Fault tolerance and the replication schemes, as parameters of the one core.

Every scheme (docs/design.md, 'Schemes') is the same state machine with other numbers: how many
replicas start, how many sub-splits a task's input split is cut into, how many matching
signatures decide a sub-split, whether replicas may work on a unit that already has enough
votes in flight, and how many extra replicas a task may launch when faults are detected.
"""

from dataclasses import dataclass

from dirft.core.adaptive import Adaptive
from dirft.errors import ConfigError

SCHEMES = ("dirft", "frft", "bft", "se", "none")
#: Schemes whose replicas report signatures to the voting service: the layer owns
#: re-execution. Under se and none Hadoop (or the local runner emulating it) re-executes.
VOTED_SCHEMES = ("dirft", "frft", "bft")


@dataclass(frozen=True)
class Tolerance:
    """Faults one map task must survive: ``crash`` = f_c, ``silent`` = f_s (counts >= 0).

    Source: the DIRFT paper (Ganguly et al., IEEE CLOUD 2017), R = f_c + 2·f_s + 1.
    """

    crash: int
    silent: int

    @property
    def replicas(self) -> int:
        """R = f_c + 2·f_s + 1: replicas (and sub-splits) per task under DIRFT and FRFT."""
        return self.crash + 2 * self.silent + 1

    @property
    def quorum(self) -> int:
        """f_s + 1: matching signatures from distinct replicas that decide a sub-split."""
        return self.silent + 1

    @classmethod
    def from_paper_keys(cls, tolerance: int, nature: int) -> "Tolerance":
        """Build from ``mapred.map.tasks.fault.tolerance`` (f >= 0) and ``…fault.nature``.

        Nature 1 = crash (f_c = f), 2 = silent (f_s = f), 3 = both (f_c = f_s = f), as in
        the paper's prototype. Raises :class:`ConfigError` naming the key otherwise.
        """
        if tolerance < 0:
            raise ConfigError(
                f"mapred.map.tasks.fault.tolerance: {tolerance} is negative; use 0 or more")
        if nature not in (1, 2, 3):
            raise ConfigError(
                f"mapred.map.tasks.fault.nature: {nature} is not 1 (crash), 2 (silent) or 3 (both)")
        crash = tolerance if nature in (1, 3) else 0
        silent = tolerance if nature in (2, 3) else 0
        return cls(crash=crash, silent=silent)


@dataclass(frozen=True)
class Speculation:
    """When speculative execution launches a backup of a running attempt (scheme ``se``).

    Hadoop's rule (``mapreduce.job.speculative.*``, DefaultSpeculator / Hadoop 1's
    JobInProgress): an attempt that has run at least ``min_runtime`` seconds is a straggler
    when its progress rate (fraction of its input per second) is more than
    ``slow_task_threshold`` standard deviations below the mean rate of the running attempts.
    Backups running at once are capped at max(``minimum_allowed``, ``cap_running`` × running
    tasks, ``cap_total`` × all tasks). After a check that launched a backup the next check
    waits ``retry_after_speculate`` seconds, otherwise ``retry_after_no_speculate``.
    """

    slow_task_threshold: float = 1.0
    cap_running: float = 0.1
    cap_total: float = 0.01
    minimum_allowed: int = 10
    min_runtime: float = 1.0
    retry_after_speculate: float = 15.0
    retry_after_no_speculate: float = 1.0


@dataclass(frozen=True)
class Scheme:
    """One replication policy of the core (docs/design.md, 'Schemes').

    ``initial_replicas``: replicas started per task at job start. ``subsplits``: work units
    per input split (R for DIRFT, 1 for the whole-split schemes). ``quorum``: matching
    signatures from distinct replicas that decide a unit. ``eager``: every replica works on
    a unit at once even if enough votes are in flight (full replication, BFT's first round);
    DIRFT is lazy and never duplicates work unless a fault requires it. ``extra_replicas``:
    replicas a task may launch beyond the initial ones when faults leave a unit short of a
    quorum. ``checks_silent``: whether silent errors can be detected at all.
    ``adaptive``: adaptive DIRFT's parameters (:mod:`dirft.core.adaptive`), None for the
    paper's plain DIRFT and for the baselines.
    """

    name: str
    tolerance: Tolerance
    initial_replicas: int
    subsplits: int
    quorum: int
    eager: bool
    extra_replicas: int
    checks_silent: bool
    speculation: Speculation | None = None
    adaptive: Adaptive | None = None

    @property
    def voted(self) -> bool:
        """True if replicas report signatures that are voted on (dirft, frft, bft)."""
        return self.name in VOTED_SCHEMES


def make_scheme(name: str, tolerance: Tolerance, max_attempts: int = 4,
                extra_max: int = 0, speculation: Speculation | None = None,
                adaptive: Adaptive | None = None) -> Scheme:
    """Return the :class:`Scheme` named ``dirft``, ``frft``, ``bft``, ``se`` or ``none``.

    ``max_attempts`` is ``mapreduce.map.maxattempts`` (Hadoop's re-execution bound, used by
    ``none`` and ``se``); ``extra_max`` is ``dirft.replicas.extra.max``, extra replicas
    allowed beyond what the scheme needs within its tolerance; ``speculation`` the straggler
    rule of ``se`` (Hadoop's defaults if None); ``adaptive`` turns ``dirft`` into adaptive
    DIRFT (ignored by the other schemes). Raises :class:`ConfigError` for other names.
    """
    r, q = tolerance.replicas, tolerance.quorum
    if name == "dirft":
        return Scheme(name, tolerance, r, r, q, False, extra_max, True, adaptive=adaptive)
    if name == "frft":
        return Scheme(name, tolerance, r, 1, q, True, extra_max, True)
    if name == "bft":  # Costa et al. 2011: f_s+1 copies, one more per mismatch or crash
        extra = tolerance.silent + tolerance.crash + extra_max
        return Scheme(name, tolerance, q, 1, q, True, extra, True)
    if name == "se":  # Hadoop: one attempt, a backup when it fails or straggles; first wins
        return Scheme(name, tolerance, 1, 1, 1, True, max_attempts + extra_max, False,
                      speculation or Speculation())
    if name == "none":  # Hadoop: one attempt, re-executed up to maxattempts on failure
        return Scheme(name, tolerance, 1, 1, 1, False, max_attempts - 1 + extra_max, False)
    raise ConfigError(f"dirft.scheme: {name!r} is not one of {', '.join(SCHEMES)}")
