"""Map tasks as Hadoop Streaming makes them, against answers recorded from ``hadoop jar``.

``tests/fixtures/splits/`` holds cases (``cases.json``: inputs generated from a size and a
seed, put with a block size, and the job's ``-D`` options) and what Hadoop 3.3.6's
``hadoop-streaming.jar`` did with them (``recorded.json``, see ``RECORDED.md``): one part
file per map task (map-only), each holding one line from ``splits_mapper.py``: the file,
``mapreduce_map_input_start``, ``mapreduce_map_input_length``, the number of records the
task read and a hash of them. Checked here:

* both runners' planners give the same map tasks, in the same order: file, start, length;
* the local runner, with emulated crashes in half the map tasks, writes the same part
  files, and each part's task saw the same environment and mapped the same records. dirft
  runs a mapper once per sub-split, so a mapper that sums up its whole input (as
  ``splits_mapper.py`` does) would print one line per sub-split: here the mapper prefixes
  every record with its environment (``tests/fixtures/streaming/env_mapper.py``) and the
  test counts and hashes the records of each part as ``splits_mapper.py`` does;
* the same with ``--runner hadoop`` on a real cluster, when the environment names one.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import pytest

from dirft.config import JobConf
from dirft.core.planner import InputFile
from dirft.runners.base import plan_job
from dirft.runners.hadoop_cluster import plan_hadoop_job
from dirft.storage.base import cut_blocks
from e2e import report, run_cli
from real_cluster import HOME, URL, cluster_defines, hdfs_dir  # noqa: F401 - a fixture

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
HERE = FIXTURES / "splits"
sys.path.insert(0, str(HERE))
import make_input  # noqa: E402

CASES = json.loads((HERE / "cases.json").read_text())
RECORDED = json.loads((HERE / "recorded.json").read_text())
NAMES = [n for n in CASES if n in RECORDED and RECORDED[n]["exit"] == 0]
#: the cases run end to end on the local runner (one_block_maps_8 maps the same 64 MiB as
#: one_block_maxsize_8m; its 8 tasks are checked by the planners)
RUN = [n for n in NAMES if n != "one_block_maps_8"]
FAULTS = ["-D", "mapred.map.tasks.fault.inject=true", "-D", "mapred.map.tasks.fault.percent=50",
          "-D", "mapred.map.tasks.fault.tolerance=1", "-D", "dirft.fault.seed=3"]
DEFAULT_BLOCK = 134217728  # the recording cluster's dfs.blocksize


def hadoops_tasks(name: str) -> list[tuple]:
    """``(part, file, start, length, records, hash)`` of each recorded map task."""
    parts = RECORDED[name]["parts"]
    return [(part, *fields[:3], int(fields[3]), fields[4]) for part in sorted(parts)
            for fields in [parts[part][0].split("\t")]]


def block_size(case: dict) -> int:
    """The block size the case's inputs were put with (one for all its inputs)."""
    sizes = {spec.get("blocksize", DEFAULT_BLOCK) for spec in case["inputs"]}
    assert len(sizes) == 1
    return sizes.pop()


def conf_of(case: dict, extra: tuple = ()) -> JobConf:
    """The job's configuration: the case's ``-D`` options and the inputs' block size."""
    defines = [case["args"][i + 1] for i in range(0, len(case["args"]), 2)]
    return JobConf.load(defines=[*defines, f"dfs.blocksize={block_size(case)}", *extra])


class Blocks:
    """A storage that knows only blocks: each file cut at the case's block size, one host."""

    def __init__(self, size: int) -> None:
        self.size = size

    def blocks(self, path: str, size: int, block_size: int):
        """The blocks of ``path`` (``size`` bytes); ``block_size`` is not used."""
        return cut_blocks(path, size, self.size, ("h1",))


@pytest.mark.parametrize("name", NAMES)
def test_both_planners_make_hadoops_map_tasks(name):
    case = CASES[name]
    files = [InputFile(spec["name"], spec["size"]) for spec in case["inputs"]]
    want = [(path, int(start), int(length)) for _, path, start, length, *_ in hadoops_tasks(name)]
    local = plan_job(files, conf_of(case))
    hadoop, _ = plan_hadoop_job(files, Blocks(block_size(case)), conf_of(case))
    for plan in (local, hadoop):
        assert [(t.split.path, t.split.start, t.split.length) for t in plan.tasks] == want
        assert [t.index for t in plan.tasks] == list(range(len(want)))


def test_dirfts_own_knob_cuts_the_64_mib_file_into_8_tasks():
    case = CASES["one_block_maxsize_8m"]
    files = [InputFile("big.txt", 64 << 20)]
    plan = plan_job(files, conf_of(case, ("dirft.split.maxsize=8m",)))
    assert [t.split.start for t in plan.tasks] == [i << 23 for i in range(8)]


def write_inputs(case: dict, folder: pathlib.Path) -> list[str]:
    """Generate the case's inputs into ``folder``; return ``-input`` arguments."""
    args = []
    for spec in case["inputs"]:
        make_input.write(str(folder / spec["name"]), spec["size"], spec["seed"])
        args += ["-input", str(folder / spec["name"])]
    return args


def tasks_seen(parts: dict) -> list[tuple]:
    """``(part, file, start, length, records, hash)`` of parts whose lines are
    ``file TAB start TAB length TAB record`` (``env_mapper.py``), as ``splits_mapper.py``
    sums a task up. A part with no lines is a task that read no record: its environment
    is unknown (None)."""
    seen = []
    for part, data in sorted(parts.items()):
        lines = data.split(b"\n")[:-1]
        heads = {tuple(line.split(b"\t", 3)[:3]) for line in lines}
        assert len(heads) <= 1, f"{part}: records of several tasks"
        head = [h.decode() for h in heads.pop()] if heads else [None] * 3
        digest = hashlib.sha256(b"".join(line.split(b"\t", 3)[3] + b"\n" for line in lines))
        seen.append((part, *head, len(lines), digest.hexdigest()[:16]))
    return seen


def assert_same_tasks(seen: list[tuple], name: str) -> None:
    """The parts hold Hadoop's tasks: same names, environment, records (an empty task's
    environment is not printed by ``env_mapper.py``, so it is not compared)."""
    want = hadoops_tasks(name)
    assert [s[0] for s in seen] == [w[0] for w in want]
    for mine, theirs in zip(seen, want):
        if mine[4] == 0:
            mine = (mine[0], *theirs[1:4], 0, mine[5])
        assert mine == theirs


@pytest.mark.parametrize("name", RUN)
def test_local_runner_with_crashes_runs_hadoops_map_tasks(name, tmp_path, capsys):
    case = CASES[name]
    (tmp_path / "in").mkdir()
    inputs = write_inputs(case, tmp_path / "in")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "streaming", "-files", FIXTURES / "streaming" / "env_mapper.py",
                           "-D", "mapreduce.job.reduces=0", *case["args"],
                           "-D", f"dfs.blocksize={block_size(case)}",
                           "-mapper", "python3 env_mapper.py", *inputs, "-output", out, *FAULTS)
    assert code == 0, err
    faults = report(out)["faults"]
    assert faults["injected"]["crash"] >= 1 and faults["corrected"]["crash"] >= 1
    parts = {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith("part-")}
    assert_same_tasks(tasks_seen(parts), name)


@pytest.mark.parametrize("name", [n for n in CASES if n in RECORDED and RECORDED[n]["exit"]])
def test_local_runner_refuses_what_fails_hadoop_jar(name, tmp_path, capsys):
    case = CASES[name]
    inputs = write_inputs(case, tmp_path)
    code, _, err = run_cli(capsys, "streaming", "-D", "mapreduce.job.reduces=0", *case["args"],
                           "-mapper", "cat", *inputs, "-output", tmp_path / "out")
    assert code == RECORDED[name]["exit"] and len(err.strip().splitlines()) == 1, err
    assert case["args"][1].split("=")[0] in err and not (tmp_path / "out").exists()


@pytest.mark.skipif(not (HOME and URL), reason="no Hadoop cluster: set DIRFT_TEST_HADOOP_HOME "
                    "and DIRFT_TEST_WEBHDFS_URL to run the cases with --runner hadoop")
@pytest.mark.parametrize("name", RUN)
def test_hadoop_runner_runs_hadoops_map_tasks(name, hdfs_dir, capsys):
    storage, folder = hdfs_dir
    case = CASES[name]
    inputs = []
    for spec in case["inputs"]:
        path = f"{folder}/in/{spec['name']}"
        storage.client.write(path, data=make_input.text(spec["size"], spec["seed"]),
                             blocksize=spec.get("blocksize", DEFAULT_BLOCK))
        inputs += ["-input", path]
    code, _, err = run_cli(capsys, "streaming", "--runner", "hadoop", *cluster_defines(),
                           "-files", FIXTURES / "streaming" / "env_mapper.py",
                           "-D", "mapreduce.job.reduces=0", *case["args"],
                           "-mapper", "python3 env_mapper.py", *inputs, "-output", f"{folder}/out")
    assert code == 0, err
    parts = {n: storage.read_bytes(f"{folder}/out/{n}")
             for n, _, _ in storage.list_dir(f"{folder}/out") if n.startswith("part-")}
    assert_same_tasks(tasks_seen(parts), name)
