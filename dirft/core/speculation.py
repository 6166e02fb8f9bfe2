"""Which running map tasks get a speculative backup (scheme ``se``). Pure.

Hadoop's straggler rule (Hadoop 1 ``JobInProgress``, ``mapreduce.job.speculative.*`` in
Hadoop 2+'s DefaultSpeculator): among the attempts that have run at least ``min_runtime``
seconds, an attempt whose progress rate — the fraction of its input done per second — is
more than ``slow_task_threshold`` standard deviations below the mean rate is a straggler.
The slowest stragglers get one backup each, within a cap on backups running at once.
"""

from collections.abc import Sequence
from statistics import fmean, pstdev

from dirft.core.scheme import Speculation
from dirft.core.task_state import ReplicaState, TaskState


def progress_rate(replica: ReplicaState, now: float) -> float:
    """Fraction of its input done per second since its phase began (0 if no time passed)."""
    elapsed = now - replica.assigned_at
    return replica.progress / elapsed if elapsed > 0 else 0.0


def pick_stragglers(tasks: Sequence[TaskState], speculation: Speculation,
                    now: float) -> list[TaskState]:
    """Return the tasks (TaskState, slowest first) that should get a backup now.

    ``tasks``: every TaskState of the job; ``speculation``: the scheme's
    :class:`~dirft.core.scheme.Speculation`; ``now``: seconds. A task qualifies when it is
    undecided, has no live backup yet, and its running attempt is a straggler (see module
    doc). Needs at least two timed attempts whose rates differ (a mean and a deviation).
    """
    timed = [(t, r) for t in tasks if not t.decided for r in t.replicas.values()
             if r.state == "working" and now - r.assigned_at >= speculation.min_runtime]
    if len(timed) < 2:
        return []
    rates = [progress_rate(r, now) for _, r in timed]
    mean, spread = fmean(rates), pstdev(rates)
    if spread <= 1e-9 * mean:
        return []  # equal rates (up to rounding): nobody is slower than the rest
    limit = mean - speculation.slow_task_threshold * spread
    slow = sorted((rate, t.index, t) for (t, r), rate in zip(timed, rates)
                  if rate < limit and not r.backup and not _has_live_backup(t))
    return [t for _, _, t in slow][:_allowed(tasks, speculation)]


def _has_live_backup(task: TaskState) -> bool:
    return any(r.backup and r.live for r in task.replicas.values())


def _allowed(tasks: Sequence[TaskState], speculation: Speculation) -> int:
    """Backups that may start now: Hadoop's caps minus the backups already running."""
    running = sum(1 for t in tasks if not t.decided and t.live_replicas())
    cap = max(speculation.minimum_allowed, speculation.cap_running * running,
              speculation.cap_total * len(tasks))
    return max(0, int(cap) - sum(1 for t in tasks if _has_live_backup(t)))
