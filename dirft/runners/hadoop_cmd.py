"""Hadoop Streaming command lines for the Hadoop runner: pure functions, no I/O.

mrjob's lesson: building a command line is separate from running it. Every ``hadoop jar``
argv the Hadoop runner submits is built here, in mrjob's order (``-files`` and ``-D``,
Hadoop's generic options, first; then ``-cmdenv``, ``-inputformat``, ``-input``, ``-output``,
``-mapper``, ``-reducer``), so tests can compare them with the exact expected lines.

Two kinds of streaming job (README "Running on a Hadoop cluster"):

* a **replica job** ("wave"): one line per replica, the mapper the replica task runtime
  (``python3 -m dirft.task --manifest-stdin``). Under dirft, frft and bft the input is a
  folder of one manifest file per map task (streaming's default ``TextInputFormat``: a
  file's split carries the host of its block, :mod:`dirft.runners.hadoop_manifests`);
  under se and none one manifest (``NLineInputFormat``, one line per map task). Under
  dirft, frft and bft the layer owns re-execution (:func:`scheme_jobconf`) and the job is
  map-only; under se and none Hadoop owns it and the same job runs the user's reducer.
* a **commit job**: its mappers stream the decided map outputs, re-verified, to Hadoop's
  shuffle and the user's reducer (``python3 -m dirft.task --emit-verified``).

The per-job HMAC secret travels as a file in ``-files`` (``dirft.secret``): its bytes are
never in an argument, a ``-D`` value or a ``-cmdenv`` value.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from dirft.contract.spec import ZIP_NAME
from dirft.core.scheme import VOTED_SCHEMES
from dirft.errors import UsageError
from dirft.options import OWNED_PREFIXES

NLINE_INPUT_FORMAT = "org.apache.hadoop.mapred.lib.NLineInputFormat"
FORCED_ENV = {"LC_ALL": "C", "PYTHONHASHSEED": "0"}  # as the local runner's tasks get


@dataclass(frozen=True)
class StreamingCommand:
    """What one ``hadoop jar`` streaming submission needs. Paths: local files for
    ``files`` (``(path, name)`` pairs, linked into each task's directory as ``name``), HDFS
    paths for ``input``/``output``; ``jobconf`` and ``cmdenv`` are applied in sorted order.
    """

    hadoop_bin: tuple
    streaming_jar: str
    files: tuple
    jobconf: dict
    cmdenv: dict
    input: str
    output: str
    mapper: str
    reducer: str | None = None
    extra: tuple = field(default_factory=tuple)
    archives: tuple = field(default_factory=tuple)  # (path, name) pairs, for -archives
    inputformat: str | None = NLINE_INPUT_FORMAT  # None: streaming's TextInputFormat

    def argv(self) -> list[str]:
        """The argv, ready for ``subprocess``."""
        args = [*self.hadoop_bin, "jar", self.streaming_jar]
        if self.files:
            args += ["-files", ",".join(files_arg(path, name) for path, name in self.files)]
        if self.archives:
            args += ["-archives", ",".join(files_arg(p, n) for p, n in self.archives)]
        for key, value in sorted(self.jobconf.items()):
            args += ["-D", f"{key}={value}"]
        for name, value in sorted(self.cmdenv.items()):
            args += ["-cmdenv", f"{name}={value}"]
        if self.inputformat:
            args += ["-inputformat", self.inputformat]
        args += ["-input", self.input, "-output", self.output, "-mapper", self.mapper]
        if self.reducer is not None:
            args += ["-reducer", self.reducer]
        return args + list(self.extra)


def files_arg(path: str, name: str) -> str:
    """One ``-files`` entry, ``path#name``. Raises UsageError for a ``,`` or ``#`` in either
    (Hadoop splits ``-files`` at commas and the link name at ``#``)."""
    if any(c in path + name for c in ",#"):
        raise UsageError(f"-files {path!r}: a path shipped to Hadoop may not contain ',' or '#'")
    return f"{path}#{name}"


def scheme_jobconf(scheme: str) -> dict[str, str]:
    """The keys a scheme sets on its replica jobs (README: "Jobconf per scheme").

    dirft, frft, bft: the layer owns re-execution — no speculation, and a failed replica
    does not fail the job (the core decides whether the job survives). Two attempts per
    map: with one, Hadoop reports a failed replica as TIPFAILED, which ``hadoop jar`` does
    not print (docs/hadoop.md, 'Attempts and failures'), so its crash would wait for the heartbeat
    timeout; a later attempt registers no replica (it re-emits what the driver says its
    lines emitted, :func:`dirft.runtime.streaming_task.re_emit`). se: Hadoop's
    speculative execution on. none: Hadoop's defaults.
    """
    if scheme in VOTED_SCHEMES:
        return {"mapreduce.map.maxattempts": "2", "mapreduce.map.speculative": "false",
                "mapreduce.map.failures.maxpercent": "100"}
    if scheme == "se":
        return {"mapreduce.map.speculative": "true"}
    return {}


def user_jobconf(items: dict, sources: dict) -> dict[str, str]:
    """The jobconf keys the user set (file or ``-D``) that Hadoop should see as well.

    ``items``/``sources``: every key's string value and where it came from. Defaults and
    dirft's own keys (``dirft.*``, ``mapred.map.tasks.fault.*``) stay out; so does
    ``mapreduce.job.reduces``, which each job sets itself.
    """
    return {STREAMING_NAMES.get(k, k): v for k, v in items.items()
            if sources.get(k, "default") != "default" and not k.startswith(OWNED_PREFIXES)
            and k != "mapreduce.job.reduces"}


#: Keys a streaming job must get under their old-API name. Streaming runs the old
#: ``mapred`` API (``StreamJob`` calls ``JobConf.setPartitionerClass``, which sets
#: ``mapred.partitioner.class``), and Hadoop 3.3.6's ``Job.ensureNotSet`` refuses the job
#: ("mapreduce.job.partitioner.class is incompatible with map compatibility mode", exit 5)
#: when the new-API key is set: what ``-partitioner`` becomes in dirft's jobconf.
STREAMING_NAMES = {"mapreduce.job.partitioner.class": "mapred.partitioner.class"}


def task_cmdenv(user_cmdenv: dict) -> dict[str, str]:
    """``-cmdenv`` of every job: the user's, the forced locale and hash seed, and the
    shipped zip first on ``PYTHONPATH`` (relative: the task's working directory)."""
    env = {**user_cmdenv, **FORCED_ENV}
    env["PYTHONPATH"] = ":".join(p for p in (ZIP_NAME, user_cmdenv.get("PYTHONPATH")) if p)
    return env


def node_command(argv: list, python: str) -> str:
    """``argv`` as one streaming command string, with a leading ``python`` replaced by the
    nodes' interpreter (``dirft.hadoop.python``), as the local runner maps it to its own."""
    if argv and argv[0] == "python":
        argv = [*shlex.split(python), *argv[1:]]
    return shlex.join(argv)


def runtime_command(python: str, mode: str) -> str:
    """The mapper command running the replica task runtime in ``mode``
    (``--manifest-stdin`` or ``--emit-verified``)."""
    return shlex.join([*shlex.split(python), "-m", "dirft.task", mode])


def job_name(base: str, job_id: str, what: str) -> str:
    """A unique ``mapreduce.job.name``: the user's name, the dirft job id (which carries a
    random part) and which job of the run it is."""
    return f"{base} [{job_id} {what}]"


def replica_jobconf(scheme: str, user: dict, name: str, reduces: int,
                    lines_per_map: int = 1, quorum: int = 1,
                    whole_files: int = 0) -> dict[str, str]:
    """Jobconf of a replica job: the user's keys, then the scheme's, the manifest's input
    format settings and the number of reduces (0 for the voted schemes, except for the
    wave that emits). One manifest read with ``NLineInputFormat``: ``lines_per_map`` lines
    per map task (the replicas it runs). A folder of per-map-task manifest files read with
    ``TextInputFormat`` (``whole_files``: the largest file's length in bytes, > 0):
    ``split.minsize`` at least that, so the old-API ``FileInputFormat.getSplits`` never
    cuts a file (its goal size is the input's size over ``mapreduce.job.maps``, default 2)
    and map task *i* is file *i*.

    Under a ``quorum`` above 1 the emitting wave's reducers start only once every map is
    over (``slowstart.completedmaps=1.0``): a replica may then wait for another's vote,
    and waiting replicas must not share the cluster's containers with reducers that wait
    for them. With a quorum of 1 no replica ever waits for one that has no container: it
    waits only for work in flight at a running replica, and a replica still queued (in
    wave 0 or a follow-up wave) reserves no work, so a live one does it. Hadoop's own
    slowstart then applies and the reducers shuffle while the replicas run, as under
    ``none``."""
    conf = {**user, **scheme_jobconf(scheme)}
    if scheme in VOTED_SCHEMES and reduces and quorum > 1:
        conf["mapreduce.job.reduce.slowstart.completedmaps"] = "1.0"
    conf.update({"mapreduce.job.name": name, "mapreduce.job.reduces": str(reduces),
                 "stream.map.input.ignoreKey": "true"})
    if whole_files:
        conf["mapreduce.input.fileinputformat.split.minsize"] = str(whole_files)
    else:
        conf["mapreduce.input.lineinputformat.linespermap"] = str(lines_per_map)
    return conf


def commit_jobconf(user: dict, name: str, reduces: int) -> dict[str, str]:
    """Jobconf of the commit job: Hadoop's own re-execution (its mappers are deterministic
    copies), no speculation (it would only copy the same bytes twice)."""
    conf = {**user, "mapreduce.map.speculative": "false"}
    conf.update({"mapreduce.job.name": name, "mapreduce.job.reduces": str(reduces),
                 "mapreduce.input.lineinputformat.linespermap": "1",
                 "stream.map.input.ignoreKey": "true"})
    return conf


def fail_task_argv(hadoop_bin: tuple, attempt_id: str) -> list[str]:
    """``hadoop job -fail-task ATTEMPT`` (Hadoop 3 hands it to ``mapred job``): unlike
    ``-kill-task`` it counts as a failed attempt, so Hadoop does not re-run it for free."""
    return [*hadoop_bin, "job", "-fail-task", attempt_id]


def kill_job_argv(hadoop_bin: tuple, job_id: str) -> list[str]:
    """``hadoop job -kill JOB``."""
    return [*hadoop_bin, "job", "-kill", job_id]


def attempt_id(hadoop_job_id: str, map_index: int, attempt: int = 0) -> str:
    """The id of attempt ``attempt`` of map ``map_index`` of ``job_1700000000000_0003``."""
    return f"attempt{hadoop_job_id[3:]}_m_{map_index:06d}_{attempt}"
