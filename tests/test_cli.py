"""The command line: Hadoop Streaming's options, clear one-line errors, nothing left behind."""

import pytest

from dirft.gridmix.generate import generate_file
from e2e import EXAMPLE, c_sorted, leftovers, parts, report, run_cli, streaming

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "in.txt"
    generate_file(str(path), 300_000, seed=3)
    return path


def _one_clear_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dirft: error:") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("args,code,needle", [
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-bogus"], 2,
     "unrecognized arguments: -bogus"),
    (["streaming", "-input", "IN", "-output", "OUT"], 2, "-mapper"),
    (["streaming", "-input", "missing.txt", "-output", "OUT", "-mapper", "cat"], 1,
     "input path does not exist"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-conf", "nope.xml"], 1,
     "nope.xml"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-D",
      "dirft.nodes=four"], 1, "dirft.nodes: 'four'"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-D",
      "dirft.nodez=4"], 1, "dirft.nodez"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-D",
      "mapred.map.tasks.fault.tolerance=3", "-D", "mapred.map.tasks.fault.nature=2"], 1,
     "dirft.nodes"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "'unclosed"], 2, "-mapper"),
])
def test_bad_command_lines_fail_with_one_line(args, code, needle, data, tmp_path, capsys,
                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [str(data) if a == "IN" else a for a in args]
    got, _, err = run_cli(capsys, *args)
    assert got == code
    assert needle in _one_clear_line(err)
    assert not (tmp_path / "OUT").exists() and leftovers(tmp_path) == []


def test_a_corrupt_config_names_the_file(data, tmp_path, capsys):
    bad = tmp_path / "mapred-site.xml"
    bad.write_text("<configuration><property><name>x</name>")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-conf", bad)
    assert code == 1 and str(bad) in _one_clear_line(err)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_directory_is_an_error_and_is_untouched(data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("mine")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", out, "-mapper", "cat")
    assert code == 1 and "already exists" in _one_clear_line(err)
    assert [p.name for p in out.iterdir()] == ["keep"]


def test_num_reduce_tasks_partitions_the_sorted_output(data, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                             "-numReduceTasks", "3")
    assert code == 0, err
    names = sorted(parts(out))
    assert names == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    lines = b"".join(parts(out)[n] for n in names[1:]).splitlines(keepends=True)
    assert sorted(lines) == sorted(c_sorted(data).splitlines(keepends=True))


def test_reducer_none_writes_one_part_per_map_task(data, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "NONE",
                             "-D", "dirft.split.maxsize=100000")
    assert code == 0, err
    assert report(out)["tasks"] == 3
    got = parts(out)
    assert sorted(got) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert b"".join(got[f"part-0000{i}"] for i in range(3)) == data.read_bytes()


def test_an_mrjob_step_with_combiner_runs_as_mapper_combiner_and_reducer(data, tmp_path,
                                                                        capsys):
    job = FIXTURES / "mr_wordcount.py"
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-files", job,
                             "-mapper", "python mr_wordcount.py --mapper --step-num=0",
                             "-combiner", "python mr_wordcount.py --combiner --step-num=0",
                             "-reducer", "python mr_wordcount.py --reducer --step-num=0",
                             "-D", "mapred.map.tasks.fault.nature=2")
    assert code == 0, err
    counts = dict(line.split(b"\t") for line in parts(out)["part-00000"].splitlines())
    words = data.read_bytes().split()
    assert sum(int(v) for v in counts.values()) == len(words)
    assert int(counts[words[0]]) == words.count(words[0])


def test_counters_add_up_the_winning_copies_only(data, tmp_path, capsys):
    mapper = tmp_path / "count.py"
    mapper.write_text(
        "import sys\n"
        "for line in sys.stdin:\n"
        "    sys.stderr.write('reporter:counter:Test,lines,1\\n')\n"
        "    sys.stdout.write(line)\n")
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", f"python {mapper}",
                             "-reducer", "NONE", "-D", "mapred.map.tasks.fault.nature=2")
    assert code == 0, err
    lines = len(data.read_bytes().splitlines())
    counters = report(out)["counters"]
    assert counters["Test"]["lines"] == lines  # three replicas ran, one copy counts
    assert counters["Map-Reduce Framework"]["Map input records"] == lines
    assert counters["Map-Reduce Framework"]["Map output records"] == lines


def test_tasks_see_hadoop_streaming_environment(data, tmp_path, capsys):
    mapper = tmp_path / "env.sh"
    mapper.write_text('cat >/dev/null\n'
                      'printf "%s\\t%s %s %s\\n" "$mapreduce_map_input_start" '
                      '"$map_input_file" "$PYTHONHASHSEED" "$GREETING"\n')
    out = tmp_path / "out"
    code, _, err = streaming(capsys, data, out, "-mapper", f"sh {mapper}", "-reducer", "NONE",
                             "-cmdenv", "GREETING=hi")
    assert code == 0, err
    rows = b"".join(v for k, v in parts(out).items() if k.startswith("part")).splitlines()
    starts = sorted(int(r.split(b"\t")[0]) for r in rows)
    plan = report(out)["per_task"]
    assert len(rows) == 2 * len(plan)  # one line per sub-split (R = 2)
    assert starts[0] == 0 and all(r.endswith(f"file:{data} 0 hi".encode()) for r in rows)


def test_gridmix_generate_is_seeded(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        code, out, _ = run_cli(capsys, "gridmix", "generate", "--size", "100KiB",
                               "--seed", "5", path)
        assert code == 0 and "wrote" in out
    assert a.read_bytes() == b.read_bytes() and len(a.read_bytes()) >= 100 * 1024


def test_the_example_config_is_what_the_quick_start_uses():
    text = EXAMPLE.read_text()
    assert "<name>mapred.map.tasks.fault.percent</name>\n    <value>25</value>" in text
