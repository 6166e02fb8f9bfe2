"""build_plan: plans stay exactly what they were (speed-ups must not move a replica).

The fingerprints below were taken from the planner before its speed-ups of issue 14 (the
commit before "Planner: draw the seeded node order only to break load ties"); a change to
any split, sub-split or replica node of these four jobs changes them.
"""

import hashlib
from collections import Counter

from hypothesis import given, settings, strategies as st

from dirft.core.jobplan import build_plan, node_names
from dirft.core.planner import InputFile, replica_candidates
from dirft.core.scheme import Tolerance, make_scheme

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
