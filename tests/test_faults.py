"""Every scheme under every real fault mode within its tolerance: the fault-free bytes."""

import pytest

from dirft.gridmix.generate import generate_file
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
    if scheme == "dirft":  # every replica runs its faulty phase; elsewhere a faster copy
        assert rep["faults"]["injected_by_mode"].get(mode, 0) > 0  # may win before it fires
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
