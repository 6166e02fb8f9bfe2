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
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass

from dirft.config import JobConf
from dirft.errors import ConfigError, DirftError, InputError
from dirft.runners.base import StreamingJob, check_output_absent, resolve_inputs

RUN_REPORT = "_dirft_run_report.json"
_DESCRIBE_TIMEOUT = 120  # seconds for the child interpreter to import the job

_DESCRIBE = r"""
import importlib.util, json, os, sys
script = os.path.abspath(sys.argv[1])
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
job = getattr(module, leaves[0])(args=[])
print(json.dumps({"classes": leaves, "steps": job._steps_desc(), "files": list(job.files()),
                  "dirs": list(job.dirs()), "archives": list(job.archives()),
                  "jobconf": {str(k): str(v) for k, v in (job.jobconf() or {}).items()},
                  "partitioner": job.partitioner(),
                  "input_format": job.hadoop_input_format(),
                  "output_format": job.hadoop_output_format()}))
"""


@dataclass(frozen=True)
class StepPlan:
    """One MRJob step as a streaming job: argv lists (None: no combiner / map-only) and the
    step's own jobconf ``key=value`` strings (reduces=0 for a map-only step included)."""

    mapper: list
    combiner: list | None
    reducer: list | None
    defines: list


def describe(script: str) -> dict:
    """Ask ``script`` (an MRJob file) for its steps in a child interpreter; see module doc.

    Returns ``{"classes", "steps", "files", "dirs", "archives", "jobconf", "partitioner",
    "input_format", "output_format"}``. Raises :class:`InputError` when the file is
    missing, :class:`ConfigError` when it does not import, defines no single MRJob class
    or describes no steps.
    """
    if not os.path.isfile(script):
        raise InputError(f"MRJob script {script} does not exist")
    done = _describe_process(script)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ConfigError(f"MRJob script {script} could not be loaded: {tail}")
    described = json.loads(done.stdout.strip().splitlines()[-1])
    if len(described["classes"]) != 1:
        found = ", ".join(described["classes"]) or "none"
        raise ConfigError(f"MRJob script {script} must define exactly one MRJob class that "
                          f"no other class in it extends (found: {found})")
    if not described["steps"]:
        raise ConfigError(f"MRJob script {script} describes no steps; define mapper, "
                          "reducer or steps()")
    return described


def _describe_process(script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        return subprocess.run([sys.executable, "-c", _DESCRIBE, script], capture_output=True,
                              text=True, env=env, timeout=_DESCRIBE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"MRJob script {script} took over {_DESCRIBE_TIMEOUT} s to "
                          "describe its steps") from None


def plan_steps(script: str, described: dict) -> list[StepPlan]:
    """Turn :func:`describe`'s result into one :class:`StepPlan` per step.

    Raises :class:`ConfigError` naming the step (``step 2 of 3``) for anything dirft cannot
    run: a non-streaming step, a pre_filter, an input manifest, an unknown substep type, a
    custom partitioner or input/output format, DIRS or ARCHIVES.
    """
    _refuse_job_settings(script, described)
    name, steps = os.path.basename(script), described["steps"]
    return [_plan_step(name, step, n, len(steps)) for n, step in enumerate(steps)]


def _refuse_job_settings(script: str, described: dict) -> None:
    for key, what in (("partitioner", "a custom partitioner"),
                      ("input_format", "a Hadoop input format"),
                      ("output_format", "a Hadoop output format"),
                      ("dirs", "DIRS"), ("archives", "ARCHIVES")):
        if described.get(key):
            raise ConfigError(f"MRJob script {script} sets {what} ({described[key]!r}); "
                              "dirft run supports plain streaming steps and FILES only")
    if any("#" in path for path in described["files"]):
        raise ConfigError(f"MRJob script {script}: FILES entries renamed with '#' are not "
                          "supported; ship the file under its own name")


def _plan_step(name: str, step: dict, n: int, total: int) -> StepPlan:
    where = f"step {n + 1} of {total}"
    if step.get("type") != "streaming":
        raise ConfigError(f"{where} is a {step.get('type')!r} step; dirft run runs "
                          "streaming steps (mapper, combiner, reducer) only")
    if step.get("input_manifest"):
        raise ConfigError(f"{where} reads an input manifest (mapper_raw); not supported")
    mapper = _substep(name, step.get("mapper"), "mapper", n, where) or ["cat"]
    combiner = _substep(name, step.get("combiner"), "combiner", n, where)
    reducer = _substep(name, step.get("reducer"), "reducer", n, where)
    defines = [f"{k}={v}" for k, v in (step.get("jobconf") or {}).items()]
    if reducer is None:
        defines.append("mapreduce.job.reduces=0")
    return StepPlan(mapper, combiner, reducer, defines)


def _substep(name: str, desc: dict | None, kind: str, n: int, where: str) -> list | None:
    if desc is None:
        return None
    if desc.get("pre_filter"):
        raise ConfigError(f"{where}: the {kind} has a pre_filter, which needs a shell; "
                          "dirft runs commands without one")
    if desc.get("type") == "script":
        return ["python", name, f"--{kind}", f"--step-num={n}"]
    if desc.get("type") == "command":
        argv = shlex.split(desc["command"])
        if argv:
            return argv
    raise ConfigError(f"{where}: the {kind} has type {desc.get('type')!r} (or an empty "
                      "command); dirft run takes 'script' and 'command' substeps")


def step_jobs(script: str, described: dict, plans: list, inputs: list, scratch: str,
              conf_files: list, defines: list) -> list[StreamingJob]:
    """The streaming job of every step: step N writes ``scratch/step-N`` and reads step
    N-1's. Raises ConfigError for a bad jobconf (files, job JOBCONF, -D, step jobconf)."""
    script_dir = os.path.dirname(os.path.abspath(script))
    files = [os.path.abspath(script)] + [os.path.join(script_dir, f) for f in described["files"]]
    job_conf = [f"{k}={v}" for k, v in described["jobconf"].items()]
    jobs = []
    for n, plan in enumerate(plans):
        conf = JobConf.load(conf_files, job_conf + list(defines) + plan.defines)
        step_inputs = list(inputs) if n == 0 else [jobs[-1].output]
        jobs.append(StreamingJob(inputs=step_inputs, output=os.path.join(scratch, f"step-{n}"),
                                 mapper=plan.mapper, conf=conf, combiner=plan.combiner,
                                 reducer=plan.reducer, files=files))
    return jobs


def run_mrjob(script: str, inputs: list, output: str, runner_class, conf_files=(),
              defines=(), on_step=None) -> dict:
    """Run the MRJob ``script`` over ``inputs`` (paths, directories, globs) into the new
    directory ``output`` with ``runner_class`` (a :class:`~dirft.runners.base.Runner`).

    ``on_step(n, total)`` is called before step ``n`` (0-based) starts. Returns the run
    report ``{"script", "steps": [step reports], "summary": summarize(...)}``, also written
    to ``output/_dirft_run_report.json``. Raises InputError (missing input, existing
    output), ConfigError (script, steps, jobconf), TaskError and JobAborted with the step
    named (``step 2 of 3: …``); nothing is left behind on failure.
    """
    check_output_absent(output)
    described = describe(script)
    plans = plan_steps(script, described)
    resolve_inputs(list(inputs))
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output))}.run-",
                               dir=os.path.dirname(os.path.abspath(output)))
    keep = False
    try:
        jobs = step_jobs(script, described, plans, inputs, scratch, list(conf_files),
                         list(defines))
        keep = jobs[0].conf.get("dirft.keep.temp")
        reports = _run_steps(jobs, runner_class, on_step)
        run = {"script": os.path.abspath(script), "steps": reports,
               "summary": summarize(reports)}
        _write_json(os.path.join(jobs[-1].output, RUN_REPORT), run)
        os.rename(jobs[-1].output, output)
        return run
    finally:
        if not keep:  # dirft.keep.temp keeps the steps' outputs and logs for a post-mortem
            shutil.rmtree(scratch, ignore_errors=True)


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

    Seconds, tasks, replicas, extra work (bytes) and fault counts add up over the steps;
    ``phases_per_task`` merges {phases: tasks}; ``input_bytes`` is the first step's input.
    """
    faults = {k: {kind: sum(r["faults"][k][kind] for r in reports) for kind in ("crash", "silent")}
              for k in ("injected", "detected", "corrected")}
    phases = sum((Counter({int(p): c for p, c in r["phases_per_task"].items()})
                  for r in reports), Counter())
    total = {key: sum(r[key] for r in reports)
             for key in ("tasks", "replicas_launched", "extra_work_bytes")}
    seconds = {key: round(sum(r[key] for r in reports), 3)
               for key in ("makespan_seconds", "map_seconds", "reduce_seconds")}
    first = reports[0]
    return {"steps": len(reports), "scheme": first["scheme"], "tolerance": first["tolerance"],
            "input_bytes": first["input_bytes"], **total, **seconds, "faults": faults,
            "phases_per_task": {str(p): phases[p] for p in sorted(phases)}}


def summary_line(summary: dict) -> str:
    """One console line about a :func:`summarize` result."""
    inj, det, cor = (summary["faults"][k] for k in ("injected", "detected", "corrected"))
    return (f"{summary['steps']} step(s): makespan {summary['makespan_seconds']:.2f} s "
            f"(map {summary['map_seconds']:.2f} s), {summary['tasks']} map tasks, "
            f"{summary['replicas_launched']} replicas; faults injected {inj['crash']} crash "
            f"{inj['silent']} silent, detected {det['crash']}/{det['silent']}, corrected "
            f"{cor['crash']}/{cor['silent']}")


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
