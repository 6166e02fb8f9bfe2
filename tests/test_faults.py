"""Every scheme under every real fault mode within its tolerance: the fault-free bytes."""

import pytest

from dirft.core import actions as A
from dirft.gridmix.generate import generate_file
from dirft.runners.cluster import LocalCluster
from e2e import c_sorted, leftovers, parts, report, streaming

FAST_HEARTBEAT = ["-D", "dirft.heartbeat.interval=0.1", "-D", "dirft.heartbeat.timeout=3"]
CRASH_MODES = ["exception", "kill", "node", "hang"]
SILENT_MODES = ["signature", "data"]
CASES = ([(s, "1", m) for s in ("dirft", "frft", "bft", "se", "none") for m in CRASH_MODES]
         + [(s, "2", m) for s in ("dirft", "frft", "bft") for m in SILENT_MODES])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 1024 * 1024, seed=11)  # 4 map tasks of 256 KiB
    return path


@pytest.mark.parametrize("scheme,nature,mode", CASES)
def test_within_tolerance_the_output_is_the_fault_free_one(scheme, nature, mode, data,
                                                          tmp_path, capsys):
    key = "dirft.fault.crash.mode" if nature == "1" else "dirft.fault.silent.mode"
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-D", f"dirft.scheme={scheme}",
                             "-D", f"mapred.map.tasks.fault.nature={nature}",
                             "-D", f"{key}={mode}", "-D", "mapred.map.tasks.fault.percent=50",
                             *FAST_HEARTBEAT)
    assert code == 0, err
    assert parts(out)["part-00000"] == c_sorted(data)
    rep = report(out)
    if scheme == "dirft":  # every planned fault fires; elsewhere a faster copy may win
        assert rep["faults"]["fired"] == rep["faults"]["planned"]  # before it fires
        assert rep["faults"]["injected_by_mode"].get(mode, 0) > 0
    assert rep["faults"]["detected"] == rep["faults"]["corrected"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode,cause", [("kill", "exit"), ("hang", "heartbeat"),
                                        ("node", "node-lost"), ("exception", "exit")])
def test_the_report_says_how_each_crash_was_detected(mode, cause, data, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-D", f"dirft.fault.crash.mode={mode}",
                             "-D", "mapred.map.tasks.fault.percent=100", *FAST_HEARTBEAT)
    assert code == 0, err
    faults = report(out)["faults"]
    assert set(faults["crashes_detected_by"]) == {cause}
    if mode == "node":
        assert len(faults["nodes_lost"]) == 1 and faults["injected_by_mode"] == {"node": 1}
    else:
        assert faults["crashes_detected_by"][cause] == faults["injected"]["crash"] == 4


@pytest.mark.parametrize("scheme", ["se", "none"])
def test_a_scheme_that_cannot_see_silent_errors_says_so(scheme, data, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                                  "-D", f"dirft.scheme={scheme}",
                                  "-D", "mapred.map.tasks.fault.inject=false",
                                  "-D", "mapred.map.tasks.fault.nature=2")
    assert code == 0, err
    assert report(out)["silent_errors_checked"] is False
    assert "does not check for silent errors" in stdout


@pytest.mark.parametrize("mode", ["kill", "hang", "data"])
def test_beyond_tolerance_real_faults_abort_cleanly(mode, data, tmp_path, capsys):
    nature, key = ("2", "dirft.fault.silent.mode") if mode == "data" else \
        ("1", "dirft.fault.crash.mode")
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-D", f"mapred.map.tasks.fault.nature={nature}",
                             "-D", f"{key}={mode}", "-D", "mapred.map.tasks.fault.percent=100",
                             "-D", f"dirft.fault.replicas.per.task={3 if mode == 'data' else 2}",
                             *FAST_HEARTBEAT)
    assert code == 3, err
    assert "task " in err and "sub-split" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and leftovers(tmp_path) == []



class LateSlots:
    """A schedule for :class:`LocalCluster`: a replica that carries a planned fault gets no
    map slot until a sibling has been handed a second sub-split (or none is left live), as
    when its YARN container comes late. Its planned phase then cannot come: its sibling
    has taken the sub-split it was to map."""

    def __init__(self, monkeypatch) -> None:
        self.held: list[tuple[int, int, str]] = []
        self.released = 0
        launch, step, kill = LocalCluster.launch, LocalCluster.step, LocalCluster.kill

        def late_launch(cluster, task, replica, node):
            if cluster.driver.strikes.plan.for_replica(task, replica) is None:
                launch(cluster, task, replica, node)
            else:
                self.held.append((task, replica, node))

        def late_step(cluster, now):
            for held in [h for h in self.held if self._due(cluster.driver, *h[:2])]:
                self.held.remove(held)
                self.released += 1
                launch(cluster, *held)
            step(cluster, now)

        def late_kill(cluster, task, replica):
            self.held = [h for h in self.held if h[:2] != (task, replica)]
            kill(cluster, task, replica)
        monkeypatch.setattr(LocalCluster, "launch", late_launch)
        monkeypatch.setattr(LocalCluster, "step", late_step)
        monkeypatch.setattr(LocalCluster, "kill", late_kill)

    @staticmethod
    def _due(driver, task: int, replica: int) -> bool:
        siblings = [r for r in driver.state.tasks[task].replicas if r != replica]
        went_on = any(isinstance(d, A.AssignSubsplit) and d.task == task and d.phase == 2
                      and d.replica != replica for d in list(driver.decisions))
        return went_on or not any(driver.replica_live(task, r) for r in siblings)


@pytest.mark.parametrize("mode", ["exception", "kill", "hang"])
def test_a_crash_whose_replica_gets_no_slot_in_time_strikes_its_sibling(mode, data, tmp_path,
                                                                        capsys, monkeypatch):
    # Every task is hit (4 crashes); each faulty replica waits for its slot until its
    # sibling maps the faulty one's planned sub-split in its own phase 2. The crash goes
    # with that sub-split to the sibling (fault_injector.strike); the late replica then
    # maps it. Without the rule no crash fires in this schedule.
    late = LateSlots(monkeypatch)
    out = tmp_path / "out"
    code, stdout, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                                  "-D", f"dirft.fault.crash.mode={mode}",
                                  "-D", "mapred.map.tasks.fault.percent=100", *FAST_HEARTBEAT)
    assert code == 0, err
    assert late.released == 4 and late.held == []
    assert parts(out)["part-00000"] == c_sorted(data)
    faults = report(out)["faults"]
    assert faults["planned"] == faults["fired"] == {"crash": 4, "silent": 0}
    assert faults["fired_on_sibling"] == 4 and faults["not_fired"] == []
    assert faults["detected"] == faults["corrected"] == faults["injected"]
    assert "faults planned: 4 crash, 0 silent; fired: 4 crash, 0 silent (4 by the sibling" in \
        stdout
    assert "did not fire" not in stdout and leftovers(tmp_path) == []


def test_a_silent_data_fault_whose_replica_gets_no_slot_in_time_still_corrupts_a_phase(
        data, tmp_path, capsys, monkeypatch):
    # f_s = 1: 3 replicas, quorum 2. Each hit task's faulty replica waits for its slot
    # until a sibling is handed its second sub-split; the bit flip then goes to the
    # sibling that maps the faulty one's planned sub-split without it, in a phase that
    # sibling really runs, and the vote finds it.
    late = LateSlots(monkeypatch)
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-D", "mapred.map.tasks.fault.nature=2",
                             "-D", "dirft.fault.silent.mode=data",
                             "-D", "mapred.map.tasks.fault.percent=100", *FAST_HEARTBEAT)
    assert code == 0, err
    assert late.released == 4
    assert parts(out)["part-00000"] == c_sorted(data)
    faults = report(out)["faults"]
    assert faults["planned"] == faults["fired"] == {"crash": 0, "silent": 4}
    assert faults["injected_by_mode"] == {"data": 4} and faults["not_fired"] == []
    assert faults["detected"]["silent"] == faults["corrected"]["silent"] == 4


def test_a_hung_replicas_subsplit_is_taken_by_its_sibling_before_the_heartbeat_timeout(
        data, tmp_path, capsys):
    # Every task is hit: one replica of each SIGSTOPs mid-phase. The heartbeat timeout
    # (60 s) would find it; the stall limit (1 s) lets the waiting sibling take its
    # sub-split first, so each task is decided while the hung replica is still only
    # stalled, and it is killed as found by "stall", never by the heartbeat timeout.
    out = tmp_path / "out"
    code, stdout, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                                  "-D", "dirft.fault.crash.mode=hang",
                                  "-D", "mapred.map.tasks.fault.percent=100",
                                  "-D", "dirft.heartbeat.interval=0.1",
                                  "-D", "dirft.heartbeat.timeout=60",
                                  "-D", "dirft.stall.timeout=1")
    assert code == 0, err
    assert parts(out)["part-00000"] == c_sorted(data)
    rep = report(out)
    faults = rep["faults"]
    assert faults["injected"]["crash"] == 4
    assert faults["crashes_detected_by"] == {"stall": 4}
    assert faults["detected"] == faults["corrected"] == {"crash": 4, "silent": 0}
    assert rep["phases_per_task"] == {"2": 4}  # the sibling mapped both sub-splits
    assert "detected: 4 crash (stall 4)" in stdout and leftovers(tmp_path) == []
