"""The ``dirft`` command.

``dirft streaming``  runs a Hadoop Streaming job under dirft, with Hadoop Streaming's own
options (``-input``, ``-output``, ``-mapper``, ``-combiner``, ``-reducer``,
``-numReduceTasks``, ``-D``, ``-conf``, ``-files``, ``-cmdenv``) plus ``--runner``.
``dirft run`` runs an MRJob script with every step protected; ``dirft gridmix generate``
writes GridMix2-like data and ``dirft gridmix run`` runs an experiment spec
(:mod:`dirft.cli_jobs`).

Every expected failure prints one line ``dirft: error: …`` and exits non-zero (2 for a bad
command line, 1 for a bad config, input or job, 3 for a job aborted beyond its tolerance);
no traceback, no partial output.
"""

import argparse
import json
import shlex
import sys

from dirft import __version__
from dirft.cli_jobs import register as register_job_commands
from dirft.cli_sim import add_commands as add_sim_commands
from dirft.config import JobConf, check_defines, parse_cmdenv
from dirft.errors import DirftError, JobAborted, UsageError
from dirft.options import define
from dirft.progress import ProgressPrinter, report_counter_lines, watching
from dirft.report import summary_lines
from dirft.runners import runner_class
from dirft.runners.base import StreamingJob
from dirft.shutdown import describe, exit_status, held_signals, signals_unwind
from dirft.switches import add_switches, switch_defines


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one :class:`UsageError` line (printed
    once, after the one ``dirft: error:`` prefix, by :func:`main`)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


STREAMING_DESCRIPTION = """\
Run a Hadoop Streaming job with its map tasks protected by dirft. Options mean what they
mean to hadoop-streaming.jar; -D and -conf also take dirft.* keys (see
mapred-site.example.xml). Commands run without a shell; the output directory must not
exist and appears atomically, with _SUCCESS and _dirft_report.json.

exit status: 0 success, 1 bad configuration, input or job, 2 bad command line,
3 job aborted beyond its fault tolerance.

example:
  dirft streaming -input in.txt -output out -mapper cat -reducer cat \\
      -D mapred.map.tasks.fault.tolerance=1 -D mapreduce.job.reduces=2
"""


def _streaming_parser(sub) -> None:
    p = sub.add_parser("streaming", help="run a Hadoop Streaming job under dirft",
                       allow_abbrev=False, description=STREAMING_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_switches(p, "streaming")
    p.set_defaults(func=_streaming)


def _chaos_parser(sub) -> None:
    p = sub.add_parser("chaos", help="many seeded random fault schedules on small jobs")
    add_switches(p, "chaos")
    p.set_defaults(func=_chaos)


def _chaos(args) -> int:
    from tqdm import tqdm

    from dirft.chaos import default_workdir, run_chaos

    with tqdm(total=args.runs, unit="run", file=sys.stderr) as bar:
        def progress(tally, run):
            while len(tally.problems) > progress.shown:  # each problem at once, above the bar
                bar.write(f"problem: {tally.problems[progress.shown]}", file=sys.stderr)
                progress.shown += 1
            bar.set_postfix_str(f"wrong={tally.wrong} spurious={tally.spurious} "
                                f"aborts={tally.aborts} leftovers={tally.leftovers}")
            bar.update(1)
        progress.shown = 0
        tally = run_chaos(args.runs, args.seed, args.workdir or default_workdir(), progress)
    for line in tally.problems:
        print(line)
    print(tally.line())
    return 1 if tally.failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The whole ``dirft`` command line."""
    parser = _Parser(prog="dirft", description="Data-interweaved replication for Hadoop "
                     "Streaming map tasks", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"dirft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _streaming_parser(sub)
    register_job_commands(sub)
    add_sim_commands(sub)
    _chaos_parser(sub)
    return parser


def job_from_args(args) -> StreamingJob:
    """Build the :class:`StreamingJob` that ``dirft streaming`` arguments describe."""
    defines = list(args.defines)
    reducer = _argv(args.reducer, "-reducer")
    if reducer == ["NONE"]:  # Hadoop's StreamJob: -reducer NONE is a map-only job
        defines.append(define("mapreduce.job.reduces", 0))
        reducer = None
    if args.numReduceTasks is not None and args.numReduceTasks < 0:
        raise UsageError(f"-numReduceTasks {args.numReduceTasks}: must be 0 or more")
    defines += switch_defines("streaming", args)
    check_formats(args.inputformat, args.outputformat)
    conf = JobConf.load(args.conf, check_defines(defines))
    return StreamingJob(inputs=args.input, output=args.output,
                        mapper=_argv(args.mapper, "-mapper"), conf=conf,
                        combiner=_argv(args.combiner, "-combiner"), reducer=reducer,
                        files=_commas(args.files) + list(args.file),
                        archives=_commas(args.archives), cmdenv=parse_cmdenv(args.cmdenv),
                        lazy_output=args.lazyOutput)


TEXT_FORMATS = {
    "-inputformat": ("TextInputFormat", "org.apache.hadoop.mapred.TextInputFormat"),
    "-outputformat": ("TextOutputFormat", "org.apache.hadoop.mapred.TextOutputFormat"),
}


def check_formats(inputformat: str | None, outputformat: str | None) -> None:
    """Accept ``-inputformat``/``-outputformat`` only for the text formats dirft follows
    (short or full class name); raise :class:`UsageError` naming the option otherwise:
    replicas read byte ranges of text as ``LineRecordReader`` does and sign text lines."""
    for option, value in (("-inputformat", inputformat), ("-outputformat", outputformat)):
        if value is not None and value not in TEXT_FORMATS[option]:
            raise UsageError(f"{option} {value}: dirft follows only "
                             f"{TEXT_FORMATS[option][1]} (replicas split text at line "
                             "boundaries and sign the text lines); leave the option out")


def _commas(groups: list) -> list:
    """``-files a,b -files c`` -> ``[a, b, c]``."""
    return [f for group in groups for f in group.split(",") if f]


def _argv(command: str | None, option: str) -> list | None:
    if command is None:
        return None
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise UsageError(f"{option} {command!r}: {err}") from None
    if not argv:
        raise UsageError(f"{option} is empty; give a command such as cat")
    return argv


def _verbose(on: bool) -> None:
    """``-verbose``: dirft's and mrjob's log records at INFO on stderr."""
    if on:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="dirft: %(name)s: %(message)s")


def _streaming(args) -> int:
    _verbose(args.verbose)
    runner = runner_class(args.runner)(job_from_args(args))
    with watching(runner, ProgressPrinter()):
        report = runner.run()
    for line in report_counter_lines(report):
        print(line, file=sys.stderr)
    try:
        with held_signals():  # the summary is printed whole; then the signal is raised
            _print_report(args, report)
    except KeyboardInterrupt as err:  # the output is committed: the message says so
        err.committed = args.output
        raise
    return 0


def _print_report(args, report: dict) -> None:
    """Print the report (JSON with ``--json``, else a summary)."""
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"dirft: job {report['job_id']} succeeded; output in {args.output}")
        for line in summary_lines(report):
            print(f"  {line}")


def main(argv: list | None = None) -> int:
    """Run the ``dirft`` command; return its exit status (see module doc)."""
    try:
        args = build_parser().parse_args(argv)
        with signals_unwind():
            return args.func(args)
    except UsageError as err:
        print(f"dirft: error: {err}", file=sys.stderr)
        return 2
    except JobAborted as err:
        print(f"dirft: error: job aborted: {err}", file=sys.stderr)
        return 3
    except DirftError as err:
        print(f"dirft: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP (dirft.shutdown)
        print(f"dirft: {describe(err)}", file=sys.stderr)
        return exit_status(err)


if __name__ == "__main__":
    sys.exit(main())
