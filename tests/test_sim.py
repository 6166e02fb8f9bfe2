"""The simulator: reproducible, driven by the real core, the paper's shapes, its cost model.

No sleeps and no wall clock: every time here is virtual (and a test checks that the
simulator never reads a real clock).
"""

import json
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.core import actions as A
from dirft.core.state import JobState
from dirft.errors import ConfigError
from dirft.runners.sim import SimConfig, paper_config, plan_sim_job, sim_faults, simulate
from dirft.sim.costmodel import MIB, CostModel, load_cost_model, save_cost_model
from dirft.sim.engine import Engine, true_signature
from conftest import ROOT
from core_harness import validating
from e2e import run_cli

#: A cost model in round numbers: 1 s per MiB, nothing else (times are easy to predict).
PLAIN = CostModel(startup_s=0.0, seconds_per_mib=1.0, phase_overhead_s=0.0,
                  network_penalty_s_per_mib=0.0, reduce_seconds_per_mib=0.0,
                  poll_interval_s=0.25)
SMALL = SimConfig(splits=12, split_size=3 * MIB, slots=4, heartbeat_interval_s=1.0,
                  heartbeat_timeout_s=5.0)


@pytest.fixture(scope="module", autouse=True)
def _validating_core():
    """The simulator's core checks every invariant after each event it is fed."""
    with validating("dirft.sim.engine"):
        yield


def _small(**changes) -> SimConfig:
    return SimConfig(**{**SMALL.__dict__, **changes})


def test_seeded_runs_are_reproducible():
    config = _small(nature=3, fault_percent=50, seed=5)
    first, second = simulate(config, PLAIN), simulate(config, PLAIN)
    assert first.makespan_s == second.makespan_s
    assert first.decisions == second.decisions
    assert first.report == second.report
    assert simulate(_small(nature=3, fault_percent=50, seed=6), PLAIN).decisions != \
        first.decisions


@pytest.mark.parametrize("nature,tolerance,ratio", [(1, 1, 1 / 2), (1, 2, 1 / 3),
                                                    (2, 1, 2 / 3)])
def test_fault_free_dirft_task_takes_f_s_plus_1_over_R_of_frft(nature, tolerance, ratio):
    """docs/design.md, 'Fault-free response time': a task takes (f_s + 1)/R of a full replica's
    (the paper's plain DIRFT; adaptive DIRFT cuts this small job's tasks wider still)."""
    config = _small(nature=nature, tolerance=tolerance, slots=20, adaptive=False)
    dirft = simulate(config, PLAIN)
    frft = simulate(_small(nature=nature, tolerance=tolerance, slots=20, scheme="frft"), PLAIN)
    for ours, full in zip(dirft.tasks, frft.tasks):
        assert ours["decided_at"] == pytest.approx(full["decided_at"] * ratio)
    assert dirft.report["extra_work_bytes"] == nature // 2 * 12 * 3 * MIB


def test_beyond_tolerance_the_job_aborts_and_commits_nothing_more():
    result = simulate(_small(fault_percent=100, fault_replicas=2, adaptive=False), PLAIN)
    assert result.aborted and "task " in result.aborted and "sub-split " in result.aborted
    abort = [d for d in result.decisions if isinstance(d, A.AbortJob)]
    assert len(abort) == 1 and result.decisions[-1] == abort[0]
    assert result.reduce_s == 0 and result.makespan_s == result.map_s
    assert result.report["faults"]["corrected"] == {"crash": 0, "silent": 0}


@settings(max_examples=40)
@given(seed=st.integers(0, 1000), percent=st.sampled_from([0, 25, 50, 100]),
       nature=st.sampled_from([1, 2, 3]), scheme=st.sampled_from(["dirft", "frft", "bft"]),
       mode=st.sampled_from(["exception", "kill", "hang"]))
def test_within_tolerance_every_task_commits_the_true_output(seed, percent, nature, scheme,
                                                             mode):
    config = _small(seed=seed, fault_percent=percent, nature=nature, scheme=scheme,
                    crash_mode=mode, splits=6)
    result = simulate(config, PLAIN)
    assert result.aborted is None
    commits = {d.task: d for d in result.decisions if isinstance(d, A.CommitTaskOutput)}
    assert sorted(commits) == list(range(6))
    for task, commit in commits.items():
        assert [w.signature for w in commit.winners] == \
            [true_signature(task, w.subsplit) for w in commit.winners]


class _CheckedEngine(Engine):
    """An engine that checks after every start that no node runs more than its slots."""

    def _fill(self) -> None:
        super()._fill()
        busy = Counter(p.node for p in self.procs.values())
        assert all(busy[n] <= self.slots for n in self.plan.nodes)
        assert all(v >= 0 for v in self.cluster.free.values())


@settings(max_examples=30)
@given(seed=st.integers(0, 1000), percent=st.sampled_from([0, 50, 100]),
       nature=st.sampled_from([1, 2, 3]), slots=st.integers(1, 3),
       mode=st.sampled_from(["exception", "kill", "hang"]))
def test_slots_are_never_oversubscribed_and_everything_drains(seed, percent, nature, slots,
                                                              mode):
    config = _small(seed=seed, fault_percent=percent, nature=nature, slots=slots,
                    crash_mode=mode, splits=8)
    plan = plan_sim_job(config)
    engine = _CheckedEngine(plan, sim_faults(config, plan), PLAIN, slots, {}, 1.0)
    engine.run()
    assert engine.finished_at is not None and engine.abort is None
    assert not engine.procs and engine.cluster.free == {n: slots for n in plan.nodes}
    assert not any(engine.cluster.queued.values())


def test_a_hang_is_found_by_the_heartbeat_timeout_and_a_kill_by_the_exit():
    hang = simulate(_small(fault_percent=50, crash_mode="hang"), PLAIN)
    kill = simulate(_small(fault_percent=50, crash_mode="kill"), PLAIN)
    assert hang.report["faults"]["crashes_detected_by"] == {"heartbeat": 6}
    assert kill.report["faults"]["crashes_detected_by"] == {"exit": 6}
    assert hang.makespan_s > kill.makespan_s  # the timeout costs time


def test_a_hang_costs_the_stall_limit_when_a_sibling_waits_for_work():
    hang = dict(fault_percent=50, crash_mode="hang", heartbeat_timeout_s=30.0)
    off = simulate(_small(stall_timeout_s=0.0, **hang), PLAIN)
    on = simulate(_small(stall_timeout_s=3.0, **hang), PLAIN)
    assert off.report["faults"]["crashes_detected_by"] == {"heartbeat": 6}
    assert on.report["faults"]["crashes_detected_by"] == {"stall": 6}
    assert on.aborted is off.aborted is None and on.wrong_outputs == off.wrong_outputs == 0
    assert on.makespan_s < off.makespan_s  # virtual seconds: 3 s of silence, not 30


def test_a_lost_node_moves_its_work_and_the_job_still_succeeds():
    result = simulate(_small(node_losses={"node0": 1.0}, adaptive=False), PLAIN)
    assert result.aborted is None and result.state.lost_nodes == {"node0"}
    assert result.report["faults"]["crashes_detected_by"].get("node-lost", 0) > 0


def test_a_straggler_node_slows_plain_hadoop_but_not_full_replication():
    """FRFT under crash tolerance takes the first copy to finish: a slow node is hidden."""
    slow = {"node0": 4.0}
    for scheme, hidden in (("none", False), ("frft", True)):
        fast = simulate(_small(scheme=scheme, slots=20), PLAIN)
        slowed = simulate(_small(scheme=scheme, slots=20, straggler_nodes=slow), PLAIN)
        assert (slowed.makespan_s == fast.makespan_s) is hidden


def test_map_slots_bound_the_waves():
    """12 one-phase tasks, one replica each, on 10 nodes x 1 slot: two waves."""
    one_wave = simulate(_small(scheme="none", slots=2), PLAIN)
    two_waves = simulate(_small(scheme="none", slots=1), PLAIN)
    assert one_wave.map_s == pytest.approx(3.0)
    assert two_waves.map_s == pytest.approx(6.0)


def test_the_makespan_adds_the_reduce_model():
    cost = CostModel(**{**PLAIN.to_dict(), "reduce_seconds_per_mib": 0.5})
    result = simulate(_small(scheme="none", slots=2), cost)
    assert result.reduce_s == pytest.approx(0.5 * 12 * 3)
    assert result.makespan_s == pytest.approx(result.map_s + result.reduce_s)


def test_the_simulator_reads_no_clock_and_never_sleeps(monkeypatch):
    def forbidden(*_args):
        raise AssertionError("the simulator read the wall clock or slept")

    for name in ("time", "monotonic", "perf_counter", "sleep"):
        monkeypatch.setattr(time, name, forbidden)
    assert simulate(_small(nature=3, fault_percent=50), PLAIN).aborted is None


def test_the_paper_cluster_file_holds_the_default_cost_model():
    path = ROOT / "gridmix_runs" / "cost-models" / "paper-cluster.yaml"
    assert load_cost_model(str(path)) == CostModel()


def test_paper_cluster_fault_free_makespans_are_near_the_papers():
    """docs/design.md, 'Numbers to beat', 500 splits, crash: SE 410, FRFT 420, DIRFT 240 s ±10%."""
    with pytest.MonkeyPatch.context() as patch:  # 500 tasks: no whole-job check per event
        patch.setattr("dirft.sim.engine.JobState", JobState)
        for scheme, paper in (("se", 410), ("frft", 420), ("dirft", 240)):
            result = simulate(paper_config(500, 1, scheme))
            assert result.makespan_s == pytest.approx(paper, rel=0.1)


def test_a_cost_model_survives_a_yaml_round_trip(tmp_path):
    model = CostModel(1.5, 0.25, 0.5, 0.125, 0.0625, 0.05)
    save_cost_model(model, str(tmp_path / "m.yaml"), notes="two\nlines")
    assert (tmp_path / "m.yaml").read_text().startswith("# two\n# lines\n")
    assert load_cost_model(str(tmp_path / "m.yaml")) == model


@pytest.mark.parametrize("text,needle", [
    ("startup_s: 1\n", "missing key"),
    ("startup_z: 1\n", "unknown key 'startup_z'"),
    ("[1, 2\n", "not valid YAML"),
    ("\n".join(f"{k}: {'-1' if k == 'startup_s' else '1'}" for k in CostModel().to_dict()),
     "startup_s"),
])
def test_a_bad_cost_model_file_is_an_error_naming_it(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as err:
        load_cost_model(str(path))
    assert str(path) in str(err.value)


def test_dirft_simulate_prints_the_makespan_and_summary(capsys):
    code, out, err = run_cli(capsys, "simulate", "--splits", "20", "--nature", "2")
    assert code == 0, err
    assert "makespan" in out and "scheme dirft (f_c=0, f_s=1)" in out


def test_dirft_simulate_json_and_abort_status(capsys):
    code, out, _ = run_cli(capsys, "simulate", "--splits", "8", "--json", "--fault-percent",
                           "25", "--straggler", "node1=2")
    report = json.loads(out)
    assert code == 0 and report["simulated"] and report["makespan_seconds"] > 0
    assert report["faults"]["stragglers"] == {"node1": 2.0}
    code, _, err = run_cli(capsys, "simulate", "--splits", "8", "--fault-percent", "100",
                           "--fault-replicas", "2", "--plain")
    assert code == 3 and err.startswith("dirft: error: job aborted: (simulated) task ")


@pytest.mark.parametrize("args,needle", [
    (["--splits", "0"], "--splits 0"),
    (["--straggler", "node1"], "NODE=FACTOR"),
    (["--cost-model", "missing.yaml"], "missing.yaml"),
    (["--nodes", "1"], "dirft.nodes"),
])
def test_dirft_simulate_refuses_bad_input_in_one_line(capsys, args, needle):
    code, _, err = run_cli(capsys, "simulate", *args)
    assert code in (1, 2) and needle in err and len(err.strip().splitlines()) == 1


def test_the_authors_points_come_from_design_md():
    from dirft.gridmix.paper import paper_points
    assert paper_points(1, "dirft", 500) == [(0.0, 240), (6.0, 250), (100.0, 440)]
    assert paper_points(2, "bft", 500) == [(0.0, 430), (6.0, 450), (100.0, 810)]
    assert paper_points(1, "dirft", 100) == [(0.0, 70)]
