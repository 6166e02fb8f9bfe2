"""WebHDFS reads and writes survive a lost DataNode (dirft.storage.datanodes).

The loopback WebHDFS server plays a NameNode that still names a DataNode after it died
(its address refuses connections) or that names one which breaks off mid-transfer; the
NameNode honours ``excludedatanodes`` by IP address, as Hadoop 3.3.6's does
(``tests/fixtures/webhdfs/RECORDED.md``).
"""

import os
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from dirft.errors import DataNodeUnavailable, EnvironmentFault, StorageError
from dirft.storage import datanodes, open_storage
from dirft.storage.datanodes import Replay, exclusion
from dirft.storage.hdfs import HdfsStorage
import real_cluster
from real_cluster import hdfs_dir  # noqa: F401 - a fixture
from webhdfs_server import WebHdfsServer

DATA = b"".join(b"record %06d of the input\n" % i for i in range(20_000))  # 500 kB
DN = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def serve(tmp_path, **datanode_kinds) -> WebHdfsServer:
    """A server over ``tmp_path/hdfs`` holding /in.txt, with DataNodes ``DN``."""
    root = tmp_path / "hdfs"
    root.mkdir(exist_ok=True)
    (root / "in.txt").write_bytes(DATA)
    return WebHdfsServer(str(root), datanodes=DN, **datanode_kinds)


def write(hdfs: HdfsStorage, path: str, data: bytes) -> None:
    with hdfs.commit(path) as out:
        for i in range(0, len(data), 65536):
            out.write(data[i:i + 65536])


def test_a_create_sent_to_a_dead_datanode_goes_to_another(tmp_path):
    with serve(tmp_path, dead={DN[0]}) as srv:
        write(HdfsStorage(srv.url, user="me"), "/out/commit.txt", DATA)
        assert (tmp_path / "hdfs" / "out" / "commit.txt").read_bytes() == DATA
        creates = [c for c in srv.choices if c[0] == "CREATE"]
    assert [(named, chosen) for _, named, chosen in creates] == [("", DN[0]), (DN[0], DN[1])]
    assert srv.served == [("CREATE", DN[1])]


def test_an_open_sent_to_a_dead_datanode_reads_another_copy(tmp_path):
    with serve(tmp_path, dead={DN[0]}) as srv:
        hdfs = HdfsStorage(srv.url, user="me")
        assert hdfs.read_bytes("/in.txt") == DATA
        assert hdfs.last_datanode == DN[1]
    assert srv.choices[:2] == [("OPEN", "", DN[0]), ("OPEN", DN[0], DN[1])]
    assert all(named == DN[0] for _, named, _ in srv.choices[1:])  # excluded for the rest


def test_a_read_broken_off_resumes_at_its_byte_on_another_copy(tmp_path):
    with serve(tmp_path, breaking={DN[0]}) as srv:
        hdfs = HdfsStorage(srv.url, user="me")
        with hdfs.open_range("/in.txt", 1000, 200_000) as f:
            got = b"".join(iter(lambda: f.read(65536), b""))
        served = list(srv.served)
    assert got == DATA[1000:]
    assert served[0] == ("OPEN", DN[0]) and set(served[1:]) == {("OPEN", DN[1])}
    assert srv.choices[1] == ("OPEN", DN[0], DN[1])


def test_a_short_write_broken_off_is_sent_again_whole(tmp_path):
    data = os.urandom(200_000)
    with serve(tmp_path, breaking={DN[0]}) as srv:
        write(HdfsStorage(srv.url, user="me"), "/out/part.out", data)
        assert srv.served == [("CREATE", DN[0]), ("CREATE", DN[1])]
    assert (tmp_path / "hdfs" / "out" / "part.out").read_bytes() == data


def test_a_long_write_broken_off_fails_its_owner_not_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(datanodes, "REPLAY_BYTES", 1000)
    with serve(tmp_path, breaking={DN[0]}) as srv:
        hdfs = HdfsStorage(srv.url, user="me")
        with pytest.raises(StorageError) as err:
            write(hdfs, "/out/part.out", os.urandom(200_000))
        assert not isinstance(err.value, EnvironmentFault)
        assert not hdfs.exists("/out/part.out") and srv.served == [("CREATE", DN[0])]
    message = str(err.value)
    assert message.startswith("cannot create /out/part.out.tmp-")
    assert "DataNode 127.0.0.2 broke off the write" in message and "\n" not in message


def test_retries_are_bounded_and_the_error_names_path_datanodes_and_cause(tmp_path):
    with serve(tmp_path, dead=set(DN)) as srv:
        hdfs = HdfsStorage(srv.url, user="me", attempts=2)
        with pytest.raises(DataNodeUnavailable) as err:
            write(hdfs, "/job/manifests/commit.txt", b"0 1 2\n")
        assert [named for _, named, _ in srv.choices] == ["", DN[0]]
        assert not hdfs.exists("/job/manifests/commit.txt")
    message = str(err.value)
    assert isinstance(err.value, EnvironmentFault) and isinstance(err.value, StorageError)
    assert message.startswith("cannot create /job/manifests/commit.txt.tmp-")
    assert f"{DN[0]} ({DN[0]}): Connection refused; {DN[1]} ({DN[1]}): Connection refused" \
        in message
    assert "2 of 2 attempts failed" in message and "\n" not in message


@pytest.mark.parametrize("op", ["create", "read"])
def test_when_the_namenode_has_none_left_its_answer_is_the_cause(tmp_path, op):
    with WebHdfsServer(str(tmp_path), datanodes=DN[:2], dead=set(DN[:2])) as srv:
        (tmp_path / "f").write_bytes(b"x\n")
        hdfs = HdfsStorage(srv.url, user="me", attempts=5)
        with pytest.raises(DataNodeUnavailable) as err:
            write(hdfs, "/g", b"y\n") if op == "create" else hdfs.read_bytes("/f")
    assert srv.choices[-1][1:] == (f"{DN[0]},{DN[1]}", None) and len(srv.choices) == 3
    said = "Failed to find datanode" if op == "create" else "No active nodes contain this block"
    assert f"the NameNode named no other: {said}" in str(err.value)
    assert f"DataNodes tried: {DN[0]} ({DN[0]}): Connection refused; {DN[1]}" in str(err.value)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(kinds=st.lists(st.sampled_from(["live", "dead", "breaking"]), min_size=3, max_size=3),
       attempts=st.integers(1, 3))
def test_io_succeeds_exactly_when_a_good_datanode_comes_within_the_attempts(
        tmp_path_factory, kinds, attempts):
    """The fake NameNode names DataNodes in order, skipping the excluded ones: a read and a
    short write succeed, byte for byte, iff a live one comes before ``attempts`` failed."""
    bad = [k != "live" for k in kinds]
    ok = False in bad[:attempts]
    tmp = tmp_path_factory.mktemp("dn")
    with serve(tmp, dead={d for d, k in zip(DN, kinds) if k == "dead"},
               breaking={d for d, k in zip(DN, kinds) if k == "breaking"}) as srv:
        hdfs = HdfsStorage(srv.url, user="me", attempts=attempts)
        short = DATA[:70_000]
        for step in (lambda: hdfs.read_bytes("/in.txt") == DATA,
                     lambda: write(hdfs, "/o", short) or hdfs.read_bytes("/o") == short):
            if ok:
                assert step()
            else:
                with pytest.raises(DataNodeUnavailable, match=f"{attempts} of {attempts} attempts"):
                    step()


def test_the_exclusion_entry_is_the_datanodes_ip_address():
    assert exclusion("localhost") == "127.0.0.1" and exclusion("127.0.0.9") == "127.0.0.9"


def test_replay_gives_the_whole_body_again_only_while_it_is_short():
    body = Replay(iter([b"ab", b"cd", b"ef"]), limit=4)
    first = body.chunks()
    assert next(first) + next(first) == b"abcd" and body.replayable
    assert b"".join(body.chunks()) == b"abcdef" and not body.replayable
    with pytest.raises(RuntimeError):
        next(body.chunks())


def test_the_spec_description_carries_the_attempts():
    again = open_storage(HdfsStorage("http://127.0.0.1:9", attempts=7).describe())
    assert again.attempts == 7


# -- opt-in: a real cluster's NameNode (tests/real_cluster.py) -----------------------------

class RefusingDataNode(HTTPAdapter):
    """Sends the requests meant for the DataNode on ``host`` (the redirected ones, which
    carry ``namenoderpcaddress``) to port 9 of that host, where nothing listens: refused,
    as at a killed DataNode whose host is still up. Logs every URL in :attr:`seen`."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host, self.seen = host, []

    def send(self, request, **kwargs):
        self.seen.append(request.url)
        parts = urlsplit(request.url)
        if parts.hostname == self.host and "namenoderpcaddress=" in parts.query:
            request.url = parts._replace(netloc=f"{self.host}:9").geturl()
        return super().send(request, **kwargs)


@pytest.mark.skipif(not real_cluster.URL, reason="needs DIRFT_TEST_WEBHDFS_URL")
def test_on_a_real_cluster_a_lost_datanode_is_excluded(hdfs_dir):
    """Files written and read while one DataNode is lost: the one the NameNode names
    first for a probe file, made to refuse, or the one ``DIRFT_TEST_KILLED_DATANODE`` names
    (killed just before, while the NameNode still counts it live). With another DataNode
    the bytes come back whole and every retry excluded the lost one's IP address; with
    none (a single node) the NameNode's own answer ends the write."""
    storage, folder = hdfs_dir
    killed = os.environ.get("DIRFT_TEST_KILLED_DATANODE")
    hosts: tuple = ()
    if not killed:
        storage.write_bytes(f"{folder}/probe", b"probe\n")
        hosts = storage.blocks(f"{folder}/probe", 6, 1 << 20)[0].hosts
    lost = RefusingDataNode(killed or hosts[0])
    storage.client._session.mount("http://", lost)
    data = [os.urandom(1000 + 997 * i) for i in range(12)]
    if len(hosts) == 1:
        with pytest.raises(DataNodeUnavailable, match="Failed to find datanode"):
            storage.write_bytes(f"{folder}/f0", data[0])
        return
    for i, body in enumerate(data):
        storage.write_bytes(f"{folder}/f{i}", body)
    assert [storage.read_bytes(f"{folder}/f{i}") for i in range(12)] == data
    to_datanodes = [urlsplit(u).hostname for u in lost.seen if "namenoderpcaddress=" in u]
    excluded = [parse_qs(urlsplit(u).query)["excludedatanodes"] for u in lost.seen
                if "excludedatanodes=" in u]
    print(f"\nDataNode requests {Counter(to_datanodes)}, {lost.host} lost; "
          f"NameNode requests with excludedatanodes: {Counter(map(str, excluded))}")
    assert excluded == [[exclusion(lost.host)]] * to_datanodes.count(lost.host)
