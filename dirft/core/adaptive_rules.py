"""Adaptive DIRFT's and quarantine's rules, as a part of :class:`dirft.core.state.JobState`.

Kept apart only to keep the state machine's module short: these methods are JobState's own
(a mixin; they read and change its fields and call its rules) and follow the policies
described in :mod:`dirft.core.adaptive`: gang start of planned waves and the wide tail
(``_admit``, ``_batch``), the eager switch (``_eager``), recovery interweaving
(``_interweave``) and quarantine (``_offence``). Pure, like the rest of the core."""

import itertools
from collections import Counter

from dirft.core import actions as A
from dirft.core.adaptive import BatchPlan, place_tail, place_wave, tail_widths
from dirft.core.task_state import ReplicaState, SubsplitState, TaskState
from dirft.core.units import MAX_PIECES, cut, piece_id, split_piece_id, whole_id


class AdaptiveRules:
    """The adaptive rules of :class:`~dirft.core.state.JobState` (see module doc)."""

    def _admit(self, out: list) -> None:
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
            start = self._batch_start(self._batch(), out)
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

    def _batch_start(self, batch, out: list) -> tuple[int, list] | None:
        """(queue position, nodes) of the first planned task that can start now; None.

        A planned node without a free slot is swapped for a spare one (a free slot no
        task still queued is planned on), so a slot held longer than planned (a recovery
        phase) delays no one while another idles."""
        book, avoid = self.book, set(self.record.quarantined) | self.lost_nodes
        r = self.scheme.initial_replicas
        spare = None
        for at, index in enumerate(book.queue):
            if index not in batch.nodes:
                return None  # planned tasks are the queue's head
            nodes = batch.nodes[index]
            if len(nodes) < r or avoid.intersection(nodes):
                nodes = self._gang_nodes(self.tasks[index], max(len(nodes), r), out,
                                         spread=True)
            else:
                kept = [n for n in nodes if book.busy[n] < book.slots]
                if len(kept) < len(nodes) and spare is None:
                    spare = self._spare(batch, avoid)
                swap = [n for n in spare or () if n not in nodes][:len(nodes) - len(kept)]
                nodes = kept + swap if len(kept) + len(swap) == len(nodes) else None
            if nodes is not None:
                batch.started.add(index)
                return at, list(nodes)
        return None

    def _spare(self, batch, avoid) -> list:
        """Usable nodes with more free slots than planned tasks still queued need there,
        least busy first."""
        book = self.book
        planned = itertools.takewhile(batch.nodes.__contains__, book.queue)
        want = Counter(n for i in planned for n in batch.nodes[i])
        return sorted((n for n in book.busy if n not in avoid and n not in book.lost
                       and book.slots - book.busy[n] > want[n]),
                      key=lambda n: (book.busy[n], n))

    def _eager(self) -> bool:
        """True once the share of decided tasks that saw a fault passes the break-even."""
        policy = self.scheme.adaptive
        decided = len(self.tasks) - self.undecided
        return decided >= policy.min_sample and self.hit > policy.eager_above * decided

    def _batch(self):
        """The current :class:`BatchPlan`, planning the next when none is, the current
        one is stale, every task of its wave started, or its wave's tasks still queued
        would start past a quarter of the running replicas' work (they would hold their
        slots well into the next batch: they join it instead). Tail: once the queued tasks
        fit in the usable slots at once with R + 1 replicas (or in the free slots now with
        R): each then gets its share of every usable slot."""
        batch, book = self.tail, self.book
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
            started = batch.started if was_tail else set()
            room -= sum(1 for (t, _), n in self.holding.items() if n not in avoid and (
                t in started or self._hit(self.tasks[t])))
            widths = tail_widths(len(queued), r, room, len(usable),
                                 self.scheme.adaptive.widen_max, MAX_PIECES)
            widths = widths or [r] * len(queued)
            nodes = place_tail(queued, widths, holders, usable, book.slots)
            self.tail = BatchPlan(dict(zip(queued, nodes)), started, tail=True)
        else:
            wave = queued[:max(room // r, 1)]
            nodes = place_wave(wave, r, holders, usable, book.slots)
            self.tail = BatchPlan(dict(zip(wave, nodes)))
        return self.tail

    def _wave_done(self, tasks) -> float:
        """Mean share (0..1) of their work done by the replicas of ``tasks`` holding map
        slots and not about to leave them (waiting or told to stop): phases done plus the
        current phase's progress, over f_s + 1 phases; 0 if there are none."""
        phases, busy = self.scheme.quorum, ("pending", "started", "idle", "working")
        done = [min(1.0, (rep.phase - (rep.state == "working") + rep.progress * (
                    rep.state == "working")) / phases)
                for rep in (self.tasks[t].replicas[r] for t, r in self.holding if t in tasks)
                if rep.state in busy]
        return sum(done) / len(done) if done else 0.0

    def _gang_nodes(self, task: TaskState, width: int, out: list,
                    spread: bool = False) -> list | None:
        """Distinct nodes with a free slot for ``width`` replicas (planned nodes and block
        holders first; quarantined nodes only if too few others; fewer replicas, at least
        R, only if fewer nodes are usable at all); ``spread``: the least busy nodes first
        (:meth:`SlotBook.pick`: tail tasks fill every slot); None: wait for slots."""
        plan_task = self.plan.tasks[task.index]
        hosts = set(plan_task.split.hosts)
        prefer = sorted(dict.fromkeys(list(plan_task.split.hosts) + list(plan_task.nodes)),
                        key=lambda n: (n not in hosts, self.book.busy.get(n, 0)))
        quarantined = set(self.record.quarantined)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes | quarantined))
        if least >= self.scheme.initial_replicas:
            return self.book.pick(width, prefer, quarantined | self.lost_nodes, least,
                                  spread)
        least = min(width, len(self.plan.nodes) - len(self.lost_nodes))
        if least >= self.scheme.initial_replicas:
            return self.book.pick(width, prefer, self.lost_nodes, least, spread)
        least = self.scheme.initial_replicas
        self._abort(task, task.units[0], least, 0, out, why=(
            f"only {len(self.plan.nodes) - len(self.lost_nodes)} live node(s) for "
            f"{least} replicas on distinct nodes"))
        return None

    def _shape_task(self, task: TaskState, width: int) -> None:
        """Give a task about to start with ``width`` replicas its units: the planned
        sub-splits (``width`` R), ``width`` pieces of the split (a wide tail task), or the
        whole split (``width`` 0: full-replication shape, eager)."""
        r = self.scheme.subsplits
        start, length = task.units[0].start, sum(u.length for u in task.units)
        if width == 0:
            task.set_units([SubsplitState(whole_id(r), length, start)])
            task.eager = True
            task.tell(self.now, "adaptive: full-replication shape (fault share over break-even)")
        elif width > self.scheme.initial_replicas:
            task.set_units([SubsplitState(split_piece_id(r, width, j), size, at)
                            for j, (at, size) in enumerate(cut(start, length, width))])
            task.tell(self.now, f"adaptive: wide tail, {width} replicas over {width} pieces")

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
            self._tail_stale()
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
            self._tail_stale()

    def _overrun(self, task: TaskState) -> None:
        """``task``'s votes disagree, so it holds its slots for one more phase: the queued
        tail tasks are planned again without them (a wave task only; tail tasks' slots are
        left out already). Not after a crash: under crash faults at 100 % of the tasks
        (300 splits, seed 1) leaving out every hit task's slots made the tail so narrow
        that adaptive DIRFT took 1.03 x FRFT's time."""
        if self.tail is not None and self.tail.tail and task.index not in self.tail.started:
            self.tail.stale = True

    @staticmethod
    def _hit(task: TaskState) -> bool:
        """An undecided task whose votes disagreed (see :meth:`_overrun`)."""
        return not task.decided and task.mismatches > 0

    def _tail_stale(self) -> None:
        """A node's slots left the cluster: the queued tail tasks are planned again."""
        if self.tail is not None:
            self.tail.stale = True
