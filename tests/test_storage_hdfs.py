"""HDFS storage (WebHDFS through HdfsCLI) against a loopback WebHDFS server."""

import hashlib
import os

import pytest

from dirft.errors import InputError, StorageError
from dirft.records import read_records, split_records
from dirft.storage import open_storage
from dirft.storage.hdfs import HdfsStorage, hdfs_path
from dirft.storage.local import LocalStorage
from webhdfs_server import WebHdfsServer

DATA = b"".join(b"line %05d\twith some words\r\n" % i if i % 7 == 0 else
                b"line %05d\tx\n" % i for i in range(3000))


@pytest.fixture
def server(tmp_path):
    (tmp_path / "hdfs" / "user" / "me").mkdir(parents=True)
    (tmp_path / "hdfs" / "user" / "me" / "in.txt").write_bytes(DATA)
    with WebHdfsServer(str(tmp_path / "hdfs"), block_size=10_000) as srv:
        yield srv


@pytest.fixture
def hdfs(server):
    return HdfsStorage(server.url, user="me", timeout=10)


def test_block_locations_give_real_boundaries_and_hosts(hdfs, server):
    blocks = hdfs.blocks("/user/me/in.txt", len(DATA), 128 << 20)
    assert [b.offset for b in blocks] == list(range(0, len(DATA), 10_000))
    assert sum(b.length for b in blocks) == len(DATA)
    assert blocks[0].hosts == ("dn1", "dn2", "dn3") and blocks[1].hosts == ("dn2", "dn3", "dn1")
    assert ("GET", "GETFILEBLOCKLOCATIONS", "/user/me/in.txt") in server.requests


def test_without_block_locations_the_status_block_size_is_used(tmp_path):
    (tmp_path / "in.txt").write_bytes(DATA)
    with WebHdfsServer(str(tmp_path), block_size=25_000, block_locations=False) as srv:
        blocks = HdfsStorage(srv.url, user="me").blocks("/in.txt", len(DATA), 1 << 20)
    assert [b.offset for b in blocks] == list(range(0, len(DATA), 25_000))
    assert all(b.hosts == () for b in blocks)


@pytest.mark.parametrize("start,end", [(0, 5000), (4999, 40_000), (12_345, len(DATA)), (30_000, 30_001),
                                       (len(DATA) - 3, len(DATA))])
def test_range_reads_follow_line_record_reader_rules(hdfs, server, start, end):
    local = LocalStorage()
    path = os.path.join(server.root, "user", "me", "in.txt")
    with hdfs.open_range("/user/me/in.txt", start, end - start) as remote, \
            local.open_range(path, start, end - start) as here:
        assert b"".join(read_records(remote, start, end, 4096)) == \
            b"".join(read_records(here, start, end, 4096))
    opens = [r for r in server.requests if r[1] == "OPEN"]
    assert opens, "reads go through OPEN"


def test_sub_ranges_together_give_every_record_once(hdfs):
    cuts = [0, 7777, 20_000, 20_001, 33_333, len(DATA)]
    got = b""
    for a, b in zip(cuts, cuts[1:]):
        with hdfs.open_range("hdfs:///user/me/in.txt", a, b - a) as f:
            got += b"".join(read_records(f, a, b, 1000))
    assert got == b"".join(r + b"\n" for r in split_records(DATA))


def test_commit_writes_by_two_step_create_then_rename(hdfs, server):
    data = os.urandom(300_000)
    with hdfs.commit("/user/me/out/t00001/s000-r000.out") as out:
        for i in range(0, len(data), 65536):
            out.write(data[i:i + 65536])
    assert hdfs.read_bytes("/user/me/out/t00001/s000-r000.out") == data
    creates = [r for r in server.requests if r[1] == "CREATE"]
    assert len(creates) == 2 and ".tmp-" in creates[0][2]  # redirect, then the PUT of bytes
    assert any(r[1] == "RENAME" for r in server.requests)
    assert [n for n, _, _ in hdfs.list_dir("/user/me/out/t00001")] == ["s000-r000.out"]


def test_a_failed_commit_leaves_nothing(hdfs):
    with pytest.raises(RuntimeError):
        with hdfs.commit("/user/me/half.out") as out:
            out.write(b"partial")
            raise RuntimeError("mapper died")
    assert hdfs.list_dir("/user/me") == [("in.txt", len(DATA), False)]


def test_name_space_operations(hdfs):
    hdfs.makedirs("/user/me/a/b")
    hdfs.write_bytes("/user/me/a/b/f", b"12345")
    assert hdfs.size("/user/me/a/b/f") == 5 and hdfs.is_dir("/user/me/a")
    assert hdfs.size("/user/me/nope") is None and not hdfs.exists("/user/me/nope")
    hdfs.rename("/user/me/a", "/user/me/c")
    assert hdfs.read_bytes("/user/me/c/b/f") == b"12345"
    with pytest.raises(StorageError, match="destination exists"):
        hdfs.rename("/user/me/in.txt", "/user/me/c")
    assert hdfs.delete("/user/me/c", recursive=True) and not hdfs.delete("/user/me/c")


def test_inputs_resolve_as_hadoop_lists_them(hdfs):
    for name in ("part-1", "part-2", "_SUCCESS", ".hidden"):
        hdfs.write_bytes(f"/user/me/dir/{name}", b"x\n")
    files = hdfs.resolve_inputs(["/user/me/dir", "in.txt", "/user/me/dir/part-*"])
    assert [(f.path, f.size) for f in files] == [
        ("/user/me/dir/part-1", 2), ("/user/me/dir/part-2", 2), ("/user/me/in.txt", len(DATA)),
        ("/user/me/dir/part-1", 2), ("/user/me/dir/part-2", 2)]


# -- errors: RemoteException JSON becomes one clear line --------------------------------

def test_missing_file_is_an_input_error_naming_it(hdfs):
    with pytest.raises(InputError) as err:
        hdfs.read_bytes("/user/me/missing.txt")
    assert "/user/me/missing.txt" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="input path does not exist: /user/me/nothing"):
        hdfs.resolve_inputs(["/user/me/nothing"])


def test_permission_denied_says_what_to_check(hdfs):
    with pytest.raises(StorageError) as err:
        hdfs.makedirs("/forbidden/x")
    message = str(err.value)
    assert "permission denied" in message and "dirft.webhdfs.user" in message
    assert "/forbidden/x" in message and "\n" not in message


def test_non_empty_directory_delete_names_the_remote_exception(hdfs):
    with pytest.raises(StorageError, match="PathIsNotEmptyDirectoryException"):
        hdfs.delete("/user/me")


def test_unreachable_namenode_names_the_key_to_fix():
    dead = HdfsStorage("http://127.0.0.1:9", user="me", timeout=2)
    with pytest.raises(StorageError, match="dirft.webhdfs.url"):
        dead.exists("/x")


def test_the_spec_description_reopens_the_same_storage(hdfs):
    again = open_storage(hdfs.describe())
    assert isinstance(again, HdfsStorage) and again.url == hdfs.url
    assert hashlib.sha256(again.read_bytes("/user/me/in.txt")).digest() == \
        hashlib.sha256(DATA).digest()
    assert isinstance(open_storage({}), LocalStorage)


def test_hdfs_uris_lose_their_scheme():
    assert hdfs_path("hdfs:///a/b") == "/a/b" and hdfs_path("hdfs://nn:8020/a") == "/a"
    assert hdfs_path("/a") == "/a" and hdfs_path("rel/x") == "rel/x"
