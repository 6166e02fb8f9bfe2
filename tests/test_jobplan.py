"""build_plan: plans stay exactly what they were (speed-ups must not move a replica).

The fingerprints below were taken from the planner before its speed-ups of issue 14 (the
commit before "Planner: draw the seeded node order only to break load ties"); a change to
any split, sub-split or replica node of these four jobs changes them.
"""

import gc
import hashlib
import random
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from dirft.core.jobplan import build_plan, node_names
from dirft.core.planner import (SPLIT_SLOP, Block, InputFile, InputSplit, _cut_splits,
                                make_subsplits, place_blocks, replica_candidates, subsplits_of)
from dirft.core.scheme import Tolerance, make_scheme
from dirft.errors import ConfigError

GOLDEN = [
    ("dirft", Tolerance(0, 1), [InputFile(f"/d/p{i}", 5_000_000 + 7 * i) for i in range(300)],
     4 << 20, 30, 1, "575d10746319dc4832aa6a1b8ec7cecab7abe6e2c2e2d09ec767b9d4d262960b"),
    ("dirft", Tolerance(1, 1), [InputFile("/d/big", 3000 << 20)], 1 << 20, 7, 42,
     "56e40326e5091205cd19a3f367640408324d5209b83e6229ea2bba1f48576ac7"),
    ("frft", Tolerance(2, 0),
     [InputFile("/d/a", 10 << 20), InputFile("/d/b", 0), InputFile("/d/c", 123)], 1 << 20, 3,
     5, "f36a373ba7da1a43b65572dd70b8fbfb34f9c26f72edf4fb905bea238e71d48b"),
    ("bft", Tolerance(0, 2), [InputFile(f"/d/q{i}", 1 << 20) for i in range(500)], 1 << 20,
     5, 9, "f2f1b07e6087a52786d97d56fcfb866d5f22b9ab1b5d2b3434abef6d245fcfb2"),
]


def fingerprint(plan) -> str:
    """SHA-256 over every task's split, sub-splits and replica nodes, in task order."""
    h = hashlib.sha256()
    for t in plan.tasks:
        s = t.split
        h.update(repr((t.index, s.index, s.path, s.start, s.length, s.hosts,
                       [(u.index, u.start, u.length) for u in t.subsplits], t.nodes)).encode())
    return h.hexdigest()


def test_plans_are_the_ones_the_planner_made_before_its_speed_ups():
    for name, tolerance, files, block, nodes, seed, digest in GOLDEN:
        plan = build_plan(files, make_scheme(name, tolerance), node_names(nodes), block, 1,
                          2**63 - 1, seed, 10.0)
        assert fingerprint(plan) == digest, (name, tolerance)


def reference_nodes(splits, count, nodes, seed) -> list:
    """The balancing rule drawn in full for every task: holders then others, each in the
    seeded order of replica_candidates, stably sorted by the load planned so far."""
    load, out = Counter({n: 0 for n in nodes}), []
    for split in splits:
        holders, rest = replica_candidates(split, nodes, seed)
        chosen = sorted(holders, key=load.__getitem__)[:count]
        chosen += sorted(rest, key=load.__getitem__)[:count - len(chosen)]
        for node in chosen:
            load[node] += 1
        out.append(tuple(chosen))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40 << 20), min_size=1, max_size=12),
       st.sampled_from([1 << 20, 4 << 20, 16 << 20]), st.integers(0, 3), st.integers(0, 1),
       st.integers(1, 12), st.integers(0, 2**32))
def test_replica_nodes_match_the_full_seeded_ranking(sizes, block, crash, silent, extra, seed):
    scheme = make_scheme("dirft", Tolerance(crash, silent))
    nodes = node_names(scheme.initial_replicas + extra)
    files = [InputFile(f"/f{i}", size) for i, size in enumerate(sizes)]
    plan = build_plan(files, scheme, nodes, block, 1, 2**63 - 1, seed, 10.0)
    expected = reference_nodes([t.split for t in plan.tasks], scheme.initial_replicas, nodes,
                               seed)
    assert [t.nodes for t in plan.tasks] == expected


# ---- the planner's fast paths against the plain rules they replace (issue 14, third pass) ----

def reference_blocks(files, block_size, nodes, seed, copies):
    """place_blocks' rule drawn the plain way: round-robin writer, Random.sample of the rest."""
    rng = random.Random(seed)
    width, writer, placed = min(copies, len(nodes)), rng.randrange(len(nodes)), {}
    for f in files:
        blocks = []
        for offset in range(0, f.size, block_size):
            others = [n for i, n in enumerate(nodes) if i != writer]
            hosts = (nodes[writer], *rng.sample(others, width - 1))
            blocks.append(Block(f.path, offset, min(block_size, f.size - offset), hosts))
            writer = (writer + 1) % len(nodes)
        placed[f.path] = tuple(blocks)
    return placed


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 9 << 20), min_size=1, max_size=6), st.integers(1, 60),
       st.integers(1, 8), st.integers(0, 2**32))
def test_place_blocks_draws_what_random_sample_draws(sizes, nodes, copies, seed):
    files = [InputFile(f"/f{i}", size) for i, size in enumerate(sizes)]
    names = node_names(nodes)
    assert place_blocks(files, 1 << 20, names, seed, copies) == \
        reference_blocks(files, 1 << 20, names, seed, copies)


def reference_cuts(size, split_size):
    """FileInputFormat.getSplits' loop, one split at a time (the code before issue 14)."""
    if size == 0:
        return [(0, 0)]
    cuts, remaining = [], size
    while float(remaining) / float(split_size) > SPLIT_SLOP:
        cuts.append((size - remaining, split_size))
        remaining -= split_size
    return cuts + ([(size - remaining, remaining)] if remaining else [])


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 40), st.integers(-3, 3),
       st.sampled_from([1, 3, 10, 1 << 20, (1 << 53) + 1, (1 << 60) - 7]))
def test_split_cuts_are_the_getsplits_loop(split_size, full, extra, scale):
    """Sizes near every slop boundary, also past 2**53 where doubles round."""
    split_size *= scale
    size = max(0, full * split_size + split_size // 10 + extra)
    assert _cut_splits(size, split_size) == reference_cuts(size, split_size)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=30),
       st.integers(1, 5))
def test_subsplits_of_is_make_subsplits_per_split(spans, count):
    splits = [InputSplit(i, "/f", start, length, ()) for i, (start, length) in enumerate(spans)]
    assert subsplits_of(splits, count) == [make_subsplits(s, count) for s in splits]


def test_build_plan_restores_the_garbage_collector_even_when_it_raises():
    files, scheme = [InputFile("/a", 10 << 20)], make_scheme("dirft", Tolerance(0, 1))
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            build_plan(files, scheme, node_names(5), 1 << 20, 1, 2**63 - 1, 0, 10.0)
            assert gc.isenabled() is enabled
            with pytest.raises(ConfigError):
                build_plan(files, scheme, node_names(2), 1 << 20, 1, 2**63 - 1, 0, 10.0)
            assert gc.isenabled() is enabled
    finally:
        gc.enable()
