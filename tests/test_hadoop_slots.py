"""``dirft.hadoop.replicas.per.map=auto`` (issue 20, locality): map tasks sized per host
from the ResourceManager's free containers (dirft.runners.locality.map_slots,
auto_per_map, snug_memory) and the rule that asks the ResourceManager before each wave
(dirft.runners.hadoop_slots.PerMapRule; the loopback ResourceManager of fake_rm plays the
ResourceManager, its nodes with free memory and vcores)."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dirft.config import JobConf
from dirft.core.planner import InputSplit
from dirft.runners.hadoop_slots import (FALLBACK_PER_MAP, ONE_HOST_PER_MAP, SLOWSTART,
                                        PerMapRule, Sizes,
                                        container_sizes, fixed_per_map, per_map_rule)
from dirft.runners.locality import (ANY_HOST, MAX_PER_MAP, auto_per_map, fits,
                                    group_host, group_launches, is_host, map_slots,
                                    plan_hosts, snug_memory)
from fake_rm import FakeRM


def node(host: str, memory: int = 3072, vcores: int = 2, state: str = "RUNNING") -> dict:
    """One ``/ws/v1/cluster/nodes`` entry as YARN's RMWebServices writes it."""
    return {"id": f"{host}:8041", "nodeHostName": host, "state": state,
            "availMemoryMB": memory, "availableVirtualCores": vcores}


MINI = [node("w1"), node("w2"), node("w3")]  # the 3-worker cluster idle: 3 GiB, 2 vcores


@st.composite
def waves(draw):
    """``(launches, slots)``: a wave's launches ``(task, replica, node)`` from plan_hosts
    over 1-5 hosts (placeholders when fewer than R), and free map containers per host."""
    hosts = [f"w{i}" for i in range(draw(st.integers(1, 5)))]
    replicas = draw(st.integers(1, 4))
    splits = [InputSplit(i, "/in", i, 1, tuple(draw(st.lists(st.sampled_from(hosts),
                                                             unique=True, max_size=3))))
              for i in range(draw(st.integers(1, 14)))]
    nodes = hosts + [f"{ANY_HOST}{i}" for i in range(max(0, replicas - len(hosts)))]
    planned = plan_hosts(splits, replicas, 1, nodes, draw(st.integers(0, 3)))
    launches = [(s.index, r, h) for s, hs in zip(splits, planned) for r, h in enumerate(hs)]
    slots = {h: draw(st.integers(0, 4)) for h in hosts}
    return launches, slots


@given(waves())
def test_auto_groups_every_replica_once_never_two_of_a_task_no_more_maps_than_fit(wave):
    launches, slots = wave
    per_map = auto_per_map(launches, slots)
    groups = group_launches(launches, per_map)
    assert sorted(x for g in groups for x in g) == sorted(launches)  # each exactly once
    for group in groups:
        assert 1 <= len(group) <= MAX_PER_MAP
        assert len({t for t, _, _ in group}) == len(group)  # never two of one task
    maps = Counter(group_host(g) for g in groups)
    for host, count in maps.items():
        planned = [x for x in launches if (x[2] if is_host(x[2]) else "") == host]
        free = slots.get(host, 0) if host else sum(slots.values())
        most_of_a_task = max(Counter(t for t, _, _ in planned).values())
        # as many map tasks as the host fits (at least 1), unless one task's replicas
        # need more (one host, R replicas) or a map task would hold more than 8
        assert count <= max(free, 1, most_of_a_task, -(-len(planned) // MAX_PER_MAP))


def test_on_the_idle_mini_cluster_each_worker_runs_its_replicas_in_one_map_task():
    # 2 vcores a worker, one kept for an ApplicationMaster: one map container each
    assert map_slots(MINI, (512, 1), (512, 1)) == {"w1": 1, "w2": 1, "w3": 1}
    launches = [(t, r, f"w{(t + r) % 3 + 1}") for t in range(8) for r in range(2)]
    groups = group_launches(launches, auto_per_map(launches, map_slots(MINI, (512, 1),
                                                                       (512, 1))))
    assert sorted(group_host(g) for g in groups) == ["w1", "w2", "w3"]
    assert sorted(len(g) for g in groups) == [5, 5, 6]


def test_one_host_still_runs_a_tasks_replicas_in_separate_map_tasks():
    launches = [(t, r, "localhost") for t in range(3) for r in range(2)]
    groups = group_launches(launches, auto_per_map(launches, {"localhost": 1}))
    assert len(groups) == 2 and all(len({t for t, _, _ in g}) == 3 for g in groups)


def test_hosts_down_or_full_get_no_slots_and_names_match_by_short_name():
    nodes = [node("w1.cluster"), node("w2", state="LOST"), node("w3", 700, 1)]
    assert map_slots(nodes, (1024, 1), (512, 1)) == {"w1.cluster": 1, "w2": 0, "w3": 0}
    assert map_slots([node("w1", 3072, -1)], (1024, 1), (512, 1), vcores=False) == {"w1": 2}
    launches = [(0, 0, "w1"), (1, 0, "w1"), (0, 1, "w3")]
    assert auto_per_map(launches, map_slots(nodes, (1024, 1), (512, 1))) == {"w1": 2, "w3": 1}


def test_snug_memory_leaves_no_host_room_for_another_hosts_map_task():
    # DominantResourceCalculator: 1792 MB is the first size at which a worker fits one
    # map container with or without the ApplicationMaster (0.5 GiB, 1 vcore) beside it
    assert snug_memory(MINI, (512, 1), (512, 1), 256, 3072, vcores=True) == 1792
    # memory only: two 1280 MB maps fill a worker, and still fit beside the AM
    assert snug_memory(MINI, (512, 1), (512, 1), 256, 3072, vcores=False) == 1280
    uneven = [node("w1", 3072), node("w2", 2560)]
    memory = snug_memory(uneven, (512, 1), (512, 1), 256, 3072, vcores=True)
    for n in uneven:  # whichever host gets the AM, every host is full with its own maps
        assert 1 <= fits(n, (memory, 1), (512, 1), True) == fits(n, (memory, 1), (0, 0), False)
    assert snug_memory([node("w1", 512)], (512, 1), (512, 1), 256, 3072, True) is None
    assert snug_memory([node("w1"), node("w2", 1024)], (512, 1), (512, 1), 256, 3072,
                       True) is None  # w2 fits a map beside the AM only if it fits two


@given(st.lists(st.tuples(st.integers(0, 8192), st.integers(-1, 8)), min_size=1, max_size=5),
       st.sampled_from([256, 512, 1024]), st.booleans())
def test_snug_memory_when_found_fills_every_host_with_or_without_the_am(free, step, vcores):
    nodes = [node(f"w{i}", m, c) for i, (m, c) in enumerate(free)]
    memory = snug_memory(nodes, (step, 1), (step, 1), step, 8192, vcores)
    if memory is not None:
        assert memory % step == 0
        for n in nodes:
            assert 1 <= fits(n, (memory, 1), (step, 1), vcores) == \
                fits(n, (memory, 1), (0, 0), False)


@pytest.fixture
def rm():
    fake = FakeRM({n["nodeHostName"]: "RUNNING" for n in MINI})
    fake.free = {n["nodeHostName"]: (3072, 2) for n in MINI}
    yield fake
    fake.close()


SIZES = Sizes((512, 1), (512, 1), 256, 3072, True)
WAVE = [(t, r, f"w{(t + r) % 3 + 1}") for t in range(8) for r in range(2)]


def test_the_rule_asks_the_resourcemanager_for_each_wave_and_raises_map_memory(rm):
    rule = PerMapRule(None, rm.url, SIZES)
    assert rule(WAVE) == {"w1": 5, "w2": 6, "w3": 5}
    assert rule.slots == {"w1": 1, "w2": 1, "w3": 1} and rule.jobconf() == {
        "mapreduce.map.memory.mb": "1792"}
    rm.free = {"w1": (0, 0), "w2": (1024, 1), "w3": (3072, 2)}  # wave 0 runs
    assert rule(WAVE[:2]) == {"w1": 1, "w2": 1}  # no size fits all: the job's own
    assert rule.jobconf() == {} and rm.asked.count("/ws/v1/cluster/nodes") == 2


def test_the_rule_is_four_on_one_host_two_without_an_answer_k_when_fixed(rm):
    rm.states = {"w1": "RUNNING", "w2": "LOST", "w3": "LOST"}  # one host left
    assert PerMapRule(None, rm.url, SIZES)(WAVE) == ONE_HOST_PER_MAP == 4
    rm.free = {"w2": (3072, 2), "w3": (3072, 2)}  # the host says no free room
    assert PerMapRule(None, rm.url, SIZES)(WAVE) == FALLBACK_PER_MAP
    rm.free = {n["nodeHostName"]: (3072, 2) for n in MINI}
    rm.states, rm.free = {"w1": "RUNNING", "w2": "RUNNING"}, {}  # no free room said
    assert PerMapRule(None, rm.url, SIZES)(WAVE) == FALLBACK_PER_MAP
    assert PerMapRule(None, "", SIZES)(WAVE) == FALLBACK_PER_MAP
    rm.close()
    assert PerMapRule(None, rm.url, SIZES, timeout=2.0)(WAVE) == FALLBACK_PER_MAP
    fixed = PerMapRule(3, "http://127.0.0.1:9", None)
    assert fixed(WAVE) == 3 and fixed.jobconf() == {}


def test_on_one_host_the_reducers_start_with_the_maps_unless_the_job_says(rm):
    rm.states = {"w1": "RUNNING", "w2": "LOST", "w3": "LOST"}  # one host runs
    rule = PerMapRule(None, rm.url, SIZES)
    assert rule(WAVE) == ONE_HOST_PER_MAP and rule.jobconf() == {SLOWSTART: "0"}
    told = PerMapRule(None, rm.url, SIZES, early_reduce=False)  # the job set the key
    assert told(WAVE) == ONE_HOST_PER_MAP and told.jobconf() == {}
    rm.states = {n["nodeHostName"]: "RUNNING" for n in MINI}  # several: Hadoop's default
    assert rule(WAVE) == {"w1": 5, "w2": 6, "w3": 5} and SLOWSTART not in rule.jobconf()


def test_the_job_s_own_slowstart_is_kept():
    assert per_map_rule(JobConf.load()).early_reduce
    assert not per_map_rule(JobConf.load(defines=[f"{SLOWSTART}=0.5"])).early_reduce


def test_container_sizes_come_from_the_jobconf_then_the_client_conf_then_hadoop(
        tmp_path, monkeypatch):
    (tmp_path / "mapred-site.xml").write_text(
        "<configuration><property><name>mapreduce.map.memory.mb</name><value>600</value>"
        "</property><property><name>yarn.app.mapreduce.am.resource.mb</name><value>-1"
        "</value></property></configuration>")
    (tmp_path / "yarn-site.xml").write_text(
        "<configuration><property><name>yarn.scheduler.minimum-allocation-mb</name>"
        "<value>256</value></property></configuration>")
    (tmp_path / "capacity-scheduler.xml").write_text(
        "<configuration><property><name>yarn.scheduler.capacity.resource-calculator</name>"
        "<value>org.apache.hadoop.yarn.util.resource.DefaultResourceCalculator</value>"
        "</property></configuration>")
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    sizes = container_sizes(JobConf.load(defines=["mapreduce.map.cpu.vcores=2"]))
    assert sizes == Sizes((768, 2), (1536, 1), 256, 8192, False)  # 600 rounded up to 768
    conf = JobConf.load(defines=["dirft.hadoop.replicas.per.map=3"])
    assert fixed_per_map(conf) == 3 and per_map_rule(conf).sizes is None
    assert fixed_per_map(JobConf.load()) is None  # auto, the default
