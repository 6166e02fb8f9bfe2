"""Hadoop's counter groups on the Hadoop runner's console and in its report.

Against what real Hadoop 3.3.6 printed (``tests/fixtures/counters/``, see its RECORDED.md):
the launcher keeps each ``hadoop jar``'s ``Counters: N`` block line for line; the fake
``hadoop`` prints its block with the recorded groups and names in the recorded order; and
``dirft streaming --runner hadoop`` prints, per Hadoop job it ran, that block under a line
naming the job, then dirft's own counters. The last test runs on a real cluster (opt-in).
"""

import json
import pathlib
import re
import sys

import pytest

from dirft.progress import report_counter_lines
from dirft.runners.hadoop import _HADOOP_GROUPS
from dirft.runners.hadoop_launcher import Launcher
from e2e import run_cli
from hadoop_fixture import FakeCluster
from real_cluster import HOME, URL, cluster_defines, hdfs_dir  # noqa: F401 - a fixture

RECORDED = pathlib.Path(__file__).resolve().parent / "fixtures" / "counters"
HEADER = re.compile(r"^dirft: Hadoop job (\d+) of (\d+): (job_\w+) \((.+)\)$")


def recorded_block(name: str) -> list[str]:
    """The counters block of a recorded ``hadoop jar`` log, found by a rule of its own:
    the message of the ``Counters: N`` log4j line and the tab-indented lines after it."""
    lines = (RECORDED / name).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if " INFO mapreduce.Job: Counters: " in line)
    block = [lines[start].split(" INFO mapreduce.Job: ", 1)[1]]
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        block.append(line)
    return block


def groups_of(block: list[str]) -> list[tuple[str, list[str]]]:
    """``[(group line, [counter names])]`` of a listing, in its order (names unstripped)."""
    groups = []
    for line in block[1:]:
        if line.startswith("\t\t"):
            groups[-1][1].append(line[2:].rsplit("=", 1)[0])
        else:
            groups.append((line[1:], []))
    return groups


def is_subsequence(part: list, whole: list) -> bool:
    rest = iter(whole)
    return all(item in rest for item in part)


@pytest.mark.parametrize("log", ["reduce.log", "map_only.log"])
def test_the_launcher_keeps_hadoops_listing_line_for_line(log, tmp_path):
    script = f"import sys; sys.stderr.write(open({str(RECORDED / log)!r}).read())"
    result = Launcher().start([sys.executable, "-c", script], str(tmp_path / "log"),
                              lambda running, event: None).wait(30)
    block = recorded_block(log)
    assert result.returncode == 0 and result.listing == block
    assert block[0] == f"Counters: {sum(line.startswith(chr(9) * 2) for line in block)}"
    assert "\tJob Counters " in block and "\tFile Input Format Counters " in block
    # the mapping has the same counters, names stripped, in Hadoop's order
    expected = {group.strip(): [name.strip() for name in names]
                for group, names in groups_of(block)}
    assert {g: list(n) for g, n in result.counters.items()} == expected
    assert result.counters["Map-Reduce Framework"]["Map input records"] == 7
    assert result.counters["dirft-fixture"] == {"Lines": 7}
    # every group Hadoop printed but the user's is one dirft sets apart from the user's
    assert set(expected) - {"dirft-fixture"} <= set(_HADOOP_GROUPS)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeCluster(tmp_path, monkeypatch) as fake:
        fake.put("/user/me/in.txt", b"".join(b"key%03d\tvalue %d\n" % (i % 37, i)
                                             for i in range(400)))
        yield fake


def hadoop_blocks(err: str) -> list[tuple[tuple, list[str]]]:
    """``[(header fields, listing lines)]`` of the Hadoop jobs on dirft's stderr: each
    header line and the ``Counters: N`` and tab-indented lines right after it."""
    lines, blocks = err.splitlines(), []
    for i, line in enumerate(lines):
        match = HEADER.match(line)
        if match:
            body: list[str] = []
            for follow in lines[i + 1:]:
                if not (follow.startswith("\t") or not body and follow.startswith("Counters: ")):
                    break
                body.append(follow)
            blocks.append((match.groups(), body))
    return blocks


@pytest.mark.parametrize("reducer,recorded", [("cat", "reduce.log"), ("NONE", "map_only.log")])
def test_the_console_lists_each_hadoop_jobs_counters_as_hadoop_prints_them(
        reducer, recorded, cluster, capsys):
    code, out, err = run_cli(capsys, "streaming", "--runner", "hadoop", *cluster.defines(),
                             "-input", "/user/me/in.txt", "-output", "/user/me/out",
                             "-mapper", "cat", "-reducer", reducer)
    assert code == 0, err
    report = cluster.output("/user/me/out")["_dirft_report.json"]
    jobs = report["hadoop"]["submitted"]
    blocks = hadoop_blocks(err)
    # per Hadoop job, in submission order: its header, then its listing as Hadoop printed it
    assert [b[0] for b in blocks] == [(str(n), str(len(jobs)), job["job_id"], job["what"])
                                      for n, job in enumerate(jobs, start=1)]
    assert [b[1] for b in blocks] == [job["counters_listing"] for job in jobs]
    recorded_groups = groups_of(recorded_block(recorded))
    for job in jobs:
        printed = groups_of(job["counters_listing"])
        # Hadoop's groups, named and ordered as the recorded Hadoop did (the fake prints fewer
        # counters: those it has figures for), then the dirft-emit group where users' go
        hadoop_groups = [(g, n) for g, n in printed if g.strip() in _HADOOP_GROUPS
                         and g != "dirft-emit"]
        assert is_subsequence([g for g, _ in hadoop_groups], [g for g, _ in recorded_groups])
        for group, names in hadoop_groups:
            assert is_subsequence(names, dict(recorded_groups)[group]), group
    # then dirft's own counters: the map records the winning replicas read
    own = err.splitlines()
    at = own.index(f"dirft: dirft's own counters of {report['job_id']}")
    assert own[at + 1] == f"Counters: {sum(len(n) for n in report['counters'].values())}"
    assert report["counters"]["Map-Reduce Framework"]["Map input records"] == 400
    if reducer == "cat":  # one application: its reduce output is the job's output
        assert len(jobs) == 1
        assert jobs[0]["counters"]["Map-Reduce Framework"]["Reduce output records"] == 400
    else:  # replicas, then the commit job that writes the parts
        assert [job["what"] for job in jobs] == ["replicas wave 0", "commit"]


def test_a_job_that_printed_no_counters_says_why():
    report = {"job_id": "job_dirftx_0001", "counters": {"g": {"n": 1}},
              "hadoop": {"submitted": [
                  {"what": "replicas wave 1", "job_id": "job_1_0002", "returncode": None,
                   "counters": {}, "counters_listing": []},
                  {"what": "commit", "job_id": None, "returncode": 1, "counters": {},
                   "counters_listing": []}]}}
    assert report_counter_lines(report) == [
        "dirft: Hadoop job 1 of 2: job_1_0002 (replicas wave 1)",
        "\t(no counters: dirft ended its hadoop jar client before the job ended)",
        "dirft: Hadoop job 2 of 2: (no id) (commit)",
        "\t(no counters: hadoop jar exited 1 without printing them)",
        "dirft: dirft's own counters of job_dirftx_0001",
        "Counters: 1", "\tg", "\t\tn=1"]


def test_se_leaves_hadoops_groups_to_hadoops_listing(cluster, capsys):
    code, out, err = run_cli(capsys, "streaming", "--runner", "hadoop", *cluster.defines(),
                             "-input", "/user/me/in.txt", "-output", "/user/me/out",
                             "-mapper", "cat", "-reducer", "cat", "-D", "dirft.scheme=se")
    assert code == 0, err
    report = cluster.output("/user/me/out")["_dirft_report.json"]
    (job,) = report["hadoop"]["submitted"]
    assert "\tJob Counters " in job["counters_listing"]
    assert not set(report["counters"]) & set(_HADOOP_GROUPS)  # not twice on the console
    assert report["replicas_launched"] == job["counters"]["Job Counters"]["Launched map tasks"]


@pytest.mark.skipif(not (HOME and URL), reason="no Hadoop cluster: set "
                    "DIRFT_TEST_HADOOP_HOME and DIRFT_TEST_WEBHDFS_URL (tests/real_cluster.py)")
def test_a_real_cluster_prints_hadoops_groups(hdfs_dir, capsys):
    storage, folder = hdfs_dir
    storage.write_bytes(f"{folder}/in.txt", (RECORDED / "in" / "a.txt").read_bytes()
                        + (RECORDED / "in" / "b.txt").read_bytes())
    code, out, err = run_cli(capsys, "streaming", "--runner", "hadoop", *cluster_defines(),
                             "-input", f"{folder}/in.txt", "-output", f"{folder}/out",
                             "-mapper", "cat", "-reducer", "cat")
    assert code == 0, err
    report = json.loads(storage.read_bytes(f"{folder}/out/_dirft_report.json"))
    jobs = report["hadoop"]["submitted"]
    blocks = hadoop_blocks(err)
    assert [b[1] for b in blocks] == [job["counters_listing"] for job in jobs]
    sys.__stderr__.write("\n" + "\n".join(err.splitlines()[-80:]) + "\n")  # the figures
    first = [g for g, _ in groups_of(jobs[0]["counters_listing"])]
    assert first[:3] == ["File System Counters", "Job Counters ", "Map-Reduce Framework"]
    assert first[-2:] == ["File Input Format Counters ", "File Output Format Counters "]
    assert "Shuffle Errors" in first and "dirft-emit" in first
    assert jobs[-1]["counters"]["Map-Reduce Framework"]["Reduce output records"] == 7
    assert report["counters"]["Map-Reduce Framework"]["Map input records"] == 7
