"""Sort each reduce partition with GNU sort and pipe it into the user's reducer.

The second half of the reduce stage (see :mod:`dirft.shuffle`): :func:`run_reduce_stage`
partitions the map output (:mod:`dirft.shuffle.partition`), then per partition runs
``LC_ALL=C sort`` into the reducer argv, normalizes its stdout into a temporary part file,
and commits every part by rename only when all partitions succeeded.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import IO, Callable, Optional, Sequence

from dirft.config.values import default_value
from dirft.counters import Counters, StderrScanner
from dirft.errors import ConfigError, StorageError, TaskError, UsageError
from dirft.records import LineNormalizer
from dirft.shuffle.keys import DEFAULT_RULES, KeyRules
from dirft.shuffle.keysort import sort_file
from dirft.shuffle.replicated import ReduceIntegrity, VoteOutcome, reduce_voted
from fault_injector.reduce import OutputFlipper, flip_in_stream
from dirft.shuffle.partition import (
    MapOutput, commit_parts, partition_outputs, partition_path, remove_files,
    temp_part_path)
from dirft.units import CHUNK

_TAIL_IN_MESSAGE = 5       # stderr lines quoted in a TaskError


@dataclass
class ReduceResult:
    """What the reduce stage produced.

    ``counters``: all reducers' counters summed. ``output_bytes[p]`` / ``output_records[p]``:
    size in bytes and lines of ``part-p``. ``input_records``: map output lines read.
    ``partition_records[p]``: lines sorted into partition ``p``. ``statuses[p]``: the last
    ``reporter:status:`` of reducer ``p``, or None. Under reduce-side integrity
    (:mod:`dirft.shuffle.replicated`): ``reduce_runs[p]`` reducer replicas run for
    partition ``p``, ``void_votes`` ``{p: {replica: why}}`` and ``mismatched`` the partitions
    whose votes disagreed or had a void vote.
    """

    counters: Counters = field(default_factory=Counters)
    output_bytes: list[int] = field(default_factory=list)
    output_records: list[int] = field(default_factory=list)
    input_records: int = 0
    partition_records: list[int] = field(default_factory=list)
    statuses: list[Optional[str]] = field(default_factory=list)
    reduce_runs: list[int] = field(default_factory=list)
    void_votes: dict = field(default_factory=dict)
    mismatched: list[int] = field(default_factory=list)


def _sort_argv(sort_memory: int, work_dir: str, path: str,
               presorted: bool = False) -> list[str]:
    """Return the GNU sort command that orders ``path`` by key bytes (see module doc), or
    ``cat`` of ``path`` when :mod:`dirft.shuffle.keysort` has already sorted it."""
    if presorted:
        return [shutil.which("cat") or "cat", "--", path]
    sort = shutil.which("sort")
    if sort is None:
        raise TaskError("reduce stage: GNU sort was not found on PATH; install coreutils")
    return [sort, "-t", "\t", "-k1,1", "-S", f"{max(int(sort_memory), 1)}b",
            "-T", work_dir, "--", path]


def _stop(proc: Optional[subprocess.Popen]) -> None:
    """Terminate ``proc`` if it still runs and reap it (SIGTERM lets sort clean its temps)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
    if proc is not None:
        proc.wait()


def _close_pipes(proc: Optional[subprocess.Popen]) -> None:
    """Close our ends of ``proc``'s stdout and stderr pipes, if any."""
    for stream in (proc.stdout, proc.stderr) if proc is not None else ():
        if stream is not None:
            stream.close()


@dataclass
class _Job:
    """One partition's reduce: what to run, where to read and write."""

    partition: int
    source: str                       # the partition file (bytes)
    dest: str                         # the temporary part file
    reducer: Optional[Sequence[str]]  # argv, or None for the identity reducer
    env: dict
    cwd: Optional[str]
    sort_memory: int                  # bytes
    work_dir: str
    log_path: Optional[str]
    rules: KeyRules = DEFAULT_RULES
    verified: bool = False            # feed sort ourselves and hash the stream (replicas)
    shuffle_flip: Optional[int] = None  # fault injection: bit of the stream to invert
    output_flip: Optional[int] = None   # fault injection: bit of the output to invert
    exit_ok: bool = False             # stream.non.zero.exit.is.failure=false

    @property
    def command(self) -> str:
        """The reducer command as a shell would show it."""
        return shlex.join(self.reducer or ["cat"])


def _start_reducer(job: _Job, sort: subprocess.Popen) -> subprocess.Popen:
    """Start the reducer reading sort's stdout; TaskError if it cannot be started."""
    try:
        return subprocess.Popen(list(job.reducer), stdin=sort.stdout, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=job.env, cwd=job.cwd)
    except OSError as err:
        raise TaskError(
            f"reducer {job.command!r} of partition {job.partition} could not be started: "
            f"{err}; check the command and that it is on PATH") from err
    finally:
        sort.stdout.close()


def _drain_stderr(stream: IO[bytes], scanner: StderrScanner, errors: list) -> None:
    """Feed everything from ``stream`` to ``scanner`` (runs in a thread).

    Keeps reading after a failure (a log write that fails), so the reducer never blocks on
    a full stderr pipe; the first OSError is put in ``errors`` for the caller to raise.
    """
    while chunk := stream.read1(CHUNK):
        try:
            scanner.feed(chunk)
        except OSError as err:
            errors.append(err)
    try:
        scanner.close()
    except OSError as err:
        errors.append(err)


def _copy_output(stream: IO[bytes], dest: str, normalize: Optional[KeyRules],
                 flip: Optional[int] = None) -> tuple[int, int, str]:
    """Write ``stream`` to ``dest`` (a reducer's: split by ``normalize``'s reduce output
    keys and written ``key\\tvalue`` by a LineNormalizer; None: as it is).

    ``flip``: fault injection, a bit of the first non-empty output chunk inverted before it
    is hashed and written. Returns (records, bytes, SHA-256 hex) of what was written.
    """
    normalizer = None if normalize is None else LineNormalizer(
        normalize.reduce_output_fields, normalize.reduce_output_separator, True)
    corrupt, sha = OutputFlipper(flip), hashlib.sha256()
    records = size = 0
    with open(dest, "wb") as out:
        while True:
            chunk = stream.read1(CHUNK)
            data = corrupt(chunk if normalizer is None else (
                normalizer.feed(chunk) if chunk else normalizer.close()))
            out.write(data)
            sha.update(data)
            records, size = records + data.count(b"\n"), size + len(data)
            if not chunk:
                return records, size, sha.hexdigest()


def _exit_error(job: _Job, what: str, code: int, tail: list[str], advice: str) -> TaskError:
    """Build the TaskError for ``what`` (the program) exiting with ``code`` (Popen style).

    Quotes the last stderr lines of ``tail`` and ends with ``advice`` (the next step).
    """
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    said = " | ".join(tail[-_TAIL_IN_MESSAGE:]) or "(nothing on stderr)"
    return TaskError(f"{what} of partition {job.partition} {how}: {said}; {advice}")


def _check_exits(job: _Job, sort: subprocess.Popen, sort_err: IO[bytes],
                 reducer: Optional[subprocess.Popen], scanner: StderrScanner) -> None:
    """Raise TaskError if the reducer failed, or sort failed for a reason of its own.

    A sort killed by SIGPIPE after the reducer exited 0 is fine: the reducer chose to stop
    reading (``head``). Hadoop would fail such a task with "Broken pipe" when its input
    outgrows the pipe buffer; dirft keeps the reducer's output instead, deterministically.
    Under ``job.exit_ok`` a reducer's non-zero exit status is success (a signal is not).
    """
    code = reducer.returncode if reducer is not None else 0
    if code != 0 and not (job.exit_ok and code > 0):
        log = f" (its stderr is in {job.log_path})" if job.log_path else ""
        raise _exit_error(job, f"reducer {job.command!r}", reducer.returncode, scanner.tail,
                          f"fix the reducer or run it on the input by hand{log}")
    if sort.returncode != 0 and not (reducer is not None and sort.returncode == -signal.SIGPIPE):
        sort_err.seek(0)
        lines = sort_err.read().decode("utf-8", "replace").splitlines()
        raise _exit_error(job, "GNU sort", sort.returncode, lines,
                          f"check the free space in {job.work_dir}")


def _sort_env() -> dict[str, str]:
    """The environment of GNU sort: ours with ``LC_ALL=C`` (compare raw bytes)."""
    return {**os.environ, "LC_ALL": "C"}


def _reduce_partition(job: _Job) -> tuple[int, int, StderrScanner, Optional[str], str]:
    """Sort one partition file into the reducer and write its output to ``job.dest``.

    Returns (records, bytes, scanner, input SHA-256 hex, output SHA-256 hex); the input
    digest is that of the bytes fed to sort when ``job.verified`` (None otherwise: sort
    reads the file itself). Raises TaskError when sort or the reducer fails or the reducer
    cannot be started; every process started is reaped in any case.
    """
    sort = reducer = thread = feeder = None
    log = open(job.log_path, "wb") if job.log_path else None
    scanner, drain_errors = StderrScanner(log=log), []
    source = _presort(job)
    try:
        with tempfile.TemporaryFile(dir=job.work_dir) as sort_err:
            sort = subprocess.Popen(
                _sort_argv(job.sort_memory, job.work_dir, "-" if job.verified else source,
                           source != job.source),
                stdin=subprocess.PIPE if job.verified else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=sort_err, env=_sort_env())
            if job.verified:
                feeder = _Feeder(job, sort.stdin)
            if job.reducer is not None:
                reducer = _start_reducer(job, sort)
                thread = threading.Thread(target=_drain_stderr, daemon=True,
                                          args=(reducer.stderr, scanner, drain_errors))
                thread.start()
            out = reducer.stdout if reducer is not None else sort.stdout
            records, size, digest = _copy_output(out, job.dest, None if reducer is None else job.rules,
                                                 job.output_flip)
            _wait_all(reducer, thread, sort, drain_errors)
            fed = feeder.result() if feeder is not None else None
            _check_exits(job, sort, sort_err, reducer, scanner)
    finally:
        _stop(reducer)
        if thread is not None:
            thread.join()
        _stop(sort)
        if feeder is not None:  # after sort is gone: a feeder blocked on its stdin is freed
            feeder.join()
        _close_pipes(reducer)
        _close_pipes(sort)
        if log is not None:
            log.close()
        if source != job.source:
            remove_files([source])
    return records, size, scanner, fed, digest


class _Feeder:
    """Feeds a partition file into sort's stdin from a thread, hashing the bytes fed.

    The digest is of exactly the bytes sort received (after an injected shuffle flip), so
    comparing it with the partition's digest checks the shuffle stream of this replica.
    """

    def __init__(self, job: _Job, stdin: IO[bytes]) -> None:
        self.job, self.stdin, self.sha, self.error = job, stdin, hashlib.sha256(), None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.job.source, "rb") as src:
                chunks = iter(lambda: src.read(CHUNK), b"")
                if self.job.shuffle_flip is not None:
                    chunks = flip_in_stream(chunks, self.job.shuffle_flip,
                                            os.path.getsize(self.job.source))
                for chunk in chunks:
                    self.sha.update(chunk)
                    self.stdin.write(chunk)
        except BrokenPipeError:
            pass  # sort died; its exit status says why
        except OSError as err:
            self.error = err
        finally:
            try:
                self.stdin.close()
            except OSError:
                pass

    def join(self) -> None:
        """Wait for the thread (it ends once the file is fed or sort is gone)."""
        self.thread.join()

    def result(self) -> str:
        """The SHA-256 hex of the bytes fed; re-raises a read error of the file."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.sha.hexdigest()


def _presort(job: _Job) -> str:
    """Sort ``job.source`` in Python when GNU sort cannot follow the key rules, or the
    reducer reads lines rewritten with other separators (:meth:`KeyRules.rewrite_for`);
    return the sorted file's path, else ``job.source`` (GNU sort does it in the pipeline)."""
    rewrite = job.rules.rewrite_for(job.reducer is not None)
    if job.rules.gnu_sort and rewrite is None:
        return job.source
    if job.verified:
        raise ConfigError("reduce-side integrity (replicated reduces) with several key fields, "
                          "KeyFieldBasedComparator or stream.*.field.separator keys is not "
                          "built yet; drop one of them")
    sorted_path = job.source + ".sorted"
    compare = job.rules.comparator.compare if job.rules.comparator else None
    sort_file(job.source, sorted_path, compare, job.rules.key_of, job.sort_memory,
              job.work_dir, rewrite)
    return sorted_path


def _wait_all(reducer: Optional[subprocess.Popen], thread: Optional[threading.Thread],
              sort: subprocess.Popen, drain_errors: list) -> None:
    """Wait for the reducer, its stderr reader and sort to finish.

    Re-raises the first OSError the stderr reader met (writing the log).
    """
    if reducer is not None:
        reducer.wait()
        thread.join()
    sort.wait()
    if drain_errors:
        raise drain_errors[0]


def _make_job(partition: int, source: str, reducer: Optional[Sequence[str]], out_dir: str,
              work_dir: str, env: dict, cwd: Optional[str], sort_memory: int,
              log_dir: Optional[str], rules: KeyRules = DEFAULT_RULES,
              exit_ok: bool = False) -> _Job:
    """Describe the reduce of ``partition`` (paths made absolute, log path chosen)."""
    log_path = os.path.join(log_dir, f"reduce-{partition:05d}.log") if log_dir else None
    return _Job(partition, os.path.abspath(source), temp_part_path(out_dir, partition),
                reducer, env, cwd, sort_memory, os.path.abspath(work_dir), log_path, rules,
                exit_ok=exit_ok)


def run_reduce_stage(outputs: Sequence[MapOutput], num_reduces: int,
                     reducer: Optional[Sequence[str]], out_dir: str, work_dir: str,
                     env_for: Callable[[int], dict], cwd: Optional[str] = None,
                     sort_memory: int = default_value("dirft.sort.memory"),
                     log_dir: Optional[str] = None,
                     rules: KeyRules = DEFAULT_RULES,
                     on_partition: Optional[Callable[[int, int], None]] = None,
                     integrity: Optional[ReduceIntegrity] = None,
                     exit_ok: bool = False) -> ReduceResult:
    """Partition, sort and reduce ``outputs`` into ``out_dir/part-00000`` … (see module doc).

    ``num_reduces`` >= 1 partitions (Hadoop's ``mapreduce.job.reduces``); ``reducer`` is an
    argv run without a shell, or None for the identity reducer; ``env_for(p)`` gives the
    environment of reducer ``p`` (see :func:`dirft.contract.env.streaming_env`); ``cwd`` its
    working directory; ``sort_memory`` the bytes GNU sort may use before spilling to
    ``work_dir``, which holds the partition files (``partition-NNNNN``, removed at the end)
    and must belong to this stage alone; ``log_dir`` gets ``reduce-NNNNN.log`` (stderr);
    ``rules`` (:mod:`dirft.shuffle.keys`) give the key fields, partitioner and comparator;
    ``on_partition(done, total)`` is called after each partition is reduced.
    ``integrity`` (f_s >= 1 or injected reduce faults): each partition is reduced by voted
    replicas (:func:`dirft.shuffle.replicated.reduce_voted`). ``exit_ok``
    (``stream.non.zero.exit.is.failure=false``): a reducer's non-zero exit status is
    success with its output, as in ``PipeMapRed``. Returns a
    :class:`ReduceResult`. Raises :class:`JobAborted` when a map output does not match its
    signature or a partition's vote fails, :class:`TaskError` when sort or a reducer fails or
    cannot start,
    :class:`StorageError` when a file cannot be read or written, :class:`UsageError` for an
    empty reducer argv; in every case no part file is left.
    """
    _prepare(num_reduces, reducer, (out_dir, work_dir, log_dir))
    paths = [partition_path(work_dir, p) for p in range(num_reduces)]
    try:
        paths, records, digests = _guarded(
            lambda: partition_outputs(outputs, num_reduces, work_dir, rules), work_dir)
        result = ReduceResult(input_records=sum(records), partition_records=records)
        for p, source in enumerate(paths):
            job = _make_job(p, source, reducer, out_dir, work_dir, env_for(p), cwd,
                            sort_memory, log_dir, rules, exit_ok)
            if integrity is None or not integrity.active:
                _add_partition(result, *_guarded(lambda: _reduce_partition(job), out_dir)[:3])
            else:
                _add_voted(result, _guarded(lambda: _reduce_voted(job, digests[p], integrity),
                                            out_dir))
            remove_files([source])
            if on_partition:
                on_partition(p + 1, num_reduces)
        _guarded(lambda: commit_parts(out_dir, num_reduces), out_dir)
    finally:
        remove_files(paths)
        remove_files(temp_part_path(out_dir, p) for p in range(num_reduces))
    return result


def _prepare(num_reduces: int, reducer: Optional[Sequence[str]],
             directories: Sequence[Optional[str]]) -> None:
    """Check the arguments of :func:`run_reduce_stage` and create its directories.

    Raises ValueError for ``num_reduces`` < 1, UsageError for an empty reducer argv,
    StorageError when a directory cannot be created.
    """
    if num_reduces < 1:
        raise ValueError(f"run_reduce_stage: num_reduces must be >= 1, got {num_reduces}")
    if reducer is not None and len(reducer) == 0:
        raise UsageError("-reducer: the reducer command is empty; give a command or NONE")
    for directory in filter(None, directories):
        _guarded(lambda: os.makedirs(directory, exist_ok=True), directory)


def _add_partition(result: ReduceResult, records: int, size: int,
                   scanner: StderrScanner) -> None:
    """Record one partition's output stats, counters and status in ``result``."""
    result.output_records.append(records)
    result.output_bytes.append(size)
    result.counters.merge(scanner.counters)
    result.statuses.append(scanner.status)


def _reduce_voted(job: _Job, digest: str, integrity: ReduceIntegrity) -> VoteOutcome:
    """Reduce one partition by voted replicas, each fed and hashed by this process."""
    def run_replica(r: int, dest: str) -> tuple:
        fault = integrity.faults.get((job.partition, r))
        log = job.log_path and (job.log_path if r == 0 else f"{job.log_path[:-4]}-r{r}.log")
        return _reduce_partition(replace(
            job, dest=dest, log_path=log, verified=True,
            shuffle_flip=fault.bit if fault and fault.where == "shuffle" else None,
            output_flip=fault.bit if fault and fault.where == "output" else None))
    quorum, max_runs = integrity.votes
    return reduce_voted(job.partition, digest, quorum, max_runs, run_replica, job.dest)


def _add_voted(result: ReduceResult, outcome: VoteOutcome) -> None:
    """Record one voted partition: the winner's stats and counters, and how the vote went."""
    _add_partition(result, outcome.records, outcome.size, outcome.scanner)
    result.reduce_runs.append(outcome.vote.started)
    if outcome.void:
        result.void_votes[outcome.vote.partition] = outcome.void
    if outcome.vote.mismatched:
        result.mismatched.append(outcome.vote.partition)


def _guarded(step: Callable, where: str):
    """Run ``step()``; turn a bare OSError into :class:`StorageError` naming ``where``."""
    try:
        return step()
    except OSError as err:
        raise StorageError(f"reduce stage: file operation failed in {where}: {err}") from err
