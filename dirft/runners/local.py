"""The local runner (the embedded default): a whole job on an emulated cluster here.

The steps are the pipeline's (:class:`dirft.runners.job.Job`); this runner lists the input
and commits the output through :class:`~dirft.storage.local.LocalStorage`, starts the
voting service with an empty keyring (each replica hands the driver its own key over an
inherited socket, :mod:`dirft.service.keys`; no key is ever written to a file), runs the
replicas as real processes forked by an undumpable fork server
(:class:`~dirft.runners.cluster.LocalCluster`, :mod:`dirft.runtime.forkserver`), then the reduce
stage (:mod:`dirft.shuffle`) into a hidden staging directory beside the output, which the
pipeline renames into place. On any error nothing is left behind: no output directory, no
scratch files, no processes.
"""

import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace

from dirft import aggregate
from dirft.codecs import output_codec
from dirft.contract.env import hadoop_ids, streaming_env
from dirft.contract.spec import SPEC_NAME, JobSpec, output_path
from dirft.errors import ENVIRONMENT_ERRNOS, ConfigError, EnvironmentFault, InputError
from dirft.report import RunRecord
from dirft.runners import distcache
from dirft.runners.base import Runner, check_output, cluster_of, drop_empty_parts, plan_job
from dirft.runners.cluster import LocalCluster
from dirft.runners.inputs import compress_parts, readable_inputs, task_entry
from dirft.runners.job import stage_timings
from dirft.runners.scratch import remove_stale
from dirft.runners.forkserver import security_facts
from dirft.service.keys import Keyring, undumpable
from dirft.shuffle import MapOutput, run_reduce_stage, write_map_only_output
from dirft.shuffle.keys import key_rules
from dirft.shuffle.replicated import integrity_summary, reduce_integrity
from dirft.shutdown import held_signals
from dirft.storage.local import LOCAL
from fault_injector.plan import read_fired

SCRATCH_DIRS = ("logs", "maps", "attempts", "reduce")  # under the job's work directory


class LocalRunner(Runner):
    """Runs a :class:`~dirft.runners.base.StreamingJob` on this machine; see module doc.

    After :meth:`run`, ``driver`` holds the core's decisions, commits and final state.
    """

    def __init__(self, job, clock=time.monotonic) -> None:
        super().__init__(job, clock)
        self.storage = LOCAL
        self.stamp = f"local{os.getpid()}"
        self.job_id = f"job_{self.stamp}_0001"
        self.output = os.path.abspath(job.output)
        self.reduce_summary: dict | None = None  # the report's reduce_integrity section
        self.stored: dict = {}  # {path: Stored} of the compressed inputs
        self.codec = None  # the output codec (mapreduce.output.fileoutputformat.compress)
        self.security: dict | None = None  # the report's security section

    # -- the pipeline's steps --------------------------------------------------------
    def plan(self):
        """List the input, check the output, plan on ``dirft.nodes`` emulated nodes."""
        files = self.storage.resolve_inputs(self.job.inputs)
        check_output(self.storage, self.output)
        self.codec = output_codec(self.job.conf.get)  # an unwritable codec: refused up front
        files, self.stored = readable_inputs(self.storage, files, self.job.conf)
        plan = plan_job(files, self.job.conf, self.stored)
        self.rules = key_rules(self.job.conf.items())  # a bad comparator: refused up front
        self.combiner, self.reducer, self.rules = programs(self.job, self.rules)
        return plan

    def prepare(self, plan, faults) -> None:
        """Make the job's scratch directory (``dirft.local.dir``, else beside the output);
        raise EnvironmentFault if it cannot be."""
        local = self.job.conf.get("dirft.local.dir")
        base = local or os.path.dirname(self.output)
        for directory in {base, os.path.dirname(self.output)}:
            remove_stale(directory)  # scratch of drivers that died (SIGKILL)
        try:
            os.makedirs(base, exist_ok=True)
            self.work = tempfile.mkdtemp(prefix=f".dirft-{self.job_id}-", dir=base)
        except OSError as err:
            what = "dirft.local.dir" if local else "the output's parent directory"
            raise EnvironmentFault(f"cannot create the job's scratch directory in {base} "
                                   f"({what}): {err.strerror}; make it writable or set "
                                   f"dirft.local.dir to a directory that is") from None
        for sub in SCRATCH_DIRS:
            os.makedirs(os.path.join(self.work, sub))
        self.cache = distcache.stage(self.job.files, self.job.archives, self.work)

    def credentials(self) -> str:
        """An empty keyring: each replica's key arrives through its handshake socket, so
        there is no secret file (returns "")."""
        self.keyring = Keyring()
        return ""

    def guard(self):
        """This process holds every key while the service runs: make it undumpable."""
        return undumpable()

    def environment_fault(self, err: OSError) -> Exception | None:
        """An EnvironmentFault for the driver's own disk-full or permission errors."""
        if err.errno not in ENVIRONMENT_ERRNOS:
            return None
        return EnvironmentFault(f"{err.strerror} ({err.filename or self.work}); nothing was "
                                f"committed: free space or fix permissions, then rerun")

    def commit_output(self, staging: str) -> None:
        """Rename ``staging`` into place (:func:`_commit`)."""
        _commit(staging, self.output)

    def run_map_stage(self, plan, faults, driver, service, secret_file: str) -> None:
        """Run every replica as a process on the emulated cluster until the stage ends."""
        conf = self.job.conf
        spec_path = self._write_spec(plan, faults, service.url)
        cluster = LocalCluster(driver, spec_path, plan.nodes, conf.get("dirft.slots.per.node"),
                               min(0.25, conf.get("dirft.heartbeat.interval")),
                               os.path.join(self.work, "logs"), heard=service.heard_until,
                               node_losses=faults.node_losses,
                               fault_log=self._fault_log(), keyring=self.keyring,
                               handshake_timeout=conf.get("dirft.startup.timeout"))
        try:
            cluster.run()
        finally:
            with held_signals():
                cluster.kill_all("runner stopping")
                cluster.close()
                self.security = security_section(cluster.forkserver)

    def finish(self, plan, faults, started: float, mapped: float) -> RunRecord:
        """Reduce the committed map output into the staging directory; return the record."""
        os.makedirs(self.staging())
        counters = self._reduce(plan, self.staging())
        if self.job.lazy_output:
            drop_empty_parts(self.staging())
        if self.codec is not None:
            compress_parts(self.staging(), self.codec)
        return RunRecord(stage_timings(started, mapped, self.clock()), counters.to_dict(),
                         read_fired(self._fault_log()), self.driver.snapshot(),
                         cluster_of(self.job.conf),
                         extra={"reduce_integrity": self.reduce_summary,
                                "security": self.security})

    def close(self) -> None:
        """Remove the staging directory, and the scratch unless ``dirft.keep.temp``."""
        shutil.rmtree(self.staging(), ignore_errors=True)
        if self.work and not self.job.conf.get("dirft.keep.temp"):
            shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------
    def _fault_log(self) -> str:
        return os.path.join(self.work, "faults.jsonl")

    def _write_spec(self, plan, faults, url: str) -> str:
        """Write the job spec the replicas read (:class:`JobSpec`); return its path."""
        job, work = self.job, self.work
        spec = JobSpec(
            job_id=self.job_id, job_number=1, stamp=self.stamp, service_url=url,
            secret_file="", mapper=job.mapper, combiner=self.combiner,
            jobconf=job.conf.items(), cmdenv=job.cmdenv,
            files=self.cache,
            tasks=[task_entry(t, self.stored) for t in plan.tasks],
            map_output_dir=os.path.join(work, "maps"), work_dir=work,
            heartbeat_interval=job.conf.get("dirft.heartbeat.interval"),
            sort_memory=job.conf.get("dirft.sort.memory"), faults=faults.to_json(),
            fault_log=self._fault_log())
        path = os.path.join(work, SPEC_NAME)
        spec.save(path)
        return path

    def _reduce(self, plan, staging: str):
        """Run the reduce stage (or write a map-only job's parts); return the counters."""
        maps = os.path.join(self.work, "maps")
        driver = self.driver
        by_task = [[MapOutput(output_path(maps, t, w.subsplit, w.replica), w.signature)
                    for w in driver.commits[t]] for t in range(len(plan.tasks))]
        counters = driver.winning_counters()
        self.reduce_summary = integrity_summary(None)
        if self.job.num_reduces == 0:
            write_map_only_output(by_task, staging)
            return counters
        result = run_reduce_stage(
            [o for outs in by_task for o in outs], self.job.num_reduces, self.reducer,
            staging, os.path.join(self.work, "reduce"), self._reduce_env,
            cwd=self._reduce_cwd(), sort_memory=self.job.conf.get("dirft.sort.memory"),
            log_dir=os.path.join(self.work, "logs"),
            integrity=reduce_integrity(self.job.conf, self.job.num_reduces),
            rules=self.rules, on_partition=self._reduced,
            exit_ok=not self.job.conf.get("stream.non.zero.exit.is.failure"))
        counters.merge(result.counters)
        self.reduce_summary = integrity_summary(result)
        return counters

    def _reduced(self, done: int, total: int) -> None:
        """Keep the share of reduce partitions written, for the console's progress."""
        self.reduce_progress = done / total

    def _reduce_env(self, partition: int) -> dict:
        ids = hadoop_ids(1, partition, 0, False, self.stamp)
        return streaming_env(self.job.conf.items(), ids, self.job.cmdenv)

    def _reduce_cwd(self) -> str:
        cwd = os.path.join(self.work, "attempts", "reduce")
        os.makedirs(cwd, exist_ok=True)
        for path in self.cache:
            os.symlink(path, os.path.join(cwd, os.path.basename(path)))
        return cwd


def security_section(server) -> dict:
    """The report's ``security`` section for a map stage run through fork server
    ``server`` (:class:`~dirft.runners.forkserver.ForkServer`): what held (replicas forked
    undumpable, subreapers), the kernel's settings (:func:`security_facts`), the processes
    killed when attempts ended, and one warning line per protection that did not hold."""
    facts = security_facts()
    warnings = []
    if not server.locked:
        warnings.append("the replicas' fork server could not make itself undumpable: a "
                        "mapper of the same user may read the replicas' keys")
    if facts["cap_sys_ptrace"]:
        warnings.append("the job runs with CAP_SYS_PTRACE (as root?): its mappers may read "
                        "any process's memory, so per-replica keys do not hold; run dirft "
                        "as an unprivileged user")
    if not server.subreaper:
        warnings.append("no child subreaper (prctl PR_SET_CHILD_SUBREAPER refused): "
                        "processes a mapper detaches may outlive the job")
    return {"replicas": "forked by an undumpable fork server", "undumpable": server.locked,
            "subreaper": server.subreaper, **facts,
            "processes_killed": server.killed, "warnings": warnings}


def programs(job, rules):
    """The (combiner, reducer, key rules) the local runner runs ``job`` with, given its
    key ``rules`` (:class:`~dirft.shuffle.keys.KeyRules`).

    ``-reducer aggregate`` with reduces is Hadoop's Aggregate package
    (:mod:`dirft.aggregate`), which also replaces any ``-combiner``, as ``StreamJob`` sets
    ``ValueAggregatorCombiner``; Java reducers read and write records, not separated lines.
    Raises ConfigError for what the local runner does not do as Hadoop: ``aggregate`` with
    a key comparator class (Java's reducer groups the keys it calls equal) or another map
    output separator, and a command combiner with other separators (Hadoop's
    ``PipeCombiner`` takes the reducer's separator keys).
    """
    separated = (rules.separator, rules.reduce_input_separator,
                 rules.reduce_output_separator, rules.reduce_output_fields) != DEFAULT_SPLIT
    if not (aggregate.is_aggregate(job.reducer) and job.num_reduces):
        if job.combiner is not None and separated:
            raise ConfigError("-combiner with stream.*.field.separator or "
                              "stream.num.reduce.output.key.fields set is not built yet "
                              "(Hadoop's combiner takes the reducer's separators); drop the "
                              "combiner or those keys, or use --runner hadoop")
        return job.combiner, job.reducer, rules
    if rules.comparator is not None or rules.separator != b"\t":
        raise ConfigError("-reducer aggregate with mapreduce.job.output.key.comparator.class "
                          "or stream.map.output.field.separator is not built yet (Java's "
                          "reducer groups by the comparator and splits keys itself); leave "
                          "them out or use --runner hadoop")
    python, fields = sys.executable, rules.num_fields
    return ([python, *aggregate.combiner_argv(fields)[1:]],
            [python, *aggregate.reducer_argv(fields, job.conf.get(aggregate.MAX_ITEMS_KEY))[1:]],
            replace(rules, reduce_input_separator=b"\t", reduce_output_separator=b"\t",
                    reduce_output_fields=1))


DEFAULT_SPLIT = (b"\t", b"\t", b"\t", 1)  # Hadoop Streaming's separators and fields


def _commit(staging: str, output: str) -> None:
    """Rename the finished ``staging`` directory to ``output``, atomically. Raises
    :class:`InputError` if ``output`` appeared while the job ran (another job with the
    same -output won the race), EnvironmentFault for other failures."""
    try:
        os.rename(staging, output)
    except OSError as err:
        if os.path.exists(output):
            raise InputError(f"output directory {output} appeared while this job ran "
                             f"(another job with the same -output?); this run's output "
                             f"was discarded, the other one's kept") from None
        raise EnvironmentFault(f"cannot rename the finished output into {output}: "
                               f"{err.strerror}") from None
