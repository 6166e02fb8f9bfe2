"""Several replicas in one map task: the supervisor (dirft.runtime.container) and the
grouping of a wave's replicas into map tasks (dirft.runners.hadoop_waves.group_launches)."""

import io
import json
import os
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from dirft.contract.manifest import ReplicaLine, to_line
from dirft.runners.hadoop_waves import group_launches
from dirft.runtime.container import Watchdog, supervise
from dirft.runtime.neighbours import EndedNeighbours
from dirft.runtime.streaming_task import whole_lines
from tests.fixtures.fake_replica import act

FAKE = [sys.executable, str(Path(__file__).parent / "fixtures" / "fake_replica.py")]


def forked_fake(line: ReplicaLine) -> int:
    """The fake replica's acts in a process the supervisor forked (``run``), its
    ``sys.stdout`` on file descriptor 1 as in any process (not pytest's capture)."""
    sys.stdout = open(1, "w", closefd=False)
    return act(json.loads(to_line(line)))


@pytest.fixture(params=["forked", "executed"])
def supervised(request):
    """``supervise`` with the fake replica forked (the Hadoop runner's way) or executed."""
    if request.param == "forked":
        return lambda lines, out, watchdog=None: supervise(lines, out=out, watchdog=watchdog,
                                                           run=forked_fake)
    return lambda lines, out, watchdog=None: supervise(lines, FAKE, out, watchdog)


def line(task: int, action: int, path: str = "", others: int = 1) -> ReplicaLine:
    """A manifest line whose ``replica`` number tells the fake replica what to do (its
    ``size``: how many ends replica 4 waits to be told of)."""
    return ReplicaLine("job_x_0001", task, action, "", path, 0, 1, others, [[0, 1]], [])


def test_every_replica_ends_well_and_their_records_are_copied_whole_in_line_order(
        tmp_path, monkeypatch, supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    assert supervised([line(4, 0), line(7, 0)], out) == 0
    assert out.getvalue() == b"emitted by task 4\n" * 3 + b"emitted by task 7\n" * 3
    assert os.listdir(tmp_path) == []  # the replicas' stdout files are gone


def test_a_crash_ends_no_other_replica_and_each_one_running_is_told(tmp_path, monkeypatch,
                                                                   capfd, supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    # replica "4" reads its notices and ends once it has been told of the crash (2) and of
    # the good end (0); nobody is left when it ends: its status 0 fails nothing
    code = supervised([line(0, 0), line(2, 2), line(5, 4, others=2)], out)
    assert code == 0
    assert out.getvalue() == b"emitted by task 0\n" * 3 + b"told 0 0 0;2 2 -9\n"
    assert "task 2 replica 2 (pid" in capfd.readouterr().err


def test_a_failure_nobody_can_be_told_of_fails_the_attempt(tmp_path, monkeypatch, capfd,
                                                            supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    assert supervised([line(0, 1)], out) == 3
    assert supervised([line(0, 2)], out) == 128 + 9  # as a shell reports SIGKILL
    assert out.getvalue() == b""
    assert "told nobody (if no replica acknowledges it, this map attempt fails" in \
        capfd.readouterr().err
    # told, but never acknowledged (replica 0 does not read its notices): fails as well
    assert supervised([line(0, 0), line(2, 2)], out) == 128 + 9


def test_a_replica_that_fails_emitting_has_its_records_dropped(tmp_path, monkeypatch,
                                                               supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    # replica "5" writes records and fails; replica "4" ends last, after being told
    assert supervised([line(1, 5), line(3, 4)], out) == 0
    assert out.getvalue() == b"told 1 5 3\n"


@pytest.mark.parametrize("how", ["run=forked_fake", "FAKE"])
def test_no_replica_outlives_its_supervisor(tmp_path, how):
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    script = ("import sys; from dirft.runtime.container import supervise; "
              f"from tests.test_container import line, FAKE, forked_fake; "
              f"sys.exit(supervise([line(0, 3, {str(fifo)!r})], {how}))")
    sup = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": os.getcwd()})
    with open(fifo) as f:  # blocks until the replica runs and writes its pid
        pid = int(f.read())
    replica = os.pidfd_open(pid)
    sup.kill()
    sup.wait()
    # the replica's pidfd turns readable when it has died (bounded, not a clock assertion)
    assert select.select([replica], [], [], 60)[0] == [replica]
    os.close(replica)


def test_a_finished_replica_lingers_to_acknowledge_its_neighbours_ends(tmp_path, monkeypatch,
                                                                       supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    # replica "7" is idle from its start; it goes only once the emitter (0) and the crashed
    # replica (2) have ended, so both ends are acknowledged and the attempt succeeds
    assert supervised([line(0, 0), line(2, 2), line(5, 7)], out) == 0
    assert out.getvalue() == b"emitted by task 0\n" * 3 + b"told 0 0 0;2 2 -9\n"
    # replicas idle at once are let go together: nobody waits for another forever
    assert supervised([line(1, 7), line(3, 7)], out) == 0


def file_clock(path):
    """A fake clock whose reading (seconds) is the number in ``path``: it moves only when
    a lingering fake replica beats."""
    path.write_text("0")
    return lambda: float(path.read_text())


def test_the_watchdog_kills_a_silent_replica_and_its_end_is_acknowledged(
        tmp_path, monkeypatch, capfd, supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    clock = file_clock(tmp_path / "clock")
    watchdog = Watchdog(limit=3.0, startup=3.0, clock=clock)
    # replica "6" stops itself and never speaks; replica "7" beats, moving the clock on:
    # past 3 fake seconds the supervisor SIGKILLs "6", tells "7", which acknowledges it
    code = supervised([line(4, 6), line(2, 7, str(tmp_path / "clock"))], out, watchdog)
    assert code == 0
    assert out.getvalue() == b"told 4 6 -9\n"
    err = capfd.readouterr().err
    assert "task 4 replica 6 (pid" in err and "said nothing for" in err
    assert err.count("said nothing for") == 1  # "7" beat: never silent, never killed


def test_a_replica_the_driver_holds_dead_is_killed_at_once_when_a_neighbour_asks(
        tmp_path, monkeypatch, capfd, supervised):
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    # replica "6" hangs (SIGSTOP); its neighbour "8" passes on a heartbeat answer's
    # ``end 4 6``: the supervisor SIGKILLs "6" long before the watchdog's limit (1000 s),
    # tells "8" of its end, which acknowledges it, and the attempt succeeds
    code = supervised([line(4, 6), line(2, 8)], out, Watchdog(limit=1000.0, startup=1000.0))
    assert code == 0
    assert out.getvalue() == b"told 4 6 -9\n"
    err = capfd.readouterr().err
    assert "the driver holds task 4 replica 6 (pid" in err and "said nothing" not in err


def test_a_silent_replica_nobody_can_acknowledge_fails_the_attempt(tmp_path, monkeypatch,
                                                                   supervised):
    monkeypatch.chdir(tmp_path)
    ticks = iter(range(0, 10**6, 5))  # every reading 5 s later: past the limit at once
    watchdog = Watchdog(limit=3.0, startup=3.0, clock=lambda: float(next(ticks)))
    assert supervised([line(0, 6)], io.BytesIO(), watchdog) == 128 + 9


def test_the_watchdog_limits_come_from_the_jobs_heartbeat_settings():
    dog = Watchdog.of_job({"dirft.heartbeat.timeout": "10", "dirft.startup.timeout": "60"}, 1.5)
    assert (dog.limit, dog.startup) == (13.0, 63.0)


def test_the_replicas_side_beats_acknowledges_and_lingers_until_go():
    ours, theirs = socket.socketpair()
    ended = EndedNeighbours(theirs.fileno())
    ours.sendall(b"3 1 -9\n")
    assert ended.poll() == [[3, 1, -9]]
    ended.beat()
    ended.sent([[3, 1, -9]])
    ended.ask_end([[4, 6]])
    assert ended.poll() == [] and ours.recv(100) == b"beat\n3 1\nend 4 6\n"
    waiting = threading.Thread(target=ended.linger, args=(0.05,))
    waiting.start()
    assert ours.recv(100) == b"idle\n"  # blocks until the replica says it is idle
    assert not ended.released.is_set()  # only "go" (or the supervisor's end) releases it
    ours.sendall(b"2 0 0\ngo\n")
    waiting.join(60)
    assert not waiting.is_alive() and ended.released.is_set()
    assert ended.poll() == [[2, 0, 0]]  # still named by the last heartbeat
    ours.close(), theirs.close()


class Writes(io.RawIOBase):
    """A raw stream that records each write call (Python's stderr is a raw FileIO under
    its text layer: each call is one write(2) to the attempt's shared stderr)."""

    def __init__(self) -> None:
        self.calls: list = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.calls.append(bytes(data))
        return len(data)


def test_a_replicas_stderr_lines_go_out_whole_so_none_lands_inside_anothers():
    raw = Writes()
    stderr = io.TextIOWrapper(raw, write_through=True)  # as Python sets up sys.stderr
    print("dirft: task 4 replica 1 runs on dn3", file=stderr, flush=True)
    assert raw.calls == [b"dirft: task 4 replica 1 runs on dn3", b"\n"]  # room for another
    raw.calls.clear()
    whole_lines(stderr)
    print("dirft: task 4 replica 1 runs on dn3", file=stderr, flush=True)
    print("reporter:counter:dirft-emit,task-00002,1", file=stderr, flush=True)
    assert raw.calls == [b"dirft: task 4 replica 1 runs on dn3\n",
                         b"reporter:counter:dirft-emit,task-00002,1\n"]


LAUNCHES = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 4)), unique=True,
                    max_size=40).map(lambda pairs: [(t, r, f"n{t % 3}") for t, r in pairs])


@given(LAUNCHES, st.integers(1, 4))
def test_a_map_task_never_runs_two_replicas_of_one_task(launches, per_map):
    groups = group_launches(launches, per_map)
    assert sorted(x for g in groups for x in g) == sorted(launches)
    assert all(1 <= len(g) <= per_map for g in groups)
    assert all(len({t for t, _, _ in g}) == len(g) for g in groups)
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)


def test_a_fault_free_wave_fills_every_map_task():
    launches = [(t, r, "n") for t in range(8) for r in range(2)]
    groups = group_launches(launches, 2)
    assert len(groups) == 8 and all(len(g) == 2 for g in groups)
    assert groups[0] == [(0, 0, "n"), (1, 1, "n")]  # (replica, task) order, emptiest first


def test_the_supervisor_is_undumpable_before_it_forks_a_replica(monkeypatch):
    """dirft.runtime.streaming_task.run_lines locks the supervisor first: the dumpable flag
    is inherited by fork, so no replica has a moment in which another process of the user
    could open its memory."""
    from types import SimpleNamespace

    from dirft.runtime import streaming_task
    calls = []
    monkeypatch.setattr(streaming_task, "lock_process", lambda: calls.append("lock"))
    monkeypatch.setattr(streaming_task, "supervise",
                        lambda lines, run, watchdog: calls.append(("fork", len(lines))) or 0)
    spec = SimpleNamespace(job_id="job_x_0001", mode="vote", heartbeat_interval=1.0,
                           jobconf={})
    lines = [SimpleNamespace(job="job_x_0001")] * 2
    assert streaming_task.run_lines(spec, None, lines, "h") == 0
    assert calls == ["lock", ("fork", 2)]


def test_a_replica_forked_by_an_undumpable_supervisor_is_undumpable(tmp_path):
    script = ("import ctypes, sys; from dirft.service.keys import lock_process; "
              "from dirft.runtime.container import supervise; "
              "from tests.test_container import line; lock_process(); "
              "probe = lambda _: print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), flush=True) or 0; "
              "sys.exit(supervise([line(0, 0), line(1, 0)], run=probe))")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"0\n0\n"  # PR_GET_DUMPABLE (3) in each replica
