"""Experiment specs: a typo is refused before anything runs, naming the offending line."""

import pytest

from dirft.errors import ConfigError
from dirft.gridmix.spec import load_spec
from e2e import run_cli

GOOD = """\
description: a small grid
jobs: [streamsort, javasort]
schemes: [none, dirft]
natures: [crash]
f: 1
fault_percent: [0, 50]
splits: [2, 4]
split_size: 64KiB
repetitions: 2
seed: 3
cluster: {nodes: 4, slots: 2}
jobconf:
  dirft.fault.crash.mode: kill
"""


def _write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def _refused(tmp_path, text) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_spec(str(path))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_good_spec_reads_into_its_grid(tmp_path):
    spec = load_spec(str(_write(tmp_path, GOOD)))
    assert spec.name == "spec" and spec.runner == "local"
    assert spec.jobs == ("streamsort", "javasort") and spec.natures == (1,)
    assert spec.split_size == 64 * 1024 and (spec.nodes, spec.slots) == (4, 2)
    assert spec.jobconf == {"dirft.fault.crash.mode": "kill"}
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2 * 2 * 2
    assert cells[0].label() == "streamsort none crash 0% 2 splits #1"


def test_scalars_stand_for_one_item_lists_and_defaults_fill_in(tmp_path):
    spec = load_spec(str(_write(tmp_path, "jobs: combiner\nschemes: dirft\nsplits: 8\n"
                                          "split_size: 1m\n")))
    assert (spec.jobs, spec.schemes, spec.splits) == (("combiner",), ("dirft",), (8,))
    assert (spec.natures, spec.fault_percent, spec.f, spec.repetitions) == ((1,), (0,), 1, 1)


@pytest.mark.parametrize("old,new,line,needle", [
    ("[streamsort, javasort]", "[streamsort, javsort]", 2, "unknown job 'javsort'"),
    ("[none, dirft]", "[none, dirfft]", 3, "unknown scheme 'dirfft'; did you mean 'dirft'"),
    ("repetitions: 2", "repetition: 2", 9, "unknown key 'repetition'"),
    ("[0, 50]", "[0, 150]", 6, "fault_percent 150 is out of range"),
    ("[0, 50]", "[0, -5]", 6, "fault_percent -5 is out of range"),
    ("[2, 4]", "[2, four]", 7, "splits 'four' is not an integer"),
    ("repetitions: 2", "repetitions: 1.5", 9, "repetitions 1.5 is not an integer"),
    ("[crash]", "[crush]", 4, "unknown nature 'crush'"),
    ("split_size: 64KiB", "split_size: lots", 8, "split_size"),
    ("{nodes: 4, slots: 2}", "{nodes: 4, slot: 2}", 11, "unknown cluster key 'slot'"),
    ("dirft.fault.crash.mode: kill", "dirft.fault.crash.mode: smash", 13,
     "dirft.fault.crash.mode"),
    ("dirft.fault.crash.mode: kill", "dirft.nodes: 8", 13, "use the spec's cluster.nodes"),
    ("seed: 3", "seed: 3\nseed: 4", 11, "repeated"),
    ("jobs: [streamsort, javasort]", "jobs: [streamsort, javasort", 3, "not valid YAML"),
])
def test_a_typo_is_refused_naming_its_line(tmp_path, old, new, line, needle):
    assert old in GOOD
    message = _refused(tmp_path, GOOD.replace(old, new))
    assert f"spec.yaml line {line}:" in message and needle in message


def test_a_grid_cell_the_cluster_cannot_run_names_the_scheme(tmp_path):
    text = GOOD.replace("[crash]", "[silent]").replace("nodes: 4", "nodes: 2")
    message = _refused(tmp_path, text)
    assert "line 3:" in message and "scheme dirft with nature 2" in message
    assert "dirft.nodes" in message


def test_a_missing_key_and_an_empty_spec_are_refused(tmp_path):
    assert "key 'schemes' is missing" in _refused(tmp_path, "jobs: [streamsort]\nsplits: 2\n"
                                                            "split_size: 1m\n")
    assert "empty" in _refused(tmp_path, "")
    assert "line 1:" in _refused(tmp_path, "- just\n- a list\n")


def test_runner_sim_takes_streamsort_only(tmp_path):
    pytest.importorskip("dirft.runners.sim")
    message = _refused(tmp_path, GOOD.replace("description:", "runner: sim\ndescription:")
                       .replace("jobconf:\n  dirft.fault.crash.mode: kill\n", ""))
    assert "line 3:" in message and "streamsort only" in message


def test_the_cli_refuses_before_anything_runs(tmp_path, capsys):
    path = _write(tmp_path, GOOD.replace("[none, dirft]", "[none, dirfft]"))
    out = tmp_path / "results"
    code, _, err = run_cli(capsys, "gridmix", "run", path, "--out", out)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "line 3: unknown scheme 'dirfft'" in lines[0]
    assert not out.exists()
