"""The replica task runtime as a Hadoop Streaming mapper (the Hadoop runner's entry modes).

``python -m dirft.task --manifest-stdin [--spec dirft-job.json] [--node HOST]``
    The map of a replica job. Hadoop hands the mapper its manifest lines on stdin (its
    manifest file under the voted schemes, ``NLineInputFormat`` lines under se and none);
    ``HOST`` defaults to the container's ``NM_HOST`` (:func:`node_name`). Mode ``vote`` (schemes dirft, frft, bft): the line's replica
    registers with the voting service from the host it really runs on and works as under
    the local runner (:class:`~dirft.runtime.replica.Replica`), reading its sub-splits from
    HDFS and committing partial outputs there; a map task given several lines
    (``dirft.hadoop.replicas.per.map``) runs each line's replica in its own process
    (:mod:`dirft.runtime.container`). A replica registers with the attempt
    id Hadoop gave it (``mapreduce_task_attempt_id``). A later attempt of the same map task
    (Hadoop re-running a failed replica, or a lost node's attempt) registers no replica:
    re-execution is the core's decision. Hadoop voids the earlier attempt's output and
    counters, so the re-run attempt asks the voting service (a ``reemit`` naming its lines
    and attempt) which decided tasks had one of its lines as emitter, re-emits their
    outputs verified against the signatures the driver names, counts ``dirft-emit`` for
    each and ends with status 0 (:func:`re_emit`). When the job's wave carries the
    reduce, the replica may be answered ``emit`` instead of ``exit`` once its task is
    decided: it then writes the decided outputs, re-hashed, to stdout (Hadoop's shuffle)
    and adds 1 to the counter ``dirft-emit/task-NNNNN``; a mismatch or any failure exits
    3, so Hadoop discards the attempt's output and counters. Mode ``direct`` (se, none):
    the line's split is mapped once and its output written to stdout, for Hadoop's own
    shuffle; the replica id is the Hadoop attempt number.

``python -m dirft.task --emit-verified [--spec dirft-job.json]``
    The map of the commit job: each stdin line names a decided map task; its winning
    outputs are streamed to stdout in sub-split order while their SHA-256 is recomputed. A
    copy that no longer matches its signature fails the attempt (exit 3), so Hadoop
    discards what it wrote and no changed byte reaches the reducers.

Exit statuses: 0 done (in vote mode also when the user's program failed and the voting
service was told: a replica's failure is the layer's business, not Hadoop's), 1 a bad job
spec, manifest or storage, or (direct mode) the user's program failed, 2 the voting service
could not be reached or refused us, 3 a decided output changed, 75 an emulated crash.
Everything the task knows comes from files shipped with ``-files``: the job spec
(:data:`SPEC_NAME`) and the job's enrollment secret (:data:`SECRET_NAME`), under which a
replica offers its own fresh key once (:mod:`dirft.service.keys`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import os
import signal
import socket
import sys

from dirft.config.values import read_value
from dirft.contract.hadoop import EMIT_GROUP, attempt_number, attempt_of, emit_counter
from dirft.contract.manifest import CommitLine, ReplicaLine, closest_copy, read_lines
from dirft.contract.spec import SPEC_NAME, JobSpec
from dirft.errors import DirftError, TaskError
from dirft.records import hadoop_stream
from dirft.runtime.container import Watchdog, supervise
from dirft.runtime.neighbours import EndedNeighbours
from dirft.runtime.reaper import become_subreaper, end_descendants
from dirft.runtime.replica import EmulatedCrash, Replica, run_replica
from dirft.service.client import VotingClient
from dirft.service.keys import KEY_BYTES, lock_process
from dirft.storage import open_storage
from dirft.units import CHUNK
from fault_injector.plan import EMULATED_CRASH_EXIT

def main(argv: list) -> int:
    """Parse the entry mode's arguments and run it; return the exit status (module doc)."""
    whole_lines(sys.stderr)
    parser = argparse.ArgumentParser(prog="python -m dirft.task")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--manifest-stdin", action="store_true")
    mode.add_argument("--emit-verified", action="store_true")
    parser.add_argument("--spec", default=SPEC_NAME)
    parser.add_argument("--node", default=node_name())
    args = parser.parse_args(argv)
    try:
        spec = JobSpec.load(args.spec)
        storage = open_storage(spec.storage)
        if args.emit_verified:
            return emit_verified(read_lines(sys.stdin, CommitLine), storage,
                                 shuffle_stream(spec, sys.stdout.buffer))
        return _ending_descendants(lambda: run_lines(
            spec, storage, read_lines(sys.stdin, ReplicaLine), args.node, args.spec))
    except (DirftError, OSError, ValueError) as err:
        return _task_failed(err)


def _task_failed(err: Exception) -> int:
    print(f"dirft: task failed: {type(err).__name__}: {err}", file=sys.stderr)
    return 1


def run_forked(spec: JobSpec, node: str, spec_path: str, line: ReplicaLine) -> int:
    """What ``python -m dirft.task --manifest-stdin --spec SPEC --node NODE`` does with
    the one line ``line``, in a replica process the map task's supervisor forked
    (:func:`dirft.runtime.container.supervise`): a storage client of its own (no
    connection shared with the supervisor), then :func:`run_lines` as a child subreaper.
    Returns the exit status (module doc)."""
    try:
        storage = open_storage(spec.storage)
        return _ending_descendants(lambda: run_lines(spec, storage, [line], node, spec_path))
    except (DirftError, OSError, ValueError) as err:
        return _task_failed(err)


def whole_lines(stream) -> None:
    """Make the text ``stream`` (this process's stderr) write each line in one ``write``
    call, newline included: Python's stderr writes through, so ``print`` makes two calls
    (the text, then the newline), and the replicas of one map task share the attempt's
    stderr, where another's ``reporter:counter:`` line could land between them. Hadoop
    Streaming reads ``reporter:`` lines only at a line's start, so an emitter's
    ``dirft-emit`` counter was lost that way (and the runner ran a commit job). A stream
    that is no :class:`io.TextIOWrapper` (a test's) is left as it is."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(line_buffering=True, write_through=False)


def node_name(env=os.environ) -> str:
    """The host this map attempt runs on as YARN knows it: ``NM_HOST``, which the
    NodeManager puts in every container's environment (the name HDFS and YARN match a
    split's locations against), else ``socket.gethostname()``."""
    return env.get("NM_HOST") or socket.gethostname()


def _ending_descendants(body) -> int:
    """Run ``body()`` (returns the exit status) as a child subreaper: every process a
    mapper (or a replica under the supervisor) leaves behind ends when it returns, or
    when Hadoop ends the attempt with SIGTERM (:mod:`dirft.runtime.reaper`)."""
    become_subreaper()
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    try:
        return body()
    finally:
        end_descendants()


def _end_on_sigterm(signum, frame) -> None:
    """SIGTERM (Hadoop ending the attempt): kill every descendant, then exit 143."""
    end_descendants()
    os._exit(143)


def run_lines(spec: JobSpec, storage, lines: list, node: str,
              spec_path: str = SPEC_NAME) -> int:
    """Run the manifest lines' replicas; return the exit status. In mode ``vote``, several
    lines (replicas per map task) run at once, each in its own process forked from this
    one (:func:`dirft.runtime.container.supervise`, :func:`run_forked`), made undumpable
    first (a replica holds its key from its start: no moment for another process of the
    user to open its memory); else each line in turn, the worst status.
    Raises TaskError for a line of another job."""
    for line in lines:
        if line.job != spec.job_id:
            raise TaskError(f"manifest line of job {line.job} given to job {spec.job_id}")
    if spec.mode != "direct" and attempt_number() > 0:
        return re_emit(spec, storage, lines)
    if spec.mode != "direct" and len(lines) > 1:
        lock_process()  # inherited: each forked replica is undumpable from its start
        return supervise(lines, run=functools.partial(run_forked, spec, node, spec_path),
                         watchdog=Watchdog.of_job(spec.jobconf, spec.heartbeat_interval))
    codes = [0]
    for line in lines:
        print(f"dirft: {_placement(line, node)}", file=sys.stderr, flush=True)
        run = _run_direct if spec.mode == "direct" else _run_voting
        codes.append(run(spec, storage, line, node))
    return max(codes)


def _placement(line: ReplicaLine, node: str) -> str:
    """One log line: where this replica runs, where it was meant to, which copy is closest."""
    copy, local = closest_copy(line, line.start, node)
    where = f"a local copy on {copy}" if local else (f"the copy on {copy}" if copy
                                                      else "a copy WebHDFS picks")
    return (f"task {line.task} replica {line.replica} runs on {node} (planned: "
            f"{line.host or 'any host'}); its split starts in {where}")


def _run_voting(spec: JobSpec, storage, line: ReplicaLine, node: str) -> int:
    """Lock this process, draw a fresh key and enroll it under the job's enrollment
    secret with the first ``register`` (:mod:`dirft.service.keys`); then run the replica."""
    with open(spec.secret_file, "rb") as f:
        enrollment = f.read()
    lock_process()
    key = os.urandom(KEY_BYTES)
    with VotingClient(spec.service_url, key, spec.job_id, line.task, line.replica,
                      enrollment=enrollment) as client:
        replica = Replica(spec, line.task, line.replica, client, node, line.split(), storage,
                          attempt=attempt_of(), on_emit=_emitter(spec, line, storage),
                          on_reply=_reply_handler(line), ended=EndedNeighbours.from_env())
        return run_replica(replica, client, reported_failure_code=0)


def re_emit(spec: JobSpec, storage, lines: list) -> int:
    """A re-run attempt of a replica map task (attempt > 0; Hadoop voided the earlier
    attempt's output and counters): re-emit, re-hashed as an emitter does
    (:func:`emit_verified`), the decided outputs of every task whose emitter was one of
    ``lines`` (the :class:`ReplicaLine` s of this map task), as the driver names them in
    its answer to a ``reemit`` (:func:`_asked_emits`), then count ``dirft-emit`` = 1 for
    each; no replica registers (re-executing one is the voting service's decision).
    Returns 0 (also when the driver cannot be reached or refuses: nothing is re-emitted
    and the runner commits with its commit job), or 3 when a stored output no longer
    matches its signature; a failure while writing raises, so Hadoop discards a partial
    output."""
    records = _asked_emits(spec, lines)
    print(f"dirft: attempt {attempt_number()} of the map task of replicas "
          f"{', '.join(f'{x.task}/{x.replica}' for x in lines)} runs no replica (the core "
          f"re-executes); it re-emits task(s) {[r.task for r in records] or 'none'}",
          file=sys.stderr, flush=True)
    code = emit_verified(records, storage, shuffle_stream(spec, sys.stdout.buffer))
    if code == 0:
        for record in records:
            print(f"reporter:counter:{EMIT_GROUP},{emit_counter(record.task)},1",
                  file=sys.stderr, flush=True)
    return code


def _asked_emits(spec: JobSpec, lines: list) -> list:
    """Ask the voting service, as ``lines[0]`` with a fresh key under the job's enrollment
    secret (:mod:`dirft.service.keys`), what ``lines`` emitted; return a
    :class:`CommitLine` per task the driver names (``[path, SHA-256]`` outputs in
    sub-split order), [] if it cannot be asked, refuses, or answers out of form."""
    first = lines[0]
    try:
        with open(spec.secret_file, "rb") as f:
            enrollment = f.read()
        lock_process()  # the key signs the driver's answer: no process of the user reads it
        with VotingClient(spec.service_url, os.urandom(KEY_BYTES), spec.job_id, first.task,
                          first.replica, enrollment=enrollment) as client:
            answer = client.call("reemit", attempt=attempt_of(),
                                 lines=[[x.task, x.replica] for x in lines])
        asked = {x.task for x in lines}
        found = [CommitLine(spec.job_id, task, outputs) for task, outputs in answer["emits"]]
        if any(x.task not in asked for x in found):
            raise ValueError(f"the answer names tasks {[x.task for x in found]}")
        return found
    except (DirftError, OSError, ValueError, KeyError, TypeError) as err:
        print(f"dirft: task {first.task} replica {first.replica}: the voting service did "
              f"not say what this map task's replicas emitted ({type(err).__name__}: {err});"
              f" re-emitting nothing (the runner commits with its commit job)",
              file=sys.stderr, flush=True)
        return []


def _reply_handler(line: ReplicaLine):
    """Heartbeat hook: tell Hadoop how far we are (``reporter:status``, which also counts
    as progress against ``mapreduce.task.timeout``) and leave a map phase whose work the
    driver says is not needed any more."""
    def on_reply(reply: dict, beat, replica: Replica) -> None:
        print(f"reporter:status:dirft task {line.task} replica {line.replica} phase "
              f"{beat.phase}: {beat.progress:.0%}", file=sys.stderr, flush=True)
        if reply.get("action") == "exit":
            replica.leave_if_in_phase(0)
    return on_reply


def _emitter(spec: JobSpec, line: ReplicaLine, storage):
    """``on_emit``: write the task's decided outputs (``reply["outputs"]``: ``[path,
    SHA-256]`` per sub-split, in order) to stdout (:func:`shuffle_stream`), re-hashed, then count
    ``dirft-emit/task-NNNNN`` = 1. Any failure ends the process with status 3, so Hadoop
    discards the attempt's output and its counter (the runner then commits another way)."""
    def on_emit(reply: dict) -> None:
        try:
            code = emit_verified([CommitLine(line.job, line.task, reply["outputs"])],
                                 storage, shuffle_stream(spec, sys.stdout.buffer))
        except BaseException as err:  # noqa: BLE001 - any failure must fail the attempt
            print(f"dirft: task {line.task} replica {line.replica}: emitting the decided "
                  f"outputs failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            code = 3
        if code:
            os._exit(3)
        print(f"reporter:counter:{EMIT_GROUP},{emit_counter(line.task)},1", file=sys.stderr,
              flush=True)
    return on_emit


def _run_direct(spec: JobSpec, storage, line: ReplicaLine, node: str) -> int:
    replica = Replica(spec, line.task, attempt_number(), None, node, line.split(), storage)
    try:
        out = shuffle_stream(spec, sys.stdout.buffer)
        replica.run_direct(out, sys.stderr.buffer)
        out.flush()
        return 0
    except EmulatedCrash as err:
        print(f"dirft: task {line.task} attempt {replica.replica}: {err}", file=sys.stderr)
        return EMULATED_CRASH_EXIT


def shuffle_stream(spec: JobSpec, out):
    """``out`` (this mapper's stdout, which Hadoop Streaming splits into key and value
    with the user's ``stream.map.output.field.separator`` and
    ``stream.num.map.output.key.fields``) as the stored map output lines must be written to
    it for Hadoop to split them as it split the mapper's own lines
    (:func:`dirft.records.hadoop_stream`)."""
    separator = read_value(spec.jobconf, "stream.map.output.field.separator").encode()
    return hadoop_stream(out, separator,
                         read_value(spec.jobconf, "stream.num.map.output.key.fields"))


def emit_verified(lines: list, storage, out) -> int:
    """Stream each line's outputs to ``out`` re-hashing them; 3 at the first mismatch."""
    for line in lines:
        for path, signature in line.outputs:
            got = _copy_hashing(storage, path, out)
            if got != signature:
                print(f"dirft: map output {path} of task {line.task} no longer matches the "
                      f"signature its quorum decided ({got[:12]}… != {signature[:12]}…); the "
                      f"stored copy changed after the vote", file=sys.stderr)
                return 3
    out.flush()
    return 0


def _copy_hashing(storage, path: str, out) -> str:
    sha = hashlib.sha256()
    with storage.open_range(path, 0, 0) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            sha.update(chunk)
            out.write(chunk)
    return sha.hexdigest()
