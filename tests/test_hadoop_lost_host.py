"""A host lost mid-map, end to end against the fake ``hadoop`` (issue 20, "Lost nodes").

The fake cluster has three hosts (dn1-dn3), input blocks at 2 copies, map tasks on their
split's host, and loses dn2 (``$FAKE_HADOOP_LOSE``) when a replica there reports its first
phase, or (``$FAKE_HADOOP_LOSE_AT=emit``) once an emitter there has written its task's
decided outputs into the shuffle: every attempt there is killed and re-run elsewhere (as
Hadoop re-runs a lost node's map tasks, a finished one too when the job has reduces), input
blocks of one copy there are gone (re-runs read their manifest file from the copies the
runner asked for once the wave was submitted) and the loopback ResourceManager
(``fake_rm``) reports it ``LOST``. The job must give the fault-free output, exit 0 and name
the host; what the lost attempt emitted is re-emitted by its re-run inside the same job,
so no commit job runs.
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


def lose_dn2(tmp_path, monkeypatch, capsys, data, when: str, forge: str = "",
             host: str = "dn2") -> tuple:
    """Run the job losing ``host`` (``*``: the first host due) at ``when`` (``phase`` or
    ``emit``); return its console,
    output files and the ``hadoop jar`` calls (asserting exit 0); with ``forge`` (a glob
    of HDFS paths the loss rewrites) return its exit status, console and output folder's
    files instead."""
    monkeypatch.setenv("FAKE_HADOOP_FORGE", forge)
    with FakeCluster(tmp_path, monkeypatch, block_size=16384, copies=2, hosts=True) as cl:
        monkeypatch.setenv("FAKE_HADOOP_LOSE", host)
        monkeypatch.setenv("FAKE_HADOOP_LOSE_AT", when)
        rm = FakeRM({h: "RUNNING" for h in cl.server.hosts}, str(tmp_path / "fake-state"))
        try:
            cl.put("/user/me/in.txt", data.read_bytes())
            code, out, err = cl.streaming(
                capsys, "-D", f"dirft.yarn.rm.url={rm.url}", "-input", "/user/me/in.txt",
                "-output", "/user/me/out", *SMALL, *SLOW, "-reducer", "cat")
        finally:
            rm.close()
        if forge:
            return code, out + err, cl.output("/user/me/out") if code == 0 else {}
        assert code == 0, err
        return out + err, cl.output("/user/me/out"), cl.jar_calls()


def check_lost(tmp_path, console: str, files: dict, calls: list, data) -> dict:
    """What holds however the loss fell: the fault-free output, the lost host named, every
    fault corrected, no commit job (the lost attempt's emissions were re-emitted in wave
    0); returns the report."""
    assert files["part-00000"] == sorted_lines(data)
    report = files["_dirft_report.json"]
    lost = sorted(os.listdir(tmp_path / "fake-state" / "lost"))
    assert len(lost) == 1, lost
    host = lost[0]
    # found during the map stage (the core moved its work) or by the last poll after it
    assert report["faults"]["nodes_lost"] in ([], [host])
    assert list(report["placement"]["lost_hosts"]) == [host]
    assert f"nodes lost: {host} (ResourceManager: node LOST" in console
    assert host in killed_hosts(tmp_path / "fake-state")  # it struck running attempts
    assert report["placement"]["replicas_sharing_a_host"] == 0
    faults = report["faults"]  # replicas with work left there (timing) are crashes
    assert faults["corrected"] == faults["detected"] and not faults["not_fired"]
    assert report["hadoop"]["jobs"] == len(calls)
    assert not any("commit" in " ".join(call) for call in calls), calls
    return report


def test_a_host_lost_mid_map_costs_no_output_and_is_named(tmp_path, monkeypatch, capsys, data):
    console, files, calls = lose_dn2(tmp_path, monkeypatch, capsys, data, "phase")
    check_lost(tmp_path, console, files, calls, data)


def test_what_a_lost_host_emitted_is_re_emitted_inside_the_same_job(tmp_path, monkeypatch,
                                                                     capsys, data):
    # the host of whichever replica emits first: which one does depends on timing
    console, files, calls = lose_dn2(tmp_path, monkeypatch, capsys, data, "emit", host="*")
    check_lost(tmp_path, console, files, calls, data)
    reruns = {name: text for name, text in attempt_logs(tmp_path / "fake-state").items()
              if not name.endswith("_0")}
    re_emitted = [text for text in reruns.values() if "reporter:counter:dirft-emit," in text]
    assert re_emitted, sorted(reruns)  # dn2's emitter's output came again, from its re-run


def killed_hosts(state) -> set:
    """Hosts of the attempts the fake ``hadoop`` killed."""
    return {(state / f"{name[:-len('.killed')]}.host").read_text()
            for name in os.listdir(state) if name.endswith(".killed")}


def attempt_logs(state) -> dict:
    """``{attempt id: its stderr}`` of every map attempt the fake ``hadoop`` ran."""
    folder = state / "attempts"
    return {name: (folder / name / "stderr").read_text(errors="replace")
            for name in os.listdir(folder) if name.startswith("attempt_")}


def test_a_re_run_never_emits_a_stored_output_forged_after_its_vote(tmp_path, monkeypatch,
                                                                    capsys, data):
    """A hostile mapper rewrites every stored map output when dn2 is lost after an emit:
    the re-run attempts learn the decided signatures from the driver, not from HDFS, so
    none of them emits the forged bytes (exit 3, no dirft-emit counter) and the job gives
    the fault-free output or fails; never a wrong output."""
    code, console, files = lose_dn2(tmp_path, monkeypatch, capsys, data, "emit",
                                    forge="/tmp/dirft/*/maps/t*/*.out", host="*")
    assert code != 0 or files["part-00000"] == sorted_lines(data), console
    reruns = {name: text for name, text in attempt_logs(tmp_path / "fake-state").items()
              if not name.endswith("_0")}
    asked = [text for text in reruns.values() if "it re-emits task(s) [" in text]
    assert asked, sorted(reruns)  # a re-run was told what its lines emitted ...
    assert all("no longer matches the signature" in text for text in asked)  # ... refused
    assert not any("reporter:counter:dirft-emit," in text for text in reruns.values())
