"""A streaming mapper wrapper that gives plain Hadoop one planned fault, keyed on its attempt id.

Shipped with ``-files`` to a plain ``hadoop jar`` streaming job by :mod:`bench.hadoop_recovery`
and run by the map task as::

    python3 fault_mapper.py --mode MODE --task K --at 0.5 --marker DIR -- MAPPER [ARGS...]

It runs ``MAPPER`` as its child and feeds it the split's records (its own standard input). In
the attempt that Hadoop Streaming names ``mapreduce_task_attempt_id`` = ``attempt_…_m_<K>_0``
(map task K, first attempt) and in no other, once it has fed ``--at`` of the split's bytes
(``mapreduce_map_input_length``, which Hadoop's MapTask sets for a file split) it:

* ``hang``: SIGSTOPs the mapper and itself (the attempt makes no more progress: Hadoop's
  speculation or ``mapreduce.task.timeout`` must find it);
* ``kill``: SIGKILLs the mapper and itself (the attempt fails: exit 137; Hadoop re-runs it);
* ``silent``: flips the low bit of one byte of the next whole output line (the attempt
  succeeds and Hadoop commits the wrong line);
* ``off``: nothing (the fault-free job runs through the same wrapper).

Before striking it writes ``DIR/<attempt id>.fired`` (one JSON line: mode, bytes fed, host,
time), the marker that says the planned fault fired; a silent fault also adds
``reporter:counter:dirft-bench,faults_fired,1`` on stderr (Hadoop's counter protocol for
streaming, kept in the job's counters because that attempt succeeds). Standard library only:
it runs with the cluster's ``python3``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ATTEMPT = re.compile(r"^attempt_\d+_\d+_([mr])_(\d+)_(\d+)$")
SEPARATORS = frozenset(b"\t\n\r")
CHUNK = 65536
MODES = ("off", "hang", "kill", "silent")


def parse_attempt(attempt_id: str) -> tuple[str, int, int]:
    """``attempt_<cluster>_<job>_<m|r>_<task>_<attempt>`` -> (``"m"``/``"r"``, task, attempt).

    The form of Hadoop's ``TaskAttemptID.toString``. Raises ValueError for anything else.
    """
    match = ATTEMPT.match(attempt_id or "")
    if not match:
        raise ValueError(f"not a Hadoop task attempt id: {attempt_id!r}")
    return match.group(1), int(match.group(2)), int(match.group(3))


def is_target(attempt_id: str, task: int, attempt: int = 0) -> bool:
    """True if ``attempt_id`` is attempt ``attempt`` of map task ``task`` (the planned fault's
    victim); re-runs and speculative attempts (attempt >= 1) and reduces are never hit."""
    kind, number, tries = parse_attempt(attempt_id)
    return kind == "m" and number == task and tries == attempt


def flip_byte(line: bytes) -> bytes:
    """``line`` with the low bit of its first flippable byte inverted: a byte that is not a
    tab, newline or carriage return and does not become one (so the output keeps its lines
    and fields: one wrong line, not two). Returns ``line`` unchanged if no byte qualifies."""
    for i, byte in enumerate(line):
        if byte not in SEPARATORS and byte ^ 1 not in SEPARATORS:
            return line[:i] + bytes([byte ^ 1]) + line[i + 1:]
    return line


def threshold(split_length: int, at: float) -> int:
    """Bytes to feed before the fault strikes: ``at`` (0..1) of the split, at least 1."""
    if not 0 <= at <= 1:
        raise ValueError(f"--at {at} is not within 0..1")
    return max(1, int(split_length * at))


def write_marker(directory: str, attempt_id: str, mode: str, fed: int) -> None:
    """Write ``directory/<attempt_id>.fired``: the fault fired (JSON: mode, bytes, host, time)."""
    record = {"attempt": attempt_id, "mode": mode, "bytes_fed": fed,
              "host": socket.gethostname(), "time": time.time()}
    path = os.path.join(directory, f"{attempt_id}.fired")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


class Silent:
    """Copies the mapper's output to ours; once ``armed`` is set, flips one byte of the
    next whole line (once). ``flipped`` says whether it did."""

    def __init__(self, source, sink) -> None:
        self.source, self.sink = source, sink
        self.armed, self.flipped = threading.Event(), False

    def run(self) -> None:
        """Copy line by line until the mapper's output ends."""
        for line in iter(self.source.readline, b""):
            if self.armed.is_set() and not self.flipped:
                line, self.flipped = flip_byte(line), True
            self.sink.write(line)
        self.sink.flush()


def strike(mode: str, child: subprocess.Popen, silent: Silent | None) -> None:
    """Carry out ``mode`` on the mapper ``child`` and this process (module doc)."""
    if mode == "silent":
        silent.armed.set()
        print("reporter:counter:dirft-bench,faults_fired,1", file=sys.stderr, flush=True)
    elif mode == "hang":
        os.kill(child.pid, signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)
    elif mode == "kill":
        os.kill(child.pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def feed(child: subprocess.Popen, limit: int | None, fire) -> None:
    """Copy our standard input to the mapper; call ``fire(bytes_fed)`` once ``limit`` bytes
    went through (never if ``limit`` is None)."""
    fed, source = 0, sys.stdin.buffer
    for chunk in iter(lambda: source.read1(CHUNK), b""):
        child.stdin.write(chunk)
        fed += len(chunk)
        if limit is not None and fed >= limit:
            child.stdin.flush()
            fire(fed)
            limit = None
    child.stdin.close()


def parse(argv: list | None) -> argparse.Namespace:
    """The command line (module doc)."""
    p = argparse.ArgumentParser(prog="fault_mapper.py")
    p.add_argument("--mode", choices=MODES, default="off")
    p.add_argument("--task", type=int, default=0, help="map task hit (Hadoop's number)")
    p.add_argument("--at", type=float, default=0.5, help="share of the split fed first")
    p.add_argument("--marker", default="", help="directory for the fired marker")
    p.add_argument("mapper", nargs=argparse.REMAINDER, help="-- MAPPER [ARGS...]")
    args = p.parse_args(argv)
    args.mapper = args.mapper[1:] if args.mapper[:1] == ["--"] else args.mapper
    if not args.mapper:
        p.error("no mapper command after --")
    return args


def main(argv: list | None = None) -> int:
    """Run the mapper under the planned fault; return its exit status."""
    args = parse(argv)
    attempt_id = os.environ.get("mapreduce_task_attempt_id", "")
    hit = args.mode != "off" and is_target(attempt_id, args.task)
    limit = threshold(int(os.environ["mapreduce_map_input_length"]), args.at) if hit else None
    out = subprocess.PIPE if hit and args.mode == "silent" else None
    child = subprocess.Popen(args.mapper, stdin=subprocess.PIPE, stdout=out)
    silent = Silent(child.stdout, sys.stdout.buffer) if out else None
    copier = threading.Thread(target=silent.run, daemon=True) if silent else None
    if copier:
        copier.start()

    def fire(fed: int) -> None:
        if args.marker:
            write_marker(args.marker, attempt_id, args.mode, fed)
        strike(args.mode, child, silent)

    feed(child, limit, fire)
    status = child.wait()
    if copier:
        copier.join()
    return status


if __name__ == "__main__":
    sys.exit(main())
