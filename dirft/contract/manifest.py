"""Replica manifests: the input of the Hadoop runner's streaming jobs, one JSON line each.

On Hadoop each replica is one line of a manifest. Under the voted schemes each map task
of a wave reads a manifest file of its own, the lines of the replicas it runs
(:mod:`dirft.runners.hadoop_manifests`). Elsewhere (se, none, the commit job) one manifest
is read with ``NLineInputFormat``, k lines per map task
(``mapreduce.input.lineinputformat.linespermap``; blank lines fill a short group). Hadoop's
job submitter numbers map tasks by split length (docs/hadoop.md, 'Map task numbering'), so
:func:`manifest_bytes` pads the lines so that every split has the same length: then the
stable sort keeps line order and map task *i* gets lines *ik* to *ik + k - 1*. The replica still
reports the attempt id Hadoop gave it when it registers, and that id is what kills use.

A **replica line** names the job, the map task, the replica, the host the replica should
run on (one holding a copy of the split's block), the split's file, byte range and file
size, its sub-splits and the blocks it spans with their hosts. A **commit line** (the job that shuffles decided outputs to the reducers) names a map
task and, per sub-split in order, the committed output that won the vote and its SHA-256.

Streaming hands a mapper ``key<TAB>value`` for input formats other than ``TextInputFormat``;
the runner sets ``stream.map.input.ignoreKey=true`` and :func:`strip_key` drops a leading
``<offset><TAB>`` anyway. JSON never holds a raw tab, so the split is unambiguous.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from dirft.errors import InputError

_KEY = re.compile(r"^\d+\t")


@dataclass(frozen=True)
class ReplicaLine:
    """One replica's manifest line. Offsets and lengths in bytes.

    ``subsplits``: ``[[start, length], ...]`` in absolute offsets; ``blocks``:
    ``[[offset, length, [host, ...]], ...]`` of the blocks the split touches; ``host``: the
    block copy's host the replica should read (empty: no preference). A compressed file
    (``codec``: Hadoop's codec class name, ``stored_length``: its bytes on HDFS) has its
    range and sub-splits in decompressed bytes and lists all its blocks.
    """

    job: str
    task: int
    replica: int
    host: str
    path: str
    start: int
    length: int
    size: int
    subsplits: list
    blocks: list = field(default_factory=list)
    codec: str = ""
    stored_length: int = 0

    def split(self) -> dict:
        """The task entry the :class:`~dirft.runtime.replica.Replica` reads (with
        ``codec`` and ``stored_length`` for a compressed file)."""
        entry = {"index": self.task, "path": self.path, "start": self.start,
                 "length": self.length, "subsplits": [list(s) for s in self.subsplits]}
        if self.codec:
            entry.update(codec=self.codec, stored_length=self.stored_length)
        return entry

    def holders(self, offset: int) -> list[str]:
        """Hosts holding a copy of the block that contains byte ``offset``."""
        for start, length, hosts in self.blocks:
            if start <= offset < start + length:
                return list(hosts)
        return []


@dataclass(frozen=True)
class CommitLine:
    """One map task's decided output: ``outputs`` = ``[[path, sha256 hex], ...]``."""

    job: str
    task: int
    outputs: list


def to_line(entry) -> str:
    """The compact JSON line (no newline) of a :class:`ReplicaLine` or :class:`CommitLine`."""
    return json.dumps(asdict(entry), sort_keys=True, separators=(",", ":"))


def manifest_bytes(entries: list) -> bytes:
    """The manifest of ``entries``: one JSON line each (a blank line for None, which
    :func:`read_lines` skips), space-padded (JSON ignores trailing blanks) so that every
    ``NLineInputFormat`` split has one length and Hadoop numbers the map tasks in line
    order. The first line is one byte longer: ``NLineInputFormat.createFileSplit`` gives
    the first split ``length - 1`` bytes and starts every other one a byte early."""
    lines = ["" if e is None else to_line(e) for e in entries]
    width = max(map(len, lines), default=0)
    return "".join(line.ljust(width + (i == 0)) + "\n" for i, line in enumerate(lines)).encode()


def strip_key(text: str) -> str:
    """``text`` without a leading ``<digits><TAB>`` (the byte-offset key) and line end."""
    return _KEY.sub("", text.rstrip("\r\n"), count=1)


def parse_line(text: str, kind: type):
    """Parse one manifest line into ``kind`` (:class:`ReplicaLine` or :class:`CommitLine`).

    Raises :class:`InputError` naming the line's start when it is not a JSON object with
    exactly the fields of ``kind``.
    """
    body = strip_key(text)
    try:
        data = json.loads(body)
        return kind(**data)
    except (ValueError, TypeError) as err:
        raise InputError(f"manifest line {body[:80]!r} is not a {kind.__name__}: {err}; "
                         f"was the job submitted by this dirft version?") from None


def read_lines(stream, kind: type) -> list:
    """Every non-blank line of text ``stream`` parsed as ``kind`` (see :func:`parse_line`)."""
    return [parse_line(line, kind) for line in stream if strip_key(line).strip()]


def same_host(a: str, b: str) -> bool:
    """True if host names ``a`` and ``b`` name one machine (equal, or equal short names)."""
    return bool(a and b) and (a == b or a.split(".")[0] == b.split(".")[0])


def closest_copy(line: ReplicaLine, offset: int, host: str) -> tuple[str, bool]:
    """The block copy a replica on ``host`` should read byte ``offset`` from.

    Its own host if it holds a copy (a local read), else the manifest's preferred host if it
    holds one, else the first holder. Returns ``(host, is_local)``; ``("", False)`` when the
    blocks are unknown.
    """
    holders = line.holders(offset)
    for candidate in holders:
        if same_host(candidate, host):
            return candidate, True
    if line.host in holders:
        return line.host, False
    return (holders[0] if holders else ""), False
