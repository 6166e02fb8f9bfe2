"""A host lost mid-map, end to end against the fake ``hadoop`` (issue 20, "Lost nodes").

The fake cluster has three hosts (dn1-dn3), input blocks at 2 copies, map tasks on their
split's host, and loses dn2 (``$FAKE_HADOOP_LOSE``) when a replica there reports its first
phase: every attempt there is killed, its manifest files' only copies are gone (re-runs
fail with ``BlockMissingException``) and the loopback ResourceManager (``fake_rm``) reports
it ``LOST``. The job must give the fault-free output, exit 0 and name the host.
"""

import os
import pathlib

import pytest

from dirft.gridmix.generate import generate_file
from fake_rm import FakeRM
from hadoop_fixture import FakeCluster
from test_hadoop_locality import sorted_lines

SMALL = ["-D", "dirft.split.maxsize=16384"]
#: an identity mapper that burns CPU per line, so a replica is still mapping at its first
#: heartbeat answers (its status lines are what loses the host); output as ``cat``'s
SLOW = ["-files", str(pathlib.Path(__file__).resolve().parents[1] / "bench" / "cpu_mapper.py"),
        "-mapper", "python3 cpu_mapper.py 20000"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """About 64 KiB of GridMix text: 4 map tasks of 16 KiB."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 64_000, seed=5)
    return path


def test_a_host_lost_mid_map_costs_no_output_and_is_named(tmp_path, monkeypatch, capsys, data):
    with FakeCluster(tmp_path, monkeypatch, block_size=16384, copies=2, hosts=True) as cl:
        monkeypatch.setenv("FAKE_HADOOP_LOSE", "dn2")
        rm = FakeRM({h: "RUNNING" for h in cl.server.hosts}, str(tmp_path / "fake-state"))
        try:
            cl.put("/user/me/in.txt", data.read_bytes())
            code, out, err = cl.streaming(
                capsys, "-D", f"dirft.yarn.rm.url={rm.url}", "-input", "/user/me/in.txt",
                "-output", "/user/me/out", *SMALL, *SLOW, "-reducer", "cat")
        finally:
            rm.close()
        assert code == 0, err
        files = cl.output("/user/me/out")
        jobs = len(cl.jar_calls())
    assert files["part-00000"] == sorted_lines(data)
    report = files["_dirft_report.json"]
    # found during the map stage (the core moved its work) or by the last poll after it
    assert report["faults"]["nodes_lost"] in ([], ["dn2"])
    assert list(report["placement"]["lost_hosts"]) == ["dn2"]
    assert "nodes lost: dn2 (ResourceManager: node LOST" in out + err
    killed = killed_hosts(tmp_path / "fake-state")
    assert "dn2" in killed  # the loss struck attempts that were running there
    assert report["placement"]["replicas_sharing_a_host"] == 0
    faults = report["faults"]  # replicas with work left there (timing) are crashes
    assert faults["corrected"] == faults["detected"] and not faults["not_fired"]
    # 1 when the lost host's replicas died before emitting and their siblings elsewhere
    # emitted every task (their map tasks start fast since replicas are forked: 3 runs of 4
    # so), else a follow-up wave or a commit job; the output is the fault-free one either way
    assert report["hadoop"]["jobs"] == jobs >= 1


def killed_hosts(state) -> set:
    """Hosts of the attempts the fake ``hadoop`` killed."""
    return {(state / f"{name[:-len('.killed')]}.host").read_text()
            for name in os.listdir(state) if name.endswith(".killed")}
