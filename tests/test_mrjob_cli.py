"""``dirft run`` reads an MRJob command line as mrjob does (passthrough options, -r, -o,
``-`` for stdin, --conf-path/--no-conf) and gives what mrjob's own runner gives."""

import os
import pathlib
import subprocess
import sys

import mrjob.examples
import pytest

from dirft.gridmix.generate import generate_file
from e2e import ROOT, leftovers, run_cli

EXAMPLES = pathlib.Path(mrjob.examples.__file__).parent
SPLITS = ["-D", "dirft.split.maxsize=40000",
          "-D", "dfs.blocksize=65536"]
CRASHES = ["-D", "mapred.map.tasks.fault.inject=true",
           "-D", "mapred.map.tasks.fault.percent=50"]
WORD_JOB = (
    "from mrjob.job import MRJob\n\n"
    "class Words(MRJob):\n"
    "    def configure_args(self):\n"
    "        super().configure_args()\n"
    "        self.add_passthru_arg('--word', required=True)\n"
    "    def mapper(self, _, line):\n"
    "        for w in line.split():\n"
    "            if w == self.options.word:\n"
    "                yield w, 1\n"
    "    def reducer(self, w, ones):\n"
    "        yield w, sum(ones)\n\n"
    "if __name__ == '__main__':\n    Words.run()\n")


def _mrjob(script, *args, stdin=None) -> bytes:
    done = subprocess.run([sys.executable, str(script), "-r", "inline", "--no-conf",
                           *map(str, args)], input=stdin, capture_output=True, check=False,
                          env={**os.environ, "LC_ALL": "C"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _lines(data: bytes) -> list[bytes]:
    return sorted(data.splitlines())


def _out_lines(out) -> list[bytes]:
    return _lines(b"".join(p.read_bytes() for p in sorted(pathlib.Path(out).iterdir())
                           if p.name.startswith("part-")))


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "in.txt"
    generate_file(str(path), 120_000, seed=7)
    return path


def test_a_passthrough_option_reaches_configure_args_and_the_tasks(tmp_path, capsys, text):
    script = tmp_path / "words.py"
    script.write_text(WORD_JOB)
    word = text.read_text().split()[3]
    code, out, err = run_cli(capsys, "run", script, "--word", word, text, "-o",
                             tmp_path / "out", "--no-conf", *SPLITS)
    assert code == 0, err
    got = _out_lines(tmp_path / "out")
    assert got == _lines(_mrjob(script, "--word", word, text)) and len(got) == 1
    assert int(got[0].split(b"\t")[1]) > 1


def test_the_jobs_parser_rejects_what_it_does_not_know_with_exit_2(tmp_path, capsys, text):
    script = tmp_path / "words.py"
    script.write_text(WORD_JOB)
    code, _, err = run_cli(capsys, "run", script, text, "-o", tmp_path / "out")
    assert code == 2 and "--word" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_dirft_runs_own_options_may_come_before_the_script(tmp_path, capsys, text):
    script = tmp_path / "words.py"
    script.write_text(WORD_JOB)
    word = text.read_text().split()[3]
    code, out, err = run_cli(capsys, "run", "-r", "local", "--no-conf", "-D",
                             "mapreduce.job.reduces=2", "-o", tmp_path / "out", "--json",
                             *SPLITS, script, "--word", word, text)
    assert code == 0, err
    assert _out_lines(tmp_path / "out") == _lines(_mrjob(script, "--word", word, text))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()
                  if p.name.startswith("part-")) == ["part-00000", "part-00001"]
    assert out.lstrip().startswith("{")  # --json before the script counts too


def test_options_before_the_script_are_written_out_again_in_order():
    from dirft.cli import build_parser
    from dirft.mrjob_cli import split_args
    from dirft.switches import given_before_script
    args = build_parser().parse_args(["run", "-r", "hadoop", "-Dx=1", "-c", "my.conf",
                                      "job.py", "in", "-D", "y=2"])
    assert given_before_script(args) == ["-r", "hadoop", "-D", "x=1", "-c", "my.conf"]
    own, rest = split_args(given_before_script(args) + args.job_args)
    assert (args.script, own.runner, own.defines, rest) == (
        "job.py", "hadoop", ["x=1", "y=2"], ["--conf-path", "my.conf", "in"])
    assert own.conf == []  # mrjob's -c is not dirft's -conf (Hadoop XML)


def test_an_unknown_option_before_the_script_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "run", "--word", "x", "job.py")
    assert code == 2 and "--word" in err


@pytest.mark.parametrize("runner", ["emr", "inline", "spark"])
def test_runners_dirft_does_not_have_are_refused(tmp_path, capsys, text, runner):
    code, _, err = run_cli(capsys, "run", ROOT / "jobs" / "combiner.py", text, "-r", runner,
                           "-o", tmp_path / "out")
    assert code == 2 and f"-r {runner}" in err


def test_stdin_and_no_output_dir_cat_the_output_like_mrjob(tmp_path, text):
    job = ROOT / "jobs" / "combiner.py"
    done = subprocess.run([sys.executable, "-m", "dirft.cli", "run", str(job), "-",
                           "--no-conf", *SPLITS], input=text.read_bytes(),
                          capture_output=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert _lines(done.stdout) == _lines(_mrjob(job, "-", stdin=text.read_bytes()))
    assert b"output on stdout" in done.stderr
    assert leftovers(tmp_path) == []


def test_mrjob_conf_jobconf_and_cmdenv_are_honoured_and_no_conf_skips_them(tmp_path, capsys,
                                                                         text):
    conf = tmp_path / "mrjob.conf"
    conf.write_text("runners:\n  local:\n    jobconf:\n      mapreduce.job.reduces: 3\n"
                    "    python_bin: python3\n")
    job = ROOT / "jobs" / "combiner.py"
    code, _, err = run_cli(capsys, "run", job, text, "-o", tmp_path / "a", "--conf-path",
                           conf, *SPLITS)
    assert code == 0, err
    assert "'python_bin'" in err and "ignored" in err
    assert len([p for p in (tmp_path / "a").iterdir() if p.name.startswith("part-")]) == 3
    code, _, err = run_cli(capsys, "run", job, text, "-o", tmp_path / "b", "--no-conf",
                           *SPLITS)
    assert code == 0, err
    assert len([p for p in (tmp_path / "b").iterdir() if p.name.startswith("part-")]) == 1
    assert _out_lines(tmp_path / "a") == _out_lines(tmp_path / "b")


def test_mrjobs_multi_step_example_with_files_under_crashes(tmp_path, capsys, text):
    script = EXAMPLES / "mr_most_used_word.py"
    code, _, err = run_cli(capsys, "run", script, text, "-o", tmp_path / "out", "--no-conf",
                           *SPLITS, *CRASHES)
    assert code == 0, err
    # TextOutputFormat writes a tab-less line as ``line\t`` (docs/hadoop.md, 'Keys and separators')
    got = [line[:-1] if line.count(b"\t") == 1 and line.endswith(b"\t") else line
           for line in _out_lines(tmp_path / "out")]
    assert got == _lines(_mrjob(script, text)) and len(got) == 1


def test_a_hadoop_input_format_other_than_text_is_refused(tmp_path, capsys, text):
    script = tmp_path / "fmt.py"
    script.write_text("from mrjob.job import MRJob\n\nclass F(MRJob):\n"
                      "    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.SequenceFileInputFormat'\n"
                      "    def mapper(self, k, v):\n        yield k, v\n")
    code, _, err = run_cli(capsys, "run", script, text, "-o", tmp_path / "out")
    assert code == 1 and "HADOOP_INPUT_FORMAT" in err and "TextInputFormat" in err


STOP_JOB = (
    "from mrjob.job import MRJob\n\n"
    "class Stop(MRJob):\n"
    "    DIRS = [{dirs!r}]\n"
    "    def mapper_init(self):\n"
    "        with open('lookup/stop.txt') as f:\n"
    "            self.stop = set(f.read().split())\n"
    "    def mapper(self, _, line):\n"
    "        for w in line.split():\n"
    "            if w not in self.stop:\n"
    "                yield w, 1\n"
    "    def reducer(self, w, ones):\n"
    "        yield w, sum(ones)\n\n"
    "if __name__ == '__main__':\n    Stop.run()\n")


def test_dirs_reach_the_tasks_under_their_name_with_mrjobs_trailing_slash(tmp_path, capsys,
                                                                          text):
    words = tmp_path / "words"
    words.mkdir()
    stop = text.read_text().split()[:5]
    (words / "stop.txt").write_text(" ".join(stop) + "\n")
    script = tmp_path / "stop.py"
    script.write_text(STOP_JOB.format(dirs=f"{words}#lookup/"))  # mrjob allows "name/"
    code, out, err = run_cli(capsys, "run", script, text, "-o", tmp_path / "out",
                             "--no-conf", *SPLITS)
    assert code == 0, err
    got = _out_lines(tmp_path / "out")
    assert got == _lines(_mrjob(script, text))
    assert not {line.split(b"\t")[0] for line in got} & {f'"{w}"'.encode() for w in stop}
