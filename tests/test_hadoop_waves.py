"""The Hadoop wave scheduler without Hadoop: replicas pending until they register, one
emitter per decided task, and the emission check on Hadoop's counters.

Messages go straight to :meth:`ReplicaBook.dispatch` as the voting service would hand
them over (already validated); ``submit`` records the waves instead of running them.
"""

from dataclasses import replace

from core_harness import make_plan, true_signature
from dirft.core import events as E
from dirft.core.scheme import Tolerance, make_scheme
from dirft.runners.driver import Driver
from dirft.runners.hadoop_replicas import ReplicaBook
from dirft.runners.hadoop_waves import WaveScheduler


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(tasks: int = 2, fs: int = 0, per_map: int = 1, killed=None):
    """A DIRFT scheduler in one-application mode, wave 0 submitted (nothing runs);
    ``killed``: a list that gets each attempt id the scheduler fails."""
    plan = make_plan(make_scheme("dirft", Tolerance(1 - fs, fs)), tasks=tasks)
    # replicas sharing a map task share a planned host (locality.group_launches): task t's
    # replicas on node0 and node1, odd tasks the other way round, so map 0 runs task 0
    # replica 0 with task 1 replica 1, as plan_hosts pairs them
    plan = replace(plan, tasks=tuple(t._replace(nodes=("node0", "node1")[::1 - t.index % 2 * 2])
                                     for t in plan.tasks))
    driver = Driver(plan, Clock())
    book = ReplicaBook(driver, emit=True, output_dir="/maps")
    sched = WaveScheduler(driver, book, lambda n, launches, on_event: None,
                          (killed if killed is not None else []).append,
                          lambda wave: None, lambda: None, 0.1, 1.0, per_map=per_map)
    driver.handle(E.JobStarted(0.0))
    for _, action in driver.take_actions(0):
        sched._carry_out(action)
    sched._maybe_submit(0.0)
    return sched


def register(sched, task: int, replica: int) -> dict:
    return sched.book.dispatch({"kind": "register", "task": task, "replica": replica,
                           "host": "node0", "pid": 1,
                           "attempt": f"attempt_1_0001_m_{task * 2 + replica:06d}_0"})


def ask(sched, task: int, replica: int, done=None) -> dict:
    report = None if done is None else {
        "subsplit": done, "signature": true_signature(task, done), "output_bytes": 10,
        "counters": {}}
    return sched.book.dispatch({"kind": "request", "task": task, "replica": replica,
                           "report": report})


def work_alone(sched, task: int, replica: int) -> dict:
    """Register ``replica`` and let it do every sub-split it is given; its last answer."""
    register(sched, task, replica)
    reply = ask(sched, task, replica)
    while reply["action"] == "assign":
        reply = ask(sched, task, replica, reply["subsplit"])
    return reply


def test_one_container_per_task_is_enough_and_the_worker_emits():
    sched = scheduler()
    assert len(sched.waves) == 1 and sched.waves[0].emits and len(sched.waves[0].launches) == 4
    for task in (0, 1):  # replica 1 of each task never gets a container before the end
        reply = work_alone(sched, task, 0)
        assert reply["action"] == "emit"
        assert reply["outputs"] == [[f"/maps/t{task:05d}/s{s:03d}-r000.out",
                                     true_signature(task, s)] for s in (0, 1)]
    assert sched.driver.state.finished
    late = register(sched, 0, 1)  # its container came at last: it is told to go, not to emit
    assert late["action"] == "exit" and ask(sched, 0, 1)["action"] == "exit"


def test_exactly_one_replica_of_a_task_emits():
    sched = scheduler(tasks=1)
    register(sched, 0, 0), register(sched, 0, 1)
    first, second = ask(sched, 0, 0), ask(sched, 0, 1)
    assert (first["subsplit"], second["subsplit"]) == (0, 1)  # lockstep phase 1
    assert ask(sched, 0, 0, 0)["action"] == "wait"  # sub-split 1 is still in flight
    assert ask(sched, 0, 1, 1)["action"] == "emit"  # this report decided the task
    assert ask(sched, 0, 0)["action"] == "exit"  # its sibling just goes


def test_the_whole_output_needs_every_task_emitted_exactly_once():
    sched = scheduler()
    assert sched.book.emitted_all({"dirft-emit": {"task-00000": 1, "task-00001": 1}})
    assert not sched.book.emitted_all({"dirft-emit": {"task-00000": 1}})  # an emitter failed
    assert not sched.book.emitted_all({"dirft-emit": {"task-00000": 1, "task-00001": 2}})
    assert not sched.book.emitted_all({})


def beat(sched, task: int, replica: int, ended: list) -> dict:
    return sched.book.dispatch({"kind": "heartbeat", "task": task, "replica": replica,
                           "phase": 1, "progress": 0.5, "ended": ended})


def test_a_replica_tells_of_the_end_of_one_in_its_map_task_only():
    killed: list = []
    sched = scheduler(per_map=2, killed=killed)
    # map 0 runs task 0 replica 0 and task 1 replica 1; map 1 the other two
    assert [[(t, r) for t, r, _ in g] for g in sched.waves[0].groups] == [
        [(0, 0), (1, 1)], [(1, 0), (0, 1)]]
    for task, replica in ((0, 0), (1, 1), (1, 0), (0, 1)):
        register(sched, task, replica)
    tasks = sched.driver.state.tasks
    beat(sched, 0, 0, [[1, 0, -9]])  # not in its map task: not its business
    assert tasks[1].replicas[0].live
    beat(sched, 0, 0, [[1, 1, -9]])  # its neighbour was killed: found by exit at once
    assert tasks[1].replicas[1].state == "dead" and tasks[1].failures == {"exit": 1}
    assert killed == []  # its map attempt runs on: task 0 replica 0 still works
    assert tasks[0].replicas[0].live and tasks[1].replicas[0].live


def hold_dead(sched, task: int, replica: int, others) -> None:
    """Let the plan's 5 s heartbeat timeout pass with ``others`` beating and ``replica`` of
    ``task`` silent; the core declares it dead and the scheduler gets its KillReplica."""
    clock = sched.driver.clock
    clock.now += 6.0
    for t, r in others:
        beat(sched, t, r, [])
    sched.driver.handle(E.ClockTicked(clock.now, clock.now))
    for _, action in sched.driver.take_actions(0):
        sched._carry_out(action)
    assert sched.driver.state.tasks[task].replicas[replica].state == "dead"
    sched.step(clock.now)


def dead_beside_a_neighbour():
    """Two tasks of two replicas, two per map task, all registered; replica 1 of task 1
    then held dead by the heartbeat timeout while task 0's replica 0 shares its map task.
    Returns the scheduler and the list of attempts it failed."""
    killed: list = []
    sched = scheduler(per_map=2, killed=killed)
    for task, replica in ((0, 0), (1, 1), (1, 0), (0, 1)):
        register(sched, task, replica)
    hold_dead(sched, 1, 1, [(0, 0), (1, 0), (0, 1)])
    return sched, killed


def test_a_dead_replica_with_a_neighbour_is_not_failed_its_end_is_named():
    sched, killed = dead_beside_a_neighbour()
    assert killed == []  # its map task's supervisor kills it; its neighbour names the end
    sched.driver.clock.now += 2.0
    beat(sched, 0, 0, [[1, 1, -9]])
    sched.driver.clock.now += 10.0  # long past the grace: its end is known, nothing to fail
    beat(sched, 0, 0, [])
    sched.step(sched.driver.clock.now)
    assert killed == [] and sched.book.gone(1, 1)


def test_a_dead_replica_is_failed_only_once_its_map_task_is_stuck():
    sched, killed = dead_beside_a_neighbour()
    clock = sched.driver.clock
    clock.now += 4.0  # within the grace (the plan's heartbeat timeout, 5 s)
    sched.step(clock.now)
    assert killed == []
    clock.now += 2.0  # past it, and still nobody named its end: the map task is stuck
    sched.step(clock.now)
    assert killed == ["attempt_1_0001_m_000003_0"]  # the attempt task 1 replica 1 ran as


def test_a_dead_replica_nobody_is_left_to_name_is_failed_at_once():
    sched, killed = dead_beside_a_neighbour()
    assert killed == []
    sched.book.exited(0, 0, 0)  # its neighbour ended (Hadoop's FAILED line, say)
    sched.step(sched.driver.clock.now)
    assert killed == ["attempt_1_0001_m_000003_0"]


def test_a_replica_told_to_go_that_still_talks_is_lingering_not_hung():
    killed: list = []
    sched = scheduler(tasks=1, per_map=1, killed=killed)
    register(sched, 0, 0), register(sched, 0, 1)
    ask(sched, 0, 0), ask(sched, 0, 1)
    ask(sched, 0, 0, 0)
    assert ask(sched, 0, 1, 1)["action"] == "emit"
    assert ask(sched, 0, 0)["action"] == "exit"
    sched.kill(0, 0)  # as the core's cancel would: told to go
    clock = sched.driver.clock
    for _ in range(4):  # it lingers, heartbeating, past the grace: answered, no fault
        clock.now += 2.0
        assert beat(sched, 0, 0, [])["action"] == "exit"
        sched.step(clock.now)
    assert killed == [] and sum(sched.driver.state.tasks[0].failures.values()) == 0
    clock.now += 6.0  # then silent past the heartbeat timeout: ended, its work being over
    sched.step(clock.now)
    assert killed == []  # its attempt ends by itself (a supervisor's watchdog ends a hung one)
    clock.now += 2 * 5.0  # silent for 3 heartbeat timeouts: stuck after all (a lost host)
    sched.step(clock.now)
    assert killed == ["attempt_1_0001_m_000000_0"]


def test_map_tasks_whose_replicas_all_heard_their_work_is_over_are_not_failed():
    killed: list = []
    sched = scheduler(tasks=2, per_map=2, killed=killed)
    # map 0 runs task 0 replica 0 and task 1 replica 1; map 1 the two others, which decide
    # their tasks last and emit: map 0's replicas are told to exit, nobody there emits
    replicas = [(0, 0), (1, 1), (0, 1), (1, 0)]
    for t, r in replicas:
        register(sched, t, r)
    given = {(t, r): ask(sched, t, r)["subsplit"] for t, r in replicas}
    assert [ask(sched, t, r, given[t, r])["action"] for t, r in replicas] == [
        "wait", "wait", "emit", "emit"]
    assert ask(sched, 0, 0)["action"] == ask(sched, 1, 1)["action"] == "exit"
    for _ in range(2):  # every replica ended with its map task; the wave's reduce runs on
        hold_dead_all(sched)
    assert killed == []  # no hadoop job -fail-task of map 0's attempt, which succeeded
    for _ in range(2):  # 3 heartbeat timeouts silent: stuck after all (a lost host)
        hold_dead_all(sched)
    assert sorted(killed) == ["attempt_1_0001_m_000000_0", "attempt_1_0001_m_000003_0"]


def hold_dead_all(sched) -> None:
    """6 s pass in silence; the core's actions (KillReplica of the dead) are carried out."""
    clock = sched.driver.clock
    clock.now += 6.0
    sched.driver.handle(E.ClockTicked(clock.now, clock.now))
    for _, action in sched.driver.take_actions(0):
        sched._carry_out(action)
    sched.step(clock.now)
