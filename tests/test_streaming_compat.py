"""Differential tests: dirft streaming against answers recorded from hadoop-streaming.jar.

Each directory of ``tests/fixtures/streaming/`` with a ``case.json`` is one case (see the
README there): the streaming options, the input files in ``in/`` and Hadoop 3.3.6's output
directory in ``out/``, recorded on a real cluster by ``record.py``. Every case runs here
with ``dirft streaming`` on the local runner with emulated crash faults in half the map
tasks (crash tolerance 1) and must give what Hadoop gave: the same file names in the
output directory (``part-00000.gz`` …), and per part file the same lines (compressed
parts are decompressed first) — in the same order for map-only outputs (``"order":
"exact"``), else the same sequence of keys with the lines of each run of equal keys
compared as multisets (Hadoop leaves their order to its merge: README "What the output's
order is"). A case with ``"expect_exit": 1`` is refused: that exit status, its
``expect_error`` fragment on stderr, and no output directory.

The same cases run with ``--runner hadoop`` (fault-free) when ``DIRFT_TEST_HADOOP_HOME``
and ``DIRFT_TEST_WEBHDFS_URL`` name a cluster (as in ``test_hadoop_integration.py``);
they are skipped otherwise.
"""

from __future__ import annotations

import bz2
import gzip
import json
import pathlib
import shutil
import zlib
from collections import Counter
from itertools import groupby

import pytest

from e2e import report, run_cli
from real_cluster import HOME, URL, cluster_defines, hdfs_dir  # noqa: F401 - a fixture

CASES_DIR = pathlib.Path(__file__).resolve().parent / "fixtures" / "streaming"
CASES = sorted(p.parent.name for p in CASES_DIR.glob("*/case.json"))
FAULTS = ["-D", "mapred.map.tasks.fault.inject=true", "-D", "mapred.map.tasks.fault.percent=50",
          "-D", "mapred.map.tasks.fault.tolerance=1", "-D", "mapred.map.tasks.fault.nature=1"]
DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".deflate": zlib.decompress}


def load(name: str) -> dict:
    """``case.json`` of case ``name``; skips the test when Hadoop's answer is missing."""
    case = json.loads((CASES_DIR / name / "case.json").read_text())
    if "recorded" not in case:
        pytest.skip(f"case {name} has no recorded answer yet (run record.py on a cluster)")
    return case


def files_args(name: str, case: dict) -> list[str]:
    """``-files`` for the case's shipped files: the case's own, else the shared ones."""
    paths = [CASES_DIR / name / f if (CASES_DIR / name / f).exists() else CASES_DIR / f
             for f in case.get("files", [])]
    return ["-files", ",".join(map(str, paths))] if paths else []


def key_function(case: dict):
    """The key of an output line as the case's comparison groups lines: its first
    ``key_fields`` fields split at ``key_separator`` (default: one field, a tab)."""
    sep = case.get("key_separator", "\t").encode()
    fields = int(case.get("key_fields", 1))
    return lambda line: sep.join(line.split(sep)[:fields])


def part_lines(path: pathlib.Path) -> list[bytes]:
    """The lines of a part file, decompressed by its suffix as Hadoop's codecs name it."""
    data = DECOMPRESS.get(path.suffix, lambda b: b)(path.read_bytes())
    return data.split(b"\n")


def assert_same_output(ours: pathlib.Path, theirs: pathlib.Path, case: dict) -> None:
    """dirft's output directory ``ours`` holds what Hadoop's ``theirs`` holds (see module)."""
    names = sorted(p.name for p in ours.iterdir() if p.name != "_dirft_report.json")
    assert names == sorted(p.name for p in theirs.iterdir())
    key = key_function(case)
    for name in names:
        mine, hadoop = part_lines(ours / name), part_lines(theirs / name)
        if case.get("order", "keys") == "exact":
            assert mine == hadoop, f"{name} differs"
        else:
            assert [k for k, _ in groupby(mine, key)] == [k for k, _ in groupby(hadoop, key)], \
                f"{name}: keys in another order"
            assert Counter(mine) == Counter(hadoop), f"{name}: other lines"


def assert_refused(code: int, err: str, output: pathlib.Path, case: dict) -> None:
    """The run was refused as the case expects: exit status, message, no output."""
    assert code == case["expect_exit"], err
    assert case["expect_error"] in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not output.exists()


@pytest.mark.parametrize("name", CASES)
def test_local_runner_with_crashes_gives_hadoops_output(name, tmp_path, capsys):
    case = load(name)
    inputs = [arg for n in case["inputs"] for arg in ("-input", CASES_DIR / name / "in" / n)]
    output = tmp_path / case.get("output", "out")
    code, _, err = run_cli(capsys, "streaming", *files_args(name, case), *case["args"], *inputs,
                           "-output", output, *FAULTS, "-D", "dirft.fault.seed=3")
    if "expect_exit" in case:
        assert_refused(code, err, output, case)
        return
    assert code == 0, err
    faults = report(output)["faults"]
    assert faults["injected"]["crash"] >= 1 and faults["corrected"]["crash"] >= 1
    assert_same_output(output, CASES_DIR / name / "out", case)


def test_the_comparison_sees_a_wrong_output(tmp_path):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.mkdir()
    (theirs / "part-00000.gz").write_bytes(gzip.compress(b"a\t1\na\t2\nb\t3\n"))
    (theirs / "_SUCCESS").write_bytes(b"")
    shutil.copytree(theirs, ours)
    (ours / "part-00000.gz").write_bytes(gzip.compress(b"a\t2\na\t1\nb\t3\n"))
    assert_same_output(ours, theirs, {})  # equal keys: their lines in any order
    for wrong in (b"b\t3\na\t1\na\t2\n", b"a\t1\na\t2\nb\t4\n", b"a\t1\nb\t3\n"):
        (ours / "part-00000.gz").write_bytes(gzip.compress(wrong))
        with pytest.raises(AssertionError):
            assert_same_output(ours, theirs, {})
    with pytest.raises(AssertionError):
        assert_same_output(ours, theirs, {"order": "exact"})
    (ours / "part-00000.gz").rename(ours / "part-00000")
    with pytest.raises(AssertionError):
        assert_same_output(ours, theirs, {})


@pytest.mark.skipif(not (HOME and URL), reason="no Hadoop cluster: set DIRFT_TEST_HADOOP_HOME "
                    "and DIRFT_TEST_WEBHDFS_URL to run the cases with --runner hadoop")
@pytest.mark.parametrize("name", CASES)
def test_hadoop_runner_gives_hadoops_output(name, hdfs_dir, tmp_path, capsys):
    case = load(name)
    storage, folder = hdfs_dir
    for n in case["inputs"]:
        storage.write_bytes(f"{folder}/in/{n}", (CASES_DIR / name / "in" / n).read_bytes())
    inputs = [arg for n in case["inputs"] for arg in ("-input", f"{folder}/in/{n}")]
    output = f"{folder}/{case.get('output', 'out')}"
    code, _, err = run_cli(capsys, "streaming", "--runner", "hadoop", *files_args(name, case),
                           *case["args"], *inputs, "-output", output, *cluster_defines())
    expect = {**case, **case.get("hadoop_runner", {})}  # what the Hadoop runner refuses
    if "expect_exit" in expect:
        assert code == expect["expect_exit"] and expect["expect_error"] in err, err
        assert not storage.exists(output)
        return
    assert code == 0, err
    ours = tmp_path / "ours"
    ours.mkdir()
    for entry, _, is_dir in storage.list_dir(output):
        if not is_dir:
            (ours / entry).write_bytes(storage.read_bytes(f"{output}/{entry}"))
    assert_same_output(ours, CASES_DIR / name / "out", case)


SEPARATOR_CASES = [n for n in CASES if "stream.map.output.field.separator" in
                   " ".join(json.loads((CASES_DIR / n / "case.json").read_text())["args"])]


@pytest.mark.parametrize("scheme", ["dirft", "none"])
@pytest.mark.parametrize("name", SEPARATOR_CASES)
def test_hadoop_runner_emits_what_hadoop_splits_as_the_mapper(name, scheme, tmp_path,
                                                               monkeypatch, capsys):
    """The separator cases through the Hadoop runner on the fake cluster, which splits the
    map output lines as Streaming does: the emitting replica (dirft; a map-only job's
    commit job) or the direct mode (none) must write what Hadoop splits as it splits the
    mapper's own lines, so the recorded answer of the real Hadoop comes out."""
    from hadoop_fixture import FakeCluster
    case = load(name)
    with FakeCluster(tmp_path, monkeypatch) as cluster:
        for n in case["inputs"]:
            cluster.put(f"/user/me/in/{n}", (CASES_DIR / name / "in" / n).read_bytes())
        inputs = [a for n in case["inputs"] for a in ("-input", f"/user/me/in/{n}")]
        code, _, err = cluster.streaming(capsys, *files_args(name, case), *case["args"],
                                         *inputs, "-output", "/user/me/out",
                                         "-D", f"dirft.scheme={scheme}")
        assert code == 0, err
        ours = tmp_path / "ours"
        ours.mkdir()
        for entry, data in cluster.output("/user/me/out").items():
            if entry != "_dirft_report.json":
                (ours / entry).write_bytes(data)
    assert_same_output(ours, CASES_DIR / name / "out", case)
