"""The stall rule (dirft.core.stall): a working replica silent past ``dirft.stall.timeout``
no longer covers its sub-split, so a sibling waiting for work takes it too; the first
quorum decides, a late vote changes nothing, and the silent one is killed as found hung
once its task is decided. Clocks are the events' ``now``: no sleeps."""

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from core_harness import make_plan, true_signature
from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.scheme import Tolerance, make_scheme
from dirft.core.state import JobState


def _state(crash: int = 1, silent: int = 0, stall: float = 2.0,
           timeout: float = 5.0) -> JobState:
    """One task under dirft with tolerance (crash, silent), the stall limit ``stall``."""
    plan = make_plan(make_scheme("dirft", Tolerance(crash, silent)), tasks=1, timeout=timeout)
    state = JobState(replace(plan, stall_timeout=stall), validate=True)
    state.handle(E.JobStarted(0))
    for r, rep in state.tasks[0].replicas.items():
        state.handle(E.ReplicaStarted(1, 0, r, rep.node), E.ReplicaRegistered(1, 0, r, "h"),
                     E.WorkRequested(1, 0, r))
    return state


def _report(state: JobState, now: float, replica: int, unit: int, sig: str = "") -> list:
    """Replica ``replica`` reports ``unit`` (its true signature unless ``sig``) and asks."""
    return state.handle(E.SignatureReported(now, 0, replica, unit, sig or true_signature(0, unit)),
                        E.WorkRequested(now, 0, replica))


def test_a_waiting_sibling_takes_a_stalled_replicas_subsplit_and_decides_it():
    state = _state()  # r0 on sub-split 0, r1 on 1, both last seen at t=1
    assert _report(state, 2, 0, 0) == [A.WaitForWork(0, 0)]
    assert state.handle(E.ClockTicked(3.5)) == []  # r1 silent 2.5 s > 2 s: marked, not killed
    assert "r1 stalled: no heartbeat for 2.5s while on sub-split 1" in state.tasks[0].story[-1]
    assert state.handle(E.WorkRequested(3.6, 0, 0)) == [A.AssignSubsplit(0, 0, 1, 2)]
    out = state.handle(E.SignatureReported(4, 0, 0, 1, true_signature(0, 1)))
    assert out[0] == A.CommitTaskOutput(0, (A.Winner(0, 0, true_signature(0, 0)),
                                            A.Winner(1, 0, true_signature(0, 1))))
    assert out[1:] == [A.KillReplica(0, 0, "task decided"),
                       A.KillReplica(0, 1, "no heartbeat for 3.0s while on sub-split 1 "
                                     "(> 2.0s, dirft.stall.timeout) when its task was decided"),
                       A.FinishJob()]
    assert dict(state.tasks[0].failures) == {"stall": 1}
    assert state.tasks[0].replicas[1].state == "dead"


def test_no_duplicate_before_the_limit_nor_when_the_rule_is_off():
    for stall, tick in ((2.0, 2.9), (0.0, 4.9)):  # silent 1.9 s < 2 s; off: never
        state = _state(stall=stall)
        _report(state, 2, 0, 0)
        assert state.handle(E.ClockTicked(tick)) == []
        assert state.handle(E.WorkRequested(tick, 0, 0)) == [A.WaitForWork(0, 0)]
    out = state.handle(E.ClockTicked(6.5))  # the heartbeat timeout still finds it
    assert out == [A.KillReplica(0, 1, "no heartbeat for 5.5s (> 5.0s, dirft.heartbeat.timeout)")]


def test_a_word_from_the_stalled_replica_ends_the_stall():
    state = _state()
    _report(state, 2, 0, 0)
    state.handle(E.ClockTicked(3.5))
    state.handle(E.HeartbeatReceived(3.55, 0, 1))  # resumed (SIGCONT, or a busy machine)
    assert state.handle(E.WorkRequested(3.6, 0, 0)) == [A.WaitForWork(0, 0)]
    state.handle(E.ClockTicked(6))  # silent 2.45 s again: stalled again
    assert state.handle(E.WorkRequested(6.1, 0, 0)) == [A.AssignSubsplit(0, 0, 1, 2)]


def test_a_late_vote_of_the_stalled_replica_changes_no_decision():
    # f_c = 2: R = 3, quorum 1. r1 stalls on sub-split 1; r0 takes it too and decides it.
    state = _state(crash=2)
    _report(state, 2, 0, 0)
    state.handle(E.HeartbeatReceived(3.4, 0, 2), E.ClockTicked(3.5))
    assert state.handle(E.WorkRequested(3.6, 0, 0)) == [A.AssignSubsplit(0, 0, 1, 2)]
    _report(state, 4, 0, 1)
    unit = state.tasks[0].by_id[1]
    decided = unit.decided
    assert decided == true_signature(0, 1) and unit.in_flight == {1}
    assert _report(state, 4.5, 1, 1, sig="f" * 64) == [A.WaitForWork(0, 1)]  # back, and wrong
    assert unit.decided == decided and unit.votes[1] == "f" * 64
    assert state.record.votes[state.tasks[0].replicas[1].node] == 1
    out = _report(state, 5, 2, 2)
    assert out[0] == A.CommitTaskOutput(0, tuple(
        A.Winner(u, 0 if u < 2 else 2, true_signature(0, u)) for u in range(3)))


def test_under_a_quorum_of_two_a_stalled_replica_reserves_nothing():
    # f_s = 1: R = 3, quorum 2, three sub-splits. r1 hangs on sub-split 1 in phase 1. Its
    # rotation reaches sub-split 2 in phase 2, a reservation that would keep r0 waiting.
    state = _state(crash=0, silent=1)
    assert _report(state, 2, 0, 0) == [A.AssignSubsplit(0, 0, 1, 2)]
    assert _report(state, 2, 2, 2) == [A.AssignSubsplit(0, 2, 0, 2)]
    assert _report(state, 3, 0, 1) == [A.WaitForWork(0, 0)]  # r1 reserves sub-split 2
    assert _report(state, 3, 2, 0) == [A.WaitForWork(0, 2)]  # r1 has sub-split 1 in flight
    state.handle(E.ClockTicked(3.5))
    assert state.handle(E.WorkRequested(3.6, 0, 0)) == [A.AssignSubsplit(0, 0, 2, 3)]
    assert state.handle(E.WorkRequested(3.6, 0, 2)) == [A.AssignSubsplit(0, 2, 1, 3)]
    _report(state, 4, 0, 2)
    out = state.handle(E.SignatureReported(4.1, 0, 2, 1, true_signature(0, 1)))
    assert isinstance(out[0], A.CommitTaskOutput) and A.FinishJob() in out
    assert dict(state.tasks[0].failures) == {"stall": 1}


def _run_with_a_hang(crash: int, silent: int, hung: int, at: int, rng: random.Random):
    """Drive one task to its end: replica ``hung`` stops for good after ``at`` steps (no
    word again), the others heartbeat, work and poll in a seeded order; a clock tick every
    step of 0.5 s. The heartbeat timeout (1000 s) never fires. Returns (state, now)."""
    state = _state(crash, silent, stall=2.0, timeout=1000.0)
    reps, now, step = state.tasks[0].replicas, 1.0, 0
    hung %= len(reps)
    while not state.finished and step < 500:
        now, step = now + 0.5, step + 1
        talkers = [r for r in reps.values() if r.live and not (r.rid == hung and step > at)]
        beats = [E.HeartbeatReceived(now, 0, r.rid) for r in talkers]
        state.handle(*beats, E.ClockTicked(now))
        for rep in rng.sample(talkers, len(talkers)):
            if rep.state == "working" and rng.random() < 0.5:
                _report(state, now, rep.rid, rep.current)
            elif rep.state == "waiting":
                state.handle(E.WorkRequested(now, 0, rep.rid))
    return state, now


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(1, 0), (2, 0), (0, 1), (1, 1)]), st.integers(0, 3),
       st.integers(0, 6), st.randoms(use_true_random=False))
def test_a_hung_replica_never_holds_its_task_up_to_the_heartbeat_timeout(tol, hung, at, rng):
    state, now = _run_with_a_hang(*tol, hung, at, rng)
    task = state.tasks[0]
    assert state.finished and now < 100  # decided long before the 1000 s timeout
    assert all(u.decided == true_signature(0, u.index) for u in task.units)
    assert sum(task.failures.values()) <= 1 and set(task.failures) <= {"stall"}
    assert not task.live_replicas()
