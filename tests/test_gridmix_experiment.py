"""``dirft gridmix run``: a tiny grid end to end, the committed results, verification."""

import csv
import json
import os
import pathlib

import pytest

from dirft.gridmix.experiment import COLUMNS, Experiment
from dirft.gridmix.spec import load_spec
from e2e import ROOT, leftovers, run_cli

RUNS = ROOT / "gridmix_runs"
PNG = b"\x89PNG\r\n\x1a\n"
TINY = """\
description: the smallest grid that draws both figures
jobs: [streamsort]
schemes: [none, dirft]
natures: [crash]
fault_percent: [0, 50]
splits: [2]
split_size: 32KiB
cluster: {nodes: 2, slots: 2}
"""


def _rows(path) -> tuple[list, list]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def test_a_tiny_spec_runs_end_to_end(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    code, out, err = run_cli(capsys, "gridmix", "run", spec, "--work-dir", tmp_path / "work")
    assert code == 0, err
    results = tmp_path / "results" / "tiny"
    header, rows = _rows(results / "results.csv")
    assert tuple(header) == COLUMNS and len(rows) == 4
    assert {r["verified"] for r in rows} == {"yes"}
    assert {(r["scheme"], r["fault_percent"]) for r in rows} == {
        ("none", "0"), ("none", "50"), ("dirft", "0"), ("dirft", "50")}
    hit = [r for r in rows if r["fault_percent"] == "50"]
    assert all(int(r["faults_injected_crash"]) == int(r["faults_corrected_crash"]) == 1
               for r in hit)
    for name in ("overhead.png", "faults-streamsort.png"):
        assert (results / name).read_bytes().startswith(PNG)
    assert json.loads((results / "run-info.json").read_text())["runs"] == 4
    assert "reference streamsort" in err and "streamsort dirft crash 50% 2 splits #1" in err
    assert os.listdir(tmp_path / "work") == [] and leftovers(tmp_path) == []
    (results / "overhead.png").unlink()
    code, out, _ = run_cli(capsys, "gridmix", "plot", spec)
    assert code == 0 and (results / "overhead.png").read_bytes().startswith(PNG)


class _WrongOutput:
    """A runner that writes a plausible report and output, wrong for scheme dirft."""

    def __init__(self, job):
        self.job = job

    def run(self) -> dict:
        os.makedirs(self.job.output)
        text = b"same\n" if self.job.conf.scheme == "none" else b"changed\n"
        pathlib.Path(self.job.output, "part-00000").write_bytes(text)
        zero = {"crash": 0, "silent": 0}
        return {"scheme": self.job.conf.scheme, "tolerance": zero, "input_bytes": 1,
                "tasks": 1, "replicas_launched": 1, "extra_work_bytes": 0,
                "makespan_seconds": 1.0, "map_seconds": 1.0, "reduce_seconds": 0.0,
                "phases_per_task": {"1": 1},
                "faults": {"injected": zero, "detected": zero, "corrected": zero}}


def test_an_output_that_differs_from_the_fault_free_run_is_not_verified(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    rows = Experiment(load_spec(str(spec)), str(tmp_path), _WrongOutput).run()
    assert {(r["scheme"], r["verified"]) for r in rows} == {("none", "yes"), ("dirft", "no")}


def _committed():
    return sorted(p for p in (RUNS / "results").glob("*/results.csv")) if RUNS.exists() else []


@pytest.mark.parametrize("csv_path", _committed(), ids=lambda p: p.parent.name)
def test_committed_results_match_their_specs(csv_path):
    spec = load_spec(str(RUNS / f"{csv_path.parent.name}.yaml"))
    header, rows = _rows(csv_path)
    assert tuple(header) == COLUMNS
    assert len(rows) == len(spec.cells())
    assert {r["verified"] for r in rows} <= {"yes", "n/a"}
    assert {r["scheme"] for r in rows} == set(spec.schemes)
    for png in csv_path.parent.glob("*.png"):
        assert png.read_bytes().startswith(PNG)


def test_every_spec_in_gridmix_runs_is_valid():
    for path in sorted(RUNS.glob("*.yaml")) if RUNS.exists() else []:
        assert load_spec(str(path)).cells()


def test_a_simulated_grid_records_rows_without_outputs(tmp_path, capsys):
    pytest.importorskip("dirft.runners.sim")
    spec = tmp_path / "sim.yaml"
    spec.write_text("runner: sim\njobs: [streamsort]\nschemes: [se, dirft]\n"
                    "fault_percent: [0, 50, 100]\nsplits: [20, 40]\nsplit_size: 128MiB\n")
    code, _, err = run_cli(capsys, "gridmix", "run", spec, "--no-progress")
    assert code == 0, err
    header, rows = _rows(tmp_path / "results" / "sim" / "results.csv")
    assert tuple(header) == COLUMNS and len(rows) == 12
    assert {r["verified"] for r in rows} == {"n/a"} and {r["runner"] for r in rows} == {"sim"}
    assert (tmp_path / "results" / "sim" / "faults-streamsort.png").exists()
