"""The invariants of :class:`dirft.core.state.JobState`, checked as a whole. Pure.

:meth:`JobState.validate` runs :func:`check` (after every ``handle`` when the state was
built with ``validate=True``, as every test builds it): it walks the job once (every task,
sub-split, replica and map slot: linear in the job's size) and raises
:class:`~dirft.errors.InvariantViolated` naming the task, replica, sub-split or node and
what is wrong. A violation is the core's own bug, never a peer's: the rules in
:mod:`dirft.core.state` keep these facts true, and the shells rely on them (a unit in
flight is one some replica works on; a decided task has no replica left to vote; a map
slot the core counts busy is held by one of its replicas). After dask/distributed's
``WorkerState.validate_state``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from dirft.core.adaptive import SlotBook
from dirft.core.hosts import preference
from dirft.core.task_state import LIVE_STATES, TRANSITIONS, ReplicaState, TaskState
from dirft.errors import InvariantViolated

if TYPE_CHECKING:
    from dirft.core.state import JobState


def check(state: JobState) -> None:
    """Raise :class:`InvariantViolated` at the first invariant ``state`` breaks; else None."""
    for task in state.tasks:
        _check_task(state, task)
    _check_job(state)
    if state.book is not None:
        _check_slots(state, state.book)


def _fail(task: TaskState | None, what: str) -> InvariantViolated:
    """The error for a broken invariant: one line, with the task's last story lines."""
    if task is None:
        return InvariantViolated(f"core invariant broken: {what}")
    return InvariantViolated(f"core invariant broken: task {task.index}: {what}; story: "
                             f"{' | '.join(task.story[-5:])}")


def _check_task(state: JobState, task: TaskState) -> None:
    """A task's sub-splits and replicas agree with each other and with its decision."""
    for rep in task.replicas.values():
        _check_replica(state, task, rep)
    for unit in task.by_id.values():
        for rid in unit.in_flight:
            worker = task.replicas.get(rid)
            if worker is None or worker.state != "working" or worker.current != unit.index:
                raise _fail(task, f"sub-split {unit.index} counts replica {rid} in flight, "
                            f"which is {worker and worker.state} on {worker and worker.current}")
        for rid in unit.votes:
            if rid not in task.replicas or unit.index not in task.replicas[rid].processed:
                raise _fail(task, f"sub-split {unit.index} holds a vote of replica {rid}, "
                            f"which did not process it")
        if unit.decided is not None:
            count = sum(1 for v in unit.votes.values() if v == unit.decided)
            if count < state.scheme.quorum:
                raise _fail(task, f"sub-split {unit.index} decided by {count} vote(s), "
                            f"quorum {state.scheme.quorum}")
    if task.decided != all(u.decided is not None for u in task.units):
        raise _fail(task, f"decided is {task.decided} but its sub-splits' decisions are "
                    f"{[u.decided is not None for u in task.units]}")
    if task.decided and task.live_replicas():
        raise _fail(task, f"decided, yet replicas {[r.rid for r in task.live_replicas()]} "
                    f"are live")
    _check_hosts(state, task)
    if task.extra_launched > state.scheme.extra_replicas:
        raise _fail(task, f"{task.extra_launched} extra replicas launched, at most "
                    f"{state.scheme.extra_replicas} allowed")


def _check_hosts(state: JobState, task: TaskState) -> None:
    """When the cluster places replicas: no more replacements than ``host_retries``, and
    two registered live replicas share a host only once the task has used them all."""
    retries = state.plan.host_retries
    if task.relocated > (retries or 0):
        raise _fail(task, f"{task.relocated} replicas replaced for their host, at most "
                    f"{retries or 0} allowed")
    hosts = Counter(r.node for r in task.replicas.values() if r.live and r.state != "pending")
    shared = sorted(h for h, n in hosts.items() if n > 1)
    if retries is not None and shared and task.relocated < retries:
        raise _fail(task, f"live replicas share host(s) {shared} with "
                    f"{retries - task.relocated} host retries left")


def _check_replica(state: JobState, task: TaskState, rep: ReplicaState) -> None:
    """One replica: a known state, work in flight iff working, votes behind ``processed``."""
    name = f"replica {rep.rid}"
    if rep.state not in TRANSITIONS:
        raise _fail(task, f"{name} is in unknown state {rep.state!r}")
    if (rep.current is not None) != (rep.state == "working"):
        raise _fail(task, f"{name} is {rep.state} with sub-split {rep.current} in flight")
    unit = task.by_id.get(rep.current) if rep.current is not None else None
    if rep.current is not None and (unit is None or rep.rid not in unit.in_flight):
        raise _fail(task, f"{name} works on sub-split {rep.current}, which does not count "
                    f"it in flight")
    for s in rep.processed:
        if s not in task.by_id or rep.rid not in task.by_id[s].votes:
            raise _fail(task, f"{name} processed sub-split {s} but its vote is missing")
    if rep.phase < len(rep.processed):
        raise _fail(task, f"{name} reported {len(rep.processed)} sub-splits in "
                    f"{rep.phase} phase(s)")
    if rep.live and rep.node in state.lost_nodes and not preference(state.plan, rep):
        raise _fail(task, f"{name} is {rep.state} on lost node {rep.node}")
    if state.aborted is not None and rep.live:
        raise _fail(task, f"{name} is {rep.state} after the job aborted")


def _check_job(state: JobState) -> None:
    """The job's counters and the index of watched replicas match the tasks."""
    undecided = sum(1 for t in state.tasks if not t.decided)
    if state.undecided != undecided:
        raise _fail(None, f"undecided counts {state.undecided} tasks, {undecided} are")
    if state.finished != (undecided == 0 and state.aborted is None):
        raise _fail(None, f"finished is {state.finished} with {undecided} undecided "
                    f"task(s), aborted {state.aborted is not None}")
    watched = {(t.index, r.rid): r for t in state.tasks for r in t.replicas.values()
               if r.state in LIVE_STATES and r.last_seen is not None}
    if state.watched != watched:
        wrong = sorted(set(state.watched).symmetric_difference(watched))
        raise _fail(None, f"the watched-replica index is wrong for (task, replica) {wrong}")
    quarantined = set(state.record.quarantined) - set(state.plan.nodes)
    if quarantined:
        raise _fail(None, f"quarantined nodes {sorted(quarantined)} are not in the cluster")


def _check_slots(state: JobState, book: SlotBook) -> None:
    """Adaptive DIRFT's map slots: every busy slot of a live node is held by a replica of
    the core (``book.holding``), every live replica holds one on its own node, no node holds
    more than its slots, and queued tasks have no replica yet."""
    held = Counter(node for node in book.holding.values() if node not in book.lost)
    for node, busy in book.busy.items():
        if node not in book.lost and (busy != held[node] or not 0 <= busy <= book.slots):
            raise _fail(None, f"node {node} counts {busy} busy map slot(s) of {book.slots}, "
                        f"replicas hold {held[node]}")
    for (t, rid), node in book.holding.items():
        rep = state.tasks[t].replicas.get(rid)
        if rep is None or rep.node != node or rep.state == "exited":
            raise _fail(state.tasks[t], f"replica {rid} holds a map slot on {node} but is "
                        f"{rep and rep.state} on {rep and rep.node}")
    for task in state.tasks:
        for rep in task.live_replicas():
            if (task.index, rep.rid) not in book.holding:
                raise _fail(task, f"replica {rep.rid} is {rep.state} without a map slot")
    for index in book.queue:
        if state.tasks[index].replicas:
            raise _fail(state.tasks[index], "queued for map slots but has replicas")
