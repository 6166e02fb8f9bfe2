"""``dirft run``: any MRJob script, multi-step ones included, with every step's map stage
protected.

mrjob 0.7.4 has no ``--steps`` switch any more (its runners ask the job object in-process
for ``_steps_desc()``), so :func:`describe` loads the script in a child interpreter, finds its
MRJob class (the one subclass of ``MRJob`` the file itself defines that no other class there
extends) and prints the step descriptions, the job's ``files()``, ``jobconf()`` and the
settings dirft cannot honour. Each step then becomes a Hadoop Streaming job, as mrjob's
Hadoop runner would submit it (:func:`plan_steps`):

* ``-mapper "python job.py --mapper --step-num=N"`` (``cat`` when a later step has no
  mapper), ``-combiner …`` when the step has one, ``-reducer …``, or a map-only step
  (``mapreduce.job.reduces=0``) when it has no reducer;
* substeps of type ``script`` run the script; type ``command`` runs the command (split as a
  shell would, run without one); anything else (``pre_filter``, input manifests, jar, spark
  steps, custom partitioners, input/output formats) is refused with one line;
* ``-files job.py`` plus the job's ``FILES``; jobconf: ``-conf`` files < the job's
  ``JOBCONF`` < ``-D`` < the step's own jobconf (mrjob's order).

Step N reads step N-1's part files; intermediate outputs live in a hidden scratch directory
beside the output. Only the final step's directory is renamed to the output, with
``_dirft_run_report.json`` (every step's report and a summary) beside the last step's own
``_dirft_report.json``; on any failure nothing is left.
"""

import json
import os
import posixpath
import shlex
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from dirft.config import JobConf
from dirft.errors import ConfigError, DirftError, InputError, UsageError
from dirft.options import define
from dirft.runners.base import StreamingJob, make_parents
from dirft.storage.local import LOCAL

RUN_REPORT = "_dirft_run_report.json"
#: mrjob.runner's _SORT_VALUES_JOBCONF and _SORT_VALUES_PARTITIONER (secondary sort).
SORT_VALUES_JOBCONF = {"mapreduce.partition.keypartitioner.options": "-k1,1",
                       "stream.num.map.output.key.fields": "2"}
SORT_VALUES_PARTITIONER = "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner"
_DESCRIBE_TIMEOUT = 120  # seconds for the child interpreter to import the job

_DESCRIBE = r"""
import importlib.util, json, os, sys
script = os.path.abspath(sys.argv[1])
job_args = json.loads(sys.argv[2])
sys.path.insert(0, os.path.dirname(script))
sys.argv = [script]
spec = importlib.util.spec_from_file_location("__dirft_job__", script)
module = importlib.util.module_from_spec(spec)
sys.modules["__dirft_job__"] = module
spec.loader.exec_module(module)
from mrjob.job import MRJob
mine = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, MRJob)
        and c.__module__ == "__dirft_job__"]
leaves = sorted(c.__name__ for c in mine if not any(o is not c and issubclass(o, c) for o in mine))
if len(leaves) != 1:
    print(json.dumps({"classes": leaves}))
    sys.exit(0)
try:
    job = getattr(module, leaves[0])(args=job_args)
except ValueError as err:
    print(json.dumps({"classes": leaves, "usage": str(err)}))
    sys.exit(0)
kw, jk = job._non_option_kwargs(), job._job_kwargs()
extra = [a if isinstance(a, str) else {"path": a["path"], "name": a.get("name")}
         for a in kw["extra_args"]]
print(json.dumps({"classes": leaves, "steps": job._steps_desc(), "extra_args": extra,
                  "inputs": kw["input_paths"], "conf_paths": kw["conf_paths"],
                  "files": list(jk["upload_files"]), "dirs": list(jk["upload_dirs"]),
                  "archives": list(jk["upload_archives"]),
                  "jobconf": {str(k): str(v) for k, v in (job.jobconf() or {}).items()},
                  "sort_values": bool(jk["sort_values"]), "partitioner": jk["partitioner"],
                  "cmdenv": dict(job.options.cmdenv or {}),
                  "input_format": kw["hadoop_input_format"],
                  "output_format": kw["hadoop_output_format"]}))
"""


@dataclass(frozen=True)
class StepPlan:
    """One MRJob step as a streaming job: argv lists (None: no combiner / map-only) and the
    step's own jobconf ``key=value`` strings (reduces=0 for a map-only step included)."""

    mapper: list
    combiner: list | None
    reducer: list | None
    defines: list


def describe(script: str, job_args: Sequence[str] = ()) -> dict:
    """Ask ``script`` (an MRJob file) for its steps in a child interpreter; see module doc.

    ``job_args`` is the job's own command line (passthrough options such as ``--word
    mist``, input paths, mrjob switches such as ``--conf-path``), parsed by the job's own
    mrjob parser so that ``configure_args`` sees it and ``steps()`` may depend on it.
    Returns ``{"classes", "steps", "extra_args", "inputs", "conf_paths", "files", "dirs",
    "archives", "jobconf", "sort_values", "partitioner", "cmdenv", "input_format",
    "output_format"}`` (mrjob's ``_non_option_kwargs``/``_job_kwargs``; ``extra_args``
    entries are strings or ``{"path", "name"}`` for file arguments). Raises
    :class:`InputError` when the file is missing, :class:`UsageError` when the job's
    parser rejects ``job_args``, :class:`ConfigError` when it does not import, defines no
    single MRJob class or describes no steps.
    """
    if not os.path.isfile(script):
        raise InputError(f"MRJob script {script} does not exist")
    done = _describe_process(script, list(job_args))
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ConfigError(f"MRJob script {script} could not be loaded: {tail}")
    described = json.loads(done.stdout.strip().splitlines()[-1])
    if "usage" in described:
        raise UsageError(f"{os.path.basename(script)}: {described['usage']}")
    if len(described["classes"]) != 1:
        found = ", ".join(described["classes"]) or "none"
        raise ConfigError(f"MRJob script {script} must define exactly one MRJob class that "
                          f"no other class in it extends (found: {found})")
    if not described["steps"]:
        raise ConfigError(f"MRJob script {script} describes no steps; define mapper, "
                          "reducer or steps()")
    return described


def _describe_process(script: str, job_args: list) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        return subprocess.run([sys.executable, "-c", _DESCRIBE, script, json.dumps(job_args)],
                              capture_output=True,
                              text=True, env=env, timeout=_DESCRIBE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"MRJob script {script} took over {_DESCRIBE_TIMEOUT} s to "
                          "describe its steps") from None


def plan_steps(script: str, described: dict) -> list[StepPlan]:
    """Turn :func:`describe`'s result into one :class:`StepPlan` per step.

    Every substep command gets the job's passthrough arguments, as mrjob's runners add
    them (``python job.py --mapper --step-num=0 --word mist``). Raises
    :class:`ConfigError` naming the step (``step 2 of 3``) for anything dirft cannot run:
    a non-streaming step, a pre_filter, an input manifest, an unknown substep type, a
    Hadoop input/output format other than text.
    """
    _refuse_job_settings(script, described)
    name, steps = os.path.basename(script), described["steps"]
    extra = [a if isinstance(a, str) else (a["name"] or os.path.basename(a["path"]))
             for a in described.get("extra_args", [])]
    return [_plan_step(name, step, n, len(steps), extra) for n, step in enumerate(steps)]


_TEXT_FORMATS = {"input_format": "org.apache.hadoop.mapred.TextInputFormat",
                 "output_format": "org.apache.hadoop.mapred.TextOutputFormat"}


def _refuse_job_settings(script: str, described: dict) -> None:
    for key, what in (("input_format", "HADOOP_INPUT_FORMAT"),
                      ("output_format", "HADOOP_OUTPUT_FORMAT")):
        if described.get(key) not in (None, "", _TEXT_FORMATS[key]):
            raise ConfigError(f"MRJob script {script} sets {what} = {described[key]!r}; "
                              f"dirft follows only {_TEXT_FORMATS[key]} (replicas split "
                              "text at line boundaries and sign text lines)")


def job_jobconf(described: dict) -> list[str]:
    """The job's jobconf as ``key=value`` strings, lowest precedence first: SORT_VALUES'
    keys (mrjob's ``_SORT_VALUES_JOBCONF``), the PARTITIONER (or SORT_VALUES' partitioner
    ``KeyFieldBasedPartitioner``) as ``mapreduce.job.partitioner.class``, then JOBCONF."""
    conf = dict(SORT_VALUES_JOBCONF) if described.get("sort_values") else {}
    partitioner = described.get("partitioner") or (
        SORT_VALUES_PARTITIONER if described.get("sort_values") else None)
    if partitioner:
        conf["mapreduce.job.partitioner.class"] = partitioner
    conf.update(described.get("jobconf") or {})
    return [f"{k}={v}" for k, v in conf.items()]


def _plan_step(name: str, step: dict, n: int, total: int, extra: list) -> StepPlan:
    where = f"step {n + 1} of {total}"
    if step.get("type") != "streaming":
        raise ConfigError(f"{where} is a {step.get('type')!r} step; dirft run runs "
                          "streaming steps (mapper, combiner, reducer) only")
    if step.get("input_manifest"):
        raise ConfigError(f"{where} reads an input manifest (mapper_raw); not supported")
    mapper = _substep(name, step.get("mapper"), "mapper", n, where, extra) or ["cat"]
    combiner = _substep(name, step.get("combiner"), "combiner", n, where, extra)
    reducer = _substep(name, step.get("reducer"), "reducer", n, where, extra)
    defines = [f"{k}={v}" for k, v in (step.get("jobconf") or {}).items()]
    if reducer is None:
        defines.append(define("mapreduce.job.reduces", 0))
    return StepPlan(mapper, combiner, reducer, defines)


def _substep(name: str, desc: dict | None, kind: str, n: int, where: str,
             extra: list) -> list | None:
    if desc is None:
        return None
    if desc.get("pre_filter"):
        raise ConfigError(f"{where}: the {kind} has a pre_filter, which needs a shell; "
                          "dirft runs commands without one")
    if desc.get("type") == "script":
        return ["python", name, f"--{kind}", f"--step-num={n}", *extra]
    if desc.get("type") == "command":
        argv = shlex.split(desc["command"])
        if argv:
            return argv
    raise ConfigError(f"{where}: the {kind} has type {desc.get('type')!r} (or an empty "
                      "command); dirft run takes 'script' and 'command' substeps")


@dataclass(frozen=True)
class RunOptions:
    """What ``dirft run``'s command line and mrjob.conf add to a job.

    ``conf_files``: Hadoop XML (``-conf``); ``defines``: ``-D key=value`` (wins over the
    job's JOBCONF, as mrjob's ``-D`` does); ``job_args``: the job's own arguments
    (passthrough options, input paths, mrjob switches such as ``--conf-path``); the rest
    come from mrjob.conf (:mod:`dirft.mrjob_cli`): ``jobconf`` (``key=value``, below the
    job's JOBCONF), ``cmdenv``, ``files`` and ``archives`` (``path[#name]`` entries).
    """

    conf_files: tuple = ()
    defines: tuple = ()
    job_args: tuple = ()
    jobconf: tuple = ()
    cmdenv: tuple = ()
    files: tuple = ()
    archives: tuple = ()


def _cache_entries(script: str, described: dict, options: RunOptions) -> tuple[list, list]:
    """``-files`` and ``-archives`` entries of every step: the script, FILES, DIRS (linked
    as directories; tarred by the Hadoop runner), file arguments of the job's parser, then
    mrjob.conf's uploads. A DIRS or ARCHIVES name may end in ``/`` (``data#lookup/``), as
    mrjob's ``parse_legacy_hash_path`` allows; the slash is dropped."""
    files = [os.path.abspath(script)] + list(described.get("files", []))
    files += [_dir_name(p) for p in described.get("dirs", [])]
    for arg in described.get("extra_args", []):
        if not isinstance(arg, str):
            files.append(arg["path"] + (f"#{arg['name']}" if arg["name"] else ""))
    archives = [_dir_name(a) for a in list(described.get("archives", [])) + list(options.archives)]
    return files + list(options.files), archives


def _dir_name(entry: str) -> str:
    path, sep, name = entry.partition("#")
    return f"{path}#{name.rstrip('/')}" if sep and name.rstrip("/") else entry


def local_split_defines(conf_files: list, defines: list, input_bytes: int) -> list[str]:
    """mrjob's local runner's split rule for a step of ``input_bytes`` bytes: about two map
    tasks per core (``mrjob.sim._pick_mapper_split_size``), as ``dirft.split.maxsize``,
    unless the job's configuration already sets it or ``dfs.blocksize`` (then dirft's
    rule applies unchanged: Hadoop Streaming's, or ``dirft.split.maxsize``'s)."""
    conf = JobConf.load(conf_files, defines)
    keys = ("dirft.split.maxsize", "dfs.blocksize")
    if any(conf.source(k) != "default" for k in keys) or input_bytes <= 0:
        return []
    per_split = -(-input_bytes // (2 * (os.cpu_count() or 1)))
    return [define("dirft.split.maxsize", max(per_split, 1))]


def step_jobs(script: str, described: dict, plans: list, inputs: list, scratch: str,
              options: RunOptions, input_bytes: int = 0) -> list[StreamingJob]:
    """The streaming job of every step: step N writes ``scratch/step-N`` and reads step
    N-1's. Jobconf, lowest first: ``-conf`` files, mrjob.conf's jobconf, SORT_VALUES and
    PARTITIONER, the job's JOBCONF, ``-D``, the step's own jobconf (mrjob's order).
    ``input_bytes`` > 0 (the first step's input, local runner only) splits that step as
    mrjob's local runner would (:func:`local_split_defines`). Raises ConfigError for a bad
    jobconf."""
    files, archives = _cache_entries(script, described, options)
    cmdenv = {**dict(options.cmdenv), **described.get("cmdenv", {})}
    lower = list(options.jobconf) + job_jobconf(described)
    jobs = []
    for n, plan in enumerate(plans):
        defines = lower + list(options.defines) + plan.defines
        if n == 0 and input_bytes:
            defines = local_split_defines(list(options.conf_files), defines,
                                          input_bytes) + defines
        conf = JobConf.load(list(options.conf_files), defines)
        step_inputs = list(inputs) if n == 0 else [jobs[-1].output]
        jobs.append(StreamingJob(inputs=step_inputs, output=os.path.join(scratch, f"step-{n}"),
                                 mapper=plan.mapper, conf=conf, combiner=plan.combiner,
                                 reducer=plan.reducer, files=files, archives=archives,
                                 cmdenv=cmdenv))
    return jobs


def run_mrjob(script: str, inputs: list | None, output: str, runner_class,
              options: RunOptions = RunOptions(), on_step=None, stdin=None,
              storage=None) -> dict:
    """Run the MRJob ``script`` over ``inputs`` (paths, directories, globs; None: the
    input paths in ``options.job_args``, ``-`` for ``stdin``, none at all meaning stdin as
    in mrjob) into the new directory ``output`` with ``runner_class`` (a
    :class:`~dirft.runners.base.Runner`).

    ``storage`` (:class:`~dirft.storage.base.Storage`; default the local file system, HDFS
    for the Hadoop runner) holds the inputs, the steps' outputs in a hidden scratch
    directory beside ``output`` (step N reads step N-1's part files there; removed at the
    end) and the output, into which only the last step's directory is renamed.
    ``on_step(n, total)`` is called before step ``n`` (0-based) starts; ``stdin`` is a
    binary stream (default ``sys.stdin.buffer``). Returns the run report ``{"script",
    "steps": [step reports], "summary": summarize(...)}``, also written to
    ``output/_dirft_run_report.json``. Raises InputError (missing input, existing
    output), UsageError (the job's parser rejects its arguments), ConfigError (script,
    steps, jobconf), TaskError and JobAborted with the step named (``step 2 of 3: …``);
    nothing is left behind on failure.
    """
    storage = storage or LOCAL
    output = storage.absolute(output)
    _check_output_absent(storage, output)
    described = describe(script, options.job_args)
    plans = plan_steps(script, described)
    inputs = list(described["inputs"] if inputs is None else inputs) or ["-"]
    scratch = posixpath.join(posixpath.dirname(output),
                             f".{posixpath.basename(output)}.run-{uuid.uuid4().hex[:12]}")
    storage.makedirs(scratch)
    keep = False
    try:
        inputs = _stdin_inputs(inputs, scratch, stdin, storage)
        sizes = sum(f.size for f in storage.resolve_inputs(list(inputs)))
        jobs = step_jobs(script, described, plans, inputs, scratch, options,
                         sizes if storage is LOCAL else 0)
        keep = jobs[0].conf.get("dirft.keep.temp")
        reports = _run_steps(jobs, runner_class, on_step)
        run = {"script": os.path.abspath(script), "steps": reports,
               "summary": summarize(reports)}
        storage.write_bytes(posixpath.join(jobs[-1].output, RUN_REPORT), _json_bytes(run))
        storage.rename(jobs[-1].output, output)
        return run
    finally:
        if not keep:  # dirft.keep.temp keeps the steps' outputs and logs for a post-mortem
            storage.delete(scratch, recursive=True)


def _check_output_absent(storage, output: str) -> None:
    """InputError if ``output`` exists (Hadoop's FileAlreadyExistsException); its missing
    parent directories are created, as Hadoop's ``FileOutputCommitter`` does."""
    if storage.exists(output):
        raise InputError(f"output directory {output} already exists; remove it or choose "
                         "another -o/--output-dir")
    make_parents(storage, output, "-o/--output-dir")


def _stdin_inputs(inputs: list, scratch: str, stdin, storage) -> list:
    """Replace ``-`` in ``inputs`` by a file in ``scratch`` holding all of stdin (mrjob
    reads ``-`` as standard input); other paths are returned as they are."""
    if "-" not in inputs:
        return inputs
    path = posixpath.join(scratch, "stdin")
    with storage.commit(path) as out:
        shutil.copyfileobj(stdin if stdin is not None else sys.stdin.buffer, out)
    return [path if p == "-" else p for p in inputs]


def _run_steps(jobs: list, runner_class, on_step) -> list[dict]:
    """Run the step jobs in order; an error of a multi-step job gets ``step N of M: ``."""
    reports = []
    for n, job in enumerate(jobs):
        if on_step:
            on_step(n, len(jobs))
        try:
            reports.append(runner_class(job).run())
        except DirftError as err:
            if len(jobs) > 1:
                err.args = (f"step {n + 1} of {len(jobs)}: {err}",)
            raise
    return reports


def summarize(reports: list[dict]) -> dict:
    """One summary of step reports (``_dirft_report.json`` dicts, in step order).

    Seconds, tasks, replicas, extra work (bytes) and fault counts (planned, fired,
    injected, detected, corrected; a count a report lacks is 0) add up over the steps;
    ``phases_per_task`` merges {phases: tasks}; ``input_bytes`` is the first step's input.
    """
    faults = {k: {kind: sum(r["faults"].get(k, {}).get(kind, 0) for r in reports)
                  for kind in ("crash", "silent")}
              for k in ("planned", "fired", "injected", "detected", "corrected")}
    phases = sum((Counter({int(p): c for p, c in r["phases_per_task"].items()})
                  for r in reports), Counter())
    total = {key: sum(r[key] for r in reports)
             for key in ("tasks", "replicas_launched", "extra_work_bytes")}
    seconds = {key: _sum_seconds(r[key] for r in reports)
               for key in ("makespan_seconds", "map_seconds", "reduce_seconds")}
    first = reports[0]
    return {"steps": len(reports), "scheme": first["scheme"], "tolerance": first["tolerance"],
            "input_bytes": first["input_bytes"], **total, **seconds, "faults": faults,
            "phases_per_task": {str(p): phases[p] for p in sorted(phases)}}


def _sum_seconds(values) -> float | None:
    """The sum of step seconds to the millisecond; None if any step did not measure it (a
    Hadoop step that runs map and reduce in one application reports None for each)."""
    values = list(values)
    return None if any(v is None for v in values) else round(sum(values), 3)


def summary_line(summary: dict) -> str:
    """One console line about a :func:`summarize` result."""
    inj, det, cor = (summary["faults"][k] for k in ("injected", "detected", "corrected"))
    map_s = summary["map_seconds"]
    map_part = "map and reduce in one Hadoop job" if map_s is None else f"map {map_s:.2f} s"
    return (f"{summary['steps']} step(s): makespan {summary['makespan_seconds']:.2f} s "
            f"({map_part}), {summary['tasks']} map tasks, "
            f"{summary['replicas_launched']} replicas; faults injected {inj['crash']} crash "
            f"{inj['silent']} silent, detected {det['crash']}/{det['silent']}, corrected "
            f"{cor['crash']}/{cor['silent']}{_planned_part(summary['faults'])}")


def _planned_part(faults: dict) -> str:
    """``; planned P, fired F`` (crash/silent) when faults were planned, else ""."""
    planned, fired = faults.get("planned"), faults.get("fired")
    if not planned or not sum(planned.values()):
        return ""
    warn = " (fewer fired than planned: see each step's report)" if fired != planned else ""
    return (f"; planned {planned['crash']}/{planned['silent']}, fired "
            f"{fired['crash']}/{fired['silent']}{warn}")


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
