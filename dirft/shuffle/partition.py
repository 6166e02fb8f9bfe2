"""Map output into reduce partitions: Hadoop's hash partitioner over verified bytes.

The first half of the reduce stage (see :mod:`dirft.shuffle`): :func:`partition_of` is
Hadoop's ``HashPartitioner``; :func:`verified_chunks` streams committed map output while
recomputing its SHA-256; :func:`partition_outputs` routes every line into
``partition-NNNNN`` files; :func:`write_map_only_output` writes a job with 0 reduces.
Also the part-file naming and commit-by-rename helpers both halves share.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from dirft.errors import JobAborted, StorageError
from dirft.shuffle.keys import DEFAULT_RULES, KeyRules
from dirft.units import CHUNK

_FLUSH_BYTES = 8 << 20     # bytes of routed lines buffered before appending to partitions
_CACHE_MAX = 1 << 16       # distinct keys whose partition is memoized at a time
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
            f"({expected[:12]}…, read {got[:12]}…): either the file changed after the vote "
            "or the replicas of that quorum reported a signature their output does not have "
            "(silent faults beyond tolerance); nothing was committed — check the task's "
            "replica logs and the storage, then rerun the job")


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


def remove_files(paths: Iterable[str]) -> None:
    """Remove each existing file of ``paths``; a file already gone is fine."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _part_name(index: int) -> str:
    """Return Hadoop's output file name for partition or map task ``index``."""
    return f"part-{index:05d}"


def temp_part_path(out_dir: str, index: int) -> str:
    """Return the temporary path of part ``index``; hidden (``.``) as Hadoop hides them."""
    return os.path.join(out_dir, f".{_part_name(index)}.dirft-tmp")


def partition_path(work_dir: str, partition: int) -> str:
    """Return the path of the file that collects the lines of ``partition``."""
    return os.path.join(work_dir, f"partition-{partition:05d}")


def commit_parts(out_dir: str, count: int) -> None:
    """Rename the temporary part files 0..count-1 of ``out_dir`` to their final names."""
    for index in range(count):
        os.replace(temp_part_path(out_dir, index), os.path.join(out_dir, _part_name(index)))


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
    temps = [temp_part_path(out_dir, i) for i in range(len(outputs_by_task))]
    stats: dict = {"records": 0, "bytes": 0, "part_records": [], "part_bytes": []}
    try:
        for outputs, temp in zip(outputs_by_task, temps):
            records, size = _concatenate(outputs, temp)
            stats["part_records"].append(records)
            stats["part_bytes"].append(size)
        commit_parts(out_dir, len(temps))
    except OSError as err:
        raise StorageError(f"cannot write map-only output in {out_dir}: {err}") from err
    finally:
        remove_files(temps)
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

    def __init__(self, work_dir: str, num_reduces: int, rules: KeyRules = DEFAULT_RULES) -> None:
        """Create the (empty) partition files, so empty partitions exist too; ``rules``
        say which bytes are the key and which partitioner applies."""
        self._key_of = rules.key_of
        self._partition = rules.partition_function(partition_of)
        self.paths = [partition_path(work_dir, p) for p in range(num_reduces)]
        self.records = [0] * num_reduces
        self.digests = [hashlib.sha256() for _ in range(num_reduces)]
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
        key_of, partition = self._key_of, self._partition
        for line in lines:
            key = key_of(line)
            p = cache.get(key)
            if p is None:
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                p = cache[key] = partition(key, n)
            buffers[p].append(line)

    def flush(self) -> None:
        """Append the buffered lines of every partition to its file."""
        for p, lines in enumerate(self._buffers):
            if lines:
                data = b"\n".join(lines) + b"\n"
                with open(self.paths[p], "ab") as out:
                    out.write(data)
                self.digests[p].update(data)
                self.records[p] += len(lines)
                lines.clear()
        self._buffered = 0


def _single_partition(outputs: Sequence[MapOutput],
                      work_dir: str) -> tuple[list[str], list[int], list[str]]:
    """With one reduce, copy all map output (verified) to ``partition-00000``, no key hashing.

    Returns ([path], [records], [SHA-256 hex of the bytes written]).
    """
    path = partition_path(work_dir, 0)
    records, digest = 0, hashlib.sha256()
    with open(path, "wb") as out:
        for output in outputs:
            for chunk in _file_lines_chunks(output, CHUNK):
                out.write(chunk)
                digest.update(chunk)
                records += chunk.count(b"\n")
    return [path], [records], [digest.hexdigest()]


def partition_outputs(outputs: Sequence[MapOutput], num_reduces: int, work_dir: str,
                      rules: KeyRules = DEFAULT_RULES
                      ) -> tuple[list[str], list[int], list[str]]:
    """Split the map output into ``num_reduces`` partition files in ``work_dir`` by the
    keys and partitioner of ``rules``.

    Returns (paths, records per partition, SHA-256 hex per partition of the bytes written
    to its file: the digest each reduce replica's shuffle stream is checked against).
    Raises :class:`JobAborted` on a signature mismatch, :class:`StorageError` on a read
    failure, OSError on a write failure.
    """
    if num_reduces == 1:
        return _single_partition(outputs, work_dir)
    partitioner = _Partitioner(work_dir, num_reduces, rules)
    for output in outputs:
        partitioner.add_output(output)
    partitioner.flush()
    return (partitioner.paths, partitioner.records,
            [digest.hexdigest() for digest in partitioner.digests])
