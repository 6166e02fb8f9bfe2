"""streamSort on a real Hadoop 3 cluster under DIRFT with crash faults (opt-in).

Runs only when the environment names a cluster:

* ``DIRFT_TEST_HADOOP_HOME`` — a Hadoop 3.x installation on this machine whose
  configuration reaches the cluster (``bin/hadoop``, the streaming jar under ``share/``);
* ``DIRFT_TEST_WEBHDFS_URL`` — the NameNode's WebHDFS address, e.g. ``http://nn:9870``;
* optional: ``DIRFT_TEST_WEBHDFS_USER`` (HDFS user), ``DIRFT_TEST_ADVERTISE_HOST`` (the
  name the cluster's nodes use to reach this machine; default: its FQDN),
  ``DIRFT_TEST_HADOOP_PYTHON`` (python on the nodes; default ``python3``).

It puts generated GridMix text into HDFS, runs ``-mapper cat -reducer cat`` under scheme
dirft with default settings (fault-free, and with crash faults injected into half the map
tasks), and checks what Hadoop promises: the input's lines, keys in byte order (values of
equal keys follow the merge, so this is not a byte comparison with ``LC_ALL=C sort``),
the report's fault counts, crashes found by process exit, and one YARN application
when fault-free (at most two with faults: a commit job after a failed map attempt).
Everything it writes to HDFS is under one fresh ``/tmp/dirft-it-*`` directory, removed at
the end.
"""

import json

import pytest

from e2e import assert_sorted_by_key, run_cli
from real_cluster import (HOME, URL, cluster_defines, hdfs_dir,  # noqa: F401 - a fixture
                          put_generated)

pytestmark = pytest.mark.skipif(
    not (HOME and URL),
    reason="no Hadoop cluster: set DIRFT_TEST_HADOOP_HOME=/path/to/hadoop-3.x and "
           "DIRFT_TEST_WEBHDFS_URL=http://namenode:9870 (optionally DIRFT_TEST_WEBHDFS_USER, "
           "DIRFT_TEST_ADVERTISE_HOST, DIRFT_TEST_HADOOP_PYTHON) to run this suite")


@pytest.mark.parametrize("mode", ["fault-free", "exception", "kill"])
def test_streamsort_survives_crashes_on_a_real_cluster(mode, hdfs_dir, tmp_path, capsys):
    storage, folder = hdfs_dir
    data = tmp_path / "input.txt"
    put_generated(storage, f"{folder}/input.txt", data, 16 << 20, seed=11)
    code, stdout, err = run_cli(
        capsys, "streaming", "--runner", "hadoop", *cluster_defines(),
        "-input", f"{folder}/input.txt", "-output", f"{folder}/out",
        "-mapper", "cat", "-reducer", "cat", "--json",
        "-D", "dirft.split.maxsize=2m",
        "-D", f"mapred.map.tasks.fault.inject={str(mode != 'fault-free').lower()}",
        "-D", "mapred.map.tasks.fault.percent=50",
        "-D", f"dirft.fault.crash.mode={'exception' if mode == 'fault-free' else mode}")
    assert code == 0, err
    assert_sorted_by_key(storage.read_bytes(f"{folder}/out/part-00000"), data)
    report = json.loads(storage.read_bytes(f"{folder}/out/_dirft_report.json"))
    faults = report["faults"]
    # 4 of 8 tasks are hit, and every planned crash fires: one planned for a replica still
    # waiting for its container strikes the sibling that takes its sub-split
    # (fault_injector.strike). Each is found by exit and corrected.
    fired = faults["injected"]["crash"]
    assert fired == (0 if mode == "fault-free" else 4)
    assert faults["planned"] == faults["fired"] == {"crash": fired, "silent": 0}
    assert faults["not_fired"] == []
    assert len(faults["tasks_hit"]) == (0 if mode == "fault-free" else 4)
    assert faults["detected"] == faults["corrected"] == faults["injected"]
    assert faults["crashes_detected_by"] == ({} if mode == "fault-free" else {"exit": fired})
    # fault-free, the reduce runs in the replicas' application; a crash that no replica of
    # its map task could acknowledge fails that map attempt, and with it what the attempt
    # emitted: the decided outputs then go through one commit job
    assert report["hadoop"]["jobs"] == 1 if mode == "fault-free" else \
        report["hadoop"]["jobs"] in (1, 2)
