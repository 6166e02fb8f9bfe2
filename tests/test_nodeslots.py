"""The one slot/node model of the local cluster and the simulator (dirft.core.nodeslots)."""

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.core.nodeslots import LossSchedule, NodeSlots


def test_replicas_start_in_launch_order_while_their_node_has_slots():
    slots = NodeSlots(["a", "b"], 1)
    for task, node in ((0, "b"), (1, "a"), (2, "b")):
        slots.queue(task, 0, node)
    assert slots.take() == [(0, 0, "b"), (1, 0, "a")]  # nodes in the order they changed
    assert slots.take() == [] and not slots.changed
    slots.release("b")
    assert slots.take() == [(2, 0, "b")]


def test_a_lost_node_drops_its_queue_and_takes_no_replica_again():
    slots = NodeSlots(["a"], 1)
    slots.queue(0, 0, "a"), slots.queue(1, 0, "a")
    assert slots.take() == [(0, 0, "a")]
    slots.lose("a")
    slots.release("a")
    slots.queue(2, 0, "a")
    assert slots.take() == [] and slots.lost == {"a"}


def test_a_dropped_replica_never_starts():
    slots = NodeSlots(["a"], 1)
    slots.queue(0, 0, "a"), slots.queue(0, 1, "a")
    assert slots.drop(0, 0) and not slots.drop(0, 0)
    assert slots.take() == [(0, 1, "a")]
    slots.queue(1, 0, "a")
    slots.drop_all()
    slots.release("a")
    assert slots.take() == []


@settings(max_examples=50)
@given(ops=st.lists(st.tuples(st.sampled_from(["queue", "take", "end", "drop", "lose"]),
                              st.integers(0, 2), st.integers(0, 5)), max_size=60),
       per_node=st.integers(1, 3))
def test_no_node_ever_runs_more_than_its_slots(ops, per_node):
    nodes = ["n0", "n1", "n2"]
    slots, running, seq = NodeSlots(nodes, per_node), [], 0
    for op, n, k in ops:
        node = nodes[n]
        if op == "queue":
            slots.queue(seq, 0, node)
            seq += 1
        elif op == "take":
            started = slots.take()
            assert all(node not in slots.lost for _, _, node in started)
            running += started
        elif op == "end" and running:
            _, _, at = running.pop(k % len(running))
            slots.release(at)
        elif op == "drop":
            slots.drop(k, 0)
        elif op == "lose":
            slots.lose(node)
            running = [r for r in running if r[2] != node]  # they die with it
        for name in nodes:
            held = sum(1 for r in running if r[2] == name)
            assert name in slots.lost or held + slots.free[name] == per_node


def test_node_losses_fall_due_once_in_report_order():
    plan = [SimpleNamespace(node="b", after_reports=3), SimpleNamespace(node="a", after_reports=1),
            SimpleNamespace(node="c", after_reports=3)]
    losses = LossSchedule(plan)
    assert losses.due(0) == []
    assert losses.due(3) == ["a", "b", "c"]
    assert losses.due(10) == []
