"""The core when the cluster places replicas itself (``JobPlan.host_retries``, issue 20).

On YARN a replica's planned node is a preference: the host is known only when it starts.
A replica that starts on a host already running a registered live replica of its task, or
on a lost node, is not independent: the core stops it before it works and launches a
replacement, at most ``host_retries`` times per task. These tests drive the core alone
(``validate=True``: every invariant after every event) and, with hypothesis, a job whose
replicas land on random hosts of three and lose one of them: with f_c = 1 it never aborts
unless a task ran out of host retries with two replicas on the lost host.
"""

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.scheme import Tolerance, make_scheme
from dirft.core.state import JobState
from tests.core_harness import make_plan, true_signature

HOSTS = ("node0", "node1", "node2")


def _plan(retries, tasks: int = 1):
    scheme = make_scheme("dirft", Tolerance(crash=1, silent=0))
    return dataclasses.replace(make_plan(scheme, tasks=tasks, nodes=3), host_retries=retries)


def _started(state, task, replica, host, now=1.0):
    return state.handle(E.ReplicaStarted(now, task, replica, host),
                        E.ReplicaRegistered(now, task, replica, host))


def test_without_host_retries_a_shared_host_is_accepted():
    """Local runner and simulator (``host_retries`` None): the core trusts the runner."""
    state = JobState(_plan(None), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node0")
    out = _started(state, 0, 1, "node0")
    assert not any(isinstance(a, (A.KillReplica, A.LaunchReplica, A.ExitReplica)) for a in out)
    assert state.tasks[0].replicas[1].state == "idle"


def test_a_replica_on_its_siblings_host_is_stopped_and_replaced():
    state = JobState(_plan(2), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node1")
    out = state.handle(E.ReplicaStarted(2, 0, 1, "node1"))
    kills = [a for a in out if isinstance(a, A.KillReplica)]
    launches = [a for a in out if isinstance(a, A.LaunchReplica)]
    assert [(k.task, k.replica) for k in kills] == [(0, 1)]
    assert kills[0].reason == "started on host node1, which runs r0 of this task: not independent"
    assert [(a.task, a.replica) for a in launches] == [(0, 2)]
    assert launches[0].node != "node1"
    rep = state.tasks[0].replicas[1]
    assert (rep.state, rep.shared, state.tasks[0].relocated) == ("stopping", True, 1)
    assert state.tasks[0].extra_launched == 0  # not a fault: no extra-replica budget used
    out = state.handle(E.ReplicaRegistered(3, 0, 1, "node1"))
    assert A.ExitReplica(0, 1) in out  # told to go before it does any work


def test_a_pending_siblings_planned_node_is_no_conflict():
    """Only registered replicas hold a host: a pending one's node is a preference."""
    state = JobState(_plan(2), validate=True)
    state.handle(E.JobStarted(0))
    planned = state.tasks[0].replicas[1].node
    out = _started(state, 0, 0, planned)
    assert not any(isinstance(a, A.KillReplica) for a in out)


def test_past_its_host_retries_a_task_keeps_a_shared_host():
    """Fewer usable hosts than R: after ``host_retries`` replacements the replica stays
    (the report counts it as sharing a host)."""
    state = JobState(_plan(1), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node0")
    out = state.handle(E.ReplicaStarted(2, 0, 1, "node0"))
    assert any(isinstance(a, A.LaunchReplica) for a in out)
    out = _started(state, 0, 2, "node0", now=3)
    assert not any(isinstance(a, (A.KillReplica, A.LaunchReplica)) for a in out)
    assert state.tasks[0].replicas[2].state == "idle"
    assert state.tasks[0].relocated == 1


def test_a_replica_starting_on_a_lost_node_is_replaced():
    state = JobState(_plan(2), validate=True)
    state.handle(E.JobStarted(0))
    state.handle(E.NodeLost(1, "node2"))
    assert all(r.state == "pending" for r in state.tasks[0].replicas.values())
    out = state.handle(E.ReplicaStarted(2, 0, 0, "node2"))
    assert A.KillReplica(0, 0, "started on lost node node2: not independent") in out
    assert [a.node for a in out if isinstance(a, A.LaunchReplica)] != ["node2"]


def test_a_start_on_a_lost_node_past_the_retries_is_not_kept():
    state = JobState(_plan(0), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node0")
    state.handle(E.NodeLost(1, "node2"))
    out = state.handle(E.ReplicaStarted(2, 0, 1, "node2"))
    assert any(isinstance(a, A.KillReplica) for a in out)
    assert not any(isinstance(a, A.LaunchReplica) for a in out)
    assert not state.aborted  # replica 0 can still do the whole task (quorum 1)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lose_at=st.integers(0, 60),
       lost=st.sampled_from(HOSTS), retries=st.integers(1, 3))
def test_one_lost_host_never_aborts_a_job_with_host_retries_left(seed, lose_at, lost,
                                                                 retries):
    """f_c = 1, replicas placed on random hosts of three, one host lost at a random step:
    the job finishes, unless a task had used all its host retries and kept two replicas
    on the lost host (fewer usable hosts than it needed)."""
    state, shared = _run(JobState(_plan(retries, tasks=3), validate=True),
                         random.Random(seed), lose_at, lost)
    if state.aborted is not None:
        task = state.tasks[state.aborted.task]
        assert task.relocated == retries and shared.get(task.index, 0) >= 2, \
            state.aborted.message
    else:
        assert state.finished


def _run(state, rng, lose_at, lost):
    """Pump the job: start launches on random live hosts (a lost machine starts nothing),
    register, work, report; lose
    ``lost`` at step ``lose_at``. Returns the state and, per task, how many of its live
    registered replicas were on ``lost`` when it went."""
    todo = [("start", a.task, a.replica) for a in state.handle(E.JobStarted(0))
            if isinstance(a, A.LaunchReplica)]
    hosts, work, shared, now = {}, {}, {}, 0.0
    while todo and state.aborted is None and not state.finished:
        now += 1
        if now == lose_at + 1:
            for t in state.tasks:
                shared[t.index] = sum(1 for r in t.replicas.values()
                                      if r.live and r.state != "pending" and r.node == lost)
            todo = [x for x in todo if x[0] == "start" or hosts.get(x[1:]) != lost]
            out = state.handle(E.NodeLost(now, lost))
        else:
            kind, task, replica = todo.pop(rng.randrange(len(todo)))
            out = _step(state, now, kind, task, replica, hosts, work, rng)
        todo += _follow_ups(out, hosts, work, lost if now > lose_at else None)
    return state, shared


def _step(state, now, kind, task, replica, hosts, work, rng):
    if kind == "start":
        hosts[(task, replica)] = rng.choice([h for h in HOSTS if h not in state.lost_nodes])
        return state.handle(E.ReplicaStarted(now, task, replica, hosts[(task, replica)]),
                            E.ReplicaRegistered(now, task, replica, hosts[(task, replica)]),
                            E.WorkRequested(now, task, replica))
    if kind == "report":
        unit = work.pop((task, replica))
        return state.handle(E.SignatureReported(now, task, replica, unit,
                                                true_signature(task, unit)),
                            E.WorkRequested(now, task, replica))
    if kind == "request":
        return state.handle(E.WorkRequested(now, task, replica))
    return state.handle(E.ReplicaExited(now, task, replica, 0 if kind == "exit" else -9))


def _follow_ups(out, hosts, work, lost):
    """What each action makes happen next (processes on the lost host do nothing)."""
    todo = []
    for a in out:
        key = (getattr(a, "task", -1), getattr(a, "replica", -1))
        if lost is not None and hosts.get(key) == lost:
            continue
        if isinstance(a, A.LaunchReplica):
            todo.append(("start", a.task, a.replica))
        elif isinstance(a, A.AssignSubsplit):
            work[key] = a.subsplit
            todo.append(("report", *key))
        elif isinstance(a, A.WaitForWork):
            todo.append(("request", *key))
        elif isinstance(a, (A.ExitReplica, A.KillReplica)) and key in hosts:
            todo.append(("exit" if isinstance(a, A.ExitReplica) else "killed", *key))
    return todo


def test_a_replica_whose_map_task_ended_before_it_started_is_replaced_not_a_crash():
    """On YARN a lost node's attempts are re-run, and a replica job's re-run ends at once:
    a replica that never registered ends without having run. It is replaced within the
    host retries; past them its end is a crash as any other."""
    state = JobState(_plan(1), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node0")
    out = state.handle(E.ReplicaExited(2, 0, 1, 0))
    assert [(a.task, a.replica) for a in out if isinstance(a, A.LaunchReplica)] == [(0, 2)]
    assert state.tasks[0].replicas[1].state == "exited" and not state.tasks[0].failures
    out = state.handle(E.ReplicaExited(3, 0, 2, 0))
    assert not any(isinstance(a, A.LaunchReplica) for a in out)
    assert state.tasks[0].replicas[2].state == "dead" and state.tasks[0].failures["exit"] == 1


def test_a_replica_lost_through_no_fault_of_its_own_keeps_its_votes_and_is_replaced():
    state = JobState(_plan(2), validate=True)
    state.handle(E.JobStarted(0))
    _started(state, 0, 0, "node0")
    _started(state, 0, 1, "node1")
    first = state.handle(E.WorkRequested(2, 0, 0))[0]
    state.handle(E.SignatureReported(3, 0, 0, first.subsplit, true_signature(0, first.subsplit)),
                 E.WorkRequested(3, 0, 0), E.WorkRequested(3, 0, 1))
    out = state.handle(E.ReplicaLost(4, 0, 0, "its ApplicationMaster's node was lost"),
                       E.ReplicaLost(4, 0, 1, "its ApplicationMaster's node was lost"))
    assert [(a.task, a.replica) for a in out if isinstance(a, A.LaunchReplica)] == [(0, 2),
                                                                                  (0, 3)]
    task = state.tasks[0]
    assert not task.failures and not state.aborted and task.units[first.subsplit].decided
    assert all(not u.in_flight for u in task.units)
