"""Hosts as the cluster chose them (issue 20): independence of a task's replicas. Pure.

When the cluster places replicas itself (``JobPlan.host_retries`` set: YARN on the Hadoop
runner), a replica's planned node is a preference and its host is known only when it
starts. Two replicas of one task on one host are not independent: one machine failure
takes both, so with f_c = 1 one lost node could abort the job. :class:`JobState` stops
such a replica before it works and launches a replacement (``JobState._replace``), within
``host_retries`` per task; so it does for a replica whose map task ended before it ever
started (YARN lost the container with its node, and Hadoop's re-run attempt of a replica
job ends at once). These are the facts it asks.
"""

from dirft.core.jobplan import JobPlan
from dirft.core.task_state import ReplicaState, TaskState


def twin_on(task: TaskState, rep: ReplicaState, host: str) -> ReplicaState | None:
    """A registered (not pending) live replica of ``task`` other than ``rep`` running on
    ``host``, the lowest id first; None if there is none."""
    return next((r for r in task.replicas.values() if r is not rep and r.node == host
                 and r.live and r.state != "pending"), None)


def not_independent(plan: JobPlan, task: TaskState, rep: ReplicaState, host: str,
                    lost: set[str]) -> str | None:
    """Why ``rep``, starting on ``host``, is not an independent replica of ``task``: the
    cluster places replicas (``plan.host_retries`` set) and ``host`` is lost, or runs a
    registered live sibling while the task has host retries left. None if it is."""
    if plan.host_retries is None:
        return None
    if host in lost:
        return f"started on lost node {host}: not independent"
    twin = twin_on(task, rep, host)
    if twin is None or task.relocated >= plan.host_retries:
        return None
    return f"started on host {host}, which runs r{twin.rid} of this task: not independent"


def preference(plan: JobPlan, rep: ReplicaState) -> bool:
    """True if ``rep.node`` is only where the replica should go: it is pending and the
    cluster places replicas itself (``plan.host_retries`` set)."""
    return rep.state == "pending" and plan.host_retries is not None


def replacement_node(plan: JobPlan, task: TaskState, host: str,
                     lost: set[str]) -> str | None:
    """The node a replacement of a replica that started on ``host`` should prefer: not
    ``host``, no host of a registered live replica, no lost node
    (:meth:`JobPlan.node_for_extra`); None if no live node is left."""
    used = {r.node for r in task.replicas.values() if r.live and r.state != "pending"}
    return plan.node_for_extra(task.index, used | {host}, lost)
