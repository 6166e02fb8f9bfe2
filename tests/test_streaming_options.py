"""Hadoop Streaming options on the local runner: ``stream.non.zero.exit.is.failure``,
``-reducer aggregate``, missing parents of ``-output``; each under injected crashes."""

import pathlib

import pytest

from e2e import leftovers, run_cli
from test_records import hadoop_split as split_at

CRASHES = ["-D", "mapred.map.tasks.fault.inject=true", "-D", "mapred.map.tasks.fault.percent=50",
           "-D", "dirft.split.maxsize=700",
           "-D", "dirft.heartbeat.timeout=3"]
LINES = b"".join(b"%d.%d\tv%d\n" % (i % 7, i % 3, i) for i in range(200))


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(LINES)
    (tmp_path / "exit3.sh").write_text("cat\nexit 3\n")
    return path


def streaming(capsys, tmp_path, out, *extra):
    return run_cli(capsys, "streaming", "-input", tmp_path / "in.txt", "-output", out,
                   "-files", tmp_path / "exit3.sh", *extra)


def parts(out: pathlib.Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name.startswith("part-")}


@pytest.mark.parametrize("mode", ["exception", "kill"])
def test_a_nonzero_exit_is_success_when_the_jobconf_says_so(mode, data, tmp_path, capsys):
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-mapper", "sh exit3.sh",
                             "-reducer", "sh exit3.sh", "-D",
                             "stream.non.zero.exit.is.failure=false", *CRASHES,
                             "-D", f"dirft.fault.crash.mode={mode}")
    assert code == 0, err
    lines = b"".join(parts(tmp_path / "out").values()).splitlines()
    assert sorted(lines) == sorted(LINES.splitlines())  # cat's output, exit 3 or not
    report = __import__("json").loads((tmp_path / "out" / "_dirft_report.json").read_text())
    assert report["faults"]["detected"]["crash"] == report["faults"]["injected"]["crash"] > 0


def test_a_nonzero_exit_fails_by_default(data, tmp_path, capsys):
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-mapper", "sh exit3.sh",
                             "-reducer", "cat")
    assert code == 3 and "exited with code 3" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_reducer_killed_by_a_signal_still_fails(data, tmp_path, capsys):
    (tmp_path / "killed.sh").write_text("cat\nkill -9 $$\n")
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-files",
                             tmp_path / "killed.sh", "-mapper", "cat", "-reducer",
                             "sh killed.sh", "-D", "stream.non.zero.exit.is.failure=false")
    assert code == 1 and "killed by signal 9" in err


def test_missing_parents_of_the_output_are_created(data, tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    code, _, err = streaming(capsys, tmp_path, out, "-mapper", "cat", "-reducer", "cat")
    assert code == 0, err
    assert sorted(b"".join(parts(out).values()).splitlines()) == sorted(LINES.splitlines())


DOTTED = b"".join(b"%s%s\n" % (b".".join(b"%d" % (j % 4 + 1) for j in range(i % 5 + 1)),
                               b"\tv%d" % (i % 9) if i % 3 else b"") for i in range(240))


def test_separators_reach_partitioner_reducer_and_output_as_in_hadoop(tmp_path, capsys):
    """The Streaming guide's ``.`` with 2 key fields, a ``:`` before the reducer's values and
    its output split at the third ``.``: each line goes to the key's HashPartitioner
    partition, keys come in byte order there, and the reducer (cat) sees key:value."""
    from dirft.shuffle.partition import partition_of
    (tmp_path / "in.txt").write_bytes(DOTTED)
    (tmp_path / "exit3.sh").write_text("")
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-mapper", "cat",
                             "-reducer", "cat", "-numReduceTasks", "3",
                             "-D", "stream.map.output.field.separator=.",
                             "-D", "stream.num.map.output.key.fields=2",
                             "-D", "stream.reduce.input.field.separator=:",
                             "-D", "stream.reduce.output.field.separator=.",
                             "-D", "stream.num.reduce.output.key.fields=3", *CRASHES)
    assert code == 0, err
    expected = {p: [] for p in range(3)}
    for line in DOTTED.splitlines():
        key, value = split_at(line, b".", 2)
        expected[partition_of(key, 3)].append((key, b"\t".join(split_at(key + b":" + value,
                                                                         b".", 3))))
    got = parts(tmp_path / "out")
    for p in range(3):
        want = sorted(expected[p])
        assert sorted(got[f"part-{p:05d}"].splitlines()) == sorted(line for _, line in want)
        keys = [k for k, _ in want]
        assert keys == sorted(keys)


def test_map_only_separators_give_key_tab_value(tmp_path, capsys):
    (tmp_path / "in.txt").write_bytes(DOTTED)
    (tmp_path / "exit3.sh").write_text("")
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-mapper", "cat",
                             "-reducer", "NONE", "-D", "stream.map.output.field.separator=.",
                             "-D", "stream.num.map.output.key.fields=2")
    assert code == 0, err
    want = b"".join(b"\t".join(split_at(line, b".", 2)) + b"\n" for line in DOTTED.splitlines())
    assert b"".join(parts(tmp_path / "out").values()) == want


@pytest.mark.parametrize("extra, needle", [
    (["-combiner", "cat"], "-combiner with stream.*.field.separator"),
    (["-reducer", "aggregate"], "-reducer aggregate with"),
])
def test_what_is_not_built_with_separators_is_refused(extra, needle, data, tmp_path, capsys):
    code, _, err = streaming(capsys, tmp_path, tmp_path / "out", "-mapper", "cat",
                             "-D", "stream.map.output.field.separator=.", *extra)
    assert code == 1 and needle in err and not (tmp_path / "out").exists()
