"""``dirft run``: MRJob scripts, multi-step ones too, give what mrjob's inline runner gives."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from dirft.gridmix.generate import generate_file
from dirft.gridmix.jobs import JOBS_DIR
from e2e import leftovers, run_cli

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
SPLITS = ["-D", "dirft.split.maxsize=40000",
          "-D", "dfs.blocksize=65536"]
CRASHES = ["-D", "mapred.map.tasks.fault.inject=true", "-D",
           "mapred.map.tasks.fault.percent=50"]


def _inline(script, *inputs) -> list[bytes]:
    done = subprocess.run([sys.executable, str(script), "-r", "inline", *map(str, inputs)],
                          capture_output=True, check=False, env={**os.environ, "LC_ALL": "C"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return sorted(done.stdout.splitlines())


def _dirft_run(capsys, script, data, out, *extra) -> list[bytes]:
    code, stdout, err = run_cli(capsys, "run", script, data, "-o", out, *SPLITS, *extra)
    assert code == 0, err
    assert "succeeded" in stdout and "total:" in stdout
    parts = sorted(p for p in pathlib.Path(out).iterdir() if p.name.startswith("part-"))
    return sorted(line for p in parts for line in p.read_bytes().splitlines())


def test_two_step_job_matches_the_inline_runner(tmp_path, capsys):
    data = tmp_path / "in.txt"
    generate_file(str(data), 100_000, 4)
    got = _dirft_run(capsys, FIXTURES / "mr_two_step.py", data, tmp_path / "out", *CRASHES)
    assert got == _inline(FIXTURES / "mr_two_step.py", data) and got
    assert (tmp_path / "out" / "_dirft_run_report.json").exists()
    assert leftovers(tmp_path) == []


def test_monsterquery_matches_the_inline_runner(tmp_path, capsys):
    data = tmp_path / "in.txt"
    generate_file(str(data), 120_000, 4, "fixkv")
    script = os.path.join(JOBS_DIR, "monsterquery.py")
    got = _dirft_run(capsys, script, data, tmp_path / "out")
    assert got == _inline(script, data)


def test_a_chain_that_writes_copies_matches_under_silent_faults(tmp_path, capsys):
    shutil.copy(os.path.join(JOBS_DIR, "genericmrload.py"), tmp_path)
    script = tmp_path / "chain.py"
    script.write_text("from genericmrload import MRGenericLoad\n\n"
                      "class Chain(MRGenericLoad):\n    FILES = ['genericmrload.py']\n"
                      "    KEEP_MAP = 60.0\n    KEEP_RED = 150.0\n    CHAINED = 2\n\n"
                      "if __name__ == '__main__':\n    Chain.run()\n")
    data = tmp_path / "in.txt"
    generate_file(str(data), 60_000, 5, "fixkv")
    got = _dirft_run(capsys, script, data, tmp_path / "out", *CRASHES,
                     "-D", "mapred.map.tasks.fault.nature=2", "-D", "dirft.nodes=3")
    assert got == _inline(script, data) and len(got) > 20


def test_map_only_and_command_steps(tmp_path, capsys):
    script = tmp_path / "mixed.py"
    script.write_text(
        "from mrjob.job import MRJob\nfrom mrjob.protocol import TextProtocol\n"
        "from mrjob.step import MRStep\n\n"
        "class Mixed(MRJob):\n"
        "    INPUT_PROTOCOL = INTERNAL_PROTOCOL = OUTPUT_PROTOCOL = TextProtocol\n"
        "    def steps(self):\n"
        "        return [MRStep(mapper_cmd='cat', reducer=self.count),\n"
        "                MRStep(mapper=self.flag)]\n"
        "    def count(self, key, values):\n        yield key, str(len(list(values)))\n"
        "    def flag(self, key, value):\n        yield key, value + '!'\n\n"
        "if __name__ == '__main__':\n    Mixed.run()\n")
    data = tmp_path / "in.txt"
    data.write_text("a\tx\nb\ty\na\tz\n")
    got = _dirft_run(capsys, script, data, tmp_path / "out")
    assert got == [b"a\t2!", b"b\t1!"]


def test_a_failing_step_is_named_and_leaves_nothing(tmp_path, capsys):
    script = tmp_path / "fails.py"
    script.write_text(
        "from mrjob.job import MRJob\nfrom mrjob.step import MRStep\n\n"
        "class Fails(MRJob):\n    def steps(self):\n"
        "        return [MRStep(mapper=self.m, reducer=self.r), MRStep(reducer=self.boom)]\n"
        "    def m(self, _, line):\n        yield line[:3], 1\n"
        "    def r(self, key, values):\n        yield key, sum(values)\n"
        "    def boom(self, key, values):\n        raise ValueError('boom')\n        yield\n\n"
        "if __name__ == '__main__':\n    Fails.run()\n")
    data = tmp_path / "in.txt"
    generate_file(str(data), 20_000, 1)
    code, _, err = run_cli(capsys, "run", script, data, "-o", tmp_path / "out")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "step 2 of 2:" in err and "boom" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("body,needle", [
    ("from mrjob.step import SparkStep\n\nclass J(MRJob):\n"
     "    def steps(self):\n        return [SparkStep(spark=self.s)]\n"
     "    def s(self, i, o):\n        pass\n", "step 1 of 1 is a 'spark' step"),
    ("class J(MRJob):\n    def mapper(self, k, v):\n        yield k, v\n\n"
     "class K(MRJob):\n    def mapper(self, k, v):\n        yield k, v\n", "found: J, K"),
    ("class J(MRJob):\n    def mapper_pre_filter(self):\n        return 'grep x'\n"
     "    def mapper(self, k, v):\n        yield k, v\n", "pre_filter"),
    ("raise SystemExit(3)\n", "could not be loaded"),
])
def test_what_dirft_run_cannot_do_is_refused_in_one_line(tmp_path, capsys, body, needle):
    script = tmp_path / "job.py"
    script.write_text("from mrjob.job import MRJob\n" + body)
    data = tmp_path / "in.txt"
    data.write_text("a\tb\n")
    code, _, err = run_cli(capsys, "run", script, data, "-o", tmp_path / "out")
    assert code == 1 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_refused_before_the_job_is_read(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    code, _, err = run_cli(capsys, "run", tmp_path / "missing.py", "in", "-o", tmp_path / "out")
    assert code == 1 and "already exists" in err


def _step_report(map_s, reduce_s):
    zero = {"crash": 0, "silent": 0}
    return {"faults": {k: dict(zero) for k in ("injected", "detected", "corrected")},
            "phases_per_task": {"1": 2}, "tasks": 2, "replicas_launched": 6,
            "extra_work_bytes": 0, "makespan_seconds": 10.0, "map_seconds": map_s,
            "reduce_seconds": reduce_s, "scheme": "dirft", "tolerance": zero,
            "input_bytes": 100}


def test_a_step_that_did_not_measure_map_time_makes_the_sum_unmeasured_not_a_crash():
    from dirft.mrjob_steps import summarize, summary_line
    measured = summarize([_step_report(4.0, 1.0), _step_report(5.0, 2.0)])
    assert (measured["map_seconds"], measured["reduce_seconds"]) == (9.0, 3.0)
    mixed = summarize([_step_report(4.0, 1.0), _step_report(None, None)])
    assert mixed["map_seconds"] is None and mixed["reduce_seconds"] is None
    assert mixed["makespan_seconds"] == 20.0
    assert "map and reduce in one Hadoop job" in summary_line(mixed)


def test_missing_parents_of_the_output_are_created(tmp_path, capsys):
    data = tmp_path / "in.txt"
    generate_file(str(data), 20_000, 4)
    out = tmp_path / "a" / "b" / "out"
    got = _dirft_run(capsys, FIXTURES / "mr_two_step.py", data, out)
    assert got == _inline(FIXTURES / "mr_two_step.py", data) and got
