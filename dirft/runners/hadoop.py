"""The Hadoop runner: the same jobs on a real cluster, through Hadoop Streaming and WebHDFS.

``dirft streaming --runner hadoop`` runs a job on an unmodified Hadoop 3 cluster (YARN and
HDFS). Input, partial map outputs and the output directory live on HDFS
(:class:`~dirft.storage.hdfs.HdfsStorage`); each replica is one line of a replica manifest
(:mod:`dirft.contract.manifest`), the input of a streaming job whose mapper is the replica
task runtime (``python3 -m dirft.task --manifest-stdin``), shipped with the job in a zip
(:mod:`dirft.runners.package`); a map task runs ``dirft.hadoop.replicas.per.map`` replicas
of different tasks, each its own process (:mod:`dirft.runtime.container`). Command lines:
:mod:`dirft.runners.hadoop_cmd`.

* **dirft, frft, bft** (the layer owns re-execution): the voting service runs here, bound
  to ``dirft.service.bind.host`` and advertised to the tasks as
  ``dirft.service.advertise.host|port``; the core's launches become replica jobs
  (:class:`~dirft.runners.hadoop_waves.WaveScheduler`). With a reducer (and
  ``dirft.hadoop.one.application``) wave 0 carries it: one surviving replica per task
  emits the decided outputs, re-verified, into Hadoop's shuffle, so a fault-free run is
  **1 YARN application**; if the ``dirft-emit`` counters do not show every task emitted
  once, that output is dropped and one **commit job** streams the decided outputs to the
  reducer (or writes one part per map task for a map-only job).
* **se, none** (Hadoop owns re-execution and speculation): one streaming job over the same
  manifest (one map task per split) in direct mode, with the user's reducer; **1 job**.

Steps: resolve input and plan splits from the files' real blocks, draw the fault plan,
build the zip and job spec, run the map stage, the commit job into a staging directory
beside the output, write ``_dirft_report.json`` into it and RENAME it into place: the
output appears at once with its report, or not at all. Scratch (HDFS and local) goes.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import shutil
import tempfile
import threading
import time
import uuid

from dirft import aggregate
from dirft.contract.hadoop import EMIT_GROUP
from dirft.contract.manifest import CommitLine, ReplicaLine, manifest_bytes
from dirft.contract.spec import SECRET_NAME, SPEC_NAME, ZIP_NAME, JobSpec, output_path
from dirft.core.scheme import VOTED_SCHEMES
from dirft.errors import ConfigError, JobAborted
from dirft.report import RunRecord
from dirft.runners import hadoop_cmd as cmd
from dirft.runners.base import Runner, check_output
from dirft.runners.distcache import split_entry, tar_directories
from dirft.runners.hadoop_attempts import AttemptCheck, security_section
from dirft.runners.hadoop_cluster import (advertised_url, client_conf, cluster_facts,
                                          hadoop_home_of, hdfs_storage, plan_hadoop_job,
                                          refuse_unbuilt, rm_address)
from dirft.runners.hadoop_launcher import HadoopJobFailed, Launcher, find_hadoop
from dirft.runners.hadoop_manifests import ManifestWriter, replica_line
from dirft.runners.hadoop_report import hadoop_section, placement
from dirft.runners.hadoop_nodes import close_losses, host_losses, with_host_retries
from dirft.runners.hadoop_replicas import ReplicaBook
from dirft.runners.hadoop_slots import per_map_rule
from dirft.runners.hadoop_waves import WaveScheduler, end_waves
from dirft.runners.inputs import readable_inputs
from dirft.runners.job import stage_timings
from dirft.runners.locality import group_host, is_host
from dirft.runners.package import ZipBuild


class HadoopRunner(Runner):
    """Runs a :class:`~dirft.runners.base.StreamingJob` on a Hadoop cluster; see module doc.

    ``launcher`` runs ``hadoop``; ``storage`` overrides the WebHDFS storage built from
    ``dirft.webhdfs.*``; ``stamp`` (letters and digits) fixes the job id
    ``job_<stamp>_0001``, which is otherwise ``dirft`` and 16 random hex digits.
    """

    def __init__(self, job, clock=time.monotonic, launcher: Launcher | None = None,
                 storage=None, stamp: str | None = None) -> None:
        super().__init__(job, clock)
        self.launcher, self.storage = launcher or Launcher(), storage
        self.stamp = stamp or "dirft" + uuid.uuid4().hex[:16]
        self.job_id = f"job_{self.stamp}_0001"
        self.scratch = posixpath.join(job.conf.get("dirft.hadoop.tmp.dir"), self.job_id)
        self.submitted: list = []  # (what, Running) of every hadoop jar, in order
        self.hadoop_bin: tuple = ()
        self.jar = ""
        self.blocks: dict = {}     # {path: blocks} of the input files
        self.manifests: ManifestWriter | None = None  # the waves' input files (plan)
        self.stored: dict = {}     # {path: Stored} of the compressed input files
        self.scheduler: WaveScheduler | None = None  # the map stage's (run_map_stage)
        self.book: ReplicaBook | None = None  # the voting service's side (dispatcher)
        self.zip, self.zip_path = None, ""  # the task zip being built (prepare), its path
        self.ship = (list(job.files), list(job.archives))  # -files, -archives (prepare)
        self.killed_jobs: set = set()  # Hadoop job ids this run asked YARN to kill
        self._tracking = threading.Lock()
        self.decided_at: float | None = None  # clock when the last task was decided
        self.rm_url = ""  # where each register's attempt is checked (credentials)
        self.losses = None  # the map stage's HostLosses (lost hosts, emulated node faults)
        self.sizing = None  # the map stage's PerMapRule (replicas per map task, per wave)

    # -- the pipeline's steps --------------------------------------------------------
    def open(self) -> None:
        """Find ``hadoop`` and the streaming jar; read the Hadoop client's configuration
        under the job's (:func:`~dirft.config.hadoop_client.with_client_conf`); connect to
        WebHDFS (``dirft.webhdfs.*``)."""
        conf = self.job.conf
        self.hadoop_bin, self.jar = find_hadoop(conf.get("dirft.hadoop.home"),
                                                conf.get("dirft.hadoop.bin"),
                                                conf.get("dirft.hadoop.streaming.jar"))
        self.job.conf = client_conf(conf, self.hadoop_bin)
        self.storage = self.storage or hdfs_storage(self.job.conf)

    def plan(self):
        """List the input on HDFS, check the output, plan from the files' real blocks."""
        files = self.storage.resolve_inputs(self.job.inputs)
        self.output = self.storage.absolute(self.job.output)
        check_output(self.storage, self.output)
        refuse_unbuilt(self.job)
        files, self.stored = readable_inputs(self.storage, files, self.job.conf)
        plan, self.blocks = plan_hadoop_job(files, self.storage, self.job.conf, self.stored)
        self.manifests = ManifestWriter(self.storage, self.blocks)
        return with_host_retries(plan, self.job.conf)

    def check_faults(self) -> None:
        """Refuse ``dirft.fault.crash.mode=node`` under se and none (Hadoop runs their map
        tasks; the voted schemes' map stage emulates it, :mod:`.hadoop_nodes`)."""
        conf = self.job.conf
        if conf.get("mapred.map.tasks.fault.inject") and conf.get("dirft.scheme") not in \
                VOTED_SCHEMES and conf.get("dirft.fault.crash.mode") == "node":
            raise ConfigError("dirft.fault.crash.mode=node on Hadoop needs scheme dirft, "
                              "frft or bft; under se and none use exception, kill or hang")

    def prepare(self, plan, faults) -> None:
        """Local scratch, the runtime's zip started (:class:`ZipBuild`), the HDFS fault folder."""
        self.work = tempfile.mkdtemp(prefix=f"dirft-{self.job_id}-",
                                     dir=self.job.conf.get("dirft.local.dir") or None)
        self.zip = ZipBuild(os.path.join(self.work, ZIP_NAME))  # waited for in _start
        self.zip_path = self.zip.path
        files, dir_archives = tar_directories(list(self.job.files), self.work)  # mrjob's DIRS
        self.ship = (files, dir_archives + list(self.job.archives))
        self.storage.makedirs(posixpath.join(self.scratch, "faults"))

    def credentials(self) -> str:
        """The enrollment secret (:meth:`Runner.credentials`), and the check of each
        ``register``'s attempt against the cluster (:class:`AttemptCheck`) when the
        ResourceManager's address is known; return the secret file's path."""
        secret_file = super().credentials()
        self.rm_url = rm_address(self.job.conf)
        if self.rm_url:
            self.keyring.verify = AttemptCheck(self.rm_url)
        return secret_file

    def votes(self, plan) -> bool:
        """dirft, frft, bft vote; under se and none Hadoop owns re-execution."""
        return plan.scheme.voted

    def dispatcher(self, driver):
        """The dispatcher of the :class:`ReplicaBook` the waves share (a ``register``
        names the host and attempt a replica got; an emitter is chosen there, and a
        re-run attempt's ``reemit`` answered)."""
        self.book = ReplicaBook(driver, self._emits(), posixpath.join(self.scratch, "maps"))
        return self.book.dispatch

    def run_map_stage(self, plan, faults, driver, service, secret_file: str) -> None:
        """Submit the core's launches as replica jobs (waves) until the stage ends."""
        conf = self.job.conf
        url = advertised_url(service.url, conf)
        spec_path = self._spec(plan, faults, self.zip_path, url, secret_file, "vote")
        files = self._files(spec_path, self.zip_path, secret_file)
        self.sizing = per_map_rule(conf, hadoop_home_of(conf, self.hadoop_bin))
        self.losses = host_losses(driver, self.book, self._kill_task, faults, self.storage,
                                  posixpath.join(self.scratch, "faults"), self.rm_url)
        self.scheduler = WaveScheduler(
            driver, self.book, functools.partial(self._submit_wave, plan, files),
            self._kill_task, self._kill_job, service.heard_until,
            min(0.25, conf.get("dirft.heartbeat.interval")), conf.get("dirft.hadoop.wave.delay"),
            per_map=self.sizing, on_finish=self._decided,
            hosts=self.losses)
        try:
            self.scheduler.run()
        finally:
            close_losses(self.losses)
            end_waves(self.scheduler)

    def finish(self, plan, faults, started: float, mapped: float) -> RunRecord:
        """Keep wave 0's output if it emitted every task (one application), else run the
        commit job into the staging directory; return the record. Raises JobAborted,
        before any commit, if two processes spoke for one replica."""
        if self.keyring.conflicts:  # two processes spoke for one replica: trust no vote
            raise JobAborted(f"job {self.job_id}: {self.keyring.conflicts[0]}; someone holding "
                             f"the job's enrollment secret spoke for a replica; nothing was "
                             f"committed")
        result = self._whole_output(self.scheduler, self.book)
        if result is None:
            self.storage.delete(self.staging(), recursive=True)
            result = self._commit_job(plan, self.driver, self.zip_path)
        mapped = mapped if self.decided_at is None else self.decided_at
        counters = self.driver.winning_counters()
        counters.merge(_user_counters(result.counters))
        extra = {"placement": placement(plan, self.book.hosts(), self.blocks,
                                        self.book.planned(), self.manifests.summary(),
                                        self.driver.snapshot(), self.losses.section()),
                 "hadoop": hadoop_section(self.submitted), "security": security_section(self.rm_url)}
        return RunRecord(stage_timings(started, mapped, self.clock()), counters.to_dict(),
                         self._fired(), self.driver.snapshot(), self._cluster(), extra=extra)

    def run_unvoted(self, plan, faults, started: float) -> RunRecord:
        """Schemes se and none: one streaming job, Hadoop re-executes; return the record."""
        result = self._direct_job(plan, faults, self.zip_path)
        extra = {"placement": None, "hadoop": hadoop_section(self.submitted)}
        timings = {"makespan": self.clock() - started,  # map and reduce: one Hadoop job,
                   "map": None, "reduce": None}         # not measured apart
        return RunRecord(timings, _user_counters(result.counters).to_dict(),  # Hadoop's: extra
                         self._fired(), cluster=self._cluster(), extra=extra)

    def _cluster(self) -> dict:
        return cluster_facts(self.job.conf)

    def close(self) -> None:
        """Remove the local and HDFS scratch and the staging directory, unless
        ``dirft.keep.temp``, after killing this run's unfinished YARN applications; never
        raises (the job's own error matters more)."""
        self._kill_leftovers()
        self.zip and self.zip.wait(check=False)  # no writer left in the scratch folder
        if self.job.conf.get("dirft.keep.temp"):
            return
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        try:
            if self.storage is not None and self.output:
                self.storage.delete(self.scratch, recursive=True)
                self.storage.delete(self.staging(), recursive=True)
        except Exception:  # noqa: BLE001 - cleanup must not hide the job's own error
            pass

    def _spec(self, plan, faults, zip_path: str, url: str, secret_file: str, mode: str) -> str:
        job, conf = self.job, self.job.conf
        python = conf.get("dirft.hadoop.python")
        combiner = aggregate.combiner_beside_hadoop(job.combiner, job.reducer, job.num_reduces)
        spec = JobSpec(
            job_id=self.job_id, job_number=1, stamp=self.stamp, service_url=url,
            secret_file=SECRET_NAME if secret_file else "",
            mapper=_node_argv(job.mapper, python), combiner=_node_argv(combiner, python),
            jobconf=conf.items(), cmdenv=job.cmdenv, files=[], tasks=[],
            map_output_dir=posixpath.join(self.scratch, "maps"), work_dir="",
            heartbeat_interval=conf.get("dirft.heartbeat.interval"),
            sort_memory=conf.get("dirft.sort.memory"), faults=faults.to_json(),
            fault_log=posixpath.join(self.scratch, "faults"),
            storage=self.storage.describe(), mode=mode)
        path = os.path.join(self.work, f"{mode}-{SPEC_NAME}")  # shipped as SPEC_NAME
        spec.save(path)
        return path

    def _files(self, spec_path: str, zip_path: str, secret_file: str = "") -> tuple:
        files = [(spec_path, SPEC_NAME), (zip_path, ZIP_NAME)]
        if secret_file:
            files.append((secret_file, SECRET_NAME))
        for entry in self.ship[0]:
            path, name = split_entry(entry)
            files.append((os.path.abspath(path) if "://" not in path else path, name))
        return tuple(files)

    def _command(self, files: tuple, jobconf: dict, manifest: str, output: str,
                 mapper: str, reducer: str | None,
                 inputformat: str | None = cmd.NLINE_INPUT_FORMAT) -> cmd.StreamingCommand:
        archives = tuple((os.path.abspath(p) if "://" not in p else p, n) for p, n in
                         (split_entry(a, "-archives") for a in self.ship[1]))
        return cmd.StreamingCommand(self.hadoop_bin, self.jar, files, jobconf,
                                    cmd.task_cmdenv(self.job.cmdenv), manifest, output,
                                    mapper, reducer, archives=archives, inputformat=inputformat,
                                    extra=("-lazyOutput",) if self.job.lazy_output else ())

    def _user_conf(self) -> dict:
        conf = self.job.conf
        items = conf.items()
        return cmd.user_jobconf(items, {k: conf.source(k) for k in items})

    def _submit_and_wait(self, what: str, command: cmd.StreamingCommand):
        return self._start(what, command, lambda running, event: None).wait()

    def _start(self, what: str, command: cmd.StreamingCommand, on_event):
        """Submit ``command``; keep its Running in :attr:`submitted` from its first event
        on (a Ctrl-C may land before ``start`` returns), so every exit path can kill it;
        the task zip it ships is complete first."""
        self.zip.wait()
        def tracked(running, event) -> None:
            self._track(what, running)
            on_event(running, event)
        running = self.launcher.start(command.argv(), self._log_path(what), tracked)
        self._track(what, running)
        return running

    def _track(self, what: str, running) -> None:
        with self._tracking:
            if not any(r is running for _, r in self.submitted):
                self.submitted.append((what, running))

    def _kill_leftovers(self) -> None:
        """Kill every YARN application of this run that may still be running: its
        ``hadoop jar`` client runs, or ended without success (a dead client leaves its
        application running), and it was not killed yet. Every exit path comes here."""
        for _, running in self.submitted:
            result = running.result if running.done else None
            if result is None or result.returncode != 0:
                self._kill_application(running)

    def _kill_application(self, running) -> None:
        """Kill the YARN application of ``running`` (a hadoop_launcher ``Running``) with
        ``hadoop job -kill``, once per run whoever asks (its job id, once known, goes into
        :attr:`killed_jobs`), then end its ``hadoop jar`` client."""
        if running.job_id and running.job_id not in self.killed_jobs:
            self.killed_jobs.add(running.job_id)
            self.launcher.run_quiet(cmd.kill_job_argv(self.hadoop_bin, running.job_id))
        running.terminate()

    def _log_path(self, what: str) -> str:
        return os.path.join(self.work, what.replace(" ", "-") + ".log")

    # -- schemes dirft, frft, bft ---------------------------------------------------
    def _decided(self) -> None:
        self.decided_at = self.clock()

    def _emits(self) -> bool:
        return self.job.num_reduces > 0 and self.job.conf.get("dirft.hadoop.one.application")

    @staticmethod
    def _whole_output(scheduler, book):
        """Wave 0's result if it emitted every task's outputs exactly once, else None."""
        wave = scheduler.waves[0] if scheduler.waves else None
        # Running.result is set before its client counts as done (wave.result may not be:
        # the scheduler's loop can end before it has applied the "done" notice)
        result = wave.running.result if wave is not None and wave.emits and wave.running \
            else None
        if result is None or result.returncode != 0 or wave.killed:
            return None
        return result if book.emitted_all(result.counters) else None

    def _submit_wave(self, plan, files: tuple, number: int, groups: list, on_event):
        """Submit one replica job: map task *i* runs the replicas of ``groups[i]``, read
        from its own manifest file on its planned host's DataNode (:mod:`hadoop_manifests`)."""
        folder = posixpath.join(self.scratch, "manifests", f"wave-{number:03d}")
        largest = self.manifests.write_wave(folder, [[self._replica_line(
            plan, t, r, node) for t, r, node in group] for group in groups],
            [group_host(group) for group in groups])
        emits = number == 0 and self._emits()
        what = f"replicas wave {number}" + (" and reduce" if emits else "")
        python = self.job.conf.get("dirft.hadoop.python")
        jobconf = cmd.replica_jobconf(plan.scheme.name, {**self._user_conf(),
                                      **self.sizing.jobconf()}, self._name(what),
                                      self.job.num_reduces if emits else 0,
                                      quorum=plan.scheme.quorum, whole_files=largest)
        output = (self.staging() if emits
                  else posixpath.join(self.scratch, "waves", f"w{number:03d}"))
        command = self._command(files, jobconf, folder, output,
                                cmd.runtime_command(python, "--manifest-stdin"),
                                self._reducer(python) if emits else None, inputformat=None)
        return self._start(what, command, self.manifests.spreading(folder, on_event))

    def _name(self, what: str) -> str:
        return cmd.job_name(self.job.conf.get("mapreduce.job.name"), self.job_id, what)

    def _replica_line(self, plan, task: int, replica: int, node: str) -> ReplicaLine:
        return replica_line(self.job_id, plan, self.blocks, self.stored, task, replica,
                            node if is_host(node) else "")

    def _kill_task(self, attempt: str) -> None:
        argv = cmd.fail_task_argv(self.hadoop_bin, attempt)
        threading.Thread(target=self.launcher.run_quiet, args=(argv,), daemon=True).start()

    def _kill_job(self, wave) -> None:
        if wave.running is not None:
            self._kill_application(wave.running)

    def _commit_job(self, plan, driver, zip_path: str):
        conf = self.job.conf
        lines = [CommitLine(self.job_id, t, [[output_path(posixpath.join(self.scratch, "maps"),
                                                           t, w.subsplit, w.replica), w.signature]
                                              for w in driver.commits[t]])
                 for t in range(len(plan.tasks))]
        manifest = posixpath.join(self.scratch, "manifests", "commit.txt")
        self.storage.write_bytes(manifest, manifest_bytes(lines))
        spec_path = self._spec(plan, _no_faults(), zip_path, "", "", "commit")
        python = conf.get("dirft.hadoop.python")
        jobconf = cmd.commit_jobconf(self._user_conf(), self._name("commit"),
                                     self.job.num_reduces)
        command = self._command(self._files(spec_path, zip_path), jobconf, manifest,
                                self.staging(), cmd.runtime_command(python, "--emit-verified"),
                                self._reducer(python))
        result = self._submit_and_wait("commit", command)
        if result.returncode != 0:
            raise (JobAborted if result.failures else HadoopJobFailed)(
                f"commit job {result.job_id or '?'} failed: {result.cause()}")
        return result

    def _reducer(self, python: str) -> str | None:
        if self.job.num_reduces == 0 or self.job.reducer is None:
            return None
        return cmd.node_command(self.job.reducer, python)

    # -- schemes se, none -------------------------------------------------------------
    def _direct_job(self, plan, faults, zip_path: str):
        conf = self.job.conf
        python = conf.get("dirft.hadoop.python")
        spec_path = self._spec(plan, faults, zip_path, "", "", "direct")
        lines = [self._replica_line(plan, t.index, 0, t.nodes[0]) for t in plan.tasks]
        manifest = posixpath.join(self.scratch, "manifests", "direct.txt")
        self.storage.write_bytes(manifest, manifest_bytes(lines))
        jobconf = cmd.replica_jobconf(plan.scheme.name, self._user_conf(),
                                      self._name("map and reduce"), self.job.num_reduces)
        command = self._command(self._files(spec_path, zip_path), jobconf, manifest,
                                self.staging(), cmd.runtime_command(python, "--manifest-stdin"),
                                self._reducer(python))
        result = self._submit_and_wait("map and reduce", command)
        if result.returncode != 0:
            raise (JobAborted if result.failures else HadoopJobFailed)(
                f"job {result.job_id or '?'} failed under scheme {plan.scheme.name} (Hadoop "
                f"re-executes and gives up after mapreduce.map.maxattempts): {result.cause()}")
        return result

    # -- the end --------------------------------------------------------------------
    def _fired(self) -> list[dict]:
        folder = posixpath.join(self.scratch, "faults")
        return [json.loads(self.storage.read_bytes(posixpath.join(folder, name)))
                for name, _, is_dir in self.storage.list_dir(folder) if not is_dir]


def _node_argv(argv: list | None, python: str) -> list | None:
    if argv and argv[0] == "python":
        return [*python.split(), *argv[1:]]
    return argv


def _no_faults():
    from fault_injector.plan import NO_FAULTS
    return NO_FAULTS


_HADOOP_GROUPS = ("Map-Reduce Framework", "File System Counters", "Job Counters",
                  "Shuffle Errors", "File Input Format Counters", "File Output Format Counters",
                  EMIT_GROUP)


def _user_counters(counters: dict):
    """The counters of the job that ran the reducers that are the user's (the reducer's
    own groups; not Hadoop's, nor dirft's emission counters)."""
    from dirft.counters import Counters
    return Counters.from_dict({g: n for g, n in counters.items() if g not in _HADOOP_GROUPS})
