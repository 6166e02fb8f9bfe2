"""Lost hosts on the Hadoop runner without Hadoop (issue 20): the ResourceManager's node
list and a silent host's NodeManager (a loopback HTTP server plays both), the wave
scheduler telling the core, replicas that start on a sibling's host, an emulated
``dirft.fault.crash.mode=node``, and what the report says.

Messages go straight to :meth:`ReplicaBook.dispatch` as the voting service would hand
them over; ``submit`` records the waves instead of running them (as test_hadoop_waves).
"""

import dataclasses

import pytest
from core_harness import make_plan
from dirft.core import events as E
from dirft.core.scheme import Tolerance, make_scheme
from dirft.report import summary_lines
from dirft.runners.driver import Driver
from dirft.runners.hadoop_nodes import (HostLosses, NodeDown, NodeWatch, close_losses,
                                        usable_hosts, with_host_retries)
from dirft.runners.hadoop_replicas import ReplicaBook
from dirft.runners.hadoop_report import placement
from dirft.runners.hadoop_waves import WaveScheduler
from fake_rm import FakeRM
from fault_injector.plan import NodeLoss
from test_hadoop_waves import ask  # one request helper for the wave scheduler tests


@pytest.fixture
def rm():
    fake = FakeRM({"node0": "RUNNING", "node1": "RUNNING", "node2": "RUNNING",
                   "old": "LOST"})
    yield fake
    fake.close()


def test_a_node_going_lost_is_reported_once_and_one_down_before_the_job_never(rm):
    seen = []
    watch = NodeWatch(rm.url, seen.append, interval=0.05, timeout=2.0)
    watch.poll()
    assert seen == []  # "old" was LOST before the job: it ran nothing of it
    rm.states["node2"] = "LOST"
    watch.poll()
    watch.poll()
    assert seen == [NodeDown("node2", "ResourceManager: node LOST")]
    assert usable_hosts(rm.url) == 2


def test_a_silent_hosts_nodemanager_is_asked_and_lost_if_it_does_not_answer(rm):
    seen = []
    watch = NodeWatch(rm.url, seen.append, interval=0.01, timeout=2.0, tries=2)
    watch.poll()
    watch.suspect("node1")  # it answers: alive, whatever its replicas' silence
    watch.poll()
    assert seen == [] and "/ws/v1/node/info" in rm.asked
    rm.answering.discard("node1")
    watch.poll()  # the RM still says RUNNING, but its NodeManager is gone
    watch.suspect("node1")
    watch.poll()
    assert [d.host for d in seen] == ["node1"] and "does not answer" in seen[0].how


def test_a_host_lost_after_the_last_poll_of_the_map_stage_is_still_named(rm):
    told = []
    losses = HostLosses(driver=None, book=None, kill_task=None,
                        watch=NodeWatch(rm.url, told.append, interval=3600, timeout=2.0))
    losses.watch.poll()  # the baseline: nothing lost
    rm.states["node1"] = "LOST"  # after the map stage's last turn
    close_losses(losses)
    assert told == [] and losses.section() == {
        "node1": "ResourceManager: node LOST, found after the map stage"}


def test_host_retries_need_as_many_usable_hosts_as_replicas(rm):
    plan = make_plan(make_scheme("dirft", Tolerance(1, 0)))
    conf = {"dirft.yarn.rm.url": rm.url, "dirft.hadoop.host.retries": 2}
    assert with_host_retries(plan, _Conf(conf)).host_retries == 2
    assert with_host_retries(plan, _Conf(conf), usable=1).host_retries == 0  # single node
    assert with_host_retries(plan, _Conf({**conf, "dirft.yarn.rm.url": ""})).host_retries == 0


class _Conf:
    def __init__(self, values: dict) -> None:
        self.values = values

    def get(self, key):
        return self.values[key]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(retries=2, losses=(), tasks: int = 2, watch=None):
    """A DIRFT (f_c = 1) scheduler with lost hosts watched, wave 0 submitted; returns it,
    the attempts it failed and the faults it recorded."""
    plan = dataclasses.replace(make_plan(make_scheme("dirft", Tolerance(1, 0)), tasks=tasks,
                                         nodes=3), host_retries=retries)
    driver = Driver(plan, Clock())
    book = ReplicaBook(driver, emit=True, output_dir="/maps")
    failed, fired = [], []
    hosts = HostLosses(driver, book, failed.append, losses, fired.append, watch)
    sched = WaveScheduler(driver, book, lambda n, groups, on_event: _Running(f"job_1_{n + 1:04d}"),
                          failed.append, lambda wave: None, lambda: None, 0.1, 0.0,
                          per_map=1, hosts=hosts)
    driver.handle(E.JobStarted(0.0))
    pump(sched)
    return sched, failed, fired


class _Running:
    """A submitted wave's ``hadoop jar`` client that never ends, with its job id."""

    def __init__(self, job_id: str) -> None:
        self.job_id, self.done, self.result = job_id, False, None


def pump(sched):
    """Carry out what the core asked and the notices queued, then submit due waves."""
    for kind, item in sched.driver.take_actions(0):
        sched.observe(item) if kind == "notice" else sched._carry_out(item)
    sched.step(sched.driver.now())


def register(sched, task: int, replica: int, host: str) -> dict:
    return sched.book.dispatch({"kind": "register", "task": task, "replica": replica,
                                "host": host, "pid": 1,
                                "attempt": f"attempt_1_0001_m_{task * 9 + replica:06d}_0"})


def test_a_replica_registering_on_its_siblings_host_exits_and_another_is_launched():
    sched, _, _ = scheduler()
    register(sched, 0, 0, "node1")
    assert register(sched, 0, 1, "node1")["action"] == "exit"
    pump(sched)
    assert [w.replicas for w in sched.waves[1:]] == [[(0, 2)]]  # the follow-up wave
    assert register(sched, 0, 2, "node2")["action"] != "exit"
    report = placement(sched.driver.plan, sched.book.hosts(), {}, state=sched.driver.snapshot())
    assert report["replicas_sharing_a_host"] == 0 and report["replicas_replaced_for_host"] == 1


def test_a_lost_host_found_by_the_rm_moves_its_work_to_the_survivor():
    sched, _, _ = scheduler(tasks=1)
    register(sched, 0, 0, "node0"), register(sched, 0, 1, "node1")
    first = ask(sched, 0, 0)
    assert first["action"] == "assign"
    sched.driver.notify(NodeDown("node0", "ResourceManager: node LOST"))
    pump(sched)
    assert sched.driver.replica_state(0, 0) == "dead"
    reply = ask(sched, 0, 1)
    done = []
    while reply["action"] == "assign":  # the survivor does both sub-splits alone
        done.append(reply["subsplit"])
        reply = ask(sched, 0, 1, reply["subsplit"])
    assert sorted(done) == [0, 1] and reply["action"] == "emit"
    assert sched.driver.state.finished and not sched.driver.state.aborted
    assert sched.hosts.section() == {"node0": "ResourceManager: node LOST"}


def test_an_emulated_node_fault_fails_every_attempt_on_one_host_and_is_recorded():
    sched, failed, fired = scheduler(losses=(NodeLoss("node2", 1),))
    register(sched, 0, 0, "node0"), register(sched, 0, 1, "node1")
    register(sched, 1, 0, "node1"), register(sched, 1, 1, "node2")
    reply = ask(sched, 0, 0)
    pump(sched)
    assert failed == []  # not due before the first signature report
    ask(sched, 0, 0, reply["subsplit"])
    pump(sched)
    assert failed == [sched.book.attempt(1, 1)]
    assert [f["node"] for f in fired] == ["node2"] and fired[0]["mode"] == "node"
    assert sched.driver.state.lost_nodes == {"node2"}
    assert sched.driver.replica_state(1, 1) == "dead"
    assert "emulated" in sched.hosts.section()["node2"]


def test_the_console_names_the_lost_hosts():
    report = {"tolerance": {"crash": 1, "silent": 0}, "phases_per_task": {}, "scheme": "dirft",
              "tasks": 1, "replicas_launched": 2, "replicas_per_task": 2,
              "extra_work_bytes": 0, "input_bytes": 1, "silent_errors_checked": True,
              "faults": {"injected": {"crash": 0, "silent": 0}, "injected_by_mode": {},
                         "detected": {"crash": 1, "silent": 0},
                         "crashes_detected_by": {"node-lost": 1},
                         "corrected": {"crash": 1, "silent": 0}, "nodes_lost": ["w2"]},
              "placement": {"lost_hosts": {"w2": "ResourceManager: node LOST"}},
              "makespan_seconds": 1.0, "map_seconds": 1.0, "reduce_seconds": 0.0}
    assert "nodes lost: w2 (ResourceManager: node LOST)" in summary_lines(report)



def test_the_replicas_of_a_wave_whose_application_master_was_lost_are_replaced(rm):
    """The AM of wave 0 ran on node2: its replicas on node0 and node1 die with the
    application attempt through no fault of their own; the job goes on with new ones."""
    sched, _, _ = scheduler(tasks=1, watch=NodeWatch(rm.url, lambda notice: None))
    rm.am["application_1_0001"] = ["node2"]
    register(sched, 0, 0, "node0"), register(sched, 0, 1, "node1")
    first = ask(sched, 0, 0)
    ask(sched, 0, 0, first["subsplit"])  # a vote that stays
    sched.driver.notify(NodeDown("node2", "ResourceManager: node LOST"))
    pump(sched), pump(sched)  # the notice, then the core's launches
    state = sched.driver.state
    assert [state.tasks[0].replicas[r].state for r in (0, 1)] == ["stopping", "stopping"]
    assert not state.tasks[0].failures and not state.aborted  # not counted as crashes
    assert [w.replicas for w in sched.waves[1:]] == [[(0, 2), (0, 3)]]
    assert state.tasks[0].units[first["subsplit"]].decided  # its vote stayed
