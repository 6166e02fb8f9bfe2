"""The Hadoop runner's replica placement as pure functions: planned hosts
(dirft.runners.locality.plan_hosts), map tasks of replicas sharing a host (group_launches),
the per-map-task manifest files (dirft.runners.hadoop_manifests.manifest_files) and the
report's placement figures (dirft.runners.hadoop_report.placement, dirft.report)."""

import json
from collections import Counter
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from dirft.contract.manifest import CommitLine, read_lines
from dirft.core.planner import Block, InputSplit
from dirft.report import placement_line
from dirft.runners.hadoop_manifests import manifest_files
from dirft.runners.hadoop_report import placement
from dirft.runners.locality import ANY_HOST, group_host, group_launches, is_host, plan_hosts


@st.composite
def clusters(draw):
    """``(splits, replicas, per_map, nodes)``: 1-6 real hosts holding each split's block
    on 1-3 of them (or none: a NameNode that did not say), placeholders up to R nodes."""
    hosts = [f"w{i}" for i in range(draw(st.integers(1, 6)))]
    replicas = draw(st.integers(1, 4))
    splits = [InputSplit(i, "/in", i * 10, 10, tuple(draw(st.lists(
        st.sampled_from(hosts), unique=True, max_size=3)))) for i in range(draw(st.integers(1, 12)))]
    nodes = hosts + [f"{ANY_HOST}{i}" for i in range(max(0, replicas - len(hosts)))]
    return splits, replicas, draw(st.integers(1, 3)), nodes


def launches_of(splits, planned) -> list:
    return [(s.index, r, host) for s, hosts in zip(splits, planned)
            for r, host in enumerate(hosts)]


@given(clusters(), st.integers(0, 3))
def test_a_tasks_replicas_get_distinct_hosts_holders_first(cluster, seed):
    splits, replicas, per_map, nodes = cluster
    planned = plan_hosts(splits, replicas, per_map, nodes, seed)
    real = [n for n in nodes if is_host(n)]
    for split, hosts in zip(splits, planned):
        assert len(hosts) == len(set(hosts)) == replicas
        holders = [h for h in hosts if h in split.hosts]
        assert len(holders) == min(replicas, len(split.hosts))  # every holder it can use
        assert len([h for h in hosts if is_host(h)]) == min(replicas, len(real))


@given(clusters(), st.integers(0, 3))
def test_replicas_sharing_a_map_task_share_a_planned_host_never_two_of_a_task(cluster, seed):
    splits, replicas, per_map, nodes = cluster
    launches = launches_of(splits, plan_hosts(splits, replicas, per_map, nodes, seed))
    groups = group_launches(launches, per_map)
    assert sorted(x for g in groups for x in g) == sorted(launches)
    for group in groups:
        assert 1 <= len(group) <= per_map
        assert len({t for t, _, _ in group}) == len(group)  # never two of one task
        hosts = {node for _, _, node in group}
        assert len(hosts) == 1 or not any(is_host(h) for h in hosts)
        assert group_host(group) == (hosts.pop() if is_host(next(iter(hosts))) else "")
    # the replicas planned on a host fill as few map tasks as they can
    planned = Counter(node for _, _, node in launches if is_host(node))
    maps = Counter(group_host(g) for g in groups if group_host(g))
    assert maps == {host: -(-n // per_map) for host, n in planned.items()}
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)


def test_two_replicas_per_map_task_pair_up_on_a_common_holder():
    # 64 MiB in 8 blocks at replication 2 on 3 workers (block i on w(i), w(i+1)): every
    # replica is planned on a holder of its block, and 16 replicas fill 8 + at most 2 maps
    hosts = ["w1", "w2", "w3"]
    splits = [InputSplit(i, "/in", i, 1, (hosts[i % 3], hosts[(i + 1) % 3])) for i in range(8)]
    planned = plan_hosts(splits, 2, 2, hosts, 1)
    assert all(set(p) == set(s.hosts) for s, p in zip(splits, planned))
    groups = group_launches(launches_of(splits, planned), 2)
    assert len(groups) <= 10 and all(group_host(g) in hosts for g in groups)


def test_with_fewer_copies_than_replicas_the_rest_go_to_other_hosts_then_anywhere():
    split = InputSplit(0, "/in", 0, 1, ("w1",))
    assert plan_hosts([split], 3, 1, ["w1", "w2", "w3"], 0)[0][0] == "w1"
    assert set(plan_hosts([split], 3, 1, ["w1", "w2", "w3"], 0)[0]) == {"w1", "w2", "w3"}
    two = plan_hosts([split], 3, 1, ["w1", "w2", f"{ANY_HOST}0"], 0)[0]
    assert two[0] == "w1" and set(two) == {"w1", "w2", f"{ANY_HOST}0"}
    assert group_launches([(0, 0, f"{ANY_HOST}0"), (1, 0, f"{ANY_HOST}1")], 2) == \
        [[(0, 0, f"{ANY_HOST}0"), (1, 0, f"{ANY_HOST}1")]]  # no host: grouped anyway


@given(st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=3), min_size=1, max_size=9))
def test_map_task_i_reads_manifest_file_i(groups):
    entries = [[CommitLine("job_x_0001", t, [["/o", "ab" * t]]) for t in g] for g in groups]
    files = manifest_files(entries)
    # Hadoop numbers map tasks by split length, largest first: file i is one byte longer
    assert [len(f) for f in files] == [len(files[0]) - i for i in range(len(files))]
    for data, group in zip(files, entries):
        assert read_lines(data.decode().splitlines(keepends=True), CommitLine) == group


def report_of(hosts: dict, planned: dict, manifests=None) -> dict:
    blocks = {"/in": (Block("/in", 0, 10, ("w1", "w2")), Block("/in", 10, 10, ("w2", "w3")))}
    plan = SimpleNamespace(tasks=[SimpleNamespace(index=i, split=InputSplit(i, "/in", i * 10,
                                                  10, ()), nodes=("w1", "w2"))
                                  for i in range(2)])
    return placement(plan, hosts, blocks, planned, manifests)


def test_the_report_counts_data_local_replicas_and_replicas_sharing_a_host():
    hosts = {(0, 0): "w1.example", (0, 1): "w2", (1, 0): "w3", (1, 1): "w3"}
    planned = {(0, 0): "w1", (0, 1): "w2", (1, 0): "w2", (1, 1): "w3"}
    files = {"map_tasks": 3, "on_planned_host": 2, "placed_by_namenode": 1,
             "why": {"no planned host": 1}}
    section = json.loads(json.dumps(report_of(hosts, planned, files)))
    assert section["data_local_replicas"] == 4 and section["data_local_share"] == 1.0
    assert section["replicas_sharing_a_host"] == 2 and section["ran_on_planned_host"] == 3
    assert [r["planned"] for r in section["replicas"]] == ["w1", "w2", "w2", "w3"]
    assert placement_line(section) == (
        "placement: 4 of 4 replicas data-local (100%), 3 on their planned host, 2 sharing "
        "a host with a replica of their task; manifests: 2 of 3 on their planned host's "
        "DataNode")
    remote = report_of({(0, 0): "w3", (1, 0): "w1"}, {})
    assert remote["data_local_share"] == 0.0 and remote["ran_on_planned_host"] == 0
    assert placement_line(report_of({}, {})) is None and placement_line(None) is None
