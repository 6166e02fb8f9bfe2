"""The console a Hadoop user knows: ``map 50% reduce 0%`` while a job runs, counters at the end.

``hadoop jar`` prints, on stderr, a line ``map X% reduce Y%`` each time the job's progress
changes (``org.apache.hadoop.mapreduce.Job.monitorAndPrintJob``) and, when the job ends,
``Counters: N`` followed by each group and its ``name=value`` lines, indented by tabs
(``Counters.toString``). dirft does the same on stderr, so stdout keeps only the summary:
on a terminal a tqdm bar shows the two percentages instead of the lines.

Progress comes from the runner: map = decided map tasks / all map tasks (the core's
``undecided`` count), reduce = the share of reduce partitions written
(``Runner.reduce_progress``, kept by the local runner). A watcher thread samples them.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator, TextIO

POLL_SECONDS = 0.5  # how often the watcher samples the runner


def job_progress(runner) -> tuple[int, int] | None:
    """(map %, reduce %) of a running ``runner``, each 0..100, from its driver
    (:meth:`~dirft.runners.driver.Driver.map_progress`, asked under the driver's lock) and
    its ``reduce_progress`` (a fraction); None before its map stage has started."""
    driver = getattr(runner, "driver", None)
    if driver is None:
        return None
    reduced = float(getattr(runner, "reduce_progress", 0.0) or 0.0)
    return int(100 * driver.map_progress()), int(100 * reduced)


class ProgressPrinter:
    """Shows ``map X% reduce Y%``: a line per change on a pipe or file, a bar on a terminal.

    ``stream`` defaults to stderr; ``bar`` (default: ``stream.isatty()``) picks the bar.
    """

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.last: tuple[int, int] | None = None
        use_bar = self.stream.isatty() if bar is None else bar
        self.bar = _bar(self.stream) if use_bar else None

    def update(self, map_pct: int, reduce_pct: int) -> None:
        """Show the new percentages if they changed (each 0..100)."""
        now = (map_pct, reduce_pct)
        if now == self.last:
            return
        self.last = now
        if self.bar is not None:
            self.bar.n = (map_pct + reduce_pct) / 2
            self.bar.set_description_str(f"map {map_pct}% reduce {reduce_pct}%")
            self.bar.refresh()
        else:
            print(f"dirft: map {map_pct}% reduce {reduce_pct}%", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar, if any."""
        if self.bar is not None:
            self.bar.close()


def _bar(stream):
    from tqdm import tqdm

    return tqdm(total=100, file=stream, bar_format="{desc} |{bar}|", dynamic_ncols=True)


@contextmanager
def watching(runner, printer: ProgressPrinter, poll: float = POLL_SECONDS) -> Iterator[None]:
    """Sample ``job_progress(runner)`` into ``printer`` from a thread while the block runs;
    nothing is shown before the map stage starts (so a job refused up front prints only its
    error); on a clean exit ``map 100% reduce 100%`` comes last, as in Hadoop's client."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(poll):
            progress = job_progress(runner)
            if progress is not None:
                printer.update(*progress)

    thread = threading.Thread(target=loop, name="dirft-progress", daemon=True)
    thread.start()
    try:
        yield
        stop.set()
        thread.join()
        printer.update(100, 100)
    finally:
        stop.set()
        thread.join()
        printer.close()


class WatchedRunner:
    """A runner whose :meth:`run` shows its progress on stderr (:func:`watching`); every
    other attribute is the wrapped runner's. Takes the runner; returns what its run does."""

    def __init__(self, runner) -> None:
        self.runner = runner

    def __getattr__(self, name: str):
        return getattr(self.runner, name)

    def run(self):
        """The wrapped runner's ``run()``, watched."""
        with watching(self.runner, ProgressPrinter()):
            return self.runner.run()


def watched(runner_class):
    """``runner_class`` wrapped so that each runner it makes shows its progress on stderr
    while :meth:`run` runs (for ``dirft run``, whose steps build their own runners)."""
    def make(job):
        return WatchedRunner(runner_class(job))
    return make


def report_counter_lines(report: dict) -> list[str]:
    """The counters a finished job shows on stderr, from its ``report``
    (:func:`~dirft.report.build_report`).

    On the Hadoop runner (a ``hadoop`` section), first each Hadoop job the run submitted, in
    submission order, each under a line naming it (``dirft: Hadoop job 1 of 2:
    job_…_0004 (replicas wave 0 and reduce)``) and followed by its listing exactly as
    ``hadoop jar`` printed it (``counters_listing``), or by why there is none; each job's
    counters stay its own, they are never summed. Then dirft's own counters
    (:func:`counter_lines` of ``report["counters"]``), under a line saying so when Hadoop's
    came first. Takes the report dict; returns lines without terminators.
    """
    jobs = (report.get("hadoop") or {}).get("submitted") or []
    lines = []
    for number, job in enumerate(jobs, start=1):
        lines.append(f"dirft: Hadoop job {number} of {len(jobs)}: {job.get('job_id') or '(no id)'}"
                     f" ({job['what']})")
        lines += job.get("counters_listing") or [f"\t(no counters: {_why_none(job)})"]
    if jobs:
        lines.append(f"dirft: dirft's own counters of {report['job_id']}")
    return lines + counter_lines(report.get("counters") or {})


def _why_none(job: dict) -> str:
    """Why a Hadoop job of the report printed no counters, from its ``returncode``."""
    if job.get("returncode") is None:
        return "dirft ended its hadoop jar client before the job ended"
    return f"hadoop jar exited {job['returncode']} without printing them"


def counter_lines(counters: dict) -> list[str]:
    """Hadoop's ``Counters.toString`` layout of ``{group: {name: value}}``: ``Counters: N``,
    then per group a tab-indented name and ``name=value`` lines indented by two tabs."""
    lines = [f"Counters: {sum(len(names) for names in counters.values())}"]
    for group in sorted(counters):
        lines.append(f"\t{group}")
        lines += [f"\t\t{name}={value}" for name, value in sorted(counters[group].items())]
    return lines
