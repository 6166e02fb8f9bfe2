"""Replicas' map tasks on the hosts of their blocks, against the fake ``hadoop``.

The fake cluster has three hosts (dn1-dn3), input blocks at 2 copies on rotating hosts,
and runs each map task on its split's location (``FakeCluster(hosts=True)``), but for
``miss`` percent of them, as YARN's delay scheduling sometimes gives up on a busy host.
Each wave's manifest files are written straight to their map task's planned host's
DataNode (a port of its own on the loopback WebHDFS server) with replication 1.
"""

import subprocess

import pytest

from dirft.gridmix.generate import generate_file
from hadoop_fixture import FakeCluster

SMALL = ["-D", "dirft.split.maxsize=16384"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """About 64 KiB of GridMix text: 4 map tasks of 16 KiB."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 64_000, seed=3)
    return path


def run(tmp_path, monkeypatch, capsys, data, **cluster_args):
    """A fault-free DIRFT job on a fake cluster of three hosts; (report, console, server)."""
    with FakeCluster(tmp_path, monkeypatch, block_size=16384, copies=2, **cluster_args) as cl:
        cl.put("/user/me/in.txt", data.read_bytes())
        code, out, err = cl.streaming(capsys, "-input", "/user/me/in.txt", "-output",
                                    "/user/me/out", *SMALL, "-mapper", "cat", "-reducer", "cat")
        assert code == 0, err
        files = cl.output("/user/me/out")
        assert files["part-00000"] == sorted_lines(data)
        return files["_dirft_report.json"], out + err, cl.server


def sorted_lines(path) -> bytes:
    text = subprocess.run(["sort"], input=path.read_bytes(), capture_output=True, check=True,
                          env={"LC_ALL": "C"}).stdout
    return b"".join(line + (b"" if b"\t" in line else b"\t") + b"\n"
                    for line in text.splitlines())


def holders(block: int, hosts=("dn1", "dn2", "dn3")) -> set:
    """The fake NameNode's hosts of input block ``block`` (2 copies, rotating)."""
    return {hosts[block % 3], hosts[(block + 1) % 3]}


def test_every_replica_runs_on_its_planned_host_which_holds_its_block(tmp_path, monkeypatch,
                                                                       capsys, data):
    report, err, server = run(tmp_path, monkeypatch, capsys, data, hosts=True)
    placed = report["placement"]
    assert report["tasks"] == 4 and placed["registered_replicas"] == 8
    assert placed["data_local_share"] == 1.0 and placed["ran_on_planned_host"] == 8
    assert placed["replicas_sharing_a_host"] == 0
    for replica in placed["replicas"]:
        assert replica["ran_on"] == replica["planned"] in holders(replica["task"])
    files = placed["manifests"]
    assert files["on_planned_host"] == files["map_tasks"] and files["why"] == {}
    manifests = {p: h for p, h in server.placed.items() if "/manifests/wave-000/" in p}
    assert len(manifests) == files["map_tasks"] and set(manifests.values()) <= set(server.hosts)
    assert ("placement: 8 of 8 replicas data-local (100%), 8 on their planned host, 0 "
            "sharing a host with a replica of their task; manifests: "
            f"{files['map_tasks']} of {files['map_tasks']} on their planned host's "
            "DataNode") in err


def test_a_map_task_yarn_runs_elsewhere_is_counted_as_such(tmp_path, monkeypatch, capsys,
                                                           data):
    # every map task runs on the host after its split's location: no replica on its
    # planned host; those whose next host holds a copy too still read locally
    report, _, _ = run(tmp_path, monkeypatch, capsys, data, hosts=True, miss=100)
    placed = report["placement"]
    assert placed["ran_on_planned_host"] == 0 and placed["registered_replicas"] == 8
    local = [r for r in placed["replicas"] if r["ran_on"] in holders(r["task"])]
    assert placed["data_local_replicas"] == len(local) < 8
    assert placed["data_local_share"] == round(len(local) / 8, 4)


@pytest.mark.parametrize("namenode", ["no GET_BLOCK_LOCATIONS", "older than 3.2"])
def test_manifests_go_through_the_namenode_when_no_datanode_can_be_named(
        tmp_path, monkeypatch, capsys, data, namenode):
    older = namenode == "older than 3.2"
    report, _, server = run(tmp_path, monkeypatch, capsys, data, hosts=True,
                            located_blocks=False, block_locations=not older)
    files = report["placement"]["manifests"]
    assert files["placed_by_namenode"] == files["map_tasks"] > 0
    assert files["on_planned_host"] == 0
    assert list(files["why"]) == (["no planned host"] if older else [
        "GET_BLOCK_LOCATIONS of /user/me/in.txt: HdfsError: Invalid value for webhdfs "
        'parameter "op": No enum constant GET_BLOCK_LOCATIONS'])
    assert not any("/manifests/" in p for p in server.placed)
