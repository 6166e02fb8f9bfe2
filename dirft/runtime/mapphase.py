"""One phase of a replica: run the user's mapper over one sub-split and commit its output.

Hadoop Streaming's map side (``PipeMapper``/``PipeMapRed``), for a byte range: the records
the range owns (``LineRecordReader`` rules, :func:`dirft.records.read_records`) go to the
mapper's stdin, one per line; its stdout is parsed into ``key\\tvalue`` lines
(:class:`~dirft.records.LineNormalizer`); with a combiner, that output is sorted by key and
run through the combiner, as a map-side spill is. The final bytes are hashed with SHA-256
while they are written, to a temp file that is renamed into place: the signature is never
computed by re-reading, and a crash never leaves a half-written output under its final name.
"""

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from dirft.codecs import opened_decompressed
from dirft.counters import Counters, StderrScanner
from dirft.errors import EnvironmentFault, TaskError
from dirft.records import LineNormalizer, read_records
from dirft.runtime.reaper import end_left_behind, tracked
from dirft.storage.base import Storage
from dirft.storage.local import LOCAL
from dirft.units import CHUNK
from fault_injector.plan import flip_bit

FRAMEWORK = "Map-Reduce Framework"  # Hadoop's TaskCounter group as the job client prints it
FEED_CHUNK = 128 << 10  # input fed to the mapper per step: also the grain of its progress


@dataclass(frozen=True)
class PhaseResult:
    """What one phase produced: SHA-256 hex of the committed output, its size in bytes,
    the counters of the user programs plus the framework's record counts."""

    signature: str
    output_bytes: int
    counters: Counters
    corrupted: bool = False


class _Sink:
    """Writes normalized bytes to a file while hashing them and counting their bytes.

    Records are counted by the :class:`~dirft.records.LineNormalizer` that splits the lines
    anyway, not here: a newline count over every byte cost a third of SHA-256's time.

    ``corrupt_bit``: an injected silent data error — that bit of the first bytes written is
    flipped before they are hashed and written (``corrupted`` tells whether it happened).
    """

    def __init__(self, f, corrupt_bit: int | None = None) -> None:
        self.f, self.sha, self.bytes = f, hashlib.sha256(), 0
        self.corrupt_bit, self.corrupted = corrupt_bit, False

    def write(self, data: bytes) -> None:
        if data:
            if self.corrupt_bit is not None:
                data, self.corrupt_bit, self.corrupted = flip_bit(data, self.corrupt_bit), None, True
            self.f.write(data)
            self.sha.update(data)
            self.bytes += len(data)


def run_map_phase(path: str, start: int, length: int, mapper: list, combiner: list | None,
                  final_path: str, env: dict, cwd: str, log, sort_memory: int,
                  on_progress: Callable[[int], None] | None = None,
                  corrupt_bit: int | None = None, slowdown: float = 1.0,
                  storage: Storage | None = None, commit=None,
                  key_fields: int = 1, codec: str | None = None,
                  stored_length: int = 0, exit_ok: bool = False,
                  separator: bytes = b"\t", text_output: bool = False) -> PhaseResult:
    """Map bytes ``(start, start+length]`` of ``path`` and commit to ``final_path``.

    ``mapper``/``combiner``: argv lists run without a shell in ``cwd`` with ``env``; ``log``:
    binary file receiving their stderr; ``sort_memory``: bytes for the combiner's sort;
    ``on_progress(bytes_fed)`` is called after each chunk reaches the mapper; fault
    injection: ``corrupt_bit`` flips a bit of the output before it is signed, ``slowdown``
    > 1 makes this phase that many times slower (a straggler node). ``storage`` (default:
    the local file system) holds ``path`` and ``final_path``: the input is opened with
    :meth:`~dirft.storage.base.Storage.open_range` and the output written through
    ``commit(final_path)`` (default ``storage.commit``: temp file, then rename; the Hadoop
    runner's direct mode passes one writing to stdout); ``key_fields`` is
    ``stream.num.map.output.key.fields`` and ``separator``
    ``stream.map.output.field.separator`` (the normalizer's split; ``text_output``: a
    map-only job's ``key\\tvalue`` lines, :func:`dirft.records.split_line`). ``codec``:
    Hadoop's codec class name of a compressed ``path`` (``stored_length`` bytes as
    stored); then ``start`` and ``length`` are decompressed offsets and the file is
    decompressed from its start (:func:`dirft.codecs.opened_decompressed`). ``exit_ok`` is
    ``stream.non.zero.exit.is.failure=false``: a mapper or combiner that exits with a
    non-zero status has succeeded with its output (``PipeMapRed``). Returns a
    :class:`PhaseResult`.
    Raises :class:`TaskError` naming the program when the mapper or combiner is missing,
    exits non-zero (unless ``exit_ok``) or is killed by a signal (even with ``exit_ok``:
    a killed program's partial output never counts), and nothing is committed then;
    StorageError/InputError from storage.
    """
    storage = storage or LOCAL
    commit = commit or storage.commit
    scratch = os.path.join(cwd, f".combine-{os.getpid()}")  # local, for the combiner's sort
    counters = Counters()
    try:
        with _opened_input(storage, path, start, length, codec, stored_length) as src, \
                commit(final_path) as out:
            sink = _Sink(out, corrupt_bit)
            records = _Count(on_progress, slowdown)
            source = records.wrap(read_records(src, start, start + length, FEED_CHUNK))
            if combiner is None:
                written = _run(mapper, "mapper", source, sink.write, env, cwd, log, counters,
                               (key_fields, separator, text_output), exit_ok)
            else:
                mapped = _map_to_sorted_file(mapper, source, env, cwd, log, counters,
                                             scratch, sort_memory, exit_ok)  # runs to the end
                try:
                    written = _run(combiner, "combiner", mapped.proc.stdout, sink.write, env,
                                   cwd, log, counters, (key_fields,), exit_ok)
                except BaseException:
                    mapped.failed = True
                    raise
                finally:
                    mapped.finish()
    finally:
        for leftover in (scratch + ".raw", scratch + ".map"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    counters.add(FRAMEWORK, "Map input records", records.records)
    counters.add(FRAMEWORK, "Map input bytes", records.bytes)
    counters.add(FRAMEWORK, "Map output records", written)
    counters.add(FRAMEWORK, "Map output bytes", sink.bytes)
    return PhaseResult(sink.sha.hexdigest(), sink.bytes, counters, sink.corrupted)


def _opened_input(storage: Storage, path: str, start: int, length: int, codec: str | None,
                  stored_length: int):
    """The input of a phase: a byte range of a plain file, or a compressed file's
    decompressed bytes (read from its start)."""
    if codec is None:
        return storage.open_range(path, start, length)
    return opened_decompressed(storage, path, codec, stored_length)


class _Count:
    """Counts records (lines) and bytes flowing through an iterator of chunks.

    After each chunk has been taken it reports the bytes so far to ``on_progress`` and, for
    an emulated straggler, waits ``slowdown - 1`` times as long as that chunk took.
    """

    def __init__(self, on_progress=None, slowdown: float = 1.0) -> None:
        self.records = self.bytes = 0
        self.on_progress, self.slowdown = on_progress, slowdown

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        began = time.monotonic()
        for chunk in chunks:
            self.records += chunk.count(b"\n")
            self.bytes += len(chunk)
            yield chunk
            if self.slowdown > 1:
                time.sleep((self.slowdown - 1) * (time.monotonic() - began))
            began = time.monotonic()
            if self.on_progress is not None:
                self.on_progress(self.bytes)


def _map_to_sorted_file(mapper, source, env, cwd, log, counters, tmp, sort_memory,
                        exit_ok=False):
    """Run the mapper into a file now; return a :class:`_SortedMapOutput` of it.

    The mapper's stdout is the raw file itself, as mrjob's local runner writes a mapper's
    output: no byte crosses a pipe to this process, which matters for a mapper that writes
    line by line unbuffered (``PYTHONUNBUFFERED``: one pipe wake-up per line cost a third
    of the phase). The raw file is then normalized into the file GNU sort reads, in the C
    locale on the key field (the whole line breaks ties, so the combiner's input order,
    and hence its output, is the same on every replica).
    """
    raw, unsorted = tmp + ".raw", tmp + ".map"
    with open(raw, "wb") as f:
        _run(mapper, "mapper", source, f, env, cwd, log, counters, exit_ok=exit_ok)
    normalize_file(raw, unsorted)
    return _SortedMapOutput(unsorted, env, sort_memory)


def normalize_file(raw: str, normalized: str, chunk_size: int = CHUNK) -> None:
    """Turn the program output file ``raw`` into ``normalized`` (Hadoop's ``key\tvalue``
    lines, :class:`~dirft.records.LineNormalizer`); ``raw`` is gone afterwards.

    Output already in that form (every line ends in ``\n`` and has a tab: a typical
    mapper's) is renamed, not copied: the check reads it once and writes nothing, where a
    copy wrote the whole map output again. At the first line that needs a change, the
    part checked so far is copied and the rest is written normalized. Raises OSError.
    """
    normalizer, dst, clean = LineNormalizer(), None, 0
    try:
        with open(raw, "rb") as src:
            for chunk in iter(lambda: src.read(chunk_size), b""):
                out = normalizer.feed(chunk)
                dst = dst or _diverged(normalizer, raw, normalized, clean)
                if dst is None:
                    clean += len(out)
                else:
                    dst.write(out)
            tail = normalizer.close()
            dst = dst or _diverged(normalizer, raw, normalized, clean)
            if dst is not None:
                dst.write(tail)
    finally:
        if dst is not None:
            dst.close()
    if dst is None:
        os.replace(raw, normalized)
    else:
        os.unlink(raw)


def _diverged(normalizer: LineNormalizer, raw: str, normalized: str, clean: int):
    """None while ``normalizer`` has changed nothing; else ``normalized`` opened for
    writing with the first ``clean`` bytes of ``raw`` (those it returned unchanged)."""
    if normalizer.unchanged:
        return None
    dst = open(normalized, "wb")
    with open(raw, "rb") as src:
        while clean:
            data = src.read(min(clean, CHUNK))
            if not data:
                dst.close()
                raise OSError(f"{raw} shrank while it was being normalized")
            dst.write(data)
            clean -= len(data)
    return dst


class _SortedMapOutput:
    """GNU sort of the mapper's output file, its stdout piped straight into the combiner.

    No byte of the sorted stream passes through Python (the combiner's stdin is sort's
    stdout, as ``sort … | combiner``). :meth:`finish` reaps sort, removes the file and raises
    :class:`TaskError` if sort failed, or if the combiner stopped reading early (sort
    killed by SIGPIPE: Hadoop Streaming's "Broken pipe").
    """

    def __init__(self, unsorted: str, env: dict, sort_memory: int) -> None:
        self.unsorted = unsorted
        argv = ["sort", "-t", "\t", "-k1,1", "-S", str(sort_memory),
                "-T", os.path.dirname(unsorted), unsorted]
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         env={**env, "LC_ALL": "C"})
        except OSError:
            os.unlink(unsorted)
            raise
        self.tracked = tracked(self.proc.pid)
        self.tracked.__enter__()

    def finish(self) -> None:
        """Wait for sort (killing it if the combiner failed first) and check how it ended."""
        self.proc.stdout.close()
        if self.proc.poll() is None and self.failed:
            self.proc.kill()
        code = self.proc.wait()
        self.tracked.__exit__(None, None, None)
        os.unlink(self.unsorted)
        if code == -13 and not self.failed:  # SIGPIPE
            raise TaskError("the program stopped reading its input before the end "
                            "(broken pipe), which fails the task as in Hadoop Streaming")
        if code not in (0, -13, -9):
            raise TaskError(f"sort of the map output for the combiner failed (code {code}); "
                            f"check free space in {os.path.dirname(self.unsorted)}")

    failed = False


def _run(argv: list, role: str, source, write, env: dict, cwd: str,
         log, counters: Counters, split: tuple = (1,), exit_ok: bool = False) -> int:
    """Pipe ``source`` through program ``argv``; normalized stdout goes to ``write``.

    ``source``: an iterable of byte chunks (fed by a thread), or a pipe's read end (a file
    object with ``fileno``), which becomes the program's stdin. ``write``: a callable
    taking normalized bytes, or an open file (with ``fileno``) that becomes the program's
    stdout as it is, not normalized. ``split``: the :class:`~dirft.records.LineNormalizer`'s
    arguments. ``exit_ok``: a non-zero exit status is success (a death by signal is not).
    Returns the number of lines (records) written (0 when ``write`` is a file).
    """
    piped, to_file = hasattr(source, "fileno"), hasattr(write, "fileno")
    try:
        proc = subprocess.Popen(argv, stdin=source if piped else subprocess.PIPE,
                                stdout=write if to_file else subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd)
    except OSError as err:
        raise EnvironmentFault(f"{role} {' '.join(argv)!r} could not start: "
                               f"{err.strerror}; check the command and -files") from None
    with tracked(proc.pid):
        return _pipe_through(proc, argv, role, source, write, log, counters, split, exit_ok)


def _pipe_through(proc, argv, role, source, write, log, counters, split, exit_ok) -> int:
    """:func:`_run` once ``proc`` has started; a watcher ends what it leaves behind."""
    piped, to_file = hasattr(source, "fileno"), hasattr(write, "fileno")
    scanner = StderrScanner(log=log)
    failures: list = []
    watcher = threading.Thread(target=_end_left_behind, args=(proc,), daemon=True)
    watcher.start()
    if piped:
        source.close()  # the program holds the read end now; sort sees SIGPIPE if it quits
        feeder = threading.Thread(target=lambda: None)
    else:
        feeder = threading.Thread(target=_feed, args=(proc.stdin, source, failures),
                                  daemon=True)
    reader = threading.Thread(target=_drain, args=(proc.stderr, scanner), daemon=True)
    feeder.start()
    reader.start()
    normalizer = LineNormalizer(*split)
    if not to_file:
        for chunk in iter(lambda: proc.stdout.read1(CHUNK), b""):
            write(normalizer.feed(chunk))
        write(normalizer.close())
    code = proc.wait()
    feeder.join()
    reader.join()
    watcher.join()  # done killing before the next program starts
    counters.merge(scanner.counters)
    if code != 0 and not (exit_ok and code > 0):
        tail = " | ".join(scanner.tail[-3:]) or "no stderr"
        raise TaskError(f"{role} {' '.join(argv)!r} exited with code {code}: {tail}")
    if failures:
        raise failures[0]
    return normalizer.lines


def _end_left_behind(proc) -> None:
    """Once the program has exited, kill the processes it left behind (they hold its
    pipes, :func:`dirft.runtime.reaper.end_left_behind`)."""
    proc.wait()
    end_left_behind()


def _feed(stdin, source: Iterable[bytes], failures: list) -> None:
    """Write every chunk to the program's stdin; record why it stopped early, if it did.

    A program that exits without reading all its input fails the phase, as in Hadoop
    Streaming (``PipeMapRed`` reports "Broken pipe"); so does an error reading the input.
    """
    try:
        for chunk in source:
            stdin.write(chunk)
    except BrokenPipeError:
        failures.append(TaskError("the program stopped reading its input before the end "
                                  "(broken pipe), which fails the task as in Hadoop Streaming"))
    except Exception as err:  # noqa: BLE001 - surfaced in the caller's thread
        failures.append(err if isinstance(err, TaskError) else
                        TaskError(f"reading the input failed: {err}"))
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def _drain(stderr, scanner: StderrScanner) -> None:
    for chunk in iter(lambda: stderr.read1(CHUNK), b""):
        scanner.feed(chunk)
    scanner.close()
