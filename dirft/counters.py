"""Counters and status lines that streaming tasks report on stderr.

Hadoop Streaming reads a task's stderr line by line (``PipeMapRed.MRErrorThread``). A line
that starts with the reporter prefix (``stream.stderr.reporter.prefix``, default
``reporter:``) is a message to the framework:

* ``reporter:counter:GROUP,NAME,AMOUNT`` adds AMOUNT (a Java ``long``) to counter GROUP/NAME
  (``PipeMapRed.incrCounter``);
* ``reporter:status:MESSAGE`` sets the task's status line (``PipeMapRed.setStatus``).

A reporter line that does not parse (an amount that is not a number, not exactly three
comma-separated columns, an unknown verb) is logged and ignored by Hadoop; it never fails the
task. Every other stderr line goes to the task log. :class:`StderrScanner` does the same for
dirft and keeps the last few log lines to quote in error messages.
"""

from __future__ import annotations

import re
from collections import deque
from typing import IO, Mapping, Optional, Union

COUNTER_PREFIX = "reporter:counter:"
STATUS_PREFIX = "reporter:status:"

# Java's Long.parseLong: an optional sign, then decimal digits (any script's, as
# Character.digit accepts them; so does Python's int), nothing else (no spaces).
_LONG = re.compile(r"[+-]?\d+")
# Java's String.trim removes every character <= U+0020 from both ends.
_JAVA_BLANKS = "".join(map(chr, range(0x21)))
_LONG_MIN, _LONG_MAX = -(2 ** 63), 2 ** 63 - 1
# A stderr line ends at \n, \r\n or a lone \r, as Hadoop's LineReader splits it.
_EOL = re.compile(rb"\r\n|\r|\n")
# A line longer than this (bytes) is cut and handled in pieces, so memory stays bounded.
MAX_LINE = 1 << 20


def _java_split_comma(text: str) -> list[str]:
    """Split ``text`` at commas as Java's ``String.split(",")`` does.

    Java drops trailing empty strings, so ``"g,n,"`` gives two columns, not three.
    """
    parts = text.split(",")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _parse_counter(rest: str) -> Optional[tuple]:
    """Parse ``GROUP,NAME,AMOUNT`` (already without its prefix and trimmed).

    Returns ``("counter", group, name, amount)`` or None when Hadoop's
    ``PipeMapRed.incrCounter`` would log "Cannot parse counter line" and ignore it.
    """
    columns = _java_split_comma(rest)
    if len(columns) != 3 or not _LONG.fullmatch(columns[2]):
        return None
    amount = int(columns[2])
    if not _LONG_MIN <= amount <= _LONG_MAX:
        return None  # Long.parseLong throws NumberFormatException: ignored.
    return ("counter", columns[0], columns[1], amount)


def parse_reporter_line(line: Union[bytes, str]) -> Optional[tuple]:
    """Parse one stderr line of a streaming task as Hadoop's ``PipeMapRed`` does.

    Takes a line (``bytes`` are decoded as UTF-8, bad bytes replaced; a trailing ``\\n`` or
    ``\\r\\n`` is ignored). Returns ``("counter", group: str, name: str, amount: int)`` for
    ``reporter:counter:GROUP,NAME,AMOUNT``, ``("status", message: str)`` for
    ``reporter:status:MESSAGE``, and None for any other line, including a malformed reporter
    line (Hadoop logs a warning and ignores it). Like Hadoop, the text after the prefix is
    trimmed as Java's ``String.trim`` does (characters <= U+0020). Never raises.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.rstrip("\r\n")
    if line.startswith(COUNTER_PREFIX):
        return _parse_counter(line[len(COUNTER_PREFIX):].strip(_JAVA_BLANKS))
    if line.startswith(STATUS_PREFIX):
        return ("status", line[len(STATUS_PREFIX):].strip(_JAVA_BLANKS))
    return None


class Counters:
    """Hadoop-style counters: ``group -> name -> int`` totals.

    Amounts are plain Python ints (Hadoop keeps Java longs; totals beyond 2**63 do not
    occur in practice). A counter that was added to exists, even with total 0, as in
    Hadoop's counter listing.
    """

    def __init__(self) -> None:
        """Create an empty set of counters."""
        self._groups: dict[str, dict[str, int]] = {}

    def add(self, group: str, name: str, amount: int = 1) -> None:
        """Add ``amount`` (int, may be negative) to counter ``group``/``name``."""
        names = self._groups.setdefault(group, {})
        names[name] = names.get(name, 0) + int(amount)

    def get(self, group: str, name: str) -> int:
        """Return the total of ``group``/``name``; 0 when it was never added to."""
        return self._groups.get(group, {}).get(name, 0)

    def merge(self, other: "Counters") -> None:
        """Add every counter of ``other`` into this one (as a job sums its tasks')."""
        for group, names in other._groups.items():
            for name, amount in names.items():
                self.add(group, name, amount)

    def to_dict(self) -> dict[str, dict[str, int]]:
        """Return ``{group: {name: total}}`` with groups and names in sorted order."""
        return {group: dict(sorted(self._groups[group].items()))
                for group in sorted(self._groups)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, int]]) -> "Counters":
        """Build counters from ``{group: {name: total}}`` (the shape :meth:`to_dict` gives)."""
        counters = cls()
        for group, names in data.items():
            for name, amount in names.items():
                counters.add(group, name, amount)
        return counters

    def __eq__(self, other: object) -> bool:
        """Counters are equal when they hold the same groups, names and totals."""
        if not isinstance(other, Counters):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __bool__(self) -> bool:
        """True when at least one counter exists."""
        return bool(self._groups)

    def __repr__(self) -> str:
        """Show the counters as their sorted dict."""
        return f"Counters({self.to_dict()!r})"


class StderrScanner:
    """Reads a streaming task's stderr as ``PipeMapRed.MRErrorThread`` does.

    Feed it the raw bytes chunk by chunk (a line may be split anywhere, also between
    ``\\r`` and ``\\n``). It adds ``reporter:counter:`` lines to :attr:`counters`, keeps the
    last ``reporter:status:`` message in :attr:`status`, and keeps the last ``tail_lines``
    other lines (decoded as UTF-8, bad bytes replaced) in :attr:`tail` for error messages. A
    malformed reporter line is not a counter; it is kept in the tail, where it helps the user
    see their mistake. If ``log`` (a binary file object) is given, every byte fed is written
    to it unchanged, like Hadoop's task log (``stderr`` file).
    """

    def __init__(self, tail_lines: int = 20, log: Optional[IO[bytes]] = None) -> None:
        """Start with no counters, no status and an empty tail of ``tail_lines`` lines."""
        self.counters = Counters()
        self.status: Optional[str] = None
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._log = log
        self._pending = b""

    @property
    def tail(self) -> list[str]:
        """The last non-reporter lines seen, oldest first, without line terminators."""
        return list(self._tail)

    def feed(self, chunk: bytes) -> None:
        """Take the next ``chunk`` of stderr bytes; complete lines are handled at once.

        A ``\\r`` at the end of the chunk is held back until the next chunk shows whether a
        ``\\n`` follows it. Raises OSError only if writing to the log fails.
        """
        if self._log is not None and chunk:
            self._log.write(chunk)
        data = self._pending + chunk
        hold = b""
        if data.endswith(b"\r"):
            data, hold = data[:-1], b"\r"
        lines = _EOL.split(data)
        self._pending = lines.pop() + hold
        for line in lines:
            self._line(line)
        if len(self._pending) > MAX_LINE:
            self._line(self._pending)
            self._pending = b""

    def close(self) -> None:
        """Handle a last line that had no terminator, and flush the log if any."""
        if self._pending.rstrip(b"\r"):
            self._line(self._pending.rstrip(b"\r"))
        self._pending = b""
        if self._log is not None:
            self._log.flush()

    def _line(self, line: bytes) -> None:
        """Handle one complete stderr line (without its terminator)."""
        parsed = parse_reporter_line(line)
        if parsed is None:
            self._tail.append(line.decode("utf-8", errors="replace"))
        elif parsed[0] == "counter":
            self.counters.add(parsed[1], parsed[2], parsed[3])
        else:
            self.status = parsed[1]
