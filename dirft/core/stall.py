"""Stalled replicas: a working replica silent past ``dirft.stall.timeout`` opens its
sub-split to an idle sibling. Pure functions over explicit parameters, applied by
:class:`dirft.core.state.JobState` on every clock tick and at every work request.

The rule, after Hadoop's speculative attempt (a backup of a slow attempt runs beside it;
the first to finish wins, the other is killed; ``mapreduce.map.speculative``): a replica
that works on sub-split u and has been silent (no heartbeat, report or request:
``last_seen``) for longer than the stall limit is *stalled*. Its in-flight vote on u no
longer covers u, and it no longer reserves the units its rotation reaches next
(``JobState._reserved``), so the next sibling that asks for work — one waiting for work
asks again every ``dirft.poll.interval`` — gets u as well: a duplicate, not a
replacement. The stalled replica keeps its assignment; whichever quorum of votes comes
first decides u, and a later vote on a decided u changes nothing (a matching one is one
more vote, a different one an offence of its node, as for any late vote). The heartbeat
timeout still declares the stalled replica dead if it stays silent; if its task is decided
first, it is killed as dead with cause ``stall`` (the report's ``crashes_detected_by``).

A replica is stalled only while it stays silent: ``stalled_at`` holds the ``last_seen``
it had when the tick marked it, and any message since moves ``last_seen`` on, which ends
the stall (a replica resumed by SIGCONT, or one whose machine was busy). Healthy replicas
heartbeat every ``dirft.heartbeat.interval`` (1 s), so the limit (3 s by default, 0: off)
passes only on a hung or starved one; a duplicate for a starved one costs an idle
sibling's CPU, never output, since every vote is checked against the quorum as before.
"""

from dirft.core.jobplan import JobPlan
from dirft.core.liveness import Key
from dirft.core.task_state import ReplicaState, SubsplitState, TaskState


def is_stalled(rep: ReplicaState) -> bool:
    """True if ``rep`` works on a sub-split and has been silent since a tick marked it."""
    return (rep.state == "working" and rep.stalled_at is not None
            and rep.stalled_at == rep.last_seen)


def newly_stalled(watched: dict[Key, ReplicaState], upto: float,
                  limit: float) -> list[Key]:
    """Sorted keys of the ``watched`` replicas that work on a sub-split, have been silent
    for longer than ``limit`` seconds at ``upto`` (seconds, the tick's listening time) and
    are not marked yet; none when ``limit`` is 0 (the rule is off)."""
    if limit <= 0:
        return []
    return sorted(key for key, rep in watched.items()
                  if rep.state == "working" and not is_stalled(rep)
                  and upto - (rep.last_seen or 0.0) > limit)


def moving(task: TaskState, unit: SubsplitState) -> int:
    """Replicas in flight on ``unit`` that are not stalled: the in-flight votes that
    still cover it."""
    return sum(1 for rid in unit.in_flight if not is_stalled(task.replicas[rid]))


def stall_line(rep: ReplicaState, upto: float, limit: float) -> str:
    """One line saying that ``rep``, silent until ``upto`` (seconds), is stalled: for the
    task's story and, once its task is decided, its cause of death."""
    return (f"no heartbeat for {upto - (rep.last_seen or 0.0):.1f}s while on sub-split "
            f"{rep.current} (> {limit}s, dirft.stall.timeout)")


def story_line(rep: ReplicaState, upto: float, limit: float) -> str:
    """The task's story line when a tick marks ``rep`` stalled (:func:`stall_line`)."""
    return f"r{rep.rid} stalled: {stall_line(rep, upto, limit)}; a sibling may take it too"


def at_decision(rep: ReplicaState, now: float, plan: JobPlan) -> str:
    """The cause of death of ``rep``, still stalled at ``now`` (seconds) when its task is
    decided: found hung, and not needed any more."""
    return stall_line(rep, now, plan.stall_timeout) + " when its task was decided"
