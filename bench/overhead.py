"""What the layer costs: one replica under dirft against the same programs run bare.

Side by side, on the same 64 MiB split:

* ``job``: a ``dirft streaming`` job with ``dirft.scheme=none`` (one replica, R = 1, no
  fault) on a 1 node x 1 slot cluster, map-only (``-reducer NONE``); the report's
  ``map_seconds`` (planning, voting service, replica process, reads, mapper, hashing,
  commit, reports: everything up to the map stage's end);
* ``bare``: the same mapper (and combiner) without dirft: ``cat split | mapper > file``,
  or, with a combiner, ``cat split | mapper > tmp; sort … tmp | combiner > file``, the
  sort being the very command the runtime runs;
* ``phase``: :func:`dirft.runtime.mapphase.run_map_phase` called in this process (the
  runtime's work for one phase without process start, service or runner).

:func:`breakdown` then times the pieces in-process (process start and imports, reads,
normalizing and hashing, voting round trips, job setup), each against its bare
counterpart where there is one.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.common import median, timed
from bench.response import BIG, HERE, JOB_TIMEOUT_S

CHUNK = 1 << 20
PIPE_READ = 1 << 16  # what one read1() of a pipe returns at most on Linux


@dataclass(frozen=True)
class Task:
    """A map task to compare: ``name``, mapper and combiner (argv lists; None: no
    combiner) as run from :data:`bench.response.HERE`, and the ``-mapper``/``-combiner``
    strings of the same programs for ``dirft streaming``."""

    name: str
    mapper: list
    combiner: list | None
    mapper_cmd: str
    combiner_cmd: str | None


def tasks() -> dict[str, Task]:
    """The tasks compared: ``cat`` (worst case: no work but the layer's) and the word
    count map task with its combiner (the response-time job's task)."""
    wc = [sys.executable, "wordcount.py"]
    return {
        "cat": Task("cat", ["cat"], None, "cat", None),
        "wordcount": Task("wordcount", wc + ["--mapper"], wc + ["--combiner"],
                          "python wordcount.py --mapper", "python wordcount.py --combiner"),
    }


def task_env() -> dict:
    """The environment the runtime forces on tasks (C locale, fixed hash seed)."""
    return {**os.environ, "LC_ALL": "C", "PYTHONHASHSEED": "0"}


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished, waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_job(task: Task, input_path: str, workdir: str) -> float:
    """Run ``task`` as a one-replica dirft job; return its ``map_seconds``."""
    out_parent = tempfile.mkdtemp(prefix="ovh-", dir=workdir)
    try:
        argv = [sys.executable, "-m", "dirft.cli", "streaming", "-input", input_path,
                "-output", os.path.join(out_parent, "out"), "-mapper", task.mapper_cmd,
                "-reducer", "NONE", "-files", os.path.join(HERE, "wordcount.py"), "--json"]
        argv += ["-combiner", task.combiner_cmd] if task.combiner_cmd else []
        for define in (f"dirft.scheme=none", "dirft.nodes=1", "dirft.slots.per.node=1",
                       f"dfs.blocksize={BIG}", f"dirft.local.dir={out_parent}",
                       f"dirft.split.maxsize={BIG}"):
            argv += ["-D", define]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"overhead job failed: {done.stderr.strip()[-300:]}")
        return json.loads(done.stdout)["map_seconds"]
    finally:
        shutil.rmtree(out_parent, ignore_errors=True)


def run_bare(task: Task, input_path: str, workdir: str) -> float:
    """Run ``task``'s programs without dirft (a pipe in, a file out); return seconds."""
    out = os.path.join(workdir, "bare.out")
    start = time.perf_counter()
    try:
        if task.combiner is None:
            _pipe(input_path, task.mapper, out)
        else:
            _pipe(input_path, task.mapper, out + ".map")
            _sort_into(out + ".map", task.combiner, out, workdir)
        return time.perf_counter() - start
    finally:
        for path in (out, out + ".map"):
            if os.path.exists(path):
                os.unlink(path)


def _pipe(input_path: str, argv: list, out: str) -> None:
    """``cat input_path | argv > out``, in :data:`HERE`. Raises RuntimeError on failure."""
    with open(out, "wb") as sink:
        cat = subprocess.Popen(["cat", input_path], stdout=subprocess.PIPE)
        prog = subprocess.Popen(argv, stdin=cat.stdout, stdout=sink, cwd=HERE,
                                env=task_env())
        cat.stdout.close()
        if prog.wait() != 0 or cat.wait() != 0:
            raise RuntimeError(f"bare {argv} failed")


def _sort_into(unsorted: str, combiner: list, out: str, workdir: str) -> None:
    """``sort`` as the runtime sorts map output for a combiner, piped into ``combiner``."""
    sort = ["sort", "-t", "\t", "-k1,1", "-S", str(256 << 20), "-T", workdir, unsorted]
    with open(out, "wb") as sink:
        sorter = subprocess.Popen(sort, stdout=subprocess.PIPE, env=task_env())
        prog = subprocess.Popen(combiner, stdin=sorter.stdout, stdout=sink, cwd=HERE,
                                env=task_env())
        sorter.stdout.close()
        if prog.wait() != 0 or sorter.wait() != 0:
            raise RuntimeError(f"bare sort | {combiner} failed")


def run_phase(task: Task, input_path: str, workdir: str) -> float:
    """Run one phase with the runtime's :func:`run_map_phase` in this process; seconds."""
    from dirft.runtime.mapphase import run_map_phase

    final = os.path.join(workdir, "phase", "out")
    start = time.perf_counter()
    with open(os.path.join(workdir, "phase.log"), "wb") as log:
        run_map_phase(input_path, 0, os.path.getsize(input_path), task.mapper,
                      task.combiner, final, task_env(), HERE, log, 256 << 20)
    seconds = time.perf_counter() - start
    shutil.rmtree(os.path.dirname(final), ignore_errors=True)
    return seconds


# --------------------------------------------------------------------------- breakdown

def breakdown(task: Task, input_path: str, workdir: str, reps: int = 3) -> dict:
    """Time the layer's pieces in-process for ``task``; return ``{piece: seconds}``.

    Each piece is the median over ``reps`` of (dirft's way − the bare way) where there is
    a bare way: ``process start`` (a replica process's interpreter and imports: all extra),
    ``job setup`` (plan, voting service start and stop), ``round trips`` (register, ask for
    work, report: three signed calls), ``reads`` (``read_records`` against plain reads of
    the split), ``normalize+hash`` (``LineNormalizer`` and the runtime's ``_Sink`` with
    SHA-256 against plain writes of what the task commits: the mapper's output, or with a
    combiner the combiner's output), and with a combiner ``normalize check`` (the
    runtime's :func:`~dirft.runtime.mapphase.normalize_file` of the mapper's output file
    before the sort; bare: nothing).
    """
    output = _mapper_output(task, input_path, workdir)
    final = output
    if task.combiner is not None:
        final = os.path.join(workdir, "combined.out")
        _sort_into(output, task.combiner, final, workdir)
    pieces = {"process start": _process_start, "job setup": _job_setup,
              "round trips": _round_trips,
              "reads": lambda: _reads(input_path),
              "normalize+hash": lambda: _normalize_hash(final, workdir)}
    if task.combiner is not None:
        pieces["normalize check"] = lambda: _normalize_check(output, workdir)
    try:
        return {name: median(piece() for _ in range(reps)) for name, piece in pieces.items()}
    finally:
        for path in {output, final}:
            os.unlink(path)


def _mapper_output(task: Task, input_path: str, workdir: str) -> str:
    """Run the bare mapper once; return the path of its output (what the runtime hashes
    for a map-only task, or normalizes before the combiner's sort)."""
    path = os.path.join(workdir, "mapper.out")
    _pipe(input_path, task.mapper, path)
    return path


def _process_start() -> float:
    """Seconds to start a Python with the replica runtime's imports and exit."""
    argv = [sys.executable, "-c", "import dirft.runtime.replica"]
    return timed(lambda: subprocess.run(argv, check=True))


def _job_setup() -> float:
    """Seconds to plan a one-task job and start and stop a voting service."""
    from dirft.config import JobConf
    from dirft.core.planner import InputFile
    from dirft.runners.base import plan_job
    from dirft.service.server import VotingService

    def setup() -> None:
        conf = JobConf.load([], ["dirft.scheme=none", "dirft.nodes=1"])
        plan_job([InputFile("/bench/input", 64 << 20)], conf)
        with VotingService(os.urandom(32), "job_bench_0001", lambda m: {}):
            pass
    return timed(setup)


def _round_trips() -> float:
    """Seconds for one replica's three calls (register, request, request with report)."""
    from bench.service import JOB, _report, trivial_dispatcher
    from dirft.service.client import VotingClient
    from dirft.service.keys import replica_key
    from dirft.service.server import VotingService

    secret = os.urandom(32)
    with VotingService(secret, JOB, trivial_dispatcher) as service:
        def calls() -> None:
            with VotingClient(service.url, replica_key(secret, 0, 0), JOB, 0, 0) as client:
                client.call("register", host="node0", pid=os.getpid())
                client.call("request")
                client.call("request", report=_report(0))
        return timed(calls)


def _reads(input_path: str) -> float:
    """Extra seconds of ``read_records`` over the whole split against plain reads."""
    from dirft.records import read_records

    size = os.path.getsize(input_path)
    with open(input_path, "rb") as f:
        dirft_way = timed(lambda: sum(len(c) for c in read_records(f, 0, size)))
    with open(input_path, "rb") as f:
        bare_way = timed(lambda: sum(len(c) for c in iter(lambda: f.read(CHUNK), b"")))
    return dirft_way - bare_way


def _normalize_hash(output: str, workdir: str) -> float:
    """Extra seconds of normalizing and hashing ``output`` (pipe-sized chunks) while
    writing it, as the runtime does, against writing it plainly."""
    from dirft.records import LineNormalizer
    from dirft.runtime.mapphase import _Sink

    with open(output, "rb") as f:
        chunks = list(iter(lambda: f.read(PIPE_READ), b""))
    target = os.path.join(workdir, "sink.out")

    def dirft_way() -> None:
        with open(target, "wb") as out:
            sink, normalizer = _Sink(out), LineNormalizer()
            for chunk in chunks:
                sink.write(normalizer.feed(chunk))
            sink.write(normalizer.close())
            sink.sha.hexdigest()

    def bare_way() -> None:
        with open(target, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
    extra = timed(dirft_way) - timed(bare_way)
    os.unlink(target)
    return extra


def _normalize_check(output: str, workdir: str) -> float:
    """Seconds of :func:`~dirft.runtime.mapphase.normalize_file` over a copy of the mapper's
    ``output`` (the copy is not timed): with a combiner, the runtime's one pass over the
    map output that the bare pipeline does not make."""
    from dirft.runtime.mapphase import normalize_file

    raw, normalized = os.path.join(workdir, "check.raw"), os.path.join(workdir, "check.out")
    shutil.copyfile(output, raw)
    try:
        return timed(lambda: normalize_file(raw, normalized))
    finally:
        for path in (raw, normalized):
            if os.path.exists(path):
                os.unlink(path)
