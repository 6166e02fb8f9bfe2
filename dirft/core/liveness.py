"""The core's clock rules as pure functions over explicit parameters: the index of live
replicas and which of them are silent past their limit. Applied by
:class:`dirft.core.state.JobState` on every clock tick; ``now`` comes with the event.

The index: ``JobState.watched`` maps ``(task, replica id)`` to each replica that is live
(:data:`~dirft.core.task_state.LIVE_STATES`) and has shown a sign of life (``last_seen`` set:
its process started). ``JobState._move`` keeps it with :func:`watch`, since every state
change goes through ``_move`` and ``last_seen`` is set before a replica's first move (to
``started``). A clock tick scans the watched replicas, not every replica of the job: on a
500-split simulated job most replicas are long done or still waiting for a map slot
(BENCHMARKS.md, "_clock_ticked"). Kills happen in ``(task, replica id)`` order, the order
of a full scan, so every runner sees the same actions.
"""

from dirft.core.task_state import ReplicaState

Key = tuple[int, int]
"""``(task index, replica id)``."""


def watch(watched: dict[Key, ReplicaState], task: int, rep: ReplicaState) -> None:
    """Keep ``rep`` (of ``task``) in ``watched`` iff it is live and was seen."""
    if rep.live and rep.last_seen is not None:
        watched[(task, rep.rid)] = rep
    else:
        watched.pop((task, rep.rid), None)


def overdue(watched: dict[Key, ReplicaState], now: float, startup_timeout: float,
            heartbeat_timeout: float) -> list[Key]:
    """Sorted keys of the ``watched`` replicas silent past their limit at ``now`` (seconds:
    ``startup_timeout`` until a replica registers, then ``heartbeat_timeout``). One pass,
    no call per replica: this runs on every clock tick."""
    return sorted(key for key, rep in watched.items() if now - (rep.last_seen or 0.0) > (
        startup_timeout if rep.state == "started" else heartbeat_timeout))


def silence(rep: ReplicaState, upto: float, startup_timeout: float,
            heartbeat_timeout: float) -> str:
    """Why ``rep``, silent until ``upto`` (seconds), is declared dead: one line naming the
    limit and its key."""
    starting = rep.state == "started"
    limit = startup_timeout if starting else heartbeat_timeout
    what, name = ("did not register", "startup") if starting else ("no heartbeat",
                                                                     "heartbeat")
    return (f"{what} for {upto - (rep.last_seen or 0.0):.1f}s (> {limit}s, "
            f"dirft.{name}.timeout)")
