"""Conformance: the simulator and the local runner make the same decisions.

The same small job (8 map tasks of 256 KiB of GridMix text) and the same fault plan go
through the local runner (real replica processes, the real voting service) and through the
simulator (virtual time); per task, the core's decisions — replicas launched and where,
assignments (replica, sub-split, phase), the winners committed, the abort — must be the
same. Interleavings across tasks differ, so decisions are compared per task as sorted
lists; the configurations are ones where the core's lockstep reservations make every
decision independent of timing (every replica fits in a map slot; faults at the paper's
level, at the end of a phase). Signatures differ (real bytes versus simulated ones), so a
winner is compared as (sub-split, replica).
"""

import pytest

from dirft.config import JobConf
from dirft.core import actions as A
from dirft.errors import JobAborted
from dirft.gridmix.generate import generate_file
from dirft.runners.base import StreamingJob
from dirft.runners.job import FaultSettings, draw_faults
from dirft.runners.local import LocalRunner
from dirft.runners.sim import group_decisions, simulate_plan
from dirft.sim.costmodel import CostModel
from core_harness import validating
from e2e import EXAMPLE, SMALL

CASES = {  # name: -D settings on top of the example config and 8 tasks of 256 KiB
    "crash-f1-fault-free": ["mapred.map.tasks.fault.inject=false"],
    "crash-f1-50%": ["mapred.map.tasks.fault.percent=50"],
    "crash-f1-100%": ["mapred.map.tasks.fault.percent=100", "dirft.fault.seed=2"],
    "silent-f1-fault-free": ["mapred.map.tasks.fault.nature=2",
                             "mapred.map.tasks.fault.inject=false"],
    "silent-f1-50%": ["mapred.map.tasks.fault.nature=2", "mapred.map.tasks.fault.percent=50"],
    "silent-f1-100%": ["mapred.map.tasks.fault.nature=2", "mapred.map.tasks.fault.percent=100",
                       "dirft.fault.seed=3"],
}
# Left out on purpose, as their decisions depend on timing in any runner: FRFT and BFT
# (the first copies to finish win), and f_c = 2 (a survivor's second sub-split is whichever
# of its two crashed siblings' sub-splits is freed first).
#: Two very different clusters in virtual time: decisions must not depend on it.
COSTS = (CostModel(), CostModel(startup_s=0.01, seconds_per_mib=30.0, phase_overhead_s=0.0,
                                network_penalty_s_per_mib=5.0, reduce_seconds_per_mib=0.0,
                                poll_interval_s=0.05))


@pytest.fixture(scope="module", autouse=True)
def _validating_core():
    """Both runners' cores check every invariant after each batch of events."""
    with validating("dirft.sim.engine", "dirft.runners.driver"):
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """About 2 MiB of GridMix text: 8 map tasks of 256 KiB."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 2 * 1024 * 1024, seed=7)
    return path


def _conf(extra: list) -> JobConf:
    defines = [d for d in SMALL if d != "-D"] + ["mapred.map.tasks.fault.inject=true", *extra]
    return JobConf.load([str(EXAMPLE)], defines)


def _real_run(data, out, conf: JobConf):
    """Run the job on the local runner; return (plan, decisions, aborted?)."""
    runner = LocalRunner(StreamingJob([str(data)], str(out), ["cat"], conf, reducer=["cat"]))
    try:
        runner.run()
        aborted = False
    except JobAborted:  # the decisions up to the abort are compared
        aborted = True
    return runner.driver.state.plan, runner.driver.decisions, aborted


def _faults(conf: JobConf, plan):
    """The fault plan the local runner drew for ``plan`` (same function, same keys)."""
    return draw_faults(plan, FaultSettings.from_conf(conf))


def comparable(decision) -> tuple:
    """A decision without what legitimately differs (signature bytes, message wording)."""
    if isinstance(decision, A.LaunchReplica):
        return ("launch", decision.replica, decision.node)
    if isinstance(decision, A.AssignSubsplit):
        return ("assign", decision.replica, decision.subsplit, decision.phase)
    if isinstance(decision, A.CommitTaskOutput):
        return ("commit", tuple((w.subsplit, w.replica) for w in decision.winners))
    return ("abort", decision.subsplit)


def per_task(decisions, tasks=None) -> dict:
    """Task -> sorted comparable decisions (only ``tasks`` if given)."""
    return {t: sorted(comparable(d) for d in ds) for t, ds in group_decisions(decisions).items()
            if tasks is None or t in tasks}


@pytest.mark.parametrize("case", sorted(CASES))
def test_simulator_and_local_runner_make_the_same_decisions(case, data, tmp_path):
    conf = _conf(CASES[case])
    plan, real, aborted = _real_run(data, tmp_path / "out", conf)
    assert not aborted
    faults = _faults(conf, plan)
    for cost in COSTS:
        sim = simulate_plan(plan, faults, cost, conf.get("dirft.slots.per.node"))
        assert sim.aborted is None
        assert per_task(sim.decisions) == per_task(real)


def test_the_same_abort_beyond_tolerance(data, tmp_path):
    """One task of 8 gets two crashes under f_c = 1: both runs abort on it, at the same
    sub-split, after the same decisions for it (other tasks stop wherever they were)."""
    conf = _conf(["mapred.map.tasks.fault.percent=12.5", "dirft.fault.replicas.per.task=2"])
    plan, real, aborted = _real_run(data, tmp_path / "out", conf)
    faults = _faults(conf, plan)
    assert aborted and len(faults.tasks_hit) == 1
    sim = simulate_plan(plan, faults, CostModel(), conf.get("dirft.slots.per.node"))
    assert sim.aborted is not None
    hit = set(faults.tasks_hit)
    assert per_task(sim.decisions, hit) == per_task(real, hit)
    assert [comparable(d) for d in sim.decisions if isinstance(d, A.AbortJob)] == \
        [comparable(d) for d in real if isinstance(d, A.AbortJob)]
