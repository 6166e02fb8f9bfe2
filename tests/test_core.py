"""The core state machine: quorum, rotation, laziness, crashes, mismatches, aborts."""

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core_harness import Behaviour, Pump, make_plan, true_signature
from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.adaptive import Adaptive
from dirft.core.scheme import Speculation, Tolerance, make_scheme
from dirft.core.state import JobState
from dirft.errors import InvalidTransition, InvariantViolated


@pytest.fixture
def crash1():
    """An empty job state: dirft, f_c = 1 (R = 2), one task; validated on teardown."""
    state = JobState(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1),
                     validate=True)
    yield state
    state.validate()


def _boot(state, task=0, replicas=None):
    """Start and register replicas; return the actions answering their first request."""
    out = []
    for r in replicas if replicas is not None else state.tasks[task].replicas:
        node = state.tasks[task].replicas[r].node
        out += state.handle(E.ReplicaStarted(1, task, r, node),
                            E.ReplicaRegistered(1, task, r, "h"), E.WorkRequested(1, task, r))
    return out


def test_job_start_launches_R_replicas_on_distinct_nodes(crash1):
    launches = crash1.handle(E.JobStarted(0))
    assert [type(a) for a in launches] == [A.LaunchReplica, A.LaunchReplica]
    assert len({a.node for a in launches}) == 2


def test_rotation_gives_each_replica_its_own_subsplit_first(crash1):
    crash1.handle(E.JobStarted(0))
    assigned = _boot(crash1)
    assert [(a.replica, a.subsplit, a.phase) for a in assigned] == [(0, 0, 1), (1, 1, 1)]


def test_crash_mode_stops_after_one_phase_without_duplicate_work(crash1):
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    out = crash1.handle(E.SignatureReported(2, 0, 0, 0, true_signature(0, 0)),
                        E.WorkRequested(2, 0, 0))
    assert out == [A.WaitForWork(0, 0)]  # sub-split 1 is in flight: never duplicated
    out = crash1.handle(E.SignatureReported(3, 0, 1, 1, true_signature(0, 1)))
    assert isinstance(out[0], A.CommitTaskOutput) and out[-1] == A.FinishJob()
    assert crash1.tasks[0].phases == 1
    assert crash1.handle(E.WorkRequested(4, 0, 0)) == [A.ExitReplica(0, 0)]


def test_crashed_replicas_subsplit_moves_to_the_survivor(crash1):
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    crash1.handle(E.SignatureReported(2, 0, 0, 0, true_signature(0, 0)), E.WorkRequested(2, 0, 0))
    assert crash1.handle(E.ReplicaExited(3, 0, 1, 1)) == []
    out = crash1.handle(E.WorkRequested(4, 0, 0))
    assert out == [A.AssignSubsplit(0, 0, 1, 2)]
    assert crash1.tasks[0].failures["exit"] == 1


def test_heartbeat_timeout_kills_and_revokes(crash1):
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    crash1.handle(E.HeartbeatReceived(5, 0, 0))
    out = crash1.handle(E.ClockTicked(9.5))  # r1 silent since t=1, r0 since t=5
    assert out == [A.KillReplica(0, 1,
                                 "no heartbeat for 8.5s (> 5.0s, dirft.heartbeat.timeout)")]
    assert crash1.tasks[0].units[1].in_flight == set()


def test_silence_counts_only_while_the_service_was_listening(crash1):
    # The driver slept from t=2 (a starved process): at t=20 the service last read at t=2,
    # so r1 (last seen at t=1) has been silent 1 s of listening time, not 19 s.
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    assert crash1.handle(E.ClockTicked(20, heard=2)) == []
    crash1.handle(E.HeartbeatReceived(20.5, 0, 0))  # the backlog read: r0 was alive
    out = crash1.handle(E.ClockTicked(21, heard=6.5))  # listening again; r1 still silent
    assert out == [A.KillReplica(0, 1,
                                 "no heartbeat for 5.5s (> 5.0s, dirft.heartbeat.timeout)")]
    assert crash1.handle(E.ClockTicked(25, heard=30)) == []  # heard is never after now


def _overdue_by_full_scan(state: JobState, now: float) -> list:
    """The heartbeat rule as a scan of every replica: (task, rid) past their limit."""
    return [(t.index, r.rid) for t in state.tasks for r in t.replicas.values()
            if r.live and r.last_seen is not None and now - r.last_seen > (
                state.plan.startup_timeout if r.state == "started"
                else state.plan.heartbeat_timeout)]


def _plan_for_index_test(adaptive: bool):
    """Three tasks under f_c = f_s = 1: plain DIRFT, or adaptive DIRFT on 1-slot nodes (some
    replicas wait for a slot, pending, and extra replicas take the freed ones)."""
    scheme = make_scheme("dirft", Tolerance(1, 1),
                         adaptive=Adaptive(widen_max=4) if adaptive else None)
    plan = make_plan(scheme, tasks=3, nodes=8)
    return replace(plan, slots=1) if adaptive else plan


def _step(state: JobState, task: int, pick: int, what: str, now: float) -> None:
    """Apply one random step to the ``pick``-th launched replica of ``task`` (if any):
    ``advance`` moves it one step through its life (start, register, report a signature,
    ask for work), ``beat`` is a heartbeat, ``exit`` a crash, ``tick`` the clock."""
    rids = sorted(state.tasks[task].replicas)
    rep = state.tasks[task].replicas[rids[pick % len(rids)]] if rids else None
    if what == "tick":
        state.handle(E.ClockTicked(now))
    elif rep is None or not rep.live:
        return
    elif what == "advance" and rep.state == "pending":
        state.handle(E.ReplicaStarted(now, task, rep.rid, rep.node))
    elif what == "advance" and rep.state == "started":
        state.handle(E.ReplicaRegistered(now, task, rep.rid, "h"),
                     E.WorkRequested(now, task, rep.rid))
    elif what == "advance" and rep.state == "working":
        state.handle(E.SignatureReported(now, task, rep.rid, rep.current,
                                         true_signature(task, rep.current)),
                     E.WorkRequested(now, task, rep.rid))
    elif what == "advance":
        state.handle(E.WorkRequested(now, task, rep.rid))
    elif what == "beat" and rep.state != "pending":
        state.handle(E.HeartbeatReceived(now, task, rep.rid))
    elif what == "exit" and rep.state != "pending":
        state.handle(E.ReplicaExited(now, task, rep.rid, 1))


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4), st.sampled_from(
    ["advance"] * 4 + ["beat"] * 2 + ["exit", "tick"]), st.floats(0, 1.5)), min_size=20, max_size=80),
    st.floats(0, 80))
def test_clock_tick_kills_exactly_what_a_full_scan_finds(adaptive, steps, tick_at):
    """The live-replica index (JobState.watched) finds the replicas a scan of every replica
    finds, and the kills come in the scan's (task, replica) order."""
    state = JobState(_plan_for_index_test(adaptive), validate=True)
    state.handle(E.JobStarted(0))
    now = 0.0
    for task, pick, what, dt in steps:
        now += dt
        _step(state, task, pick, what, now)
        state.validate()
    expected = _overdue_by_full_scan(state, now + tick_at)
    out = state.handle(E.ClockTicked(now + tick_at))
    killed = [(a.task, a.replica) for a in out if isinstance(a, A.KillReplica)
              and a.reason.endswith(("dirft.heartbeat.timeout)", "dirft.startup.timeout)"))]
    assert killed == (expected if not state.aborted else expected[:len(killed)])
    assert not _overdue_by_full_scan(state, now + tick_at)
    state.validate()


def test_beyond_crash_tolerance_aborts_naming_task_and_subsplit(crash1):
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    crash1.handle(E.ReplicaExited(2, 0, 0, 1))
    out = crash1.handle(E.ReplicaExited(3, 0, 1, -9))
    abort = out[-1]
    assert isinstance(abort, A.AbortJob)
    assert "task 0 sub-split" in abort.message and "killed by signal 9" in abort.message


def test_unknown_replica_is_rejected_not_a_crash(crash1):
    crash1.handle(E.JobStarted(0))
    assert crash1.handle(E.WorkRequested(1, 0, 7))[0].status == 404
    assert crash1.handle(E.WorkRequested(1, 3, 0))[0].status == 404


def test_report_for_unassigned_subsplit_is_rejected(crash1):
    crash1.handle(E.JobStarted(0))
    _boot(crash1)
    out = crash1.handle(E.SignatureReported(2, 0, 0, 1, true_signature(0, 1)))
    assert out[0].status == 409 and crash1.tasks[0].units[1].votes == {}


def test_runner_bug_is_an_invalid_transition(crash1):
    crash1.handle(E.JobStarted(0))
    with pytest.raises(InvalidTransition):
        crash1.handle(E.ReplicaStarted(1, 0, 9, "n"))


def test_silent_mode_needs_f_plus_one_phases_and_a_third_on_mismatch():
    state = JobState(make_plan(make_scheme("dirft", Tolerance(0, 1)), tasks=1),
                     validate=True)
    state.handle(E.JobStarted(0))
    _boot(state)
    for r in range(3):  # phase 1: replica r did sub-split r
        state.handle(E.SignatureReported(2, 0, r, r, true_signature(0, r)))
    phase2 = [a for r in range(3) for a in state.handle(E.WorkRequested(3, 0, r))]
    assert [(a.replica, a.subsplit, a.phase) for a in phase2] == [(0, 1, 2), (1, 2, 2), (2, 0, 2)]
    state.handle(E.SignatureReported(4, 0, 0, 1, true_signature(0, 1)))
    state.handle(E.SignatureReported(4, 0, 2, 0, true_signature(0, 0)))
    out = state.handle(E.SignatureReported(5, 0, 1, 2, "f" * 64))  # a silent error
    assert state.tasks[0].mismatches == 1 and not state.finished
    assert state.handle(E.WorkRequested(6, 0, 0)) == [A.AssignSubsplit(0, 0, 2, 3)]
    out = state.handle(E.SignatureReported(7, 0, 0, 2, true_signature(0, 2)))
    commit = next(a for a in out if isinstance(a, A.CommitTaskOutput))
    assert [w.signature for w in commit.winners] == [true_signature(0, s) for s in range(3)]
    state.validate()


# -- properties over fault schedules and interleavings -------------------------------------
SCHEMES = st.sampled_from(["dirft", "frft", "bft", "se", "none"])


@st.composite
def jobs_within_tolerance(draw):
    """A scheme, a tolerance and, per task, faults on at most f_c + f_s distinct replicas."""
    name = draw(SCHEMES)
    crash = draw(st.integers(0, 2))
    silent = 0 if name in ("none", "se") else draw(st.integers(0, 1 if crash else 2))
    if name in ("none", "se"):
        crash = min(crash, 1)
    scheme = make_scheme(name, Tolerance(crash, silent))
    tasks = draw(st.integers(1, 3))
    behaviours = {}
    for t in range(tasks):
        rids = draw(st.permutations(range(scheme.initial_replicas)))
        kinds = ["crash"] * crash + ["silent"] * silent
        for rid, kind in zip(rids, kinds):
            if not draw(st.booleans()):
                continue  # "up to f": this replica stays healthy
            if kind == "crash":
                behaviours[(t, rid)] = Behaviour(crash_at=draw(st.integers(1, 3)))
            else:
                lies = draw(st.frozensets(st.integers(1, 3), min_size=1))
                behaviours[(t, rid)] = Behaviour(lie_at=lies, collude=draw(st.booleans()))
    return scheme, tasks, behaviours


@settings(max_examples=300)
@given(jobs_within_tolerance(), st.randoms(use_true_random=False))
def test_within_tolerance_the_decided_output_is_the_fault_free_one(job, rng):
    scheme, tasks, behaviours = job
    pump = Pump(make_plan(scheme, tasks=tasks, nodes=8), behaviours, rng)
    assert pump.run() == "finished", pump.state.tasks[0].story[-8:]
    expected = {t: tuple(true_signature(t, s) for s in range(scheme.subsplits))
                for t in range(tasks)}
    assert pump.commits() == expected
    pump.state.validate()


@settings(max_examples=100)
@given(jobs_within_tolerance(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_the_decision_does_not_depend_on_event_order(job, seed_a, seed_b):
    scheme, tasks, behaviours = job
    runs = [Pump(make_plan(scheme, tasks=tasks, nodes=8), behaviours, random.Random(seed))
            for seed in (seed_a, seed_b)]
    assert [p.run() for p in runs] == ["finished", "finished"]
    assert runs[0].commits() == runs[1].commits()


@settings(max_examples=100)
@given(st.sampled_from(["dirft", "frft"]), st.integers(1, 2), st.randoms(use_true_random=False))
def test_beyond_crash_tolerance_the_job_aborts(name, f, rng):
    scheme = make_scheme(name, Tolerance(f, 0))
    behaviours = {(0, r): Behaviour(crash_at=1) for r in range(scheme.initial_replicas)}
    pump = Pump(make_plan(scheme, tasks=2), behaviours, rng)
    assert pump.run() == "aborted"
    assert 0 not in pump.commits()
    assert not any(isinstance(a, A.FinishJob) for a in pump.actions)


@settings(max_examples=100)
@given(st.sampled_from(["dirft", "frft", "bft"]), st.randoms(use_true_random=False))
def test_beyond_silent_tolerance_never_commits_a_wrong_signature(name, rng):
    scheme = make_scheme(name, Tolerance(0, 1))
    liars = {(0, r): Behaviour(lie_at=frozenset({1, 2, 3})) for r in range(2)}
    pump = Pump(make_plan(scheme, tasks=1), liars, rng)
    outcome = pump.run()
    assert outcome in ("aborted", "finished")
    for sigs in pump.commits().values():
        assert sigs == tuple(true_signature(0, s) for s in range(scheme.subsplits))


@settings(max_examples=50)
@given(st.integers(1, 3), st.integers(0, 1), st.randoms(use_true_random=False))
def test_fault_free_dirft_runs_exactly_f_s_plus_one_phases(crash, silent, rng):
    scheme = make_scheme("dirft", Tolerance(crash, silent))
    pump = Pump(make_plan(scheme, tasks=2, nodes=8), {}, rng, start_first=True)
    assert pump.run() == "finished"
    assert [t.phases for t in pump.state.tasks] == [silent + 1] * 2
    assert [t.work_bytes for t in pump.state.tasks] == [1000 * (silent + 1)] * 2


@settings(max_examples=100)
@given(st.integers(1, 3), st.integers(0, 1), st.randoms(use_true_random=False))
def test_fault_free_dirft_never_duplicates_work_whatever_the_start_order(crash, silent, rng):
    scheme = make_scheme("dirft", Tolerance(crash, silent))
    pump = Pump(make_plan(scheme, tasks=2, nodes=8), {}, rng)
    assert pump.run() == "finished"
    assert [t.work_bytes for t in pump.state.tasks] == [1000 * (silent + 1)] * 2


# -- speculative execution and node loss ---------------------------------------------------
def _se_state(tasks=4):
    spec = Speculation(min_runtime=1.0, minimum_allowed=10)
    state = JobState(make_plan(make_scheme("se", Tolerance(1, 0), speculation=spec),
                               tasks=tasks, nodes=6), validate=True)
    state.handle(E.JobStarted(0))
    for t in range(tasks):
        _boot(state, task=t)
    return state


def test_se_backs_up_the_straggler_only_and_the_first_copy_wins():
    state = _se_state()
    beats = [E.HeartbeatReceived(3, t, 0, p) for t, p in enumerate([0.6, 0.55, 0.62, 0.1])]
    out = state.handle(*beats, E.ClockTicked(3))
    launches = [a for a in out if isinstance(a, A.LaunchReplica)]
    assert [(a.task, a.replica) for a in launches] == [(3, 1)]
    assert launches[0].node != state.tasks[3].replicas[0].node
    assert state.handle(E.ClockTicked(3.5)) == []  # next check after retry-after-speculate
    node = state.tasks[3].replicas[1].node
    state.handle(E.ReplicaStarted(4, 3, 1, node), E.ReplicaRegistered(4, 3, 1, "h"))
    assert state.handle(E.WorkRequested(4, 3, 1)) == [A.AssignSubsplit(3, 1, 0, 1)]
    out = state.handle(E.SignatureReported(5, 3, 1, 0, true_signature(3, 0)))
    assert out[0] == A.CommitTaskOutput(3, (A.Winner(0, 1, true_signature(3, 0)),))
    assert A.KillReplica(3, 0, "task decided") in out
    state.validate()


def test_se_judges_no_one_before_the_minimum_run_time_or_without_a_spread():
    state = _se_state()
    beats = [E.HeartbeatReceived(0.5, t, 0, p) for t, p in enumerate([0.6, 0.5, 0.6, 0.01])]
    assert state.handle(*beats, E.ClockTicked(0.5)) == []
    even = [E.HeartbeatReceived(3, t, 0, 0.5) for t in range(4)]
    assert state.handle(*even, E.ClockTicked(3)) == []


def test_node_loss_kills_its_replicas_and_never_places_work_there():
    state = JobState(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=2, nodes=4),
                     validate=True)
    state.handle(E.JobStarted(0))
    for t in range(2):
        _boot(state, task=t)
    lost = state.tasks[0].replicas[1].node
    out = state.handle(E.NodeLost(2, lost))
    dead = {(a.task, a.replica) for a in out if isinstance(a, A.KillReplica)}
    assert (0, 1) in dead and state.tasks[0].failures["node-lost"] == 1
    state.handle(E.SignatureReported(3, 0, 0, 0, true_signature(0, 0)))
    assert state.handle(E.WorkRequested(3, 0, 0)) == [A.AssignSubsplit(0, 0, 1, 2)]
    assert lost in state.lost_nodes
    state.validate()


def test_extra_replicas_avoid_lost_nodes():
    scheme = make_scheme("none", Tolerance(1, 0), max_attempts=4)
    state = JobState(make_plan(scheme, tasks=1, nodes=4), validate=True)
    state.handle(E.JobStarted(0))
    _boot(state)
    first = state.tasks[0].replicas[0].node
    out = state.handle(E.NodeLost(1, first))
    relaunch = [a for a in out if isinstance(a, A.LaunchReplica)]
    assert len(relaunch) == 1 and relaunch[0].node != first


def test_a_split_whose_every_block_copy_is_lost_aborts():
    scheme = make_scheme("none", Tolerance(1, 0), max_attempts=4)
    plan = make_plan(scheme, tasks=1, nodes=4)
    state = JobState(plan, validate=True)
    state.handle(E.JobStarted(0))
    out = state.handle(*(E.NodeLost(1, n) for n in plan.tasks[0].split.hosts))
    assert isinstance(out[-1], A.AbortJob) and "every copy" in out[-1].message


@settings(max_examples=100)
@given(st.sampled_from(["dirft", "frft", "bft", "se", "none"]), st.integers(1, 25),
       st.integers(0, 5), st.randoms(use_true_random=False))
def test_losing_one_node_is_within_crash_tolerance(name, at_step, node, rng):
    scheme = make_scheme(name, Tolerance(1, 0 if name in ("se", "none") else 1))
    pump = Pump(make_plan(scheme, tasks=3, nodes=8), {}, rng, lose=(at_step, f"node{node}"))
    assert pump.run() == "finished"
    assert pump.commits() == {t: tuple(true_signature(t, s) for s in range(scheme.subsplits))
                              for t in range(3)}
    after_loss = pump.actions[pump.lost_at:] if pump.lost_at else []
    assert all(a.node != f"node{node}" for a in after_loss if isinstance(a, A.LaunchReplica))


def test_se_sees_no_straggler_among_equal_rates_despite_rounding():
    state = _se_state(tasks=6)
    for t in range(6):  # six equal rates whose fmean rounds one step above them
        state.tasks[t].replicas[0].assigned_at = 0.0
        state.tasks[t].replicas[0].progress = 0.7609477375418205
    from dirft.core.speculation import pick_stragglers
    assert pick_stragglers(state.tasks, Speculation(min_runtime=0.0), now=1.0) == []


def test_a_message_from_a_replica_not_yet_started_is_refused_and_changes_nothing(crash1):
    crash1.handle(E.JobStarted(0))
    before = repr(crash1.tasks)
    out = crash1.handle(E.WorkRequested(1, 0, 0))
    assert [(type(a), a.status) for a in out] == [(A.RejectMessage, 409)]
    assert repr(crash1.tasks) == before


def test_a_retried_report_and_request_get_the_first_answer_again(crash1):
    crash1.handle(E.JobStarted(0))
    first = _boot(crash1, replicas=[0])[-1]
    report = E.SignatureReported(2, 0, 0, first.subsplit, true_signature(0, first.subsplit))
    answer = crash1.handle(report, E.WorkRequested(2, 0, 0))
    before = repr(crash1.tasks[0].units)
    retry = crash1.handle(report, E.WorkRequested(3, 0, 0))  # the answer was lost
    assert retry == answer and isinstance(retry[0], A.AssignSubsplit)
    assert repr(crash1.tasks[0].units) == before


def test_a_report_the_core_refuses_is_not_followed_by_a_work_request():
    from dirft.runners.driver import Driver
    from dirft.errors import ProtocolError
    driver = Driver(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1))
    driver.handle(E.JobStarted(0))
    _boot(driver.state, replicas=[0])
    wrong = {"subsplit": 1, "signature": true_signature(0, 1), "output_bytes": 5}
    with pytest.raises(ProtocolError) as err:
        driver.dispatch({"kind": "request", "task": 0, "replica": 0, "report": wrong})
    assert err.value.status == 409 and driver.reports == {}
    assert driver.state.tasks[0].replicas[0].state == "working"


def _adaptive_state_after_start():
    """Adaptive DIRFT on 1-slot nodes, started: some replicas hold slots, tasks queue."""
    state = JobState(_plan_for_index_test(True), validate=True)
    state.handle(E.JobStarted(0))
    return state


@pytest.mark.parametrize("breakage, needle", [
    (lambda s: s.tasks[0].units[1].in_flight.add(0), "counts replica 0 in flight"),
    (lambda s: setattr(s.tasks[0].replicas[1], "state", "idle"), "is idle with sub-split 1"),
    (lambda s: s.tasks[0].units[0].votes.update({1: "a" * 64}), "vote of replica 1"),
    (lambda s: setattr(s, "undecided", 0), "undecided counts 0 tasks"),
    (lambda s: s.watched.clear(), "watched-replica index"),
    (lambda s: setattr(s.tasks[0].replicas[0], "state", "frozen"), "unknown state 'frozen'"),
])
def test_a_deliberately_broken_state_fails_validate(breakage, needle):
    state = JobState(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1),
                     validate=True)
    state.handle(E.JobStarted(0))
    _boot(state)
    state.validate()
    breakage(state)
    with pytest.raises(InvariantViolated, match="core invariant broken") as err:
        state.validate()
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("breakage, needle", [
    (lambda s: s.book.busy.update({s.book.holding[(0, 0)]: 2}),
     r"counts 2 busy map slot\(s\) of 1, replicas hold 1"),
    (lambda s: s.book.release(0, 0), "replica 0 is pending without a map slot"),
    (lambda s: s.book.holding.update({(0, 0): s.book.holding[(1, 0)],
                                      (1, 0): s.book.holding[(0, 0)]}),
     "replica 0 holds a map slot on node"),
    (lambda s: s.book.queue.append(0), "queued for map slots but has replicas"),
])
def test_slot_bookkeeping_is_checked_against_the_replicas_holding_slots(breakage, needle):
    state = _adaptive_state_after_start()
    breakage(state)
    with pytest.raises(InvariantViolated, match=needle):
        state.validate()


def test_a_validating_state_checks_after_every_handle():
    state = _adaptive_state_after_start()
    state.book.release(0, 0)
    with pytest.raises(InvariantViolated, match="without a map slot"):
        state.handle(E.ClockTicked(1))
    quiet = JobState(_plan_for_index_test(True))  # validation off: production's default
    quiet.handle(E.JobStarted(0))
    quiet.book.release(0, 0)
    quiet.handle(E.ClockTicked(1))
