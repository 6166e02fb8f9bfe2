"""The console: ``map X% reduce Y%`` lines while a job runs, Hadoop's counter listing at the end."""

import io
from types import SimpleNamespace

from core_harness import make_plan
from dirft.cli import main
from dirft.core.scheme import Tolerance, make_scheme
from dirft.progress import ProgressPrinter, counter_lines, job_progress, watched, watching
from dirft.runners.driver import Driver


def test_counter_lines_are_laid_out_as_hadoop_prints_them():
    lines = counter_lines({"Map-Reduce Framework": {"Map input records": 3,
                                                    "Map output bytes": 40},
                           "mine": {"hits": 1}})
    assert lines == ["Counters: 3", "\tMap-Reduce Framework", "\t\tMap input records=3",
                     "\t\tMap output bytes=40", "\tmine", "\t\thits=1"]


def test_a_line_is_printed_only_when_the_percentages_change():
    out = io.StringIO()
    printer = ProgressPrinter(out, bar=False)
    for pct in [(0, 0), (0, 0), (50, 0), (50, 0), (100, 100)]:
        printer.update(*pct)
    assert out.getvalue().splitlines() == ["dirft: map 0% reduce 0%", "dirft: map 50% reduce 0%",
                                           "dirft: map 100% reduce 100%"]


def test_progress_comes_from_the_cores_undecided_tasks_and_the_reduces_done():
    runner = SimpleNamespace()
    assert job_progress(runner) is None  # nothing before the map stage starts
    runner.driver = Driver(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=4))
    runner.reduce_progress = 0.5
    assert job_progress(runner) == (0, 50)
    runner.driver.state.undecided = 1  # three of four tasks decided
    assert job_progress(runner) == (75, 50)


def test_a_watched_block_ends_with_everything_done():
    out = io.StringIO()
    runner = SimpleNamespace(driver=SimpleNamespace(map_progress=lambda: 0.0))
    with watching(runner, ProgressPrinter(out, bar=False), poll=0.01):
        runner.driver.map_progress = lambda: 1.0
    assert out.getvalue().splitlines()[-1] == "dirft: map 100% reduce 100%"


def test_a_watched_runner_runs_the_wrapped_run_and_leaves_it_unchanged():
    inner = SimpleNamespace(driver=None, run=lambda: "report")
    runner = watched(lambda job: inner)("job")
    assert runner.run() == "report" and runner.driver is None
    assert inner.run() == "report"  # the wrapped runner's own method was not replaced


def test_a_streaming_job_shows_progress_and_counters_on_stderr(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"".join(b"k%d\tv\n" % i for i in range(50)))
    code = main(["streaming", "-input", str(data), "-output", str(tmp_path / "out"),
                 "-mapper", "cat", "-reducer", "cat"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = err.splitlines()
    at = lines.index("dirft: map 100% reduce 100%")
    assert lines[at + 1].startswith("Counters: ")
    assert "\t\tMap input records=50" in lines and "\tMap-Reduce Framework" in lines
    assert "Counters" not in out and "succeeded" in out
