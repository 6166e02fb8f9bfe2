"""A replica wave's input on Hadoop: one manifest file per map task, on its planned host.

Under the voted schemes a replica job ("wave") reads a folder holding one small manifest
file per map task, the replica lines of the replicas it runs (:mod:`dirft.contract.manifest`),
with Hadoop Streaming's default ``TextInputFormat``. A file smaller than a block is one
split whose location is the host of its block, and the MapReduce ApplicationMaster asks
YARN for a container on that host. So each file is written straight to its map task's
planned host's DataNode with replication 1 (:func:`~dirft.storage.placing.create_on`):
its only block, and the split's only location, is there. A file that cannot be placed so
(its group has no real planned host, no DataNode address is known, the DataNode refused)
is written through the NameNode as any file (default replication, the NameNode's
placement); :meth:`ManifestWriter.summary` says how many and why, for the report.

Map numbering: Hadoop's job submitter numbers map tasks by split length, largest first
(``JobSubmitter.writeOldSplits``; on the 3-worker cluster files of equal length kept the
folder's name order, ``tests/fixtures/locality/RECORDED.md``), so file *i* is made one byte
longer than file *i + 1* (:func:`manifest_files`): map task *i* is file *i* whatever order
equal lengths would get. The replica still registers with the attempt id Hadoop gave it.

A file of one copy is lost with its host's DataNode, and with it the input of the attempt
Hadoop re-runs when that host is lost (``BlockMissingException``), which re-emits what the
lost attempt emitted. So once the wave's job is submitted (its splits, and their one
location each, are fixed then: ``JobSubmitter`` computes them before it prints the job id),
each file placed so is given :data:`SPREAD` copies (``SETREPLICATION``; the NameNode makes
the others within seconds): :meth:`ManifestWriter.spreading`.
"""

from __future__ import annotations

import posixpath
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from dirft.contract.manifest import ReplicaLine, to_line
from dirft.errors import DirftError
from dirft.storage.hdfs import hdfs_path
from dirft.storage.placing import create_on, datanode_addresses

#: Manifest files written at once: each write is three WebHDFS round trips (``CREATE`` at
#: the NameNode, the ``PUT`` to the DataNode, ``GET_BLOCK_LOCATIONS``) and mostly waits, on
#: the DataNode's close above all (its ``DFSClient`` polls the NameNode until the block
#: is complete, from 400 ms on: ``dfs.client.block.write.locateFollowingBlock.initial.delay.ms``);
#: one after the other, 8 files took 3.3 to 3.5 s of the submitting side on the single node.
WRITERS = 8

#: Copies of a wave's manifest files once its job is submitted (at most one per DataNode).
SPREAD = 3


def manifest_files(groups: list) -> list[bytes]:
    """The bytes of each map task's manifest file: ``groups[i]`` (replica lines, or any
    entry :func:`~dirft.contract.manifest.to_line` takes) one JSON line each, the last
    line space-padded (JSON ignores trailing blanks) so that file *i* is exactly one byte
    longer than file *i + 1* (module doc). Every group must be non-empty."""
    texts = ["".join(to_line(entry) + "\n" for entry in group) for group in groups]
    longest = max((len(t) + i for i, t in enumerate(texts)), default=0)
    return [(t[:-1] + " " * (longest - i - len(t)) + "\n").encode()
            for i, t in enumerate(texts)]


def manifest_path(folder: str, index: int) -> str:
    """The HDFS path of map task ``index``'s manifest file in a wave's ``folder``: padded,
    so the folder's listing, which orders Hadoop's map tasks, puts map *i* at *i*."""
    return posixpath.join(folder, f"map-{index:05d}.txt")


class ManifestWriter:
    """Writes the waves' manifest files on ``storage`` (an
    :class:`~dirft.storage.hdfs.HdfsStorage`; another storage gets plain writes).

    ``blocks_by_path``: the input files' blocks (``{path: blocks}``), whose hosts are the
    planned hosts and whose files tell the DataNodes' addresses
    (:func:`~dirft.storage.placing.datanode_addresses`, asked once, at the first write).
    """

    def __init__(self, storage, blocks_by_path: dict) -> None:
        self.storage, self.blocks_by_path = storage, blocks_by_path
        self.addresses: dict | None = None
        self.unknown = ""  # why DataNode addresses are missing ("" if the NameNode said)
        self.placed: list[dict] = []  # per file: wave, map, planned host, block hosts, how

    def write_wave(self, folder: str, groups: list, hosts: list) -> int:
        """Write ``groups[i]`` (replica lines) as ``folder/map-0000i.txt`` on the DataNode
        of ``hosts[i]`` ("" for none), up to :data:`WRITERS` files at once (each file is
        one file whatever the order: the folder's listing, not the writes, orders the map
        tasks); return the largest file's length in bytes. Raises :class:`DirftError` if
        even the NameNode's write fails."""
        wave = len({p["wave"] for p in self.placed})
        files = manifest_files(groups)
        if any(hosts):
            self._address(next(h for h in hosts if h))  # asked once, before the writers
        paths = [manifest_path(folder, i) for i in range(len(files))]
        with ThreadPoolExecutor(max_workers=min(WRITERS, len(files)) or 1) as pool:
            hows = list(pool.map(self._write, paths, files, hosts))
        self.placed += [{"wave": wave, "map": index, "planned": host, "how": how,
                         "folder": folder} for index, (host, how) in enumerate(zip(hosts, hows))]
        return max(map(len, files), default=0)

    def _write(self, path: str, data: bytes, host: str) -> str:
        """Write one file; return ``"datanode"`` if its block is on ``host`` (checked
        with the NameNode), else why it went through the NameNode."""
        address = self._address(host) if host else None
        if address is None:
            self.storage.write_bytes(path, data)
            return "namenode: " + (self.unknown or f"no DataNode address for host {host}"
                                   if host else "no planned host")
        try:
            create_on(self.storage, path, data, address)
            on = {h for b in self.storage.blocks(path, len(data), 0) for h in b.hosts}
        except DirftError as err:
            self.storage.write_bytes(path, data)
            return f"namenode: {err}"
        return "datanode" if host in on else \
            f"namenode: written through {address}, its block is on {', '.join(sorted(on))}"

    def _address(self, host: str) -> str | None:
        if self.addresses is None:
            if not hasattr(self.storage, "client"):
                self.addresses, self.unknown = {}, "the storage is not WebHDFS"
            else:
                files = [(p, max((b.offset + b.length for b in bs), default=0))
                         for p, bs in self.blocks_by_path.items()]
                wanted = {h for bs in self.blocks_by_path.values() for b in bs for h in b.hosts}
                self.addresses, self.unknown = datanode_addresses(self.storage, files, wanted)
        return self.addresses.get(host)

    def spreading(self, folder: str, on_event):
        """``on_event`` (a wave's launcher callback, ``(running, event)``) that, at the
        wave's ``("job", id)`` event, starts giving every file of ``folder`` placed on one
        DataNode :data:`SPREAD` copies (at most one per known DataNode) on a thread of its
        own (module doc), then passes every event on."""
        def spread_then(running, event) -> None:
            if event[0] == "job":
                threading.Thread(target=self._spread, args=(folder,), daemon=True,
                                 name="dirft-manifest-copies").start()
            on_event(running, event)
        return spread_then

    def _spread(self, folder: str) -> None:
        """Raise the replication of ``folder``'s files placed on a DataNode; a failure is
        logged only (a re-run attempt that cannot read its file fails, and the runner then
        commits with its commit job)."""
        copies = min(SPREAD, len(set((self.addresses or {}).values())))
        paths = [manifest_path(folder, p["map"]) for p in self.placed
                 if p["how"] == "datanode" and p.get("folder") == folder]
        for path in paths if copies > 1 else ():
            try:
                self.storage.client.set_replication(hdfs_path(path), copies)
            except Exception as err:  # noqa: BLE001 - only a re-run's input is at stake
                print(f"dirft: could not give manifest file {path} {copies} copies: "
                      f"{type(err).__name__}: {err}", file=sys.stderr, flush=True)

    def summary(self) -> dict:
        """For the report: ``{"map_tasks", "on_planned_host", "placed_by_namenode",
        "why"}`` over every file written (``why``: each distinct reason a file went
        through the NameNode, with how many files)."""
        fallbacks = Counter(p["how"][len("namenode: "):] for p in self.placed
                            if p["how"] != "datanode")
        return {"map_tasks": len(self.placed),
                "on_planned_host": len(self.placed) - sum(fallbacks.values()),
                "placed_by_namenode": sum(fallbacks.values()), "why": dict(fallbacks)}


def replica_line(job_id: str, plan, blocks_by_path: dict, stored: dict, task: int,
                 replica: int, host: str) -> ReplicaLine:
    """The manifest line of ``replica`` of ``task``: its split, sub-splits, the blocks the
    split touches with their hosts (every block of a compressed file, ``stored``:
    ``{path: Stored}``), and ``host``, its planned host ("" for none)."""
    split, packed = plan.tasks[task].split, stored.get(plan.tasks[task].split.path)
    blocks = [[b.offset, b.length, list(b.hosts)] for b in blocks_by_path.get(split.path, ())
              if packed or (b.offset < split.end + 1 and b.offset + b.length > split.start)]
    size = max([split.end] + [b.offset + b.length for b in blocks_by_path.get(split.path, ())])
    return ReplicaLine(job_id, task, replica, host, split.path, split.start, split.length,
                       size, [[s.start, s.length] for s in plan.tasks[task].subsplits],
                       blocks, *(packed or ("", 0)))
