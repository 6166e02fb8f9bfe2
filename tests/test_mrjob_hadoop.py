"""``dirft run -r hadoop``: every step of an MRJob script on the (fake) cluster, step N
reading step N-1's output in HDFS, mrjob shipped to nodes that have only python3."""

import os
import pathlib
import subprocess
import sys

import mrjob.examples

from dirft.cli import main
from dirft.gridmix.generate import generate_file
from hadoop_fixture import FakeCluster

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
EXAMPLES = pathlib.Path(mrjob.examples.__file__).parent
SMALL = ["-D", "mapreduce.input.fileinputformat.split.maxsize=40000"]
CRASHES = ["-D", "mapred.map.tasks.fault.inject=true",
           "-D", "mapred.map.tasks.fault.percent=50"]


def _inline(script, data) -> list[bytes]:
    done = subprocess.run([sys.executable, str(script), "-r", "inline", "--no-conf", str(data)],
                          capture_output=True, check=True, env={**os.environ, "LC_ALL": "C"})
    return sorted(done.stdout.splitlines())


def _hadoop_output(cluster, path) -> list[bytes]:
    files = cluster.output(path)
    lines = [line for name, data in files.items() if name.startswith("part-")
             for line in data.splitlines()]
    # Hadoop's TextOutputFormat writes a tab-less line as ``line\t``
    return sorted(line[:-1] if line.count(b"\t") == 1 and line.endswith(b"\t") else line
                  for line in lines)


def test_multi_step_job_with_files_runs_every_step_on_the_cluster(tmp_path, monkeypatch,
                                                                 capsys):
    data = tmp_path / "in.txt"
    generate_file(str(data), 100_000, seed=9)
    script = EXAMPLES / "mr_most_used_word.py"
    with FakeCluster(tmp_path, monkeypatch) as cluster:
        cluster.put("/user/me/in.txt", data.read_bytes())
        code = main(["run", str(script), "-r", "hadoop", "--no-conf", *cluster.defines(),
                     *SMALL, *CRASHES, "/user/me/in.txt", "-o", "/user/me/out"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert _hadoop_output(cluster, "/user/me/out") == _inline(script, data)
        assert "_dirft_run_report.json" in cluster.output("/user/me/out")
        jars = cluster.jar_calls()
        inputs = [c[c.index("-input") + 1] for c in jars]
        assert any("step-1" in c[c.index("-output") + 1] for c in jars)  # step 2 ran there
        assert all(not i.startswith(str(tmp_path)) for i in inputs)  # HDFS, not local
        assert cluster.leftovers() == []
