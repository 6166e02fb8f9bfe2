"""Adaptive DIRFT's and quarantine's rules, as a part of :class:`dirft.core.state.JobState`.

Kept apart only to keep the state machine's module short: these methods are JobState's own
(a mixin; they read and change its fields and call its rules) and follow the policies
described in :mod:`dirft.core.adaptive`: gang start and wide tail (``_admit``), the eager
switch (``_shape``), recovery interweaving (``_interweave``) and quarantine (``_offence``).
Pure, like the rest of the core.
"""

from dirft.core import actions as A
from dirft.core.adaptive import widen_factor
from dirft.core.task_state import ReplicaState, SubsplitState, TaskState
from dirft.core.units import MAX_PIECES, cut, piece_id, whole_id


class AdaptiveRules:
    """The adaptive rules of :class:`~dirft.core.state.JobState` (see module doc)."""

    def _admit(self, out: list) -> None:
        """Gang-start queued tasks while all of a task's replicas find free map slots."""
        book = self.book
        while book is not None and book.queue and not self.aborted:
            pieces = self._shape()
            task = self.tasks[book.queue[0]]
            nodes = self._gang_nodes(task, self.scheme.initial_replicas * max(pieces, 1), out)
            if nodes is None:
                return
            book.queue.popleft()
            self._shape_task(task, pieces)
            for rid, node in enumerate(nodes):
                self._launch(task, rid, node, out)

    def _shape(self) -> int:
        """Pieces per sub-split of the next task started (1: plain; 0: full replication)."""
        policy, book = self.scheme.adaptive, self.book
        decided = len(self.tasks) - self.undecided
        if decided >= policy.min_sample and self.hit > policy.eager_above * decided:
            return 0
        if self.tail_pieces is None:  # fixed once the tail starts: later tasks wait no longer
            avoid = set(self.record.quarantined) | self.lost_nodes
            usable = sum(1 for n in self.plan.nodes if n not in avoid)
            pieces = widen_factor(policy, len(book.queue), self.scheme.initial_replicas,
                                  book.capacity(avoid), usable)
            self.tail_pieces = pieces if pieces > 1 else None
        return self.tail_pieces or 1

    def _gang_nodes(self, task: TaskState, width: int, out: list) -> list | None:
        """Distinct nodes with a free slot for ``width`` replicas (planned nodes and block
        holders first; quarantined nodes only if too few others; fewer replicas, at least
        R, only if fewer nodes are usable at all); None: wait for slots."""
        plan_task = self.plan.tasks[task.index]
        prefer = list(plan_task.nodes) + list(plan_task.split.hosts)
        quarantined = set(self.record.quarantined)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes | quarantined))
        if least >= self.scheme.initial_replicas:
            return self.book.pick(width, prefer, quarantined | self.lost_nodes, least)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes))
        if least >= self.scheme.initial_replicas:
            return self.book.pick(width, prefer, self.lost_nodes, least)
        least = self.scheme.initial_replicas
        self._abort(task, task.units[0], least, 0, out, why=(
            f"only {len(self.plan.nodes) - len(self.lost_nodes)} live node(s) for "
            f"{least} replicas on distinct nodes"))
        return None

    def _shape_task(self, task: TaskState, pieces: int) -> None:
        """Give a task about to start its units: pieces of its sub-splits, or the whole split
        (``pieces`` 0: full-replication shape, eager)."""
        r = self.scheme.subsplits
        if pieces == 0:
            start, length = task.units[0].start, sum(u.length for u in task.units)
            task.set_units([SubsplitState(whole_id(r), length, start)])
            task.eager = True
            task.tell(self.now, "adaptive: full-replication shape (fault share over break-even)")
        elif pieces > 1:
            task.set_units([SubsplitState(piece_id(r, u.index, pieces, j), size, at)
                            for u in task.units
                            for j, (at, size) in enumerate(cut(u.start, u.length, pieces))])
            task.tell(self.now, f"adaptive: wide tail, {len(task.units)} units")

    def _orphaned(self, task: TaskState, unit: SubsplitState, asking: ReplicaState) -> bool:
        """A planned sub-split nobody works on, votes on or will reach in lockstep."""
        return (unit.index < self.scheme.subsplits and not unit.decided and not unit.votes
                and not unit.in_flight and unit.length > 1 and asking.phase > 0
                and not any(r.state in ("pending", "started") for r in task.replicas.values())
                and self._reserved(task, unit, asking) == 0)

    def _interweave(self, task: TaskState, asking: ReplicaState) -> None:
        """Cut an orphaned sub-split into one piece per idle live replica, when they
        outnumber the quorum (module doc of :mod:`dirft.core.adaptive`)."""
        helpers = sum(1 for r in task.replicas.values() if r.state in ("idle", "waiting"))
        if helpers <= self.scheme.quorum:
            return
        for unit in [u for u in task.units if self._orphaned(task, u, asking)]:
            count = min(helpers, MAX_PIECES, unit.length)
            task.replace(unit, [
                SubsplitState(piece_id(self.scheme.subsplits, unit.index, count, j), size, at)
                for j, (at, size) in enumerate(cut(unit.start, unit.length, count))])
            task.tell(self.now, f"adaptive: sub-split {unit.index} cut in {count} pieces "
                      f"for {helpers} idle replicas")

    def _cancel(self, task: TaskState, rep: ReplicaState, to: str, why: str, out: list) -> None:
        """Move ``rep`` to ``to`` and kill it; a pending launch, which the runner drops
        without a word, gives its map slot back at once."""
        was_pending = rep.state == "pending"
        self._move(task, rep, to, why if to == "dead" else f"{why}; work not needed")
        out.append(A.KillReplica(task.index, rep.rid, why))
        if was_pending:
            self._free_slot(task.index, rep.rid, out)

    def _take_slot(self, task: int, rid: int, node: str) -> None:
        if self.book is not None:
            self.book.take(node)
            self.holding[(task, rid)] = node

    def _node_slots_lost(self, node: str, out: list) -> None:
        """``node`` is lost: its slots are gone with its processes (no exit will come)."""
        if self.book is not None:
            self.book.lost.add(node)
            for key in [k for k, n in self.holding.items() if n == node]:
                del self.holding[key]
            self._admit(out)

    def _free_slot(self, task: int, rid: int, out: list) -> None:
        if self.holding.pop((task, rid), None) is not None:
            self.book.give(self.tasks[task].replicas[rid].node)
            self._admit(out)

    def _offence(self, task: TaskState, node: str, kind: str) -> None:
        why = self.record.offence(node, kind)
        if why:
            task.tell(self.now, f"node {node} quarantined: {why}")
