"""The ``dirft run`` and ``dirft gridmix`` commands (registered by :func:`register`).

``dirft run JOB.py [ARGS...]``
    runs an MRJob script, every step's map stage protected (:mod:`dirft.mrjob_cli`,
    :mod:`dirft.mrjob_steps`).
``dirft gridmix generate [--dataset text|kv|fixkv] (--size SIZE | --splits N --split-size
SIZE) [--seed N] OUT``
    writes GridMix2-like data: one file for ``--size``, a directory of N part files (one
    per input split) for ``--splits`` (:mod:`dirft.gridmix.generate`).
``dirft gridmix run SPEC.yaml [--out DIR] [--work-dir DIR]``
    runs an experiment grid and writes ``results.csv``, ``run-info.json`` and PNG figures
    to DIR (default ``results/<spec name>/`` beside the spec); see
    :mod:`dirft.gridmix.spec`, :mod:`dirft.gridmix.experiment`, :mod:`dirft.gridmix.results`.
``dirft gridmix plot SPEC.yaml [--out DIR]``
    draws the figures again from DIR's ``results.csv``.
"""

import os
import platform
import shutil
import sys
import time

from dirft.errors import DirftError, UsageError
from dirft.switches import add_switches
from dirft.units import parse_bytes


def register(sub) -> None:
    """Add ``run`` and ``gridmix`` (``generate``, ``run``) to ``dirft``'s subparsers."""
    from dirft.mrjob_cli import register as register_run

    register_run(sub)
    p = sub.add_parser("gridmix", help="GridMix2-style data and experiments")
    gsub = p.add_subparsers(dest="gridmix_command", required=True)  # same parser class
    _generate_parser(gsub)
    _experiment_parser(gsub)
    _plot_parser(gsub)


def _generate_parser(gsub) -> None:
    g = gsub.add_parser("generate", help="write GridMix2-like data (RandomTextWriter shapes)")
    add_switches(g, "gridmix generate").set_defaults(func=_generate)


def _experiment_parser(gsub) -> None:
    g = gsub.add_parser("run", help="run an experiment spec (YAML) and record its results")
    add_switches(g, "gridmix run").set_defaults(func=_experiment)


def _plot_parser(gsub) -> None:
    g = gsub.add_parser("plot", help="draw an experiment's figures again from its results.csv")
    add_switches(g, "gridmix plot").set_defaults(func=_plot)


def _results_dir(spec, out: str | None) -> str:
    return out or os.path.join(os.path.dirname(os.path.abspath(spec.path)), "results",
                               spec.name)


def _plot(args) -> int:
    from dirft.errors import InputError
    from dirft.gridmix.results import plot_all, read_csv
    from dirft.gridmix.spec import load_spec

    spec = load_spec(args.spec)
    out = _results_dir(spec, args.out)
    path = os.path.join(out, "results.csv")
    if not os.path.isfile(path):
        raise InputError(f"{path} does not exist; run dirft gridmix run {args.spec} first")
    for figure in plot_all(read_csv(path), spec, out):
        print(f"dirft: figure {figure}")
    return 0


def _generate(args) -> int:
    from dirft.gridmix.generate import generate_file, generate_splits

    if (args.size is None) == (args.splits is None):
        raise UsageError("gridmix generate: give --size SIZE or --splits N --split-size SIZE")
    if args.splits is not None:
        if args.split_size is None:
            raise UsageError("gridmix generate: --splits needs --split-size, e.g. 8MiB")
        sizes = generate_splits(args.out, args.splits, _size_arg(args.split_size,
                                "--split-size"), args.seed, args.dataset)
        print(f"dirft: wrote {len(sizes)} part files, {sum(sizes)} bytes of GridMix "
              f"{args.dataset} data, to {args.out}")
        return 0
    if args.split_size is not None:
        raise UsageError("gridmix generate: --split-size goes with --splits, not --size")
    written = generate_file(args.out, _size_arg(args.size, "--size"), args.seed, args.dataset)
    noun = "text" if args.dataset == "text" else f"{args.dataset} data"
    print(f"dirft: wrote {written} bytes of GridMix {noun} to {args.out}")
    return 0


def _size_arg(text: str, option: str) -> int:
    """``parse_bytes`` of a command-line value; a bad size is a :class:`UsageError`."""
    try:
        return parse_bytes(text, option)
    except DirftError as err:
        raise UsageError(str(err)) from None


class _Progress:
    """A tqdm bar over the grid's steps whose description names the current cell."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="run", file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True)
        self.started = False

    def __call__(self, label: str) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description_str(label)

    def close(self) -> None:
        if self.started:
            self.bar.update(1)
        self.bar.close()


def _experiment(args) -> int:
    from dirft.gridmix.spec import load_spec

    spec = load_spec(args.spec)  # every check happens here, before anything runs
    out = _results_dir(spec, args.out)
    os.makedirs(out, exist_ok=True)
    rows, info = _run_grid(spec, args.work, not args.no_progress)
    return _record(spec, rows, info, out)


def _run_grid(spec, work_base, progress: bool) -> tuple[list, dict]:
    from dirft.gridmix.experiment import Experiment, make_work_dir
    from dirft.runners.local import LocalRunner

    work = make_work_dir(work_base)
    started, load = time.time(), os.getloadavg()
    runner_class, storage, root = _grid_backend(spec, LocalRunner)
    try:
        experiment = Experiment(spec, work, runner_class, storage=storage, hdfs_root=root)
        bar = _Progress(experiment.steps(), progress)
        experiment.progress = bar
        try:
            rows = experiment.run()
        finally:
            bar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if storage is not None:
            storage.delete(root, recursive=True)
    info = {"spec": spec.path, "runs": len(rows),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_seconds": round(time.time() - started, 1), "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}
    return rows, info


def _grid_backend(spec, local_runner) -> tuple:
    """(runner class, storage, HDFS scratch root) of a grid: the local runner and local
    files, or for ``runner: hadoop`` the Hadoop runner and a fresh directory under
    ``dirft.hadoop.tmp.dir`` on the HDFS the spec's jobconf names (``dirft.webhdfs.url``, else the Hadoop client's
    configuration)."""
    if spec.runner != "hadoop":
        return local_runner, None, ""
    import posixpath
    import uuid

    from dirft.config import JobConf
    from dirft.config.hadoop_client import with_client_conf
    from dirft.runners.hadoop import HadoopRunner, hdfs_storage

    conf = JobConf.load([], [f"{k}={v}" for k, v in spec.jobconf.items()])
    conf = with_client_conf(conf, conf.get("dirft.hadoop.home"))
    storage = hdfs_storage(conf)
    root = posixpath.join(conf.get("dirft.hadoop.tmp.dir"), f"gridmix-{uuid.uuid4().hex[:12]}")
    storage.makedirs(root)
    return HadoopRunner, storage, root


def _record(spec, rows: list, info: dict, out: str) -> int:
    from dirft.gridmix.results import plot_all, write_csv, write_info

    write_csv(rows, os.path.join(out, "results.csv"))
    write_info(info, os.path.join(out, "run-info.json"))
    figures = plot_all(rows, spec, out)
    bad = [r for r in rows if r["verified"] not in ("yes", "n/a")]
    checked = ("simulated, no output to verify" if spec.runner == "sim" else
               f"{len(rows) - len(bad)} verified against the fault-free run")
    print(f"dirft: {len(rows)} runs of {spec.name} in {info['wall_seconds']} s; {checked}; "
          f"results in {out}")
    for path in figures:
        print(f"  figure {path}")
    if bad:
        raise DirftError(f"{len(bad)} of {len(rows)} runs were not verified against the "
                         f"fault-free run (first: {bad[0]['job']} {bad[0]['scheme']} "
                         f"{bad[0]['fault_percent']}%: {bad[0]['error'] or 'output differs'}); "
                         f"see {os.path.join(out, 'results.csv')}")
    return 0
