"""The one model of a cluster's map slots and lost nodes, for every shell that has slots.

Map tasks wait for a free slot on their TaskTracker (Hadoop 1's ``mapred.tasktracker.map.
tasks.maximum`` slots per node); DIRFT's replicas wait the same way for a slot on the node
the core placed them on. :class:`NodeSlots` is that rule, kept once for both shells that
hold slots themselves: the local runner's emulated cluster
(:class:`~dirft.runners.cluster.LocalCluster`, real processes) and the simulator
(:class:`~dirft.sim.engine.Engine`, virtual time). A shell queues each launch on its node,
asks :meth:`NodeSlots.take` which replicas start now, gives a slot back when a process
ends and marks a lost node, whose queue is dropped and which takes no replica again.
:class:`LossSchedule` is the fault plan's node losses, each due after a number of
signature reports (crash mode ``node`` of :mod:`fault_injector.plan`).

Pure bookkeeping: no processes, no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol


class NodeSlots:
    """``slots`` map slots on each of ``nodes`` (names), and the replicas waiting for one.

    ``free``: ``{node: free slots}``; ``queued``: ``{node: deque of (task, replica)}`` in
    launch order; ``lost``: the nodes lost. Nodes whose queue grew or whose slot freed are
    the ones :meth:`take` looks at, in the order they changed (so a run is a pure function
    of the order of the shell's calls).
    """

    def __init__(self, nodes: Iterable[str], slots: int) -> None:
        self.slots = slots
        self.free: dict[str, int] = {node: slots for node in nodes}
        self.queued: dict[str, deque[tuple[int, int]]] = {node: deque() for node in self.free}
        self.lost: set[str] = set()
        self._changed: dict[str, None] = {}  # an ordered set

    def knows(self, node: str) -> bool:
        """True if ``node`` is one of the cluster's nodes."""
        return node in self.free

    @property
    def changed(self) -> bool:
        """True if a queue grew or a slot freed since the last :meth:`take`."""
        return bool(self._changed)

    def queue(self, task: int, replica: int, node: str) -> None:
        """Replica ``replica`` of ``task`` waits for a slot on ``node`` (KeyError if the
        cluster has no such node)."""
        self.queued[node].append((task, replica))
        self._changed[node] = None

    def take(self) -> list[tuple[int, int, str]]:
        """The ``(task, replica, node)`` that start now, each holding a slot: on every
        changed node not lost, queued replicas in launch order while slots are free."""
        starts = []
        for node in self._changed:
            waiting = self.queued[node]
            while self.free[node] > 0 and waiting and node not in self.lost:
                task, replica = waiting.popleft()
                self.free[node] -= 1
                starts.append((task, replica, node))
        self._changed.clear()
        return starts

    def release(self, node: str) -> None:
        """A replica holding a slot on ``node`` ended: the slot is free again."""
        self.free[node] += 1
        self._changed[node] = None

    def drop(self, task: int, replica: int) -> bool:
        """Take the replica out of its node's queue; True if it was waiting there."""
        for waiting in self.queued.values():
            if (task, replica) in waiting:
                waiting.remove((task, replica))
                return True
        return False

    def drop_all(self) -> None:
        """Every waiting replica leaves its queue (the job ended or aborted)."""
        for waiting in self.queued.values():
            waiting.clear()

    def lose(self, node: str) -> None:
        """``node`` is lost: its queue is dropped and it takes no replica again (its
        processes die with it; the shell ends them and tells the core)."""
        self.lost.add(node)
        self.queued[node].clear()


class _PlannedLoss(Protocol):
    """What :class:`LossSchedule` reads of a planned node loss."""

    node: str
    after_reports: int


class LossSchedule:
    """The planned node losses, each due once the job has received a number of signature
    reports. ``losses``: objects with ``node`` (a name) and ``after_reports`` (>= 0), such
    as :class:`fault_injector.plan.NodeLoss`."""

    def __init__(self, losses: Iterable[_PlannedLoss]) -> None:
        self._due = sorted((loss.after_reports, loss.node) for loss in losses)

    def due(self, reports: int) -> list[str]:
        """The nodes to lose now that ``reports`` signature reports came, each once, in
        ``(after_reports, node)`` order."""
        nodes = []
        while self._due and self._due[0][0] <= reports:
            nodes.append(self._due.pop(0)[1])
        return nodes
