"""A re-run map attempt asks the driver what its lines emitted (``reemit``), never HDFS.

The driver's answer comes from its own memory (:meth:`ReplicaBook.reemit`: the emitter it
chose per task and the core's decided winners); a ``reemit`` for lines no one map task was
given, or from an attempt that is no re-run of that map task, is refused (403), never a
crash. On the wire a ``reemit`` is MAC'd under the enrollment secret and its fresh key
signs the answer only: the identity keeps the key its replica enrolled.
"""

import pytest

from dirft.errors import ProtocolError
from dirft.service import keys
from dirft.service.client import VotingClient
from dirft.service.server import VotingService
from test_hadoop_waves import ask, register, scheduler, work_alone

JOB = "job_reemit_0001"


def reemit(sched, lines: list, attempt: str, sender=None) -> dict:
    """Hand a validated ``reemit`` from ``sender`` (default: the first line) to the book."""
    task, replica = sender or lines[0]
    return sched.book.dispatch({"kind": "reemit", "task": task, "replica": replica,
                                "attempt": attempt, "lines": lines, "key": "0" * 64})


def rerun_of(sched, task: int, replica: int, number: int = 1) -> str:
    """The id of attempt ``number`` of the map task that holds (task, replica)."""
    return f"attempt_1_0001_m_{sched.book.located(task, replica)[1]:06d}_{number}"


def test_a_re_run_is_told_the_outputs_its_emitter_was_answered_with():
    sched = scheduler()
    emitted = work_alone(sched, 0, 0)
    assert emitted["action"] == "emit"
    answer = reemit(sched, [(0, 0)], rerun_of(sched, 0, 0))
    assert answer == {"action": "reemit", "emits": [[0, emitted["outputs"]]]}
    register(sched, 0, 1)
    assert ask(sched, 0, 1)["action"] == "exit"  # told to go, not to emit
    assert reemit(sched, [(0, 1)], rerun_of(sched, 0, 1))["emits"] == []
    assert reemit(sched, [(1, 0)], rerun_of(sched, 1, 0))["emits"] == []  # not decided


@pytest.mark.parametrize("case", ["never placed", "sender not a line", "two map tasks",
                                  "first attempt", "another map task", "reduce attempt",
                                  "no attempt id"])
def test_a_reemit_for_lines_or_an_attempt_the_driver_never_placed_is_refused(case):
    sched = scheduler()
    work_alone(sched, 0, 0)
    other = next((t, r) for t, r in [(1, 0), (1, 1), (0, 1)]
                 if sched.book.located(t, r)[1] != sched.book.located(0, 0)[1])
    index = sched.book.located(0, 0)[1]
    lines, attempt, sender = [(0, 0)], rerun_of(sched, 0, 0), None
    if case == "never placed":
        lines, sender = [(0, 0), (7, 0)], (0, 0)
    elif case == "sender not a line":
        sender = other
    elif case == "two map tasks":
        lines = [(0, 0), other]
    elif case == "first attempt":
        attempt = rerun_of(sched, 0, 0, number=0)
    elif case == "another map task":
        attempt = rerun_of(sched, *other)
    elif case == "reduce attempt":
        attempt = f"attempt_1_0001_r_{index:06d}_1"
    else:
        attempt = "not-an-attempt"
    with pytest.raises(ProtocolError) as err:
        reemit(sched, lines, attempt, sender)
    assert err.value.status == 403 and "refused" in str(err.value)


def test_the_local_driver_refuses_a_reemit():
    sched = scheduler()
    with pytest.raises(ProtocolError) as err:
        sched.driver.dispatch({"kind": "reemit", "task": 0, "replica": 0, "seq": 1,
                               "attempt": "attempt_1_0001_m_000000_1", "lines": [(0, 0)],
                               "key": "0" * 64})
    assert err.value.status == 422


def test_a_reemit_under_the_enrollment_secret_is_answered_and_binds_no_key():
    enrollment, seen = b"e" * 32, []
    ring = keys.Keyring(enrollment=enrollment)

    def dispatcher(message: dict) -> dict:
        seen.append(message)
        return {"action": "reemit", "emits": []}
    with VotingService(ring, JOB, dispatcher) as service:
        with VotingClient(service.url, b"a" * 32, JOB, 2, 1, enrollment=enrollment) as a:
            a.call("register", host="n1", pid=1, attempt="attempt_x_0001_m_000003_0")
        for _ in range(2):  # its own fresh key each time; no sequence clash, no conflict
            with VotingClient(service.url, keys.os.urandom(32), JOB, 2, 1,
                              enrollment=enrollment) as rerun:
                answer = rerun.call("reemit", attempt="attempt_x_0001_m_000003_1",
                                    lines=[[2, 1], [3, 0]])
            assert answer == {"action": "reemit", "emits": []}
        with VotingClient(service.url, b"a" * 32, JOB, 2, 1) as replica:  # its key holds
            with pytest.raises(ProtocolError) as err:
                replica.call("reemit", attempt="attempt_x_0001_m_000003_1", lines=[[2, 1]],
                             key="0" * 64)
    assert ring.key(2, 1) == b"a" * 32 and not ring.conflicts
    assert err.value.status == 401 and "enrollment secret" in str(err.value)
    assert [m.get("lines") for m in seen] == [None, [(2, 1), (3, 0)], [(2, 1), (3, 0)]]
