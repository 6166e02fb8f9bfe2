"""``dirft run``: an MRJob script's command line, as mrjob reads it, with dirft's options.

``dirft run [OPTIONS] JOB.py [ARGS...]`` takes what ``python JOB.py -r hadoop ARGS...`` takes
(dirft run's own options and mrjob.conf's may also come before JOB.py):

* the job's own options (``configure_args``: ``add_passthru_arg``, ``add_file_arg``) reach
  the job and every task command (``python JOB.py --mapper --step-num=0 --word mist``);
* input paths, ``-`` for standard input (none at all: standard input, as mrjob);
* ``-r/--runner local|hadoop``; ``-o/--output-dir DIR`` (without it the output goes to a
  temporary directory, local or on HDFS, is written to stdout and removed, as mrjob's
  ``--cat-output`` does); ``-D/--jobconf KEY=VALUE``;
* ``--conf-path FILE`` / ``--no-conf``: which mrjob.conf to read (default: mrjob's search,
  ``$MRJOB_CONF``, ``~/.mrjob.conf``, ``/etc/mrjob.conf``); from the runner's section
  dirft honours ``jobconf``, ``cmdenv``, ``upload_files``, ``upload_archives`` and
  ``upload_dirs`` and names any other option it ignores;
* plus dirft's own: ``-conf FILE`` (Hadoop XML such as mapred-site.xml, repeatable) and
  ``--json`` (print the run report).

The job's JOBCONF, PARTITIONER, SORT_VALUES, FILES, DIRS and ARCHIVES are honoured;
HADOOP_INPUT_FORMAT and HADOOP_OUTPUT_FORMAT only when they are the text formats
(:mod:`dirft.mrjob_steps`).
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import posixpath
import shutil
import sys
import tempfile

from dirft.config import check_defines
from dirft.errors import DirftError, UsageError
from dirft.progress import report_counter_lines, watched
from dirft.runners import RUNNER_NAMES
from dirft.storage.local import LOCAL
from dirft.switches import add_switches, given_before_script

#: mrjob.conf options dirft run honours (everything else is named as ignored).
HONOURED = ("jobconf", "cmdenv", "upload_files", "upload_archives", "upload_dirs")

RUN_EPILOG = """\
options read by dirft run itself (before or after JOB.py):
  -r, --runner local|hadoop   where to run (default local: an emulated cluster here)
  -o, --output-dir DIR        output directory; without it the output goes to stdout
                              (through a temporary directory, on HDFS for -r hadoop)
  -D, --jobconf KEY=VALUE     jobconf, wins over the job's JOBCONF (repeatable)
  -conf FILE                  Hadoop configuration XML such as mapred-site.xml
  --json                      print the whole run report as JSON
everything else goes to the job's own parser: its passthrough options, input paths
(- for stdin), --conf-path FILE / --no-conf (mrjob.conf), --files, --archives, --cmdenv.

examples:
  dirft run jobs/combiner.py in.txt -o counts
  dirft run -r hadoop jobs/combiner.py /user/me/in.txt -o counts
  dirft run mr_grep.py --expression mist -r local -o hits in.txt
  cat in.txt | dirft run mr_word_freq_count.py - --no-conf -D mapreduce.job.reduces=2
"""


class _OwnOptions(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message} (see dirft run --help)")


def _own_parser() -> argparse.ArgumentParser:
    return add_switches(_OwnOptions(prog="dirft run", add_help=False, allow_abbrev=False),
                        "run own")


def register(sub) -> None:
    """Add ``run`` to ``dirft``'s subparsers."""
    p = sub.add_parser("run", help="run an MRJob script, every step's map stage protected",
                       usage="dirft run [options] JOB.py [options] [INPUT ...]",
                       allow_abbrev=False,
                       description=__doc__.split("\n\n")[0].replace("``", ""),
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_switches(p, "run").set_defaults(func=run_command)


def split_args(job_args: list) -> tuple[argparse.Namespace, list]:
    """Separate dirft run's own options from the job's arguments.

    Returns (dirft's options, the rest in order; mrjob's ``-c`` written ``--conf-path``).
    Raises UsageError for a runner dirft does not have (mrjob's inline, emr, dataproc,
    spark).
    """
    # mrjob's -c is --conf-path; argparse would read it as the start of dirft's -conf
    job_args = ["--conf-path" if arg == "-c" else arg for arg in job_args]
    own, rest = _own_parser().parse_known_args(job_args)
    if own.runner not in RUNNER_NAMES:
        raise UsageError(f"-r {own.runner}: dirft run runs on {' or '.join(RUNNER_NAMES)} "
                         "(mrjob's other runners are not dirft's)")
    return own, rest


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def mrjob_conf(runner: str, conf_paths) -> tuple[dict, list[str]]:
    """Read mrjob.conf for ``runner`` as mrjob does (``conf_paths`` None: mrjob's search;
    ``[]``: ``--no-conf``). Returns ({jobconf, cmdenv, files, archives}, [warnings])."""
    from mrjob.conf import combine_dicts, combine_envs, load_opts_from_mrjob_confs

    loaded = load_opts_from_mrjob_confs(runner, conf_paths)
    opts = {"jobconf": {}, "cmdenv": {}, "files": [], "archives": []}
    warnings = []
    for path, conf in loaded:
        opts["jobconf"] = combine_dicts(opts["jobconf"], conf.get("jobconf") or {})
        opts["cmdenv"] = combine_envs(opts["cmdenv"], conf.get("cmdenv") or {})
        opts["files"] += [_expand(p) for p in conf.get("upload_files") or []]
        opts["files"] += [_expand(p) for p in conf.get("upload_dirs") or []]
        opts["archives"] += [_expand(p) for p in conf.get("upload_archives") or []]
        warnings += [f"dirft: warning: mrjob.conf option {key!r} ({path}) means nothing "
                     "to dirft run; ignored" for key in sorted(conf) if key not in HONOURED]
    return opts, warnings


def run_options(own: argparse.Namespace, rest: list, conf_paths):
    """The :class:`~dirft.mrjob_steps.RunOptions` of a ``dirft run`` command line."""
    from dirft.mrjob_steps import RunOptions

    conf, warnings = mrjob_conf(own.runner, conf_paths)
    for line in warnings:
        print(line, file=sys.stderr)
    return RunOptions(conf_files=tuple(own.conf), defines=tuple(check_defines(own.defines)),
                      job_args=tuple(rest),
                      jobconf=tuple(f"{k}={v}" for k, v in conf["jobconf"].items()
                                    if v is not None),
                      cmdenv=tuple(conf["cmdenv"].items()), files=tuple(conf["files"]),
                      archives=tuple(conf["archives"]))


def _conf_paths(rest: list):
    """mrjob's ``--conf-path``/``-c`` and ``--no-conf`` from the job's arguments, read by a
    tiny parser of their own (the job's parser is in a child process)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    known, _ = add_switches(p, "run mrjob.conf").parse_known_args(rest)
    return [] if known.no_conf else known.paths


def run_command(args) -> int:
    """``dirft run``: run the job, print its summary (or report); see module doc."""
    from dirft.runners import runner_class
    from dirft.mrjob_steps import run_mrjob

    own, rest = split_args(given_before_script(args) + args.job_args)
    options = run_options(own, rest, _conf_paths(rest))
    runner, storage = watched(runner_class(own.runner)), _storage(own, options)
    if own.output is not None:
        run = run_mrjob(args.script, None, own.output, runner, options, storage=storage,
                        on_step=_step_line)
        _print_run(args.script, own, run, sys.stdout)
        return 0
    store = storage or LOCAL
    tmp = _tmp_dir(args.script, storage)
    try:
        out = posixpath.join(tmp, "output")
        run = run_mrjob(args.script, None, out, runner, options, storage=storage,
                        on_step=_step_line)
        _cat_parts(store, store.absolute(out))
        _print_run(args.script, own, run, sys.stderr)
    finally:
        _remove_tmp(store, tmp)
    return 0


def _tmp_dir(script: str, storage) -> str:
    """Where the output goes when no ``-o`` is given, made now: a local temp directory, or
    for Hadoop ``tmp/dirft/JOB.USER.TIMESTAMP`` in the user's HDFS home directory (mrjob's
    Hadoop runner writes ``tmp/mrjob/`` + its job key, cats the output, then removes it)."""
    if storage is None:
        return tempfile.mkdtemp(prefix="dirft-run-")
    label = os.path.splitext(os.path.basename(script))[0]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d.%H%M%S.%f")
    path = storage.absolute(posixpath.join("tmp", "dirft", f"{label}.{getpass.getuser()}.{stamp}"))
    storage.makedirs(path)
    return path


def _remove_tmp(storage, tmp: str) -> None:
    """Remove :func:`_tmp_dir`'s directory; a failure is a warning (the job's own error, if
    any, is the one that matters)."""
    try:
        storage.delete(tmp, recursive=True)
    except (DirftError, OSError) as err:
        print(f"dirft: warning: could not remove {tmp}: {err}", file=sys.stderr)


def _storage(own, options):
    """Where the steps' outputs live: None (local files) for the local runner, HDFS through
    WebHDFS for hadoop: ``dirft.webhdfs.*`` from ``-conf``, mrjob.conf and ``-D``, over the
    Hadoop client's configuration (``$HADOOP_CONF_DIR``, as each step's Hadoop runner reads
    it: :func:`~dirft.config.hadoop_client.with_client_conf`). Raises ConfigError when
    neither names a NameNode."""
    if own.runner != "hadoop":
        return None
    from dirft.config import JobConf
    from dirft.config.hadoop_client import with_client_conf
    from dirft.runners.hadoop import hdfs_storage

    conf = JobConf.load(list(options.conf_files), list(options.jobconf) + list(options.defines))
    return hdfs_storage(with_client_conf(conf, conf.get("dirft.hadoop.home")))


def _step_line(n: int, total: int) -> None:
    """mrjob's ``Running step N of M...``, on stderr."""
    print(f"dirft: running step {n + 1} of {total}", file=sys.stderr, flush=True)


def _cat_parts(storage, out: str) -> None:
    """Write every ``part-*`` file of ``out`` (in ``storage``) to stdout in name order
    (mrjob's cat of the output), streamed, not read whole."""
    sys.stdout.flush()
    for name, size, is_dir in storage.list_dir(out):
        if name.startswith("part-") and not is_dir:
            with storage.open_range(posixpath.join(out, name), 0, size) as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
    sys.stdout.buffer.flush()


def _print_run(script: str, own, run: dict, stream) -> None:
    from dirft.mrjob_steps import summary_line
    from dirft.report import summary_lines

    if own.json:
        print(json.dumps(run, indent=2, sort_keys=True), file=stream)
        return
    steps = run["steps"]
    where = f"output in {own.output}" if own.output is not None else "output on stdout"
    print(f"dirft: {os.path.basename(script)} ({len(steps)} step(s)) succeeded; {where}",
          file=stream)
    for n, report in enumerate(steps, start=1):
        print(f"  step {n} of {len(steps)}: job {report['job_id']}", file=stream)
        for line in summary_lines(report):
            print(f"    {line}", file=stream)
    print(f"  total: {summary_line(run['summary'])}", file=stream)
    for line in report_counter_lines(run["steps"][-1]):
        print(line, file=sys.stderr)
