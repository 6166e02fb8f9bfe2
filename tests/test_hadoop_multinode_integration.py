"""A worker of a real multi-node Hadoop cluster killed mid-map under DIRFT (opt-in, issue 20).

Runs only when the environment names a cluster of several workers and a way to kill one:

* ``DIRFT_TEST_HADOOP_HOME``, ``DIRFT_TEST_WEBHDFS_URL`` (and the optional variables of
  ``tests/real_cluster.py``: ``DIRFT_TEST_WEBHDFS_USER``, ``DIRFT_TEST_ADVERTISE_HOST``,
  ``DIRFT_TEST_HADOOP_PYTHON``), as for ``tests/test_hadoop_integration.py``;
* ``DIRFT_TEST_KILL_NODE`` — a shell command that kills one worker outright (its DataNode,
  NodeManager and containers), e.g. ``/path/to/hadoop-mini-cluster/cluster.sh DEST
  kill-node w2``;
* ``DIRFT_TEST_START_NODE`` — the shell command that brings it back, run at the end
  whatever happened, e.g. ``… start-node w2``;
* optional ``DIRFT_TEST_KILL_HOST`` — that worker's host name (default: the last word of
  ``DIRFT_TEST_KILL_NODE``).

It puts 16 MiB of GridMix text into HDFS, runs ``-mapper cat -reducer cat`` under scheme
dirft with default settings (f_c = 1) in 8 map tasks, kills the worker once the first
partial map output is committed (mid-map), and checks: exit 0, the input's lines with keys
in byte order, and that the report names no lost host but the killed one (it names it when
replicas ran there: found by their silence or the ResourceManager's node state). On the
mini cluster of ``hadoop-mini-cluster`` (3 workers)::

    . DEST/env.sh
    DIRFT_TEST_ADVERTISE_HOST=master \\
    DIRFT_TEST_KILL_NODE="$PWD/cluster.sh DEST kill-node w2" \\
    DIRFT_TEST_START_NODE="$PWD/cluster.sh DEST start-node w2" \\
    hmx .venv/bin/python -m pytest -q tests/test_hadoop_multinode_integration.py
"""

import json
import os
import subprocess
import threading

import pytest

from e2e import assert_sorted_by_key, run_cli
from real_cluster import (HOME, URL, cluster_defines, hdfs_dir,  # noqa: F401 - a fixture
                          put_generated)

KILL, START = os.environ.get("DIRFT_TEST_KILL_NODE"), os.environ.get("DIRFT_TEST_START_NODE")
HOST = os.environ.get("DIRFT_TEST_KILL_HOST") or ((KILL or "").split() or [""])[-1]

pytestmark = pytest.mark.skipif(
    not (HOME and URL and KILL and START),
    reason="no multi-node Hadoop cluster to kill a worker of: set DIRFT_TEST_HADOOP_HOME, "
           "DIRFT_TEST_WEBHDFS_URL, DIRFT_TEST_KILL_NODE and DIRFT_TEST_START_NODE (see "
           "this module's doc) to run it")


def _kill_mid_map(storage, scratch: str, stop: threading.Event, killed: list) -> None:
    """Run ``DIRFT_TEST_KILL_NODE`` once a replica committed its first partial output
    under ``scratch`` (the job's ``maps`` folder), unless ``stop`` is set first."""
    while not stop.wait(0.5):
        if _committed(storage, scratch):
            killed.append(subprocess.run(KILL, shell=True, capture_output=True).returncode)
            return


def _committed(storage, scratch: str) -> bool:
    """True once some ``scratch/JOB/maps/tNNNNN/`` folder holds a committed output."""
    try:
        for job, _, _ in storage.list_dir(scratch):
            for task, _, is_dir in storage.list_dir(f"{scratch}/{job}/maps"):
                if is_dir and any(name.endswith(".out") for name, _, _ in
                                  storage.list_dir(f"{scratch}/{job}/maps/{task}")):
                    return True
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return False


def test_a_worker_killed_mid_map_loses_nothing(hdfs_dir, tmp_path, capsys):
    storage, folder = hdfs_dir
    data = tmp_path / "input.txt"
    put_generated(storage, f"{folder}/input.txt", data, 16 << 20, seed=12)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_mid_map,
                              args=(storage, f"{folder}/scratch", stop, killed))
    killer.start()
    try:
        code, _, err = run_cli(
            capsys, "streaming", "--runner", "hadoop", *cluster_defines(),
            "-input", f"{folder}/input.txt", "-output", f"{folder}/out",
            "-mapper", "cat", "-reducer", "cat", "--json",
            "-D", f"dirft.hadoop.tmp.dir={folder}/scratch",
            "-D", "mapreduce.job.maps=8")
    finally:
        stop.set()
        killer.join()
        subprocess.run(START, shell=True, capture_output=True)
    assert killed == [0], "the worker was not killed mid-map (the job ended first?)"
    assert code == 0, err
    assert_sorted_by_key(storage.read_bytes(f"{folder}/out/part-00000"), data)
    report = json.loads(storage.read_bytes(f"{folder}/out/_dirft_report.json"))
    lost = set(report["faults"]["nodes_lost"])
    assert lost <= {HOST}, lost
    if report["faults"]["crashes_detected_by"]:
        assert lost == {HOST}, report["faults"]
