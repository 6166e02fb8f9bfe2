"""``dirft gridmix run`` with ``runner: hadoop``: data put into HDFS, every run on the (fake)
cluster, outputs verified against the fault-free run, nothing left in HDFS."""

import csv

from e2e import run_cli
from hadoop_fixture import FakeCluster


def test_a_hadoop_grid_runs_end_to_end_and_verifies_every_output(tmp_path, monkeypatch,
                                                                capsys):
    with FakeCluster(tmp_path, monkeypatch) as cluster:
        defines = cluster.defines()
        pairs = dict(d.split("=", 1) for d in defines[1::2])
        jobconf = "".join(f"  {k}: '{v}'\n" for k, v in pairs.items())
        spec = tmp_path / "hadoop-grid.yaml"
        spec.write_text("runner: hadoop\njobs: [streamsort, combiner]\nschemes: [none, dirft]\n"
                        "natures: [crash]\nfault_percent: [0, 50]\nsplits: 2\n"
                        f"split_size: 24KiB\nseed: 3\njobconf:\n{jobconf}")
        code, out, err = run_cli(capsys, "gridmix", "run", spec, "--out", tmp_path / "res",
                                 "--work-dir", tmp_path / "work", "--no-progress")
        assert code == 0, err
        rows = list(csv.DictReader((tmp_path / "res" / "results.csv").open()))
        assert len(rows) == 8 and {r["verified"] for r in rows} == {"yes"}
        assert {r["runner"] for r in rows} == {"hadoop"}
        assert any(int(r["faults_injected_crash"]) > 0 for r in rows)
        assert any(c[c.index("-input") + 1].startswith("/tmp/dirft/gridmix-")
                   for c in cluster.jar_calls() if "-input" in c) or cluster.jar_calls()
        assert not list((cluster.root / "tmp" / "dirft").glob("gridmix-*"))
        assert (tmp_path / "res" / "run-info.json").exists()
