"""The map-stage loop every real runner shares: carry out the core's actions, report back.

A runner's map stage (:class:`~dirft.runners.cluster.LocalCluster`: processes here;
:class:`~dirft.runners.hadoop_waves.WaveScheduler`: Hadoop jobs) says only how replicas are
started (:meth:`MapStageShell.launch`), killed (:meth:`~MapStageShell.kill`,
:meth:`~MapStageShell.kill_all`) and observed (:meth:`~MapStageShell.observe` gets the
shell's own notices, such as a process exit, which it turns into core events). The loop is
here: it drains the driver's outbox, where the core's actions and the shell's notices are
queued apart (:data:`~dirft.runners.driver.ACTION`, :data:`~dirft.runners.driver.NOTICE`),
ticks the core's clock for heartbeat timeouts, and once the job is decided or aborted waits
``grace`` seconds for the replicas to end on their own before killing them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from dirft.core import actions as A
from dirft.core import events as E
from dirft.runners.driver import NOTICE


class MapStageShell(ABC):
    """Runs one job's map stage until every task is decided or the job aborts.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``tick``: seconds between two
    heartbeat-timeout checks (and the longest wait for the outbox); ``grace``: seconds the
    replicas get to end on their own once the job is decided or aborted; ``heard``: gives
    the latest clock reading (seconds) at which the voting service was reading messages,
    or None if unknown (:meth:`~dirft.service.server.VotingService.heard_until`), put in
    each ``ClockTicked`` so that a stalled service is never a replica's silence.
    """

    def __init__(self, driver, tick: float, grace: float,
                 heard: Callable[[], float | None] = lambda: None) -> None:
        self.driver, self.tick, self.grace, self.heard = driver, tick, grace, heard
        self.aborted: A.AbortJob | None = None
        self.finished = False

    def run(self) -> None:
        """Drive the map stage to its end. Raises :class:`JobAborted` beyond tolerance,
        :class:`EnvironmentFault` when replicas failed on the environment instead
        (:meth:`Driver.abort_error`)."""
        self.driver.handle(E.JobStarted(self.driver.now()))
        last_tick, deadline = self.driver.now(), None
        while not ((self.finished or self.aborted) and self.idle()):
            for kind, item in self.driver.take_actions(self.tick):
                self.observe(item) if kind == NOTICE else self._carry_out(item)
            now = self.driver.now()
            self.step(now)
            if now - last_tick >= self.tick:
                self.driver.handle(E.ClockTicked(now, self.heard()))
                last_tick = now
            if (self.finished or self.aborted) and deadline is None:
                deadline = now + self.grace
            if deadline is not None and now > deadline:
                self.grace_over()
        if self.aborted:
            raise self.driver.abort_error(self.aborted)

    def _carry_out(self, action) -> None:
        """Carry out one non-reply action of the core (the driver queues every action but
        the answers to a replica, :data:`~dirft.core.actions.REPLY_ACTIONS`). Raises
        TypeError for any other: an action nobody carries out is a bug, never skipped."""
        if isinstance(action, A.LaunchReplica):
            self.launch(action.task, action.replica, action.node)
        elif isinstance(action, A.KillReplica):
            self.kill(action.task, action.replica)
        elif isinstance(action, A.AbortJob):
            self.aborted = action
            self.stopped()
            self.kill_all("job aborted")
        elif isinstance(action, A.FinishJob):
            self.finished = True
            self.stopped()
        elif not isinstance(action, A.CommitTaskOutput):  # kept by Driver.handle (commits)
            raise TypeError(f"the map-stage shell cannot carry out {action!r}")

    # -- what a runner says --------------------------------------------------------
    @abstractmethod
    def launch(self, task: int, replica: int, node: str) -> None:
        """Start (or queue) replica ``replica`` of ``task`` on ``node``."""

    @abstractmethod
    def kill(self, task: int, replica: int) -> None:
        """Kill that replica if it runs, or drop it if it waits."""

    @abstractmethod
    def kill_all(self, why: str) -> None:
        """Kill every replica still running and drop those waiting."""

    @abstractmethod
    def observe(self, notice) -> None:
        """Turn one of the shell's own notices (queued with :meth:`Driver.notify`) into
        core events."""

    @abstractmethod
    def idle(self) -> bool:
        """True when nothing this shell started still runs."""

    def step(self, now: float) -> None:
        """Work due at ``now`` (seconds), once per loop turn: fill slots, submit; default none."""

    def grace_over(self) -> None:
        """The ``grace`` seconds after the end are over: kill what still runs (default
        :meth:`kill_all`; a runner may spare what must run on, such as a reduce)."""
        self.kill_all("grace period over")

    def stopped(self) -> None:
        """The job is decided or aborted: drop launches not yet carried out; default none."""
