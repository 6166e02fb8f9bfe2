"""A fake Hadoop cluster for tests: the fake ``hadoop`` executable plus a WebHDFS server.

:class:`FakeCluster` makes a ``HADOOP_HOME`` whose ``bin/hadoop`` is
``tests/fake_hadoop/hadoop`` and whose streaming jar is an empty file (so mrjob's search
finds both), serves an HDFS root over loopback WebHDFS, points the fake at that root, and
runs ``dirft streaming --runner hadoop`` in this process. Tasks run under
``tests/fake_hadoop/python3-bare`` (python without site-packages), so they import dirft
only from the zip the runner ships, as a bare cluster node would.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from dirft.cli import main
from e2e import without_progress
from webhdfs_server import WebHdfsServer

FAKE = pathlib.Path(__file__).resolve().parent / "fake_hadoop"
JAR = "share/hadoop/tools/lib/hadoop-streaming-3.3.6.jar"


class FakeCluster:
    """Use as ``with FakeCluster(tmp_path, monkeypatch) as cluster:``.

    ``hosts``: map tasks run "on" the WebHDFS server's hosts (``dn1``-``dn3``), at their
    split's location but for ``miss`` percent of them (``$FAKE_HADOOP_HOSTS``,
    ``$FAKE_HADOOP_MISS``); ``block_locations=False`` plays a NameNode older than 3.2,
    ``located_blocks=False`` one that does not answer ``GET_BLOCK_LOCATIONS``; ``copies``:
    the copies of each input block (on rotating hosts)."""

    def __init__(self, tmp_path: pathlib.Path, monkeypatch, block_size: int = 1 << 16,
                 block_locations: bool = True, hosts: bool = False, miss: float = 0,
                 located_blocks: bool = True, copies: int = 3) -> None:
        self.tmp, self.monkeypatch = tmp_path, monkeypatch
        self.hosts, self.miss = hosts, miss  # map tasks run "on" dn1-dn3 (fake_hadoop)
        self.root = tmp_path / "hdfs"
        self.home = tmp_path / "hadoop-home"
        self.log = tmp_path / "hadoop-argv.jsonl"
        (self.root / "user" / "me").mkdir(parents=True)
        (self.home / "bin").mkdir(parents=True)
        (self.home / "bin" / "hadoop").symlink_to(FAKE / "hadoop")
        (self.home / JAR).parent.mkdir(parents=True)
        (self.home / JAR).write_bytes(b"")
        (tmp_path / "local").mkdir()
        self.server = WebHdfsServer(str(self.root), block_size=block_size,
                                    block_locations=block_locations,
                                    located_blocks=located_blocks, copies=copies)

    def __enter__(self) -> "FakeCluster":
        self.server.__enter__()
        env = {"FAKE_HDFS_ROOT": str(self.root), "FAKE_HADOOP_LOG": str(self.log),
               "FAKE_HADOOP_STATE": str(self.tmp / "fake-state"),
               "FAKE_HADOOP_PYTHON": sys.executable, "FAKE_WEBHDFS_URL": self.server.url}
        if self.hosts:
            env.update(FAKE_HADOOP_HOSTS=",".join(self.server.hosts),
                       FAKE_HADOOP_MISS=str(self.miss))
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        for name in ("HADOOP_HOME", "HADOOP_PREFIX", "HADOOP_INSTALL", "HADOOP_MAPRED_HOME",
                     "HADOOP_CONF_DIR", "HADOOP_USER_NAME"):
            self.monkeypatch.delenv(name, raising=False)
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def defines(self) -> list[str]:
        """``-D`` options pointing dirft at this cluster (small heartbeats, short waves)."""
        pairs = {"dirft.hadoop.home": self.home, "dirft.webhdfs.url": self.server.url,
                 "dirft.webhdfs.user": "me", "dirft.hadoop.python": FAKE / "python3-bare",
                 "dirft.local.dir": self.tmp / "local", "dirft.hadoop.wave.delay": "0.1",
                 "dirft.heartbeat.interval": "0.2", "dirft.heartbeat.timeout": "10"}
        return [arg for k, v in pairs.items() for arg in ("-D", f"{k}={v}")]

    def put(self, hdfs_path: str, data: bytes) -> None:
        """Write ``data`` into HDFS at ``hdfs_path``."""
        path = self.root / hdfs_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def streaming(self, capsys, *args) -> tuple[int, str, str]:
        """Run ``dirft streaming --runner hadoop ARGS``; (exit status, stdout, stderr)."""
        code = main(["streaming", "--runner", "hadoop", *self.defines(), *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, without_progress(err)

    def calls(self) -> list[list[str]]:
        """Every argv the fake ``hadoop`` was run with, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def jar_calls(self) -> list[list[str]]:
        """The ``hadoop jar`` argvs only."""
        return [c for c in self.calls() if c[:1] == ["jar"]]

    def output(self, hdfs_path: str) -> dict:
        """The files of an HDFS output directory, by name (bytes), the report parsed."""
        folder = self.root / hdfs_path.lstrip("/")
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        files["_dirft_report.json"] = json.loads(files["_dirft_report.json"])
        return files

    def leftovers(self) -> list[str]:
        """Scratch left on HDFS (``/tmp/dirft``, staging dirs) or in the local dir."""
        found = [str(p) for p in (self.root / "tmp" / "dirft").glob("*")]
        found += [str(p) for p in (self.root / "user" / "me").glob(".*")]
        return found + [str(p) for p in (self.tmp / "local").iterdir()]


    def running_apps(self) -> list[str]:
        """Job ids of the fake cluster's applications whose AppMaster still runs."""
        folder = self.tmp / "fake-state" / "apps"
        alive = []
        for pid_file in folder.glob("*.pid") if folder.exists() else ():
            try:
                os.kill(int(pid_file.read_text()), 0)
                alive.append(pid_file.stem)
            except (OSError, ValueError):
                pass
        return alive


def hadoop_env() -> dict:
    """The environment a test's hadoop subprocesses see (for debugging)."""
    return {k: v for k, v in os.environ.items() if k.startswith(("FAKE_", "HADOOP_"))}
