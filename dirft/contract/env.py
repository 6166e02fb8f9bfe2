"""The environment a streaming task sees, as Hadoop Streaming builds it.

Hadoop Streaming exports the whole job configuration to the task's environment
(``PipeMapRed.addJobConfToEnvironment``): every key, with each character that is not an
ASCII letter or digit replaced by ``_`` (``PipeMapRed.safeEnvVarName``), so
``mapreduce.map.input.file`` becomes ``mapreduce_map_input_file``. Keys that
``Configuration`` knows under an older, deprecated name (``ConfigUtil.addDeprecatedKeys``)
appear under that name too, which is where ``map_input_file`` and ``mapred_task_id`` come
from; MRJob's ``jobconf_from_env`` reads either. Variables given with ``-cmdenv NAME=VALUE``
(``stream.addenvironment``) come last and win.

dirft adds two things Hadoop does not: ``PYTHONHASHSEED=0`` and ``LC_ALL=C`` are forced so that
the replicas of a task produce the same bytes (set iteration order, collation), and the
directory of the running interpreter is put first on ``PATH`` so that ``python`` in a task
command is the interpreter dirft runs under.

Both sides of the driver/replica contract build it here: the replica runtime for a map,
the local runner for a reduce.

Observed values are in docs/hadoop.md, 'Task environment'.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Mapping, Optional

# Per-task keys -> the deprecated names Configuration also exposes them under
# (ConfigUtil.addDeprecatedKeys, Hadoop 3.3.6); exported through safe_env_name as well.
OLD_ALIASES: dict[str, str] = {
    "mapreduce.map.input.file": "map.input.file",
    "mapreduce.map.input.start": "map.input.start",
    "mapreduce.map.input.length": "map.input.length",
    "mapreduce.task.attempt.id": "mapred.task.id",
    "mapreduce.task.partition": "mapred.task.partition",
    "mapreduce.task.ismap": "mapred.task.is.map",
}

# Set on every task whatever the job says, so replicas agree byte for byte.
FORCED: dict[str, str] = {"PYTHONHASHSEED": "0", "LC_ALL": "C"}

_UNSAFE = re.compile(r"[^A-Za-z0-9]")
_STAMP = re.compile(r"[A-Za-z0-9]+")


def safe_env_name(key: str) -> str:
    """Return ``key`` with every character outside ``[A-Za-z0-9]`` replaced by ``_``.

    The rule of Hadoop's ``PipeMapRed.safeEnvVarName``: ``mapreduce.task.id`` ->
    ``mapreduce_task_id``. Takes and returns a str; never raises.
    """
    return _UNSAFE.sub("_", key)


def _export(env: dict[str, str], conf: Mapping[str, str]) -> None:
    """Put every ``key: value`` of ``conf`` into ``env`` under its safe name."""
    for key, value in conf.items():
        env[safe_env_name(key)] = str(value)


def _with_aliases(task_vars: Mapping[str, str]) -> dict[str, str]:
    """Return ``task_vars`` plus the deprecated alias of each key that has one."""
    both = dict(task_vars)
    for key, value in task_vars.items():
        if key in OLD_ALIASES:
            both[OLD_ALIASES[key]] = value
    return both


def _path_with_interpreter(path: Optional[str]) -> str:
    """Return ``path`` (a PATH value or None) with ``dirname(sys.executable)`` first."""
    first = os.path.dirname(os.path.abspath(sys.executable))
    rest = [p for p in (path or "").split(os.pathsep) if p and p != first]
    return os.pathsep.join([first] + rest)


def streaming_env(jobconf: Mapping[str, str], task_vars: Mapping[str, str],
                  cmdenv: Mapping[str, str] = {},  # noqa: B006 (read only)
                  base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return the environment (``dict[str, str]``) for one streaming task.

    Layers, later wins: ``base`` (default ``os.environ``); every ``jobconf`` key under its
    safe name (:func:`safe_env_name`); ``task_vars`` (dotted Hadoop names such as
    ``mapreduce.task.attempt.id``, see :func:`hadoop_ids`) under their safe names and their
    deprecated aliases (:data:`OLD_ALIASES`); ``cmdenv`` (``-cmdenv`` pairs, names as given, read by
    :func:`dirft.config.layers.parse_cmdenv`);
    then :data:`FORCED` (``PYTHONHASHSEED=0``, ``LC_ALL=C``) and the interpreter's directory
    put first on ``PATH``. Values are converted with ``str``. Never raises.
    """
    env = dict(os.environ if base is None else base)
    _export(env, jobconf)
    _export(env, _with_aliases(task_vars))
    env.update({name: str(value) for name, value in cmdenv.items()})
    env.update(FORCED)
    env["PATH"] = _path_with_interpreter(env.get("PATH"))
    return env


def hadoop_ids(job_number: int, task: int, attempt: int, is_map: bool,
               stamp: str = "local") -> dict[str, str]:
    """Return the per-task jobconf keys Hadoop sets, in Hadoop's id formats.

    Takes the job's number in this run (``job_number`` >= 0, printed with 4 digits), the task
    index (``task`` >= 0, 6 digits; it is also the partition), the attempt number (>= 0),
    whether it is a map task, and the cluster stamp (``stamp``: letters and digits; Hadoop's
    local runner uses ``local<random>``). Returns ``mapreduce.job.id``
    (``job_<stamp>_0001``), ``mapreduce.task.id`` (``task_<stamp>_0001_m_000003``; ``r`` for
    a reduce), ``mapreduce.task.attempt.id`` (``attempt_<stamp>_0001_m_000003_0``),
    ``mapreduce.task.partition`` and ``mapreduce.task.ismap`` (``true``/``false``), the forms of
    Hadoop's ``JobID``, ``TaskID`` and ``TaskAttemptID``. Raises ValueError for a negative
    number or a stamp that ``JobID.forName`` could not parse back (empty, or with ``_``).
    """
    if min(job_number, task, attempt) < 0:
        raise ValueError(f"hadoop_ids: negative id in {(job_number, task, attempt)}")
    if not _STAMP.fullmatch(stamp):
        raise ValueError(f"hadoop_ids: stamp {stamp!r} must be letters and digits only")
    job = f"{stamp}_{job_number:04d}"
    tid = f"{job}_{'m' if is_map else 'r'}_{task:06d}"
    return {
        "mapreduce.job.id": f"job_{job}",
        "mapreduce.task.id": f"task_{tid}",
        "mapreduce.task.attempt.id": f"attempt_{tid}_{attempt}",
        "mapreduce.task.partition": str(task),
        "mapreduce.task.ismap": "true" if is_map else "false",
    }
