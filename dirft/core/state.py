"""The core state machine of dirft: every rule that changes a job's state lives here.

``JobState.handle(*events) -> list[Action]`` is the only way state changes. It does no I/O,
reads no clock (events carry ``now``) and uses no randomness, so the voting service, the
local runner, the Hadoop runner and the simulator all drive the very same decisions.

Rules (docs/design.md, 'Semantics', after the DIRFT paper, Ganguly et al. 2017):

* A work unit (sub-split) is *decided* once ``quorum`` distinct replicas report the same
  SHA-256; the decision never changes. A task is done when every unit is decided.
* A replica asking for work gets the next unit in its rotation that it has not processed,
  that is undecided and that still needs more votes than are in flight or reserved by a
  started, idle or working sibling whose rotation reaches it next (eager schemes skip the last
  test). Otherwise it waits if some undecided unit may still need it, else exits.
* A replica that exits abnormally, times out on heartbeats or gives up is dead: its
  in-flight vote is revoked; votes it already reported stay.
* When the live replicas of a task can no longer reach a quorum on some unit, the task
  launches extra replicas within the scheme's bound; past it the job aborts with a message
  naming the task, the sub-split and the signatures seen. Nothing is committed then.

Peer mistakes (a report for a unit not assigned, a message from an unknown replica or from
one the runner has not started) answer with :class:`~dirft.core.actions.RejectMessage`,
decided before anything changes; shell bugs raise :class:`~dirft.errors.InvalidTransition`,
also before anything changes (every handler checks its transition first). A retried
message whose first copy was applied (the client retries a timed-out call under a new
sequence number) is answered as the first was: a report already counted changes nothing,
a request from a replica already working is answered with its current assignment.
"""

from dirft.core import actions as A
from dirft.core import events as E
from dirft.core import invariants
from dirft.core.adaptive import NodeRecord, SlotBook
from dirft.core.adaptive_rules import AdaptiveRules
from dirft.core.liveness import LivenessRules
from dirft.core.task_state import TRANSITIONS, ReplicaState, SubsplitState, TaskState
from dirft.errors import InvalidTransition


class JobState(AdaptiveRules, LivenessRules):
    """The state of one job's map stage under one scheme.

    Takes a :class:`dirft.core.jobplan.JobPlan` (tasks, their sub-splits and initial
    replica nodes, the scheme, the heartbeat timeout in seconds). ``handle`` returns
    actions in the order they must be carried out. ``validate``: check every invariant
    (:meth:`validate`) after each ``handle``; off in production (a check walks the whole
    job), on in every test.
    """

    def __init__(self, plan, validate: bool = False) -> None:
        self.plan = plan
        self.validating = validate
        self.scheme = plan.scheme
        self.tasks = [TaskState(index=t.index, units=[
            SubsplitState(index=s.index, length=s.length, start=s.start) for s in t.subsplits])
            for t in plan.tasks]
        self.aborted: A.AbortJob | None = None
        self.finished = False
        self.now = 0.0
        self.lost_nodes: set[str] = set()
        self.next_speculation = 0.0
        self.undecided = len(self.tasks)  # kept by _commit: finishing is O(1), not O(tasks)
        self.hit = 0  # decided tasks that saw a crash or a mismatch (adaptive's eager switch)
        self.record = NodeRecord(plan.quarantine, len(plan.nodes))
        self.book = (SlotBook(plan.nodes, plan.slots, len(self.tasks))
                     if self.scheme.adaptive is not None and plan.slots else None)
        self.tail = None  # adaptive: the BatchPlan of the next queued tasks
        self.holding: dict = {}  # (task, replica) -> node whose map slot it holds (book only)
        self.watched: dict = {}  # (task, replica) -> live replica seen once (kept by _move)

    # -- the one entry point ---------------------------------------------------------
    def handle(self, *events) -> list:
        """Apply ``events`` in order; return the actions they call for (possibly none)."""
        out: list = []
        for event in events:
            self.now = max(self.now, event.now)
            _HANDLERS[type(event)](self, event, out)
        if self.validating:
            self.validate()
        return out

    def validate(self) -> None:
        """Check every invariant of the job's state (:mod:`dirft.core.invariants`).

        Raises :class:`~dirft.errors.InvariantViolated` naming the task, replica or node and
        what is wrong; returns None when all hold. Linear in the job's size.
        """
        invariants.check(self)

    # -- event handlers ----------------------------------------------------------------
    def _job_started(self, ev: E.JobStarted, out: list) -> None:
        if self.book is not None:
            self._admit(out)
        else:
            for plan_task, task in zip(self.plan.tasks, self.tasks):
                for rid, node in enumerate(plan_task.nodes):
                    self._launch(task, rid, node, out)
        self._maybe_finish(out)

    def _replica_started(self, ev: E.ReplicaStarted, out: list) -> None:
        task, rep = self._task(ev.task), self._replica_or_bug(ev)
        if rep.state == "stopping":  # cancelled while the runner was starting it
            out.append(A.KillReplica(ev.task, ev.replica, "not needed any more"))
            return
        rep.node, rep.last_seen = ev.node, ev.now
        self._move(task, rep, "started", f"process started on {ev.node}")

    def _replica_registered(self, ev: E.ReplicaRegistered, out: list) -> None:
        task, rep = self._lookup(ev, out)
        if rep is None or self._answer_if_over(task, rep, out):
            return
        if rep.state != "started":
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"replica already registered (state {rep.state})"))
            return
        rep.last_seen = ev.now
        self._move(task, rep, "idle", f"registered from {ev.host}")

    def _heartbeat(self, ev: E.HeartbeatReceived, out: list) -> None:
        task, rep = self._lookup(ev, out)
        if rep is not None and not self._answer_if_over(task, rep, out):
            rep.last_seen = ev.now
            rep.progress = min(max(ev.progress, 0.0), 1.0)

    def _signature_reported(self, ev: E.SignatureReported, out: list) -> None:
        task, rep = self._lookup(ev, out)
        if rep is None or not rep.live:
            return  # a dead replica's late report is not a vote; WorkRequested says exit
        if self._already_counted(task, rep, ev):
            return  # a retry of a report that was applied: acknowledged, nothing changes
        if rep.current != ev.subsplit:
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"sub-split {ev.subsplit} was not assigned to it"))
            return
        rep.last_seen = ev.now
        self._record_vote(task, rep, ev.subsplit, ev.signature, out)

    def _work_requested(self, ev: E.WorkRequested, out: list) -> None:
        task, rep = self._lookup(ev, out)
        if rep is None or self._answer_if_over(task, rep, out):
            return
        if rep.state == "working":  # a retry whose first answer was lost: answer it again
            out.append(A.AssignSubsplit(task.index, rep.rid, rep.current, rep.phase))
            return
        if rep.state == "started":
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"asks for work in state {rep.state}"))
            return
        rep.last_seen = ev.now
        self._next_work(task, rep, out)

    def _gave_up(self, ev: E.ReplicaGaveUp, out: list) -> None:
        task, rep = self._lookup(ev, out)
        if rep is not None and rep.live:
            self._kill(task, rep, "gave-up", f"gave up: {ev.reason}", out, kill=False)

    def _exited(self, ev: E.ReplicaExited, out: list) -> None:
        task, rep = self._task(ev.task), self._replica_or_bug(ev)
        self._free_slot(ev.task, ev.replica, out)
        if rep.state in ("exiting", "stopping"):
            self._move(task, rep, "exited", f"process ended (code {ev.returncode})")
        elif rep.live:
            how = (f"killed by signal {-ev.returncode}" if ev.returncode < 0
                   else f"exit code {ev.returncode}")
            self._kill(task, rep, "exit", f"process ended before done ({how})", out,
                       kill=False)

    def _node_lost(self, ev: E.NodeLost, out: list) -> None:
        self.lost_nodes.add(ev.node)
        for task in self.tasks:
            for rep in list(task.replicas.values()):
                if rep.live and rep.node == ev.node:
                    self._kill(task, rep, "node-lost", f"node {ev.node} lost", out)
        self._node_slots_lost(ev.node, out)

    # -- rules -------------------------------------------------------------------------
    def _record_vote(self, task: TaskState, rep: ReplicaState, s: int, sig: str,
                     out: list) -> None:
        unit = task.unit(s)
        was_mismatched = unit.mismatched
        self._move(task, rep, "idle", f"reported sub-split {s} signature {sig[:12]}…")
        unit.votes[rep.rid] = sig
        unit.in_flight.discard(rep.rid)
        rep.processed.add(s)
        rep.current = None
        if unit.mismatched and not was_mismatched:
            task.mismatches += 1
            task.tell(self.now, f"sub-split {s}: signatures disagree {self._votes_text(unit)}")
            self._overrun(task)
        if unit.decided is None:
            self._decide(task, unit, out)
        elif sig != unit.decided:
            self._offence(task, rep.node, "vote")
        self._ensure_progress(task, out)

    def _decide(self, task: TaskState, unit: SubsplitState, out: list) -> None:
        sig, count = unit.leading()
        if count < self.scheme.quorum:
            return
        unit.decided = sig
        task.tell(self.now, f"sub-split {unit.index} decided {sig[:12]}… by {count} votes")
        for rid, vote in sorted(unit.votes.items()):
            if vote != sig:
                self._offence(task, task.replicas[rid].node, "vote")
        if all(u.decided for u in task.units):
            self._commit(task, out)

    def _commit(self, task: TaskState, out: list) -> None:
        task.decided = True
        self.undecided -= 1
        self.hit += 1 if task.mismatches or sum(task.failures.values()) else 0
        winners = tuple(A.Winner(u.index, min(r for r, v in u.votes.items() if v == u.decided),
                                 u.decided) for u in task.units)
        out.append(A.CommitTaskOutput(task.index, winners))
        for rep in task.replicas.values():
            if rep.state in ("pending", "started", "working", "waiting", "idle"):
                self._revoke(task, rep)
                self._cancel(task, rep, "stopping", "task decided", out)
        self._maybe_finish(out)

    def _next_work(self, task: TaskState, rep: ReplicaState, out: list) -> None:
        if task.decided or self.aborted:
            self._tell_exit(task, rep, out)
            return
        if self.scheme.adaptive is not None:
            self._interweave(task, rep)
        eager = self.scheme.eager or task.eager
        for s in task.rotation(rep.rid):
            unit = task.by_id[s]
            if unit.decided or s in rep.processed:
                continue
            covered = len(unit.in_flight) + self._reserved(task, unit, rep)
            if eager or unit.needed(self.scheme.quorum) > covered:
                self._assign(task, rep, unit, out)
                return
        if any(not u.decided and u.index not in rep.processed for u in task.units) or (
                self.scheme.adaptive is not None and any(
                    self._orphaned(task, u, rep) for u in task.units)):
            self._move(task, rep, "waiting", "waits: remaining work is in flight")
            out.append(A.WaitForWork(task.index, rep.rid))
        else:
            self._tell_exit(task, rep, out)

    def _reserved(self, task: TaskState, unit: SubsplitState, asking: ReplicaState) -> int:
        """Siblings that will process ``unit`` on their own by the asker's next phase.

        In the paper's lockstep, replica k processes the j-th unit of its rotation in phase
        j. A sibling reserves ``unit`` if it has not processed it, reaches it in its
        rotation by the phase the asker is about to start, and is started, idle or working:
        each of those asks soon on its own (or dies, which lifts the reservation). Waiting
        replicas reserve nothing, so waiting replicas never block each other, and neither
        do replicas still waiting for a map slot, whose siblings take their share instead.
        This keeps fault-free DIRFT in f_s + 1 phases whatever the replicas' speeds.
        """
        phase = asking.phase + 1
        return sum(1 for r in task.replicas.values()
                   if r is not asking and r.state in ("started", "idle", "working")
                   and unit.index not in r.processed and r.current != unit.index
                   and task.position(r.rid, unit.index) < phase)

    def _assign(self, task: TaskState, rep: ReplicaState, unit: SubsplitState,
                out: list) -> None:
        self._move(task, rep, "working", f"phase {rep.phase + 1}: sub-split {unit.index}")
        unit.in_flight.add(rep.rid)
        rep.current = unit.index
        rep.phase += 1
        rep.assigned_at, rep.progress = self.now, 0.0
        task.work_bytes += unit.length
        out.append(A.AssignSubsplit(task.index, rep.rid, unit.index, rep.phase))

    def _ensure_progress(self, task: TaskState, out: list) -> None:
        """Launch extra replicas, or abort, when live replicas cannot reach a quorum."""
        if task.decided or self.aborted:
            return
        short, unit = max(((self._deficit(task, u), u) for u in task.units if not u.decided),
                          key=lambda du: du[0], default=(0, None))
        if short <= 0:
            return
        budget = self.scheme.extra_replicas - task.extra_launched
        if short > budget:
            self._abort(task, unit, short, budget, out)
            return
        for _ in range(short):
            if self.aborted:
                return
            self._launch_extra(task, unit, out)

    def _deficit(self, task: TaskState, unit: SubsplitState) -> int:
        potential = len(unit.in_flight) + sum(
            1 for r in task.live_replicas()
            if r.rid not in unit.in_flight and unit.index not in r.processed)
        return unit.needed(self.scheme.quorum) - potential

    def _launch_extra(self, task: TaskState, unit: SubsplitState, out: list,
                      backup: bool = False) -> None:
        hosts = set(self.plan.tasks[task.index].split.hosts)
        if hosts and hosts <= self.lost_nodes:
            self._abort(task, unit, 1, 0, out, why="every copy of the split's block is on a "
                        f"lost node ({', '.join(sorted(hosts))})")
            return
        used = {r.node for r in task.replicas.values()} | set(self.record.quarantined)
        node = self.plan.node_for_extra(task.index, used, self.lost_nodes)
        if node is None:
            self._abort(task, unit, 1, 0, out, why="no node is left to run an extra replica")
            return
        task.extra_launched += 1
        rid = max(task.replicas) + 1
        self._launch(task, rid, node, out)
        task.replicas[rid].backup = backup

    def _launch(self, task: TaskState, rid: int, node: str, out: list) -> None:
        self._take_slot(task.index, rid, node)
        task.replicas[rid] = ReplicaState(rid=rid, node=node)
        task.tell(self.now, f"r{rid} launch on {node}")
        out.append(A.LaunchReplica(task.index, rid, node))

    def _kill(self, task: TaskState, rep: ReplicaState, kind: str, cause: str, out: list,
              kill: bool = True) -> None:
        self._revoke(task, rep)
        rep.cause = cause
        task.failures[kind] += 1
        if kind in ("exit", "heartbeat"):
            self._offence(task, rep.node, "crash")
        if kill:
            self._cancel(task, rep, "dead", cause, out)
        else:
            self._move(task, rep, "dead", cause)
        self._ensure_progress(task, out)

    def _abort(self, task: TaskState, unit: SubsplitState, short: int, budget: int,
               out: list, why: str = "") -> None:
        dead = ", ".join(f"r{r.rid} ({r.cause})" for r in task.replicas.values()
                         if r.state == "dead") or "none"
        why = why or (f"{short} more vote(s) needed but only {max(budget, 0)} extra "
                      f"replica(s) allowed (dirft.replicas.extra.max)")
        self.aborted = A.AbortJob(task.index, unit.index, (
            f"task {task.index} sub-split {unit.index} (bytes {unit.start}-"
            f"{unit.start + unit.length} of "
            f"{self.plan.tasks[task.index].split.path}): no quorum "
            f"of {self.scheme.quorum} matching signature(s) under scheme {self.scheme.name}; "
            f"seen {self._votes_text(unit)}; dead replicas: {dead}; {why}. Raise "
            f"mapred.map.tasks.fault.tolerance or dirft.replicas.extra.max, or check that the "
            f"mapper is deterministic and its task logs"))
        task.tell(self.now, "job aborted")
        for t in self.tasks:
            for rep in t.replicas.values():
                if rep.state in ("pending", "started", "working", "idle", "waiting"):
                    self._revoke(t, rep)
                    self._move(t, rep, "stopping", "job aborted")
                    out.append(A.KillReplica(t.index, rep.rid, "job aborted"))
        out.append(self.aborted)

    def _maybe_finish(self, out: list) -> None:
        if not self.finished and self.undecided == 0:
            self.finished = True
            out.append(A.FinishJob())

    # -- helpers -----------------------------------------------------------------------
    def _answer_if_over(self, task: TaskState, rep: ReplicaState, out: list) -> bool:
        """Answer a replica that should not be talking any more; True if answered."""
        if rep.live:
            return False
        if rep.state == "dead":
            out.append(A.KillReplica(task.index, rep.rid, f"declared dead: {rep.cause}"))
        out.append(A.ExitReplica(task.index, rep.rid))
        return True

    @staticmethod
    def _revoke(task: TaskState, rep: ReplicaState) -> None:
        """Withdraw the replica's in-flight work: it will not vote on it."""
        if rep.current is not None:
            task.unit(rep.current).in_flight.discard(rep.rid)
            rep.current = None

    def _tell_exit(self, task: TaskState, rep: ReplicaState, out: list) -> None:
        self._move(task, rep, "exiting", "told to exit")
        out.append(A.ExitReplica(task.index, rep.rid))

    def _move(self, task: TaskState, rep: ReplicaState, to: str, why: str) -> None:
        if to not in TRANSITIONS[rep.state]:
            raise InvalidTransition(
                f"task {task.index} replica {rep.rid}: {rep.state} -> {to} is not allowed "
                f"({why}); story: {' | '.join(task.story[-5:])}")
        task.tell(self.now, f"r{rep.rid} {rep.state}->{to}: {why}")
        rep.state = to
        self._watch(task, rep)

    def _task(self, index: int) -> TaskState:
        if not 0 <= index < len(self.tasks):
            raise InvalidTransition(f"task {index} does not exist ({len(self.tasks)} tasks)")
        return self.tasks[index]

    def _replica_or_bug(self, ev) -> ReplicaState:
        task = self._task(ev.task)
        if ev.replica not in task.replicas:
            raise InvalidTransition(
                f"task {ev.task} replica {ev.replica} was never launched ({type(ev).__name__})")
        return task.replicas[ev.replica]

    def _lookup(self, ev, out: list):
        """Find the replica a message names; reject ids the core never issued (404) and
        replicas the runner has not reported started (409), before anything changes."""
        if 0 <= ev.task < len(self.tasks) and ev.replica in self.tasks[ev.task].replicas:
            task = self.tasks[ev.task]
            rep = task.replicas[ev.replica]
            if rep.state != "pending":
                return task, rep
            out.append(A.RejectMessage(ev.task, ev.replica, 409, "speaks before the runner "
                                       "reported its process started (state pending)"))
            return None, None
        out.append(A.RejectMessage(ev.task, ev.replica, 404,
                                   f"task {ev.task} replica {ev.replica} is not in this job"))
        return None, None

    @staticmethod
    def _already_counted(task: TaskState, rep: ReplicaState, ev) -> bool:
        """True if ``ev`` repeats a report of this replica that was already counted."""
        unit = task.unit(ev.subsplit)
        return (unit is not None and ev.subsplit in rep.processed
                and unit.votes.get(rep.rid) == ev.signature)

    @staticmethod
    def _votes_text(unit: SubsplitState) -> str:
        if not unit.votes:
            return "no signature reported"
        return "{" + ", ".join(f"r{r}: {s[:12]}…" for r, s in sorted(unit.votes.items())) + "}"


_HANDLERS = {
    E.JobStarted: JobState._job_started,
    E.ReplicaStarted: JobState._replica_started,
    E.ReplicaRegistered: JobState._replica_registered,
    E.HeartbeatReceived: JobState._heartbeat,
    E.SignatureReported: JobState._signature_reported,
    E.WorkRequested: JobState._work_requested,
    E.ReplicaGaveUp: JobState._gave_up,
    E.ReplicaExited: JobState._exited,
    E.NodeLost: JobState._node_lost,
    E.ClockTicked: JobState._clock_ticked,
}
