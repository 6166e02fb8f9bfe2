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
  in-flight vote is revoked; votes it already reported stay. A working one silent past
  the stall limit no longer covers its sub-split: a sibling may take it too (stall.py).
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

One class holds every rule, in four parts: event handlers, voting and progress, adaptive
DIRFT's admission and recovery (:mod:`dirft.core.adaptive`), and the clock (heartbeat
timeouts, :mod:`dirft.core.liveness`; stalls, :mod:`dirft.core.stall`; speculation,
:mod:`dirft.core.speculation`). What the rules remember beyond the tasks lives in declared
fields, two of them field objects with their own small methods: the map slots
(:class:`~dirft.core.adaptive.SlotBook`) and the quarantine record
(:class:`~dirft.core.adaptive.NodeRecord`). Every invariant of the
state is checked by :meth:`JobState.validate` (:mod:`dirft.core.invariants`).
"""

from collections.abc import Callable
from typing import Any

from dirft.core import actions as A
from dirft.core import events as E
from dirft.core import invariants, liveness, stall
from dirft.core.adaptive import (BatchPlan, NodeRecord, SlotBook, pieces_of, place_tail,
                                 place_wave, shape_units, tail_widths, wave_done)
from dirft.core.hosts import not_independent, preference, replacement_node
from dirft.core.jobplan import JobPlan
from dirft.core.quorum import first_voter, no_quorum_text, votes_text
from dirft.core.speculation import pick_stragglers
from dirft.core.task_state import (ACTIVE_STATES, BETWEEN_PHASES, ENDING_STATES,
                                   STARTING_STATES, TRANSITIONS, ReplicaState,
                                   ReplicaStatus, SubsplitState, TaskState)
from dirft.core.units import MAX_PIECES
from dirft.errors import InvalidTransition


class JobState:
    """The state of one job's map stage under one scheme.

    Takes a :class:`dirft.core.jobplan.JobPlan` (tasks, their sub-splits and initial
    replica nodes, the scheme, the heartbeat timeout in seconds). ``handle`` returns
    actions in the order they must be carried out. ``validate``: check every invariant
    (:meth:`validate`) after each ``handle``; off in production (a check walks the whole
    job), on in every test.
    """

    def __init__(self, plan: JobPlan, validate: bool = False) -> None:
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
        self.next_speculation = 0.0  # scheme se: no straggler check before (seconds)
        self.undecided = len(self.tasks)  # kept by _commit: finishing is O(1), not O(tasks)
        self.hit = 0  # decided tasks that saw a crash or a mismatch (adaptive's eager switch)
        self.record = NodeRecord(plan.quarantine, len(plan.nodes))
        # adaptive DIRFT with known map slots: gang start (None: launch every replica now)
        self.book = (SlotBook(plan.nodes, plan.slots, len(self.tasks))
                     if self.scheme.adaptive is not None and plan.slots else None)
        # (task, replica) -> live replica seen once (kept by _move)
        self.watched: dict[liveness.Key, ReplicaState] = {}

    # -- the one entry point ---------------------------------------------------------
    def handle(self, *events: E.Event) -> list[A.Action]:
        """Apply ``events`` in order; return the actions they call for (possibly none)."""
        out: list[A.Action] = []
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
    def _job_started(self, ev: E.JobStarted, out: list[A.Action]) -> None:
        if self.book is not None:
            self._admit(out)
        else:
            for plan_task, task in zip(self.plan.tasks, self.tasks):
                for rid, node in enumerate(plan_task.nodes):
                    self._launch(task, rid, node, out)
        self._maybe_finish(out)

    def _replica_started(self, ev: E.ReplicaStarted, out: list[A.Action]) -> None:
        task, rep = self._task(ev.task), self._replica_or_bug(ev)
        if rep.state == "stopping":  # cancelled while the runner was starting it
            out.append(A.KillReplica(ev.task, ev.replica, "not needed any more"))
            return
        rep.node, why = ev.node, not_independent(self.plan, task, rep, ev.node, self.lost_nodes)
        if why is not None:  # a lost node, or a registered sibling's host (dirft.core.hosts)
            return self._replace(task, rep, why, out)
        rep.last_seen = ev.now
        self._move(task, rep, "started", f"process started on {ev.node}")

    def _replica_registered(self, ev: E.ReplicaRegistered, out: list[A.Action]) -> None:
        found = self._lookup(ev, out)
        if found is None or self._answer_if_over(*found, out):
            return
        task, rep = found
        if rep.state != "started":
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"replica already registered (state {rep.state})"))
            return
        rep.last_seen = ev.now
        self._move(task, rep, "idle", f"registered from {ev.host}")

    def _heartbeat(self, ev: E.HeartbeatReceived, out: list[A.Action]) -> None:
        found = self._lookup(ev, out)
        if found is not None and not self._answer_if_over(*found, out):
            rep = found[1]
            rep.last_seen = ev.now
            rep.progress = min(max(ev.progress, 0.0), 1.0)

    def _signature_reported(self, ev: E.SignatureReported, out: list[A.Action]) -> None:
        found = self._lookup(ev, out)
        if found is None or not found[1].live:
            return  # a dead replica's late report is not a vote; WorkRequested says exit
        task, rep = found
        if self._already_counted(task, rep, ev):
            return  # a retry of a report that was applied: acknowledged, nothing changes
        if rep.current != ev.subsplit:
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"sub-split {ev.subsplit} was not assigned to it"))
            return
        rep.last_seen = ev.now
        self._record_vote(task, rep, ev.subsplit, ev.signature, out)

    def _work_requested(self, ev: E.WorkRequested, out: list[A.Action]) -> None:
        found = self._lookup(ev, out)
        if found is None or self._answer_if_over(*found, out):
            return
        task, rep = found
        if rep.current is not None:  # working: a retry whose first answer was lost
            out.append(A.AssignSubsplit(task.index, rep.rid, rep.current, rep.phase))
            return
        if rep.state == "started":
            out.append(A.RejectMessage(ev.task, ev.replica, 409,
                                       f"asks for work in state {rep.state}"))
            return
        rep.last_seen = ev.now
        self._next_work(task, rep, out)

    def _gave_up(self, ev: E.ReplicaGaveUp, out: list[A.Action]) -> None:
        found = self._lookup(ev, out)
        if found is not None and found[1].live:
            self._kill(*found, "gave-up", f"gave up: {ev.reason}", out, kill=False)

    def _exited(self, ev: E.ReplicaExited, out: list[A.Action]) -> None:
        task, rep = self._task(ev.task), self._replica_or_bug(ev)
        self._free_slot(ev.task, ev.replica, out)
        if preference(self.plan, rep) and task.relocated < (self.plan.host_retries or 0):
            self._replace(task, rep, f"its map task ended (code {ev.returncode}) first", out)
        if rep.state in ENDING_STATES:
            self._move(task, rep, "exited", f"process ended (code {ev.returncode})")
        elif rep.live:
            how = (f"killed by signal {-ev.returncode}" if ev.returncode < 0
                   else f"exit code {ev.returncode}")
            self._kill(task, rep, "exit", f"process ended before done ({how})", out,
                       kill=False)

    def _node_lost(self, ev: E.NodeLost, out: list[A.Action]) -> None:
        self.lost_nodes.add(ev.node)
        for task in self.tasks:
            for rep in list(task.replicas.values()):
                if rep.live and rep.node == ev.node and not preference(self.plan, rep):
                    self._kill(task, rep, "node-lost", f"node {ev.node} lost", out)
        if self.book is not None:  # its slots are gone with its processes: no exit comes
            self.book.lose(ev.node)
            self._admit(out)

    # -- rules -------------------------------------------------------------------------
    def _replica_lost(self, ev: E.ReplicaLost, out: list[A.Action]) -> None:
        if (rep := self._replica_or_bug(ev)).live:  # not its fault: its votes stay
            self._replace(self.tasks[ev.task], rep, ev.reason, out, shared=False)

    def _replace(self, task: TaskState, rep: ReplicaState, why: str, out: list[A.Action],
                 shared: bool = True) -> None:
        rep.shared = shared  # stop it (shared: it did no work), replace it within host retries
        self._cancel(task, rep, "stopping", why, out)
        node = replacement_node(self.plan, task, rep.node, self.lost_nodes)
        if task.relocated < (self.plan.host_retries or 0) and node is not None:
            task.relocated += 1
            self._launch(task, max(task.replicas) + 1, node, out)
        self._ensure_progress(task, out)

    def _record_vote(self, task: TaskState, rep: ReplicaState, s: int, sig: str,
                     out: list[A.Action]) -> None:
        unit = task.by_id[s]
        was_mismatched = unit.mismatched
        self._move(task, rep, "idle", f"reported sub-split {s} signature {sig[:12]}…")
        unit.votes[rep.rid] = sig
        unit.in_flight.discard(rep.rid)
        rep.processed.add(s)
        rep.current = None
        if unit.mismatched and not was_mismatched:
            task.mismatches += 1
            task.tell(self.now, f"sub-split {s}: signatures disagree {votes_text(unit.votes)}")
            if self.book is not None:
                self.book.overrun(task.index)
        if unit.decided is None:
            self._decide(task, unit, out)
        elif sig != unit.decided:
            self._offence(task, rep.node, "vote")
        self._ensure_progress(task, out)

    def _decide(self, task: TaskState, unit: SubsplitState, out: list[A.Action]) -> None:
        sig, count = unit.leading()
        if sig is None or count < self.scheme.quorum:
            return
        unit.decided = sig
        task.tell(self.now, f"sub-split {unit.index} decided {sig[:12]}… by {count} votes")
        for rid, vote in sorted(unit.votes.items()):
            if vote != sig:
                self._offence(task, task.replicas[rid].node, "vote")
        if all(u.decided for u in task.units):
            self._commit(task, out)

    def _commit(self, task: TaskState, out: list[A.Action]) -> None:
        task.decided = True
        self.undecided -= 1
        self.hit += 1 if task.mismatches or sum(task.failures.values()) else 0
        winners = tuple(A.Winner(u.index, first_voter(u.votes, u.decided), u.decided)
                        for u in task.units if u.decided is not None)
        out.append(A.CommitTaskOutput(task.index, winners))
        for rep in task.replicas.values():
            if stall.is_stalled(rep):  # hung, as far as anyone can tell: found, not needed
                self._kill(task, rep, "stall", stall.at_decision(rep, self.now, self.plan), out)
            elif rep.live:
                self._cancel(task, rep, "stopping", "task decided", out)
        self._maybe_finish(out)

    def _next_work(self, task: TaskState, rep: ReplicaState, out: list[A.Action]) -> None:
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
            covered = stall.moving(task, unit) + self._reserved(task, unit, rep)
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
        rotation by the phase the asker is about to start, and is started, idle or working
        and not stalled (:mod:`dirft.core.stall`): each of those asks soon on its own (or
        dies, which lifts the reservation). Waiting replicas reserve nothing, so waiting
        replicas never block each other, and neither do replicas still waiting for a map
        slot, whose siblings take their share instead.
        This keeps fault-free DIRFT in f_s + 1 phases whatever the replicas' speeds.
        """
        phase = asking.phase + 1
        return sum(1 for r in task.replicas.values()
                   if r is not asking and r.state in ACTIVE_STATES and not stall.is_stalled(r)
                   and unit.index not in r.processed and r.current != unit.index
                   and task.position(r.rid, unit.index) < phase)

    def _assign(self, task: TaskState, rep: ReplicaState, unit: SubsplitState,
                out: list[A.Action]) -> None:
        self._move(task, rep, "working", f"phase {rep.phase + 1}: sub-split {unit.index}")
        unit.in_flight.add(rep.rid)
        rep.current = unit.index
        rep.phase += 1
        rep.assigned_at, rep.progress = self.now, 0.0
        task.work_bytes += unit.length
        out.append(A.AssignSubsplit(task.index, rep.rid, unit.index, rep.phase))

    def _ensure_progress(self, task: TaskState, out: list[A.Action]) -> None:
        """Launch extra replicas, or abort, when live replicas cannot reach a quorum."""
        if task.decided or self.aborted:
            return
        short, unit = max(((self._deficit(task, u), u) for u in task.units if not u.decided),
                          key=lambda du: du[0], default=(0, None))
        if short <= 0 or unit is None:
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

    def _launch_extra(self, task: TaskState, unit: SubsplitState, out: list[A.Action],
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

    def _launch(self, task: TaskState, rid: int, node: str, out: list[A.Action]) -> None:
        if self.book is not None:
            self.book.take(task.index, rid, node)
        task.replicas[rid] = ReplicaState(rid=rid, node=node)
        task.tell(self.now, f"r{rid} launch on {node}")
        out.append(A.LaunchReplica(task.index, rid, node))

    def _kill(self, task: TaskState, rep: ReplicaState, kind: str, cause: str, out: list[A.Action],
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
               out: list[A.Action], why: str = "") -> None:
        dead = ", ".join(f"r{r.rid} ({r.cause})" for r in task.replicas.values()
                         if r.state == "dead") or "none"
        why = why or (f"{short} more vote(s) needed but only {max(budget, 0)} extra "
                      f"replica(s) allowed (dirft.replicas.extra.max)")
        where = (f"task {task.index} sub-split {unit.index} (bytes {unit.start}-"
                 f"{unit.start + unit.length} of {self.plan.tasks[task.index].split.path})")
        self.aborted = A.AbortJob(task.index, unit.index, no_quorum_text(
            where, self.scheme.quorum, self.scheme.name, unit.votes, dead, why))
        task.tell(self.now, "job aborted")
        for t in self.tasks:
            for rep in t.replicas.values():
                if rep.live:
                    self._revoke(t, rep)
                    self._move(t, rep, "stopping", "job aborted")
                    out.append(A.KillReplica(t.index, rep.rid, "job aborted"))
        out.append(self.aborted)

    def _maybe_finish(self, out: list[A.Action]) -> None:
        if not self.finished and self.undecided == 0:
            self.finished = True
            out.append(A.FinishJob())

    # -- helpers -----------------------------------------------------------------------
    def _answer_if_over(self, task: TaskState, rep: ReplicaState, out: list[A.Action]) -> bool:
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
            task.by_id[rep.current].in_flight.discard(rep.rid)
            rep.current = None

    def _tell_exit(self, task: TaskState, rep: ReplicaState, out: list[A.Action]) -> None:
        self._move(task, rep, "exiting", "told to exit")
        out.append(A.ExitReplica(task.index, rep.rid))

    def _move(self, task: TaskState, rep: ReplicaState, to: ReplicaStatus, why: str) -> None:
        if to not in TRANSITIONS[rep.state]:
            raise InvalidTransition(
                f"task {task.index} replica {rep.rid}: {rep.state} -> {to} is not allowed "
                f"({why}); story: {' | '.join(task.story[-5:])}")
        task.tell(self.now, f"r{rep.rid} {rep.state}->{to}: {why}")
        rep.state = to
        liveness.watch(self.watched, task.index, rep)

    def _task(self, index: int) -> TaskState:
        if not 0 <= index < len(self.tasks):
            raise InvalidTransition(f"task {index} does not exist ({len(self.tasks)} tasks)")
        return self.tasks[index]

    def _replica_or_bug(self, ev: E.ReplicaEvent) -> ReplicaState:
        task = self._task(ev.task)
        if ev.replica not in task.replicas:
            raise InvalidTransition(
                f"task {ev.task} replica {ev.replica} was never launched ({type(ev).__name__})")
        return task.replicas[ev.replica]

    def _lookup(self, ev: E.ReplicaEvent,
                out: list[A.Action]) -> tuple[TaskState, ReplicaState] | None:
        """Find the replica a message names; reject ids the core never issued (404) and
        replicas the runner has not reported started (409), before anything changes."""
        if 0 <= ev.task < len(self.tasks) and ev.replica in self.tasks[ev.task].replicas:
            task = self.tasks[ev.task]
            rep = task.replicas[ev.replica]
            if rep.state != "pending":
                return task, rep
            out.append(A.RejectMessage(ev.task, ev.replica, 409, "speaks before the runner "
                                       "reported its process started (state pending)"))
            return None
        out.append(A.RejectMessage(ev.task, ev.replica, 404,
                                   f"task {ev.task} replica {ev.replica} is not in this job"))
        return None

    @staticmethod
    def _already_counted(task: TaskState, rep: ReplicaState, ev: E.SignatureReported) -> bool:
        """True if ``ev`` repeats a report of this replica that was already counted."""
        unit = task.unit(ev.subsplit)
        return (unit is not None and ev.subsplit in rep.processed
                and unit.votes.get(rep.rid) == ev.signature)

    # -- adaptive DIRFT: gang start, waves, the tail, recovery (dirft.core.adaptive) -----
    def _admit(self, out: list[A.Action]) -> None:
        """Gang-start queued tasks whose planned nodes all have a free map slot.

        The queue is planned a batch at a time (:meth:`_batch`): a wave of R-replica tasks
        placed by :func:`place_wave` (block holders first, as Hadoop's JobTracker prefers
        node-local tasks), then the tail (:func:`tail_widths`, :func:`place_tail`). A
        planned task starts once every node planned for it has a free slot; one whose
        planned node was lost or quarantined since is placed afresh on the least busy
        nodes.
        """
        book = self.book
        while book is not None and book.queue and not self.aborted:
            start = self._batch_start(self._batch(book), book, out)
            if start is None:
                return
            at, nodes = start
            task = self.tasks[book.queue[at]]
            del book.queue[at]
            eager = self._eager()
            nodes = nodes[:self.scheme.initial_replicas] if eager else nodes
            self._shape_task(task, 0 if eager else len(nodes))
            for rid, node in enumerate(nodes):
                self._launch(task, rid, node, out)

    def _batch_start(self, batch: BatchPlan, book: SlotBook,
                     out: list[A.Action]) -> tuple[int, list[str]] | None:
        """(queue position, nodes) of the first planned task that can start now; None.

        A planned node without a free slot is swapped for a spare one (a free slot no
        task still queued is planned on), so a slot held longer than planned (a recovery
        phase) delays no one while another idles."""
        avoid = set(self.record.quarantined) | self.lost_nodes
        r = self.scheme.initial_replicas
        spare = None
        for at, index in enumerate(book.queue):
            if index not in batch.nodes:
                return None  # planned tasks are the queue's head
            nodes: list[str] | tuple[str, ...] | None = batch.nodes[index]
            assert nodes is not None
            if len(nodes) < r or avoid.intersection(nodes):
                nodes = self._gang_nodes(self.tasks[index], max(len(nodes), r), book, out)
            else:
                kept = [n for n in nodes if book.busy[n] < book.slots]
                if len(kept) < len(nodes) and spare is None:
                    spare = book.spare(avoid)
                swap = [n for n in spare or () if n not in nodes][:len(nodes) - len(kept)]
                nodes = kept + swap if len(kept) + len(swap) == len(nodes) else None
            if nodes is not None:
                batch.started.add(index)
                return at, list(nodes)
        return None

    def _eager(self) -> bool:
        """True once the share of decided tasks that saw a fault passes the break-even."""
        policy = self.scheme.adaptive
        assert policy is not None
        decided = len(self.tasks) - self.undecided
        return decided >= policy.min_sample and self.hit > policy.eager_above * decided

    def _batch(self, book: SlotBook) -> BatchPlan:
        """The current :class:`BatchPlan`, planning the next when none is, the current
        one is stale, every task of its wave started, or its wave's tasks still queued
        would start past a quarter of the running replicas' work (they would hold their
        slots well into the next batch: they join it instead). Tail: once the queued tasks
        fit in the usable slots at once with R + 1 replicas (or in the free slots now with
        R): each then gets its share of every usable slot."""
        batch = book.batch
        if batch is not None and not batch.stale and (batch.tail or (
                book.queue[0] in batch.nodes and self._wave_done(batch.started) < 0.25)):
            return batch
        avoid = set(self.record.quarantined) | self.lost_nodes
        usable = [n for n in self.plan.nodes if n not in avoid]
        r, room = self.scheme.initial_replicas, book.capacity(avoid)
        queued = list(book.queue)
        holders = {i: self.plan.tasks[i].split.hosts for i in queued}
        free = sum(book.slots - book.busy[n] for n in usable)
        was_tail = batch is not None and batch.tail
        if len(queued) * r <= room and (was_tail or len(queued) * (r + 1) <= room
                                        or len(queued) * r <= free):
            started = batch.started if batch is not None and was_tail else set()
            room -= sum(1 for (t, _), n in book.holding.items() if n not in avoid and (
                t in started or self.tasks[t].disputed))
            assert self.scheme.adaptive is not None
            widths = tail_widths(len(queued), r, room, len(usable),
                                 self.scheme.adaptive.widen_max, MAX_PIECES)
            nodes = place_tail(queued, widths or [r] * len(queued), holders, usable,
                               book.slots)
            book.batch = BatchPlan(dict(zip(queued, nodes)), started, tail=True)
        else:
            wave = queued[:max(room // r, 1)]
            nodes = place_wave(wave, r, holders, usable, book.slots)
            book.batch = BatchPlan(dict(zip(wave, nodes)))
        return book.batch

    def _wave_done(self, tasks: set[int]) -> float:
        """Mean share (0..1) of their work done by the replicas of ``tasks`` holding map
        slots (:func:`~dirft.core.adaptive.wave_done`)."""
        assert self.book is not None
        return wave_done((self.tasks[t].replicas[r] for t, r in self.book.holding
                          if t in tasks), self.scheme.quorum)

    def _gang_nodes(self, task: TaskState, width: int, book: SlotBook,
                    out: list[A.Action]) -> list[str] | None:
        """Distinct nodes with a free slot for ``width`` replicas, the least busy first
        (:meth:`SlotBook.pick` spread: tail tasks fill every slot), planned nodes and block
        holders first among equals; quarantined nodes only if too few others; fewer
        replicas, at least R, only if fewer nodes are usable at all; None: wait for slots
        (or the job aborted: too few live nodes)."""
        plan_task = self.plan.tasks[task.index]
        hosts = set(plan_task.split.hosts)
        prefer = sorted(dict.fromkeys(list(plan_task.split.hosts) + list(plan_task.nodes)),
                        key=lambda n: (n not in hosts, book.busy.get(n, 0)))
        quarantined = set(self.record.quarantined)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes | quarantined))
        if least >= self.scheme.initial_replicas:
            return book.pick(width, prefer, quarantined | self.lost_nodes, least, True)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes))
        if least >= self.scheme.initial_replicas:
            return book.pick(width, prefer, self.lost_nodes, least, True)
        least = self.scheme.initial_replicas
        self._abort(task, task.units[0], least, 0, out, why=(
            f"only {len(self.plan.nodes) - len(self.lost_nodes)} live node(s) for "
            f"{least} replicas on distinct nodes"))
        return None

    def _shape_task(self, task: TaskState, width: int) -> None:
        """Give a task about to start with ``width`` replicas its units
        (:func:`~dirft.core.adaptive.shape_units`): ``width`` 0 runs it eager, over the
        whole split."""
        units = shape_units(task.units, width, self.scheme.subsplits,
                            self.scheme.initial_replicas)
        if units is None:
            return
        task.set_units(units)
        if width == 0:
            task.eager = True
            task.tell(self.now, "adaptive: full-replication shape (fault share over break-even)")
        else:
            task.tell(self.now, f"adaptive: wide tail, {width} replicas over {width} pieces")

    def _orphaned(self, task: TaskState, unit: SubsplitState, asking: ReplicaState) -> bool:
        """A planned sub-split nobody works on, votes on or will reach in lockstep."""
        return (unit.index < self.scheme.subsplits and not unit.decided and not unit.votes
                and not unit.in_flight and unit.length > 1 and asking.phase > 0
                and not any(r.state in STARTING_STATES for r in task.replicas.values())
                and self._reserved(task, unit, asking) == 0)

    def _interweave(self, task: TaskState, asking: ReplicaState) -> None:
        """Cut an orphaned sub-split into one piece per idle live replica, when they
        outnumber the quorum (module doc of :mod:`dirft.core.adaptive`)."""
        helpers = sum(1 for r in task.replicas.values() if r.state in BETWEEN_PHASES)
        if helpers <= self.scheme.quorum:
            return
        for unit in [u for u in task.units if self._orphaned(task, u, asking)]:
            count = min(helpers, MAX_PIECES, unit.length)
            task.replace(unit, pieces_of(unit, count, self.scheme.subsplits))
            task.tell(self.now, f"adaptive: sub-split {unit.index} cut in {count} pieces "
                      f"for {helpers} idle replicas")

    def _cancel(self, task: TaskState, rep: ReplicaState, to: ReplicaStatus, why: str,
                out: list[A.Action]) -> None:
        """Withdraw ``rep``'s in-flight work, move it to ``to`` and kill it; a pending
        launch, which the runner drops without a word, gives its map slot back at once."""
        self._revoke(task, rep)
        was_pending = rep.state == "pending"
        self._move(task, rep, to, why if to == "dead" else f"{why}; work not needed")
        out.append(A.KillReplica(task.index, rep.rid, why))
        if was_pending:
            self._free_slot(task.index, rep.rid, out)

    def _free_slot(self, task: int, rid: int, out: list[A.Action]) -> None:
        """The replica's map slot (if it held one) is free: admit queued tasks."""
        if self.book is not None and self.book.release(task, rid):
            self._admit(out)

    def _offence(self, task: TaskState, node: str, kind: str) -> None:
        """Count an offence of ``node`` (``kind`` "vote" or "crash") for quarantine."""
        why = self.record.offence(node, kind)
        if why:
            task.tell(self.now, f"node {node} quarantined: {why}")
            if self.book is not None:
                self.book.stale()

    # -- the clock: heartbeat timeouts (dirft.core.liveness), stalls, speculation --------
    def _clock_ticked(self, ev: E.ClockTicked, out: list[A.Action]) -> None:
        """Declare dead each watched replica silent for longer than its limit (seconds:
        ``plan.startup_timeout`` until it registers, then ``plan.heartbeat_timeout``), in
        ``(task, replica id)`` order, silence counted up to ``ev.heard`` (when the voting
        service last read messages) if that is earlier than ``ev.now``; then mark the
        working replicas silent past ``plan.stall_timeout`` stalled (:mod:`dirft.core.stall`),
        scheme se's straggler check and adaptive DIRFT's admission (waves moved on)."""
        upto = ev.now if ev.heard is None else min(ev.now, ev.heard)
        start, beat = self.plan.startup_timeout, self.plan.heartbeat_timeout
        for key in liveness.overdue(self.watched, upto, start, beat):
            rep = self.watched.get(key)
            if rep is None:
                continue  # an earlier kill of this tick aborted the job: nothing is live
            self._kill(self.tasks[key[0]], rep, "heartbeat",
                       liveness.silence(rep, upto, start, beat), out)
        for key in stall.newly_stalled(self.watched, upto, self.plan.stall_timeout):
            rep = self.watched[key]
            rep.stalled_at = rep.last_seen
            self.tasks[key[0]].tell(self.now, stall.story_line(rep, upto, self.plan.stall_timeout))
        self._speculate(ev.now, out)
        self._admit(out)  # adaptive: a wave past a quarter of its work may hand on its tasks

    def _speculate(self, now: float, out: list[A.Action]) -> None:
        """Scheme se: launch a backup of each straggling attempt (Hadoop's rule)."""
        spec = self.scheme.speculation
        if spec is None or self.aborted or now < self.next_speculation:
            return
        picked = [task for task in pick_stragglers(self.tasks, spec, now)
                  if task.extra_launched < self.scheme.extra_replicas]
        for task in picked:
            task.tell(now, "straggler: launching a speculative backup")
            self._launch_extra(task, task.units[0], out, backup=True)
        self.next_speculation = now + (spec.retry_after_speculate if picked
                                       else spec.retry_after_no_speculate)


_HANDLERS: dict[type, Callable[[JobState, Any, list[A.Action]], None]] = {
    E.JobStarted: JobState._job_started,
    E.ReplicaStarted: JobState._replica_started,
    E.ReplicaRegistered: JobState._replica_registered,
    E.HeartbeatReceived: JobState._heartbeat,
    E.SignatureReported: JobState._signature_reported,
    E.WorkRequested: JobState._work_requested,
    E.ReplicaGaveUp: JobState._gave_up,
    E.ReplicaExited: JobState._exited,
    E.NodeLost: JobState._node_lost,
    E.ReplicaLost: JobState._replica_lost,
    E.ClockTicked: JobState._clock_ticked,
}
