"""What the Hadoop runner and a replica running as a Hadoop map attempt agree on.

Two things cross the boundary between :mod:`dirft.runners` and :mod:`dirft.runtime` on
Hadoop besides the job spec and the manifests: the **attempt id** Hadoop gives a map
attempt (``attempt_<cluster>_<job>_m_<task>_<n>``, Hadoop's ``TaskAttemptID``), which a
replica registers with and the runner reads back from the job's ``Task Id : attempt_…,
Status : FAILED`` lines, and the **emission counters**: a replica that writes its task's
decided outputs into the shuffle adds 1 to ``dirft-emit/task-NNNNN``, which the runner
checks after the job (Hadoop keeps only a successful attempt's counters). Both sides read
the rules from here, so each is written once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The counter group an emitting replica counts in (one counter per task: :func:`emit_counter`).
EMIT_GROUP = "dirft-emit"

_ATTEMPT = re.compile(r"_([mr])_(\d+)_(\d+)$")


def emit_counter(task: int) -> str:
    """The counter name (in :data:`EMIT_GROUP`) an emitting replica of ``task`` (>= 0) adds
    1 to: ``task-00003``. Hadoop keeps only a successful attempt's counters, so it is 1 for
    every task exactly when each task's outputs reached the shuffle once."""
    return f"task-{task:05d}"


@dataclass(frozen=True)
class AttemptId:
    """A parsed Hadoop ``TaskAttemptID``: ``is_map`` (``m``, else ``r``), the task's index
    in its job (``task`` >= 0) and the attempt number (``number`` >= 0)."""

    is_map: bool
    task: int
    number: int


def parse_attempt(attempt: str) -> AttemptId | None:
    """``attempt_1700000000000_0003_m_000007_2`` -> ``AttemptId(True, 7, 2)``; None for a
    string not ending like a task attempt id (Hadoop's ``TaskAttemptID.forName`` form)."""
    match = _ATTEMPT.search(attempt)
    if match is None:
        return None
    return AttemptId(match.group(1) == "m", int(match.group(2)), int(match.group(3)))


def map_index(attempt: str) -> int | None:
    """The map task number of a map attempt id (``…_m_000003_0`` -> 3); None for a reduce
    attempt or a string that is no attempt id."""
    parsed = parse_attempt(attempt)
    return parsed.task if parsed is not None and parsed.is_map else None


def attempt_of(env: Mapping[str, str] = os.environ) -> str:
    """The running task's attempt id as Hadoop Streaming exports it to the task's
    environment (``mapreduce_task_attempt_id``, or its deprecated alias ``mapred_task_id``),
    or "" outside Hadoop."""
    return env.get("mapreduce_task_attempt_id") or env.get("mapred_task_id") or ""


def attempt_number(env: Mapping[str, str] = os.environ) -> int:
    """The running task's attempt number (``…_m_000003_2`` -> 2); 0 if unknown."""
    parsed = parse_attempt(attempt_of(env))
    return parsed.number if parsed is not None else 0
