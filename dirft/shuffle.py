"""The reduce stage: partition, sort and reduce committed map output, as Hadoop does.

Input is the committed, quorum-verified output of the map tasks, already normalized by
:class:`dirft.records.LineNormalizer`: lines ``key\\tvalue\\n``, where the key is the bytes
before the first tab. The stage follows Hadoop Streaming (HADOOP_STREAMING_FACTS.md):

1. **partition** — each line goes to partition ``partition_of(key, num_reduces)``, Hadoop's
   ``HashPartitioner`` over ``Text.hashCode`` (``WritableComparator.hashBytes``). The bytes
   are read through :func:`verified_chunks`, which recomputes each file's SHA-256 while
   streaming and aborts the job when a file no longer matches the signature its quorum
   decided, before anything reaches the output.
2. **sort** — each partition is sorted on disk by GNU sort,
   ``LC_ALL=C sort -t '\\t' -k1,1 -S <sort_memory>b -T <work_dir>``: keys by raw unsigned
   bytes, as Hadoop's ``Text.Comparator`` orders them, in bounded memory, so map output may be
   larger than memory. Hadoop leaves the order of the values of one key undefined; GNU sort's
   last-resort comparison of whole lines (without their ``\\n``, unsigned bytes, shorter
   first on a common prefix) makes it deterministic here, so every run of a job gives the
   same bytes whatever order the map outputs arrived in.
3. **reduce** — the sorted lines are piped into the user's reducer (an argv, no shell) whose
   stdout is normalized into ``part-NNNNN``; with no reducer (identity) the sorted lines are
   the output. Every partition gets a part file, an empty partition too: Hadoop starts the
   reducer of every reduce task, so ``wc -l`` writes ``0`` for it. stderr goes through
   :class:`dirft.counters.StderrScanner` (counters, status, tail for error messages).

Part files are written under temporary names and renamed into place only when every partition
has succeeded, like ``FileOutputCommitter`` commits at job end: a failed stage leaves no part
file behind. With 0 reduces, :func:`write_map_only_output` gives one part file per map task.
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
from dataclasses import dataclass, field
from typing import IO, Callable, Iterable, Iterator, Optional, Sequence

from dirft.counters import Counters, StderrScanner
from dirft.errors import JobAborted, StorageError, TaskError, UsageError
from dirft.records import LineNormalizer

CHUNK = 1 << 20            # bytes read at a time from map output and pipes
_FLUSH_BYTES = 8 << 20     # bytes of routed lines buffered before appending to partitions
_CACHE_MAX = 1 << 16       # distinct keys whose partition is memoized at a time
_TAIL_IN_MESSAGE = 5       # stderr lines quoted in a TaskError
_SIGNED = [b - 256 if b >= 128 else b for b in range(256)]


def hadoop_text_hash(key: bytes) -> int:
    """Return Hadoop's ``Text.hashCode()`` of ``key``: a signed 32-bit int.

    ``WritableComparator.hashBytes``: ``h = 1``; for each byte taken as a signed Java byte
    (-128..127), ``h = 31 * h + b``, with Java int overflow. So ``b""`` -> 1 and ``b"a"`` ->
    128. Never raises for bytes.
    """
    h = 1
    for b in key:
        h = (31 * h + _SIGNED[b]) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: bytes, num_partitions: int) -> int:
    """Return the reduce partition (0 .. num_partitions-1) of ``key``.

    Hadoop's ``HashPartitioner``: ``(key.hashCode() & Integer.MAX_VALUE) % numReduceTasks``.
    Raises ValueError when ``num_partitions`` < 1.
    """
    if num_partitions < 1:
        raise ValueError(f"partition_of: num_partitions must be >= 1, got {num_partitions}")
    return (hadoop_text_hash(key) & 0x7FFFFFFF) % num_partitions


@dataclass(frozen=True)
class MapOutput:
    """A committed map output file and the SHA-256 its quorum decided.

    ``path`` is a local file path; ``sha256`` is the lowercase hex digest the file must
    still have when it is read, or None to read it without verifying.
    """

    path: str
    sha256: Optional[str]


def _check_digest(output: MapOutput, got: str) -> None:
    """Raise :class:`JobAborted` if ``got`` (hex) is not the digest ``output`` must have."""
    expected = output.sha256
    if expected is not None and expected.lower() != got:
        raise JobAborted(
            f"map output {output.path} does not match the signature its quorum decided "
            f"({expected[:12]}…, read {got[:12]}…); the file changed after commit "
            "— rerun the job")


def verified_chunks(outputs: Sequence[MapOutput], chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Yield the bytes of each map output in turn, in chunks of up to ``chunk_size`` bytes.

    The SHA-256 of each file is computed while it streams; after its last chunk, a digest
    that differs from ``MapOutput.sha256`` raises :class:`JobAborted`, so a consumer that
    commits only after the generator is exhausted never commits a wrong byte. Raises
    :class:`StorageError` naming the path when a file cannot be opened or read.
    """
    for output in outputs:
        digest = hashlib.sha256()
        try:
            with open(output.path, "rb") as handle:
                while chunk := handle.read(chunk_size):
                    digest.update(chunk)
                    yield chunk
        except OSError as err:
            raise StorageError(f"cannot read map output {output.path}: {err}") from err
        _check_digest(output, digest.hexdigest())


def _file_lines_chunks(output: MapOutput, chunk_size: int) -> Iterator[bytes]:
    """Yield the verified bytes of one map output, adding a final ``\\n`` if it lacks one.

    Normalized output always ends in ``\\n``; the guard keeps the last line of one file from
    merging with the first line of the next.
    """
    last = b"\n"
    for chunk in verified_chunks([output], chunk_size):
        last = chunk[-1:]
        yield chunk
    if last != b"\n":
        yield b"\n"


def _remove(paths: Iterable[str]) -> None:
    """Remove each existing file of ``paths``; a file already gone is fine."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _part_name(index: int) -> str:
    """Return Hadoop's output file name for partition or map task ``index``."""
    return f"part-{index:05d}"


def _temp_part(out_dir: str, index: int) -> str:
    """Return the temporary path of part ``index``; hidden (``.``) as Hadoop hides them."""
    return os.path.join(out_dir, f".{_part_name(index)}.dirft-tmp")


def _partition_path(work_dir: str, partition: int) -> str:
    """Return the path of the file that collects the lines of ``partition``."""
    return os.path.join(work_dir, f"partition-{partition:05d}")


def _commit_parts(out_dir: str, count: int) -> None:
    """Rename the temporary part files 0..count-1 of ``out_dir`` to their final names."""
    for index in range(count):
        os.replace(_temp_part(out_dir, index), os.path.join(out_dir, _part_name(index)))


def write_map_only_output(outputs_by_task: Sequence[Sequence[MapOutput]],
                          out_dir: str) -> dict:
    """Write the output of a job with 0 reduces: one ``part-NNNNN`` per map task.

    ``outputs_by_task[i]`` are the committed outputs of map task ``i`` in order; part ``i``
    is their concatenation (Hadoop's ``-reducer NONE``: each map task writes its own part).
    All parts are written to temporary names and renamed only when all are complete.
    Returns ``{"records": int, "bytes": int, "part_records": [int], "part_bytes": [int]}``
    (records = lines, bytes = bytes). Raises :class:`JobAborted` on a signature mismatch and
    :class:`StorageError` on a read or write failure; no part file is left in either case.
    """
    os.makedirs(out_dir, exist_ok=True)
    temps = [_temp_part(out_dir, i) for i in range(len(outputs_by_task))]
    stats: dict = {"records": 0, "bytes": 0, "part_records": [], "part_bytes": []}
    try:
        for outputs, temp in zip(outputs_by_task, temps):
            records, size = _concatenate(outputs, temp)
            stats["part_records"].append(records)
            stats["part_bytes"].append(size)
        _commit_parts(out_dir, len(temps))
    except OSError as err:
        raise StorageError(f"cannot write map-only output in {out_dir}: {err}") from err
    finally:
        _remove(temps)
    stats["records"], stats["bytes"] = sum(stats["part_records"]), sum(stats["part_bytes"])
    return stats


def _concatenate(outputs: Sequence[MapOutput], dest: str) -> tuple[int, int]:
    """Copy the verified ``outputs`` one after the other into ``dest``.

    Returns (records, bytes) written.
    """
    records = size = 0
    with open(dest, "wb") as out:
        for output in outputs:
            for chunk in _file_lines_chunks(output, CHUNK):
                out.write(chunk)
                records += chunk.count(b"\n")
                size += len(chunk)
    return records, size


class _Partitioner:
    """Routes normalized lines into ``work_dir/partition-NNNNN`` files by key hash.

    Lines are buffered per partition and appended to their files once ``_FLUSH_BYTES`` are
    buffered, so no more than a few files are open at a time whatever ``num_reduces`` is.
    """

    def __init__(self, work_dir: str, num_reduces: int) -> None:
        """Create the (empty) partition files, so empty partitions exist too."""
        self.paths = [_partition_path(work_dir, p) for p in range(num_reduces)]
        self.records = [0] * num_reduces
        self._buffers: list[list[bytes]] = [[] for _ in range(num_reduces)]
        self._buffered = 0
        self._cache: dict[bytes, int] = {}
        for path in self.paths:
            open(path, "wb").close()

    def add_output(self, output: MapOutput) -> None:
        """Route every line of one map output (verified while read) to its partition."""
        carry = b""
        for chunk in verified_chunks([output]):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            self._route(lines)
            self._buffered += len(chunk)
            if self._buffered >= _FLUSH_BYTES:
                self.flush()
        if carry:
            self._route([carry])

    def _route(self, lines: list[bytes]) -> None:
        """Append each line (without ``\\n``) to the buffer of its key's partition."""
        cache, buffers, n = self._cache, self._buffers, len(self.paths)
        for line in lines:
            tab = line.find(b"\t")
            key = line if tab < 0 else line[:tab]
            p = cache.get(key)
            if p is None:
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                p = cache[key] = partition_of(key, n)
            buffers[p].append(line)

    def flush(self) -> None:
        """Append the buffered lines of every partition to its file."""
        for p, lines in enumerate(self._buffers):
            if lines:
                with open(self.paths[p], "ab") as out:
                    out.write(b"\n".join(lines) + b"\n")
                self.records[p] += len(lines)
                lines.clear()
        self._buffered = 0


def _single_partition(outputs: Sequence[MapOutput], work_dir: str) -> tuple[list[str], list[int]]:
    """With one reduce, copy all map output (verified) to ``partition-00000``, no hashing.

    Returns ([path], [records]).
    """
    path = _partition_path(work_dir, 0)
    records = 0
    with open(path, "wb") as out:
        for output in outputs:
            for chunk in _file_lines_chunks(output, CHUNK):
                out.write(chunk)
                records += chunk.count(b"\n")
    return [path], [records]


def _partition(outputs: Sequence[MapOutput], num_reduces: int,
               work_dir: str) -> tuple[list[str], list[int]]:
    """Split the map output into ``num_reduces`` partition files in ``work_dir``.

    Returns (paths, records per partition). Raises :class:`JobAborted` on a signature
    mismatch, :class:`StorageError` on a read failure, OSError on a write failure.
    """
    if num_reduces == 1:
        return _single_partition(outputs, work_dir)
    partitioner = _Partitioner(work_dir, num_reduces)
    for output in outputs:
        partitioner.add_output(output)
    partitioner.flush()
    return partitioner.paths, partitioner.records


@dataclass
class ReduceResult:
    """What the reduce stage produced.

    ``counters``: all reducers' counters summed. ``output_bytes[p]`` / ``output_records[p]``:
    size in bytes and lines of ``part-p``. ``input_records``: map output lines read.
    ``partition_records[p]``: lines sorted into partition ``p``. ``statuses[p]``: the last
    ``reporter:status:`` of reducer ``p``, or None.
    """

    counters: Counters = field(default_factory=Counters)
    output_bytes: list[int] = field(default_factory=list)
    output_records: list[int] = field(default_factory=list)
    input_records: int = 0
    partition_records: list[int] = field(default_factory=list)
    statuses: list[Optional[str]] = field(default_factory=list)


def _sort_argv(sort_memory: int, work_dir: str, path: str) -> list[str]:
    """Return the GNU sort command that orders ``path`` by key bytes (see module doc)."""
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


def _copy_output(stream: IO[bytes], dest: str, normalize: bool) -> tuple[int, int]:
    """Write ``stream`` to ``dest`` (through LineNormalizer if ``normalize``).

    Returns (records, bytes) written.
    """
    normalizer = LineNormalizer() if normalize else None
    records = size = 0
    with open(dest, "wb") as out:
        while True:
            chunk = stream.read1(CHUNK)
            data = chunk if normalizer is None else (
                normalizer.feed(chunk) if chunk else normalizer.close())
            out.write(data)
            records, size = records + data.count(b"\n"), size + len(data)
            if not chunk:
                return records, size


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
    """
    if reducer is not None and reducer.returncode != 0:
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


def _reduce_partition(job: _Job) -> tuple[int, int, StderrScanner]:
    """Sort one partition file into the reducer and write its output to ``job.dest``.

    Returns (records, bytes, scanner). Raises TaskError when sort or the reducer fails or
    the reducer cannot be started; every process started is reaped in any case.
    """
    sort = reducer = thread = None
    log = open(job.log_path, "wb") if job.log_path else None
    scanner, drain_errors = StderrScanner(log=log), []
    try:
        with tempfile.TemporaryFile(dir=job.work_dir) as sort_err:
            sort = subprocess.Popen(_sort_argv(job.sort_memory, job.work_dir, job.source),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=sort_err, env=_sort_env())
            if job.reducer is not None:
                reducer = _start_reducer(job, sort)
                thread = threading.Thread(target=_drain_stderr, daemon=True,
                                          args=(reducer.stderr, scanner, drain_errors))
                thread.start()
            out = reducer.stdout if reducer is not None else sort.stdout
            records, size = _copy_output(out, job.dest, normalize=reducer is not None)
            _wait_all(reducer, thread, sort, drain_errors)
            _check_exits(job, sort, sort_err, reducer, scanner)
    finally:
        _stop(reducer)
        if thread is not None:
            thread.join()
        _stop(sort)
        _close_pipes(reducer)
        _close_pipes(sort)
        if log is not None:
            log.close()
    return records, size, scanner


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
              log_dir: Optional[str]) -> _Job:
    """Describe the reduce of ``partition`` (paths made absolute, log path chosen)."""
    log_path = os.path.join(log_dir, f"reduce-{partition:05d}.log") if log_dir else None
    return _Job(partition, os.path.abspath(source), _temp_part(out_dir, partition),
                reducer, env, cwd, sort_memory, os.path.abspath(work_dir), log_path)


def run_reduce_stage(outputs: Sequence[MapOutput], num_reduces: int,
                     reducer: Optional[Sequence[str]], out_dir: str, work_dir: str,
                     env_for: Callable[[int], dict], cwd: Optional[str] = None,
                     sort_memory: int = 256 * 2 ** 20,
                     log_dir: Optional[str] = None) -> ReduceResult:
    """Partition, sort and reduce ``outputs`` into ``out_dir/part-00000`` … (see module doc).

    ``num_reduces`` >= 1 partitions (Hadoop's ``mapreduce.job.reduces``); ``reducer`` is an
    argv run without a shell, or None for the identity reducer; ``env_for(p)`` gives the
    environment of reducer ``p`` (see :func:`dirft.runtime.env.streaming_env`); ``cwd`` its
    working directory; ``sort_memory`` the bytes GNU sort may use before spilling to
    ``work_dir``, which holds the partition files (``partition-NNNNN``, removed at the end)
    and must belong to this stage alone; ``log_dir`` gets ``reduce-NNNNN.log`` (stderr).
    Returns a :class:`ReduceResult`. Raises :class:`JobAborted` when a map output does not
    match its signature, :class:`TaskError` when sort or a reducer fails or cannot start,
    :class:`StorageError` when a file cannot be read or written, :class:`UsageError` for an
    empty reducer argv; in every case no part file is left.
    """
    _prepare(num_reduces, reducer, (out_dir, work_dir, log_dir))
    paths = [_partition_path(work_dir, p) for p in range(num_reduces)]
    try:
        paths, records = _guarded(lambda: _partition(outputs, num_reduces, work_dir), work_dir)
        result = ReduceResult(input_records=sum(records), partition_records=records)
        for p, source in enumerate(paths):
            job = _make_job(p, source, reducer, out_dir, work_dir, env_for(p), cwd,
                            sort_memory, log_dir)
            _add_partition(result, *_guarded(lambda: _reduce_partition(job), out_dir))
            _remove([source])
        _guarded(lambda: _commit_parts(out_dir, num_reduces), out_dir)
    finally:
        _remove(paths)
        _remove(_temp_part(out_dir, p) for p in range(num_reduces))
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


def _guarded(step: Callable, where: str):
    """Run ``step()``; turn a bare OSError into :class:`StorageError` naming ``where``."""
    try:
        return step()
    except OSError as err:
        raise StorageError(f"reduce stage: file operation failed in {where}: {err}") from err
