"""Records in, normalized lines out: Hadoop's text rules on both sides of a mapper.

Input side (:func:`read_records`): Hadoop's ``LineRecordReader`` over a byte range of a
file. A line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``; the terminator is not part of the
record; the file's last line counts without a terminator, and a trailing terminator makes
no empty record at EOF. A line *starts* at offset 0 or right after a terminator (the spot
between the ``\\r`` and ``\\n`` of a pair is not a line start). The range ``(start, end]``
owns the lines that start in it (``[0, end]`` when ``start == 0``), and its reader finishes
the line straddling ``end``. So the ranges of a split's sub-splits, read one by one, give
exactly the split's records, each once. Records are handed on as Hadoop Streaming writes
them to a mapper's stdin: each followed by ``\\n``.

Output side (:class:`LineNormalizer`): a program's stdout becomes the stored form of
``TextOutputFormat`` after Streaming's key/value split: ``key\\tvalue\\n``, a line without a
tab being all key (``line\\t\\n``).

All offsets are absolute file offsets in bytes. The code works on big chunks with
``bytes.find``/``split``; ``\\r`` takes a slower ``re.sub`` path only in chunks that have one.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterator

from dirft.errors import DirftError, InputError, TaskError
from dirft.units import CHUNK

_CR, _LF = 13, 10
_CR_LINE_END = re.compile(rb"\r\n?")
_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


def _first_end(buf: bytes, frm: int) -> int:
    """Return the index of the first ``\\r`` or ``\\n`` in ``buf`` at or after ``frm``, or -1."""
    lf = buf.find(b"\n", frm)
    cr = buf.find(b"\r", frm, lf if lf >= 0 else len(buf))
    return cr if cr >= 0 else lf


def _last_end(buf: bytes, stop: int) -> int:
    """Return the index of the last ``\\r`` or ``\\n`` in ``buf[:stop]``, or -1."""
    return max(buf.rfind(b"\n", 0, stop), buf.rfind(b"\r", 0, stop))


def _to_lf(segment: bytes) -> bytes:
    """Return whole lines ``segment`` with every terminator (``\\r\\n``, ``\\r``) made ``\\n``."""
    return _CR_LINE_END.sub(b"\n", segment) if b"\r" in segment else segment


class _Window:
    """A growing window ``buf`` on a file from absolute offset ``base``; internal to the reader.

    Each :meth:`fill` reads at least ``max(chunk_size, len(buf))`` bytes, so a line longer
    than many chunks costs amortized linear time. ``eof`` turns true once a read is empty.
    """

    def __init__(self, f: BinaryIO, base: int, chunk_size: int) -> None:
        """Start an empty window on ``f`` at byte ``base`` (the caller has seeked there)."""
        self.f, self.base, self.chunk_size = f, base, chunk_size
        self.buf, self.eof = b"", False

    def fill(self) -> None:
        """Append the next bytes of the file to ``buf``; set ``eof`` when there are none."""
        data = self.f.read(max(self.chunk_size, len(self.buf)))
        if data:
            self.buf += data
        else:
            self.eof = True

    def end_after(self, t: int) -> int:
        """Return the offset in ``buf`` just past the terminator at ``t``, or -1 if unknown.

        ``\\r\\n`` is one terminator; a ``\\r`` that ends ``buf`` before EOF is unknown yet.
        """
        if self.buf[t] != _CR:
            return t + 1
        if t + 1 < len(self.buf):
            return t + 2 if self.buf[t + 1] == _LF else t + 1
        return t + 1 if self.eof else -1

    def drop(self, cut: int) -> bytes:
        """Remove and return ``buf[:cut]``, moving ``base`` forward by ``cut`` bytes."""
        head, self.buf = self.buf[:cut], self.buf[cut:]
        self.base += cut
        return head


def read_records(f: BinaryIO, start: int, end: int,
                 chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Yield the records of the byte range ``(start, end]`` of ``f``, as a mapper's stdin.

    Takes a seekable binary file, absolute offsets ``0 <= start <= end`` in bytes and the
    read size in bytes. Yields non-empty chunks, each several whole records each followed by
    exactly ``b"\\n"``, for the records starting at ``p`` with ``start < p <= end`` (or
    ``0 <= p <= end`` when ``start == 0``), finishing the line that straddles ``end`` however
    long it is (Hadoop ``LineRecordReader``; see the module docstring). Raises
    :class:`InputError` for a bad range or chunk size; I/O errors of ``f`` propagate.
    """
    if start < 0 or end < start or chunk_size < 1:
        raise InputError(f"cannot read records of byte range ({start}, {end}] "
                         f"with chunk size {chunk_size}")
    f.seek(start)
    win = _Window(f, start, chunk_size)
    if start > 0 and not _skip_first_line(win, end):
        return
    yield from _read_lines(win, end)


def _skip_first_line(win: _Window, end: int) -> bool:
    """Move ``win`` to the first line start after its ``base`` (``LineRecordReader`` skip).

    The line that starts at or straddles ``base`` belongs to the previous range. Returns
    False when there is no line start in ``(base, end]`` before EOF.
    """
    while True:
        t = _first_end(win.buf, 0)
        cut = win.end_after(t) if t >= 0 else -1
        if cut >= 0:
            win.drop(cut)
            return win.base <= end
        if win.eof:
            return False
        if t < 0:
            win.drop(len(win.buf))
        win.fill()


def _read_lines(win: _Window, end: int) -> Iterator[bytes]:
    """Yield the lines of ``win`` from its ``base`` (a line start <= ``end``) on, as chunks.

    Stops after the line holding offset ``end``: the first terminator at or after ``end``.
    """
    while True:
        t = _first_end(win.buf, end - win.base)
        cut = win.end_after(t) if t >= 0 else -1
        if cut >= 0:
            yield _to_lf(win.drop(cut))
            return
        if win.eof:
            if win.buf:
                yield _to_lf(win.buf) + (b"" if win.buf[-1] in (_CR, _LF) else b"\n")
            return
        cut = _complete_lines(win)
        if cut:
            yield _to_lf(win.drop(cut))
        win.fill()


def _complete_lines(win: _Window) -> int:
    """Return how many leading bytes of ``win.buf`` are whole, decided lines (maybe 0).

    A ``\\r`` at the very end of the buffer waits: a ``\\n`` may follow in the next read.
    """
    stop = len(win.buf) - 1 if win.buf.endswith(b"\r") else len(win.buf)
    t = _last_end(win.buf, stop)
    return win.end_after(t) if t >= 0 else 0


def split_records(data: bytes) -> list[bytes]:
    """Return all records of a whole file's bytes ``data``, without terminators.

    The simple reference for :func:`read_records`: split at ``\\r\\n``, ``\\r`` or ``\\n``;
    the last line counts without a terminator; a trailing terminator (or empty ``data``)
    adds no empty record (Hadoop ``LineRecordReader``).
    """
    records = _ANY_LINE_END.split(data)
    if records[-1] == b"":
        records.pop()
    return records


_NOT_TAB_OR_NEWLINE = bytes(b for b in range(256) if b not in (9, 10))


def _normalize_lines(lines: bytes, key_fields: int = 1, separator: bytes = b"\t",
                     text_output: bool = False) -> tuple[bytes, int]:
    """Return whole ``\\n``-terminated ``lines`` with ``\\t`` added to each line with fewer
    than ``key_fields`` tabs, and how many lines they are.

    Such a line is all key and an empty value: ``line`` becomes ``line\\t`` (Hadoop
    Streaming's ``TextOutputReader`` split at the ``stream.num.map.output.key.fields``-th
    separator, then ``TextOutputFormat``). For one key field the tab check runs in C:
    keeping only tabs and newlines, a line without a tab leaves a newline right after the
    previous one (or at the start), about 9x faster than testing each line in Python; the
    same few marks give the line count, far cheaper than counting newlines in the whole
    output. Another ``separator`` goes line by line (:func:`split_line`).
    """
    if separator != b"\t":
        parts = lines.split(b"\n")
        parts.pop()
        return b"".join([split_line(line, separator, key_fields, text_output) + b"\n"
                         for line in parts]), len(parts)
    if key_fields > 1:
        parts = lines.split(b"\n")
        parts.pop()
        return b"".join([line + (b"\n" if line.count(b"\t") >= key_fields else b"\t\n")
                         for line in parts]), len(parts)
    marks = lines.translate(None, _NOT_TAB_OR_NEWLINE)
    if not marks.startswith(b"\n") and b"\n\n" not in marks:
        return lines, marks.count(b"\n")
    parts = lines.split(b"\n")
    parts.pop()
    return b"".join([line + (b"\n" if b"\t" in line else b"\t\n") for line in parts]), len(parts)


def separator_at(line: bytes, separator: bytes, fields: int) -> int:
    """Index of the ``fields``-th ``separator`` in ``line`` (each search starting after the
    previous match, as ``TextOutputReader.splitKeyVal``), or -1 if there are fewer."""
    pos = line.find(separator)
    for _ in range(1, fields):
        if pos < 0:
            break
        pos = line.find(separator, pos + len(separator))
    return pos


def key_end(line: bytes, separator: bytes, fields: int) -> int:
    """Where the key of a stored map output line ends: at its ``fields``-th ``separator``,
    else at its last one (a line with fewer was all key and got one appended), else at
    its end."""
    end, pos = -1, -len(separator)
    for _ in range(fields):
        pos = line.find(separator, pos + len(separator))
        if pos < 0:
            break
        end = pos
    return len(line) if end < 0 else end


def split_line(line: bytes, separator: bytes, fields: int, text_output: bool) -> bytes:
    """One program output line (no terminator) split as Hadoop Streaming splits it: the
    key ends at the ``fields``-th ``separator`` (a line with fewer is all key, its value
    empty). ``text_output``: returns ``key\\tvalue`` as ``TextOutputFormat`` writes it (a
    map-only job's or a reducer's output). Otherwise the stored form of a map output line
    a reduce stage reads: the line itself, with ``separator`` appended when it has fewer
    (:func:`key_end` finds the key again). Raises :class:`TaskError` for a line whose key
    that cannot mark (a multi-byte separator overlapping the line's end).
    """
    pos = separator_at(line, separator, fields)
    if text_output:
        return line + b"\t" if pos < 0 else line[:pos] + b"\t" + line[pos + len(separator):]
    if pos >= 0:
        return line
    marked = line + separator
    if key_end(marked, separator, fields) != len(line):
        raise TaskError(f"map output line {line[:60]!r}: its key cannot be marked with the "
                        f"separator {separator!r} (it overlaps the line's end); choose "
                        "another stream.map.output.field.separator")
    return marked


class LineNormalizer:
    """Turn a program's output byte stream into Hadoop's stored ``key\\tvalue\\n`` lines.

    Feed stdout of a mapper, combiner or reducer in chunks of any size; lines end at
    ``\\n``, ``\\r\\n`` or a lone ``\\r`` (also across chunk edges). Each line becomes
    ``key\\tvalue\\n`` where key is the bytes before the first tab and value the rest; a line
    with no tab becomes ``line\\t\\n`` and an empty line ``\\t\\n`` (Hadoop Streaming's
    ``TextOutputReader``, which reads lines with ``LineReader`` and splits at the first
    tab, then ``TextOutputFormat``). The output does not depend on how the stream was
    chunked. ``lines`` counts the lines returned so far (each ends in the one ``\\n`` it
    holds): the "output records" counters, exact and without a pass over the bytes. With
    ``key_fields`` N > 1 (``stream.num.map.output.key.fields``) a line with fewer than N
    tabs is all key and gets one tab appended. Another ``separator``
    (``stream.map.output.field.separator``, ``stream.reduce.output.field.separator``)
    splits as :func:`split_line` does, ``text_output`` choosing ``key\\tvalue`` over the
    stored map output form. ``unchanged`` stays True while the bytes
    returned so far are exactly the bytes fed whose lines are complete (after :meth:`close`:
    the output is the input), which lets a caller keep a file that needs no rewriting.
    """

    def __init__(self, key_fields: int = 1, separator: bytes = b"\t",
                 text_output: bool = False) -> None:
        """Start with no pending bytes; ``key_fields`` >= 1 fields form the key."""
        self._split = (key_fields, separator, text_output)
        self.lines = 0
        self.unchanged = True
        self._tail = b""
        self._after_cr = False
        self._closed = False

    def feed(self, chunk: bytes) -> bytes:
        """Take the next ``chunk`` of output; return the normalized bytes of lines now complete.

        Raises :class:`DirftError` if called after :meth:`close`.
        """
        if self._closed:
            raise DirftError("LineNormalizer.feed() called after close()")
        if self._after_cr and chunk:
            chunk = chunk[1:] if chunk[0] == _LF else chunk
            self._after_cr = False
        data = self._tail + chunk if self._tail else chunk
        cut = _last_end(data, len(data)) + 1
        self._tail = data[cut:]
        if not cut:
            return b""
        self._after_cr = cut == len(data) and data[-1] == _CR
        segment = data[:cut]
        out = self._counted(_normalize_lines(_to_lf(segment), *self._split))
        if out is not segment and self.unchanged:  # the fast path returns its input itself
            self.unchanged = out == segment
        return out

    def close(self) -> bytes:
        """End the stream; return the last line, normalized, if it had no terminator.

        Returns ``b""`` when the stream ended with a terminator. Idempotent.
        """
        self._closed = True
        tail, self._tail = self._tail, b""
        if not tail:
            return b""
        self.unchanged = False  # the last line gets its terminator
        return self._counted(_normalize_lines(tail + b"\n", *self._split))

    def _counted(self, normalized: tuple[bytes, int]) -> bytes:
        data, lines = normalized
        self.lines += lines
        return data


def key_of(line: bytes) -> bytes:
    """Return the key of a normalized line: the bytes before its first tab.

    Takes one ``key\\tvalue\\n`` line; a line without a tab (not normalized) is all key,
    without its trailing ``\\n``. Streaming's defaults: ``stream.map.output.field.separator``
    is a tab and ``stream.num.map.output.key.fields`` is 1 (``TextOutputReader``).
    """
    tab = line.find(b"\t")
    if tab >= 0:
        return line[:tab]
    return line[:-1] if line.endswith(b"\n") else line


def unmarked(line: bytes, separator: bytes, fields: int) -> bytes:
    """A stored map output line (no terminator) as Hadoop Streaming must read it again to
    split it as it split the mapper's own line: without the ``separator`` the normalizer
    appended (:func:`split_line`) when that leaves it fewer than ``fields`` separators.

    Hadoop's ``TextOutputReader.splitKeyVal`` makes a line with fewer than ``fields``
    separators all key; ``line + separator`` is read back right only if it then has
    ``fields`` of them (``fields`` = 1, or ``line`` had ``fields`` - 1). Otherwise
    ``line`` itself gives Hadoop the same key and the same empty value. Takes and returns
    bytes; raises nothing.
    """
    if fields == 1 or separator_at(line, separator, fields) >= 0 \
            or not line.endswith(separator):
        return line
    return line[:-len(separator)]


class UnmarkingWriter:
    """A binary stream that hands Hadoop's shuffle stored map output lines as Hadoop
    Streaming must read them (:func:`unmarked`), for ``stream.num.map.output.key.fields``
    above 1; the Hadoop runner's emitting replicas, commit job and direct mode write
    through it. ``write`` takes chunks cut anywhere (lines end at ``\\n``); ``flush``
    passes on a last line without a terminator as it is, unmarked, and flushes ``out``.
    The signed bytes stay the stored ones: only what Hadoop reads is rewritten.
    """

    def __init__(self, out, separator: bytes, fields: int) -> None:
        """Write to the binary stream ``out``; ``separator``: the map output separator."""
        self.out, self.separator, self.fields = out, separator, fields
        self._tail = b""

    def write(self, data: bytes) -> int:
        """Take the next chunk; write the lines now complete; return ``len(data)``."""
        joined = self._tail + data
        cut = joined.rfind(b"\n") + 1
        self._tail = joined[cut:]
        if cut:
            lines = joined[:cut - 1].split(b"\n")
            self.out.write(b"\n".join([unmarked(line, self.separator, self.fields)
                                       for line in lines]) + b"\n")
        return len(data)

    def flush(self) -> None:
        """Write a pending last line (no terminator) and flush ``out``."""
        if self._tail:
            self.out.write(unmarked(self._tail, self.separator, self.fields))
            self._tail = b""
        self.out.flush()


def hadoop_stream(out, separator: bytes, fields: int):
    """``out`` itself where Hadoop Streaming reads the stored lines as they are (one key
    field: the appended separator is the first one), else an :class:`UnmarkingWriter`."""
    return out if fields == 1 else UnmarkingWriter(out, separator, fields)
