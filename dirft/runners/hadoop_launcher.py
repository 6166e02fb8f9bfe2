"""Running ``hadoop`` for the Hadoop runner: finding it, submitting jobs, reading their logs.

What is reused from mrjob (0.7.4), which knows Hadoop's habits:

* finding the ``hadoop`` executable and the streaming jar: ``mrjob.hadoop.HadoopJobRunner``'s
  ``get_hadoop_bin`` (``$HADOOP_PREFIX``, ``$HADOOP_HOME``, ``$HADOOP_INSTALL``, ``$PATH``)
  and ``get_hadoop_streaming_jar`` (``hadoop*streaming*.jar`` under those homes and the
  one implied by the binary's path), used for discovery only, never to run a job;
* reading what ``hadoop jar`` prints: ``mrjob.logs.step._interpret_hadoop_jar_command_stderr``
  (log4j records, the job id, the counters block; its record callback hands over the
  counters record whole, so the listing is also kept line for line as Hadoop printed it),
  and mrjob's patterns for the job id and
  failed task attempts. Those two are matched line by line as the job runs (mrjob's parser
  hands on a record only when the next one starts, and the next line may be long in coming
  when every replica waits for a dead one), so the runner learns of each failed attempt at
  once.

The command lines themselves are built by :mod:`dirft.runners.hadoop_cmd`; this module only
runs them. :class:`Launcher` is the small interface the runner talks to, so tests can
substitute a fake ``hadoop`` executable (``tests/fake_hadoop``) without changing the runner.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field

from mrjob.hadoop import HadoopJobRunner
from mrjob.logs.step import (_RUNNING_JOB_RE, _TASK_ATTEMPT_FAILED_RE,
                             _interpret_hadoop_jar_command_stderr, _is_counter_log4j_record)
from mrjob.py2 import to_unicode

from dirft.errors import ConfigError, DirftError

logging.getLogger("mrjob").addHandler(logging.NullHandler())  # its search logs stay quiet
_EXIT_CODE = re.compile(r"subprocess failed with code (\d+)")
_ERROR_LINE = re.compile(r" ERROR |Exception|Error")
_MESSAGE = re.compile(r"^\S.*? [A-Z]+ \S+: (?P<message>.*)$")  # after log4j's "date level logger: "


class HadoopJobFailed(DirftError):
    """A ``hadoop jar`` submission failed for a reason other than the job's own tasks."""


@dataclass(frozen=True)
class AttemptFailed:
    """Hadoop reported attempt ``attempt_id`` FAILED; ``code``: the streaming mapper's exit
    status if Hadoop printed it (else None); ``message``: Hadoop's error text."""

    attempt_id: str
    code: int | None
    message: str


@dataclass
class StepResult:
    """The end of one ``hadoop jar``: exit status, Hadoop job id, counters
    (``{group: {name: amount}}``, names stripped), failed attempts, the local log file and
    ``listing``: Hadoop's ``Counters: N`` block as ``hadoop jar`` printed it, one string a
    line without the log4j prefix (tabs and the trailing space of ``Job Counters `` kept;
    ``org.apache.hadoop.mapreduce.Counters.toString``), empty when it printed none."""

    returncode: int
    job_id: str | None
    counters: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    log_path: str = ""
    listing: list = field(default_factory=list)

    def cause(self) -> str:
        """One line on why the job failed: the first task error, else what ``hadoop jar``
        said last (:func:`log_tail`), quoted now because the log lives in the run's local
        scratch directory, which is removed on exit unless ``dirft.keep.temp`` is set."""
        if self.failures:
            first = self.failures[0]
            return f"attempt {first.attempt_id} failed: {_one_line(first.message)}"
        if not self.log_path:
            return "no log"
        return (f"hadoop jar said: {log_tail(self.log_path)} (its whole log, {self.log_path}, "
                f"is removed with the scratch directory; -D dirft.keep.temp=true keeps it)")


def log_tail(path: str, lines: int = 40) -> str:
    """The last error line among the last ``lines`` lines of a ``hadoop jar`` log (a log4j
    ``ERROR`` record, an exception or ``Error``/``Exception`` text; not streaming's closing
    ``Streaming Command Failed!``), else its last non-empty line, squeezed to one line of
    at most 300 characters; "an empty log" or "no log at PATH" otherwise. Holds only the
    last ``lines`` lines in memory, however long the log."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tail = [line.strip() for line in collections.deque(f, maxlen=lines)
                    if line.strip()]
    except OSError:
        return f"no log at {path}"
    errors = [line for line in tail if _ERROR_LINE.search(line)
              and not line.startswith("Streaming Command Failed")]
    return _one_line((errors or tail or ["an empty log"])[-1])


def _one_line(text: str) -> str:
    """``text`` with its whitespace runs squeezed to one space, cut to 300 characters."""
    return " ".join(text.split())[:300]


def find_hadoop(home: str, binary: str, jar: str) -> tuple[tuple, str]:
    """The hadoop argv prefix and the streaming jar, from ``dirft.hadoop.home|bin|
    streaming.jar`` (empty: mrjob's search). Raises ConfigError naming the key to set."""
    if not binary and home:
        binary = os.path.join(home, "bin", "hadoop")
    quiet = logging.getLogger("mrjob.conf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "No configs specified for hadoop runner": none needed
    try:
        finder = HadoopJobRunner(hadoop_bin=[binary] if binary else None,
                                 hadoop_streaming_jar=jar or None, conf_paths=[])
    finally:
        quiet.setLevel(level)
    hadoop_bin = tuple(finder.get_hadoop_bin())
    exe = hadoop_bin[0] if "/" in hadoop_bin[0] else shutil.which(hadoop_bin[0])
    if not exe or not os.access(exe, os.X_OK):
        raise ConfigError(f"no hadoop executable at {hadoop_bin[0]!r}; set dirft.hadoop.home "
                          f"or dirft.hadoop.bin, or HADOOP_HOME")
    found = finder.get_hadoop_streaming_jar()
    if not found or not os.path.exists(found):
        raise ConfigError(f"no hadoop-streaming jar found (looked under the Hadoop homes of "
                          f"{hadoop_bin[0]}); set dirft.hadoop.streaming.jar")
    return hadoop_bin, found


class Running:
    """A submitted ``hadoop jar``, read by a background thread.

    ``on_event(running, event)`` is called from that thread with ``("job", job_id)`` once
    Hadoop names the job, ``("failed", AttemptFailed)`` for each failed attempt, and
    ``("done", StepResult)`` at the end. ``tag`` is the caller's label.
    """

    def __init__(self, argv: list, log_path: str, on_event, tag=None) -> None:
        self.argv, self.log_path, self.on_event, self.tag = argv, log_path, on_event, tag
        self.job_id: str | None = None
        self.result: StepResult | None = None
        self._done = threading.Event()
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, name="dirft-hadoop-jar", daemon=True).start()

    def _read(self) -> None:
        failures: list = []
        listing: list = []
        with open(self.log_path, "a", encoding="utf-8") as log:
            step = _interpret_hadoop_jar_command_stderr(
                self._lines(log, failures), record_callback=functools.partial(_keep_listing,
                                                                              listing))
        code = self._proc.wait()
        self.result = StepResult(code, step.get("job_id") or self.job_id,
                                 _clean_counters(step.get("counters") or {}), failures,
                                 self.log_path, listing)
        self._done.set()
        self.on_event(self, ("done", self.result))

    def _lines(self, log, failures: list):
        """Yield ``hadoop jar``'s output lines, logging them and reporting the job id and
        each failed attempt (with the exit code Hadoop prints on the next line) at once."""
        failed = None
        for raw in self._proc.stdout:
            line = to_unicode(raw).rstrip("\r\n")
            log.write(line + "\n")
            log.flush()
            if failed is not None:
                self._failed(failed, line, failures)
            match = _MESSAGE.match(line)
            message = match.group("message") if match else ""
            running = _RUNNING_JOB_RE.match(message)
            if running and self.job_id is None:
                self.job_id = running.group("job_id")
                self.on_event(self, ("job", self.job_id))
            attempt = _TASK_ATTEMPT_FAILED_RE.match(message)
            failed = attempt.group("attempt_id") if attempt else None
            yield raw
        if failed is not None:
            self._failed(failed, "", failures)

    def _failed(self, attempt_id: str, detail: str, failures: list) -> None:
        code = _EXIT_CODE.search(detail)
        attempt = AttemptFailed(attempt_id, int(code.group(1)) if code else None, detail)
        failures.append(attempt)
        self.on_event(self, ("failed", attempt))

    @property
    def done(self) -> bool:
        """True once ``hadoop jar`` has exited and its output was read."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> StepResult | None:
        """The result, waiting up to ``timeout`` seconds (None: forever)."""
        self._done.wait(timeout)
        return self.result

    def terminate(self) -> None:
        """Stop the local ``hadoop jar`` client (the job itself is killed with
        ``hadoop job -kill``)."""
        if self._proc.poll() is None:
            self._proc.terminate()


def _keep_listing(listing: list, record: dict) -> None:
    """Put the lines of ``record`` (a log4j record of mrjob's parser) into ``listing`` if it
    is the counters block; the last such block wins, as in mrjob's own parse."""
    if _is_counter_log4j_record(record):
        listing[:] = record["message"].splitlines()


def _clean_counters(counters: dict) -> dict:
    """Counters with group and names stripped (Hadoop prints ``Job Counters `` with a
    trailing space)."""
    return {group.strip(): {name.strip(): amount for name, amount in names.items()}
            for group, names in counters.items()}


class Launcher:
    """Submits ``hadoop jar`` argvs and runs short ``hadoop`` commands (kills)."""

    def start(self, argv: list, log_path: str, on_event, tag=None) -> Running:
        """Submit ``argv``; see :class:`Running`."""
        return Running(argv, log_path, on_event, tag)

    def run_quiet(self, argv: list, timeout: float = 60.0) -> int:
        """Run a short command (e.g. ``hadoop job -kill-task``); its exit status, or -1 if
        it could not run or took longer than ``timeout`` seconds."""
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=timeout).returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1
