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
SMALL = ["-D", "dirft.split.maxsize=40000"]
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


def test_without_an_output_dir_the_output_is_written_to_stdout_and_its_hdfs_dir_removed(
        tmp_path, monkeypatch, capsysbinary):
    # mrjob's `python job.py -r hadoop in.txt`: output in tmp/mrjob/<job key>/output in the
    # user's HDFS home, catted to stdout, the job's tmp directory removed
    data = tmp_path / "in.txt"
    generate_file(str(data), 30_000, seed=4)
    script = EXAMPLES / "mr_word_freq_count.py"
    with FakeCluster(tmp_path, monkeypatch) as cluster:
        cluster.put("/user/me/in.txt", data.read_bytes())
        code = main(["run", str(script), "-r", "hadoop", "--no-conf", *cluster.defines(),
                     "/user/me/in.txt"])
        out, err = capsysbinary.readouterr()
        assert code == 0, err
        assert sorted(line.rstrip(b"\t") for line in out.splitlines()) == _inline(script, data)
        outputs = [c[c.index("-output") + 1] for c in cluster.jar_calls()]
        assert outputs and all("/user/me/tmp/dirft/" in o for o in outputs)
        assert b"output on stdout" in err
        assert list((cluster.root / "user" / "me" / "tmp" / "dirft").iterdir()) == []
        assert cluster.leftovers() == []


STOP_WORDS_JOB = '''
from mrjob.job import MRJob


class MRWithoutStopWords(MRJob):
    DIRS = [{words!r}]

    def mapper_init(self):
        with open("words/stop.txt") as f:
            self.stop = set(f.read().split())

    def mapper(self, _, line):
        for word in line.split():
            if word not in self.stop:
                yield word, 1

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRWithoutStopWords.run()
'''


def test_a_jobs_dirs_are_tarred_and_shipped_as_archives_as_mrjob_does(tmp_path, monkeypatch):
    words = tmp_path / "words"
    (words / "more").mkdir(parents=True)
    (words / "stop.txt").write_text("the a of\n")
    (words / "more" / "unused.txt").write_text("x\n")
    script = tmp_path / "mr_stop.py"
    script.write_text(STOP_WORDS_JOB.format(words=str(words)))
    text = b"the cat of a hat\nthe hat\n"
    with FakeCluster(tmp_path, monkeypatch) as cluster:
        cluster.put("/user/me/in.txt", text)
        code = main(["run", str(script), "-r", "hadoop", "--no-conf", *cluster.defines(),
                     "/user/me/in.txt", "-o", "/user/me/out"])
        assert code == 0
        assert _hadoop_output(cluster, "/user/me/out") == [b'"cat"\t1', b'"hat"\t2']
        for call in cluster.jar_calls():
            archives = call[call.index("-archives") + 1].split(",")
            assert [a.rsplit("/", 1)[1] for a in archives] == ["words.tar.gz#words"]
            assert str(words) not in call[call.index("-files") + 1].split(",")
        assert cluster.leftovers() == []
