"""Adaptive DIRFT (gang start, wide tail, recovery pieces, eager switch) and quarantine."""

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from core_harness import Behaviour, Pump, make_plan, true_signature
from dirft.core import actions as A
from dirft.core import events as E
from dirft.core.adaptive import (Adaptive, NodeRecord, Quarantine, place_tail, place_wave,
                                  tail_widths)
from dirft.core.scheme import Tolerance, make_scheme
from dirft.core.state import JobState
from dirft.core.units import cut, decode, piece_id, split_piece_id, unit_span, whole_id
from dirft.runners.sim import SimConfig, simulate


def _adaptive(crash: int, silent: int, widen_max: int = 4, **kw):
    return make_scheme("dirft", Tolerance(crash, silent),
                       adaptive=Adaptive(widen_max=widen_max, **kw))


def _check_commits(pump: Pump) -> None:
    """Every task's winners tile its split in byte order, each with the true signature."""
    for commit in (a for a in pump.actions if isinstance(a, A.CommitTaskOutput)):
        plan_task = pump.plan.tasks[commit.task]
        base = [[s.start, s.length] for s in plan_task.subsplits]
        at = plan_task.split.start
        for w in commit.winners:
            start, length = unit_span(base, w.subsplit)
            assert start == at
            assert w.signature == true_signature(commit.task, w.subsplit)
            at += length
        assert at == plan_task.split.start + plan_task.split.length


@given(st.integers(1, 4), st.integers(0, 10**6), st.integers(0, 10**6), st.data())
def test_unit_ids_decode_to_pieces_that_tile_their_subsplit(r, start, length, data):
    base = [list(s) for s in cut(start, length, r)]
    sub = data.draw(st.integers(0, r - 1))
    count = data.draw(st.integers(2, 16))
    spans = [unit_span(base, piece_id(r, sub, count, j)) for j in range(count)]
    assert [decode(r, piece_id(r, sub, count, j)) for j in range(count)] == \
        [(sub, count, j) for j in range(count)]
    assert spans[0][0] == base[sub][0]
    assert all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][0] + spans[-1][1] == base[sub][0] + base[sub][1]
    assert unit_span(base, whole_id(r)) == (start, length)


def test_gang_start_launches_only_whole_tasks_that_fit_in_free_slots():
    plan = replace(make_plan(_adaptive(1, 0), tasks=5, nodes=4), slots=1)
    state = JobState(plan, validate=True)
    launches = state.handle(E.JobStarted(0))
    by_task = {}
    for a in launches:
        by_task.setdefault(a.task, []).append(a.node)
    assert by_task == {0: by_task[0], 1: by_task[1]}  # 4 slots: two tasks of R = 2
    assert all(len(set(nodes)) == 2 for nodes in by_task.values())


def test_the_tail_is_cut_into_pieces_over_the_idle_slots():
    plan = replace(make_plan(_adaptive(1, 0, widen_max=4), tasks=2, nodes=8), slots=1)
    state = JobState(plan, validate=True)
    launches = state.handle(E.JobStarted(0))
    assert len(launches) == 8  # 2 tasks x R = 2 x 2 pieces
    assert [len(t.units) for t in state.tasks] == [4, 4]


@settings(max_examples=30)
@given(st.integers(1, 2), st.integers(0, 1), st.integers(1, 3), st.integers(1, 4),
       st.randoms(use_true_random=False))
def test_adaptive_output_is_the_fault_free_one_within_tolerance(crash, silent, slots, widen,
                                                                 rng):
    scheme = _adaptive(crash, silent, widen_max=widen)
    plan = replace(make_plan(scheme, tasks=4, nodes=8), slots=slots)
    behaviours = {(0, 0): Behaviour(crash_at=1)} if crash else {}
    if silent:
        behaviours[(1, 1)] = Behaviour(lie_at=frozenset({1}))
    pump = Pump(plan, behaviours, rng)
    assert pump.run() == "finished", pump.state.tasks[0].story[-8:]
    _check_commits(pump)


def test_an_orphaned_subsplit_is_shared_by_the_idle_survivors():
    scheme = _adaptive(2, 0)  # R = 3, quorum 1
    state = JobState(make_plan(scheme, tasks=1, nodes=4), validate=True)
    state.handle(E.JobStarted(0))
    for r in range(3):
        state.handle(E.ReplicaStarted(1, 0, r, f"node{r}"), E.ReplicaRegistered(1, 0, r, "h"),
                     E.WorkRequested(1, 0, r))
    state.handle(E.ReplicaExited(2, 0, 0, 1))  # r0 dies with sub-split 0
    state.handle(E.SignatureReported(3, 0, 1, 1, true_signature(0, 1)),
                 E.WorkRequested(3, 0, 1))  # r1 waits: r2 may still take sub-split 0
    out = state.handle(E.SignatureReported(4, 0, 2, 2, true_signature(0, 2)),
                       E.WorkRequested(4, 0, 2))
    first = [a for a in out if isinstance(a, A.AssignSubsplit)]
    assert [decode(3, a.subsplit)[:2] for a in first] == [(0, 2)]  # half of sub-split 0
    out = state.handle(E.WorkRequested(5, 0, 1))
    second = [a for a in out if isinstance(a, A.AssignSubsplit)]
    assert {first[0].subsplit, second[0].subsplit} == {piece_id(3, 0, 2, 0),
                                                       piece_id(3, 0, 2, 1)}


def test_past_the_break_even_new_tasks_start_in_full_replication_shape():
    scheme = _adaptive(1, 0, eager_above=0.0, min_sample=1)
    plan = replace(make_plan(scheme, tasks=3, nodes=2), slots=1)
    pump = Pump(plan, {(0, 0): Behaviour(crash_at=1)}, __import__("random").Random(3))
    assert pump.run() == "finished"
    _check_commits(pump)
    shapes = [[u.index for u in t.units] for t in pump.state.tasks]
    assert shapes[0] == [0, 1] and shapes[1:] == [[whole_id(2)], [whole_id(2)]]


def test_a_node_that_lost_a_vote_is_quarantined_and_gets_no_extra_replica():
    scheme = make_scheme("bft", Tolerance(0, 1))
    pump = Pump(make_plan(scheme, tasks=1, nodes=6), {(0, 0): Behaviour(lie_at=frozenset({1}))},
                __import__("random").Random(1))
    assert pump.run() == "finished"
    bad = pump.state.tasks[0].replicas[0].node
    assert list(pump.state.record.quarantined) == [bad]
    assert all(r.node != bad for r in pump.state.tasks[0].replicas.values() if r.rid >= 2)


def test_quarantine_never_takes_more_than_its_share_of_the_nodes():
    record = NodeRecord(Quarantine(lost_votes=1, crashes=2, max_share=0.2), nodes=10)
    assert record.offence("a", "vote") and record.offence("b", "vote")
    assert record.offence("c", "vote") is None  # 2 of 10 already
    assert record.offence("d", "crash") is None and list(record.quarantined) == ["a", "b"]


def test_simulated_bad_node_commits_no_wrong_output_and_is_quarantined():
    config = SimConfig(splits=60, nature=2, bad_nodes=1, bad_share=0.2, seed=4)
    result = simulate(config)
    assert result.aborted is None and result.wrong_outputs == 0
    assert len(result.report["nodes_quarantined"]) == 1


@given(st.integers(1, 4), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(2, 16))
def test_pieces_of_the_whole_split_tile_it(r, start, length, count):
    base = [list(s) for s in cut(start, length, r)]
    ids = [split_piece_id(r, count, j) for j in range(count)]
    spans = [unit_span(base, i) for i in ids]
    assert [decode(r, i) for i in ids] == [(-1, count, j) for j in range(count)]
    assert spans[0][0] == start and sum(s[1] for s in spans) == length
    assert all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert not set(ids) & {piece_id(r, s, m, j) for s in range(r) for m in range(2, 17)
                           for j in range(m)}


def test_a_wave_is_placed_on_block_holders_where_a_greedy_choice_fails():
    # a takes b's only free holder if placed greedily on its first holders
    holders = {"a": ("n0", "n1", "n2"), "b": ("n0", "n1", "n3")}
    nodes = ("n0", "n1", "n2", "n3")
    placed = place_wave(["a", "b"], 2, {"a": ("n0", "n2", "n1"), "b": ("n0", "n3")},
                        nodes, 1)
    assert set(placed[1]) == {"n0", "n3"} and set(placed[0]) == {"n2", "n1"}
    placed = place_wave(["a", "b"], 2, holders, nodes, 1)
    assert all(len(set(p)) == 2 for p in placed)
    assert sorted(n for p in placed for n in p) == ["n0", "n1", "n2", "n3"]


@settings(max_examples=50)
@given(st.integers(1, 3), st.integers(2, 8), st.integers(1, 4), st.integers(1, 40),
       st.randoms(use_true_random=False))
def test_wave_and_tail_placements_respect_slots_and_distinct_nodes(r, n, slots, tasks, rng):
    nodes = [f"n{i}" for i in range(max(n, r))]
    holders = {t: tuple(rng.sample(nodes, min(3, len(nodes)))) for t in range(tasks)}
    wave = place_wave(list(holders), r, holders, nodes, slots)
    widths = tail_widths(tasks, r, slots * len(nodes), len(nodes), 4, 16)
    tail = place_tail(list(holders), widths, holders, nodes, slots) if widths else []
    for placed, want in ((wave, [r] * tasks), (tail, widths or [])):
        use = Counter(x for p in placed for x in p)
        assert all(len(set(p)) == len(p) for p in placed)
        assert all(c <= slots for c in use.values())
        if sum(want) <= slots * len(nodes):
            assert [len(p) for p in placed] == want


def test_a_tail_fills_the_slots_with_wider_tasks_first():
    assert tail_widths(100, 2, 400, 20, 4, 16) == [4] * 100
    assert tail_widths(107, 3, 580, 29, 4, 16) == [6] * 45 + [5] * 62
    assert tail_widths(3, 2, 4, 8, 4, 16) is None  # not the tail: 6 replicas > 4 slots


def test_a_bad_node_run_ends_in_a_wide_tail_on_distinct_nodes_with_no_wrong_output():
    config = SimConfig(splits=50, nature=2, bad_nodes=1, bad_share=0.5, seed=4, slots=2)
    result = simulate(config)
    bad = set(result.report["nodes_quarantined"])
    assert result.aborted is None and result.wrong_outputs == 0 and bad
    tails = [t for t in result.state.tasks if len(t.replicas) > 3]
    assert len(tails) >= 8  # 20 + 20 tasks in waves of R = 3, then 10 over 60 slots
    assert all(len({r.node for r in t.replicas.values()}) == len(t.replicas) for t in tails)
