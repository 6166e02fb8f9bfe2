"""Issue 12: a replica, and the user's mapper under it, can speak only for itself."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from dirft.errors import ProtocolError
from dirft.gridmix.generate import generate_file
from dirft.service import keys, messages
from dirft.service.client import VotingClient
from dirft.service.server import VotingService
from e2e import ROOT, c_sorted, leftovers, streaming

JOB = "job_sec_0001"
MAPPER = ROOT / "tests" / "fixtures" / "forge_sibling_mapper.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """512 KiB of GridMix text: 2 map tasks."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 512 * 1024, seed=12)
    return path


def _as_the_same_user() -> str:
    """Prefix that runs a command as this user without privileges: as root (a container),
    with every capability dropped, so CAP_SYS_PTRACE cannot open other processes' memory."""
    if os.geteuid() != 0:
        return ""
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: cannot drop capabilities")
    return "setpriv --bounding-set=-all --inh-caps=-all "


def test_a_mapper_that_reads_every_file_and_votes_as_its_sibling_is_never_committed(
        data, tmp_path, capsys):
    log, out = tmp_path / "attack.jsonl", tmp_path / "out"
    mapper = f"{_as_the_same_user()}{sys.executable} {MAPPER}"
    code, _, err = streaming(capsys, data, out, "-mapper", mapper,
                             "-reducer", "cat", "-D", "mapred.map.tasks.fault.nature=2",
                             "-D", "mapred.map.tasks.fault.inject=false",
                             "-cmdenv", f"ATTACK_LOG={log}")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    probes = [line for line in lines if line["kind"] == "probe"]
    forged = [line["status"] for line in lines if line["kind"] == "forge"]
    assert probes and all(p["candidates"] > 0 for p in probes)
    assert forged and set(forged) == {401}, "a forged vote was accepted"
    for probe in probes:  # the replica's and the driver's memory and fds stayed closed
        assert not [r for r in probe["refused"] if r.startswith("opened")]
        assert sum(r.endswith("/mem: Permission denied") for r in probe["refused"]) == 2
    assert code == 0, err
    assert (out / "part-00000").read_bytes() == c_sorted(data)
    assert leftovers(tmp_path) == []


def test_a_replica_key_does_not_speak_for_a_sibling():
    master = b"m" * 32
    with VotingService(master, JOB, lambda m: {"action": "ok"}) as service:
        own = keys.replica_key(master, 4, 0)
        with VotingClient(service.url, own, JOB, 4, 0) as client:
            assert client.call("heartbeat", phase=1, progress=0.5) == {"action": "ok"}
        with VotingClient(service.url, own, JOB, 4, 1) as as_sibling:
            with pytest.raises(ProtocolError) as err:
                as_sibling.call("failed", reason="forged")
        assert err.value.status == 401 and service.accepted == 1


def test_header_and_body_must_name_the_same_replica():
    import requests
    master = b"m" * 32
    with VotingService(master, JOB, lambda m: {"action": "ok"}) as service:
        body = messages.encode({"job": JOB, "task": 4, "replica": 1, "seq": 1,
                                "kind": "failed", "reason": "x"})
        answer = requests.post(service.url + messages.ROUTE, data=body, headers={
            keys.IDENTITY_HEADER: "4/0",
            messages.MAC_HEADER: messages.mac(keys.replica_key(master, 4, 0), body)})
        assert answer.status_code == 401 and "4/0" in answer.json()["error"]
        assert service.accepted == 0


def test_enrollment_binds_the_first_key_and_records_a_second_claim():
    enrollment = b"e" * 32
    ring = keys.Keyring(enrollment=enrollment)
    with VotingService(ring, JOB, lambda m: {"action": "ok"}) as service:
        with VotingClient(service.url, b"a" * 32, JOB, 2, 1, enrollment=enrollment) as a:
            a.call("register", host="n1", pid=1, attempt="attempt_x_0001_m_000003_0")
            a.call("heartbeat", phase=1, progress=0.0)
        with VotingClient(service.url, b"b" * 32, JOB, 2, 1, enrollment=enrollment) as b:
            with pytest.raises(ProtocolError) as err:
                b.call("register", host="n1", pid=2, attempt="attempt_x_0001_m_000003_0")
            with pytest.raises(ProtocolError) as plain:
                b.call("heartbeat", phase=1, progress=0.0)
    assert err.value.status == 409 and plain.value.status == 401
    assert ring.holders == {(2, 1): ("attempt_x_0001_m_000003_0", "n1")}
    assert len(ring.conflicts) == 1 and "task 2 replica 1" in ring.conflicts[0]


def test_only_a_register_may_use_the_enrollment_secret():
    enrollment = b"e" * 32
    with VotingService(keys.Keyring(enrollment=enrollment), JOB,
                       lambda m: {"action": "ok"}) as service:
        with VotingClient(service.url, enrollment, JOB, 0, 0) as client:
            with pytest.raises(ProtocolError) as err:
                client.call("failed", reason="forged")
    assert err.value.status == 401


_OFFER = textwrap.dedent("""
    import sys
    from dirft.service.keys import offer_key
    sys.stdout.write(offer_key(int(sys.argv[1])).hex())
""")


def test_handshake_takes_the_key_only_from_the_process_started():
    ours, theirs = keys.handshake_pair()
    with theirs:
        proc = subprocess.Popen([sys.executable, "-c", _OFFER, str(theirs.fileno())],
                                pass_fds=(theirs.fileno(),), stdout=subprocess.PIPE,
                                cwd=ROOT)
    installed = []
    key = keys.accept_key(ours, proc.pid, 30.0, installed.append)
    assert proc.communicate()[0].decode() == key.hex() and installed == [key]
    ours, theirs = keys.handshake_pair()
    with theirs:
        theirs.send(os.urandom(keys.KEY_BYTES))  # the wrong process offers a key
    with pytest.raises(ProtocolError) as err:
        keys.accept_key(ours, os.getpid() + 1, 5.0, installed.append)
    assert err.value.status == 401 and len(installed) == 1
