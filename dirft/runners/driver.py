"""The driver: the one place a shell feeds events to the core and routes its actions.

Both the voting service's thread (replica messages) and the runner's thread (process
starts and exits, clock ticks) call :meth:`Driver.handle`, which applies events to the
:class:`~dirft.core.state.JobState` under one lock. Actions that answer a replica are
returned to the caller; every other action (launch, kill, commit, abort, finish) goes to
the runner's ``outbox`` queue, in order, tagged :data:`ACTION`; the runner's own notices
(a process exited, a Hadoop job said something) join the same queue through
:meth:`Driver.notify`, tagged :data:`NOTICE`, so one wait serves both and they stay apart.
"""

import copy
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

from dirft.config.values import default_value
from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.state import JobState
from dirft.counters import Counters
from dirft.errors import (ENVIRONMENT_PREFIX, DirftError, EnvironmentFault, JobAborted,
                          ProtocolError)
from fault_injector.plan import NO_FAULTS, FaultPlan
from fault_injector.strike import AssignedUnit, FaultStrikes, Strike

DECISIONS = A.DECISIONS  # logged in order in :attr:`Driver.decisions`
ACTION, NOTICE = "action", "notice"  # the tags of the outbox's ``(tag, item)`` entries


class Driver:
    """Serialises access to the core for one job.

    ``plan``: the :class:`~dirft.core.jobplan.JobPlan`; ``clock``: seconds, monotonic
    (injected so tests and the simulator can drive time); ``poll_interval``: seconds a
    waiting replica is told to wait before asking again; ``faults``: the job's
    :class:`~fault_injector.plan.FaultPlan`, whose faults an assignment carries to its
    replica by the rule of :mod:`fault_injector.strike` (:attr:`strikes`). ``outbox``
    receives non-reply actions. ``reports`` keeps, per (task, sub-split, replica), the
    output bytes and counters a replica reported, so the job's counters sum only the winning
    copies; ``registrations`` the (Hadoop attempt id or ``""``, host) each replica
    registered with; ``failures`` the reason each replica that gave up reported. ``plan``
    stays readable; shells ask the core's state only through :meth:`replica_state`,
    :meth:`replica_live` and :meth:`snapshot`, under the lock.
    """

    def __init__(self, plan, clock: Callable[[], float] = time.monotonic,
                 poll_interval: float = default_value("dirft.poll.interval"),
                 faults: FaultPlan = NO_FAULTS) -> None:
        self.plan = plan
        self.strikes = FaultStrikes(faults)
        self._struck: dict[tuple[int, int, int], Strike] = {}
        self.state = JobState(plan)
        self.clock = clock
        self.poll_interval = poll_interval
        self.outbox: queue.Queue = queue.Queue()
        self.commits: dict[int, tuple[A.Winner, ...]] = {}
        self.reports: dict[tuple[int, int, int], tuple[int, dict]] = {}
        self.decisions: list = []
        self.registrations: dict[tuple[int, int], tuple[str, str]] = {}
        self.failures: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def handle(self, *events) -> list:
        """Apply ``events`` to the core; queue non-reply actions; return all actions."""
        with self._lock:
            actions = self.state.handle(*events)
            self.decisions.extend(a for a in actions if isinstance(a, DECISIONS))
            for action in actions:
                if isinstance(action, A.CommitTaskOutput):
                    self.commits[action.task] = action.winners
                elif isinstance(action, A.AssignSubsplit):
                    self._strike(action)
                if not isinstance(action, A.REPLY_ACTIONS):
                    self.outbox.put((ACTION, action))
        return actions

    def _strike(self, assign: A.AssignSubsplit) -> None:
        """Note the planned fault ``assign`` carries, if any (lock held)."""
        task, scheme = self.state.tasks[assign.task], self.plan.scheme
        unit = AssignedUnit(task, assign.subsplit, scheme.quorum,
                            lazy=not (scheme.eager or task.eager))
        strike = self.strikes.strike(assign.task, assign.replica, assign.phase, unit)
        if strike is not None:
            self._struck[(assign.task, assign.replica, assign.phase)] = strike

    def notify(self, notice) -> None:
        """Queue one of the runner's own notices behind the core's actions (any thread)."""
        self.outbox.put((NOTICE, notice))

    def take_actions(self, timeout: float) -> list:
        """Everything in the outbox now as ``(ACTION | NOTICE, item)`` pairs in order,
        waiting up to ``timeout`` seconds for the first (empty list if none came); what a
        runner's loop carries out next."""
        try:
            items = [self.outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self.outbox.get_nowait())
            except queue.Empty:
                return items

    def now(self) -> float:
        """The injected clock's reading, in seconds."""
        return self.clock()

    # -- questions a shell may ask the core (under the lock) ---------------------------
    def replica_state(self, task: int, replica: int) -> str | None:
        """The core's state of ``replica`` of ``task`` (``"pending"``, ``"working"``,
        ``"dead"``, ...: :mod:`dirft.core.task_state`), or None if it was never launched.
        Shells ask here instead of reading the core (any thread)."""
        with self._lock:
            rep = self.state.tasks[task].replicas.get(replica)
            return None if rep is None else rep.state

    def replica_live(self, task: int, replica: int) -> bool:
        """True if the core counts ``replica`` of ``task`` as live (launched and neither
        ended, told to go nor declared dead); False also if it was never launched."""
        with self._lock:
            rep = self.state.tasks[task].replicas.get(replica)
            return rep is not None and rep.live

    def map_progress(self) -> float:
        """The share of map tasks decided, 0.0..1.0 (the core's ``undecided`` count), read
        under the lock; the console's ``map X%`` (:mod:`dirft.progress`)."""
        with self._lock:
            tasks = len(self.state.tasks)
            return (tasks - self.state.undecided) / tasks if tasks else 0.0

    def snapshot(self):
        """A deep copy of the core's :class:`~dirft.core.state.JobState` taken under the
        lock, for the report (:class:`~dirft.report.RunRecord`): replicas still talking to
        the voting service cannot change it while the report reads it."""
        with self._lock:
            return copy.deepcopy(self.state)

    # -- the voting service's dispatcher ---------------------------------------------
    def dispatch(self, message: dict) -> dict:
        """Turn one validated replica message into events; return the reply as a dict.

        Raises :class:`ProtocolError` (with the core's 4xx status) when the core rejects
        the message, e.g. a report for a sub-split that was not assigned to the replica.
        """
        now, task, replica = self.clock(), message["task"], message["replica"]
        kind = message["kind"]
        if kind == "register":
            self.registrations[(task, replica)] = (message.get("attempt", ""), message["host"])
            events = [E.ReplicaRegistered(now, task, replica, message["host"])]
        elif kind == "heartbeat":
            events = [E.HeartbeatReceived(now, task, replica, message["progress"])]
        elif kind == "failed":
            self.failures[(task, replica)] = message["reason"]
            events = [E.ReplicaGaveUp(now, task, replica, message["reason"])]
        elif kind == "request":
            return self._request(now, message)
        else:  # a reemit is the Hadoop runner's (ReplicaBook), which answers it itself
            raise ProtocolError(f"task {task} replica {replica}: no {kind} messages here", 422)
        return self._reply(task, replica, kind, self.handle(*events))

    def _request(self, now: float, message: dict) -> dict:
        """A ``request``: its report first; only if the core took it, the work request
        (a refused report changes nothing and asks for nothing). The report's output bytes
        and counters are kept before the core sees it (a vote may finish the job) and put
        back as they were if the core refused it."""
        task, replica, report = message["task"], message["replica"], message.get("report")
        actions = []
        if report is not None:
            key = (task, report["subsplit"], replica)
            before = self.reports.get(key)
            self.reports[key] = (report["output_bytes"], report.get("counters", {}))
            actions = self.handle(E.SignatureReported(now, task, replica, report["subsplit"],
                                                      report["signature"],
                                                      report["output_bytes"]))
            if any(isinstance(a, A.RejectMessage) and (a.task, a.replica) == (task, replica)
                   for a in actions):
                if before is None:
                    self.reports.pop(key, None)
                else:
                    self.reports[key] = before
                return self._reply(task, replica, "request", actions)
        actions += self.handle(E.WorkRequested(now, task, replica))
        return self._reply(task, replica, "request", actions)

    def _reply(self, task: int, replica: int, kind: str, actions: list) -> dict:
        for action in actions:
            if not isinstance(action, A.REPLY_ACTIONS) or \
                    (action.task, action.replica) != (task, replica):
                continue
            if isinstance(action, A.RejectMessage):
                raise ProtocolError(f"task {task} replica {replica}: {action.reason}",
                                    action.status)
            if isinstance(action, A.AssignSubsplit):
                return {"action": "assign", "subsplit": action.subsplit, "phase": action.phase,
                        **self._fault_field(action)}
            if isinstance(action, A.WaitForWork):
                return {"action": "wait", "retry_after": self.poll_interval}
            return {"action": "exit"}
        return {"action": "ok"} if kind != "request" else {"action": "exit"}

    def _fault_field(self, assign: A.AssignSubsplit) -> dict:
        """``{"fault": {...}}`` for an assignment that carries a planned fault (the
        :class:`~fault_injector.plan.Fault`'s fields and ``planned_replica``), else {}."""
        with self._lock:
            strike = self._struck.get((assign.task, assign.replica, assign.phase))
        if strike is None:
            return {}
        return {"fault": {**asdict(strike.fault), "planned_replica": strike.planned}}

    def abort_error(self, abort: A.AbortJob) -> DirftError:
        """The error to raise for ``abort``: :class:`EnvironmentFault` naming the cause if a
        replica of the aborted task gave up on an environment error (disk full, program
        missing, a limit: every replica would hit it), else :class:`JobAborted`."""
        causes = [reason for (task, _), reason in sorted(self.failures.items())
                  if task == abort.task and reason.startswith(ENVIRONMENT_PREFIX)]
        if not causes:
            return JobAborted(abort.message)
        return EnvironmentFault(f"task {abort.task}: {causes[0][len(ENVIRONMENT_PREFIX):]} "
                                f"({len(causes)} replica(s) failed this way; it is not a "
                                f"fault to tolerate: fix it and rerun)")

    # -- results -----------------------------------------------------------------------
    def winning_counters(self) -> Counters:
        """Counters summed over the winning copy of every decided sub-split."""
        total = Counters()
        for task, winners in sorted(self.commits.items()):
            for w in winners:
                _, counters = self.reports.get((task, w.subsplit, w.replica), (0, {}))
                total.merge(Counters.from_dict(counters))
        return total
