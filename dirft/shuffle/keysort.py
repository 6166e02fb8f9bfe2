"""An external merge sort of a partition file in Hadoop's key order, in Python.

Used when GNU sort cannot give Hadoop's order: a key of several fields
(``stream.num.map.output.key.fields`` > 1, where GNU sort's ``-k1,N`` would also compare
the tab after a short key) or a ``KeyFieldBasedComparator`` (GNU sort's ``-n`` is not
Hadoop's numerical comparison of digit strings, nor are its missing-field and reverse
rules), which is the exact port of :mod:`dirft.keyfields`. Runs of at most ``memory``
bytes are sorted in memory and spilled to ``work_dir``, then merged (``heapq.merge``).
Lines whose keys compare equal are ordered by their whole bytes, so the output does not
depend on the order the map outputs arrived in (Hadoop leaves it undefined). Slower than
GNU sort, so used only in those cases.
"""

from __future__ import annotations

import functools
import heapq
import os
import tempfile
from contextlib import ExitStack
from typing import Callable, Iterator, Optional

from dirft.units import CHUNK


def line_sort_key(compare: Optional[Callable[[bytes, bytes], int]],
                  key_of: Callable[[bytes], bytes]):
    """``line -> sortable``: the key by ``compare`` (None: raw bytes, Hadoop's ``Text``
    order), then the whole line's bytes."""
    if compare is None:
        return lambda line: (key_of(line), line)
    wrap = functools.cmp_to_key(compare)
    return lambda line: (wrap(key_of(line)), line)


def _runs(path: str, memory: int) -> Iterator[list[bytes]]:
    """Yield lists of the lines (without ``\\n``) of ``path``, each list about ``memory``
    bytes at most (a longer line is a run of its own)."""
    run, size, carry = [], 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines:
                run.append(line)
                size += len(line) + 1
                if size >= memory:
                    yield run
                    run, size = [], 0
    if carry:
        run.append(carry)
    if run:
        yield run


def _spill(lines: list[bytes], work_dir: str) -> str:
    fd, path = tempfile.mkstemp(prefix="keysort-", dir=work_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(b"".join(line + b"\n" for line in lines))
    return path


def _read_lines(f) -> Iterator[bytes]:
    for line in f:
        yield line[:-1] if line.endswith(b"\n") else line


def sort_file(source: str, dest: str, compare: Optional[Callable[[bytes, bytes], int]],
              key_of: Callable[[bytes], bytes], memory: int, work_dir: str,
              rewrite: Optional[Callable[[bytes], bytes]] = None) -> int:
    """Sort the ``\\n``-terminated lines of ``source`` into ``dest`` by ``compare`` over
    ``key_of(line)`` (None: key bytes; ties by line bytes), using about ``memory`` bytes and spill files in
    ``work_dir`` (removed before returning); ``rewrite(line)`` is written for each line
    when given. Returns the number of lines written. Raises OSError on a read or write
    failure.
    """
    sort_key = line_sort_key(compare, key_of)
    spills: list[str] = []
    try:
        for run in _runs(source, max(int(memory), 1)):
            run.sort(key=sort_key)
            spills.append(_spill(run, work_dir))
        with ExitStack() as stack, open(dest, "wb") as out:
            streams = [_read_lines(stack.enter_context(open(p, "rb"))) for p in spills]
            count = 0
            for line in heapq.merge(*streams, key=sort_key):
                out.write((rewrite(line) if rewrite else line) + b"\n")
                count += 1
        return count
    finally:
        for path in spills:
            os.unlink(path)
