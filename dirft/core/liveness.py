"""The core's clock rules, as a part of :class:`dirft.core.state.JobState`: heartbeat and
start-up timeouts over an index of live replicas, and speculative backups (scheme ``se``).

Kept apart only to keep the state machine's module short: these methods are JobState's own
(a mixin; they read and change its fields and call its rules). Pure, like the rest of the
core: ``now`` comes with the event.

The index: ``JobState.watched`` maps ``(task, replica id)`` to each replica that is live
(:data:`~dirft.core.task_state.LIVE_STATES`) and has shown a sign of life (``last_seen`` set:
its process started). ``_move`` keeps it (:meth:`LivenessRules._watch`), since every state
change goes through ``_move`` and ``last_seen`` is set before a replica's first move (to
``started``). A clock tick scans the watched replicas, not every replica of the job: on a
500-split simulated job most replicas are long done or still waiting for a map slot
(BENCHMARKS.md, "_clock_ticked"). Kills happen in ``(task, replica id)`` order, the order
of the former full scan, so every runner sees the same actions as before.
"""

from dirft.core.speculation import pick_stragglers
from dirft.core.task_state import ReplicaState, TaskState


class LivenessRules:
    """The clock rules of :class:`~dirft.core.state.JobState` (see module doc)."""

    def _watch(self, task: TaskState, rep: ReplicaState) -> None:
        """Keep ``rep`` in ``self.watched`` iff it is live and was seen (called by _move)."""
        if rep.live and rep.last_seen is not None:
            self.watched[(task.index, rep.rid)] = rep
        else:
            self.watched.pop((task.index, rep.rid), None)

    def _clock_ticked(self, ev, out: list) -> None:
        """Declare dead each watched replica silent for longer than its limit (seconds:
        ``plan.startup_timeout`` until it registers, then ``plan.heartbeat_timeout``), in
        ``(task, replica id)`` order, silence counted up to ``ev.heard`` (when the voting
        service last read messages) if that is earlier than ``ev.now``; then scheme se's
        straggler check and adaptive DIRFT's admission (its waves' progress moved on)."""
        upto = ev.now if ev.heard is None else min(ev.now, ev.heard)
        for key in self._overdue(upto):
            rep = self.watched.get(key)
            if rep is None:
                continue  # an earlier kill of this tick aborted the job: nothing is live
            starting = rep.state == "started"
            limit = self.plan.startup_timeout if starting else self.plan.heartbeat_timeout
            what, name = ("did not register", "startup") if starting else ("no heartbeat",
                                                                             "heartbeat")
            self._kill(self.tasks[key[0]], rep, "heartbeat", f"{what} for "
                       f"{upto - rep.last_seen:.1f}s (> {limit}s, dirft.{name}.timeout)", out)
        self._speculate(ev.now, out)
        self._admit(out)  # adaptive: a wave past a quarter of its work may hand on its tasks

    def _overdue(self, now: float) -> list:
        """Sorted ``(task, replica id)`` of the watched replicas silent past their limit at
        ``now`` (one pass, no call per replica: this runs on every clock tick)."""
        start, beat = self.plan.startup_timeout, self.plan.heartbeat_timeout
        return sorted(key for key, rep in self.watched.items()
                      if now - rep.last_seen > (start if rep.state == "started" else beat))

    def _speculate(self, now: float, out: list) -> None:
        """Scheme se: launch a backup of each straggling attempt (Hadoop's rule)."""
        spec = self.scheme.speculation
        if spec is None or self.aborted or now < self.next_speculation:
            return
        launched = 0
        for task in pick_stragglers(self.tasks, spec, now):
            if task.extra_launched < self.scheme.extra_replicas:
                task.tell(now, "straggler: launching a speculative backup")
                self._launch_extra(task, task.units[0], out, backup=True)
                launched += 1
        self.next_speculation = now + (spec.retry_after_speculate if launched
                                       else spec.retry_after_no_speculate)
