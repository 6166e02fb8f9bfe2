"""A planned fault fires whatever the timing (fault_injector.strike, README "Faults").

The rule is checked where it is applied: the driver the local and Hadoop runners share (a
scripted schedule: a faulty replica still waiting for its map slot while its sibling takes
the whole task), the simulator over seeds, fault percentages and slot counts (hypothesis),
and the report's planned-against-fired figures and console lines.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.core import events as E
from dirft.core.scheme import Tolerance, make_scheme
from dirft.report import planned_and_fired, summary_lines
from dirft.runners.driver import Driver
from dirft.runners.sim import SimConfig, simulate
from fault_injector.plan import Fault, FaultPlan, NodeLoss
from core_harness import make_plan, true_signature

CRASH = Fault("crash", "exception", 1, 0.5, 7)


def _driver(fault: Fault = CRASH, replica: int = 1) -> Driver:
    """Crash tolerance 1 (2 replicas, 2 sub-splits), one task whose replica ``replica``
    carries ``fault``; the job started (both replicas launched, pending)."""
    plan = make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1)
    driver = Driver(plan, lambda: 1.0, faults=FaultPlan({(0, replica): fault}, (0,)))
    driver.handle(E.JobStarted(0))
    return driver


def _start(driver: Driver, replica: int) -> dict:
    """Start and register ``replica`` of task 0; return the answer to its first request."""
    node = driver.state.tasks[0].replicas[replica].node
    driver.handle(E.ReplicaStarted(1, 0, replica, node))
    driver.dispatch({"kind": "register", "task": 0, "replica": replica, "host": node})
    return driver.dispatch({"kind": "request", "task": 0, "replica": replica})


def _report(driver: Driver, replica: int, subsplit: int) -> dict:
    """Report a true signature for ``subsplit``; return the next answer."""
    report = {"subsplit": subsplit, "signature": true_signature(0, subsplit),
              "output_bytes": 10}
    return driver.dispatch({"kind": "request", "task": 0, "replica": replica,
                            "report": report})


def test_in_the_lockstep_the_fault_strikes_where_the_plan_put_it():
    driver = _driver()
    first, second = _start(driver, 0), _start(driver, 1)
    assert "fault" not in first
    assert second["subsplit"] == 1 and second["phase"] == 1
    assert second["fault"] == {"kind": "crash", "mode": "exception", "phase": 1, "at": 0.5,
                               "bit": 7, "planned_replica": 1}


def test_a_fault_whose_replica_waits_for_a_slot_goes_with_its_work():
    """Replica 1 never gets a slot before its sibling has taken sub-split 1, the one replica
    1 was to map in its planned phase: replica 0's phase 2 carries the crash instead."""
    driver = _driver()
    first = _start(driver, 0)
    assert first["subsplit"] == 0 and "fault" not in first
    second = _report(driver, 0, 0)
    assert (second["subsplit"], second["phase"]) == (1, 2)
    assert second["fault"]["planned_replica"] == 1 and second["fault"]["kind"] == "crash"
    again = driver.dispatch({"kind": "request", "task": 0, "replica": 0})  # a lost answer
    assert again == second
    assert driver.strikes.unstruck() == []


def test_a_replica_that_started_keeps_its_own_fault():
    """Started but not registered yet: it reserves its sub-split, so the sibling waits and
    the fault stays where the plan put it."""
    driver = _driver()
    driver.handle(E.ReplicaStarted(1, 0, 1, driver.state.tasks[0].replicas[1].node))
    _start(driver, 0)
    assert _report(driver, 0, 0)["action"] == "wait"
    driver.dispatch({"kind": "register", "task": 0, "replica": 1, "host": "h"})
    answer = driver.dispatch({"kind": "request", "task": 0, "replica": 1})
    assert answer["subsplit"] == 1 and answer["fault"]["planned_replica"] == 1


def test_a_fault_whose_replica_ended_before_its_point_goes_with_its_work():
    """Replica 1 registered and was lost before it mapped anything (on YARN: replaced for
    sharing a host with its sibling, or its node lost): the sibling that maps sub-split 1,
    replica 1's planned one, carries the crash (seen on the 3-worker cluster: it fired
    nowhere)."""
    driver = _driver()
    node = driver.state.tasks[0].replicas[1].node
    driver.handle(E.ReplicaStarted(1, 0, 1, node))
    driver.dispatch({"kind": "register", "task": 0, "replica": 1, "host": node})
    driver.handle(E.ReplicaLost(2, 0, 1, "its host was lost"))
    assert _start(driver, 0)["subsplit"] == 0
    second = _report(driver, 0, 0)  # its replacement is pending: replica 0 takes sub-split 1
    assert (second["subsplit"], second["fault"]["planned_replica"]) == (1, 1)
    assert driver.strikes.unstruck() == []


def test_a_sibling_with_a_fault_of_its_own_takes_no_other():
    """f_c = 2: replicas 0 and 1 each carry a crash. Replica 0 takes its own in phase 1;
    handed replica 1's sub-split in phase 2 while replica 1 waits, it takes no second."""
    plan = make_plan(make_scheme("dirft", Tolerance(2, 0)), tasks=1)
    driver = Driver(plan, lambda: 1.0, faults=FaultPlan({(0, 0): CRASH, (0, 1): CRASH}, (0,)))
    driver.handle(E.JobStarted(0))
    first = _start(driver, 0)
    assert first["subsplit"] == 0 and first["fault"]["planned_replica"] == 0
    second = _report(driver, 0, 0)
    assert second["subsplit"] == 1 and "fault" not in second
    assert driver.strikes.unstruck() == [(0, 1, CRASH)]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), percent=st.sampled_from([12.5, 25, 50, 100]),
       slots=st.integers(1, 3), mode=st.sampled_from(["exception", "kill", "hang"]))
def test_every_planned_crash_fires_whatever_the_slots(seed, percent, slots, mode):
    """DIRFT, f_c = 1, on few map slots (replicas wait for slots while their siblings run):
    every planned crash fires, each is detected and corrected, no output is wrong."""
    result = simulate(SimConfig(splits=16, nodes=4, slots=slots, scheme="dirft", nature=1,
                                fault_percent=percent, seed=seed, crash_mode=mode,
                                adaptive=False))
    faults = result.report["faults"]
    assert result.aborted is None and result.wrong_outputs == 0
    assert faults["fired"] == faults["planned"] and faults["not_fired"] == []
    assert faults["detected"]["crash"] == faults["corrected"]["crash"] == \
        faults["planned"]["crash"] > 0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), percent=st.sampled_from([25, 50, 100]),
       slots=st.integers(1, 3))
def test_every_planned_silent_error_fires_whatever_the_slots(seed, percent, slots):
    """DIRFT, f_s = 1 (3 replicas, quorum 2, faults in phase 1 or 2): every planned silent
    error fires in a phase a replica really runs and is outvoted."""
    result = simulate(SimConfig(splits=12, nodes=4, slots=slots, scheme="dirft", nature=2,
                                fault_percent=percent, seed=seed, silent_mode="signature",
                                adaptive=False))
    faults = result.report["faults"]
    assert result.aborted is None and result.wrong_outputs == 0
    assert faults["fired"] == faults["planned"] and faults["not_fired"] == []


def test_the_report_counts_planned_against_fired_and_names_the_misses():
    plan = FaultPlan({(0, 1): CRASH, (2, 0): Fault("silent", "data", 2)}, (0, 2),
                     (NodeLoss("node3", 4),))
    fired = [{"task": 0, "replica": 0, "kind": "crash", "mode": "exception",
              "planned_replica": 1},
             {"task": -1, "replica": -1, "kind": "crash", "mode": "node", "node": "node3"},
             {"task": 5, "replica": 2, "kind": "silent", "mode": "data", "bad_node": "n1"}]
    figures = planned_and_fired(plan, fired)
    assert figures["planned"] == {"crash": 2, "silent": 1}
    assert figures["fired"] == {"crash": 2, "silent": 0}
    assert figures["fired_on_sibling"] == 1
    assert figures["not_fired"] == [{"task": 2, "replica": 0, "kind": "silent",
                                     "mode": "data", "phase": 2}]


@pytest.mark.parametrize("fired, warned", [(1, False), (0, True)])
def test_the_console_says_planned_and_fired_and_warns_of_a_miss(fired, warned):
    result = simulate(SimConfig(splits=2, nodes=4, slots=2, fault_percent=50, seed=3,
                                adaptive=False))
    report = result.report
    if not fired:  # as if the one planned crash had not come
        report["faults"].update(fired={"crash": 0, "silent": 0}, not_fired=[
            {"task": 1, "replica": 0, "kind": "crash", "mode": "exception", "phase": 1}])
    lines = summary_lines(report)
    assert f"faults planned: 1 crash, 0 silent; fired: {fired} crash, 0 silent" in \
        "\n".join(lines)
    warning = [line for line in lines if line.startswith("warning: ")]
    assert warning == ([("warning: 1 of 1 planned fault(s) did not fire: task 1 replica 0 "
                         "crash (exception, phase 1)")] if warned else [])
