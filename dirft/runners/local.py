"""The local runner (the embedded default): a whole job on an emulated cluster here.

Steps: check input and output, plan the map stage, draw the fault plan, start the voting
service with an empty keyring (each replica hands the driver its own key over an inherited
socket, :mod:`dirft.service.keys`; no key is ever written to a file), run the replicas as
real processes
(:class:`~dirft.runners.cluster.LocalCluster`), then the reduce stage, then commit the output
directory atomically (built under a hidden name beside it, renamed into place). On any
error nothing is left behind: no output directory, no scratch files, no processes.
"""

import json
import os
import shutil
import tempfile

from dirft.errors import ENVIRONMENT_ERRNOS, EnvironmentFault, InputError
from dirft.runners.base import Runner, check_output_absent, plan_job, resolve_inputs
from dirft.runners.cluster import LocalCluster
from dirft.runners.driver import Driver
from dirft.runners.scratch import remove_stale
from dirft.shutdown import held_signals
from dirft.report import build_report
from dirft.runtime.env import hadoop_ids, streaming_env
from dirft.runtime.spec import JobSpec, output_path
from dirft.service.keys import Keyring, undumpable
from dirft.service.server import VotingService
from dirft.shuffle import MapOutput, run_reduce_stage, write_map_only_output
from dirft.shuffle.replicated import integrity_summary, reduce_integrity
from fault_injector.plan import plan_faults, read_fired


class LocalRunner(Runner):
    """Runs a :class:`~dirft.runners.base.StreamingJob` on this machine; see module doc."""

    def run(self) -> dict:
        """Run the job; return the report. Raises InputError, ConfigError, JobAborted, …"""
        job, conf = self.job, self.job.conf
        started = self.clock()
        files = resolve_inputs(job.inputs)
        check_output_absent(job.output)
        plan = plan_job(files, conf)
        faults = self._faults(len(plan.tasks), plan.scheme, plan.nodes)
        self.stamp = f"local{os.getpid()}"
        self.job_id = f"job_{self.stamp}_0001"
        work = self._work_dir()
        self.committed: str | None = None
        try:
            return self._run_in(work, plan, faults, started)
        except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM: say truly what is left
            err.committed = self.committed
            raise
        except OSError as err:  # the driver's own writes: scratch full, read-only, ...
            if err.errno not in ENVIRONMENT_ERRNOS:
                raise
            raise EnvironmentFault(f"{err.strerror} ({err.filename or work}); nothing was "
                                   f"committed: free space or fix permissions, then "
                                   f"rerun") from None
        finally:
            with held_signals():  # a second Ctrl-C must not leave the scratch behind
                if not conf.get("dirft.keep.temp"):
                    shutil.rmtree(work, ignore_errors=True)

    def _run_in(self, work: str, plan, faults, started: float) -> dict:
        conf = self.job.conf
        driver = Driver(plan, self.clock, conf.get("dirft.poll.interval"))
        self.driver = driver  # kept for callers: its decision log, commits, core state
        keyring = Keyring()
        with undumpable(), VotingService(keyring, self.job_id, driver.dispatch,
                                         conf.get("dirft.service.bind.host"),
                                         conf.get("dirft.service.bind.port"),
                                         conf.get("dirft.service.max.body.bytes")) as service:
            spec_path = self._write_spec(work, plan, faults, service.url)
            cluster = LocalCluster(driver, spec_path, plan.nodes,
                                   conf.get("dirft.slots.per.node"),
                                   min(0.25, conf.get("dirft.heartbeat.interval")),
                                   os.path.join(work, "logs"),
                                   node_losses=faults.node_losses,
                                   fault_log=os.path.join(work, "faults.jsonl"),
                                   keyring=keyring,
                                   handshake_timeout=conf.get("dirft.startup.timeout"))
            try:
                cluster.run()
            finally:
                with held_signals():
                    cluster.kill_all("runner stopping")
        mapped = self.clock()
        staging = os.path.join(os.path.dirname(os.path.abspath(self.job.output)),
                               f".{os.path.basename(self.job.output)}.{self.job_id}.staging")
        try:
            os.makedirs(staging)
            counters = self._reduce(work, plan, driver, staging)
            timings = {"map": mapped - started, "reduce": self.clock() - mapped,
                       "makespan": self.clock() - started}
            report = build_report(self.job_id, conf, plan, driver.state,
                                  read_fired(os.path.join(work, "faults.jsonl")),
                                  faults, timings, counters, True)
            report["reduce_integrity"] = self.reduce_summary
            _write_json(os.path.join(staging, "_dirft_report.json"), report)
            open(os.path.join(staging, "_SUCCESS"), "wb").close()
            with held_signals():  # the rename and the record of it are one step
                _commit(staging, self.job.output)
                self.committed = self.job.output
        finally:
            with held_signals():
                shutil.rmtree(staging, ignore_errors=True)
        return report

    def _faults(self, num_tasks: int, scheme, nodes):
        conf = self.job.conf
        return plan_faults(num_tasks, scheme, conf.get("mapred.map.tasks.fault.percent"),
                           conf.get("dirft.fault.seed"), conf.get("dirft.fault.crash.mode"),
                           conf.get("dirft.fault.silent.mode"),
                           conf.get("dirft.fault.replicas.per.task"), nodes,
                           conf.get("dirft.fault.straggler.nodes"),
                           conf.get("dirft.fault.straggler.factor"),
                           conf.get("mapred.map.tasks.fault.inject"),
                           conf.get("dirft.fault.bad.nodes"),
                           conf.get("dirft.fault.bad.node.percent") / 100)

    def _work_dir(self) -> str:
        """Create the job's scratch directory; raise EnvironmentFault if it cannot be."""
        local = self.job.conf.get("dirft.local.dir")
        base = local or os.path.dirname(os.path.abspath(self.job.output))
        for directory in {base, os.path.dirname(os.path.abspath(self.job.output))}:
            remove_stale(directory)  # scratch of drivers that died (SIGKILL)
        try:
            os.makedirs(base, exist_ok=True)
            work = tempfile.mkdtemp(prefix=f".dirft-{self.job_id}-", dir=base)
        except OSError as err:
            what = "dirft.local.dir" if local else "the output's parent directory"
            raise EnvironmentFault(f"cannot create the job's scratch directory in {base} "
                                   f"({what}): {err.strerror}; make it writable or set "
                                   f"dirft.local.dir to a directory that is") from None
        for sub in ("logs", "maps", "attempts", "reduce"):
            os.makedirs(os.path.join(work, sub))
        return work

    def _write_spec(self, work: str, plan, faults, url: str) -> str:
        job = self.job
        spec = JobSpec(
            job_id=self.job_id, job_number=1, stamp=self.stamp, service_url=url,
            secret_file="", mapper=job.mapper, combiner=job.combiner,
            jobconf=job.conf.items(), cmdenv=job.cmdenv,
            files=[os.path.abspath(f) for f in job.files],
            tasks=[{"index": t.index, "path": t.split.path, "start": t.split.start,
                    "length": t.split.length,
                    "subsplits": [[s.start, s.length] for s in t.subsplits]}
                   for t in plan.tasks],
            map_output_dir=os.path.join(work, "maps"), work_dir=work,
            heartbeat_interval=job.conf.get("dirft.heartbeat.interval"),
            sort_memory=job.conf.get("dirft.sort.memory"), faults=faults.to_json(),
            fault_log=os.path.join(work, "faults.jsonl"))
        path = os.path.join(work, "job.json")
        spec.save(path)
        return path

    def _reduce(self, work: str, plan, driver, staging: str):
        maps = os.path.join(work, "maps")
        by_task = [[MapOutput(output_path(maps, t, w.subsplit, w.replica), w.signature)
                    for w in driver.commits[t]] for t in range(len(plan.tasks))]
        counters = driver.winning_counters()
        self.reduce_summary = integrity_summary(None)
        if self.job.num_reduces == 0:
            write_map_only_output(by_task, staging)
            return counters
        result = run_reduce_stage(
            [o for outs in by_task for o in outs], self.job.num_reduces, self.job.reducer,
            staging, os.path.join(work, "reduce"), self._reduce_env,
            cwd=self._reduce_cwd(work), sort_memory=self.job.conf.get("dirft.sort.memory"),
            log_dir=os.path.join(work, "logs"),
            integrity=reduce_integrity(self.job.conf, self.job.num_reduces))
        counters.merge(result.counters)
        self.reduce_summary = integrity_summary(result)
        return counters

    def _reduce_env(self, partition: int) -> dict:
        ids = hadoop_ids(1, partition, 0, False, self.stamp)
        return streaming_env(self.job.conf.items(), ids, self.job.cmdenv)

    def _reduce_cwd(self, work: str) -> str:
        cwd = os.path.join(work, "attempts", "reduce")
        os.makedirs(cwd, exist_ok=True)
        for path in self.job.files:
            os.symlink(os.path.abspath(path), os.path.join(cwd, os.path.basename(path)))
        return cwd


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


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
