"""Sequence numbers against replay (docs/design.md, 'Voting service'), per replica.

Pure bookkeeping, no I/O; :mod:`dirft.service.messages` re-exports :class:`SequenceTracker`.
"""

from __future__ import annotations

import threading

from dirft.errors import ProtocolError


class SequenceTracker:
    """Remember, per (task, replica), the last accepted sequence number.

    A replica numbers its messages 1, 2, 3, ... (gaps allowed: a message lost in transit
    or a retry consumes a number); anything at or below the last accepted number is a
    replay or arrived out of order and is refused (docs/design.md, 'Voting service').
    A lock makes it safe from any thread, though the service uses one.
    """

    def __init__(self) -> None:
        """Start with no (task, replica) seen."""
        self._last: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def check_and_record(self, task: int, replica: int, seq: int) -> None:
        """Accept ``seq`` for (``task``, ``replica``) if above the last one, and record it.

        Returns ``None``; raises :class:`ProtocolError` 409 if ``seq`` is at or below the
        last accepted number (nothing is recorded then).
        """
        key = (task, replica)
        with self._lock:
            last = self._last.get(key, 0)
            if seq <= last:
                raise ProtocolError(f"task {task} replica {replica}: seq {seq} is not "
                                    f"above the last accepted {last} (replay or "
                                    "reordering)", 409)
            self._last[key] = seq

    def last(self, task: int, replica: int) -> int:
        """Return the last accepted seq of (``task``, ``replica``), 0 if none yet."""
        with self._lock:
            return self._last.get((task, replica), 0)
