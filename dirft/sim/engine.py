"""The simulator's discrete-event engine: virtual time around the real core.

A cluster of nodes with map slots, replicas as simulated processes, and a heap of timed
events; no sleeps and no wall clock. The engine has no scheduling or voting logic of its
own: it feeds events to :class:`~dirft.core.state.JobState` (the very object the local
runner drives) and carries out the actions it returns, as the local runner's
:class:`~dirft.runners.cluster.LocalCluster` and the replica runtime do for real:

===================  =====================================================================
core action          what the simulated cluster does
===================  =====================================================================
LaunchReplica        queue for a map slot on that node; when one frees: ``ReplicaStarted``,
                     then ``startup_s`` later ``ReplicaRegistered`` + ``WorkRequested``
AssignSubsplit       the phase ends ``CostModel.phase_seconds`` later with
                     ``SignatureReported`` (sha256 of ``"task/subsplit"``) +
                     ``WorkRequested``, unless a fault strikes (``fault_injector.strike``;
                     crash at the end of the phase: ``ReplicaExited(75)``; silent: a
                     tampered signature; kill at a fraction of the phase:
                     ``ReplicaExited(-9)``; hang: silence)
WaitForWork          ``WorkRequested`` again ``poll_interval_s`` later
ExitReplica          ``ReplicaExited(0)``; the slot frees
KillReplica          ``ReplicaExited(-9)``; the slot frees (a queued launch is dropped)
CommitTaskOutput     recorded with its time
FinishJob            the map stage ends
AbortJob             the simulation stops; the job is reported aborted
===================  =====================================================================

Every ``heartbeat_interval`` seconds while the map stage runs, each registered replica sends
``HeartbeatReceived`` (progress = fraction of its current phase done, which scheme ``se``
uses to find stragglers) and then the core gets ``ClockTicked``. A node loss (at a virtual
time given by the caller, or after the number of signature reports the fault plan says)
silently ends every process on the node, as the real runner does, and sends ``NodeLost``;
the node takes no more replicas. Slots, their queues and node losses are kept by
:class:`~dirft.core.nodeslots.NodeSlots` (``cluster``), the local cluster's model too.

Events at the same virtual time run in the order they were scheduled, so a run is a pure
function of its inputs: same plan, fault plan and costs, same decisions and makespan.
"""

import hashlib
import heapq
import itertools
from dataclasses import dataclass

from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.nodeslots import LossSchedule, NodeSlots
from dirft.core.state import JobState
from dirft.errors import ConfigError, DirftError
from fault_injector.plan import EMULATED_CRASH_EXIT, SILENT_MODES, tamper
from fault_injector.strike import AssignedUnit, FaultStrikes

KILLED = -9  # ReplicaExited code of a SIGKILLed process, as Popen reports it
#: crash and silent fault modes the engine carries out (others raise ConfigError)
CRASH_AT_END, CRASH_INSIDE = ("exception",), ("kill", "hang")


class SimulationError(DirftError):
    """A bug in the simulator: the core rejected what it sent, or the run cannot end."""


def true_signature(task: int, subsplit: int) -> str:
    """The SHA-256 hex a fault-free simulated replica reports for (task, sub-split)."""
    return hashlib.sha256(f"{task}/{subsplit}".encode()).hexdigest()


@dataclass
class Proc:
    """One simulated replica process holding a map slot on ``node``.

    ``phase_start``/``phase_end``: virtual seconds of its current phase (``working``);
    ``alive`` turns False when it ends or is killed; a ``hung`` process sends nothing.
    """

    task: int
    replica: int
    node: str
    registered: bool = False
    working: bool = False
    alive: bool = True
    hung: bool = False
    phase_start: float = 0.0
    phase_end: float = 0.0

    def progress(self, now: float) -> float:
        """Fraction (0..1) of the current phase done at ``now``; 0 between phases."""
        span = self.phase_end - self.phase_start
        if not self.working or span <= 0:
            return 0.0
        return min(1.0, (now - self.phase_start) / span)


class Engine:
    """Runs one job's map stage in virtual time; see the module doc.

    ``plan``: the :class:`~dirft.core.jobplan.JobPlan`; ``faults``: the
    :class:`~fault_injector.plan.FaultPlan` (its faults strike by the rule of
    :mod:`fault_injector.strike`, :attr:`strikes`); ``cost``: a
    :class:`~dirft.sim.costmodel.CostModel`; ``slots``: map slots per node; ``slowdown``:
    {node: straggler factor >= 1}; ``heartbeat_interval``: seconds between heartbeats and
    clock ticks; ``node_losses``: {node: virtual second it is lost} (the fault plan's own
    ``node_losses``, lost after a number of signature reports, apply too); ``horizon``:
    virtual seconds after which a run that has not ended is a bug (:class:`SimulationError`).
    """

    def __init__(self, plan, faults, cost, slots: int, slowdown=None,
                 heartbeat_interval: float = 3.0, node_losses=None,
                 horizon: float = 1e7) -> None:
        self.plan, self.faults, self.cost, self.slots = plan, faults, cost, slots
        self.strikes = FaultStrikes(faults)
        self.slowdown = dict(slowdown or {})
        self.heartbeat_interval, self.horizon = heartbeat_interval, horizon
        self.node_losses = dict(node_losses or {})
        self.reports = 0
        self._losses_after = LossSchedule(getattr(faults, "node_losses", ()))
        self.state = JobState(plan)
        self.now = 0.0
        self.cluster = NodeSlots(plan.nodes, slots)
        self.procs: dict[tuple[int, int], Proc] = {}
        self.decisions: list = []
        self.commits: dict[int, float] = {}
        self.wrong = 0  # committed units whose winning signature is not the true one
        self.fired: list[dict] = []
        self.events_fed = 0
        self.finished_at: float | None = None
        self.abort: A.AbortJob | None = None
        self._heap: list = []
        self._seq = itertools.count()
        self._hosts = [frozenset(t.split.hosts) for t in plan.tasks]

    # -- the loop --------------------------------------------------------------------
    def run(self) -> None:
        """Run until the map stage is decided and every process is gone, or the job aborts.

        Raises :class:`SimulationError` if virtual time passes ``horizon`` first.
        """
        self._feed(E.JobStarted(0.0))
        for node, when in sorted(self.node_losses.items(), key=lambda kv: (kv[1], kv[0])):
            self._at(when, self._lose_node, node)
        self._at(self.heartbeat_interval, self._tick)
        self._count_report(0)
        while self.cluster.changed:
            self._fill()
        while self._heap and self.abort is None:
            when, _, fn, args = heapq.heappop(self._heap)
            if when > self.horizon:
                raise SimulationError(f"virtual time passed {self.horizon:.0f} s without the "
                                      f"map stage ending; {self._stuck()}")
            self.now = when
            fn(*args)
            while self.cluster.changed:
                self._fill()

    def _at(self, when: float, fn, *args) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), fn, args))

    def _feed(self, *events) -> None:
        """Hand ``events`` to the core and carry out every action it returns, in order."""
        self.events_fed += len(events)
        for action in self.state.handle(*events):
            if isinstance(action, A.DECISIONS):
                self.decisions.append(action)
            apply = _APPLY.get(type(action))
            if apply is None:  # an action the simulated cluster cannot carry out: a bug
                raise TypeError(f"the simulator cannot carry out {action!r}")
            apply(self, action)

    # -- slots -----------------------------------------------------------------------
    def _fill(self) -> None:
        """Start queued replicas in free slots (:meth:`NodeSlots.take`); the core hears of
        all starts in one batch, as :meth:`LocalCluster._fill` does."""
        starts = []
        for task, replica, node in self.cluster.take():
            self.procs[(task, replica)] = Proc(task, replica, node)
            starts.append(E.ReplicaStarted(self.now, task, replica, node))
        if starts:
            self._feed(*starts)
            for ev in starts:
                self._at(self.now + self.cost.startup_s, self._register,
                         self.procs[(ev.task, ev.replica)])

    def _register(self, proc: Proc) -> None:
        if proc.alive and not proc.hung:
            proc.registered = True
            self._feed(E.ReplicaRegistered(self.now, proc.task, proc.replica, proc.node),
                       E.WorkRequested(self.now, proc.task, proc.replica))

    # -- actions ---------------------------------------------------------------------
    def _launch(self, act: A.LaunchReplica) -> None:
        if not self.cluster.knows(act.node):
            raise SimulationError(f"task {act.task} replica {act.replica}: launch on "
                                  f"unknown node {act.node}")
        self.cluster.queue(act.task, act.replica, act.node)

    def _assign(self, act: A.AssignSubsplit) -> None:
        proc = self.procs[(act.task, act.replica)]
        nbytes = self.state.tasks[act.task].unit(act.subsplit).length
        span = self.cost.phase_seconds(nbytes, proc.node in self._hosts[act.task],
                                       self.slowdown.get(proc.node, 1.0))
        proc.working, proc.phase_start, proc.phase_end = True, self.now, self.now + span
        fault, note = self._carried(act)
        if fault is None:
            fault = self.faults.bad_node_fault(proc.node, act.task, act.replica, act.subsplit,
                                               act.phase)
            note = {"bad_node": proc.node}
        if fault is not None:
            self._plan_fault(proc, act, fault, span, note)
            return
        self._at(proc.phase_end, self._report, proc, act.subsplit,
                 true_signature(act.task, act.subsplit), nbytes)

    def _carried(self, act: A.AssignSubsplit) -> tuple:
        """``(fault, note)``: the planned fault the assignment ``act`` carries, by the rule
        of :mod:`fault_injector.strike` (the local and Hadoop runners' driver applies it
        too), and ``{"planned_replica": r}`` for its fired record; ``(None, {})`` if none."""
        task, scheme = self.state.tasks[act.task], self.plan.scheme
        unit = AssignedUnit(task, act.subsplit, scheme.quorum,
                            lazy=not (scheme.eager or task.eager))
        strike = self.strikes.strike(act.task, act.replica, act.phase, unit)
        if strike is None:
            return None, {}
        return strike.fault, {"planned_replica": strike.planned}

    def _plan_fault(self, proc: Proc, act: A.AssignSubsplit, fault, span: float,
                    note: dict) -> None:
        """Schedule what ``fault`` does to this phase (see module doc); ``note``: fields of
        its fired record."""
        nbytes = self.state.tasks[act.task].unit(act.subsplit).length
        if fault.kind == "silent" and fault.mode in SILENT_MODES:
            self._fired(proc, fault, note)
            self._at(proc.phase_end, self._report, proc, act.subsplit,
                     tamper(true_signature(act.task, act.subsplit)), nbytes)
        elif fault.kind == "crash" and fault.mode in CRASH_AT_END:
            self._at(proc.phase_end, self._crash, proc, fault, EMULATED_CRASH_EXIT, note)
        elif fault.kind == "crash" and fault.mode in CRASH_INSIDE:
            when = proc.phase_start + span * _fraction(fault)
            self._at(when, self._crash if fault.mode == "kill" else self._hang, proc, fault,
                     KILLED, note)
        else:
            raise ConfigError(f"simulator: fault mode {fault.kind}/{fault.mode} is not "
                              f"simulated yet (task {act.task} replica {act.replica})")

    def _wait(self, act: A.WaitForWork) -> None:
        self._at(self.now + self.cost.poll_interval_s, self._poll,
                 self.procs[(act.task, act.replica)])

    def _exit(self, act: A.ExitReplica) -> None:
        proc = self.procs.get((act.task, act.replica))
        if proc is not None and proc.alive:
            self._stop(proc, 0)

    def _kill(self, act: A.KillReplica) -> None:
        key = (act.task, act.replica)
        proc = self.procs.get(key)
        if proc is not None and proc.alive:
            self._stop(proc, KILLED)
            return
        self.cluster.drop(*key)

    def _stop(self, proc: Proc, code: int) -> None:
        """The process ends now, after the core's other actions are carried out."""
        proc.alive = False
        self._at(self.now, self._end, proc, code)

    def _commit(self, act: A.CommitTaskOutput) -> None:
        self.commits[act.task] = self.now
        self.wrong += sum(1 for w in act.winners
                          if w.signature != true_signature(act.task, w.subsplit))

    def _finish(self, act: A.FinishJob) -> None:
        self.finished_at = self.now

    def _aborted(self, act: A.AbortJob) -> None:
        self.abort = act

    def _rejected(self, act: A.RejectMessage) -> None:
        raise SimulationError(f"the core rejected task {act.task} replica {act.replica} "
                              f"({act.status}: {act.reason}) at t={self.now:.3f}")

    # -- timed happenings --------------------------------------------------------------
    def _report(self, proc: Proc, subsplit: int, signature: str, nbytes: int) -> None:
        if proc.alive and not proc.hung:
            proc.working = False
            self._feed(E.SignatureReported(self.now, proc.task, proc.replica, subsplit,
                                           signature, nbytes),
                       E.WorkRequested(self.now, proc.task, proc.replica))
            self._count_report(1)

    def _count_report(self, count: int) -> None:
        """Count signature reports; lose the plan's nodes due after that many (crash mode
        ``node`` of :mod:`fault_injector.plan`)."""
        self.reports += count
        for node in self._losses_after.due(self.reports):
            self._at(self.now, self._lose_node, node, True)

    def _poll(self, proc: Proc) -> None:
        if proc.alive and not proc.hung:
            self._feed(E.WorkRequested(self.now, proc.task, proc.replica))

    def _crash(self, proc: Proc, fault, code: int, note: dict) -> None:
        if proc.alive and not proc.hung:
            self._fired(proc, fault, note)
            proc.alive = False
            self._end(proc, code)

    def _hang(self, proc: Proc, fault, _code: int, note: dict) -> None:
        """The process stops (SIGSTOP): no heartbeat, no report; the core's timeout finds it."""
        if proc.alive and not proc.hung:
            self._fired(proc, fault, note)
            proc.hung = True

    def _end(self, proc: Proc, code: int) -> None:
        """The (no longer alive) process ended with ``code``: its slot frees, the core
        hears of it. Nothing is said of a process that went down with a lost node."""
        if self.procs.pop((proc.task, proc.replica), None) is None:
            return
        self.cluster.release(proc.node)
        self._feed(E.ReplicaExited(self.now, proc.task, proc.replica, code))

    def _tick(self) -> None:
        """Heartbeats of every registered live replica, then the core's clock tick."""
        if self.finished_at is not None:
            return
        if not self._heap and not self.procs:
            raise SimulationError(f"nothing left to happen at t={self.now:.1f} s but the "
                                  f"map stage is not over; {self._stuck()}")
        now = self.now
        beats = [E.HeartbeatReceived(now, p.task, p.replica, p.progress(now))
                 for p in self.procs.values() if p.alive and p.registered and not p.hung]
        self._feed(*beats, E.ClockTicked(now))
        if self.finished_at is None and self.abort is None:
            self._at(now + self.heartbeat_interval, self._tick)

    def _lose_node(self, node: str, planned: bool = False) -> None:
        """Lose ``node``: its processes die with it, it takes no more replicas; NodeLost.
        ``planned``: the fault plan's loss (recorded as fired, as the local runner does)."""
        if node in self.cluster.lost or self.finished_at is not None:
            return
        if planned:
            self.fired.append({"task": -1, "replica": -1, "kind": "crash", "mode": "node",
                               "phase": 0, "at": self.now, "node": node})
        for proc in [p for p in self.procs.values() if p.node == node]:
            proc.alive = False
            del self.procs[(proc.task, proc.replica)]
        self.cluster.lose(node)
        self._feed(E.NodeLost(self.now, node))

    def _fired(self, proc: Proc, fault, note: dict) -> None:
        """Record that ``fault`` fired in ``proc`` now, with the ``note``'s fields."""
        self.fired.append({"task": proc.task, "replica": proc.replica, "kind": fault.kind,
                           "mode": fault.mode, "phase": fault.phase, "at": self.now, **note})

    def _stuck(self) -> str:
        undecided = [t.index for t in self.state.tasks if not t.decided]
        return (f"{len(undecided)} task(s) undecided (first: {undecided[:5]}), "
                f"{len(self.procs)} process(es) running")


def _fraction(fault) -> float:
    """Where inside its phase a kill or hang strikes (0..1): the plan's ``at`` if it has
    one, else the middle of the phase."""
    at = getattr(fault, "at", None)
    return 0.5 if at is None else min(max(float(at), 0.0), 1.0)


_APPLY = {
    A.LaunchReplica: Engine._launch,
    A.AssignSubsplit: Engine._assign,
    A.WaitForWork: Engine._wait,
    A.ExitReplica: Engine._exit,
    A.KillReplica: Engine._kill,
    A.RejectMessage: Engine._rejected,
    A.CommitTaskOutput: Engine._commit,
    A.FinishJob: Engine._finish,
    A.AbortJob: Engine._aborted,
}
