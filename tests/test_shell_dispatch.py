"""Every shell carries out every action the core may send it, and refuses any other.

The map-stage loop (:class:`~dirft.runners.shell.MapStageShell`, the local cluster's and the
Hadoop waves' base) and the simulator's engine dispatch on the action's type; an action
nobody handles must raise TypeError, never pass silently.
"""

import typing

import pytest

from core_harness import make_plan
from dirft.core import actions as A
from dirft.core.scheme import Tolerance, make_scheme
from dirft.runners.driver import Driver
from dirft.runners.shell import MapStageShell
from dirft.sim.costmodel import CostModel
from dirft.sim.engine import Engine
from fault_injector.plan import NO_FAULTS

ALL_ACTIONS = typing.get_args(A.Action)
SAMPLES = {
    A.LaunchReplica: A.LaunchReplica(0, 0, "node0"),
    A.KillReplica: A.KillReplica(0, 0, "test"),
    A.CommitTaskOutput: A.CommitTaskOutput(0, (A.Winner(0, 0, "ab"),)),
    A.AbortJob: A.AbortJob(0, 0, "test"),
    A.FinishJob: A.FinishJob(),
}


class Recorder(MapStageShell):
    """A shell that only records what it was asked to do."""

    def __init__(self) -> None:
        plan = make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1)
        super().__init__(Driver(plan, lambda: 0.0), tick=1.0, grace=0.0)
        self.calls: list = []

    def launch(self, task, replica, node):
        self.calls.append(("launch", task, replica, node))

    def kill(self, task, replica):
        self.calls.append(("kill", task, replica))

    def kill_all(self, why):
        self.calls.append(("kill_all", why))

    def observe(self, notice):
        self.calls.append(("observe", notice))

    def idle(self):
        return True


def test_the_shell_samples_cover_every_action_the_driver_queues():
    queued = {cls for cls in ALL_ACTIONS if not issubclass(cls, A.REPLY_ACTIONS)}
    assert queued == set(SAMPLES)


@pytest.mark.parametrize("action", list(SAMPLES.values()), ids=lambda a: type(a).__name__)
def test_the_shell_carries_out_every_action_queued_for_it(action):
    shell = Recorder()
    shell._carry_out(action)  # no TypeError
    if isinstance(action, A.LaunchReplica):
        assert shell.calls == [("launch", 0, 0, "node0")]
    elif isinstance(action, A.AbortJob):
        assert shell.aborted is action and shell.calls == [("kill_all", "job aborted")]
    elif isinstance(action, A.FinishJob):
        assert shell.finished


@pytest.mark.parametrize("action", [object(), A.ExitReplica(0, 0), "LaunchReplica"],
                         ids=repr)
def test_the_shell_refuses_an_action_nobody_handles(action):
    with pytest.raises(TypeError):
        Recorder()._carry_out(action)


def test_the_simulator_carries_out_every_action_of_the_core():
    from dirft.sim.engine import _APPLY

    assert set(_APPLY) == set(ALL_ACTIONS)


def test_the_simulator_refuses_an_action_nobody_handles(monkeypatch):
    plan = make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=1)
    engine = Engine(plan, NO_FAULTS, CostModel(), slots=1)
    monkeypatch.setattr(engine.state, "handle", lambda *events: [object()])
    with pytest.raises(TypeError):
        engine.run()
