"""End to end on the local runner: real replica processes, real service, real files."""

import pytest

from dirft.gridmix.generate import generate_file
from e2e import c_sorted, leftovers, parts, report, streaming

MODES = {  # name: extra -D settings
    "crash-f1": ["-D", "mapred.map.tasks.fault.nature=1"],
    "crash-f2": ["-D", "mapred.map.tasks.fault.nature=1",
                 "-D", "mapred.map.tasks.fault.tolerance=2"],
    "silent-f1": ["-D", "mapred.map.tasks.fault.nature=2"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """About 2 MiB of GridMix text: 8 map tasks of 256 KiB."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 2 * 1024 * 1024, seed=7)
    return path


@pytest.fixture(scope="module")
def fault_free(data, tmp_path_factory):
    """The fault-free output of streamSort in each mode, computed once."""
    outputs = {}
    for mode, extra in MODES.items():
        out = tmp_path_factory.mktemp(mode) / "out"
        code = _streamsort(data, out, *extra, "-D", "mapred.map.tasks.fault.inject=false")
        assert code == 0
        outputs[mode] = out
    return outputs


def _streamsort(data, out, *extra):
    code, _, err = streaming(_NoCapture(), data, out, "-mapper", "cat", "-reducer", "cat", *extra)
    assert code == 0, err
    return code


class _NoCapture:
    """Stands in for capsys in module fixtures (output goes to the test log)."""

    @staticmethod
    def readouterr():
        return "", ""


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fault_free_streamsort_equals_c_sort(mode, data, fault_free):
    assert (fault_free[mode] / "part-00000").read_bytes() == c_sorted(data)
    assert (fault_free[mode] / "_SUCCESS").read_bytes() == b""


@pytest.mark.parametrize("mode,phases", [("crash-f1", 1), ("crash-f2", 1), ("silent-f1", 2)])
def test_fault_free_tasks_stop_after_f_s_plus_one_phases(mode, phases, fault_free):
    rep = report(fault_free[mode])
    assert rep["phases_per_task"] == {str(phases): 8}
    assert rep["extra_work_bytes"] == rep["input_bytes"] * (phases - 1)
    assert rep["faults"]["injected"] == {"crash": 0, "silent": 0}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_injected_faults_leave_the_output_byte_identical(mode, data, fault_free, tmp_path,
                                                        capsys):
    out = tmp_path / "out"
    code, stdout, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                                  *MODES[mode], "-D", "mapred.map.tasks.fault.percent=50")
    assert code == 0, err
    assert parts(out) == parts(fault_free[mode])
    faults = report(out)["faults"]
    assert len(faults["tasks_hit"]) == 4
    assert sum(faults["injected"].values()) > 0
    assert faults["detected"] == faults["corrected"] == faults["injected"]
    assert "faults injected" in stdout
    assert leftovers(tmp_path) == []


def test_beyond_tolerance_the_job_aborts_and_leaves_nothing(data, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-D", "mapred.map.tasks.fault.percent=100",
                             "-D", "dirft.fault.replicas.per.task=2")
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "task " in err and "sub-split " in err and "exit code 75" in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_mapper_that_always_fails_aborts_with_its_error(data, tmp_path, capsys):
    script = tmp_path / "bad.sh"
    script.write_text("cat >/dev/null; echo 'mapper exploded' >&2; exit 4\n")
    code, _, err = streaming(capsys, data, tmp_path / "out", "-mapper", f"sh {script}",
                             "-D", "mapred.map.tasks.fault.inject=false")
    assert code == 3
    assert "mapper exploded" in err and "exited with code 4" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_silent_errors_are_outvoted(data, fault_free, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             *MODES["silent-f1"], "-D", "mapred.map.tasks.fault.percent=100")
    assert code == 0, err
    rep = report(out)
    assert rep["faults"]["detected"]["silent"] == rep["faults"]["injected"]["silent"] > 0
    assert parts(out) == parts(fault_free["silent-f1"])
