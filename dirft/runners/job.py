"""The one job pipeline every runner goes through.

``plan -> fault plan -> secret -> voting service -> execute -> publish -> report``:

1. **plan** — the runner lists the input through its storage (one listing, one glob rule:
   :meth:`dirft.storage.base.Storage.resolve_inputs`), checks the output directory and
   plans splits, sub-splits and replica nodes (:meth:`Runner.plan`);
2. **fault plan** — drawn here and only here (:func:`draw_faults`), from the jobconf
   (:meth:`FaultSettings.from_conf`) or the simulator's settings;
3. **secret** and 4. **voting service** — when the runner's replicas vote
   (:meth:`Runner.votes`): the service's keyring (:meth:`Runner.credentials`: on Hadoop a
   fresh enrollment secret in a 0600 file, :func:`dirft.contract.spec.write_secret`; locally
   each replica hands over its own key through a socket), the core behind a
   :class:`~dirft.runners.driver.Driver`, and the :class:`VotingService` for the map stage;
5. **execute** — the runner starts, kills and observes replicas
   (:meth:`Runner.run_map_stage`: local processes, Hadoop waves) and then reduces or commits
   into a staging directory (:meth:`Runner.finish`), or runs everything its own way when it
   does not vote (:meth:`Runner.run_unvoted`: Hadoop's se/none, the simulator);
6. **report** — built in one place (:func:`dirft.report.build_report`) from what the runner
   recorded (:class:`~dirft.report.RunRecord`);
7. **publish** — the report and ``_SUCCESS`` go into the staging directory, which is
   renamed into place (:meth:`Runner.publish`): the output appears whole or not at all.

Whatever happens, :meth:`Job.run` ends in one place, :meth:`Job.close`, which asks the
runner to stop what it started and remove its scratch (:meth:`Runner.close`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dirft.report import build_report
from dirft.shutdown import held_signals
from fault_injector.plan import FaultPlan, plan_faults


@dataclass(frozen=True)
class FaultSettings:
    """What the fault injector is asked for (DIRFT paper's keys and dirft.fault.*).

    ``inject``: ``mapred.map.tasks.fault.inject``; ``percent`` (0-100) of map tasks hit;
    ``seed``; ``crash_mode``/``silent_mode`` (:mod:`fault_injector.plan`); ``per_task``:
    faulty replicas per hit task (-1: f); ``straggler_nodes`` slowed by ``straggler_factor``;
    ``bad_nodes`` (seeded) corrupting ``bad_share`` (0..1) of their outputs.
    """

    inject: bool
    percent: float
    seed: int
    crash_mode: str
    silent_mode: str
    per_task: int
    straggler_nodes: int
    straggler_factor: float
    bad_nodes: int
    bad_share: float

    @classmethod
    def from_conf(cls, conf) -> "FaultSettings":
        """The settings a :class:`~dirft.config.JobConf` gives (defaults from its table)."""
        return cls(conf.get("mapred.map.tasks.fault.inject"),
                   conf.get("mapred.map.tasks.fault.percent"), conf.get("dirft.fault.seed"),
                   conf.get("dirft.fault.crash.mode"), conf.get("dirft.fault.silent.mode"),
                   conf.get("dirft.fault.replicas.per.task"),
                   conf.get("dirft.fault.straggler.nodes"),
                   conf.get("dirft.fault.straggler.factor"),
                   conf.get("dirft.fault.bad.nodes"),
                   conf.get("dirft.fault.bad.node.percent") / 100)


def draw_faults(plan, settings: FaultSettings) -> FaultPlan:
    """The fault plan of ``plan`` (a JobPlan) under ``settings``: the one call of
    :func:`fault_injector.plan.plan_faults` in dirft. Raises ConfigError as it does."""
    return plan_faults(len(plan.tasks), plan.scheme, settings.percent, settings.seed,
                       settings.crash_mode, settings.silent_mode, settings.per_task,
                       plan.nodes, settings.straggler_nodes, settings.straggler_factor,
                       settings.inject, settings.bad_nodes, settings.bad_share)


def stage_timings(started: float, mapped: float | None, now: float) -> dict:
    """Seconds by stage: ``map`` (start to ``mapped``, or to ``now`` if None), ``reduce``
    (``mapped`` to ``now``) and ``makespan``; clock readings in seconds."""
    mapped = now if mapped is None else mapped
    return {"map": mapped - started, "reduce": now - mapped, "makespan": now - started}


class Job:
    """One run of a job through ``runner`` (a :class:`~dirft.runners.base.Runner`).

    :meth:`run` returns the report (a dict). Raises the runner's DirftError subclasses; in
    every case :meth:`close` has run, so nothing the job started is left behind.
    """

    def __init__(self, runner) -> None:
        self.runner = runner

    def run(self) -> dict:
        """Run the pipeline of the module doc; return the report."""
        runner = self.runner
        try:
            return self._steps()
        except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM: say truly what is left
            err.committed = runner.committed
            raise
        except OSError as err:  # the driver's own writes: scratch full, read-only, ...
            fault = runner.environment_fault(err)
            if fault is None:
                raise
            raise fault from None
        finally:
            self.close()

    def _steps(self) -> dict:
        """Steps 1 to 7 of the module doc, in order."""
        runner = self.runner
        runner.open()
        started = runner.clock()
        plan = runner.plan()
        runner.check_faults()
        faults = draw_faults(plan, runner.fault_settings())
        runner.prepare(plan, faults)
        record = (self._voted(plan, faults, started) if runner.votes(plan)
                  else runner.run_unvoted(plan, faults, started))
        report = build_report(runner.job_id, plan, faults, record)
        runner.publish(report)
        return report

    def _voted(self, plan, faults, started: float):
        """Steps 3-5 for voting replicas: secret, driver, service, map stage, then finish."""
        from dirft.service.server import VotingService  # aiohttp: only the voted schemes

        runner, conf = self.runner, self.runner.job.conf
        driver = runner.new_driver(plan, faults)
        secret_file = runner.credentials()
        service = VotingService(runner.keyring, runner.job_id, runner.dispatcher(driver),
                                conf.get("dirft.service.bind.host"),
                                conf.get("dirft.service.bind.port"),
                                conf.get("dirft.service.max.body.bytes"), clock=runner.clock)
        with runner.guard(), service:
            runner.run_map_stage(plan, faults, driver, service, secret_file)
        return runner.finish(plan, faults, started, runner.clock())

    def close(self) -> None:
        """The one place a job ends: the runner stops its replicas and removes its scratch.

        Signals are held meanwhile (:func:`dirft.shutdown.held_signals`): a second Ctrl-C
        must not leave scratch behind. Killing cluster applications hooks in here too.
        """
        with held_signals():
            self.runner.close()
