"""Which assignment a planned fault strikes: the one rule of every runner and the simulator.

A fault plan (:mod:`fault_injector.plan`) puts a fault on replica r of a hit task, in phase
p. In the DIRFT paper's lockstep every replica of a task starts at once, so r's phase p
always comes, and in it r maps the p-th sub-split of its rotation (its *planned sub-split*
u). On a cluster a replica can wait for a map slot (local runner, simulator) or a YARN
container (Hadoop runner) while its started siblings take its share of the work: a waiting
replica reserves none, so that a job never waits on a queued container (README, "Running on
a Hadoop cluster"). Then r's phase p may never come, and the fault the user asked for would
never happen (on the real single node, ``gridmix_runs/hadoop-small.yaml`` and two runs of 8
tasks at 12.5 % each fired 0 of their 1 planned crash).
So a fault goes with the work:

1. r's fault strikes r's assignment of phase p, or of its planned sub-split u, whichever
   comes first (in the lockstep both are the same assignment: the plan's exactly);
2. a sibling's assignment of u takes the fault instead when r cannot map u any more: r has
   not started yet (its state is ``pending``, or it was never launched), r ended without
   voting on u (replaced for sharing a host with a sibling, lost with its host, killed as
   hung: on the 3-worker cluster a fault planned for a replica replaced for sharing a host
   fired nowhere), or, under a lazy scheme (DIRFT), u now has every vote it needs cast or
   in flight, none of them r's. A sibling carrying a fault of its own (planned, or taken
   over) takes no other; the fault then waits for the next assignment of u;
3. a fault strikes one assignment at most; an assignment answered again (a retried
   request) carries the same fault.

Where the replicas start together, rule 2 never applies and every fault strikes where the
plan put it (``tests/test_sim_conformance.py`` holds the local runner and the simulator to
the same decisions). Under the eager schemes (FRFT, BFT) a replica that started maps u
whatever its siblings do, but a faster sibling may decide the task before the fault's point
comes: the report's ``not_fired`` names such faults.

The rule is applied where the core's ``AssignSubsplit`` is made (the local and Hadoop
runners' :class:`~dirft.runners.driver.Driver`, the simulator's engine); the assignment
carries the fault to the replica, which carries it out in that phase (exception, kill,
hang, tampered signature, flipped bit). Pure: no I/O, no clock; what it asks of the core's
state goes through :class:`AssignedUnit`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from fault_injector.plan import Fault, FaultPlan


@dataclass(frozen=True)
class Strike:
    """``fault``, planned for replica ``planned`` of its task, strikes this assignment."""

    fault: Fault
    planned: int


class FaultStrikes:
    """The rule of the module doc over one job's :class:`FaultPlan` (one per job run).

    Not thread-safe: call :meth:`strike` under the lock that serialises the core.
    """

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._open: dict[int, dict[int, Fault]] = {}
        for (task, replica), fault in sorted(plan.faults.items()):
            self._open.setdefault(task, {})[replica] = fault
        self._carried: dict[tuple[int, int], tuple[int, Strike]] = {}

    def strike(self, task: int, replica: int, phase: int, unit: "AssignedUnit") -> Strike | None:
        """The fault that strikes replica ``replica`` of ``task`` in the phase ``phase``
        (1-based) the core just assigned it, or None. ``unit``: the core's state of the
        assigned sub-split and the task's replicas, read right after the assignment.
        Records the strike, so each fault strikes once.
        """
        carried = self._carried.get((task, replica))
        if carried is not None:
            return carried[1] if carried[0] == phase else None
        open_faults = self._open.get(task, {})
        if self.plan.for_replica(task, replica) is not None:
            own = open_faults.get(replica)
            if own is not None and (phase == own.phase or
                                    unit.position(replica) == own.phase - 1):
                return self._bind(task, replica, replica, phase)
            return None
        for planned, fault in sorted(open_faults.items()):
            if unit.position(planned) == fault.phase - 1 and unit.lost_to(planned):
                return self._bind(task, planned, replica, phase)
        return None

    def _bind(self, task: int, planned: int, replica: int, phase: int) -> Strike:
        strike = Strike(self._open[task].pop(planned), planned)
        self._carried[(task, replica)] = (phase, strike)
        return strike

    def unstruck(self) -> list[tuple[int, int, Fault]]:
        """``(task, planned replica, fault)`` of every fault no assignment carried yet."""
        return [(task, replica, fault) for task, faults in sorted(self._open.items())
                for replica, fault in sorted(faults.items())]


class AssignedUnit:
    """What :meth:`FaultStrikes.strike` asks of the core about one assignment: the task's
    :class:`~dirft.core.task_state.TaskState` ``task`` (read, never changed), the assigned
    sub-split's id ``subsplit``, the scheme's ``quorum`` and whether the task is ``lazy``
    (DIRFT: no unit worked on by more replicas than its quorum needs)."""

    def __init__(self, task, subsplit: int, quorum: int, lazy: bool) -> None:
        self.task, self.subsplit, self.quorum, self.lazy = task, subsplit, quorum, lazy

    def position(self, rid: int) -> int:
        """The phase (0-based) in which replica ``rid``'s rotation reaches the sub-split."""
        return self.task.position(rid, self.subsplit)

    def lost_to(self, rid: int) -> bool:
        """True if replica ``rid`` cannot map the sub-split (rule 2 of the module doc): it
        has not started, it ended without voting on it, or (lazy) the sub-split's needed
        votes are all cast or in flight without it."""
        rep = self.task.replicas.get(rid)
        if rep is None or rep.state == "pending":
            return True
        unit = self.task.by_id[self.subsplit]
        if not rep.live:  # ended before its fault's point (e.g. replaced for sharing a host)
            return rid not in unit.votes
        if not self.lazy or rid in unit.votes or rid in unit.in_flight:
            return False
        return unit.needed(self.quorum) <= len(unit.in_flight)
